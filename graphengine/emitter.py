"""The emitter: prints a program as straight-line Python.

For a program ``v2 = tanh(x); v3 = v2 * c`` the forward function of a run reads::

    def forward(V, xp):
        v0 = V[0]
        v1 = N1._value
        v2 = xp.tanh(v0)
        V[2] = v2
        v3 = xp.multiply(v2, v1)
        ...

Three functions come out of one emitter: ``forward(V, xp)`` and ``backward(V, G, xp,
seed)`` for runs (values and gradients in lists by slot, kept or freed as the program's
liveness says), and ``step(A, xp)`` for a compiled training step, which fuses forward,
backward and the update into one function over buffers reused from call to call.

An op is pasted in through its inline form where it has one (``inline_forward``,
``inline_backward``: a Python call costs more than a ufunc on a small array) and called
through its methods otherwise. In a step, an op whose ``forward``/``backward`` takes
``out=``, or whose inline forward is one ufunc call, writes into a buffer; buffers of one
shape and dtype whose lives do not overlap share one array, as registers do.

Every op sits on its own lines, so a failure's line number names its node
(:func:`with_node_errors`). Generated code touches no networkx and creates no per-node
objects besides the arrays.
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from .errors import GraphStructureError
from .interpreter import FreedValue, op_error, seed_gradient, sum_back
from .op import template_fields
from .program import has_inline_backward, known_shape, same_static_shape

_counter = itertools.count()
_UFUNC_CALL = re.compile(r"^xp\.(\w+)\((.*)\)$", re.S)


def derived_out(template: str):
    """``xp.add({0}, {1})`` -> ``xp.add({0}, {1}, out={out})``: an inline forward that is one
    ufunc call can write into a buffer (None for any other form)."""
    match = _UFUNC_CALL.match(template.strip())
    if match is None or not isinstance(getattr(np, match.group(1), None), np.ufunc):
        return None
    depth = 0
    for char in match.group(2):  # the last ")" must close the call's own "("
        depth += char == "("
        depth -= char == ")"
        if depth < 0:
            return None
    return template.strip()[:-1] + ", out={out})"


def changed_none(position, was_none):
    """The error for a backward whose None-or-gradient answer changed between runs."""
    then, now = ("None", "a gradient") if was_none else ("a gradient", "None")
    return GraphStructureError(
        f"backward returned {now} for input {position} but {then} in the program's first run; whether an "
        "op's backward gives a gradient may depend on needs_grad and attributes, not on the data")


class Code:
    """Lines of generated code with what each reads and assigns, and the buffers they fill.

    A variable is deleted after the last line that reads it. A buffer lives from the line
    that fills it to the last line reading a variable that may hold it (for ever when a
    line lets it escape: kept gradients, fetched values); buffers of one shape and dtype
    whose lives do not overlap share one array, and a ufunc may write over a buffer it reads
    (not through a view) on that buffer's last line, as in-place NumPy code does.
    """

    def __init__(self):
        self.lines: list = []   # (text, where): where is (slot, phase) or None
        self.reads: list = []
        self.assigns: list = []
        self.requests: dict = {}
        self.holders: dict = {}
        self.first: dict = {}
        self.last: dict = {}
        self.buffers: list = []
        self.exact: set = set()  # variables that are a buffer itself (assigned from out=), not a view
        self.over: dict = {}  # buffer a ufunc fills -> the buffers it reads exactly: it may take one dying there

    def request(self, name, shape, dtype):
        self.requests[name] = (tuple(shape), np.dtype(dtype))
        return name

    def held(self, variables) -> set:
        out = set()
        for var in variables:
            out |= self.holders.get(var, set())
        return out

    def emit(self, text, where=None, *, reads=(), fills=(), assign=(), holds=(), escapes=False, ufunc=False):
        line = len(self.lines)
        if ufunc and fills:
            self.over[fills[0]] = {b for var in reads if var in self.exact for b in self.holders[var]}
        self.lines.append((text, where))
        self.reads.append(list(reads))
        assign = [assign] if isinstance(assign, str) else list(assign)
        self.assigns.append(assign)
        for buffer in self.held(reads):
            self.last[buffer] = float("inf") if escapes else max(self.last.get(buffer, line), line)
        for buffer in fills:
            self.first.setdefault(buffer, line)
            self.last[buffer] = max(self.last.get(buffer, line), line)
        for var in assign:
            self.holders[var] = set(holds.get(var, ()) if isinstance(holds, dict) else holds)
            if fills and not isinstance(holds, dict) and set(holds) == set(fills[:1]):
                self.exact.add(var)
            else:
                self.exact.discard(var)

    def finish(self, head) -> tuple:
        """The function's lines with the deletions, and a map line number -> where."""
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
        lines, where_of = list(head), {}
        for line, (text, where) in enumerate(self.lines):
            lines.append(text)
            if where is not None:
                where_of[len(lines)] = where
            dead = dead_after.get(line)
            if dead and not text.lstrip().startswith(("return", "if ", "raise")):
                lines.append(" " * (len(text) - len(text.lstrip())) + "del " + ", ".join(sorted(dead)))
        return lines, where_of

    def allocate(self, namespace, xp):
        """Bind every buffer's name to an array; lives that do not overlap share one."""
        free: dict = {}
        for name in sorted(self.requests, key=lambda b: self.first.get(b, 0)):
            key = self.requests[name]
            start = self.first.get(name, 0)
            pool = free.setdefault(key, [])
            for index, (busy_until, array, holder) in enumerate(pool):
                if busy_until < start or (busy_until == start and holder in self.over.get(name, ())):
                    pool.pop(index)
                    break
            else:
                array = xp.empty(key[0], dtype=key[1])
                self.buffers.append(array)
            namespace[name] = array
            pool.append((self.last.get(name, start), array, name))


