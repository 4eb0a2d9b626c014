"""Every worked example of the lecture decks, drawn as the slides draw them.

    python examples/diagrams/seed_diagrams.py [OUT_DIR]   (default: examples/diagrams/out)

For each example (graphengine.visualize.gallery): the structure, the forward values, the
backward gradients (every edge labelled with its chain-rule contribution) and both on one
diagram, as SVG and PNG:

* chain_rule           deck 002  y = w2·exp(w1·x)
* theta_loss           deck 004  L = (θ1·θ2·x − y)²
* logistic_regression  deck 001  h = σ(W·x), l = −c·log h − (1 − c)·log(1 − h)
* perceptron           deck 003  ŷ = g(1 + 3·x1 − 2·x2) at x = (−1, 2)
* xor_network          deck 002  XOR from OR and NAND neurons (2-2-1 sigmoid network)

and the 6-4-3-1 network of deck 000 (47 parameters) with its layers as clusters and
collapsed. Prints the paths it wrote.
"""

import pathlib
import sys

from graphengine.visualize import draw, gallery

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "out")


def save(diagram, stem):
    for fmt in ("svg", "png"):
        print(diagram.write(out / f"{stem}.{fmt}"))


for name, build in gallery.WORKED_EXAMPLES.items():
    graph, run = build()
    save(draw(graph), f"{name}_structure")
    for mode in ("forward", "backward", "both"):
        save(draw(graph, run, mode=mode), f"{name}_{mode}")

graph, run = gallery.network_6_4_3_1()
print(f"6-4-3-1 network: {graph.parameter_count()} learnable parameters")
save(draw(graph), "network_6_4_3_1_structure")
save(draw(graph, collapse=True), "network_6_4_3_1_collapsed")
save(draw(graph, run, mode="both", collapse=True), "network_6_4_3_1_collapsed_both")
