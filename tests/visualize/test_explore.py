"""explore(g, run): the page model (steps, contributions, fan-out sums, local derivatives),
the self-contained deterministic HTML, gradient check, memory, frames and the errors.
(What the page does in a browser: test_explore_browser.py.)"""

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphengine as ge
from graphengine import worked_examples
from graphengine.visualize import ExploreError, ExplorerPage, explore
from graphengine.visualize.explorer_data import local_derivative
from graphengine.visualize.labels import format_number

pytestmark = pytest.mark.usefixtures("dot_executable")


def node(page, name):
    return next(n for n in page.data["page"]["nodes"] if n["name"] == name)


def edge(page, key):
    return next(e for e in page.data["page"]["edges"] if e["id"] == key)


def test_explore_is_exported_and_returns_a_page():
    g, run = worked_examples.chain_rule()
    page = explore(g, run)
    assert isinstance(page, ExplorerPage) and page.graph is g and page.run is run
    assert explore(run).html == page.html  # explore(run) takes the run's graph


def test_chain_rule_steps_forward_then_backward_with_contributions():
    g, run = worked_examples.chain_rule()
    page = explore(g, run)
    model = page.data["page"]
    names = {n["id"]: n["name"] for n in model["nodes"]}
    forward = [names[s["node"]] for s in model["steps"] if s["phase"] == "forward"]
    backward = [names[s["node"]] for s in model["steps"] if s["phase"] == "backward"]
    assert forward == ["x", "w1", "w2", "u", "v", "y"]
    assert backward == ["y", "v", "u", "w2", "w1", "x"]  # reverse topological order, from the target
    assert page.steps == 12
    # y = w2 * v: the gradient 1 flows to w2 as 1 × v and to v as 1 × w2
    y = g.node("y")
    to_w2, to_v = edge(page, f"{y.id}_0"), edge(page, f"{y.id}_1")
    assert to_w2["label"] == [f"1 × {format_number(np.exp(0.5))} = {format_number(np.exp(0.5))}"]
    assert to_v["label"] == ["1 × 2 = 2"]
    # every node's value and gradient in the page are the run's
    for n in g.nodes():
        rec = node(page, n.name)
        assert float(rec["value"]["numbers"][0]) == pytest.approx(float(run.value(n)), rel=1e-5)
        assert float(rec["grad"]["numbers"][0]) == pytest.approx(float(run.grad(n)), rel=1e-5)
    assert "d/da = b" in node(page, "u")["doc"]  # the op's formula and local derivative


def test_fan_out_running_sums_end_at_the_gradient():
    g, run = worked_examples.logistic_regression()
    page = explore(g, run)
    h = node(page, "h")
    assert len(h["received"]) == 2  # h feeds log h and 1 - h
    contributions = [run.edge_grad(int(k.split("_")[0]), int(k.split("_")[1])) for k in h["received"]]
    np.testing.assert_allclose(contributions[0] + contributions[1], run.grad("h"))
    sums = h["partial_sums"]
    assert [s["after"] for s in sums] == h["received"]
    assert float(sums[0]["lines"][0].strip("[]")) == pytest.approx(float(contributions[0].ravel()[0]), rel=1e-3)
    assert float(sums[-1]["lines"][0].strip("[]")) == pytest.approx(float(run.grad("h").ravel()[0]), rel=1e-3)
    # the received edges arrive in backward order, before h's own backward step
    step_of = {k: i for i, s in enumerate(page.data["page"]["steps"], start=1) for k in s.get("edges", ())}
    assert all(step_of[k] < h["backward_step"] for k in h["received"])


def test_local_derivative_is_shown_only_where_it_is_element_wise():
    up = np.array([[2.0, -1.0]])
    np.testing.assert_allclose(local_derivative(up, up * np.array([[3.0, 4.0]])), [[3.0, 4.0]])
    assert local_derivative(np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]])) is None  # 0 upstream: unknown
    assert local_derivative(np.ones((4, 2)), np.ones(2)) is None  # summed over the batch: not element-wise
    np.testing.assert_allclose(local_derivative(np.array(2.0), np.array([1.0, 4.0])), [0.5, 2.0])  # a reduction


