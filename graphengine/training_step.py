"""A fused training step: forward, backward and the optimizer update of one loss, in one
function generated from the plan, writing into buffers that are reused from step to step.

::

    from graphengine.training_step import compile_step

    step = compile_step(loss, optimizer)            # once
    for xb, yb in batches:
        value = step({"x": xb, "y": yb})            # forward, backward, update: the loss

    step.grads                                      # {param: gradient} of the last step

``g.forward`` / ``run.backward`` / ``optimizer.step`` give the same numbers; this is the fast
path for a training loop. What makes it fast:

* one generated function per feed signature (shapes and dtypes of the feeds; a smaller
  last batch gets its own), so no plan lookups, Run objects or dictionaries per step;
* ops that offer ``forward_into`` / ``backward_into`` write into arrays allocated once
  (fresh arrays of a few hundred KiB page-fault on every step, which alone costs more than
  the arithmetic of an elementwise op); other ops run through their inline templates or
  their methods, as in :mod:`graphengine.codegen`;
* fan-out gradients are summed into a buffer in place;
* optimizers that offer ``update_into`` update the parameters in place.

The optional op methods (the op contract is otherwise unchanged)::

    def forward_into(self, xp, out, *inputs, **attrs):
        # forward, written into ``out`` (an array of the output's shape and dtype, reused
        # from step to step); returns ``out``, or a new array (never one of its inputs)
    def backward_into(self, xp, outs, grad, inputs, output, **attrs):
        # backward; ``outs`` holds, per input, an array of that input's shape and dtype to
        # write its gradient into, or None where the input needs no gradient. Returns one
        # gradient per input: ``outs[i]``, ``grad`` itself (a pass-through), a new array,
        # or None (never an input or the output: buffers are shared by liveness).

and the optional optimizer method ``update_into(self, xp, value, grad, state, scratch)``:
the update rule, changing ``value`` in place; ``scratch`` is an array like ``value`` the
rule may overwrite (so the update allocates nothing); ``grad`` must not change.

The first call with a new feed signature runs forward and backward once more, keeping
everything, to learn every array's shape and dtype (ops that draw random numbers, like
dropout, draw them for that run too); then it generates the step and runs it.

What the step returns and keeps is valid until the next call: the arrays in ``grads`` and
the fetched values are reused buffers, and with an in-place optimizer the parameters'
arrays (``node.value``, and the values runs made before hold for params) change in place.
The loss value returned is a fresh array.
"""

from __future__ import annotations

import numpy as np

from .codegen import (
    NoneGradient,
    _build,
    _literal_attrs,
    _placeholders,
    _template_attrs,
    _sum_back_or_none,
    backward_template,
    forward_expression,
)
from .errors import GraphStructureError
from .feeds import missing_feeds_error, resolve_feeds
from .node import Node
from .op import unbroadcast
from .scheduler import get_backward_plan, get_plan, op_error, seed_gradient

MAX_VARIANTS = 4  # feed signatures kept compiled (full batches, the last smaller batch, ...)


def compile_step(loss, optimizer=None, *, fetch=(), before_update=(), after_update=()) -> "CompiledStep":
    """A :class:`CompiledStep` for ``loss`` (a scalar node), updating with ``optimizer``
    (None: forward and backward only; read ``step.grads``). ``fetch``: more nodes whose
    values the step keeps (``step.value(node)``), e.g. the output for an accuracy.
    ``before_update``: callables ``f(grads) -> grads`` ({param: gradient}) applied in order
    between backward and the update (penalties, clipping, an allreduce); ``after_update``:
    callables ``f()`` run after it (decoupled decay, constraints)."""
    return CompiledStep(loss, optimizer, fetch=fetch, before_update=before_update, after_update=after_update)


