"""Elementwise mathematical functions: erf, trigonometric and hyperbolic functions,
rounding, floating-point tests, and the numerically careful logarithms and exponentials.

Names and semantics follow ``torch``: ``ge.ops.sin(x)`` is ``torch.sin(x)``. Each class
keeps forward, backward and shape rule side by side.

dtype rule: a function whose result must be floating (``sin``, ``erf``, ``log1p``, ...)
keeps a floating input's dtype (float32 stays float32) and turns integer or bool data into
float32, as PyTorch does. ``floor ceil round sign`` keep integer data as it is.
``isnan isinf isfinite`` give bool.

Gradients: ``floor ceil round sign`` are piecewise constant; their gradient is zero
everywhere (PyTorch's choice, also at the jumps), so a graph through them trains nothing
upstream but does not fail. ``isnan isinf isfinite`` give no gradient at all.
"""

import math

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, broadcast_shapes
from graphengine.op import promote_dtypes


def _floating(x):
    """Integer or bool data as float32 (PyTorch's default dtype); floating data unchanged."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _floating_dtype(x):
    if x is None:
        return None
    x = np.dtype(x)
    return x if x.kind == "f" else np.dtype(np.float32)


class _FloatUnary(ge.Op):
    """f(x) elementwise with a floating result: integer data becomes float32."""

    def shape(self, x):
        return x

    def dtype(self, x):
        return _floating_dtype(x)


# --------------------------------------------------------------------------- erf

# W. J. Cody / Cephes (ndtr.c) rational approximations, float64 error below 1e-15:
#   erf(x)  = x · T(x²) / U(x²)                 for |x| <= 1
#   erfc(x) = e^(-x²) · P(x) / Q(x)             for 1 <= x <= 8 (erf = 1 - erfc)
# Coefficients from the highest power down; U and Q have a leading 1 not listed.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _polynomial(x, coefficients, leading_one=False):
    """Horner's rule in x's dtype (Python-float coefficients are weak: no upcast)."""
    acc = x + coefficients[0] if leading_one else x * 0 + coefficients[0]
    for c in coefficients[1:]:
        acc = acc * x + c
    return acc


def erf_values(xp, x):
    """erf(x) for a floating array ``x``, in ``x``'s dtype, with xp operations only.

    float64 agrees with ``math.erf`` to about 1e-16; float32 is correctly rounded to
    within an ulp or two. Used by ``erf`` and by ``gelu(approximate="none")``.
    """
    a = xp.abs(x)
    small = xp.minimum(a, 1)  # each branch sees only arguments it is accurate for
    z = small * small
    inner = small * _polynomial(z, _ERF_T) / _polynomial(z, _ERF_U, leading_one=True)
    large = xp.clip(a, 1, 6)  # erf(6) = 1 - 2e-17: 1 to float64 precision
    tail = xp.exp(-large * large) * _polynomial(large, _ERFC_P) / _polynomial(large, _ERFC_Q, leading_one=True)
    magnitude = xp.where(a <= 1, inner, 1 - tail)
    return xp.where(x < 0, -magnitude, magnitude)  # NaN stays NaN through both wheres


class Erf(_FloatUnary):
    """erf(x) = 2/√π ∫₀ˣ e^(-t²) dt (the Gauss error function), as ``torch.erf``.

    d/dx erf(x) = 2/√π · e^(-x²). Computed with Cody's rational approximations in xp
    operations (no SciPy): float64 error below 1e-15, float32 accurate to an ulp or two.

    >>> ge.ops.erf(x)   # x = [0.0, 0.5, 3.0] gives [0.0, 0.5205, 0.99998]
    """

    name = "erf"
    saves = ("inputs",)

    def forward(self, xp, x):
        return erf_values(xp, _floating(x))

    def backward(self, xp, grad, inputs, output):
        x = _floating(inputs[0])
        return (grad * (_TWO_OVER_SQRT_PI * xp.exp(-x * x)),)


# --------------------------------------------------------------------------- trigonometry

class Sin(_FloatUnary):
    """sin x. d/dx = cos x.

    >>> ge.ops.sin(x)   # x = [0, π/2] gives [0, 1]
    """

    name = "sin"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.sin(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * xp.cos(_floating(inputs[0])),)


class Cos(_FloatUnary):
    """cos x. d/dx = -sin x.

    >>> ge.ops.cos(x)   # x = [0, π] gives [1, -1]
    """

    name = "cos"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.cos(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (-grad * xp.sin(_floating(inputs[0])),)


class Tan(_FloatUnary):
    """tan x. d/dx = 1 + tan² x (the output squared, plus one).

    >>> ge.ops.tan(x)   # x = [0, π/4] gives [0, 1]
    """

    name = "tan"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.tan(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * (1 + output * output),)


class Atan(_FloatUnary):
    """atan x (in (-π/2, π/2)). d/dx = 1 / (1 + x²).

    >>> ge.ops.atan(x)   # x = [0, 1] gives [0, π/4]
    """

    name = "atan"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.arctan(_floating(x))

    def backward(self, xp, grad, inputs, output):
        x = _floating(inputs[0])
        return (grad / (1 + x * x),)


class Sinh(_FloatUnary):
    """sinh x = (eˣ - e⁻ˣ) / 2. d/dx = cosh x.

    >>> ge.ops.sinh(x)   # x = [0, 1] gives [0, 1.1752]
    """

    name = "sinh"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.sinh(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * xp.cosh(_floating(inputs[0])),)


class Cosh(_FloatUnary):
    """cosh x = (eˣ + e⁻ˣ) / 2. d/dx = sinh x.

    >>> ge.ops.cosh(x)   # x = [0, 1] gives [1, 1.5431]
    """

    name = "cosh"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.cosh(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * xp.sinh(_floating(inputs[0])),)


class Asinh(_FloatUnary):
    """asinh x = log(x + √(x² + 1)). d/dx = 1 / √(x² + 1).

    >>> ge.ops.asinh(x)   # x = [0, 1] gives [0, 0.8814]
    """

    name = "asinh"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.arcsinh(_floating(x))

    def backward(self, xp, grad, inputs, output):
        x = _floating(inputs[0])
        return (grad / xp.sqrt(x * x + 1),)


# --------------------------------------------------------------------------- rounding

class _Rounding(ge.Op):
    """A piecewise-constant function: integer data passes unchanged, and the gradient is
    zero everywhere (PyTorch's convention, also at the jumps)."""

    saves = ()

    def shape(self, x, **attrs):
        return x

    def backward(self, xp, grad, inputs, output, **attrs):
        return (xp.zeros_like(grad),)


class Floor(_Rounding):
    """floor x: the largest integer ≤ x, in x's dtype. Gradient: zero everywhere.

    >>> ge.ops.floor(x)   # x = [-1.5, 0.5, 2.0] gives [-2.0, 0.0, 2.0]
    """

    name = "floor"

    def forward(self, xp, x):
        return xp.floor(x) if x.dtype.kind == "f" else x.copy()


class Ceil(_Rounding):
    """ceil x: the smallest integer ≥ x, in x's dtype. Gradient: zero everywhere.

    >>> ge.ops.ceil(x)   # x = [-1.5, 0.5, 2.0] gives [-1.0, 1.0, 2.0]
    """

    name = "ceil"

    def forward(self, xp, x):
        return xp.ceil(x) if x.dtype.kind == "f" else x.copy()


class Round(_Rounding):
    """round(x, decimals=0): to the nearest integer (or multiple of 10^-decimals), halves
    to even, as ``torch.round``. Gradient: zero everywhere.

    >>> ge.ops.round(x)   # x = [0.5, 1.5, 2.5, -0.7] gives [0.0, 2.0, 2.0, -1.0]
    """

    name = "round"

    def forward(self, xp, x, *, decimals: int = 0):
        if x.dtype.kind != "f":
            return x.copy()
        return xp.round(x, _decimals(decimals))

    def shape(self, x, *, decimals=0):
        _decimals(decimals)
        return x


def _decimals(decimals):
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise AttributeSpecError(f"round needs an integer decimals=, got {decimals!r} "
                                 "(for example ge.ops.round(x, decimals=2))")
    return int(decimals)


class Sign(_Rounding):
    """sign x: -1, 0 or 1 in x's dtype (NaN stays NaN). Gradient: zero everywhere.

    >>> ge.ops.sign(x)   # x = [-2.0, 0.0, 3.0] gives [-1.0, 0.0, 1.0]
    """

    name = "sign"

    def forward(self, xp, x):
        if x.dtype.kind == "b":
            return x.copy()
        return xp.sign(x)


# --------------------------------------------------------------------------- tests

class _Test(ge.Op):
    """A floating-point test: bool output, no gradient."""

    saves = ()
    differentiable = False

    def shape(self, x):
        return x

    def dtype(self, x):
        return np.dtype(bool)

    def backward(self, xp, grad, inputs, output):  # pragma: no cover - not differentiable
        return (None,)


class IsNaN(_Test):
    """isnan x: True where x is NaN (never for integer data). Bool, no gradient.

    >>> ge.ops.isnan(x)   # x = [1.0, nan, inf] gives [False, True, False]
    """

    name = "isnan"

    def forward(self, xp, x):
        return xp.isnan(x)


class IsInf(_Test):
    """isinf x: True where x is +inf or -inf. Bool, no gradient.

    >>> ge.ops.isinf(x)   # x = [1.0, nan, -inf] gives [False, False, True]
    """

    name = "isinf"

    def forward(self, xp, x):
        return xp.isinf(x)


class IsFinite(_Test):
    """isfinite x: True where x is neither NaN nor ±inf. Bool, no gradient.

    >>> ge.ops.isfinite(x)   # x = [1.0, nan, inf] gives [True, False, False]
    """

    name = "isfinite"

    def forward(self, xp, x):
        return xp.isfinite(x)


# --------------------------------------------------------------------------- logs and exps

class Rsqrt(_FloatUnary):
    """rsqrt x = 1 / √x (x > 0). d/dx = -½ x^(-3/2) = -½ · rsqrt(x)³.

    >>> ge.ops.rsqrt(x)   # x = [1.0, 4.0] gives [1.0, 0.5]
    """

    name = "rsqrt"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.reciprocal(xp.sqrt(_floating(x)))

    def backward(self, xp, grad, inputs, output):
        return (grad * (-0.5 * output * output * output),)


class Log1p(_FloatUnary):
    """log1p x = log(1 + x), accurate for small x. d/dx = 1 / (1 + x).

    >>> ge.ops.log1p(x)   # x = [0.0, 1e-10] gives [0.0, 1e-10]
    """

    name = "log1p"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.log1p(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad / (1 + _floating(inputs[0])),)


class Expm1(_FloatUnary):
    """expm1 x = eˣ - 1, accurate for small x. d/dx = eˣ = expm1(x) + 1.

    >>> ge.ops.expm1(x)   # x = [0.0, 1e-10] gives [0.0, 1e-10]
    """

    name = "expm1"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.expm1(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * (output + 1),)


class Log2(_FloatUnary):
    """log₂ x (x > 0). d/dx = 1 / (x · ln 2).

    >>> ge.ops.log2(x)   # x = [1.0, 8.0] gives [0.0, 3.0]
    """

    name = "log2"
    saves = ("inputs",)

    def forward(self, xp, x):
        return xp.log2(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad / (_floating(inputs[0]) * math.log(2.0)),)


class Exp2(_FloatUnary):
    """2ˣ. d/dx = 2ˣ · ln 2.

    >>> ge.ops.exp2(x)   # x = [0.0, 3.0] gives [1.0, 8.0]
    """

    name = "exp2"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.exp2(_floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * (output * math.log(2.0)),)


class LogAddExp(ge.Op):
    """logaddexp(a, b) = log(eᵃ + eᵇ), without overflow (broadcasting), as ``torch.logaddexp``.

    d/da = e^(a - out) = σ(a - b), d/db = e^(b - out). Integer data becomes float32;
    int data meeting float data takes the float's dtype.

    >>> ge.ops.logaddexp(a, b)   # a = 1000.0, b = 1000.0 gives 1000.6931
    """

    name = "logaddexp"
    saves = ("inputs", "output")

    def forward(self, xp, a, b):
        a, b = _both_floating(a, b)
        return xp.logaddexp(a, b)

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True)):
        a, b = _both_floating(*inputs)
        ga = grad * xp.exp(a - output) if needs_grad[0] else None
        gb = grad * xp.exp(b - output) if needs_grad[1] else None
        return ga, gb

    def shape(self, a, b):
        return broadcast_shapes(a, b)

    def dtype(self, a, b):
        return _floating_dtype(promote_dtypes(a, b))


def _both_floating(a, b):
    """Two arrays (or a Python number and an array) in one floating dtype, by the promotion
    rule: floating data keeps its dtype, integer data meeting it takes it, integer data
    alone becomes float32."""
    da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
    target = _floating_dtype(promote_dtypes(da, db))
    if target is None:
        return a, b
    if da is not None and da != target:
        a = a.astype(target)
    if db is not None and db != target:
        b = b.astype(target)
    return a, b
