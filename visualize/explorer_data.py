"""What the backprop explorer page shows, read from a graph and a run.

:func:`collect` returns a plain dict (it becomes the page's JSON): the nodes with their
tensors (:func:`~graphengine.visualize.explorer_tensors.tensor_view`), the edges with the
gradient contribution flowing back along each (upstream gradient × local derivative), and
the steps: first every node the run executed, in topological order (its value appears),
then, from the backward target, every node that receives a gradient, in reverse
topological order (its gradient appears and it sends a contribution along each of its
input edges; a node that fans out shows the running sum as contributions arrive).

The *local derivative* of an edge is shown with numbers where the contribution is the
upstream gradient times it element by element (element-wise ops, reductions, scalar
graphs, W·x with one output): it is read off the run as contribution / upstream
gradient. Where it is a full Jacobian (matmul of matrices, convolution) the edge shows
the contribution and the panel the op's formula.
"""

from __future__ import annotations

import inspect

import networkx as nx
import numpy as np

from graphengine.errors import ValueNotAvailableError
from graphengine.node import CONST, OP, PARAM

from . import heatmap as heat
from .explorer_tensors import tensor_view
from .labels import format_attr_value, format_number, format_shape, format_value, to_host

DOC_MAX_CHARS = 1400


def collect(graph, run, precision: int = 4, max_elements: int = 16) -> dict:
    """The page model of ``run`` (a recording run of ``graph``; see the module)."""
    nodes = graph.nodes()
    executed = run.executed
    ran = {n.id for n in executed}
    outputs = {n.id for n in graph.outputs()}
    target = run.target
    records = {}
    for n in nodes:
        records[n.id] = _node_record(graph, run, n, n.id in ran, n.id in outputs, precision, max_elements)
    forward_steps = [{"phase": "forward", "node": n.id} for n in executed]
    for k, step in enumerate(forward_steps, start=1):
        records[step["node"]]["forward_step"] = k
    edges, backward_steps, legend = {}, [], []
    if target is not None:
        edges, backward_steps = _backward(graph, run, executed, records, precision, max_elements)
        for k, step in enumerate(backward_steps, start=len(forward_steps) + 1):
            records[step["node"]]["backward_step"] = k
        _partial_sums(run, records, edges, backward_steps, precision, max_elements)
        legend = _heat(records, edges)
    scopes = _scopes(nodes)
    return {
        "graph": graph.name,
        "target": None if target is None else target.name,
        "nodes": [records[n.id] for n in nodes],
        "edges": [edges[k] for k in sorted(edges, key=lambda k: (int(k.split("_")[0]), int(k.split("_")[1])))],
        "steps": forward_steps + backward_steps,
        "forward_steps": len(forward_steps),
        "scopes": scopes,
        "precision": precision,
        "heat_legend": legend,
    }


def _node_record(graph, run, n, ran, output, precision, max_elements) -> dict:
    short = n.name.rsplit("/", 1)[-1]
    rec = {"id": n.id, "name": n.name, "short": short, "scope": n.scope, "kind": n.kind, "op": n.op,
           "output": output, "ran": ran, "inputs": [i.id for i in n.inputs],
           "consumers": [c.id for c in graph.consumers(n)],
           "attrs": ", ".join(f"{k}={format_attr_value(v)}" for k, v in n.attrs.items()),
           "weak": n.kind == CONST and n.dtype is None,
           "shape": format_shape(n.shape), "dtype": None if n.dtype is None else str(n.dtype),
           "doc": op_doc(graph, n) if n.kind == OP else _kind_doc(n.kind),
           "value": None, "grad": None, "note": "", "grad_note": ""}
    if not ran:
        rec["note"] = "not executed by this run"
        return rec
    try:
        value = run.value(n)
    except ValueNotAvailableError as exc:
        rec["note"] = str(exc)
    else:
        rec["value"] = tensor_view(value, precision, max_elements)
        rec["shape"] = format_shape(tuple(value.shape))
        rec["dtype"] = str(value.dtype)
    if n.kind == PARAM:
        rec["parameters"] = int(n.value.size)
    return rec


