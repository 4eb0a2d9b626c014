"""draw(): what each mode shows, collapse, fetch greying, heat map, node styles, goldens.

These read the DOT text only (no Graphviz needed); rendering is in test_render.py.
"""

import re
import sys
import warnings

import networkx as nx
import numpy as np
import pytest

import graphengine as ge
from graphengine.visualize import DrawError, LogScale, NodeStyle, draw, gallery, magnitude
from graphengine.visualize.heatmap import text_colour


def node_line(source: str, node) -> str:
    """The DOT statement of ``node`` (by its stable id)."""
    match = re.search(rf"^\t+n{node.id} \[.*$", source, flags=re.M)
    assert match, f"node n{node.id} ({node.name}) not in the DOT text"
    return match.group(0)


def edge_lines(source: str, src, dst) -> list:
    return re.findall(rf"^\tn{src.id} -> n{dst.id}\b.*$", source, flags=re.M)


def attribute(line: str, name: str):
    match = re.search(rf'\b{name}="?([^" \]]+)"?', line)
    return match.group(1) if match else None


# ------------------------------------------------------------------------ golden files

@pytest.mark.parametrize("mode", ["structure", "forward", "backward", "both"])
def test_chain_rule_golden(golden, mode):
    g, run = gallery.chain_rule()
    golden(f"chain_rule_{mode}", draw(g, run if mode != "structure" else None, mode=mode).source)


@pytest.mark.parametrize("name", ["theta_loss", "logistic_regression", "perceptron", "xor_network"])
def test_worked_examples_golden(golden, name):
    g, run = gallery.WORKED_EXAMPLES[name]()
    golden(f"{name}_both", draw(g, run, mode="both").source)


def test_collapsed_network_golden(golden):
    g, run = gallery.network_6_4_3_1()
    golden("network_6_4_3_1_collapsed", draw(g, mode="structure", collapse=True).source)


def test_fetched_run_golden(golden):
    g, _ = gallery.xor_network()
    run = g.forward({"x": gallery.XOR_X}, fetch=[g.node("hidden/h")])
    golden("xor_network_fetch_hidden", draw(g, run).source)


def test_same_construction_gives_the_same_dot_text():
    sources = set()
    for _ in range(2):
        g, run = gallery.xor_network()
        sources.add(draw(g, run, mode="both").source)
        sources.add(draw(g, run, mode="both").source)
    assert len(sources) == 1
    assert re.search(r"0x[0-9a-f]{6,}", sources.pop()) is None  # no id()-based names


# ------------------------------------------------------------------------ structure

def test_structure_shows_kind_op_name_shape_dtype_and_param_counts():
    g, _ = gallery.xor_network()
    source = draw(g).source
    W = g.node("hidden/W")
    line = node_line(source, W)
    assert "<B>W</B>" in line  # short name inside its scope's cluster
    assert "param · (2, 2) float64 · 4 elements" in line
    xW = g.node("hidden/xW")
    assert "matmul(x, W) · (None, 2) float64" in node_line(source, xW)
    loss = g.node("loss")
    assert "binary_cross_entropy(p, y) reduction=&#39;mean&#39;" in node_line(source, loss)
    assert "value" not in node_line(source, xW)
    # kinds are told apart: each has its own fill; outputs get a double border
    fills = {n.kind: attribute(node_line(source, n), "fillcolor") for n in (g.node("x"), W, xW)}
    assert len(set(fills.values())) == 3
    assert attribute(node_line(source, loss), "peripheries") == "2"
    assert "legend" not in source.split("digraph")[0]
    for text in ("input: fed at run time", "param: trainable array", "op: computed from its inputs",
                 "output: nothing consumes it"):
        assert text in source
    assert "9 parameters" in source


def test_scopes_become_clusters_with_their_parameter_counts():
    g, _ = gallery.xor_network()
    source = draw(g).source
    assert source.count("subgraph cluster_") == 2
    assert re.search(r"label=<<B>hidden</B>.*6 parameters", source)
    assert re.search(r"label=<<B>output</B>.*3 parameters", source)


