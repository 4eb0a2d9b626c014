"""getitem with nodes as indices: x[ids], x[:, ids], x[rows, cols] with integer arrays fed
or computed at run time; gradients scattered and summed; shapes; errors; save/load."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def node_index(k):
    """The placeholder ``x[node]`` stores for the k-th index node."""
    return ("__node__", k)


@st.composite
def one_axis_cases(draw):
    """x of 1-3 axes, an index array (any shape, repeats and negatives) on one axis, slices elsewhere."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(0, len(shape) - 1))
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    return shape, axis, index_shape


@SETTINGS
@given(case=one_axis_cases(), seed=seeds)
def test_an_index_node_on_one_axis_conforms(case, seed):
    shape, axis, index_shape = case
    rng = np.random.default_rng(seed)
    n = shape[axis]
    ids = rng.integers(-n, n, index_shape)
    index = tuple([slice(None)] * axis + [node_index(0)])
    check_op("getitem", [rng.standard_normal(shape), ids], attrs={"index": index},
             reference=lambda x, i, index: x[(slice(None),) * axis + (i,)])


def test_two_index_nodes_pick_entries_and_repeats_sum_their_gradients():
    x = np.random.default_rng(0).standard_normal((3, 4))
    rows, cols = np.array([0, 2, 2, 0]), np.array([1, 3, 3, 1])
    index = (node_index(0), node_index(1))
    check_op("getitem", [x, rows, cols], attrs={"index": index}, reference=lambda x, r, c, index: x[r, c])
    impl = ge.default_manager().get_op("getitem")
    grads = impl.backward(np, np.ones(4), (x, rows, cols), None, index=index)
    assert grads[1] is None and grads[2] is None
    want = np.zeros((3, 4))
    want[0, 1], want[2, 3] = 2.0, 2.0
    np.testing.assert_array_equal(grads[0], want)


def test_node_indices_mixed_with_ints_slices_none_and_ellipsis():
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    ids = np.array([[4, 0], [0, 0]])
    index = (Ellipsis, None, node_index(0))
    check_op("getitem", [x, ids], attrs={"index": index}, reference=lambda x, i, index: x[..., None, i])
    index = (1, slice(None, None, -1), node_index(0))
    check_op("getitem", [x, ids], attrs={"index": index}, reference=lambda x, i, index: x[1, ::-1, i])


def test_table_lookup_through_the_graph_in_every_run_mode():
    g = ge.Graph("lookup")
    ids = g.input("ids", shape=(None,), dtype="int64")
    table = g.param("table", np.arange(8.0, dtype=np.float32).reshape(4, 2))
    rows = table[ids]
    assert rows.shape == (None, 2) and rows.dtype == np.float32
    assert rows.inputs == (table, ids) and rows.attrs["index"] == node_index(0)
    loss = ge.ops.sum(rows * np.array([1.0, 10.0], dtype=np.float32))
    feeds = {"ids": np.array([3, 0, 3, 3])}
    for fetch in (None, [loss], [loss], [loss]):  # recording, then fetched (generated code)
        run = g.forward(feeds, fetch=fetch).backward(loss)
        np.testing.assert_array_equal(run.grad(table), [[1, 10], [0, 0], [0, 0], [3, 30]])
        assert run.grad(table).dtype == np.float32
    np.testing.assert_array_equal(g.forward(feeds).value(rows), [[6, 7], [0, 1], [6, 7], [6, 7]])


def test_a_computed_index_node_works_too():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    scores = g.input("scores", shape=(4,))
    best = ge.ops.argmax(scores)  # int64, computed at run time
    picked = x[:, best]
    assert picked.shape == (None,)
    run = g.forward({"x": np.arange(6.0).reshape(2, 3), "scores": np.array([0.1, 0.9, 0.3, 0.2])})
    np.testing.assert_array_equal(run.value(picked), [1.0, 4.0])


