"""Benchmark 5: diagrams.

A stack of residual blocks, each under its own name scope (``block_k``: h + tanh(h @ W + b),
six nodes with its params), fed and differentiated by a recording run:

* about 1,000 nodes, drawn with values and gradients (``mode="both"``), to SVG;
* about 10,000 nodes with every block's scope collapsed to one node, to SVG.

Time to SVG = ``draw(...)`` (building the DOT text in Python) plus ``.pipe(format="svg")``
(Graphviz ``dot`` laying it out). The reference is ``dot`` laying out a bare DOT text of
the same nodes and edges (same after collapsing: one node per block), that is the cost
of the layout alone; the ratio says what labels, clusters and the Python side add to it.
Skipped, with a message, where the ``dot`` executable is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np

from .timing import Row, median

NAME = "diagrams to SVG"


def residual_stack(blocks: int, width: int = 4, seed: int = 0):
    import graphengine as ge

    rng = np.random.default_rng(seed)
    g = ge.Graph("residual_stack")
    x = g.input("x", shape=(None, width), dtype="float32")
    h = x
    for k in range(blocks):
        with g.scope(f"block_{k}"):
            W = g.param("W", (rng.normal(size=(width, width)) * 0.1).astype(np.float32))
            b = g.param("b", np.zeros(width, dtype=np.float32))
            h = h + ge.ops.tanh(h @ W + b)
    loss = ge.ops.mean(h * h, name="loss")
    return g, loss


def bare_dot(graph, collapsed: bool) -> str:
    """The same structure as plain DOT: no labels, no clusters (a block is one node when
    collapsed)."""
    def key(node):
        if collapsed and node.scope:
            return '"' + node.scope.split("/")[0] + '"'
        return f"n{node.id}"

    lines = ["digraph bare {"]
    seen, edges = set(), set()
    for node in graph.nodes():
        k = key(node)
        if k not in seen:
            seen.add(k)
            lines.append(f"  {k};")
        for src in node.inputs:
            edge = (key(src), k)
            if edge[0] != edge[1] and edge not in edges:
                edges.add(edge)
                lines.append(f"  {edge[0]} -> {edge[1]};")
    lines.append("}")
    return "\n".join(lines)


def svg_of(source: str) -> bytes:
    return subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True).stdout


def time_engine(graph, run, collapse) -> tuple:
    from graphengine.visualize import draw

    start = time.perf_counter()
    diagram = draw(graph, run, mode="both", collapse=collapse)
    drawn = time.perf_counter()
    svg = diagram.pipe(format="svg")
    done = time.perf_counter()
    assert svg.lstrip().startswith(b"<?xml") or b"<svg" in svg[:500]
    return done - start, drawn - start, done - drawn


def time_bare(source: str) -> float:
    start = time.perf_counter()
    svg_of(source)
    return time.perf_counter() - start


def run(quick: bool = False) -> list[Row]:
    if shutil.which("dot") is None:
        return [Row(NAME, "diagrams", note="Graphviz `dot` is not installed: not measured "
                                           "(apt-get install graphviz)")]
    cases = [(16, None, 1), (160, True, 1)] if quick else [(165, None, 3), (1650, True, 3)]
    rows = []
    for blocks, collapse, repeats in cases:
        g, loss = residual_stack(blocks)
        feeds = {"x": np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)}
        run_ = g.forward(feeds)
        run_.backward(loss)
        source = bare_dot(g, collapsed=bool(collapse))
        engine, reference = [], []
        for _ in range(repeats):  # interleaved
            engine.append(time_engine(g, run_, collapse))
            reference.append(time_bare(source))
        total = median([e[0] for e in engine])
        python_side = median([e[1] for e in engine])
        layout = median([e[2] for e in engine])
        what = (f"{len(g):,}-node graph, scopes collapsed ({blocks:,} blocks)" if collapse
                else f"{len(g):,}-node graph, values and gradients")
        rows.append(Row(NAME, f"{what}: draw + SVG", total, median(reference), "dot on the bare structure",
                        note=f"draw (DOT text) {python_side * 1e3:.0f} ms, dot layout {layout * 1e3:.0f} ms"))
    return rows
