"""Saving and loading graphs without pickle: ``g.save(path)`` and ``ge.load(path)``.

The format (a zip archive with ``graph.json`` and ``arrays.npz``) is written and checked by
:mod:`graphengine.archive`; this module rebuilds a :class:`~graphengine.Graph` from it:
names, ids, scopes and arrays come back as saved. An op that no loaded plugin provides is
refused with an error that names the node and the op.
"""

from __future__ import annotations

from .archive import FORMAT, FORMAT_VERSION, decode_attr, read, save
from .errors import GraphEngineError, SaveFormatError, UnknownOpError
from .graph import Graph
from .node import CONST, INPUT, OP, PARAM


def load(path, *, plugins=None, backend: str | None = None):
    """Load a graph saved with ``Graph.save``: names, ids, scopes and arrays come back as saved.

    ``plugins`` is the plugin manager to find ops in (default: the default one);
    ``backend`` overrides the backend recorded in the file.
    """
    document, arrays = read(path)
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


__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save"]
