"""Checkpoints: a model's arrays (params and state such as running statistics), by node name.

* :func:`snapshot` / :func:`restore`: copies in memory (early stopping's best weights);
* :func:`save_weights` / :func:`load_weights`: a ``.npz`` file of ``{node name: array}``
  (read with ``allow_pickle=False``); :func:`load_weights` also reads the arrays of a
  whole-graph ``.ge`` file written by ``graph.save`` (what :class:`ModelCheckpoint` writes),
  so a checkpoint can be loaded back into the graph that is being trained.

The whole graph (structure too) is saved with ``graph.save(path)`` and read back with
``ge.load(path)``.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..archive import read_npz
from ..errors import GraphEngineError, SaveFormatError
from ..node import CONST, PARAM


class CheckpointError(GraphEngineError, ValueError):
    """A checkpoint does not fit the graph it is loaded into (missing names, other shapes)."""


def _graph_of(target):
    graph = getattr(target, "graph", target)
    if graph is None:
        raise CheckpointError(f"{type(target).__name__} is not built yet: call it on an input node (or fit it) first")
    if not hasattr(graph, "params"):
        raise CheckpointError(f"expected a graph, a model or a trainer, got {type(target).__name__}")
    return graph


def stateful_nodes(graph) -> list:
    """Params and array-valued consts (running statistics live in consts), in id order."""
    return [n for n in graph.nodes() if n.kind == PARAM or (n.kind == CONST and hasattr(n.value, "shape"))]


def snapshot(target) -> dict:
    """``{node name: copy of its array}`` for every param and array const of the graph."""
    graph = _graph_of(target)
    return {n.name: n.value.copy() for n in stateful_nodes(graph)}


def restore(target, arrays: dict) -> None:
    """Put arrays from :func:`snapshot` (or a loaded checkpoint) back, by node name."""
    graph = _graph_of(target)
    problems = []
    for name, value in arrays.items():
        if name not in graph:
            problems.append(f"{name!r} is not a node of graph {graph.name!r}")
            continue
        node = graph.node(name)
        if node.kind not in (PARAM, CONST):
            problems.append(f"{name!r} is a {node.kind} node, not a param or const")
        elif tuple(np.shape(value)) != tuple(node.shape):
            problems.append(f"{name!r} has shape {tuple(node.shape)} in the graph but {tuple(np.shape(value))} in the checkpoint")
    if problems:
        raise CheckpointError("cannot restore the checkpoint: " + "; ".join(problems)
                              + ". Was it saved from another model (or another layer naming)?")
    xp = graph.xp
    for name, value in arrays.items():
        graph.node(name).value = xp.asarray(value)


def _to_numpy(value):
    return value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else np.asarray(value)


def save_weights(target, path) -> str:
    """Write every param and array const of the graph to ``path`` (``.npz``); returns the path."""
    graph = _graph_of(target)
    path = os.fspath(path)
    arrays = {n.name: _to_numpy(n.value) for n in stateful_nodes(graph)}
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def read_weights(path, *, limits=None) -> dict:
    """``{node name: array}`` from a ``.npz`` of :func:`save_weights` or a ``.ge`` graph file.

    The file is only data: a ``.ge`` goes through every check of ``ge.load``; in a ``.npz``
    each member's ``.npy`` header is checked (booleans and numbers only, no pickles, sizes
    within ``limits``, a :class:`graphengine.archive.Limits`) before anything is allocated.
    Any problem is a :class:`~graphengine.SaveFormatError` naming the member.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SaveFormatError(f"checkpoint {path!r} is a directory; pass the .npz or .ge file inside it")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise SaveFormatError(f"{path}: not a weights file (.npz from save_weights) or a graph file (.ge): "
                              "it is not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except Exception as exc:  # a damaged zip directory: BadZipFile, OSError, ValueError, ...
        raise SaveFormatError(f"{path}: not a weights file (.npz from save_weights) or a graph file (.ge): "
                              f"{type(exc).__name__}: {exc}") from None
    if "graph.json" in names:
        from ..serialization import load

        loaded = load(path, limits=limits)
        return {n.name: _to_numpy(n.value) for n in stateful_nodes(loaded)}
    return read_npz(path, f"{path} (weights file)", limits)


def load_weights(target, path, strict: bool = True, *, limits=None) -> None:
    """Load arrays saved by :func:`save_weights` or ``graph.save`` into the graph, by node name.

    ``limits`` bounds what is read (see :func:`read_weights`).
    ``strict``: every param of the graph must be in the file (else :class:`CheckpointError`
    lists the missing ones); with ``strict=False`` only the names both have are loaded.
    """
    graph = _graph_of(target)
    arrays = read_weights(path, limits=limits)
    if strict:
        missing = [n.name for n in graph.params() if n.name not in arrays]
        if missing:
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r} has no values for param{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} of graph {graph.name!r}; pass strict=False to load only what matches"
            )
    else:
        arrays = {k: v for k, v in arrays.items() if k in graph}
    restore(graph, arrays)


__all__ = ["snapshot", "restore", "save_weights", "load_weights", "read_weights", "stateful_nodes", "CheckpointError"]
