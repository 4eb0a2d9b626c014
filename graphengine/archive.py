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
import math
import os
import re
import zipfile
from dataclasses import dataclass, fields

import numpy as np

from .errors import GraphEngineError, SaveFileIsFolderError, SaveFormatError, require_file, require_writable
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
    if isinstance(path, (str, bytes, os.PathLike)):  # else a file object (io.BytesIO)
        path = require_writable(path, "graph", "model.ge")
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


# the zip files graphengine writes, and what reads them
_OTHER_KINDS = {
    ("arrays.npz", "graph.json"): "a whole-graph file (graph.save): read it with ge.load(path)",
    ("model.json", "weights.npz"): "a ge.nn model file (model.save): load it with ge.nn.load(path); "
                                   "draw(model) draws it",
    ("arrays.npz", "checkpoint.json"): "a training checkpoint (trainer.save_checkpoint, ModelCheckpoint): "
                                       "resume with fit(..., resume_from=path), or read its weights with "
                                       "ge.training.load_weights(model, path)",
}


def _other_kind_hint(names) -> str:
    kind = _OTHER_KINDS.get(tuple(sorted(set(names))))
    return f". It looks like {kind}" if kind else ""


def read_document_zip(path, json_member: str, npz_member: str, limits: "Limits", what: str) -> tuple:
    """(the parsed JSON of ``json_member``, the raw bytes of ``npz_member``) of a two-member
    zip such as a model file or a training checkpoint, every size and depth bounded by
    ``limits`` before reading. Any problem is a SaveFormatError starting ``"{path}: {what}: "``;
    a file of another kind names what reads it."""
    def fail(message):
        raise SaveFormatError(f"{path}: {what}: {message}")

    if not zipfile.is_zipfile(path):
        fail("not a zip archive")
    try:
        with _open_zip(path, 16, path, f"a {what} has 2 members;") as z:
            infos = z.infolist()
            names = [info.filename for info in infos]
            expected = [json_member, npz_member]
            if sorted(names) != sorted(expected):
                fail(f"members {sorted(names)[:10]}, expected {expected} once each{_other_kind_hint(names)}")
            by_name = {info.filename: info for info in infos}
            raw = _read_member(z, by_name[json_member], limits.max_json_bytes, path, "max_json_bytes")
            raw_npz = _read_member(z, by_name[npz_member], limits.max_array_bytes + _npz_overhead(limits), path,
                                   "max_array_bytes")
    except (SaveFormatError, FileNotFoundError):
        raise
    except Exception as exc:  # a damaged zip directory
        fail(f"the zip archive cannot be read ({type(exc).__name__}: {exc})")
    depth = json_depth(raw)
    if depth > limits.max_json_depth:
        fail(f"{json_member} nests {depth} levels deep, over the limit of {limits.max_json_depth} "
             "(Limits.max_json_depth)")
    try:
        return json.loads(raw.decode("utf-8")), raw_npz
    except (ValueError, RecursionError) as exc:
        fail(f"{json_member} is not valid JSON ({exc})")


def read(path, *, limits: "Limits | None" = None) -> tuple:
    """``(document, arrays)`` of the save file at ``path``: the parsed ``graph.json`` and
    the arrays of ``arrays.npz``. Anything that is not exactly a graphengine save file of
    this format version is refused with a :class:`~graphengine.SaveFormatError` that names
    the member and says what was found.

    Everything is checked before it is used, and sizes before anything is allocated (see
    :class:`Limits`): member names, count and uncompressed sizes, JSON nesting depth, the
    document's schema (node fields and their types, attribute encodings, dtypes), and each
    ``.npy`` header against the shape and dtype its node declares. Object (pickled) arrays
    are refused; nothing in the file is ever executed.
    """
    limits = resolve_limits(limits)
    if isinstance(path, (str, bytes, os.PathLike)):
        path = require_file(path, "graph file", "save one with g.save(path), or check the path",
                            suffixes=(".ge",), folder_error=SaveFileIsFolderError)
    try:
        archive = _open_zip(path, _MAX_DIRECTORY_ENTRIES, f"{path}", "a graphengine save file may list at most")
    except (FileNotFoundError, SaveFormatError):
        raise
    except Exception as exc:  # any malformed zip: BadZipFile, OSError, ValueError, EOFError, ...
        raise SaveFormatError(f"{path} is not a graphengine save file (not a readable zip archive: "
                              f"{type(exc).__name__}: {exc})") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if sorted(names) != sorted(MEMBERS):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            what = (f"duplicate member{'s' if len(duplicates) > 1 else ''} {', '.join(map(repr, duplicates))}"
                    if duplicates else f"members {sorted(names)[:10]}{' ...' if len(names) > 10 else ''}")
            raise SaveFormatError(
                f"{path} is not a graphengine save file: it holds {what}, expected exactly "
                f"{sorted(MEMBERS)} once each; refusing to load anything else{_other_kind_hint(names)}"
            )
        by_name = {info.filename: info for info in infos}
        raw_json = _read_member(archive, by_name["graph.json"], limits.max_json_bytes, path, "max_json_bytes")
        document = _parse_json(raw_json, path, limits)
        expected = _check_document(document, path)
        raw_npz = _read_member(archive, by_name["arrays.npz"], limits.max_array_bytes + _npz_overhead(limits), path,
                               "max_array_bytes")
    arrays = _read_npz(raw_npz, f"{path}: arrays.npz", limits, expected)
    del raw_npz
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise SaveFormatError(f"{path}: graph.json uses array{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(map(repr, missing[:5]))} that arrays.npz does not hold")
    return document, arrays


