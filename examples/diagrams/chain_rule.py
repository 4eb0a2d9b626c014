"""The chain-rule example of deck 002, y = w2·exp(w1·x), drawn forward, backward and both.

    python examples/diagrams/chain_rule.py [OUT_DIR]      (default: examples/diagrams/out)

The slide splits y into u = w1·x, v = e^u, y = w2·v, and reads the parameter derivatives
off the graph: dy/dw2 = v = e^(w1·x) and dy/dw1 = (dy/dv)(dv/du)(du/dw1) = w2·e^(w1·x)·x.
The backward diagram shows exactly these factors: each edge carries the upstream gradient
times the local derivative. Writes SVG and PNG files and prints their paths.
"""

import pathlib
import sys

import numpy as np

import graphengine as ge
from graphengine.visualize import draw

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "out")

g = ge.Graph("chain rule: y = w2·exp(w1·x)")
x = g.input("x", shape=(), dtype=np.float64)
w1 = g.param("w1", np.array(0.5))
w2 = g.param("w2", np.array(2.0))
u = ge.ops.mul(w1, x, name="u")  # u = w1·x
v = ge.ops.exp(u, name="v")  # v = e^u
y = ge.ops.mul(w2, v, name="y")  # y = w2·v

run = g.forward({"x": np.array(1.0)}).backward(y)
print(f"y = {float(run.value(y)):.4f}, dy/dw1 = {float(run.grad(w1)):.4f} (w2·e^(w1·x)·x), "
      f"dy/dw2 = {float(run.grad(w2)):.4f} (e^(w1·x))")

for mode in ("structure", "forward", "backward", "both"):
    diagram = draw(g, run if mode != "structure" else None, mode=mode)
    for fmt in ("svg", "png"):
        print(diagram.write(out / f"chain_rule_{mode}.{fmt}"))
