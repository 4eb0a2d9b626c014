"""Collectives on CuPy arrays through NCCL (CuPy's bindings), with MPI only to start the
ranks and share the NCCL id.

One process drives one GPU: call :func:`select_gpu` (``ge.distributed.select_gpu(comm)``)
before moving the graph to CuPy, so that rank ``r`` uses the GPU numbered by its rank on
its own machine (``comm.local_rank``), or give each rank one GPU with
``CUDA_VISIBLE_DEVICES``. The NCCL communicator drives the current CuPy device. Rank 0
makes the NCCL unique id, MPI broadcasts its 128 bytes, and every rank joins with
``ncclCommInitRank``. NCCL's bootstrap opens a socket on the root: on one machine,
``NCCL_SOCKET_IFNAME=lo`` keeps it on the loopback interface. Reductions run on CuPy's current stream, so the
kernels that come after them on that stream see the result without a host sync; no
array is copied to the host.

Without CuPy, or without a GPU, making the communicator raises
:class:`~graphengine.errors.BackendUnavailableError` (the tests skip there).
"""

from __future__ import annotations

import numpy as np

from ..errors import BackendUnavailableError
from .errors import DistributedError

NCCL_UNIQUE_ID_BYTES = 128


def _nccl_module():
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as exc:
        raise BackendUnavailableError(
            f"NCCL collectives need CuPy with NCCL ({exc}); install the cupy extra: pip install "
            '"graphengine-nn[cupy]" on a machine with an NVIDIA GPU') from None
    if not getattr(nccl, "available", True):
        raise BackendUnavailableError("this CuPy was built without NCCL; install a CuPy wheel that ships NCCL "
                                      "(cupy-cuda12x) or NCCL itself")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendUnavailableError(f"NCCL needs a CUDA GPU; CUDA reports: {exc}") from None
    if count < 1:
        raise BackendUnavailableError("NCCL needs a CUDA GPU; this machine has none")
    return cupy, nccl


def _nccl_dtype(nccl, dtype) -> int:
    table = {np.dtype(np.float16): "NCCL_FLOAT16", np.dtype(np.float32): "NCCL_FLOAT32",
             np.dtype(np.float64): "NCCL_FLOAT64", np.dtype(np.int32): "NCCL_INT32",
             np.dtype(np.int64): "NCCL_INT64"}
    name = table.get(np.dtype(dtype))
    if name is None:
        raise DistributedError(f"NCCL collectives take float16/32/64 or int32/64 arrays, got {np.dtype(dtype)}")
    return getattr(nccl, name)


def _nccl_op(nccl, op: str) -> int:
    ops = {"sum": "NCCL_SUM", "min": "NCCL_MIN", "max": "NCCL_MAX"}
    if op not in ops:
        raise DistributedError(f"reduction op must be one of {', '.join(ops)}, got {op!r}")
    return getattr(nccl, ops[op])


def _id_to_bytes(unique_id) -> np.ndarray:
    """CuPy's unique id (bytes in recent CuPy, a tuple of small ints in older ones) as
    128 bytes to broadcast."""
    if isinstance(unique_id, (bytes, bytearray)):
        data = np.frombuffer(bytes(unique_id), dtype=np.uint8).copy()
    else:
        data = (np.array(unique_id, dtype=np.int64) % 256).astype(np.uint8)
    if data.size != NCCL_UNIQUE_ID_BYTES:
        raise DistributedError(f"unexpected NCCL unique id of {data.size} bytes (expected {NCCL_UNIQUE_ID_BYTES})")
    return data


def _bytes_to_id(data: np.ndarray, like):
    if isinstance(like, (bytes, bytearray)):
        return data.tobytes()
    return tuple(int(v) for v in data.astype(np.int8))  # older CuPy: signed chars


def select_gpu(comm) -> int:
    """Make GPU ``comm.local_rank % (GPUs on this machine)`` CuPy's current device and
    return its number: one GPU per rank on each machine. Call it before ``g.to("cupy")``."""
    cupy, _ = _nccl_module()
    device = comm.local_rank % cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(device).use()
    return device


class NcclCommunicator:
    """Allreduce and broadcast of CuPy arrays between the ranks of a
    :class:`~graphengine.distributed.Communicator`, in place, on the current stream."""

    def __init__(self, nccl_comm, rank: int, size: int, device: int):
        self.nccl_comm = nccl_comm
        self.rank, self.size, self.device = rank, size, device

    @classmethod
    def from_communicator(cls, comm) -> "NcclCommunicator":
        """Join every rank of ``comm`` in one NCCL communicator (a collective: every rank
        calls it at the same point)."""
        cupy, nccl = _nccl_module()
        device = cupy.cuda.runtime.getDevice()
        # the id and one more byte saying how this CuPy spells it (1: bytes, 0: a tuple of ints);
        # only the root calls ncclGetUniqueId, which opens NCCL's bootstrap socket
        data = np.zeros(NCCL_UNIQUE_ID_BYTES + 1, dtype=np.uint8)
        if comm.rank == 0:
            unique_id = nccl.get_unique_id()
            data[:-1] = _id_to_bytes(unique_id)
            data[-1] = isinstance(unique_id, (bytes, bytearray))
        comm.broadcast_(data, root=0)
        unique_id = _bytes_to_id(data[:-1], b"" if data[-1] else ())
        return cls(nccl.NcclCommunicator(comm.size, unique_id, comm.rank), comm.rank, comm.size, device)

    def _check(self, array, what):
        import cupy

        if not isinstance(array, cupy.ndarray) or not array.flags.c_contiguous:
            raise DistributedError(f"NCCL {what} takes a C-contiguous CuPy array, got {type(array).__name__}")
        if array.device.id != self.device:
            raise DistributedError(f"NCCL {what}: the array lives on GPU {array.device.id}, but this rank's NCCL "
                                   f"communicator drives GPU {self.device}; keep each rank's graph on its own GPU")

    def allreduce_(self, array, op: str = "sum"):
        """Reduce ``array`` over all ranks in place; returns it."""
        import cupy
        from cupy.cuda import nccl

        self._check(array, "allreduce_")
        stream = cupy.cuda.get_current_stream()
        self.nccl_comm.allReduce(array.data.ptr, array.data.ptr, array.size, _nccl_dtype(nccl, array.dtype),
                                 _nccl_op(nccl, op), stream.ptr)
        return array

    def broadcast_(self, array, root: int = 0):
        """Overwrite ``array`` with the root's, in place; returns it."""
        import cupy
        from cupy.cuda import nccl

        self._check(array, "broadcast_")
        stream = cupy.cuda.get_current_stream()
        self.nccl_comm.bcast(array.data.ptr, array.size, _nccl_dtype(nccl, array.dtype), root, stream.ptr)
        return array

    def __repr__(self) -> str:
        return f"<NcclCommunicator rank {self.rank} of {self.size} on GPU {self.device}>"


__all__ = ["NcclCommunicator", "select_gpu", "NCCL_UNIQUE_ID_BYTES"]
