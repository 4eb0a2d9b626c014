"""What ``model.predict`` and ``model.evaluate`` run when no trainer is attached: the
model's evaluation path in batches, then the loss and the metrics on its outputs.

These functions take the nodes to run; :class:`graphengine.nn.Module` finds or builds
them (see ``Module.predict``), so this module does not import it.
"""

from __future__ import annotations

import numpy as np

from ..backends import asnumpy
from ..graph import Graph
from ..node import Node
from .errors import ModuleError

BINARY_LOSSES = ("binary_cross_entropy", "binary_cross_entropy_with_logits")


def as_input_list(X, count: int, where: str) -> list:
    """``X`` as a list of ``count`` NumPy arrays with the same number of rows."""
    arrays = list(X) if count > 1 and isinstance(X, (list, tuple)) else [X]
    if len(arrays) != count:
        raise ModuleError(f"{where}: the model takes {count} inputs; pass X as a list of {count} arrays, got "
                          f"{len(arrays)}")
    out = []
    for k, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.kind not in "biuf" or a.ndim == 0:
            raise ModuleError(f"{where}: input {k} must be a numeric array with one row per example, got "
                              f"{a.dtype} of shape {a.shape}")
        out.append(a)
    if len({a.shape[0] for a in out}) > 1:
        raise ModuleError(f"{where}: the inputs have different numbers of rows: {[a.shape[0] for a in out]}")
    return out


def cast_for(node: Node, array: np.ndarray, where: str) -> np.ndarray:
    """``array`` in the dtype of input ``node`` (integer ids are not made from floats)."""
    dtype = node.dtype
    if dtype is None or array.dtype == dtype:
        return array
    if dtype.kind in "iu" and array.dtype.kind == "f":
        raise ModuleError(f"{where}: input {node.name!r} takes integer ids ({dtype}), got X of dtype {array.dtype}; "
                          "pass integers")
    return array.astype(dtype)


def run_batches(graph, inputs, output, arrays, batch_size: int, where: str) -> np.ndarray:
    """``output``'s value for ``arrays`` fed to ``inputs``, ``batch_size`` rows at a time, as NumPy."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ModuleError(f"{where}: batch_size must be a positive int, got {batch_size!r}")
    arrays = [cast_for(node, a, where) for node, a in zip(inputs, arrays)]
    n = arrays[0].shape[0]
    parts = []
    for start in range(0, n, int(batch_size)):
        feeds = {node: a[start:start + batch_size] for node, a in zip(inputs, arrays)}
        run = graph.forward(feeds, fetch=[output])
        parts.append(asnumpy(run.value(output)))
    if parts:
        return np.concatenate(parts)
    tail = tuple(0 if d is None else d for d in (output.shape or (0,))[1:])
    return np.zeros((0,) + tail, dtype=output.dtype or np.float32)


def prepare_targets(loss, Y, prediction: np.ndarray, where: str) -> np.ndarray:
    """Targets as ``fit`` prepares them: integer class labels for class losses (and for a
    loss function given integers); for element-wise losses, float32 targets fitted to the
    prediction by :func:`graphengine.training.targets.conform_targets`, the code ``fit``
    runs (one-hot rows for integer labels and an output of several units, else reshaped to
    the prediction's shape; targets that do not fit are refused)."""
    from ..training.errors import TrainingError
    from ..training.targets import CLASS_LOSSES, conform_targets

    Y = np.asarray(Y)
    if Y.ndim == 0 or Y.shape[0] != prediction.shape[0]:
        raise ModuleError(f"{where}: y must have one row per example of X ({prediction.shape[0]}), got shape {Y.shape}")
    if Y.dtype.kind not in "biuf":
        raise ModuleError(f"{where}: y must be numeric, got dtype {Y.dtype}")
    element_wise = isinstance(loss, str) and loss not in CLASS_LOSSES
    if not element_wise and Y.dtype.kind in "biu" and (Y.ndim == 1 or not isinstance(loss, str)):
        return Y.astype(np.int64)
    shape = (None,) + (prediction.shape[1:] if element_wise else Y.shape[1:])
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", "function")
    try:
        return conform_targets(Y, shape, np.float32, loss_name=name, output_shape=(None,) + prediction.shape[1:])
    except TrainingError as exc:
        raise ModuleError(f"{where}: {exc}") from None


def loss_and_metrics(loss, metrics, prediction: np.ndarray, targets: np.ndarray, batch_size: int,
                     where: str) -> dict:
    """``{"loss": mean loss, <metric>: mean value}`` of ``prediction`` against ``targets``:
    ``loss`` is an op name (``ge.ops.<loss>(output, target, reduction="mean")``) or a function
    ``loss(output_node, target_node) -> node`` (averaged if not a scalar), computed in a
    small graph of its own; ``metrics`` are ``(name, fn(prediction, target) -> float)``."""
    import graphengine as ge

    graph = Graph("evaluate")
    p = graph.input("prediction", shape=(None,) + prediction.shape[1:], dtype=prediction.dtype)
    t = graph.input("target", shape=(None,) + targets.shape[1:], dtype=targets.dtype)
    if isinstance(loss, str):
        node = getattr(ge.ops, loss)(p, t, reduction="mean")
    else:
        node = loss(p, t)
        if not isinstance(node, Node):
            raise ModuleError(f"{where}: the loss function must return a graph node, got {type(node).__name__}")
        if node.shape is not None and node.shape != ():
            node = ge.ops.mean(node)
    n = prediction.shape[0]
    if n == 0:
        raise ModuleError(f"{where}: evaluate needs at least one example")
    total = 0.0
    sums = [0.0] * len(metrics)
    for start in range(0, n, int(batch_size)):
        pb, tb = prediction[start:start + batch_size], targets[start:start + batch_size]
        run = graph.forward({p: pb, t: tb}, fetch=[node])
        total += float(asnumpy(run.value(node))) * pb.shape[0]
        for k, (_, fn) in enumerate(metrics):
            sums[k] += float(fn(pb, tb)) * pb.shape[0]
    out = {"loss": total / n}
    for (name, _), s in zip(metrics, sums):
        out[name] = s / n
    return out


def resolve_metrics(loss, metrics) -> list:
    """``[(name, fn)]`` for ``metrics`` (names or functions); ``None``: accuracy for
    classification losses (as ``fit``), none otherwise."""
    from ..training.metrics import resolve_metric
    from ..training.targets import CLASS_LOSSES

    if metrics is None:
        metrics = ["accuracy"] if isinstance(loss, str) and (loss in CLASS_LOSSES or loss in BINARY_LOSSES) else []
    elif isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    threshold = 0.0 if loss == "binary_cross_entropy_with_logits" else 0.5
    resolved = [resolve_metric(m, threshold) for m in metrics]
    names = [name for name, _ in resolved]
    if len(set(names)) != len(names) or "loss" in names:
        raise ModuleError(f"metric names must be unique and not 'loss': {names}")
    return resolved


__all__ = ["as_input_list", "cast_for", "run_batches", "prepare_targets", "loss_and_metrics", "resolve_metrics",
           "BINARY_LOSSES"]
