"""``ge.Optimizer``: the base class optimizer plugins subclass.

The base class walks the parameters, keeps per-parameter state and applies the update;
a subclass writes only the per-parameter rule. The rule changes ``value`` in place and
returns None, taking its temporaries from :meth:`Optimizer.scratch` so that a step
allocates nothing::

    class SGD(ge.Optimizer):
        name = "sgd"
        defaults = {"lr": 0.01}

        def update(self, xp, value, grad, state):
            step = xp.multiply(grad, float(self.hyper["lr"]), out=self.scratch(xp, value))
            xp.subtract(value, step, out=value)

The functional form is accepted too: a rule may instead return the new value as a new
array (``return value - lr * grad``). The base class then stores the returned array as
the param's value (a copy if the array could be shared with something else), and the
old array is left as it was. That costs an allocation per param and step; in-place
rules are the fast path (the fused training step calls :meth:`Optimizer.step` on every
step).

The contract of ``update(self, xp, value, grad, state)``:

* ``value`` is the param's own array: change it in place (``out=value``, ``value -= ...``)
  and return None. The base class then counts the change in ``node._updates`` (runs that
  hold the param's array compare it to know the value changed after they ran).
* ``grad`` has the param's shape and dtype; never change it (it may be a buffer the run
  or the fused step still uses), unless ``self.may_consume_grad`` is True: then the caller
  of :meth:`Optimizer.step` has given the gradient arrays up (``step(grads,
  consume_grads=True)``; ``compile_step(..., keep_grads=False)`` and ``fit`` pass it),
  and the rule may use ``grad`` as its scratch space, e.g. ``grad *= lr; value -= grad``
  (one memory pass fewer than writing ``lr * grad`` into a scratch array). The flag is
  False outside a step and in any step not given that permission, so a rule that never
  reads it is always right.
* ``state`` is this param's dict from :meth:`init_state`; its arrays may be changed in
  place too (``state_dict`` returns copies, ``load_state_dict`` copies in).
* Keep float32 float32: pass hyper-parameters as Python floats (weak scalars) and take
  temporaries from ``self.scratch(xp, value, k)``, never float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import (
    AttributeSpecError,
    BackendMismatchError,
    DtypeError,
    GraphEngineError,
    GraphStructureError,
    ShapeError,
    did_you_mean,
)
from .node import PARAM, Node, other_graph_text
from .op import format_shape


class HyperParameterError(GraphEngineError, ValueError):
    """An optimizer hyper-parameter is out of range (a negative or non-finite learning rate)."""


class OptimizerStateError(GraphEngineError, ValueError):
    """``load_state_dict`` was given a state dict this optimizer cannot take; it is left unchanged."""


class OptimizerStepError(GraphEngineError, TypeError):
    """``step`` was given something that is not a Run or a mapping param node -> gradient."""


def check_learning_rate(name: str, hyper: dict) -> None:
    """Refuse a learning rate that is negative, NaN or infinite (or not a number)."""
    if "lr" not in hyper:
        return
    value = hyper["lr"]
    try:
        lr = float(value)
    except (TypeError, ValueError):
        raise HyperParameterError(f"optimizer {name!r}: lr must be a number, got {value!r}") from None
    if not (math.isfinite(lr) and lr >= 0):
        raise HyperParameterError(
            f"optimizer {name!r}: lr={value!r} is out of range; the learning rate must be a finite number >= 0"
        )


class OptimizerParamsError(GraphStructureError, TypeError):
    """An optimizer was created with something other than a list of param nodes."""


def _param_list(name: str, params) -> list:
    """The constructor's ``params``, checked: a list (any iterable) of distinct param nodes."""
    usage = f"ge.optimizers.create({name!r}, g.params(), ...)"
    if isinstance(params, Node):
        raise OptimizerParamsError(
            f"optimizer {name!r} takes a list of param nodes, got the single node {params.name!r}; pass "
            f"[{params.name if params.name.isidentifier() else 'node'}] (a list of one) or g.params() for every "
            f"param: {usage}"
        )
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise OptimizerParamsError(
            f"optimizer {name!r} takes a list of param nodes, got {type(params).__name__} {params!r:.60}; "
            f"pass g.params() (or a list of the param nodes to train): {usage}"
        )
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Node) or p.kind != PARAM:
            what = (f"{'an' if p.kind[0] in 'aeiou' else 'a'} {p.kind} node {p.name!r}" if isinstance(p, Node)
                    else f"{type(p).__name__} {p!r:.60}")
            hint = f" (g.node({p!r}) gives the node of a name)" if isinstance(p, str) else ""
            raise OptimizerParamsError(
                f"optimizer {name!r} takes param nodes (g.params()); item {i} is {what}{hint}. Only params "
                "are trained: make trainable arrays with g.param(name, array)"
            )
    seen = set()
    for p in params:
        if id(p) in seen:
            raise OptimizerParamsError(
                f"optimizer {name!r}: param {p.name!r} is listed twice; list each param once"
            )
        seen.add(id(p))
    return params


