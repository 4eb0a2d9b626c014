"""Training checkpoints: optimizer, schedule and data-generator state saved with the
weights, so that a run stopped and resumed from a file ends bit-identical to the
uninterrupted run; the file is only data (JSON and .npz) and is checked on load."""

import json
import zipfile

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.optimizers import CosineLR
from graphengine.training import CheckpointError, ModelCheckpoint, Trainer


def model(dtype="float64"):
    return ge.nn.Sequential(ge.nn.Dense(2, 8, dtype=dtype), "tanh", ge.nn.Dense(8, 2, dtype=dtype), seed=0)


def weights(history):
    return ge.training.snapshot(history.trainer.graph)


def assert_same_run(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].dtype == np.float64
        np.testing.assert_array_equal(wa[key], wb[key])  # bit-identical, not approximately equal
    for key in a.keys():
        if key != "time":
            assert a[key] == b[key], key
    assert a.epochs == b.epochs


@pytest.mark.parametrize("options", [
    {"optimizer": "adam", "lr": 0.05},
    {"optimizer": "momentum", "lr": 0.1, "momentum": 0.9,
     "lr_schedule": lambda opt: CosineLR(opt, total_steps=6)},
], ids=["adam", "momentum+cosine"])
def test_resumed_run_is_bit_identical_to_the_uninterrupted_one(tmp_path, options):
    X, y = ge.data.two_moons(120, noise=0.2, seed=0)
    common = dict(epochs=6, batch_size=16, validation_split=0.25, seed=3, dtype="float64", progress=False,
                  augment=lambda batch, rng: batch + rng.normal(0, 0.01, batch.shape), **options)
    checkpoints = ModelCheckpoint(tmp_path / "run-{epoch}.ckpt", monitor="val_loss")
    whole = ge.training.fit(model(), X, y, callbacks=[checkpoints], **common)
    assert len(checkpoints.saved) == 6
    # a new process would do exactly this: a fresh model, the same call, resume_from=
    resumed = ge.training.fit(model(), X, y, resume_from=tmp_path / "run-3.ckpt", **common)
    assert_same_run(whole, resumed)
    assert resumed.trainer.optimizer.steps == whole.trainer.optimizer.steps
    assert resumed.trainer.optimizer.hyper["lr"] == whole.trainer.optimizer.hyper["lr"]


def test_stop_early_then_resume_with_the_trainer_api(tmp_path):
    X, y = ge.data.two_moons(80, noise=0.2, seed=1)
    common = dict(batch_size=10, seed=0, progress=False)
    whole = Trainer(model(), optimizer="adam", lr=0.02, dtype="float64").fit(X, y, epochs=4, **common)
    first = Trainer(model(), optimizer="adam", lr=0.02, dtype="float64")
    first.fit(X, y, epochs=2, **common)  # stopped after 2 of 4 epochs
    path = first.save_checkpoint(tmp_path / "half.ckpt")
    second = Trainer(model(), optimizer="adam", lr=0.02, dtype="float64")
    resumed = second.fit(X, y, epochs=4, resume_from=path, **common)
    assert_same_run(whole, resumed)
    assert resumed.epochs == [1, 2, 3, 4] and resumed.params["epochs"] == 4


def test_the_file_is_json_and_npz_only(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(model(), X, y, optimizer="adam", lr=0.01, epochs=1, progress=False, seed=0)
    path = history.trainer.save_checkpoint(tmp_path / "c.ckpt")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["arrays.npz", "checkpoint.json"]
        document = json.loads(archive.read("checkpoint.json"))
    assert document["format"] == "graphengine-training-checkpoint" and document["epoch"] == 1
    assert document["optimizer"]["name"] == "adam" and document["rng"]["bit_generator"] == "PCG64"
    checkpoint = ge.training.read_checkpoint(path)
    assert set(checkpoint.weights) == {n.name for n in ge.training.checkpoint.stateful_nodes(history.trainer.graph)}
    state = checkpoint.optimizer["state"]
    assert all(set(entry) == {"step", "m", "v"} for entry in state.values())


def _rewrite(path, out, change_json=None, arrays=None):
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("checkpoint.json"))
        raw = archive.read("arrays.npz")
    if change_json:
        change_json(document)
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("checkpoint.json", json.dumps(document))
        archive.writestr("arrays.npz", raw if arrays is None else arrays)
    return out


