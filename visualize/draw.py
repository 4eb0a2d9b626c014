"""``draw(graph, run=None, mode=...)``: a graph (and a run) as an annotated Graphviz diagram.

What a diagram shows, by mode:

``structure`` (no run)
    every node's name, kind or op (with attributes), shape and dtype; params with their
    element count; const values. Inputs, params, consts, ops and outputs have their own
    colours, explained by a small legend.
``forward``
    each node's value from the run: numbers with ``precision`` significant digits,
    arrays of at most ``max_elements`` elements in full, larger ones as mean, std, min and
    max. NaN and Inf are flagged in red.
``backward``
    each node's gradient (of the run's backward target), formatted the same way, and on
    the edges the gradient contribution flowing back along them (upstream gradient times
    the local derivative): by default only where it is not already on a box (``edge_labels``).
    A node that fans out shows the sum of its contributions. Integer nodes and nodes that
    get no gradient back show none, and say why.
``both``
    value above, gradient below, as textbook figures of backpropagation draw them.

Name scopes become clusters labelled with their input and output shapes and parameter
count (a scope of one node is drawn as that node, titled with the scope's name);
``collapse=`` folds scopes into one box each. ``draw(model)`` draws a ``ge.nn`` model, one
cluster per layer (:mod:`graphengine.visualize.model_view`). A run with a
``fetch`` greys out the nodes it did not execute. ``heatmap=True`` colours nodes and edges
by gradient magnitude on a log scale. ``thumbnails=True`` adds a grid of grey-scale images
to nodes holding 4-D values or gradients (feature maps, kernels): :class:`ThumbnailDiagram`.

The DOT text (``.source``) is deterministic: node ids come from the graph's stable node
ids, everything is emitted in id order, and numbers have a fixed format.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import math
import pathlib
import tempfile
import warnings
from dataclasses import dataclass, field

import networkx as nx

from graphengine.errors import GraphEngineError, ValueNotAvailableError
from graphengine.node import CONST, INPUT, OP, PARAM, other_graph_text

from . import heatmap as heat
from .diagram import Diagram
from .labels import (attributes_text, count_text, format_shape, format_value, html_text, is_image_shaped,
                     thumbnail_grid)
from .layout import (BOX_PADDING_PX, EDGE_LABEL_PX, PAGE_MARGIN_PX, RANK_GAP_PX, SLIDE_WIDTH_PX, THUMBNAIL_WIDTH_PX,
                     text_width)
from .model_view import is_model, model_view, scope_ports, shapes_text
from .png import png_bytes
from .targets import dtype_kind, loss_targets

MODES = ("structure", "forward", "backward", "both")
EDGE_LABELS = ("auto", "all", "none")

FONT = "Helvetica,Arial,sans-serif"

# fill, border for each kind (and for outputs: op nodes nothing consumes)
KIND_COLOURS = {
    INPUT: ("#dbeafe", "#2563eb"),
    PARAM: ("#fef3c7", "#b45309"),
    CONST: ("#f3f4f6", "#6b7280"),
    OP: ("#ffffff", "#374151"),
    "output": ("#dcfce7", "#15803d"),
}
KIND_NOTES = {
    INPUT: "input: fed at run time",
    PARAM: "param: trainable array",
    CONST: "const: fixed value",
    OP: "op: computed from its inputs",
    "output": "output: nothing consumes it",
}
SCOPE_COLOURS = ("#f8fafc", "#94a3b8")  # cluster fill, border
COLLAPSED_COLOURS = ("#ede9fe", "#6d28d9")
VALUE_COLOUR = "#1d4ed8"
GRAD_COLOUR = "#b91c1c"
NAN_COLOUR = "#dc2626"
MUTED = "#6b7280"
GREY = ("#f3f4f6", "#c4c4c4", "#9ca3af")  # fill, border, text of nodes a fetched run skipped
AUTO_LR_MAX_RANKS = 10  # graphs at most this deep are drawn left to right (if they fit), deeper ones top down
NODESEP_IN = 0.3  # least gap between boxes side by side, inches


class ThumbnailDiagram(Diagram):
    """The diagram ``draw(..., thumbnails=True)`` returns when some node shows images.

    ``images`` maps file names to PNG bytes (grey-scale grids, see
    :func:`~graphengine.visualize.labels.thumbnail_grid`). The DOT text refers to them by
    name only (``<IMG SRC="cnn_n7_value.png"/>``), so ``.source`` stays deterministic.

    * ``pipe``, ``write`` and Jupyter display put the images in a temporary folder that
      Graphviz reads through ``imagepath``; PNG and PDF output embed them, SVG output
      gets them inline as ``data:`` URIs, so every file written is self-contained.
    * ``render(...)`` writes the images next to its output (same folder), where the SVG
      it writes refers to them.
    * ``save_images(folder)`` writes them for your own ``dot -Gimagepath=folder`` run on
      ``.source``.
    """

    images: dict = {}

    def save_images(self, folder) -> list:
        """Write every thumbnail PNG into ``folder`` (created if needed); returns the paths."""
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in self.images.items():
            path = folder / name
            path.write_bytes(data)
            paths.append(path)
        return paths

    @contextlib.contextmanager
    def _imagepath(self, folder):
        previous = self.graph_attr.get("imagepath")
        self.graph_attr["imagepath"] = str(pathlib.Path(folder).resolve())
        try:
            yield
        finally:
            if previous is None:
                self.graph_attr.pop("imagepath", None)
            else:
                self.graph_attr["imagepath"] = previous

    def pipe(self, *args, **kwargs):
        fmt = kwargs.get("format") or (args[0] if args else None) or self.format
        with tempfile.TemporaryDirectory(prefix="graphengine-thumbnails-") as folder:
            self.save_images(folder)
            with self._imagepath(folder):
                data = super().pipe(*args, **kwargs)
        return self._inline(data) if fmt == "svg" else data

    def render(self, filename=None, directory=None, **kwargs):
        outfile = kwargs.get("outfile")
        folder = pathlib.Path(outfile).parent if outfile is not None else pathlib.Path(directory or self.directory
                                                                                      or ".")
        self.save_images(folder)
        with self._imagepath(folder):
            return super().render(filename, directory=directory, **kwargs)

    def _inline(self, svg):
        """SVG text with each thumbnail's file name replaced by a data: URI of its PNG."""
        text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
        for name, data in self.images.items():
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            text = text.replace(f'xlink:href="{name}"', f'xlink:href="{uri}"')
        return text.encode("utf-8") if isinstance(svg, bytes) else text


class DrawError(GraphEngineError, ValueError):
    """``draw`` was called with options that do not fit the graph or the run."""


class NodeStyle:
    """Base class of node styles that plugins register for diagrams.

    A plugin registers an instance through the ``register_node_styles`` hook::

        class Highlight(NodeStyle):
            name = "highlight_losses"

            def style(self, node):
                if node.op in ("mse", "binary_cross_entropy"):
                    return {"color": "#e11d48", "penwidth": "3"}
                return None

    ``style(node)`` returns Graphviz node attributes (a dict of str to str) or None for
    "no change". They are applied after graphengine's own attributes, in the order of the
    styles' names. ``label`` is graphengine's and cannot be set; values must not contain
    backslashes or control characters. A style that raises is reported (with its name)
    and skipped, it does not stop the drawing.
    """

    name: str = ""

    def style(self, node) -> dict | None:  # pragma: no cover - abstract
        return None


@dataclass
class _Shown:
    """What one node of the graph shows in this diagram."""

    node: object
    ran: bool = True
    value: object = None  # FormattedValue
    value_note: str = ""
    grad: object = None  # FormattedValue
    grad_note: str = ""
    grad_magnitude: float | None = None
    contributions: int = 0
    value_image: tuple | None = None  # (file name, caption) of a thumbnail grid
    grad_image: tuple | None = None


