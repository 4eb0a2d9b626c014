"""Training a model again: ``fit`` on a model that ``fit`` trained before goes on with its
trainer (no new node, the same optimizer and state, the data order where it stopped), or,
when the loss or another setting changes, builds only the new loss parts on the model's
forward path."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import TrainingError, UnknownArgumentError
from graphengine.visualize import draw


def data(n=64):
    return ge.data.two_moons(n, noise=0.2, seed=0)


def model_with_dropout():
    return ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dropout(0.3), ge.nn.Dense(8, 2))


def weights(model):
    return [p.value.copy() for p in model.params()]


def test_repeated_fits_add_no_node_and_draw_the_same_model():
    X, y = data()
    model = model_with_dropout()
    first = ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=1, batch_size=8, seed=0, progress=False)
    graph = model.graph
    names = [n.name for n in graph.nodes()]
    picture = draw(model).source
    sizes = []
    for _ in range(3):
        again = ge.training.fit(model, X, y, optimizer="adam", epochs=1, batch_size=8, progress=False)
        sizes.append(len(graph))
        assert again.trainer is first.trainer and model.trainer is first.trainer
    assert sizes == [len(names)] * 3
    assert [n.name for n in graph.nodes()] == names
    assert [n.name for n in graph.inputs()] == ["x", "y"]
    assert draw(model).source == picture
    assert model.optimizer.steps == 4 * 8  # 64 examples / 8 per batch, 4 fits of one epoch


@pytest.mark.parametrize("validation_split", [0.0, 0.25])
def test_two_fits_end_bit_identical_to_one_with_the_epochs_summed(validation_split):
    X, y = data()
    common = dict(optimizer="adam", lr=0.02, batch_size=8, validation_split=validation_split, progress=False)
    split = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dropout(0.3), ge.nn.GaussianNoise(0.1),
                             ge.nn.Dense(8, 2))
    h1 = ge.training.fit(split, X, y, epochs=2, seed=0, **common)
    h2 = ge.training.fit(split, X, y, epochs=2, **common)  # no seed: the data order goes on
    whole = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dropout(0.3), ge.nn.GaussianNoise(0.1),
                             ge.nn.Dense(8, 2))
    h = ge.training.fit(whole, X, y, epochs=4, seed=0, **common)
    assert h1["loss"] + h2["loss"] == h["loss"]  # bit-identical losses, dropout and noise included
    if validation_split:
        assert h1["val_loss"] + h2["val_loss"] == h["val_loss"]  # the same held-out examples
    for a, b in zip(weights(split), weights(whole)):
        np.testing.assert_array_equal(a, b)
    state, expected = split.optimizer.state_dict(), whole.optimizer.state_dict()
    per_epoch = -(-round(64 * (1 - validation_split)) // 8)  # batches of 8 of the training examples
    assert state["steps"] == expected["steps"] == 4 * per_epoch
    for name in expected["state"]:
        for key, value in expected["state"][name].items():
            np.testing.assert_array_equal(state["state"][name][key], value)
    assert h2.epochs == [1, 2]  # each fit numbers its epochs from initial_epoch (as Keras does)


def test_the_optimizer_by_name_or_object_continues_and_lr_changes_only_its_hyper_parameter():
    X, y = data()
    model = model_with_dropout()
    ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=1, batch_size=16, seed=0, progress=False)
    optimizer = model.optimizer
    moments = {k: v.copy() for k, v in optimizer.state_dict()["state"][model.params()[0].name].items()
               if isinstance(v, np.ndarray)}
    ge.training.fit(model, X, y, optimizer=optimizer, epochs=0, progress=False)
    assert model.optimizer is optimizer and optimizer.steps == 4
    ge.training.fit(model, X, y, optimizer="adam", lr=0.005, beta1=0.8, epochs=0, progress=False)
    assert model.optimizer is optimizer and optimizer.hyper["lr"] == 0.005 and optimizer.hyper["beta1"] == 0.8
    kept = optimizer.state_dict()["state"][model.params()[0].name]
    for key, value in moments.items():
        np.testing.assert_array_equal(kept[key], value)  # the state is kept
    # a bad value or an unknown name changes nothing
    with pytest.raises(ge.GraphEngineError, match="lr"):
        ge.training.fit(model, X, y, lr=-1.0, epochs=0, progress=False)
    with pytest.raises(UnknownArgumentError, match="'betta1'. Did you mean 'beta1'.*optimizer 'adam'"):
        ge.training.fit(model, X, y, betta1=0.5, epochs=0, progress=False)
    assert optimizer.hyper["lr"] == 0.005 and optimizer.hyper["beta1"] == 0.8


def test_another_loss_builds_only_the_loss_on_the_same_forward_path_and_keeps_the_optimizer():
    X, y = data()
    model = model_with_dropout()
    first = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=1, batch_size=16, seed=0,
                            progress=False)
    graph = model.graph
    before = {n.name for n in graph.nodes()}
    second = ge.training.fit(model, X, y, loss="mse", epochs=1, batch_size=16, progress=False)
    trainer = second.trainer
    assert trainer is not first.trainer and model.trainer is trainer
    assert trainer.x is first.trainer.x and trainer.output is first.trainer.output
    assert trainer.eval_output is first.trainer.eval_output
    added = {n.name for n in graph.nodes()} - before
    assert added and all(name == "y_2" or name.startswith(("loss_2/", "eval_loss_2/")) for name in added), added
    assert [n.name for n in graph.inputs()] == ["x", "y", "y_2"]  # mse takes one-hot float targets
    assert trainer.optimizer is first.trainer.optimizer and trainer.optimizer.steps == 8
    assert trainer.metrics == [] and "accuracy" not in second
    # and then fitting with mse again continues that trainer
    third = ge.training.fit(model, X, y, loss="mse", epochs=1, batch_size=16, progress=False)
    assert third.trainer is trainer and len(graph) == len(before) + len(added)


def test_a_loss_with_the_same_targets_shares_the_input_y():
    X, y = data()
    model = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dense(8, 2), seed=0)
    ge.training.fit(model, X, y, epochs=1, progress=False)
    second = ge.training.fit(model, X, y, loss="nll", metrics=["accuracy"], epochs=1, progress=False)
    assert [n.name for n in model.graph.inputs()] == ["x", "y"] and second.trainer.y.name == "y"


def test_another_optimizer_starts_its_own_state_on_the_same_paths():
    X, y = data()
    model = model_with_dropout()
    first = ge.training.fit(model, X, y, optimizer="adam", epochs=1, batch_size=16, seed=0, progress=False)
    n = len(model.graph)
    second = ge.training.fit(model, X, y, optimizer="sgd", lr=0.1, epochs=1, batch_size=16,
                             progress=False)
    assert second.trainer is not first.trainer and second.trainer.optimizer.name == "sgd"
    assert second.trainer.optimizer.steps == 4 and second.trainer.x is first.trainer.x
    assert len(model.graph) > n  # the new trainer's loss; the model was not called again
    assert not any(name.startswith("sequential_2") for name in (p.name for p in model.graph.nodes()))
    with pytest.raises(UnknownArgumentError, match="'momentun'"):
        ge.training.fit(model, X, y, optimizer="momentum", momentun=0.9, epochs=0, progress=False)


def test_data_of_another_width_or_dtype_is_refused_and_changes_nothing():
    X, y = data()
    model = model_with_dropout()
    ge.training.fit(model, X, y, epochs=1, seed=0, progress=False)
    names = [n.name for n in model.graph.nodes()]
    with pytest.raises(TrainingError, match=r"X holds examples of shape \(3,\) .* model 'sequential' was built for "
                                            r"inputs of shape \(None, 2\) \(input node 'x'\); pass examples of shape "
                                            r"\(2,\)"):
        ge.training.fit(model, np.zeros((10, 3)), y[:10], loss="mse", epochs=1, progress=False)
    with pytest.raises(TrainingError, match="trained with dtype=float32 .* not float64"):
        ge.training.fit(model, X, y, dtype="float64", epochs=1, progress=False)
    assert [n.name for n in model.graph.nodes()] == names


def test_a_seed_given_again_restarts_the_data_order_only():
    X, y = data()
    model = model_with_dropout()
    h1 = ge.training.fit(model, X, y, epochs=1, batch_size=8, seed=0, shuffle=True, progress=False)
    trainer = h1.trainer
    order_state = trainer._rng.bit_generator.state
    ge.training.fit(model, X, y, epochs=1, batch_size=8, seed=0, progress=False)
    assert trainer._rng.bit_generator.state == order_state  # reseeded: the first epoch's order again
    assert model.trainer is trainer and trainer.optimizer.steps == 16  # the masks go on with the steps


def test_a_loaded_model_trains_by_default_with_its_saved_loss_metrics_and_optimizer(tmp_path):
    X, y = data()
    model = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dense(8, 1), "sigmoid", seed=0)
    ge.training.fit(model, X, y, loss="binary_cross_entropy", optimizer="adam", lr=0.02, epochs=1, batch_size=16,
                    seed=0, progress=False)
    model.save(tmp_path / "m.genn")
    loaded = ge.nn.load(tmp_path / "m.genn")
    saved = loaded.optimizer
    assert saved.name == "adam" and saved.steps == 4
    history = ge.training.fit(loaded, X, y, epochs=1, batch_size=16, progress=False)
    assert history.trainer.loss_name == "binary_cross_entropy" and "accuracy" in history
    assert history.trainer.optimizer is saved and saved.steps == 8 and saved.hyper["lr"] == 0.02


def test_lr_given_with_an_optimizer_already_made_sets_its_learning_rate():
    X, y = data()
    model = ge.nn.Sequential(ge.nn.Dense(2, 2), seed=0)
    g = ge.Graph()
    model(g.input("x", shape=(None, 2)))
    optimizer = ge.optimizers.create("sgd", model.params(), lr=0.5)
    history = ge.training.fit(model, X, y, optimizer=optimizer, lr=0.125, epochs=1, progress=False)
    assert history.trainer.optimizer is optimizer and optimizer.hyper["lr"] == 0.125
    assert history["lr"] == [0.125]


def hand_built(seed=0):
    g = ge.Graph("hand")
    x = g.input("x", shape=(None, 2), dtype="float32")
    W1 = g.param("W1", np.random.default_rng(seed).normal(size=(2, 8)).astype(np.float32))
    W2 = g.param("W2", np.random.default_rng(seed + 1).normal(size=(8, 2)).astype(np.float32))
    return g, ge.ops.tanh(x @ W1) @ W2


def test_a_hand_built_graph_fitted_again_continues_its_trainer_and_adds_no_node():
    X, y = data()
    common = dict(optimizer="momentum", lr=0.05, batch_size=8, progress=False)
    g, out = hand_built()
    h1 = ge.training.fit(out, X, y, epochs=2, seed=0, **common)
    names = [n.name for n in g.nodes()]
    h2 = ge.training.fit(out, X, y, epochs=2, **common)
    assert h2.trainer is h1.trainer and [n.name for n in g.nodes()] == names
    whole_graph, whole = hand_built()
    h = ge.training.fit(whole, X, y, epochs=4, seed=0, **common)
    assert h1["loss"] + h2["loss"] == h["loss"]
    for a, b in zip(g.params(), whole_graph.params()):
        np.testing.assert_array_equal(a.value, b.value)
    # another loss builds only its loss on the same output, sharing the targets' input
    third = ge.training.fit(out, X, y, loss="nll", epochs=1, **common)
    assert third.trainer is not h1.trainer and third.trainer.optimizer is h1.trainer.optimizer
    assert [n.name for n in g.inputs()] == ["x", "y"]
    again = ge.training.fit(out, X, y, loss="nll", epochs=1, **common)
    assert again.trainer is third.trainer
