"""MPI job (2 ranks): the Communicator's collectives and init() under a launcher.
Writes OUT/rank<r>.json."""

import json
import sys

import numpy as np

import graphengine as ge
from graphengine.distributed import DistributedError

out = sys.argv[1]
comm = ge.distributed.init()
report = {"rank": comm.rank, "size": comm.size, "backend": comm.backend, "launched": ge.distributed.launched_by_mpi(),
          "local_rank": comm.local_rank}
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
with open(f"{out}/rank{comm.rank}.json", "w") as f:
    json.dump(report, f)
