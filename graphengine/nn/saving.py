"""``model.save(path)``: a ``ge.nn`` model in one file, only data (JSON and ``.npz``, no pickle).

The file is a zip archive with two members:

* ``model.json``::

    {"format": "graphengine-nn-model", "version": 1,
     "name": "sequential",                          # the model's scope name when saved
     "model": {"class": "Sequential", "config": {   # each layer: its class and get_config()
         "layers": [{"class": "Dense", "config": {"in_features": 784, "out_features": 30, ...}},
                    {"class": "Activation", "config": {"op": "sigmoid", "name": null}}, ...],
         "name": null}},
     "inputs": [{"shape": [null, 784], "dtype": "float32"}],   # what load builds the model on
     "weights": {"dense_1/W": {"array": "w0", "shape": [784, 30], "dtype": "float32"}, ...},
     "optimizer": null or {"name": "adam", "hyper": {...}, "steps": 1500,
                           "params": ["dense_1/W", ...],
                           "state": {"dense_1/W": {"m": {"array": "o0", "shape": [...], "dtype": ...}, ...}}},
     "training": null or {"loss": "cross_entropy", "metrics": ["accuracy"]}}

  Weight names are the node names below the model's scope (``sequential/dense_1/W`` is
  ``dense_1/W``). A config value that is a JSON object is a nested layer (``{"class",
  "config"}``); a layer whose class is not a built-in ``ge.nn`` layer is marked
  ``"custom": true`` and loads only when the caller passes its class
  (``ge.nn.load(path, custom_objects={"MyBlock": MyBlock})``).
* ``weights.npz``: the arrays ``w0, w1, ...`` (params, then running statistics) and
  ``o0, o1, ...`` (the optimizer's per-param arrays).

:func:`graphengine.nn.loading.load` reads it back, checking everything first.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import warnings
import zipfile

import numpy as np

from ..errors import require_writable
from .errors import ModuleError

FORMAT = "graphengine-nn-model"
VERSION = 1
MEMBERS = ("model.json", "weights.npz")
BUILTIN_SOURCES = ("graphengine.nn.layers", "graphengine.nn.conv", "graphengine.nn.embedding",
                   "graphengine.nn.normalization", "graphengine.nn.pooling")


def is_builtin(cls) -> bool:
    """True for a ge.nn layer class (``Dense``, ``Conv2d``, ...): what loads without ``custom_objects``."""
    module = sys.modules.get(cls.__module__)
    return (cls.__module__ in BUILTIN_SOURCES and not cls.__name__.startswith("_")
            and getattr(module, cls.__name__, None) is cls)


def layer_spec(module, where: str) -> dict:
    """``{"class": name, "config": {...}}`` of ``module`` (nested layers as specs)."""
    cls = type(module)
    config = module.get_config()
    if not isinstance(config, dict) or not all(isinstance(k, str) and k.isidentifier() for k in config):
        raise ModuleError(f"cannot save {where} ({cls.__name__}): get_config() must return a dict of argument names, "
                          f"got {config!r:.100}")
    spec = {"class": cls.__name__,
            "config": {k: _encode(v, f"{where}.{k}", f"{where} ({cls.__name__})") for k, v in config.items()}}
    if not is_builtin(cls):
        spec["custom"] = True
    return spec


def _encode(value, where, layer):
    if _is_module(value):
        return layer_spec(value, where)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise ModuleError(f"cannot save {layer}: config value {where} is {value}; a file holds finite numbers")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]", layer) for i, v in enumerate(value)]
    raise ModuleError(f"cannot save {layer}: config value {where} is a {type(value).__name__} ({value!r:.60}); "
                      "a config holds None, bools, numbers, strings, lists of them and layers. Pass that argument "
                      "by name or number, or leave it out of get_config()")


def _is_module(value) -> bool:
    """A ge.nn module (duck-typed: this file is imported by graphengine.nn.module)."""
    return hasattr(value, "get_config") and hasattr(value, "_children") and hasattr(value, "forward")


def model_document(model, include_optimizer: bool = True) -> tuple[dict, dict]:
    """``(document, arrays)``: what :func:`save_model` writes for ``model``."""
    kind = type(model).__name__
    if not model.built:
        raise ModuleError(f"cannot save {kind} {model.name or model.default_name!r}: it is not built yet, so it has "
                          "no weights. Train it (ge.training.fit), call it on an input node, or model.build((None, 784))"
                          " first")
    inputs, _output, _training, extra = model._first_call
    if extra:
        raise ModuleError(f"cannot save {kind} {model.path!r}: it was built with arguments other than input nodes, "
                          "which a file cannot rebuild; build it on its input nodes only")
    spec = layer_spec(model, "model")
    prefix = model.path + "/"
    arrays: dict = {}
    weights: dict = {}
    for node in list(model.params()) + list(model.state()):
        if not node.name.startswith(prefix):
            raise ModuleError(f"cannot save {kind} {model.path!r}: its array {node.name!r} lies outside its scope")
        key = f"w{len(weights)}"
        value = _host(node.value)
        arrays[key] = value
        weights[node.name[len(prefix):]] = {"array": key, "shape": list(value.shape), "dtype": value.dtype.name}
    optimizer = model.optimizer if include_optimizer else None
    document = {
        "format": FORMAT, "version": VERSION, "name": model.path.rsplit("/", 1)[-1], "model": spec,
        "inputs": [{"shape": None if n.shape is None else [None] + [None if d is None else int(d) for d in n.shape[1:]],
                    "dtype": None if n.dtype is None else np.dtype(n.dtype).name} for n in inputs],
        "weights": weights,
        "optimizer": None if optimizer is None else _optimizer_document(model, optimizer, prefix, arrays),
        "training": _training_document(model) if include_optimizer else None,
    }
    return document, arrays


def _host(value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return value.get() if hasattr(value, "get") else np.asarray(value)


def _optimizer_document(model, optimizer, prefix, arrays) -> dict:
    state = optimizer.state_dict()
    names = []
    for p in optimizer.params:
        if not p.name.startswith(prefix) or p.graph is not model.graph:
            raise ModuleError(f"cannot save the optimizer with {type(model).__name__} {model.path!r}: it also updates "
                              f"{p.name!r}, which is not a param of the model; save with include_optimizer=False")
        names.append(p.name[len(prefix):])
    saved = {}
    k = 0
    for pname, items in state["state"].items():
        entry = {}
        for key, value in items.items():
            if hasattr(value, "shape"):
                value = np.asarray(value)
                arrays[f"o{k}"] = value
                entry[key] = {"array": f"o{k}", "shape": list(value.shape), "dtype": value.dtype.name}
                k += 1
            else:
                entry[key] = _number(value, f"optimizer state {pname}/{key}")
        saved[pname[len(prefix):]] = entry
    return {"name": state["name"], "hyper": {key: _number(v, f"hyper-parameter {key}") for key, v in state["hyper"].items()},
            "steps": int(state["steps"]), "params": names, "state": saved}


def _number(value, where):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise ModuleError(f"cannot save the optimizer's {where}: it is {float(value)}, and a file holds finite "
                              "numbers only (a JSON file has no NaN or infinity). Set it to a finite value "
                              "(optimizer.hyper[...] = ...) or save with include_optimizer=False")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_number(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ModuleError(f"cannot save {where}: {type(value).__name__} {value!r:.60} is not a number; save with "
                      "include_optimizer=False")


def _training_document(model):
    """The loss and metric names of the trainer (or of the file the model came from)."""
    from ..training.metrics import METRICS

    trainer = model.trainer
    if trainer is None:
        return model.training_config
    loss = trainer.loss_spec if isinstance(getattr(trainer, "loss_spec", None), str) else None
    metrics = [name for name, _ in getattr(trainer, "metrics", []) if name in METRICS]
    dropped = ([f"the loss {getattr(trainer.loss_spec, '__name__', 'function')}"] if loss is None else []) + \
        [f"the metric {name}" for name, _ in getattr(trainer, "metrics", []) if name not in METRICS]
    if dropped:
        warnings.warn(f"model.save keeps the weights and optimizer state but not {' and '.join(dropped)} (Python "
                      "functions are never written to a file): after ge.nn.load, pass them again to evaluate or "
                      "fit (loss=, metrics=)", UserWarning, stacklevel=3)
    return {"loss": loss, "metrics": metrics}


def make_folder_of(path: str, what: str) -> None:
    """Create the folder ``path`` is in (and its parents) when it does not exist; a
    :class:`~graphengine.errors.MissingFileError` (a ``FileNotFoundError``) naming the folder
    where it cannot be made (a file of that name is in the way, no permission)."""
    from ..errors import MissingFileError

    folder = os.path.dirname(path)
    if not folder or os.path.isdir(folder):
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        error = MissingFileError(f"cannot write the {what} to {path!r}: its folder {folder!r} does not exist and "
                                 f"cannot be made ({type(exc).__name__}: {exc.strerror or exc}); pick a path in a "
                                 "folder you can write to")
        error.filename = path
        raise error from exc


def save_model(model, path, include_optimizer: bool = True) -> str:
    """Write ``model`` to ``path`` (see the module docstring), replacing the file
    atomically (a crash while writing leaves the old one); returns the path."""
    path = os.fspath(path)
    if os.path.isdir(path):
        require_writable(path, "model", "model.genn")  # NotAFileError (an IsADirectoryError), before any work
    document, arrays = model_document(model, include_optimizer)
    text = json.dumps(document, indent=1, allow_nan=False)  # every number was checked finite above
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    make_folder_of(path, "model")
    partial = path + ".partial"
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            archive.writestr("model.json", text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("weights.npz", buffer.getvalue(), compress_type=zipfile.ZIP_STORED)
        os.replace(partial, path)
    finally:
        if os.path.lexists(partial) and not os.path.isdir(partial):
            os.remove(partial)
    return path


__all__ = ["save_model", "make_folder_of", "model_document", "layer_spec", "is_builtin", "FORMAT", "VERSION", "MEMBERS",
           "BUILTIN_SOURCES"]