class CompiledStep:
    """Forward, backward and update of one loss, compiled per feed signature."""

    def __init__(self, loss, optimizer=None, *, fetch=(), before_update=(), after_update=()):
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
                        f"optimizer param {p.name!r} belongs to graph {p.graph.name!r}, not to {graph.name!r}")
        self.before_update = list(before_update)
        self.after_update = list(after_update)
        self._in_place = optimizer is not None and callable(getattr(optimizer, "update_into", None)) \
            and not self.before_update
        self._version = None
        self.steps = 0

    # -- reading the last step ----------------------------------------------------------------
    @property
    def params(self) -> list:
        """The params the loss depends on, in the order of :attr:`grads`."""
        self._ensure_plan()
        return [node for _, node in self._param_slots]

    @property
    def grads(self) -> dict:
        """{param node: gradient} of the last step (reused arrays: valid until the next call)."""
        variant = self._last
        if variant is None:
            raise GraphStructureError("no step has run yet: call step(feeds) first")
        return dict(zip(self.params, variant.grads))

    def value(self, node):
        """The value of a fetched node (or the loss) in the last step."""
        variant = self._last
        if variant is None:
            raise GraphStructureError("no step has run yet: call step(feeds) first")
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

    # -- running --------------------------------------------------------------------------------
    def _ensure_plan(self):
        graph = self.graph
        if self._version == graph.version and graph._plans.get("version") == graph.version:
            return
        fetch_ids = [self.loss.id] + [n.id for n in self.fetch if n.id != self.loss.id]
        self._plan = plan = get_plan(graph, fetch_ids, False)
        self._loss_slot = plan.slot[self.loss.id]
        self._bplan = get_backward_plan(plan, self._loss_slot)
        self._inputs = [node for _, node in plan.input_slots]
        self._param_slots = [(s, node) for s, node in plan.param_slots if plan.requires_grad[s]]
        updated = set(self.optimizer.params) if self.optimizer is not None else set()
        scratch: dict = {}  # one scratch array per shape and dtype, shared by the updates
        xp = graph._backend.xp
        self._updates = [
            (k, node, scratch.setdefault((node.shape, node.dtype), xp.empty(node.shape, dtype=node.dtype)))
            for k, (_, node) in enumerate(self._param_slots) if node in updated
        ] if self._in_place else []
        self._fetch_index = {node_id: k for k, node_id in enumerate(fetch_ids)}
        self._fetch_ids = fetch_ids
        self._feed_index: dict = {}
        self._variants: dict = {}
        self._last = None
        self._version = graph.version

    def __call__(self, feeds):
        """One training step on ``feeds`` ({input name or node: array}); returns the loss."""
        self._ensure_plan()
        arrays = self._fast_arrays(feeds)
        variant = None
        if arrays is not None:
            variant = self._variants.get(tuple([(a.shape, a.dtype) for a in arrays]))
        if variant is None:
            arrays, variant = self._slow_path(feeds)
        self._last = variant
        loss = variant.run(arrays)
        if self.optimizer is not None:
            if self._in_place:
                _update_in_place(self.optimizer, self._updates, variant.grads, self.graph.xp)
            else:
                grads = dict(zip(self.params, variant.grads))
                for transform in self.before_update:
                    grads = transform(grads)
                self.optimizer.step(grads)
            for hook in self.after_update:
                hook()
        self.steps += 1
        return loss

    def _fast_arrays(self, feeds):
        """Feed arrays in input order, or None when anything needs the full checks."""
        index = self._feed_index
        native = self.graph._backend.xp.ndarray
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

    def _slow_path(self, feeds):
        graph = self.graph
        fed = resolve_feeds(graph, feeds)  # names, dtypes and shapes checked, arrays converted
        missing = [node.id for node in self._inputs if node.id not in fed]
        if missing:
            raise missing_feeds_error(graph, missing, [graph._nodes[i].name for i in self._fetch_ids])
        arrays = [fed[node.id] for node in self._inputs]
        position = {node.id: k for k, node in enumerate(self._inputs)}
        converted = False
        for key, value in feeds.items():
            node = graph.node(key)
            k = position.get(node.id, -1)
            if k >= 0 and value is not arrays[k]:
                converted = True
            else:
                self._feed_index[key] = k
        signature = tuple([(a.shape, a.dtype) for a in arrays])
        variant = self._variants.get(signature)
        if variant is None:
            if len(self._variants) >= MAX_VARIANTS:
                self._variants.pop(next(iter(self._variants)))
            variant = self._variants[signature] = _Variant(self, arrays)
        if converted:  # this feed is converted on every call; keep it off the fast path
            for key in feeds:
                self._feed_index.pop(key, None)
        return arrays, variant

    def __repr__(self) -> str:
        opt = f", optimizer {self.optimizer.name!r}" if self.optimizer is not None else ""
        return f"<CompiledStep of {self.loss.name!r} in graph {self.graph.name!r}{opt}: {self.steps} steps>"


def _update_in_place(optimizer, updates, grads, xp):
    """What ``Optimizer.step`` does, with the optimizer's in-place rule ``update_into``."""
    optimizer.steps += 1
    states = optimizer.state
    update_into = optimizer.update_into
    for k, node, scratch in updates:
        value = node._value
        state = states.get(node)
        if state is None:
            state = states[node] = optimizer.init_state(xp, value)
        update_into(xp, value, grads[k], state, scratch)