@dataclass
class _Options:
    mode: str
    precision: int
    max_elements: int
    heatmap: bool
    heatmap_range: object
    legend: bool
    show_attrs: object  # True, False or "all"
    styles: list = field(default_factory=list)
    thumbnails: bool = False
    show_shapes: bool = True
    edge_labels: str = "auto"


def draw(graph, run=None, mode: str | None = None, *, precision: int = 4, max_elements: int = 16,
         heatmap: bool = False, heatmap_range=None, collapse=None, rankdir: str | None = None,
         legend: bool = True, styles=None, show_attrs=True, title: str | None = None,
         thumbnails: bool = False, show_shapes: bool = True, edge_labels: str = "auto",
         input_shape=None) -> Diagram:
    """Draw ``graph`` (annotated with ``run``) as a :class:`graphviz.Digraph`.

    ``graph`` may also be a run (its graph is used) or a ``ge.nn`` model: then the model's
    own nodes are drawn (not a trainer's loss), top to bottom, one cluster per layer (see
    :mod:`graphengine.visualize.model_view`; ``input_shape=`` builds a model that was never
    called, on a copy). ``mode`` is ``"structure"``, ``"forward"``, ``"backward"`` or
    ``"both"``; by default ``"both"`` for a run after ``backward``, ``"forward"`` for a run
    before it, ``"structure"`` without a run.

    Options: ``precision`` (significant digits), ``max_elements`` (largest array shown in
    full), ``heatmap`` (colour by gradient magnitude; ``heatmap_range=(low, high)`` fixes
    the scale; the targets of losses stay neutral), ``collapse`` (``True``/``"all"``: fold
    every layer into one box, i.e. every top-level scope, except that a scope holding only
    sub-scopes, a model, has its sub-scopes folded instead; a scope name or a list of
    names: fold those; an int ``d``: keep ``d`` levels of clusters and fold deeper
    scopes), ``rankdir`` (``"LR"``, ``"TB"``, ...; by default TB for models and for graphs
    too deep or too wide to fit a slide left to right, LR for the others), ``legend``,
    ``styles`` (node styles to apply; default: the ones plugins registered),
    ``show_attrs`` (op attributes in labels: ``True`` those that differ from the op's
    defaults, ``"all"`` every one, ``False`` none), ``title``, ``thumbnails`` (4-D values and
    gradients, (N, C, H, W) feature maps and (O, I, kh, kw) kernels, also drawn as a grid
    of grey-scale images on their node: see :class:`ThumbnailDiagram`), ``show_shapes``
    (each layer, a cluster or a collapsed box, shows its input and output shapes beside
    its parameter count), ``edge_labels`` (gradients written on edges: ``"auto"`` only
    where the edge's gradient is not already on a box, that is on the edges out of a
    value used more than once, whose gradients add up, and out of collapsed scopes;
    ``"all"`` on every edge; ``"none"`` on no edge).

    Integer (and bool) nodes and nodes whose consumers pass no gradient back (class
    labels, the outputs of argmax) show no gradient, only why.

    >>> import numpy as np, graphengine as ge
    >>> g = ge.Graph("square")
    >>> x = g.input("x", shape=(1,))
    >>> y = x * x
    >>> run = g.forward({"x": np.array([3.0])}).backward(y)
    >>> d = draw(g, run, mode="both")
    >>> ">[9]</FONT>" in d.source and ">[6]</FONT>" in d.source   # value 9, gradient 2x = 6
    True
    >>> d.source.startswith("digraph square {")
    True
    """
    from graphengine.run import Run

    view = None
    if is_model(graph):
        view = model_view(graph, input_shape, DrawError)
        graph = view.graph
    elif input_shape is not None:
        raise DrawError("input_shape= builds a ge.nn model that was never called, for drawing it; "
                        f"it does not apply to a {type(graph).__name__}: leave it out")
    if isinstance(graph, Run):
        if run is not None and run is not graph:
            raise DrawError("draw(run, run=other_run): pass the graph and one run, or just the run")
        run, graph = graph, graph.graph
    if run is not None and not isinstance(run, Run):
        raise DrawError(f"draw(graph, run): run must be a ge.Run (from graph.forward(...)), got {type(run).__name__}")
    if run is not None and run.graph is not graph:
        raise DrawError(f"the run belongs to {other_graph_text(run.graph, graph)}; draw(run.graph, run)")
    mode = _resolve_mode(mode, run)
    if not isinstance(precision, int) or isinstance(precision, bool) or not 1 <= precision <= 17:
        raise DrawError(f"precision must be an int from 1 to 17 (significant digits), got {precision!r}")
    if not isinstance(max_elements, int) or isinstance(max_elements, bool) or max_elements < 1:
        raise DrawError(f"max_elements must be a positive int, got {max_elements!r}")
    if heatmap and mode not in ("backward", "both"):
        raise DrawError(
            f"heatmap=True colours nodes by their gradients, but mode={mode!r} shows none; "
            "call run.backward(loss) and draw with mode='backward' or 'both'"
        )
    if rankdir is not None and rankdir not in ("LR", "RL", "TB", "BT"):
        raise DrawError(f"rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if edge_labels not in EDGE_LABELS:
        raise DrawError(f"edge_labels must be one of {', '.join(map(repr, EDGE_LABELS))}, got {edge_labels!r}"
                        + _did_you_mean(str(edge_labels), EDGE_LABELS))
    if show_attrs not in (True, False, "all") or not isinstance(show_attrs, (bool, str)):
        raise DrawError(f"show_attrs must be True (attributes that differ from the op's defaults), 'all' or False, "
                        f"got {show_attrs!r}")
    if not isinstance(thumbnails, bool):
        raise DrawError(f"thumbnails must be True or False, got {thumbnails!r}; the images travel with the diagram "
                        "(diagram.images) and are written where it is rendered")
    options = _Options(mode, precision, max_elements, bool(heatmap), heatmap_range, bool(legend),
                       show_attrs, _resolve_styles(graph, styles), thumbnails, bool(show_shapes), edge_labels)
    drawer = _Drawer(graph, run, options, collapse, rankdir, title, view)
    _warn_if_large(graph, drawer)
    return drawer.build()


LARGE_DRAWING_BOXES = 10_000  # boxes above which Graphviz's layout takes minutes


class LargeGraphWarning(UserWarning):
    """A diagram with so many boxes that Graphviz's ``dot`` takes minutes to lay it out."""


def _warn_if_large(graph, drawer):
    boxes = len(set(drawer.rep.values()))
    if boxes <= LARGE_DRAWING_BOXES:
        return
    layers = _layer_scopes(drawer.scopes, set(drawer.scope.values()))
    if layers:
        hint = (f"Pass collapse=True to fold each of its {len(layers)} layers (top-level scopes, or the sub-scopes "
                "of a model) into one box, or collapse=1 (or a deeper level) to keep that many levels of clusters")
    else:
        hint = ("It has no name scopes that collapse= could fold: build it under graph.scope(...) (layers do), "
                "then draw with collapse=True")
    warnings.warn(
        f"graphengine.visualize: the diagram of graph {graph.name!r} has {boxes} boxes ({len(drawer.nodes)} nodes); "
        f"laying it out with Graphviz's dot can take many minutes (about 9 for a 10^4-node graph). {hint}.",
        LargeGraphWarning, stacklevel=3)


def _resolve_mode(mode, run):
    if mode is None:
        if run is None:
            return "structure"
        return "both" if run.target is not None else "forward"
    if mode not in MODES:
        raise DrawError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}"
                        + _did_you_mean(str(mode), MODES))
    if mode != "structure" and run is None:
        raise DrawError(
            f"mode={mode!r} shows values from a run, and no run was given: pass run=g.forward(feeds)"
            + (" and call run.backward(loss)" if mode != "forward" else "")
            + ", or draw the structure alone with mode='structure'"
        )
    if mode in ("backward", "both") and run.target is None:
        raise DrawError(
            f"mode={mode!r} shows gradients, but this run has none yet: call run.backward(loss) first, "
            "or draw with mode='forward'"
        )
    return mode