# ------------------------------------------------------------------------------ limits

MAX_JSON_BYTES = 64 * 2**20
"""Largest uncompressed ``graph.json`` :func:`read` accepts by default (64 MiB)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of JSON arrays and objects accepted by default (a saved graph uses < 10)."""
MAX_ARRAY_BYTES = 8 * 2**30
"""Largest total of array data (uncompressed ``arrays.npz``) accepted by default (8 GiB)."""
MAX_ARRAYS = 100_000
"""Most members ``arrays.npz`` may hold by default."""



def _npz_overhead(limits) -> int:
    """Room for the zip directory and the .npy headers around the array data."""
    return 2**20 + 1024 * limits.max_arrays


@dataclass(frozen=True)
class Limits:
    """Bounds :func:`read` (``ge.load(path, limits=...)``) checks before reading or allocating.

    >>> small = Limits(max_array_bytes=2**20)     # refuse files with more than 1 MiB of arrays
    """

    max_json_bytes: int = MAX_JSON_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    max_array_bytes: int = MAX_ARRAY_BYTES
    max_arrays: int = MAX_ARRAYS

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise LimitsError(f"Limits({field.name}={value!r}): every limit is an int of 0 or more "
                                  f"(default {field.name}={field.default})")


class LimitsError(GraphEngineError, ValueError):
    """A ``limits=`` argument that is not a :class:`Limits` of whole, non-negative bounds."""


DEFAULT_LIMITS = Limits()


def resolve_limits(limits) -> Limits:
    """``limits`` as given to a loader: None for the defaults, else a :class:`Limits`."""
    if limits is None:
        return DEFAULT_LIMITS
    if not isinstance(limits, Limits):
        raise LimitsError(f"limits= takes a graphengine.archive.Limits (e.g. Limits(max_array_bytes=2**20)) or "
                          f"None for the defaults, got {type(limits).__name__} {limits!r:.60}")
    return limits

# dtypes a saved graph may declare: booleans and numbers, never objects, strings or records
ALLOWED_DTYPES = frozenset(np.dtype(c).name for c in "?bhilqBHILQefdgFDG")
_ARRAY_KINDS = frozenset("biufc")


_DIRECTORY_BYTES_PER_MEMBER = 1024
_MAX_DIRECTORY_ENTRIES = 16  # a save file has 2 members; a few more are read only to name them in the error


def _open_zip(source, max_members, where, allowed):
    """``zipfile.ZipFile(source)``, after checking the end-of-directory record: zipfile reads
    the whole central directory into memory, so its declared size and entry count are bounded
    first (``max_members`` entries of at most 1 KiB each)."""
    is_path = isinstance(source, (str, bytes, os.PathLike))
    stream = open(source, "rb") if is_path else source
    try:
        end = zipfile._EndRecData(stream)  # the record zipfile itself reads first; None if there is none
    finally:
        if is_path:
            stream.close()
    if end is not None:
        entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
        if entries > max_members or size > _DIRECTORY_BYTES_PER_MEMBER * max_members:
            raise SaveFormatError(f"{where}: the zip directory declares {entries} members in {size} bytes; "
                                  f"{allowed} {max_members} (of at most {_DIRECTORY_BYTES_PER_MEMBER} "
                                  "directory bytes each); refusing to read it")
    if not is_path:
        stream.seek(0)
    return zipfile.ZipFile(source)


