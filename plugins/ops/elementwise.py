"""Elementwise ops: arithmetic with broadcasting, and unary functions.

Each class keeps forward, backward and shape rule side by side. Binary ops broadcast
like NumPy; their gradients keep the broadcast shape and the engine sums them back to
each input's shape. Where a class gives an ``inline_forward`` / ``inline_backward``
template and not the method, the method is derived from the template (``ge.Op``), so
the maths is written once.
"""

import contextlib

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, broadcast_shapes
from graphengine.op import promote_dtypes


def _weak_kinds(*values):
    return tuple(type(v) for v in values if not hasattr(v, "dtype"))


def _promote(a, b, floating=False):
    """``a`` and ``b`` cast to the dtype the promotion rule gives (``ge.op`` docstring):
    integer data meeting float data takes the float's dtype, a Python number stays a weak
    Python number, and with ``floating`` an integer-only result becomes float32. Arrays of
    that dtype already are returned as they are (no copy)."""
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    if da == db:
        if not floating or da is None or da.kind == "f":
            return a, b  # the common case: nothing to cast
    elif (db is None and da.kind == "f") or (da is None and db.kind == "f"):
        return a, b  # float data and a Python number, which NumPy does not promote by
    target = promote_dtypes(da, db, weak=_weak_kinds(a, b))
    if target is None:
        return a, b
    if floating and target.kind != "f":
        target = np.dtype(np.float32)
    if da is not None and da != target:
        a = a.astype(target)
    if db is not None and db != target:
        b = b.astype(target)
    return a, b


def _floating_dtype(dtype):
    if dtype is None:
        return None
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


class _Binary(ge.Op):
    """A binary elementwise op: mixed operands follow the promotion rule (int32 data with
    float32 data gives float32). Ops with inline templates (add, sub, mul) get their
    integer inputs cast by the graph (``promote_inputs``), so that the templates, pasted
    as they are, only ever see one dtype; the others promote in their methods."""
    elementwise = True
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
    promote_inputs = (0, 1)  # integer data meeting float gets a cast node (graph._infer)
    saves = ()  # backward reads nothing; the engine keeps the inputs' shapes for the sum back
    inline_forward = "xp.add({0}, {1})"
    inline_backward = ("{grad}", "{grad}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.add(a, b, out=out)


class Sub(_Binary):
    """a - b (broadcasting). d/da = 1, d/db = -1."""

    name = "sub"
    promote_inputs = (0, 1)
    saves = ()  # backward reads nothing; the engine keeps the inputs' shapes for the sum back
    inline_forward = "xp.subtract({0}, {1})"
    inline_backward = ("{grad}", "-{grad}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.subtract(a, b, out=out)


class Mul(_Binary):
    """a * b (broadcasting). d/da = b, d/db = a."""

    name = "mul"
    promote_inputs = (0, 1)
    inline_forward = "xp.multiply({0}, {1})"
    inline_backward = ("{grad} * {1}", "{grad} * {0}")  # backward is derived from it

    def forward(self, xp, a, b, out=None):
        return xp.multiply(a, b, out=out)


class Div(_Binary):
    """a / b (broadcasting), true division as ``torch.div``: int / int gives float32.
    d/da = 1/b, d/db = -a/b² = -(1/b)·(a/b)."""

    name = "div"
    saves = ("inputs", "output")

    def forward(self, xp, a, b):
        a, b = _promote(a, b, floating=True)
        return xp.true_divide(a, b)

    def dtype(self, a, b):
        known = [d for d in (a, b) if d is not None]
        return _floating_dtype(promote_dtypes(*known)) if known else None

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True)):
        a, b = _promote(*inputs, floating=True)
        ga = grad / b
        return (ga if needs_grad[0] else None,
                -ga * output if needs_grad[1] else None)


class Pow(_Binary):
    """a ** b (broadcasting), as ``torch.pow``. d/da = b·a^(b-1), d/db = a^b·log(a).

    At the edges the gradients are PyTorch's:

    * d/da is 0 wherever b = 0 (x**0 is the constant 1, also at x = 0, and at (0, 0));
      elsewhere b·a^(b-1): at a = 0 that is 0 for b > 1, b for b = 1, +inf for 0 < b < 1
      and ±inf for b < 0 (where a ** b itself is inf).
    * d/db is 0 where a = 0 and b ≥ 0 (0**b is constant there); a^b·log(a) elsewhere:
      -inf·inf = -inf at a = 0, b < 0, and NaN for a negative base (a real a^b has no
      derivative in b there).

    NumPy's warnings for these edges are silenced: the values above are the answer.

    >>> x ** 2, 2.0 ** x     # both are pow nodes
    """

    name = "pow"
    saves = ("inputs", "output")

    def forward(self, xp, a, b):
        a, b = _promote(a, b)
        with _edges_quiet(xp):
            return xp.power(a, b)

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True)):
        a, b = _promote(*inputs)
        ga = gb = None
        with _edges_quiet(xp):
            if needs_grad[0]:
                if not hasattr(b, "dtype"):  # a Python exponent (x ** 2): no mask needed
                    ga = grad * 0 if b == 0 else grad * (b * xp.power(a, b - 1))
                else:
                    local = b * xp.power(a, b - 1)
                    ga = grad * xp.where(b == 0, xp.zeros((), dtype=local.dtype), local)
            if needs_grad[1]:  # the log branch: skipped for x ** 2
                a_arr = _array_like(xp, a, grad)  # a Python-scalar base (2.0 ** x) keeps grad's dtype
                local = output * xp.log(a_arr)
                constant = (a_arr == 0) & (b >= 0)
                gb = grad * xp.where(constant, xp.zeros((), dtype=local.dtype), local)
        return ga, gb


