"""MPI job (2 ranks): rank 1 raises in the middle of fit, while rank 0 waits in the
gradient allreduce. The job must end (non-zero) with rank 1's error, not hang.

``python rank_raises.py``: ge.distributed.init() installed the abort-on-error hook;
``python -m mpi4py rank_raises.py``: mpi4py's runner aborts the same way.
"""

import numpy as np

import graphengine as ge


def explode(batch, logs):
    if comm.rank == 1 and batch == 2:
        raise RuntimeError("rank 1 fails on purpose at batch 2")


comm = ge.distributed.init()
X = np.random.default_rng(0).normal(size=(64, 3))
y = (X[:, 0] > 0).astype(np.int64)
Xs, ys = ge.distributed.scatter_dataset(X, y, comm, seed=0)
model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
ge.training.fit(model, Xs, ys, batch_size=4, epochs=50, comm=comm, progress=False,
                callbacks=[ge.training.LambdaCallback(on_batch_end=explode)])
print("rank", comm.rank, "finished training: the failure did not stop the job", flush=True)
