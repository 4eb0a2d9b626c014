"""The ``.ge`` save format, written and read without pickle, and without the Graph class.

A ``.ge`` file is a zip archive with two members:

* ``graph.json``: format version, graph name, backend, and the nodes in id order
  (name, kind, op name, input ids, attributes, declared shape and dtype, scope);
* ``arrays.npz``: param and const arrays (and array-valued attributes), read back with
  ``numpy.load(..., allow_pickle=False)``.

:func:`save` writes a graph (``Graph.save`` calls it); :func:`read` checks an archive and
returns its document and arrays; :func:`graphengine.serialization.load` builds the graph
from them. This module imports neither ``graph`` nor ``serialization``, so ``Graph.save``
needs no import of the module that imports ``Graph``.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from .errors import SaveFormatError
from .node import CONST, OP, PARAM

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


# ------------------------------------------------------------------------------ write/read

def save(graph, path) -> None:
    """Write ``graph`` (structure as JSON, arrays as .npz) to ``path``, a zip archive."""
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


def read(path) -> tuple:
    """``(document, arrays)`` of the save file at ``path``: the parsed ``graph.json`` and
    the arrays of ``arrays.npz``. Anything that is not exactly a graphengine save file of
    this format version is refused with a :class:`~graphengine.SaveFormatError` that says
    what was found."""
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
        found = f"format {document.get('format')!r}" if isinstance(document, dict) else f"a JSON {type(document).__name__}"
        raise SaveFormatError(f"{path}: graph.json is not a graphengine graph ({found}, expected an object with "
                              f"format {FORMAT!r})")
    if document.get("version") != FORMAT_VERSION:
        raise SaveFormatError(
            f"{path}: save format version {document.get('version')!r} is not supported "
            f"(this graphengine reads version {FORMAT_VERSION})"
        )
    return document, arrays


__all__ = ["FORMAT", "FORMAT_VERSION", "MEMBERS", "decode_attr", "encode_attr", "read", "save"]
