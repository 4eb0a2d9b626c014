"""The communicator: which process this is (``rank``), how many there are (``size``), and
the few collective operations data-parallel training needs, on MPI through mpi4py.

::

    comm = ge.distributed.init()        # under mpiexec: MPI.COMM_WORLD; else one process
    comm.rank, comm.size, comm.is_root

``init()`` works without MPI installed: it gives a communicator of size 1 whose
collectives return their input, so the same script runs with ``python train.py`` and
with ``mpiexec -n 4 python -m mpi4py train.py``. ``init("mpi")`` insists on MPI and says
which extra to install when mpi4py is missing; so does ``init()`` when an MPI launcher
started the process (it sets ``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``, ``PMIX_RANK`` or
``MPI_LOCALNRANKS``) but mpi4py is not there, since running N unconnected copies would
be silently wrong.

Arrays travel as buffers (``Allreduce``/``Bcast`` of NumPy arrays, upper-case mpi4py
calls), never pickled. CuPy arrays go through NCCL (:mod:`graphengine.distributed.nccl`),
set up on first use with MPI sharing the NCCL id.

A rank that raises: with ``python -m mpi4py script.py`` (or after ``init()``, which
installs the same hook when ``size > 1``) an uncaught exception on any rank prints its
traceback and aborts the whole job (``MPI_Abort``), instead of leaving the other ranks
waiting forever in a collective.
"""

from __future__ import annotations

import os
import sys
import time
import zlib

import numpy as np

from .errors import DistributedError, MPIUnavailableError

MPI_EXTRA_HINT = ('install the "mpi" extra: pip install "graphengine-nn[mpi]" (mpi4py and the mpich wheel); '
                  "on a cluster install only mpi4py, built against the site's MPI: "
                  "pip install --no-binary=mpi4py mpi4py")

