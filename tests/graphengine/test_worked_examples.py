"""The one set of worked-example graphs (graphengine/worked_examples.py), shared by
`graphengine demo` and the diagram gallery (graphengine.visualize.gallery)."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import graphengine as ge
from graphengine import demo, worked_examples

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_gallery_draws_the_very_builders_of_the_demo():
    from graphengine.visualize import gallery

    for name in worked_examples.__all__:
        assert getattr(gallery, name) is getattr(worked_examples, name), name
    assert list(gallery.WORKED_EXAMPLES) == ["chain_rule", "theta_loss", "logistic_regression", "perceptron",
                                             "xor_network"]


@pytest.mark.parametrize("path", ["graphengine/demo.py", "visualize/gallery.py"])
def test_neither_the_demo_nor_the_gallery_builds_graphs_of_its_own(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    builders = [getattr(f, "attr", getattr(f, "id", None)) for f in calls]
    assert not {"Graph", "param", "input"} & set(builders), f"{path} builds a graph: use graphengine.worked_examples"


def test_chain_rule_values_and_gradients():
    _, run = worked_examples.chain_rule()
    e = np.exp(0.5)
    assert float(run.value("y")) == pytest.approx(2 * e)
    assert float(run.grad("w1")) == pytest.approx(2 * e)
    assert float(run.grad("w2")) == pytest.approx(e)
    assert float(run.grad("x")) == pytest.approx(e)


def test_xor_network_default_weights_compute_xor():
    _, run = worked_examples.xor_network()
    np.testing.assert_array_equal(np.round(run.value("output/p")).ravel(), [0, 1, 1, 0])


def test_xor_network_with_other_weights_and_activation():
    weights = {"W1": np.eye(2), "b1": np.zeros(2), "W2": np.ones((2, 1)), "b2": np.zeros(1)}
    g, run = worked_examples.xor_network(weights, hidden="tanh")
    assert g.node("hidden/h").op == "tanh"
    np.testing.assert_allclose(run.value("hidden/h"), np.tanh(worked_examples.XOR_X))
    np.testing.assert_array_equal(worked_examples.XOR_WEIGHTS["W1"], [[5.0, -5.0], [5.0, -5.0]])  # not changed


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ge.GraphStructureError, match="weights needs W1, b1, W2 and b2; missing W2, b2"):
        worked_examples.xor_network({"W1": np.eye(2), "b1": np.zeros(2)})
    with pytest.raises(ge.GraphStructureError, match="activation must be 'sigmoid', 'relu' or 'tanh', got 'gelu'"):
        worked_examples.deep_mlp("gelu")


def test_the_demo_trains_the_shared_xor_network():
    g, loss, predictions = demo.xor_training(steps=600)
    assert g.name == worked_examples.xor_network()[0].name and g.node("hidden/h").op == "tanh"
    assert loss < 0.05
    np.testing.assert_array_equal(np.round(predictions), [0, 1, 1, 0])