def test_damaged_or_foreign_checkpoints_are_refused_and_change_nothing(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(model(), X, y, optimizer="adam", lr=0.01, epochs=1, progress=False, seed=0)
    trainer = history.trainer
    good = trainer.save_checkpoint(tmp_path / "good.ckpt")
    before = weights(history)
    steps = trainer.optimizer.steps

    def refused(path, error, match):
        with pytest.raises(error, match=match):
            trainer.load_checkpoint(path)
        after = weights(history)
        assert all(np.array_equal(before[k], after[k]) for k in before) and trainer.optimizer.steps == steps

    bad_rng = _rewrite(good, tmp_path / "rng.ckpt", lambda d: d["rng"]["state"].update(state="x"))
    refused(bad_rng, ge.SaveFormatError, "field 'rng' is not a valid PCG64 state")
    wrong_field = _rewrite(good, tmp_path / "f.ckpt", lambda d: d.update(epoch=-1))
    refused(wrong_field, ge.SaveFormatError, "field 'epoch' must be an int >= 0")
    extra = _rewrite(good, tmp_path / "e.ckpt", lambda d: d["weights"].update(ghost="w0"))
    refused(extra, CheckpointError, "'ghost', which graph .* does not have")
    bad_lr = _rewrite(good, tmp_path / "lr.ckpt", lambda d: d["optimizer"]["hyper"].update(lr=-5))
    refused(bad_lr, ge.GraphEngineError, "lr=-5 is out of range")
    pickled = _rewrite(good, tmp_path / "p.ckpt", arrays=b"not an npz")
    refused(pickled, ge.SaveFormatError, "arrays.npz")
    refused(tmp_path, ge.SaveFormatError, "is a directory")
    trainer.graph.save(tmp_path / "graph.ge")
    refused(tmp_path / "graph.ge", ge.SaveFormatError, r"training checkpoint: .*whole-graph file \(graph.save\): read it with ge.load")
    sgd = ge.training.fit(model(), X, y, optimizer="sgd", epochs=1, progress=False, seed=0)
    with pytest.raises(CheckpointError, match="optimizer 'adam'; this trainer uses 'sgd'"):
        sgd.trainer.load_checkpoint(good)


def test_resume_refuses_other_data_and_leaves_an_unbuilt_model_unbuilt(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(model(), X, y, epochs=1, batch_size=8, progress=False, seed=0)
    path = history.trainer.save_checkpoint(tmp_path / "c.ckpt")
    fresh = model()
    with pytest.raises(CheckpointError, match="batch_size=8 there, 16 now"):
        ge.training.fit(fresh, X, y, epochs=2, batch_size=16, resume_from=path, progress=False)
    other = ge.nn.Sequential(ge.nn.Dense(2, 5), "tanh", ge.nn.Dense(5, 2), seed=0)
    with pytest.raises(CheckpointError, match="does not fit graph"):
        ge.training.fit(other, X, y, epochs=2, batch_size=8, resume_from=path, progress=False)
    assert not other.built and not fresh.built
    with pytest.raises(ge.training.TrainingError, match="initial_epoch=3 is past epochs=2"):
        ge.training.fit(model(), X, y, epochs=2, initial_epoch=3, progress=False)


def test_checkpoint_inside_an_epoch_is_refused(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    saver = ge.training.LambdaCallback(on_batch_end=lambda b, logs: trainer.save_checkpoint(tmp_path / "x.ckpt"))
    trainer = Trainer(model())
    with pytest.raises(CheckpointError, match="between epochs"):
        trainer.fit(X, y, epochs=1, callbacks=[saver], progress=False)


def test_mutated_checkpoints_give_a_clear_error_or_a_correct_load(tmp_path):
    """Flipped bytes and changed JSON fields: only SaveFormatError / CheckpointError (or an
    optimizer state error, all GraphEngineErrors), never another exception, and a refused
    file changes nothing."""
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(model(), X, y, optimizer="adam", lr=0.01, epochs=1, progress=False, seed=0)
    trainer = history.trainer
    good = trainer.save_checkpoint(tmp_path / "good.ckpt")
    raw = open(good, "rb").read()
    before = weights(history)
    rng = np.random.default_rng(0)
    outcomes = set()
    for k in range(150):
        data = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(len(data)))] = int(rng.integers(256))
        path = tmp_path / f"m{k}.ckpt"
        path.write_bytes(bytes(data))
        try:
            trainer.load_checkpoint(path)
            outcomes.add("loaded")
        except ge.GraphEngineError as exc:
            assert isinstance(exc, (ge.SaveFormatError, CheckpointError)) or "load_state_dict" in str(exc), exc
            outcomes.add(type(exc).__name__)
            after = weights(history)
            assert all(np.array_equal(before[key], after[key]) for key in before)
    assert "SaveFormatError" in outcomes
    fields = [("epoch", "3"), ("epoch", 2.5), ("fit", []), ("rng", {"bit_generator": "MT19937"}), ("weights", [1]),
              ("optimizer", {"name": "adam"}), ("schedule", {"pending": 1, "state": {}}), ("history", {"epochs": "x"}),
              ("format", "graphengine-graph"), ("version", 2), ("extra", 1)]
    for key, value in fields:
        broken = _rewrite(good, tmp_path / f"{key}.ckpt", lambda d: d.update({key: value}))
        with pytest.raises(ge.SaveFormatError, match="training checkpoint"):
            ge.training.read_checkpoint(broken)


def test_resume_restores_batch_norm_running_statistics(tmp_path):
    X, y = ge.data.two_moons(96, noise=0.2, seed=2)

    def bn_model():
        return ge.nn.Sequential(ge.nn.Dense(2, 8, dtype="float64"), ge.nn.BatchNorm(8, dtype="float64"), "relu",
                                ge.nn.Dense(8, 2, dtype="float64"), seed=1)

    common = dict(optimizer="rmsprop", lr=0.01, epochs=4, batch_size=12, validation_split=0.25, seed=4,
                  dtype="float64", progress=False)
    whole = ge.training.fit(bn_model(), X, y, callbacks=[ModelCheckpoint(tmp_path / "bn-{epoch}.ckpt")], **common)
    resumed = ge.training.fit(bn_model(), X, y, resume_from=tmp_path / "bn-2.ckpt", **common)
    assert_same_run(whole, resumed)  # the running mean and variance are among the arrays compared
    names = set(weights(whole))
    assert any("running" in name or "mean" in name for name in names), names


def test_saving_a_checkpoint_to_a_directory_is_refused_and_leaves_nothing(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    trainer = ge.training.fit(model(), X, y, epochs=1, progress=False, seed=0).trainer
    folder = tmp_path / "ckpt"
    folder.mkdir()
    with pytest.raises(ge.GraphEngineError, match=r"cannot write the training checkpoint to '.*ckpt': it is a "
                                                  r"directory; give a file name inside it, e.g. '.*ckpt/model.ckpt'"
                       ) as info:
        trainer.save_checkpoint(folder)
    assert isinstance(info.value, IsADirectoryError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"] and not any(folder.iterdir())


def test_a_failed_checkpoint_write_leaves_no_partial_file_and_the_old_one_intact(tmp_path, monkeypatch):
    X, y = ge.data.two_moons(40, seed=0)
    trainer = ge.training.fit(model(), X, y, epochs=1, progress=False, seed=0).trainer
    path = trainer.save_checkpoint(tmp_path / "c.ckpt")
    kept = open(path, "rb").read()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt"] and open(path, "rb").read() == kept


def test_a_non_finite_hyper_parameter_is_refused_when_saving_a_checkpoint(tmp_path):
    X, y = ge.data.two_moons(40, seed=0)
    trainer = ge.training.fit(model(), X, y, optimizer="adam", epochs=1, progress=False, seed=0).trainer
    trainer.optimizer.hyper["lr"] = float("inf")
    with pytest.raises(CheckpointError, match=r"cannot save the optimizer's hyper-parameter 'lr': it is inf; a "
                                              r"training checkpoint holds finite numbers only"):
        trainer.save_checkpoint(tmp_path / "c.ckpt")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_param_and_changes_nothing(tmp_path, bad):
    X, y = ge.data.two_moons(40, seed=0)
    history = ge.training.fit(model(), X, y, optimizer="adam", lr=0.01, epochs=1, batch_size=8, progress=False,
                              seed=0)
    trainer = history.trainer
    name = trainer.graph.params()[0].name
    node = trainer.graph.node(name)
    good = node.value.copy()
    node.value = np.where(np.arange(good.size).reshape(good.shape) < 3, bad, good)  # 3 bad values
    path = trainer.save_checkpoint(tmp_path / "diverged.ckpt")
    node.value = good
    before = weights(history)
    with pytest.raises(CheckpointError, match=rf"holds NaN or infinite values in '{name}' \(3 of {good.size} values\)"
                                              r": it was written after training diverged.*nothing was changed"):
        trainer.load_checkpoint(path)
    after = weights(history)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    fresh = model()
    with pytest.raises(CheckpointError, match=rf"NaN or infinite values in '{name}'"):
        ge.training.fit(fresh, X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01, resume_from=path,
                        progress=False, seed=0)
    assert not fresh.built
