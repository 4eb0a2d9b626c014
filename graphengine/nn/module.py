"""``ge.nn.Module``: the base class of layers and of models composed from them.

A module builds graph nodes when it is called on a node, the way a PyTorch module runs
when it is called on a tensor, except that here the call happens once, while the graph
is built, and returns the output *node*::

    class LogisticRegression(ge.nn.Module):          # deck 001
        def __init__(self, D_in):
            super().__init__()
            self.lin = ge.nn.Linear(D_in, 1)
            self.out = ge.nn.Sigmoid()

        def forward(self, x):
            return self.out(self.lin(x))

    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 2))
    y = LogisticRegression(D_in=2)(x)                # nodes under the scope "logisticregression/"

Names and scopes. Each call adds its nodes under ``g.scope(<module name>)``, nested for
sub-modules, so diagrams cluster (and can collapse) every layer. A sub-module held in an
attribute is named after the attribute (``lin``), a layer of a :class:`Sequential` after
its type and rank (``dense_1``, ``sigmoid_1``, ``dense_2``), a top-level module after its
type (``sequential``, then ``sequential_2``, ... if that scope is taken); ``name=`` sets
any of them explicitly.

Parameters are created on the first call, in the graph of the input node, and reused by
later calls (a module's parameters live in one graph). Calling a module again builds a
second path through the same parameters; that is how an evaluation path is made for
layers that behave differently in training and in evaluation (dropout, batch norm)::

    train_out = model(x)                      # training=True is the default
    with g.scope("eval"):
        eval_out = model(x, training=False)   # same params, no dropout, running statistics

``training`` is inherited by the sub-modules a module calls; inside ``forward``,
``self.training`` says which path is being built.

Initialization is reproducible: a module's parameters are drawn from a generator seeded
by the nearest ``seed`` among the module and its ancestors, combined with the module's
path below that ancestor; without any seed they are drawn from a fresh generator. The
draws are made on the host (NumPy), once, when the param is created; ``g.param`` /
``g.to("cupy")`` copy them to the device once, and no run copies them again. Arrays given
as ``init`` (NumPy or CuPy) are used where they are, in the param's dtype.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import GraphEngineError, ShapeError
from ..node import Node

_CALL_STACK: list = []  # (module, training) of the calls being built, innermost last
_REGISTRY_KEY = "graphengine.nn"


def _registry(graph) -> dict:
    """What ge.nn records about a graph: top-level module scopes and state updates.

    It lives in ``graph.extensions``, so it goes when the graph goes (a module-level
    table keyed by graph would keep every graph alive: its entries reference the graph).
    """
    return graph.extensions.setdefault(_REGISTRY_KEY, {"roots": set(), "updates": []})


def graph_state_updates(graph) -> list:
    """Every state update registered by modules built in ``graph`` (BatchNorm running
    statistics), in creation order: what a training loop applies after each step."""
    registry = graph.extensions.get(_REGISTRY_KEY)
    return list(registry["updates"]) if registry else []


class ModuleError(GraphEngineError, ValueError):
    """A module was used in a way that cannot build a graph (wrong graph, not built, ...)."""


_BUILDS: list = []  # the _Build of every module call in progress, innermost last


class _Build:
    """What one module call changes, so that a call that raises can undo all of it: the
    graph's nodes and name counters (a graph transaction), ge.nn's records of the graph,
    and the state of every module the call touches (recorded by each module's call before
    it changes anything). Calls nest; a call that succeeds hands its records to the
    enclosing one, which may still fail and undo them."""

    def __init__(self, graph):
        self.graph = graph
        self.modules: dict = {}  # id(module) -> (module, snapshot)
        extensions = graph.extensions
        registry = extensions.get(_REGISTRY_KEY)
        self.registry = None if registry is None else (set(registry["roots"]), len(registry["updates"]))
        self.mark = graph._begin()
        _BUILDS.append(self)

    def record(self, module) -> None:
        if id(module) in self.modules:
            return
        rngs = [r for r in (module.__dict__.get("_rng"), module.__dict__.get("seed"))
                if isinstance(r, np.random.Generator)]
        self.modules[id(module)] = (module, (
            dict(module.__dict__), dict(module._children), dict(module._params), dict(module._state),
            list(module._updates), [(r, r.bit_generator.state) for r in rngs]))

    def undo(self) -> None:
        self.graph._rollback(self.mark)
        for module, (attrs, children, params, state, updates, rngs) in self.modules.values():
            module.__dict__.clear()
            module.__dict__.update(attrs)
            for live, saved in ((module._children, children), (module._params, params), (module._state, state)):
                live.clear()
                live.update(saved)
            module._updates[:] = updates
            for rng, rng_state in rngs:
                rng.bit_generator.state = rng_state
        extensions = self.graph.extensions
        if self.registry is None:
            extensions.pop(_REGISTRY_KEY, None)
        elif _REGISTRY_KEY in extensions:
            roots, n_updates = self.registry
            registry = extensions[_REGISTRY_KEY]
            registry["roots"].clear()
            registry["roots"].update(roots)
            del registry["updates"][n_updates:]
        self.modules = {}

    def close(self) -> None:
        self.graph._end(self.mark)
        _BUILDS.pop()
        if _BUILDS:
            outer = _BUILDS[-1]
            for key, entry in self.modules.items():
                outer.modules.setdefault(key, entry)


class StateUpdate:
    """A non-trainable state change to apply after each training step.

    ``nodes`` are fetched in the training run; ``apply(*values)`` receives their values
    (BatchNorm: the batch mean and variance, to update its running statistics).
    """

    __slots__ = ("module", "nodes", "apply")

    def __init__(self, module, nodes, apply):
        self.module = module
        self.nodes = tuple(nodes)
        self.apply = apply

    def __repr__(self) -> str:
        return f"<StateUpdate of {self.module.path or type(self.module).__name__}: {', '.join(n.name for n in self.nodes)}>"


class Module:
    """Base class of layers and models. Subclasses write :meth:`forward`.

    ``forward(self, x, ...)`` receives nodes and returns a node (built with ``ge.ops``,
    node operators, :meth:`add_param`, :meth:`add_state` and sub-modules).
    Class attribute ``mode_dependent = True`` marks layers whose training and evaluation
    paths differ (dropout, batch norm).
    """

    mode_dependent = False

    def __init__(self, name: str | None = None, seed=None):
        object.__setattr__(self, "_children", {})
        if name is not None:
            _check_name(name)
        self.name = name
        self.seed = seed
        self.graph = None
        self.path = ""  # full scope path of the first call, e.g. "sequential/dense_1"
        self._params: dict[str, Node] = {}
        self._state: dict[str, Node] = {}
        self._updates: list[StateUpdate] = []
        self._rng = None
        self._assigned_name = None
        self._training_now = None
        self.last_input_shape = None
        self.last_output_shape = None
        self.calls = 0

    # -- sub-module registration ------------------------------------------------------
    def __setattr__(self, key, value):
        if "_children" not in self.__dict__:
            raise ModuleError(
                f"{type(self).__name__}.__init__ must call super().__init__() before setting attributes "
                f"(setting {key!r}); the base class registers sub-modules there"
            )
        if isinstance(value, Module) and not key.startswith("_"):
            if value is self:
                raise ModuleError(f"a module cannot be its own sub-module ({key!r})")
            self._children[key] = value
        elif key in self._children:
            del self._children[key]
        object.__setattr__(self, key, value)

    def children(self) -> list["Module"]:
        """Direct sub-modules, in registration order."""
        return list(self._children.values())

    def named_children(self) -> list[tuple[str, "Module"]]:
        return list(self._children.items())

    def modules(self) -> list["Module"]:
        """This module and every sub-module, depth first, each once."""
        out, seen, stack = [], set(), [self]
        while stack:
            m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append(m)
            stack.extend(reversed(m.children()))
        return out

    # -- building ---------------------------------------------------------------------
    def forward(self, x, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, x) returning a node")

    @property
    def training(self) -> bool:
        """While ``forward`` runs: True when the training path is being built."""
        if self._training_now is None:
            raise ModuleError(
                f"{type(self).__name__}.training is only known while the module builds (inside forward)"
            )
        return self._training_now

    @property
    def default_name(self) -> str:
        """Base of the generated name: the class name in lower case."""
        return type(self).__name__.lower()

    @property
    def built(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs, training: bool | None = None, **kwargs):
        graph = next((i.graph for i in inputs if isinstance(i, Node)), None)
        if graph is None:
            raise ModuleError(
                f"{type(self).__name__} is called on graph nodes (e.g. x = g.input('x', shape=(None, 784)); "
                f"model(x)); got {', '.join(type(i).__name__ for i in inputs) or 'no inputs'}"
            )
        if self.graph is not None and graph is not self.graph:
            raise ModuleError(
                f"module {self.path or type(self).__name__!r} has its parameters in graph {self.graph.name!r}; it "
                f"cannot be called on nodes of graph {graph.name!r}. Build a new module for that graph."
            )
        parent = _CALL_STACK[-1][0] if _CALL_STACK else None
        if training is None:
            training = _CALL_STACK[-1][1] if _CALL_STACK else True
        training = bool(training)
        if parent is not None and parent.graph is not graph:
            raise ModuleError(f"sub-module {type(self).__name__} is called on a node of another graph than its parent")
        # all or nothing: a build that raises leaves the graph (nodes, name counters), the
        # modules it touched (params, names, sizes read from the input) and ge.nn's records
        # of the graph as they were, so fixing the cause and building again gives the same graph
        build = _Build(graph)
        build.record(self)
        if parent is not None:
            build.record(parent)  # its sub-modules may adopt this one
        try:
            if self._assigned_name is None:
                self._assigned_name = self._pick_name(graph, parent)
            first = self.graph is None
            if first:
                self.graph = graph
                self.path = (graph.current_scope + "/" if graph.current_scope else "") + self._assigned_name
            _CALL_STACK.append((self, training))
            self._training_now = training
            try:
                with graph.scope(self._assigned_name):
                    out = self.forward(*inputs, **kwargs)
            finally:
                _CALL_STACK.pop()
                self._training_now = None
            if not isinstance(out, Node):
                raise ModuleError(f"{type(self).__name__}.forward must return a graph node, got {type(out).__name__}")
            if out.graph is not graph:
                raise ModuleError(f"{type(self).__name__}.forward returned node {out.name!r} of another graph than "
                                  "its input's; build the output from the input node")
            self.calls += 1
            first_input = next(i for i in inputs if isinstance(i, Node))
            self.last_input_shape = first_input.shape
            self.last_output_shape = out.shape
        except BaseException:
            build.undo()
            raise
        finally:
            build.close()
        return out

    def _pick_name(self, graph, parent) -> str:
        if parent is not None:
            for key, child in parent._children.items():
                if child is self:
                    return self.name or parent._child_name(key, self)
            # called inside the parent's forward without being an attribute: adopt it
            base = self.name or self.default_name
            taken = {parent._child_name(k, c) for k, c in parent._children.items()}
            name = _unique(base, taken, numbered=self.name is None)
            parent._children[f"_adopted_{len(parent._children)}"] = self
            return name
        used = _registry(graph)["roots"]
        prefix = graph.current_scope + "/" if graph.current_scope else ""
        base = self.name or self.default_name
        taken = {path[len(prefix):] for path in used if path.startswith(prefix)}
        taken |= {n.name[len(prefix):].split("/", 1)[0] for n in graph.nodes()
                  if n.name.startswith(prefix) and "/" in n.name[len(prefix):]}
        if self.name is not None and self.name in taken:
            raise ModuleError(
                f"graph {graph.name!r} already has a scope {prefix + self.name!r}; give this "
                f"{type(self).__name__} another name=, or leave name unset for a generated one"
            )
        name = _unique(base, taken, numbered=False)
        used.add(prefix + name)
        return name

    def _child_name(self, key: str, child: "Module") -> str:
        """Name of a registered sub-module: its own name, or the attribute it is held in."""
        if child.name:
            return child.name
        if child._assigned_name is not None:
            return child._assigned_name
        return key

    # -- parameters and state ------------------------------------------------------------
    def _init_rng(self):
        if self._rng is None:
            seed, rel = None, []
            chain = [m for m, _ in _CALL_STACK]  # ancestors, outermost first, ending with self
            for m in reversed(chain):
                if m.seed is not None:
                    seed = m.seed
                    break
                rel.append(m._assigned_name or "")
            if seed is None:
                self._rng = np.random.default_rng()
            elif isinstance(seed, np.random.Generator):
                self._rng = seed if not rel else np.random.default_rng(seed.integers(2**63))
            else:
                key = "/".join(reversed(rel))
                self._rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
        return self._rng

    def add_param(self, name: str, shape, init="xavier_uniform", dtype="float32") -> Node:
        """The module's param ``name`` (created on the first call, reused after).

        ``init`` is an initializer name (``ge.init.<name>``), a callable
        ``init(shape, dtype=..., rng=...)``, a number (constant fill) or an array.
        """
        existing = self._params.get(name)
        if existing is not None:
            return existing
        graph = self._building_graph("add_param")
        value = make_initial_value(init, tuple(shape), dtype, self._init_rng(), f"{self.path}/{name}")
        node = graph.param(name, value)
        self._params[name] = node
        return node

    def add_state(self, name: str, value) -> Node:
        """A non-trainable array held by the module as a const node (running statistics)."""
        existing = self._state.get(name)
        if existing is not None:
            return existing
        graph = self._building_graph("add_state")
        node = graph.const(value if hasattr(value, "shape") else np.asarray(value), name=name)
        self._state[name] = node
        return node

    def add_update(self, nodes, apply) -> StateUpdate:
        """Register a state change applied after each training step (see :class:`StateUpdate`)."""
        update = StateUpdate(self, nodes, apply)
        self._updates.append(update)
        _registry(self._building_graph("add_update"))["updates"].append(update)
        return update

    def _building_graph(self, what):
        if self._training_now is None or self.graph is None:
            raise ModuleError(f"{type(self).__name__}.{what} can only be used inside forward, while the module builds")
        return self.graph

    def params(self) -> list[Node]:
        """Param nodes of this module and its sub-modules, in creation (id) order."""
        seen = {}
        for m in self.modules():
            for p in m._params.values():
                seen[p.id] = p
        return [seen[i] for i in sorted(seen)]

    def state(self) -> list[Node]:
        """Non-trainable state nodes (running statistics), in creation order."""
        seen = {}
        for m in self.modules():
            for s in m._state.values():
                seen[s.id] = s
        return [seen[i] for i in sorted(seen)]

    def state_updates(self) -> list[StateUpdate]:
        """Every registered state update of this module and its sub-modules."""
        out = []
        for m in self.modules():
            out.extend(m._updates)
        return out

    @property
    def is_mode_dependent(self) -> bool:
        """True when some layer inside behaves differently in training and evaluation."""
        return any(type(m).mode_dependent for m in self.modules())

    # -- counting and describing -----------------------------------------------------------
    def expected_param_shapes(self) -> dict:
        """{param name: shape} of this module's own params (not its sub-modules').

        Once built, the actual shapes. Before, layers that know their sizes at construction
        say so (``Dense(784, 30)``); containers without params of their own return ``{}``;
        ``None`` means "not known before the first call" (the default for custom modules,
        which may create params in ``forward``).
        """
        if self._params or self.built:
            return {k: tuple(p.shape) for k, p in self._params.items()}
        return None

    def own_parameter_count(self) -> int:
        """Trainable scalars of this module's own params (not its sub-modules')."""
        if self._params or self.built:
            return sum(int(np.prod(p.shape, dtype=np.int64)) for p in self._params.values())
        shapes = self.expected_param_shapes()
        if shapes is None:
            raise ModuleError(
                f"{type(self).__name__} {self.name or ''} does not know its parameter shapes before it is built; "
                "give its input size (e.g. Dense(784, 30)) or call the model on an input node first"
            )
        return sum(int(np.prod(s, dtype=np.int64)) for s in shapes.values())

    def parameter_count(self) -> int:
        """Number of trainable scalars in this module and its sub-modules."""
        if self.built:
            return sum(int(np.prod(p.shape, dtype=np.int64)) for p in self.params())
        return sum(m.own_parameter_count() for m in self.modules())

    def summary(self) -> str:
        """A Keras-like table of the layers: scope (indented by nesting), type, output shape
        of the last call (``?`` for an axis known only at run time, blank before the first
        call) and the layer's own trainable parameter count, then the totals: trainable
        parameters and, where layers keep them, non-trainable state values (BatchNorm's
        running statistics). Counts not known before the first call show as ``?``.

        >>> print(ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10)).summary())
        layer        type        output shape  params
        ---------------------------------------------
        sequential   Sequential                     0
          dense_1    Dense                      23550
          sigmoid_1  Activation                     0
          dense_2    Dense                        310
        ---------------------------------------------
        total parameters: 23860
        """
        rows = []

        def walk(module, label, depth):
            try:
                own = module.own_parameter_count()
            except ModuleError:
                own = "?"
            shape = "" if module.last_output_shape is None else _shape_text(module.last_output_shape)
            rows.append(("  " * depth + label, type(module).__name__, shape, own))
            for key, child in module._children.items():
                walk(child, child._assigned_name or child.name or key, depth + 1)

        walk(self, self._assigned_name or self.name or self.default_name, 0)
        try:
            total = self.parameter_count()
        except ModuleError:
            total = "? (call the model on an input node to know every size)"
        state = sum(int(np.prod(s.shape, dtype=np.int64)) for s in self.state())
        header = ("layer", "type", "output shape", "params")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]

        def line(r):
            return (f"{str(r[0]):<{widths[0]}}  {str(r[1]):<{widths[1]}}  {str(r[2]):<{widths[2]}}  "
                    f"{str(r[3]):>{widths[3]}}").rstrip()

        rule = "-" * (sum(widths) + 6)
        out = [line(header), rule] + [line(r) for r in rows] + [rule, f"total parameters: {total}"]
        if state:
            out.append(f"non-trainable state values: {state} (running statistics, not counted above)")
        return "\n".join(out)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not self._children:
            return head
        lines = [f"{type(self).__name__}("]
        for key, child in self._children.items():
            label = child._assigned_name or child.name or key
            inner = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({label}): {inner}")
        lines.append(")")
        return "\n".join(lines)


def _check_name(name):
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise ModuleError(f"module name {name!r} must be a non-empty string without '/' or surrounding spaces")


def _unique(base: str, taken: set, numbered: bool) -> str:
    if numbered:
        k = 1
        while f"{base}_{k}" in taken:
            k += 1
        return f"{base}_{k}"
    if base not in taken:
        return base
    k = 2
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def make_initial_value(init, shape, dtype, rng, where=""):
    """The initial array of a param from an init spec (name, callable, number or array)."""
    if isinstance(init, str):
        import graphengine as ge

        fn = getattr(ge.init, init)  # UnknownOpError with suggestions if misspelt
        value = fn(shape, dtype=dtype, rng=rng)
    elif callable(init):
        value = init(shape, dtype=dtype, rng=rng)
    elif isinstance(init, (int, float)) and not isinstance(init, bool):
        value = np.full(shape, init, dtype=dtype)
    elif hasattr(init, "shape") and hasattr(init, "astype"):
        # an array (NumPy or CuPy) stays where it is: g.param moves it to the graph's backend
        # (or refuses a device array for a NumPy graph), never np.asarray on a device array
        value = init.astype(dtype, copy=False)
    else:
        value = np.asarray(init, dtype=dtype)
    value = np.asarray(value) if not hasattr(value, "shape") else value
    if tuple(value.shape) != tuple(shape):
        raise ShapeError(
            f"initial value for {where or 'a param'} has shape {tuple(value.shape)}, expected {tuple(shape)}; "
            "an initializer must return an array of the shape it is given"
        )
    return value


__all__ = ["Module", "ModuleError", "StateUpdate", "make_initial_value", "graph_state_updates"]
