"""fit and Trainer: unknown keywords refused with "did you mean" before anything is built;
a failed fit or build leaves the graph, the model and the trainer as they were; the
History knows its model and a ge.nn model knows its trainer."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import Trainer, TrainingError, UnknownArgumentError


def mlp(seed=0):
    return ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=seed)


def node_names(graph):
    return [n.name for n in graph.nodes()]


def test_fit_refuses_a_misspelt_keyword_naming_its_own_parameter():
    X, y = ge.data.two_moons(20, seed=0)
    model = mlp()
    with pytest.raises(UnknownArgumentError, match=r"fit\(\) got an unknown keyword argument 'epoch'\. "
                                                   r"Did you mean 'epochs'\?") as info:
        ge.training.fit(model, X, y, epoch=3)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ge.GraphEngineError)
    assert "hyper-parameters of the optimizer 'sgd', which takes lr" in str(info.value)
    assert not model.built  # refused before anything was built
    with pytest.raises(UnknownArgumentError, match=r"fit\(\) .*'batchsize'\. Did you mean 'batch_size'"):
        ge.training.fit(model, X, y, batchsize=3)
    with pytest.raises(UnknownArgumentError, match=r"Trainer\(\) got an unknown keyword argument 'metric'\. "
                                                   r"Did you mean 'metrics'"):
        Trainer(model, metric=["accuracy"])


def test_optimizer_hyper_parameters_still_pass_through_fit_and_trainer():
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(mlp(), X, y, optimizer="momentum", lr=0.1, momentum=0.8, epochs=1, progress=False)
    assert history.trainer.optimizer.hyper["momentum"] == 0.8
    adam = ge.optimizers.get("adam")
    trainer = Trainer(mlp(), optimizer=adam, lr=0.01, beta1=0.8)
    trainer.fit(X, y, epochs=1, progress=False)
    assert trainer.optimizer.hyper["beta1"] == 0.8
    with pytest.raises(UnknownArgumentError, match="'beta'.*Did you mean 'beta2' or 'beta1'"):
        Trainer(mlp(), optimizer="adam", beta=0.8)
    # an optimizer already made (or a factory) takes no hyper-parameters through fit
    with pytest.raises(UnknownArgumentError, match="'momentum'.*the optimizer given \\(function\\) is already made"):
        Trainer(mlp(), optimizer=lambda params: ge.optimizers.create("sgd", params), momentum=0.9)


def test_failed_fit_on_a_built_model_leaves_its_graph_as_it_was():
    X, y = ge.data.two_moons(40, seed=0)
    model = mlp()
    first = ge.training.fit(model, X, y, epochs=1, progress=False)
    graph = model.graph
    before, version = node_names(graph), graph.version
    weights = ge.training.snapshot(graph)
    with pytest.raises(TrainingError, match=r"X holds examples of shape \(3,\) .* but model 'sequential' was built "
                                            r"for inputs of shape \(None, 2\) \(input node 'x'\)"):
        ge.training.fit(model, np.zeros((40, 3)), y, epochs=1, progress=False)  # wrong width
    with pytest.raises(TrainingError, match="must be integer class labels.*whole numbers \\(0 to 1\\)"):
        ge.training.fit(model, X, y.astype(float), epochs=1, progress=False)  # float class labels
    assert node_names(graph) == before and graph.version == version
    assert model.trainer is first.trainer
    after = ge.training.snapshot(graph)
    assert all(np.array_equal(weights[k], after[k]) for k in weights)
    # a plain forward asks only for the feed it always did
    out = graph.forward({"x": X}, fetch=[first.trainer.output]).value(first.trainer.output)
    assert out.shape == (40, 2)
    # and a later correct fit goes on with the same trainer, adding no node
    second = ge.training.fit(model, X, y, epochs=1, progress=False)
    assert second.trainer is first.trainer and model.trainer is second.trainer
    assert node_names(graph) == before


def test_failed_first_fit_leaves_the_model_unbuilt_and_the_next_build_identical():
    X, y = ge.data.two_moons(40, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2))
    with pytest.raises(TrainingError, match="must be integers"):
        ge.training.fit(model, X, y.astype(float), epochs=1, seed=5, progress=False)
    assert not model.built and model.seed is None and getattr(model, "trainer", None) is None
    assert not any(m.built for m in model.modules())
    # bad validation targets are found after the build: the build is undone too
    with pytest.raises(TrainingError, match=r"dtype float64 for loss 'loss/cross_entropy' \(cross_entropy\) must be "
                                            "integer class labels"):
        ge.training.fit(model, X, y, validation_data=(X, y.astype(float)), epochs=1, seed=5, progress=False)
    assert not model.built
    fixed = ge.training.fit(model, X, y, epochs=1, seed=5, progress=False)
    fresh = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2)), X, y, epochs=1, seed=5,
                            progress=False)
    assert node_names(fixed.trainer.graph) == node_names(fresh.trainer.graph)
    assert fixed["loss"] == fresh["loss"]


def test_failed_fit_of_a_hand_built_graph_removes_its_target_and_loss():
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.zeros((2, 2), np.float32))
    logits = x @ W
    before = node_names(g)
    trainer = Trainer(logits, loss="cross_entropy")
    X, y = ge.data.two_moons(20, seed=0)
    with pytest.raises(TrainingError, match="must be integers"):
        trainer.fit(X, y.astype(float), epochs=1, progress=False)
    assert node_names(g) == before and not trainer.built and trainer.graph is None
    history = trainer.fit(X, y, epochs=1, progress=False)
    assert history.model is logits and trainer.built


def test_history_model_and_model_trainer():
    X, y = ge.data.two_moons(40, seed=0)
    model = mlp()
    history = ge.training.fit(model, X, y, epochs=1, progress=False)
    assert history.model is model and model.trainer is history.trainer
    assert history.trainer.model is model


def test_build_alone_is_all_or_nothing_too():
    X, y = ge.data.two_moons(20, seed=0)
    model = mlp()
    trainer = Trainer(model)
    with pytest.raises(ge.GraphEngineError):
        trainer.build(np.zeros((20, 5)), y)
    assert not trainer.built and not model.built
    assert trainer.build(X, y) is trainer and trainer.built and model.trainer is trainer