class Optimizer:
    """Base class of optimizers.

    ``defaults`` maps every hyper-parameter the rule reads to its default; values given
    to the constructor override them (unknown names are refused) and are checked by
    :meth:`validate_hyper`. ``update`` changes one parameter's value in place (or returns
    its new value), given its current value, its gradient and its state (a dict the
    optimizer owns, one per parameter, that ``init_state`` fills first).
    """

    name = ""
    defaults: dict = {"lr": 0.01}
    may_consume_grad = False  # True only inside a step(..., consume_grads=True): see update()

    def __init__(self, params, **hyper):
        params = _param_list(self.name, params)
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            raise AttributeSpecError(
                f"optimizer {self.name!r} got unknown hyper-parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; it takes: {', '.join(sorted(self.defaults))}."
                + did_you_mean(unknown[0], self.defaults)
            )
        self.params = params
        self.hyper = {**self.defaults, **hyper}
        self.state: dict = {}  # param node -> dict
        self.steps = 0
        self._known = dict.fromkeys(params)  # membership test of step()'s keys, done once per step
        self._graphs = list({id(p.graph): p.graph for p in params}.values())
        self._scratch: dict = {}  # (xp, shape, dtype, k) -> reusable array
        self.validate_hyper()

    # -- what a subclass writes -------------------------------------------------------------
    def validate_hyper(self) -> None:
        """Raise a ``ValueError`` (a ``ge.GraphEngineError``) naming any hyper-parameter in
        ``self.hyper`` that is out of range. Called by ``__init__`` and, on the loaded
        values, by :meth:`load_state_dict`. The base class checks ``lr`` (finite, >= 0);
        override it to check the others (and ``lr`` more strictly if needed)."""
        check_learning_rate(self.name, self.hyper)

    def init_state(self, xp, value) -> dict:
        """Fresh state for one parameter (e.g. zero moment buffers)."""
        return {}

    def update(self, xp, value, grad, state):  # pragma: no cover - abstract
        """Change ``value`` in place and return None (or return the new value as a new array).
        Leave ``grad`` as it is, unless ``self.may_consume_grad`` is True (then it may be
        overwritten: the caller of :meth:`step` will not read it again)."""
        raise NotImplementedError(f"optimizer {self.name!r} has no update rule")

    def scratch(self, xp, value, k: int = 0):
        """A temporary array of ``value``'s shape and dtype, owned by the optimizer and reused
        by every later step (one per backend, shape, dtype and ``k``). A rule that needs two
        temporaries at once asks for ``k=0`` and ``k=1``. Its contents are garbage on entry
        and must not be kept past the rule: the next param of the same shape reuses it."""
        key = (xp, value.shape, value.dtype, k)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = xp.empty(value.shape, dtype=value.dtype)
        return buf

    # -- the step ---------------------------------------------------------------------------
    def step(self, grads, *, consume_grads: bool = False) -> None:
        """Update every parameter that has a gradient.

        ``grads`` is a Run (after ``run.backward(loss)``) of the params' graph, or a mapping
        param node -> gradient (None: no gradient, the param is left alone). Every key must be
        one of this optimizer's params. A gradient of another dtype is cast to the param's; a
        gradient of another shape is refused, and then no param is updated.

        ``consume_grads=True`` gives the gradient arrays to the update rules: the caller will
        not read them again, so a rule may overwrite them (``self.may_consume_grad`` is True
        during its ``update``), which saves a memory pass per param. The arrays must not share
        memory with each other or with anything still needed (a param's value, a feed, a
        constant). The same array given for two params, or a read-only view (a broadcast),
        is caught: then nothing is consumed. A Run's gradients are never consumed: the run
        keeps them.
        """
        consume = consume_grads and not hasattr(grads, "param_grads")
        if type(grads) is not dict:
            grads = self._grads_from(grads)
        known = self._known
        if not known.keys() >= grads.keys():
            self._refuse_keys(grads)
        todo = []
        seen = set() if consume else None  # the arrays' ids: one array given for two params is not consumed
        for p, g in grads.items():
            if g is None:
                continue
            value = p._value
            if type(g) is not type(value):
                g = self._coerce(p, value, g)
            cast = g.dtype is not value.dtype and g.dtype != value.dtype
            if cast:
                self._check_grad_dtype(p, value, g)
            if g.shape != value.shape:
                raise ShapeError(
                    f"optimizer {self.name!r}: the gradient for param {p.name!r} has shape {format_shape(g.shape)}, "
                    f"the param has shape {format_shape(value.shape)}; pass the gradient of that param "
                    "(run.grad(param)), summed to its shape. No param was updated."
                )
            if cast:
                g = g.astype(value.dtype)
            if consume:
                seen.add(id(g))
                if g.base is not None and not getattr(g.flags, "writeable", True):
                    consume = False  # a read-only view (a broadcast): nothing is consumed
            todo.append((p, value, g))
        self.steps += 1
        consume = consume and len(seen) == len(todo)
        if consume:
            self.may_consume_grad = True
        states = self.state
        update = self.update
        graphs = self._graphs
        one_xp = graphs[0]._backend.xp if len(graphs) == 1 else None  # read per step: g.to() may change it
        try:
            for p, value, g in todo:
                xp = one_xp or p.graph._backend.xp
                state = states.get(p)
                if state is None:
                    state = states[p] = self.init_state(xp, value)
                try:
                    new = update(xp, value, g, state)
                except ValueError as exc:
                    flags = getattr(value, "flags", None)
                    if flags is not None and not flags.writeable:
                        raise OptimizerStepError(
                            f"optimizer {self.name!r}: the array of param {p.name!r} is read-only, so it cannot be "
                            f"updated in place ({exc}). Give the param an array it owns: "
                            "p.value = np.array(p.value, copy=True)."
                        ) from exc
                    flags = getattr(g, "flags", None)
                    if consume and flags is not None and not flags.writeable:
                        raise OptimizerStepError(
                            f"optimizer {self.name!r}: step(..., consume_grads=True) got a read-only gradient array "
                            f"for param {p.name!r}, which the rule tried to overwrite ({exc}); the params before it "
                            "in the mapping were updated. Pass gradients the rules may overwrite, or leave "
                            "consume_grads off."
                        ) from exc
                    raise
                if new is None or new is value:
                    p._updates += 1
                else:
                    self._store(p, value, g, state, xp, new)
        finally:
            if consume:
                self.may_consume_grad = False

    def _store(self, p, value, grad, state, xp, new) -> None:
        """The functional form: ``new`` becomes the param's array (copied where it could be
        shared with the gradient, the state or another array)."""
        if not isinstance(new, xp.ndarray):
            new = xp.asarray(new)  # 0-d arithmetic gives NumPy scalars; params stay arrays
        if new.shape != value.shape:
            raise ShapeError(
                f"optimizer {self.name!r}: update() returned an array of shape {format_shape(new.shape)} for param "
                f"{p.name!r} of shape {format_shape(value.shape)}; return the new value with the param's shape "
                "(or change value in place and return None)"
            )
        if new.dtype != value.dtype:
            new = new.astype(value.dtype)
        elif new is grad or new.base is not None or any(new is item for item in state.values()):
            new = new.copy()  # the param must own its array: later in-place steps must not write elsewhere
        p._value = new

    def _grads_from(self, grads) -> dict:
        if hasattr(grads, "param_grads"):
            run = grads
            graph = run.graph
            if not any(graph is g for g in self._graphs):
                raise GraphStructureError(
                    f"optimizer {self.name!r}: step() got a run of a graph its params do not belong to: the run "
                    f"belongs to {self._other_graph(graph)}. Step with a run of the params' graph (or create an "
                    "optimizer over this graph's params)."
                )
            return {p: run.grad(p) for p in self.params if p.graph is graph and run.ran(p)}
        if hasattr(grads, "items"):
            return dict(grads.items())
        raise OptimizerStepError(
            f"optimizer {self.name!r}: step() takes a Run (after run.backward(loss)) or a mapping "
            f"param node -> gradient, got {type(grads).__name__}"
        )

    def _other_graph(self, graph) -> str:
        """``graph`` (none of the params' graphs) named for an error: by its name, or, where
        a params' graph has the same name, as another graph of that name
        (``graphengine.node.other_graph_text``, as node errors say it)."""
        same = [g for g in self._graphs if graph is not None and g.name == graph.name]
        if same or len(self._graphs) == 1:
            return other_graph_text(graph, (same or self._graphs)[0])
        return f"graph {graph.name!r}, not to {', '.join(repr(g.name) for g in self._graphs)}"

    def _refuse_keys(self, grads) -> None:
        for key in grads:
            if key in self._known:
                continue
            if not isinstance(key, Node):
                hint = f" (g.node({key!r}) gives the node of a name)" if isinstance(key, str) else ""
                raise GraphStructureError(
                    f"optimizer {self.name!r}: step() got a gradient keyed by {key!r} ({type(key).__name__}); "
                    f"key gradients by the param nodes the optimizer was created with{hint}"
                )
            if not any(key.graph is g for g in self._graphs):
                where = f"belongs to {self._other_graph(key.graph)}"
            elif key.kind != PARAM:
                where = f"is {'an' if key.kind[0] in 'aeiou' else 'a'} {key.kind} node, not a param"
            else:
                where = "is a param this optimizer was not created with (add it to the params list)"
            raise GraphStructureError(
                f"optimizer {self.name!r}: step() got a gradient for node {key.name!r}, which {where}. "
                f"The optimizer's params: {', '.join(repr(p.name) for p in self.params)}."
            )

    def _check_grad_dtype(self, p, value, g) -> None:
        """Refuse a gradient whose values cannot be cast to the param's dtype without loss of
        meaning: strings, objects, dates, and complex numbers (the cast would drop the
        imaginary part; params are real)."""
        kind = np.dtype(g.dtype).kind
        if kind in "biuf":
            return
        why = ("casting it would drop the imaginary part" if kind == "c"
               else "that is not a numeric dtype (booleans, integers and floats are cast to the param's)")
        raise DtypeError(
            f"optimizer {self.name!r}: the gradient for param {p.name!r} has dtype {g.dtype}, but the param has "
            f"dtype {value.dtype}; {why}. Pass the param's gradient as an array of real numbers "
            "(run.grad(param)). No param was updated."
        )

    def _coerce(self, p, value, g):
        """A gradient that is not an array of the param's backend: NumPy scalars and nested
        lists become arrays; an array of the other backend is refused (no silent copies)."""
        backend = p.graph._backend
        if hasattr(g, "shape") and not isinstance(g, np.generic) and not backend.is_native(g):
            raise BackendMismatchError(
                f"optimizer {self.name!r}: the gradient for param {p.name!r} is a {type(g).__module__}."
                f"{type(g).__name__}, but the param lives on the {backend.name} backend; move it there first "
                "(graphengine makes no silent host/device copies)"
            )
        try:
            return backend.asarray(g)  # the dtype is checked and cast by step()
        except GraphEngineError:
            raise
        except Exception as exc:
            raise OptimizerStepError(
                f"optimizer {self.name!r}: the gradient for param {p.name!r} is not an array "
                f"({type(g).__name__}: {exc})"
            ) from exc

    # -- saving and loading ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """Hyper-parameters, step count and per-parameter state keyed by param name
        (copies, as NumPy arrays, whatever the backend: later steps do not change it)."""
        return {
            "name": self.name,
            "hyper": dict(self.hyper),
            "steps": self.steps,
            "state": {p.name: {k: (np.array(p.graph._backend.to_numpy(v), copy=True) if hasattr(v, "shape") else v)
                               for k, v in st.items()}
                      for p, st in self.state.items()},
        }

    def load_state_dict(self, data: dict) -> None:
        """Restore what :meth:`state_dict` returned (arrays are copied in). Everything is
        checked before anything changes: a refused state dict leaves the optimizer as it was."""
        label = f"load_state_dict of optimizer {self.name!r}"
        if not isinstance(data, dict):
            raise OptimizerStateError(
                f"{label}: takes the dict that optimizer.state_dict() returns (with 'name', 'hyper', 'steps' and "
                f"'state'), got {type(data).__name__} {data!r:.60}")
        if data.get("name") not in (None, self.name):
            raise OptimizerStateError(f"state dict is for optimizer {data.get('name')!r}, not {self.name!r}")
        by_name = {p.name: p for p in self.params}
        saved_state = data.get("state", {}) or {}
        for field, value in (("state", saved_state), ("hyper", data.get("hyper", {}) or {})):
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise OptimizerStateError(
                    f"{label}: field {field!r} must be a dict keyed by "
                    f"{'param names' if field == 'state' else 'hyper-parameter names'} (strings), got "
                    f"{type(value).__name__} {value!r:.60}")
        unknown = sorted(set(saved_state) - set(by_name))
        if unknown:
            raise OptimizerStateError(
                f"{label}: the state dict has state for unknown params: {', '.join(unknown)}; this optimizer's "
                f"params are {', '.join(repr(n) for n in by_name)}"
            )
        hyper = data.get("hyper", {}) or {}
        strange = sorted(set(hyper) - set(self.defaults))
        if strange:
            raise OptimizerStateError(
                f"{label}: the state dict has unknown hyper-parameters {', '.join(map(repr, strange))}; "
                f"this optimizer takes {', '.join(sorted(self.defaults))}"
            )
        candidate = {**self.hyper, **hyper}
        try:
            check_learning_rate(self.name, candidate)
            old, self.hyper = self.hyper, candidate
            try:
                self.validate_hyper()
            finally:
                self.hyper = old
        except (ValueError, TypeError) as exc:
            raise OptimizerStateError(f"{label}: the state dict's hyper-parameters are refused: {exc}") from exc
        try:
            steps = int(data.get("steps", 0))
        except (TypeError, ValueError):
            steps = -1
        if steps < 0 or steps != data.get("steps", 0):
            raise OptimizerStateError(f"{label}: 'steps' must be an int >= 0, got {data.get('steps')!r}")
        state = {p: self._checked_state(label, p, saved_state[name]) for name, p in by_name.items()
                 if name in saved_state}
        self.hyper = candidate
        self.steps = steps
        self.state = state

    def _checked_state(self, label, p, saved) -> dict:
        """One param's saved state, checked against a fresh ``init_state`` (same keys; arrays
        of the same shape and dtype; numbers where it holds numbers), copied onto the param's backend."""
        xp = p.graph._backend.xp
        value = p._value
        fresh = self.init_state(xp, value)
        if not isinstance(saved, dict):
            raise OptimizerStateError(f"{label}: the state of param {p.name!r} must be a dict, got {type(saved).__name__}")
        missing, extra = sorted(set(fresh) - set(saved)), sorted(set(saved) - set(fresh))
        if missing or extra:
            raise OptimizerStateError(
                f"{label}: the state of param {p.name!r} has keys {sorted(saved)}; this optimizer keeps "
                f"{sorted(fresh)}" + (f" (missing {missing})" if missing else "") + (f" (unknown {extra})" if extra else "")
            )
        out = {}
        for key, like in fresh.items():
            item = saved[key]
            if hasattr(like, "shape"):
                if not hasattr(item, "shape"):
                    raise OptimizerStateError(
                        f"{label}: state[{p.name!r}][{key!r}] must be an array of shape {format_shape(like.shape)} "
                        f"and dtype {like.dtype}, got {type(item).__name__}"
                    )
                if tuple(item.shape) != tuple(like.shape) or np.dtype(item.dtype) != np.dtype(like.dtype):
                    raise OptimizerStateError(
                        f"{label}: state[{p.name!r}][{key!r}] is {np.dtype(item.dtype)}{format_shape(item.shape)}, "
                        f"but param {p.name!r} ({value.dtype}{format_shape(value.shape)}) needs "
                        f"{like.dtype}{format_shape(like.shape)}; the state dict was saved for another model "
                        "or dtype"
                    )
                host = p.graph._backend.to_numpy(item) if not p.graph._backend.is_native(item) else item
                copied = xp.array(host, dtype=like.dtype, copy=True)
                if copied.dtype.kind in "fc" and not bool(xp.isfinite(copied).all()):
                    raise OptimizerStateError(
                        f"{label}: state[{p.name!r}][{key!r}] holds NaN or infinite values; the state dict was saved "
                        "after training diverged. Start the optimizer afresh (leave its state out) or load an "
                        "earlier state dict"
                    )
                out[key] = copied
            elif isinstance(like, (int, float)) and not isinstance(like, bool):
                out[key] = self._checked_number(label, p, key, like, item)
            else:
                out[key] = item
        return out

    @staticmethod
    def _checked_number(label, p, key, like, item):
        """A saved counter or scalar: a number (a NumPy scalar or 0-d array read back from .npz
        too), an integer where the fresh state holds an int, finite."""
        try:
            number = item.item() if hasattr(item, "item") and getattr(item, "size", 1) == 1 else item
            x = float(number)
        except (TypeError, ValueError):
            x = None
        ok = x is not None and not isinstance(number, bool) and math.isfinite(x)
        if ok and isinstance(like, int):
            ok = x == int(x)
        if not ok:
            raise OptimizerStateError(
                f"{label}: state[{p.name!r}][{key!r}] must be {'an int' if isinstance(like, int) else 'a finite number'}"
                f" (like {like!r}), got {item!r:.80}"
            )
        return int(x) if isinstance(like, int) else x

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"<Optimizer {self.name}({hyper}) over {len(self.params)} params>"
