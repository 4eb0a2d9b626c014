"""Targets (labels) as the trainer's ``y`` input takes them, and the errors that say why
targets do not fit the loss or the model's output and how to fix them.

Class losses (:data:`CLASS_LOSSES`) take integer class indices of shape ``(N,)`` (or
one-hot rows); element-wise losses (:data:`ELEMENT_LOSSES`, or a loss function) take
targets shaped like the model output, integer labels one-hot encoded when the output has
several units. Each function takes the :class:`~graphengine.training.trainer.Trainer` whose
loss and output the targets are for."""

from __future__ import annotations

import numpy as np

from .errors import TrainingError

CLASS_LOSSES = ("cross_entropy", "nll", "hinge")
ELEMENT_LOSSES = ("binary_cross_entropy", "binary_cross_entropy_with_logits", "mse", "mae")


def whole_labels(Y):
    """``(low, high)`` when the targets ``Y`` are all whole numbers (class labels stored as
    floats), else ``(None, an example value that is not)``."""
    values = np.asarray(Y)
    if values.dtype.kind in "iub":
        return (int(values.min()), int(values.max())) if values.size else (0, 0)
    finite = values[np.isfinite(values)]
    if finite.size == values.size and finite.size and np.array_equal(finite, np.round(finite)):
        return int(finite.min()), int(finite.max())
    bad = values[~np.isfinite(values) | (values != np.round(values))]
    return None, (float(bad.ravel()[0]) if bad.size else None)


def labels_text(Y) -> str:
    """The sentence an error about targets ``Y`` that should be class labels ends with."""
    low, high = whole_labels(Y)
    if low is not None:
        return f"they are whole numbers ({low} to {high}), so y.astype(int) keeps every value. "
    return f"they are not whole numbers (e.g. {high:g}), so they are not class labels. "


def target_spec(trainer, Y):
    """``(shape, dtype)`` of the ``y`` input for targets like ``Y`` and the trainer's loss
    (int64 class indices for class losses); 1-d float targets for a class loss are refused."""
    out = trainer.output
    loss = trainer.loss_spec
    if isinstance(loss, str) and loss in CLASS_LOSSES:
        if Y.ndim == 1:
            if Y.dtype.kind not in "iub":
                low, high = whole_labels(Y)
                head = (f"loss {loss!r} with targets of shape {Y.shape} and dtype {Y.dtype}: 1-d targets are class "
                        f"indices and must be integers, got {Y.dtype}. ")
                if low is not None:
                    raise TrainingError(head + f"They are whole numbers ({low} to {high}): pass y.astype(int), "
                                               "which keeps every value.")
                raise TrainingError(
                    head + f"They are not whole numbers (e.g. {high:g}), so they are not class labels: for values "
                    f"to predict, use loss='mse' or 'mae' with targets shaped like the model output "
                    f"{out.shape} (e.g. a model ending in 1 unit for one value per example).")
            return (None,), np.dtype(np.int64)
        return (None,) + tuple(Y.shape[1:]), trainer.dtype
    if isinstance(loss, str):
        return (None,) + tuple(out.shape[1:]) if out.shape is not None else None, trainer.dtype
    dtype = np.dtype(np.int64) if Y.dtype.kind in "iub" else trainer.dtype
    return (None,) + tuple(Y.shape[1:]), dtype


def prepare_targets(trainer, Y) -> np.ndarray:
    """Targets as the ``y`` input takes them (integer labels for class losses; for
    element-wise losses, reshaped to the output, and one-hot when the output has
    several units and the labels are integers)."""
    Y = np.asarray(Y)
    node = trainer.y
    if node.dtype is not None and node.dtype.kind == "i":
        if Y.dtype.kind not in "iub":
            raise TrainingError(
                f"targets of shape {Y.shape} and dtype {Y.dtype} for loss {trainer.loss_node.name!r} "
                f"({trainer.loss_name}) must be integer class labels, as those the model was built with; "
                + labels_text(Y) + "Pass class indices as an int array of shape (N,), e.g. y.astype(int)"
            )
        return Y.astype(np.int64, copy=False)
    shape = node.shape
    if shape is not None and len(shape) >= 2 and shape[-1] is not None and shape[-1] > 1 \
            and Y.ndim == 1 and Y.dtype.kind in "iub":
        from ..data.utils import one_hot

        return one_hot(Y, shape[-1], dtype=trainer.dtype)
    if shape is not None and all(d is not None for d in shape[1:]):
        per = int(np.prod(shape[1:], dtype=np.int64))
        if Y.ndim == 0 or Y.size != Y.shape[0] * per:
            raise TrainingError(misfit_message(trainer, Y, shape, per))
        Y = Y.reshape((Y.shape[0],) + tuple(shape[1:]))
    return Y.astype(trainer.dtype, copy=False)


def misfit_message(trainer, Y, shape, per):
    """Why targets ``Y`` cannot be compared with the output by an element-wise loss, and the fix."""
    node = getattr(trainer, "loss_node", None)
    loss = f"loss {trainer.loss_name!r}" + (f" (node {node.name!r})" if node is not None else "")
    n = Y.shape[0] if Y.ndim else 0
    each = Y.size // n if n else Y.size
    head = (f"{loss} compares the model output (shape {trainer.output.shape}, {per} value{'s' if per != 1 else ''} "
            f"per example) with the targets element by element, but the targets have shape {Y.shape} "
            f"({each} value{'s' if each != 1 else ''} per example, dtype {Y.dtype}). ")
    if Y.ndim == 1 and per > 1:
        low, high = whole_labels(Y)
        if low is not None:
            return head + (
                f"If they are class labels (they are whole numbers, {low} to {high}): pass them as ints "
                f"(y.astype(int)) and {trainer.loss_name} gets them one-hot encoded to (N, {per}), or use "
                "loss='cross_entropy' with int labels of shape (N,). If they are one value to predict per "
                "example, end the model with 1 unit (e.g. Dense(..., 1)).")
        return head + (
            f"They are not whole numbers (e.g. {high:g}), so not class labels: for one value to predict per "
            f"example, end the model with 1 unit (e.g. Dense(..., 1)); for {per} values per example, pass "
            f"targets of shape (N, {per}).")
    return head + (f"Reshape the targets to (N, {', '.join(str(d) for d in shape[1:])}), one per output value "
                   "(y.reshape(len(y), -1) when they hold that many values), or change the model's last layer "
                   f"to {each} output value{'s' if each != 1 else ''}.")


__all__ = ["CLASS_LOSSES", "ELEMENT_LOSSES", "labels_text", "misfit_message", "prepare_targets", "target_spec",
           "whole_labels"]
