"""Diagrams of ge.nn models (draw(model)) and of the graphs trainers build: layers with
shapes, collapse per layer, no fake gradients, neutral targets, edge labels where they add
something, and widths that fit a slide."""

import importlib
import pathlib
import re
import struct
import sys

import numpy as np
import pytest

import graphengine as ge
from graphengine.visualize import DrawError, draw, gallery
from graphengine.visualize.heatmap import PALETTE

REPO = pathlib.Path(__file__).resolve().parents[2]


def node_line(source, node):
    (line,) = [ln for ln in source.splitlines() if re.match(rf"\s*n{node.id} \[", ln)]
    return line


def edge_lines(source, src, dst):
    return [ln for ln in source.splitlines() if re.match(rf"\s*n{src.id} -> n{dst.id}\b", ln)]


def cluster_labels(source):
    return [ln for ln in source.splitlines() if "label=<<B>" in ln and "fontsize=11" in ln]


def mlp():
    return ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10), seed=0)


def trained_graph(model, in_shape, labels=None, loss="cross_entropy", batch=4):
    """The graph a trainer builds (x, the model, y, a mean loss) and a recording run after backward."""
    g = ge.Graph("net")
    x = g.input("x", shape=(None,) + in_shape)
    out = model(x)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch,) + in_shape).astype("float32")
    if loss == "cross_entropy":
        y = g.input("y", shape=(None,), dtype="int64")
        Y = rng.integers(0, out.shape[-1], size=batch) if labels is None else labels
        with g.scope("loss"):
            loss_node = ge.ops.cross_entropy(out, y, reduction="mean")
    else:
        y = g.input("y", shape=out.shape, dtype="float32")
        Y = (100.0 * rng.normal(size=(batch,) + tuple(out.shape[1:]))).astype("float32")
        with g.scope("loss"):
            loss_node = ge.ops.mean(ge.ops.mse(out, y))
    run = g.forward({"x": X, "y": Y}).backward(loss_node)
    return g, run, x, y, out


# ---------------------------------------------------------------------- draw(model)

def test_model_diagram_shows_each_layer_with_its_shapes_and_parameters():
    model = mlp()
    trained_graph(model, (784,))
    source = draw(model).source
    assert "rankdir=TB" in source
    labels = cluster_labels(source)
    assert [re.search(r"<B>([^<]+)</B>", ln).group(1) for ln in labels] == ["dense_1", "dense_2"]
    assert "(None, 784) → (None, 30) · 23,550 parameters" in labels[0] and ">Dense<" in labels[0]
    assert "(None, 30) → (None, 10) · 310 parameters" in labels[1]
    # a layer of one node is that node, titled with the layer's name, with both shapes
    (sigmoid,) = [n for n in model.graph.nodes() if n.op == "sigmoid"]
    line = node_line(source, sigmoid)
    assert "<B>sigmoid_1</B>" in line and "sigmoid · (None, 30) → (None, 30)" in line
    assert "cluster" not in "".join(ln for ln in source.splitlines() if "sigmoid_1" in ln)
    # the model only: not the trainer's loss or labels, and no cluster for the model itself
    assert "cross_entropy" not in source and ">y<" not in source and "<B>sequential</B>" not in source
    assert "sequential (Sequential)" in source and "23,860 parameters" in source
    # names inside a layer are local to it
    assert "<B>matmul</B>" in source and "<B>sequential/dense_1/matmul</B>" not in source


def test_show_shapes_false_leaves_the_shapes_out_of_layer_labels():
    model = mlp()
    trained_graph(model, (784,))
    labels = cluster_labels(draw(model, show_shapes=False).source)
    assert all("→" not in ln for ln in labels)
    assert "23,550 parameters" in labels[0]


def test_collapse_true_on_a_model_folds_each_layer_not_the_whole_model():
    model = mlp()
    trained_graph(model, (784,))
    source = draw(model, collapse=True).source
    boxes = [ln for ln in source.splitlines() if "shape=box3d" in ln]
    assert len(boxes) == 3
    assert "<B>dense_1</B> Dense" in boxes[0] and "(None, 784) → (None, 30)" in boxes[0]
    assert "23,550 parameters" in boxes[0]
    assert "(None, 30) → (None, 10)" in boxes[2]


def test_collapse_true_on_a_graph_folds_the_layers_of_a_model_it_holds():
    g, run, *_ = trained_graph(mlp(), (784,))
    source = draw(g, run, collapse=True).source
    boxes = [re.search(r"<B>([^<]+)</B>", ln).group(1) for ln in source.splitlines() if "shape=box3d" in ln]
    assert sorted(boxes) == ["dense_1", "dense_2", "loss", "sigmoid_1"]


