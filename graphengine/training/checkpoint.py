"""Checkpoints: a model's arrays (params and state such as running statistics), by node name.

* :func:`snapshot` / :func:`restore`: copies in memory (early stopping's best weights);
* :func:`save_weights` / :func:`load_weights`: a ``.npz`` file of ``{node name: array}``
  (read with ``allow_pickle=False``); :func:`load_weights` also reads the arrays of a
  whole-graph ``.ge`` file written by ``graph.save`` and of a training checkpoint;
* :func:`save_checkpoint` / :func:`read_checkpoint` / :func:`apply_checkpoint`: a training
  checkpoint (what :class:`ModelCheckpoint` writes by default, ``trainer.save_checkpoint``):
  weights, optimizer state, lr schedule state, the data generator's state, the epoch and
  the history, so that ``fit(..., resume_from=path)`` ends exactly as the uninterrupted run.

The whole graph (structure too) is saved with ``graph.save(path)`` and read back with
``ge.load(path)``.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..archive import read_npz
from ..errors import GraphEngineError, SaveFileIsFolderError, SaveFormatError, require_file, require_writable
from ..nn.saving import make_folder_of
from ..node import CONST, PARAM


class CheckpointError(GraphEngineError, ValueError):
    """A checkpoint does not fit the graph it is loaded into (missing names, other shapes)."""


def _graph_of(target):
    graph = None if getattr(target, "built", True) is False else getattr(target, "graph", target)
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
    """Write every param and array const of the graph to ``path`` (``.npz``), replacing
    the file atomically (a failed write leaves the old one and no partial file); returns
    the path. A folder, or a path in a folder that does not exist, is refused first
    (:class:`~graphengine.errors.NotAFileError`, :class:`~graphengine.errors.MissingFileError`)."""
    graph = _graph_of(target)
    path = require_writable(path, "weights", "weights.npz")
    arrays = {n.name: _to_numpy(n.value) for n in stateful_nodes(graph)}
    _write_replacing(path, lambda f: np.savez(f, **arrays))
    return path


def _write_replacing(path: str, write) -> None:
    """Call ``write(file)`` on ``path + ".partial"``, then move it onto ``path``; on any
    error the partial file is removed and ``path`` is left as it was."""
    partial = path + ".partial"
    try:
        with open(partial, "wb") as f:
            write(f)
        os.replace(partial, path)
    finally:
        if os.path.lexists(partial) and not os.path.isdir(partial):
            os.remove(partial)


def read_weights(path, *, limits=None) -> dict:
    """``{node name: array}`` from a ``.npz`` of :func:`save_weights`, a ``.ge`` graph file
    or a training checkpoint (:func:`save_checkpoint`).

    The file is only data: a ``.ge`` goes through every check of ``ge.load``; in a ``.npz``
    each member's ``.npy`` header is checked (booleans and numbers only, no pickles, sizes
    within ``limits``, a :class:`graphengine.archive.Limits`) before anything is allocated.
    Any problem is a :class:`~graphengine.SaveFormatError` naming the member.
    """
    path = require_file(path, "weights file", "write one with save_weights(model, path) or graph.save(path)",
                        suffixes=(".npz", ".ge"), folder_error=SaveFileIsFolderError)
    if not zipfile.is_zipfile(path):
        raise SaveFormatError(f"{path}: not a weights file (.npz from save_weights) or a graph file (.ge): "
                              "it is not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except Exception as exc:  # a damaged zip directory: BadZipFile, OSError, ValueError, ...
        raise SaveFormatError(f"{path}: not a weights file (.npz from save_weights) or a graph file (.ge): "
                              f"{type(exc).__name__}: {exc}") from None
    if "checkpoint.json" in names:
        return dict(read_checkpoint(path, limits=limits).weights)
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




# ------------------------------------------------------------------ training checkpoints
#
# A training checkpoint is a zip archive with two members, only data:
#
# * ``checkpoint.json``: format and version, the graph's name, the epochs done, the fit's
#   data layout (sample counts, batch size, shuffling), the state of the data generator
#   (NumPy PCG64, at the start of the fit and now), the names of the weight arrays, the
#   optimizer's name, hyper-parameters, step count and per-param numbers, the learning
#   rate schedule's state, and the history so far;
# * ``arrays.npz``: the weights (params and array consts: running statistics) and the
#   optimizer's per-param arrays (moments), under keys ``w0, w1, ...`` and ``o0, o1, ...``
#   that checkpoint.json maps to node and param names.

CHECKPOINT_FORMAT = "graphengine-training-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_MEMBERS = ("checkpoint.json", "arrays.npz")


def _json_number(value, where):
    """A hyper-parameter or state number as JSON takes it (bools, ints, floats, lists of them)."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_number(v, where) for v in value]
    raise CheckpointError(f"cannot save {where}: {type(value).__name__} {value!r:.60} is not a number; training "
                          "checkpoints hold numbers and arrays only")


