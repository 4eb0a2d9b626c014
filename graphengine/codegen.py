"""Straight-line Python generated from a plan: the fast path of the scheduler.

For a plan ``v2 = tanh(x); v3 = v2 * c`` the forward function reads::

    def forward(V, xp):
        v0 = V[0]
        v1 = N1._value
        v2 = xp.tanh(v0)
        V[2] = v2
        v3 = xp.multiply(v2, v1)
        ...

Every op sits on its own line, so when an op raises, the traceback's line number says
which node failed, and the error is re-raised naming it (no bookkeeping in the loop).

An op is called through its ``forward`` and ``backward`` methods, unless it offers
*inline templates*, which the generated code pastes in place of the calls (a Python
call and its argument tuples cost more than a NumPy ufunc on a small array). The
templates are optional class attributes and must compute exactly what the methods do:

``inline_forward``
    An expression of the inputs ``{0}``, ``{1}``, ..., the op's attributes by name
    (``{axis}``) and the array module ``xp``: ``"xp.add({0}, {1})"``.
``inline_backward``
    A tuple with one entry per input: an expression of ``{grad}``, ``{output}``, the
    inputs and attributes, or None where the input gets no gradient. A bare ``{grad}``
    passes the gradient through; any other expression must build a new array (the
    scheduler may accumulate further gradients into it in place). Templates read only
    what ``saves`` declares.
``inline_unbroadcast``
    True when the inputs broadcast against each other: the backward expressions then
    have the output's shape, and the scheduler sums each back to its input's shape
    (``ge.unbroadcast``) wherever the shapes are not known to be equal when the code is
    generated. It needs ``saves`` to include the inputs.

Gradients of nodes that fan out are summed in place once the sum is an array the
backward function made itself; each gradient is dropped once its node's step used it, and
the values only backward reads are released after their last reader.
"""

from __future__ import annotations

import itertools
import string

from .op import sum_to_shape, unbroadcast
from .scheduler import BackwardPlan, FreedValue, Plan, gc_paused, op_error

_counter = itertools.count()


def _literal_attrs(attrs: dict, prefix: str, namespace: dict) -> str:
    parts = []
    for key, value in attrs.items():
        name = f"{prefix}_{key}"
        namespace[name] = value
        parts.append(f"{key}={name}")
    return ", ".join(parts)


def _template_attrs(impl, attrs: dict, prefix: str, namespace: dict) -> dict:
    """Attribute placeholders of a template: names bound in the generated namespace."""
    names = {}
    for key, value in {**type(impl).signature_info()[1], **attrs}.items():
        names[key] = f"{prefix}_{key}"
        namespace[names[key]] = value
    return names


def unbroadcast_like(xp, grad, like):
    """``grad`` summed back to the shape of ``like`` (an array, or a Python scalar)."""
    shape = getattr(like, "shape", ())
    return grad if grad.shape == shape else unbroadcast(xp, grad, shape)


def _sum_back_or_none(xp, grad, like):
    if grad is None or not hasattr(grad, "shape") or not hasattr(like, "shape") or grad.shape == like.shape:
        return grad
    return sum_to_shape(xp, grad, like.shape)


def static_shapes_equal(a, b) -> bool:
    """Two static shapes that are fully known and equal (so no unbroadcast is needed)."""
    return a is not None and b is not None and None not in a and tuple(a) == tuple(b)


def backward_template(impl, in_slots):
    """The op's ``inline_backward`` templates, or None when its backward is called."""
    template = getattr(impl, "inline_backward", None)
    if template is None or len(template) != len(in_slots):
        return None
    return template


def _placeholders(template: str) -> set:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


