"""Whole paths on every backend: runs, compiled steps, fit, predict, save and load give what
NumPy gives. On NumPy these compare the engine with itself (they prove the tests); the
``cupy`` cases run where CuPy sees a GPU (``scripts/gpu_check.sh``) and skip elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.backends import asnumpy
from graphengine.training_step import compile_step
from graphengine.worked_examples import WORKED_EXAMPLES


def _mlp(rng, dtype="float32"):
    g = ge.Graph("mlp")
    x = g.input("x", shape=(None, 6), dtype=dtype)
    y = g.input("y", shape=(None,), dtype="int64")
    W1 = g.param("W1", (rng.normal(size=(6, 5)) * 0.5).astype(dtype))
    b1 = g.param("b1", np.zeros(5, dtype=dtype))
    W2 = g.param("W2", (rng.normal(size=(5, 3)) * 0.5).astype(dtype))
    loss = ge.ops.cross_entropy(ge.ops.tanh(x @ W1 + b1) @ W2, y, reduction="mean")
    return g, loss


def _batch(rng, n=16, dtype="float32"):
    return {"x": rng.normal(size=(n, 6)).astype(dtype), "y": rng.integers(0, 3, size=n)}


@pytest.mark.parametrize("name", sorted(WORKED_EXAMPLES))
def test_worked_examples_give_numpys_values_and_gradients(name, backend):
    g, want = WORKED_EXAMPLES[name]()  # run on NumPy, forward and backward
    nodes = list(g.nodes())
    feeds = {n.name: asnumpy(want.value(n)) for n in nodes if n.kind == "input"}
    want_values = {n.name: asnumpy(want.value(n)) for n in nodes}
    want_grads = {k: asnumpy(v) for k, v in want.grads().items()}
    want_edges = {(n.name, i): want.edge_grad(n, i) for n in nodes for i in range(len(n.inputs))}
    g.to(backend)
    run = g.forward(feeds).backward(want.target)
    assert {n.name: type(run.value(n)) for n in nodes} == {n.name: g.xp.ndarray for n in nodes}
    for n in nodes:
        np.testing.assert_allclose(asnumpy(run.value(n)), want_values[n.name], rtol=1e-6, atol=1e-12,
                                   err_msg=n.name)
    grads = run.grads()
    assert grads.keys() == want_grads.keys()
    for key, value in want_grads.items():
        np.testing.assert_allclose(asnumpy(grads[key]), value, rtol=1e-6, atol=1e-12, err_msg=key)
    for (node, i), value in want_edges.items():
        got = run.edge_grad(node, i)
        assert (got is None) == (value is None), (node, i)
        if value is not None:
            np.testing.assert_allclose(asnumpy(got), asnumpy(value), rtol=1e-6, atol=1e-12, err_msg=f"{node}[{i}]")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_steps_train_as_on_numpy(optimizer, dtype, backend):
    def train(where):
        rng = np.random.default_rng(0)
        g, loss = _mlp(rng, dtype)
        g.to(where)
        step = compile_step(loss, ge.optimizers.create(optimizer, g.params(), lr=0.1))
        losses = []
        for _ in range(4):  # the first call is interpreted, the next ones run generated code
            feeds = _batch(rng, dtype=dtype)
            step({k: g.xp.asarray(v) for k, v in feeds.items()})
            losses.append(float(asnumpy(step.value(loss))))
        return losses, {p.name: asnumpy(p.value) for p in g.params()}

    want_losses, want_params = train("numpy")
    losses, params = train(backend)
    rtol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(losses, want_losses, rtol=rtol)
    for name, value in want_params.items():
        assert params[name].dtype == np.dtype(dtype)
        np.testing.assert_allclose(params[name], value, rtol=rtol, atol=1e-6 if dtype == "float32" else 1e-12)


def test_a_compiled_step_on_cupy_never_waits_for_the_gpu():
    """The generated step launches work and returns: no device synchronisation (no host
    read, no implicit copy) inside it."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    import cupyx

    rng = np.random.default_rng(0)
    g, loss = _mlp(rng)
    g.to("cupy")
    step = compile_step(loss, ge.optimizers.create("adam", g.params(), lr=0.01))
    feeds = {k: cupy.asarray(v) for k, v in _batch(rng).items()}
    for _ in range(3):  # interpreted first call (checks everything), then generated code
        step(feeds)
    with cupyx.allow_synchronize(False):
        for _ in range(5):
            step(feeds)
    assert np.isfinite(float(step.value(loss)))