class Emitter:
    """Prints one function of a program. ``probe``: (values, grads) by slot from an
    interpreted run, for a training step (its buffers take their shapes and dtypes);
    None for the functions of runs, which work for any batch size."""

    def __init__(self, program, probe=None):
        self.program = program
        self.values, self.grads = probe if probe is not None else (None, None)
        self.code = Code()
        self.ns: dict = {"UB": sum_back, "FREED": FreedValue, "CHANGED_NONE": changed_none}
        self.assigned: set = set()
        self.owned: set = set()
        self.exact_buffer: dict = {}  # slot -> the buffer its gradient variable is when it is one (not a view)

    # -- pieces ---------------------------------------------------------------------------
    def leaves(self, head) -> list:
        """``head`` and the lines reading every param's and const's array (at each call)."""
        for s, node in self.program.params + self.program.consts:
            self.ns[f"N{s}"] = node
            head.append(f"    v{s} = N{s}._value")
        return head

    def _attrs(self, step) -> dict:
        """Template placeholders of the op's attributes, bound to names that say nothing
        of the attributes' own names (a name is never pasted into the source)."""
        names = {}
        defaults = type(step.impl).signature_info()[1]
        for j, (key, value) in enumerate({**defaults, **step.attrs}.items()):
            names[key] = f"A{step.slot}_{j}"
            self.ns[names[key]] = value
        return names

    def _buffer(self, name, like):
        """A buffer like ``like`` (a probe array), or None where none is worth it."""
        if self.values is None or not hasattr(like, "ndim") or like.ndim == 0:
            return None
        return self.code.request(name, like.shape, like.dtype)

    def forward(self, step, value, args):
        """Emit ``v{slot} = ...`` for a forward step; ``args`` name the inputs."""
        s, impl, code = step.slot, step.impl, self.code
        template = getattr(impl, "inline_forward", None)
        out = None
        if self.values is not None:
            if template is not None and derived_out(template) is not None:
                out = self._buffer(f"O{s}", self.values[s])
                template = derived_out(template) if out else template
            elif template is None and impl.takes_out()[0]:
                out = self._buffer(f"O{s}", self.values[s])
        if template is not None:
            expr = template.format(*args, out=out, **self._attrs(step))
        else:
            self.ns[f"F{s}"], self.ns[f"A{s}"] = impl.forward, step.attrs
            expr = f"F{s}(xp{''.join(', ' + a for a in args)}{f', out={out}' if out else ''}, **A{s})"
        if step.node.shape is None or step.node.shape == ():
            expr = f"xp.asarray({expr})"  # NumPy ufuncs turn 0-d results into scalars
        holds = {out} if out else (set() if template is not None else code.held(args))  # a method may return a view
        code.emit(f"    {value} = {expr}", (s, "forward"), reads=args, fills=[out] if out else (),
                  assign=value, holds=holds, ufunc=out is not None and template is not None)

    def backward(self, step, needs, value_of, none_edges):
        """Emit the contributions of a backward step to its inputs' gradients."""
        s, impl, code = step.slot, step.impl, self.code
        if s not in self.assigned:
            return  # no gradient reaches this node
        if has_inline_backward(step) and not (self.values is not None and impl.takes_out()[1]):
            # the inline form, except in a step where the method can write into buffers
            template = impl.inline_backward
            names = self._attrs(step)
            names.update(grad=f"g{s}", output=value_of(s))
            args = [value_of(i) for i in step.inputs]
            for p, (i, need) in enumerate(zip(step.inputs, needs)):
                if need and template[p] is not None:
                    fields = template_fields(template[p])
                    reads = [f"g{s}"] + [args[int(f)] if f.isdigit() else names[f] for f in fields if f != "grad"]
                    bare = template[p].strip() == "{grad}"
                    self._add(i, self._summed(template[p].format(*args, **names), step, p, value_of, True), s, reads,
                              code.held([f"g{s}"]) if bare else set(), fresh=not bare)
            return
        saves = impl.saves
        passed = [value_of(i) for i in step.inputs] if "inputs" in saves else []
        inputs = "(" + "".join(f"{value_of(i) if passed else 'None'}, " for i in step.inputs) + ")"
        output = value_of(s) if "output" in saves else "None"
        if "output" in saves:
            passed.append(output)
        self.ns[f"B{s}"], self.ns[f"A{s}"], self.ns[f"NEEDS{s}"] = impl.backward, step.attrs, needs
        extra = f", needs_grad=NEEDS{s}" if type(impl).signature_info()[3] else ""
        outs = []
        if self.values is not None and impl.takes_out()[1]:
            for p, (i, need) in enumerate(zip(step.inputs, needs)):
                grad = self.grads[i] if need else None
                outs.append(self._buffer(f"O{s}_{p}", grad) if grad is not None else None)
            extra += f", out=({''.join(f'{o}, ' for o in outs)})"
        results = [f"c{s}_{p}" for p in range(len(step.inputs))]
        # a gradient is its out= buffer, the gradient itself (or a view of it), or a new
        # array: never an input or the output (the op contract; check_op checks it)
        holds = {c: code.held([f"g{s}"]) | ({outs[p]} if outs and outs[p] else set()) for p, c in enumerate(results)}
        code.emit(f"    {', '.join(results)}, = B{s}(xp, g{s}, {inputs}, {output}{extra}, **A{s})", (s, "backward"),
                  reads=[f"g{s}"] + passed, fills=[o for o in outs if o], assign=results, holds=holds)
        for p, (i, need) in enumerate(zip(step.inputs, needs)):
            c = results[p]
            if not need:
                continue
            if (s, p) in none_edges:
                code.emit(f"    if {c} is not None: raise CHANGED_NONE({p}, True)", (s, "backward"), reads=[c])
                continue
            code.emit(f"    if {c} is None: raise CHANGED_NONE({p}, False)", (s, "backward"), reads=[c])
            self._add(i, self._summed(c, step, p, value_of, False), s, [c], code.held([c]), fresh=False,
                      out=outs[p] if outs else None)

    def _summed(self, expr, step, p, value_of, inline) -> tuple:
        """(``expr`` summed back to the shape of input ``p`` where the shapes may differ, the
        buffer it is summed into or None). An inline template gives the output's shape: in a
        step, a sum over its leading axes goes into a buffer; a method may give any shape."""
        i = step.inputs[p]
        static = self.program.order[i].shape
        if self.values is not None:
            shape, out_shape = tuple(self.values[i].shape), tuple(self.values[step.slot].shape)
            lead = len(out_shape) - len(shape)
            if inline and shape == out_shape:
                return expr, None
            if inline and lead > 0 and out_shape[lead:] == shape:
                buffer = self._buffer(f"U{step.slot}_{p}", self.grads[i])
                if buffer:
                    return f"xp.sum({expr}, axis={tuple(range(lead))}, out={buffer})", buffer
        elif inline and same_static_shape(step.node.shape, static):
            return expr, None
        elif not known_shape(static):
            return f"UB(xp, {expr}, {value_of(i)}.shape)", None
        else:
            shape = tuple(static)
        self.ns[f"S{i}"] = shape
        if expr.isidentifier():  # a variable: test its shape inline, a call fewer where it already fits
            return f"({expr} if {expr}.shape == S{i} else UB(xp, {expr}, S{i}))", None
        return f"UB(xp, {expr}, S{i})", None

    def _add(self, i, summed, s, reads, holds, fresh, out=None):
        """Add a contribution of node ``s``'s backward (``summed``: expression, buffer) to the
        gradient of slot ``i``. ``out``: the buffer a backward method was given for it (the
        contribution may be that buffer, or a view, or a new array)."""
        (expr, buffer), code, g, where = summed, self.code, f"g{i}", (s, "backward")
        fills = [buffer] if buffer else []
        if buffer:
            holds, fresh = {buffer}, True
        if i not in self.assigned:
            self.assigned.add(i)
            if fresh:
                self.owned.add(i)
            if buffer or out:
                self.exact_buffer[i] = buffer or out
            code.emit(f"    {g} = {expr}", where, reads=reads, fills=fills, assign=g, holds=holds)
            return
        reads = list(reads) + [g]
        like = self.grads[i] if self.grads is not None else None
        acc = self._buffer(f"ACC{i}", like)
        if acc:
            self.exact_buffer[i] = acc
            code.emit(f"    {g} = xp.add({g}, {expr}, out={acc})", where, reads=reads, fills=fills + [acc], assign=g,
                      holds={acc})
        elif i in self.owned:
            code.emit(f"    {g} += {expr}", where, reads=reads, fills=fills, assign=g, holds=code.held([g]))
        else:
            self.owned.add(i)
            self.exact_buffer.pop(i, None)
            code.emit(f"    {g} = {g} + {expr}", where, reads=reads, fills=fills, assign=g)

    def build(self, head, kind, xp=None):
        """Compile the lines into a function named ``kind``, errors mapped to nodes."""
        if self.code.requests:
            self.code.allocate(self.ns, xp)
        lines, where_of = self.code.finish(head)
        source = "\n".join(lines) + "\n"
        filename = f"<graphengine {kind} {next(_counter)} of graph {self.program.graph.name!r}>"
        exec(compile(source, filename, "exec"), self.ns)
        return with_node_errors(self.ns[kind], self.program, where_of, filename, source, kind != "step")


