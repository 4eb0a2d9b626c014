"""The explorer page in a real browser: headless Chromium (the distribution's package)
driven by Playwright's Python package. Pages are saved to disk and opened from there
(file://), stepped with the keyboard, clicked, and checked against run.value / run.grad.

Skipped, with the reason, where Playwright or Chromium is missing (scripts/setup.sh installs
Chromium with apt where it can, and says so where it cannot). Set GRAPHENGINE_REQUIRE_BROWSER=1
to make a missing browser a failure instead. Screenshots go to the test's tmp_path,
or to $GRAPHENGINE_SCREENSHOTS when set.
"""

import os
import pathlib
import re
import shutil

import numpy as np
import pytest

import graphengine as ge
from graphengine import worked_examples
from graphengine.visualize import explore

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _missing(reason):
    if os.environ.get("GRAPHENGINE_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (GRAPHENGINE_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def chromium_path():
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and pathlib.Path(candidate).exists():
            return candidate
    return None


pytestmark = pytest.mark.usefixtures("dot_executable")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright's Python package is not installed (pip install 'graphengine-nn[browser]')")
    executable = chromium_path()
    if executable is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    """open_page(explorer_page) -> (playwright page, console errors): saved, then opened from disk."""
    opened = []

    def open_(page, name="page"):
        path = page.save(tmp_path / f"{name}.html")
        tab = browser.new_page(viewport={"width": 1500, "height": 860})
        errors = []
        tab.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("request", lambda r: errors.append(f"network request {r.url}") if not r.url.startswith(("file:", "data:")) else None)
        tab.goto(path.resolve().as_uri())
        opened.append(tab)
        return tab, errors

    yield open_
    for tab in opened:
        tab.close()


def screenshot(tab, tmp_path, name):
    folder = pathlib.Path(os.environ.get("GRAPHENGINE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / f"{name}.png"))


def numbers(text):
    return [float(v) for v in NUMBER.findall(text.replace("−", "-"))]


def hidden(tab, element_id):
    return tab.evaluate(f"document.getElementById({element_id!r}).classList.contains('hidden')")


def test_keyboard_steps_forward_then_backward_and_panel_shows_the_run(open_page, tmp_path):
    g, run = worked_examples.chain_rule()
    tab, errors = open_page(explore(g, run))
    u, y = g.node("u"), g.node("y")
    assert tab.inner_text("#counter").startswith("step 0 of 12")
    assert hidden(tab, f"f-n{u.id}-v") and hidden(tab, f"b-n{u.id}-g")
    for _ in range(4):  # x, w1, w2, then u
        tab.keyboard.press("ArrowRight")
    assert tab.inner_text("#counter").startswith("step 4 of 12")
    assert not hidden(tab, f"f-n{u.id}-v") and hidden(tab, f"f-n{y.id}-v")
    assert "current" in tab.get_attribute(f"#f-n{u.id}", "class")
    assert "input-of-current" in tab.get_attribute(f"#f-n{g.node('x').id}", "class")
    tab.keyboard.press("ArrowLeft")
    assert hidden(tab, f"f-n{u.id}-v")  # stepping back hides it again
    tab.keyboard.press("End")
    tab.keyboard.press("ArrowLeft")  # step 11: the backward pass has reached w1, not yet x
    assert not hidden(tab, f"b-n{u.id}-g") and hidden(tab, f"b-n{g.node('x').id}-g")
    tab.keyboard.press("ArrowRight")
    for n in g.nodes():
        tab.click(f"#f-n{n.id}")
        assert tab.inner_text("#panel-name") == n.name
        assert numbers(tab.inner_text("#panel-value .numbers")) == pytest.approx([float(run.value(n))], rel=1e-5)
        assert numbers(tab.inner_text("#panel-grad .numbers")) == pytest.approx([float(run.grad(n))], rel=1e-5)
    assert "d/da = b" in tab.inner_text("#panel .doc")  # y = mul: its formula and local derivative
    # the heat map colours a node once its gradient has arrived, not before
    heat = next(n["heat"] for n in explore(g, run).data["page"]["nodes"] if n["id"] == u.id)
    fill = f"#b-n{u.id} > path, #b-n{u.id} > polygon"
    assert tab.get_attribute(fill, "fill") == heat
    tab.keyboard.press("Home")
    assert tab.get_attribute(fill, "fill") != heat
    tab.click("#play")  # play steps on by itself
    tab.wait_for_function("window.explorer.state.step >= 2", timeout=5000)
    tab.click("#play")
    screenshot(tab, tmp_path, "chain_rule_end")
    assert errors == []


def test_edge_contributions_of_a_fan_out_node_sum_to_its_gradient(open_page, tmp_path):
    g, run = worked_examples.logistic_regression()
    page = explore(g, run)
    tab, errors = open_page(page)
    h = g.node("h")
    received = next(n for n in page.data["page"]["nodes"] if n["id"] == h.id)["received"]
    first = next(k for k, s in enumerate(page.data["page"]["steps"], 1) if received[0] in s.get("edges", ()))
    tab.evaluate(f"window.explorer.go({first})")  # the first contribution to h has arrived, not the second
    badge = tab.text_content(f"#b-n{h.id} .badge")
    assert badge.startswith("Σ 1 of 2")
    tab.keyboard.press("End")
    tab.click(f"#b-n{h.id}")
    items = tab.query_selector_all("#panel-received li")
    assert len(items) == 2
    contributions = [numbers(item.inner_text().split(":", 1)[1])[0] for item in items]
    assert sum(contributions) == pytest.approx(float(run.grad(h).item()), rel=1e-4)
    # the same numbers are on the backward pane's edges
    labels = []
    for c in g.consumers(h):
        position = list(c.inputs).index(h)
        labels.append(numbers(tab.text_content(f"#b-e{c.id}_{position}-l"))[-1])
    assert sorted(labels) == pytest.approx(sorted(contributions), rel=1e-3)
    screenshot(tab, tmp_path, "logistic_fan_out")
    assert errors == []


def test_hover_cross_links_and_scopes_collapse(open_page):
    g, run = worked_examples.xor_network()
    tab, errors = open_page(explore(g, run))
    W = g.node("hidden/W")
    tab.hover(f"#f-n{W.id}")
    assert "linked" in tab.get_attribute(f"#b-n{W.id}", "class")
    tab.hover("#counter")
    assert "linked" not in tab.get_attribute(f"#b-n{W.id}", "class")
    tab.click("#f-c0 > text")  # the frame of the scope "hidden"
    assert tab.is_hidden(f"#f-n{W.id}") and tab.is_hidden(f"#b-n{W.id}")
    assert "hidden (collapsed)" in tab.text_content("#f-box0")
    tab.click("#f-box0")
    assert tab.is_visible(f"#f-n{W.id}")
    assert errors == []
    # a run without backward: a forward-only page that steps and shows values
    x = ge.Graph("forward only")
    t = ge.ops.tanh(x.input("x", shape=(2,)), name="t")
    tab, errors = open_page(explore(x, x.forward({"x": np.array([0.5, -0.5])})), "forward_only")
    tab.keyboard.press("End")
    tab.click(f"#f-n{t.id}")
    assert numbers(tab.inner_text("#panel-value .numbers")) == pytest.approx(np.tanh([0.5, -0.5]), rel=1e-5)
    assert tab.inner_text("#counter").startswith("step 2 of 2") and errors == []


def pane_size(tab, pane="forward"):
    return tab.evaluate(f"""() => {{ const b = document.querySelector('#pane-{pane} .pane-svg').viewBox.baseVal;
        return [b.width, b.height]; }}""")


def test_clicking_a_scope_lays_the_graph_out_again_around_its_box(open_page, tmp_path):
    rng = np.random.default_rng(0)
    model = ge.nn.Sequential(ge.nn.Dense(784, 16), "sigmoid", ge.nn.Dense(16, 10), seed=0)
    page = explore(model, rng.random((8, 784)).astype(np.float32), rng.integers(0, 10, 8), loss="cross_entropy")
    tab, errors = open_page(page, "mlp_fold")
    nodes = {n["name"]: n for n in page.data["page"]["nodes"]}
    W, matmul = nodes["sequential/dense_1/W"], nodes["sequential/dense_1/matmul"]
    sigmoid = nodes["sequential/sigmoid_1/sigmoid"]
    before = {p: pane_size(tab, p) for p in ("forward", "backward")}
    tab.click("#f-c1 > text")  # the frame of sequential/dense_1
    assert tab.evaluate("window.explorer.layout()") == "1"
    assert tab.query_selector(f"#f-n{W['id']}") is None and tab.query_selector(f"#b-n{W['id']}") is None
    assert "dense_1 (collapsed)" in tab.text_content("#f-box1")
    for p in ("forward", "backward"):  # the space of the frame is given back: the layout is smaller
        (w0, h0), (w1, h1) = before[p], pane_size(tab, p)
        assert w1 <= w0 and h1 <= h0 and w1 * h1 < 0.85 * w0 * h0, (p, before[p], (w1, h1))
    # stepping goes on: the box is the current step while a node inside it is computed
    tab.keyboard.press("Home")
    for _ in range(matmul["forward_step"]):
        tab.keyboard.press("ArrowRight")
    assert tab.inner_text("#counter").startswith(f"step {matmul['forward_step']} of {page.steps}")
    assert "current" in tab.get_attribute("#f-box1", "class") and "current" in tab.get_attribute("#b-box1", "class")
    for _ in range(sigmoid["forward_step"] - matmul["forward_step"]):  # on to the sigmoid, outside the box
        tab.keyboard.press("ArrowRight")
    assert "current" not in tab.get_attribute("#f-box1", "class")
    assert "current" in tab.get_attribute(f"#f-n{sigmoid['id']}", "class")
    assert not hidden(tab, f"f-n{sigmoid['id']}-v")
    tab.hover("#f-box1")  # the box's partner in the other pane
    assert "linked" in tab.get_attribute("#b-box1", "class")
    tab.click(f"#f-n{sigmoid['id']}")
    assert tab.inner_text("#panel-name") == sigmoid["name"]
    tab.keyboard.press("End")  # the backward pass: the heat map colours the swapped pane too
    heat = tab.evaluate(f"document.querySelector('#b-n{sigmoid['id']} > path, #b-n{sigmoid['id']} > polygon').getAttribute('fill')")
    assert heat == sigmoid["heat"]
    screenshot(tab, tmp_path, "mlp_folded")
    # a combination without a layout of its own: the largest one that has one, the rest hidden in place
    tab.click("#f-c3 > text")  # dense_2 as well
    assert tab.evaluate("window.explorer.layout()") == "1" and tab.is_visible("#f-box3 rect")
    tab.click("#f-c2 > text")
    tab.click("#f-c4 > text")  # every layer folded: that set has a layout
    assert tab.evaluate("window.explorer.layout()") == "1,2,3,4" and tab.query_selector(".collapsed-box") is None
    screenshot(tab, tmp_path, "mlp_all_layers_folded")
    for box in (4, 3, 2, 1):
        tab.click(f"#f-box{box}")
    assert tab.evaluate("window.explorer.layout()") == ""  # expanded back: the original layout
    assert {p: pane_size(tab, p) for p in ("forward", "backward")} == before
    assert tab.is_visible(f"#f-n{W['id']}") and tab.query_selector("#f-box1") is None
    tab.click(f"#b-n{W['id']}")
    assert tab.inner_text("#panel-name") == W["name"]
    assert numbers(tab.inner_text("#panel-grad [data-stat=mean]")) == pytest.approx(
        [float(page.run.grad(page.graph.node(W["name"])).mean())], rel=1e-2, abs=1e-6)
    tab.keyboard.press("ArrowLeft")
    assert tab.inner_text("#counter").startswith(f"step {page.steps - 1} of")
    assert errors == []


def test_a_page_can_start_with_its_layers_folded(open_page):
    rng = np.random.default_rng(1)
    model = ge.nn.Sequential(ge.nn.Dense(4, 3), "tanh", ge.nn.Dense(3, 2), seed=0)
    page = explore(model, rng.random((5, 4)), rng.integers(0, 2, 5), loss="cross_entropy", collapse=True)
    tab, errors = open_page(page, "folded_start")
    scopes = [sc["path"] for sc in page.data["page"]["scopes"]]
    layers = [scopes.index(p) for p in ("sequential/dense_1", "sequential/tanh_1", "sequential/dense_2", "loss")]
    # collapse=True folds each layer, as draw does, never the whole model
    assert tab.evaluate("window.explorer.layout()") == ",".join(map(str, sorted(layers)))
    assert tab.query_selector_all("#pane-forward .folded-box") and tab.query_selector(".collapsed-box") is None
    scope = {n["id"]: n["scope"] for n in page.data["page"]["nodes"]}
    inside = max(k for k, step in enumerate(page.data["page"]["steps"], start=1) if scope[step["node"]].startswith("sequential"))
    box = scopes.index(scope[page.data["page"]["steps"][inside - 1]["node"]])
    tab.keyboard.press("End")
    for _ in range(page.steps - inside):  # back to the last backward step inside the model
        tab.keyboard.press("ArrowLeft")
    loss_box = scopes.index("loss")
    assert "current" in tab.get_attribute(f"#b-box{box}", "class")
    assert "current" not in tab.get_attribute(f"#b-box{loss_box}", "class")
    tab.click(f"#f-box{box}")
    assert str(box) not in tab.evaluate("window.explorer.layout()").split(",") and tab.is_visible(f"#f-c{box}")
    assert errors == []


class HalfExp(ge.Op):
    """e^x whose backward is half what it should be."""

    name = "half_exp"
    saves = ("output",)

    def forward(self, xp, x):
        return xp.exp(x)

    def backward(self, xp, grad, inputs, output):
        return (grad * output * 0.5,)

    def shape(self, x):
        return x


def test_gradcheck_overlay_marks_the_wrong_op_with_both_numbers(open_page, tmp_path):
    g = ge.Graph("wrong backward")
    x = g.input("x", shape=(3,), dtype=np.float64)
    w = g.param("w", np.array([0.5, -1.0, 2.0]))
    e = g.apply(HalfExp(), x * w, name="e")
    loss = ge.ops.sum(ge.ops.tanh(e, name="t"), name="loss")
    run = g.forward({"x": np.array([0.1, 0.2, 0.3])}).backward(loss)
    tab, errors = open_page(explore(g, run, gradcheck=True))
    tab.keyboard.press("End")
    assert "check-bad" in tab.get_attribute(f"#b-n{e.id}", "class")
    assert "check-bad" not in tab.get_attribute(f"#b-n{g.node('t').id}", "class")
    tab.click(f"#b-n{e.id}")
    assert tab.inner_text("#panel-check") == "MISMATCH"
    analytic = float(tab.inner_text("[data-check=analytic]"))
    numeric = float(tab.inner_text("[data-check=numeric]"))
    assert analytic == pytest.approx(numeric / 2, rel=1e-4)
    tab.uncheck("#ov-check")
    assert "check-bad" not in tab.get_attribute(f"#b-n{e.id}", "class")
    screenshot(tab, tmp_path, "gradcheck")
    assert errors == []


def test_mnist_sized_mlp_stays_responsive_with_images_and_memory(open_page, tmp_path):
    rng = np.random.default_rng(0)
    model = ge.nn.Sequential(ge.nn.Dense(784, 100), "sigmoid", ge.nn.Dense(100, 10), seed=0)
    page = explore(model, rng.random((16, 784)).astype(np.float32), rng.integers(0, 10, 16), loss="cross_entropy")
    tab, errors = open_page(page, "mlp")
    elapsed = tab.evaluate("""() => { const t = performance.now();
        for (let k = 0; k <= window.explorer.total; k++) window.explorer.go(k);
        return performance.now() - t; }""")
    assert elapsed < 5000  # every step rendered once, well under a few seconds
    W = page.graph.node("sequential/dense_1/W")
    tab.click(f"#f-n{W.id}")
    image = tab.query_selector("#panel-value img.tensor")
    assert image is not None and image.evaluate("i => i.naturalWidth") > 0
    stats = {el.get_attribute("data-stat"): float(el.inner_text())
             for el in tab.query_selector_all("#panel-grad [data-stat]")}
    assert stats["mean"] == pytest.approx(float(page.run.grad(W).mean()), rel=1e-2, abs=1e-6)
    tab.check("#ov-memory")
    tab.evaluate("window.explorer.go(3)")
    assert "holds" in tab.inner_text("#memory-now")
    screenshot(tab, tmp_path, "mlp_memory")
    assert errors == []


def test_the_jupyter_display_runs_the_page_in_its_iframe(browser):
    g, run = worked_examples.chain_rule()
    tab = browser.new_page()
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.set_content(f"<html><body><p>notebook output</p>{explore(g, run)._repr_html_()}</body></html>")
        frame = tab.frames[1]
        frame.wait_for_function("window.explorer !== undefined && window.explorer.total === 12", timeout=10000)
        frame.click("#last")
        assert frame.inner_text("#counter").startswith("step 12 of 12")
        assert errors == []
    finally:
        tab.close()
