"""Benchmark 3: building and first running a long chain, on the default path.

The chain of benchmark 1 (add, mul, tanh on a 1×8 float32 param, one shared const), at
10^4, 10^5 and 10^6 op nodes (quick mode: 10^3 and 10^4). One measurement, from a
collected heap (after one 10-node chain has loaded the plugins), times in turn:

* build: the Python loop adding the nodes (``h + c``, ``h * c``, ``ge.ops.tanh(h)``) and the
  summed loss;
* first forward: ``run = g.forward({})``, the default (recording) path, so whatever the
  engine prepares for a graph (plans, code) is paid here;
* first backward: ``run.backward(loss)`` and ``run.grad(x)``.

Targets: build + first forward + first backward ≤ 1.0 s at 10^5 nodes; linear growth,
judged as the per-node cost at the largest size over that at the smallest (≤ 1.5×, the
smallest size carrying the fixed costs). For scale, the same chain built as a bare
``networkx.DiGraph`` and sorted topologically, and (when torch is installed) PyTorch eager
running and differentiating the same chain at 10^5 in a child process.
"""

from __future__ import annotations

import gc
import time

import numpy as np

from .per_op import KINDS, build_chain
from .timing import Row, format_quantity, median, run_torch_child

NAME = "build and first run"
TARGET_SECONDS = 1.0    # build + first forward + backward at 10^5 nodes
TARGET_GROWTH = 1.5     # per-node cost, largest size over smallest


def engine_once(length: int) -> dict:
    gc.collect()
    start = time.perf_counter()
    g, x, loss = build_chain(length)
    built = time.perf_counter()
    run_ = g.forward({})
    forward = time.perf_counter()
    run_.backward(loss)
    grad = run_.grad(x)
    backward = time.perf_counter()
    assert grad.shape == (1, 8) and np.isfinite(grad).all()
    del g, x, loss, run_, grad
    return {"build": built - start, "forward": forward - built, "backward": backward - forward,
            "total": backward - start}


TORCH_SCRIPT = r"""
import json, sys, time, gc
import torch
torch.set_num_threads(1)
length, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks.per_op import KINDS
def once():
    gc.collect()
    start = time.perf_counter()
    x = torch.full((1, 8), 0.1, dtype=torch.float32, requires_grad=True)
    c = torch.full((1, 8), 0.5, dtype=torch.float32)
    h = x
    for i in range(length):
        kind = KINDS[i % 3]
        if kind == "add":
            h = h + c
        elif kind == "mul":
            h = h * c
        else:
            h = torch.tanh(h)
    h.sum().backward()
    assert x.grad.shape == (1, 8)
    return time.perf_counter() - start
times = sorted(once() for _ in range(repeats))
print(json.dumps({"torch": times[len(times) // 2], "torch_version": torch.__version__}))
"""


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
    rows, per_node = [], {}
    engine_once(10)  # load the plugins and import what the engine imports lazily, once per process
    for length, repeats in plan:
        engine, reference = [], []
        for _ in range(repeats):  # interleaved
            engine.append(engine_once(length))
            reference.append(networkx_once(length))
        phases = {k: median([e[k] for e in engine]) for k in engine[0]}
        total = phases["total"]
        per_node[length] = total / length
        split = ", ".join(f"{k} {format_quantity(phases[k], 's')}" for k in ("build", "forward", "backward"))
        rows.append(Row(NAME, f"{length:,}-node chain: build + first g.forward({{}}) + run.backward", total,
                        median(reference), "networkx build + topological sort",
                        note=f"{total / length * 1e6:.1f} µs per node ({split}); median of {repeats}",
                        extra={"per_node": total / length, **{f"phase_{k}": v for k, v in phases.items()}}))
        if length == 100_000:
            rows.append(Row(NAME, "100,000-node chain: build + first forward+backward against the budget", total,
                            TARGET_SECONDS, "budget", target=1.0))
    small, large = min(per_node), max(per_node)
    growth = " → ".join(f"{per_node[n] * 1e6:.1f}" for n in sorted(per_node))
    rows.append(Row(NAME, f"linear: per-node cost at {large:,} over {small:,} nodes", per_node[large] * 1e6,
                    per_node[small] * 1e6, f"{small:,} nodes", target=TARGET_GROWTH, unit="µs/node",
                    note=f"{growth} µs per node"))
    if quick:
        rows.append(Row(NAME, "PyTorch eager, same chain", note="skipped in quick mode"))
        return rows
    data = run_torch_child(TORCH_SCRIPT, 100_000, 3, what="PyTorch chain")
    if data is None:
        rows.append(Row(NAME, "PyTorch eager, 100,000-op chain", note="not measured: torch is not installed"))
    else:
        engine_total = next(r.value for r in rows if r.case.startswith("100,000-node chain: build"))
        rows.append(Row(NAME, f"PyTorch {data['torch_version']} eager: 100,000-op chain, run + backward",
                        data["torch"], TARGET_SECONDS, "budget",
                        note=f"graphengine / torch = {engine_total / data['torch']:.2f}× (torch in a child "
                             "process: its ops run as they are built; median of 3)"))
    return rows