def test_weak_constants_are_small_and_show_their_value():
    g = ge.Graph("c")
    x = g.input("x", shape=(2,))
    y = x * 2.5
    source = draw(g).source
    const = y.inputs[1]
    line = node_line(source, const)
    assert "label=<2.5>" in line and "shape=ellipse" in line
    assert "mul · (2,)" in node_line(source, y)


def test_array_consts_show_their_value_in_structure_mode():
    g = ge.Graph("c")
    x = g.input("x", shape=(2,))
    k = g.const(np.array([1.0, 2.0]), name="k")
    x + k
    assert "[1, 2]" in node_line(draw(g).source, k)


# ------------------------------------------------------------------------ forward/backward

def test_forward_shows_values_exactly():
    g, run = gallery.chain_rule()
    source = draw(g, run, mode="forward").source
    assert "value</FONT></TD><TD ALIGN=\"LEFT\" BALIGN=\"LEFT\"><FONT COLOR=\"#1d4ed8\">3.297" in \
        node_line(source, g.node("y"))
    assert "grad" not in node_line(source, g.node("y"))
    edges = re.findall(r"^\t\S+ -> .*$", source, flags=re.M)
    assert edges and not any("label=" in e for e in edges)  # no gradient labels on edges


def test_backward_labels_every_edge_with_its_chain_rule_contribution():
    g, run = gallery.chain_rule()  # y = w2·v, v = e^u, u = w1·x at x = 1, w1 = 0.5, w2 = 2
    source = draw(g, run, mode="backward", edge_labels="all").source
    w1, w2, x, u, v, y = (g.node(n) for n in ("w1", "w2", "x", "u", "v", "y"))
    e = np.exp(0.5)
    expected = {(w2, y): e, (v, y): 2.0, (u, v): 2 * e, (w1, u): 2 * e * 1.0, (x, u): 2 * e * 0.5}
    for (src, dst), value in expected.items():
        (line,) = edge_lines(source, src, dst)
        assert f">{ge.visualize.format_number(value)}</FONT>" in line, line
        assert "dir=back" in line
    assert "grad</FONT></TD><TD ALIGN=\"LEFT\" BALIGN=\"LEFT\"><FONT COLOR=\"#b91c1c\">3.297" in \
        node_line(source, w1)
    assert "value" not in node_line(source, w1)


def test_fan_out_shows_contributions_on_edges_and_their_sum_on_the_node():
    g = ge.Graph("fan out")
    x = g.input("x", shape=())
    w = g.param("w", np.array(2.0))
    y = x * w
    z = y * x  # x is used twice
    run = g.forward({"x": np.array(3.0)}).backward(z)
    source = draw(g, run, mode="backward").source
    assert "grad (sum of 2)" in node_line(source, x)
    assert ">12</FONT>" in node_line(source, x)  # dz/dx = 2·w·x = 12
    labels = sorted(re.search(r">([-0-9.e]+)</FONT>", line).group(1)
                    for dst in (y, z) for line in edge_lines(source, x, dst))
    assert labels == ["6", "6"]  # y·... : w·x = 6 through z, x·w = 6 through y
    assert "(sum of" not in node_line(source, w)


def test_same_input_twice_draws_two_labelled_edges():
    g = ge.Graph("square")
    x = g.input("x", shape=())
    y = x * x
    run = g.forward({"x": np.array(3.0)}).backward(y)
    lines = edge_lines(draw(g, run, mode="backward").source, x, y)
    assert len(lines) == 2 and all(">3</FONT>" in line for line in lines)


def test_both_puts_the_value_above_the_gradient():
    g, run = gallery.theta_loss()  # L = 4, dL/dθ1 = 6, dL/dθ2 = 24 at θ = (2, 0.5), x = 3, y = 1
    source = draw(g, run, mode="both").source
    line = node_line(source, g.node("θ2"))
    assert line.index(">0.5<") < line.index("<HR/>") < line.index(">24<")
    assert ">6<" in node_line(source, g.node("θ1"))
    assert ">4<" in node_line(source, g.node("L"))
    assert "values and gradients of L" in source


