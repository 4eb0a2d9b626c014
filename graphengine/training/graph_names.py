"""Free names for the nodes and scopes a trainer adds to a graph (``x``, ``y``, ``loss``,
``eval``: ``loss_2`` when ``loss`` is taken), and the fetch lists without repeats."""

from __future__ import annotations


def free_name(graph, base: str) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first that names no node of ``graph``."""
    return _first_free(base, lambda name: name not in graph)


def free_scope(graph, base: str) -> str:
    """``base``, or ``base_2``, ... : the first that is neither a scope in use under the
    graph's current scope nor a node name."""
    prefix = graph.current_scope + "/" if graph.current_scope else ""
    used = {n.name[len(prefix):].split("/", 1)[0] for n in graph.nodes()
            if n.name.startswith(prefix) and "/" in n.name[len(prefix):]}
    return _first_free(base, lambda name: name not in used and prefix + name not in graph)


def _first_free(base: str, free) -> str:
    """``base`` if ``free(base)``, else the first of ``base_2``, ``base_3``, ... that is."""
    if free(base):
        return base
    k = 2
    while not free(f"{base}_{k}"):
        k += 1
    return f"{base}_{k}"


def unique_nodes(nodes):
    """``nodes`` in order, each node once."""
    out, seen = [], set()
    for n in nodes:
        if n.id not in seen:
            seen.add(n.id)
            out.append(n)
    return out


__all__ = ["free_name", "free_scope", "unique_nodes"]
