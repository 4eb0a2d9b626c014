"""The vanishing gradient at a glance: gradient heat maps of deep MLPs.

    python examples/diagrams/vanishing_gradient.py [--out DIR] [--quick]

Three nets of 8 layers of 8 units, same data: sigmoid, ReLU (He initialisation), and
sigmoid with residual connections. Nodes and edges are coloured by mean |gradient| on one
shared log scale, so the colours compare across the three. Backpropagation multiplies the
gradient by σ'(s) ≤ 1/4 (times the weights) at every sigmoid layer, so with sigmoid the
first layers are dark blue (their weight gradient hundreds of times smaller than the last
layer's); with ReLU (derivative 1 where active) or residual connections (y = x + R(x), so
dy/dx = 1 + dR/dx) they stay warm. Each is drawn in full and with its layers collapsed
(with --quick: collapsed only, SVG only).
"""

import _args

from graphengine.visualize import draw, gallery, magnitude
from graphengine.visualize.cli import shared_heatmap_range


def main(argv=None) -> int:
    args = _args.parser(__doc__, quick="the collapsed diagrams only, SVG only").parse_args(argv)
    nets = {
        "sigmoid": gallery.deep_mlp("sigmoid"),
        "relu": gallery.deep_mlp("relu"),
        "sigmoid_residual": gallery.deep_mlp("sigmoid", residual=True),
    }
    scale = shared_heatmap_range([run for _, run in nets.values()])
    variants = ((True, "_collapsed"),) if args.quick else ((None, ""), (True, "_collapsed"))
    for name, (graph, run) in nets.items():
        first, last = (magnitude(run.grad(f"layer{i}/W")) for i in (1, 8))
        print(f"{name:>16}: mean |dL/dW| layer 1 = {first:.2e}, layer 8 = {last:.2e} (ratio {first / last:.1e})")
        for collapse, suffix in variants:
            diagram = draw(graph, run, mode="backward", heatmap=True, heatmap_range=scale, collapse=collapse)
            _args.write(diagram, args, f"deep_{name}_heatmap{suffix}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
