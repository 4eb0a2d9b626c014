"""The explorer's gradient check: analytic gradients of a run against finite differences.

Two checks, both along random unit directions ``d`` (drawn from a generator seeded per
node, so a page is the same every time):

* every edge of the backward sweep: the contribution the op's backward sent back along it,
  ``<contribution, d>``, against the central difference of ``<upstream gradient, op(...)>``
  when that input moves along ``d`` (the op's forward evaluated on the run's own values,
  in float64, by :func:`graphengine.testing.gradcheck.numerical_gradient`). A mismatch
  points at the op whose backward is wrong, wherever it sits in the graph;
* every floating-point input of a float64 graph, end to end: ``<run.grad(x), d>`` against
  the central difference of the target when the fed value moves along ``d``
  (``g.forward(feeds, fetch=[target])``; params are not perturbed, so the run stays valid).

Each result keeps both numbers, the tolerance and whether they agree. Ops that are not
differentiable at the run's point (relu at 0, ties in max) may disagree there, as finite
differences straddle the kink; the panel says so.
"""

from __future__ import annotations

import zlib

import numpy as np

from graphengine.node import INPUT, OP

from .labels import format_number, to_host

EPS = 1e-6
DIRECTIONS = 2
TOLERANCES = {"float64": (1e-6, 1e-4), "other": (1e-4, 2e-2)}  # (atol, rtol)


def check_run(graph, run, page: dict) -> dict:
    """{"edges": {key: result}, "nodes": {id: result}} for ``page``'s backward steps."""
    from graphengine.testing.gradcheck import numerical_gradient

    edges, nodes = {}, {}
    by_id = {n.id: n for n in graph.nodes()}
    for step in page["steps"]:
        if step["phase"] != "backward":
            continue
        node = by_id[step["node"]]
        if node.kind != OP or not step["edges"]:
            continue
        impl = getattr(node, "_op_impl", None) or graph.plugins.get_op(node.op)
        inputs = [_float64(to_host(run.value(i))) for i in node.inputs]
        seed = _float64(to_host(run.grad(node)))
        attrs = dict(node.attrs)
        wide = all(to_host(run.value(i)).dtype == np.float64 for i in node.inputs if _floating(run.value(i)))
        atol, rtol = TOLERANCES["float64" if wide else "other"]
        checked = []
        for key in step["edges"]:
            position = int(key.split("_")[1])
            contribution = to_host(run.edge_grad(node, position)).astype(np.float64)
            rng = np.random.default_rng(zlib.crc32(f"{node.name}/{position}".encode("utf-8")))
            results = []
            for _ in range(DIRECTIONS):
                d = rng.standard_normal(inputs[position].shape)
                d = d / (float(np.sqrt(np.sum(d * d))) or 1.0)
                try:
                    numeric = numerical_gradient(impl, inputs, attrs, seed, position, d, EPS, np)
                except Exception as exc:  # an op that cannot run in float64 on these values: say so
                    results = [{"ok": None, "where": f"op {node.op!r}, input {position}",
                                "error": f"{type(exc).__name__}: {exc}"}]
                    break
                analytic = float(np.sum(contribution * d))
                results.append(_result(analytic, numeric, atol, rtol, f"op {node.op!r}, input {position}"))
            failing = [r for r in results if r["ok"] is False]
            edges[key] = failing[0] if failing else max(results, key=lambda r: r.get("difference", 0.0))
            checked.append(edges[key])
        failing = [r for r in checked if r["ok"] is False]
        nodes[str(node.id)] = dict(failing[0] if failing else checked[0],
                                   check="local: the op's backward against its forward")
    _check_inputs(graph, run, page, nodes)
    sources = {e["id"]: e["src"] for e in page["edges"]}
    for key, result in edges.items():  # a leaf that received a wrong contribution says so
        src = sources[key]
        node = by_id[src]
        if node.kind != OP and result.get("ok") is False and str(src) not in nodes:
            nodes[str(src)] = dict(result, check=f"received a contribution that disagrees (edge {key})")
    return {"edges": {k: _text(v) for k, v in sorted(edges.items())},
            "nodes": {k: _text(v) for k, v in sorted(nodes.items(), key=lambda kv: int(kv[0]))},
            "eps": format_number(EPS)}


def _check_inputs(graph, run, page, nodes):
    target = run.target
    inputs = [n for n in graph.inputs() if run.ran(n)]
    feeds = {n.name: to_host(run.value(n)) for n in inputs}
    atol, rtol = TOLERANCES["float64"]
    for n in inputs:
        x = feeds[n.name]
        if x.dtype != np.float64 or page["nodes"][_index(page, n.id)]["grad"] is None:
            continue
        rng = np.random.default_rng(zlib.crc32(f"input {n.name}".encode("utf-8")))
        d = rng.standard_normal(x.shape)
        d = d / (float(np.sqrt(np.sum(d * d))) or 1.0)
        values = []
        for sign in (1.0, -1.0):
            moved = dict(feeds)
            moved[n.name] = x + sign * EPS * d
            values.append(float(np.sum(to_host(graph.forward(moved, fetch=[target]).value(target)))))
        numeric = (values[0] - values[1]) / (2 * EPS)
        analytic = float(np.sum(to_host(run.grad(n)).astype(np.float64) * d))
        nodes[str(n.id)] = dict(_result(analytic, numeric, atol, rtol, f"input {n.name!r}"),
                                check="end to end: the target when the fed value moves")


def _index(page, node_id) -> int:
    for k, rec in enumerate(page["nodes"]):
        if rec["id"] == node_id:
            return k
    raise KeyError(node_id)


def _result(analytic, numeric, atol, rtol, where) -> dict:
    difference = abs(analytic - numeric)
    ok = bool(np.isfinite(analytic) and np.isfinite(numeric)
              and difference <= atol + rtol * max(abs(analytic), abs(numeric)))
    return {"ok": ok, "analytic": analytic, "numeric": numeric, "difference": difference,
            "atol": atol, "rtol": rtol, "where": where}


def _text(result) -> dict:
    """Numbers as fixed text (the page's JSON holds no floats)."""
    return {k: (format_number(v, 8) if isinstance(v, float) else v) for k, v in result.items()}


def _floating(value) -> bool:
    return getattr(value, "dtype", np.dtype(float)).kind == "f"


def _float64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


__all__ = ["check_run", "EPS"]