class _Variant:
    """The generated step for one feed signature, with its buffers."""

    def __init__(self, step: CompiledStep, arrays):
        xp = step.graph._backend.xp
        self._step = step
        self._plan = step._plan
        self.grads = [None] * len(step._param_slots)
        self.fetched = [None] * len(step._fetch_ids)
        self.none_safe = False
        self._build(*_probe(step, arrays, xp), xp)

    def _build(self, values, grads, xp):
        step, plan, bplan = self._step, self._step._plan, self._step._bplan
        namespace: dict = {"UNBROADCAST": unbroadcast, "NoneGradient": NoneGradient, "GRADS": self.grads,
                           "FETCHED": self.fetched, "xp_add": xp.add,
                           "UBN": _sum_back_or_none}
        loss_slot = step._loss_slot
        head = ["def step(A, xp):"]
        code = _Code()  # the body, with what each line reads and which buffers it fills
        for k, (s, node) in enumerate(plan.input_slots):
            head.append(f"    v{s} = A[{k}]")
        for s, node in plan.param_slots + plan.const_slots:
            namespace[f"N{s}"] = node
            head.append(f"    v{s} = N{s}._value")
        # forward: into buffers where the op can, else templates or methods (fresh arrays)
        for s, node, method, in_slots, attrs in plan.steps:
            impl = node._op_impl
            value = values[s]
            into = getattr(impl, "forward_into", None)
            reads = [f"v{i}" for i in in_slots]
            if into is not None and isinstance(value, xp.ndarray):
                namespace[f"FI{s}"] = into
                code.request(f"O{s}", value)
                extra = _literal_attrs(attrs, f"A{s}", namespace)
                args = "".join(f", v{i}" for i in in_slots)
                code.emit(f"    v{s} = FI{s}(xp, O{s}{args}{', ' + extra if extra else ''})", (s, "forward"),
                          reads=reads, fills=[f"O{s}"], assign=f"v{s}", holds={f"O{s}"})
            else:
                expr = forward_expression(plan, s, node, method, in_slots, attrs, namespace, "v{}".format)
                inlined = getattr(impl, "inline_forward", None) is not None
                code.emit(f"    v{s} = {expr}", (s, "forward"), reads=reads, assign=f"v{s}",
                          holds=set() if inlined else code.held(reads))  # a method may return a view
        for k, s in enumerate(plan.fetch_slots):
            code.emit(f"    FETCHED[{k}] = v{s}", reads=[f"v{s}"], escapes=True)
        # backward: into buffers where the op can, else templates or methods
        namespace["SEED"] = seed_gradient(xp, step.loss, values[loss_slot], None)
        code.emit(f"    g{loss_slot} = SEED", assign=f"g{loss_slot}")
        sums = _Sums(loss_slot, self.none_safe, code, xp)
        for s, node, method, in_slots, attrs, needs, pass_needs in bplan.steps:
            if s not in sums.assigned:
                continue  # no gradient reaches this node
            impl = node._op_impl
            indent = 4
            if s in sums.maybe_none:
                code.emit(f"    if g{s} is not None:", reads=[f"g{s}"])
                indent = 8
            pad = " " * indent
            conditional = indent > 4
            into = getattr(impl, "backward_into", None)
            template = backward_template(impl, in_slots)
            if into is None and template is not None:
                unbroadcast_inputs = True
                names = _template_attrs(impl, attrs, f"A{s}", namespace)
                names.update(grad=f"g{s}", output=f"v{s}")
                args = [f"v{i}" for i in in_slots]
                for p, (i, need) in enumerate(zip(in_slots, needs)):
                    if not need or template[p] is None:
                        continue
                    expr = template[p].format(*args, **names)
                    reads = [args[int(f)] if f.isdigit() else names[f] for f in _placeholders(template[p])]
                    if unbroadcast_inputs and _shape(values[i]) != _shape(values[s]):
                        expr = _sum_back(expr, _shape(values[i]), _shape(grads[s]))  # shapes are known now
                    bare = template[p].strip() == "{grad}"  # passes the gradient through
                    sums.add(indent, i, f"({expr})", grads[i], s, may_be_none=False, conditional=conditional,
                             reads=reads, holds=code.held([f"g{s}"]) if bare else set())
                continue
            saves = impl.saves
            passed = [f"v{i}" for i in in_slots] if "inputs" in saves else []
            inputs = "(" + "".join(f"v{i}, " if "inputs" in saves else "None, " for i in in_slots) + ")"
            output = f"v{s}" if "output" in saves else "None"
            if "output" in saves:
                passed.append(f"v{s}")
            extra = _literal_attrs(attrs, f"A{s}", namespace)
            targets = [f"c{s}_{p}" for p in range(len(in_slots))]
            target_text = ", ".join(targets) + ("," if len(in_slots) == 1 else "")
            if into is not None:
                outs = []
                for p, (i, need) in enumerate(zip(in_slots, needs)):
                    grad = grads[i]
                    if need and isinstance(grad, xp.ndarray):
                        code.request(f"O{s}_{p}", grad)
                        outs.append(f"O{s}_{p}")
                    else:
                        outs.append("None")
                namespace[f"BI{s}"] = into
                call = f"BI{s}(xp, ({', '.join(outs)},), g{s}, {inputs}, {output}"
                fills = [o for o in outs if o != "None"]
                # backward_into returns its outs, the gradient itself, or new arrays
                holds = {c: code.held([f"g{s}"]) | ({o} if o != "None" else set()) for c, o in zip(targets, outs)}
            else:
                namespace[f"B{s}"] = method
                if pass_needs:
                    namespace[f"NEEDS{s}"] = needs
                    extra = f"needs_grad=NEEDS{s}" + (", " + extra if extra else "")
                call = f"B{s}(xp, g{s}, {inputs}, {output}"
                fills = []
                holds = code.held([f"g{s}"] + passed)  # a method may return views of what it got
            code.emit(f"{pad}{target_text} = {call}{', ' + extra if extra else ''})", (s, "backward"),
                      reads=[f"g{s}"] + passed, fills=fills, assign=targets, holds=holds)
            for p, (i, need) in enumerate(zip(in_slots, needs)):
                if need:
                    if "inputs" in saves:  # a backward may return the broadcast-shaped gradient
                        code.emit(f"{pad}c{s}_{p} = UBN(xp, c{s}_{p}, v{i})", (s, "backward"),
                                  reads=[f"c{s}_{p}", f"v{i}"], assign=f"c{s}_{p}",
                                  holds=code.held([f"c{s}_{p}"]))
                    sums.add(indent, i, f"c{s}_{p}", grads[i], s, may_be_none=True, conditional=conditional,
                             reads=[f"c{s}_{p}"], holds=code.held([f"c{s}_{p}"]))
        for k, (s, node) in enumerate(step._param_slots):
            if s not in sums.assigned or s in sums.maybe_none:  # a param no gradient may reach: zeros
                value = node._value
                namespace[f"ZERO{k}"] = xp.zeros(value.shape, dtype=value.dtype)
            if s not in sums.assigned:
                code.emit(f"    GRADS[{k}] = ZERO{k}")
            elif s in sums.maybe_none:
                code.emit(f"    GRADS[{k}] = ZERO{k} if g{s} is None else g{s}", reads=[f"g{s}"], escapes=True)
            else:
                code.emit(f"    GRADS[{k}] = g{s}", reads=[f"g{s}"], escapes=True)
        # the loss returned is the caller's to keep: never a buffer of the step
        loss_in_buffer = bool(code.held([f"v{loss_slot}"]))
        code.emit(f"    return v{loss_slot}.copy()" if loss_in_buffer else f"    return v{loss_slot}",
                  reads=[f"v{loss_slot}"])
        code.allocate(namespace, xp)
        inits = [f"    g{i} = None" for i in sorted(sums.maybe_none) if i != loss_slot]
        lines = list(head) + inits
        line_slot = {}
        for text, where in code.with_deletes():
            lines.append(text)
            if where is not None:
                line_slot[len(lines)] = where
        fn = _build(lines, namespace, "step", step.graph.name)
        self.source = fn.__graphengine_source__
        self.buffers = code.physical  # the arrays this variant reuses from step to step
        self._fn = fn
        self._line_slot = line_slot
        self._filename = fn.__graphengine_filename__

    def run(self, arrays):
        xp = self._step.graph._backend.xp
        try:
            return self._fn(arrays, xp)
        except NoneGradient:
            if self.none_safe:
                raise
            self.none_safe = True  # a backward method returned None: check for None everywhere
            self._build(*_probe(self._step, arrays, xp), xp)
            return self._fn(arrays, xp)
        except Exception as exc:
            error = self._node_error(exc)
            if error is exc:
                raise
            raise error from exc

    def _node_error(self, exc):
        tb = exc.__traceback__
        frame_locals, lineno = None, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                frame_locals, lineno = tb.tb_frame.f_locals, tb.tb_lineno
            tb = tb.tb_next
        where = self._line_slot.get(lineno)
        if where is None:
            return exc
        s, phase = where
        node = self._plan.order[s]
        inputs = [frame_locals.get(f"v{self._plan.slot[src.id]}") for src in node.inputs]
        return op_error(node, inputs, exc, phase)