class GeneratedLiveness:
    """What the generated backward reads of the forward values, for any target.

    ``values``: slots read as arrays; ``shapes``: slots whose shape alone is read (to sum a
    broadcast gradient back). The generated forward keeps ``values`` (plus fetches,
    inputs and params), keeps a :class:`~graphengine.scheduler.FreedValue` for the
    shape-only slots, and frees everything else after its last forward use; the
    interpreter keeps what ``saves`` declares, which covers this.
    """

    def __init__(self, plan: Plan):
        values, shapes = set(), set()
        requires, order = plan.requires_grad, plan.order
        for s, node, _, in_slots, _ in plan.steps:
            if not requires[s]:
                continue
            impl = node._op_impl
            template = backward_template(impl, in_slots)
            if template is None:
                if "inputs" in impl.saves:
                    values.update(in_slots)
                if "output" in impl.saves:
                    values.add(s)
                continue
            unbroadcast_inputs = True  # any gradient whose shape may differ is summed back
            for p, i in enumerate(in_slots):
                if not requires[i] or template[p] is None:
                    continue
                for field in _placeholders(template[p]):
                    if field == "output":
                        values.add(s)
                    elif field.isdigit():
                        values.add(in_slots[int(field)])
                if unbroadcast_inputs and not static_shapes_equal(node.shape, order[i].shape):
                    shapes.add(i)
        self.keep = values | set(plan.fetch_slots or ()) | {s for s, _ in plan.input_slots} \
            | {s for s, _ in plan.param_slots}
        self.shape_only = shapes - self.keep
        last_use = {}
        for step_index, step in enumerate(plan.steps):
            for i in step[3]:
                last_use[i] = step_index
        self.free_after = [()] * len(plan.steps)
        for i, step_index in last_use.items():
            if i not in self.keep:
                self.free_after[step_index] += (i,)


def liveness(plan: Plan) -> GeneratedLiveness:
    live = getattr(plan, "generated_liveness", None)
    if live is None:
        live = plan.generated_liveness = GeneratedLiveness(plan)
    return live


def forward_expression(plan: Plan, s, node, forward, in_slots, attrs, namespace, names) -> str:
    """The right-hand side that computes node ``s`` from its inputs (named by ``names``)."""
    impl = node._op_impl
    template = getattr(impl, "inline_forward", None)
    if template is not None:
        args = [names(i) for i in in_slots]
        expr = "(" + template.format(*args, **_template_attrs(impl, attrs, f"A{s}", namespace)) + ")"
    else:
        namespace[f"F{s}"] = forward
        extra = _literal_attrs(attrs, f"A{s}", namespace)
        expr = f"F{s}(xp{''.join(', ' + names(i) for i in in_slots)}{', ' + extra if extra else ''})"
    if node.shape is None or node.shape == ():
        expr = f"xp.asarray({expr})"  # NumPy ufuncs turn 0-d results into scalars
    return expr


def compile_forward(plan: Plan):
    namespace: dict = {}
    lines = ["def forward(V, xp):"]
    line_slot: dict[int, int] = {}
    for s, node in plan.input_slots:
        lines.append(f"    v{s} = V[{s}]")
    live = liveness(plan)
    keep, shape_only = live.keep, live.shape_only
    namespace["FREED"] = FreedValue
    for s, node in plan.param_slots + plan.const_slots:
        namespace[f"N{s}"] = node
        lines.append(f"    v{s} = N{s}._value")
        if s in keep:
            lines.append(f"    V[{s}] = v{s}")
    for step_index, (s, node, forward, in_slots, attrs) in enumerate(plan.steps):
        expr = forward_expression(plan, s, node, forward, in_slots, attrs, namespace, "v{}".format)
        line_slot[len(lines) + 1] = s
        lines.append(f"    v{s} = {expr}")
        if s in keep:
            lines.append(f"    V[{s}] = v{s}")
        elif s in shape_only:
            lines.append(f"    V[{s}] = FREED(v{s})")
        dead = live.free_after[step_index]
        if dead:
            lines.append("    del " + ", ".join(f"v{i}" for i in dead))
    lines.append("    return V")
    fn = _build(lines, namespace, "forward", plan.graph.name)
    return _with_node_errors(fn, plan, line_slot, "forward")


class GradientSums:
    """Bookkeeping of the generated backward: which gradient variables exist, which may
    still be None, and which hold an array the function made itself (so that further
    contributions are added in place)."""

    def __init__(self, target_slot):
        self.assigned = {target_slot}
        self.maybe_none: set = set()
        self.owned: set = set()

    def add(self, lines, indent, i, expr, *, may_be_none, fresh, conditional):
        """Emit the code adding contribution ``expr`` to the gradient of slot ``i``.

        ``may_be_none``: ``expr`` is a variable that may hold None (a backward method's
        result). ``fresh``: ``expr`` builds a new array (never None). ``conditional``: the
        code sits in an ``if g is not None:`` block, so it may not run at all.
        """
        pad = " " * indent
        g = f"g{i}"
        if i not in self.assigned:
            self.assigned.add(i)
            lines.append(f"{pad}{g} = {expr}")
            if may_be_none or conditional:
                self.maybe_none.add(i)  # initialised to None at the top
            if fresh:
                self.owned.add(i)
        elif may_be_none:
            lines.append(f"{pad}if {expr} is not None:")
            if i in self.maybe_none:
                lines.append(f"{pad}    {g} = {expr} if {g} is None else {g} + {expr}")
                self.owned.discard(i)
            else:
                lines.append(f"{pad}    {g} = {g} + {expr}")  # owned stays as it was in both branches
        elif i in self.maybe_none:
            lines.append(f"{pad}{g} = {expr} if {g} is None else {g} + {expr}")
            self.maybe_none.discard(i)
            if fresh:
                self.owned.add(i)
        elif i in self.owned:
            lines.append(f"{pad}{g} += {expr}")
        else:
            lines.append(f"{pad}{g} = {g} + {expr}")
            self.owned.add(i)