def test_an_unbuilt_model_is_drawn_from_a_copy():
    model = mlp()
    source = draw(model).source
    assert "(None, 784) → (None, 30)" in source
    assert not model.built  # the model itself is untouched


def test_an_unbuilt_model_without_an_input_size_needs_input_shape():
    cnn = ge.nn.Sequential(ge.nn.Conv2d(1, 4, kernel_size=3), "relu", ge.nn.Flatten(), ge.nn.Dense(4 * 26 * 26, 10))
    with pytest.raises(DrawError, match=r"input_shape=.*\(1, 28, 28\)"):
        draw(cnn)
    source = draw(cnn, input_shape=(1, 28, 28)).source
    assert "(None, 1, 28, 28) → (None, 4, 26, 26)" in source
    assert not cnn.built
    with pytest.raises(DrawError, match="building it failed"):
        draw(cnn, input_shape=(1, 10, 10))  # the Dense layer expects 2,704 features


def test_input_shape_is_refused_where_it_does_not_apply():
    model = mlp()
    g, run, *_ = trained_graph(model, (784,))
    with pytest.raises(DrawError, match="already built"):
        draw(model, input_shape=(784,))
    with pytest.raises(DrawError, match="does not apply to a Graph"):
        draw(g, input_shape=(784,))
    with pytest.raises(DrawError, match="tuple of ints"):
        draw(mlp(), input_shape="784")


def test_a_model_drawn_with_a_run_shows_values_and_gradients_of_its_nodes():
    model = mlp()
    g, run, x, y, out = trained_graph(model, (784,))
    source = draw(model, run).source
    assert "values and gradients of loss/cross_entropy" in source
    assert "grad" in node_line(source, out)
    with pytest.raises(DrawError, match="the run belongs to graph 'chain rule"):
        draw(model, gallery.chain_rule()[1])


# ---------------------------------------------------------------------- gradients

def test_integer_labels_show_no_gradient_and_their_edge_none():
    g, run, x, y, out = trained_graph(mlp(), (784,))
    source = draw(g, run).source
    line = node_line(source, y)
    assert "no gradient (integer values are not differentiable)" in line
    assert ">grad<" not in line and "[0, 0, 0, 0]" not in line
    (loss,) = [n for n in g.nodes() if n.op == "cross_entropy"]
    (edge,) = edge_lines(source, y, loss)
    assert "label=" not in edge and "#b91c1c" not in edge


def test_a_node_whose_readers_pass_no_gradient_back_shows_none():
    g = ge.Graph("stop")
    x = g.input("x", shape=(2,))
    w = g.param("w", np.array([1.0, 2.0]))
    fixed = ge.ops.stop_gradient(x * 3.0, name="fixed")
    loss = ge.ops.sum(w * fixed, name="loss")
    run = g.forward({"x": np.array([1.0, 2.0])}).backward(loss)
    source = draw(g, run).source
    assert "no gradient (what reads it passes none back)" in node_line(source, fixed.inputs[0])
    assert "no gradient (what reads it passes none back)" in node_line(source, x)
    assert ">grad<" in node_line(source, w)


# ---------------------------------------------------------------------- heat maps

def test_heat_maps_leave_targets_neutral():
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
    g, run, x, y, out = trained_graph(model, (3,), loss="mse")
    assert float(np.abs(run.grad(y)).mean()) > float(np.abs(run.grad(out)).mean()) * 0.5  # as hot as the output
    source = draw(g, run, mode="backward", heatmap=True).source
    fill = re.search(r'fillcolor="(#[0-9a-f]{6})"', node_line(source, y)).group(1)
    assert fill == "#ffffff"
    assert re.search(r'fillcolor="(#[0-9a-f]{6})"', node_line(source, out)).group(1) != "#ffffff"
    (mse,) = [n for n in g.nodes() if n.op == "mse"]
    (edge,) = edge_lines(source, y, mse)
    assert 'color="#9ca3af"' in edge and not any(c in edge for c in PALETTE)


# ---------------------------------------------------------------------- edge labels

def test_edge_labels_auto_labels_only_what_no_box_shows():
    g, run = gallery.chain_rule()  # a chain: every gradient is on a box already
    source = draw(g, run, mode="both").source
    assert not [ln for ln in source.splitlines() if "->" in ln and "label=" in ln]
    assert "gradient flowing back along it" not in source  # no legend entry for labels not drawn
    every = draw(g, run, mode="both", edge_labels="all").source
    assert len([ln for ln in every.splitlines() if "->" in ln and "label=" in ln]) == 5
    assert "gradient flowing back along it" in every


