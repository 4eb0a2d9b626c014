"""Dropout and Gaussian-noise ops: conformance kit, determinism per seed, statistics."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.testing import check_op


def reference_dropout(x, p=0.5, training=True, seed=None):
    """The documented recipe on NumPy: keep where default_rng(seed).random(shape, float32) >= p,
    scale 1/(1-p)."""
    if not training or p == 0:
        return x
    keep = np.random.default_rng(seed).random(np.shape(x), dtype=np.float32) >= p
    return np.where(keep, x / (1 - p), 0.0)


def reference_noise(x, std=0.1, training=True, seed=None):
    """On NumPy, for float64 data: x + std * default_rng(seed).standard_normal(shape)."""
    if not training or std == 0:
        return x
    return x + std * np.random.default_rng(seed).standard_normal(np.shape(x))


# The kit's "cupy" check compares CuPy's forward with NumPy's element by element; a seeded
# random op draws from a different generator on each backend (documented), so that check
# cannot apply to it. test_noise_ops_cupy.py checks the CuPy path by its properties instead.
RANDOM_OP_SKIP = ("cupy",)


@pytest.fixture
def x(rng):
    return rng.standard_normal((5, 4))


@pytest.mark.parametrize("attrs", [dict(p=0.3, seed=5), dict(p=0.5, seed=0), dict(p=0.9, seed=123)])
def test_dropout_training_passes_the_kit_with_a_seed(x, attrs):
    check_op("dropout", [x], reference=reference_dropout, attrs=attrs, skip=RANDOM_OP_SKIP)


@pytest.mark.parametrize("attrs", [dict(training=False), dict(p=0.0, seed=1), dict(training=False, p=0.7)])
def test_dropout_is_identity_in_evaluation_or_with_p_0(x, attrs):
    check_op("dropout", [x], reference=lambda x, **_: x, attrs=attrs)


@pytest.mark.parametrize("attrs", [dict(std=0.3, seed=5), dict(std=2.0, seed=9)])
def test_gaussian_noise_passes_the_kit_with_a_seed(x, attrs):
    check_op("gaussian_noise", [x], reference=reference_noise, attrs=attrs, skip=RANDOM_OP_SKIP)


@pytest.mark.parametrize("attrs", [dict(training=False), dict(std=0.0, seed=1)])
def test_gaussian_noise_is_identity_in_evaluation(x, attrs):
    check_op("gaussian_noise", [x], reference=lambda x, **_: x, attrs=attrs)


def build(op, shape=(None, 6), dtype=None, **attrs):
    g = ge.Graph(op)
    x = g.input("x", shape=shape, dtype=dtype)
    y = getattr(ge.ops, op)(x, **attrs)
    loss = ge.ops.sum(y * y) / 2
    return g, x, y, loss


def test_dropout_mask_is_the_same_for_a_seed_and_differs_between_seeds(rng):
    X = rng.standard_normal((20, 6)) + 5.0  # no zeros
    g, x, y, loss = build("dropout", p=0.5, seed=11)
    outs = [np.array(g.forward({"x": X}, fetch=[y]).value(y)) for _ in range(4)]  # 4th via generated code
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    g2, x2, y2, _ = build("dropout", p=0.5, seed=12)
    assert not np.array_equal(g2.forward({"x": X}).value(y2) != 0, outs[0] != 0)


def test_dropout_without_seed_draws_a_new_mask_each_run(rng):
    X = rng.standard_normal((20, 6)) + 5.0
    g, x, y, loss = build("dropout", p=0.5)
    a = g.forward({"x": X}).value(y)
    b = g.forward({"x": X}).value(y)
    assert not np.array_equal(a != 0, b != 0)


@pytest.mark.parametrize("seed", [None, 4])
@pytest.mark.parametrize("fetch", [False, True])
def test_dropout_backward_reuses_the_forward_mask_even_for_zero_inputs(seed, fetch):
    """Half the inputs are exactly 0; a kept zero must still pass gradient 1/(1-p).

    With loss = sum(y * seed_grad) the input gradient is the scaled mask itself."""
    p = 0.25
    X = np.zeros((40, 6))
    X[::2] = 1.0
    g = ge.Graph("mask")
    xin = g.input("x", shape=(None, 6))
    y = ge.ops.dropout(xin, p=p, seed=seed)
    total = ge.ops.sum(y)
    for _ in range(4):   # repeated fetched runs switch to generated code
        run = g.forward({"x": X}, fetch=[total, xin] if fetch else None).backward(total)
        grad = np.asarray(run.grad(xin))
        out = np.asarray(run.value(y)) if not fetch else None
        assert set(np.unique(grad)) <= {0.0, 1 / (1 - p)}
        # the rows of ones show the mask in the output; the gradient agrees with it there
        if out is not None:
            np.testing.assert_array_equal(grad[::2] != 0, out[::2] != 0)
        # kept zero entries get gradient too (the mask was not guessed from the output)
        assert np.count_nonzero(grad[1::2]) > 0.5 * grad[1::2].size
        if seed is not None:
            expected = (np.random.default_rng(seed).random(X.shape, dtype=np.float32) >= p) / (1 - p)
            np.testing.assert_array_equal(grad, expected)


def test_dropout_statistics(rng):
    X = np.ones((400, 500))
    for p in (0.2, 0.5, 0.8):
        g, x, y, _ = build("dropout", shape=(None, 500), p=p, seed=1)
        out = np.asarray(g.forward({"x": X}).value(y))
        kept = np.count_nonzero(out) / out.size
        assert kept == pytest.approx(1 - p, abs=0.005)
        assert float(out.mean()) == pytest.approx(1.0, abs=0.02)  # inverted scaling keeps the mean
        assert set(np.unique(out)) == {0.0, np.float64(1 / (1 - p))}


def test_float32_is_preserved_through_a_graph(rng):
    X = rng.standard_normal((8, 6)).astype(np.float32)
    for op, attrs in [("dropout", dict(p=0.5, seed=2)), ("gaussian_noise", dict(std=0.5, seed=2)),
                      ("dropout", dict(training=False))]:
        g, x, y, loss = build(op, dtype="float32", **attrs)
        assert y.dtype == np.float32
        run = g.forward({"x": X}).backward(loss)
        assert run.value(y).dtype == np.float32
        assert run.grad(x).dtype == np.float32


def test_gaussian_noise_statistics_and_identity_gradient():
    X = np.zeros((300, 400))
    g, x, y, loss = build("gaussian_noise", shape=(None, 400), std=0.5, seed=3)
    run = g.forward({"x": X}).backward(loss)
    out = np.asarray(run.value(y))
    assert float(out.std()) == pytest.approx(0.5, rel=0.01)
    assert abs(float(out.mean())) < 0.005
    np.testing.assert_array_equal(run.grad(x), out)  # d(sum y^2 / 2)/dx = y * dy/dx = y
    again = np.asarray(g.forward({"x": X}).value(y))
    np.testing.assert_array_equal(again, out)
    g2, _, y2, _ = build("gaussian_noise", shape=(None, 400), std=0.5)
    assert not np.array_equal(g2.forward({"x": X}).value(y2), g2.forward({"x": X}).value(y2))


@pytest.mark.parametrize("op, attrs, match", [
    ("dropout", dict(p=1.0), r"p=1.0 is out of range; it must lie in \[0.0, 1.0\)"),
    ("dropout", dict(p=-0.1), "p=-0.1 is out of range"),
    ("gaussian_noise", dict(std=-1.0), "std=-1.0 is out of range"),
])
def test_bad_attributes_are_refused_when_the_node_is_built(op, attrs, match):
    g = ge.Graph("bad")
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.GraphEngineError, match=match):
        getattr(ge.ops, op)(x, **attrs)


def test_unknown_attribute_suggests():
    g = ge.Graph("bad")
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match="Did you mean 'seed'"):
        ge.ops.dropout(x, p=0.5, sead=1)