class NoneGradient(Exception):
    """Raised by optimistic generated code (the fused training step) when a backward
    method returned None for an input that needs a gradient; the caller then generates
    the None-safe variant."""


def backward_reads(plan: Plan, bplan: BackwardPlan, generated: bool) -> list:
    """For each step of ``bplan`` (None for steps no gradient reaches): the value slots it
    reads, as the generated code (templates: only what they name) or the interpreter
    (methods: what ``saves`` declares) reads them."""
    assigned = {bplan.target_slot}
    out = []
    for s, node, _, in_slots, _, needs, _ in bplan.steps:
        if s not in assigned:
            out.append(None)
            continue
        impl = node._op_impl
        template = backward_template(impl, in_slots) if generated else None
        if template is None:
            for i, need in zip(in_slots, needs):
                if need:
                    assigned.add(i)
            saves = impl.saves
            reads = (in_slots if "inputs" in saves else ()) + ((s,) if "output" in saves else ())
        else:
            reads = set()
            unbroadcast_inputs = True
            for p, (i, need) in enumerate(zip(in_slots, needs)):
                if not need or template[p] is None:
                    continue
                assigned.add(i)
                for field in _placeholders(template[p]):
                    if field == "output":
                        reads.add(s)
                    elif field.isdigit():
                        reads.add(in_slots[int(field)])
                if unbroadcast_inputs and not static_shapes_equal(node.shape, plan.order[i].shape):
                    reads.add(i)  # its shape (a FreedValue is enough)
        out.append(reads)
    return out


def release_schedule(plan: Plan, bplan: BackwardPlan, generated: bool) -> list:
    """Per step of ``bplan``: the value slots to release after it. A fetched run's backward
    releases each value it alone keeps (not fetched, not an input, param or const) once
    its last reader ran, so that param gradients do not pile up on top of every
    activation (the peak stays near the live-set minimum)."""
    from .node import OP

    with gc_paused():
        kept = set(plan.fetch_slots or ())
        kept.add(bplan.target_slot)
        order = plan.order
        last = {}
        for k, reads in enumerate(backward_reads(plan, bplan, generated)):
            for i in reads or ():
                last[i] = k
        schedule = [()] * len(bplan.steps)
        for i, k in last.items():
            if i not in kept and order[i].kind == OP:
                schedule[k] += (i,)
    return schedule


