"""The arguments of ``fit`` and ``Trainer``: the keywords ``fit`` takes
(:data:`FIT_ARGUMENTS`), the check that refuses an unknown keyword with a "did you mean"
before anything is built (:func:`check_keywords`), and the reading of the
regularization arguments (:func:`make_regularizers`)."""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import did_you_mean
from ..optimizer import Optimizer
from ..regularizer import Regularizer
from .errors import TrainingError

FIT_ARGUMENTS = ("loss", "optimizer", "lr", "metrics", "regularizers", "l2", "l1", "regularize", "clip_norm",
                 "clip_value", "lr_schedule", "dtype", "epochs", "batch_size", "validation_split", "validation_data",
                 "shuffle", "seed", "callbacks", "augment", "progress", "verbose", "eval_batch_size", "initial_epoch",
                 "resume_from", "comm", "global_batch_size")


class UnknownArgumentError(TrainingError, TypeError):
    """``fit`` or ``Trainer`` got a keyword that is neither one of theirs nor a
    hyper-parameter of the optimizer (``fit(epoch=3)``)."""


def _optimizer_hyper_names(spec):
    """The hyper-parameter names the optimizer ``spec`` takes as keywords, or None when
    ``spec`` takes none (an Optimizer instance or a function ``params -> optimizer``)."""
    if isinstance(spec, str):
        import graphengine as ge

        return sorted(getattr(ge.optimizers.get(spec), "defaults", {}))  # unknown names raise, with suggestions
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return sorted(spec.defaults)
    return None


def check_keywords(where: str, own: list, optimizer, options: dict) -> None:
    """Refuse each key of ``options`` (the extra keywords of ``where``) that is not a
    hyper-parameter of ``optimizer``, with a "did you mean" on ``where``'s own keywords
    and the optimizer's hyper-parameters; before the optimizer is made."""
    if not options:
        return
    hyper = _optimizer_hyper_names(optimizer)
    for key in options:
        if hyper is not None and key in hyper:
            continue
        hint = did_you_mean(key, list(own) + list(hyper or ()))
        if hyper is None:
            what = (f"extra keywords are optimizer hyper-parameters, but the optimizer given "
                    f"({type(optimizer).__name__}) is already made: set its hyper-parameters where you make it")
        else:
            name = optimizer if isinstance(optimizer, str) else (getattr(optimizer, "name", "") or optimizer.__name__)
            what = (f"extra keywords are hyper-parameters of the optimizer {name!r}, which takes "
                    f"{', '.join(hyper) or 'none'}")
        raise UnknownArgumentError(
            f"{where} got an unknown keyword argument {key!r}.{hint} Its own keywords: {', '.join(own)}; {what}."
        )


def own_keywords(function) -> list:
    """The keyword-only parameter names of ``function`` (those a "did you mean" offers)."""
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.kind == p.KEYWORD_ONLY]


def is_dtype(value) -> bool:
    """Whether ``np.dtype(value)`` reads ``value`` as a dtype."""
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def make_regularizers(regularizers, l2, l1) -> list:
    """The ``ge.Regularizer`` list for the ``regularizers``, ``l2`` and ``l1`` arguments
    (instances, names, ``{name: strength}`` or pairs; ``l2=`` / ``l1=`` add one each)."""
    import graphengine as ge

    out = []
    if regularizers is None:
        items = []
    elif isinstance(regularizers, dict):
        items = list(regularizers.items())
    elif isinstance(regularizers, (Regularizer, str)):
        items = [regularizers]
    else:
        items = list(regularizers)
    for item in items:
        if isinstance(item, Regularizer):
            out.append(item)
        elif isinstance(item, str):
            out.append(ge.regularizers.create(item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, strength = item
            out.append(ge.regularizers.create(name, strength=strength))
        else:
            raise TrainingError(
                f"regularizers are ge.Regularizer instances, names, or {{name: strength}}; got {item!r}"
            )
    for name, strength in (("l2", l2), ("l1", l1)):
        if strength:
            out.append(ge.regularizers.create(name, strength=strength))
    return out


__all__ = ["FIT_ARGUMENTS", "UnknownArgumentError", "check_keywords", "is_dtype", "make_regularizers", "own_keywords"]
