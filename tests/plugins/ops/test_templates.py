"""Methods derived from inline templates (ge.Op): the maths written once, signatures the
graph reads, clear errors for templates that cannot be derived."""

import inspect

import numpy as np
import pytest

import graphengine as ge
from graphengine.testing import check_op


class Cube(ge.Op):
    """x³, written only as templates. d/dx = 3x²."""

    name = "cube_from_templates"
    saves = ("inputs",)
    inline_forward = "{0} * {0} * {0}"
    inline_backward = ("{grad} * 3 * {0} * {0}",)

    def shape(self, x):
        return x


class ScaledDifference(ge.Op):
    """scale·(a - b) with the attribute in the backward template. d/da = scale, d/db = -scale."""

    name = "scaled_difference"
    saves = ()
    inline_backward = ("{grad} * {scale}", "{grad} * -{scale}")

    def forward(self, xp, a, b, *, scale=2.0):
        return (a - b) * float(scale)

    def shape(self, a, b, *, scale=2.0):
        return ge.broadcast_shapes(a, b)


def test_methods_derived_from_templates_have_the_signatures_the_graph_reads():
    assert Cube.signature_info() == (1, {}, False, False)
    assert list(inspect.signature(Cube.forward).parameters) == ["self", "xp", "x0"]
    arity, attrs, _, needs_grad = ScaledDifference.signature_info()
    assert (arity, attrs, needs_grad) == (2, {"scale": 2.0}, True)
    assert "Derived from ``inline_backward``" in ScaledDifference.backward.__doc__


def test_derived_methods_pass_the_kit():
    rng = np.random.default_rng(0)
    check_op(Cube(), [rng.standard_normal((3, 2))], reference=lambda x: x ** 3)
    check_op(ScaledDifference(), [rng.standard_normal((3, 4)), rng.standard_normal(4)],
             reference=lambda a, b, scale: scale * (a - b), attrs={"scale": 0.5})


def test_derived_methods_run_in_a_graph_with_attributes_and_needs_grad():
    g = ge.Graph()
    a = g.input("a", shape=(2, 3))
    b = g.param("b", np.ones(3))
    y = g.apply(ScaledDifference(), a, b, scale=4.0)
    total = ge.ops.sum(y)
    run = g.forward({"a": np.zeros((2, 3))}).backward(total)
    np.testing.assert_allclose(run.value(y), -4.0)
    np.testing.assert_allclose(run.grad(b), [-8.0, -8.0, -8.0])  # summed back over the batch


def test_derived_backward_skips_what_is_not_needed():
    grads = ScaledDifference().backward(np, np.ones(3), (None, None), None, needs_grad=(False, True), scale=1.0)
    assert grads[0] is None and grads[1].tolist() == [-1.0, -1.0, -1.0]


def test_a_pass_through_template_returns_the_gradient_itself():
    add = ge.default_manager().get_op("add")
    grad = np.ones((2, 2))
    assert all(g is grad for g in add.backward(np, grad, (grad, grad), None))
    assert not type(add).signature_info()[3]  # a pass-through takes no needs_grad


def test_a_template_reading_an_unsaved_value_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"reads \{output\} but saves = \('inputs',\); add 'output' to saves"):
        class Bad(ge.Op):
            name = "bad"
            saves = ("inputs",)
            inline_forward = "xp.exp({0})"
            inline_backward = ("{grad} * {output}",)


def test_a_forward_template_with_an_attribute_asks_for_the_method():
    with pytest.raises(TypeError, match=r"reads \{alpha\}.*write the method, e\.g\. forward\(self, xp, x, \*, "
                                        r"alpha=<default>\)"):
        class Bad(ge.Op):
            name = "bad"
            inline_forward = "{0} * {alpha}"


def test_a_backward_template_with_the_wrong_number_of_entries_is_refused():
    with pytest.raises(TypeError, match=r"has 1 entries for 2 inputs; give one entry per input"):
        class Bad(ge.Op):
            name = "bad"
            inline_forward = "xp.add({0}, {1})"
            inline_backward = ("{grad}",)


def test_a_subclass_with_another_template_gets_its_own_derived_method():
    class Twice(Cube):
        name = "twice"
        inline_forward = "{0} * 2"
        inline_backward = ("{grad} * 2",)

    assert Twice().forward(np, np.array(3.0)) == 6.0
    assert Cube().forward(np, np.array(3.0)) == 27.0
    assert Twice().backward(np, np.array(1.0), (np.array(3.0),), None)[0] == 2.0
