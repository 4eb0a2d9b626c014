"""Callbacks: early stopping (on a synthetic validation curve, then in training), checkpoints."""

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import CallbackError, EarlyStopping, LambdaCallback, ModelCheckpoint


def test_early_stopping_on_a_synthetic_validation_curve():
    #          0     1     2     3     4     5     6     7
    curve = [1.00, 0.80, 0.60, 0.65, 0.61, 0.62, 0.55, 0.50]
    stopper = EarlyStopping(patience=3)
    decisions = [stopper.update(v) for v in curve[:6]]
    assert decisions == [False, False, False, False, False, True]  # 3 epochs without beating 0.60
    assert stopper.best_epoch == 2 and stopper.best == 0.60 and stopper.stopped_epoch == 5


def test_patience_resets_on_improvement():
    stopper = EarlyStopping(patience=2)
    decisions = [stopper.update(v) for v in [1.0, 1.1, 0.9, 1.0, 0.95]]
    assert decisions == [False, False, False, False, True]  # the wait restarted at epoch 2
    assert stopper.best_epoch == 2 and stopper.wait == 2


def test_min_delta_requires_a_real_improvement():
    strict = EarlyStopping(patience=2, min_delta=0.05)
    assert [strict.update(v) for v in [1.0, 0.98, 0.97]] == [False, False, True]
    lenient = EarlyStopping(patience=2, min_delta=0.0)
    assert [lenient.update(v) for v in [1.0, 0.98, 0.97]] == [False, False, False]


def test_accuracy_is_maximized_and_nan_never_improves():
    stopper = EarlyStopping("val_accuracy", patience=1)
    assert stopper.mode == "max"
    assert [stopper.update(v) for v in [0.5, 0.7, math.nan]] == [False, False, True]
    assert stopper.best == 0.7
    assert EarlyStopping("val_loss", mode="max").mode == "max"


def test_early_stopping_bad_options():
    with pytest.raises(CallbackError, match="patience must be an int >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(CallbackError, match="min_delta must be >= 0"):
        EarlyStopping(min_delta=-0.1)


def _overfitting_setup():
    X, y = ge.data.two_moons(60, noise=0.35, seed=0)
    Xv, yv = ge.data.two_moons(200, noise=0.35, seed=1)
    model = ge.nn.Sequential(ge.nn.Dense(2, 64), "tanh", ge.nn.Dense(64, 64), "tanh", ge.nn.Dense(64, 2), seed=0)
    return model, X, y, Xv, yv


def test_early_stopping_stops_training_and_restores_the_best_weights():
    model, X, y, Xv, yv = _overfitting_setup()
    per_epoch = {}
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.__setitem__(
        epoch, {p.name: p.value.copy() for p in model.params()}))
    stopper = EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=300, batch_size=60,
                              validation_data=(Xv, yv), callbacks=[record, stopper], seed=0)
    assert stopper.stopped_epoch is not None and len(history) < 300
    assert len(history) == stopper.stopped_epoch == stopper.best_epoch + 5
    assert history.best("val_loss") == (stopper.best_epoch, stopper.best)
    assert history.stopped_epoch == stopper.stopped_epoch and history.best_epoch == stopper.best_epoch
    best = per_epoch[stopper.best_epoch]
    for p in model.params():
        np.testing.assert_array_equal(p.value, best[p.name])
    assert history.trainer.evaluate(Xv, yv)["loss"] == pytest.approx(stopper.best, rel=1e-5)


def test_early_stopping_without_validation_says_how_to_fix_it():
    model, X, y, _, _ = _overfitting_setup()
    with pytest.raises(CallbackError, match="monitors 'val_loss'.*validation_split= or validation_data="):
        ge.training.fit(model, X, y, epochs=2, callbacks=[EarlyStopping()])


