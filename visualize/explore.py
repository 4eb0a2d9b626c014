"""``explore(g, run)``: the backprop explorer, one self-contained HTML page per run.

>>> import numpy as np, graphengine as ge
>>> from graphengine.visualize import explore
>>> g = ge.Graph("square")
>>> x = g.input("x", shape=(1,))
>>> y = ge.ops.sum(x * x, name="y")
>>> run = g.forward({"x": np.array([3.0])}).backward(y)
>>> page = explore(g, run)                       # needs Graphviz's dot
>>> page.steps                                   # forward: x, x*x, y; backward: y, x*x, x
6
>>> path = page.save("square.html")              # doctest: +SKIP

The page steps through the forward pass node by node (each value appears, its inputs
highlighted), then through the backward pass in reverse topological order (each gradient
appears; every edge shows its contribution, upstream gradient × local derivative, and a
node that fans out shows the running sum). Buttons, the arrow keys, a slider and "play"
move through the steps. Clicking a node opens a panel with its op's formula and local
derivative, its value and its gradient (numbers for small arrays, a colour image for 2-D
and image-shaped ones, a histogram and statistics for big ones). The forward and the
backward graph sit side by side; hovering a node or an edge in one highlights it in the
other. Overlays: the gradient heat map, a gradient check against finite differences
(``gradcheck=True``) and the memory a fetched run would keep after each step. Clicking a
scope's frame folds it into one box, and the graph closes up around it (for each layer and
top-level scope, and all layers at once, the page carries the panes laid out again; see
:mod:`.explorer_variants`). Everything is inline: no network, no CDN; the same run gives
the same file, byte for byte. See ``docs/explorer.md``.
"""

from __future__ import annotations

import html
import json
import pathlib
import re
import warnings
from importlib import resources

from graphengine.errors import GraphEngineError
from graphengine.node import other_graph_text

from .labels import count_text

PAGE_TITLE = "{name} · backprop explorer"


class ExploreError(GraphEngineError, ValueError):
    """``explore`` was given something it cannot show (the message says what to pass)."""


