"""The ``learnable_activations`` node style for diagrams."""

from __future__ import annotations

from graphengine.visualize import NodeStyle

FILL, BORDER = "#ffedd5", "#c2410c"  # orange: this plugin's op stands out in a diagram


class LearnableActivations(NodeStyle):
    """Draws ``prelu`` nodes in orange, and the params that are their slopes with an
    orange border, so a diagram shows where activations are learned.

    ``style(node)`` returns Graphviz node attributes, or None to leave a node as it is.
    """

    name = "learnable_activations"

    def style(self, node):
        if node.op == "prelu":
            return {"fillcolor": FILL, "color": BORDER, "penwidth": "2"}
        if node.kind == "param" and any(c.op == "prelu" and c.inputs[1] is node for c in node.graph.consumers(node)):
            return {"color": BORDER, "penwidth": "2"}
        return None