def test_model_checkpoint_saves_loadable_graphs(tmp_path):
    model, X, y, Xv, yv = _overfitting_setup()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.ge", monitor="val_loss", save_best_only=True,
                                 include_optimizer=False)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=6, batch_size=60,
                              validation_data=(Xv, yv), callbacks=[checkpoint], seed=0)
    assert checkpoint.saved and all(p.endswith(".ge") for p in checkpoint.saved)
    best_epoch, _ = history.best("val_loss")
    assert checkpoint.saved[-1].endswith(f"ckpt-{best_epoch:02d}.ge")
    loaded = ge.load(checkpoint.saved[-1])
    assert [n.name for n in loaded.nodes()] == [n.name for n in history.trainer.graph.nodes()]
    # load the best checkpoint's weights back into the trained graph
    history.trainer.load_weights(checkpoint.saved[-1])
    np.testing.assert_array_equal(model[0].W.value, loaded.node(model[0].W.name).value)


def test_model_checkpoint_bad_path_format(tmp_path):
    model, X, y, _, _ = _overfitting_setup()
    with pytest.raises(CallbackError, match="cannot be formatted"):
        ge.training.fit(model, X, y, epochs=1, callbacks=[ModelCheckpoint(tmp_path / "{nope}.ge", monitor="loss")])


def test_terminate_on_nan_and_lambda_callback_checks():
    cb = ge.training.TerminateOnNaN()
    cb.on_epoch_begin(3)
    with pytest.raises(ge.NonFiniteError, match="epoch 3, batch 7"):
        cb.on_batch_end(7, {"loss": float("nan")})
    with pytest.raises(CallbackError, match="must be callable"):
        LambdaCallback(on_epoch_end=5)
    with pytest.raises(CallbackError, match="Callback instances"):
        model, X, y, _, _ = _overfitting_setup()
        ge.training.fit(model, X, y, epochs=1, callbacks=[lambda *a: None])


def test_callbacks_see_every_hook_in_order():
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_begin=lambda e, logs: events.append(f"e{e}"),
                        on_batch_end=lambda b, logs: events.append("b"),
                        on_epoch_end=lambda e, logs: events.append(f"/e{e}:{sorted(logs)}"),
                        on_train_end=lambda logs: events.append("end"))
    X, y = ge.data.two_moons(20, seed=0)
    ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 2)), X, y, epochs=2, batch_size=10, callbacks=[cb])
    assert events == ["begin", "e1", "b", "b", "/e1:['accuracy', 'loss', 'lr', 'time']", "e2", "b", "b",
                      "/e2:['accuracy', 'loss', 'lr', 'time']", "end"]


def test_stop_training_flag_from_a_callback():
    class StopAtTwo(ge.training.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.trainer.stop_training = True

    X, y = ge.data.two_moons(20, seed=0)
    history = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 2)), X, y, epochs=10, callbacks=[StopAtTwo()])
    assert history.epochs == [1, 2]


def test_model_checkpoint_writes_training_checkpoints_by_default(tmp_path):
    model, X, y, Xv, yv = _overfitting_setup()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch}.ckpt", monitor="val_loss")
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=2, batch_size=60,
                              validation_data=(Xv, yv), callbacks=[checkpoint], seed=0)
    assert [p[-7:] for p in checkpoint.saved] == ["-1.ckpt", "-2.ckpt"]
    last = ge.training.read_checkpoint(checkpoint.saved[-1])
    assert last.epoch == 2 and last.optimizer["name"] == "adam" and last.optimizer["steps"] == history.trainer.optimizer.steps
    assert last.history.epochs == [1, 2] and last.history["val_loss"] == history["val_loss"]
    # the weights of a training checkpoint load like any other
    history.trainer.load_weights(checkpoint.saved[-1])
    np.testing.assert_array_equal(model[0].W.value, last.weights[model[0].W.name])
    weights_only = ModelCheckpoint(tmp_path / "w-{epoch}.npz", monitor="loss", weights_only=True)
    weights_only.set_trainer(history.trainer)
    weights_only.on_epoch_end(1, {"loss": 1.0})
    assert set(ge.training.read_weights(weights_only.saved[0])) == set(last.weights)
