"""Activations of the textbooks and ``torch.nn.functional``, each with its
derivative beside it.

The sigmoid family is computed in forms that do not overflow: exp only ever sees -|x|,
so float32 inputs up to |x| = 1e4 (and beyond) give finite values and gradients.

dtype rule: float data keeps its dtype; integer or bool data becomes float32 (PyTorch's
default dtype), except for ``relu`` and ``identity``, which keep integer data integer.
"""

import contextlib
import math
from typing import Literal

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError

from .special import _floating, _floating_dtype, erf_values


class _Activation(ge.Op):
    elementwise = True

    def shape(self, x, **attrs):
        return x

    def dtype(self, x, **attrs):
        """Float data keeps its dtype; integer or bool data gives float32."""
        return _floating_dtype(x)


class _DtypeKeeping(_Activation):
    def dtype(self, x, **attrs):
        return x


def _overflow_ignored(xp):
    """NumPy warns when exp overflows to inf; CuPy does not warn."""
    return np.errstate(over="ignore") if xp is np else contextlib.nullcontext()


def _stable_sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(_Activation):
    """σ(x) = 1 / (1 + e^(-x)). σ'(x) = σ(x)(1 - σ(x)).

    Forward is 1 / (1 + e^(-x)) in four passes over the data, in place in its result (or
    in the engine's ``out=`` buffer): stable as written, since where e^(-x) overflows
    (x < -88 in float32) the result is 1 / inf = 0, the correctly rounded value; the
    overflow warning is silenced. Backward is three passes, also into ``out=`` if given.

    >>> p = ge.ops.sigmoid(x @ W + b)
    """

    name = "sigmoid"
    saves = ("output",)
    inline_backward = ("{grad} * {output} * (1 - {output})",)  # checked against backward by check_op

    def forward(self, xp, x, out=None):
        if x.dtype.kind != "f":
            x = x.astype(np.float32)  # integer data: float32, as in PyTorch
        e = xp.empty_like(x) if out is None else out  # an array even for 0-d x
        with _overflow_ignored(xp):
            xp.negative(x, out=e)
            xp.exp(e, out=e)
        e += 1
        return xp.reciprocal(e, out=e)

    def backward(self, xp, grad, inputs, output, out=None):
        d = xp.subtract(1, output, out=xp.empty_like(output) if out is None or out[0] is None else out[0])
        d *= output
        d *= grad
        return (d,)


class Tanh(_Activation):
    """tanh(x) = 2σ(2x) - 1. tanh'(x) = 1 - tanh²(x)."""

    name = "tanh"
    promote_inputs = (0,)  # integer data gets a cast node to float32 (graph._infer), so the template sees floats
    saves = ("output",)
    inline_forward = "xp.tanh({0})"
    inline_backward = ("{grad} * (1 - {output} * {output})",)  # backward is derived from it

    def forward(self, xp, x, out=None):
        return xp.tanh(x, out=out)


class ReLU(_DtypeKeeping):
    """relu(x) = max(0, x). relu'(x) = 1 for x > 0, else 0."""

    name = "relu"
    saves = ("output",)
    inline_forward = "xp.maximum({0}, 0)"
    inline_backward = ("{grad} * ({output} > 0)",)  # backward is derived from it

    def forward(self, xp, x, out=None):
        return xp.maximum(x, 0, out=out)


class LeakyReLU(_Activation):
    """leaky_relu(x) = x for x > 0, else alpha·x (Maas et al. 2013). Derivative 1 or alpha.

    >>> ge.ops.leaky_relu(h, alpha=0.1)
    """

    name = "leaky_relu"
    saves = ("inputs",)

    def forward(self, xp, x, *, alpha: float = 0.01):
        x = _floating(x)
        return xp.where(x > 0, x, x * float(alpha))  # float(): a NumPy scalar would upcast

    def backward(self, xp, grad, inputs, output, *, alpha=0.01):
        x = inputs[0]
        return (xp.where(x > 0, grad, grad * float(alpha)),)


class ELU(_Activation):
    """elu(x) = x for x > 0, else alpha·(e^x - 1). Derivative 1, or elu(x) + alpha for x ≤ 0."""

    name = "elu"
    saves = ("inputs", "output")

    def forward(self, xp, x, *, alpha: float = 1.0):
        x = _floating(x)
        return xp.where(x > 0, x, float(alpha) * xp.expm1(xp.minimum(x, 0)))

    def backward(self, xp, grad, inputs, output, *, alpha=1.0):
        x = inputs[0]
        return (xp.where(x > 0, grad, grad * (output + float(alpha))),)


class Softplus(_Activation):
    """softplus(x) = log(1 + e^x), computed as max(x, 0) + log(1 + e^(-|x|)) so that it
    never overflows. Derivative σ(x)."""

    name = "softplus"
    saves = ("inputs",)

    def forward(self, xp, x):
        return _softplus(xp, _floating(x))

    def backward(self, xp, grad, inputs, output):
        return (grad * _stable_sigmoid(xp, inputs[0]),)


