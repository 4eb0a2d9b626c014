"""graphengine.op_attributes: the annotation forms an op's forward may use for its
attributes, the words of the error, the cache, and ops without annotations."""

from typing import Any, Callable, Literal, Optional, Protocol, Sequence  # noqa: UP035 - forms tested

import numpy as np
import numpy.typing as npt
import pytest

import graphengine as ge
from graphengine import op_attributes
from graphengine.op_attributes import spec_of
from graphengine.plugin_manager import default_manager


@pytest.mark.parametrize("annotation, good, bad, words", [
    (float, [1, 1.5, np.float32(2), np.int64(3)], [True, "1", None, [1.0]], "a number"),
    (int, [1, np.int32(-2)], [1.0, True, np.bool_(False), "1"], "an int"),
    (bool, [True, np.bool_(False)], [0, 1, "True", None], "True or False"),
    (str, ["a"], [1, b"a", None], "a string"),
    (Literal["none", "mean"], ["none", "mean"], ["sum", 0, None], "one of 'none', 'mean'"),
    (Literal[0, 1], [0, 1], [False, True, 2, 0.0], "one of 0, 1"),
    (tuple[int, ...], [(), (1, 2), [3]], [(1.5,), "12", 3], "a tuple of ints"),
    (tuple[int, int], [(1, 2), [1, 2]], [(1,), (1, 2, 3), (1, "a")], "a tuple of 2 (an int, an int)"),
    (Sequence[float], [[1.0, 2], (3,), np.ones(2)], [np.ones((2, 2)), "ab", ["a"]], "a tuple of numbers"),
    (int | tuple[int, ...] | None, [None, 1, (1, 2)], ["x", 1.5], "an int, a tuple of ints or None"),
    (Optional[float], [None, 0.5], ["x"], "a number or None"),
    (np.ndarray, [np.ones(2)], [[1.0]], "a numpy.ndarray"),
])
def test_annotation_forms(annotation, good, bad, words):
    spec = spec_of(annotation)
    assert spec.expected == words
    assert all(spec.accepts(v) for v in good), [v for v in good if not spec.accepts(v)]
    assert not any(spec.accepts(v) for v in bad), [v for v in bad if spec.accepts(v)]


class _Duck(Protocol):
    def quack(self): ...


@pytest.mark.parametrize("annotation", [Any, object, "not a type", float | Any, npt.ArrayLike, npt.NDArray[np.float64],
                                        _Duck, Callable[[int], int]])
def test_what_is_not_understood_is_not_checked(annotation):
    assert spec_of(annotation) is None


class Scale(ge.Op):
    name = "test_scale"
    saves = ()

    def forward(self, xp, x, *, factor: float = 2.0, mode: Literal["up", "down"] = "up",
                tag: "NoSuchName" = None):  # noqa: F821 - an annotation that does not evaluate
        return x * factor if mode == "up" else x / factor

    def backward(self, xp, grad, inputs, output, *, factor=2.0, mode="up", tag=None):
        return (grad * factor if mode == "up" else grad / factor,)

    def shape(self, x, **attrs):
        return x


class Legacy(ge.Op):
    """A third-party op written before annotations were read: nothing is checked."""
    name = "test_legacy"
    saves = ()

    def forward(self, xp, x, *, factor=2.0):
        return x * np.asarray(factor)

    def backward(self, xp, grad, inputs, output, *, factor=2.0):
        return (grad * np.asarray(factor),)

    def shape(self, x, **attrs):
        return x


def test_a_plugin_op_with_annotations_is_checked_and_one_without_is_not():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    assert g.apply(Scale(), x, factor=3).shape == (2,)
    with pytest.raises(ge.AttributeSpecError, match="attribute factor='3' \\(a str\\) does not fit op 'test_scale': "
                                                     "factor takes a number \\(e.g. factor=2.0, the default\\)"):
        g.apply(Scale(), x, factor="3")
    with pytest.raises(ge.AttributeSpecError, match="mode takes one of 'up', 'down'"):
        g.apply(Scale(), x, mode="sideways")
    assert g.apply(Scale(), x, tag=object()).shape == (2,)   # an annotation that does not evaluate: unchecked
    node = g.apply(Legacy(), x, factor=[1.0, 2.0])             # no annotation: anything goes, as before
    assert g.forward({"x": np.ones(2)}).value(node).tolist() == [1.0, 2.0]


def test_passing_values_are_remembered_per_class():
    Scale._attrs_checked = None
    Scale.check_attributes({"factor": 3.0})
    Scale.check_attributes({"factor": 3.0})
    assert Scale._attrs_checked == {(("factor", float, 3.0),)}
    Scale.check_attributes({"factor": 3})
    with pytest.raises(ge.AttributeSpecError):  # True == 3 - 2 == 1 and hashes alike: the type is in the key
        Scale.check_attributes({"factor": True})
    ce = type(default_manager().get_op("cross_entropy"))
    ce.check_attributes({"weight": [1.0, 2.0]})  # unhashable: checked every time, not remembered
    with pytest.raises(ge.AttributeSpecError, match="weight="):
        ce.check_attributes({"weight": ["a"]})
    with pytest.raises(ge.AttributeSpecError):
        Scale.check_attributes({"factor": "x"})
    assert (("factor", str, "x"),) not in Scale._attrs_checked


def test_check_inputs_checks_the_attributes_where_no_shape_is_known():
    impl = default_manager().get_op("softmax")
    impl.check_inputs([None], [None], axis=-1)
    with pytest.raises(ge.AttributeSpecError, match="axis='x'"):
        impl.check_inputs([None], [None], axis="x")


def test_a_wrong_attribute_is_refused_even_where_no_input_shape_is_known():
    g = ge.Graph()
    x = g.input("x")  # no shape: the shape rule does not run
    with pytest.raises(ge.AttributeSpecError, match="axis='x'"):
        ge.ops.softmax(x, axis="x")


def test_the_required_attributes_of_an_op_are_checked_too():
    g = ge.Graph()
    x = g.input("x", shape=(1, 1, 4, 4))
    with pytest.raises(ge.AttributeSpecError, match="kernel_size"):
        ge.ops.max_pool2d(x, kernel_size="2")
    specs = op_attributes.attribute_specs(type(g.plugins.get_op("max_pool2d")))
    assert specs["kernel_size"][0].expected == "an int or a tuple of ints"


def test_a_value_equal_to_an_accepted_one_but_of_another_type_is_still_refused():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    ge.ops.sum(x, axis=1)
    with pytest.raises(ge.AttributeSpecError, match="axis=1.0"):
        ge.ops.sum(x, axis=1.0)  # the shape rule's cached answer for axis=1 must not let 1.0 through
