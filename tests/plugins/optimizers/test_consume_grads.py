"""``Optimizer.step(grads, consume_grads=True)``: the rules may overwrite the gradients
(``self.may_consume_grad``), give the numbers of a plain step, and the base class refuses
the permission where overwriting would be wrong (one array for two params, a read-only
view, a Run's gradients)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import graphengine as ge
from graphengine.optimizer import OptimizerStepError

HYPER = {  # every built-in optimizer, with hyper-parameters that move the params visibly
    "sgd": {"lr": 0.1}, "momentum": {"lr": 0.1, "momentum": 0.9}, "nesterov": {"lr": 0.1, "momentum": 0.8},
    "adagrad": {"lr": 0.1, "initial_accumulator": 0.1}, "adadelta": {"lr": 1.0}, "rmsprop": {"lr": 0.01},
    "adam": {"lr": 0.1}, "adamax": {"lr": 0.1}, "adamw": {"lr": 0.1, "weight_decay": 0.5},
}
NAMES = sorted(HYPER)


def test_the_list_covers_every_builtin_optimizer():
    assert set(NAMES) == set(ge.PluginManager(entry_points=False).optimizers)


def params_pair(seed=0):
    rng = np.random.default_rng(seed)
    g = ge.Graph("model")
    W = g.param("W", rng.standard_normal((5, 4)).astype(np.float32))
    b = g.param("b", rng.standard_normal(4).astype(np.float32))
    return g, W, b


class Recording(ge.Optimizer):
    """Plain SGD that records the permission each update was given."""

    name = "recording"
    defaults = {"lr": 0.5}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        self.seen = []

    def update(self, xp, value, grad, state):
        self.seen.append(self.may_consume_grad)
        xp.subtract(value, xp.multiply(grad, float(self.hyper["lr"]), out=self.scratch(xp, value)), out=value)


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_rule_gives_the_same_numbers_when_it_may_consume_the_gradient(name):
    rng = np.random.default_rng(3)
    _, W, b = params_pair()
    _, W2, b2 = params_pair()
    plain = ge.optimizers.create(name, [W, b], **HYPER[name])
    consuming = ge.optimizers.create(name, [W2, b2], **HYPER[name])
    for _ in range(4):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in (W, b)]
        kept = [g.copy() for g in grads]
        plain.step({W: kept[0], b: kept[1]})
        consuming.step({W2: grads[0].copy(), b2: grads[1].copy()}, consume_grads=True)
        np.testing.assert_array_equal(kept[0], grads[0])  # the plain step left its gradients alone
        np.testing.assert_allclose(W2.value, W.value, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b2.value, b.value, rtol=1e-6, atol=1e-7)
    assert not consuming.may_consume_grad


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop"])
def test_the_rules_that_use_the_permission_write_over_the_gradient_and_not_into_scratch(name):
    _, W, b = params_pair()
    opt = ge.optimizers.create(name, [W, b], **HYPER[name])
    grad = np.full(W.shape, 2.0, dtype=np.float32)
    opt.step({W: grad}, consume_grads=True)
    assert not np.array_equal(grad, np.full(W.shape, 2.0, dtype=np.float32))  # consumed: the rule wrote lr * g there
    if name == "sgd":
        np.testing.assert_allclose(grad, 2.0 * HYPER["sgd"]["lr"], rtol=1e-6)
        assert not opt._scratch  # no scratch array was needed


def test_sgd_consuming_allocates_nothing():
    g = ge.Graph()
    W = g.param("W", np.ones((128, 128), np.float32))
    opt = ge.optimizers.create("sgd", [W], lr=0.1)
    grad = np.ones((128, 128), dtype=np.float32)
    opt.step({W: grad}, consume_grads=True)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        opt.step({W: grad}, consume_grads=True)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < W.value.nbytes // 2
    assert not opt._scratch  # and it never took a scratch array


def test_the_flag_is_set_only_inside_a_step_given_the_permission():
    _, W, b = params_pair()
    opt = Recording([W, b])
    opt.step({W: np.ones((5, 4), np.float32), b: np.ones(4, np.float32)})
    opt.step({W: np.ones((5, 4), np.float32), b: np.ones(4, np.float32)}, consume_grads=True)
    assert opt.seen == [False, False, True, True]
    assert opt.may_consume_grad is False


def test_one_array_given_for_two_params_is_not_consumed():
    g = ge.Graph()
    W = g.param("W", np.ones(3, np.float32))
    V = g.param("V", np.ones(3, np.float32))
    opt = ge.optimizers.create("sgd", [W, V], lr=0.5)
    shared = np.full(3, 2.0, np.float32)
    opt.step({W: shared, V: shared}, consume_grads=True)
    np.testing.assert_array_equal(shared, 2.0)  # left alone: consuming it for W would have changed V's gradient
    np.testing.assert_array_equal(W.value, 0.0)
    np.testing.assert_array_equal(V.value, 0.0)


def test_a_read_only_view_is_not_consumed():
    _, W, b = params_pair()
    opt = Recording([W, b])
    before = W.value.copy()
    grad = np.broadcast_to(np.float32(1.0), W.shape)  # a read-only view
    opt.step({W: grad}, consume_grads=True)
    assert opt.seen == [False]
    np.testing.assert_allclose(W.value, before - 0.5)


def test_a_runs_gradients_are_never_consumed():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", np.ones((3, 2)))
    loss = ge.ops.sum(x @ W)
    run = g.forward({"x": np.ones((4, 3))}).backward(loss)
    kept = run.grad(W).copy()
    opt = Recording([W])
    opt.step(run, consume_grads=True)
    assert opt.seen == [False]
    np.testing.assert_array_equal(run.grad(W), kept)


def test_a_rule_that_fails_on_a_read_only_gradient_is_named_and_the_flag_is_reset():
    g = ge.Graph()
    W = g.param("W", np.ones(3, np.float32))
    opt = ge.optimizers.create("sgd", [W], lr=0.5)
    frozen = np.ones(3, np.float32)
    frozen.flags.writeable = False  # an array of its own (no base), made read-only
    with pytest.raises(OptimizerStepError, match=r"consume_grads=True\) got a read-only gradient array for param 'W'"):
        opt.step({W: frozen}, consume_grads=True)
    assert opt.may_consume_grad is False
    opt.step({W: frozen})  # without the permission the same array is fine
    np.testing.assert_array_equal(W.value, 0.5)
