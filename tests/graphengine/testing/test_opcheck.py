"""check_op checks every fast variant an op offers against its methods: a correct plugin
op passes; a template or an out= variant that disagrees with the method is caught, with a
message naming the op, the variant, the shapes, the dtypes and the difference."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.testing import OpCheckError, check_op, op_checks
from graphengine.testing.gradcheck import GradcheckError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
ROW = RNG.standard_normal((4,))


def scale3(x):
    return 3.0 * x


class Scale3(ge.Op):
    """y = 3x, with every fast variant, all correct."""

    name = "scale3"
    saves = ()
    inline_forward = "xp.multiply({0}, 3.0)"
    inline_backward = ("{grad} * 3.0",)

    def forward(self, xp, x, out=None):
        return xp.multiply(x, 3.0, out=out)

    def backward(self, xp, grad, inputs, output, out=None):
        return (xp.multiply(grad, 3.0, out=None if out is None else out[0]),)

    def shape(self, x):
        return x


class ForwardTemplateDisagrees(Scale3):
    name = "forward_template_disagrees"
    inline_forward = "xp.multiply({0}, 2.0)"


class BackwardTemplateDisagrees(Scale3):
    name = "backward_template_disagrees"
    inline_backward = ("{grad} * 2.0",)


class BackwardTemplateHasNoGradient(Scale3):
    name = "backward_template_has_no_gradient"
    inline_backward = (None,)


class ForwardOutAccumulates(Scale3):
    """forward(out=) adds into the buffer instead of writing it: right once into a zeroed
    buffer, wrong into a reused one."""

    name = "forward_out_accumulates"

    def forward(self, xp, x, out=None):
        if out is None:
            return xp.multiply(x, 3.0)
        out += 3.0 * x
        return out


class ForwardOutReturnsInput(Scale3):
    name = "forward_out_returns_input"
    inline_forward = None

    def forward(self, xp, x, out=None):
        if out is None:
            return xp.multiply(x, 3.0)
        x *= 3.0  # in place into the input, and hands it back
        return x


class BackwardOutDisagrees(Scale3):
    name = "backward_out_disagrees"

    def backward(self, xp, grad, inputs, output, out=None):
        if out is None or out[0] is None:
            return (grad * 3.0,)
        return (xp.multiply(grad, 2.0, out=out[0]),)


class BackwardOutReturnsOutput(ge.Op):
    """exp, whose backward(out=) hands back the output array itself as the gradient."""

    name = "backward_out_returns_output"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.exp(x)

    def backward(self, xp, grad, inputs, output, out=None):
        if out is None:
            return (grad * output,)
        output *= grad
        return (output,)


class AddRow(ge.Op):
    """x + row, backward returning the broadcast-shaped gradient for both (the engine sums)."""

    name = "add_row"
    saves = ("inputs",)

    def forward(self, xp, x, row):
        return x + row

    def backward(self, xp, grad, inputs, output):
        return grad, grad

    def shape(self, x, row):
        return ge.broadcast_shapes(x, row)


class AddRowWrongShape(AddRow):
    name = "add_row_wrong_shape"

    def backward(self, xp, grad, inputs, output):
        return grad, grad[:, :2]  # (3, 2): not a broadcast of the row's (4,)


class WithRetiredForwardInto(ge.Op):
    name = "with_forward_into"
    saves = ()

    def forward(self, xp, x):
        return -x

    def forward_into(self, xp, out, x):
        return xp.negative(x, out=out)

    def backward(self, xp, grad, inputs, output):
        return (-grad,)


def test_the_variant_checks_are_listed():
    names = [name for name, _ in op_checks()]
    for variant in ("inline_forward", "inline_backward", "forward_out", "backward_out"):
        assert variant in names


def test_an_op_with_every_correct_variant_passes_every_check():
    ran = check_op(Scale3(), [X], reference=scale3)
    for variant in ("inline_forward", "inline_backward", "forward_out", "backward_out"):
        assert variant in ran, ran


def test_variants_an_op_does_not_offer_are_reported_as_skipped():
    ran = check_op(AddRow(), [X, ROW], reference=np.add)
    assert "inline_forward (skipped: the op has no inline_forward)" in ran
    assert "forward_out (skipped: forward takes no out=)" in ran
    assert "backward_out (skipped: backward takes no out=)" in ran


def test_an_inline_forward_that_disagrees_with_forward_is_caught():
    with pytest.raises(OpCheckError) as info:
        check_op(ForwardTemplateDisagrees(), [X], reference=scale3)
    message = str(info.value)
    assert "op 'forward_template_disagrees': inline_forward 'xp.multiply({0}, 2.0)'" in message
    assert "float64[3, 4]" in message and "max |difference|" in message
    assert f"{np.abs(X).max():.3g}" in message  # 3x - 2x = x


def test_an_inline_backward_that_disagrees_with_backward_is_caught():
    with pytest.raises(OpCheckError, match=r"op 'backward_template_disagrees': inline_backward\[0\] "
                                           r"'\{grad\} \* 2.0' on inputs float64\[3, 4\].*max \|difference\|"):
        check_op(BackwardTemplateDisagrees(), [X], skip=("in_graph",))


def test_an_inline_backward_without_the_gradient_backward_gives_is_caught():
    with pytest.raises(OpCheckError, match=r"inline_backward\[0\] None gives no gradient for input 0 and "
                                           r"backward does not"):
        check_op(BackwardTemplateHasNoGradient(), [X], skip=("in_graph",))


def test_a_forward_out_that_reads_the_stale_buffer_is_caught():
    with pytest.raises(OpCheckError) as info:
        check_op(ForwardOutAccumulates(), [X], reference=scale3)
    message = str(info.value)
    assert "op 'forward_out_accumulates': forward(out=float64[3, 4])" in message
    assert "never read what out held before" in message


def test_a_forward_out_that_returns_its_input_is_caught():
    with pytest.raises(OpCheckError, match=r"forward_out_returns_input.*returned its input 0 as its result"):
        check_op(ForwardOutReturnsInput(), [X.copy()], skip=("in_graph",))


def test_a_backward_out_that_disagrees_with_backward_is_caught():
    with pytest.raises(OpCheckError) as info:
        check_op(BackwardOutDisagrees(), [X], reference=scale3, skip=("in_graph",))
    message = str(info.value)
    assert "op 'backward_out_disagrees': backward(out=(float64[3, 4])) (first call into the buffers)" in message
    assert "the gradient of input 0 differs" in message and "max |difference|" in message


def test_a_backward_out_that_returns_the_output_array_is_caught():
    with pytest.raises(OpCheckError, match=r"backward_out_returns_output.*returned its output as the gradient"):
        check_op(BackwardOutReturnsOutput(), [X], reference=np.exp)


def test_broadcast_shaped_gradients_are_summed_back_before_comparing():
    check_op(AddRow(), [X, ROW], reference=np.add)


def test_a_gradient_that_is_no_broadcast_of_the_input_is_still_refused():
    with pytest.raises(GradcheckError, match=r"add_row_wrong_shape.*gradient for input 1 has shape \(3, 2\)"):
        check_op(AddRowWrongShape(), [X, ROW], reference=np.add)


def test_retired_into_methods_are_pointed_out():
    with pytest.warns(UserWarning, match=r"'with_forward_into' defines forward_into, which graphengine no longer "
                                         r"uses: give forward / backward an out=None keyword"):
        check_op(WithRetiredForwardInto(), [X], reference=np.negative)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "matmul", "sigmoid", "tanh", "relu", "cross_entropy"])
def test_builtin_ops_on_the_mlp_path_offer_out(name):
    takes = type(ge.default_manager().get_op(name)).takes_out()
    assert takes[0], f"{name}: forward takes no out="
    if name in ("matmul", "sigmoid", "cross_entropy"):
        assert takes[1], f"{name}: backward takes no out="
