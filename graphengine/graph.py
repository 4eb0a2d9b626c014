"""``ge.Graph``: a DAG of op nodes over a ``networkx.DiGraph``.

The networkx graph holds structure only (node ids, names, kinds, op names, and the input
positions on edges); arrays live on the nodes that own them (params, consts) and in runs.
Nodes get stable ids in creation order and unique names, so the same construction code
always gives the same graph.
"""

from __future__ import annotations

import contextlib
import re
from types import MappingProxyType

import networkx as nx
import numpy as np

from .backends import get_backend
from .errors import (
    AttributeSpecError,
    DtypeError,
    GraphCycleError,
    GraphEngineError,
    GraphStructureError,
    NodeNotFoundError,
    ShapeError,
    did_you_mean,
)
from .node import CONST, INPUT, NO_ATTRS, OP, PARAM, Node, _is_operand, _short_repr, other_graph_text
from .op import describe_value, format_shape
from .program import gc_paused
from .run import JUPYTER_COLLAPSE_ABOVE, run_forward

_NAME_OK = re.compile(r"^[^/\s][^/]*$")


class Graph:
    """A network declared as a graph of op nodes.

    >>> import numpy as np, graphengine as ge
    >>> g = ge.Graph("tiny")
    >>> x = g.input("x", shape=(None, 2))
    >>> w = g.param("w", np.array([[2.0], [3.0]]))
    >>> y = x @ w
    >>> g.forward({"x": np.array([[1.0, 1.0]])}).value(y).tolist()
    [[5.0]]
    """

    def __init__(self, name: str = "graph", *, backend: str = "numpy", plugins=None):
        self.name = str(name)
        self._nx_graph = nx.DiGraph(name=self.name)
        self._nx_synced = 0  # nodes (in id order) mirrored into networkx so far
        self._nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}
        self._name_counters: dict[str, int] = {}
        # While a change that must be all-or-nothing is being made (graph.apply, a ge.nn
        # layer build, see _transaction), _journaling is True and _journal holds, flat, the
        # counter key and old value of every name counter bumped, and None and an undo
        # function for every rewire, so a failure restores them. (Flat, and one list for
        # the graph's life: building allocates nothing more per node for the garbage collector.)
        self._journal: list = []
        self._journaling = False
        self._scopes: list[str] = []
        self._backend = get_backend(backend)
        self._plugins = plugins
        self.version = 0  # bumped by every structural change; plans are cached per version
        self._plans: dict = {}
        self._inferred: dict = {}  # (op, inputs' shapes and dtypes, attrs) -> (shape, dtype)
        # What libraries built on the core (ge.nn, training loops) record about this graph,
        # under a key of their own; it lives and dies with the graph. Not saved by save().
        self.extensions: dict = {}

    # -- basic access ---------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def xp(self):
        """The array module of the graph's backend (numpy or cupy)."""
        return self._backend.xp

    @property
    def plugins(self):
        """The plugin manager this graph resolves op names with."""
        if self._plugins is None:
            from .plugin_manager import default_manager

            self._plugins = default_manager()
        return self._plugins

    @property
    def nx(self) -> nx.DiGraph:
        """A read-only view of the networkx graph (node ids; edges carry ``positions``)."""
        return self._nx.copy(as_view=True)

    def nodes(self) -> list[Node]:
        """Every node, in creation (id) order."""
        return list(self._nodes)

    def params(self) -> list[Node]:
        """Param nodes in creation order."""
        return [n for n in self._nodes if n.kind == PARAM]

    def inputs(self) -> list[Node]:
        """Input nodes in creation order."""
        return [n for n in self._nodes if n.kind == INPUT]

    def outputs(self) -> list[Node]:
        """Nodes nothing else consumes (the graph's sinks), in id order."""
        return [n for n in self._nodes if self._nx.out_degree(n.id) == 0 and n.kind == OP]

    def consumers(self, node) -> list[Node]:
        """Nodes that take ``node`` as an input, in id order."""
        node = self.node(node)
        return [self._nodes[i] for i in sorted(self._nx.successors(node.id))]

    def node(self, key) -> Node:
        """A node by name, id, or the node itself (checked to belong to this graph)."""
        if isinstance(key, Node):
            if key.graph is not self:
                raise GraphStructureError(
                    f"node {key.name!r} belongs to {other_graph_text(key.graph, self)}; a graph only takes its own "
                    f"nodes: build this from nodes of one graph (g.node(name) finds a node of graph {self.name!r})"
                )
            return key
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise NodeNotFoundError(
                    f"graph {self.name!r} has no node named {key!r}." + did_you_mean(key, self._by_name)
                ) from None
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if 0 <= key < len(self._nodes):
                return self._nodes[key]
            raise NodeNotFoundError(f"graph {self.name!r} has no node with id {key} (ids 0..{len(self._nodes) - 1})")
        raise TypeError(f"expected a node, a node name or a node id, got {type(key).__name__}")

    def __contains__(self, key) -> bool:
        if isinstance(key, Node):
            return key.graph is self
        return key in self._by_name

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self):
        return iter(list(self._nodes))

    def __repr__(self) -> str:
        kinds = {}
        for n in self._nodes:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        parts = ", ".join(f"{v} {k}" for k, v in kinds.items())
        return f"<Graph {self.name!r}: {len(self._nodes)} nodes ({parts}) on {self.backend}>"

    def parameter_count(self, scope: str | None = None) -> int:
        """Number of trainable scalars (optionally only params under ``scope``)."""
        total = 0
        for n in self._nodes:
            if n.kind == PARAM and (scope is None or n.scope == scope or n.scope.startswith(scope + "/")):
                total += int(n._value.size)
        return total

    # -- name scopes ------------------------------------------------------------------------
    @contextlib.contextmanager
    def scope(self, name: str):
        """Nodes created inside get ``scope`` recorded and their names prefixed ``scope/``."""
        name = str(name)
        if not name or "/" in name:
            raise GraphStructureError(f"scope name {name!r} must be non-empty and contain no '/'")
        self._scopes.append(name)
        try:
            yield self
        finally:
            self._scopes.pop()

    @property
    def current_scope(self) -> str:
        return "/".join(self._scopes)

    def _unique_name(self, requested: str | None, base: str) -> str:
        prefix = "/".join(self._scopes) + "/" if self._scopes else ""
        if requested is not None:
            requested = str(requested)
            if not requested or not _NAME_OK.match(requested):
                raise GraphStructureError(
                    f"node name {requested!r} is not allowed: names must be non-empty, not start with "
                    "whitespace, and not contain '/' (use g.scope(...) for hierarchy)"
                )
            full = prefix + requested
            if full in self._by_name:
                raise GraphStructureError(
                    f"graph {self.name!r} already has a node named {full!r} "
                    f"({self._by_name[full].kind}); node names are unique per graph. Pick another name."
                )
            return full
        key = prefix + base
        counters = self._name_counters
        old = counters.get(key)
        if self._journaling:
            self._journal += (key, old)  # a failed build gives the number back
        count = old or 0
        # in a scope a name is local to it: the first is bare (``dense_1/matmul``), a number
        # comes only when the name is taken there (``matmul_2``); unscoped names stay numbered
        by_name = self._by_name
        if prefix and not old:
            counters[key] = count = 1
            if key not in by_name:
                return key
        while True:
            count += 1
            full = f"{prefix}{base}_{count}"
            if full not in by_name:
                counters[key] = count
                return full

    # -- all-or-nothing changes ------------------------------------------------------------
    def _begin(self):
        """Start a change that :meth:`_rollback` can undo entirely; nests. Returns its mark."""
        outer = not self._journaling
        self._journaling = True
        return len(self._nodes), self.version, len(self._journal), outer

    def _end(self, mark) -> None:
        """The change of ``mark`` is done (kept, or rolled back): the outermost one stops logging."""
        if mark[3]:
            self._journaling = False
            self._journal.clear()

    def _rollback(self, mark) -> None:
        """Undo everything since ``mark``: nodes added (and their networkx mirror), name
        counters bumped, rewires; the version goes back, so plans compiled before stay valid."""
        self._undo(*mark[:3])

    def _undo(self, n_nodes, version, n_journal) -> None:
        journal = self._journal
        counters = self._name_counters
        for i in range(len(journal) - 2, n_journal - 1, -2):
            key, old = journal[i], journal[i + 1]
            if key is None:
                old()  # a rewire's undo
            elif old is None:
                counters.pop(key, None)
            else:
                counters[key] = old
        del journal[n_journal:]
        removed = self._nodes[n_nodes:]
        if removed:
            del self._nodes[n_nodes:]
            for node in removed:
                if self._by_name.get(node.name) is node:
                    del self._by_name[node.name]
            self._nx_synced = min(self._nx_synced, n_nodes)
            for node in removed:
                if self._nx_graph.has_node(node.id):  # mirrored already: a read of _nx came in between
                    self._nx_graph.remove_node(node.id)
        if self.version != version:
            if self._plans.get("version", version) != version:
                self._plans.clear()  # compiled for a graph that no longer exists
            self.version = version

    @contextlib.contextmanager
    def _transaction(self):
        """``with graph._transaction():`` everything inside is kept, or on any exception
        undone (nodes, name counters, rewires, version) before the exception goes on.
        For libraries on the core (ge.nn layer builds, training loops) that add several nodes."""
        mark = self._begin()
        try:
            yield self
        except BaseException:
            self._rollback(mark)
            raise
        finally:
            self._end(mark)

    def _add_node(self, node: Node) -> Node:
        # networkx catches up lazily (see _nx): building a big graph stays cheap, and the
        # plan compiler, which orders nodes by id, often never needs networkx at all
        self._nodes.append(node)
        self._by_name[node.name] = node
        self.version += 1
        return node

    @property
    def _nx(self) -> nx.DiGraph:
        """The networkx graph, brought up to date with the nodes added since last read."""
        if self._nx_synced < len(self._nodes):
            pending = self._nodes[self._nx_synced:]
            self._nx_synced = len(self._nodes)
            graph = self._nx_graph
            with gc_paused():
                for node in pending:
                    graph.add_node(node.id, name=node.name, kind=node.kind, op=node.op)
                    positions: dict[int, list] = {}
                    for pos, src in enumerate(node.inputs):
                        positions.setdefault(src.id, []).append(pos)
                    for src_id, pos in positions.items():
                        graph.add_edge(src_id, node.id, positions=tuple(pos))
        return self._nx_graph

    # -- leaves ---------------------------------------------------------------------------
    def input(self, name: str, shape=None, dtype=None) -> Node:
        """An input fed at run time. ``shape`` may use None for axes known only then (batch)."""
        if shape is not None:
            shape = _check_declared_shape(shape, f"input {name!r}")
        if dtype is not None:
            dtype = _check_numeric_dtype(_as_dtype(dtype, f"input {name!r}"), f"input {name!r}")
        node = Node(self, len(self._nodes), self._unique_name(name, "input"), INPUT,
                    shape=shape, dtype=dtype, scope=self.current_scope)
        return self._add_node(node)

    def param(self, name: str, value, dtype=None) -> Node:
        """A trainable array owned by the graph (``node.value``); ``value`` is an array.

        The param owns its array: ``value`` is copied (unless converting it already made a
        new array), so optimizers updating the param in place never change the caller's
        array, nor another param made from the same array."""
        array = self._leaf_array(value, dtype, f"param {name!r}")
        if not np.issubdtype(np.dtype(array.dtype), np.floating):
            raise DtypeError(
                f"param {name!r} has dtype {array.dtype}; trainable params must be floating point. "
                "Pass a float array (e.g. np.zeros(shape, dtype=np.float32))."
            )
        node = Node(self, len(self._nodes), self._unique_name(name, "param"), PARAM,
                    shape=tuple(array.shape), dtype=array.dtype, scope=self.current_scope, value=array)
        return self._add_node(node)

    def const(self, value, name: str | None = None, dtype=None) -> Node:
        """A constant. Python and NumPy number scalars stay weakly typed: ``h * 2.0`` and
        ``h * np.float64(2)`` keep float32 (the scalar is stored as a Python number, which
        NumPy does not promote by). Arrays, 0-d ones too, and bools keep their dtype. The
        graph holds its own copy: changing the caller's array later changes nothing."""
        if dtype is None and isinstance(value, np.generic) and value.dtype.kind in "iuf":
            value = value.item()  # np.float64 subclasses float: it would upcast float32 data
        if isinstance(value, (int, float)) and not isinstance(value, bool) and dtype is None:
            stored, shape, dt = value, (), None
        else:
            stored = self._leaf_array(value, dtype, f"const {name or ''}".strip())
            shape, dt = tuple(stored.shape), stored.dtype
        node = Node(self, len(self._nodes), self._unique_name(name, "const"), CONST,
                    shape=shape, dtype=dt, scope=self.current_scope, value=stored)
        return self._add_node(node)

    def _leaf_array(self, value, dtype, what):
        if isinstance(value, Node):
            raise GraphStructureError(f"{what}: expected an array, got node {value.name!r}")
        if dtype is not None:
            dtype = _check_numeric_dtype(_as_dtype(dtype, what), what)
        try:
            array = self._backend.asarray(value, dtype=dtype)
        except GraphEngineError:
            raise
        except Exception as exc:
            raise DtypeError(f"{what}: cannot make an array of {type(value).__name__}: {exc}") from exc
        _check_numeric_dtype(np.dtype(array.dtype), what)
        if array is value or getattr(array, "base", None) is not None:
            array = array.copy()  # a view (or the array itself) shares memory with the caller's data
        return array

    def _set_value(self, node: Node, new):
        if node.kind not in (PARAM, CONST):
            raise GraphStructureError(f"node {node.name!r} is a {node.kind} node; only params and consts hold a value")
        array = self._backend.asarray(new)
        if np.dtype(array.dtype).kind not in "biuf":
            raise DtypeError(f"cannot set {node.kind} {node.name!r} ({node.dtype}) to {type(new).__name__} {new!r:.40} "
                             f"(dtype {array.dtype}): a {node.kind}'s value is a numeric array")
        if tuple(array.shape) != tuple(node.shape):
            raise ShapeError(
                f"cannot set {node.kind} {node.name!r} to an array of shape {format_shape(array.shape)}: "
                f"it has shape {format_shape(node.shape)}. Reshape the array, or build a new param."
            )
        if node.dtype is not None and array.dtype != node.dtype:
            if not np.can_cast(array.dtype, node.dtype, casting="same_kind"):
                raise DtypeError(f"cannot set {node.kind} {node.name!r} ({node.dtype}) to a {array.dtype} array")
            array = array.astype(node.dtype)
        elif node.kind == PARAM and (array is new or getattr(array, "base", None) is not None):
            array = array.copy()  # the param owns its array: in-place optimizer steps stay inside it
        node._value = array

    # -- op nodes -------------------------------------------------------------------------
    def apply(self, op, *inputs, name: str | None = None, **attrs) -> Node:
        """Add an op node: ``g.apply("tanh", h)``; same as ``ge.ops.tanh(h)``.

        Inputs are nodes of this graph, or numbers/arrays (they become const nodes).
        The op's shape rule runs now: a mismatch is refused at build time.
        """
        impl = op if not isinstance(op, str) else (self._plugins or self.plugins).get_op(op)
        # all or nothing: consts made of numbers, casts of integer inputs and the name
        # counters are undone when a rule refuses the node (inlined _transaction: hot path)
        outer = not self._journaling
        if outer:
            self._journaling = True
        all_nodes = self._nodes
        n_nodes, version, n_journal = len(all_nodes), self.version, len(self._journal)
        try:
            if name is None and not attrs:
                # the common case, seen before: nodes of this graph whose op, shapes and dtypes met
                # the rules already (the key is _infer's), so no check can fail and no cast is due
                for n in inputs:
                    if type(n) is not Node or n.graph is not self:
                        break
                else:
                    cached = self._inferred.get(_rule_key(impl, inputs, attrs))
                    if cached is not None and not cached[2]:
                        scope = "/".join(self._scopes) if self._scopes else ""
                        return self._add_node(Node(self, n_nodes, self._unique_name(None, impl.name), OP, impl.name,
                                                   inputs, NO_ATTRS, cached[0], cached[1], scope, impl))
            arity, attr_defaults, any_kw, _ = type(impl).signature_info()
            nodes = list(inputs)
            for i, item in enumerate(nodes):
                if type(item) is not Node or item.graph is not self:
                    nodes[i] = self._input_node(impl.name, arity, i, item)
            if len(nodes) != arity and (arity is not None or not nodes):
                raise _arity_error(impl.name, arity, inputs, nodes)
            if attrs and not any_kw:
                _check_attribute_names(impl.name, attrs, attr_defaults)
            node_name = self._unique_name(name, impl.name)
            shape, dtype = self._infer(impl, nodes, attrs, node_name)
            node = Node(self, len(all_nodes), node_name, OP, impl.name, tuple(nodes),
                        MappingProxyType(attrs) if attrs else NO_ATTRS, shape, dtype,
                        "/".join(self._scopes) if self._scopes else "", impl)
            return self._add_node(node)
        except BaseException:
            self._undo(n_nodes, version, n_journal)
            raise
        finally:
            if outer:
                self._journaling = False
                self._journal.clear()

    def _input_node(self, op_name, arity, i, item) -> Node:
        """Input ``i`` of a new op node as a node of this graph: a node of another graph is
        refused, a number or array becomes a const node."""
        if isinstance(item, Node):
            return self.node(item)  # another graph's: refused, naming both
        if _is_operand(item):
            return self.const(item)
        if isinstance(item, (list, tuple)) and arity is None:
            raise GraphStructureError(
                f"op {op_name!r} takes its inputs as separate arguments: ge.ops.{op_name}(*nodes)"
            )
        raise GraphStructureError(
            f"op {op_name!r}: input {i} is a {type(item).__name__}; inputs must be graph nodes, "
            "numbers or numpy arrays (pass options as keyword attributes)"
        )

    def _infer(self, impl, nodes, attrs, node_name):
        """(shape, dtype) of a new node from its op's rules; the answers of rules that ran
        before on the same inputs' shapes and dtypes are reused (a deep chain repeats a few)."""
        key = _rule_key(impl, nodes, attrs)
        try:
            cached = self._inferred.get(key)
        except TypeError:  # an unhashable attribute value (a list): no reuse
            key = cached = None
        if cached is None:
            shape, dtype = self._infer_rules(impl, nodes, attrs, node_name)
            casts = dtype is not None and dtype.kind == "f" and any(
                i < len(nodes) and nodes[i].dtype is not None and nodes[i].dtype.kind in "biu"
                for i in getattr(impl, "promote_inputs", ()))
            cached = (shape, dtype, casts)
            if key is not None and len(self._inferred) < 4096:
                self._inferred[key] = cached
        shape, dtype, casts = cached
        if casts:  # integer inputs of a promoting op: cast nodes (changes nodes, so never cached itself)
            dtype = self._cast_integer_inputs(impl, nodes, dtype, node_name)
        return shape, dtype

    def _infer_rules(self, impl, nodes, attrs, node_name):
        shapes = [n.shape for n in nodes]
        shape = None
        if all(s is not None for s in shapes):
            try:
                shape = impl.shape(*shapes, **attrs)
            except ShapeError as exc:
                raise ShapeError(self._build_error(impl, nodes, node_name, str(exc))) from None
            except GraphEngineError as exc:  # a bad attribute value, say: no shape hint
                raise type(exc)(f"{self._refusal(impl, node_name)}: {exc}") from None
            except (ValueError, TypeError, IndexError) as exc:
                raise ShapeError(self._build_error(impl, nodes, node_name, f"{type(exc).__name__}: {exc}",
                                                   attrs)) from None
            if shape is not None:
                shape = tuple(None if d is None else int(d) for d in shape)
        try:  # attributes (again where no shape rule ran), and checks on shapes and dtypes together
            impl.check_inputs(shapes, [n.dtype for n in nodes], **attrs)
        except ShapeError as exc:
            raise ShapeError(self._build_error(impl, nodes, node_name, str(exc))) from None
        except GraphEngineError as exc:
            raise type(exc)(f"{self._refusal(impl, node_name)}: {exc}") from None
        weak = [n.kind == CONST and n.dtype is None for n in nodes]
        dtypes = [n.dtype for n in nodes]
        if any(d is None and not w for d, w in zip(dtypes, weak)):
            dtype = None  # some input's dtype is known only at run time
        else:
            dtype = impl.result_dtype(dtypes, [type(n._value) for n, w in zip(nodes, weak) if w], attrs)
        return shape, dtype

    def _cast_integer_inputs(self, impl, nodes, dtype, node_name):
        """Integer or bool inputs of an op with ``promote_inputs`` whose result is floating
        are replaced (in ``nodes``) by cast nodes to that dtype, so the op (and its inline
        templates, pasted as they are) only sees floats: ``f32 * i32`` is ``f32 * cast(i32)``,
        ``exp(i32)`` is ``exp(cast(i32))``. Returns the dtype, or None where no cast op is
        registered, or where the node exists already (``rewire``): the result is then known
        only at run time."""
        positions = [i for i in impl.promote_inputs
                     if i < len(nodes) and nodes[i].dtype is not None and nodes[i].dtype.kind in "biu"]
        if not positions:
            return dtype
        if "cast" not in self.plugins.ops or node_name in self._by_name:
            return None
        for i in positions:
            nodes[i] = self.apply("cast", nodes[i], dtype=dtype.name)
        return dtype

    def _refusal(self, impl, node_name) -> str:
        if node_name in self._by_name:  # an existing node checked again (rewire, validate)
            return f"node {node_name!r} (op {impl.name}) does not fit its inputs"
        return f"cannot add node {node_name!r} (op {impl.name})"

    def _build_error(self, impl, nodes, node_name, reason, attrs=None):
        described = ", ".join(
            f"{n.name!r} {format_shape(n.shape)}" + (f" {n.dtype}" if n.dtype is not None else "") for n in nodes
        )
        if attrs:  # the shape rule failed on its own (not a ShapeError): an attribute value may be the cause
            given = ", ".join(f"{k}={_short_repr(v)}" for k, v in attrs.items())
            return (f"{self._refusal(impl, node_name)}: {reason}. Inputs: {described}; attributes: {given}. "
                    "Check the attribute values, then the shapes of these inputs.")
        return (f"{self._refusal(impl, node_name)}: {reason}. Inputs: {described}. "
                "Check the shapes of these inputs (a transpose, reshape or different layer size may be missing).")

    # -- editing ----------------------------------------------------------------------------
    def rewire(self, node, position: int, new_input) -> None:
        """Make ``new_input`` the input at ``position`` of op node ``node``.

        The shape and dtype rules of ``node`` and of every node downstream of it run
        again on the new shapes (their recorded shapes and dtypes follow). Refused if it
        would close a cycle (the error names the cycle) or break the rule of ``node`` or
        of any node downstream (the error names that node); the graph is unchanged then.
        """
        node = self.node(node)
        new_input = self.node(new_input)
        if node.kind != OP:
            raise GraphStructureError(f"node {node.name!r} is a {node.kind} node; only op nodes have inputs")
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) \
                or not 0 <= position < len(node.inputs):
            raise GraphStructureError(
                f"node {node.name!r} (op {node.op}) has inputs 0..{len(node.inputs) - 1}, not {position!r}; "
                "give the position of the input to replace"
            )
        position = int(position)
        if new_input is node or nx.has_path(self._nx, node.id, new_input.id):
            path = [node.id] if new_input is node else nx.shortest_path(self._nx, node.id, new_input.id)
            names = " -> ".join(self._nodes[i].name for i in path + [node.id])
            raise GraphCycleError(
                f"connecting {new_input.name!r} to input {position} of {node.name!r} would close the cycle "
                f"{names}; a graph must stay acyclic. Use a new node instead of feeding a value back."
            )
        old_inputs = node.inputs
        inputs = list(old_inputs)
        inputs[position] = new_input
        change = (f"rewiring input {position} of {node.name!r} (op {node.op}) from {old_inputs[position].name!r} "
                  f"to {new_input.name!r}")
        saved = [(node, node.inputs, node.shape, node.dtype)]  # restored if any rule refuses
        current = node
        try:
            shape, dtype = self._infer(node._op_impl, inputs, dict(node.attrs), node.name)
            node.inputs = tuple(inputs)
            node.shape, node.dtype = shape, dtype
            changed = {node.id} if (shape, dtype) != (saved[0][2], saved[0][3]) else set()
            if changed:
                # downstream, in topological order (ids need not be after a rewire): a node's
                # rules run again where an input's shape or dtype changed
                nx_graph = self._nx
                below = nx.descendants(nx_graph, node.id)
                for node_id in nx.topological_sort(nx_graph.subgraph(below)) if below else ():
                    current = self._nodes[node_id]
                    if not any(src.id in changed for src in current.inputs):
                        continue
                    shape, dtype = self._infer(current._op_impl, list(current.inputs), dict(current.attrs),
                                               current.name)
                    if (shape, dtype) != (current.shape, current.dtype):
                        saved.append((current, current.inputs, current.shape, current.dtype))
                        current.shape, current.dtype = shape, dtype
                        changed.add(node_id)
        except BaseException as exc:
            for n, n_inputs, n_shape, n_dtype in reversed(saved):
                n.inputs, n.shape, n.dtype = n_inputs, n_shape, n_dtype
            if isinstance(exc, GraphEngineError):
                where = "" if current is node else f" would break node {current.name!r} (op {current.op}) downstream"
                raise type(exc)(f"{change}{where}: {exc} The graph is unchanged.") from None
            raise
        self._set_edges(node, old_inputs, node.inputs)
        self.version += 1
        if self._journaling:  # inside a change that may be undone as a whole
            def undo():
                self._set_edges(node, node.inputs, old_inputs)
                for n, n_inputs, n_shape, n_dtype in reversed(saved):
                    n.inputs, n.shape, n.dtype = n_inputs, n_shape, n_dtype
            self._journal.append(None)
            self._journal.append(undo)

    def _set_edges(self, node, old_inputs, new_inputs) -> None:
        """Rebuild ``node``'s incoming networkx edges from ``old_inputs`` to ``new_inputs``."""
        graph = self._nx
        for src in old_inputs:
            if graph.has_edge(src.id, node.id):
                graph.remove_edge(src.id, node.id)
        positions: dict[int, list] = {}
        for pos, src in enumerate(new_inputs):
            positions.setdefault(src.id, []).append(pos)
        for src_id, pos in positions.items():
            graph.add_edge(src_id, node.id, positions=tuple(pos))

    def validate(self) -> None:
        """Check the whole graph: acyclic (naming any cycle), arities, edges and shape rules."""
        try:
            cycle = nx.find_cycle(self._nx)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            names = " -> ".join(self._nodes[u].name for u, _ in cycle) + " -> " + self._nodes[cycle[0][0]].name
            raise GraphCycleError(f"graph {self.name!r} has a cycle: {names}")
        for node in self._nodes:
            if node.kind != OP:
                if node.inputs:
                    raise GraphStructureError(f"{node.kind} node {node.name!r} must not have inputs")
                continue
            arity = type(node._op_impl).signature_info()[0]
            if arity is not None and len(node.inputs) != arity:
                raise GraphStructureError(
                    f"node {node.name!r} (op {node.op}) has {len(node.inputs)} inputs; the op takes {arity}"
                )
            expected = {}
            for pos, src in enumerate(node.inputs):
                if src.graph is not self:
                    raise GraphStructureError(f"node {node.name!r} takes {src.name!r} from another graph")
                expected.setdefault(src.id, []).append(pos)
            actual = {u: tuple(d["positions"]) for u, _, d in self._nx.in_edges(node.id, data=True)}
            if actual != {k: tuple(v) for k, v in expected.items()}:
                raise GraphStructureError(f"node {node.name!r}: the networkx edges do not match its inputs")
            shape, _ = self._infer(node._op_impl, list(node.inputs), dict(node.attrs), node.name)
            if node.shape is not None and shape is not None and tuple(shape) != tuple(node.shape):
                raise ShapeError(
                    f"node {node.name!r} (op {node.op}) records shape {format_shape(node.shape)} but its inputs "
                    f"give {format_shape(shape)}"
                )

    # -- backends -------------------------------------------------------------------------
    def to(self, backend: str) -> "Graph":
        """Move params and consts to ``backend`` ('numpy' or 'cupy'); runs follow the graph."""
        target = get_backend(backend)
        if target is self._backend:
            return self
        moved = {}
        for node in self._nodes:
            if node.kind in (PARAM, CONST) and hasattr(node._value, "shape"):
                moved[node.id] = target.asarray(self._backend.to_numpy(node._value))
        for node_id, value in moved.items():
            self._nodes[node_id]._value = value
        self._backend = target
        self.version += 1
        return self

    # -- running -------------------------------------------------------------------------
    def forward(self, feeds=None, fetch=None, check_finite: bool = False):
        """Run the graph and return a :class:`~graphengine.Run`.

        ``feeds`` maps input names (or nodes) to arrays. With ``fetch=None`` every node
        runs and every value (and later every gradient) is kept for inspection and
        diagrams. With ``fetch=[nodes]`` only what those need runs, through a compiled
        plan, and only the fetched values plus what backward needs are kept.
        ``check_finite=True`` raises on the first node whose value is NaN or Inf.
        """
        return run_forward(self, feeds or {}, fetch, check_finite)

    def save(self, path) -> None:
        """Save structure (JSON) and arrays (.npz) in one file; see :func:`graphengine.load`."""
        from .archive import save  # not .serialization, which imports this module

        save(self, path)

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .visualize import draw  # lazy: the core never imports visualize at import time

        # inline display of a big graph folds its scopes, so the notebook stays responsive
        collapse = 1 if len(self._nodes) > JUPYTER_COLLAPSE_ABOVE else None
        return draw(self, collapse=collapse)._repr_mimebundle_(include=include, exclude=exclude)