def _read_member(archive, info, limit, path, limit_name):
    """The bytes of one member, refusing more than ``limit`` (declared or actual) bytes."""
    member = info.filename
    if info.file_size > limit:
        raise SaveFormatError(f"{path}: member {member} declares {info.file_size} uncompressed bytes, over the "
                              f"limit of {limit} (Limits.{limit_name}); pass ge.load(..., limits=ge.archive.Limits"
                              f"({limit_name}=...)) if you trust this file")
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except Exception as exc:  # zlib.error, BadZipFile (CRC), NotImplementedError (method), RuntimeError (encrypted)
        raise SaveFormatError(f"{path}: member {member} cannot be read, the file is damaged "
                              f"({type(exc).__name__}: {exc})") from None
    if len(data) > limit:
        raise SaveFormatError(f"{path}: member {member} inflates to more than {limit} bytes "
                              f"(Limits.{limit_name}); refusing it")
    return data


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text (strings skipped), without parsing it."""
    codes = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = (codes == ord("[")).astype(np.int64) + (codes == ord("{")) - (codes == ord("]")) - (codes == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def _parse_json(raw, path, limits):
    depth = json_depth(raw)
    if depth > limits.max_json_depth:
        raise SaveFormatError(f"{path}: member graph.json nests {depth} levels deep, over the limit of "
                              f"{limits.max_json_depth} (Limits.max_json_depth); a saved graph nests far less")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SaveFormatError(f"{path}: member graph.json is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = (f"format {document.get('format')!r}" if isinstance(document, dict)
                 else f"a JSON {type(document).__name__}")
        raise SaveFormatError(f"{path}: graph.json is not a graphengine graph ({found}, expected an object with "
                              f"format {FORMAT!r})")
    if not _is_int(document.get("version")) or document["version"] != FORMAT_VERSION:
        raise SaveFormatError(
            f"{path}: save format version {document.get('version')!r} is not supported "
            f"(this graphengine reads version {FORMAT_VERSION})"
        )
    return document


# ------------------------------------------------------------------------------ schema

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_dtype_name(value, where):
    """The numpy dtype a document names, refusing anything but booleans and numbers."""
    if not isinstance(value, str) or value not in ALLOWED_DTYPES:
        raise SaveFormatError(f"{where}: dtype {value!r} is not one of {', '.join(sorted(ALLOWED_DTYPES))}")
    return np.dtype(value)


def _check_shape(value, where, allow_none_dims):
    if not isinstance(value, list) or len(value) > 64:
        raise SaveFormatError(f"{where}: shape {value!r} is not a list of at most 64 dimensions")
    for dim in value:
        if not ((_is_int(dim) and dim >= 0) or (dim is None and allow_none_dims)):
            raise SaveFormatError(f"{where}: shape {value!r} has dimension {dim!r}; dimensions are non-negative "
                                  f"integers{' or null' if allow_none_dims else ''}")
    return tuple(value)


_NODE_FIELDS = {
    "input": {"id", "name", "kind", "scope", "shape", "dtype"},
    "param": {"id", "name", "kind", "scope", "shape", "dtype", "value"},
    "const": {"id", "name", "kind", "scope", "shape", "dtype", "value"},
    "op": {"id", "name", "kind", "scope", "shape", "dtype", "op", "inputs", "attrs"},
}


def _check_document(document, path) -> dict:
    """Check graph.json's schema; ``{array key: (shape, dtype) or None}`` of the arrays it uses."""
    top = {"format", "version", "name", "backend", "nodes"}
    if set(document) != top:
        raise SaveFormatError(f"{path}: graph.json has fields {sorted(document)}, expected exactly {sorted(top)}")
    for field in ("name", "backend"):
        if not isinstance(document[field], str):
            raise SaveFormatError(f"{path}: graph.json field {field!r} is {document[field]!r}, expected a string")
    nodes = document["nodes"]
    if not isinstance(nodes, list):
        raise SaveFormatError(f"{path}: graph.json field 'nodes' is a JSON {type(nodes).__name__}, expected a list")
    expected: dict = {}
    for position, entry in enumerate(nodes):
        where = f"{path}: graph.json nodes[{position}]"
        if not isinstance(entry, dict):
            raise SaveFormatError(f"{where} is a JSON {type(entry).__name__}, expected an object")
        kind = entry.get("kind")
        if not isinstance(kind, str) or kind not in _NODE_FIELDS:
            raise SaveFormatError(f"{where}: kind {kind!r} is not one of {sorted(_NODE_FIELDS)}")
        if set(entry) != _NODE_FIELDS[kind]:
            raise SaveFormatError(f"{where} ({kind}): has fields {sorted(entry)}, expected exactly "
                                  f"{sorted(_NODE_FIELDS[kind])}")
        if entry["id"] != position or not _is_int(entry["id"]):
            raise SaveFormatError(f"{where}: id {entry['id']!r}, expected {position} (nodes are saved in id order)")
        name, scope = entry["name"], entry["scope"]
        if not isinstance(name, str) or not name:
            raise SaveFormatError(f"{where}: name {name!r} is not a non-empty string")
        where = f"{path}: graph.json node {name!r}"
        if scope is not None and not isinstance(scope, str):
            raise SaveFormatError(f"{where}: scope {scope!r} is not a string")
        if scope and not name.startswith(scope + "/"):
            raise SaveFormatError(f"{where}: name does not start with its scope {scope!r}")
        shape = None if entry["shape"] is None else _check_shape(entry["shape"], where, kind in ("input", "op"))
        dtype = None if entry["dtype"] is None else check_dtype_name(entry["dtype"], where)
        if kind in ("param", "const"):
            value = entry["value"]
            if isinstance(value, dict):
                if set(value) != {"array"} or not isinstance(value["array"], str):
                    raise SaveFormatError(f"{where}: value {value!r} is neither a number nor {{'array': key}}")
                if shape is None or dtype is None or None in shape:
                    raise SaveFormatError(f"{where}: an array value needs a declared shape (no null dimensions) "
                                          "and dtype")
                _expect(expected, value["array"], (shape, dtype), where)
            elif not isinstance(value, (int, float)):
                raise SaveFormatError(f"{where}: value {value!r} is neither a number nor {{'array': key}}")
        elif kind == "op":
            if not isinstance(entry["op"], str):
                raise SaveFormatError(f"{where}: op {entry['op']!r} is not a string")
            inputs = entry["inputs"]
            if not isinstance(inputs, list) or not all(_is_int(i) and 0 <= i < position for i in inputs):
                raise SaveFormatError(f"{where}: inputs {inputs!r} must be ids of earlier nodes (0..{position - 1})")
            if not isinstance(entry["attrs"], dict):
                raise SaveFormatError(f"{where}: attrs is a JSON {type(entry['attrs']).__name__}, expected an object")
            for attr, value in entry["attrs"].items():
                _check_attr(value, f"{where}: attribute {attr!r}", expected)
    return expected


