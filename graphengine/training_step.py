"""A compiled training step: forward, backward and the update of one loss in one function
generated from the program, writing into buffers reused from step to step.

::

    step = ge.compile_step(loss, optimizer)         # once
    for xb, yb in batches:
        value = step({"x": xb, "y": yb})            # forward, backward, update: the loss

    step.grads                                      # {param: gradient} of the last step

    step = ge.compile_step(loss, optimizer, keep_grads=False)   # what fit uses

``g.forward`` / ``run.backward`` / ``optimizer.step`` give the same numbers; ``fit`` trains
through this. The program is the one runs use (:mod:`graphengine.program`), printed by the
same emitter (:mod:`graphengine.emitter`) as one function per feed signature (shapes and
dtypes of the feeds; a smaller last batch gets its own): ops whose ``forward``/``backward``
take ``out=``, or whose inline forward is one ufunc call, write into buffers allocated
once, shared by liveness; fan-out gradients are summed into a buffer in place; the
optimizer updates the parameters in place.

The first call with a new feed signature is interpreted, which checks every op's result;
the shapes and dtypes of its arrays are kept, and its gradients make that call's update.
The next call generates the step and allocates its buffers, once the first call's arrays
are gone. Ops that draw random numbers (dropout) draw them for it as for any step.

What the step keeps is valid until the next call: the arrays in ``grads`` and the fetched
values are reused buffers, and the parameters' arrays change in place. The loss returned
is the caller's to keep.

``keep_grads=False`` says nobody reads the gradients after the update: the step then lets
the optimizer consume them (``optimizer.step(grads, consume_grads=True)``: SGD writes η·g
over the gradient instead of into a scratch array, one memory pass fewer), and
``step.grads`` is refused. The step gives up only its own gradient buffers, each a
distinct array that nothing else holds (the generated code checks it by identity at every
call); where a gradient is anything else (a view, a constant, an array a ``before_update``
hook made, the first call's interpreted arrays), or the optimizer's ``step`` takes no
``consume_grads``, it keeps them as by default.

A compiled step runs in one thread at a time: a call while another thread runs it is
refused (make one step per thread instead).
"""

from __future__ import annotations

import inspect
import threading

from .emitter import emit_step
from .errors import GraphEngineError, GraphStructureError
from .feeds import missing_feeds_error, resolve_feeds
from .interpreter import FreedValue, interpret_backward, interpret_forward, seed_gradient
from .node import Node, other_graph_text
from .program import get_program

MAX_VARIANTS = 4  # feed signatures kept compiled (full batches, the last smaller batch, ...)


class ConcurrentStepError(GraphEngineError, RuntimeError):
    """A compiled step was called while another thread was running it."""


def compile_step(loss, optimizer=None, *, fetch=(), before_update=(), after_update=(),
                 keep_grads=True) -> "CompiledStep":
    """A :class:`CompiledStep` for ``loss`` (a scalar node), updating with ``optimizer``
    (None: forward and backward only; read ``step.grads``). ``fetch``: more nodes whose
    values the step keeps (``step.value(node)``), e.g. the output for an accuracy.
    ``before_update``: callables ``f(grads) -> grads`` ({param: gradient}) applied in order
    between backward and the update (penalties, clipping, an allreduce); ``after_update``:
    callables ``f()`` run after it (decoupled decay, constraints). ``keep_grads``: False
    when nothing reads the gradients after the update (``step.grads`` or an
    ``after_update`` hook; ``before_update`` hooks run before it and see them intact), so
    the optimizer may overwrite them, which saves it a memory pass per param (``fit``
    passes False)."""
    return CompiledStep(loss, optimizer, fetch=fetch, before_update=before_update, after_update=after_update,
                        keep_grads=keep_grads)


