"""Arrays of many params in one flat buffer, and the collectives built on it:
``broadcast_parameters`` (every rank starts from the root's params) and
``parameters_in_sync`` (are the params bit-identical on every rank?).

One buffer per dtype (one in practice: a model's params share a dtype): one collective
call moves every array, instead of one call per param. The buffer is allocated once and
reused; ``views[i]`` is array ``i`` inside it.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..graph import Graph
from ..node import CONST, PARAM, Node
from .communicator import DistributedError, as_communicator


class FlatBuffers:
    """Contiguous buffers (one per dtype, in order of first appearance) holding arrays of
    the given ``shapes`` and ``dtypes``; ``views[i]`` is the ``i``-th array's place."""

    def __init__(self, xp, shapes, dtypes, names=None):
        self.xp = xp
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.dtypes = [np.dtype(d) for d in dtypes]
        self.names = list(names) if names is not None else [str(i) for i in range(len(self.shapes))]
        order, sizes = [], {}
        for dtype in self.dtypes:
            if dtype not in sizes:
                order.append(dtype)
                sizes[dtype] = 0
        offsets = []
        for shape, dtype in zip(self.shapes, self.dtypes):
            n = int(np.prod(shape, dtype=np.int64))
            offsets.append((sizes[dtype], n))
            sizes[dtype] += n
        self.buffers = [xp.empty(sizes[d], dtype=d) for d in order]
        by_dtype = dict(zip(order, self.buffers))
        self.views = [by_dtype[d][o:o + n].reshape(shape)
                      for (o, n), shape, d in zip(offsets, self.shapes, self.dtypes)]

    @property
    def nbytes(self) -> int:
        return int(sum(b.nbytes for b in self.buffers))

    def description(self) -> str:
        """Names, shapes and dtypes, in order: what every rank must agree on."""
        return "; ".join(f"{n} {d}{list(s)}" for n, s, d in zip(self.names, self.shapes, self.dtypes))

    def matches(self, arrays) -> bool:
        return len(arrays) == len(self.shapes) and all(
            tuple(a.shape) == s and a.dtype == d for a, s, d in zip(arrays, self.shapes, self.dtypes))

    def pack(self, arrays) -> None:
        """Copy ``arrays`` into their places."""
        copyto = self.xp.copyto
        for view, array in zip(self.views, arrays):
            copyto(view, array)


def state_nodes(model) -> list:
    """The nodes :func:`broadcast_parameters` sends for ``model``: for a ``ge.nn.Module``
    its params then its state (BatchNorm running statistics); for a graph (or a node of
    it) every param then every const held as an array; a list of nodes as given."""
    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, Node):
        graph = model.graph
    elif isinstance(model, (list, tuple)):
        nodes = list(model)
        for i, n in enumerate(nodes):
            if not isinstance(n, Node) or n.kind not in (PARAM, CONST):
                raise DistributedError(f"item {i} of the list is {n!r}; pass param (or const) nodes, e.g. g.params()")
        return nodes
    elif hasattr(model, "params") and hasattr(model, "state") and hasattr(model, "built"):  # a ge.nn.Module
        if not model.built:
            raise DistributedError(
                f"{type(model).__name__} is not built yet, so it has no params to broadcast; build it first "
                "(call it on an input node, or let fit build it: fit(..., comm=comm) broadcasts by itself)")
        return list(model.params()) + list(model.state())
    elif hasattr(model, "graph") and isinstance(getattr(model, "graph"), Graph):  # a built Trainer
        graph = model.graph
    else:
        raise DistributedError(
            f"broadcast_parameters takes a ge.nn.Module, a Graph, a node or a list of param nodes, got "
            f"{type(model).__name__}")
    nodes = graph.nodes()
    return [n for n in nodes if n.kind == PARAM] + [n for n in nodes if n.kind == CONST and hasattr(n.value, "shape")]


def _flat_for(nodes) -> FlatBuffers:
    graphs = {id(n.graph): n.graph for n in nodes}
    xps = {id(g.xp): g.xp for g in graphs.values()}
    if len(xps) != 1:
        raise DistributedError("the nodes live on different backends (NumPy and CuPy); move them to one with g.to()")
    values = [n.value for n in nodes]
    return FlatBuffers(next(iter(xps.values())), [v.shape for v in values], [v.dtype for v in values],
                       [n.name for n in nodes])


def broadcast_parameters(model, comm, root: int = 0) -> list:
    """Give every rank the root's params (and state): ``model`` is a built
    ``ge.nn.Module``, a Graph, a node of one, or a list of param nodes. Ranks must hold
    the same params (names, shapes, dtypes): otherwise every rank raises
    :class:`DistributedError` naming this rank's params. Returns the nodes sent."""
    comm = as_communicator(comm)
    comm._check_root(root)
    nodes = state_nodes(model)
    if not nodes:
        raise DistributedError("nothing to broadcast: the model has no params")
    flat = _flat_for(nodes)
    comm.agree_on_text(flat.description(), "the params to broadcast (name dtype[shape])")
    if comm.size == 1:
        return nodes
    flat.pack([n.value for n in nodes])
    for buffer in flat.buffers:
        comm.broadcast_(buffer, root=root)
    if comm.rank != root:
        for node, view in zip(nodes, flat.views):
            node.value = view  # copied: the param keeps owning its array
    return nodes


def parameters_checksum(model) -> int:
    """CRC-32 of the bytes of the params (and state) of ``model``: equal on two ranks
    exactly when their arrays are bit-identical (up to CRC collisions)."""
    crc = 0
    for node in state_nodes(model):
        value = node.value
        host = value if isinstance(value, np.ndarray) else value.get()  # CuPy: to the host, to hash
        crc = zlib.crc32(np.ascontiguousarray(host).view(np.uint8).reshape(-1), crc)
    return crc


def parameters_in_sync(model, comm) -> bool:
    """Whether every rank holds bit-identical params (and state) for ``model``: the
    same answer on every rank (a collective)."""
    comm = as_communicator(comm)
    local = np.array([parameters_checksum(model)], dtype=np.int64)
    low, high = local.copy(), local.copy()
    comm.allreduce_(low, "min")
    comm.allreduce_(high, "max")
    return bool(low[0] == high[0])


__all__ = ["FlatBuffers", "broadcast_parameters", "parameters_checksum", "parameters_in_sync", "state_nodes"]
