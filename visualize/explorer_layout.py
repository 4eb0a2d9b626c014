"""The explorer's diagrams: DOT text for its panes and frames, laid out by Graphviz.

One builder makes three kinds of diagram from the page model
(:func:`~graphengine.visualize.explorer_data.collect`):

* ``forward``: each node with its value; ``backward``: each node with its gradient and
  every edge with the contribution flowing back along it; both carry element ids
  (``f-n3``, ``f-n3-v``, ``b-e5_0``, ``b-e5_0-l``, ``b-c0``) that the page's script uses
  to reveal values step by step, highlight, and cross-link the two panes;
* ``both`` with ``reveal=k``: a static frame of step ``k`` for slides. What is not yet
  computed at step ``k`` is written in the colour of its background: invisible, but it
  keeps its size, so every frame of a run has exactly the same layout.

Labels use the diagrams' own formatting and escaping (:mod:`.labels`) and colours
(:mod:`.draw`); the SVG comes from Graphviz ``dot`` through :class:`.diagram.Diagram`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .diagram import Diagram
from .draw import FONT, GRAD_COLOUR, KIND_COLOURS, MUTED, SCOPE_COLOURS, VALUE_COLOUR, _dot_name
from .labels import html_text

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

CURRENT_COLOUR = "#ea580c"   # the node of the current step (frames; the page uses CSS)
AUTO_LR_MAX_RANKS = 4  # the panes are taller than wide: deeper graphs are laid out top down
PREFIX = {"forward": "f-", "backward": "b-", "both": "s-"}


def build_dot(page: dict, pane: str, reveal: int | None = None, rankdir: str | None = None,
              folded=()) -> Diagram:
    """The DOT of one pane (``forward``, ``backward``) or of a frame (``both``, with
    ``reveal`` = the step shown; None shows everything). ``folded``: indices of scopes
    drawn as one box each (``f-box3``), laid out in the space of the box alone; edges
    into and out of a box go to the box, parallel ones merged into one."""
    p = PREFIX[pane]
    fold = _Folding(page, folded)
    nodes = {n["id"]: n for n in page["nodes"]}
    edges = {e["id"]: e for e in page["edges"]}
    dot = Diagram(name=_dot_name(page["graph"]) + "_" + pane, format="svg", encoding="utf-8")
    dot.attr("graph", rankdir=rankdir or auto_rankdir(page), fontname=FONT, fontsize="12", nodesep="0.3",
             ranksep="0.35", pad="0.15", newrank="true", bgcolor="white")
    dot.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="11", margin="0.1,0.05",
             penwidth="1.2")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7", color="#4b5563", penwidth="1.1")
    state = _State(page, reveal)
    _emit_scope(dot, page, nodes, "", p, pane, state, fold)
    for n in page["nodes"]:
        for position, src in enumerate(n["inputs"]):
            key = f"{n['id']}_{position}"
            if fold.merged(key):
                continue
            attrs = {"id": f"{p}e{key}"}
            label = None
            edge = edges.get(key)
            if pane in ("backward", "both"):
                attrs["dir"] = "back"
                if edge is not None:
                    shown = state.edge_shown(key)
                    colour = GRAD_COLOUR if shown else "#ffffff"
                    lines = "<BR/>".join(html_text(line, brackets=False) for line in edge["label"])
                    label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                             f'<TD{_cell(f"{p}e{key}-l", pane)}><FONT COLOR="{colour}">{lines}</FONT></TD></TR></TABLE>>')
                    if shown:
                        attrs.update(color=GRAD_COLOUR, penwidth="2")
                    if reveal is not None and state.current_edges and key in state.current_edges:
                        attrs.update(color=CURRENT_COLOUR, penwidth="3")
                elif reveal is None:
                    attrs.update(color="#c4c4c4", style="dashed")
            dot.edge(fold.rep[src], fold.rep[n["id"]], label=label, _attributes=attrs)
    for k, (tail, head, count) in enumerate(fold.bundles):
        attrs = {"id": f"{p}m{k}", "penwidth": "1.6"}
        if pane in ("backward", "both"):
            attrs["dir"] = "back"
        dot.edge(tail, head, label=f"×{count}", _attributes=attrs)
    return dot


class _Folding:
    """Which node each node is drawn as (itself, or the box of the outermost folded scope
    it lies in), and which edges are merged: edges between two different drawn nodes
    that share both ends with another edge become one bundle (``m0``, ...); edges
    inside one box are not drawn."""

    def __init__(self, page, folded):
        folded_paths = {page["scopes"][i]["path"]: i for i in folded}
        self.boxes = {}  # scope index -> True for the outermost folded ones
        for path, index in folded_paths.items():
            if not any(path.startswith(other + "/") for other in folded_paths):
                self.boxes[index] = True
        box_of = {page["scopes"][i]["path"]: f"box{i}" for i in self.boxes}
        self.rep = {}
        for n in page["nodes"]:
            parts = n["scope"].split("/") if n["scope"] else []
            paths = ["/".join(parts[:k + 1]) for k in range(len(parts))]
            self.rep[n["id"]] = next((box_of[q] for q in paths if q in box_of), f"n{n['id']}")
        groups = {}
        for n in page["nodes"]:
            for position, src in enumerate(n["inputs"]):
                ends = (self.rep[src], self.rep[n["id"]])
                groups.setdefault(ends, []).append(f"{n['id']}_{position}")
        self.skipped = set()
        self.bundles = []
        for (tail, head), keys in groups.items():
            if tail == head and tail.startswith("box"):
                self.skipped.update(keys)
            elif len(keys) > 1 and (tail.startswith("box") or head.startswith("box")):
                self.skipped.update(keys)
                self.bundles.append((tail, head, len(keys)))

    def merged(self, key) -> bool:
        """The edge is not drawn by itself (inside a box, or in a bundle)."""
        return key in self.skipped


class _State:
    """What a frame shows at step ``reveal`` (everything when reveal is None)."""

    def __init__(self, page, reveal):
        self.reveal = reveal
        self.current = None
        self.current_edges = ()
        self.inputs = set()
        if reveal is not None and 0 < reveal <= len(page["steps"]):
            step = page["steps"][reveal - 1]
            self.current = step["node"]
            self.current_edges = tuple(step.get("edges", ()))
            if step["phase"] == "forward":
                self.inputs = set(next(n["inputs"] for n in page["nodes"] if n["id"] == step["node"]))
        self.edge_step = {}
        for k, step in enumerate(page["steps"], start=1):
            for key in step.get("edges", ()):
                self.edge_step[key] = k

    def value_shown(self, node) -> bool:
        return self.reveal is None or node.get("forward_step", 10 ** 9) <= self.reveal

    def grad_shown(self, node) -> bool:
        return self.reveal is None or node.get("backward_step", 10 ** 9) <= self.reveal

    def edge_shown(self, key) -> bool:
        return self.reveal is None or self.edge_step.get(key, 10 ** 9) <= self.reveal


def _emit_scope(dot, page, nodes, scope, p, pane, state, fold):
    for n in page["nodes"]:
        if n["scope"] == scope:
            _emit_node(dot, n, p, pane, state)
    for s in page["scopes"]:
        parent = s["path"].rsplit("/", 1)[0] if "/" in s["path"] else ""
        if parent != scope:
            continue
        if s["index"] in fold.boxes:
            _emit_box(dot, s, p, state)
            continue
        with dot.subgraph(name=f"cluster_{s['index']}") as sub:
            extra = (f'<BR/><FONT POINT-SIZE="9" COLOR="{MUTED}">{s["parameters"]:,} parameters</FONT>'
                     if s["parameters"] else "")
            sub.attr(label=f"<<B>{html_text(s['short'])}</B>{extra}>", style="rounded,filled",
                     fillcolor=SCOPE_COLOURS[0], color=SCOPE_COLOURS[1], fontsize="11", labeljust="l",
                     id=f"{p}c{s['index']}")
            _emit_scope(sub, page, nodes, s["path"], p, pane, state, fold)


def _emit_box(dot, s, p, state):
    """A folded scope: one box with its name, node and parameter counts."""
    count = len(s["members"])
    facts = f"{count} node{'s' if count != 1 else ''}" + (f" · {s['parameters']:,} parameters" if s["parameters"] else "")
    attrs = {"id": f"{p}box{s['index']}", "fillcolor": "#ede9fe", "color": "#6d28d9", "penwidth": "1.5"}
    if state.current is not None and state.current in s["members"]:
        attrs.update(color=CURRENT_COLOUR, penwidth="3")
    label = (f'<{html_text(s["short"])} (collapsed)<BR/><FONT POINT-SIZE="9" COLOR="{MUTED}">'
             f'{html_text(facts)}<BR/>click to expand</FONT>>')
    dot.node(f"box{s['index']}", label=label, _attributes=attrs)


def _emit_node(dot, n, p, pane, state):
    kind = "output" if n["output"] and n["kind"] == "op" else n["kind"]
    fill, border = KIND_COLOURS[kind]
    attrs = {"id": f"{p}n{n['id']}", "fillcolor": fill, "color": border}
    if n["kind"] == "const":
        attrs["style"] = "rounded,filled,dashed"
    if kind == "output":
        attrs["peripheries"] = "2"
    if state.current == n["id"]:
        attrs.update(color=CURRENT_COLOUR, penwidth="3")
    elif n["id"] in state.inputs:
        attrs.update(color=CURRENT_COLOUR, penwidth="2", style=attrs.get("style", "rounded,filled") + ",dashed")
    if n["weak"]:
        attrs.update(shape="ellipse", style="filled,dashed", margin="0.02,0.01", fontsize="10")
        text = n["value"]["lines"][0] if n["value"] else n["name"]
        dot.node(f"n{n['id']}", label=f"<{html_text(text, brackets=False)}>", _attributes=attrs)
        return
    name = n["short"] if n["scope"] else n["name"]
    what = n["op"] if n["kind"] == "op" else n["kind"]  # attributes are in the panel: boxes stay narrow
    header = f"{what} · {n['shape']}" + (f" {n['dtype']}" if n["dtype"] else "")
    rows = [f'<TR><TD COLSPAN="2"><B>{html_text(name)}</B></TD></TR>',
            f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="9" COLOR="{MUTED}">{html_text(header)}</FONT></TD></TR>']
    if pane in ("forward", "both") and n["value"] is not None:
        colour = VALUE_COLOUR if state.value_shown(n) else fill
        rows.append(_row(_cell(f"{p}n{n['id']}-v", pane), "value", n["value"]["lines"], colour))
    elif pane in ("forward", "both") and n["note"]:
        rows.append(f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="9" COLOR="{MUTED}"><I>{html_text(n["note"][:60])}'
                    "</I></FONT></TD></TR>")
    if pane in ("backward", "both") and n["grad"] is not None:
        colour = GRAD_COLOUR if state.grad_shown(n) else fill
        count = len(n.get("received", ()))
        prefix = f"grad (sum of {count})" if count > 1 else "grad"
        rows.append(_row(_cell(f"{p}n{n['id']}-g", pane), prefix, n["grad"]["lines"], colour))
    label = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"
    dot.node(f"n{n['id']}", label=label, _attributes=attrs)


def _cell(cell_id, pane) -> str:
    """A table cell's id for the page's script. Graphviz writes a cell's ID into the SVG
    only for a cell with a link, so the panes' cells get a dummy one (render_svg unwraps
    it); static frames need neither."""
    return "" if pane == "both" else f' ID="{cell_id}" HREF="#"'


def _row(cell, prefix, lines, colour):
    body = "<BR/>".join(html_text(line, brackets=False) for line in lines)
    return (f'<TR><TD{cell} COLSPAN="2" BALIGN="LEFT"><FONT COLOR="{colour}">'
            f"{html_text(prefix)}  {body}</FONT></TD></TR>")


def auto_rankdir(page) -> str:
    """LR for graphs at most AUTO_LR_MAX_RANKS nodes deep, TB for deeper ones."""
    depth = {}
    for n in page["nodes"]:
        depth[n["id"]] = max((depth.get(i, 0) + 1 for i in n["inputs"]), default=0)
    return "LR" if (max(depth.values(), default=0) + 1) <= AUTO_LR_MAX_RANKS else "TB"


def render_svg(diagram: Diagram, names: dict, scopes=None) -> str:
    """``diagram`` laid out by Graphviz as inline SVG text: the links Graphviz needs to
    carry element ids are unwrapped (``<g id="a_X"><a>…</a></g>`` becomes ``<g id="X">…``),
    tooltips show node names instead of DOT ids, and the XML prologue is dropped. The box
    of a folded scope (``f-box3``) gets the class ``folded-box``, ``data-scope`` (the
    index) and the scope's path (of ``scopes``, the page's list) as its tooltip."""
    svg = diagram.pipe(format="svg").decode("utf-8")
    root = ET.fromstring(svg)
    _unwrap_links(root)
    for g in root.iter(f"{{{SVG_NS}}}g"):
        gid = g.get("id", "")
        title = g.find(f"{{{SVG_NS}}}title")
        if title is None:
            continue
        match = re.fullmatch(r"[fbs]-n(\d+)", gid)
        box = re.fullmatch(r"[fbs]-box(\d+)", gid)
        if match:
            title.text = names.get(int(match.group(1)), title.text)
        elif box:
            g.set("class", "node folded-box")
            g.set("data-scope", box.group(1))
            path = scopes[int(box.group(1))]["path"] if scopes else title.text
            title.text = f"{path} (collapsed): click to expand"
        elif g.get("class") in ("edge", "cluster", "graph"):
            g.remove(title)
    root.set("class", "pane-svg")
    return ET.tostring(root, encoding="unicode")


def _unwrap_links(root):
    for parent in list(root.iter()):
        for k, child in enumerate(list(parent)):
            if child.tag == f"{{{SVG_NS}}}a":
                parent.remove(child)
                for j, grandchild in enumerate(list(child)):
                    parent.insert(k + j, grandchild)
        gid = parent.get("id", "")
        if parent.tag == f"{{{SVG_NS}}}g" and gid.startswith("a_"):
            parent.set("id", gid[2:])
            parent.set("class", "cell")


__all__ = ["PREFIX", "auto_rankdir", "build_dot", "render_svg"]
