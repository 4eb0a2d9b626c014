"""Benchmark 3: building, compiling and first running a long chain.

The chain of benchmark 1 (add, mul, tanh on a 1×8 float32 param, one shared const), at
10^4, 10^5 and 10^6 op nodes. One measurement, from an empty process state:

* build: the Python loop adding the nodes (``h + c``, ``h * c``, ``ge.ops.tanh(h)``);
* compile: the plan for ``fetch=[loss]`` (order, slots, liveness);
* first run: ``g.forward({}, fetch=[loss])`` and ``run.backward(loss)``, interpreted (code
  is generated from the second run on, and only for plans up to 20,000 steps).

Target: build + compile + first run ≤ 2 s at 10^5 nodes, and a per-node cost that stays
flat from 10^4 to 10^6 (linear growth). For scale, the same chain built as a bare
``networkx.DiGraph`` and sorted topologically is timed alongside (the reference of the
ratio column; graphengine does more per node: names, shape and dtype rules, op lookup).
"""

from __future__ import annotations

import gc
import time

import numpy as np

from .per_op import KINDS, build_chain
from .timing import Row, format_quantity, median

NAME = "build, compile, first run"
TARGET_SECONDS = 2.0


def engine_once(length: int) -> dict:
    from graphengine.scheduler import get_plan

    gc.collect()
    start = time.perf_counter()
    g, x, loss = build_chain(length)
    built = time.perf_counter()
    get_plan(g, [loss.id], False)
    compiled = time.perf_counter()
    run = g.forward({}, fetch=[loss])
    forward = time.perf_counter()
    run.backward(loss)
    backward = time.perf_counter()
    grad = run.grad(x)
    assert grad.shape == (1, 8) and np.isfinite(grad).all()
    del g, x, loss, run
    return {"build": built - start, "compile": compiled - built, "forward": forward - compiled,
            "backward": backward - forward, "total": backward - start}


def networkx_once(length: int) -> float:
    """The same chain as a bare networkx.DiGraph, then its topological order."""
    import networkx as nx

    gc.collect()
    start = time.perf_counter()
    graph = nx.DiGraph()
    graph.add_node(0, kind="param")
    graph.add_node(1, kind="const")
    previous = 0
    for i in range(length):
        kind = KINDS[i % 3]
        node = i + 2
        graph.add_node(node, kind="op", op=kind)
        graph.add_edge(previous, node, positions=(0,))
        if kind != "tanh":
            graph.add_edge(1, node, positions=(1,))
        previous = node
    order = list(nx.topological_sort(graph))
    elapsed = time.perf_counter() - start
    assert len(order) == length + 2
    del graph, order
    return elapsed


def run(quick: bool = False) -> list[Row]:
    plan = [(1_000, 2), (10_000, 1)] if quick else [(10_000, 5), (100_000, 3), (1_000_000, 1)]
    rows = []
    for length, repeats in plan:
        engine, reference = [], []
        for _ in range(repeats):  # interleaved
            engine.append(engine_once(length))
            reference.append(networkx_once(length))
        phases = {k: median([e[k] for e in engine]) for k in engine[0]}
        total = phases["total"]
        split = ", ".join(f"{k} {format_quantity(phases[k], 's')}" for k in ("build", "compile", "forward", "backward"))
        target = f"; target ≤ {TARGET_SECONDS:.0f} s: {'ok' if total <= TARGET_SECONDS else 'MISSED'}" \
            if length == 100_000 else ""
        rows.append(Row(NAME, f"{length:,}-node chain: build + compile + first forward/backward", total,
                        median(reference), "networkx build + topological sort",
                        note=f"{total / length * 1e6:.1f} µs per node ({split}){target}",
                        extra={"per_node": total / length, **{f"phase_{k}": v for k, v in phases.items()}}))
    return rows
