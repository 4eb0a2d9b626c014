"""Nodes of a graph: inputs, params, consts and op nodes, with Python operators.

``x @ W + b`` on nodes adds op nodes to their graph; Python numbers and NumPy arrays on
either side become const nodes. ``<``, ``<=``, ``>``, ``>=`` build comparison nodes (bool);
``==`` and ``!=`` stay identity tests, so nodes are hashable and work as dict keys (compare
elementwise with ``ge.ops.eq`` / ``ge.ops.ne``). ``x[ids]`` with an integer index node
indexes by data; ``x.astype(dtype)`` casts.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .errors import GraphEngineError
from .op import format_shape

INPUT, PARAM, CONST, OP = "input", "param", "const", "op"
KINDS = (INPUT, PARAM, CONST, OP)
NO_ATTRS = MappingProxyType({})  # shared by every node without attributes


class NodeUsageError(GraphEngineError, TypeError):
    """A node was used like a Python value it is not: combined by an operator (``+``, ``@``,
    ``<``, ...) with something that is not a node, number or NumPy array, or iterated."""


class Node:
    """One node of a :class:`~graphengine.Graph`.

    Attributes: ``graph``, ``id`` (stable, per graph, in creation order), ``name``
    (unique in the graph), ``kind`` (input, param, const, op), ``op`` (the op's name for
    op nodes, else None), ``inputs`` (tuple of nodes), ``attrs`` (read-only mapping),
    ``shape`` (tuple; None entries are known only at run time, like the batch axis),
    ``dtype`` (numpy dtype or None when unknown), ``scope`` (name scope path, '' at top).
    """

    __slots__ = ("graph", "id", "name", "kind", "op", "inputs", "attrs", "shape", "dtype",
                 "scope", "_op_impl", "_value", "_updates", "__weakref__")
    __array_priority__ = 1000  # make ndarray @ node use Node.__rmatmul__

    def __init__(self, graph, id, name, kind, op=None, inputs=(), attrs=None,
                 shape=None, dtype=None, scope="", op_impl=None, value=None):
        self.graph = graph
        self.id = id
        self.name = name
        self.kind = kind
        self.op = op
        self.inputs = inputs  # a tuple; attrs a read-only mapping; dtype an np.dtype or None (the graph's)
        self.attrs = attrs if attrs is not None else NO_ATTRS
        self.shape = shape
        self.dtype = dtype
        self.scope = scope
        self._op_impl = op_impl
        self._value = value
        self._updates = 0  # in-place changes of _value (optimizer steps): runs holding it compare

    # -- params and consts own their array ------------------------------------------
    @property
    def value(self):
        """The array a param or const holds (params: the current trained value)."""
        if self.kind not in (PARAM, CONST):
            from .errors import GraphStructureError

            raise GraphStructureError(
                f"node {self.name!r} is {'an' if self.kind[0] in 'aeiou' else 'a'} {self.kind} node; only params "
                "and consts hold a value. Run the graph and read run.value(node) instead."
            )
        return self._value

    @value.setter
    def value(self, new):
        self.graph._set_value(self, new)

    @property
    def size(self) -> int | None:
        """Number of elements (None while a dimension is unknown)."""
        if self.shape is None or any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def qualified_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        what = self.op if self.kind == OP else self.kind
        dtype = "" if self.dtype is None else f" {self.dtype}"
        return f"<Node {self.name!r} {what} {format_shape(self.shape)}{dtype}>"

    # -- operators ---------------------------------------------------------------------
    def _binary(self, op, other, reflected=False):
        if isinstance(other, Node) or _is_operand(other):
            a, b = (other, self) if reflected else (self, other)
            return self.graph.apply(op, a, b)
        if not reflected and _may_handle(other, op):
            return NotImplemented  # another library's type: its reflected method may know nodes
        raise _operand_error(self, op, other, reflected)

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._binary("add", other, True)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __rsub__(self, other):
        return self._binary("sub", other, True)

    def __mul__(self, other):
        return self._binary("mul", other)

    def __rmul__(self, other):
        return self._binary("mul", other, True)

    def __truediv__(self, other):
        return self._binary("div", other)

    def __rtruediv__(self, other):
        return self._binary("div", other, True)

    def __matmul__(self, other):
        return self._binary("matmul", other)

    def __rmatmul__(self, other):
        return self._binary("matmul", other, True)

    def __pow__(self, other):
        return self._binary("pow", other)

    def __rpow__(self, other):
        return self._binary("pow", other, True)

    def __neg__(self):
        return self.graph.apply("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.graph.apply("abs", self)

    # < <= > >= build comparison nodes (bool); == and != stay identity, so nodes stay
    # hashable: ge.ops.eq / ge.ops.ne compare elementwise
    def __lt__(self, other):
        return self._binary("lt", other)

    def __le__(self, other):
        return self._binary("le", other)

    def __gt__(self, other):
        return self._binary("gt", other)

    def __ge__(self, other):
        return self._binary("ge", other)

    def astype(self, dtype):
        """This node converted to ``dtype`` (a ``cast`` node; like ndarray.astype)."""
        from .errors import AttributeSpecError

        try:
            dtype = np.dtype(dtype).name if dtype is not None else None
        except TypeError:
            raise AttributeSpecError(f"{self.name!r}.astype({dtype!r}): not a dtype; give e.g. 'float32', "
                                     "'int64' or 'bool'") from None
        return self.graph.apply("cast", self, dtype=dtype)

    def split(self, split_size_or_sections, dim=0) -> list:
        """Cut this node along ``dim`` into pieces, as torch.split: an int gives pieces of
        that size (the last one smaller when it does not divide), a list the sizes (adding
        up to the axis). A list of ``narrow`` nodes, one per piece (an op node has one
        output, so a multi-output op is several nodes).

        >>> first, rest = h.split([1, 3], dim=1)      # h of shape (N, 4)
        """
        from .errors import ShapeError
        from .op import normalize_axis

        if self.shape is None or not self.shape:
            raise ShapeError(f"split of node {self.name!r}: its shape {format_shape(self.shape)} has no axis "
                             "known at build time to cut")
        axis = normalize_axis(dim, len(self.shape), "dim")[0]
        size = self.shape[axis]
        if size is None:
            raise ShapeError(f"split of node {self.name!r} along dim {dim}: that axis has unknown size "
                             f"{format_shape(self.shape)}; give the input a known size there (split cuts at build time)")
        if isinstance(split_size_or_sections, (int, np.integer)) and not isinstance(split_size_or_sections, bool):
            step = int(split_size_or_sections)
            if step <= 0:
                raise ShapeError(f"split of node {self.name!r}: split_size={step} must be positive")
            sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != size or any(s < 0 for s in sizes):
                raise ShapeError(f"split of node {self.name!r}: sections {sizes} add up to {sum(sizes)}, but dim {dim} "
                                 f"has size {size} {format_shape(self.shape)}; give sizes that add up to {size}")
        starts = np.cumsum([0] + sizes[:-1])
        return [self.graph.apply("narrow", self, dim=axis, start=int(start), length=length)
                for start, length in zip(starts, sizes)]

    def chunk(self, chunks: int, dim=0) -> list:
        """Cut this node into ``chunks`` pieces along ``dim``, as torch.chunk: each of size
        ceil(n / chunks), the last one smaller (fewer pieces when n is too small).

        >>> q, k, v = qkv.chunk(3, dim=-1)
        """
        from .errors import ShapeError

        if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool) or chunks <= 0:
            raise ShapeError(f"chunk of node {self.name!r}: chunks={chunks!r} must be a positive int")
        from .op import normalize_axis

        size = self.shape[normalize_axis(dim, len(self.shape), "dim")[0]] if self.shape else None
        if size is None:
            return self.split(1, dim)  # its error names what is unknown
        return self.split(max(-(-size // int(chunks)), 1), dim=dim)

    def __getitem__(self, index):
        nodes, index = _split_node_index(index)  # x[ids]: index nodes are inputs of the getitem node
        return self.graph.apply("getitem", self, *nodes, index=_freeze_index(index))

    @property
    def T(self):
        """Transpose (reverses the axes, like ndarray.T)."""
        return self.graph.apply("transpose", self)

    def __bool__(self):
        from .errors import GraphStructureError

        raise GraphStructureError(
            f"the truth value of node {self.name!r} is not known while building the graph; "
            "use ge.ops.where / maximum / step to branch on values inside the graph"
        )

    def __iter__(self):
        raise NodeUsageError(f"node {self.name!r} is not iterable: it stands for a value known only when the graph "
                             "runs. Index it (node[i]) or cut it (node.split / node.chunk) to take parts; "
                             "where a list of nodes is expected, pass [node]")

    __hash__ = object.__hash__


def _is_operand(value) -> bool:
    return isinstance(value, (int, float, np.ndarray, np.generic)) and not isinstance(value, bool)


# op -> (operator, the method Python calls on the other operand when ours gives up)
_OPERATORS = {
    "add": ("+", "__radd__"), "sub": ("-", "__rsub__"), "mul": ("*", "__rmul__"), "div": ("/", "__rtruediv__"),
    "matmul": ("@", "__rmatmul__"), "pow": ("**", "__rpow__"),
    "lt": ("<", "__gt__"), "le": ("<=", "__ge__"), "gt": (">", "__lt__"), "ge": (">=", "__le__"),
}


def _may_handle(other, op) -> bool:
    """Whether ``other``'s type (not a builtin) defines the method Python tries next."""
    cls = type(other)
    if cls.__module__ == "builtins":
        return False
    method = getattr(cls, _OPERATORS[op][1], None)
    return method is not None and method is not getattr(object, _OPERATORS[op][1], None)


