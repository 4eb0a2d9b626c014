"""fit(..., comm=): the DataParallel helper in one process, and a 2-rank MPI job whose
training matches one-process training on the same global batches."""

import json
import pathlib

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import DataParallel, DistributedError
from graphengine.distributed.dataset import shard_indices

JOBS = pathlib.Path(__file__).resolve().parent / "jobs"


def _moons_fit(**kw):
    X, y = ge.data.two_moons(160, noise=0.1, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dense(8, 2), seed=0)
    sizes = {} if "global_batch_size" in kw else {"batch_size": 16}
    return ge.training.fit(model, X, y, optimizer="adam", lr=0.03, epochs=2, validation_split=0.25,
                           seed=0, progress=False, clip_norm=1.0, **sizes, **kw)


def test_fit_with_a_one_process_comm_is_plain_fit():
    plain = _moons_fit()
    comm = ge.distributed.init("single")
    one = _moons_fit(comm=comm)
    by_global = _moons_fit(comm=comm, global_batch_size=16)
    assert plain["loss"] == one["loss"] == by_global["loss"]
    assert plain["val_loss"] == one["val_loss"]
    assert one.params["ranks"] == 1 and one.params["global_batch_size"] == 16 and "ranks" not in plain.params
    # the allreduce hook is taken out again after fit
    assert not any("allreduce" in repr(h) for h in one.trainer._compiled_step.before_update)


def test_data_parallel_batch_sizes_and_errors():
    from graphengine.distributed.communicator import Communicator

    comm = Communicator(None)
    comm.rank, comm.size = 1, 4  # arithmetic only: no collective is called here
    parallel = DataParallel(comm, 8)
    assert (parallel.batch_size, parallel.global_batch_size, parallel.is_root) == (8, 32, False)
    parallel = DataParallel(comm, 8, global_batch_size=64)
    assert (parallel.batch_size, parallel.global_batch_size) == (16, 64)
    with pytest.raises(DistributedError, match="does not split evenly over 4 ranks; pass a multiple of 4"):
        DataParallel(comm, 8, global_batch_size=30)
    with pytest.raises(DistributedError, match="global_batch_size must be an int >= 1"):
        DataParallel(comm, 8, global_batch_size=0)
    assert DataParallel(None, 8).params() == {} and DataParallel(None, 8).is_root


def test_non_root_ranks_skip_callbacks_that_write_files():
    from graphengine.distributed.communicator import Communicator
    from graphengine.training import LambdaCallback, ModelCheckpoint

    comm = Communicator(None)
    comm.rank, comm.size = 1, 2
    writer = ModelCheckpoint("/nonexistent/ckpt.npz")
    printer = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    mine = LambdaCallback()
    mine.root_only = True
    kept = DataParallel(comm, 8).callbacks([writer, printer, mine], (ModelCheckpoint,))
    assert kept == [printer]
    root = Communicator(None)
    assert DataParallel(root, 8).callbacks([writer, printer, mine], (ModelCheckpoint,)) == [writer, printer, mine]


def test_fit_refuses_a_distributed_optimizer_without_comm():
    X, y = ge.data.two_moons(40, noise=0.1, seed=0)
    single = ge.distributed.init("single")
    with pytest.raises(DistributedError, match="pass comm=comm to fit"):
        ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0), X, y,
                        optimizer=lambda params: ge.distributed.DistributedOptimizer(
                            ge.optimizers.create("sgd", params, lr=0.1), single),
                        epochs=1, progress=False)
    # with comm= it trains: the hook averages, the optimizer's own step does not average again
    history = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0), X, y,
                              optimizer=lambda params: ge.distributed.DistributedOptimizer(
                                  ge.optimizers.create("sgd", params, lr=0.1), single),
                              epochs=1, progress=False, comm=single)
    assert history.trainer.optimizer.steps == 2 and not history.trainer.optimizer._reduced