class _Code:
    """Lines of the generated step, and the buffers they use, shared by liveness.

    Each logical buffer (``O6``: node 6's value; ``O9_1``: the gradient node 9's backward
    gives its second input; ``ACC4``: the sum of node 4's gradient contributions) lives
    from the line that fills it to the last line that reads a variable which may hold it;
    buffers that escape the step (kept gradients, fetched values) live on. Logical buffers
    of the same shape and dtype whose lives do not overlap share one array, as a compiler
    shares registers: a layer's pre-activation, later the gradient of its activation, and
    so on take turns in the same memory.
    """

    FOREVER = float("inf")

    def __init__(self):
        self.lines: list = []       # (text, (slot, phase) or None)
        self.reads: list = []       # per line: the variables it reads
        self.assigns: list = []     # per line: the variables it assigns
        self.requests: dict = {}    # logical buffer -> (shape, dtype)
        self.holders: dict = {}     # variable -> logical buffers it may hold
        self.first: dict = {}
        self.last: dict = {}
        self.physical: list = []

    def request(self, name, like):
        self.requests[name] = (tuple(like.shape), like.dtype)

    def held(self, variables) -> set:
        out = set()
        for var in variables:
            out |= self.holders.get(var, set())
        return out

    def emit(self, text, where=None, *, reads=(), fills=(), assign=None, holds=None, escapes=False):
        line = len(self.lines)
        self.lines.append((text, where))
        self.reads.append(list(reads))
        self.assigns.append([assign] if isinstance(assign, str) else list(assign or ()))
        for buffer in self.held(reads):
            self.last[buffer] = self.FOREVER if escapes else max(self.last.get(buffer, line), line)
        for buffer in fills:
            self.first.setdefault(buffer, line)
            self.last[buffer] = max(self.last.get(buffer, line), line)
        if assign is not None:
            for var in ([assign] if isinstance(assign, str) else assign):
                # holds: the buffers every assigned variable may hold, or a dict per variable
                self.holders[var] = set(holds.get(var, ()) if isinstance(holds, dict) else holds or ())

    def with_deletes(self) -> list:
        """The lines, with each variable deleted after the last line that reads it (fresh
        arrays are freed as soon as the step is done with them, as in the forward code)."""
        last_read, assigned = {}, set()
        for line, variables in enumerate(self.reads):
            for var in variables:
                last_read[var] = line
        for variables in self.assigns:
            assigned.update(variables)
        dead_after: dict = {}
        for var, line in last_read.items():
            if var in assigned:
                dead_after.setdefault(line, []).append(var)
        out = []
        pending: list = []  # deletions waiting for the end of an `if` block
        for line, (text, where) in enumerate(self.lines):
            indent = len(text) - len(text.lstrip())
            if pending and indent <= pending[0][0] and not text.lstrip().startswith("raise"):
                out.append((" " * pending[0][0] + "del " + ", ".join(pending[0][1]), None))
                pending.clear()
            out.append((text, where))
            dead = sorted(dead_after.get(line, ()))
            if not dead or text.lstrip().startswith("return"):
                continue
            if text.rstrip().endswith(":"):  # an `if` header: delete after its block
                pending.append((indent, dead))
            else:
                out.append((" " * indent + "del " + ", ".join(dead), None))
        return out

    def allocate(self, namespace, xp):
        """Bind every logical buffer's name to an array; lives that do not overlap share one."""
        free: dict = {}   # (shape, dtype) -> [(busy until line, array)]
        for name in sorted(self.requests, key=lambda b: self.first.get(b, 0)):
            key = self.requests[name]
            start = self.first.get(name, 0)
            end = self.last.get(name, start)
            pool = free.setdefault(key, [])
            for index, (busy_until, array) in enumerate(pool):
                if busy_until < start:
                    pool.pop(index)
                    break
            else:
                array = xp.empty(key[0], dtype=key[1])
                self.physical.append(array)
            namespace[name] = array
            pool.append((end, array))


