"""Graphviz diagrams of graphengine graphs and runs: ``from graphengine.visualize import draw``.

>>> import numpy as np, graphengine as ge
>>> from graphengine.visualize import draw
>>> g = ge.Graph("double")
>>> x = g.input("x", shape=(1,))
>>> y = x * 2.0
>>> d = draw(g, g.forward({"x": np.array([1.5])}))
>>> ">[3]</FONT>" in d.source
True

``draw`` returns a :class:`Diagram` (a ``graphviz.Digraph``): ``.source`` is the DOT text
(deterministic, needs no Graphviz install), ``.render(path, format="svg")``,
``.pipe(format="png")`` and ``.write("out.svg")`` need the Graphviz ``dot`` executable.
See ``docs/diagrams.md``.
"""

from __future__ import annotations

from .diagram import FORMATS, INSTALL_HINT, Diagram, GraphvizNotFoundError, dot_available
from .draw import EDGE_LABELS, MODES, DrawError, LargeGraphWarning, NodeStyle, draw
from .explore import ExploreError, ExplorerPage, explore
from .heatmap import LogScale, magnitude
from .labels import format_number, format_value, html_text

DotNotFoundError = GraphvizNotFoundError  # the same error, by the name graphengine.demo uses

__all__ = [
    "draw", "Diagram", "NodeStyle", "DrawError", "LargeGraphWarning", "GraphvizNotFoundError", "DotNotFoundError", "dot_available",
    "explore", "ExplorerPage", "ExploreError",
    "MODES", "EDGE_LABELS", "FORMATS", "INSTALL_HINT", "format_value", "format_number", "html_text", "magnitude", "LogScale",
]
