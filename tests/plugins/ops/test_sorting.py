"""Sorting ops: sort / argsort and topk / topk_indices (values differentiable, indices int64)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

FEW = settings(max_examples=10, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)


def distinct(rng, shape):
    """Values at least 0.5 apart: no ties, so the sort order is the same under small steps."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * 0.5 + rng.uniform(0, 0.1)).reshape(shape) - size / 4


def _stable_order(x, dim, descending):
    if descending:
        n = x.shape[dim]
        return n - 1 - np.flip(np.argsort(np.flip(x, axis=dim), axis=dim, kind="stable"), axis=dim)
    return np.argsort(x, axis=dim, kind="stable")


def sort_reference(x, dim=-1, descending=False, stable=False):
    v = x.reshape(1) if x.ndim == 0 else x
    return np.take_along_axis(v, _stable_order(v, dim, descending), axis=dim).reshape(x.shape)


def argsort_reference(x, dim=-1, descending=False, stable=False):
    v = x.reshape(1) if x.ndim == 0 else x
    return _stable_order(v, dim, descending).reshape(x.shape)


def topk_reference(x, k, dim=-1, largest=True, sorted=True):
    v = x.reshape(1) if x.ndim == 0 else x
    order = np.take(_stable_order(v, dim, largest), np.arange(k), axis=dim)
    out = np.take_along_axis(v, order, axis=dim)
    return out if x.ndim else out.reshape(())


def topk_indices_reference(x, k, dim=-1, largest=True, sorted=True):
    v = x.reshape(1) if x.ndim == 0 else x
    out = np.take(_stable_order(v, dim, largest), np.arange(k), axis=dim)
    return out if x.ndim else out.reshape(())


@FEW
@given(shape=shapes, data=st.data(), seed=seeds, descending=st.booleans())
def test_sort_and_argsort_conform(shape, data, seed, descending):
    x = distinct(np.random.default_rng(seed), shape)
    ndim = max(len(shape), 1)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    attrs = {"dim": dim, "descending": descending}
    check_op("sort", [x], reference=sort_reference, attrs=attrs)
    check_op("argsort", [x], reference=argsort_reference, attrs=attrs, skip=("float32_preserved",))


@FEW
@given(shape=shapes, data=st.data(), seed=seeds, largest=st.booleans())
def test_topk_and_topk_indices_conform(shape, data, seed, largest):
    x = distinct(np.random.default_rng(seed), shape)
    ndim = max(len(shape), 1)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    k = data.draw(st.integers(0, shape[dim]) if shape else st.just(1), label="k")
    attrs = {"k": k, "dim": dim, "largest": largest}
    check_op("topk", [x], reference=topk_reference, attrs=attrs)
    check_op("topk_indices", [x], reference=topk_indices_reference, attrs=attrs, skip=("float32_preserved",))


def test_ties_keep_their_order_and_the_values_gradient_goes_back_to_its_entry():
    sort = ge.default_manager().get_op("sort")
    argsort = ge.default_manager().get_op("argsort")
    topk = ge.default_manager().get_op("topk")
    x = np.array([[3.0, 1.0, 2.0, 3.0, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(argsort.forward(np, x, descending=True), [[0, 3, 2, 1, 4]])
    np.testing.assert_array_equal(argsort.forward(np, x), [[1, 4, 2, 0, 3]])
    values = sort.forward(np, x, descending=True)
    (g,) = sort.backward(np, np.array([[10.0, 20.0, 30.0, 40.0, 50.0]], dtype=np.float32), (x,), values,
                         descending=True)
    np.testing.assert_array_equal(g, [[10.0, 40.0, 30.0, 20.0, 50.0]])
    assert values.dtype == g.dtype == np.float32
    top = topk.forward(np, x, k=2)
    (g,) = topk.backward(np, np.array([[1.0, 2.0]], dtype=np.float32), (x,), top, k=2)
    np.testing.assert_array_equal(top, [[3.0, 3.0]])
    np.testing.assert_array_equal(g, [[1.0, 0.0, 0.0, 2.0, 0.0]])


def test_sort_and_topk_through_the_graph():
    g = ge.Graph()
    x = g.input("x", shape=(None, 4), dtype="float32")
    best = ge.ops.topk(x, k=2, dim=1)
    where = ge.ops.topk_indices(x, k=2, dim=1)
    ranked = ge.ops.sort(x, dim=1)
    loss = ge.ops.sum(best * np.array([1.0, 10.0], dtype=np.float32)) + ge.ops.sum(ranked)
    assert best.shape == where.shape == (None, 2) and where.dtype == np.int64 and best.dtype == np.float32
    X = np.array([[0.5, 4.0, -1.0, 2.0], [3.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    for fetch in (None, [loss, where, x]):
        run = g.forward({"x": X}, fetch=fetch).backward(loss)
        np.testing.assert_array_equal(run.value(where), [[1, 3], [0, 2]])
        np.testing.assert_array_equal(run.grad(x), [[1.0, 2.0, 1.0, 11.0], [2.0, 1.0, 11.0, 1.0]])


def test_sorting_errors_name_the_node():
    g = ge.Graph()
    x = g.input("x", shape=(None, 4))
    with pytest.raises(ge.ShapeError, match=r"'best'.*k=5 is out of range for a dim of size 4"):
        ge.ops.topk(x, k=5, dim=1, name="best")
    with pytest.raises(ge.AttributeSpecError, match=r"'best'.*topk needs k="):
        ge.ops.topk(x, name="best")
    with pytest.raises(ge.AttributeSpecError, match=r"dim=\(0, 1\) \(a tuple\) does not fit op 'sort': dim takes an "
                                                    r"int"):
        ge.ops.sort(x, dim=(0, 1))
    with pytest.raises(ge.ShapeError, match="axis 2 is out of range"):
        ge.ops.argsort(x, dim=2)


def test_sorting_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = distinct(rng, (3, 4, 5))
    t = torch.tensor(x, requires_grad=True)
    for dim in (0, 1, -1):
        for descending in (False, True):
            values = ge.default_manager().get_op("sort").forward(np, x, dim=dim, descending=descending)
            indices = ge.default_manager().get_op("argsort").forward(np, x, dim=dim, descending=descending)
            want = torch.sort(t, dim=dim, descending=descending)
            np.testing.assert_array_equal(values, want.values.detach().numpy())
            np.testing.assert_array_equal(indices, want.indices.numpy())
    for largest in (True, False):
        attrs = {"k": 3, "dim": 1, "largest": largest}
        op = ge.default_manager().get_op("topk")
        values = op.forward(np, x, **attrs)
        seed = rng.standard_normal(values.shape)
        (g,) = op.backward(np, seed, (x,), values, **attrs)
        t.grad = None
        want = torch.topk(t, 3, dim=1, largest=largest)
        want.values.backward(torch.tensor(seed))
        np.testing.assert_array_equal(values, want.values.detach().numpy())
        np.testing.assert_array_equal(ge.default_manager().get_op("topk_indices").forward(np, x, **attrs),
                                      want.indices.numpy())
        np.testing.assert_allclose(g, t.grad.numpy())


def test_k_past_a_run_time_size_is_refused_naming_the_node_and_the_input():
    g = ge.Graph()
    x = g.input("x", shape=(3, None))
    ge.ops.topk(x, k=4, dim=1, name="best")  # the axis is unknown at build time
    with pytest.raises(ge.OpExecutionError, match=r"'best'.*k=4 is out of range for a dim of size 2.*float64\[3, 2\]"):
        g.forward({"x": np.ones((3, 2))})
