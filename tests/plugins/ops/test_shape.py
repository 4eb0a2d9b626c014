"""Shape ops: getitem, reshape, concat, stack, broadcast_to."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def take(x, index):
    return x[index]


# -- getitem ---------------------------------------------------------------------------

@st.composite
def basic_index_cases(draw):
    """ints, slices (negative steps too), None and Ellipsis, from hypothesis."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return shape, index


@SETTINGS
@given(case=basic_index_cases(), seed=seeds)
def test_getitem_basic_indices_conform(case, seed):
    shape, index = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("getitem", [x], reference=take, attrs={"index": index})


@st.composite
def integer_list_cases(draw):
    """An integer list (repeats and negative entries allowed) on one axis, slices elsewhere."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    picks = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    index = tuple([slice(None)] * axis + [picks])
    return shape, index


@SETTINGS
@given(case=integer_list_cases(), seed=seeds)
def test_getitem_integer_lists_conform(case, seed):
    shape, index = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("getitem", [x], reference=take, attrs={"index": index})


@pytest.mark.parametrize("index", [
    2, -1, (1, 2), slice(None, None, -1), (slice(None), slice(3, 0, -2)), (None, Ellipsis, 1),
    [0, 0, 2], ([3, 1, 3], slice(1, None)), (slice(None), [4, 4, 0, -1]), (Ellipsis, None),
])
def test_getitem_fixed_indices_conform(index):
    x = np.random.default_rng(0).standard_normal((4, 5))
    check_op("getitem", [x], reference=take, attrs={"index": index})


def test_getitem_repeated_indices_accumulate_through_the_graph():
    g = ge.Graph("gather")
    x = g.input("x", shape=(None, 2))
    picked = x[[0, 0, 2, 0]]
    loss = ge.ops.sum(picked * np.array([1.0, 10.0]))
    X = np.arange(8.0).reshape(4, 2)
    run = g.forward({"x": X}).backward(loss)
    np.testing.assert_array_equal(run.value(picked), X[[0, 0, 2, 0]])
    np.testing.assert_array_equal(run.grad(x), [[3.0, 30.0], [0.0, 0.0], [1.0, 10.0], [0.0, 0.0]])


def test_getitem_slices_and_newaxis_through_the_graph():
    g = ge.Graph()
    x = g.input("x", shape=(None, 4))
    y = x[::-1, None, 1:3]
    loss = ge.ops.sum(y * y)
    X = np.arange(12.0).reshape(3, 4)
    run = g.forward({"x": X}, fetch=[loss, y, x]).backward(loss)
    np.testing.assert_array_equal(run.value(y), X[::-1, None, 1:3])
    want = np.zeros_like(X)
    want[:, 1:3] = 2 * X[:, 1:3]
    np.testing.assert_array_equal(run.grad(x), want)


@pytest.mark.parametrize("index, expected", [
    ((slice(None), 1), (None,)),
    ((slice(None), slice(1, 3)), (None, 2)),
    (0, (4,)),
    (-1, (4,)),
    ([0, 0, 2], (3, 4)),
    (slice(0, 2), (None, 4)),      # a batch of 1 gives 1 row, a batch of 5 gives 2: unknown
    (slice(None, None, -1), (None, 4)),
    ((None, Ellipsis, slice(None, None, 2)), (1, None, 2)),
    ((slice(None), [3, 3]), (None, 2)),
])
def test_getitem_shape_rule_keeps_known_axes_with_an_unknown_batch(index, expected):
    op = ge.default_manager().get_op("getitem")
    assert op.shape((None, 4), index=index) == expected


def test_getitem_out_of_range_is_refused_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(3, 4))
    with pytest.raises(ge.ShapeError) as info:
        x[5]
    assert "getitem" in str(info.value) and "(3, 4)" in str(info.value)
    b = g.input("b", shape=(None, 4))
    with pytest.raises(ge.ShapeError, match="getitem"):
        b[:, 4]


# -- reshape ---------------------------------------------------------------------------

def _prime_factors(n):
    factors = []
    for p in (2, 3):  # sides are at most 4, so sizes have no other prime factors
        while n % p == 0:
            factors.append(p)
            n //= p
    assert n == 1
    return factors


@st.composite
def reshape_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    # the target: the prime factors of the size, grouped at random, maybe with a -1
    factors = draw(st.permutations(_prime_factors(math.prod(shape))))
    target = []
    for f in factors:
        if target and draw(st.booleans()):
            target[-1] *= f
        else:
            target.append(f)
    target += [1] * draw(st.integers(0, 1))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@SETTINGS
@given(case=reshape_cases(), seed=seeds)
def test_reshape_conforms(case, seed):
    shape, target = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("reshape", [x], reference=lambda x, shape: np.reshape(x, shape), attrs={"shape": target})


def test_reshape_shape_rule_and_errors():
    op = ge.default_manager().get_op("reshape")
    assert op.shape((None, 3, 4), shape=(-1, 12)) == (None, 12)
    assert op.shape((2, 6), shape=(3, -1)) == (3, 4)
    assert op.shape((2, 6), shape=12) == (12,)
    g = ge.Graph()
    x = g.input("x", shape=(3, 4))
    with pytest.raises(ge.ShapeError, match=r"cannot reshape \(3, 4\) \(12 elements\) to \(5, -1\)"):
        ge.ops.reshape(x, shape=(5, -1))
    with pytest.raises(ge.ShapeError, match="only one axis may be -1"):
        ge.ops.reshape(x, shape=(-1, -1))
    with pytest.raises(ge.ShapeError, match="13 elements"):
        ge.ops.reshape(x, shape=(13,))
    with pytest.raises(ge.AttributeSpecError, match="Did you mean 'shape'"):
        ge.ops.reshape(x, shap=(12,))


# -- concat and stack (variadic) -------------------------------------------------------

@st.composite
def concat_cases(draw):
    shape = draw(shapes)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    parts = []
    for size in sizes:
        part = list(shape)
        part[axis] = size
        parts.append(tuple(part))
    return parts, axis


@SETTINGS
@given(case=concat_cases(), seed=seeds)
def test_concat_conforms(case, seed):
    parts, axis = case
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(s) for s in parts]
    check_op("concat", inputs, reference=lambda *xs, axis: np.concatenate(xs, axis=axis), attrs={"axis": axis})


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), count=st.integers(1, 4), data=st.data(),
       seed=seeds)
def test_stack_conforms(shape, count, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape) for _ in range(count)]
    check_op("stack", inputs, reference=lambda *xs, axis: np.stack(xs, axis=axis), attrs={"axis": axis})


def test_concat_and_stack_through_the_graph():
    g = ge.Graph()
    a = g.input("a", shape=(None, 2))
    b = g.param("b", np.array([[1.0, 2.0, 3.0]]))
    joined = ge.ops.concat(a, a * 2.0, axis=1)
    stacked = ge.ops.stack(a, 3.0 * a, axis=-1)
    loss = ge.ops.sum(joined) + ge.ops.sum(stacked * stacked) + ge.ops.sum(ge.ops.concat(b, b, b, axis=0))
    A = np.array([[1.0, -1.0], [0.5, 2.0]])
    run = g.forward({"a": A}).backward(loss)
    assert run.value(joined).shape == (2, 4) and run.value(stacked).shape == (2, 2, 2)
    np.testing.assert_allclose(run.grad(a), 3.0 + 2 * A + 18 * A)
    np.testing.assert_allclose(run.grad(b), [[3.0, 3.0, 3.0]])


def test_concat_and_stack_refuse_mismatched_shapes_at_build_time():
    g = ge.Graph()
    a = g.input("a", shape=(None, 2))
    b = g.input("b", shape=(None, 3))
    with pytest.raises(ge.ShapeError, match="differ on axis 1"):
        ge.ops.concat(a, b, axis=0)
    assert ge.ops.concat(a, b, axis=1).shape == (None, 5)
    with pytest.raises(ge.ShapeError, match="stack needs inputs of one shape"):
        ge.ops.stack(a, b)
    with pytest.raises(ge.GraphStructureError, match="separate arguments"):
        g.apply("concat", [a, b], axis=1)


def test_concat_given_a_list_through_ge_ops_says_to_pass_separate_arguments():
    g = ge.Graph()
    a = g.input("a", shape=(None, 2))
    with pytest.raises(ge.GraphStructureError) as info:
        ge.ops.concat([a, a], axis=1)
    assert "separate arguments" in str(info.value)


# -- broadcast_to ----------------------------------------------------------------------

@st.composite
def broadcast_to_cases(draw):
    target = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    keep = draw(st.integers(0, len(target)))  # trailing axes the input has
    shape = tuple(1 if draw(st.booleans()) else d for d in target[len(target) - keep:])
    return shape, target


@SETTINGS
@given(case=broadcast_to_cases(), seed=seeds)
def test_broadcast_to_conforms(case, seed):
    shape, target = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("broadcast_to", [x], reference=lambda x, shape: np.broadcast_to(x, shape), attrs={"shape": target})


def test_broadcast_to_refuses_impossible_targets_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(3, 2))
    with pytest.raises(ge.ShapeError, match=r"cannot broadcast \(3, 2\) to \(3, 4\): an axis of size 2 cannot"):
        ge.ops.broadcast_to(x, shape=(3, 4))
    with pytest.raises(ge.ShapeError, match="fewer axes"):
        ge.ops.broadcast_to(x, shape=(2,))