# Variables MPI launchers set in the processes they start (MPICH/hydra and gforker,
# Open MPI, PMIx launchers such as srun --mpi=pmix, Intel MPI).
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
LAUNCHER_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
ABORT_GRACE_SECONDS = 1.0  # after printing the error, before MPI_Abort: time for the launcher to forward it


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (mpiexec, mpirun, srun) started this process with more
    than one rank, judged from the variables launchers set."""
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            try:
                return int(value) > 1
            except ValueError:
                return True
    return any(name in os.environ for name in LAUNCHER_RANK_VARIABLES)


def _import_mpi(why: str):
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise MPIUnavailableError(f"{why}, but mpi4py is not installed ({exc}); {MPI_EXTRA_HINT}") from None
    return MPI


class Communicator:
    """``rank``, ``size``, ``is_root`` and buffer collectives over an mpi4py communicator
    (``mpi_comm``), or over one process when ``mpi_comm`` is None.

    Collectives work on NumPy arrays in place (and CuPy arrays through NCCL); every rank
    must call the same collectives in the same order, as with MPI itself.
    """

    def __init__(self, mpi_comm=None):
        self.mpi_comm = mpi_comm
        if mpi_comm is None:
            self.rank, self.size = 0, 1
        else:
            self.rank, self.size = int(mpi_comm.Get_rank()), int(mpi_comm.Get_size())
        self._nccl = None
        self._local_rank = None

    @property
    def is_root(self) -> bool:
        """True on rank 0: the rank that shows progress and writes files."""
        return self.rank == 0

    @property
    def backend(self) -> str:
        """``"mpi"`` or ``"single"`` (one process, no MPI)."""
        return "single" if self.mpi_comm is None else "mpi"

    def __repr__(self) -> str:
        return f"<Communicator {self.backend}: rank {self.rank} of {self.size}>"

    # -- arrays, in place ----------------------------------------------------------------
    def allreduce_(self, array, op: str = "sum"):
        """Reduce ``array`` over all ranks, in place (``op``: ``sum``, ``min``, ``max``);
        returns it. NumPy arrays go through MPI ``Allreduce``, CuPy arrays through NCCL."""
        if self.size == 1:
            return array
        if _is_cupy(array):
            return self.nccl().allreduce_(array, op)
        self._check_buffer(array, "allreduce_")
        MPI = _mpi()
        self.mpi_comm.Allreduce(MPI.IN_PLACE, array, op=_mpi_op(MPI, op))
        return array

    def broadcast_(self, array, root: int = 0):
        """Overwrite ``array`` on every rank with the root's, in place; returns it."""
        self._check_root(root)
        if self.size == 1:
            return array
        if _is_cupy(array):
            return self.nccl().broadcast_(array, root)
        self._check_buffer(array, "broadcast_")
        self.mpi_comm.Bcast(array, root=root)
        return array

    def _check_buffer(self, array, what):
        if not isinstance(array, np.ndarray) or not array.flags.c_contiguous or not array.flags.writeable:
            raise DistributedError(
                f"comm.{what} takes a writeable C-contiguous NumPy (or CuPy) array, got "
                f"{type(array).__name__}{'' if not hasattr(array, 'flags') else ' (not contiguous or read-only)'}; "
                "pass np.ascontiguousarray(a) (a copy you own)")

    def _check_root(self, root):
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < self.size:
            raise DistributedError(f"root must be a rank between 0 and {self.size - 1}, got {root!r}")

    # -- small values -----------------------------------------------------------------------
    def sum_values(self, values) -> np.ndarray:
        """The element-wise sum over ranks of a few numbers (float64), as a new array."""
        buffer = np.array(values, dtype=np.float64).reshape(-1)
        return self.allreduce_(buffer, "sum")

    def agree(self, values, what: str) -> None:
        """Raise :class:`DistributedError` on every rank when ``values`` (a few integers)
        differ between ranks; ``what`` says in the message what they are."""
        if self.size == 1:
            return
        local = np.array(values, dtype=np.int64).reshape(-1)
        low, high = local.copy(), local.copy()
        self.allreduce_(low, "min")
        self.allreduce_(high, "max")
        if not np.array_equal(low, high):
            raise DistributedError(
                f"ranks disagree on {what}: this rank ({self.rank} of {self.size}) has {local.tolist()}, "
                f"the smallest over ranks {low.tolist()}, the largest {high.tolist()}")

    def agree_on_text(self, text: str, what: str) -> None:
        """Like :meth:`agree` for a description (compared by its CRC-32 and length); the
        error shows this rank's description."""
        if self.size == 1:
            return
        data = text.encode("utf-8")
        local = np.array([zlib.crc32(data), len(data)], dtype=np.int64)
        low, high = local.copy(), local.copy()
        self.allreduce_(low, "min")
        self.allreduce_(high, "max")
        if not np.array_equal(low, high):
            shown = text if len(text) <= 600 else text[:600] + " ..."
            raise DistributedError(
                f"ranks disagree on {what}; every rank must build the same model. This rank ({self.rank} of "
                f"{self.size}) has: {shown}")

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.size > 1:
            self.mpi_comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``); in one process, exit."""
        if self.size > 1:
            self.mpi_comm.Abort(code)
        raise SystemExit(code)

    # -- GPUs --------------------------------------------------------------------------------
    def nccl(self):
        """The NCCL communicator for CuPy arrays, made on first use (every rank must call
        this, or a collective on a CuPy array, at the same point)."""
        if self._nccl is None:
            from .nccl import NcclCommunicator

            self._nccl = NcclCommunicator.from_communicator(self)
        return self._nccl

    @property
    def local_rank(self) -> int:
        """This rank's number among the ranks on its own machine (to pick its GPU). The
        first reading is a collective (every rank reads it at the same point); it is kept."""
        if self.size == 1:
            return 0
        if self._local_rank is None:
            MPI = _mpi()
            local = self.mpi_comm.Split_type(MPI.COMM_TYPE_SHARED)
            try:
                self._local_rank = int(local.Get_rank())
            finally:
                local.Free()
        return self._local_rank


def _is_cupy(array) -> bool:
    return type(array).__module__.startswith("cupy")


def _mpi():
    from mpi4py import MPI

    return MPI


def _mpi_op(MPI, op):
    ops = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}
    if op not in ops:
        raise DistributedError(f"reduction op must be one of {', '.join(ops)}, got {op!r}")
    return ops[op]


def _abort_on_uncaught_exception(comm) -> None:
    """What ``python -m mpi4py`` does: an exception no one catches, on any rank, prints
    its traceback and aborts the job, so no rank is left waiting in a collective. The
    launcher forwards the ranks' output: the hook waits a moment after printing, so the
    traceback is not cut off by the abort."""
    previous = sys.excepthook
    if getattr(previous, "_graphengine_abort", False):
        return

    def hook(kind, value, traceback):
        try:
            sys.stderr.write(f"graphengine.distributed: rank {comm.Get_rank()} of {comm.Get_size()} raised "
                             f"{kind.__name__}: {value}; aborting the MPI job (traceback below)\n")
            previous(kind, value, traceback)
            sys.stderr.flush()
            time.sleep(ABORT_GRACE_SECONDS)
        finally:
            comm.Abort(1)

    hook._graphengine_abort = True
    sys.excepthook = hook


def init(backend: str = "auto", comm=None, *, abort_on_error: bool = True) -> Communicator:
    """The communicator of this process.

    ``backend``: ``"auto"`` (MPI when an MPI launcher started this process or mpi4py's
    MPI module is already imported, else one process), ``"mpi"`` (MPI, an error naming
    the ``mpi`` extra when mpi4py is missing) or ``"single"`` (one process, no MPI).
    ``comm``: an mpi4py communicator to use instead of ``MPI.COMM_WORLD`` (a
    ``Split`` of it, say). ``abort_on_error``: with more than one rank, an uncaught
    exception on any rank aborts the whole job (``MPI_Abort``) after printing its
    traceback, as ``python -m mpi4py`` does.
    """
    if comm is not None:
        if isinstance(comm, Communicator):
            return comm
        if not hasattr(comm, "Allreduce") or not hasattr(comm, "Get_rank"):
            raise DistributedError(
                f"comm must be an mpi4py communicator (MPI.COMM_WORLD, ...), got {type(comm).__name__}")
        wrapped = Communicator(comm)
    else:
        if backend not in ("auto", "mpi", "single"):
            raise DistributedError(f"backend must be 'auto', 'mpi' or 'single', got {backend!r}")
        if backend == "single":
            return Communicator(None)
        if backend == "auto" and not launched_by_mpi() and "mpi4py.MPI" not in sys.modules:
            return Communicator(None)
        why = ("ge.distributed.init('mpi') asks for MPI" if backend == "mpi" else
               "this process was started by an MPI launcher (mpiexec, srun) with several ranks")
        MPI = _import_mpi(why)
        wrapped = Communicator(MPI.COMM_WORLD)
    if abort_on_error and wrapped.size > 1:
        _abort_on_uncaught_exception(wrapped.mpi_comm)
    return wrapped


def as_communicator(comm) -> Communicator:
    """``comm`` as a :class:`Communicator` (an mpi4py communicator is wrapped; None gives
    the one-process communicator)."""
    if comm is None:
        return Communicator(None)
    if isinstance(comm, Communicator):
        return comm
    return init(comm=comm, abort_on_error=False)


__all__ = ["Communicator", "init", "as_communicator", "launched_by_mpi", "DistributedError", "MPIUnavailableError",
           "MPI_EXTRA_HINT"]