def _kind_doc(kind) -> str:
    return {"input": "An input: its value is fed at run time (g.forward(feeds)).",
            "param": "A param: a trainable array owned by the graph; optimizers update it from its gradient.",
            "const": "A const: a fixed value; it has no gradient."}.get(kind, "")


def op_doc(graph, n) -> str:
    """The op's formula and local derivative: the first paragraph of its class docstring
    (and the next one when the first ends with a colon)."""
    impl = getattr(n, "_op_impl", None)  # the instance the node runs (registered or not)
    if impl is None:
        impl = graph.plugins.ops.get(n.op)
    doc = type(impl).__doc__ if impl is not None else None  # its own, not the base class's
    if not doc or not doc.strip():
        return f"{n.op}: the op class has no docstring."
    doc = inspect.cleandoc(doc)
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    # the first paragraph (formula and derivative); the next too when the first ends with ':'
    keep = paragraphs[:1]
    for p in paragraphs[1:]:
        if not keep[-1].endswith(":") or p.startswith(">>>"):
            break
        keep.append(p)
    text = "\n\n".join(keep)
    return text if len(text) <= DOC_MAX_CHARS else text[:DOC_MAX_CHARS - 1] + "…"


def _backward(graph, run, executed, records, precision, max_elements):
    """Edges with their contributions, and the backward steps."""
    target = run.target
    upstream = nx.ancestors(graph.nx, target.id) | {target.id}
    getting = {target.id}  # nodes a gradient reaches
    edges, steps = {}, []
    for n in reversed(executed):
        if n.id not in upstream or n.id not in getting or n.kind == CONST:
            continue
        try:
            grad = run.grad(n)
        except ValueNotAvailableError as exc:
            records[n.id]["grad_note"] = str(exc)
            continue
        records[n.id]["grad"] = tensor_view(grad, precision, max_elements)
        records[n.id]["magnitude"] = heat.magnitude(grad)
        sent = []
        if n.kind == OP:
            for position, src in enumerate(n.inputs):
                c = run.edge_grad(n, position)
                if c is None or src.kind == CONST:
                    continue
                key = f"{n.id}_{position}"
                edges[key] = _edge_record(key, src, n, position, grad, c, precision, max_elements)
                sent.append(key)
                getting.add(src.id)
        steps.append({"phase": "backward", "node": n.id, "edges": sent})
    for n in executed:
        if n.kind != CONST and records[n.id]["grad"] is None and not records[n.id]["grad_note"]:
            records[n.id]["grad_note"] = ("no gradient: the target does not depend on it" if n.id not in upstream
                                          else "no gradient flows back to it")
    return edges, steps


def _edge_record(key, src, consumer, position, upstream, contribution, precision, max_elements) -> dict:
    up, c = to_host(upstream), to_host(contribution)
    # contribution / upstream is the local derivative where the op's Jacobian is diagonal
    # (an elementwise op) or a single row (a scalar output); elsewhere it means nothing
    jacobian_known = up.size == 1 or getattr(getattr(consumer, "_op_impl", None), "elementwise", False)
    local = local_derivative(up, c) if jacobian_known else None
    rec = {"id": key, "src": src.id, "dst": consumer.id, "position": position,
           "contribution": tensor_view(c, precision, max_elements), "magnitude": heat.magnitude(c),
           "local": None, "local_text": None}
    if local is not None:
        flat = local.ravel()
        if flat.size and np.all(flat == flat[0]):
            rec["local_text"] = format_number(flat[0], precision)
        else:
            rec["local"] = tensor_view(local, precision, max_elements)
    rec["label"] = edge_label_lines(up, local, c, precision, max_elements)
    return rec


def local_derivative(upstream, contribution):
    """contribution / upstream element by element, where that is what the local derivative
    is (the upstream gradient broadcasts to the contribution's shape, with no zeros and no
    summing); None elsewhere."""
    if upstream.dtype.kind not in "fc" or contribution.dtype.kind not in "fc":
        return None
    try:
        shape = np.broadcast_shapes(upstream.shape, contribution.shape)
    except ValueError:
        return None
    if shape != contribution.shape or upstream.size == 0 or not np.all(np.isfinite(upstream)) \
            or np.any(upstream == 0):
        return None
    if upstream.size > 1 and upstream.ndim > contribution.ndim:
        return None
    with np.errstate(all="ignore"):
        return (contribution.astype(np.float64) / upstream.astype(np.float64)).astype(contribution.dtype)