def emit_forward(program):
    """``forward(V, xp)``: fills V (by slot) with the values the program keeps."""
    em = Emitter(program)
    head = em.leaves(["def forward(V, xp):"] + [f"    v{s} = V[{s}]" for s, _ in program.inputs])
    for s, _ in program.params + program.consts:
        if s in program.keep:
            em.code.emit(f"    V[{s}] = v{s}", reads=[f"v{s}"])
    for step in program.steps:
        s = step.slot
        em.forward(step, f"v{s}", [f"v{i}" for i in step.inputs])
        if s in program.keep:
            em.code.emit(f"    V[{s}] = v{s}", reads=[f"v{s}"])
        elif s in program.shape_only:
            em.code.emit(f"    V[{s}] = FREED(v{s})", reads=[f"v{s}"])
    em.code.emit("    return V")
    return em.build(head, "forward")


def emit_backward(program, backward):
    """``backward(V, G, xp, seed)``: fills G (by slot) with the gradients the program keeps,
    releasing the values only backward needed after their last reader."""
    em = Emitter(program)
    em.assigned.add(backward.target)
    value_of = "V[{}]".format
    for k, (step, needs) in enumerate(backward.steps):
        em.backward(step, needs, value_of, backward.none_edges)
        for i, keep_shape in backward.release[k] if backward.release else ():
            em.code.emit(f"    V[{i}] = FREED(V[{i}])" if keep_shape else f"    V[{i}] = None")
    for s in sorted(backward.kept & em.assigned):
        wrap = program.order[s].shape in (None, ())
        em.code.emit(f"    G[{s}] = xp.asarray(g{s})" if wrap else f"    G[{s}] = g{s}", reads=[f"g{s}"])
    em.code.emit("    return G")
    return em.build(["def backward(V, G, xp, seed):", f"    g{backward.target} = seed"], "backward")


