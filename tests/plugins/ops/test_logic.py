"""Comparisons and logic (bool, no gradient), the node operators < <= > >=, where with a
computed mask, cast / node.astype, stop_gradient / detach."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)
seeds = st.integers(0, 2**32 - 1)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)

COMPARISONS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal, "logical_and": np.logical_and, "logical_or": np.logical_or}
# a bool output is the point: the kit's "float32 in, float32 out" check does not apply
BOOL_SKIP = ("float32_preserved",)


def op(name):
    return ge.default_manager().get_op(name)


def on_grid(rng, shape):
    """Few distinct values (zeros included), so ties and zeros occur."""
    return rng.integers(-2, 3, shape).astype(np.float64)


@pytest.mark.parametrize("name", sorted(COMPARISONS))
@SETTINGS
@given(shapes=pair_shapes, seed=seeds)
def test_binary_comparison_and_logic_conform(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (on_grid(rng, s) for s in shapes.input_shapes)
    check_op(name, [a, b], reference=COMPARISONS[name], skip=BOOL_SKIP)
    for dtype in (np.float32, np.int64, bool):
        out = op(name).forward(np, a.astype(dtype), b.astype(dtype))
        assert isinstance(out, np.ndarray) and out.dtype == bool  # 0-d results are arrays too


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_logical_not_conforms(shape, seed):
    x = on_grid(np.random.default_rng(seed), shape)
    check_op("logical_not", [x], reference=np.logical_not, skip=BOOL_SKIP)


@pytest.mark.parametrize("name", sorted(COMPARISONS) + ["logical_not"])
def test_node_dtype_is_bool_and_no_gradient_flows(name):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    node = g.apply(name, x) if name == "logical_not" else g.apply(name, x, 0.5)
    assert node.dtype == np.dtype(bool) and node.shape == (None, 3)
    assert op(name).differentiable is False
    run = g.forward({"x": np.array([[0.0, 0.5, 1.0]], np.float32)})
    assert run.value(node).dtype == bool


# -- node operators ----------------------------------------------------------------------

def test_operators_build_comparison_nodes_both_ways_round():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    cases = {x < 0.5: ("lt", [True, False, False]), x <= 0.5: ("le", [True, True, False]),
             x > 0.5: ("gt", [False, False, True]), x >= 0.5: ("ge", [False, True, True]),
             0.5 < x: ("gt", [False, False, True]), 0.5 >= x: ("le", [True, True, False]),
             np.array([1.0, 0.5, 0.0]) < x: ("gt", [False, False, True])}
    run = g.forward({"x": np.array([0.0, 0.5, 1.0])})
    for node, (name, want) in cases.items():
        assert node.op == name
        np.testing.assert_array_equal(run.value(node), want)


def test_equality_on_nodes_stays_identity_so_nodes_stay_hashable():
    g = ge.Graph()
    x, y = g.input("x", shape=(3,)), g.input("y", shape=(3,))
    assert (x == x) is True and (x == y) is False and (x != y) is True
    assert {x: "x", y: "y"}[y] == "y"
    same = ge.ops.eq(x, y)  # the elementwise comparison
    run = g.forward({"x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 0.0, 3.0])})
    np.testing.assert_array_equal(run.value(same), [True, False, True])


def test_a_comparison_node_in_an_if_says_how_to_branch():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(ge.GraphStructureError, match="ge.ops.where"):
        if x > 0:
            pass


# -- where with a computed mask ------------------------------------------------------------

def test_where_takes_a_comparison_as_its_condition_and_differentiates_both_branches():
    g = ge.Graph("leaky")
    x = g.input("x", shape=(None, 4), dtype="float32")
    y = ge.ops.where(ge.ops.logical_and(x > -1, x < 1), x, 0.1 * x)
    assert y.dtype == np.float32 and y.shape == (None, 4)
    loss = ge.ops.sum(y * y)
    X = np.array([[-2.0, -0.5, 0.5, 3.0]], np.float32)
    inside = (X > -1) & (X < 1)
    want_value = np.where(inside, X, 0.1 * X)
    want_grad = 2 * want_value * np.where(inside, 1.0, 0.1)
    for fetch in (None, [loss, y, x], [loss, y, x], [loss, y, x]):  # recording, fetched, generated code
        run = g.forward({"x": X}, fetch=fetch).backward(loss)
        np.testing.assert_allclose(run.value(y), want_value, rtol=1e-6)
        np.testing.assert_allclose(run.grad(x), want_grad, rtol=1e-6)
        assert run.grad(x).dtype == np.float32


# -- cast ----------------------------------------------------------------------------------

@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_cast_between_floats_conforms(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    # the float32 check feeds float32 into a cast to float64: the output is rightly float64
    check_op("cast", [x], reference=lambda x, dtype: x.astype(dtype), attrs={"dtype": "float64"},
             skip=("float32_preserved",))


@pytest.mark.parametrize("source, target", [("float32", "float64"), ("float64", "float32"), ("float32", "float16")])
def test_cast_gradient_comes_back_in_the_input_dtype(source, target):
    g = ge.Graph()
    x = g.input("x", shape=(3,), dtype=source)
    y = x.astype(target)
    assert y.op == "cast" and y.attrs["dtype"] == target and y.dtype == np.dtype(target)
    loss = ge.ops.sum(y * y)
    X = np.array([0.5, -1.25, 2.0], dtype=source)
    for fetch in (None, [loss, x, y], [loss, x, y], [loss, x, y]):
        run = g.forward({"x": X}, fetch=fetch).backward(loss)
        assert run.value(y).dtype == np.dtype(target)
        assert run.grad(x).dtype == np.dtype(source)
        np.testing.assert_allclose(run.grad(x), 2 * X, rtol=1e-3)


@pytest.mark.parametrize("target, want", [("int64", [1, -2, 0, 3]), ("int32", [1, -2, 0, 3]),
                                          ("bool", [True, True, False, True])])
def test_cast_to_integer_truncates_toward_zero_and_passes_no_gradient(target, want):
    g = ge.Graph()
    x = g.input("x", shape=(4,), dtype="float32")
    w = g.param("w", np.ones(4, np.float32))
    y = ge.ops.cast(x, dtype=target)
    assert y.dtype == np.dtype(target)
    loss = ge.ops.sum(ge.ops.cast(y, dtype="float32") * w)
    run = g.forward({"x": np.array([1.7, -2.7, 0.0, 3.0], np.float32)}).backward(loss)
    np.testing.assert_array_equal(run.value(y), want)
    assert run.value(y).dtype == np.dtype(target)
    np.testing.assert_array_equal(run.grad(x), np.zeros(4))  # nothing flows through an integer cast
    np.testing.assert_array_equal(run.grad(w), np.asarray(want, dtype=np.float32))
    assert op("cast").backward(np, np.ones(4, np.float32), (np.ones(4, np.float32),), None, dtype=target) == (None,)


def test_a_mask_cast_to_float_scales_a_gradient():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    loss = ge.ops.sum(ge.ops.cast(x > 0, dtype="float64") * x)  # relu written as mask * x
    run = g.forward({"x": np.array([-1.0, 2.0, 3.0])}).backward(loss)
    np.testing.assert_array_equal(run.grad(x), [0.0, 1.0, 1.0])


@pytest.mark.parametrize("build, match", [
    (lambda x: ge.ops.cast(x), "cast needs dtype="),
    (lambda x: ge.ops.cast(x, dtype="complex64"), "not numeric"),
    (lambda x: ge.ops.cast(x, dtype="no-such-type"), "not a dtype"),
    (lambda x: x.astype("no-such-type"), "not a dtype"),
])
def test_bad_cast_targets_are_refused_when_the_node_is_built(build, match):
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(ge.AttributeSpecError, match=match):
        build(x)


def test_astype_survives_save_and_load(tmp_path):
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    ge.ops.identity(x.astype(np.float32), name="y")
    g.save(tmp_path / "g.ge")
    value = ge.load(tmp_path / "g.ge").forward({"x": np.array([1.0, 2.0])}).value("y")
    assert value.dtype == np.float32


# -- stop_gradient / detach ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["stop_gradient", "detach"])
def test_stop_gradient_passes_the_value_and_stops_the_gradient(name):
    x_value = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    check_op(name, [x_value], reference=lambda x: x)
    g = ge.Graph()
    x = g.input("x", shape=(2, 3), dtype="float32")
    stopped = g.apply(name, x)
    assert stopped.dtype == np.float32 and stopped.shape == (2, 3)
    loss = ge.ops.sum(x * stopped)  # d/dx = stopped = x (not 2x)
    for fetch in (None, [loss, x], [loss, x], [loss, x]):
        run = g.forward({"x": x_value}, fetch=fetch).backward(loss)
        np.testing.assert_allclose(run.grad(x), x_value, rtol=1e-6)


# -- PyTorch, where installed --------------------------------------------------------------

def test_comparisons_logic_cast_and_detach_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    a, b = rng.integers(-2, 3, (3, 4)).astype(np.float32), rng.integers(-2, 3, (4,)).astype(np.float32)
    for name in COMPARISONS:
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
        got = op(name).forward(np, a, b)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(op("logical_not").forward(np, a), torch.logical_not(torch.tensor(a)).numpy())
    x = rng.uniform(-3, 3, 5).astype(np.float32)
    for name in ("int64", "int32", "bool", "float64"):
        want = torch.tensor(x).to(getattr(torch, name)).numpy()
        got = op("cast").forward(np, x, dtype=name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    (t * t.detach()).sum().backward()
    g = ge.Graph()
    xn = g.input("x", shape=(5,))
    loss = ge.ops.sum(xn * ge.ops.detach(xn))
    run = g.forward({"x": x.astype(np.float64)}).backward(loss)
    np.testing.assert_allclose(run.grad(xn), t.grad.numpy())
