"""``scatter_dataset``: each rank its own shard of the examples, all shards the same size.

::

    X_shard, y_shard = ge.distributed.scatter_dataset(X, y, comm, shuffle=True, seed=0)

The examples are permuted with ``seed`` (the same permutation on every rank), cut into
``comm.size`` consecutive blocks of equal length, and rank ``r`` keeps block ``r``.
Equal shards keep the ranks in step: the same number of batches per epoch, of the same
sizes, so averaging the gradients of the ranks gives the gradient of the global batch.

The remainder, when ``comm.size`` does not divide the number of examples ``n``:

* ``remainder="drop"`` (default): each shard has ``n // size`` examples; the last
  ``n % size`` examples of the permutation (fewer than ``size``, a different few for
  each seed) are not used;
* ``remainder="repeat"``: each shard has ``ceil(n / size)`` examples; the permutation is
  extended with its own first ``size * ceil(n / size) - n`` entries, so every example is
  used and those few twice.

Either every rank passes the whole dataset (each takes its block; nothing is sent), or
only the root does and the others pass ``None`` (the root sends each rank its block with
one ``Scatter`` per array).
"""

from __future__ import annotations

import json

import numpy as np

from .communicator import DistributedError, as_communicator

REMAINDERS = ("drop", "repeat")


def shard_indices(n: int, size: int, rank: int, shuffle: bool = True, seed=0, remainder: str = "drop") -> np.ndarray:
    """The indices of the examples rank ``rank`` of ``size`` keeps (see the module docs)."""
    if remainder not in REMAINDERS:
        raise DistributedError(f"remainder must be 'drop' or 'repeat', got {remainder!r}")
    for what, value in (("n", n), ("size", size), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DistributedError(f"shard_indices: {what} must be an int, got {value!r} ({type(value).__name__})")
    if size < 1:
        raise DistributedError(f"shard_indices: size (the number of ranks) must be at least 1, got {size}")
    if not 0 <= rank < size:
        raise DistributedError(f"shard_indices: rank must be in 0..{size - 1} for size {size}, got {rank}")
    if n < size:
        raise DistributedError(f"cannot give {size} ranks one example each from {n} examples; use fewer ranks "
                               "or more data")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    if remainder == "drop":
        per = n // size
    else:
        per = -(-n // size)
        order = np.concatenate([order, order[:per * size - n]])
    return order[rank * per:(rank + 1) * per]


def _as_array(a, what):
    if a is None:
        return None
    a = np.asarray(a)
    if a.ndim == 0:
        raise DistributedError(f"{what} must have an examples axis, got a 0-d array")
    return a


def scatter_dataset(X, y, comm, shuffle: bool = True, seed=0, remainder: str = "drop"):
    """This rank's shard ``(X_shard, y_shard)`` of ``(X, y)`` (``y`` may be None); see
    the module docs for the split and the remainder. A collective: every rank calls it."""
    comm = as_communicator(comm)
    if remainder not in REMAINDERS:
        raise DistributedError(f"remainder must be 'drop' or 'repeat', got {remainder!r}")
    X, y = _as_array(X, "X"), _as_array(y, "y")
    if X is not None and y is not None and X.shape[0] != y.shape[0]:
        raise DistributedError(f"X has {X.shape[0]} examples but y has {y.shape[0]}")
    has = np.array([X is not None], dtype=np.int64)
    everyone = int(comm.sum_values(has)[0])
    if everyone == comm.size:
        comm.agree([X.shape[0], y is not None, int(bool(shuffle)), REMAINDERS.index(remainder)],
                   "the number of examples, whether y is given, shuffle and remainder of scatter_dataset")
        idx = shard_indices(X.shape[0], comm.size, comm.rank, shuffle, seed, remainder)
        return X[idx], (y[idx] if y is not None else None)
    if everyone == 0:
        raise DistributedError("scatter_dataset got X=None on every rank; give the data on the root (or on every rank)")
    if (X is not None) != comm.is_root:
        raise DistributedError(
            f"scatter_dataset: rank {comm.rank} {'has' if X is not None else 'has no'} data but {everyone} of "
            f"{comm.size} ranks do; pass the data on every rank, or on the root only (None elsewhere)")
    return _scatter_from_root(X, y, comm, shuffle, seed, remainder)


def _scatter_from_root(X, y, comm, shuffle, seed, remainder):
    arrays = [X, y] if X is not None and y is not None else [X] if X is not None else None
    header = None
    if comm.is_root:
        header = json.dumps({"n": int(X.shape[0]), "arrays": [[a.dtype.str, list(a.shape[1:])] for a in arrays]})
    header = _broadcast_text(comm, header)
    meta = json.loads(header)
    n, specs = meta["n"], meta["arrays"]
    per = len(shard_indices(n, comm.size, 0, False, 0, remainder))
    shards = []
    for k, (dtype, tail) in enumerate(specs):
        out = np.empty((per,) + tuple(tail), dtype=np.dtype(dtype))
        send = None
        if comm.is_root:
            order = np.concatenate([shard_indices(n, comm.size, r, shuffle, seed, remainder) for r in range(comm.size)])
            send = np.ascontiguousarray(arrays[k][order])
        if comm.size == 1:
            out[...] = send
        else:
            comm.mpi_comm.Scatter(send, out, root=0)
        shards.append(out)
    return shards[0], (shards[1] if len(shards) > 1 else None)


def _broadcast_text(comm, text):
    length = np.array([len(text.encode("utf-8")) if text is not None else 0], dtype=np.int64)
    comm.broadcast_(length, root=0)
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy() if text is not None \
        else np.zeros(int(length[0]), dtype=np.uint8)
    comm.broadcast_(data, root=0)
    return data.tobytes().decode("utf-8")


__all__ = ["scatter_dataset", "shard_indices", "REMAINDERS"]
