"""Checking what the user feeds a run: names, shapes, dtypes, backends."""

from __future__ import annotations

import numpy as np

from .errors import DtypeError, FeedError, GraphEngineError, ShapeError, UnknownFeedError, did_you_mean
from .node import INPUT, Node, other_graph_text
from .op import format_shape, shapes_compatible


def resolve_feeds(graph, feeds) -> dict:
    """Map ``{name or node: array}`` to ``{input node id: backend array}``, checked."""
    if not hasattr(feeds, "items"):
        raise FeedError(f"feeds must be a mapping of input names (or nodes) to arrays, got {type(feeds).__name__}")
    backend = graph._backend
    resolved = {}
    for key, value in feeds.items():
        node = _feed_node(graph, key)
        if node.id in resolved:
            raise FeedError(f"input {node.name!r} is fed twice (once by name, once by node)")
        resolved[node.id] = _feed_array(backend, node, value)
    return resolved


def _feed_node(graph, key) -> Node:
    if isinstance(key, Node):
        if key.graph is not graph:
            raise UnknownFeedError(
                f"feed key {key.name!r} is a node that belongs to {other_graph_text(key.graph, graph)}; feed the "
                f"inputs of the graph being run, by name ({key.name!r}) or by node (graph.node({key.name!r}))"
            )
        node = key
    elif isinstance(key, str):
        node = graph._by_name.get(key)
        if node is None:
            inputs = [n.name for n in graph._nodes if n.kind == INPUT]
            raise UnknownFeedError(
                f"feed {key!r} names no node of graph {graph.name!r}." + did_you_mean(key, inputs)
                + f" The graph's inputs are: {', '.join(inputs) or 'none'}."
            )
    else:
        raise UnknownFeedError(f"feed keys must be input names or input nodes, got {type(key).__name__} {key!r}")
    if node.kind != INPUT:
        raise FeedError(
            f"cannot feed {node.name!r}: it is a {node.kind} node, and only input nodes are fed"
            + (" (set a param's value with node.value = array)" if node.kind == "param" else "")
        )
    return node


def _feed_array(backend, node, value):
    if isinstance(value, Node):
        raise FeedError(f"feed for input {node.name!r} is a node ({value.name!r}); feed an array")
    try:
        array = backend.asarray(value)
    except GraphEngineError:
        raise
    except Exception as exc:
        raise DtypeError(f"feed for input {node.name!r} cannot be made an array: {exc}") from exc
    kind = np.dtype(array.dtype).kind
    if kind not in "biuf":
        raise DtypeError(
            f"feed for input {node.name!r} has dtype {array.dtype}, which is not numeric; "
            "feed bool, integer or floating arrays"
        )
    if node.dtype is not None and array.dtype != node.dtype:
        if not np.can_cast(array.dtype, node.dtype, casting="same_kind"):
            raise DtypeError(
                f"feed for input {node.name!r} has dtype {array.dtype}, but the input is declared {node.dtype}; "
                f"convert it first (array.astype({str(node.dtype)!r})) or declare the input differently"
            )
        array = array.astype(node.dtype)
    if node.shape is not None and not shapes_compatible(node.shape, array.shape):
        raise ShapeError(
            f"feed for input {node.name!r} has shape {format_shape(array.shape)}, but the input is declared "
            f"{format_shape(node.shape)} (None matches any size). Reshape the data or fix the declaration."
        )
    return array


def missing_feeds_error(graph, missing_ids, fetch_names) -> FeedError:
    described = ", ".join(
        f"{graph._nodes[i].name!r} {format_shape(graph._nodes[i].shape)}" for i in missing_ids
    )
    target = f"fetches {', '.join(fetch_names)}" if fetch_names else "the graph"
    return FeedError(f"missing feed{'s' if len(missing_ids) > 1 else ''} for {described}: "
                     f"{target} need{'s' if not fetch_names else ''} them. Pass them in feeds={{name: array}}.")
