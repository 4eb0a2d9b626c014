"""Indexing by data: gather, take_along_axis, index_select, embedding, scatter_add, one_hot.

check_op on hypothesis shapes (forward against loop references, float64 finite
differences, float32 kept, shape rule, graph paths), repeated indices summing their
gradients, errors users can cause, and PyTorch where it is installed.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.plugins.ops.indexing import scatter_add_flat
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def op(name):
    return ge.default_manager().get_op(name)


# -- loop references (independent of the vectorised forms) ---------------------------

def gather_reference(x, index, dim):
    out = np.empty(index.shape, dtype=x.dtype)
    for position in np.ndindex(*index.shape):
        source = list(position)
        source[dim] = index[position]
        out[position] = x[tuple(source)]
    return out


def scatter_add_reference(x, index, src, dim):
    out = x.copy()
    for position in np.ndindex(*index.shape):
        target = list(position)
        target[dim] = index[position]
        out[tuple(target)] += src[position]
    return out


@st.composite
def gather_cases(draw):
    """(input shape, dim, index shape): index no longer than input off dim, any length on dim."""
    shape = draw(shapes)
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(draw(st.integers(1, 5)) if d == dim % len(shape) else draw(st.integers(1, n))
                        for d, n in enumerate(shape))
    return shape, dim, index_shape


@SETTINGS
@given(case=gather_cases(), seed=seeds)
def test_gather_conforms(case, seed):
    shape, dim, index_shape = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    index = rng.integers(0, shape[dim], index_shape)
    check_op("gather", [x, index], reference=gather_reference, attrs={"dim": dim})


@SETTINGS
@given(case=gather_cases(), seed=seeds)
def test_scatter_add_conforms(case, seed):
    shape, dim, index_shape = case
    rng = np.random.default_rng(seed)
    src_shape = tuple(n + int(rng.integers(0, 2)) for n in index_shape)  # src may be longer than index
    x, src = rng.standard_normal(shape), rng.standard_normal(src_shape)
    index = rng.integers(0, shape[dim], index_shape)
    check_op("scatter_add", [x, index, src], reference=scatter_add_reference, attrs={"dim": dim})


@st.composite
def take_along_cases(draw):
    """Input and indices of one rank whose other axes broadcast (either side may be 1)."""
    shape = draw(shapes)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    a = axis % len(shape)
    input_shape, index_shape = [], []
    for d, n in enumerate(shape):
        if d == a:
            input_shape.append(n)
            index_shape.append(draw(st.integers(1, 4)))
        else:
            which = draw(st.sampled_from(["both", "input1", "index1"]))
            input_shape.append(1 if which == "input1" else n)
            index_shape.append(1 if which == "index1" else n)
    return tuple(input_shape), axis, tuple(index_shape)


@SETTINGS
@given(case=take_along_cases(), seed=seeds)
def test_take_along_axis_conforms(case, seed):
    input_shape, axis, index_shape = case
    rng = np.random.default_rng(seed)
    n = input_shape[axis]
    x, indices = rng.standard_normal(input_shape), rng.integers(-n, n, index_shape)  # negatives count from the end
    check_op("take_along_axis", [x, indices], reference=np.take_along_axis, attrs={"axis": axis})


def test_take_along_axis_with_axis_none_takes_from_the_flattened_input():
    x = np.random.default_rng(0).standard_normal((3, 4))
    indices = np.array([0, 11, -1, 5, 5])
    check_op("take_along_axis", [x, indices], reference=lambda x, i, axis: x.reshape(-1)[i], attrs={"axis": None})


@SETTINGS
@given(shape=shapes, data=st.data(), seed=seeds)
def test_index_select_conforms(shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, shape[dim], data.draw(st.integers(1, 6), label="count"))
    check_op("index_select", [rng.standard_normal(shape), index],
             reference=lambda x, i, dim: np.take(x, i, axis=dim), attrs={"dim": dim})


@SETTINGS
@given(index_shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
       count=st.integers(1, 6), width=st.integers(1, 4), padding=st.sampled_from([None, "last", -1]), seed=seeds)
def test_embedding_conforms(index_shape, count, width, padding, seed):
    """The padding row (the table's last, never looked up here) keeps the finite-difference
    check exact; its gradient is zeroed by definition (tested below and against PyTorch)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, count, index_shape)
    padding = count if padding == "last" else padding
    check_op("embedding", [ids, rng.standard_normal((count + 1, width))], reference=lambda i, w, padding_idx: w[i],
             attrs={"padding_idx": padding})


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), classes=st.integers(1, 5),
       seed=seeds)