def _operand_error(node, op, other, reflected):
    symbol = _OPERATORS[op][0]
    kind = type(other).__name__
    expr = f"{kind} {symbol} node {node.name!r}" if reflected else f"node {node.name!r} {symbol} {kind}"
    if isinstance(other, bool):
        fix = f"use a number ({float(other)}) or an array (np.array({other}))"
    elif isinstance(other, (list, tuple)):
        fix = "make it an array first (np.asarray(...)), or a node with g.const(np.asarray(...))"
    elif isinstance(other, (str, bytes)):
        fix = "a name is not a value: use g.node(name) for the node of that name"
    elif other is None:
        fix = "none is not a value: check where this operand was made (a function that returned nothing?)"
    else:
        fix = "convert it to a NumPy array first"
    return NodeUsageError(
        f"cannot build {expr} (op {op}): the other operand is {kind} {_short_repr(other)}; operands must be graph "
        f"nodes, numbers (int, float) or NumPy arrays. {fix[0].upper()}{fix[1:]}."
    )


def _short_repr(value, limit=40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def other_graph_text(other, graph) -> str:
    """How to name ``other``, a graph that is not ``graph``, in an error: by its name, or,
    where the two share one, as another graph of that name."""
    if other is None:
        return "no graph"
    if other.name == graph.name:
        return (f"another graph that is also named {other.name!r} (two ge.Graph objects share that name; "
                "give them different names to tell them apart)")
    return f"graph {other.name!r}, not to {graph.name!r}"


NODE_INDEX = "__node__"  # ("__node__", k): the k-th index node (input k + 1 of getitem)


def _split_node_index(index):
    """Nodes used as (whole) index entries, and the index with placeholders in their place."""
    entries = index if isinstance(index, tuple) else (index,)
    nodes, out = [], []
    for entry in entries:
        if isinstance(entry, Node):
            out.append((NODE_INDEX, len(nodes)))
            nodes.append(entry)
        else:
            if isinstance(entry, list) and any(isinstance(e, Node) for e in entry):
                from .errors import GraphStructureError

                raise GraphStructureError(
                    "a node used as an index must be a whole index entry (x[ids] or x[:, ids]), not an item of a "
                    "list; build the index array with ge.ops.stack first")
            out.append(entry)
    if not nodes:
        return (), index
    return tuple(nodes), tuple(out) if isinstance(index, tuple) else out[0]


def _freeze_index(index):
    """Index expressions as hashable, JSON-codable values (lists become tuples)."""
    if isinstance(index, list):
        return ("__list__", tuple(index))
    if isinstance(index, np.ndarray):
        return ("__list__", tuple(index.tolist()))
    if isinstance(index, tuple):
        return tuple(_freeze_index(i) if isinstance(i, (list, np.ndarray)) else i for i in index)
    return index


def thaw_index(index):
    """Inverse of the freezing above: the index ready to use on an array."""
    if isinstance(index, tuple) and len(index) == 2 and index[0] == "__list__":
        return list(index[1])
    if isinstance(index, tuple):
        return tuple(thaw_index(i) for i in index)
    return index
