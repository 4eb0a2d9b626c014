"""The worked examples (graphengine.worked_examples) as graphs with a run, ready to draw.

The builders live in :mod:`graphengine.worked_examples`, the one set of example graphs
that ``graphengine demo`` also uses; this module is where the diagram code and
``examples/diagrams`` find them. Each returns ``(graph, run)`` with a run that has gone
forward and backward, so ``draw(graph, run, mode=...)`` shows values and gradients::

    from graphengine.visualize import draw, gallery

    graph, run = gallery.chain_rule()
    draw(graph, run, mode="both").render("chain_rule", format="svg")

``WORKED_EXAMPLES`` maps the name of each worked example to its builder (chain_rule,
theta_loss, logistic_regression, perceptron, xor_network); ``network_6_4_3_1`` and
``deep_mlp`` build the bigger networks (the 47-parameter net, the vanishing gradient).
"""

from graphengine.worked_examples import (
    WORKED_EXAMPLES,
    XOR_WEIGHTS,
    XOR_X,
    XOR_Y,
    chain_rule,
    deep_mlp,
    logistic_regression,
    network_6_4_3_1,
    perceptron,
    theta_loss,
    xor_network,
)

__all__ = ["chain_rule", "theta_loss", "logistic_regression", "perceptron", "xor_network", "network_6_4_3_1",
           "deep_mlp", "WORKED_EXAMPLES", "XOR_X", "XOR_Y", "XOR_WEIGHTS"]
