"""Pooling layers and Dropout2d: scopes, shapes, values, training/evaluation paths, errors."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError


def _graph(shape=(None, 3, 8, 8)):
    g = ge.Graph("pools")
    return g, g.input("x", shape=shape, dtype="float32")


@pytest.mark.parametrize("layer, op, out_shape", [
    (lambda: ge.nn.MaxPool2d(2), "max_pool2d", (None, 3, 4, 4)),
    (lambda: ge.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), "max_pool2d", (None, 3, 5, 5)),
    (lambda: ge.nn.AvgPool2d((2, 4)), "avg_pool2d", (None, 3, 4, 2)),
    (lambda: ge.nn.AvgPool2d(3, 1, 1, count_include_pad=False), "avg_pool2d", (None, 3, 8, 8)),
    (lambda: ge.nn.AdaptiveAvgPool2d((2, None)), "adaptive_avg_pool2d", (None, 3, 2, 8)),
])
def test_2d_layers_add_their_op_under_their_scope(layer, op, out_shape):
    g, x = _graph()
    module = layer()
    y = module(x)
    assert y.op == op and y.shape == out_shape and y.scope == op
    assert module.parameter_count() == 0 and module.params() == [] and not module.is_mode_dependent
    X = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    value = g.forward({x: X}).value(y)
    g2, x2 = _graph()
    direct = getattr(ge.ops, op)(x2, **module.attrs())  # the layer is the op with the layer's attributes
    np.testing.assert_array_equal(value, g2.forward({x2: X}).value(direct))


def test_1d_layers():
    g, x = _graph((None, 4, 10))
    assert ge.nn.MaxPool1d(3, stride=1, padding=1)(x).shape == (None, 4, 10)
    assert ge.nn.AvgPool1d(2)(x).shape == (None, 4, 5)


def test_global_avg_pool_gives_channel_means():
    g, x = _graph()
    flat = ge.nn.GlobalAvgPool2d()(x)
    kept = ge.nn.GlobalAvgPool2d(keepdims=True)(x)
    assert flat.shape == (None, 3) and kept.shape == (None, 3, 1, 1)
    X = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    run = g.forward({x: X})
    np.testing.assert_allclose(run.value(flat), X.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(run.value(kept), X.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    assert run.value(flat).dtype == np.float32


def test_in_a_sequential_cnn_with_summary():
    g, x = _graph((None, 1, 12, 12))
    model = ge.nn.Sequential(ge.nn.MaxPool2d(2), ge.nn.Dropout2d(0.25), ge.nn.AvgPool2d(2), ge.nn.Flatten(),
                             ge.nn.Dense(9, 2), seed=0)
    logits = model(x)
    assert logits.shape == (None, 2)
    names = [n.name for n in g.nodes() if n.kind == "op"]
    assert any(n.startswith("sequential/max_pool2d_1/") for n in names)
    assert any(n.startswith("sequential/dropout2d_1/") for n in names)
    text = model.summary()
    assert "MaxPool2d" in text and "(?, 1, 6, 6)" in text and "Dropout2d" in text
    assert model.is_mode_dependent
    loss = ge.ops.mean(ge.ops.sum(logits * logits, axis=1))
    run = g.forward({x: np.ones((4, 1, 12, 12), np.float32)})
    run.backward(loss)
    assert run.grad(model.params()[0]).shape == (9, 2)


def test_dropout2d_paths():
    g, x = _graph((None, 16, 3, 3))
    layer = ge.nn.Dropout2d(0.5)
    train = layer(x)
    assert train.op == "dropout2d" and train.attrs["training"] is True
    assert layer(x, training=False) is x
    X = np.ones((32, 16, 3, 3), np.float32)
    out = g.forward({x: X}, fetch=[train]).value(train)
    per_channel = out.reshape(32, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()
    assert 0.3 < (out == 0).mean() < 0.7
    out2 = g.forward({x: X}, fetch=[train]).value(train)
    assert not np.array_equal(out, out2)  # a fresh mask at every run
    assert ge.nn.Dropout2d(0.0)(x) is x


@pytest.mark.parametrize("make, words", [
    (lambda: ge.nn.MaxPool2d(0), "kernel_size must be an int >= 1"),
    (lambda: ge.nn.MaxPool2d((2, 2, 2)), "tuple of 2"),
    (lambda: ge.nn.AvgPool2d(2, stride=0), "stride"),
    (lambda: ge.nn.AvgPool1d(2, padding=-1), "padding"),
    (lambda: ge.nn.AvgPool2d(2, divisor_override=0), "divisor_override"),
    (lambda: ge.nn.AdaptiveAvgPool2d(0), "output_size"),
    (lambda: ge.nn.Dropout2d(1.5), "in [0, 1]"),
])
def test_bad_arguments_are_refused_at_construction(make, words):
    with pytest.raises(ModuleError) as info:
        make()
    assert words in str(info.value)


def test_geometry_errors_name_the_layer_node():
    g, x = _graph((None, 3, 4, 4))
    with pytest.raises(ge.ShapeError) as info:
        ge.nn.MaxPool2d(5, name="pool")(x)
    assert "pool/" in str(info.value) and "(None, 3, 4, 4)" in str(info.value)
    g, x = _graph((None, 48))
    with pytest.raises(ModuleError, match=r"\(N, C, H, W\)"):
        ge.nn.GlobalAvgPool2d()(x)


def test_fit_trains_through_pooling_and_dropout2d():
    """The compiled training step runs the pooling ops and dropout2d; the evaluation path has no dropout."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2, 6, 6)).astype(np.float32)
    y = (X[:, 0].mean(axis=(1, 2)) > X[:, 1].mean(axis=(1, 2))).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.AvgPool2d(2), ge.nn.Dropout2d(0.2), ge.nn.MaxPool2d(3, stride=1, padding=1),
                             ge.nn.GlobalAvgPool2d(), ge.nn.Dense(2, 2), seed=0)
    history = ge.training.fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=8,
                              batch_size=16, seed=0, progress=False)
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]
    assert history.trainer.evaluate(X, y)["accuracy"] > 0.6  # above chance: the gradients flow


def test_dropout2d_training_is_reproducible_with_a_seed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 2, 4, 4))
    y = rng.integers(0, 2, size=32)

    def train():
        model = ge.nn.Sequential(ge.nn.Dropout2d(0.5), ge.nn.Flatten(), ge.nn.Dense(32, 2, dtype="float64"), seed=0)
        history = ge.training.fit(model, X, y, epochs=2, batch_size=8, dtype="float64", progress=False, seed=0)
        return history["loss"], [p.value.copy() for p in model.graph.params()]

    (loss_a, weights_a), (loss_b, weights_b) = train(), train()
    assert loss_a == loss_b and all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b))
    layer = ge.nn.Dropout2d(0.3, seed=7)
    assert type(layer).from_config(layer.get_config()).seed == 7