def _rule_key(impl, nodes, attrs) -> tuple:
    """What the shape and dtype rules of ``impl`` read: the key of their cached answers.
    A weak const enters by its Python type (int32 + 1 is int32, int32 + 0.5 float32);
    attribute values enter with their types (1 == 1.0 == True hash alike, but only 1 is an axis)."""
    key = [impl, tuple([(k, type(v), v) for k, v in attrs.items()]) if attrs else None]
    for n in nodes:
        key += (n.shape, n.dtype, n.kind == CONST and (n.dtype is not None or type(n._value)))
    return tuple(key)


def _arity_error(op_name, arity, inputs, nodes) -> GraphStructureError:
    if arity is None:
        return GraphStructureError(f"op {op_name!r} needs at least one input")
    given = ", ".join(repr(i.name) if isinstance(i, Node) else _short_repr(i) for i in inputs)
    return GraphStructureError(
        f"op {op_name!r} takes {arity} input{'s' if arity != 1 else ''}, got {len(nodes)}"
        + (f" ({given})" if nodes else "") + f"; pass exactly {arity} (options go in keyword attributes)"
    )


def _check_attribute_names(op_name, attrs, attr_defaults) -> None:
    unknown = sorted(set(attrs) - set(attr_defaults))
    if unknown:
        valid = ", ".join(sorted(attr_defaults)) or "none"
        raise AttributeSpecError(
            f"op {op_name!r} got unknown attribute{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; it takes: {valid}." + did_you_mean(unknown[0], attr_defaults)
        )


def _check_declared_shape(shape, what):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ShapeError(f"{what}: shape must be a tuple of ints and None, got {shape!r}") from None
    for d in shape:
        if d is not None and (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 0):
            raise ShapeError(f"{what}: shape entries must be non-negative ints or None, got {shape!r}")
    return tuple(None if d is None else int(d) for d in shape)


_DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "float", "int")


def _as_dtype(dtype, what):
    """``np.dtype(dtype)``, or a DtypeError naming ``what`` and the valid spellings."""
    try:
        return np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # SyntaxError: NumPy parses some strings as specs
        raise DtypeError(
            f"{what}: dtype={dtype!r} is not a dtype NumPy knows; give one such as 'float32', 'float64', "
            "'int64' or 'bool' (or np.float32)." + did_you_mean(str(dtype), _DTYPE_NAMES)
        ) from None


def _check_numeric_dtype(dtype, what):
    if dtype.kind not in "biuf":
        raise DtypeError(
            f"{what}: dtype {dtype} is not numeric; graphengine works on bool, integer and floating arrays"
        )
    return dtype


__all__ = ["Graph", "describe_value"]