def test_nodes_the_target_does_not_depend_on_say_so():
    g = ge.Graph("two heads")
    x = g.input("x", shape=())
    a = ge.ops.exp(x, name="a")
    b = ge.ops.neg(x, name="b")
    run = g.forward({"x": np.array(0.0)}).backward(a)
    source = draw(g, run, mode="both").source
    assert "target does not depend on it" in node_line(source, b)
    assert not edge_lines(source, x, b)[0].count("label=")


def test_large_tensors_are_summarized_in_nodes_and_on_edges():
    g, run = gallery.deep_mlp("relu", depth=2, width=8)
    source = draw(g, run, mode="both", edge_labels="all").source
    W = g.node("layer1/W")
    assert "mean " in node_line(source, W) and " std " in node_line(source, W)
    hW = g.node("layer1/hW")
    assert any("mean " in line for line in edge_lines(source, W, hW))


def test_nan_and_inf_are_flagged_in_red():
    g = ge.Graph("nan")
    x = g.input("x", shape=(3,))
    y = ge.ops.log(x, name="log x")
    total = ge.ops.sum(y, name="total")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = g.forward({"x": np.array([1.0, -1.0, 0.0])}).backward(total)
    source = draw(g, run).source
    line = node_line(source, y)
    assert "1 NaN, 1 -Inf" in line and 'color="#dc2626"' in line
    assert "holds NaN or Inf" in source
    assert 'color="#dc2626"' in node_line(source, x)  # its gradient 1/x has an Inf
    assert 'color="#dc2626"' not in node_line(source, total).split("peripheries")[0] or "1 NaN" in \
        node_line(source, total)


def test_precision_and_max_elements_options():
    g, run = gallery.chain_rule()
    assert "3.29744254" in draw(g, run, precision=9).source
    g, run = gallery.xor_network()
    assert "[[0, 0]," in node_line(draw(g, run, mode="forward").source, g.node("x"))
    assert "mean 0.5" in node_line(draw(g, run, mode="forward", max_elements=4).source, g.node("x"))


# ------------------------------------------------------------------------ fetch greying

def test_a_fetched_run_greys_out_what_it_did_not_execute():
    g, _ = gallery.xor_network()
    h = g.node("hidden/h")
    run = g.forward({"x": gallery.XOR_X}, fetch=[h])
    source = draw(g, run).source
    for name in ("output/W", "output/hW", "output/p", "loss", "y"):
        line = node_line(source, g.node(name))
        assert "not executed" in line and 'fillcolor="#f3f4f6"' in line, name
    assert "not executed" not in node_line(source, h)
    assert "value freed" in node_line(source, g.node("hidden/s"))  # ran, but a fetched run freed it
    assert "ran 6 of 13 nodes" in source and "not executed by this run" in source
    (edge,) = edge_lines(source, h, g.node("output/hW"))
    assert "dashed" in edge


def test_fetched_run_after_backward_shows_kept_gradients_only():
    g, _ = gallery.xor_network()
    loss = g.node("loss")
    run = g.forward({"x": gallery.XOR_X, "y": gallery.XOR_Y}, fetch=[loss]).backward(loss)
    source = draw(g, run).source
    assert "grad" in node_line(source, g.node("hidden/W"))  # params keep their gradients
    assert "gradient not kept" in node_line(source, g.node("hidden/s"))


# ------------------------------------------------------------------------ collapse

def test_collapse_all_folds_scopes_and_the_label_gives_the_total():
    g, _ = gallery.network_6_4_3_1()
    assert g.parameter_count() == 47
    source = draw(g, collapse=True).source
    assert "47 parameters" in source
    boxes = re.findall(r"^\t+scope\d+ \[.*$", source, flags=re.M)
    assert len(boxes) == 3 and "subgraph cluster" not in source
    counts = [re.search(r"(\d+) parameters", b).group(1) for b in boxes]
    assert counts == ["28", "15", "4"]
    assert re.search(r"^\tn0 -> scope\d+", source, flags=re.M)  # x feeds the first box
    assert draw(g, collapse="all").source == source