def _finite_number(value, where):
    """:func:`_json_number`, refusing NaN and infinity: an optimizer with them cannot be
    restored (``load_state_dict`` refuses them), so they are refused when writing."""
    number = _json_number(value, where)
    flat = number if isinstance(number, list) else [number]
    while any(isinstance(v, list) for v in flat):
        flat = [x for v in flat for x in (v if isinstance(v, list) else [v])]
    if any(isinstance(v, float) and not np.isfinite(v) for v in flat):
        raise CheckpointError(f"cannot save {where}: it is {number}; a training checkpoint holds finite numbers only. "
                              "Set it to a finite value (optimizer.hyper[...] = ...) before saving")
    return number


def checkpoint_document(trainer) -> tuple[dict, dict]:
    """``(document, arrays)``: what :func:`save_checkpoint` writes for ``trainer``."""
    if getattr(trainer, "_in_epoch", False):
        raise CheckpointError("a training checkpoint is written between epochs (in on_epoch_end or after fit), "
                              "not during one: the data generator is in the middle of the epoch")
    graph = trainer.graph
    arrays: dict = {}
    weights = {}
    for i, node in enumerate(stateful_nodes(graph)):
        arrays[f"w{i}"] = _to_numpy(node.value)
        weights[node.name] = f"w{i}"
    opt = trainer.optimizer.state_dict()
    state = {}
    k = 0
    for pname, items in opt["state"].items():
        entry = {}
        for key, value in items.items():
            if isinstance(value, np.ndarray):
                arrays[f"o{k}"] = np.asarray(value)
                entry[key] = {"array": f"o{k}"}
                k += 1
            else:
                entry[key] = _finite_number(value, f"the optimizer's state {pname}/{key}")
        state[pname] = entry
    optimizer = {"name": opt["name"], "hyper": {key: _finite_number(v, f"the optimizer's hyper-parameter {key!r}")
                                                for key, v in opt["hyper"].items()},
                 "steps": int(opt["steps"]), "state": state}
    schedule = None
    if trainer.schedule is not None:
        if not hasattr(trainer.schedule, "state_dict"):
            raise CheckpointError(f"the lr schedule {type(trainer.schedule).__name__} has no state_dict(), so a "
                                  "training checkpoint cannot record where it is")
        schedule = {"pending": bool(trainer._schedule_pending),
                    "state": _json_tree(trainer.schedule.state_dict(), "the lr schedule's state")}
    history = trainer.history
    document = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "graph": graph.name,
        "epoch": int(trainer.epoch), "fit": trainer._fit_info,
        "rng_start": _json_tree(trainer._rng_start, "the data generator"),
        "rng": None if trainer._rng is None else _json_tree(trainer._rng.bit_generator.state, "the data generator"),
        "weights": weights, "optimizer": optimizer, "schedule": schedule,
        "history": None if history is None else {**history.as_dict(), "params": dict(history.params)},
    }
    return document, arrays


def _json_tree(value, where):
    if isinstance(value, dict):
        return {str(k): _json_tree(v, where) for k, v in value.items()}
    if isinstance(value, str):
        return value
    return _json_number(value, where)


