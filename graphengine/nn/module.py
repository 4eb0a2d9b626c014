"""``ge.nn.Module``: the base class of layers and of models composed from them.

A module builds graph nodes when it is called on a node, the way a PyTorch module runs
when it is called on a tensor, except that here the call happens once, while the graph
is built, and returns the output *node*::

    class LogisticRegression(ge.nn.Module):          # h = sigmoid(x @ W + b)
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

A model as an object (``docs/models.md``): ``model.graph`` once built (before, an error says
how to build it), ``model.build(input_shape)``, ``model.predict(X)`` and
``model.evaluate(X, y)`` on the evaluation path (through ``model.trainer`` when ``fit``
trained it), ``model.save(path)`` / ``ge.nn.load(path)`` (structure from each layer's
``get_config``, weights, optimizer state; no pickle) and ``model.layer_info()`` (each
layer's scope, first-call nodes, shapes and parameter counts, for diagrams).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..node import INPUT, Node
from .errors import ModuleError

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


_BUILDS: list = []  # the _Build of every module call in progress, innermost last
_BUDGETS: list = []  # [bytes left] while ge.nn.load builds a model: params beyond it are refused


class weight_budget:
    """While active, params and state created by modules may total at most ``nbytes``
    (``ge.nn.load`` sets it to the weights its file declares, so a config that asks for
    more is refused before the arrays are allocated)."""

    def __init__(self, nbytes: int):
        self.left = [int(nbytes)]

    def __enter__(self):
        _BUDGETS.append(self.left)
        return self

    def __exit__(self, *exc):
        _BUDGETS.remove(self.left)
        return False


def _spend_budget(where, shape, dtype):
    if not _BUDGETS:
        return
    left = _BUDGETS[-1]
    try:
        nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    except TypeError:
        return  # not a shape: make_initial_value names the problem
    if nbytes > left[0]:
        raise ModuleError(f"{where} of shape {shape} would take {nbytes} bytes, more than the {left[0]} bytes the "
                          "file's declared weights leave room for; the file's layer config and weights disagree")
    left[0] -= nbytes


def nearest_seed() -> tuple:
    """(seed, path) for the module being built (the last on the call stack): the seed of the
    nearest module calling it that has one (itself included; None if none has), and the
    names of the modules below that one, outermost first, down to the module itself."""
    rel = []
    for module, _ in reversed(_CALL_STACK):
        if module.seed is not None:
            return module.seed, rel[::-1]
        rel.append(module._assigned_name or "")
    return None, rel[::-1]


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
        self._graph = None
        self._backend = None  # asked for by to() before the model was built
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
        self._first_call = None  # (input nodes, output node, training, other arguments?) of the first call
        self._inference = None  # (input nodes, output node) that predict runs, once made
        self.trainer = None  # set by fit (the Trainer that trained this model)
        self._optimizer = None  # the optimizer ge.nn.load restored, when the file holds one
        self.training_config = None  # {"loss": ..., "metrics": [...]} from a saved file, for evaluate

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
        """True once the module was called on an input node (its params exist)."""
        return self._graph is not None

    @property
    def graph(self):
        """The graph the module's params live in, once built (called on an input node, or
        built by ``build``, ``fit`` or ``predict``). Before that, a :class:`ModuleError`
        says how to build it."""
        if self._graph is None:
            raise ModuleError(
                f"{type(self).__name__} {self.name or self.default_name!r} is not built yet, so it has no graph: call it "
                f"on an input node (x = g.input('x', shape=(None, 784)); model(x)), or model.build((None, 784)), or "
                f"train it with ge.training.fit(model, X, y) or run model.predict(X)")
        return self._graph

    def to(self, backend: str) -> "Module":
        """Run and train the model on ``backend`` (``"numpy"`` or ``"cupy"``), as
        ``model.to("cuda")`` does in torch; returns the model. A built model's graph moves
        now (``model.graph.to(backend)``: params, consts and state). A model not built yet
        keeps the choice, and the graph that ``build``, ``fit`` or ``predict`` makes for it
        is on that backend. The optimizer that trained it (``model.optimizer``) keeps its
        state, moved along. An unknown name, or CuPy without a usable GPU, is an error here."""
        from ..backends import get_backend

        get_backend(backend)
        if self._graph is None:
            self._backend = backend
            return self
        self._graph.to(backend)
        optimizer = self.optimizer  # its state (momenta, ...) follows the params
        if optimizer is not None and optimizer.state:
            optimizer.load_state_dict(optimizer.state_dict())
        return self

    def new_graph(self):
        """A new, empty graph for this model to be built in: named after the model, on the
        backend ``to`` chose (NumPy otherwise)."""
        from ..graph import Graph

        return Graph(self.name or self.default_name, backend=self._backend or "numpy")

    @property
    def optimizer(self):
        """The optimizer of the trainer that trained this model (``model.trainer``), else
        the one ``ge.nn.load`` restored from a file, else None. Pass it to ``fit`` to go
        on training with its state: ``ge.training.fit(model, X, y, optimizer=model.optimizer)``."""
        trainer = self.__dict__.get("trainer")
        if trainer is not None and getattr(trainer, "optimizer", None) is not None:
            return trainer.optimizer
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._optimizer = value

    def __call__(self, *inputs, training: bool | None = None, **kwargs):
        graph = next((i.graph for i in inputs if isinstance(i, Node)), None)
        if graph is None:
            raise ModuleError(
                f"{type(self).__name__} is called on graph nodes (e.g. x = g.input('x', shape=(None, 784)); "
                f"model(x)); got {', '.join(type(i).__name__ for i in inputs) or 'no inputs'}"
            )
        if self._graph is not None and graph is not self._graph:
            raise ModuleError(
                f"module {self.path or type(self).__name__!r} has its parameters in graph {self._graph.name!r}; it "
                f"cannot be called on nodes of graph {graph.name!r}. Build a new module for that graph."
            )
        if self._graph is None and self._backend is not None and graph.backend != self._backend:
            raise ModuleError(
                f"{type(self).__name__} {self.name or self.default_name!r} was moved to {self._backend!r} with "
                f"to(), but it is called on a node of graph {graph.name!r}, which is on {graph.backend!r}: move that "
                f"graph first (g.to({self._backend!r})), or let build, fit or predict make the model's graph"
            )
        parent = _CALL_STACK[-1][0] if _CALL_STACK else None
        if training is None:
            training = _CALL_STACK[-1][1] if _CALL_STACK else True
        training = bool(training)
        if parent is not None and parent._graph is not graph:
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
            first = self._graph is None
            if first:
                self._graph = graph
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
            if first:
                nodes = tuple(i for i in inputs if isinstance(i, Node))
                self._first_call = (nodes, out, training, len(nodes) != len(inputs) or bool(kwargs))
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
            seed, rel = nearest_seed()
            if seed is None:
                self._rng = np.random.default_rng()
            elif isinstance(seed, np.random.Generator):
                self._rng = seed if not rel else np.random.default_rng(seed.integers(2**63))
            else:
                self._rng = np.random.default_rng([int(seed), zlib.crc32("/".join(rel).encode())])
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
        _spend_budget(f"{self.path}/{name}", tuple(shape), dtype)
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
        _spend_budget(f"{self.path}/{name}", tuple(np.shape(value)), getattr(value, "dtype", np.float64))
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
        if self._training_now is None or self._graph is None:
            raise ModuleError(f"{type(self).__name__}.{what} can only be used inside forward, while the module builds")
        return self._graph

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

    # -- a model as a whole: build, predict, evaluate, save --------------------------------
    def build(self, input_shape, dtype="float32"):
        """Build the module on a new input of ``input_shape`` (with the batch axis, which
        may be None: ``(None, 784)``) in a new graph named after it; returns the output
        node. Like Keras' ``model.build(input_shape)``: the same as
        ``model(ge.Graph(...).input("x", shape=input_shape, dtype=dtype))``. Models that
        take integer ids (``Embedding``) need ``dtype="int64"``."""
        if self._graph is not None:
            raise ModuleError(f"{type(self).__name__} {self.path!r} is already built (in graph {self._graph.name!r})")
        if isinstance(input_shape, (int, np.integer)) or input_shape is None:
            raise ModuleError(f"build takes the input's shape with its batch axis, e.g. (None, 784); got {input_shape!r}")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        return self(self.new_graph().input("x", shape=shape, dtype=dtype))

    def predict(self, X, batch_size: int = 1024) -> np.ndarray:
        """The model's outputs for ``X`` (NumPy; logits for a cross-entropy classifier),
        computed on the evaluation path (no dropout, batch norm's running statistics),
        ``batch_size`` rows at a time.

        A model trained by ``fit`` runs its trainer's evaluation path
        (``model.trainer.predict``). A model built by a call on an input node runs that
        call's nodes when they do not depend on the mode, else an evaluation path added
        once under the scope ``predict`` (same params). A model never built is built first
        for inputs shaped like ``X`` (``model.build((None,) + X.shape[1:])``: float inputs
        as float32, integer ones as int64 when the first layer is an ``Embedding``).
        A model of several inputs takes ``X`` as a list of arrays.
        """
        from .inference import as_input_list, run_batches

        where = f"{type(self).__name__}.predict"
        trainer = self.trainer
        if trainer is not None and getattr(trainer, "built", False):
            return trainer.predict(X, batch_size=batch_size)
        count = len(self._first_call[0]) if self._first_call is not None else 1
        arrays = as_input_list(X, count, where)
        if self._graph is None:
            self._build_for(arrays)
        inputs, output = self._inference_path(arrays, where)
        return run_batches(self._graph, inputs, output, arrays, batch_size, where)

    def evaluate(self, X, y, *, loss=None, metrics=None, batch_size: int = 1024) -> dict:
        """``{"loss": mean loss, <metric>: value}`` of the model on ``(X, y)``, on the
        evaluation path.

        A model trained by ``fit`` uses its trainer's loss and metrics
        (``model.trainer.evaluate``); a model loaded with ``ge.nn.load`` those saved with
        it. Any other model needs ``loss=``: an op name (``"cross_entropy"``, ``"mse"``, ...)
        or a function ``loss(output_node, target_node) -> node``. ``metrics`` are names
        (``"accuracy"``, ``"mse"``, ...) or functions ``f(prediction, target) -> float``;
        by default accuracy for classification losses. Giving ``loss=`` or ``metrics=`` to
        a trained model computes those instead of the trainer's.
        """
        from .inference import loss_and_metrics, prepare_targets, resolve_metrics

        where = f"{type(self).__name__}.evaluate"
        trainer = self.trainer
        if trainer is not None and getattr(trainer, "built", False) and loss is None and metrics is None:
            return trainer.evaluate(X, y, batch_size=batch_size)
        if loss is None:
            if trainer is not None and isinstance(getattr(trainer, "loss_spec", None), str):
                loss = trainer.loss_spec
            elif self.training_config is not None and self.training_config.get("loss") is not None:
                loss = self.training_config["loss"]
                if metrics is None:
                    metrics = self.training_config.get("metrics")
            else:
                why = ("it was trained with a loss given as a Python function, which a model file does not hold"
                       if self.training_config is not None else
                       "this model was not trained by fit (and not loaded from a file that names its loss)")
                raise ModuleError(
                    f"{where}: {why}, so evaluate does not know the loss: pass loss=, e.g. model.evaluate(X, y, "
                    "loss='cross_entropy') for class labels, loss='mse' for regression targets, or your function")
        if isinstance(loss, str):
            from .loss_names import check_loss_name

            check_loss_name(loss, where)  # a misspelt loss: UnknownOpError with suggestions, before any work
        elif not callable(loss):
            raise ModuleError(f"{where}: loss must be an op name or a function (output, target) -> node, got "
                              f"{type(loss).__name__}")
        resolved = resolve_metrics(loss, metrics)
        prediction = self.predict(X, batch_size=batch_size)
        targets = prepare_targets(loss, y, prediction, where)
        return loss_and_metrics(loss, resolved, prediction, targets, batch_size, where)

    def save(self, path, *, include_optimizer: bool = True) -> str:
        """Write the model to ``path`` (one zip file; ``.genn`` is a good suffix): its
        structure as JSON (each layer's class and :meth:`get_config`), the shapes of its
        inputs, its weights (params and running statistics) as ``.npz``, and, when it was
        trained by ``fit`` (or loaded with an optimizer) and ``include_optimizer``, the
        optimizer's state and the loss and metric names. No pickle: ``ge.nn.load(path)``
        reads it back. Returns the path. See ``graphengine.nn.saving``."""
        from .saving import save_model

        return save_model(self, path, include_optimizer=include_optimizer)

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this module (``type(m).from_config(
        m.get_config())``), JSON values only, sub-modules as modules: what ``save`` writes.

        Built-in layers define it. This default serves modules whose ``__init__`` takes no
        arguments but ``name`` (and ``seed``); a module with other arguments must define
        ``get_config`` returning them, as in Keras."""
        import inspect

        own = [p for p in inspect.signature(type(self).__init__).parameters.values()
               if p.name not in ("self", "name", "seed") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if own:
            raise ModuleError(
                f"{type(self).__name__} takes the arguments {', '.join(p.name for p in own)}, so it must define "
                f"get_config(self) returning them (a dict of JSON values and modules), e.g. "
                f"return {{'name': self.name, {', '.join(repr(p.name) + ': self.' + p.name for p in own[:2])}}}")
        config = {"name": self.name}
        if "seed" in inspect.signature(type(self).__init__).parameters and _json_seed(self.seed) is not None:
            config["seed"] = _json_seed(self.seed)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Module":
        """A new, unbuilt module from :meth:`get_config`'s dict (``cls(**config)``)."""
        return cls(**config)

    def layer_info(self) -> list["LayerInfo"]:
        """One :class:`LayerInfo` per module, this one first, then its sub-modules depth
        first in registration order (as :meth:`summary` lists them): scope path, depth,
        type, the input and output nodes of its first call and their shapes, and its
        parameter counts. What a renderer needs to draw a model layer by layer."""
        rows = []

        def walk(module, label, depth, seen):
            if id(module) in seen:
                return
            seen.add(id(module))
            try:
                own = module.own_parameter_count()
            except ModuleError:
                own = None
            try:
                total = module.parameter_count()
            except ModuleError:
                total = None
            first = module._first_call
            inputs, output = (first[0], first[1]) if first is not None else ((), None)
            rows.append(LayerInfo(
                module=module, name=label, path=module.path, depth=depth, type=type(module).__name__,
                inputs=tuple(inputs), output=output, input_shapes=tuple(n.shape for n in inputs),
                output_shape=None if output is None else output.shape, params=own, total_params=total))
            for key, child in module._children.items():
                walk(child, child._assigned_name or child.name or key, depth + 1, seen)

        walk(self, self._assigned_name or self.name or self.default_name, 0, set())
        return rows

    def _build_for(self, arrays):
        """Build a never-built model for inputs shaped like ``arrays`` (see :meth:`predict`)."""
        if len(arrays) != 1:
            raise ModuleError(f"{type(self).__name__} is not built and takes several inputs; build it first by "
                              "calling it on its input nodes")
        X = arrays[0]
        dtype = "int64" if X.dtype.kind in "biu" and _first_leaf_is_embedding(self) else "float32"
        self.build((None,) + tuple(X.shape[1:]), dtype=dtype)

    def _inference_path(self, arrays, where):
        """(input nodes, output node) of the evaluation path predict runs, made once."""
        if self._inference is not None:
            return self._inference
        inputs, output, training, extra = self._first_call
        if extra:
            raise ModuleError(f"{where}: the model was built with arguments other than input nodes; call it on your "
                              "inputs with training=False and run the graph yourself (graph.forward)")
        if all(n.kind == INPUT for n in inputs) and (not training or not self.is_mode_dependent):
            self._inference = (inputs, output)
            return self._inference
        graph = self._graph
        build = _Build(graph)
        build.record(self)
        try:
            used = {n.name.split("/", 1)[0] for n in graph.nodes()}
            scope = "predict"
            k = 1
            while scope in used:
                k += 1
                scope = f"predict_{k}"
            with graph.scope(scope):
                new_inputs = tuple(graph.input("x" if len(inputs) == 1 else f"x_{i + 1}",
                                               shape=(None,) + tuple(n.shape[1:]) if n.shape else None, dtype=n.dtype)
                                   for i, n in enumerate(inputs))
                out = self(*new_inputs, training=False)
            self._inference = (new_inputs, out)
        except BaseException:
            build.undo()
            raise
        finally:
            build.close()
        return self._inference

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


@dataclass(frozen=True)
class LayerInfo:
    """One row of :meth:`Module.layer_info`: a module of a model and its first call.

    ``path``: its full scope path (``"sequential/dense_1"``; ``""`` before it is built);
    ``name``: the last part of it (the label :meth:`Module.summary` shows); ``depth``: 0
    for the model, 1 for its layers, ...; ``type``: the class name; ``inputs`` / ``output``:
    the nodes of its first call (``()`` / None before it is built) and ``input_shapes`` /
    ``output_shape`` their shapes (None for an axis known only at run time); ``params``:
    its own trainable scalars, ``total_params``: with its sub-modules' (None where not
    known before the first call).
    """

    module: "Module"
    name: str
    path: str
    depth: int
    type: str
    inputs: tuple
    output: object
    input_shapes: tuple
    output_shape: object
    params: object
    total_params: object


def _json_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None


def portable_config(config: dict, **optional) -> dict:
    """``config`` plus the ``optional`` entries a file can hold: an initializer given by
    name or number (a function or an array is left out: the saved weights replace what it
    draws), an int seed (a Generator is left out). Used by the layers' ``get_config``."""
    out = dict(config)
    for key, value in optional.items():
        if value is None or isinstance(value, str) or (isinstance(value, (int, float, np.integer, np.floating))
                                                       and not isinstance(value, bool)):
            out[key] = value.item() if isinstance(value, np.generic) else value
    if "dtype" in out and out["dtype"] is not None:
        out["dtype"] = np.dtype(out["dtype"]).name
    return out


def _first_leaf_is_embedding(module) -> bool:
    while module._children:
        module = next(iter(module._children.values()))
    return type(module).__name__ == "Embedding"


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


__all__ = ["Module", "ModuleError", "LayerInfo", "portable_config", "weight_budget", "StateUpdate", "make_initial_value", "graph_state_updates"]
