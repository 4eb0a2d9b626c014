"""Applying regularizers around an optimizer step: the core of ``fit``'s regularization.

The order in one training step::

    run = g.forward(feeds).backward(loss)
    grads = ge.add_penalty_gradients(regs, params, run)   # kind "penalty": + λ∇Ω(θ)
    opt.step(grads)
    ge.apply_after_step(regs, params, opt.hyper["lr"])     # kind "decay", then "constraint"

or all three in one call: ``ge.regularized_step(opt, run, regs)``. ``penalty_value`` gives
the penalty part of the loss, to report it next to the data loss (the graph's loss node
does not include it). In a compiled step (``ge.compile_step``, which ``fit`` uses) the
penalty gradients are a ``before_update`` hook and ``apply_after_step`` an ``after_update``
hook. The regularizers themselves (L2, L1, weight decay, max-norm) are plugins, created
with ``ge.regularizers.create(name, strength=...)``; these functions are also importable
from ``graphengine.plugins.regularizers``, where they lived before.
"""

from __future__ import annotations

from .clipping import grad_mapping
from .errors import GraphStructureError
from .node import PARAM, Node
from .regularizer import KINDS, Regularizer


def check_regularizers(regularizers) -> list:
    """``regularizers`` as a list, each checked to be a :class:`ge.Regularizer` instance of a known kind."""
    regs = list(regularizers)
    for r in regs:
        if isinstance(r, (type, str)):
            raise GraphStructureError(
                f"regularizers must be instances, got {r!r}; create one with "
                "ge.regularizers.create('l2', strength=1e-4)"
            )
        if not isinstance(r, Regularizer):
            raise GraphStructureError(f"expected a ge.Regularizer, got {type(r).__name__}: {r!r}")
        if r.kind not in KINDS:
            raise GraphStructureError(
                f"regularizer {r.name!r} has kind {r.kind!r}; it must be one of {', '.join(KINDS)}"
            )
    return regs


def _check_params(params) -> list:
    params = list(params)
    for p in params:
        if not isinstance(p, Node) or p.kind != PARAM:
            raise GraphStructureError(f"regularizers act on param nodes (g.params()); got {p!r}")
    return params


def penalty_value(regularizers, params) -> float:
    """Σ over penalty regularizers and params of strength · penalty(θ), as a Python float."""
    regs = [r for r in check_regularizers(regularizers) if r.kind == "penalty"]
    total = 0.0
    for p in _check_params(params):
        xp = p.graph.xp
        for r in regs:
            total += r.strength * float(r.penalty(xp, p.value))
    return total


def add_penalty_gradients(regularizers, params, grads) -> dict:
    """A new mapping param -> gradient with every penalty's gradient added.

    ``grads`` is a Run (after backward; its ``param_grads()``) or a mapping. Every param
    in ``params`` gets the penalty gradient, also one the loss did not reach; params not in
    ``params`` (biases you chose not to regularize) pass through unchanged.
    """
    regs = [r for r in check_regularizers(regularizers) if r.kind == "penalty"]
    out = grad_mapping(grads, "add_penalty_gradients")
    if not regs:
        return out
    for p in _check_params(params):
        xp = p.graph.xp
        value = p.value
        extra = None
        for r in regs:
            g = r.gradient(xp, value)
            extra = g if extra is None else extra + g
        current = out.get(p)
        if current is None:
            out[p] = extra.astype(value.dtype, copy=False)
        else:
            out[p] = current + extra.astype(current.dtype, copy=False)
    return out


def apply_after_step(regularizers, params, lr: float) -> None:
    """Apply the decays (in list order), then the constraints, to each param's value."""
    regs = check_regularizers(regularizers)
    ordered = [r for r in regs if r.kind == "decay"] + [r for r in regs if r.kind == "constraint"]
    if not ordered:
        return
    lr = float(lr)
    for p in _check_params(params):
        xp = p.graph.xp
        value = p.value
        for r in ordered:
            value = r.apply(xp, value, lr)
        p.value = value


def regularized_step(optimizer, grads, regularizers, params=None) -> None:
    """Penalty gradients, ``optimizer.step``, then decays and constraints, in one call.

    ``params`` (default: the optimizer's params) are the ones regularized.
    """
    params = optimizer.params if params is None else params
    optimizer.step(add_penalty_gradients(regularizers, params, grads))
    apply_after_step(regularizers, params, optimizer.hyper["lr"])


__all__ = ["add_penalty_gradients", "apply_after_step", "check_regularizers", "penalty_value", "regularized_step"]
