"""Feeds: names, typos, shapes, dtypes, missing inputs."""

import numpy as np
import pytest

import graphengine as ge


@pytest.fixture
def graph():
    g = ge.Graph("feeds")
    x = g.input("x", shape=(None, 3))
    y = g.input("labels", shape=(None,), dtype="float32")
    W = g.param("W", np.ones((3, 1)))
    out = ge.ops.sum(x @ W) + ge.ops.sum(y)
    return g, x, y, W, out


def test_feed_by_name_or_node(graph):
    g, x, y, W, out = graph
    a = g.forward({"x": np.ones((2, 3)), "labels": np.ones(2)}).value(out)
    b = g.forward({x: np.ones((2, 3)), y: np.ones(2)}).value(out)
    assert float(a) == float(b) == 8.0


def test_typo_in_feed_name_is_refused_with_suggestion(graph):
    g = graph[0]
    with pytest.raises(KeyError) as info:
        g.forward({"x": np.ones((2, 3)), "label": np.ones(2)})
    assert isinstance(info.value, ge.UnknownFeedError)
    message = str(info.value)
    assert "'label'" in message and "'labels'" in message and "inputs are: x, labels" in message


def test_feeding_a_param_is_refused(graph):
    g = graph[0]
    with pytest.raises(ge.FeedError, match="param node"):
        g.forward({"x": np.ones((2, 3)), "labels": np.ones(2), "W": np.ones((3, 1))})


def test_missing_feed_names_the_input_and_shape(graph):
    g = graph[0]
    with pytest.raises(ge.FeedError) as info:
        g.forward({"x": np.ones((2, 3))})
    assert "'labels' (None,)" in str(info.value)


def test_only_needed_inputs_must_be_fed(graph):
    g, x, y, W, out = graph
    h = x @ W
    run = g.forward({"x": np.ones((2, 3))}, fetch=[h])
    assert run.value(h).shape == (2, 1)


def test_wrong_shape_names_input_and_both_shapes(graph):
    g = graph[0]
    with pytest.raises(ge.ShapeError) as info:
        g.forward({"x": np.ones((2, 4)), "labels": np.ones(2)})
    message = str(info.value)
    assert "'x'" in message and "(2, 4)" in message and "(None, 3)" in message


def test_non_numeric_feed_is_refused(graph):
    g = graph[0]
    with pytest.raises(ge.DtypeError, match="not numeric"):
        g.forward({"x": np.array([["a", "b", "c"]]), "labels": np.ones(1)})
    with pytest.raises(TypeError):
        g.forward({"x": [[object(), 1, 2]], "labels": np.ones(1)})


def test_declared_dtype_converts_same_kind_and_refuses_others(graph):
    g, x, y, W, out = graph
    run = g.forward({"x": np.ones((2, 3)), "labels": np.ones(2, dtype=np.float64)})
    assert run.value(y).dtype == np.float32
    z = g.input("k", shape=(2,), dtype="int32")
    with pytest.raises(ge.DtypeError, match="declared int32"):
        g.forward({"k": np.ones(2, dtype=np.float64)}, fetch=[z])


def test_python_lists_and_scalars_are_fed_as_arrays():
    g = ge.Graph()
    x = g.input("x")
    y = x * 2.0
    assert g.forward({"x": [1.0, 2.0]}).value(y).tolist() == [2.0, 4.0]
    assert float(g.forward({"x": 3.0}).value(y)) == 6.0


def test_feeds_must_be_a_mapping(graph):
    with pytest.raises(ge.FeedError, match="mapping"):
        graph[0].forward([np.ones((2, 3))])


def test_a_failed_run_leaves_the_graph_usable(graph):
    g, x, y, W, out = graph
    with pytest.raises(ge.ShapeError):
        g.forward({"x": np.ones((2, 4)), "labels": np.ones(2)})
    assert float(g.forward({"x": np.ones((1, 3)), "labels": np.ones(1)}).value(out)) == 4.0
    np.testing.assert_array_equal(W.value, np.ones((3, 1)))
