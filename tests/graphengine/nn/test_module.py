"""A model as an object: model.graph, build, predict, evaluate and layer_info."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import LayerInfo, ModuleError


def _data(rng, n=40, features=4):
    X = rng.standard_normal((n, features)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def test_graph_before_build_says_how_to_build_and_after_is_the_graph():
    model = ge.nn.Sequential(ge.nn.Dense(4, 2))
    assert not model.built
    with pytest.raises(ModuleError, match=r"not built yet, so it has no graph: call it on an input node.*"
                                          r"model.build\(\(None, 784\)\).*fit.*predict"):
        model.graph
    out = model.build((None, 4))
    assert model.graph is out.graph and model.graph.name == "sequential" and model[0].graph is model.graph
    assert out.name == "sequential/dense_1/add" and model.graph.node("x").shape == (None, 4)
    with pytest.raises(ModuleError, match="already built"):
        model.build((None, 4))
    with pytest.raises(ModuleError, match=r"with its batch axis, e.g. \(None, 784\)"):
        ge.nn.Dense(4, 2).build(4)


def test_predict_builds_a_model_that_was_never_built(rng):
    X, _ = _data(rng)
    model = ge.nn.Sequential(ge.nn.Dense(None, 3), "tanh", seed=0)
    out = model.predict(X, batch_size=7)
    assert out.shape == (40, 3) and out.dtype == np.float32 and model.built
    W, b = model[0].W.value, model[0].b.value
    np.testing.assert_allclose(out, np.tanh(X @ W + b), rtol=1e-5, atol=1e-6)
    before = model.graph.nodes()
    np.testing.assert_array_equal(model.predict(X), out)  # the same nodes run again, nothing added
    assert model.graph.nodes() == before
    assert model.predict(X[:0]).shape == (0, 3)


def test_predict_of_an_embedding_model_feeds_integer_ids(rng):
    model = ge.nn.Sequential(ge.nn.Embedding(10, 2), ge.nn.Flatten(), seed=0)
    ids = rng.integers(0, 10, size=(6, 3))
    out = model.predict(ids)
    np.testing.assert_array_equal(out, model[0].params()[0].value[ids].reshape(6, 6))
    with pytest.raises(ModuleError, match=r"takes integer ids \(int64\), got X of dtype float32"):
        model.predict(ids.astype(np.float32))


def test_predict_of_a_model_with_dropout_uses_an_evaluation_path_once(rng):
    X, _ = _data(rng)
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 4))
    model = ge.nn.Sequential(ge.nn.Dense(4, 16), "relu", ge.nn.Dropout(0.5), ge.nn.Dense(16, 2), seed=0)
    model(x)  # the training path, with dropout
    first = model.predict(X)
    names = [n.name for n in g.nodes()]
    assert "predict/x" in names and "predict/sequential/dense_1/matmul" in names
    assert not any("dropout" in n for n in names if n.startswith("predict/"))
    np.testing.assert_array_equal(model.predict(X), first)  # no dropout: the same twice
    assert [n.name for n in g.nodes()] == names  # made once
    dense = model.layer_info()
    assert dense[0].inputs == (x,)  # layer_info shows the first (training) call


def test_predict_and_evaluate_of_a_trained_model_are_its_trainers(rng):
    X, y = _data(rng)
    model = ge.nn.Sequential(ge.nn.Dense(4, 8), "relu", ge.nn.Dense(8, 2), seed=0)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.05, epochs=3, batch_size=8, seed=0, progress=False)
    trainer = history.trainer
    assert model.trainer is trainer and model.optimizer is trainer.optimizer and model.graph is trainer.graph
    np.testing.assert_array_equal(model.predict(X), trainer.predict(X))
    assert model.evaluate(X, y) == trainer.evaluate(X, y)
    # the same numbers through evaluate's own path (loss given explicitly)
    own = model.evaluate(X, y, loss="cross_entropy", metrics=["accuracy"], batch_size=9)
    assert own.keys() == {"loss", "accuracy"}
    assert own["accuracy"] == trainer.evaluate(X, y)["accuracy"]
    np.testing.assert_allclose(own["loss"], trainer.evaluate(X, y)["loss"], rtol=1e-5)


def test_evaluate_without_a_trainer_needs_a_loss(rng):
    X, y = _data(rng)
    model = ge.nn.Sequential(ge.nn.Dense(4, 2), seed=0)
    with pytest.raises(ModuleError, match=r"does not know the loss: pass loss=, e.g. "
                                          r"model.evaluate\(X, y, loss='cross_entropy'\)"):
        model.evaluate(X, y)
    with pytest.raises(ge.UnknownOpError, match="cross_entropy"):
        model.evaluate(X, y, loss="cross_entropopy")
    result = model.evaluate(X, y, loss="cross_entropy")
    logits = model.predict(X)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(result["loss"], -log_p[np.arange(40), y].mean(), rtol=1e-5)
    assert result["accuracy"] == float((logits.argmax(axis=1) == y).mean())


def test_evaluate_with_an_element_loss_a_loss_function_and_metric_functions(rng):
    X, _ = _data(rng)
    target = X[:, :1] * 2.0
    model = ge.nn.Dense(4, 1, seed=0)
    pred = model.predict(X)
    mse = model.evaluate(X, target[:, 0], loss="mse", metrics=["mae"])  # (N,) targets fit the (N, 1) output
    np.testing.assert_allclose(mse["loss"], np.mean((pred - target) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mse["mae"], np.mean(np.abs(pred - target)), rtol=1e-5)

    def worst(p, t):
        return float(np.max(np.abs(p - t)))

    def half_squares(output, target_node):
        return ge.ops.square(output - target_node) * 0.5

    custom = model.evaluate(X, target, loss=half_squares, metrics=[worst])
    np.testing.assert_allclose(custom["loss"], np.mean((pred - target) ** 2) / 2, rtol=1e-5)
    np.testing.assert_allclose(custom["worst"], np.max(np.abs(pred - target)), rtol=1e-6)
    with pytest.raises(ModuleError, match="one row per example of X"):
        model.evaluate(X, target[:3], loss="mse")
    with pytest.raises(ModuleError, match="loss must be an op name or a function"):
        model.evaluate(X, target, loss=3)


def test_layer_info_gives_each_layer_its_scope_nodes_shapes_and_counts():
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 1, 8, 8))
    model = ge.nn.Sequential(ge.nn.Conv2d(1, 2, 3, padding=1), "relu", ge.nn.MaxPool2d(2), ge.nn.Flatten(),
                             ge.nn.Sequential(ge.nn.Dense(32, 10), name="head"), seed=0)
    unbuilt = model.layer_info()
    assert [r.path for r in unbuilt] == [""] * 7 and unbuilt[1].params == 20 and unbuilt[1].output is None
    out = model(x)
    rows = model.layer_info()
    assert all(isinstance(r, LayerInfo) for r in rows)
    assert [(r.name, r.depth, r.type) for r in rows] == [
        ("sequential", 0, "Sequential"), ("conv2d_1", 1, "Conv2d"), ("relu_1", 1, "Activation"),
        ("max_pool2d_1", 1, "MaxPool2d"), ("flatten_1", 1, "Flatten"), ("head", 1, "Sequential"),
        ("dense_1", 2, "Dense")]
    assert [r.path for r in rows] == ["sequential", "sequential/conv2d_1", "sequential/relu_1",
                                      "sequential/max_pool2d_1", "sequential/flatten_1", "sequential/head",
                                      "sequential/head/dense_1"]
    conv, pool, dense = rows[1], rows[3], rows[6]
    assert conv.inputs == (x,) and conv.input_shapes == ((None, 1, 8, 8),) and conv.output_shape == (None, 2, 8, 8)
    assert conv.output.scope == "sequential/conv2d_1" and conv.params == conv.total_params == 20
    assert pool.inputs[0] is rows[2].output and pool.output_shape == (None, 2, 4, 4) and pool.params == 0
    assert dense.input_shapes == ((None, 32),) and dense.output is out and dense.params == 330
    assert rows[0].output is out and rows[0].total_params == 350 and rows[0].params == 0
    assert rows[5].total_params == 330 and rows[0].module is model
