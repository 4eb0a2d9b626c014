"""Mistakes made while building a graph get errors that say what went wrong, where, and how
to fix it; each is a ge.GraphEngineError and the builtin exception a Python user would catch."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.node import NodeUsageError


@pytest.fixture
def h():
    g = ge.Graph("net")
    return g.input("h", shape=(None, 3), dtype="float32")


@pytest.mark.parametrize("dtype", ["floaty", "float33", 3.5, "f4,f4x"])
def test_an_unknown_dtype_names_the_input_and_the_valid_spellings(dtype):
    g = ge.Graph()
    with pytest.raises(ge.DtypeError, match=r"input 'x': dtype=.* is not a dtype NumPy knows.*'float32'") as info:
        g.input("x", dtype=dtype)
    assert isinstance(info.value, TypeError)
    assert len(g) == 0 and "x" not in g


def test_an_unknown_dtype_of_a_param_or_const_is_named_too():
    g = ge.Graph()
    with pytest.raises(ge.DtypeError, match=r"param 'W': dtype='floaty'.*Did you mean 'float'"):
        g.param("W", np.zeros(2), dtype="floaty")
    with pytest.raises(ge.DtypeError, match=r"const c: dtype='floaty'"):
        g.const(np.zeros(2), name="c", dtype="floaty")
    assert len(g) == 0


@pytest.mark.parametrize("other, fix", [
    ("a", r"g\.node\(name\)"),
    (None, "returned nothing"),
    ([1, 2], r"np\.asarray"),
    ((1.0, 2.0), r"np\.asarray"),
    ({"a": 1}, "NumPy array"),
    (True, r"np\.array\(True\)"),
    (1 + 2j, "NumPy array"),
])
def test_an_operator_with_a_non_operand_names_node_operator_and_fix(h, other, fix):
    for build, expr in ((lambda: h + other, "node 'h' + "), (lambda: other + h, " + node 'h'"),
                        (lambda: h @ other, "node 'h' @ "), (lambda: other * h, " * node 'h'"),
                        (lambda: h < other, "node 'h' < ")):
        with pytest.raises(NodeUsageError, match=fix) as info:
            build()
        message = str(info.value)
        assert expr in message and type(other).__name__ in message
        assert isinstance(info.value, ge.GraphEngineError) and isinstance(info.value, TypeError)
    assert len(h.graph) == 1  # nothing was added


def test_another_librarys_operand_still_gets_its_reflected_method(h):
    class Knows:
        def __radd__(self, node):
            return ("radd", node.name)

    assert h + Knows() == ("radd", "h")


def test_iterating_a_node_says_how_to_take_parts(h):
    with pytest.raises(NodeUsageError, match=r"not iterable.*node\[i\].*\[node\]") as info:
        list(h)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("axis", ["a", 1.5, (0, "b"), True, [0.0]])
def test_a_bad_axis_blames_the_axis_not_the_shapes(h, axis):
    with pytest.raises(ge.AttributeSpecError) as info:
        ge.ops.sum(h, axis=axis)
    message = str(info.value)
    assert f"axis={axis!r} is not an axis" in message and "op sum" in message
    assert "Check the shapes" not in message
    assert isinstance(info.value, TypeError)
    assert len(h.graph) == 1


def test_axes_as_list_or_array_still_work(h):
    assert ge.ops.sum(h, axis=[0, 1]).shape == ()
    assert ge.ops.sum(h, axis=np.array([1])).shape == (None,)
    assert ge.ops.sum(h, axis=np.int64(-1)).shape == (None,)


def test_a_bad_split_dim_is_named_dim(h):
    with pytest.raises(ge.AttributeSpecError, match="dim='x' is not an axis"):
        h.split(1, dim="x")


def test_nodes_of_two_graphs_with_one_name_are_told_apart():
    g1, g2 = ge.Graph("net"), ge.Graph("net")
    a, b = g1.input("a", shape=(2,)), g2.input("b", shape=(2,))
    with pytest.raises(ge.GraphStructureError) as info:
        a + b
    message = str(info.value)
    assert "another graph that is also named 'net'" in message and "'b'" in message
    assert "not to 'net'" not in message
    with pytest.raises(ge.GraphStructureError, match="another graph that is also named 'net'"):
        g1.node(b)
    with pytest.raises(ge.UnknownFeedError, match="another graph that is also named 'net'"):
        g1.forward({b: np.zeros(2)})
    assert len(g1) == 1 and len(g2) == 1


def test_nodes_of_differently_named_graphs_name_both():
    g1, g2 = ge.Graph("one"), ge.Graph("two")
    a, b = g1.input("a", shape=(2,)), g2.input("b", shape=(2,))
    with pytest.raises(ge.GraphStructureError, match="node 'b' belongs to graph 'two', not to 'one'"):
        a * b


class _Unannotated(ge.Op):
    """A plugin op without attribute annotations: its shape rule meets the bad value itself."""
    name = "test_unannotated_reshape"
    saves = ()

    def forward(self, xp, x, *, shape=None):
        return x.reshape(shape)

    def backward(self, xp, grad, inputs, output, *, shape=None):
        return (grad.reshape(inputs[0].shape),)

    def shape(self, x, *, shape=None):
        return tuple(int(d) for d in shape)


def test_a_shape_rule_that_fails_on_an_attribute_shows_the_attributes(h):
    with pytest.raises(ge.ShapeError) as info:
        h.graph.apply(_Unannotated(), h, shape="ab")
    message = str(info.value)
    assert "attributes: shape='ab'" in message and "Check the attribute values" in message
    assert len(h.graph) == 1


def test_a_built_in_op_names_the_bad_attribute_before_its_shape_rule_runs(h):
    with pytest.raises(ge.AttributeSpecError, match="attribute shape='ab' \\(a str\\) does not fit op 'reshape': "
                                                    "shape takes an int or a tuple of ints"):
        ge.ops.reshape(h, shape="ab")
    assert len(h.graph) == 1