_GELU_C = math.sqrt(2 / math.pi)
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise AttributeSpecError(f"gelu takes approximate='none' (the exact x·Φ(x)) or 'tanh', got {approximate!r}")
    return approximate


class GELU(_Activation):
    """GELU (Hendrycks & Gimpel), as ``F.gelu(x, approximate=...)``:

    * ``approximate="none"`` (default): the exact x·Φ(x) = 0.5·x·(1 + erf(x/√2));
      derivative Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π).
    * ``approximate="tanh"``: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), within 1e-3 of
      the exact form; derivative 0.5(1 + t) + 0.5·x·(1 - t²)·√(2/π)(1 + 3·0.044715x²).

    erf is computed in xp operations (``ge.ops.erf``), so both forms run on every backend.

    >>> ge.ops.gelu(h)                      # x = 1.0 gives 0.8413
    >>> ge.ops.gelu(h, approximate="tanh")  # x = 1.0 gives 0.8412
    """

    name = "gelu"
    saves = ("inputs",)

    def forward(self, xp, x, *, approximate: Literal["none", "tanh"] = "none"):
        x = _floating(x)
        if _approximate(approximate) == "tanh":
            return 0.5 * x * (1 + xp.tanh(_GELU_C * (x + 0.044715 * x * x * x)))
        return 0.5 * x * (1 + erf_values(xp, x * _INV_SQRT2))

    def backward(self, xp, grad, inputs, output, *, approximate="none"):
        x = inputs[0]
        if _approximate(approximate) == "tanh":
            t = xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
            dt = (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
            return (grad * (0.5 * (1 + t) + 0.5 * x * dt),)
        cdf = 0.5 * (1 + erf_values(xp, x * _INV_SQRT2))
        return (grad * (cdf + x * (_INV_SQRT_2PI * xp.exp(-0.5 * x * x))),)

    def shape(self, x, *, approximate="none"):
        _approximate(approximate)
        return x


class SiLU(_Activation):
    """silu(x) = x·σ(x) (also called swish). Derivative σ(x)(1 + x(1 - σ(x)))."""

    name = "silu"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return x * _stable_sigmoid(xp, x)

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        s = _stable_sigmoid(xp, x)
        return (grad * (s * (1 + x * (1 - s))),)


class Softmax(_Activation):
    """softmax_j(z) = e^(z_j) / Σ_k e^(z_k) along ``axis`` (shifted by max z for stability).

    Backward: s ⊙ (g - Σ g⊙s).

    >>> ge.ops.softmax(z)   # z = [1.2, 5.1, 2.7] gives [0.018, 0.90, 0.08]
    """
    elementwise = False  # each output mixes the whole axis

    name = "softmax"
    saves = ("output",)

    def forward(self, xp, z, *, axis: int = -1):
        z = _floating(z)
        e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
        return e / xp.sum(e, axis=axis, keepdims=True)

    def backward(self, xp, grad, inputs, output, *, axis=-1):
        s = output
        return (s * (grad - xp.sum(grad * s, axis=axis, keepdims=True)),)


class LogSoftmax(_Activation):
    """log softmax(z) = z - logsumexp(z) along ``axis``. Backward: g - softmax(z)·Σg."""
    elementwise = False  # each output mixes the whole axis

    name = "log_softmax"
    saves = ("output",)

    def forward(self, xp, z, *, axis: int = -1):
        z = _floating(z)
        shifted = z - xp.max(z, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    def backward(self, xp, grad, inputs, output, *, axis=-1):
        return (grad - xp.exp(output) * xp.sum(grad, axis=axis, keepdims=True),)


class Step(_Activation):
    """Unit step (Heaviside), as the perceptron uses it: h(x) = 1 for x > 0, 0 for x ≤ 0
    (the perceptron's threshold activation: y = 1 exactly when w·x > θ).

    Its derivative is zero almost everywhere (undefined at 0), so no gradient flows
    through it: it is ``differentiable = False`` and a network built on it cannot be
    trained by backprop (the perceptron rule trains it instead).

    >>> ge.ops.step(x @ w - theta)
    """

    name = "step"
    saves = ()
    differentiable = False

    def forward(self, xp, x):
        return (x > 0).astype(x.dtype if x.dtype.kind == "f" else "float32")

    def dtype(self, x):
        if x is None:
            return None
        return x if np.dtype(x).kind == "f" else np.dtype("float32")

    def backward(self, xp, grad, inputs, output):
        return (None,)


class Identity(_DtypeKeeping):
    """identity(x) = x. Derivative 1."""

    name = "identity"
    saves = ()

    def forward(self, xp, x):
        return xp.asarray(x).copy()

    def backward(self, xp, grad, inputs, output):
        return (grad,)


class LogSigmoid(_Activation):
    """logsigmoid(x) = log σ(x) = -softplus(-x), computed as min(x, 0) - log(1 + e^(-|x|))
    so that it never overflows (``F.logsigmoid``). Derivative 1 - σ(x) = σ(-x).

    >>> ge.ops.logsigmoid(x)   # x = [0.0, -100.0] gives [-0.6931, -100.0]
    """

    name = "logsigmoid"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, xp, grad, inputs, output):
        return (grad * _stable_sigmoid(xp, -inputs[0]),)


class Hardswish(_Activation):
    """hardswish(x) = x · relu6(x + 3) / 6 (Howard et al. 2019, ``F.hardswish``).

    Derivative (PyTorch's, also at the kinks): 0 for x ≤ -3, x/3 + 1/2 for -3 < x < 3,
    1 for x ≥ 3.

    >>> ge.ops.hardswish(x)   # x = [-4.0, 1.0, 4.0] gives [0.0, 0.6667, 4.0]
    """

    name = "hardswish"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return x * (xp.clip(x + 3, 0, 6) / 6)

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        local = xp.where(x <= -3, 0 * x, xp.where(x < 3, x / 3 + 0.5, 0 * x + 1))
        return (grad * local,)


class Hardsigmoid(_Activation):
    """hardsigmoid(x) = relu6(x + 3) / 6 (``F.hardsigmoid``): 0 below -3, 1 above 3.

    Derivative (PyTorch's): 1/6 for -3 < x < 3, else 0.

    >>> ge.ops.hardsigmoid(x)   # x = [-4.0, 0.0, 1.5] gives [0.0, 0.5, 0.75]
    """

    name = "hardsigmoid"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return xp.clip(x + 3, 0, 6) / 6

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        return (grad * ((x > -3) & (x < 3)) / 6,)


class Mish(_Activation):
    """mish(x) = x · tanh(softplus(x)) (Misra 2019, ``F.mish``).

    Derivative tanh(sp) + x · σ(x) · (1 - tanh²(sp)), sp = softplus(x).

    >>> ge.ops.mish(x)   # x = [0.0, 1.0] gives [0.0, 0.8651]
    """

    name = "mish"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return x * xp.tanh(_softplus(xp, x))

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        t = xp.tanh(_softplus(xp, x))
        return (grad * (t + x * _stable_sigmoid(xp, x) * (1 - t * t)),)


def _softplus(xp, x):
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class SELU(_Activation):
    """selu(x) = scale · (x for x > 0, else alpha·(eˣ - 1)), with PyTorch's constants
    alpha = 1.6732632423543772848, scale = 1.0507009873554804934 (Klambauer et al. 2017).

    Derivative scale for x > 0, else scale·alpha·eˣ.

    >>> ge.ops.selu(x)   # x = [-1.0, 1.0] gives [-1.1113, 1.0507]
    """

    name = "selu"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return _SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        return (grad * xp.where(x > 0, 0 * x + _SELU_SCALE, (_SELU_SCALE * _SELU_ALPHA) * xp.exp(xp.minimum(x, 0))),)


def _celu_alpha(alpha):
    alpha = float(alpha)  # a NumPy float64 scalar would upcast float32 data
    if alpha == 0:
        raise AttributeSpecError("celu needs alpha != 0 (it divides by alpha); the default is alpha=1.0")
    return alpha


class CELU(_Activation):
    """celu(x) = max(0, x) + min(0, alpha·(e^(x/alpha) - 1)) (Barron 2017, ``F.celu``).

    Derivative 1 for x > 0, else e^(x/alpha). alpha = 0 is refused.

    >>> ge.ops.celu(x, alpha=2.0)   # x = [-1.0, 1.0] gives [-0.7869, 1.0]
    """

    name = "celu"
    saves = ("inputs",)

    def forward(self, xp, x, *, alpha: float = 1.0):
        alpha = _celu_alpha(alpha)
        x = _floating(x)
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0) / alpha))

    def backward(self, xp, grad, inputs, output, *, alpha=1.0):
        alpha = _celu_alpha(alpha)
        x = inputs[0]
        return (grad * xp.where(x > 0, 0 * x + 1, xp.exp(xp.minimum(x, 0) / alpha)),)

    def shape(self, x, *, alpha=1.0):
        _celu_alpha(alpha)
        return x


class Softsign(_Activation):
    """softsign(x) = x / (1 + |x|) (``F.softsign``). Derivative 1 / (1 + |x|)².

    >>> ge.ops.softsign(x)   # x = [-3.0, 1.0] gives [-0.75, 0.5]
    """

    name = "softsign"
    saves = ("inputs",)

    def forward(self, xp, x):
        x = _floating(x)
        return x / (1 + xp.abs(x))

    def backward(self, xp, grad, inputs, output):
        d = 1 + xp.abs(inputs[0])
        return (grad / (d * d),)
