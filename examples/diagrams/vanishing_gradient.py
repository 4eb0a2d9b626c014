"""Deck 001's vanishing gradient at a glance: gradient heat maps of deep MLPs.

    python examples/diagrams/vanishing_gradient.py [OUT_DIR]   (default: examples/diagrams/out)

Three nets of 8 layers of 8 units, same data: sigmoid, ReLU (He initialisation), and
sigmoid with residual connections. Nodes and edges are coloured by mean |gradient| on one
shared log scale, so the colours compare across the three: with sigmoid the first layers
are dark blue (gradients thousands of times smaller than the last layer's), with ReLU or
residual connections they stay warm. Each is drawn in full and with its layers collapsed.
"""

import pathlib
import sys

from graphengine.visualize import draw, gallery, magnitude
from graphengine.visualize.cli import shared_heatmap_range

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "out")

nets = {
    "sigmoid": gallery.deep_mlp("sigmoid"),
    "relu": gallery.deep_mlp("relu"),
    "sigmoid_residual": gallery.deep_mlp("sigmoid", residual=True),
}
scale = shared_heatmap_range([run for _, run in nets.values()])
for name, (graph, run) in nets.items():
    first, last = (magnitude(run.grad(f"layer{i}/W")) for i in (1, 8))
    print(f"{name:>16}: mean |dL/dW| layer 1 = {first:.2e}, layer 8 = {last:.2e} (ratio {first / last:.1e})")
    for collapse, suffix in ((None, ""), (True, "_collapsed")):
        diagram = draw(graph, run, mode="backward", heatmap=True, heatmap_range=scale, collapse=collapse)
        for fmt in ("svg", "png"):
            print(diagram.write(out / f"deep_{name}_heatmap{suffix}.{fmt}"))