def edge_label_lines(upstream, local, contribution, precision, max_elements) -> list:
    """The text on a backward edge: 'up × local = contribution' for numbers, 'up ⊙ local'
    over '= contribution' for a few elements (⊙: element by element), else the contribution
    (with '× local' above it when the local derivative is one number)."""
    c_lines = list(format_value(contribution, precision, max_elements).lines)
    if local is None:
        return c_lines
    flat = local.ravel()
    constant = flat.size > 0 and bool(np.all(flat == flat[0]))
    if upstream.size == 1 and contribution.size == 1:
        return [f"{format_number(upstream.ravel()[0], precision)} × {format_number(flat[0], precision)} "
                f"= {format_number(contribution.ravel()[0], precision)}"]
    if constant:
        return [f"× {format_number(flat[0], precision)}"] + c_lines
    if contribution.size <= SMALL_PRODUCT:  # few numbers: the product itself, element by element
        up = (format_number(upstream.ravel()[0], precision) + " ×" if upstream.size == 1
              else _flat(np.broadcast_to(upstream, contribution.shape), precision) + " ⊙")
        return [f"{up} {_flat(local, precision)}", f"= {_flat(contribution, precision)}"]
    return c_lines


SMALL_PRODUCT = 4  # edges with at most this many elements show 'upstream ⊙ local = contribution'


def _flat(array, precision) -> str:
    return "[" + ", ".join(format_number(v, precision) for v in np.asarray(array).ravel().tolist()) + "]"


def _partial_sums(run, records, edges, steps, precision, max_elements):
    """For nodes that fan out (two or more contributions): the running sum after each
    contribution arrives, in the order the backward steps send them."""
    arrival = {}
    for step in steps:
        for key in step["edges"]:
            arrival.setdefault(edges[key]["src"], []).append(key)
    for node_id, keys in arrival.items():
        rec = records[node_id]
        rec["received"] = keys
        if len(keys) < 2:
            continue
        total, sums = None, []
        for key in keys:
            e = edges[key]
            c = to_host(run.edge_grad(e["dst"], e["position"]))
            total = c if total is None else total + c
            sums.append({"after": key, "lines": list(format_value(total, precision, max_elements).lines)})
        rec["partial_sums"] = sums


def _heat(records, edges) -> list:
    """Heat-map colours (as in ``draw(heatmap=True)``) of every gradient and contribution;
    returns the legend: (decade exponent, colour) ticks."""
    mags = [r.get("magnitude") for r in records.values()] + [e["magnitude"] for e in edges.values()]
    scale = heat.LogScale.fit([m for m in mags if m is not None])
    for r in records.values():
        m = r.pop("magnitude", None)
        r["heat"] = None if m is None else scale.colour(m)
        r["heat_text"] = None if m is None else heat.text_colour(r["heat"])
        r["magnitude"] = None if m is None else format_number(m, 4)
    for e in edges.values():
        e["heat"] = scale.edge_colour(e["magnitude"])
        e["magnitude"] = format_number(e["magnitude"], 4)
    return [{"label": heat.decade_text(exp), "colour": colour} for exp, colour in scale.ticks()]


def _scopes(nodes) -> list:
    """Scopes in order of first appearance (parents first), with their member node ids."""
    order, members = [], {}
    for n in nodes:
        if not n.scope:
            continue
        parts = n.scope.split("/")
        for i in range(len(parts)):
            path = "/".join(parts[:i + 1])
            if path not in members:
                members[path] = []
                order.append(path)
            members[path].append(n.id)
    kinds = {n.id: n for n in nodes}
    return [{"index": i, "path": p, "short": p.rsplit("/", 1)[-1], "members": members[p],
             "parameters": int(sum(kinds[m].value.size for m in members[p] if kinds[m].kind == PARAM))}
            for i, p in enumerate(order)]


__all__ = ["collect", "op_doc", "local_derivative", "edge_label_lines"]