def emit_step(program, backward, probe, params, xp, update):
    """``step(A, xp)``: forward, backward and ``update(GRADS, own)`` of a compiled training
    step, on the feeds ``A`` (inputs in program order), over buffers shaped like ``probe``.
    ``own`` is True when every gradient in GRADS is, in this call, one of the step's own
    buffers itself, a different one for each param: arrays nothing else holds after the
    update and that the next call writes before it reads them, so the update may overwrite
    them (``compile_step(..., keep_grads=False)``). Returns (function, GRADS list by
    ``params``, FETCHED list by fetch, buffers)."""
    em = Emitter(program, probe)
    code, values = em.code, probe[0]
    grads_out, fetched = [None] * len(params), [None] * len(program.fetch_slots)
    em.ns.update(GRADS=grads_out, FETCHED=fetched, UPDATE=update)
    head = em.leaves(["def step(A, xp):"] + [f"    v{s} = A[{k}]" for k, (s, _) in enumerate(program.inputs)])
    for step in program.steps:
        em.forward(step, f"v{step.slot}", [f"v{i}" for i in step.inputs])
    for k, s in enumerate(program.fetch_slots):
        code.emit(f"    FETCHED[{k}] = v{s}", reads=[f"v{s}"], escapes=True)
    target = backward.target
    em.ns["SEED"] = seed_gradient(xp, program.order[target], values[target], None)
    code.emit(f"    g{target} = SEED", assign=f"g{target}")
    em.assigned.add(target)
    for step, needs in backward.steps:
        em.backward(step, needs, "v{}".format, backward.none_edges)
    for k, (s, node) in enumerate(params):
        if s in em.assigned:
            code.emit(f"    GRADS[{k}] = g{s}", reads=[f"g{s}"], escapes=True)
        else:  # no gradient reaches this param: zeros
            em.ns[f"ZERO{k}"] = xp.zeros(node._value.shape, dtype=node._value.dtype)
            code.emit(f"    GRADS[{k}] = ZERO{k}")
    if update is not None:
        # the buffer each param's gradient is written into, checked by identity at run time (a
        # backward method may return its out= buffer, a view or a new array); every buffer a
        # gradient may hold escapes, so no other variable's buffer shares its array
        own = [em.exact_buffer.get(s) if s in em.assigned else None for s, _ in params]
        if own and all(own) and len(set(own)) == len(own):
            test = " and ".join(f"g{s} is {name}" for (s, _), name in zip(params, own))
            code.emit(f"    UPDATE(GRADS, {test})", reads=[f"g{s}" for s, _ in params])
        else:
            code.emit("    UPDATE(GRADS, False)")
    loss_in_buffer = bool(code.held([f"v{target}"]))
    code.emit(f"    return v{target}.copy()" if loss_in_buffer else f"    return v{target}", reads=[f"v{target}"])
    fn = em.build(head, "step", xp)
    return fn, grads_out, fetched, code.buffers


