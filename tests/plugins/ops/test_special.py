"""Elementwise functions of plugins/ops/special.py: conformance (check_op) on hypothesis
shapes, erf against math.erf, rounding and tests, dtypes, PyTorch where installed."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def normal(rng, shape):
    return 1.5 * rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.3, 3.0, shape)


def above_minus_one(rng, shape):
    return rng.uniform(-0.7, 3.0, shape)


def inside_tan_period(rng, shape):
    return rng.uniform(-1.3, 1.3, shape)


def off_integers(rng, shape):
    """Values at least 0.1 away from every integer and half-integer (the jumps)."""
    return rng.integers(-4, 4, shape) + rng.choice([0.2, 0.3, 0.7, 0.8], shape)


@np.vectorize
def erf_reference(x):
    return math.erf(x)


UNARY = {
    # name: (reference, value generator)
    "erf": (erf_reference, normal),
    "sin": (np.sin, normal),
    "cos": (np.cos, normal),
    "tan": (np.tan, inside_tan_period),
    "atan": (np.arctan, normal),
    "sinh": (np.sinh, normal),
    "cosh": (np.cosh, normal),
    "asinh": (np.arcsinh, normal),
    "rsqrt": (lambda x: 1 / np.sqrt(x), positive),
    "log1p": (np.log1p, above_minus_one),
    "expm1": (np.expm1, normal),
    "log2": (np.log2, positive),
    "exp2": (np.exp2, normal),
    "floor": (np.floor, off_integers),
    "ceil": (np.ceil, off_integers),
    "round": (np.round, off_integers),
    "sign": (np.sign, off_integers),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_function_conforms(name, shape, seed):
    reference, gen = UNARY[name]
    check_op(name, [gen(np.random.default_rng(seed), shape)], reference=reference)


@SETTINGS
@given(shapes=pair_shapes, seed=seeds)
def test_logaddexp_conforms(shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check_op("logaddexp", [normal(rng, a_shape), normal(rng, b_shape)], reference=np.logaddexp)


@pytest.mark.parametrize("name, reference", [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)])
def test_floating_point_tests_give_bool_and_no_gradient(name, reference):
    x = np.array([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.5]])
    check_op(name, [x], reference=reference, skip=("float32_preserved",))
    op = ge.default_manager().get_op(name)
    for data in (x, x.astype(np.float32), np.array([1, 2]), np.array([True])):
        out = op.forward(np, data)
        assert out.dtype == bool
        np.testing.assert_array_equal(out, reference(data))
    assert op.differentiable is False
    g = ge.Graph()
    node = g.input("x", shape=(2, 3), dtype="float32")
    assert getattr(ge.ops, name)(node).dtype == np.dtype(bool)


# -- erf -------------------------------------------------------------------------------

def test_erf_matches_math_erf_to_float64_precision_without_scipy():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1.0, -1.0, 1e-300, 30.0, -30.0]])
    got = ge.default_manager().get_op("erf").forward(np, x)
    assert np.max(np.abs(got - erf_reference(x))) < 1e-15  # well below the 1e-7 asked for


def test_erf_in_float32_is_accurate_to_about_one_ulp():
    x = np.linspace(-6, 6, 10001, dtype=np.float32)
    got = ge.default_manager().get_op("erf").forward(np, x)
    assert got.dtype == np.float32
    want = erf_reference(x.astype(np.float64))
    assert np.max(np.abs(got - want)) < 2.5e-7
    assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-30)) < 3e-7


def test_erf_keeps_nan_and_the_limits():
    out = ge.default_manager().get_op("erf").forward(np, np.array([np.nan, np.inf, -np.inf, 0.0]))
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:], [1.0, -1.0, 0.0])


# -- rounding: zero gradients, integer data kept ------------------------------------------

@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_rounding_passes_a_zero_gradient_through_the_graph(name):
    g = ge.Graph()
    x = g.input("x", shape=(4,))
    y = ge.ops.sum(getattr(ge.ops, name)(x) + x)
    run = g.forward({"x": np.array([-1.5, 0.0, 0.5, 2.7])}).backward(y)
    np.testing.assert_array_equal(run.grad(x), np.ones(4))  # only through + x


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_rounding_keeps_integer_data_integer(name):
    op = ge.default_manager().get_op(name)
    x = np.array([-3, 0, 4], dtype=np.int32)
    out = op.forward(np, x)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.sign(x) if name == "sign" else x)


def test_round_halves_to_even_and_takes_decimals_like_torch():
    op = ge.default_manager().get_op("round")
    np.testing.assert_array_equal(op.forward(np, np.array([0.5, 1.5, 2.5, -0.5, -0.7])), [0.0, 2.0, 2.0, -0.0, -1.0])
    np.testing.assert_allclose(op.forward(np, np.array([1.2345, -2.5551]), decimals=2), [1.23, -2.56])
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    with pytest.raises(ge.AttributeSpecError, match=r"round needs an integer decimals=, got 0\.5"):
        ge.ops.round(x, decimals=0.5)


# -- dtypes ----------------------------------------------------------------------------

FLOAT_RESULT = ["erf", "sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "rsqrt", "log1p", "expm1", "log2",
                "exp2"]


@pytest.mark.parametrize("name", FLOAT_RESULT)
def test_float_functions_of_integer_data_give_float32_like_torch(name):
    g = ge.Graph()
    x = g.input("x", shape=(3,), dtype="int32")
    y = getattr(ge.ops, name)(x)
    assert y.dtype == np.float32
    value = g.forward({"x": np.array([1, 2, 3], dtype=np.int32)}).value(y)
    assert value.dtype == np.float32
    reference = UNARY[name][0]
    np.testing.assert_allclose(value, reference(np.array([1.0, 2.0, 3.0])), rtol=2e-6)


def test_logaddexp_is_stable_and_promotes_like_the_other_binary_ops():
    op = ge.default_manager().get_op("logaddexp")
    np.testing.assert_allclose(op.forward(np, np.array([1000.0, -1000.0]), np.array([1000.0, -1000.0])),
                               [1000.0 + math.log(2.0), -1000.0 + math.log(2.0)])
    g = ge.Graph()
    a = g.input("a", shape=(2,), dtype="float32")
    b = g.input("b", shape=(2,), dtype="int32")
    y = ge.ops.logaddexp(a, b)
    assert y.dtype == np.float32
    value = g.forward({"a": np.zeros(2, np.float32), "b": np.zeros(2, np.int32)}).value(y)
    assert value.dtype == np.float32


# -- PyTorch, where installed ----------------------------------------------------------

TORCH_NAMES = {"erf": "erf", "sin": "sin", "cos": "cos", "tan": "tan", "atan": "atan", "sinh": "sinh",
               "cosh": "cosh", "asinh": "asinh", "rsqrt": "rsqrt", "log1p": "log1p", "expm1": "expm1",
               "log2": "log2", "exp2": "exp2", "floor": "floor", "ceil": "ceil", "round": "round", "sign": "sign"}


@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
def test_value_and_gradient_match_pytorch(name):
    torch = pytest.importorskip("torch")
    x = UNARY[name][1](np.random.default_rng(3), (5, 4))
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        data = x.astype(dtype)
        tx = torch.tensor(data, requires_grad=True)
        ty = getattr(torch, TORCH_NAMES[name])(tx)
        ty.backward(torch.ones_like(ty))
        op = ge.default_manager().get_op(name)
        out = op.forward(np, data)
        (grad,) = op.backward(np, np.ones_like(out), (data,), out)
        assert out.dtype == dtype and grad.dtype == dtype
        np.testing.assert_allclose(out, ty.detach().numpy(), rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-15)


def test_logaddexp_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = torch.logaddexp(ta, tb)
    ty.backward(torch.ones_like(ty))
    op = ge.default_manager().get_op("logaddexp")
    out = op.forward(np, a, b)
    ga, gb = op.backward(np, np.ones_like(out), (a, b), out)
    np.testing.assert_allclose(out, ty.detach().numpy())
    np.testing.assert_allclose(ga, ta.grad.numpy())
    np.testing.assert_allclose(gb.sum(axis=0), tb.grad.numpy())


def test_no_numpy_warnings_inside_the_domain():
    x = np.linspace(-3, 3, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("erf", "sin", "asinh", "expm1", "exp2", "floor", "sign"):
            ge.default_manager().get_op(name).forward(np, x)
