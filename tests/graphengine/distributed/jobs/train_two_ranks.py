"""MPI job (2 ranks): the communicator's collectives, data-parallel training, and
disagreeing ranks.

Each rank writes OUT/rank<r>.json (checks and figures) and OUT/rank<r>_params.npz (its
params after fit); the tests compare them with a one-process run on the same global
batches. Launched once per test session by the ``two_rank_job`` fixture (conftest.py).
"""

import functools
import json
import sys

import numpy as np

import graphengine as ge
from graphengine.distributed import DistributedError

SHARD_SEED, MODEL_SEED_ROOT = 1, 10
LOCAL_BATCH, EPOCHS = 10, 3


def dataset():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1).astype(np.int64)
    X_val = rng.normal(size=(40, 4))
    y_val = (X_val[:, 0] + X_val[:, 1] * X_val[:, 2] > 0).astype(np.int64) + (X_val[:, 3] > 1).astype(np.int64)
    return X, y, X_val, y_val


def model(seed):
    return ge.nn.Sequential(ge.nn.Dense(4, 8, dtype="float64"), "tanh", ge.nn.Dense(8, 3, dtype="float64"), seed=seed)


FIT = dict(optimizer="momentum", lr=0.2, momentum=0.9, clip_norm=0.5, l2=1e-3, dtype="float64", epochs=EPOCHS,
           shuffle=False, progress=False, seed=0)


