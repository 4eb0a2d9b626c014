"""Elementwise ops: arithmetic with broadcasting, and unary functions.

Each class keeps forward, backward and shape rule side by side. Binary ops broadcast
like NumPy; their gradients keep the broadcast shape and the engine sums them back to
each input's shape. Where a class gives an ``inline_forward`` / ``inline_backward``
template and not the method, the method is derived from the template (``ge.Op``), so
the maths is written once.
"""

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, broadcast_shapes


class _Binary(ge.Op):
    saves = ("inputs",)

    def shape(self, a, b):
        return broadcast_shapes(a, b)


def _array_like(xp, value, like):
    """``value`` as an array; a Python scalar takes ``like``'s dtype (no float64 upcast)."""
    if hasattr(value, "dtype"):
        return value
    return xp.asarray(value, dtype=like.dtype)


class Add(_Binary):
    """a + b (broadcasting). d/da = 1, d/db = 1 (the gradient passes through; the engine
    sums it back over broadcast axes).

    >>> ge.ops.add(x, 1.0)   # same as x + 1.0
    """

    name = "add"
    saves = ()  # backward reads nothing; the engine keeps the inputs' shapes for the sum back
    inline_forward = "xp.add({0}, {1})"
    inline_backward = ("{grad}", "{grad}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.add(a, b, out=out)


class Sub(_Binary):
    """a - b (broadcasting). d/da = 1, d/db = -1."""

    name = "sub"
    saves = ()  # backward reads nothing; the engine keeps the inputs' shapes for the sum back
    inline_forward = "xp.subtract({0}, {1})"
    inline_backward = ("{grad}", "-{grad}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.subtract(a, b, out=out)


class Mul(_Binary):
    """a * b (broadcasting). d/da = b, d/db = a."""

    name = "mul"
    inline_forward = "xp.multiply({0}, {1})"
    inline_backward = ("{grad} * {1}", "{grad} * {0}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.multiply(a, b, out=out)


class Div(_Binary):
    """a / b (broadcasting). d/da = 1/b, d/db = -a/b² = -(1/b)·(a/b)."""

    name = "div"
    saves = ("inputs", "output")

    def forward(self, xp, a, b):
        return xp.true_divide(a, b)

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True)):
        a, b = inputs
        ga = grad / b
        return (ga if needs_grad[0] else None,
                -ga * output if needs_grad[1] else None)


class Pow(_Binary):
    """a ** b (broadcasting). d/da = b·a^(b-1); d/db = a^b·log(a) (where a > 0, else 0).

    >>> x ** 2, 2.0 ** x     # both are pow nodes
    """

    name = "pow"
    saves = ("inputs", "output")

    def forward(self, xp, a, b):
        return xp.power(a, b)

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True)):
        a, b = inputs
        ga = gb = None
        if needs_grad[0]:
            ga = grad * b * xp.power(a, b - 1)
        if needs_grad[1]:  # the log branch: skipped for x ** 2
            a_arr = _array_like(xp, a, grad)  # a Python-scalar base (2.0 ** x) keeps grad's dtype
            positive = a_arr > 0
            log_a = xp.log(xp.where(positive, a_arr, 1))
            gb = grad * output * xp.where(positive, log_a, 0)
        return ga, gb


class Maximum(_Binary):
    """max(a, b) elementwise (broadcasting). d/da = [a > b], d/db = [b > a]; ½ each on ties."""

    name = "maximum"

    def forward(self, xp, a, b):
        return xp.maximum(a, b)

    def backward(self, xp, grad, inputs, output):
        a, b = inputs
        wa = ((a > b) + 0.5 * (a == b)).astype(grad.dtype)
        return grad * wa, grad * (1 - wa)


class Minimum(_Binary):
    """min(a, b) elementwise (broadcasting). d/da = [a < b], d/db = [b < a]; ½ each on ties."""

    name = "minimum"

    def forward(self, xp, a, b):
        return xp.minimum(a, b)

    def backward(self, xp, grad, inputs, output):
        a, b = inputs
        wa = ((a < b) + 0.5 * (a == b)).astype(grad.dtype)
        return grad * wa, grad * (1 - wa)


class _Unary(ge.Op):
    def shape(self, x):
        return x


class Neg(_Unary):
    """-x. d/dx = -1."""

    name = "neg"
    saves = ()
    inline_forward = "xp.negative({0})"  # forward and backward are derived from the templates
    inline_backward = ("-{grad}",)


class Exp(_Unary):
    """e^x. d/dx = e^x (the output)."""

    name = "exp"
    saves = ("output",)
    inline_forward = "xp.exp({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} * {output}",)


class Log(_Unary):
    """log x (natural logarithm, x > 0). d/dx = 1/x."""

    name = "log"
    saves = ("inputs",)
    inline_forward = "xp.log({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} / {0}",)


class Sqrt(_Unary):
    """√x. d/dx = 1 / (2√x)."""

    name = "sqrt"
    saves = ("output",)
    inline_forward = "xp.sqrt({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} / (2 * {output})",)


class Abs(_Unary):
    """|x|. d/dx = sign(x) (0 at the kink x = 0)."""

    name = "abs"
    saves = ("inputs",)
    inline_forward = "xp.abs({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} * xp.sign({0})",)


class Square(_Unary):
    """x². d/dx = 2x."""

    name = "square"
    saves = ("inputs",)
    inline_forward = "xp.square({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} * (2 * {0})",)


def _bounds(low, high):
    """Clip bounds as Python floats (a NumPy float64 scalar would upcast float32 data)."""
    if low is None and high is None:
        raise AttributeSpecError(
            "clip needs low=, high= or both (for example ge.ops.clip(p, low=1e-7, high=1 - 1e-7))")
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if low is not None and high is not None and low > high:
        raise AttributeSpecError(f"clip needs low <= high, got low={low}, high={high}; swap them")
    return low, high


class Clip(_Unary):
    """clip(x, low, high) = min(max(x, low), high); either bound may be omitted.

    d/dx = 1 inside [low, high], 0 outside.

    >>> ge.ops.clip(p, low=1e-7, high=1 - 1e-7)
    """

    name = "clip"
    saves = ("inputs",)

    def forward(self, xp, x, *, low=None, high=None):
        low, high = _bounds(low, high)
        return xp.clip(x, low, high)

    def backward(self, xp, grad, inputs, output, *, low=None, high=None):
        low, high = _bounds(low, high)
        x = inputs[0]
        inside = xp.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        return (grad * inside,)

    def shape(self, x, *, low=None, high=None):
        _bounds(low, high)
        return x


class Where(ge.Op):
    """where(condition, a, b): a where condition is true, else b (broadcasting).

    The condition gets no gradient; a and b get the gradient where they were chosen.
    """

    name = "where"
    saves = ("inputs",)

    def forward(self, xp, condition, a, b):
        return xp.where(condition, a, b)

    def backward(self, xp, grad, inputs, output):
        condition = inputs[0]
        zero = xp.zeros((), dtype=grad.dtype)
        return None, xp.where(condition, grad, zero), xp.where(condition, zero, grad)

    def shape(self, condition, a, b):
        return broadcast_shapes(condition, a, b)

    def dtype(self, condition, a, b):
        known = [d for d in (a, b) if d is not None]
        return np.result_type(*known) if known else None
