"""Elementwise ops: conformance (check_op) on hypothesis shapes, broadcasting, kinks, dtypes."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=20, deadline=None)

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)
# two shapes that broadcast together, e.g. (3, 4) with (4,), (2, 1, 3) with (4, 1)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)
FIXED_PAIRS = [((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (2, 3)), ((3, 1), (1, 4)), ((2, 3), ())]


# -- value generators: each keeps inputs inside the op's smooth domain -------------------

def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 3.0, shape)


def away_from_zero(rng, shape):
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def on_integer_grid(rng, shape):
    return rng.integers(-4, 4, shape).astype(np.float64)


def on_half_grid(rng, shape):
    # never equal to a value on the integer grid: no ties for maximum / minimum
    return rng.integers(-4, 4, shape) + 0.5


BINARY = {
    # name: (reference, generator for a, generator for b)
    "add": (np.add, normal, normal),
    "sub": (np.subtract, normal, normal),
    "mul": (np.multiply, normal, normal),
    "div": (np.divide, normal, away_from_zero),
    "pow": (np.power, positive, normal),
    "maximum": (np.maximum, on_integer_grid, on_half_grid),
    "minimum": (np.minimum, on_integer_grid, on_half_grid),
}

UNARY = {
    "neg": (np.negative, normal),
    "exp": (np.exp, normal),
    "log": (np.log, positive),
    "sqrt": (np.sqrt, positive),
    "abs": (np.abs, away_from_zero),
    "square": (np.square, normal),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=pair_shapes, seed=seeds)
def test_binary_op_conforms(name, shapes, seed):
    reference, gen_a, gen_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check_op(name, [gen_a(rng, a_shape), gen_b(rng, b_shape)], reference=reference)


@pytest.mark.parametrize("a_shape, b_shape", FIXED_PAIRS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_broadcasts_both_ways(name, a_shape, b_shape):
    reference, gen_a, gen_b = BINARY[name]
    rng = np.random.default_rng(0)
    check_op(name, [gen_a(rng, a_shape), gen_b(rng, b_shape)], reference=reference)
    check_op(name, [gen_a(rng, b_shape), gen_b(rng, a_shape)], reference=reference)


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_op_conforms(name, shape, seed):
    reference, gen = UNARY[name]
    check_op(name, [gen(np.random.default_rng(seed), shape)], reference=reference)


def _clip_values(rng, shape, low, high):
    """Values at least 0.05 away from both bounds (the gradient jumps there)."""
    x = rng.uniform(-2.0, 2.0, shape)
    for bound in (low, high):
        if bound is not None:
            near = np.abs(x - bound) < 0.05
            x = np.where(near, bound + 0.1 * np.sign(x - bound + 1e-12), x)
    return x


@pytest.mark.parametrize("low, high", [(-0.5, 0.5), (0.0, None), (None, 1.0), (-1.0, -1.0 + 1e-3)])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_clip_conforms(low, high, shape, seed):
    x = _clip_values(np.random.default_rng(seed), shape, low, high)
    check_op("clip", [x], reference=lambda x, low, high: np.clip(x, low, high), attrs={"low": low, "high": high})


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_where_conforms(shapes, seed):
    rng = np.random.default_rng(seed)
    c_shape, a_shape, b_shape = shapes.input_shapes
    condition = rng.random(c_shape) < 0.5
    inputs = [condition, rng.standard_normal(a_shape), rng.standard_normal(b_shape)]
    check_op("where", inputs, reference=np.where, differentiable=[False, True, True])


# -- gradients at special points -------------------------------------------------------

def _grads(op_name, inputs, **attrs):
    op = ge.default_manager().get_op(op_name)
    out = op.forward(np, *inputs, **attrs)
    return op.backward(np, np.ones_like(out), tuple(inputs), out, **attrs)


def test_maximum_and_minimum_split_the_gradient_on_ties():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 5.0])
    ga, gb = _grads("maximum", [a, b])
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    ga, gb = _grads("minimum", [a, b])
    np.testing.assert_array_equal(ga, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.0])


def test_abs_gradient_is_zero_at_zero():
    (g,) = _grads("abs", [np.array([-2.0, 0.0, 3.0])])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_clip_gradient_is_zero_outside_the_bounds():
    (g,) = _grads("clip", [np.array([-2.0, -0.2, 0.3, 4.0])], low=-0.5, high=0.5)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 0.0])


def test_pow_gradients_at_the_edges_are_pytorchs():
    # x**0 is the constant 1 (also at x = 0); 0**b is constant for b >= 0; a negative
    # base has no real derivative in the exponent (NaN), as in PyTorch; no warnings
    a = np.array([0.0, 0.0, 0.0, 0.0, -2.0, -2.0, 2.0, 0.0])
    b = np.array([0.0, 1.0, 2.0, 0.5, 2.0, 0.0, 3.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ga, gb = _grads("pow", [a, b])
    np.testing.assert_array_equal(ga, [0.0, 1.0, 0.0, np.inf, -4.0, 0.0, 12.0, -np.inf])
    np.testing.assert_array_equal(gb[:4], [0.0, 0.0, 0.0, 0.0])
    assert np.isnan(gb[4]) and np.isnan(gb[5])
    np.testing.assert_allclose(gb[6], 8.0 * np.log(2.0))
    assert gb[7] == -np.inf


def test_pow_with_a_python_exponent_zero_has_zero_gradient_at_zero():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    y = ge.ops.sum(x ** 0.0) + ge.ops.sum(x ** 1)
    run = g.forward({"x": np.array([0.0, 2.0, -1.0])}).backward(y)
    np.testing.assert_array_equal(run.grad(x), [1.0, 1.0, 1.0])


def test_pow_gradients_match_pytorch_on_an_edge_grid():
    torch = pytest.importorskip("torch")
    bases = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5])
    exponents = np.array([0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5])
    a, b = (m.ravel() for m in np.meshgrid(bases, exponents))
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    seed = np.linspace(0.5, 1.5, a.size)
    (ta ** tb).backward(torch.tensor(seed))
    op = ge.default_manager().get_op("pow")
    out = op.forward(np, a, b)
    ga, gb = op.backward(np, seed, (a, b), out)
    np.testing.assert_allclose(out, (ta ** tb).detach().numpy(), equal_nan=True)
    np.testing.assert_allclose(ga, ta.grad.numpy(), equal_nan=True)
    np.testing.assert_allclose(gb, tb.grad.numpy(), equal_nan=True)
    bases = bases[bases != 0.0] + 0.0  # +0.0 only: torch takes x ** -0.5 as rsqrt, -inf at -0.0
    bases = np.append(bases, 0.0)
    for exponent in (0.0, 1.0, 2.0, -1.0, 0.5):  # a Python exponent: x ** 2.0
        tx = torch.tensor(bases, requires_grad=True)
        (tx ** exponent).backward(torch.ones(bases.size, dtype=torch.float64))
        (gx, _) = op.backward(np, np.ones(bases.size), (bases, exponent), op.forward(np, bases, exponent),
                              needs_grad=(True, False))
        np.testing.assert_allclose(gx, tx.grad.numpy(), equal_nan=True, err_msg=f"x ** {exponent}")


def test_where_sends_no_gradient_to_the_condition():
    condition = np.array([True, False, True])
    gc, ga, gb = _grads("where", [condition, np.zeros(3), np.zeros(3)])
    assert gc is None
    np.testing.assert_array_equal(ga, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.0, 1.0, 0.0])


# -- errors at build time --------------------------------------------------------------

def test_binary_shape_mismatch_is_refused_at_build_time_with_both_shapes():
    g = ge.Graph()
    a = g.input("a", shape=(None, 3))
    b = g.input("b", shape=(4,))
    with pytest.raises(ge.ShapeError) as info:
        a + b
    message = str(info.value)
    assert "add" in message and "(None, 3)" in message and "(4,)" in message


def test_clip_without_bounds_or_with_crossed_bounds_is_refused_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match=r"'clip_\d+' \(op clip\): clip needs low=, high= or both"):
        ge.ops.clip(x)
    with pytest.raises(ge.AttributeSpecError, match="low <= high"):
        ge.ops.clip(x, low=1.0, high=0.0)


def test_clip_attribute_typo_is_refused_with_a_suggestion():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(ge.AttributeSpecError, match="'low'"):
        ge.ops.clip(x, lo=0.0)


# -- through the graph: operators, Python scalars, float32 -----------------------------

def test_operators_build_the_elementwise_ops_and_their_gradients():
    g = ge.Graph("arith")
    a = g.input("a", shape=(None, 3))
    b = g.param("b", np.array([0.5, 1.5, 2.0]))
    y = ((a + b) * (a - b) / b) ** 2.0 - (-a)
    loss = ge.ops.sum(y)
    A = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    B = b.value
    run = g.forward({"a": A})
    u = (A + B) * (A - B) / B
    np.testing.assert_allclose(run.value(y), u ** 2 + A)
    run.backward(loss)
    # d/da: 2u·(2a/b) + 1; d/db: Σ_rows 2u·(-(a² + b²)/b²)
    np.testing.assert_allclose(run.grad(a), 2 * u * (2 * A / B) + 1)
    np.testing.assert_allclose(run.grad(b), np.sum(2 * u * (-(A ** 2 + B ** 2) / B ** 2), axis=0))
    assert [n.op for n in g.nodes() if n.kind == "op"][:6] == ["add", "sub", "mul", "div", "pow", "neg"]


def test_python_scalar_operands_keep_float32_values_and_gradients():
    g = ge.Graph("scalars")
    x = g.input("x", shape=(4,), dtype="float32")
    y = ge.ops.sum(2.0 ** x + x ** 2 + 1.5 / ge.ops.exp(x) - 3.0 * ge.ops.maximum(x, 0.25))
    X = np.array([-1.0, 0.5, 1.0, 2.0], dtype=np.float32)
    run = g.forward({"x": X}).backward(y)
    assert run.value(y).dtype == np.float32
    assert run.grad(x).dtype == np.float32
    want = np.log(2.0) * 2.0 ** X + 2 * X - 1.5 * np.exp(-X) - 3.0 * (X > 0.25)
    np.testing.assert_allclose(run.grad(x), want, rtol=1e-5)


def test_pow_with_a_python_scalar_base_keeps_float32_exponent_gradient():
    op = ge.default_manager().get_op("pow")
    b = np.array([0.5, 2.0], dtype=np.float32)
    out = op.forward(np, 2.0, b)
    ga, gb = op.backward(np, np.ones_like(out), (2.0, b), out, needs_grad=(False, True))
    assert out.dtype == gb.dtype == np.float32
    np.testing.assert_allclose(gb, np.log(2.0) * 2.0 ** b, rtol=1e-6)


def test_clip_with_numpy_scalar_bounds_keeps_float32():
    op = ge.default_manager().get_op("clip")
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    out = op.forward(np, x, low=np.float64(-0.5), high=np.float64(0.5))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.clip(x, -0.5, 0.5))


def test_where_through_the_graph_routes_gradients():
    g = ge.Graph()
    x = g.input("x", shape=(None,))
    y = ge.ops.where(x, 2.0 * x, x * x)  # condition: x != 0
    xs = np.array([0.0, 3.0, -1.0])
    loss = ge.ops.sum(y)
    run = g.forward({"x": xs}).backward(loss)
    np.testing.assert_allclose(run.value(y), np.where(xs, 2 * xs, xs * xs))
    # the condition input is x itself, which gets no gradient through that edge
    np.testing.assert_allclose(run.grad(x), np.where(xs != 0, 2.0, 2 * xs))