def with_node_errors(fn, program, where_of, filename, source, values_first=True):
    """``fn`` re-raising a failure of a generated line as the error of the node it runs.
    The wrapper carries ``raw`` (``fn`` itself) and ``node_error(exc, args)`` (the node's
    error for a failure of ``fn(*args)``, or None where no generated line failed), for a
    caller that calls ``raw`` and maps the failure itself, a Python frame fewer per call."""

    def node_error(exc, args):
        frame_locals, lineno = None, None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                frame_locals, lineno = tb.tb_frame.f_locals, tb.tb_lineno
            tb = tb.tb_next
        where = where_of.get(lineno)
        if where is None:
            return None
        node = program.order[where[0]]
        values = args[0] if values_first else None
        inputs = []
        for src in node.inputs:
            i = program.slot[src.id]
            local = frame_locals.get(f"v{i}") if frame_locals else None
            inputs.append(local if local is not None or values is None else values[i])
        return op_error(node, inputs, exc, where[1])

    def run(*args):
        try:
            return fn(*args)
        except Exception as exc:
            error = node_error(exc, args)
            if error is None:
                raise
            raise error from exc

    run.source = source
    run.raw = fn
    run.node_error = node_error
    return run


__all__ = ["emit_forward", "emit_backward", "emit_step", "Emitter", "Code", "derived_out"]
