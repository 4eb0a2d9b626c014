"""Reductions: sum, mean, max and logsumexp over ``axis`` (None: all), with ``keepdims``."""

import contextlib

import numpy as np

import graphengine as ge
from graphengine import reduced_shape


def _expand(xp, grad, shape, axis, keepdims):
    """Put reduced axes back so ``grad`` broadcasts against the input."""
    if keepdims or axis is None and grad.ndim == len(shape):
        return grad
    axes = ge.normalize_axis(axis, len(shape))
    return xp.reshape(grad, tuple(1 if i in axes else d for i, d in enumerate(shape)))


class _Reduction(ge.Op):
    def shape(self, x, *, axis=None, keepdims=False):
        return reduced_shape(x, axis, keepdims)


class Sum(_Reduction):
    """y = Σ_axis x. The gradient broadcasts back over the summed axes (d/dx = 1).

    >>> ge.ops.sum(h, axis=1, keepdims=True)
    """

    name = "sum"
    saves = ("inputs",)

    def forward(self, xp, x, *, axis=None, keepdims=False):
        return xp.asarray(xp.sum(x, axis=axis, keepdims=keepdims))

    def backward(self, xp, grad, inputs, output, *, axis=None, keepdims=False):
        x = inputs[0]
        return (xp.broadcast_to(_expand(xp, grad, x.shape, axis, keepdims), x.shape).copy(),)


class Mean(_Reduction):
    """y = (1/n) Σ_axis x, n = number of averaged entries. d/dx = 1/n, broadcast back.

    >>> loss = ge.ops.mean(ge.ops.mse(prediction, target))
    """

    name = "mean"
    saves = ("inputs",)

    def forward(self, xp, x, *, axis=None, keepdims=False):
        return xp.asarray(xp.mean(x, axis=axis, keepdims=keepdims))

    def backward(self, xp, grad, inputs, output, *, axis=None, keepdims=False):
        x = inputs[0]
        axes = ge.normalize_axis(axis, x.ndim)
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
        g = _expand(xp, grad, x.shape, axis, keepdims) / n
        return (xp.broadcast_to(g, x.shape).astype(grad.dtype),)


class Max(_Reduction):
    """y = max_axis x. d/dx = 1 at the maximal entry, 0 elsewhere (split evenly on ties).

    >>> ge.ops.max(scores, axis=-1)
    """

    name = "max"
    saves = ("inputs", "output")

    def forward(self, xp, x, *, axis=None, keepdims=False):
        return xp.asarray(xp.max(x, axis=axis, keepdims=keepdims))

    def backward(self, xp, grad, inputs, output, *, axis=None, keepdims=False):
        x = inputs[0]
        out = _expand(xp, output, x.shape, axis, keepdims)
        mask = (x == out).astype(grad.dtype)
        count = xp.sum(mask, axis=axis, keepdims=True)
        return (mask / count * _expand(xp, grad, x.shape, axis, keepdims),)


class LogSumExp(_Reduction):
    """y = log Σ_axis e^x, computed stably as m + log Σ e^(x - m) with m = max_axis x
    (no overflow for any finite x; rows of -inf give -inf).

    d/dx = softmax(x) along the reduced axes. Backward recomputes it from the shifted
    exponentials rather than as e^(x - y): in float32, y ≈ 1e4 is only known to about
    1e-3, which would be the error of every gradient entry.
    """

    name = "logsumexp"
    saves = ("inputs",)

    def forward(self, xp, x, *, axis=None, keepdims=False):
        m = _finite_max(xp, x, axis)
        total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
        with np.errstate(divide="ignore") if xp is np else contextlib.nullcontext():
            s = xp.log(total) + m  # a row of -inf sums to 0: log 0 = -inf is the answer
        if not keepdims:
            s = xp.reshape(s, reduced_shape(x.shape, axis, False))
        return xp.asarray(s)

    def backward(self, xp, grad, inputs, output, *, axis=None, keepdims=False):
        x = inputs[0]
        e = xp.exp(x - _finite_max(xp, x, axis))
        softmax = e / xp.sum(e, axis=axis, keepdims=True)
        return (softmax * _expand(xp, grad, x.shape, axis, keepdims),)


def _finite_max(xp, x, axis):
    """max over ``axis`` (kept), with non-finite maxima (rows of -inf) replaced by 0."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, xp.zeros((), dtype=m.dtype))
