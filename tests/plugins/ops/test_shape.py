"""Shape ops: getitem, reshape, concat, stack, broadcast_to; squeeze, unsqueeze, flatten, flip,
roll, tile, repeat, tril, triu, narrow and the split / chunk helpers."""

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


# -- torch's shape ops -------------------------------------------------------------------

FEW = settings(max_examples=10, deadline=None)
any_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3)


def squeeze_reference(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    axes = tuple(a % max(x.ndim, 1) for a in ((dim,) if isinstance(dim, int) else dim))
    return np.squeeze(x, axis=tuple(a for a in axes if x.ndim and x.shape[a] == 1))


@FEW
@given(shape=any_shapes, data=st.data(), seed=seeds)
def test_squeeze_and_unsqueeze_conform(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    ndim = max(len(shape), 1)
    dim = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim)), label="dim")
    check_op("squeeze", [x], reference=squeeze_reference, attrs={"dim": dim})
    new = data.draw(st.integers(-len(shape) - 1, len(shape)), label="unsqueeze dim")
    check_op("unsqueeze", [x], reference=lambda x, dim: np.expand_dims(x, dim), attrs={"dim": new})


def flatten_reference(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


@FEW
@given(shape=any_shapes, data=st.data(), seed=seeds)
def test_flatten_conforms(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    ndim = max(len(shape), 1)
    start = data.draw(st.integers(-ndim, ndim - 1), label="start_dim")
    end = data.draw(st.integers(start % ndim, ndim - 1), label="end_dim")
    check_op("flatten", [x], reference=flatten_reference, attrs={"start_dim": start, "end_dim": end})


@FEW
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data(), seed=seeds)
def test_flip_and_roll_conform(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    dims = data.draw(hnp.valid_tuple_axes(len(shape), min_size=1), label="dims")
    check_op("flip", [x], reference=lambda x, dims: np.flip(x, axis=dims), attrs={"dims": dims})
    shifts = tuple(data.draw(st.integers(-5, 5), label="shift") for _ in dims)
    check_op("roll", [x], reference=lambda x, shifts, dims: np.roll(x, shifts, axis=dims),
             attrs={"shifts": shifts, "dims": dims})
    check_op("roll", [x], reference=lambda x, shifts: np.roll(x, shifts), attrs={"shifts": shifts[0]})


@FEW
@given(shape=any_shapes, data=st.data(), seed=seeds)
def test_tile_and_repeat_conform(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    dims = tuple(data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=5), label="dims"))
    if dims:
        check_op("tile", [x], reference=lambda x, dims: np.tile(x, dims), attrs={"dims": dims})
    extra = data.draw(st.integers(0, 2), label="extra axes")
    repeats = tuple(data.draw(st.integers(1, 3)) for _ in range(len(shape) + extra))
    if repeats:
        check_op("repeat", [x], reference=lambda x, repeats: np.tile(x, repeats), attrs={"repeats": repeats})


@FEW
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4), diagonal=st.integers(-3, 3),
       seed=seeds)
def test_tril_and_triu_conform(shape, diagonal, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("tril", [x], reference=lambda x, diagonal: np.tril(x, diagonal), attrs={"diagonal": diagonal})
    check_op("triu", [x], reference=lambda x, diagonal: np.triu(x, diagonal), attrs={"diagonal": diagonal})


@FEW
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), data=st.data(), seed=seeds)
def test_narrow_conforms(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    size = shape[dim]
    start = data.draw(st.integers(-size, size), label="start")
    length = data.draw(st.integers(0, size - start % (size + 1) if start >= 0 else -start), label="length")

    def reference(x, dim, start, length):
        first = start % size if start < 0 else start
        return np.take(x, np.arange(first, first + length), axis=dim)

    check_op("narrow", [x], reference=reference, attrs={"dim": dim, "start": start, "length": length})


def test_new_shape_ops_match_pytorch(against_torch):
    import torch
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 3, 4))
    cases = [
        ("squeeze", {}, lambda t: t.squeeze()),
        ("squeeze", {"dim": (0, 1)}, lambda t: t.squeeze((0, 1))),
        ("unsqueeze", {"dim": -2}, lambda t: t.unsqueeze(-2)),
        ("flatten", {"start_dim": 1}, lambda t: torch.flatten(t, 1)),
        ("flatten", {"start_dim": 1, "end_dim": 2}, lambda t: torch.flatten(t, 1, 2)),
        ("flip", {"dims": (0, 3)}, lambda t: torch.flip(t, (0, 3))),
        ("roll", {"shifts": 5}, lambda t: torch.roll(t, 5)),
        ("roll", {"shifts": (1, -2), "dims": (2, 3)}, lambda t: torch.roll(t, (1, -2), (2, 3))),
        ("tile", {"dims": (2, 3)}, lambda t: torch.tile(t, (2, 3))),
        ("repeat", {"repeats": (2, 1, 1, 2, 1)}, lambda t: t.repeat(2, 1, 1, 2, 1)),
        ("tril", {"diagonal": -1}, lambda t: torch.tril(t, -1)),
        ("triu", {"diagonal": 1}, lambda t: torch.triu(t, 1)),
        ("narrow", {"dim": 3, "start": -3, "length": 2}, lambda t: torch.narrow(t, 3, -3, 2)),
    ]
    for name, attrs, fn in cases:
        out, g, want, want_grad = against_torch(name, x, attrs, fn, rng)
        assert out.shape == want.shape, name
        np.testing.assert_array_equal(out, want, err_msg=name)
        np.testing.assert_allclose(g, want_grad, rtol=1e-12, err_msg=f"{name} gradient")