def test_edge_labels_auto_keeps_fan_out_edges_and_edges_out_of_collapsed_scopes():
    g, run = gallery.logistic_regression()  # h and c are used twice
    source = draw(g, run, mode="both").source
    labelled = {(m.group(1), m.group(2)) for m in re.finditer(r"\bn(\d+) -> n(\d+) \[label=", source)}
    h, c = g.node("h"), g.node("c")
    assert labelled == {(str(src.id), str(dst.id)) for src in (h, c) for dst in g.consumers(src)}
    net, net_run = gallery.xor_network()
    folded = draw(net, net_run, mode="backward", collapse=["hidden"]).source
    (edge,) = [ln for ln in folded.splitlines() if re.match(r"\s*scope\d+ -> n", ln)]
    assert "label=" in edge
    none = draw(g, run, mode="both", edge_labels="none").source
    assert not [ln for ln in none.splitlines() if "->" in ln and "label=" in ln]


def test_edge_labels_refuses_unknown_values():
    g, run = gallery.chain_rule()
    with pytest.raises(DrawError, match=r"edge_labels must be one of 'auto', 'all', 'none'.*Did you mean 'all'"):
        draw(g, run, edge_labels="al")


# ---------------------------------------------------------------------- layout

def test_wide_graphs_are_drawn_top_to_bottom_and_small_ones_left_to_right():
    g, run = gallery.chain_rule()
    assert "rankdir=LR" in draw(g, run).source
    g, run = gallery.logistic_regression()  # 8 ranks of wide boxes: about 1,800 px left to right
    assert "rankdir=TB" in draw(g, run).source
    assert "rankdir=LR" in draw(g, run, rankdir="LR").source


def _example(name):
    sys.path.insert(0, str(REPO / "examples"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "examples"))


def _example_models():
    """(label, model, one example's shape) for the models of examples/."""
    cnn = _example("cnn_mnist")
    depth = _example("mnist_depth")
    overfitting = _example("overfitting")
    search = _example("random_search_mnist")
    vanishing = _example("vanishing_gradients")
    xor = _example("xor_perceptron")
    return [
        ("cnn_mnist", cnn.lenet(0), (1, 28, 28)),
        ("mnist_mlp", ge.nn.Sequential(ge.nn.Dense(784, 100), "sigmoid", ge.nn.Dense(100, 10), seed=0), (784,)),
        ("mnist_depth_4", depth.build(4, 0), (784,)),
        ("overfitting", overfitting.build(0.5, 0), (784,)),
        ("random_search", search.build(), (784,)),
        ("vanishing_sigmoid", vanishing.sigmoid_net(0), (784,)),
        ("vanishing_residual", vanishing.residual_net(0), (784,)),
        ("xor_2_2_1", xor.two_two_one(0), (2,)),
    ]


def _png_width(diagram) -> int:
    png = diagram.pipe(format="png")
    return struct.unpack(">II", png[16:24])[0]


def test_the_example_models_fit_a_slide(dot_executable):
    for label, model, shape in _example_models():
        width = _png_width(draw(model, input_shape=shape))
        assert width <= 1600, f"{label}: draw(model) is {width} px wide"
        collapsed = _png_width(draw(model, input_shape=shape, collapse=True))
        assert collapsed <= 1600, f"{label}: draw(model, collapse=True) is {collapsed} px wide"


def test_a_trained_model_with_its_run_fits_a_slide(dot_executable):
    model = _example("cnn_mnist").lenet(0)
    g, run, *_ = trained_graph(model, (1, 28, 28), batch=2)
    assert _png_width(draw(model, run)) <= 1600
    assert _png_width(draw(g, run, collapse=True)) <= 1600


def _fitted(model, X, y):
    """The graph ``fit`` built for ``model`` (training and evaluation paths, both losses)
    and a recording run of it after backward of the training loss."""
    ge.training.fit(model, X, y, epochs=1, batch_size=len(X), progress=False)
    g = model.graph
    run = g.forward({"x": X[:2], "y": y[:2]})
    (loss,) = [n for n in g.nodes() if n.name.startswith("loss/")]
    return g, run.backward(loss)


