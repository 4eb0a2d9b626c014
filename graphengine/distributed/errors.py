"""The errors of ``graphengine.distributed``."""

from __future__ import annotations

from ..errors import GraphEngineError


class DistributedError(GraphEngineError, RuntimeError):
    """Ranks disagree (different shards, params, layouts) or a collective cannot run."""


class MPIUnavailableError(DistributedError, ImportError):
    """MPI was asked for (or a launcher started this process) but mpi4py is not installed."""


__all__ = ["DistributedError", "MPIUnavailableError"]