def test_collapse_by_name_and_by_depth():
    g, _ = gallery.network_6_4_3_1()
    source = draw(g, collapse=["layer2"]).source
    assert len(re.findall(r"^\t+scope\d+ \[", source, flags=re.M)) == 1
    assert source.count("subgraph cluster_") == 2
    assert draw(g, collapse="layer2").source == source
    nested = ge.Graph("nested")
    x = nested.input("x", shape=(2,))
    with nested.scope("block"):
        with nested.scope("inner"):
            w = nested.param("w", np.ones(2))
            y = x * w
        z = y + 1.0
    depth1 = draw(nested, collapse=1).source
    assert "subgraph cluster_0" in depth1 and re.search(r"<B>inner</B>.*collapsed scope", depth1)
    assert "2 parameters" in depth1
    depth0 = draw(nested, collapse=0).source
    assert "subgraph cluster" not in depth0 and "<B>block</B>" in depth0
    assert node_line(draw(nested).source, z)


def test_collapse_of_an_unknown_scope_names_the_known_ones():
    g, _ = gallery.network_6_4_3_1()
    with pytest.raises(DrawError, match=r"no scope of that name.*'layer1'.*Did you mean 'layer2'"):
        draw(g, collapse=["layer 2"])
    with pytest.raises(DrawError, match="depth must be 0 or more"):
        draw(g, collapse=-1)


def test_large_graph_collapses_to_a_few_boxes():
    g = ge.Graph("big")
    h = g.input("x", shape=(None, 4))
    for block in range(100):
        with g.scope(f"block{block}"):
            for step in range(25):
                h = ge.ops.tanh(h, name=f"t{step}")
    assert len(g) > 2500
    source = draw(g, collapse=True).source
    assert len(re.findall(r"^\t+scope\d+ \[", source, flags=re.M)) == 100
    assert source.count("\n") < 400


# ------------------------------------------------------------------------ heat map

def _param_magnitudes(g, run):
    return [magnitude(run.grad(g.node(f"layer{i}/W"))) for i in range(1, 9)]


def test_deep_sigmoid_gradients_vanish_and_relu_or_residual_ones_do_not():
    g, run = gallery.deep_mlp("sigmoid")
    sigmoid = _param_magnitudes(g, run)
    assert sigmoid[0] < sigmoid[-1] * 1e-2  # over two orders of magnitude down to the first layer
    assert sigmoid[0] < min(sigmoid[4:])  # the first layer learns slowest
    for activation, residual in (("relu", False), ("sigmoid", True)):
        g2, run2 = gallery.deep_mlp(activation, residual=residual)
        other = _param_magnitudes(g2, run2)
        assert other[0] > other[-1] * 0.1, (activation, residual, other)


def test_heatmap_colours_follow_gradient_magnitude():
    g, run = gallery.deep_mlp("sigmoid")
    source = draw(g, run, mode="backward", heatmap=True).source
    scale = LogScale.fit([magnitude(grad) for grad in run.grads().values()])
    first, last = g.node("layer1/W"), g.node("layer8/W")
    fill_first = attribute(node_line(source, first), "fillcolor")
    fill_last = attribute(node_line(source, last), "fillcolor")
    assert fill_first == scale.colour(magnitude(run.grad(first)))
    assert scale.position(magnitude(run.grad(first))) < 0.25 < 0.5 < scale.position(magnitude(run.grad(last)))
    assert fill_first != fill_last
    # text stays readable on the fill
    assert attribute(node_line(source, first), "fontcolor") == text_colour(fill_first)
    assert "mean |gradient| (log scale)" in source and "1e-" in source
    # edges carry their contribution's colour
    (edge,) = edge_lines(source, first, g.node("layer1/hW"))
    assert attribute(edge, "color").startswith("#")


