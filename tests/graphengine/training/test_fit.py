"""The training loop: fit and Trainer on small synthetic sets (and a tiny MNIST subset)."""


import numpy as np
import pytest

import graphengine as ge
from graphengine.training import Trainer, TrainingError


def mlp(hidden=8, classes=2, seed=0, dropout=0.0, activation="tanh"):
    layers = [ge.nn.Dense(2, hidden), activation]
    if dropout:
        layers.append(ge.nn.Dropout(dropout))
    return ge.nn.Sequential(*layers, ge.nn.Dense(hidden, classes), seed=seed)


def test_xor_single_perceptron_fails_and_two_layers_succeed():
    X, y = ge.data.xor()
    single = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 1), "sigmoid", seed=0), X, y,
                             loss="binary_cross_entropy", optimizer="adam", lr=0.1, epochs=300, batch_size=4, seed=0)
    assert single.last("accuracy") <= 0.75
    two = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 1), "sigmoid", seed=0), X, y,
                          loss="binary_cross_entropy", optimizer="adam", lr=0.1, epochs=300, batch_size=4, seed=0)
    assert two.last("accuracy") == 1.0
    assert two.trainer.predict_classes(X).tolist() == [0, 1, 1, 0]


def test_history_keys_lengths_and_validation_split():
    X, y = ge.data.two_moons(200, noise=0.1, seed=0)
    history = ge.training.fit(mlp(), X, y, optimizer="adam", lr=0.05, epochs=5, batch_size=16,
                              validation_split=0.25, seed=1)
    assert history.epochs == [1, 2, 3, 4, 5]
    assert list(history.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert all(len(history[k]) == 5 for k in history.keys())
    assert history.params["samples"] == 150 and history.params["validation_samples"] == 50
    assert history["loss"][-1] < history["loss"][0]
    assert history["lr"] == [0.05] * 5
    with pytest.raises(ge.training.HistoryError, match="has no 'val_acc'.*Did you mean 'val_accuracy'"):
        history["val_acc"]


def test_same_seed_same_run_different_seed_different_run():
    X, y = ge.data.two_moons(120, seed=0)

    def run(seed):
        return ge.training.fit(mlp(seed=None), X, y, optimizer="sgd", lr=0.3, epochs=3, batch_size=10,
                               validation_split=0.2, seed=seed)["val_loss"]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_learns_spirals_with_relu_and_reaches_high_accuracy():
    X, y = ge.data.spirals(300, classes=3, noise=0.1, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 64, init="he_normal"), "relu", ge.nn.Dense(64, 3), seed=0)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=80, batch_size=32, seed=0)
    assert history.last("accuracy") > 0.9


def test_validation_data_and_evaluate_agree():
    X, y = ge.data.blobs(200, centers=3, std=1.0, seed=0)
    Xv, yv = ge.data.blobs(100, centers=3, std=1.0, seed=0)
    history = ge.training.fit(mlp(classes=3), X, y, optimizer="adam", lr=0.05, epochs=3, validation_data=(Xv, yv),
                              seed=0)
    result = history.trainer.evaluate(Xv, yv)
    assert result["loss"] == pytest.approx(history.last("val_loss"), rel=1e-6)
    assert result["accuracy"] == pytest.approx(history.last("val_accuracy"))
    assert history.trainer.predict(Xv).shape == (100, 3)


def test_trainer_on_a_hand_built_graph():
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.zeros((2, 1), np.float32))
    b = g.param("b", np.zeros((1,), np.float32))
    p = ge.ops.sigmoid(x @ W + b)
    X, y = ge.data.pass_the_class(300, noise=0.5, seed=0)
    trainer = Trainer(p, loss="binary_cross_entropy", optimizer="adam", lr=0.1)
    history = trainer.fit(X, y, epochs=60, batch_size=32, seed=0)
    assert history.last("accuracy") > 0.9
    assert trainer.x is x and trainer.y.name == "y" and trainer.loss_node.scope == "loss"
    w = W.value.ravel()
    assert w[0] > 0 and w[1] > 0  # more lectures and more hours both help