def test_the_graphs_fit_builds_fit_a_slide(dot_executable):
    """Trainer graphs (a training and an evaluation path side by side): 2,297 and 2,404 px
    wide for LeNet, 1,697 px for the dropout MLP with a run, when every op attribute was
    printed and parameters and class labels sat on ranks of their own."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 8)
    lenet = _example("cnn_mnist").lenet(0)
    g, run = _fitted(lenet, rng.random((8, 1, 28, 28), dtype=np.float32), y)
    assert "kernel_size=2, stride" not in draw(g).source  # max_pool2d's defaults are left out
    for label, diagram in [("lenet graph", draw(g)), ("lenet run", draw(g, run)),
                           ("lenet heat map", draw(g, run, mode="backward", heatmap=True))]:
        width = _png_width(diagram)
        assert width <= 1600, f"{label}: {width} px wide"
    mlp_model = _example("overfitting").build(0.5, 0)
    g, run = _fitted(mlp_model, rng.random((8, 784), dtype=np.float32), y)
    for label, diagram in [("dropout MLP graph", draw(g)), ("dropout MLP run", draw(g, run))]:
        width = _png_width(diagram)
        assert width <= 1600, f"{label}: {width} px wide"


def test_layer_labels_and_their_nodes_show_the_same_shapes():
    model = mlp()
    g, run, *_ = trained_graph(model, (784,))
    with_run = cluster_labels(draw(model, run).source)
    assert "(4, 784) → (4, 30)" in with_run[0]  # the run's batch, as on the nodes: matmul · (4, 30)
    assert "(None, 784) → (None, 30)" in cluster_labels(draw(model).source)[0]


def test_an_evaluation_path_says_it_shares_the_training_paths_parameters():
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dropout(0.5), ge.nn.Dense(4, 2), seed=0)
    g = ge.Graph("net")
    x = g.input("x", shape=(None, 3))
    model(x)
    with g.scope("eval"):
        model(x, training=False)
    boxes = [ln for ln in draw(g, collapse=True).source.splitlines() if "shape=box3d" in ln]
    (train,) = [b for b in boxes if "<B>dense_1</B>" in b and "shares" not in b]
    (evaluation,) = [b for b in boxes if "<B>dense_1</B>" in b and "shares" in b]
    assert "16 parameters" in train and "2 nodes · shares 16 parameters" in evaluation
    assert draw(g).source.count("shares 26 parameters") == 2  # the eval cluster and its model's


def test_residual_connections_do_not_drag_the_layers_sideways(dot_executable):
    g, run = gallery.deep_mlp("sigmoid", residual=True)
    diagram = draw(g, run, mode="backward", heatmap=True)
    skips = [ln for ln in diagram.source.splitlines() if "->" in ln and "label=" in ln]
    assert skips and all("weight=0" in ln for ln in skips)  # labelled edges from one block into the next
    assert _png_width(diagram) <= 1600  # 1,754 px when they pulled the chain aside


def test_edges_between_two_collapsed_layers_are_merged_into_one_that_says_how_many():
    model = ge.nn.Sequential(ge.nn.Dense(6, 5), "relu", ge.nn.Residual(ge.nn.Dense(5, 5), "relu"),
                             ge.nn.Dense(5, 2), seed=0)
    source = draw(model, input_shape=(6,), collapse=True).source
    between = [ln for ln in source.splitlines() if re.match(r"\s*scope\d+ -> scope\d+", ln)]
    (merged,) = [ln for ln in between if "×2" in ln]  # relu_1 feeds the block's Dense and its skip sum
    assert len(between) == len({ln.split("[")[0].strip() for ln in between})  # no pair drawn twice
    assert "edges merged into one" in source
    g, run, *_ = trained_graph(model, (6,), batch=3)
    both = draw(g, run, collapse=True).source
    (merged,) = [ln for ln in both.splitlines() if "×2" in ln and "->" in ln]
    assert "sum of 2" in merged  # the two gradients flowing back from the block, added


def test_a_model_called_on_an_op_is_drawn_from_that_op():
    """The node that feeds the model is drawn, what feeds that node is not (it used to be
    looked up among the drawn boxes: KeyError)."""
    g = ge.Graph("outer")
    x = g.input("x", shape=(None, 3))
    pre = ge.ops.tanh(x, name="pre")
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
    loss = ge.ops.mean(model(pre), name="loss")
    run = g.forward({"x": np.ones((2, 3))}).backward(loss)
    for diagram in (draw(model), draw(model, run), draw(model, run, collapse=True)):
        source = diagram.source
        assert f"\tn{pre.id} [" in source and f"n{x.id} " not in source and f"n{x.id} -" not in source
        assert f"\tn{pre.id} -> " in source