class _Sums:
    """Gradient sums in the fused step: a node's later contributions are added into a
    buffer of its own (``ACC``), so no sum allocates once the buffers exist."""

    def __init__(self, target_slot, none_safe, code: _Code, xp):
        self.assigned = {target_slot}
        self.maybe_none: set = set()
        self.none_safe = none_safe
        self.code, self.xp = code, xp

    def add(self, indent, i, expr, like, slot, *, may_be_none, conditional, reads, holds):
        """Emit the code adding ``expr`` (a contribution of node ``slot``'s backward, which
        reads ``reads`` and may hold the buffers ``holds``) to the gradient of slot ``i``;
        ``like`` is that gradient in the probe run."""
        code, where = self.code, (slot, "backward")
        pad = " " * indent
        g = f"g{i}"
        if may_be_none and not self.none_safe:
            code.emit(f"{pad}if {expr} is None:", reads=reads)
            code.emit(f"{pad}    raise NoneGradient")
            may_be_none = False
        if i not in self.assigned:
            self.assigned.add(i)
            code.emit(f"{pad}{g} = {expr}", where, reads=reads, assign=g, holds=holds)
            if may_be_none or conditional:
                self.maybe_none.add(i)
            return
        fills, sum_holds = [], set()
        if isinstance(like, self.xp.ndarray) and like.ndim > 0:
            code.request(f"ACC{i}", like)
            total = f"xp_add({g}, {expr}, out=ACC{i})"
            fills, sum_holds = [f"ACC{i}"], {f"ACC{i}"}
        else:
            total = f"{g} + {expr}"
        reads = list(reads) + [g]
        if may_be_none:
            code.emit(f"{pad}if {expr} is not None:", reads=reads)
            if i in self.maybe_none:
                code.emit(f"{pad}    {g} = {expr} if {g} is None else {total}", where, reads=reads, fills=fills,
                          assign=g, holds=sum_holds | holds | code.held([g]))
            else:
                code.emit(f"{pad}    {g} = {total}", where, reads=reads, fills=fills, assign=g,
                          holds=sum_holds | code.held([g]))
        elif i in self.maybe_none:
            code.emit(f"{pad}{g} = {expr} if {g} is None else {total}", where, reads=reads, fills=fills, assign=g,
                      holds=sum_holds | holds)
            self.maybe_none.discard(i)
        else:
            code.emit(f"{pad}{g} = {total}", where, reads=reads, fills=fills, assign=g, holds=sum_holds)


