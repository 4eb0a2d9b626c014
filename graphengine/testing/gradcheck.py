"""Finite-difference gradient checks for ops (in the spirit of Chainer's check_backward).

Everything is computed with the backend's array module ``xp`` (NumPy or CuPy): the inputs,
the seed gradient and the directions are moved to the backend once, and the op's forward
and backward run there. Values cross to the host only explicitly (``backends.asnumpy``),
where a number is compared or printed; nothing here calls ``np.asarray`` on an array that
may live on a GPU (CuPy refuses that implicit conversion).
"""

from __future__ import annotations

import numpy as np

from ..backends import Backend, asnumpy, get_backend, xp_name
from ..errors import GraphEngineError


class GradcheckError(GraphEngineError, AssertionError):
    """An op's backward disagrees with finite differences; the message has the details."""


def _forward(op, xp, inputs, attrs):
    return op.forward(xp, *inputs, **attrs)


def _resolve_xp(xp):
    """``xp`` as an array module: a module as it is, a backend name or Backend resolved."""
    if xp is None:
        return np
    if isinstance(xp, (str, Backend)):
        return get_backend(xp).xp
    return xp


def _number(xp, value) -> float:
    """A 0-d array (or scalar) of ``xp`` as a Python float, copied to the host explicitly."""
    return float(asnumpy(value, xp).reshape(()))


def _dtype_kind(value) -> str:
    """The dtype kind of an input without converting it: arrays by their dtype, host
    values (lists, Python numbers) through NumPy."""
    dtype = getattr(value, "dtype", None)
    return np.dtype(dtype).kind if dtype is not None else np.asarray(value).dtype.kind


def _show(xp, value):
    """An array for an error message: its values (host copy) when small, else its shape."""
    if value is None:
        return None
    shape = tuple(getattr(value, "shape", ()))
    return asnumpy(value, xp).tolist() if int(np.prod(shape, dtype=np.int64)) <= 32 else shape


def numerical_gradient(op, inputs, attrs, seed_grad, index, direction, eps, xp=np):
    """Central difference of <seed_grad, op(inputs)> along ``direction`` for input ``index``.

    ``inputs``, ``seed_grad`` and ``direction`` are arrays of ``xp``; the result is a
    Python float (the one explicit device-to-host transfer).
    """
    xp = _resolve_xp(xp)
    plus = list(inputs)
    minus = list(inputs)
    plus[index] = inputs[index] + eps * direction
    minus[index] = inputs[index] - eps * direction
    f_plus = xp.sum(seed_grad * _forward(op, xp, plus, attrs))
    f_minus = xp.sum(seed_grad * _forward(op, xp, minus, attrs))
    return _number(xp, (f_plus - f_minus) / (2 * eps))


def gradcheck(op, inputs, attrs=None, *, eps=1e-6, atol=1e-5, rtol=1e-4, directions=3, seed=0,
              differentiable=None, xp=np):
    """Check ``op.backward`` against finite differences, in float64.

    For a random seed gradient ``g`` and random unit directions ``d`` per input, compares
    ``<backward(g)[i], d>`` with the central difference of ``<g, forward(x + eps d)>``.
    ``differentiable`` lists which inputs to check (default: floating-point ones).
    ``xp`` is the array module to run on (``numpy``, ``cupy``), or a backend name
    (``"cupy"``); ``inputs`` may be host arrays (copied to ``xp`` once) or arrays of ``xp``.
    The random seed gradient and directions come from ``numpy.random.default_rng(seed)``,
    so a check draws the same numbers on every backend.
    Raises :class:`GradcheckError` with eps, tolerances, inputs and both gradients.
    """
    xp = _resolve_xp(xp)
    attrs = dict(attrs or {})
    rng = np.random.default_rng(seed)
    inputs = [xp.asarray(x, dtype=np.float64) if _dtype_kind(x) == "f" else xp.asarray(x) for x in inputs]
    output = _forward(op, xp, inputs, attrs)
    out_shape = tuple(getattr(output, "shape", ()))
    seed_grad = xp.asarray(rng.standard_normal(out_shape))
    if differentiable is None:
        differentiable = [_dtype_kind(x) == "f" for x in inputs]
    kwargs = dict(attrs)
    if type(op).signature_info()[3]:
        kwargs["needs_grad"] = tuple(bool(d) for d in differentiable)
    analytic = op.backward(xp, seed_grad, tuple(inputs), output, **kwargs)
    analytic = tuple(analytic)
    if len(analytic) != len(inputs):
        raise GradcheckError(f"op {op.name!r}: backward returned {len(analytic)} gradients for {len(inputs)} inputs")
    for i, x in enumerate(inputs):
        if not differentiable[i]:
            continue
        g = analytic[i]
        if g is None:
            raise GradcheckError(f"op {op.name!r}: backward returned None for differentiable input {i}")
        host_scalar = xp is np and isinstance(g, np.generic)  # NumPy turns 0-d results into scalars
        if not (isinstance(g, xp.ndarray) or host_scalar):
            raise GradcheckError(
                f"op {op.name!r}: backward returned a {type(g).__module__}.{type(g).__name__} for input {i} on "
                f"the {xp_name(xp)!r} backend; gradients must be arrays of the backend's module (compute them "
                "with the xp the op is handed, not numpy, so nothing is copied between host and device)"
            )
        if tuple(g.shape) != tuple(x.shape):
            raise GradcheckError(
                f"op {op.name!r}: gradient for input {i} has shape {tuple(g.shape)}, the input has {tuple(x.shape)} "
                "(sum broadcast gradients back with ge.unbroadcast)"
            )
        for _ in range(directions):
            d_host = rng.standard_normal(tuple(x.shape))
            d_host = d_host / (float(np.sqrt(np.sum(d_host * d_host))) or 1.0)
            d = xp.asarray(d_host)
            numeric = numerical_gradient(op, inputs, attrs, seed_grad, i, d, eps, xp)
            projected = _number(xp, xp.sum(g * d))
            if not abs(projected - numeric) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"op {op.name!r}: backward disagrees with finite differences for input {i} "
                    f"(backend {xp_name(xp)!r}).\n"
                    f"  eps={eps}, atol={atol}, rtol={rtol}, attrs={attrs}\n"
                    f"  analytic <grad, d> = {projected!r}\n  numeric  <grad, d> = {numeric!r}\n"
                    f"  inputs = {[_show(xp, v) for v in inputs]}\n"
                    f"  analytic gradient = {_show(xp, g)}\n"
                    f"  direction = {_show(xp, d_host)}"
                )
    return True