def _expect(expected, key, spec, where):
    if key in expected:
        raise SaveFormatError(f"{where}: array {key!r} is used twice; every saved array belongs to one place")
    expected[key] = spec


def _check_attr(value, where, expected):
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list):
        for item in value:
            _check_attr(item, where, expected)
        return
    if not isinstance(value, dict) or len(value) != 1:
        raise SaveFormatError(f"{where}: malformed value {value!r}")
    (tag, inner), = value.items()
    if tag in ("tuple", "slice"):
        if not isinstance(inner, list) or (tag == "slice" and len(inner) != 3):
            raise SaveFormatError(f"{where}: malformed {tag} {inner!r}")
        for item in inner:
            _check_attr(item, where, expected)
    elif tag == "ellipsis":
        if inner is not True:
            raise SaveFormatError(f"{where}: malformed ellipsis {inner!r}")
    elif tag == "dtype":
        check_dtype_name(inner, where)
    elif tag == "dict":
        if not isinstance(inner, dict):
            raise SaveFormatError(f"{where}: malformed dict {inner!r}")
        for item in inner.values():
            _check_attr(item, where, expected)
    elif tag == "array":
        if not isinstance(inner, str):
            raise SaveFormatError(f"{where}: array key {inner!r} is not a string")
        _expect(expected, inner, None, where)
    else:
        raise SaveFormatError(f"{where}: unknown attribute tag {tag!r}")


# ------------------------------------------------------------------------------ arrays