def main(out):
    comm = ge.distributed.init()
    assert comm.size == 2, comm
    report = {"rank": comm.rank, "size": comm.size, "is_root": comm.is_root, "collectives": collectives(comm)}
    X, y, X_val, y_val = dataset()

    # shards: every rank passes the data / only the root does: the same shards
    Xs, ys = ge.distributed.scatter_dataset(X, y, comm, shuffle=True, seed=SHARD_SEED)
    Xr, yr = ge.distributed.scatter_dataset(X if comm.is_root else None, y if comm.is_root else None, comm,
                                            shuffle=True, seed=SHARD_SEED)
    report["scatter_from_root_same"] = bool(np.array_equal(Xs, Xr) and np.array_equal(ys, yr))
    report["shard_rows"] = int(Xs.shape[0])
    Xv, yv = ge.distributed.scatter_dataset(X_val, y_val, comm, shuffle=False)

    # fit: ranks start from different inits (the root's is broadcast); params compared after every step
    sync = []
    check = ge.training.LambdaCallback(
        on_batch_end=lambda batch, logs: sync.append(ge.distributed.parameters_in_sync(net, comm)))
    net = model(MODEL_SEED_ROOT + comm.rank)
    writer = ge.training.LambdaCallback(
        on_epoch_end=lambda epoch, logs: open(f"{out}/root_only.txt", "a").write(f"rank {comm.rank} epoch {epoch}\n"))
    writer.root_only = True  # like ModelCheckpoint: runs on the root only
    checkpoint = ge.training.ModelCheckpoint(f"{out}/ckpt-{{epoch}}.ckpt")
    history = ge.training.fit(net, Xs, ys, batch_size=LOCAL_BATCH, validation_data=(Xv, yv), comm=comm,
                              callbacks=[check, writer, checkpoint], **{**FIT, "verbose": True})
    report["in_sync_after_every_step"] = bool(all(sync)) and len(sync) == EPOCHS * 5
    report["steps_checked"] = len(sync)
    report["history"] = {k: list(v) for k, v in history.history.items() if k != "time"}
    report["history_params"] = {k: v for k, v in history.params.items()}
    report["hooks_after_fit"] = [repr(h) for h in history.trainer._compiled_step.before_update]
    np.savez(f"{out}/rank{comm.rank}_params.npz", **{p.name: p.value for p in net.params()})

    # global_batch_size= is the same training as batch_size= per rank
    net2 = model(MODEL_SEED_ROOT)
    ge.training.fit(net2, Xs, ys, global_batch_size=2 * LOCAL_BATCH, validation_data=(Xv, yv), comm=comm, **FIT)
    report["global_batch_size_same"] = all(np.array_equal(a.value, b.value) for a, b in zip(net.params(), net2.params()))

    # BatchNorm running statistics are averaged over the ranks at each epoch's end
    bn = ge.nn.Sequential(ge.nn.Dense(4, 6, dtype="float64"), ge.nn.BatchNorm(6, dtype="float64"), "relu",
                          ge.nn.Dense(6, 3, dtype="float64"), seed=3)
    ge.training.fit(bn, Xs, ys, batch_size=12, comm=comm, optimizer="sgd", lr=0.1, epochs=1, dtype="float64",
                    progress=False, seed=0)
    report["batchnorm_state_in_sync"] = ge.distributed.parameters_in_sync(bn, comm)

    # DistributedOptimizer in a hand-written compile_step loop = one process on the global batch
    g, loss, W = hand_graph()
    opt = ge.distributed.DistributedOptimizer(ge.optimizers.create("sgd", g.params(), lr=0.5), comm)
    ge.distributed.broadcast_parameters(g, comm)
    step = ge.compile_step(loss, opt, before_update=[opt.allreduce_gradients,
                                                     functools.partial(ge.clip_grad_norm, max_norm=0.3)])
    g_ref, loss_ref, W_ref = hand_graph()
    W_ref.value = W.value
    opt_ref = ge.optimizers.create("sgd", g_ref.params(), lr=0.5)
    step_ref = ge.compile_step(loss_ref, opt_ref, before_update=[functools.partial(ge.clip_grad_norm, max_norm=0.3)])
    lo, hi = comm.rank * 8, (comm.rank + 1) * 8
    for t in range(4):
        xb = X[t * 16:(t + 1) * 16]
        step({"x": xb[lo:hi]})
        step_ref({"x": xb})
    report["compile_step_rel_diff"] = float(np.max(np.abs(W.value - W_ref.value)) / np.max(np.abs(W_ref.value)))
    report["compile_step_in_sync"] = ge.distributed.parameters_in_sync(g, comm)
    report["allreduce_calls"] = opt.allreduce_calls

    # disagreements are errors on every rank, not hangs or garbage
    report["errors"] = {}
    try:
        ge.training.fit(model(0), Xs[: 40 + 4 * comm.rank], ys[: 40 + 4 * comm.rank], batch_size=8, comm=comm, **FIT)
    except DistributedError as exc:
        report["errors"]["unequal_shards"] = str(exc)
    other = ge.Graph("other")
    other.param("W", np.zeros((3, 2 + comm.rank)))
    try:
        ge.distributed.broadcast_parameters(other, comm)
    except DistributedError as exc:
        report["errors"]["different_params"] = str(exc)
    try:
        ge.distributed.DataParallel(comm, 8, global_batch_size=7)
    except DistributedError as exc:
        report["errors"]["global_batch"] = str(exc)

    with open(f"{out}/rank{comm.rank}.json", "w") as f:
        json.dump(report, f, indent=1)


def collectives(comm):
    report = {"backend": comm.backend, "launched": ge.distributed.launched_by_mpi(), "local_rank": comm.local_rank}
    a = np.arange(5, dtype=np.float32) * (comm.rank + 1)
    comm.allreduce_(a)
    report["sum"] = a.tolist()
    b = np.array([comm.rank + 3.0])
    comm.allreduce_(b, "max")
    report["max"] = b.tolist()
    c = np.full(3, comm.rank, dtype=np.int64)
    comm.broadcast_(c, root=1)
    report["bcast_from_1"] = c.tolist()
    report["sum_values"] = comm.sum_values([1, comm.rank]).tolist()
    try:
        comm.agree([comm.rank], "the rank")
    except DistributedError as exc:
        report["agree_error"] = str(exc)
    try:
        comm.allreduce_(np.arange(6.0)[::2])
    except DistributedError as exc:
        report["buffer_error"] = str(exc)
    comm.barrier()
    return report


def hand_graph():
    g = ge.Graph("hand")
    x = g.input("x", shape=(None, 4), dtype="float64")
    W = g.param("W", np.random.default_rng(5).normal(size=(4, 2)))
    loss = ge.ops.mean(ge.ops.tanh(x @ W) ** 2)
    return g, loss, W


if __name__ == "__main__":
    main(sys.argv[1])
