"""Saving and loading graphs without pickle: ``g.save(path)`` and ``ge.load(path)``.

The format (a zip archive with ``graph.json`` and ``arrays.npz``) is written and checked by
:mod:`graphengine.archive`; this module rebuilds a :class:`~graphengine.Graph` from it:
names, ids, scopes and arrays come back as saved. An op that no loaded plugin provides is
refused with an error that names the node and the op.
"""

from __future__ import annotations

from . import op_attributes
from .archive import FORMAT, FORMAT_VERSION, Limits, decode_attr, read, save
from .errors import AttributeSpecError, GraphEngineError, SaveFormatError, UnknownOpError
from .graph import Graph
from .node import CONST, INPUT, OP, PARAM


class UnknownSavedOpError(SaveFormatError, UnknownOpError):
    """A saved graph uses an op that no loaded plugin provides (both a save-format and an unknown-op error)."""


def load(path, *, plugins=None, backend: str | None = None, limits: Limits | None = None):
    """Load a graph saved with ``Graph.save``: names, ids, scopes and arrays come back as saved.

    ``plugins`` is the plugin manager to find ops in (default: the default one);
    ``backend`` overrides the backend recorded in the file; ``limits`` (an
    :class:`graphengine.archive.Limits`) bounds what is read before anything is allocated.

    A file is only data: everything in it is checked against the format's schema and the
    ops' declared attributes before use, and every problem is a
    :class:`~graphengine.SaveFormatError` naming the member, node and what is wrong (see
    "Loading files you did not write" in docs/training.md).
    """
    document, arrays = read(path, limits=limits)
    try:
        graph = Graph(document["name"], backend=backend or document["backend"], plugins=plugins)
    except GraphEngineError as exc:
        if backend is not None:
            raise
        raise SaveFormatError(f"{path}: graph.json backend {document['backend']!r} cannot be used: {exc}; "
                              "pass ge.load(..., backend='numpy') to load it on another backend") from exc
    by_id = []
    for entry in document["nodes"]:
        by_id.append(_load_node(graph, entry, arrays, by_id, path))
    return graph


def _check_attr_names(op, attrs, where):
    """Attribute names must be ones the op declares; an op taking ``**attrs`` may only get the
    names :func:`graphengine.op_attributes.check_names` accepts (checked before anything builds)."""
    _, declared, takes_any, _ = type(op).signature_info()
    if not takes_any:
        for attr in attrs:
            if attr not in declared:
                raise SaveFormatError(f"{where}: attribute {attr!r} is not one op {op.name!r} takes "
                                      f"({', '.join(sorted(declared)) or 'none'})")
        return
    try:
        op_attributes.check_names(type(op), attrs)
    except AttributeSpecError as exc:
        raise SaveFormatError(f"{where}: {exc}") from None


def _load_node(graph, entry, arrays, by_id, path):
    kind = entry["kind"]
    name = entry["name"]
    where = f"{path}: graph.json node {name!r}"
    scope = entry["scope"] or ""
    parts = scope.split("/") if scope else []
    local = name[len(scope) + 1:] if scope else name
    saved_scopes = graph._scopes
    graph._scopes = parts
    try:
        if kind == INPUT:
            node = graph.input(local, shape=entry["shape"], dtype=entry["dtype"])
        elif kind in (PARAM, CONST):
            value = decode_attr(entry["value"], arrays)
            node = graph.param(local, value) if kind == PARAM else graph.const(value, name=local)
        else:
            op_name = entry["op"]
            if op_name not in graph.plugins.ops:
                raise UnknownSavedOpError(
                    f"{where} uses op {op_name!r}, which no loaded plugin provides. "
                    "Install (or enable in GRAPHENGINE_PLUGINS) the plugin that registers it, then load again."
                )
            _check_attr_names(graph.plugins.ops[op_name], entry["attrs"], f"{where} (op {op_name!r})")
            inputs = [by_id[i] for i in entry["inputs"]]
            attrs = {k: decode_attr(v, arrays) for k, v in entry["attrs"].items()}
            node = graph.apply(op_name, *inputs, name=local, **attrs)
    except SaveFormatError:
        raise
    except Exception as exc:  # an engine error, or an op's own rule failing on the file's attribute values
        what = "" if isinstance(exc, GraphEngineError) else f"{type(exc).__name__}: "
        raise SaveFormatError(f"{where} ({kind}{' ' + repr(entry['op']) if kind == OP else ''}) does not build: "
                              f"{what}{exc}") from exc
    finally:
        graph._scopes = saved_scopes
    if node.id != entry["id"] or node.name != name:
        raise SaveFormatError(f"{where} did not load with its saved id {entry['id']} and name "
                              f"(got id {node.id}, name {node.name!r}); the file is inconsistent")
    declared = (entry["shape"], entry["dtype"])
    built = (None if node.shape is None else list(node.shape), None if node.dtype is None else node.dtype.name)
    if any(d is not None and b is not None and d != b for d, b in zip(declared, built)):
        raise SaveFormatError(f"{where}: graph.json declares shape {declared[0]} and dtype {declared[1]}, but the "
                              f"node builds with shape {built[0]} and dtype {built[1]}; the file is inconsistent")
    return node


__all__ = ["FORMAT", "FORMAT_VERSION", "Limits", "UnknownSavedOpError", "load", "save"]