def test_heatmap_range_fixes_the_scale():
    g, run = gallery.deep_mlp("relu", depth=2)
    source = draw(g, run, mode="backward", heatmap=True, heatmap_range=(1e-9, 10)).source
    assert "1e-9" in source and "10</FONT>" in source
    with pytest.raises(ValueError, match="heatmap_range"):
        draw(g, run, mode="backward", heatmap=True, heatmap_range=(1, 0.1))


def test_log_scale():
    scale = LogScale.fit([3e-7, 0.02, 0.0, float("nan")])
    assert (scale.low, scale.high) == (-7, -1)
    assert scale.position(1e-7) == 0.0 and scale.position(0.1) == 1.0 and scale.position(0.0) is None
    assert scale.position(1e-4) == pytest.approx(0.5)
    assert LogScale.fit([]).high > LogScale.fit([]).low


def test_heatmap_needs_gradients():
    g, run = gallery.chain_rule()
    with pytest.raises(DrawError, match="heatmap=True"):
        draw(g, run, mode="forward", heatmap=True)


# ------------------------------------------------------------------------ errors

def test_mode_errors_say_how_to_fix():
    g, run = gallery.chain_rule()
    with pytest.raises(DrawError, match=r"Did you mean 'backward'"):
        draw(g, run, mode="backwards")
    with pytest.raises(DrawError, match=r"pass run=g.forward\(feeds\)"):
        draw(g, mode="forward")
    fresh = g.forward({"x": np.array(1.0)})
    with pytest.raises(DrawError, match=r"call run.backward\(loss\) first"):
        draw(g, fresh, mode="both")
    other, other_run = gallery.perceptron()
    with pytest.raises(DrawError, match=r"the run belongs to graph 'perceptron', not to 'chain rule"):
        draw(g, other_run)
    twin, twin_run = gallery.chain_rule()  # another graph of the same name
    with pytest.raises(DrawError, match="another graph that is also named 'chain rule") as info:
        draw(g, twin_run)
    assert "not to" not in str(info.value)
    with pytest.raises(DrawError, match="precision"):
        draw(g, run, precision=0)
    with pytest.raises(DrawError, match="rankdir"):
        draw(g, run, rankdir="sideways")


def test_default_modes_and_drawing_a_run_directly():
    g, run = gallery.chain_rule()
    assert "values and gradients of y" in draw(run).source
    assert "forward values" in draw(g, g.forward({"x": np.array(1.0)})).source
    assert "value" not in node_line(draw(g).source, g.node("y"))


def test_rank_direction_is_left_to_right_for_shallow_and_top_down_for_deep_graphs():
    g, run = gallery.chain_rule()
    assert "rankdir=LR" in draw(g).source
    g, run = gallery.deep_mlp("relu", depth=4)
    assert "rankdir=TB" in draw(g).source
    assert "rankdir=LR" in draw(g, rankdir="LR").source


# ------------------------------------------------------------------------ node styles

class LossStyle(NodeStyle):
    name = "loss_style"

    def style(self, node):
        if node.op == "square":
            return {"color": "#e11d48", "penwidth": 3}
        return None


class BrokenStyle(NodeStyle):
    name = "broken_style"

    def style(self, node):
        raise RuntimeError("boom")


class LabelStyle(NodeStyle):
    name = "label_style"

    def style(self, node):
        return {"label": "hijacked", "fontcolor": "#123456"}


class StylePlugin:
    @ge.hookimpl
    def register_node_styles(self, register):
        register(LossStyle())


def test_registered_node_styles_are_applied():
    manager = ge.PluginManager(entry_points=False)
    info = manager.add_plugin(StylePlugin(), name="style_plugin")
    assert info.status == "ok" and manager.node_styles["loss_style"]
    g = ge.Graph("styled", plugins=manager)
    x = g.input("x", shape=())
    loss = ge.ops.square(x - 1.0, name="loss")
    source = draw(g).source
    line = node_line(source, loss)
    assert 'color="#e11d48"' in line and "penwidth=3" in line
    assert 'color="#e11d48"' not in node_line(source, x)
    assert 'color="#e11d48"' not in draw(g, styles=[]).source


