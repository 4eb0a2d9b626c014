"""Data-parallel training on MPI (through mpi4py), in the vocabulary of Horovod and
ChainerMN. Each rank holds the whole model and a shard of the data; after every backward
pass the ranks average their gradients (one flat-buffer ``Allreduce``), so they apply
the same update and stay bit-identical.

::

    import graphengine as ge

    comm = ge.distributed.init()            # rank, size, is_root; size 1 without MPI
    X, y = ge.data.two_moons(4000, noise=0.1, seed=0)
    X_shard, y_shard = ge.distributed.scatter_dataset(X, y, comm, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 16), "tanh", ge.nn.Dense(16, 2), seed=0)
    history = ge.training.fit(model, X_shard, y_shard, optimizer="adam", lr=0.03, epochs=5,
                              batch_size=32, comm=comm, seed=0)   # global batch: 32 × comm.size

launched with ``mpiexec -n 4 python -m mpi4py train.py`` (see ``docs/distributed.md``).

The pieces, usable without ``fit``:

* :func:`init` → :class:`Communicator` (``rank``, ``size``, ``is_root``, buffer collectives);
* :func:`broadcast_parameters` (every rank starts from the root's params);
* :func:`scatter_dataset` (equal shards; the remainder is documented there);
* :class:`DistributedOptimizer` (gradients averaged before the update; with
  ``compile_step`` as the first ``before_update`` hook);
* :func:`parameters_in_sync` (are the params bit-identical on every rank?);
* CuPy graphs: collectives through NCCL (:mod:`graphengine.distributed.nccl`,
  :func:`select_gpu`).
"""

from .communicator import (
    MPI_EXTRA_HINT,
    Communicator,
    DistributedError,
    MPIUnavailableError,
    as_communicator,
    init,
    launched_by_mpi,
)
from .dataset import scatter_dataset, shard_indices
from .nccl import NcclCommunicator, select_gpu
from .optimizer import DistributedOptimizer
from .parameters import FlatBuffers, broadcast_parameters, parameters_checksum, parameters_in_sync
from .training import DataParallel

__all__ = [
    "init", "Communicator", "as_communicator", "launched_by_mpi", "DistributedError", "MPIUnavailableError",
    "MPI_EXTRA_HINT", "broadcast_parameters", "parameters_in_sync", "parameters_checksum", "FlatBuffers",
    "scatter_dataset", "shard_indices", "DistributedOptimizer", "DataParallel", "NcclCommunicator", "select_gpu",
]