def test_trainer_needs_x_when_several_inputs():
    g = ge.Graph("two")
    a = g.input("a", shape=(None, 2))
    c = g.input("c", shape=(None, 2))
    W = g.param("W", np.ones((2, 2), np.float32))
    out = (a + c) @ W
    with pytest.raises(TrainingError, match="depends on a, c; pass x=<input node>"):
        Trainer(out)


def test_softmax_before_cross_entropy_is_refused():
    model = ge.nn.Sequential(ge.nn.Dense(2, 3), "softmax")
    with pytest.raises(TrainingError, match="ends with a softmax.*takes logits"):
        ge.training.fit(model, *ge.data.blobs(30, seed=0), epochs=1)


def test_mse_with_integer_labels_uses_one_hot_targets():
    X, y = ge.data.blobs(90, centers=3, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 8), "sigmoid", ge.nn.Dense(8, 3), "sigmoid", seed=0)
    history = ge.training.fit(model, X, y, loss="mse", metrics=["accuracy"], optimizer="sgd", lr=2.0, epochs=30,
                              batch_size=10, seed=0)
    assert history.trainer.y.shape == (None, 3)
    assert history.last("accuracy") > 0.8


def test_l2_shrinks_the_weights():
    X, y = ge.data.two_moons(100, seed=0)

    def weight_norm(**extra):
        model = mlp(hidden=16)
        ge.training.fit(model, X, y, optimizer="sgd", lr=0.2, epochs=20, batch_size=10, seed=0, **extra)
        return sum(float(np.sum(layer.W.value ** 2)) for layer in (model[0], model[2]))

    assert weight_norm(l2=0.05) < 0.7 * weight_norm()
    assert weight_norm(regularizers={"weight_decay": 0.5}) < weight_norm()


def test_regularizers_act_on_weights_only_by_default():
    trainer = Trainer(mlp(), l2=1e-3)
    trainer.build(*ge.data.two_moons(10, seed=0))
    assert [p.name for p in trainer.regularized_params] == ["sequential/dense_1/W", "sequential/dense_2/W"]


def test_dropout_model_evaluates_deterministically():
    X, y = ge.data.two_moons(100, seed=0)
    history = ge.training.fit(mlp(hidden=32, dropout=0.5), X, y, optimizer="adam", lr=0.02, epochs=5, seed=0)
    trainer = history.trainer
    assert trainer.eval_output is not trainer.output
    np.testing.assert_array_equal(trainer.predict(X), trainer.predict(X))
    assert "dropout" not in {n.op for n in trainer.graph.nodes() if n.name.startswith("eval/")}


def test_batchnorm_running_statistics_follow_the_data():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((256, 2)) * [2.0, 0.5] + [5.0, -3.0]).astype(np.float32)
    y = (X[:, 0] > 5).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.BatchNorm(), ge.nn.Dense(2, 2), seed=0)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=10, batch_size=32, seed=0)
    bn = model[0]
    np.testing.assert_allclose(bn.running_mean, X.mean(axis=0), atol=0.15)
    np.testing.assert_allclose(bn.running_var, X.var(axis=0), rtol=0.2)
    assert history.trainer.evaluate(X, y)["accuracy"] > 0.9


def test_lr_schedule_steps_after_each_epoch():
    from graphengine.plugins.optimizers import StepLR

    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(mlp(), X, y, optimizer="sgd", lr=0.4, epochs=4,
                              lr_schedule=lambda opt: StepLR(opt, step_size=1, gamma=0.5), seed=0)
    assert history["lr"] == [0.4, 0.2, 0.1, 0.05]