def test_a_broken_style_is_reported_and_skipped():
    g, _ = gallery.theta_loss()
    with pytest.warns(ge.PluginWarning, match="node style 'broken_style' raised RuntimeError: boom"):
        source = draw(g, styles=[BrokenStyle(), LossStyle()]).source
    assert 'color="#e11d48"' in node_line(source, g.node("L"))
    with pytest.warns(ge.PluginWarning, match="'label' is set by graphengine"):
        source = draw(g, styles=[LabelStyle()]).source
    assert "hijacked" not in source and "fontcolor=\"#123456\"" in source
    with pytest.raises(DrawError, match="NodeStyle"):
        draw(g, styles=[object()])


# ------------------------------------------------------------------------ backends

def _small_net(backend):
    g = ge.Graph("backend net", backend=backend)
    x = g.input("x", shape=(None, 2))
    with g.scope("layer"):
        W = g.param("W", np.array([[0.5, -1.0], [2.0, 0.25]]))
        h = ge.ops.relu(ge.ops.matmul(x, W, name="xW"), name="h")
    loss = ge.ops.sum(h * h, name="loss")
    run = g.forward({"x": g.xp.asarray(np.array([[1.0, 2.0], [3.0, -1.0]]))}).backward(loss)
    return g, run


def test_draws_runs_of_every_backend_alike(backend):
    """Arrays on the GPU (cupy) are copied to the host for display only; the text is the
    same as for numpy."""
    g, run = _small_net(backend)
    reference, reference_run = _small_net("numpy")
    for options in (dict(mode="both"), dict(mode="backward", heatmap=True), dict(mode="both", collapse=True)):
        assert draw(g, run, **options).source == draw(reference, reference_run, **options).source


def scoped_chain(blocks, per_block):
    g = ge.Graph("long")
    h = g.input("x", shape=(1,))
    for b in range(blocks):
        with g.scope(f"block{b}"):
            for _ in range(per_block):
                h = ge.ops.tanh(h)
    return g