def _edges_quiet(xp):
    """NumPy warns at 0 ** negative and log(0), log(negative); CuPy does not warn."""
    return np.errstate(divide="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


class Maximum(_Binary):
    """max(a, b) elementwise (broadcasting). d/da = [a > b], d/db = [b > a]; ½ each on ties."""

    name = "maximum"

    def forward(self, xp, a, b):
        a, b = _promote(a, b)
        return xp.maximum(a, b)

    def backward(self, xp, grad, inputs, output):
        a, b = inputs
        wa = ((a > b) + 0.5 * (a == b)).astype(grad.dtype)
        return grad * wa, grad * (1 - wa)


class Minimum(_Binary):
    """min(a, b) elementwise (broadcasting). d/da = [a < b], d/db = [b < a]; ½ each on ties."""

    name = "minimum"

    def forward(self, xp, a, b):
        a, b = _promote(a, b)
        return xp.minimum(a, b)

    def backward(self, xp, grad, inputs, output):
        a, b = inputs
        wa = ((a < b) + 0.5 * (a == b)).astype(grad.dtype)
        return grad * wa, grad * (1 - wa)


class _Unary(ge.Op):
    elementwise = True

    def shape(self, x):
        return x


class Neg(_Unary):
    """-x. d/dx = -1."""

    name = "neg"
    saves = ()
    inline_forward = "xp.negative({0})"  # forward and backward are derived from the templates
    inline_backward = ("-{grad}",)


class _FloatUnary(_Unary):
    """A unary function whose result must be floating: integer or bool data becomes
    float32 (PyTorch's default dtype) through a cast node the graph inserts
    (``promote_inputs``); float data keeps its dtype."""

    def dtype(self, x):
        return _floating_dtype(x)


class Exp(_FloatUnary):
    """e^x. d/dx = e^x (the output)."""

    name = "exp"
    saves = ("output",)
    promote_inputs = (0,)  # integer data gets a cast node to float32 (graph._infer)
    inline_forward = "xp.exp({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} * {output}",)


class Log(_FloatUnary):
    """log x (natural logarithm, x > 0). d/dx = 1/x."""

    name = "log"
    saves = ("inputs",)
    promote_inputs = (0,)
    inline_forward = "xp.log({0})"  # forward and backward are derived from the templates
    inline_backward = ("{grad} / {0}",)


class Sqrt(_FloatUnary):
    """√x. d/dx = 1 / (2√x)."""

    name = "sqrt"
    saves = ("output",)
    promote_inputs = (0,)
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
    low = None if low is None else _number(low)
    high = None if high is None else _number(high)
    if low is not None and high is not None and low > high:
        raise AttributeSpecError(f"clip needs low <= high, got low={low}, high={high}; swap them")
    return low, high


def _number(bound):
    """A bound as a Python int or float (a NumPy float64 scalar would upcast float32 data)."""
    if isinstance(bound, (int, np.integer)) and not isinstance(bound, bool):
        return int(bound)
    return float(bound)


def _clip_dtype(x, low, high):
    """Integer data clipped to a float bound becomes float32 (``torch.clamp``); else x's dtype."""
    if x.kind == "f" or all(b is None or isinstance(b, int) for b in (low, high)):
        return x
    return np.dtype(np.float32)


class Clip(_Unary):
    """clip(x, low, high) = min(max(x, low), high); either bound may be omitted
    (``torch.clamp``). Integer data keeps its dtype with integer bounds and becomes float32
    with a float bound.

    d/dx = 1 inside [low, high], 0 outside.

    >>> ge.ops.clip(p, low=1e-7, high=1 - 1e-7)
    """

    name = "clip"
    saves = ("inputs",)

    def forward(self, xp, x, *, low: float | None = None, high: float | None = None):
        low, high = _bounds(low, high)
        target = _clip_dtype(x.dtype, low, high)
        return xp.clip(x if x.dtype == target else x.astype(target), low, high)

    def dtype(self, x, *, low=None, high=None):
        return None if x is None else _clip_dtype(np.dtype(x), *_bounds(low, high))

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

    def backward(self, xp, grad, inputs, output):
        condition = inputs[0]
        zero = xp.zeros((), dtype=grad.dtype)
        return None, xp.where(condition, grad, zero), xp.where(condition, zero, grad)

    def shape(self, condition, a, b):
        return broadcast_shapes(condition, a, b)

    def forward(self, xp, condition, a, b):
        return xp.where(condition, *_promote(a, b))

    def dtype(self, condition, a, b):
        """a and b's promoted dtype; the condition never decides. Unknown (None) where
        integer data meets a Python number, whose kind (int or float) decides at run time."""
        known = [d for d in (a, b) if d is not None]
        if not known or (len(known) == 1 and np.dtype(known[0]).kind != "f"):
            return None
        return promote_dtypes(*known)