def test_shape_rules_with_an_unknown_batch_axis():
    g = ge.Graph()
    x = g.input("x", shape=(None, 1, 3, 4))
    assert ge.ops.squeeze(x, dim=1).shape == (None, 3, 4)
    assert ge.ops.squeeze(x).shape is None  # a batch of 1 would be squeezed too: unknown until run time
    assert ge.ops.unsqueeze(x, dim=-1).shape == (None, 1, 3, 4, 1)
    assert ge.ops.flatten(x, start_dim=1).shape == (None, 12)
    assert ge.ops.flatten(x).shape == (None,)
    assert ge.ops.tile(x, dims=(2, 1)).shape == (None, 1, 6, 4)
    assert ge.ops.repeat(x, repeats=(2, 1, 1, 1, 1)).shape == (2, None, 1, 3, 4)
    assert ge.ops.tril(x).shape == (None, 1, 3, 4)
    assert ge.ops.narrow(x, dim=0, start=1, length=2).shape == (2, 1, 3, 4)
    assert ge.ops.flip(x, dims=0).shape == ge.ops.roll(x, shifts=1, dims=2).shape == (None, 1, 3, 4)


def test_shape_op_errors_name_the_node_and_say_how_to_fix():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3, 4))
    v = g.input("v", shape=(4,))
    cases = [
        (lambda: ge.ops.unsqueeze(x, name="u"), ge.AttributeSpecError, "unsqueeze needs dim="),
        (lambda: ge.ops.unsqueeze(x, dim=4, name="u"), ge.ShapeError, "axis 4 is out of range"),
        (lambda: ge.ops.flatten(x, start_dim=2, end_dim=1, name="u"), ge.ShapeError, "start_dim <= end_dim"),
        (lambda: ge.ops.flip(x, name="u"), ge.AttributeSpecError, "flip needs dims="),
        (lambda: ge.ops.roll(x, shifts=(1, 2), dims=1, name="u"), ge.AttributeSpecError, "one shift per dim"),
        (lambda: ge.ops.roll(x, shifts=(1, 2), name="u"), ge.AttributeSpecError, "as many dims"),
        (lambda: ge.ops.repeat(x, repeats=(2, 2), name="u"), ge.ShapeError, "use tile"),
        (lambda: ge.ops.tile(x, dims=(-1,), name="u"), ge.AttributeSpecError, "negative repeat"),
        (lambda: ge.ops.tril(v, name="u"), ge.ShapeError, "at least 2 axes"),
        (lambda: ge.ops.narrow(x, dim=1, start=2, length=2, name="u"), ge.ShapeError, "start \\+ length <= 3"),
    ]
    for build, error, words in cases:
        with pytest.raises(error, match=words) as info:
            build()
        assert "'u'" in str(info.value), str(info.value)


def test_shape_ops_through_the_graph_in_float32():
    g = ge.Graph()
    x = g.input("x", shape=(None, 1, 2, 3), dtype="float32")
    h = ge.ops.flatten(ge.ops.squeeze(x, dim=1), start_dim=1)            # (N, 6)
    h = ge.ops.tile(ge.ops.unsqueeze(h, dim=1), dims=(1, 2, 1))          # (N, 2, 6)
    h = ge.ops.triu(ge.ops.roll(ge.ops.flip(h, dims=2), shifts=1, dims=2))
    loss = ge.ops.sum(h * h)
    X = np.arange(12, dtype=np.float32).reshape(2, 1, 2, 3)
    for fetch in (None, [loss, x]):
        run = g.forward({"x": X}, fetch=fetch).backward(loss)
        flat = X.reshape(2, 6)
        rolled = np.roll(np.tile(flat[:, None], (1, 2, 1))[:, :, ::-1], 1, axis=2)
        kept = np.triu(np.ones((2, 6)))[None]
        assert run.value(loss).dtype == np.float32 and run.grad(x).dtype == np.float32
        np.testing.assert_allclose(run.value(loss), np.sum((rolled * kept) ** 2))
        grad = np.zeros((2, 2, 6), dtype=np.float32) + 2 * rolled * kept
        back = np.roll(grad, -1, axis=2)[:, :, ::-1].sum(axis=1).reshape(X.shape)
        np.testing.assert_allclose(run.grad(x), back)


