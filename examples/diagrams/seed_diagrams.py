"""Every worked example of graphengine.worked_examples, drawn forward, backward and both.

    python examples/diagrams/seed_diagrams.py [--out DIR] [--quick]

For each example (graphengine.visualize.gallery): the structure, the forward values, the
backward gradients (every edge labelled with its chain-rule contribution, the upstream
gradient times the local derivative: draw's edge_labels="all") and both on one diagram, as
SVG and PNG:

* chain_rule           y = w2·exp(w1·x) at x = 1, w1 = 0.5, w2 = 2: dy/dw1 = 2e^0.5 = 3.297
* theta_loss           L = (θ1·θ2·x − y)² at θ = (2, 0.5), x = 3, y = 1: L = 4, dL/dθ = (6, 24)
* logistic_regression  h = σ(W·x), l = −c·log h − (1 − c)·log(1 − h), with
                       W = (−0.3999, 0.1500, 0.3771), x = (1, 1, 1), c = 1: h = 0.5318
* perceptron           ŷ = σ(1 + 3·x1 − 2·x2) at x = (−1, 2): σ(−6) = 0.002473
* xor_network          XOR = AND(OR, NAND): a 2-2-1 sigmoid network with hand-set weights

and a 6-4-3-1 sigmoid network (6·4 + 4 + 4·3 + 3 + 3·1 + 1 = 47 parameters) with its
layers as clusters and collapsed (each edge between collapsed layers labelled with the
gradient flowing back along it). With --quick: only the "both" diagrams, SVG only.
Prints the paths it wrote.
"""

import _args

from graphengine.visualize import draw, gallery


def main(argv=None) -> int:
    args = _args.parser(__doc__, quick='only the "both" diagrams, SVG only').parse_args(argv)
    modes = ("both",) if args.quick else ("forward", "backward", "both")
    for name, build in gallery.WORKED_EXAMPLES.items():
        graph, run = build()
        if not args.quick:
            _args.write(draw(graph), args, f"{name}_structure")
        for mode in modes:
            _args.write(draw(graph, run, mode=mode, edge_labels="all"), args, f"{name}_{mode}")

    graph, run = gallery.network_6_4_3_1()
    print(f"6-4-3-1 network: {graph.parameter_count()} learnable parameters")
    if not args.quick:
        _args.write(draw(graph), args, "network_6_4_3_1_structure")
        _args.write(draw(graph, collapse=True), args, "network_6_4_3_1_collapsed")
    _args.write(draw(graph, run, mode="both", collapse=True, edge_labels="all"), args,
                "network_6_4_3_1_collapsed_both")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
