"""Saving and loading graphs without pickle.

A ``.ge`` file is a zip archive with two members:

* ``graph.json``: format version, graph name, backend, and the nodes in id order
  (name, kind, op name, input ids, attributes, declared shape and dtype, scope);
* ``arrays.npz``: param and const arrays (and array-valued attributes), read back with
  ``numpy.load(..., allow_pickle=False)``.

Anything else in the archive, an unknown format version, an object array, or an op that
no loaded plugin provides, is refused with an error that says what was found.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from .errors import GraphEngineError, SaveFormatError, UnknownOpError
from .node import CONST, INPUT, OP, PARAM

FORMAT = "graphengine-graph"
FORMAT_VERSION = 1
MEMBERS = {"graph.json", "arrays.npz"}


# ---------------------------------------------------------------------------- attributes

def encode_attr(value, arrays: dict, key: str):
    """Attribute value to JSON; arrays go to ``arrays`` under ``key``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"tuple": [encode_attr(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode_attr(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, slice):
        return {"slice": [encode_attr(v, arrays, key) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"dtype": np.dtype(value).name}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SaveFormatError(f"attribute {key!r}: dict keys must be strings to save")
        return {"dict": {k: encode_attr(v, arrays, f"{key}.{k}") for k, v in value.items()}}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        arrays[key] = np.asarray(value)
        return {"array": key}
    raise SaveFormatError(
        f"attribute {key!r} has a value of type {type(value).__name__} that cannot be saved as JSON; "
        "op attributes must be numbers, strings, None, tuples, slices, dtypes or arrays"
    )


def decode_attr(value, arrays):
    if isinstance(value, list):
        return [decode_attr(v, arrays) for v in value]
    if isinstance(value, dict):
        if len(value) != 1:
            raise SaveFormatError(f"malformed attribute {value!r}")
        (tag, inner), = value.items()
        if tag == "tuple":
            return tuple(decode_attr(v, arrays) for v in inner)
        if tag == "slice":
            return slice(*(decode_attr(v, arrays) for v in inner))
        if tag == "ellipsis":
            return Ellipsis
        if tag == "dtype":
            return np.dtype(inner)
        if tag == "dict":
            return {k: decode_attr(v, arrays) for k, v in inner.items()}
        if tag == "array":
            if inner not in arrays:
                raise SaveFormatError(f"attribute array {inner!r} is missing from arrays.npz")
            return arrays[inner]
        raise SaveFormatError(f"unknown attribute tag {tag!r}")
    return value


# ------------------------------------------------------------------------------- save/load

def save(graph, path) -> None:
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    to_numpy = graph._backend.to_numpy
    for node in graph._nodes:
        entry = {
            "id": node.id,
            "name": node.name,
            "kind": node.kind,
            "scope": node.scope,
            "shape": None if node.shape is None else list(node.shape),
            "dtype": None if node.dtype is None else node.dtype.name,
        }
        if node.kind == OP:
            entry["op"] = node.op
            entry["inputs"] = [i.id for i in node.inputs]
            entry["attrs"] = {k: encode_attr(v, arrays, f"attr.{node.id}.{k}") for k, v in node.attrs.items()}
        elif node.kind in (PARAM, CONST):
            value = node._value
            if hasattr(value, "shape"):
                arrays[f"value.{node.id}"] = to_numpy(value)
                entry["value"] = {"array": f"value.{node.id}"}
            else:
                entry["value"] = value  # weak Python scalar
        nodes.append(entry)
    document = {"format": FORMAT, "version": FORMAT_VERSION, "name": graph.name,
                "backend": graph.backend, "nodes": nodes}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("graph.json", json.dumps(document, indent=1, sort_keys=True))
        archive.writestr("arrays.npz", buffer.getvalue())


def load(path, *, plugins=None, backend: str | None = None):
    """Load a graph saved with ``Graph.save``: names, ids, scopes and arrays come back as saved.

    ``plugins`` is the plugin manager to find ops in (default: the default one);
    ``backend`` overrides the backend recorded in the file.
    """
    from .graph import Graph

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, IsADirectoryError) as exc:
        raise SaveFormatError(f"{path} is not a graphengine save file (not a zip archive: {exc})") from None
    with archive:
        names = set(archive.namelist())
        if names != MEMBERS:
            raise SaveFormatError(
                f"{path} is not a graphengine save file: it holds {sorted(names)}, expected exactly "
                f"{sorted(MEMBERS)}; refusing to load anything else"
            )
        try:
            document = json.loads(archive.read("graph.json").decode("utf-8"))
        except ValueError as exc:
            raise SaveFormatError(f"{path}: graph.json is not valid JSON ({exc})") from None
        try:
            with np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except ValueError as exc:
            raise SaveFormatError(f"{path}: arrays.npz holds something other than plain arrays ({exc}); "
                                  "pickled objects are refused") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SaveFormatError(f"{path}: graph.json is not a graphengine graph (format {document.get('format')!r})")
    if document.get("version") != FORMAT_VERSION:
        raise SaveFormatError(
            f"{path}: save format version {document.get('version')!r} is not supported "
            f"(this graphengine reads version {FORMAT_VERSION})"
        )
    graph = Graph(document["name"], backend=backend or document.get("backend", "numpy"), plugins=plugins)
    by_id = {}
    try:
        for entry in document["nodes"]:
            by_id[entry["id"]] = _load_node(graph, entry, arrays, by_id, path)
    except (KeyError, TypeError) as exc:
        raise SaveFormatError(f"{path}: malformed node entry ({type(exc).__name__}: {exc})") from None
    return graph


def _load_node(graph, entry, arrays, by_id, path):
    kind = entry["kind"]
    scope = entry.get("scope") or ""
    parts = scope.split("/") if scope else []
    local = entry["name"][len(scope) + 1:] if scope else entry["name"]
    saved_scopes = graph._scopes
    graph._scopes = parts
    try:
        if kind == INPUT:
            node = graph.input(local, shape=entry["shape"], dtype=entry["dtype"])
        elif kind in (PARAM, CONST):
            value = decode_attr(entry["value"], arrays)
            node = graph.param(local, value) if kind == PARAM else graph.const(value, name=local)
        elif kind == OP:
            op_name = entry["op"]
            if op_name not in graph.plugins.ops:
                raise UnknownOpError(
                    f"{path}: node {entry['name']!r} uses op {op_name!r}, which no loaded plugin provides. "
                    "Install (or enable in GRAPHENGINE_PLUGINS) the plugin that registers it, then load again."
                )
            inputs = [by_id[i] for i in entry["inputs"]]
            attrs = {k: decode_attr(v, arrays) for k, v in entry.get("attrs", {}).items()}
            node = graph.apply(op_name, *inputs, name=local, **attrs)
        else:
            raise SaveFormatError(f"{path}: unknown node kind {kind!r}")
    except GraphEngineError:
        raise
    finally:
        graph._scopes = saved_scopes
    if node.id != entry["id"] or node.name != entry["name"]:
        raise SaveFormatError(f"{path}: node {entry['name']!r} did not load with its saved id and name")
    return node