def _load_job(module_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_two_ranks", module_path)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    return job


def test_two_ranks_train_like_one_process_on_the_same_global_batches(two_rank_job):
    tmp_path = two_rank_job
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    params = [dict(np.load(tmp_path / f"rank{r}_params.npz")) for r in range(2)]
    assert [r["rank"] for r in reports] == [0, 1] and reports[0]["is_root"] and not reports[1]["is_root"]

    # both ranks hold bit-identical params after every step, and after fit
    for report in reports:
        assert report["in_sync_after_every_step"], report["steps_checked"]
        assert report["batchnorm_state_in_sync"] and report["compile_step_in_sync"]
        assert report["scatter_from_root_same"] and report["global_batch_size_same"]
    for name in params[0]:
        assert np.array_equal(params[0][name], params[1][name]), name
    assert reports[0]["history"] == reports[1]["history"]  # reduced logs: the same History everywhere
    assert reports[0]["history_params"]["ranks"] == 2 and reports[0]["history_params"]["global_batch_size"] == 20
    assert not any("allreduce" in h for h in reports[0]["hooks_after_fit"])

    # only the root prints, and runs the callbacks that write files
    stdout = (tmp_path / "stdout.txt").read_text()
    assert [line.split(":")[0].split()[:2] for line in stdout.splitlines() if line.startswith("epoch")] == \
        [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    assert (tmp_path / "root_only.txt").read_text() == "rank 0 epoch 1\nrank 0 epoch 2\nrank 0 epoch 3\n"
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-1.ckpt", "ckpt-2.ckpt", "ckpt-3.ckpt"]

    # one process, the same global batches: rank 0's local batch t then rank 1's
    job = _load_job(JOBS / "train_two_ranks.py")
    X, y, X_val, y_val = job.dataset()
    shards = [shard_indices(len(X), 2, r, shuffle=True, seed=job.SHARD_SEED) for r in range(2)]
    B = job.LOCAL_BATCH
    order = np.concatenate([np.concatenate([s[t:t + B] for s in shards]) for t in range(0, len(shards[0]), B)])
    val_order = np.concatenate([shard_indices(len(X_val), 2, r, shuffle=False) for r in range(2)])
    reference = job.model(job.MODEL_SEED_ROOT)  # rank 0's init, which fit broadcast
    history = ge.training.fit(reference, X[order], y[order], batch_size=2 * B,
                              validation_data=(X_val[val_order], y_val[val_order]), **job.FIT)
    for p in reference.params():
        np.testing.assert_allclose(params[0][p.name], p.value, rtol=1e-6, atol=1e-12, err_msg=p.name)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(reports[0]["history"][key], history[key], rtol=1e-9, err_msg=key)

    # DistributedOptimizer in compile_step, allreduce before clipping: one process on the global batch
    assert reports[0]["compile_step_rel_diff"] < 1e-12 and reports[0]["allreduce_calls"] == 4

    # disagreements raise on every rank, with what this rank has
    for report in reports:
        errors = report["errors"]
        assert "ranks disagree on the number of training examples" in errors["unequal_shards"]
        assert "scatter_dataset" in errors["unequal_shards"]
        assert "ranks disagree on the params to broadcast" in errors["different_params"]
        assert f"W float64[3, {2 + report['rank']}]" in errors["different_params"]
        assert "pass a multiple of 2" in errors["global_batch"]


def test_a_nan_loss_on_one_rank_stops_every_rank_at_the_same_step(mpi_job, tmp_path):
    # 120 s: two interpreters importing graphengine are slow on a loaded machine
    result = mpi_job("rank_nan_loss.py", tmp_path, ranks=2, timeout=120)
    assert result.returncode == 0, result.output
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1], result.output
    for report in reports:
        assert "averaged over the 2 ranks: a rank's loss was not finite" in report["error"], report
        assert "at epoch 1, batch 3" in report["error"], report
        assert report["finite"] and report["same_as_root"], report