@pytest.mark.parametrize("x_shape, build, want", [
    ((5, 3), lambda x, ids: x[ids], (None, 3)),
    ((5, 3), lambda x, ids: x[:, None, ids], (5, 1, None)),
    ((None, 3), lambda x, ids: x[ids, 1], (None,)),
])
def test_static_shapes_with_unknown_sizes(x_shape, build, want):
    g = ge.Graph()
    x = g.input("x", shape=x_shape)
    ids = g.input("ids", shape=(None,), dtype="int64")  # its length is known at run time only
    assert build(x, ids).shape == want


def test_known_shapes_give_a_fully_known_shape():
    g = ge.Graph()
    x = g.input("x", shape=(5, 3))
    ids = g.input("ids", shape=(2, 4), dtype="int64")
    assert x[ids].shape == (2, 4, 3)
    assert x[ids, ids].shape == (2, 4)


def test_saved_and_loaded_graph_keeps_the_index_node(tmp_path):
    g = ge.Graph("saved")
    ids = g.input("ids", shape=(None,), dtype="int64")
    table = g.param("table", np.arange(6.0).reshape(3, 2))
    ge.ops.identity(table[:, None][ids], name="rows")
    g.save(tmp_path / "g.ge")
    loaded = ge.load(tmp_path / "g.ge")
    feeds = {"ids": np.array([2, 2, 0])}
    np.testing.assert_array_equal(loaded.forward(feeds).value("rows"), g.forward(feeds).value("rows"))


# -- errors a user can cause -------------------------------------------------------------

def _lookup():
    g = ge.Graph()
    table = g.input("table", shape=(4, 2))
    ids = g.input("ids", shape=(None,))
    rows = table[ids]
    return g, rows


def test_an_index_out_of_range_names_the_node_axis_and_valid_range():
    g, rows = _lookup()
    with pytest.raises(ge.OpExecutionError) as info:
        g.forward({"table": np.ones((4, 2)), "ids": np.array([1, 4])})
    message = str(info.value)
    assert f"'{rows.name}'" in message and "op getitem" in message
    assert "index 4 is out of range for axis 0 of size 4" in message and "-4..3" in message


def test_float_and_boolean_index_nodes_say_what_to_do():
    g, rows = _lookup()
    with pytest.raises(ge.OpExecutionError, match="must hold integers, got float64; declare the index input"):
        g.forward({"table": np.ones((4, 2)), "ids": np.array([1.0, 2.0])})
    with pytest.raises(ge.OpExecutionError, match=r"boolean mask .* use ge.ops.where"):
        g.forward({"table": np.ones((4, 2)), "ids": np.array([True, False, True, False])})


def test_a_node_inside_a_list_is_refused_when_built():
    g = ge.Graph()
    x = g.input("x", shape=(4, 2))
    i = g.input("i", shape=(), dtype="int64")
    with pytest.raises(ge.GraphStructureError, match="whole index entry"):
        x[[i, 0]]


def test_an_index_node_past_the_axes_is_refused_when_built():
    g = ge.Graph()
    x = g.input("x", shape=(4,))
    ids = g.input("ids", shape=(2,), dtype="int64")
    with pytest.raises(ge.ShapeError, match="does not fit shape"):
        x[:, ids]


def test_pytorch_agrees_on_values_and_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    rows, cols = rng.integers(0, 4, (3, 2)), rng.integers(-5, 5, (3, 2))
    seed = rng.standard_normal((3, 2))
    t = torch.tensor(x, requires_grad=True)
    want = t[torch.tensor(rows), torch.tensor(cols)]
    (want * torch.tensor(seed)).sum().backward()
    g = ge.Graph()
    xn = g.input("x", shape=(4, 5))
    r, c = g.input("r", shape=(3, 2), dtype="int64"), g.input("c", shape=(3, 2), dtype="int64")
    out = xn[r, c]
    run = g.forward({"x": x, "r": rows, "c": cols}).backward(out, grad=seed)
    np.testing.assert_allclose(run.value(out), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(run.grad(xn), t.grad.numpy(), rtol=1e-12)