class CompiledStep:
    """Forward, backward and update of one loss, compiled per feed signature."""

    def __init__(self, loss, optimizer=None, *, fetch=(), before_update=(), after_update=(), keep_grads=True):
        if not isinstance(loss, Node):
            raise GraphStructureError(f"compile_step takes the loss node, got {type(loss).__name__}")
        self.graph = graph = loss.graph
        self.loss = loss
        self.fetch = [graph.node(f) for f in ([fetch] if isinstance(fetch, (Node, str)) else fetch)]
        self.optimizer = optimizer
        if optimizer is not None:
            for p in optimizer.params:
                if p.graph is not graph:
                    raise GraphStructureError(
                        f"optimizer param {p.name!r} belongs to {other_graph_text(p.graph, graph)}: compile_step "
                        "needs an optimizer over the loss's own graph's params")
        self.before_update = list(before_update)
        self.after_update = list(after_update)
        self.keep_grads = bool(keep_grads)
        # the gradients go to the optimizer to consume only where its step() can take them
        self._consume = not self.keep_grads and optimizer is not None and _takes_consume_grads(optimizer)
        self._lock = threading.Lock()
        self._version = None
        self._last = None
        self.steps = 0

    # -- reading the last step ----------------------------------------------------------------
    @property
    def params(self) -> list:
        """The params of the loss's program, in the order of :attr:`grads`."""
        self._ensure_program()
        return [node for _, node in self._params]

    @property
    def grads(self) -> dict:
        """{param node: gradient} of the last step (reused arrays: valid until the next call).
        Refused for a step compiled with ``keep_grads=False`` and an optimizer, whose update
        may have overwritten them."""
        if not self.keep_grads and self.optimizer is not None:
            raise GraphStructureError(
                f"{self!r} was compiled with keep_grads=False: its optimizer may overwrite the gradients in the "
                "update, so step.grads is not kept. Compile it with keep_grads=True (the default) to read them "
                "after the step, or read them in a before_update hook (f(grads) -> grads), which runs before the "
                "update.")
        return dict(zip(self.params, self._last_variant().grads))

    def value(self, node):
        """The value of a fetched node (or the loss) in the last step."""
        variant = self._last_variant()
        node = self.graph.node(node)
        try:
            return variant.fetched[self._fetch_index[node.id]]
        except KeyError:
            raise GraphStructureError(
                f"node {node.name!r} is not fetched by this step; pass fetch=[...] to compile_step") from None

    @property
    def source(self) -> str:
        """The generated code of the last step's variant (for reading and debugging)."""
        return self._last.source if self._last is not None else ""

    def _last_variant(self):
        if self._last is None:
            raise GraphStructureError("no step has run yet: call step(feeds) first")
        return self._last

    # -- running --------------------------------------------------------------------------------
    def _ensure_program(self):
        graph = self.graph
        if self._version == graph.version and graph._plans.get("version") == graph.version:
            return
        fetch_ids = [self.loss.id] + [n.id for n in self.fetch if n.id != self.loss.id]
        self._program = program = get_program(graph, fetch_ids, keep_all=False)
        self._backward = program.backward(program.slot[self.loss.id])
        self._inputs = [node for _, node in program.inputs]
        self._params = [(s, node) for s, node in program.params if program.requires[s]]
        updated = set(self.optimizer.params) if self.optimizer is not None else set()
        self._updated = [(k, node) for k, (_, node) in enumerate(self._params) if node in updated]
        self._updated_nodes = [node for _, node in self._updated]
        self._all_updated = len(self._updated) == len(self._params)  # then GRADS is in the optimizer's order
        self._fetch_index = {node_id: k for k, node_id in enumerate(fetch_ids)}
        self._fetch_ids = fetch_ids
        self._feed_index: dict = {}
        self._variants: dict = {}
        self._last = None
        self._version = graph.version

    def __call__(self, feeds):
        """One training step on ``feeds`` ({input name or node: array}); returns the loss."""
        if not self._lock.acquire(blocking=False):
            raise ConcurrentStepError(
                f"{self!r} is running in another thread; a compiled step reuses its buffers from call to call, "
                "so it runs in one thread at a time. Compile one step per thread, or call it from one thread.")
        try:
            graph = self.graph
            version = graph.version
            if self._version != version or graph._plans.get("version") != version:
                self._ensure_program()
            xp = graph._backend.xp
            arrays = self._fast_arrays(feeds, xp.ndarray)
            variant = signature = None
            if arrays is not None:
                signature = tuple([(a.shape, a.dtype) for a in arrays])
                variant = self._variants.get(signature)
            if variant is None:
                loss = self._first_call(feeds)
            else:
                if type(variant) is tuple:  # the first call's shapes: generate the step now
                    self._last = None  # the first call's arrays go before the buffers come
                    variant = self._variants[signature] = _Variant(self, *variant, xp)
                self._last = variant
                try:
                    loss = variant.raw(arrays, xp)
                except Exception as exc:
                    error = variant.node_error(exc, (arrays, xp))
                    if error is None:
                        raise
                    raise error from exc
            self.steps += 1
            return loss
        finally:
            self._lock.release()

    def _update(self, grads, own=False):
        """Between backward and the next step: hooks, then the optimizer, in place. ``own``:
        the generated step found every gradient in ``grads`` to be one of its own buffers, a
        different one per param (see :func:`graphengine.emitter.emit_step`): with
        ``keep_grads=False`` the optimizer may consume them."""
        optimizer = self.optimizer
        if self.before_update:
            mapping = dict(zip([node for _, node in self._params], grads))
            for transform in self.before_update:
                mapping = transform(mapping)
            if optimizer is not None:
                given = {}
                for k, node in self._updated:
                    if node in mapping:
                        given[node] = g = mapping[node]
                        own = own and g is grads[k]  # a hook's own array (a clipped copy, ...) is kept
                if own and self._consume:
                    optimizer.step(given, consume_grads=True)
                else:
                    optimizer.step(given)
        elif optimizer is not None:
            given = dict(zip(self._updated_nodes, grads)) if self._all_updated else \
                {node: grads[k] for k, node in self._updated}
            if own and self._consume:
                optimizer.step(given, consume_grads=True)
            else:
                optimizer.step(given)
        for hook in self.after_update:
            hook()

    def _fast_arrays(self, feeds, native):
        """Feed arrays in input order, or None when anything needs the full checks
        (``native``: the backend's array type)."""
        index = self._feed_index
        arrays = [None] * len(self._inputs)
        try:
            items = feeds.items()
        except AttributeError:
            return None
        for key, value in items:
            k = index.get(key)
            if k is None or type(value) is not native:
                return None
            if k >= 0:
                arrays[k] = value
        for array in arrays:
            if array is None:
                return None
        return arrays

    def _first_call(self, feeds):
        """Checked feeds, an interpreted step (its update applied), and the generated
        variant for this feed signature."""
        graph, program = self.graph, self._program
        fed = resolve_feeds(graph, feeds)  # names, dtypes and shapes checked, arrays converted
        missing = [node.id for node in self._inputs if node.id not in fed]
        if missing:
            raise missing_feeds_error(graph, missing, [graph._nodes[i].name for i in self._fetch_ids])
        arrays = [fed[node.id] for node in self._inputs]
        position = {node.id: k for k, node in enumerate(self._inputs)}
        converted = False
        for key, value in feeds.items():
            k = position.get(graph.node(key).id, -1)
            if k >= 0 and value is not arrays[k]:
                converted = True  # this feed is converted on every call: keep it off the fast path
            else:
                self._feed_index[key] = k
        if converted:
            for key in feeds:
                self._feed_index.pop(key, None)
        xp = graph._backend.xp
        n = len(program.order)
        values, grads = [None] * n, [None] * n
        for (s, _), array in zip(program.inputs, arrays):
            values[s] = array
        interpret_forward(program, values, xp)
        target = self._backward.target
        seed = seed_gradient(xp, self.loss, values[target], None)
        interpret_backward(program, self._backward, values, grads, seed, xp)
        signature = tuple([(a.shape, a.dtype) for a in arrays])
        if len(self._variants) >= MAX_VARIANTS:
            self._variants.pop(next(iter(self._variants)))
        # the step is generated on the next call, from the shapes and dtypes of this one's arrays
        self._variants[signature] = tuple([FreedValue(a) if hasattr(a, "shape") else None for a in arrays]
                                          for arrays in (values, grads))
        self._last = first = _FirstCall()
        first.grads = [grads[s] if grads[s] is not None else xp.zeros(node._value.shape, node._value.dtype)
                       for s, node in self._params]
        first.fetched = [values[program.slot[i]] for i in self._fetch_ids]
        loss = values[target].copy()
        self._update(first.grads)
        return loss

    def __repr__(self) -> str:
        opt = f", optimizer {self.optimizer.name!r}" if self.optimizer is not None else ""
        return f"<CompiledStep of {self.loss.name!r} in graph {self.graph.name!r}{opt}: {self.steps} steps>"


class _FirstCall:
    """What the interpreted first call of a feed signature leaves to read."""

    source = ""
    buffers: list = []


class _Variant:
    """The generated step of one feed signature, with its buffers."""

    def __init__(self, step: CompiledStep, values, grads, xp):
        fn, self.grads, self.fetched, self.buffers = emit_step(
            step._program, step._backward, (values, grads), step._params, xp, step._update)
        self.fn = fn
        self.raw, self.node_error = fn.raw, fn.node_error  # the step calls raw and maps a failure itself
        self.source = fn.source


def _takes_consume_grads(optimizer) -> bool:
    """Whether ``optimizer.step`` takes ``consume_grads=`` (``ge.Optimizer.step`` does; an
    override written before the option, or a wrapper, may not: its gradients are kept)."""
    try:
        parameters = inspect.signature(optimizer.step).parameters
    except (TypeError, ValueError):
        return False
    return "consume_grads" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


__all__ = ["compile_step", "CompiledStep", "ConcurrentStepError"]