# -- split and chunk: several narrow nodes -----------------------------------------------

def test_split_and_chunk_match_torch_pieces_and_gradients():
    from graphengine.plugins.ops.shape import chunk, split

    g = ge.Graph()
    x = g.input("x", shape=(None, 5))
    pieces = split(x, 2, dim=1)
    sections = split(x, [1, 4], dim=-1)
    chunks = chunk(x, 4, dim=1)  # ceil(5 / 4) = 2 per chunk: 3 chunks, as torch.chunk
    assert [p.shape for p in pieces] == [(None, 2), (None, 2), (None, 1)]
    assert [p.shape for p in sections] == [(None, 1), (None, 4)]
    assert [p.shape for p in chunks] == [(None, 2), (None, 2), (None, 1)]
    weights = [1.0, 2.0, 3.0]
    loss = ge.ops.sum(sections[1]) + sum(ge.ops.sum(p) * w for p, w in zip(chunks, weights))
    X = np.arange(10.0).reshape(2, 5)
    run = g.forward({"x": X}).backward(loss)
    np.testing.assert_array_equal(run.value(pieces[2]), X[:, 4:])
    np.testing.assert_array_equal(run.value(sections[0]), X[:, :1])
    np.testing.assert_array_equal(run.grad(x), [[1.0, 2.0, 3.0, 3.0, 4.0]] * 2)
    torch = pytest.importorskip("torch")
    want = [t.numpy() for t in torch.chunk(torch.tensor(X), 4, dim=1)]
    assert [run.value(c).tolist() for c in chunks] == [w.tolist() for w in want]


def test_split_refuses_sections_that_do_not_add_up_and_unknown_axes():
    from graphengine.plugins.ops.shape import chunk, split

    g = ge.Graph()
    x = g.input("x", shape=(None, 5))
    with pytest.raises(ge.ShapeError, match=r"sections \[2, 2\] add up to 4, but dim 1 has size 5"):
        split(x, [2, 2], dim=1)
    with pytest.raises(ge.ShapeError, match="unknown size"):
        split(x, 1, dim=0)
    with pytest.raises(ge.ShapeError, match="must be a positive int"):
        chunk(x, 0, dim=1)
    with pytest.raises(ge.ShapeError, match="unknown size"):
        x.chunk(2, dim=0)


def test_node_split_and_chunk_methods_are_torch_tensor_methods():
    g = ge.Graph()
    x = g.input("x", shape=(2, 5))
    assert [p.shape for p in x.split(2, dim=-1)] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in x.chunk(2, dim=0)] == [(1, 5), (1, 5)]
    q, k = x.split([3, 2], dim=1)
    run = g.forward({"x": np.arange(10.0).reshape(2, 5)})
    np.testing.assert_array_equal(run.value(k), [[3.0, 4.0], [8.0, 9.0]])


def test_concat_and_stack_of_int32_and_float32_give_float32_as_the_dtype_rule_says():
    g = ge.Graph()
    a = g.input("a", shape=(2, 3), dtype="float32")
    b = g.input("b", shape=(2, 3), dtype="int32")
    joined = ge.ops.concat(a, b, axis=0)
    stacked = ge.ops.stack(b, a)
    loss = ge.ops.sum(joined) + ge.ops.sum(stacked)
    feeds = {"a": np.ones((2, 3), np.float32), "b": np.full((2, 3), 2, np.int32)}
    for fetch in (None, [loss, a]):
        run = g.forward(feeds, fetch=fetch).backward(loss)
        assert joined.dtype == stacked.dtype == np.float32 and run.value(loss).dtype == np.float32
        np.testing.assert_array_equal(run.grad(a), np.full((2, 3), 2.0, np.float32))
        assert run.grad(a).dtype == np.float32
    assert fetch is not None and run.value(loss) == 2 * (6 + 12)


def test_narrow_past_a_run_time_size_is_refused_naming_the_node_and_the_input():
    g = ge.Graph()
    x = g.input("x", shape=(3, None))
    ge.ops.narrow(x, dim=1, start=1, length=3, name="piece")
    with pytest.raises(ge.OpExecutionError, match=r"'piece'.*start \+ length <= 2.*float64\[3, 2\]"):
        g.forward({"x": np.ones((3, 2))})


def test_promote_arrays_follows_the_graph_dtype_rule_and_copies_only_what_changes():
    """The cast concat, stack and einsum run before NumPy would promote int32 with float32 to float64."""
    from graphengine.plugins.ops.shape import promote_arrays

    a, b = np.ones(2, np.float32), np.arange(2, dtype=np.int32)
    out = promote_arrays([a, b])
    assert [x.dtype for x in out] == [np.float32, np.float32] and out[0] is a
    np.testing.assert_array_equal(out[1], [0.0, 1.0])
    wide = promote_arrays([a, np.zeros(2)])
    assert [x.dtype for x in wide] == [np.float64, np.float64]
