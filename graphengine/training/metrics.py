"""Metrics computed on predictions and targets (host NumPy arrays), averaged over batches.

A metric is a function ``metric(prediction, target) -> float`` (the mean over the
batch); the training loop weights each batch by its size, so the epoch value is the
mean over all examples. Pass functions in ``metrics=[...]``; they are logged under their
``__name__`` (and ``val_<name>`` on validation data).
"""

from __future__ import annotations

import numpy as np

from ..backends import asnumpy
from ..errors import GraphEngineError


class MetricError(GraphEngineError, ValueError):
    """A metric name is unknown or cannot be computed on these predictions."""


def to_numpy(value) -> np.ndarray:
    """A host NumPy array from a NumPy or CuPy array (:func:`graphengine.backends.asnumpy`)."""
    return asnumpy(value)


def predicted_classes(prediction, threshold: float = 0.5) -> np.ndarray:
    """Class indices: argmax over the last axis, or ``prediction > threshold`` for one output."""
    prediction = to_numpy(prediction)
    if prediction.ndim >= 2 and prediction.shape[-1] > 1:
        return prediction.argmax(axis=-1)
    return (prediction.reshape(prediction.shape[0], -1)[:, 0] > threshold).astype(np.int64)


def target_classes(target, prediction) -> np.ndarray:
    target = to_numpy(target)
    prediction = to_numpy(prediction)
    if prediction.ndim >= 2 and prediction.shape[-1] > 1:
        if target.ndim == prediction.ndim:
            return target.argmax(axis=-1)
        return target.astype(np.int64)
    return (target.reshape(target.shape[0], -1)[:, 0] > 0.5).astype(np.int64)


def accuracy(prediction, target, threshold: float = 0.5) -> float:
    """Fraction of examples whose predicted class is the target class.

    Several outputs: argmax (targets as indices or one-hot). One output: the prediction
    is class 1 when above ``threshold`` (0.5 for probabilities, 0 for logits).
    """
    p = predicted_classes(prediction, threshold)
    t = target_classes(target, prediction)
    if p.shape != t.shape:
        raise MetricError(f"accuracy: {p.shape[0]} predictions but targets of shape {to_numpy(target).shape}")
    return float((p == t).mean()) if p.size else float("nan")


def error_rate(prediction, target, threshold: float = 0.5) -> float:
    """1 - accuracy."""
    return 1.0 - accuracy(prediction, target, threshold)


def mean_squared_error(prediction, target) -> float:
    p, t = to_numpy(prediction), to_numpy(target)
    return float(np.mean((p - t.reshape(p.shape)) ** 2))


def mean_absolute_error(prediction, target) -> float:
    p, t = to_numpy(prediction), to_numpy(target)
    return float(np.mean(np.abs(p - t.reshape(p.shape))))


METRICS = {
    "accuracy": accuracy,
    "error_rate": error_rate,
    "mse": mean_squared_error,
    "mae": mean_absolute_error,
}


def resolve_metric(metric, threshold: float = 0.5):
    """``(name, fn)`` for a metric name or a function."""
    if isinstance(metric, str):
        if metric not in METRICS:
            from ..errors import did_you_mean

            raise MetricError(f"unknown metric {metric!r}; built in: {', '.join(METRICS)}." + did_you_mean(metric, METRICS)
                              + " Or pass a function f(prediction, target) -> float.")
        fn = METRICS[metric]
        if metric in ("accuracy", "error_rate"):
            return metric, (lambda p, t, _fn=fn: _fn(p, t, threshold))
        return metric, fn
    if callable(metric):
        name = getattr(metric, "__name__", None) or type(metric).__name__
        if name == "<lambda>":
            raise MetricError("give a metric function a name (def my_metric(p, t): ...): lambdas have none to log under")
        return name, metric
    raise MetricError(f"a metric is a name ({', '.join(METRICS)}) or a function f(prediction, target), "
                      f"got {type(metric).__name__}")


__all__ = ["accuracy", "error_rate", "mean_squared_error", "mean_absolute_error", "predicted_classes",
           "resolve_metric", "to_numpy", "METRICS", "MetricError"]
