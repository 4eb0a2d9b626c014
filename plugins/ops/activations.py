"""Activations from the lecture decks, each with its derivative beside it.

The sigmoid family is computed in forms that do not overflow: exp only ever sees -|x|,
so float32 inputs up to |x| = 1e4 (and beyond) give finite values and gradients.
"""

import contextlib
import math

import numpy as np

import graphengine as ge


class _Activation(ge.Op):
    def shape(self, x, **attrs):
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
            x = x.astype(np.float64)  # integer data: the float result NumPy's exp gives
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
    saves = ("output",)
    inline_forward = "xp.tanh({0})"
    inline_backward = ("{grad} * (1 - {output} * {output})",)  # backward is derived from it

    def forward(self, xp, x, out=None):
        return xp.tanh(x, out=out)


class ReLU(_Activation):
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

    def forward(self, xp, x, *, alpha=0.01):
        return xp.where(x > 0, x, x * float(alpha))  # float(): a NumPy scalar would upcast

    def backward(self, xp, grad, inputs, output, *, alpha=0.01):
        x = inputs[0]
        return (xp.where(x > 0, grad, grad * float(alpha)),)


class ELU(_Activation):
    """elu(x) = x for x > 0, else alpha·(e^x - 1). Derivative 1, or elu(x) + alpha for x ≤ 0."""

    name = "elu"
    saves = ("inputs", "output")

    def forward(self, xp, x, *, alpha=1.0):
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
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, xp, grad, inputs, output):
        return (grad * _stable_sigmoid(xp, inputs[0]),)


_GELU_C = math.sqrt(2 / math.pi)


class GELU(_Activation):
    """GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel).

    The tanh form needs no erf, so it runs on every backend; it differs from the exact
    form x·Φ(x) = 0.5·x·(1 + erf(x/√2)) by less than 1e-3.
    """

    name = "gelu"
    saves = ("inputs",)

    def forward(self, xp, x):
        return 0.5 * x * (1 + xp.tanh(_GELU_C * (x + 0.044715 * x * x * x)))

    def backward(self, xp, grad, inputs, output):
        x = inputs[0]
        t = xp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        dt = (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
        return (grad * (0.5 * (1 + t) + 0.5 * x * dt),)


class SiLU(_Activation):
    """silu(x) = x·σ(x) (also called swish). Derivative σ(x)(1 + x(1 - σ(x)))."""

    name = "silu"
    saves = ("inputs",)

    def forward(self, xp, x):
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

    name = "softmax"
    saves = ("output",)

    def forward(self, xp, z, *, axis=-1):
        e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
        return e / xp.sum(e, axis=axis, keepdims=True)

    def backward(self, xp, grad, inputs, output, *, axis=-1):
        s = output
        return (s * (grad - xp.sum(grad * s, axis=axis, keepdims=True)),)


class LogSoftmax(_Activation):
    """log softmax(z) = z - logsumexp(z) along ``axis``. Backward: g - softmax(z)·Σg."""

    name = "log_softmax"
    saves = ("output",)

    def forward(self, xp, z, *, axis=-1):
        shifted = z - xp.max(z, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    def backward(self, xp, grad, inputs, output, *, axis=-1):
        return (grad - xp.exp(output) * xp.sum(grad, axis=axis, keepdims=True),)


class Step(_Activation):
    """Unit step (Heaviside), as deck 002 defines it: h(x) = 1 for x > 0, 0 for x ≤ 0
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


class Identity(_Activation):
    """identity(x) = x. Derivative 1."""

    name = "identity"
    saves = ()

    def forward(self, xp, x):
        return xp.asarray(x).copy()

    def backward(self, xp, grad, inputs, output):
        return (grad,)
