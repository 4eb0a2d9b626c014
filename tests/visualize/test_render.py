"""Rendering through the real Graphviz `dot`: files, bytes, Jupyter, escaping of any name,
and the error when `dot` is missing."""

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import graphengine as ge
from graphengine.visualize import Diagram, GraphvizNotFoundError, draw, gallery
from graphengine.visualize.labels import plain_text

MAGIC = {"svg": b"<svg", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def svg_text(svg: bytes) -> str:
    """All text the SVG shows, in document order."""
    root = ET.fromstring(svg)
    return "\n".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_write_renders_real_files(dot_executable, tmp_path, fmt):
    g, run = gallery.theta_loss()
    path = draw(g, run, mode="both").write(tmp_path / f"theta.{fmt}")
    data = path.read_bytes()
    assert path == tmp_path / f"theta.{fmt}"
    assert MAGIC[fmt] in data[:1000] and len(data) > 1000


def test_render_and_pipe_are_the_graphviz_ones(dot_executable, tmp_path):
    g, run = gallery.chain_rule()
    diagram = draw(g, run, mode="both")
    out = diagram.render(tmp_path / "chain", format="svg")
    assert out.endswith("chain.svg")
    svg = diagram.pipe(format="svg")
    text = svg_text(svg)
    for expected in ("w1", "value", "grad", "3.297", "1.649", "values and gradients of y"):
        assert expected in text
    assert (tmp_path / "chain").read_text(encoding="utf-8") == diagram.source
    png = diagram.pipe(format="png")
    assert png.startswith(MAGIC["png"])


def test_write_dot_text_and_unknown_format(tmp_path):
    g, _ = gallery.chain_rule()
    diagram = draw(g)
    assert diagram.write(tmp_path / "g.dot").read_text(encoding="utf-8") == diagram.source
    with pytest.raises(ValueError, match="unknown format 'jpeg'"):
        diagram.write(tmp_path / "g.jpeg")


def test_jupyter_display_of_graphs_and_runs(dot_executable):
    g, run = gallery.perceptron()
    bundle = g._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg", "<!--"))
    run_bundle = run._repr_mimebundle_()
    assert "ŷ" in svg_text(run_bundle["image/svg+xml"].encode("utf-8"))
    assert "values and gradients" in svg_text(run_bundle["image/svg+xml"].encode("utf-8"))
    assert isinstance(draw(g), Diagram)


def test_missing_dot_is_a_clear_error_and_the_dot_text_stays(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` anywhere
    g, run = gallery.chain_rule()
    diagram = draw(g, run)
    assert diagram.source.startswith("digraph")  # needs no executable
    for attempt in (lambda: diagram.pipe(format="svg"), lambda: diagram.write(tmp_path / "x.png"),
                    lambda: diagram.render(tmp_path / "x", format="pdf")):
        with pytest.raises(GraphvizNotFoundError) as info:
            attempt()
        message = str(info.value)
        assert "Graphviz `dot` executable was not found" in message
        assert "apt-get install graphviz" in message and "brew install graphviz" in message
        assert "diagram.source" in message
    assert isinstance(info.value, ge.GraphEngineError) and isinstance(info.value, RuntimeError)
    import graphviz

    assert isinstance(info.value, graphviz.ExecutableNotFound)
    bundle = g._repr_mimebundle_()  # Jupyter: the message and the DOT text, no traceback
    assert set(bundle) == {"text/plain"}
    assert "apt-get install graphviz" in bundle["text/plain"] and "digraph" in bundle["text/plain"]
    assert ge.visualize.DotNotFoundError is GraphvizNotFoundError


# ------------------------------------------------------------------------ any name renders

SPECIAL = ['"', "<", ">", "{", "}", "|", "\\", "\n", ":", "&", "'", "[", "]", ";", "=", "#", "%", "\t", "\r",
           "\\N", "\\G", "\\L", "\\n", "&amp;", "<BR/>", "]]>", "\x00", "\x1b", "\ud800", "\ufffe", "θ", "∂",
           "中", "😀", "\u202e", " "]
names = st.lists(st.sampled_from(SPECIAL) | st.text(min_size=1, max_size=3), min_size=1, max_size=6).map("".join)


def _valid_node_name(text: str) -> str:
    text = text.replace("/", "|")
    return "n" + text  # names must not start with whitespace


def _expected_fragments(text: str) -> list:
    """Pieces of ``text`` that must appear in the rendered SVG (whitespace-insensitive)."""
    shown = plain_text(text).replace("\t", "    ")
    return [re.sub(r"\s+", "", line) for line in shown.split("\n") if line.strip()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(node_name=names, scope_name=names, graph_name=names)
@example(node_name="]", scope_name="]]", graph_name="]")  # Graphviz refuses a text run of only "]"
@example(node_name="\\N\\G", scope_name="\\L", graph_name="end\\")  # escString sequences
@example(node_name='a"b<c>{d|e}:f', scope_name="\n", graph_name="\x00\ud800\t")
def test_any_name_renders_through_dot(dot_executable, node_name, scope_name, graph_name):
    g = ge.Graph(graph_name)
    x = g.input(_valid_node_name(node_name), shape=(1,))
    with g.scope(scope_name.replace("/", "|")):
        y = ge.ops.tanh(x, name=_valid_node_name(node_name + "2"))
    run = g.forward({x.name: np.array([0.5])}).backward(y, grad=np.ones(1))
    source = draw(g, run, mode="both").source
    result = subprocess.run([dot_executable, "-Tsvg"], input=source.encode("utf-8"), capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert b"rror" not in result.stderr and b"syntax" not in result.stderr, result.stderr
    shown = re.sub(r"\s+", "", svg_text(result.stdout))
    for text in (x.name, y.name.rsplit("/", 1)[-1], scope_name.replace("/", "|"), graph_name):
        for fragment in _expected_fragments(text):
            assert fragment in shown, (text, fragment)


# ------------------------------------------------------------------------ titles are not crossed

def _bezier_points(pos: str) -> list:
    """Points along an edge as Graphviz laid it out (its ``pos``: cubic Bézier control
    points, then the arrowheads' ends), 20 per curve and 10 per arrowhead."""
    tokens = pos.split()
    ends = [t for t in tokens if t[:2] in ("e,", "s,")]
    controls = [tuple(map(float, t.split(","))) for t in tokens if t[:2] not in ("e,", "s,")]
    points = []
    for i in range(0, len(controls) - 3, 3):
        p0, p1, p2, p3 = controls[i:i + 4]
        for k in range(21):
            t = k / 20
            points.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t * t * c + t ** 3 * d
                                for a, b, c, d in zip(p0, p1, p2, p3)))
    for end in ends:
        tip = tuple(map(float, end[2:].split(",")))
        base = controls[-1] if end.startswith("e,") else controls[0]
        points += [tuple(base[j] + (tip[j] - base[j]) * k / 10 for j in range(2)) for k in range(11)]
    return points


def crossed_titles(diagram) -> list:
    """(edge tail, edge head, cluster label or title node) for every drawn edge that passes
    through a cluster's label or a title node, from the layout Graphviz computes."""
    layout = json.loads(diagram.pipe(format="json"))
    objects = layout.get("objects", [])
    boxes = []
    for obj in objects:
        name = obj.get("name", "")
        if name.startswith("cluster") and obj.get("lp"):
            x, y = map(float, obj["lp"].split(","))
            width, height = float(obj["lwidth"]) * 72, float(obj["lheight"]) * 72
        elif name.startswith("title"):
            x, y = map(float, obj["pos"].split(","))
            width, height = float(obj["width"]) * 72, float(obj["height"]) * 72
        else:
            continue
        boxes.append((name, x - width / 2 + 2, y - height / 2 + 2, x + width / 2 - 2, y + height / 2 - 2))
    assert boxes, "no cluster labels or titles in this diagram"
    names = {obj["_gvid"]: obj["name"] for obj in objects}
    crossed = []
    for edge in layout.get("edges", []):
        if edge.get("style") == "invis":
            continue
        points = _bezier_points(edge["pos"])
        for name, x0, y0, x1, y1 in boxes:
            if any(x0 < px < x1 and y0 < py < y1 for px, py in points):
                crossed.append((names[edge["tail"]], names[edge["head"]], name))
    return crossed


def _fitted_graph(*layers):
    model = ge.nn.Sequential(*layers, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 4)).astype("float32"), rng.integers(0, 3, 8)
    ge.training.fit(model, X, y, epochs=1, progress=False)
    g = model.graph
    (loss,) = [n for n in g.nodes() if n.name.startswith("loss/")]
    return g, g.forward({"x": X[:2], "y": y[:2]}).backward(loss)


def test_no_edge_crosses_a_cluster_title(dot_executable):
    """The graph fit builds for a model with dropout or batch norm: the input x feeds the
    training path and the evaluation path (scope eval), whose labels it crossed (11 crossings
    in the dropout MLP's diagram) when they were cluster labels. Also a residual model."""
    dropout, run = _fitted_graph(ge.nn.Dense(4, 6), "relu", ge.nn.Dropout(0.3), ge.nn.Dense(6, 3))
    batch_norm, _ = _fitted_graph(ge.nn.Dense(4, 6), ge.nn.BatchNorm(6), "relu", ge.nn.Dense(6, 3))
    residual = ge.nn.Sequential(ge.nn.Dense(4, 6), "sigmoid", ge.nn.Residual(ge.nn.Dense(6, 6), "sigmoid"),
                                ge.nn.Residual(ge.nn.Dense(6, 6), "sigmoid"), ge.nn.Dense(6, 3), seed=0)
    for label, diagram in [("dropout MLP", draw(dropout)), ("dropout MLP, run", draw(dropout, run)),
                           ("dropout MLP, collapse=1", draw(dropout, collapse=1)),
                           ("batch norm", draw(batch_norm)), ("residual", draw(residual, input_shape=(4,)))]:
        assert crossed_titles(diagram) == [], label


def overlapped_boxes(diagram) -> list:
    """(edge tail, edge head, box, text) for every line of an edge label that Graphviz drew
    over a box (titles aside), from the layout's text drawing operations."""
    layout = json.loads(diagram.pipe(format="json"))
    objects = layout.get("objects", [])
    boxes = []
    for obj in objects:
        if "pos" in obj and "width" in obj and not obj["name"].startswith("title"):
            x, y = map(float, obj["pos"].split(","))
            width, height = float(obj["width"]) * 72, float(obj["height"]) * 72
            boxes.append((obj["name"], x - width / 2, y - height / 2, x + width / 2, y + height / 2))
    names = {obj["_gvid"]: obj["name"] for obj in objects}
    overlapped = []
    for edge in layout.get("edges", []):
        size = 9.0
        for op in edge.get("_ldraw_", []):
            if op["op"] == "F":
                size = op["size"]
            if op["op"] != "T":
                continue
            (x, y), width = op["pt"], op["width"]
            left = {"l": x, "r": x - width}.get(op["align"], x - width / 2)
            text = (left + 1, y + 1, left + width - 1, y + 0.7 * size - 1)  # baseline to cap height
            for name, x0, y0, x1, y1 in boxes:
                if text[0] < x1 and x0 < text[2] and text[1] < y1 and y0 < text[3]:
                    overlapped.append((names[edge["tail"]], names[edge["head"]], name, op["text"]))
    return overlapped


def test_gradients_on_edges_beside_a_title_row_fit_between_their_boxes(dot_executable):
    """A param beside its op in a titled cluster: Graphviz does not make room for the label
    of the edge between them by itself (the title's edges stop it), a minlen does."""
    g, run = gallery.xor_network()
    diagram = draw(g, run, mode="both", edge_labels="all", rankdir="TB")
    assert "title0" in diagram.source and re.search(r"\tn2 -> n4 \[.*minlen=\d", diagram.source)
    assert overlapped_boxes(diagram) == []
