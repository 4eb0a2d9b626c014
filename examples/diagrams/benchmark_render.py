"""How long drawing and rendering take for large graphs.

    python examples/diagrams/benchmark_render.py [--sizes 1000 10000] [--out DIR] [--quick]

For each size it builds a residual MLP of that many nodes (blocks of 6 nodes in stages of
10 blocks, each block and stage a name scope), runs it forward and backward, and times:

* ``draw`` (Python: reading the run, formatting, writing the DOT text);
* ``dot -Tsvg`` on the full diagram (sizes up to --full-max, default 2,000 nodes);
* ``dot -Tsvg`` with the blocks collapsed (``collapse=1``: stages stay clusters) and with
  everything collapsed (``collapse=0``: one box per stage; ``collapse=True`` folds the
  layers, here the blocks, as ``collapse=1`` does, since the stages hold no nodes of their own).

``--quick`` times 100 and 300 nodes instead (seconds). Speed is measured here, not in timed
tests. Timings vary with the machine and Graphviz version; the ratios between rows are what
to compare.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np


def build(nodes: int, width: int = 8, batch: int = 4, seed: int = 0):
    import graphengine as ge

    rng = np.random.default_rng(seed)
    g = ge.Graph(f"residual MLP, {nodes} nodes")
    h = g.input("x", shape=(None, width), dtype=np.float64)
    blocks = max(1, (nodes - 3) // 6)
    for b in range(blocks):
        with g.scope(f"stage{b // 10}"):
            with g.scope(f"block{b % 10}"):
                W = g.param("W", rng.normal(0.0, 0.3 / np.sqrt(width), (width, width)))
                bias = g.param("b", np.zeros(width))
                a = ge.ops.tanh(ge.ops.add(ge.ops.matmul(h, W, name="hW"), bias, name="s"), name="a")
                h = ge.ops.add(h, a, name="skip")
    loss = ge.ops.mean(ge.ops.square(h), name="loss")
    run = g.forward({"x": rng.normal(0.0, 1.0, (batch, width))}).backward(loss)
    return g, run


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="graph sizes in nodes (default: 1000 10000; 100 300 with --quick)")
    parser.add_argument("--full-max", type=int, default=2000,
                        help="render the uncollapsed diagram only up to this many nodes")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="also write the SVGs into this folder (default: write nothing, only time)")
    parser.add_argument("--quick", action="store_true", help="a small, fast run: 100 and 300 nodes")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([100, 300] if args.quick else [1000, 10000])

    from graphengine.visualize import draw

    out = pathlib.Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    print(f"{'nodes':>6}  {'variant':<22} {'draw (s)':>9} {'dot -Tsvg (s)':>14} {'svg (kB)':>9}")
    for size in sizes:
        g, run = build(size)
        variants = [("full, mode=both", dict(mode="both"))] if len(g) <= args.full_max else []
        variants += [("blocks collapsed", dict(mode="both", collapse=1)),
                     ("all collapsed", dict(mode="both", collapse=0))]
        for name, options in variants:
            diagram, t_draw = timed(lambda: draw(g, run, **options))
            svg, t_dot = timed(lambda: diagram.pipe(format="svg"))
            print(f"{len(g):>6}  {name:<22} {t_draw:>9.2f} {t_dot:>14.2f} {len(svg) / 1024:>9.0f}")
            sys.stdout.flush()
            if out:
                (out / f"benchmark_{len(g)}_{name.split(',')[0].replace(' ', '_')}.svg").write_bytes(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
