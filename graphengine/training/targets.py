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
    """Targets as the trainer's ``y`` input takes them (integer labels for class losses;
    for element-wise losses, :func:`conform_targets` to the ``y`` input's shape)."""
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
    loss_node = getattr(trainer, "loss_node", None)
    return conform_targets(Y, node.shape, trainer.dtype, loss_name=trainer.loss_name,
                           output_shape=trainer.output.shape, node_name=None if loss_node is None else loss_node.name)


def conform_targets(Y, shape, dtype, *, loss_name, output_shape, node_name=None) -> np.ndarray:
    """Float targets ``Y`` (N, ...) for a loss that compares them with an output element by
    element, made to fit ``shape``, the targets' shape with ``None`` for the batch (``None``
    itself: any shape). Integer labels of shape (N,) for an output of several units,
    ``shape`` (None, k), become one-hot rows (N, k) (labels outside 0..k-1 are refused);
    targets holding one value per output value are reshaped to (N,) + shape[1:], others
    are refused with :func:`misfit_message`. Returned in ``dtype``.

    The one implementation behind ``fit`` (:func:`prepare_targets`) and ``model.evaluate``
    without a trainer (``graphengine.nn.inference.prepare_targets``). Raises TrainingError;
    ``loss_name``, ``output_shape`` and ``node_name`` (the loss node, if any) go into its message.
    """
    Y = np.asarray(Y)
    if shape is not None and len(shape) == 2 and shape[-1] is not None and shape[-1] > 1 \
            and Y.ndim == 1 and Y.dtype.kind in "iub":
        from ..data.utils import one_hot

        units = int(shape[-1])
        if Y.size and (Y.min() < 0 or Y.max() >= units):
            raise TrainingError(
                f"labels must lie in [0, {units}) for an output of {units} units, got {Y.min()}..{Y.max()}: "
                f"loss {loss_name!r} compares one-hot rows of the labels with the output; pass labels 0 to "
                f"{units - 1}, or give the model's last layer as many units as there are classes")
        return one_hot(Y.astype(np.int64), units, dtype=dtype)
    if shape is not None and all(d is not None for d in shape[1:]):
        per = int(np.prod(shape[1:], dtype=np.int64))
        if Y.ndim == 0 or Y.size != Y.shape[0] * per:
            raise TrainingError(misfit_message(Y, shape, per, loss_name=loss_name, output_shape=output_shape,
                                               node_name=node_name))
        Y = Y.reshape((Y.shape[0],) + tuple(shape[1:]))
    return Y.astype(dtype, copy=False)


def misfit_message(Y, shape, per, *, loss_name, output_shape, node_name=None):
    """Why targets ``Y`` cannot be compared with an output of ``shape`` (``per`` values per
    example) by the element-wise loss ``loss_name``, and the fix."""
    loss = f"loss {loss_name!r}" + (f" (node {node_name!r})" if node_name is not None else "")
    n = Y.shape[0] if Y.ndim else 0
    each = Y.size // n if n else Y.size
    head = (f"{loss} compares the model output (shape {output_shape}, {per} value{'s' if per != 1 else ''} "
            f"per example) with the targets element by element, but the targets have shape {Y.shape} "
            f"({each} value{'s' if each != 1 else ''} per example, dtype {Y.dtype}). ")
    if Y.ndim == 1 and per > 1:
        low, high = whole_labels(Y)
        if low is not None:
            return head + (
                f"If they are class labels (they are whole numbers, {low} to {high}): pass them as ints "
                f"(y.astype(int)) and {loss_name} gets them one-hot encoded to (N, {per}), or use "
                "loss='cross_entropy' with int labels of shape (N,). If they are one value to predict per "
                "example, end the model with 1 unit (e.g. Dense(..., 1)).")
        return head + (
            f"They are not whole numbers (e.g. {high:g}), so not class labels: for one value to predict per "
            f"example, end the model with 1 unit (e.g. Dense(..., 1)); for {per} values per example, pass "
            f"targets of shape (N, {per}).")
    return head + (f"Reshape the targets to (N, {', '.join(str(d) for d in shape[1:])}), one per output value "
                   "(y.reshape(len(y), -1) when they hold that many values), or change the model's last layer "
                   f"to {each} output value{'s' if each != 1 else ''}.")


__all__ = ["CLASS_LOSSES", "ELEMENT_LOSSES", "conform_targets", "labels_text", "misfit_message", "prepare_targets",
           "target_spec", "whole_labels"]
