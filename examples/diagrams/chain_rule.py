"""The chain rule on y = w2·exp(w1·x), drawn as structure, forward, backward and both.

    python examples/diagrams/chain_rule.py [--out DIR] [--quick]

y is split into three steps, u = w1·x, v = e^u, y = w2·v, and the parameter derivatives
are read off the graph by the chain rule: dy/dw2 = v = e^(w1·x) and
dy/dw1 = (dy/dv)(dv/du)(du/dw1) = w2·e^u·x. At x = 1, w1 = 0.5, w2 = 2: u = 0.5,
v = e^0.5 = 1.6487, y = 3.2974, dy/dw1 = 3.2974 and dy/dw2 = 1.6487. The backward and
"both" diagrams show exactly these factors: every edge is labelled with the gradient flowing
back along it, the upstream gradient times the local derivative (draw's edge_labels="all";
by default only edges whose gradient is not already on a box carry one). Writes SVG and
PNG files (SVG only with --quick) and prints their paths.
"""

import _args
import numpy as np

import graphengine as ge
from graphengine.visualize import draw


def main(argv=None) -> int:
    args = _args.parser(__doc__, quick="SVG only, no PNG").parse_args(argv)

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
        diagram = draw(g, run, mode=mode, edge_labels="all") if mode != "structure" else draw(g, mode=mode)
        _args.write(diagram, args, f"chain_rule_{mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
