"""Free names for the nodes and scopes a trainer adds to a graph (``x``, ``y``, ``loss``,
``eval``: ``loss_2`` when ``loss`` is taken), and the fetch lists without repeats."""

from __future__ import annotations


def free_name(graph, base: str) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first that names no node of ``graph``."""
    if base not in graph:
        return base
    k = 2
    while f"{base}_{k}" in graph:
        k += 1
    return f"{base}_{k}"


def free_scope(graph, base: str) -> str:
    """``base``, or ``base_2``, ... : the first that is neither a scope in use under the
    graph's current scope nor a node name."""
    prefix = graph.current_scope + "/" if graph.current_scope else ""
    used = {n.name[len(prefix):].split("/", 1)[0] for n in graph.nodes()
            if n.name.startswith(prefix) and "/" in n.name[len(prefix):]}
    def free(name):
        return name not in used and prefix + name not in graph

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