def read_npz(source, where: str, limits: "Limits | None" = None, expected: dict | None = None) -> dict:
    """``{key: array}`` of a ``.npz`` (a path or bytes), checking before allocating anything:
    member count, names and sizes against ``limits``, each ``.npy`` header (no objects, data
    size within the member) and, where ``expected`` gives ``(shape, dtype)`` for a key, that
    the header declares exactly that. Every failure is a :class:`SaveFormatError` naming the
    member. ``expected`` (when given) also lists every key the file may hold."""
    limits = resolve_limits(limits)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return _read_npz(source, where, limits, expected)


def _read_npz(raw, where, limits, expected):
    if isinstance(raw, (bytes, bytearray)):
        raw = io.BytesIO(raw)
    try:
        npz = _open_zip(raw, limits.max_arrays, where, "Limits.max_arrays allows")
    except (FileNotFoundError, SaveFormatError):
        raise
    except Exception as exc:
        raise SaveFormatError(f"{where} is not a readable .npz (zip) archive ({type(exc).__name__}: {exc})") from None
    arrays = {}
    used = 0
    with npz:
        infos = npz.infolist()
        if len(infos) > limits.max_arrays:
            raise SaveFormatError(f"{where} holds {len(infos)} members, over the limit of {limits.max_arrays} "
                                  "(Limits.max_arrays)")
        total = sum(info.file_size for info in infos)
        if total > limits.max_array_bytes + _npz_overhead(limits):
            raise SaveFormatError(f"{where} declares {total} uncompressed bytes, over the limit of "
                                  f"{limits.max_array_bytes} (Limits.max_array_bytes)")
        for info in infos:
            member = info.filename
            if not member.endswith(".npy"):
                raise SaveFormatError(f"{where}: member {member!r} is not a .npy array")
            key = member[:-4]
            if key in arrays:
                raise SaveFormatError(f"{where}: member {member!r} appears twice; refusing an ambiguous file")
            if expected is not None and key not in expected:
                raise SaveFormatError(f"{where}: member {member!r} is not used by any node of graph.json")
            spec = None if expected is None else expected[key]
            arrays[key] = _read_npy(npz, info, f"{where}: member {member!r}", spec, limits.max_array_bytes - used)
            used += arrays[key].nbytes
    return arrays


def _read_npy(npz, info, where, spec, remaining):
    fmt = np.lib.format
    try:
        with npz.open(info) as stream:
            version = fmt.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(stream)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = fmt.read_array_header_2_0(stream)
            else:
                raise ValueError(f".npy format version {version} is not supported")
            if dtype.hasobject or dtype.kind not in _ARRAY_KINDS:
                raise SaveFormatError(f"{where}: holds dtype {dtype}; only booleans and numbers are loaded, "
                                      "pickled objects are refused")
            if spec is not None:
                want_shape, want_dtype = spec
                if tuple(shape) != tuple(want_shape) or dtype.newbyteorder("=") != want_dtype.newbyteorder("="):
                    raise SaveFormatError(f"{where}: holds an array of shape {tuple(shape)} and dtype {dtype}, but "
                                          f"graph.json declares shape {tuple(want_shape)} and dtype {want_dtype}")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > remaining:
                raise SaveFormatError(f"{where}: header declares shape {tuple(shape)} of {dtype} ({nbytes} bytes), "
                                      "more array data than the limit allows (Limits.max_array_bytes)")
            offset = stream.tell()
            if nbytes != info.file_size - offset:
                held = max(info.file_size - offset, 0)
                raise SaveFormatError(f"{where}: header declares shape {tuple(shape)} of {dtype} ({nbytes} bytes) "
                                      f"but the member holds {'only ' if held < nbytes else ''}{held} data bytes")
            data = stream.read(nbytes)
    except SaveFormatError:
        raise
    except Exception as exc:  # bad magic or header (ValueError), damaged stream (zlib.error, BadZipFile), ...
        raise SaveFormatError(f"{where} is not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if len(data) != nbytes:
        raise SaveFormatError(f"{where}: truncated, {len(data)} of {nbytes} data bytes")
    array = np.frombuffer(bytearray(data), dtype=dtype)
    array = array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)
    # a file written on a machine of the other byte order: same values, in this machine's order
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


__all__ = ["DEFAULT_LIMITS", "FORMAT", "FORMAT_VERSION", "Limits", "LimitsError", "resolve_limits", "MAX_ARRAYS", "MAX_ARRAY_BYTES",
           "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MEMBERS", "decode_attr", "encode_attr", "json_depth", "read",
           "read_npz", "read_document_zip", "save"]