def test_one_hot_conforms(shape, classes, seed):
    labels = np.random.default_rng(seed).integers(0, classes, shape)
    check_op("one_hot", [labels], reference=lambda t, num_classes: np.eye(num_classes, dtype=np.int64)[t],
             attrs={"num_classes": classes})


# -- repeated indices, padding, dtypes -------------------------------------------------

def test_embedding_gradient_sums_repeated_rows_and_skips_the_padding_row():
    g = ge.Graph("embed")
    ids = g.input("ids", shape=(None, 3), dtype="int64")
    table = g.param("table", np.arange(8.0, dtype=np.float32).reshape(4, 2))
    vectors = ge.ops.embedding(ids, table, padding_idx=1)
    loss = ge.ops.sum(vectors * np.array([1.0, 10.0], dtype=np.float32))
    assert vectors.shape == (None, 3, 2) and vectors.dtype == np.float32
    feeds = {"ids": np.array([[2, 2, 1], [0, 2, 1]])}
    for fetch in (None, [loss], [loss], [loss]):  # recording, then fetched (generated code)
        run = g.forward(feeds, fetch=fetch).backward(loss)
        grad = run.grad(table)
        assert grad.dtype == np.float32
        np.testing.assert_array_equal(grad, [[1, 10], [0, 0], [3, 30], [0, 0]])
    np.testing.assert_array_equal(g.forward(feeds).value(vectors)[1], [[0, 1], [4, 5], [2, 3]])


