"""The docstring examples of graphengine.visualize, the gallery's numbers against the
decks, and the example scripts."""

import doctest
import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from graphengine.visualize import draw, gallery

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["", ".draw", ".labels", ".heatmap", ".gallery"])
def test_docstring_examples(name):
    module = importlib.import_module(f"graphengine.visualize{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_gallery_matches_the_slides():
    g, run = gallery.chain_rule()  # deck 002: dy/dw1 = w2·e^(w1·x)·x, dy/dw2 = e^(w1·x)
    e = np.exp(0.5)
    assert float(run.value("y")) == pytest.approx(2 * e)
    assert float(run.grad("w1")) == pytest.approx(2 * e) and float(run.grad("w2")) == pytest.approx(e)
    g, run = gallery.theta_loss()  # deck 004: dL/dθ1 = 2(θ1θ2x − y)xθ2
    assert float(run.value("L")) == 4.0
    assert float(run.grad("θ1")) == 2 * 2 * 3 * 0.5 and float(run.grad("θ2")) == 2 * 2 * 3 * 2
    g, run = gallery.perceptron()  # deck 003: g(-6) ≈ 0.002
    assert float(run.value("z")) == -6.0
    assert float(run.value("ŷ")) == pytest.approx(1 / (1 + np.exp(6)))
    g, run = gallery.logistic_regression()  # deck 001: dl/dW = (h - c)·xᵀ
    h = float(run.value("h")[0, 0])
    assert h == pytest.approx(1 / (1 + np.exp(-0.1272)))
    np.testing.assert_allclose(run.grad("W"), np.full((1, 3), h - 1.0))
    g, run = gallery.xor_network()  # deck 002: OR and NAND, then AND
    assert np.round(run.value("output/p")).ravel().tolist() == [0, 1, 1, 0]
    g, run = gallery.network_6_4_3_1()  # deck 000: 47 learnable parameters
    assert g.parameter_count() == 47


def test_chain_rule_example_script(dot_executable, tmp_path):
    script = REPO / "examples" / "diagrams" / "chain_rule.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert "dy/dw1 = 3.2974" in result.stdout
    for mode in ("structure", "forward", "backward", "both"):
        for fmt in ("svg", "png"):
            assert (tmp_path / f"chain_rule_{mode}.{fmt}").stat().st_size > 1000


def test_benchmark_builds_graphs_of_the_asked_size():
    sys.path.insert(0, str(REPO / "examples" / "diagrams"))
    try:
        from benchmark_render import build
    finally:
        sys.path.pop(0)
    g, run = build(200)
    assert 190 <= len(g) <= 200
    assert "collapsed scope" in draw(g, run, collapse=True).source