def test_drawing_a_huge_graph_uncollapsed_warns_and_suggests_collapse(monkeypatch):
    draw_module = sys.modules["graphengine.visualize.draw"]

    assert draw_module.LARGE_DRAWING_BOXES == 10_000  # the threshold the issue measured (dot: minutes)
    monkeypatch.setattr(draw_module, "LARGE_DRAWING_BOXES", 20)  # a small graph stands in for 10^4 nodes
    g = scoped_chain(blocks=3, per_block=10)  # 31 nodes
    with pytest.warns(draw_module.LargeGraphWarning,
                      match=r"graph 'long' has 31 boxes \(31 nodes\).*many minutes.*collapse=True.*3 layers") as seen:
        draw(g)
    assert seen[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(g, collapse=True)  # 4 boxes: no warning
        draw(scoped_chain(blocks=2, per_block=9))  # 19 boxes, at the threshold or under it: no warning


def test_a_huge_model_warns_with_the_number_of_its_layers(monkeypatch):
    draw_module = sys.modules["graphengine.visualize.draw"]

    monkeypatch.setattr(draw_module, "LARGE_DRAWING_BOXES", 20)
    model = ge.nn.Sequential(*[ge.nn.Dense(4, 4) for _ in range(6)], seed=0)  # 25 nodes in one scope
    g = ge.Graph("deep")
    model(g.input("x", shape=(None, 4)))
    with pytest.warns(draw_module.LargeGraphWarning, match=r"fold each of its 6 layers"):
        draw(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(g, collapse=True)  # 7 boxes


def test_a_huge_graph_without_scopes_warns_that_collapse_has_nothing_to_fold(monkeypatch):
    draw_module = sys.modules["graphengine.visualize.draw"]

    monkeypatch.setattr(draw_module, "LARGE_DRAWING_BOXES", 20)
    g = ge.Graph("flat")
    h = g.input("x", shape=(1,))
    for _ in range(25):
        h = ge.ops.tanh(h)
    with pytest.warns(draw_module.LargeGraphWarning, match=r"no name scopes that collapse= could fold"):
        draw(g, collapse=True)


# ------------------------------------------------------------------------ op attributes, long headers

def test_op_boxes_show_the_attributes_that_differ_from_the_ops_defaults():
    g = ge.Graph("pool")
    x = g.input("x", shape=(1, 1, 8, 8))
    pool = ge.ops.max_pool2d(x, kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False)
    line = node_line(draw(g).source, pool)
    assert "max_pool2d kernel_size=2" in line and "ceil_mode" not in line and "dilation" not in line
    every = node_line(draw(g, show_attrs="all").source, pool)
    assert "kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False" in every
    assert "kernel_size" not in node_line(draw(g, show_attrs=False).source, pool)
    for bad in ("some", 1, None):
        with pytest.raises(DrawError, match="show_attrs must be True"):
            draw(g, show_attrs=bad)


def test_a_long_header_is_split_into_what_the_op_is_and_its_shape():
    g = ge.Graph("wide")
    x = g.input("x", shape=(None, 16, 28, 28))
    pool = ge.ops.max_pool2d(x, kernel_size=2)
    short = ge.ops.relu(g.input("h", shape=(2, 3)))
    source = draw(g).source
    assert "max_pool2d kernel_size=2<BR/>(None, 16, 14, 14)" in node_line(source, pool)
    assert "relu · (2, 3)</FONT>" in node_line(source, short)


def test_the_target_of_a_loss_sits_beside_its_loss_in_a_top_down_diagram():
    g, run = gallery.xor_network()
    y = g.node("y")
    (loss,) = [n for n in g.nodes() if n.op == "binary_cross_entropy"]
    source = draw(g, run, rankdir="TB").source
    assert re.search(rf"\{{\s*rank=same\s*n{y.id}\s*n{loss.id}\s*\}}", source)
    assert not re.search(rf"rank=same\s*n{y.id}\b", draw(g, run, rankdir="LR").source)


# ------------------------------------------------------------------------ cluster titles

def dot_structure(source: str):
    """(edges as (tail, head, attributes), {cluster name: ids of the nodes declared in it
    or in a cluster inside it}, the edges as a networkx graph) of DOT text as draw() writes it."""
    edges = [(a, b, attrs or "") for a, b, attrs in
             re.findall(r"^\t+(\w+) -> (\w+)(?: \[(.*)\])?$", source, flags=re.M)]
    clusters: dict = {}
    stack: list = []
    for line in source.splitlines()[1:]:
        text = line.strip()
        if text.endswith("{"):
            match = re.match(r"subgraph (cluster_\d+)", text)
            stack.append(match.group(1) if match else None)
            clusters.setdefault(stack[-1], set())
        elif text == "}":
            if stack:
                stack.pop()
        else:
            match = re.match(r"^(\w+) \[", text)
            if match and " -> " not in text:
                for cluster in stack:
                    if cluster is not None:
                        clusters[cluster].add(match.group(1))
    clusters.pop(None, None)
    graph = nx.DiGraph((a, b) for a, b, _ in edges)
    return edges, clusters, graph


def assert_titles_head_their_clusters(source: str) -> dict:
    """Each cluster of a top-down diagram has no label of its own but a title node that
    the edges rank above every other node of the cluster; the DOT graph stays acyclic.
    Returns {cluster name: title node}."""
    edges, clusters, graph = dot_structure(source)
    assert clusters and nx.is_directed_acyclic_graph(graph)
    titles = {}
    for cluster, declared in clusters.items():
        statement = re.search(rf"subgraph {cluster} {{\n\t+(.*)\n", source).group(1)
        assert "label=" not in statement, f"{cluster} has a label of its own: {statement}"
        (title,) = [d for d in declared if d == "title" + cluster.split("_")[1]]
        assert re.search(rf"^\t+{title} \[label=<<B>.*shape=plain", source, flags=re.M)
        below = nx.descendants(graph, title)
        assert declared - {title} <= below, f"{cluster}: {sorted(declared - {title} - below)} not below {title}"
        titles[cluster] = title
    assert all("style=invis" in attrs for a, b, attrs in edges if a.startswith("title") or b.startswith("title"))
    return titles


def test_top_down_clusters_are_titled_by_a_node_above_their_nodes():
    """Graphviz draws edges straight through cluster labels; a title node is routed around."""
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
    model(ge.Graph("net").input("x", shape=(None, 3)))
    source = draw(model).source
    titles = assert_titles_head_their_clusters(source)
    assert len(titles) == 2
    assert re.search(r'^\t+title0 \[label=<<B>dense_1</B> <FONT POINT-SIZE="10" COLOR="#6b7280">Dense</FONT>'
                     r'<BR/><FONT POINT-SIZE="9" COLOR="#6b7280">\(None, 3\) → \(None, 4\) · 16 parameters</FONT>>',
                     source, flags=re.M)
    _, _, graph = dot_structure(source)
    x, tanh = model.graph.node("x"), model.graph.node("sequential/tanh_1/tanh")
    assert graph.has_edge(f"n{x.id}", "title0") and graph.has_edge(f"n{tanh.id}", "title2")  # feeders above
    g, run = gallery.xor_network()
    left_to_right = draw(g, run, rankdir="LR").source  # edges enter from the side: the cluster keeps its label
    assert "title" not in left_to_right and left_to_right.count("label=<<B>hidden</B>") == 1


def test_the_graph_fit_builds_has_its_evaluation_path_titled_below_the_input():
    model = ge.nn.Sequential(ge.nn.Dense(4, 5), "relu", ge.nn.Dropout(0.3), ge.nn.Dense(5, 3), seed=0)
    rng = np.random.default_rng(0)
    ge.training.fit(model, rng.normal(size=(8, 4)), rng.integers(0, 3, 8), epochs=1, progress=False)
    g = model.graph
    for source in (draw(g).source, draw(g, collapse=1).source):
        titles = assert_titles_head_their_clusters(source)
        _, clusters, graph = dot_structure(source)
        (evaluation,) = [c for c, t in titles.items() if re.search(rf"\t{t} \[label=<<B>eval</B>", source)]
        assert f"n{g.node('x').id}" in nx.ancestors(graph, titles[evaluation])
        params = {f"n{p.id}" for p in g.params()}
        assert not any(a in params and b.startswith("title") for a, b, _ in dot_structure(source)[0])


def test_no_title_edge_closes_a_cycle():
    """A node outside a scope that the scope feeds, and that feeds it back, is not ranked
    above the scope's title (that would be a cycle: Graphviz would turn an edge around)."""
    g = ge.Graph("loop")
    x = g.input("x", shape=(2,))
    with g.scope("block"):
        a = ge.ops.tanh(x, name="a")
    t = ge.ops.exp(a, name="t")
    with g.scope("block"):
        ge.ops.add(t, a, name="b")
    source = draw(g, rankdir="TB").source
    assert_titles_head_their_clusters(source)
    edges, _, _ = dot_structure(source)
    assert (f"n{x.id}", "title0") in {(a_, b_) for a_, b_, _ in edges}
    assert not any(tail == f"n{t.id}" and head.startswith("title") for tail, head, _ in edges)


def test_a_title_leads_only_to_what_starts_its_cluster():
    """A stage's title has an edge to its first block's title, not to the blocks that the
    one before feeds: such an edge would span the stage, and Graphviz lays out every rank
    it crosses (the 999-node benchmark rendered 6 times slower with them)."""
    g = ge.Graph("stages")
    h = g.input("x", shape=(None, 3))
    with g.scope("stage"):
        for i in range(3):
            with g.scope(f"block{i}"):
                h = ge.ops.tanh(ge.ops.add(h, g.param("b", np.zeros(3)), name="s"), name="a")
    source = draw(g, rankdir="TB").source
    assert_titles_head_their_clusters(source)
    titles = {(a, b) for a, b, _ in dot_structure(source)[0] if a.startswith("title") and b.startswith("title")}
    assert titles == {("title0", "title1")}