def test_scatter_add_flat_matches_add_at_on_many_repeats():
    rng = np.random.default_rng(0)
    positions = rng.integers(0, 7, 1000)
    values = rng.standard_normal(1000).astype(np.float32)
    want = np.zeros(7, dtype=np.float64)
    np.add.at(want, positions, values.astype(np.float64))
    got = scatter_add_flat(np, positions, values, 7, np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("name, inputs, attrs", [
    ("gather", [np.ones((2, 3), np.float32), np.array([[0], [2]])], {"dim": 1}),
    ("take_along_axis", [np.ones((2, 3), np.float32), np.array([[0], [2]])], {"axis": 1}),
    ("index_select", [np.ones((2, 3), np.float32), np.array([1, 1, 0])], {"dim": 1}),
    ("embedding", [np.array([[1, 0]]), np.ones((2, 3), np.float32)], {}),
    ("scatter_add", [np.ones((2, 3), np.float32), np.array([[0, 1]]), np.ones((1, 2), np.float32)], {"dim": 0}),
])
def test_node_dtype_is_the_data_dtype_not_promoted_with_the_index(name, inputs, attrs):
    g = ge.Graph()
    nodes = [g.input(f"x{i}", shape=x.shape, dtype=x.dtype) for i, x in enumerate(inputs)]
    out = g.apply(name, *nodes, **attrs)
    value = g.forward({n: x for n, x in zip(nodes, inputs)}).value(out)
    assert out.dtype == value.dtype == np.float32
    assert out.shape == value.shape


def test_one_hot_infers_num_classes_at_run_time():
    g = ge.Graph()
    labels = g.input("labels", shape=(None,), dtype="int64")
    encoded = ge.ops.one_hot(labels)
    assert encoded.shape == (None, None) and encoded.dtype == np.int64
    value = g.forward({"labels": np.array([2, 0])}).value(encoded)
    np.testing.assert_array_equal(value, [[0, 0, 1], [1, 0, 0]])
    assert value.dtype == np.int64


def test_integer_labels_to_one_hot_targets_for_a_loss_through_cast():
    g = ge.Graph()
    logits = g.input("logits", shape=(None, 3))
    labels = g.input("labels", shape=(None,), dtype="int64")
    target = ge.ops.cast(ge.ops.one_hot(labels, num_classes=3), dtype="float64")
    loss = ge.ops.cross_entropy(logits, target, reduction="mean")
    same = ge.ops.cross_entropy(logits, labels, reduction="mean")
    feeds = {"logits": np.random.default_rng(0).standard_normal((4, 3)), "labels": np.array([0, 2, 1, 2])}
    run = g.forward(feeds)
    np.testing.assert_allclose(run.value(loss), run.value(same))


# -- errors a user can cause -----------------------------------------------------------

def _graph_with(index_value_shape=(2, 2)):
    g = ge.Graph("errors")
    x = g.input("x", shape=(2, 3))
    index = g.input("index", shape=index_value_shape, dtype="int64")
    return g, x, index


def test_an_index_out_of_range_names_the_node_the_value_and_the_valid_range():
    g, x, index = _graph_with()
    picked = ge.ops.gather(x, index, dim=1, name="picked")
    with pytest.raises(ge.OpExecutionError) as info:
        g.forward({"x": np.ones((2, 3)), "index": np.array([[0, 3], [1, 1]])})
    message = str(info.value)
    assert "'picked'" in message and "op gather" in message and "index 3 is out of range" in message
    assert "0..2" in message and "int64[2, 2]" in message
    assert picked.shape == (2, 2)


@pytest.mark.parametrize("name, attrs", [("gather", {"dim": 0}), ("index_select", {"dim": 0}),
                                         ("scatter_add", {"dim": 0})])
def test_negative_indices_are_refused_as_in_pytorch(name, attrs):
    x = np.ones((3, 2))
    inputs = {"gather": [x, np.array([[-1, 0]])], "index_select": [x, np.array([-1])],
              "scatter_add": [x, np.array([[-1, 0]]), np.ones((1, 2))]}[name]
    with pytest.raises(IndexError, match="negative indices are refused"):
        op(name).forward(np, *inputs, **attrs)


def test_embedding_refuses_ids_past_the_table_and_float_ids():
    table = np.ones((4, 2))
    with pytest.raises(IndexError, match=r"index 4 is out of range for weight \(4, 2\)"):
        op("embedding").forward(np, np.array([0, 4]), table)
    with pytest.raises(ge.DtypeError, match="dtype='int64'"):
        op("embedding").forward(np, np.array([0.0, 1.0]), table)


def test_one_hot_refuses_labels_past_num_classes_and_an_empty_tensor_to_infer_from():
    with pytest.raises(IndexError, match="class 3 is out of range"):
        op("one_hot").forward(np, np.array([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match="give num_classes="):
        op("one_hot").forward(np, np.zeros((0,), np.int64))


def test_a_missing_dim_is_refused_when_the_node_is_built():
    g, x, index = _graph_with()
    with pytest.raises(ge.AttributeSpecError, match=r"gather needs dim= .*ge.ops.gather\(x, index, dim=1\)"):
        ge.ops.gather(x, index)


def test_torch_argument_order_is_refused_with_the_arity():
    g, x, index = _graph_with()
    with pytest.raises(ge.GraphStructureError, match="takes 2 inputs, got 3"):
        ge.ops.gather(x, 1, index)  # torch.gather(x, 1, index) is ge.ops.gather(x, index, dim=1)


@pytest.mark.parametrize("build, match", [
    (lambda x, i: ge.ops.gather(x, ge.ops.reshape(i, shape=(4,)), dim=0), "same number of axes"),
    (lambda x, i: ge.ops.gather(x, ge.ops.reshape(i, shape=(4, 1)), dim=1), r"longer than input \(2, 3\) on axis 0"),
    (lambda x, i: ge.ops.index_select(x, i, dim=0), "takes a 1-D index"),
    (lambda x, i: ge.ops.gather(x, i, dim=2), "dim=2 is out of range"),
    (lambda x, i: ge.ops.embedding(i, ge.ops.reshape(x, shape=(6,))), "weight must be 2-D"),
    (lambda x, i: ge.ops.take_along_axis(x, ge.ops.concat(i, i, i, axis=1), axis=0), "do not broadcast"),
])
def test_shape_mistakes_are_refused_when_the_node_is_built(build, match):
    g, x, index = _graph_with()
    with pytest.raises(ge.ShapeError, match=match) as info:
        build(x, index)
    assert "cannot add node" in str(info.value)


def test_embedding_padding_idx_out_of_range_is_refused_when_built():
    g = ge.Graph()
    ids = g.input("ids", shape=(None,), dtype="int64")
    table = g.param("table", np.ones((4, 2)))
    with pytest.raises(ge.AttributeSpecError, match=r"padding_idx=4 is out of range for 4 embeddings"):
        ge.ops.embedding(ids, table, padding_idx=4)


# -- PyTorch, where installed ------------------------------------------------------------

def _torch_grads(fn, *arrays):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(torch, *tensors)
    seed = torch.tensor(np.random.default_rng(9).standard_normal(tuple(out.shape)))
    if out.dtype.is_floating_point:
        (out * seed).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors], seed.numpy()


def _ours(name, arrays, attrs, seed):
    impl = op(name)
    out = impl.forward(np, *arrays, **attrs)
    if not impl.differentiable:
        return out, []
    grads = impl.backward(np, seed.astype(out.dtype), tuple(arrays), out, **attrs)
    return out, [None if g is None else ge.op.sum_to_shape(np, g, a.shape) for g, a in zip(grads, arrays)]


RNG = np.random.default_rng(11)
TORCH_CASES = [
    ("gather", lambda t, x, i: t.gather(x, 1, i), [RNG.standard_normal((3, 4)), RNG.integers(0, 4, (3, 6))],
     {"dim": 1}),
    ("take_along_axis", lambda t, x, i: t.take_along_dim(x, i, dim=0),
     [RNG.standard_normal((3, 1)), RNG.integers(0, 3, (5, 4))], {"axis": 0}),
    ("index_select", lambda t, x, i: t.index_select(x, 1, i), [RNG.standard_normal((2, 5, 3)),
                                                               np.array([4, 0, 4, 4])], {"dim": 1}),
    ("embedding", lambda t, i, w: t.nn.functional.embedding(i, w, padding_idx=2),
     [RNG.integers(0, 5, (3, 4)), RNG.standard_normal((5, 3))], {"padding_idx": 2}),
    ("scatter_add", lambda t, x, i, s: t.scatter_add(x, 0, i, s),
     [RNG.standard_normal((3, 4)), RNG.integers(0, 3, (5, 4)), RNG.standard_normal((5, 4))], {"dim": 0}),
    ("one_hot", lambda t, i: t.nn.functional.one_hot(i, 6), [RNG.integers(0, 6, (2, 3))], {"num_classes": 6}),
]


@pytest.mark.parametrize("name, torch_fn, arrays, attrs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_values_and_gradients_match_pytorch(name, torch_fn, arrays, attrs):
    want, want_grads, seed = _torch_grads(torch_fn, *arrays)
    got, got_grads = _ours(name, arrays, attrs, seed)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for mine, theirs in zip(got_grads, want_grads):
        if theirs is not None:
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("index_dtype", [np.int32, np.uint8, np.uint64])
def test_any_integer_index_dtype_works(index_dtype):
    rng = np.random.default_rng(1)
    x, ids = rng.standard_normal((4, 3)), np.array([[3, 0], [3, 3]], dtype=index_dtype)
    check_op("gather", [x, ids], reference=gather_reference, attrs={"dim": 0})
    check_op("embedding", [ids, x], reference=lambda i, w: w[i])
    check_op("take_along_axis", [x.reshape(-1), ids.reshape(-1)], reference=lambda x, i, axis: x[i],
             attrs={"axis": None})
