"""The explorer's folded layouts: build_dot(..., folded=) draws a scope as one box with its
edges redirected and merged; explore embeds the panes laid out again for a bounded number of
folded sets, as <template> elements. (The swap in a browser: test_explore_browser.py.)"""

import re
import sys

import numpy as np
import pytest

import graphengine as ge
from graphengine import worked_examples
from graphengine.visualize import explore
from graphengine.visualize.explorer_layout import build_dot, render_svg
from graphengine.visualize.explorer_variants import folded_sets

pytestmark = pytest.mark.usefixtures("dot_executable")
variants_module = sys.modules["graphengine.visualize.explorer_variants"]


def mlp_page(**options):
    rng = np.random.default_rng(0)
    model = ge.nn.Sequential(ge.nn.Dense(6, 5), "sigmoid", ge.nn.Dense(5, 3), seed=0)
    return explore(model, rng.random((4, 6)), rng.integers(0, 3, 4), loss="cross_entropy", **options)


def line(source, start):
    """The one line of DOT text that starts with ``start`` (after its tab)."""
    found = [text for text in source.splitlines() if text.strip().startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def test_a_folded_scope_is_one_box_with_its_edges_redirected_and_merged():
    g, run = worked_examples.xor_network()
    page = explore(g, run).data["page"]
    hidden = g.node("hidden/h")
    source = build_dot(page, "forward", folded=(0,)).source
    assert 'box0 [label=<hidden (collapsed)<BR/><FONT POINT-SIZE="9" COLOR=' in source
    assert "5 nodes · 6 parameters" in source
    for member in ("hidden/W", "hidden/b", "hidden/xW", "hidden/s", "hidden/h"):  # none drawn on its own
        assert f"\tn{g.node(member).id} [" not in source
    # x -> hidden/xW becomes x -> box0 (its own id kept); hidden/h -> output/hW box0 -> output/hW
    hW = g.node("output/hW")
    assert f"n{g.node('x').id} -> box0" in source
    assert f'id="f-e{hW.id}_0"' in line(source, f"box0 -> n{hW.id} [")
    assert "cluster_0" not in source and "cluster_1" in source
    # both scopes folded: hidden/h -> output/hW is the only edge between the boxes; output's
    # loss edges: output/p -> loss and y -> loss stay apart (different tails)
    both = build_dot(page, "backward", folded=(0, 1)).source
    assert f'id="b-e{hW.id}_0"' in line(both, "box0 -> box1 [") and "dir=back" in line(both, "box0 -> box1 [")
    svg = render_svg(build_dot(page, "forward", folded=(0,)), {n["id"]: n["name"] for n in page["nodes"]},
                     page["scopes"])
    assert '<g id="f-box0" class="node folded-box" data-scope="0">' in svg
    assert "<title>hidden (collapsed): click to expand</title>" in svg
    assert f'id="f-n{hidden.id}"' not in svg


def test_parallel_edges_into_a_box_are_merged_into_one():
    g = ge.Graph("parallel")
    x = g.input("x", shape=(3,), dtype=np.float64)
    with g.scope("layer"):
        a = ge.ops.tanh(x, name="a")
        b = ge.ops.exp(x, name="b")
        c = ge.ops.mul(a, b, name="c")
    loss = ge.ops.sum(c, name="loss")
    run = g.forward({"x": np.array([0.1, 0.2, 0.3])}).backward(loss)
    page = explore(g, run).data["page"]
    source = build_dot(page, "backward", folded=(0,)).source
    assert source.count(f"n{x.id} -> box0") == 1  # x feeds a and b: one edge, labelled with the count
    assert 'id="b-m0"' in source and "label=\"×2\"" in source
    assert f"box0 -> n{loss.id}" in source
    assert "n" + str(a.id) + " ->" not in source  # a -> c is inside the box: not drawn


def test_layouts_are_made_for_each_layer_all_layers_and_the_start():
    page = mlp_page()
    scopes = [s["path"] for s in page.data["page"]["scopes"]]
    assert scopes == ["sequential", "sequential/dense_1", "sequential/sigmoid_1", "sequential/dense_2", "loss"]
    # all layers (the sub-scopes of the model, and loss), each alone, then the top-level model
    assert page.data["options"]["folded_layouts"] == ["1,2,3,4", "1", "2", "3", "4", "0"]
    templates = re.findall(r'<template data-folded="([0-9,]+)" data-pane="([fb])">', page.html)
    assert templates == [(k, p) for k in ["1,2,3,4", "1", "2", "3", "4", "0"] for p in "fb"]
    assert mlp_page().html == page.html  # deterministic
    # a folded layout of dense_1 takes less room than the page's own layout
    sizes = [tuple(float(v) for v in re.search(r'<svg[^>]* width="([\d.]+)pt" height="([\d.]+)pt"', part).groups())
             for part in (page.html.split('id="pane-forward"')[1], page.html.split('data-folded="1" data-pane="f">')[1])]
    assert sizes[1][0] * sizes[1][1] < 0.8 * sizes[0][0] * sizes[0][1]
    # the scopes folded at the start get a layout of their own
    start = mlp_page(collapse=["sequential/dense_1", "loss"])
    assert start.data["options"]["collapsed"] == [1, 4]
    assert start.data["options"]["folded_layouts"][:2] == ["1,4", "1,2,3,4"]


def test_folded_layouts_are_bounded(monkeypatch):
    page = mlp_page().data["page"]
    monkeypatch.setattr(variants_module, "MAX_FOLDED_SCOPES", 2)
    assert folded_sets(page) == [(1, 2, 3, 4), (1,), (2,)]
    monkeypatch.setattr(variants_module, "MAX_NODES", len(page["nodes"]) - 1)
    assert folded_sets(page) == []
    monkeypatch.undo()
    monkeypatch.setattr(variants_module, "BUDGET_BYTES", 1)  # no room: folding hides nodes, as without layouts
    small = mlp_page()
    assert small.data["options"]["folded_layouts"] == [] and "<template data-folded=" not in small.html
    g, run = worked_examples.chain_rule()  # no scopes, nothing to fold
    assert explore(g, run).data["options"]["folded_layouts"] == []
