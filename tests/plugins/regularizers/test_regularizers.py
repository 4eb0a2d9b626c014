"""Regularizers: kinds, penalties and their gradients, decay, max-norm, and the helpers."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.regularizers import (
    RegularizerError,
    RegularizerOptionError,
    add_penalty_gradients,
    apply_after_step,
    penalty_value,
    regularized_step,
)

KINDS = {"l2": "penalty", "l1": "penalty", "weight_decay": "decay", "max_norm": "constraint"}


def test_registered_with_their_kinds(plugin_manager):
    assert sorted(plugin_manager.regularizers) == sorted(KINDS)
    for name, kind in KINDS.items():
        cls = plugin_manager.regularizers[name]
        assert issubclass(cls, ge.Regularizer) and cls.kind == kind
        assert plugin_manager.owner_of("regularizers", name) == "regularizers"
    assert plugin_manager.owner_of("ops", "dropout") == "regularizers"
    assert plugin_manager.owner_of("ops", "gaussian_noise") == "regularizers"


def test_create_by_name():
    reg = ge.regularizers.create("l2", strength=1e-3)
    assert reg.strength == 1e-3 and reg.kind == "penalty"
    assert ge.regularizers.create("l1", 0.5).strength == 0.5
    assert ge.regularizers.create("max_norm", max_norm=2.0).max_norm == 2.0
    assert "penalty" in repr(reg)


def test_unknown_regularizer_name_suggests():
    with pytest.raises(ge.UnknownNameError, match=r"no regularizer named 'weight_decy'.*Did you mean 'weight_decay'"):
        ge.regularizers.create("weight_decy")


@pytest.mark.parametrize("make, error, match", [
    (lambda: ge.regularizers.create("l2", strenght=0.1), RegularizerOptionError, "unknown option strenght"),
    (lambda: ge.regularizers.create("l2", strength=-0.1), RegularizerError, "strength=-0.1 is out of range"),
    (lambda: ge.regularizers.create("weight_decay", strength="x"), RegularizerError, "must be a number"),
    (lambda: ge.regularizers.create("max_norm", max_norm=0.0), RegularizerError, "max_norm=0.0 is out of range"),
    (lambda: ge.regularizers.create("max_norm", strength=1.0), RegularizerOptionError, "has no strength"),
    (lambda: ge.regularizers.create("max_norm", axis="rows"), RegularizerError, "axis must be None, an int or a tuple"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- penalties ----------------------------------------------------------------------------------

def test_penalty_values_by_hand():
    theta = np.array([1.0, -2.0, 3.0])
    l2 = ge.regularizers.create("l2", strength=0.1)
    l1 = ge.regularizers.create("l1", strength=0.1)
    # penalty() is the term without the strength: 1/2 (1 + 4 + 9) and 1 + 2 + 3
    p2, p1 = l2.penalty(np, theta), l1.penalty(np, theta)
    assert isinstance(p2, np.ndarray) and p2.shape == () and float(p2) == 7.0
    assert isinstance(p1, np.ndarray) and p1.shape == () and float(p1) == 6.0
    np.testing.assert_allclose(l2.gradient(np, theta), [0.1, -0.2, 0.3])
    np.testing.assert_allclose(l1.gradient(np, theta), [0.1, -0.1, 0.1])
    assert l1.gradient(np, np.array([0.0]))[0] == 0.0  # subgradient 0 at 0


@pytest.mark.parametrize("name", ["l2", "l1"])
def test_penalty_gradient_matches_finite_differences(name, rng):
    reg = ge.regularizers.create(name, strength=0.3)
    theta = rng.standard_normal((4, 3))
    theta[np.abs(theta) < 0.05] = 0.5  # keep |theta| off the kink of l1
    analytic = reg.gradient(np, theta)
    eps = 1e-6
    numeric = np.zeros_like(theta)
    for index in np.ndindex(theta.shape):
        plus, minus = theta.copy(), theta.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = reg.strength * (float(reg.penalty(np, plus)) - float(reg.penalty(np, minus))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["l2", "l1"])
def test_penalty_float32_preserved(name):
    reg = ge.regularizers.create(name, strength=0.1)
    theta = np.array([1.0, -2.0], dtype=np.float32)
    assert reg.penalty(np, theta).dtype == np.float32
    assert reg.gradient(np, theta).dtype == np.float32


def test_l2_penalty_gradient_equals_the_graph_gradient_of_the_deck_term(rng):
    """Deck 001: L = data + lambda/2 ||theta||^2. The helper adds what the graph would."""
    lam = 0.1
    g = ge.Graph("l2")
    x = g.input("x", shape=(None, 3))
    y = g.input("y", shape=(None, 1))
    theta = g.param("theta", rng.standard_normal((3, 1)))
    data = ge.ops.mse(x @ theta, y, reduction="mean")
    total = data + (lam / 2) * ge.ops.sum(ge.ops.square(theta))
    feeds = {"x": rng.standard_normal((6, 3)), "y": rng.standard_normal((6, 1))}
    run = g.forward(feeds)
    with_term = np.array(run.backward(total).grad(theta), copy=True)
    reg = ge.regularizers.create("l2", strength=lam)
    grads = add_penalty_gradients([reg], [theta], run.backward(data))
    np.testing.assert_allclose(grads[theta], with_term, rtol=1e-12)
    data_value = float(run.value(data))
    assert data_value + penalty_value([reg], [theta]) == pytest.approx(float(run.value(total)), rel=1e-12)


# -- decay and constraint -----------------------------------------------------------------------

def test_weight_decay_applies_after_the_step():
    reg = ge.regularizers.create("weight_decay", strength=0.5)
    out = reg.apply(np, np.array([2.0, -4.0], dtype=np.float32), 0.1)
    np.testing.assert_allclose(out, [2.0 * 0.95, -4.0 * 0.95])
    assert out.dtype == np.float32
    with pytest.raises(NotImplementedError, match="decay"):
        reg.gradient(np, np.ones(2))


def test_max_norm_rescales_columns_of_a_weight_by_default():
    W = np.array([[3.0, 0.6], [4.0, 0.8], [0.0, 0.0]])      # column norms 5 and 1
    out = ge.regularizers.create("max_norm", max_norm=2.0).apply(np, W, 0.1)
    np.testing.assert_allclose(out[:, 0], [1.2, 1.6, 0.0])  # scaled to norm 2
    np.testing.assert_array_equal(out[:, 1], W[:, 1])        # within the bound: untouched


def test_max_norm_rows_vectors_and_kernels():
    W = np.array([[3.0, 4.0], [0.3, 0.4]])
    rows = ge.regularizers.create("max_norm", max_norm=1.0, axis=1).apply(np, W)
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.3, 0.4]])
    v = ge.regularizers.create("max_norm", max_norm=1.0).apply(np, np.array([3.0, 4.0]))
    np.testing.assert_allclose(v, [0.6, 0.8])                 # a 1-D param as a whole
    kernel = np.random.default_rng(0).standard_normal((3, 3, 4, 5)).astype(np.float32)
    out = ge.regularizers.create("max_norm", max_norm=1.5).apply(np, kernel)
    norms = np.sqrt((out.astype(np.float64) ** 2).sum(axis=(0, 1, 2)))
    assert out.dtype == np.float32
    assert np.all(norms <= 1.5 * (1 + 1e-6))
    big = np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2))) > 1.5
    np.testing.assert_allclose(norms[big], 1.5, rtol=1e-6)


def test_max_norm_axis_out_of_range():
    with pytest.raises(ge.ShapeError, match="axis 2 is out of range"):
        ge.regularizers.create("max_norm", axis=2).apply(np, np.ones((2, 2)))


# -- the helpers a training loop calls --------------------------------------------------------

def small_graph(rng):
    g = ge.Graph("helpers")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.standard_normal((3, 2)))
    b = g.param("b", rng.standard_normal((2,)))
    loss = ge.ops.mean(ge.ops.square(x @ W + b))
    return g, W, b, loss, {"x": rng.standard_normal((5, 3))}


def test_add_penalty_gradients_only_touches_the_listed_params(rng):
    g, W, b, loss, feeds = small_graph(rng)
    run = g.forward(feeds).backward(loss)
    regs = [ge.regularizers.create("l2", strength=0.1), ge.regularizers.create("l1", strength=0.01),
            ge.regularizers.create("weight_decay", strength=0.5)]   # decay: no gradient
    out = add_penalty_gradients(regs, [W], run)
    np.testing.assert_allclose(out[W], run.grad(W) + 0.1 * W.value + 0.01 * np.sign(W.value), rtol=1e-12)
    np.testing.assert_array_equal(out[b], run.grad(b))
    # a param with no gradient in the mapping gets the penalty gradient alone
    only = add_penalty_gradients(regs[:1], [W, b], {W: np.zeros((3, 2))})
    np.testing.assert_allclose(only[b], 0.1 * b.value)


def test_apply_after_step_decays_then_constrains(rng):
    g = ge.Graph("after")
    W = g.param("W", np.array([[3.0], [4.0]]))
    regs = [ge.regularizers.create("max_norm", max_norm=4.0), ge.regularizers.create("weight_decay", strength=1.0)]
    apply_after_step(regs, [W], lr=0.1)
    # decay first: 0.9 * [3, 4] has norm 4.5 > 4, then the constraint scales it to norm 4
    np.testing.assert_allclose(W.value, [[2.4], [3.2]])


def test_regularized_step_with_sgd_matches_the_formula(rng):
    g, W, b, loss, feeds = small_graph(rng)
    W0, b0 = W.value.copy(), b.value.copy()
    run = g.forward(feeds).backward(loss)
    gW, gb = run.grad(W).copy(), run.grad(b).copy()
    opt = ge.optimizers.create("sgd", g.params(), lr=0.1)
    regularized_step(opt, run, [ge.regularizers.create("l2", strength=0.2),
                                ge.regularizers.create("weight_decay", strength=0.3)], params=[W])
    np.testing.assert_allclose(W.value, (W0 - 0.1 * (gW + 0.2 * W0)) * (1 - 0.1 * 0.3), rtol=1e-12)
    np.testing.assert_allclose(b.value, b0 - 0.1 * gb, rtol=1e-12)


def test_decoupled_decay_differs_from_l2_with_adam():
    """AdamW vs Adam + L2 (Loshchilov & Hutter): Adam rescales the penalty gradient, so a
    weight with no data gradient moves by a full lr step under L2 but decays by only
    lr * lambda under decoupled decay."""
    lam, lr = 0.01, 0.1

    def one_step(regs):
        g = ge.Graph("adam_vs_adamw")
        w = g.param("w", np.array([1.0, 1.0]))
        opt = ge.optimizers.create("adam", [w], lr=lr)
        regularized_step(opt, {w: np.array([5.0, 0.0])}, regs)
        return w.value

    with_l2 = one_step([ge.regularizers.create("l2", strength=lam)])
    with_decay = one_step([ge.regularizers.create("weight_decay", strength=lam)])
    # Adam + L2: the gradient of the second entry is lam * 1 > 0; Adam's first step is lr * sign
    assert with_l2[1] == pytest.approx(1.0 - lr, rel=1e-6)
    # decoupled: Adam does not move it (no gradient), the decay shrinks it by lr * lam
    assert with_decay[1] == pytest.approx(1.0 * (1 - lr * lam), rel=1e-12)
    # the first entry: Adam's step lr * sign(5 + lam) in both, then the decay
    assert with_l2[0] == pytest.approx(1.0 - lr, rel=1e-6)
    assert with_decay[0] == pytest.approx((1.0 - lr) * (1 - lr * lam), rel=1e-6)


def test_adam_plus_weight_decay_regularizer_tracks_adamw():
    """Decay after the step vs AdamW's decay of the old value: equal up to lr² λ."""
    lam, lr = 0.05, 0.01
    g = ge.Graph("track")
    a = g.param("a", np.array([1.0, -2.0, 0.5]))
    b = g.param("b", np.array([1.0, -2.0, 0.5]))
    adam = ge.optimizers.create("adam", [a], lr=lr)
    adamw = ge.optimizers.create("adamw", [b], lr=lr, weight_decay=lam)
    decay = [ge.regularizers.create("weight_decay", strength=lam)]
    for k in range(20):
        grad = np.array([np.sin(k), np.cos(k), 0.1 * k])
        regularized_step(adam, {a: grad}, decay)
        adamw.step({b: grad})
    np.testing.assert_allclose(a.value, b.value, atol=20 * lr * lr * lam * 2)


def test_helpers_refuse_classes_names_and_non_params(rng):
    g, W, b, loss, feeds = small_graph(rng)
    with pytest.raises(ge.GraphStructureError, match="must be instances"):
        penalty_value(["l2"], [W])
    with pytest.raises(ge.GraphStructureError, match="must be instances"):
        penalty_value([ge.regularizers.get("l2")], [W])
    with pytest.raises(ge.GraphStructureError, match="param nodes"):
        apply_after_step([ge.regularizers.create("weight_decay")], [loss], lr=0.1)