def test_page_is_self_contained_and_deterministic():
    first = explore(*worked_examples.xor_network(), gradcheck=True).html
    second = explore(*worked_examples.xor_network(), gradcheck=True).html
    assert first == second
    assert "<script src" not in first and "<link" not in first and "@import" not in first
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", first))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert first.count("<svg") >= 2


def test_data_cannot_end_the_script_early():
    g = ge.Graph("</script><script>alert(1)</script>")
    x = g.input("<!--<script>", shape=(2,))
    y = ge.ops.sum(x * x, name="a<\\script>b")
    run = g.forward({"<!--<script>": np.array([1.0, 2.0])}).backward(y)
    page = explore(g, run)
    block = page.html.split('id="explorer-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block) == page.data  # the first </script> after the data is the data block's own end


def test_big_tensors_are_summarised_and_images_downsampled():
    rng = np.random.default_rng(0)
    model = ge.nn.Sequential(ge.nn.Dense(784, 100), "sigmoid", ge.nn.Dense(100, 10), seed=0)
    X = rng.random((32, 784)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    page = explore(model, X, y, loss="cross_entropy")
    assert len(page.html) < 3_000_000
    W = node(page, "sequential/dense_1/W")
    assert W["value"]["kind"] == "image" and W["grad"]["kind"] == "image"
    assert max(W["value"]["image_width"], W["value"]["image_height"]) <= 160
    assert W["value"]["image"].startswith("data:image/png;base64,")
    assert sum(W["value"]["histogram"]["counts"]) == 784 * 100
    assert float(W["value"]["stats"]["max"]) == pytest.approx(float(model.params()[0].value.max()), rel=1e-3)
    loss = page.run.target
    assert loss.name == "loss/cross_entropy" and np.isfinite(float(page.run.value(loss)))


def test_image_shaped_values_are_tiled():
    from graphengine.visualize.explorer_tensors import tensor_view

    view = tensor_view(np.arange(2 * 3 * 5 * 5, dtype=np.float64).reshape(2, 3, 5, 5))
    assert view["kind"] == "image" and view["image_note"].startswith("6 images (5 × 5)")
    small = tensor_view(np.array([[1.0, -2.0], [3.0, 4.0]]))
    assert small["kind"] == "full" and small["numbers"] == ["1", "-2", "3", "4"]
    assert tensor_view(np.arange(100.0))["kind"] == "summary"
    image = tensor_view(np.arange(20 * 20, dtype=np.float64).reshape(20, 20))
    assert image["image"].startswith("data:image/png;base64,iVBORw0KGgo")  # base64 of the PNG signature


class WrongExp(ge.Op):
    """e^x with a backward that forgets a factor of 2 (to test the gradient check)."""

    name = "wrong_exp"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.exp(x)

    def backward(self, xp, grad, inputs, output):
        return (grad * output * 2.0,)

    def shape(self, x):
        return x


def test_gradcheck_marks_the_op_whose_backward_is_wrong_with_both_numbers():
    g = ge.Graph("bad")
    x = g.input("x", shape=(3,), dtype=np.float64)
    w = g.param("w", np.array([0.5, -1.0, 2.0]))
    e = g.apply(WrongExp(), x * w, name="e")
    loss = ge.ops.sum(ge.ops.tanh(e, name="t"), name="loss")
    run = g.forward({"x": np.array([0.1, 0.2, 0.3])}).backward(loss)
    check = explore(g, run, gradcheck=True).data["gradcheck"]
    bad = {n.name for n in g.nodes() if check["nodes"].get(str(n.id), {}).get("ok") is False}
    assert "e" in bad and "t" not in bad and "loss" not in bad
    result = check["nodes"][str(e.id)]
    assert float(result["analytic"]) == pytest.approx(2 * float(result["numeric"]), rel=1e-4)
    # every correct op agrees
    g2, run2 = worked_examples.logistic_regression()
    assert all(r["ok"] in (True, None) for r in explore(g2, run2, gradcheck=True).data["gradcheck"]["nodes"].values())


def test_gradcheck_numbers_are_the_testing_kits_central_difference():
    """The explorer's local check computes its numeric side with
    graphengine.testing.numerical_gradient: same op, values, seed gradient, direction and eps."""
    import zlib

    from graphengine.testing import numerical_gradient
    from graphengine.visualize.explorer_gradcheck import EPS
    from graphengine.visualize.labels import format_number

    g = ge.Graph("bad")
    x = g.input("x", shape=(3,), dtype=np.float64)
    e = g.apply(WrongExp(), x, name="e")
    loss = ge.ops.sum(ge.ops.tanh(e, name="t"), name="loss")
    run = g.forward({"x": np.array([0.1, 0.2, 0.3])}).backward(loss)
    result = explore(g, run, gradcheck=True).data["gradcheck"]["nodes"][str(e.id)]
    d = np.random.default_rng(zlib.crc32(b"e/0")).standard_normal(3)  # the first direction of edge 0
    d /= np.sqrt(np.sum(d * d))
    numeric = numerical_gradient(WrongExp(), [run.value(x)], {}, run.grad(e), 0, d, EPS)
    assert result["ok"] is False and result["numeric"] == format_number(numeric, 8)
    assert numeric == pytest.approx(float(np.sum(run.grad(e) * np.exp(run.value(x)) * d)), rel=1e-6)


def test_gradcheck_does_not_mark_kinks_or_random_ops():
    g = ge.Graph("kink")
    x = g.input("x", shape=(16,), dtype=np.float64)
    r = ge.ops.relu(x, name="r")                    # x[0] = 0: a kink
    d = g.apply("dropout", x, p=0.5, name="d")      # a fresh random mask at every forward
    loss = ge.ops.sum(r + d, name="loss")
    run = g.forward({"x": np.arange(16.0) - 8.0}).backward(loss)
    nodes = explore(g, run, gradcheck=True).data["gradcheck"]["nodes"]
    assert nodes[str(r.id)]["ok"] is None and "not differentiable" in nodes[str(r.id)]["error"]
    assert nodes[str(d.id)]["ok"] is None and "random" in nodes[str(d.id)]["error"]


def test_memory_overlay_follows_what_a_fetched_run_frees():
    g = ge.Graph("mem")
    x = g.input("x", shape=(1000,), dtype=np.float64)
    n = ge.ops.neg(x, name="n")          # its backward needs nothing
    e = ge.ops.exp(n, name="e")          # its backward needs its output only: n is freed after e
    loss = ge.ops.sum(e, name="loss")
    run = g.forward({"x": np.zeros(1000)}).backward(loss)
    page = explore(g, run)
    memory = page.data["memory"]
    entry = memory["nodes"][str(n.id)]
    assert entry["freed"] == node(page, "e")["forward_step"] and "freed after its last reader" in entry["why"]
    assert memory["nodes"][str(e.id)]["freed"] is not None  # released once exp's backward has read it
    assert memory["live_bytes"][0] == 0 and memory["peak"] >= 16000


def test_frames_keep_one_layout_and_hide_what_is_not_computed(tmp_path):
    g, run = worked_examples.chain_rule()
    page = explore(g, run)
    paths = page.frames(tmp_path, format="svg")
    assert [p.name for p in paths] == [f"step_{k:03d}.svg" for k in range(13)]
    boxes = []
    for path in (paths[0], paths[6], paths[12]):
        root = ET.parse(path).getroot()
        ns = {"s": "http://www.w3.org/2000/svg"}
        boxes.append([p.get("points") for p in root.findall(".//s:g[@class='node']/s:polygon", ns)])
    assert boxes[0] == boxes[1] == boxes[2]  # the same layout on every frame
    start, end = paths[0].read_text(), paths[12].read_text()
    assert 'fill="#1d4ed8"' not in start and 'fill="#b91c1c"' not in start  # no value, no gradient shown yet
    assert "3.297" in start  # but written (in the box's own colour), so the boxes keep their size
    assert 'fill="#1d4ed8">value' in end and 'fill="#b91c1c">grad' in end
    assert "xlink:href" not in end  # a static frame has no links
    png = page.frames(tmp_path / "png", format="png", steps=[3])
    assert png[0].read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ExploreError, match="step must be"):
        page.frame(13)


def test_repr_html_is_an_isolated_iframe():
    g, run = worked_examples.chain_rule()
    text = explore(g, run)._repr_html_()
    assert text.startswith("<iframe srcdoc=") and "&lt;script" in text and "<script" not in text


def test_forward_only_run_gives_a_forward_only_page():
    g = ge.Graph("fwd")
    x = g.input("x", shape=(2,))
    ge.ops.tanh(x, name="t")
    page = explore(g, g.forward({"x": np.array([0.5, -0.5])}))
    assert page.steps == 2 and page.data["page"]["target"] is None and "No gradients" in page.html


def test_errors_say_what_to_pass(tmp_path):
    g, run = worked_examples.chain_rule()
    with pytest.raises(ExploreError, match="recording run"):
        explore(g, g.forward({"x": np.array(1.0)}, fetch=["y"]))
    with pytest.raises(ExploreError, match="needs a run"):
        explore(g)
    with pytest.raises(ExploreError, match="run.backward"):
        explore(g, g.forward({"x": np.array(1.0)}), gradcheck=True)
    with pytest.raises(ExploreError, match="no scope"):
        explore(*worked_examples.xor_network(), collapse="hiden")
    with pytest.raises(ExploreError, match=r"\.html"):
        explore(g, run).save(tmp_path / "page.svg")
    with pytest.raises(ExploreError, match="ge.nn model"):
        explore(42, None, None)
    with pytest.raises(ExploreError, match="X and y"):
        explore(ge.nn.Sequential(ge.nn.Dense(2, 2)), np.zeros((3, 2)), np.zeros(4, dtype=int))
    twin, twin_run = worked_examples.chain_rule()  # another graph of the same name
    with pytest.raises(ExploreError, match="another graph that is also named") as info:
        explore(g, twin_run)
    assert "explore(run.graph, run)" in str(info.value)
    other, other_run = worked_examples.perceptron()
    with pytest.raises(ExploreError, match=r"belongs to graph 'perceptron', not to 'chain rule"):
        explore(g, other_run)


def test_explore_a_trained_model_through_its_history():
    X, labels = ge.data.two_moons(64, noise=0.1, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
    history = ge.training.fit(model, X, labels, loss="cross_entropy", optimizer="adam", lr=0.03, epochs=1,
                              batch_size=32, seed=0, progress=False)
    page = explore(history, X[:8], labels[:8])
    assert page.run.target is history.trainer.loss_node
    nodes = len(history.trainer.graph.nodes())
    again = explore(model, X[:8], labels[:8])  # the fitted model itself: through model.trainer, no new nodes
    assert again.html == page.html and len(history.trainer.graph.nodes()) == nodes
    W = history.trainer.graph.node("sequential/dense_1/W")
    np.testing.assert_allclose(np.array(node(page, W.name)["grad"]["numbers"], dtype=float),
                               page.run.grad(W).ravel(), rtol=1e-4)


def test_a_small_cnn_shows_kernels_and_feature_maps_as_images():
    rng = np.random.default_rng(0)
    model = ge.nn.Sequential(ge.nn.Conv2d(1, 4, kernel_size=3), "relu", ge.nn.MaxPool2d(2), ge.nn.Flatten(),
                             ge.nn.Dense(4 * 5 * 5, 3), seed=0)
    page = explore(model, rng.random((4, 1, 12, 12)).astype(np.float32), rng.integers(0, 3, 4), loss="cross_entropy")
    kernel = next(n for n in page.data["page"]["nodes"] if n["kind"] == "param" and len(n["value"]["shape"]) == 4)
    assert kernel["value"]["kind"] == "image" and kernel["grad"]["kind"] == "image"
    relu = next(n for n in page.data["page"]["nodes"] if n["op"] == "relu")
    assert relu["value"]["image_note"].startswith("16 images (10 × 10)")


def test_collapse_names_the_scopes_folded_at_the_start():
    g, run = worked_examples.xor_network()
    scopes = [s["path"] for s in explore(g, run).data["page"]["scopes"]]
    assert scopes == ["hidden", "output"]
    assert explore(g, run, collapse=True).data["options"]["collapsed"] == [0, 1]
    assert explore(g, run, collapse="output").data["options"]["collapsed"] == [1]


def test_a_graph_too_big_to_lay_out_quickly_warns(monkeypatch):
    import sys

    draw_module = sys.modules["graphengine.visualize.draw"]  # the module, not the function of the same name
    monkeypatch.setattr(draw_module, "LARGE_DRAWING_BOXES", 3)
    g, run = worked_examples.chain_rule()
    with pytest.warns(ge.visualize.LargeGraphWarning, match="6 nodes"):
        explore(g, run)


def _has_value(run, node) -> bool:
    """Whether ``run`` still holds ``node``'s value (a fetched run frees what it no longer needs)."""
    try:
        run.value(node)
    except ge.ValueNotAvailableError:
        return False
    return True


def test_memory_overlay_agrees_with_a_real_fetched_run():
    g, run = worked_examples.deep_mlp(depth=3, width=4, batch=4)
    page = explore(g, run)
    memory, forward_steps = page.data["memory"], page.data["page"]["forward_steps"]
    feeds = {n.name: run.value(n) for n in g.inputs()}
    fetched = g.forward(feeds, fetch=[run.target])
    checked = 0
    for n in g.nodes():
        entry = memory["nodes"].get(str(n.id))
        if entry is None or entry["status"] != "value":
            continue
        alive = entry["freed"] is None or entry["freed"] > forward_steps
        assert alive == _has_value(fetched, n), (n.name, entry)
        checked += 1
    assert checked >= 10
    fetched.backward(run.target)  # after backward, what the overlay keeps to the end is all that is left
    for n in g.nodes():
        entry = memory["nodes"].get(str(n.id))
        if entry is not None and entry["status"] == "value":
            assert _has_value(fetched, n) == (entry["freed"] is None), (n.name, entry)


def test_edge_labels_show_the_product_for_a_few_numbers():
    from graphengine.visualize.explorer_data import edge_label_lines

    up, local = np.array([2.0, -1.0]), np.array([0.5, 3.0])
    assert edge_label_lines(up, local, up * local, 4, 16) == ["[2, -1] ⊙ [0.5, 3]", "= [1, -3]"]
    assert edge_label_lines(np.array(2.0), local, 2.0 * local, 4, 16) == ["2 × [0.5, 3]", "= [1, 6]"]
    assert edge_label_lines(np.array(2.0), np.array(0.5), np.array(1.0), 4, 16) == ["2 × 0.5 = 1"]
    assert edge_label_lines(np.ones(8), np.full(8, 3.0), np.full(8, 3.0), 4, 16)[0] == "× 3"
    assert edge_label_lines(np.ones((2, 2)), None, np.ones((2, 2)), 4, 16) == ["[[1, 1],", " [1, 1]]"]


def test_flattened_square_images_are_shown_as_images():
    from graphengine.visualize.explorer_tensors import tensor_view

    digits = tensor_view(np.random.default_rng(0).random((8, 784)))
    assert digits["kind"] == "image" and digits["image_note"].startswith("rows as 8 images (28 × 28)")
    weights = tensor_view(np.ones((784, 100)))
    assert weights["image_note"].startswith("columns as 16 of 100 images (28 × 28)")
    assert tensor_view(np.ones((16, 100)))["image_note"] == "16 × 100 as an image"  # 10 × 10: too small to be one


def test_edges_out_of_an_op_that_is_not_elementwise_show_no_local_derivative():
    # softmax's Jacobian is not diagonal: contribution / upstream is not its derivative
    g = ge.Graph("sm")
    z = g.param("z", np.array([1.0, 2.0, 3.0]))
    s = ge.ops.softmax(z)
    loss = ge.ops.sum(s * g.const(np.array([1.0, 2.0, 5.0])))
    run = g.forward({}).backward(loss)
    edges = explore(g, run).data["page"]["edges"]
    into_softmax = [e for e in edges if e["dst"] == s.id]
    assert into_softmax and all(e["local"] is None and e["local_text"] is None for e in into_softmax)
    into_mul = [e for e in edges if e["src"] == s.id]
    assert into_mul and all(e["local"] is not None or e["local_text"] is not None for e in into_mul)