def _did_you_mean(word, options):
    close = difflib.get_close_matches(word, list(options), n=2, cutoff=0.5)
    return (" Did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""


def _resolve_styles(graph, styles):
    if styles is None:
        try:
            registry = graph.plugins.node_styles
        except Exception as exc:  # a broken plugin setup must not stop a drawing
            warnings.warn(f"graphengine.visualize: cannot read registered node styles: {exc}", stacklevel=3)
            return []
        return [registry[name] for name in sorted(registry)]
    styles = list(styles)
    for s in styles:
        if not callable(getattr(s, "style", None)):
            raise DrawError(f"styles= takes NodeStyle objects (with a style(node) method), got {s!r}")
    return styles


# ------------------------------------------------------------------------------ scopes

def _scope_paths(scope: str) -> list:
    """'a/b/c' -> ['a', 'a/b', 'a/b/c']."""
    if not scope:
        return []
    parts = scope.split("/")
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def _layer_scopes(scopes: list, own: set) -> set:
    """The layers: the top-level scopes, except that a scope with no nodes of its own and
    sub-scopes (a model, a Sequential) is replaced by its sub-scopes, recursively."""
    chosen = set()
    frontier = [s for s in scopes if "/" not in s]
    while frontier:
        scope = frontier.pop()
        children = [c for c in scopes if "/" in c and c.rsplit("/", 1)[0] == scope]
        if children and scope not in own:
            frontier.extend(children)
        else:
            chosen.add(scope)
    return chosen


def _folded_scopes(collapse, scopes: list, own=None) -> set:
    """The set of scope paths drawn as one box each (outermost ones only). ``own``: the
    scopes that hold nodes directly (None: treat every scope as holding some, so that
    ``collapse=True`` folds exactly the top-level scopes)."""
    if collapse is None or collapse is False:
        return set()
    if collapse is True or collapse == "all":
        chosen = _layer_scopes(scopes, set(scopes) if own is None else own)
    elif isinstance(collapse, int) and not isinstance(collapse, bool):
        if collapse < 0:
            raise DrawError(f"collapse={collapse}: a depth must be 0 or more (0 folds every top-level scope)")
        chosen = {s for s in scopes if s.count("/") == collapse}
    else:
        names = [collapse] if isinstance(collapse, str) else list(collapse)
        known = set(scopes)
        for name in names:
            if not isinstance(name, str) or name not in known:
                available = ", ".join(repr(s) for s in scopes[:12]) or "none (the graph has no scopes)"
                raise DrawError(
                    f"collapse={name!r}: the graph has no scope of that name. Scopes: {available}."
                    + _did_you_mean(str(name), scopes)
                )
        chosen = set(names)
    # keep only the outermost: a scope inside a folded one is folded with it
    return {s for s in chosen if not any(p in chosen for p in _scope_paths(s)[:-1])}


# ------------------------------------------------------------------------------ drawing

class _Drawer:
    def __init__(self, graph, run, options: _Options, collapse, rankdir, title, view=None):
        self.graph = graph
        self.run = run
        self.o = options
        self.view = view
        self.nodes = graph.nodes() if view is None else [n for n in graph.nodes() if n.id in view.node_ids]
        self.drawn_ids = {n.id for n in self.nodes}
        self.consumers = {n.id: [c for c in graph.consumers(n) if c.id in self.drawn_ids] for n in self.nodes}
        self.outputs = {n.id for n in self.nodes if n.kind == OP and not self.consumers[n.id]}
        self.title = title if title is not None or view is None else view.title
        self.rankdir = rankdir
        root = view.root if view is not None else ""
        self.layer_types = view.layer_types if view is not None else {}
        # each node's scope as drawn: a model's own scope is not drawn (its layers are the clusters)
        self.scope = {}
        for n in self.nodes:
            scope = n.scope
            if view is not None:
                scope = scope[len(root) + 1:] if scope.startswith(root + "/") else ""
            self.scope[n.id] = scope
        # scopes in order of first appearance (parents first)
        scopes: list = []
        seen = set()
        for n in self.nodes:
            for p in _scope_paths(self.scope[n.id]):
                if p not in seen:
                    seen.add(p)
                    scopes.append(p)
        self.scopes = scopes
        self.scope_index = {s: i for i, s in enumerate(scopes)}
        self.folded = _folded_scopes(collapse, scopes, set(self.scope.values()))
        self.rep = {}  # node id -> DOT id of what stands for it
        self.box_members: dict = {}  # folded scope -> its nodes
        self.scope_members: dict = {}  # scope -> {node id: node} in it and its sub-scopes
        for n in self.nodes:
            paths = _scope_paths(self.scope[n.id])
            box = next((p for p in paths if p in self.folded), None)
            self.rep[n.id] = f"scope{self.scope_index[box]}" if box is not None else f"n{n.id}"
            if box is not None:
                self.box_members.setdefault(box, []).append(n)
            for p in paths:
                self.scope_members.setdefault(p, {})[n.id] = n
        # a scope of one node (an activation or pooling layer) is drawn as that node, titled
        # with the scope's name: a cluster around one box only adds a frame
        self.inlined: dict = {}  # node id -> the scope it stands for
        for scope in scopes:
            only = self.scope_members[scope]
            if len(only) == 1 and not any(p in self.folded for p in _scope_paths(scope)) \
                    and not any(c.startswith(scope + "/") for c in scopes):
                self.inlined[next(iter(only))] = scope
        self.param_counts: dict = {}  # scope -> trainable scalars in it and its sub-scopes
        for n in self.nodes:
            if n.kind == PARAM:
                for p in _scope_paths(self.scope[n.id]):
                    self.param_counts[p] = self.param_counts.get(p, 0) + int(n.value.size)
        self.targets = loss_targets(self.nodes)
        self.images: dict = {}  # thumbnail file name -> PNG bytes
        self.receives = self._gradient_receivers()
        self.shown = {n.id: self._annotate(n) for n in self.nodes}
        self.edge_grads = self._edge_gradients()
        for (consumer_id, position), fv in self.edge_grads.items():
            if fv is not None:
                src = self.graph.node(consumer_id).inputs[position]
                self.shown[src.id].contributions += 1
        self.scale = None
        if self.o.heatmap:
            # the targets of losses stay neutral: their gradients do not train anything
            mags = [s.grad_magnitude for i, s in self.shown.items() if i not in self.targets]
            mags += [m for (c, p), (_, m) in self.edge_grads.items()
                     if m is not None and self.graph.node(c).inputs[p].id not in self.targets]
            self.scale = heat.LogScale.fit(mags, self.o.heatmap_range)
        self.kinds_seen = set()
        self.any_grey = False
        self.any_nonfinite = False
        self.any_edge_label = False
        self.any_merged_edge = False
        self.titled_side_by_side: set = set()  # (param id, op id) drawn side by side under a title row

    # -- reading the run -------------------------------------------------------------
    def _annotate(self, node) -> _Shown:
        shown = _Shown(node)
        run, o = self.run, self.o
        if node.kind == CONST and o.mode == "structure":
            shown.value = format_value(node.value, o.precision, o.max_elements)
        if o.thumbnails and node.kind == PARAM and (run is None or o.mode == "structure"):
            shown.value_image = self._thumbnail(node, "value", node.value)  # a kernel, from the graph
        if run is None or o.mode == "structure":
            return shown
        shown.ran = run.ran(node)
        if not shown.ran:
            shown.value_note = "not executed"
            return shown
        folded = self.rep[node.id] != f"n{node.id}"  # inside a collapsed scope: only colour and "ran" count
        if o.mode in ("forward", "both") and not folded:
            try:
                value = run.value(node)
                shown.value = format_value(value, o.precision, o.max_elements)
                shown.value_image = self._thumbnail(node, "value", value)
            except ValueNotAvailableError:
                shown.value_note = "value freed (not fetched)"
        if o.mode in ("backward", "both") and node.kind != CONST:
            kind = dtype_kind(node, run)
            if node.id not in self._upstream:
                shown.grad_note = "no gradient (the target does not depend on it)"
            elif node.id != run.target.id and kind not in ("f", "c", None):
                what = {"b": "bool"}.get(kind, "integer")
                shown.grad_note = f"no gradient ({what} values are not differentiable)"
            elif node.id != run.target.id and self.receives is not None and node.id not in self.receives \
                    and self.rep[node.id] == f"n{node.id}":
                shown.grad_note = "no gradient (what reads it passes none back)"
            else:
                try:
                    g = run.grad(node)
                except ValueNotAvailableError:
                    shown.grad_note = "gradient not kept (fetched run)"
                else:
                    if not folded:
                        shown.grad = format_value(g, o.precision, o.max_elements)
                        shown.grad_image = self._thumbnail(node, "grad", g)
                    shown.grad_magnitude = heat.magnitude(g) if o.heatmap else None
        return shown

    def _thumbnail(self, node, what, array):
        """(file name, caption) of the thumbnail grid of a 4-D ``array`` (None otherwise),
        its PNG kept in ``self.images`` under a name made of the node id: deterministic."""
        if not self.o.thumbnails or not is_image_shaped(getattr(array, "shape", None)):
            return None
        grid, caption = thumbnail_grid(array)
        filename = f"{_dot_name(self.graph.name)}_n{node.id}_{what}.png"
        self.images[filename] = png_bytes(grid)
        return filename, caption

    def _gradient_receivers(self):
        """Ids of the nodes drawn as boxes of their own that some consumer passes a gradient
        back to (None when the run cannot tell: no backward, or a fetched run, which keeps no
        edge gradients). Nodes folded into a collapsed scope are not asked about."""
        run = self.run
        if run is None or self.o.mode not in ("backward", "both") or not run.recording:
            return None
        out = set()
        upstream = self._upstream
        for n in self.nodes:
            if n.kind == CONST or n.id not in upstream or self.rep[n.id] != f"n{n.id}":
                continue  # a node folded into a box shows no gradient anyway
            for consumer in self.graph.consumers(n):
                if consumer.id not in upstream or not run.ran(consumer):
                    continue
                for position, src in enumerate(consumer.inputs):
                    if src.id == n.id and run.edge_grad(consumer, position) is not None:
                        out.add(n.id)
                        break
                if n.id in out:
                    break
        return out

    @property
    def _upstream(self) -> set:
        cached = self.__dict__.get("_upstream_ids")
        if cached is None:
            target = self.run.target
            cached = nx.ancestors(self.graph.nx, target.id) | {target.id}
            self.__dict__["_upstream_ids"] = cached
        return cached

    def _edge_gradients(self) -> dict:
        """(consumer id, position) -> (FormattedValue, magnitude) of its gradient contribution
        (the arrays themselves go to ``self.edge_raw``)."""
        run, o = self.run, self.o
        self.edge_raw = {}
        if run is None or o.mode not in ("backward", "both") or not run.recording:
            return {}
        out = {}
        for n in self.nodes:
            if n.kind != OP or not run.ran(n):
                continue
            for position, src in enumerate(n.inputs):
                if src.id not in self.drawn_ids or self.rep[src.id] == self.rep[n.id]:
                    continue  # not drawn (what feeds a model's input), or inside one collapsed scope
                if self.shown[src.id].grad_note and src.kind != CONST:
                    continue  # no gradient reaches it (the note on the node says why)
                g = run.edge_grad(n, position)
                if g is None:
                    continue
                fv = format_value(g, o.precision, o.max_elements)
                out[(n.id, position)] = (fv, heat.magnitude(g) if o.heatmap else None)
                self.edge_raw[(n.id, position)] = g
        return out

    # -- building the DOT ---------------------------------------------------------------
    def build(self) -> Diagram:
        cls = ThumbnailDiagram if self.images else Diagram
        dot = cls(name=_dot_name(self.graph.name), format="svg", encoding="utf-8")
        if self.images:
            dot.images = dict(sorted(self.images.items()))
        rankdir = self.rankdir = self.rankdir or self._auto_rankdir()
        dot.attr("graph", rankdir=rankdir, fontname=FONT, fontsize="12", labelloc="t", labeljust="c",
                 nodesep=str(NODESEP_IN), ranksep="0.35", pad="0.2", newrank="true")
        dot.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="11",
                 margin="0.1,0.05", penwidth="1.2")
        dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7", color="#4b5563", penwidth="1.1")
        self._emit_scope(dot, "", self._members())
        self._emit_edges(dot)
        if rankdir in ("TB", "BT"):
            self._emit_feeders_above_headers(dot)
        dot.attr("graph", label=self._graph_label())  # last: the legend lists what was drawn
        return dot

    def _members(self) -> dict:
        """scope path ('' for top level) -> ordered list of ('node', node) / ('scope', path)."""
        members: dict = {"": []}
        placed = set()
        for s in self.scopes:
            members.setdefault(s, [])
        for n in self.nodes:
            rep = self.rep[n.id]
            if rep.startswith("scope"):
                if rep in placed:
                    continue
                placed.add(rep)
                box = self.scopes[int(rep[5:])]
                parent = box.rsplit("/", 1)[0] if "/" in box else ""
                members[parent].append(("box", box))
                continue
            scope = self.scope[n.id]
            if n.id in self.inlined:
                scope = scope.rsplit("/", 1)[0] if "/" in scope else ""
            members[scope].append(("node", n))
        # child scopes (not folded, not drawn as their one node) go into their parent, in
        # order of first appearance
        inlined = set(self.inlined.values())
        for s in self.scopes:
            if s in inlined or s in self.folded or any(p in self.folded for p in _scope_paths(s)):
                continue
            parent = s.rsplit("/", 1)[0] if "/" in s else ""
            members[parent].append(("scope", s))
        return members

    def _emit_scope(self, dot, scope, members):
        self._emit_side_by_side(dot, members[scope])
        for kind, item in members[scope]:
            if kind == "node":
                self._emit_node(dot, item)
            elif kind == "box":
                self._emit_box(dot, item)
            else:
                with dot.subgraph(name=f"cluster_{self.scope_index[item]}") as sub:
                    sub.attr(style="rounded,filled", fillcolor=SCOPE_COLOURS[0], color=SCOPE_COLOURS[1])
                    if self.rankdir in ("TB", "BT"):
                        self._emit_header(sub, item, members)
                    else:  # left to right, edges enter a cluster from the side: its label is free
                        sub.attr(label=self._cluster_label(item), fontsize="11", labeljust="l")
                    self._emit_scope(sub, item, members)

    def _cluster_label(self, scope) -> str:
        """A cluster's title: its name and layer type, then its shapes and parameter count."""
        kind, arrow, params = self._layer_facts(scope)
        head = f"<B>{html_text(scope.rsplit('/', 1)[-1])}</B>"
        if kind:
            head += f' <FONT POINT-SIZE="10" COLOR="{MUTED}">{html_text(kind)}</FONT>'
        facts = " · ".join(f for f in (arrow, params) if f)
        extra = f'<BR/><FONT POINT-SIZE="9" COLOR="{MUTED}">{html_text(facts)}</FONT>' if facts else ""
        return f"<{head}{extra}>"

    def _emit_header(self, dot, scope, members):
        """In a top-down diagram a cluster's title is a node of its own, ``title<index>``, in
        a row above everything else in the cluster. Graphviz routes edges around nodes but
        straight through cluster labels, so an edge from outside into a cluster's first node
        (the input ``x`` into an evaluation path, a layer into the next) could cross a label;
        it passes beside a title node. Invisible edges put the title above each node of the
        cluster that nothing inside it feeds (the rest lie below those); one of them, to the
        first such node fed from outside, or else to the first one (a param: the title then
        sits over the params, beside the chain that runs through the cluster), also pulls
        the title over that node; the others have weight 0 and pull nothing sideways."""
        index = self.scope_index[scope]
        name = f"title{index}"
        dot.node(name, label=self._cluster_label(scope), shape="plain", style="solid", fontsize="11")
        inside = self.scope_members[scope]
        entries = []  # (DOT id, whether something outside feeds it) of what nothing inside feeds
        for kind, item in members[scope]:
            if kind == "scope":
                own = self.scope_members[item]
                if not any(src.id in inside and src.id not in own for m in own.values() for src in m.inputs):
                    entries.append((f"title{self.scope_index[item]}", True))
            elif kind == "box":
                head = f"scope{self.scope_index[item]}"
                if not any(src.id in inside and self.rep[src.id] != head for m in self.box_members[item]
                           for src in m.inputs):
                    entries.append((head, True))
            elif not any(src.id in inside for src in item.inputs):
                entries.append((f"n{item.id}", bool(item.inputs)))
        lead = next((head for head, fed in entries if fed), entries[0][0] if entries else None)
        for head, _ in entries:
            dot.edge(name, head, style="invis", **({} if head == lead else {"weight": "0"}))

    def _emit_side_by_side(self, dot, members):
        """A param or const used by one op of its scope sits beside that op (same rank), so
        layers stay in line instead of drifting sideways; in a top-down diagram the target
        of a loss (class labels) sits beside its loss, not beside the layers above it. One
        such neighbour per op (a second one's edge would arc over the first). Not for
        left-to-right diagrams with gradient labels on edges: Graphviz would draw those
        labels over the edges."""
        top_down = self.rankdir in ("TB", "BT")
        if not top_down and self.o.mode in ("backward", "both"):
            return  # left to right, Graphviz draws labels of same-rank edges over the edge
        taken = set()
        for kind, node in members:
            if kind != "node":
                continue
            if node.kind in (PARAM, CONST) or (top_down and node.kind == INPUT and node.id in self.targets):
                # its one consumer drawn in its own scope (an evaluation path elsewhere may read it too)
                consumers = [c for c in self.consumers[node.id]
                             if self._drawn_scope(c) == self._drawn_scope(node) and self.rep[c.id] == f"n{c.id}"]
                if node.kind == INPUT:
                    consumers = consumers[:1]
                if len(consumers) == 1 and consumers[0].id not in taken:
                    taken.add(consumers[0].id)
                    if top_down and self._drawn_scope(node):
                        self.titled_side_by_side.add((node.id, consumers[0].id))
                    with dot.subgraph() as same:
                        same.attr(rank="same")
                        same.node(f"n{node.id}")
                        same.node(f"n{consumers[0].id}")

    def _emit_feeders_above_headers(self, dot):
        """Whatever feeds a cluster from outside is ranked above the cluster's title row: an
        invisible edge of weight 0 from it to ``title<index>`` of the outermost cluster the
        edge enters. The input ``x`` then sits above an evaluation path and a layer's output
        above the next layer, rather than beside their title rows (which would set the next
        layer beside this one). Params and consts feed without one (they sit beside the op
        that reads them, and an evaluation path reads them from inside the training path),
        and so does a node that something inside the cluster feeds, through any path (the
        edge would close a cycle): see :meth:`_levels`."""
        level = self._levels()
        lowest: dict = {}  # cluster -> the lowest level inside it
        for node_id, lv in level.items():
            for p in _scope_paths(self._box_scope(self.graph.node(node_id))):
                lowest[p] = min(lowest.get(p, lv), lv)
        seen = set()
        for n in self.nodes:
            head_scopes = _scope_paths(self._box_scope(n))
            for src in n.inputs:
                if src.id not in self.drawn_ids:
                    continue
                tail = self.rep[src.id]
                if tail == self.rep[n.id] or (src.kind in (PARAM, CONST) and not tail.startswith("scope")):
                    continue
                tail_scopes = set(_scope_paths(self._box_scope(src)))
                entered = next((p for p in head_scopes if p not in tail_scopes), None)
                if entered is None or (tail, entered) in seen:
                    continue
                seen.add((tail, entered))
                tail_level = min(level[m.id] for m in self.box_members[self.scopes[int(tail[5:])]]) \
                    if tail.startswith("scope") else level[src.id]
                if tail_level < lowest[entered]:
                    dot.edge(tail, f"title{self.scope_index[entered]}", style="invis", weight="0")

    def _levels(self) -> dict:
        """node id -> a number that grows along every edge: for a node with inputs, minus the
        longest path from it to an output (as late as it can be: an evaluation path, shorter
        than the training path, ends level with it); for one without, just before its first
        consumer (an input half a step, a param or const a quarter: after the input that meets
        it there). An edge from a node into a cluster whose nodes are all at higher levels
        closes no cycle, nor do the title rows' edges (each title just below its cluster's
        lowest level, a parent's before its child's)."""
        height: dict = {}
        for node_id in reversed(list(nx.topological_sort(self.graph.nx))):
            if node_id in self.drawn_ids:
                height[node_id] = max((height[c.id] + 1 for c in self.consumers[node_id]), default=0)
        level = {}
        for node_id, h in height.items():
            node = self.graph.node(node_id)
            if any(src.id in self.drawn_ids for src in node.inputs):
                level[node_id] = -h
        for node_id in height:
            if node_id not in level:
                consumers = [level[c.id] for c in self.consumers[node_id]]
                before = 0.25 if self.graph.node(node_id).kind in (PARAM, CONST) else 0.5
                level[node_id] = min(consumers) - before if consumers else 0
        return level

    def _box_scope(self, node) -> str:
        """The scope of the cluster that holds what stands for ``node`` ('' for none): its
        own cluster, or the one around the collapsed box it is folded into."""
        rep = self.rep[node.id]
        if rep.startswith("scope"):
            box = self.scopes[int(rep[5:])]
            return box.rsplit("/", 1)[0] if "/" in box else ""
        return self._drawn_scope(node)

    def _drawn_scope(self, node) -> str:
        """The scope whose cluster a node is drawn in (a scope of one node is drawn as that
        node, in its parent)."""
        scope = self.scope[node.id]
        if node.id in self.inlined:
            return scope.rsplit("/", 1)[0] if "/" in scope else ""
        return scope

    def _emit_node(self, dot, node):
        shown = self.shown[node.id]
        if node.kind == CONST and node.dtype is None:
            return self._emit_number(dot, node, shown)
        kind = "output" if node.id in self.outputs else node.kind
        self.kinds_seen.add(kind)
        fill, border = KIND_COLOURS[kind]
        attrs = {"fillcolor": fill, "color": border}
        text_colour = None
        if node.kind == CONST:
            attrs["style"] = "rounded,filled,dashed"
        if kind == "output":
            attrs["peripheries"] = "2"
        if not shown.ran:
            self.any_grey = True
            attrs.update(fillcolor=GREY[0], color=GREY[1], fontcolor=GREY[2], style="rounded,filled,dashed")
            text_colour = GREY[2]
        elif self.scale is not None and shown.grad_magnitude is not None and node.id not in self.targets:
            attrs["fillcolor"] = self.scale.colour(shown.grad_magnitude)
            text_colour = heat.text_colour(attrs["fillcolor"])
            attrs["fontcolor"] = text_colour
        elif self.scale is not None:
            attrs["fillcolor"] = "#ffffff"  # no heat: a target, or no gradient
        flagged = (shown.value is not None and shown.value.non_finite) or \
            (shown.grad is not None and shown.grad.non_finite)
        if flagged:
            self.any_nonfinite = True
            attrs.update(color=NAN_COLOUR, penwidth="2.5")
        label = self._node_label(node, shown, text_colour)
        self._apply_styles(node, attrs)
        dot.node(f"n{node.id}", label=label, _attributes=attrs)

    def _emit_number(self, dot, node, shown):
        """A weakly typed Python number (``h * 2.0``): a small ellipse with its value."""
        self.kinds_seen.add(CONST)
        fill, border = KIND_COLOURS[CONST]
        attrs = {"shape": "ellipse", "style": "filled,dashed", "fillcolor": fill, "color": border,
                 "margin": "0.02,0.01", "fontsize": "10"}
        if not shown.ran:
            self.any_grey = True
            attrs.update(fillcolor=GREY[0], color=GREY[1], fontcolor=GREY[2])
        self._apply_styles(node, attrs)
        text = format_value(node.value, self.o.precision, self.o.max_elements).lines[0]
        dot.node(f"n{node.id}", label=f"<{html_text(text, brackets=False)}>", _attributes=attrs)

    def _node_label(self, node, shown, text_colour):
        name = self._local_name(node)
        muted = text_colour or MUTED
        rows = [f'<TR><TD COLSPAN="2"><B>{html_text(name)}</B></TD></TR>',
                f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="9" COLOR="{muted}">{self._header(node, shown)}</FONT>'
                "</TD></TR>"]
        mode = self.o.mode
        if shown.value_note and (mode != "backward" or not shown.ran):
            rows.append(f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="9" COLOR="{muted}"><I>{html_text(shown.value_note)}'
                        "</I></FONT></TD></TR>")
        value_shown = shown.value is not None and (mode in ("forward", "both") or node.kind == CONST)
        if value_shown:
            prefix = "value" if mode != "structure" else "="
            rows.append(self._value_row(prefix, shown.value, text_colour or VALUE_COLOUR))
        if shown.value_image is not None and (mode in ("forward", "both", "structure") or node.kind == PARAM):
            rows.append(self._image_row(shown.value_image, muted))
        if shown.grad is not None:
            if value_shown or shown.value_note:
                rows.append("<HR/>")
            prefix = "grad"
            if shown.contributions > 1:
                prefix = f"grad (sum of {shown.contributions})"
            rows.append(self._value_row(prefix, shown.grad, text_colour or GRAD_COLOUR))
            if shown.grad_image is not None:
                rows.append(self._image_row(shown.grad_image, muted))
        elif shown.grad_note and shown.ran:
            rows.append(f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="9" COLOR="{muted}"><I>{html_text(shown.grad_note)}'
                        "</I></FONT></TD></TR>")
        return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                + "".join(rows) + "</TABLE>>")

    def _local_name(self, node) -> str:
        """A node's name as its box shows it: local to its cluster (``matmul`` inside
        ``dense_1``), below the model's scope in a model diagram, else in full."""
        if node.id in self.inlined:
            return self.inlined[node.id].rsplit("/", 1)[-1]
        if self.scope[node.id]:
            return node.name.rsplit("/", 1)[-1]
        root = self.view.root if self.view is not None else ""
        if root and node.name.startswith(root + "/"):
            return node.name[len(root) + 1:]
        return node.name

    def _shape_of(self, node):
        """The shape a node's box shows: declared, or the run's where the declaration leaves
        an axis open (the batch: (None, 784) in structure diagrams, (4, 784) with a run), so
        a layer's label and its nodes agree."""
        shape = node.shape
        if (shape is None or any(d is None for d in shape)) and self.run is not None \
                and self.o.mode != "structure" and self.shown[node.id].ran and node.kind != CONST:
            try:
                shape = tuple(self.run.value(node).shape)
            except (ValueNotAvailableError, GraphEngineError):
                pass
        return shape

    def _layer_facts(self, scope) -> tuple:
        """(type name or '', 'in → out' shapes or '', parameter text or '') of a scope."""
        kind = self.layer_types.get(scope, "")
        arrow = ""
        if self.o.show_shapes:
            ins, outs = scope_ports(self.scope_members.get(scope, {}), self.drawn_ids,
                                    lambda n: self.consumers.get(n.id, ()))
            if ins or outs:
                arrow = f"{shapes_text(ins, self._shape_of) or '()'} → {shapes_text(outs, self._shape_of) or '()'}"
        count = self.param_counts.get(scope, 0)
        params = [count_text(count, "parameter")] if count else []
        shared = self._shared_parameters(scope)
        if shared:
            params.append(f"shares {count_text(shared, 'parameter')}")  # with the scope that holds them
        return kind, arrow, " · ".join(params)

    def _shared_parameters(self, scope) -> int:
        """Trainable scalars of the params outside ``scope`` that nodes inside it read (an
        evaluation path sharing the training path's weights)."""
        members = self.scope_members.get(scope, {})
        outside = {src.id: src for node in members.values() for src in node.inputs
                   if src.kind == PARAM and src.id not in members}
        return sum(int(p.value.size) for p in outside.values())

    def _header(self, node, shown):
        if node.kind == OP:
            what = html_text(node.op + self._arguments(node))
            attributes = attributes_text(node, all_attributes=self.o.show_attrs == "all") \
                if self.o.show_attrs and node.attrs else ""
            if attributes:  # only those that differ from the op's defaults
                what += " " + html_text(attributes)
        else:
            what = node.kind
        shape = node.shape
        dtype = node.dtype
        unknown = shape is None or any(d is None for d in shape) or dtype is None
        if unknown and self.run is not None and shown.ran and self.o.mode != "structure" \
                and not (node.kind == CONST and node.dtype is None):
            try:  # the run knows the axes (and dtype) the declaration left open
                value = self.run.value(node)
                shape, dtype = tuple(value.shape), value.dtype
            except ValueNotAvailableError:
                pass
        shape_text = format_shape(shape)
        if node.id in self.inlined and self.o.show_shapes:  # a layer of one node: its input shapes too
            ins, _ = scope_ports(self.scope_members[self.inlined[node.id]], self.drawn_ids,
                                 lambda n: self.consumers.get(n.id, ()))
            if ins:
                shape_text = f"{shapes_text(ins, self._shape_of)} → {shape_text}"
        facts = [shape_text + ("" if dtype is None else f" {dtype}")]
        if node.kind == PARAM:
            size = node.size
            facts.append(count_text(size if size is not None else 0, "element"))
        line = " · ".join([what] + facts)
        if text_width(f"<{line}>") > text_width("<" + "m" * HEADER_LINE_CHARS + ">"):
            return what + "<BR/>" + " · ".join(facts)  # a long header: what it is, then its shape
        return line

    def _arguments(self, node) -> str:
        """'(b, y)' for ops whose input order matters (sub, div, matmul, ...), when short."""
        if node.op not in _ORDERED_OPS or len(node.inputs) < 2:
            return ""
        names = ", ".join(_display_name(i) for i in node.inputs)
        return f"({names})" if len(names) <= ARGUMENTS_MAX_CHARS else ""

    def _value_row(self, prefix, fv, colour):
        """Two cells: the prefix ('value', 'grad') right-aligned, the lines left-aligned."""
        body = "<BR/>".join(html_text(line, brackets=False) for line in fv.lines)
        flag = ""
        if fv.non_finite:
            flag = f'<BR/><FONT COLOR="{NAN_COLOUR}"><B>{html_text(fv.flag_text())}</B></FONT>'
        return (f'<TR><TD ALIGN="RIGHT" VALIGN="TOP"><FONT COLOR="{colour}">{html_text(prefix)}</FONT></TD>'
                f'<TD ALIGN="LEFT" BALIGN="LEFT"><FONT COLOR="{colour}">{body}</FONT>{flag}</TD></TR>')

    @staticmethod
    def _image_row(image, colour):
        """A row with a thumbnail grid and, below it, which images it shows."""
        filename, caption = image
        return (f'<TR><TD COLSPAN="2"><IMG SRC="{html_text(filename)}"/></TD></TR>'
                f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="8" COLOR="{colour}">{html_text(caption)} images'
                "</FONT></TD></TR>")

    def _emit_box(self, dot, scope):
        index = self.scope_index[scope]
        members = self.box_members[scope]
        params = self.param_counts.get(scope, 0)
        self.kinds_seen.add("collapsed")
        attrs = {"shape": "box3d", "style": "filled", "fillcolor": COLLAPSED_COLOURS[0],
                 "color": COLLAPSED_COLOURS[1]}
        text_colour = MUTED
        ran = [m for m in members if self.shown[m.id].ran]
        if self.run is not None and not ran:
            self.any_grey = True
            attrs.update(fillcolor=GREY[0], color=GREY[1], fontcolor=GREY[2], style="filled,dashed")
            text_colour = GREY[2]
        elif self.scale is not None:
            mags = [self.shown[m.id].grad_magnitude for m in members
                    if self.shown[m.id].grad_magnitude is not None and m.id not in self.targets]
            if mags:
                attrs["fillcolor"] = self.scale.colour(max(mags))
                text_colour = heat.text_colour(attrs["fillcolor"])
                attrs["fontcolor"] = text_colour
        kind, arrow, _ = self._layer_facts(scope)
        shared = self._shared_parameters(scope)
        detail = count_text(len(members), "node")
        if params or not shared:
            detail += f" · {count_text(params, 'parameter')}"
        if shared:
            detail += f" · shares {count_text(shared, 'parameter')}"
        head = f"<B>{html_text(scope.rsplit('/', 1)[-1])}</B>"  # its cluster names the rest
        if kind:
            head += f" {html_text(kind)}"
        rows = [f"<TR><TD>{head}</TD></TR>"]
        if arrow:
            rows.append(f'<TR><TD><FONT POINT-SIZE="10">{html_text(arrow)}</FONT></TD></TR>')
        rows.append(f'<TR><TD><FONT POINT-SIZE="9" COLOR="{text_colour}">collapsed scope · {detail}</FONT></TD></TR>')
        label = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"
        dot.node(f"scope{index}", label=label, _attributes=attrs)

    def _emit_edges(self, dot):
        backward = self.o.mode == "backward"
        grads_on_edges = self.o.mode in ("backward", "both")
        folded_edges: dict = {}
        for n in self.nodes:
            for position, src in enumerate(n.inputs):
                if src.id not in self.drawn_ids:
                    continue  # a model's diagram: what feeds the node that feeds the model
                tail, head = self.rep[src.id], self.rep[n.id]
                if tail == head:
                    continue
                key = (n.id, position)
                if tail.startswith("scope") or head.startswith("scope"):
                    folded_edges.setdefault((tail, head), []).append(key)
                    continue
                attrs = {}
                ran = self.shown[n.id].ran and self.shown[src.id].ran
                label = None
                if not ran:
                    attrs.update(color=GREY[1], style="dashed")
                elif grads_on_edges:
                    label, colour = self._edge_label(key)
                    if not self._labelled(src):
                        label = None
                    if colour:
                        attrs.update(color=colour, penwidth="2")
                    elif backward and key not in self.edge_grads:
                        attrs.update(color="#c4c4c4", style="dashed")
                if backward:
                    attrs["dir"] = "back"
                self._note_label(label, attrs, src, n)
                if label is not None and (src.id, n.id) in self.titled_side_by_side:
                    attrs["minlen"] = _flat_label_minlen(label)
                dot.edge(tail, head, label=label, _attributes=attrs)
        for (tail, head), keys in folded_edges.items():
            attrs = {}
            label = None
            sources = {self.graph.node(c).inputs[p].id for c, p in keys}
            ran = any(self.shown[c].ran for c, _ in keys)
            if self.run is not None and not ran:
                attrs.update(color=GREY[1], style="dashed")
            elif grads_on_edges and len(keys) == 1:
                label, colour = self._edge_label(keys[0])
                if not self._labelled(self.graph.node(keys[0][0]).inputs[keys[0][1]]):
                    label = None
                if colour:
                    attrs.update(color=colour, penwidth="2")
            elif grads_on_edges and len(sources) == 1 and self.o.edge_labels != "none":
                # several edges from one node into a folded scope: what flows back is their sum
                parts = [self.edge_raw[k] for k in keys if k in self.edge_raw]
                if parts:
                    total = parts[0]
                    for part in parts[1:]:
                        total = total + part
                    fv = format_value(total, self.o.precision, self.o.max_elements)
                    label, colour = self._label_for(fv, heat.magnitude(total) if self.o.heatmap else None,
                                                    f"sum of {len(parts)}")
                    attrs.update(color=colour, penwidth="2")
            if backward:
                attrs["dir"] = "back"
            self._note_label(label, attrs)
            if len(keys) > 1:  # one edge stands for several: say how many
                attrs["penwidth"] = attrs.get("penwidth", "1.6")
                count = f'<FONT COLOR="{MUTED}">×{len(keys)}</FONT>'
                label = f"<{count}<BR/>{label[1:-1]}>" if label else f"<{count}>"
                self.any_merged_edge = True
            dot.edge(tail, head, label=label, _attributes=attrs)

    def _note_label(self, label, attrs, src=None, dst=None) -> None:
        """Record that an edge label is drawn. In a top-down diagram whose labels mark the
        fan-out edges ("auto"), such an edge from one scope into another (a residual
        connection) gets no pull (weight 0): with its label it would otherwise drag the
        chain of layers sideways, a little more at every block."""
        if label is None:
            return
        self.any_edge_label = True
        if self.o.edge_labels == "auto" and self.rankdir in ("TB", "BT") and src is not None \
                and self.scope[src.id] != self.scope[dst.id]:
            attrs["weight"] = "0"

    def _labelled(self, src) -> bool:
        """Whether an edge out of ``src`` carries its gradient as a label (see ``edge_labels``):
        with "auto", only where that gradient is not already written on a box: ``src`` is
        used more than once (its box shows the sum of the edges' gradients) or is folded into
        a collapsed scope (whose box shows no gradients)."""
        if self.o.edge_labels != "auto":
            return self.o.edge_labels == "all"
        return self.shown[src.id].contributions > 1 or self.rep[src.id] != f"n{src.id}"

    def _edge_label(self, key):
        entry = self.edge_grads.get(key)
        if entry is None:
            return None, None
        src = self.graph.node(key[0]).inputs[key[1]]
        if src.id in self.targets and self.scale is not None:
            return self._label_for(entry[0], None)[0], "#9ca3af"  # a target's edge stays neutral
        return self._label_for(*entry)

    def _label_for(self, fv, mag, note=None):
        """(HTML label, edge colour) for a gradient flowing back along an edge."""
        colour = GRAD_COLOUR
        if self.scale is not None and mag is not None:
            colour = self.scale.edge_colour(mag)
        text = "<BR/>".join(html_text(line, brackets=False) for line in fv.lines)
        if note:
            text = f'<I>{html_text(note)}</I><BR/>{text}'
        if fv.non_finite:
            text += f'<BR/><B>{html_text(fv.flag_text())}</B>'
            colour = NAN_COLOUR
        return f'<<FONT COLOR="{GRAD_COLOUR if self.scale is None else "#111827"}">{text}</FONT>>', colour

    def _apply_styles(self, node, attrs):
        for style in self.o.styles:
            name = getattr(style, "name", type(style).__name__)
            try:
                extra = style.style(node)
            except Exception as exc:
                _warn_style(f"node style {name!r} raised {type(exc).__name__}: {exc} (on node {node.name!r}); "
                            "it is skipped for this node")
                continue
            if extra is None:
                continue
            if not isinstance(extra, dict):
                _warn_style(f"node style {name!r} returned {type(extra).__name__} for node {node.name!r}; "
                            "style(node) must return a dict of Graphviz attributes or None")
                continue
            for key, value in extra.items():
                problem = _style_problem(key, value)
                if problem:
                    _warn_style(f"node style {name!r}, node {node.name!r}: {problem}; attribute ignored")
                    continue
                attrs[key] = str(value)

    # -- graph label, rank direction, legend -----------------------------------------------
    def _graph_label(self):
        g = self.graph
        title = self.title if self.title is not None else g.name
        params = sum(int(n.value.size) for n in self.nodes if n.kind == PARAM)
        facts = [count_text(len(self.nodes), "node"), count_text(params, "parameter")]
        run, mode = self.run, self.o.mode
        if mode == "forward":
            facts.append("forward values")
        elif mode == "backward":
            facts.append(f"gradients of {run.target.name}")
        elif mode == "both":
            facts.append(f"values and gradients of {run.target.name}")
        if run is not None and not run.recording:
            executed = sum(1 for n in self.nodes if run.ran(n))
            if executed < len(self.nodes):
                facts.append(f"ran {executed} of {len(self.nodes)} nodes")
        rows = [f'<TR><TD><FONT POINT-SIZE="14"><B>{html_text(title)}</B></FONT></TD></TR>',
                f'<TR><TD><FONT POINT-SIZE="10" COLOR="{MUTED}">{html_text(" · ".join(facts))}</FONT></TD></TR>']
        if self.o.legend:
            rows += self._legend_rows()
        return ('<<FONT POINT-SIZE="9"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                + "".join(rows) + "</TABLE></FONT>>")

    def _auto_rankdir(self) -> str:
        if self.view is not None:
            return "TB"  # a model reads from input to output down the page, like Keras' plot_model
        # longest chain of drawn nodes, over the graph in topological order
        depth: dict = {}
        for node_id in nx.topological_sort(self.graph.nx):
            if node_id not in self.drawn_ids:
                continue
            node = self.graph.node(node_id)
            rep = self.rep[node_id]
            best = 0
            for src in node.inputs:
                if src.id not in depth:
                    continue
                d = depth[src.id]
                if self.rep[src.id] != rep:
                    d += 1
                best = max(best, d)
            depth[node_id] = best
        ranks = (max(depth.values()) + 1) if depth else 1
        if ranks > AUTO_LR_MAX_RANKS:
            return "TB"
        return "LR" if self._left_to_right_width(depth) <= SLIDE_WIDTH_PX else "TB"

    def _left_to_right_width(self, depth) -> float:
        """About how many pixels wide (at Graphviz's 96 dpi) the diagram is left to right:
        the widest box of each rank, summed, plus the gaps between ranks."""
        widest: dict = {}
        for node in self.nodes:
            rep = self.rep[node.id]
            if rep.startswith("scope"):
                width = text_width(self._box_label_text(self.scopes[int(rep[5:])]))
            elif node.kind == CONST and node.dtype is None:
                width = 40.0
            else:
                width = text_width(self._node_label(node, self.shown[node.id], None))
                if self.shown[node.id].value_image or self.shown[node.id].grad_image:
                    width = max(width, THUMBNAIL_WIDTH_PX)
            d = depth[node.id]
            widest[d] = max(widest.get(d, 0.0), width)
        gap = RANK_GAP_PX + (EDGE_LABEL_PX if self.o.edge_labels == "all" and self.edge_grads else 0.0)
        return sum(widest.values()) + gap * (len(widest) - 1) + 2 * PAGE_MARGIN_PX

    def _box_label_text(self, scope) -> str:
        kind, arrow, params = self._layer_facts(scope)
        return "<BR/>".join((scope.rsplit("/", 1)[-1] + " " + kind, arrow, "collapsed scope · 99 nodes · " + params))

    def _legend_rows(self) -> list:
        """Legend rows for the graph label: items laid out side by side, four per row."""
        items = []
        heat_fill = self.scale is not None
        for kind in (INPUT, PARAM, CONST, OP, "output"):
            if kind in self.kinds_seen:
                fill, border = KIND_COLOURS[kind]
                items.append((_swatch("#ffffff" if heat_fill else fill, border), html_text(KIND_NOTES[kind])))
        if "collapsed" in self.kinds_seen:
            items.append((_swatch(*COLLAPSED_COLOURS), "collapsed scope"))
        if self.any_grey:
            items.append((_swatch(GREY[0], GREY[1]), "not executed by this run"))
        mode = self.o.mode
        if mode in ("forward", "both") and not heat_fill:
            items.append((f'<FONT COLOR="{VALUE_COLOUR}">value</FONT>', "forward value"))
        if mode in ("backward", "both"):
            target = html_text(self.run.target.name)
            if not heat_fill:
                items.append((f'<FONT COLOR="{GRAD_COLOUR}">grad</FONT>', f"gradient of {target}"))
            if self.any_edge_label:
                key_colour = "#111827" if heat_fill else GRAD_COLOUR
                items.append((f'<FONT COLOR="{key_colour}">edge label</FONT>', "gradient flowing back along it"))
        if self.any_merged_edge:
            items.append((f'<FONT COLOR="{MUTED}">×2</FONT>', "edges merged into one"))
        if self.any_nonfinite:
            items.append((f'<FONT COLOR="{NAN_COLOUR}"><B>red</B></FONT>', "holds NaN or Inf"))
        rows = []
        if items:
            lines = []
            for start in range(0, len(items), 4):
                cells = "".join(f'<TD ALIGN="RIGHT">{key}</TD><TD ALIGN="LEFT">{text}</TD><TD WIDTH="12"></TD>'
                                for key, text in items[start:start + 4])
                lines.append(f"<TR>{cells}</TR>")
            rows.append('<TR><TD><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
                        + "".join(lines) + "</TABLE></TD></TR>")
        if heat_fill:
            rows.append(f'<TR><TD><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                        f"{heat.legend_html(self.scale)}</TABLE></TD></TR>")
        return rows


def _flat_label_minlen(label) -> str:
    """``minlen`` (in nodeseps) of a labelled edge between two boxes side by side in a
    cluster with a title row, so that its 9-point label fits between them: there Graphviz
    does not space them for the label by itself (it does without the title's edges)."""
    label_pt = (text_width(label) - BOX_PADDING_PX) * 9 / 11 * 0.75  # 11-point pixels -> 9-point points
    return str(math.ceil((label_pt + 8) / (NODESEP_IN * 72)))


def _swatch(fill, border):
    return (f'<TABLE BORDER="1" COLOR="{border}" CELLBORDER="0" CELLPADDING="0" CELLSPACING="0">'
            f'<TR><TD BGCOLOR="{fill}" WIDTH="16" HEIGHT="10"></TD></TR></TABLE>')


# ops whose input order matters: their edges say which input is which
_ORDERED_OPS = {"sub", "div", "pow", "matmul", "where", "clip", "concat", "stack", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "cross_entropy", "nll", "mse", "mae", "hinge"}
ARGUMENTS_MAX_CHARS = 32
HEADER_LINE_CHARS = 44  # a node's header longer than this is split: op and attributes, then shape and dtype


def _display_name(node) -> str:
    """A node as its name reads in an argument list (weak constants by their value)."""
    if node.kind == CONST and node.dtype is None:
        from .labels import format_number

        return format_number(node.value)
    return node.name.rsplit("/", 1)[-1]


def _dot_name(name: str) -> str:
    safe = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_" for ch in str(name))
    return safe if safe and not safe[0].isdigit() else f"g_{safe}"


def _style_problem(key, value) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        return f"attribute name {key!r} is not a Graphviz attribute name"
    if key in ("label", "id"):
        return f"{key!r} is set by graphengine and cannot be styled"
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return f"value of {key!r} must be a string or a number, got {type(value).__name__}"
    text = str(value)
    if "\\" in text or any(ord(c) < 32 for c in text) or (text.startswith("<") and text.endswith(">")):
        return f"value of {key!r} ({text!r}) contains a backslash, a control character or HTML markup"
    return ""


def _warn_style(message):
    from graphengine.plugin_manager import PluginWarning

    warnings.warn(f"graphengine.visualize: {message}", PluginWarning, stacklevel=4)


__all__ = ["draw", "NodeStyle", "DrawError", "LargeGraphWarning", "MODES", "EDGE_LABELS"]