def save_checkpoint(trainer, path) -> str:
    """Write ``trainer``'s training checkpoint to ``path`` (any suffix; ``.ckpt`` is a
    good one), replacing the file atomically (a crash while writing leaves the old one)."""
    import io
    import json

    path = os.fspath(path)
    if os.path.isdir(path):
        require_writable(path, "training checkpoint", "model.ckpt")  # NotAFileError (an IsADirectoryError)
    document, arrays = checkpoint_document(trainer)
    text = json.dumps(document, indent=1)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    make_folder_of(path, "training checkpoint")

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr("checkpoint.json", text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("arrays.npz", buffer.getvalue(), compress_type=zipfile.ZIP_STORED)

    _write_replacing(path, write)  # a failed write leaves nothing behind (and the old file, if any, as it was)
    return path


class TrainingCheckpoint:
    """A training checkpoint read and checked by :func:`read_checkpoint` (nothing applied yet)."""

    def __init__(self, path, document, weights, optimizer, history):
        self.path = path
        self.document = document
        self.epoch = document["epoch"]
        self.fit = document["fit"]
        self.rng_start = document["rng_start"]
        self.rng = document["rng"]
        self.weights = weights  # {node name: array}
        self.optimizer = optimizer  # an Optimizer.state_dict()
        self.schedule = document["schedule"]
        self.history = history

    def check_fit(self, fit_info: dict) -> None:
        """Refuse to resume a fit whose data layout differs from the checkpoint's."""
        if self.rng is None or self.rng_start is None or self.fit is None or self.history is None:
            raise CheckpointError(f"{self.path}: this checkpoint was not written by fit (it has no data generator "
                                  "state), so a run cannot resume from it; load its weights and optimizer state "
                                  "with trainer.load_checkpoint(path)")
        diffs = [f"{k}={self.fit.get(k)!r} there, {v!r} now" for k, v in fit_info.items() if self.fit.get(k) != v]
        if diffs:
            raise CheckpointError(f"{self.path}: resuming needs the data of the run that wrote it: {'; '.join(diffs)}. "
                                  "Pass the same X, y, batch_size, shuffle and validation arguments (or load only the "
                                  "state with trainer.load_checkpoint(path) and call fit without resume_from)")

    def __repr__(self):
        return f"<TrainingCheckpoint {self.path!r}: graph {self.document['graph']!r}, epoch {self.epoch}>"


def _fail(path, message):
    raise SaveFormatError(f"{path}: training checkpoint: {message}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number_tree(value, depth=0) -> bool:
    if isinstance(value, (bool, int, float)) or value is None:
        return True
    if isinstance(value, list) and depth < 4:
        return all(_is_number_tree(v, depth + 1) for v in value)
    return False


def read_checkpoint(path, *, limits=None) -> TrainingCheckpoint:
    """Read and check a training checkpoint (only data: JSON and ``.npz``; every member,
    size, JSON field and ``.npy`` header checked before use, within ``limits``, a
    :class:`graphengine.archive.Limits`). Any problem is a
    :class:`~graphengine.SaveFormatError` naming the member or field."""
    from .. import archive
    from .history import History

    limits = archive.resolve_limits(limits)
    path = require_file(path, "checkpoint", "write one with trainer.save_checkpoint(path) or the ModelCheckpoint "
                        "callback", suffixes=(".ckpt", ".npz", ".zip"), folder_error=SaveFileIsFolderError)
    doc, raw_npz = archive.read_document_zip(path, *CHECKPOINT_MEMBERS, limits, "training checkpoint")
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        _fail(path, f"checkpoint.json is not a training checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    if doc.get("version") != CHECKPOINT_VERSION or not _is_int(doc.get("version")):
        _fail(path, f"version {doc.get('version')!r} is not supported (this graphengine reads {CHECKPOINT_VERSION})")
    expected = {"format", "version", "graph", "epoch", "fit", "rng_start", "rng", "weights", "optimizer", "schedule",
                "history"}
    if set(doc) != expected:
        _fail(path, f"checkpoint.json has fields {sorted(doc)}, expected {sorted(expected)}")
    if not isinstance(doc["graph"], str):
        _fail(path, "field 'graph' must be a string")
    if not _is_int(doc["epoch"]) or doc["epoch"] < 0:
        _fail(path, f"field 'epoch' must be an int >= 0, got {doc['epoch']!r}")
    fit = doc["fit"]
    if fit is not None:
        kinds = {"samples": int, "validation_samples": int, "batch_size": int, "shuffle": bool}
        if not isinstance(fit, dict) or set(fit) != set(kinds) or not all(
                (_is_int(fit[k]) and fit[k] >= 0) if t is int else isinstance(fit[k], bool) for k, t in kinds.items()):
            _fail(path, f"field 'fit' must be {{samples, validation_samples, batch_size: ints, shuffle: bool}}, "
                        f"got {fit!r:.120}")
    for key in ("rng_start", "rng"):
        if doc[key] is not None:
            _check_rng_state(path, key, doc[key])
    arrays = archive.read_npz(raw_npz, f"{path}: member arrays.npz", limits)
    del raw_npz
    used = set()

    def array(ref, where):
        if not isinstance(ref, str) or ref not in arrays:
            _fail(path, f"{where} refers to array {ref!r}, which arrays.npz does not hold")
        used.add(ref)
        return arrays[ref]

    weights_doc = doc["weights"]
    if not isinstance(weights_doc, dict):
        _fail(path, "field 'weights' must map node names to array keys")
    weights = {name: array(ref, f"weights[{name!r}]") for name, ref in weights_doc.items()}
    optimizer = _read_optimizer(path, doc["optimizer"], array)
    schedule = doc["schedule"]
    if schedule is not None:
        if not isinstance(schedule, dict) or set(schedule) != {"pending", "state"} \
                or not isinstance(schedule["pending"], bool) or not isinstance(schedule["state"], dict):
            _fail(path, "field 'schedule' must be null or {pending: bool, state: object}")
    unused = sorted(set(arrays) - used)
    if unused:
        _fail(path, f"arrays.npz holds arrays {unused[:5]} that checkpoint.json does not use")
    history = None
    if doc["history"] is not None:
        history = _read_history(path, doc["history"], History)
    return TrainingCheckpoint(path, doc, weights, optimizer, history)


def _check_rng_state(path, key, state):
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        _fail(path, f"field {key!r} must be the state of NumPy's PCG64 generator (what default_rng makes)")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        _fail(path, f"field {key!r} is not a valid PCG64 state ({type(exc).__name__}: {exc})")


def _read_optimizer(path, opt, array):
    if not isinstance(opt, dict) or set(opt) != {"name", "hyper", "steps", "state"}:
        _fail(path, "field 'optimizer' must be {name, hyper, steps, state}")
    if not isinstance(opt["name"], str) or not isinstance(opt["hyper"], dict) or not isinstance(opt["state"], dict):
        _fail(path, "optimizer name must be a string, hyper and state objects")
    for key, value in opt["hyper"].items():
        if not _is_number_tree(value):
            _fail(path, f"optimizer hyper-parameter {key!r} must be a number, got {value!r:.60}")
    if not _is_int(opt["steps"]) or opt["steps"] < 0:
        _fail(path, f"optimizer steps must be an int >= 0, got {opt['steps']!r}")
    state = {}
    for pname, items in opt["state"].items():
        if not isinstance(items, dict):
            _fail(path, f"optimizer state of {pname!r} must be an object")
        entry = {}
        for key, value in items.items():
            if isinstance(value, dict):
                if set(value) != {"array"}:
                    _fail(path, f"optimizer state {pname!r}/{key!r} must be a number or {{array: key}}")
                entry[key] = array(value["array"], f"optimizer state {pname!r}/{key!r}")
            elif isinstance(value, (bool, int, float)):
                entry[key] = value
            else:
                _fail(path, f"optimizer state {pname!r}/{key!r} must be a number or {{array: key}}, got {value!r:.60}")
        state[pname] = entry
    return {"name": opt["name"], "hyper": dict(opt["hyper"]), "steps": opt["steps"], "state": state}


def _read_history(path, doc, History):
    if not isinstance(doc, dict) or set(doc) != {"epochs", "history", "stopped_epoch", "best_epoch", "params"}:
        _fail(path, "field 'history' must be {epochs, history, stopped_epoch, best_epoch, params}")
    epochs, columns = doc["epochs"], doc["history"]
    if not isinstance(epochs, list) or not all(_is_int(e) for e in epochs):
        _fail(path, "history epochs must be a list of ints")
    if not isinstance(columns, dict) or not all(
            isinstance(v, list) and len(v) == len(epochs) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                                  for x in v) for v in columns.values()):
        _fail(path, "history columns must be lists of numbers, one per epoch")
    for key in ("stopped_epoch", "best_epoch"):
        if doc[key] is not None and not _is_int(doc[key]):
            _fail(path, f"history {key} must be an int or null")
    if not isinstance(doc["params"], dict) or not all(_is_number_tree(v) for v in doc["params"].values()):
        _fail(path, "history params must be an object of numbers")
    history = History(doc["params"])
    history.epochs = list(epochs)
    history.history = {k: [float(x) for x in v] for k, v in columns.items()}
    history.stopped_epoch, history.best_epoch = doc["stopped_epoch"], doc["best_epoch"]
    return history


def _check_weights(graph, weights, path):
    """The checkpoint's weights are exactly the graph's params and array consts, same shapes and dtypes."""
    have = {n.name: n for n in stateful_nodes(graph)}
    missing, extra = sorted(set(have) - set(weights)), sorted(set(weights) - set(have))
    problems = []
    if missing:
        problems.append(f"no values for {', '.join(map(repr, missing[:8]))}")
    if extra:
        problems.append(f"values for {', '.join(map(repr, extra[:8]))}, which graph {graph.name!r} does not have")
    for name in sorted(set(have) & set(weights)):
        node, value = have[name], weights[name]
        if tuple(value.shape) != tuple(node.shape) or np.dtype(value.dtype) != np.dtype(node.value.dtype):
            problems.append(f"{name!r} is {value.dtype}{tuple(value.shape)} there, {node.value.dtype}"
                            f"{tuple(node.shape)} in the graph")
    if problems:
        raise CheckpointError(f"checkpoint {path!r} does not fit graph {graph.name!r}: " + "; ".join(problems)
                              + ". It was saved from another model (or with another dtype).")
    counts = {name: _count_non_finite(weights[name]) for name in sorted(weights)}
    bad = [f"{name!r} ({count} of {weights[name].size} values)" for name, count in counts.items() if count]
    if bad:
        raise CheckpointError(f"checkpoint {path!r} holds NaN or infinite values in {', '.join(bad[:8])}"
                              + (" ..." if len(bad) > 8 else "") + ": it was written after training diverged, so "
                              "resuming from it would train on garbage. Resume from an earlier checkpoint (or "
                              "lower the learning rate and start again); nothing was changed")


def _count_non_finite(value) -> int:
    """How many NaN or infinite values a float array holds (0 for other dtypes)."""
    if np.dtype(value.dtype).kind not in "fc":
        return 0
    return int(value.size - np.count_nonzero(np.isfinite(value)))


def apply_checkpoint(trainer, checkpoint: TrainingCheckpoint) -> None:
    """Put the checkpoint's weights, optimizer state and schedule state into ``trainer``
    (built); the history and the data generator are taken by ``fit(resume_from=)``.
    All or nothing: if any part is refused, nothing is changed."""
    graph = trainer.graph
    _check_weights(graph, checkpoint.weights, checkpoint.path)
    if checkpoint.optimizer["name"] != trainer.optimizer.name:
        raise CheckpointError(f"checkpoint {checkpoint.path!r} holds the state of optimizer "
                              f"{checkpoint.optimizer['name']!r}; this trainer uses {trainer.optimizer.name!r}")
    if (checkpoint.schedule is None) != (trainer.schedule is None):
        raise CheckpointError(f"checkpoint {checkpoint.path!r} was written "
                              f"{'without' if checkpoint.schedule is None else 'with'} an lr schedule; this trainer has "
                              f"{'one' if trainer.schedule is not None else 'none'}: pass the same lr_schedule")
    old_weights = snapshot(graph)
    old_optimizer = trainer.optimizer.state_dict()
    old_schedule = trainer.schedule.state_dict() if trainer.schedule is not None else None
    try:
        trainer.optimizer.load_state_dict(checkpoint.optimizer)  # checks everything before changing anything
        restore(graph, checkpoint.weights)
        if trainer.schedule is not None:
            trainer.schedule.load_state_dict(checkpoint.schedule["state"])
            if checkpoint.schedule["pending"]:  # saved in on_epoch_end, before the schedule's end-of-epoch step
                trainer.schedule.step()
    except BaseException:
        trainer.optimizer.load_state_dict(old_optimizer)
        restore(graph, old_weights)
        if old_schedule is not None:
            trainer.schedule.load_state_dict(old_schedule)
        raise


def load_checkpoint(trainer, path, *, limits=None) -> TrainingCheckpoint:
    """Read ``path`` and apply it to ``trainer`` (see :func:`apply_checkpoint`); returns it."""
    checkpoint = read_checkpoint(path, limits=limits)
    apply_checkpoint(trainer, checkpoint)
    return checkpoint


__all__ = ["snapshot", "restore", "save_weights", "load_weights", "read_weights", "stateful_nodes", "CheckpointError",
           "save_checkpoint", "read_checkpoint", "load_checkpoint", "apply_checkpoint", "checkpoint_document",
           "TrainingCheckpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]
