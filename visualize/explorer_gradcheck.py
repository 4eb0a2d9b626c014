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

Each result keeps both numbers, the tolerance and whether they agree. Where the one-sided
differences disagree the op is not differentiable at the run's point along ``d`` (relu at
0, ties in a max): finite differences cannot judge it, and the result says so instead of
marking a mismatch. Random ops (dropout without a seed) are not checked either.
"""

from __future__ import annotations

import zlib

import numpy as np

from graphengine.node import OP
from graphengine.testing.gradcheck import numerical_gradient

from .labels import format_number, to_host

EPS = 1e-6
DIRECTIONS = 2
TOLERANCES = {"float64": (1e-6, 1e-4), "other": (1e-4, 2e-2)}  # (atol, rtol)


def check_run(graph, run, page: dict) -> dict:
    """{"edges": {key: result}, "nodes": {id: result}} for ``page``'s backward steps."""
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
        random = _random_forward(impl, inputs, attrs)
        if random:
            for key in step["edges"]:
                edges[key] = {"ok": None, "where": f"op {node.op!r}", "error": random}
            nodes[str(node.id)] = dict(edges[step["edges"][0]], check="local")
            continue
        checked = []
        for key in step["edges"]:
            position = int(key.split("_")[1])
            contribution = to_host(run.edge_grad(node, position)).astype(np.float64)
            rng = np.random.default_rng(zlib.crc32(f"{node.name}/{position}".encode("utf-8")))
            results = []
            for _ in range(DIRECTIONS):
                d = rng.standard_normal(inputs[position].shape)
                d = d / (float(np.sqrt(np.sum(d * d))) or 1.0)
                where = f"op {node.op!r}, input {position}"
                try:
                    numeric = numerical_gradient(impl, inputs, attrs, seed, position, d, EPS)
                    analytic = float(np.sum(contribution * d))
                    result = _result(analytic, numeric, atol, rtol, where)
                    kink = not result["ok"] and _is_kink(impl, inputs, attrs, seed, position, d)
                except Exception as exc:  # an op that cannot run in float64 on these values: say so
                    results = [{"ok": None, "where": where, "error": f"{type(exc).__name__}: {exc}"}]
                    break
                if kink:
                    result = dict(result, ok=None, error=(
                        "not differentiable at the run's point along the direction checked (a kink: the one-sided "
                        "differences disagree, as relu at 0 or ties in a max do), so finite differences cannot judge "
                        f"it; analytic {format_number(analytic, 8)}, central difference {format_number(numeric, 8)}"))
                results.append(result)
            failing = [r for r in results if r["ok"] is False] or [r for r in results if r["ok"] is None]
            edges[key] = failing[0] if failing else max(results, key=lambda r: r.get("difference", 0.0))
            checked.append(edges[key])
        failing = [r for r in checked if r["ok"] is False] or [r for r in checked if r["ok"] is None]
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
        try:
            for sign in (1.0, -1.0):
                moved = dict(feeds)
                moved[n.name] = x + sign * EPS * d
                values.append(float(np.sum(to_host(graph.forward(moved, fetch=[target]).value(target)))))
        except Exception as exc:  # e.g. an op that refuses a target moved off {0, 1}: say why, check no further
            nodes[str(n.id)] = {"ok": None, "where": f"input {n.name!r}", "check": "end to end",
                                "error": f"the graph refuses the fed value moved by {EPS:g}: {type(exc).__name__}: {exc}"}
            continue
        numeric = (values[0] - values[1]) / (2 * EPS)
        analytic = float(np.sum(to_host(run.grad(n)).astype(np.float64) * d))
        nodes[str(n.id)] = dict(_result(analytic, numeric, atol, rtol, f"input {n.name!r}"),
                                check="end to end: the target when the fed value moves")


def _is_kink(impl, inputs, attrs, seed, position, d) -> bool:
    """Whether the one-sided differences of <seed, op(...)> along ``d`` for input ``position``
    disagree: the op is not differentiable there. Asked only where the central difference
    disagrees with the backward; each side is the central difference over the half step on
    that side (:func:`~graphengine.testing.gradcheck.numerical_gradient`, step ``EPS / 2``)."""
    def one_side(sign):
        moved = list(inputs)
        moved[position] = inputs[position] + sign * (EPS / 2) * d
        return numerical_gradient(impl, moved, attrs, seed, position, d, EPS / 2)

    ahead, behind = one_side(1.0), one_side(-1.0)
    scale = max(abs(ahead), abs(behind), 1e-12)
    return abs(ahead - behind) > 1e-3 * scale + 1e-7


def _random_forward(impl, inputs, attrs) -> str:
    """Why the op cannot be checked by finite differences ('' when it can): a forward that
    draws fresh random numbers (dropout with seed=None) gives two different results."""
    try:
        first, *others = (np.asarray(impl.forward(np, *inputs, **attrs)) for _ in range(3))
    except Exception as exc:  # reported as the reason, the page still shows everything else
        return f"its forward fails on the run's values in float64: {type(exc).__name__}: {exc}"
    if any(o.shape != first.shape or not np.array_equal(o, first, equal_nan=True) for o in others):
        return ("its forward is random (two calls on the same values differ, as dropout with seed=None does), so "
                "finite differences cannot check it; give the op a seed (seed=<int>) to check it")
    return ""


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