def test_gradient_clipping_keeps_a_huge_learning_rate_finite():
    X, y = ge.data.two_moons(64, seed=0)
    history = ge.training.fit(mlp(), X, y, optimizer="sgd", lr=50.0, clip_norm=0.01, epochs=3, seed=0)
    assert all(np.isfinite(history["loss"]))


def test_diverging_training_names_the_epoch_and_a_fix():
    X = np.array([[1e3, 1e3], [-1e3, -1e3]], np.float32)
    y = np.array([0.0, 1.0], np.float32).reshape(2, 1)
    model = ge.nn.Sequential(ge.nn.Dense(2, 1), seed=0)
    with pytest.raises(TrainingError, match=r"became (nan|inf) at epoch \d, batch 1; training stopped before this "
                       r"step's update, so the params keep their last finite values.*Lower the learning rate"), \
            np.errstate(over="ignore", invalid="ignore"):
        ge.training.fit(model, X, y, loss="mse", optimizer="sgd", lr=1e6, epochs=5, batch_size=2)


@pytest.mark.parametrize("batch_size", [4, 1])  # the first, interpreted step of a signature, and generated ones
def test_a_non_finite_loss_stops_fit_before_the_update_leaving_the_last_finite_weights(batch_size):
    X = np.array([[1e3, 1e3], [-1e3, -1e3], [2e3, 1e3], [-1e3, 3e3]], np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0], np.float32).reshape(4, 1)
    model = ge.nn.Sequential(ge.nn.Dense(2, 1), seed=0)
    trainer = Trainer(model, loss="mse", optimizer="sgd", lr=1e6)
    trainer.build(X, y)
    snapshots = []

    def snapshot(batch, logs):  # the weights after each step whose loss was finite
        if np.isfinite(logs["loss"]):
            snapshots.append([p.value.copy() for p in trainer.graph.params()])

    snapshots.append([p.value.copy() for p in trainer.graph.params()])
    with pytest.raises(TrainingError, match=r"became (nan|inf) at epoch \d+, batch \d+") as info, \
            np.errstate(over="ignore", invalid="ignore"):
        trainer.fit(X, y, epochs=20, batch_size=batch_size, shuffle=False,
                    callbacks=[ge.training.callbacks.LambdaCallback(on_batch_end=snapshot)])
    params = [p.value for p in trainer.graph.params()]
    for now, last in zip(params, snapshots[-1]):
        np.testing.assert_array_equal(now, last)
    assert all(np.isfinite(p).all() for p in params)
    assert "last finite values" in str(info.value)


def test_bad_arguments_are_refused():
    X, y = ge.data.two_moons(20, seed=0)
    with pytest.raises(TrainingError, match="20 examples but y has 19"):
        ge.training.fit(mlp(), X, y[:19])
    with pytest.raises(TrainingError, match="batch_size must be an int >= 1"):
        ge.training.fit(mlp(), X, y, batch_size=0)
    with pytest.raises(TrainingError, match="either validation_split or validation_data"):
        ge.training.fit(mlp(), X, y, validation_split=0.2, validation_data=(X, y))
    with pytest.raises(ge.UnknownOpError, match="cross_entropy"):
        ge.training.fit(mlp(), X, y, loss="cross_entropi")
    with pytest.raises(TypeError, match="unknown keyword argument 'momentun'. Did you mean 'momentum'"):
        ge.training.fit(mlp(), X, y, optimizer="momentum", momentun=0.9)
    with pytest.raises(TrainingError, match="not built yet"):
        Trainer(mlp()).predict(X)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys, monkeypatch):
    X, y = ge.data.two_moons(40, seed=0)
    ge.training.fit(mlp(), X, y, epochs=1, progress=None)  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    ge.training.fit(mlp(), X, y, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "batch" in err
    ge.training.fit(mlp(), X, y, epochs=2, verbose=True, progress=False)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 2 and "accuracy" in out


def test_augment_is_applied_to_training_batches_only():
    seen = []

    def augment(batch, rng):
        seen.append(batch.shape[0])
        return batch + rng.normal(0, 0.01, batch.shape)

    X, y = ge.data.two_moons(50, seed=0)
    ge.training.fit(mlp(), X, y, epochs=2, batch_size=16, validation_split=0.2, augment=augment, seed=0)
    assert sum(seen) == 2 * 40 and max(seen) == 16


def test_small_mnist_subset(shared_data):
    X, y = ge.data.load_mnist("train", data_dir=shared_data, download=False, limit=2000)
    Xt, yt = ge.data.load_mnist("test", data_dir=shared_data, download=False, limit=500)
    model = ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10), seed=0)
    history = ge.training.fit(model, X, y, optimizer="momentum", lr=0.1, momentum=0.9, epochs=3, batch_size=32, seed=0)
    assert history.trainer.evaluate(Xt, yt)["accuracy"] > 0.8
    assert model.parameter_count() == 23860


