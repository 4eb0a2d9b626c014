"""Gradient clipping, applied to the gradients between backward and the optimizer step::

    import graphengine as ge

    run = g.forward(feeds).backward(loss)
    opt.step(ge.clip_grad_norm(run, max_norm=1.0))      # or ge.clip_grad_value(run, 0.5)

Every function takes a Run (after ``backward``; its ``param_grads()`` are used) or a
mapping param -> gradient, and returns a new dict param -> gradient; the run and the
mapping given are not changed. In a compiled step (``ge.compile_step``) or ``fit``, the
same functions run as ``before_update`` hooks. They are also importable from
``graphengine.plugins.optimizers``, where they lived before.
"""

from __future__ import annotations

import math

from .errors import DtypeError, GraphEngineError, NonFiniteError


class ClipError(GraphEngineError, ValueError):
    """A clipping threshold is not a positive finite number."""


def grad_mapping(grads, who: str) -> dict:
    """``grads`` (a Run after backward, or a mapping param -> gradient) as a new dict.

    ``who`` names the caller in the error raised for anything else.
    """
    if hasattr(grads, "param_grads"):
        return dict(grads.param_grads())
    if hasattr(grads, "items"):
        return dict(grads.items())
    raise DtypeError(
        f"{who} takes a Run (after run.backward(loss)) or a mapping param -> gradient, got {type(grads).__name__}"
    )


def _threshold(what, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ClipError(f"{what} must be a positive number, got {value!r}") from None
    if not (x > 0 and math.isfinite(x)):
        raise ClipError(f"{what} must be a positive finite number, got {value!r}")
    return x


def _squared_norm(g) -> float:
    return float((g * g).sum(dtype="float64"))


def global_grad_norm(grads) -> float:
    """‖g‖₂ over all gradients together: √(Σ over params of Σ g²), accumulated in float64."""
    total = 0.0
    for g in grad_mapping(grads, "global_grad_norm").values():
        if g is not None:
            total += _squared_norm(g)
    return math.sqrt(total)


def clip_grad_norm(grads, max_norm: float, *, error_if_nonfinite: bool = True) -> dict:
    """Scale all gradients by one factor so their global norm is at most ``max_norm``.

    With N = :func:`global_grad_norm`, every gradient becomes g · max_norm / N when
    N > max_norm, and is returned unchanged otherwise (the direction is kept). A NaN or
    Inf gradient cannot be clipped: it raises ``ge.NonFiniteError`` naming the param
    (``error_if_nonfinite=False`` passes the gradients through unchanged instead).
    """
    max_norm = _threshold("clip_grad_norm: max_norm", max_norm)
    mapping = grad_mapping(grads, "clip_grad_norm")
    norm = global_grad_norm(mapping)
    if not math.isfinite(norm):
        if not error_if_nonfinite:
            return mapping
        bad = [repr(getattr(k, "name", k)) for k, g in mapping.items()
               if g is not None and not math.isfinite(_squared_norm(g))]
        raise NonFiniteError(
            f"clip_grad_norm: the gradient of {', '.join(bad) or 'a param'} contains NaN or Inf (or overflows), "
            "so it cannot be clipped. Find where it starts with g.forward(feeds, check_finite=True), "
            "or clip by value first (clip_grad_value)."
        )
    if norm <= max_norm:
        return mapping
    scale = max_norm / norm
    return {k: (None if g is None else g * g.dtype.type(scale)) for k, g in mapping.items()}


def clip_grad_value(grads, clip_value: float) -> dict:
    """Clip every gradient entry into [−clip_value, clip_value] (NaN entries stay NaN)."""
    clip_value = _threshold("clip_grad_value: clip_value", clip_value)
    return {k: (None if g is None else g.clip(-clip_value, clip_value))
            for k, g in grad_mapping(grads, "clip_grad_value").items()}


__all__ = ["ClipError", "clip_grad_norm", "clip_grad_value", "global_grad_norm", "grad_mapping"]
