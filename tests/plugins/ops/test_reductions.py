"""Reductions: sum, mean, max, logsumexp over axis (None, int, tuple, negative), keepdims."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def reduction_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axis = draw(hnp.valid_tuple_axes(ndim))
    return shape, {"axis": axis, "keepdims": draw(st.booleans())}


def distinct(rng, shape):
    """Values at least 0.5 apart: no ties, so max has a gradient everywhere."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * 0.5 + rng.uniform(0, 0.1)).reshape(shape) - size / 4


def logsumexp_reference(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


REDUCTIONS = {
    "sum": (np.sum, lambda rng, shape: rng.standard_normal(shape)),
    "mean": (np.mean, lambda rng, shape: rng.standard_normal(shape)),
    "max": (np.max, distinct),
    "logsumexp": (logsumexp_reference, lambda rng, shape: 3 * rng.standard_normal(shape)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=reduction_cases(), seed=seeds)
def test_reduction_conforms(name, case, seed):
    shape, attrs = case
    reference, gen = REDUCTIONS[name]
    x = gen(np.random.default_rng(seed), shape)
    check_op(name, [x], reference=lambda x, axis, keepdims: reference(x, axis=axis, keepdims=keepdims),
             attrs=attrs)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_full_reduction_returns_a_0d_array_not_a_scalar(name):
    op = ge.default_manager().get_op(name)
    out = op.forward(np, np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32


def test_max_splits_the_gradient_evenly_between_ties():
    op = ge.default_manager().get_op("max")
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    out = op.forward(np, x, axis=1)
    (g,) = op.backward(np, np.array([1.0, 2.0]), (x,), out, axis=1)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [2.0, 0.0, 0.0]])


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_logsumexp_is_stable_for_large_float32_inputs(value):
    op = ge.default_manager().get_op("logsumexp")
    x = np.array([[value, value, value - 1.0], [0.0, value, -value]], dtype=np.float32)
    # overflow, 0/0 and log(0) raise; underflow of e^(x - max) to 0 is expected and fine
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        out = op.forward(np, x, axis=1)
        (g,) = op.backward(np, np.ones_like(out), (x,), out, axis=1)
    assert out.dtype == g.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))
    # exact: row 0 is value + log(2 + e^-1); row 1 (0, ±1e4, ∓1e4) is 1e4 + log(1 + e^-1e4 + e^-2e4) = 1e4
    np.testing.assert_allclose(out[0], value + np.log(2 + np.exp(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(out[1], 1e4, rtol=1e-6)
    np.testing.assert_allclose(g.sum(axis=1), [1.0, 1.0], rtol=1e-6)  # softmax rows


def test_logsumexp_of_a_row_of_minus_infinity_is_minus_infinity():
    op = ge.default_manager().get_op("logsumexp")
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = op.forward(np, x, axis=1)
    np.testing.assert_array_equal(out, [-np.inf, np.log(2.0)])


def test_reduction_shape_rules_with_an_unknown_batch_axis():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3, 4))
    assert ge.ops.sum(x, axis=0).shape == (3, 4)
    assert ge.ops.mean(x, axis=(1, 2)).shape == (None,)
    assert ge.ops.max(x, axis=-1, keepdims=True).shape == (None, 3, 1)
    assert ge.ops.logsumexp(x).shape == ()
    with pytest.raises(ge.ShapeError, match="axis 3 is out of range"):
        ge.ops.sum(x, axis=3)
    with pytest.raises(ge.ShapeError, match="repeated axis"):
        ge.ops.mean(x, axis=(1, -2))
    with pytest.raises(ge.AttributeSpecError, match="Did you mean 'keepdims'"):
        ge.ops.max(x, axis=1, keepdim=True)


def test_mean_of_squares_through_the_graph_in_float32():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    m = ge.ops.mean(x * x, axis=0)
    loss = ge.ops.sum(m) + ge.ops.logsumexp(x)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    run = g.forward({"x": X}).backward(loss)
    assert run.value(loss).dtype == np.float32 and run.grad(x).dtype == np.float32
    softmax_all = np.exp(X - X.max()) / np.exp(X - X.max()).sum()
    np.testing.assert_allclose(run.value(m), (X * X).mean(axis=0))
    np.testing.assert_allclose(run.grad(x), 2 * X / 2 + softmax_all, rtol=1e-6)
