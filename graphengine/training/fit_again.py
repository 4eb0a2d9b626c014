"""Training a model again: what ``fit`` needs to decide whether it continues with the
model's earlier trainer (``model.trainer``) or makes a new one on the same forward path.

:func:`loaded_training` reads what ``ge.nn.load`` restored (loss, metrics, optimizer);
:func:`continuing_changes` lists the arguments that differ from the earlier fit's;
:func:`set_hyper` gives the optimizer that goes on training new hyper-parameters."""

from __future__ import annotations

import numpy as np

from ..optimizer import Optimizer
from .arguments import check_keywords, is_dtype
from .metrics import resolve_metric


def loaded_training(model) -> dict:
    """What ``ge.nn.load`` restored for a model not trained in this session: ``loss`` and
    ``metrics`` (its ``training_config``) and ``optimizer`` (``model.optimizer``), those present."""
    from ..nn.module import Module

    if not isinstance(model, Module):
        return {}
    out = {}
    config = getattr(model, "training_config", None)
    if isinstance(config, dict):
        out.update({k: config[k] for k in ("loss", "metrics") if config.get(k) is not None})
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, Optimizer):
        out["optimizer"] = optimizer
    return out


def same_value(a, b) -> bool:
    """Whether an argument ``a`` equals the earlier ``b`` (the same object, or ``==`` true)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays, objects without a plain ==: only the same object counts
        return False


def continuing_changes(previous, given: dict) -> list:
    """The names of the arguments in ``given`` (those not None) that differ from what
    ``previous`` was made with."""
    changed = []
    for key, value in given.items():
        if value is None:
            continue
        old = previous._settings.get(key)
        if key == "dtype":
            value = np.dtype(value).name if is_dtype(value) else value
        if key == "metrics":
            names = [resolve_metric(m, 0.0 if previous.loss_spec == "binary_cross_entropy_with_logits" else 0.5)[0]
                     for m in value]
            if names != [n for n, _ in previous.metrics]:
                changed.append(key)
            continue
        if not same_value(value, old):
            changed.append(key)
    return changed


def set_hyper(optimizer, lr, options: dict, own: list) -> None:
    """Give the optimizer that goes on training the hyper-parameters ``lr`` and
    ``options`` (its state is kept); all or nothing, checked by its ``validate_hyper``.
    A name that is not one of its hyper-parameters is refused, with a "did you mean" on
    ``own`` (fit's keywords) and the optimizer's hyper-parameters."""
    hyper = dict(options)
    if lr is not None:
        hyper["lr"] = lr
    if not hyper:
        return
    check_keywords("fit()", own, type(optimizer), {k: v for k, v in hyper.items() if k != "lr"})
    old = dict(optimizer.hyper)
    optimizer.hyper.update(hyper)
    try:
        optimizer.validate_hyper()
    except BaseException:
        optimizer.hyper.clear()
        optimizer.hyper.update(old)
        raise


__all__ = ["continuing_changes", "loaded_training", "same_value", "set_hyper"]