class ExplorerPage:
    """One explorer page: ``save(path)``, ``html``, Jupyter display, and static frames.

    ``data`` is the page model (nodes, edges, steps, gradient check, memory) that the
    page's script reads; ``steps`` the number of steps (forward, then backward).
    """

    def __init__(self, graph, run, data: dict, html_text: str):
        self.graph = graph
        self.run = run
        self.data = data
        self.html = html_text

    @property
    def steps(self) -> int:
        return len(self.data["page"]["steps"])

    def save(self, path) -> pathlib.Path:
        """Write the page (one .html file, UTF-8); returns the path written."""
        path = pathlib.Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ExploreError(f"the explorer writes an HTML page: give a path ending in .html, got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        """The page in an iframe (its own document: its script and ids stay apart from the
        notebook's and from other pages')."""
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="{html.escape(self.data["page"]["graph"])} '
                'backprop explorer" style="width:100%;height:760px;border:1px solid #e5e7eb" '
                'sandbox="allow-scripts"></iframe>')

    def frame(self, step: int):
        """The diagram (a :class:`~graphengine.visualize.Diagram`) of step ``step``: values
        and gradients computed so far, the current node and its edges in orange. Every
        frame has the same layout (what is not computed yet is drawn invisibly)."""
        from .explorer_layout import build_dot

        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= self.steps:
            raise ExploreError(f"step must be an int from 0 to {self.steps} (0: before the first step), got {step!r}")
        return build_dot(self.data["page"], "both", reveal=step, rankdir=self.data["options"]["rankdir"])

    def frames(self, folder, format: str = "svg", steps=None, prefix: str = "step") -> list:
        """Write one static frame per step into ``folder`` (``step_000.svg``, ...) for
        slides; ``format``: svg, png or pdf; ``steps``: which (default: 0 to the last).
        Returns the paths written. Needs Graphviz's ``dot``."""
        from .diagram import FORMATS

        if format not in FORMATS:
            raise ExploreError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        chosen = list(range(self.steps + 1)) if steps is None else list(steps)
        diagrams = [(k, self.frame(k)) for k in chosen]  # all checked before anything is written
        folder = pathlib.Path(folder)
        width = max(3, len(str(self.steps)))
        return [diagram.write(folder / f"{prefix}_{k:0{width}d}.{format}", format=format) for k, diagram in diagrams]

    def __repr__(self) -> str:
        return (f"<ExplorerPage of graph {self.data['page']['graph']!r}: {self.steps} steps, "
                f"{len(self.html):,} bytes>")


def explore(graph, run=None, y=None, *, loss=None, gradcheck: bool = False, heatmap: bool = True,
            memory: bool = True, collapse=None, precision: int = 4, max_elements: int = 16,
            rankdir: str | None = None, title: str | None = None, start: str = "start") -> ExplorerPage:
    """The explorer page of ``run`` (a recording run of ``graph``: ``g.forward(feeds)``,
    usually after ``run.backward(loss)``). See the module for what the page does.

    ``explore(run)`` takes the run's graph. ``explore(model, X, y, loss="cross_entropy")``
    takes a ``ge.nn`` module that is not built yet (or a trainer, or the history ``fit``
    returns): the module is built as ``fit`` builds it, run on ``X`` and ``y`` (a few
    examples are plenty) and differentiated from the mean loss.

    Options: ``gradcheck`` (check every edge's contribution and every float64 input's
    gradient against finite differences; mismatches are marked with both numbers),
    ``heatmap`` (start with the gradient heat map on), ``memory`` (include the memory
    overlay), ``collapse`` (scopes folded at the start, as for ``draw``: True, a depth, a
    name or names), ``precision``, ``max_elements`` (largest array shown in full),
    ``rankdir``, ``title``, ``start`` ("start" or "end": the step shown first).
    """
    from graphengine.graph import Graph
    from graphengine.run import Run

    if not isinstance(graph, (Graph, Run)):
        from .explorer_model import model_run

        graph, run = model_run(graph, run, y, loss)
    elif y is not None or loss is not None:
        raise ExploreError("explore(g, run) takes no targets or loss: those are for explore(model, X, y, loss=...)")
    if isinstance(graph, Run):
        if run is not None and run is not graph:
            raise ExploreError("explore(run, other_run): pass the graph and one run, or just the run")
        graph, run = graph.graph, graph
    if not isinstance(run, Run):
        raise ExploreError(
            f"explore(g, run) needs a run of graph {graph.name!r}: run = g.forward(feeds), then run.backward(loss); "
            f"got {type(run).__name__}")
    if run.graph is not graph:
        raise ExploreError(f"the run belongs to {other_graph_text(run.graph, graph)}; explore(run.graph, run)")
    if not run.recording:
        raise ExploreError(
            "explore needs a recording run, which keeps every value and gradient: run g.forward(feeds) without "
            "fetch= (a run with fetch= frees what backward does not need; the memory overlay shows that run)")
    if gradcheck and run.target is None:
        raise ExploreError("gradcheck=True compares gradients, and this run has none: call run.backward(loss) first")
    if start not in ("start", "end"):
        raise ExploreError(f"start must be 'start' or 'end', got {start!r}")
    for name, value, low in (("precision", precision, 1), ("max_elements", max_elements, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (name == "precision" and value > 17):
            raise ExploreError(f"{name} must be an int from {low}{' to 17' if name == 'precision' else ''}, got {value!r}")
    if rankdir is not None and rankdir not in ("LR", "RL", "TB", "BT"):
        raise ExploreError(f"rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    return _build(graph, run, gradcheck, heatmap, memory, collapse, precision, max_elements, rankdir, title, start)


def _build(graph, run, gradcheck, heatmap, memory, collapse, precision, max_elements, rankdir, title, start):
    from .draw import LARGE_DRAWING_BOXES, DrawError, LargeGraphWarning, _folded_scopes
    from .explorer_data import collect
    from .explorer_layout import auto_rankdir, build_dot, render_svg
    from .explorer_variants import render_variants, variant_templates

    if len(graph.nodes()) > LARGE_DRAWING_BOXES:
        warnings.warn(
            f"graphengine.visualize: the explorer page of graph {graph.name!r} has {len(graph.nodes())} nodes; Graphviz's "
            "dot lays out both panes and can take many minutes (about 9 for 10^4 nodes). Explore a smaller part, or "
            "one layer's graph", LargeGraphWarning, stacklevel=3)
    page = collect(graph, run, precision, max_elements)
    try:
        # the scopes draw folds: each layer, never a whole model (scopes holding nodes directly)
        folded = _folded_scopes(collapse, [s["path"] for s in page["scopes"]],
                                {n["scope"] for n in page["nodes"] if n["scope"]})
    except DrawError as exc:
        raise ExploreError(str(exc)) from None
    rankdir = rankdir or auto_rankdir(page)
    data = {"page": page,
            "options": {"heatmap": bool(heatmap), "rankdir": rankdir, "start": start,
                        "collapsed": [s["index"] for s in page["scopes"] if s["path"] in folded]},
            "gradcheck": None, "memory": None}
    if gradcheck:
        from .explorer_gradcheck import check_run

        data["gradcheck"] = check_run(graph, run, page)
    if memory:
        from .explorer_memory import memory_timeline

        data["memory"] = memory_timeline(graph, run, page)
    names = {n["id"]: n["name"] for n in page["nodes"]}
    forward_svg = render_svg(build_dot(page, "forward", rankdir=rankdir), names)
    backward_svg = render_svg(build_dot(page, "backward", rankdir=rankdir), names) if run.target is not None else \
        '<p class="hint">No gradients: call run.backward(loss) before explore to step through the backward pass.</p>'
    variants = render_variants(page, rankdir, names, run.target is not None, data["options"]["collapsed"])
    data["options"]["folded_layouts"] = [key for key, _, _ in variants]
    name = title if title is not None else graph.name
    facts = [count_text(len(page["nodes"]), "node"), count_text(graph.parameter_count(), "parameter"),
             count_text(len(page["steps"]), "step")]
    if run.target is not None:
        facts.append(f"gradients of {run.target.name}")
    text = fill_template(title=PAGE_TITLE.format(name=name), facts=" · ".join(facts), data=data,
                         forward_svg=forward_svg, backward_svg=backward_svg, variants=variant_templates(variants))
    return ExplorerPage(graph, run, data, text)


def asset(name: str) -> str:
    """The text of one file of ``explorer_assets`` (installed as package data)."""
    return (resources.files("graphengine.visualize") / "explorer_assets" / name).read_text(encoding="utf-8")


def fill_template(title: str, facts: str, data: dict, forward_svg: str, backward_svg: str, variants: str = "") -> str:
    """The page: the HTML template with the CSS, the script, the data, the two SVGs and
    the ``<template>`` elements of the folded layouts put in (in one pass, so nothing
    inserted is read as a placeholder)."""
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c")  # no "</script>" can end the data early
    parts = {"TITLE": html.escape(title), "FACTS": html.escape(facts), "CSS": asset("explorer.css"),
             "JS": asset("explorer.js"), "DATA": payload, "FORWARD_SVG": forward_svg, "BACKWARD_SVG": backward_svg,
             "VARIANTS": variants}
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: parts[m.group(1)], asset("explorer.html"))


__all__ = ["ExploreError", "ExplorerPage", "explore"]