def test_one_hot_targets_custom_loss_and_metric():
    X, y = ge.data.blobs(90, centers=3, std=0.5, seed=0)
    onehot = ge.data.one_hot(y, 3)
    history = ge.training.fit(mlp(classes=3), X, onehot, optimizer="adam", lr=0.05, epochs=20, seed=0)
    assert history.trainer.y.shape == (None, 3) and history.trainer.y.dtype == np.float32
    assert history.last("accuracy") > 0.9

    def squared_error(output, target):
        return (ge.ops.softmax(output) - target) ** 2  # per element: the trainer averages it

    def top_class_rate(prediction, target):
        return float((prediction.argmax(axis=1) == target.argmax(axis=1)).mean())

    history = ge.training.fit(mlp(classes=3), X, onehot, loss=squared_error, metrics=[top_class_rate],
                              optimizer="adam", lr=0.05, epochs=20, seed=0)
    assert list(history.keys())[:2] == ["loss", "top_class_rate"]
    assert history.trainer.loss_node.op == "mean" and history.last("top_class_rate") > 0.9


def test_binary_logits_use_a_zero_threshold():
    X, y = ge.data.pass_the_class(200, noise=0.3, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 1), seed=0)
    history = ge.training.fit(model, X, y, loss="binary_cross_entropy_with_logits", optimizer="adam", lr=0.1,
                              epochs=40, seed=0)
    logits = history.trainer.predict(X).ravel()
    assert history.trainer.predict_classes(X).tolist() == (logits > 0).astype(int).tolist()
    assert history.last("accuracy") == pytest.approx(float(((logits > 0) == y).mean()), abs=0.05)
    assert history.last("accuracy") > 0.9


def test_batchnorm_statistics_update_when_training_an_output_node():
    g = ge.Graph("bn")
    x = g.input("x", shape=(None, 2))
    bn = ge.nn.BatchNorm()
    out = ge.nn.Dense(2, 2, seed=0)(bn(x))
    X = (np.random.default_rng(0).standard_normal((128, 2)) + [4.0, -1.0]).astype(np.float32)
    y = (X[:, 0] > 4).astype(np.int64)
    trainer = Trainer(out, optimizer="adam", lr=0.01)
    trainer.fit(X, y, epochs=20, batch_size=32, seed=0)  # 80 updates: 0.9 ** 80 of the start is left
    assert len(trainer.updates) == 1
    np.testing.assert_allclose(bn.running_mean, X.mean(axis=0), atol=0.2)


def test_batch_size_and_global_batch_size_together_are_refused():
    X, y = ge.data.two_moons(32, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 2), seed=0)
    with pytest.raises(ge.training.TrainingError, match="give batch_size .* or global_batch_size .*, not both"):
        ge.training.fit(model, X, y, epochs=1, batch_size=8, global_batch_size=16, progress=False)
    history = ge.training.fit(model, X, y, epochs=1, global_batch_size=16, progress=False)
    assert history.params["batch_size"] == 16
