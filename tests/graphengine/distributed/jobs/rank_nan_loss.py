"""MPI job (2 ranks): rank 1's shard holds a row that makes its loss NaN at one step.

Every rank must stop at that same step, before the update, with the loss check's
TrainingError (a rank stopping alone would leave the other waiting in the next gradient
allreduce). Each rank catches it, and the ranks then meet once more to compare their
params: identical on both and finite (the last finite values).

``python -m mpi4py rank_nan_loss.py OUT_DIR``: each rank writes OUT_DIR/rank<r>.json (files, not
stdout: the launcher merges the ranks' output streams, and two reports can end up on one line).
"""

import json
import pathlib
import sys

import numpy as np

import graphengine as ge
from graphengine.training import TrainingError

comm = ge.distributed.init()
X = np.random.default_rng(0).normal(size=(32, 3))
y = (X[:, 0] > 0).astype(np.int64)
Xs, ys = ge.distributed.scatter_dataset(X, y, comm, shuffle=False)
if comm.rank == 1:
    Xs = Xs.copy()
    Xs[9] = np.inf  # batch 3 of epoch 1 (batches of 4, no shuffling)
model = ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
report = {"rank": comm.rank}
try:
    ge.training.fit(model, Xs, ys, batch_size=4, epochs=3, comm=comm, progress=False, shuffle=False)
    report["error"] = None
except TrainingError as exc:
    report["error"] = str(exc)
params = np.concatenate([np.ravel(p.value) for p in model.graph.params()]).astype(np.float64)
report["finite"] = bool(np.isfinite(params).all())
root = params.copy()
comm.broadcast_(root, root=0)
report["same_as_root"] = bool(np.array_equal(root, params))
(pathlib.Path(sys.argv[1]) / f"rank{comm.rank}.json").write_text(json.dumps(report))