def _classifier(seed):
    return ge.nn.Sequential(ge.nn.Dense(6, 8), "relu", ge.nn.Dense(8, 3), seed=seed)


def _data(n=96):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)
    return X, y


def test_fit_on_a_model_moved_with_to_trains_as_on_numpy(backend, tmp_path):
    X, y = _data()

    def fit_on(where):
        model = _classifier(0).to(where)
        history = ge.training.fit(model, X, y, optimizer="momentum", lr=0.1, momentum=0.9, epochs=3,
                                  batch_size=16, metrics=["accuracy"], validation_split=0.25, seed=0)
        return model, history

    want_model, want = fit_on("numpy")
    model, history = fit_on(backend)
    assert model.graph.backend == backend
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[key], want[key], rtol=1e-4, err_msg=key)
    pred = model.predict(X)
    assert type(pred) is np.ndarray and pred.dtype == np.float32
    np.testing.assert_allclose(pred, want_model.predict(X), rtol=1e-4, atol=1e-5)
    # saved on the device, loaded on the host: the same predictions
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = ge.nn.load(path)
    assert loaded.graph.backend == "numpy"
    np.testing.assert_allclose(loaded.predict(X), pred, rtol=1e-5, atol=1e-6)


def test_a_model_trained_on_numpy_goes_on_training_on_another_backend(backend):
    X, y = _data()

    def two_fits(where):
        model = _classifier(0)
        ge.training.fit(model, X, y, optimizer="momentum", lr=0.1, momentum=0.9, epochs=1, batch_size=16, seed=0)
        model.to(where)
        history = ge.training.fit(model, X, y, optimizer="momentum", lr=0.1, momentum=0.9, epochs=2,
                                  batch_size=16)
        return history, model

    want, _ = two_fits("numpy")
    history, model = two_fits(backend)
    assert model.graph.backend == backend
    assert all(type(v) is model.graph.xp.ndarray for st in model.optimizer.state.values() for v in st.values()
               if hasattr(v, "shape"))
    np.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-4)


def test_a_cnn_with_batch_norm_and_dropout_trains_on_every_backend(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64)
    model = ge.nn.Sequential(
        ge.nn.Conv2d(1, 4, kernel_size=3, padding=1), ge.nn.BatchNorm2d(4), "relu", ge.nn.MaxPool2d(2),
        ge.nn.Flatten(), ge.nn.Dropout(0.2), ge.nn.Dense(64, 2), seed=0).to(backend)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=4, batch_size=16,
                              metrics=["accuracy"], seed=0)
    assert model.graph.backend == backend
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    assert model.evaluate(X, y)["accuracy"] > 0.6


def test_to_before_build_makes_the_graph_there_and_refuses_another_backends_graph(backend):
    model = _classifier(0).to(backend)
    out = model.build((None, 6))
    assert out.graph.backend == backend and model.graph is out.graph
    assert model.to(backend) is model
    other = ge.nn.Sequential(ge.nn.Dense(6, 2)).to("numpy")
    if backend != "numpy":
        g = ge.Graph("host")
        with pytest.raises(ge.nn.ModuleError, match="is on 'numpy'"):
            other.to(backend)(g.input("x", shape=(None, 6)))
        assert not other.built


def test_to_an_unknown_backend_is_refused_and_changes_nothing():
    model = _classifier(0)
    with pytest.raises(ge.UnknownNameError, match="'numpy'"):
        model.to("nunpy")
    assert model.build((None, 6)).graph.backend == "numpy"
