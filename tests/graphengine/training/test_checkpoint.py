"""Checkpoints: snapshots, weights files, whole-graph files."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import CheckpointError, load_weights, read_weights, restore, save_weights, snapshot


def _trained(seed=0):
    X, y = ge.data.blobs(60, centers=3, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 4), ge.nn.BatchNorm(), "relu", ge.nn.Dense(4, 3), seed=seed)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.05, epochs=2, seed=0)
    return model, history.trainer, X, y


def test_snapshot_and_restore_round_trip():
    model, trainer, X, y = _trained()
    saved = snapshot(model)
    assert "sequential/batchnorm_1/running_mean" in saved  # state travels with the params
    before = trainer.predict(X)
    trainer.fit(X, y, epochs=2)
    assert not np.allclose(trainer.predict(X), before)
    restore(trainer.graph, saved)
    np.testing.assert_allclose(trainer.predict(X), before)


def test_weights_file_round_trip_into_a_new_model(tmp_path):
    model, trainer, X, y = _trained(seed=0)
    path = save_weights(trainer, tmp_path / "weights.npz")
    other, other_trainer, _, _ = _trained(seed=1)
    assert not np.allclose(other_trainer.predict(X), trainer.predict(X))
    load_weights(other_trainer, path)
    np.testing.assert_allclose(other_trainer.predict(X), trainer.predict(X), rtol=1e-6)
    with np.load(path, allow_pickle=False) as data:
        assert "sequential/dense_1/W" in data.files


def test_whole_graph_save_and_load(tmp_path):
    model, trainer, X, y = _trained()
    trainer.save(tmp_path / "model.ge")
    g = ge.load(tmp_path / "model.ge")
    run = g.forward({"x": X}, fetch=[trainer.eval_output.name])
    np.testing.assert_allclose(run.value(trainer.eval_output.name), trainer.predict(X), rtol=1e-6)
    assert set(read_weights(tmp_path / "model.ge")) == set(snapshot(trainer.graph))


def test_mismatched_checkpoints_are_refused(tmp_path):
    model, trainer, X, y = _trained()
    np.savez(tmp_path / "partial.npz", **{"sequential/dense_1/W": np.zeros((2, 4), np.float32)})
    with pytest.raises(CheckpointError, match="no values for params sequential/dense_1/b"):
        load_weights(trainer, tmp_path / "partial.npz")
    load_weights(trainer, tmp_path / "partial.npz", strict=False)
    assert not model[0].W.value.any()
    with pytest.raises(CheckpointError, match=r"has shape \(2, 4\) in the graph but \(3,\)"):
        restore(trainer.graph, {"sequential/dense_1/W": np.zeros(3)})
    with pytest.raises(CheckpointError, match="'nope' is not a node"):
        restore(trainer.graph, {"nope": np.zeros(3)})
    with pytest.raises(CheckpointError, match="not built yet"):
        snapshot(ge.nn.Dense(2, 2))
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ge.SaveFormatError, match="not a weights file"):
        read_weights(tmp_path / "junk.npz")


def test_weights_over_the_limits_are_refused_and_leave_the_graph_unchanged(tmp_path):
    from graphengine.archive import Limits

    model, trainer, X, y = _trained(seed=0)
    path = save_weights(trainer, tmp_path / "weights.npz")
    other, other_trainer, _, _ = _trained(seed=1)
    before = snapshot(other_trainer)
    with pytest.raises(ge.SaveFormatError, match=r"weights file\).*Limits.max_array_bytes"):
        load_weights(other_trainer, path, limits=Limits(max_array_bytes=64))
    after = snapshot(other_trainer)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    load_weights(other_trainer, path)  # within the default limits it loads
    np.testing.assert_allclose(other_trainer.predict(X), trainer.predict(X), rtol=1e-6)


def test_saving_weights_to_a_directory_or_a_missing_folder_is_refused_and_writes_nothing(tmp_path):
    _, trainer, _, _ = _trained()
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ge.GraphEngineError, match=r"cannot write the weights to '.*out': it is a directory; give a file "
                                                  r"name inside it, e.g. '.*out/weights.npz'") as info:
        save_weights(trainer, folder)
    assert isinstance(info.value, IsADirectoryError)
    with pytest.raises(ge.GraphEngineError, match=r"the folder '.*nowhere' does not exist; create it first") as info:
        save_weights(trainer, tmp_path / "nowhere" / "w.npz")
    assert isinstance(info.value, FileNotFoundError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not any(folder.iterdir())


def test_a_failed_weights_write_leaves_the_old_file_and_no_partial_file(tmp_path, monkeypatch):
    _, trainer, _, _ = _trained()
    path = save_weights(trainer, tmp_path / "w.npz")
    kept = open(path, "rb").read()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_weights(trainer, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"] and open(path, "rb").read() == kept
    assert set(read_weights(path)) == set(snapshot(trainer))
