"""Finite-difference gradient checks for ops (in the spirit of Chainer's check_backward)."""

from __future__ import annotations

import numpy as np

from ..errors import GraphEngineError


class GradcheckError(GraphEngineError, AssertionError):
    """An op's backward disagrees with finite differences; the message has the details."""


def _forward(op, xp, inputs, attrs):
    return op.forward(xp, *inputs, **attrs)


def numerical_gradient(op, inputs, attrs, seed_grad, index, direction, eps, xp=np):
    """Central difference of <seed_grad, op(inputs)> along ``direction`` for input ``index``."""
    plus = list(inputs)
    minus = list(inputs)
    plus[index] = inputs[index] + eps * direction
    minus[index] = inputs[index] - eps * direction
    f_plus = xp.sum(seed_grad * _forward(op, xp, plus, attrs))
    f_minus = xp.sum(seed_grad * _forward(op, xp, minus, attrs))
    return float((f_plus - f_minus) / (2 * eps))


def gradcheck(op, inputs, attrs=None, *, eps=1e-6, atol=1e-5, rtol=1e-4, directions=3, seed=0,
              differentiable=None, xp=np):
    """Check ``op.backward`` against finite differences, in float64.

    For a random seed gradient ``g`` and random unit directions ``d`` per input, compares
    ``<backward(g)[i], d>`` with the central difference of ``<g, forward(x + eps d)>``.
    ``differentiable`` lists which inputs to check (default: floating-point ones).
    Raises :class:`GradcheckError` with eps, tolerances, inputs and both gradients.
    """
    attrs = dict(attrs or {})
    rng = np.random.default_rng(seed)
    inputs = [xp.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else xp.asarray(x)
              for x in inputs]
    output = _forward(op, xp, inputs, attrs)
    seed_grad = xp.asarray(rng.standard_normal(np.shape(output)))
    if differentiable is None:
        differentiable = [np.asarray(x).dtype.kind == "f" for x in inputs]
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
        if tuple(np.shape(g)) != tuple(np.shape(x)):
            raise GradcheckError(
                f"op {op.name!r}: gradient for input {i} has shape {np.shape(g)}, the input has {np.shape(x)} "
                "(sum broadcast gradients back with ge.unbroadcast)"
            )
        for _ in range(directions):
            d = xp.asarray(rng.standard_normal(np.shape(x)))
            norm = float(np.sqrt(np.sum(np.asarray(d) ** 2))) or 1.0
            d = d / norm
            numeric = numerical_gradient(op, inputs, attrs, seed_grad, i, d, eps, xp)
            projected = float(xp.sum(g * d))
            if not abs(projected - numeric) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"op {op.name!r}: backward disagrees with finite differences for input {i}.\n"
                    f"  eps={eps}, atol={atol}, rtol={rtol}, attrs={attrs}\n"
                    f"  analytic <grad, d> = {projected!r}\n  numeric  <grad, d> = {numeric!r}\n"
                    f"  inputs = {[np.asarray(v).tolist() if np.size(v) <= 32 else np.shape(v) for v in inputs]}\n"
                    f"  analytic gradient = {np.asarray(g).tolist() if np.size(g) <= 32 else np.shape(g)}\n"
                    f"  direction = {np.asarray(d).tolist() if np.size(d) <= 32 else np.shape(d)}"
                )
    return True
