"""fit trains through one compiled step (graphengine.training_step.compile_step): the
penalties, clipping, update, decays and constraints run inside it, in the documented order."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import Trainer


def regression_graph(name):
    g = ge.Graph(name)
    x = g.input("x", shape=(None, 3), dtype=np.float64)
    W = g.param("W", np.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5]]))
    b = g.param("b", np.array([0.2, -0.1]))
    return g, x, W, b, x @ W + b


def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((6, 3)), rng.standard_normal((6, 2)) * 4.0


OPTIONS = dict(lr=0.3, clip_value=0.5, clip_norm=0.6)


def regs():
    return [ge.regularizers.create("l2", strength=0.4), ge.regularizers.create("weight_decay", strength=0.2),
            ge.regularizers.create("max_norm", max_norm=1.2)]


def by_hand(order):
    """One SGD step with the transforms of ``order`` applied to the gradients, then the
    decay and the constraint on the weights (W: two axes, so regularized; b is not)."""
    X, Y = data()
    g, x, W, b, out = regression_graph("by_hand")
    y = g.input("y", shape=(None, 2), dtype=np.float64)
    loss = ge.ops.mse(out, y, reduction="mean")
    run = g.forward({"x": X, "y": Y}).backward(loss)
    grads = {W: run.grad(W), b: run.grad(b)}
    transforms = {
        "penalty": lambda gr: ge.add_penalty_gradients(regs(), [W], gr),
        "value": lambda gr: ge.clip_grad_value(gr, OPTIONS["clip_value"]),
        "norm": lambda gr: ge.clip_grad_norm(gr, OPTIONS["clip_norm"]),
    }
    for name in order:
        grads = transforms[name](grads)
    opt = ge.optimizers.create("sgd", [W, b], lr=OPTIONS["lr"])
    opt.step(grads)
    ge.apply_after_step(regs(), [W], OPTIONS["lr"])
    return W.value, b.value


def test_one_fit_step_is_penalty_then_clip_value_then_clip_norm_then_sgd_then_decay_and_constraint():
    X, Y = data()
    _, _, W, b, out = regression_graph("fit")
    trainer = Trainer(out, loss="mse", optimizer="sgd", regularizers=regs(), dtype="float64", **OPTIONS)
    trainer.fit(X, Y, epochs=1, batch_size=len(X), shuffle=False, progress=False)
    W_ref, b_ref = by_hand(["penalty", "value", "norm"])
    np.testing.assert_allclose(W.value, W_ref, rtol=1e-12)
    np.testing.assert_allclose(b.value, b_ref, rtol=1e-12)
    # the order matters for these numbers: another order gives other weights
    W_other, _ = by_hand(["value", "norm", "penalty"])
    assert not np.allclose(W_other, W_ref)


def test_the_update_runs_inside_the_compiled_step():
    X, Y = data()
    _, _, W, b, out = regression_graph("inside")
    trainer = Trainer(out, loss="mse", optimizer="adam", lr=0.01, dtype="float64")
    trainer.fit(X, Y, epochs=2, batch_size=2, progress=False)
    step = trainer._compiled_step
    assert step.optimizer is trainer.optimizer
    assert step.keep_grads is False  # fit never reads the gradients after the update: the rules may consume them
    assert step.steps == trainer.optimizer.steps == 6  # 3 batches, 2 epochs: one update per step
    before = W.value.copy()
    step({trainer.x: X[:2], trainer.y: Y[:2]})  # one more call is one more update
    assert trainer.optimizer.steps == 7 and not np.array_equal(W.value, before)


def test_hooks_only_for_what_was_asked():
    X, Y = data()
    _, _, _, _, out = regression_graph("plain")
    plain = Trainer(out, loss="mse", optimizer="sgd", dtype="float64")
    plain.fit(X, Y, epochs=1, progress=False)
    # only fit's own check of the loss (a NaN loss stops before the update)
    assert plain._compiled_step.before_update == [plain._check_loss] and plain._compiled_step.after_update == []
    _, _, _, _, out = regression_graph("decay_only")
    decayed = Trainer(out, loss="mse", optimizer="sgd", regularizers={"weight_decay": 0.1}, dtype="float64")
    decayed.fit(X, Y, epochs=1, progress=False)
    assert decayed._compiled_step.before_update == [decayed._check_loss] and len(decayed._compiled_step.after_update) == 1


def test_batchnorm_statistics_update_after_every_step():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((64, 2)) + [3.0, -2.0]).astype(np.float32)
    y = (X[:, 0] > 3).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.BatchNorm(momentum=0.5), ge.nn.Dense(2, 2), seed=0)
    trainer = Trainer(model, optimizer="sgd", lr=0.1)
    trainer.fit(X, y, epochs=1, batch_size=64, shuffle=False, progress=False)  # one step
    bn = model[0]
    # one update from the initial 0: (1 - 0.5) · 0 + 0.5 · batch mean
    np.testing.assert_allclose(bn.running_mean, 0.5 * X.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("option", ["clip_norm", "clip_value"])
@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "big"])
def test_bad_clipping_thresholds_are_refused_when_the_trainer_is_made(option, bad):
    _, _, _, _, out = regression_graph("bad")
    with pytest.raises(ge.ClipError, match="must be a positive"):
        Trainer(out, loss="mse", **{option: bad})