def compile_backward(plan: Plan, bplan: BackwardPlan):
    """``backward(V, G, xp, seed)``: fills G (by slot) with the kept gradients.

    Backward methods may return None for an input ("no gradient"), so a gradient that
    comes from a method may be None, and the steps downstream of it check for None.
    Values that only backward reads are released (``V[i] = None``) after their last
    reader; the wrapper's ``releases`` says whether any is.
    """
    namespace: dict = {"UB": unbroadcast_like, "UBN": _sum_back_or_none}
    body: list[str] = []
    body_slot: dict[int, int] = {}  # index in body -> slot of the node whose backward runs there
    sums = GradientSums(bplan.target_slot)
    order = plan.order
    kept = _kept_grad_slots(plan, bplan)
    releases = release_schedule(plan, bplan, generated=True)
    for k, (s, node, backward, in_slots, attrs, needs, pass_needs) in enumerate(bplan.steps):
        if s not in sums.assigned:
            continue  # no gradient reaches this node (its consumers are not differentiable)
        impl = node._op_impl
        indent = 4
        if s in sums.maybe_none:
            body.append(f"    if g{s} is not None:")
            indent = 8
        pad = " " * indent
        template = backward_template(impl, in_slots)
        if template is not None:
            unbroadcast_inputs = True
            names = _template_attrs(impl, attrs, f"A{s}", namespace)
            names.update(grad=f"g{s}", output=f"V[{s}]")
            args = [f"V[{i}]" for i in in_slots]
            for p, (i, need) in enumerate(zip(in_slots, needs)):
                if not need or template[p] is None:
                    continue
                expr = template[p].format(*args, **names)
                fresh = template[p].strip() != "{grad}"
                if unbroadcast_inputs and not static_shapes_equal(node.shape, order[i].shape):
                    expr = f"UB(xp, {expr}, V[{i}])"
                first = len(body)
                sums.add(body, indent, i, expr, may_be_none=False, fresh=fresh, conditional=indent > 4)
                body_slot.update(dict.fromkeys(range(first, len(body)), s))
            if s not in kept:
                body.append(f"    del g{s}")  # the gradient is complete and used: free it
        else:
            namespace[f"B{s}"] = backward
            if "inputs" in impl.saves:
                inputs = "(" + "".join(f"V[{i}], " for i in in_slots) + ")"
            else:
                namespace[f"NONE{len(in_slots)}"] = (None,) * len(in_slots)
                inputs = f"NONE{len(in_slots)}"
            output = f"V[{s}]" if "output" in impl.saves else "None"
            extra = _literal_attrs(attrs, f"A{s}", namespace)
            if pass_needs:
                namespace[f"NEEDS{s}"] = needs
                extra = f"needs_grad=NEEDS{s}" + (", " + extra if extra else "")
            targets = ", ".join(f"c{s}_{p}" for p in range(len(in_slots))) + ("," if len(in_slots) == 1 else "")
            body_slot[len(body)] = s
            body.append(f"{pad}{targets} = B{s}(xp, g{s}, {inputs}, {output}{', ' + extra if extra else ''})")
            for p, (i, need) in enumerate(zip(in_slots, needs)):
                if need:
                    if "inputs" in impl.saves:
                        body.append(f"{pad}c{s}_{p} = UBN(xp, c{s}_{p}, V[{i}])")
                    sums.add(body, indent, i, f"c{s}_{p}", may_be_none=True, fresh=False, conditional=indent > 4)
            if indent > 4:  # the step may not have run: its variables may not exist
                body.append(f"    {targets} = {'None, ' * len(in_slots)}")
            body.append("    del " + ", ".join([f"c{s}_{p}" for p in range(len(in_slots))]
                                               + ([f"g{s}"] if s not in kept else [])))
        for i in releases[k]:
            body.append(f"    V[{i}] = None")
    for s in sorted(kept):
        if s in sums.assigned:
            shape = plan.order[s].shape
            wrap = shape is None or shape == ()  # 0-d gradients stay arrays
            body.append(f"    G[{s}] = xp.asarray(g{s})" if wrap else f"    G[{s}] = g{s}")
    body.append("    return G")
    inits = [f"    g{i} = None" for i in sorted(sums.maybe_none) if i != bplan.target_slot]
    head = ["def backward(V, G, xp, seed):", f"    g{bplan.target_slot} = seed"] + inits
    line_slot = {len(head) + index + 1: s for index, s in body_slot.items()}
    fn = _build(head + body, namespace, "backward", plan.graph.name)
    wrapped = _with_node_errors(fn, plan, line_slot, "backward")
    wrapped.releases = any(releases)
    return wrapped


def _kept_grad_slots(plan: Plan, bplan: BackwardPlan):
    keep = {s for s, n in plan.param_slots if bplan.reach[s]}
    if plan.fetch_slots:
        keep.update(s for s in plan.fetch_slots if bplan.reach[s])
    return keep


def _build(lines, namespace, kind, graph_name):
    source = "\n".join(lines) + "\n"
    filename = f"<graphengine {kind} plan {next(_counter)} of graph {graph_name!r}>"
    code = compile(source, filename, "exec")
    exec(code, namespace)
    fn = namespace[kind]
    fn.__graphengine_source__ = source
    fn.__graphengine_filename__ = filename
    return fn


def _with_node_errors(fn, plan, line_slot, phase):
    filename = fn.__graphengine_filename__

    def run(*args):
        try:
            return fn(*args)
        except Exception as exc:
            tb = exc.__traceback__
            frame_locals, lineno = None, None
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == filename:
                    frame_locals, lineno = tb.tb_frame.f_locals, tb.tb_lineno
                tb = tb.tb_next
            s = line_slot.get(lineno)
            if s is None:
                raise
            node = plan.order[s]
            values = args[0]
            inputs = []
            for src in node.inputs:
                i = plan.slot[src.id]
                inputs.append(frame_locals.get(f"v{i}", values[i]) if frame_locals else values[i])
            raise op_error(node, inputs, exc, phase) from exc

    run.source = fn.__graphengine_source__
    return run


__all__ = ["compile_forward", "compile_backward", "NoneGradient"]