def _sum_back(expr: str, shape: tuple, grad_shape: tuple) -> str:
    """Code summing ``expr`` (of ``grad_shape``) back to ``shape`` over the broadcast axes,
    which are known when a variant is generated (``ge.unbroadcast`` finds them at run time)."""
    lead = len(grad_shape) - len(shape)
    if lead < 0:
        return f"UNBROADCAST(xp, {expr}, {shape!r})"
    kept_ones = tuple(i + lead for i, d in enumerate(shape) if d == 1 and grad_shape[i + lead] != 1)
    axes = tuple(range(lead)) + kept_ones
    if not axes:
        return expr
    if not kept_ones:
        return f"({expr}).sum(axis={axes!r})"
    return f"({expr}).sum(axis={axes!r}, keepdims=True).reshape({shape!r})"


def _shape(value) -> tuple:
    return tuple(getattr(value, "shape", ()))


def _probe(step, arrays, xp):
    """Run forward and backward once, keeping everything: the shapes and dtypes of every
    value and gradient, for the buffers (no parameter changes)."""
    plan = step._plan
    values = [None] * len(plan.order)
    for (s, _), array in zip(plan.input_slots, arrays):
        values[s] = array
    for s, node in plan.param_slots + plan.const_slots:
        values[s] = node._value
    for s, node, forward, in_slots, attrs in plan.steps:
        args = [values[i] for i in in_slots]
        try:
            out = forward(xp, *args, **attrs)
        except Exception as exc:
            raise op_error(node, args, exc, "forward") from exc
        if isinstance(out, np.generic):
            out = xp.asarray(out)
        values[s] = out
    from .scheduler import interpret_backward

    grads = [None] * len(plan.order)
    seed = seed_gradient(xp, step.loss, values[step._loss_slot], None)
    interpret_backward(plan, step._bplan, values, grads, seed, xp, False, None)
    return values, grads


__all__ = ["compile_step", "CompiledStep"]
