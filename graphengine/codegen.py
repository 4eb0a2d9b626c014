"""Straight-line Python generated from a plan: the fast path of the scheduler.

For a plan ``v2 = tanh(x); v3 = v2 * c`` the forward function reads::

    def forward(V, xp):
        v0 = V[0]
        v1 = N1._value
        v2 = F2(xp, v0)
        V[2] = v2
        ...

Every op call sits on its own line, so when an op raises, the traceback's line number
says which node failed, and the error is re-raised naming it (no bookkeeping in the loop).
"""

from __future__ import annotations

import itertools

from .scheduler import BackwardPlan, Plan, op_error

_counter = itertools.count()


def _literal_attrs(attrs: dict, prefix: str, namespace: dict) -> str:
    parts = []
    for key, value in attrs.items():
        name = f"{prefix}_{key}"
        namespace[name] = value
        parts.append(f"{key}={name}")
    return ", ".join(parts)


def compile_forward(plan: Plan):
    namespace: dict = {}
    lines = ["def forward(V, xp):"]
    line_slot: dict[int, int] = {}
    for s, node in plan.input_slots:
        lines.append(f"    v{s} = V[{s}]")
    for s, node in plan.param_slots + plan.const_slots:
        namespace[f"N{s}"] = node
        lines.append(f"    v{s} = N{s}._value")
        if s in plan.keep:
            lines.append(f"    V[{s}] = v{s}")
    for step_index, (s, node, forward, in_slots, attrs) in enumerate(plan.steps):
        namespace[f"F{s}"] = forward
        args = "".join(f", v{i}" for i in in_slots)
        extra = _literal_attrs(attrs, f"A{s}", namespace)
        line_slot[len(lines) + 1] = s
        call = f"F{s}(xp{args}{', ' + extra if extra else ''})"
        if node.shape is None or node.shape == ():
            call = f"xp.asarray({call})"  # NumPy ufuncs turn 0-d results into scalars
        lines.append(f"    v{s} = {call}")
        if s in plan.keep:
            lines.append(f"    V[{s}] = v{s}")
        dead = plan.free_after[step_index]
        if dead:
            lines.append("    del " + ", ".join(f"v{i}" for i in dead))
    lines.append("    return V")
    fn = _build(lines, namespace, "forward", plan.graph.name)
    return _with_node_errors(fn, plan, line_slot, "forward")


def compile_backward(plan: Plan, bplan: BackwardPlan):
    """``backward(V, G, xp, seed)``: fills G (by slot) with the kept gradients."""
    namespace: dict = {}
    body: list[str] = []
    inits: list[str] = []
    body_slot: dict[int, int] = {}  # index in body -> slot of the node whose backward is called there
    assigned = {bplan.target_slot}
    for s, node, backward, in_slots, attrs, needs, pass_needs in bplan.steps:
        impl = node._op_impl
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
        body.append(f"    if g{s} is not None:")
        body_slot[len(body)] = s
        body.append(f"        {targets} = B{s}(xp, g{s}, {inputs}, {output}{', ' + extra if extra else ''})")
        for p, (i, need) in enumerate(zip(in_slots, needs)):
            if not need:
                continue
            c = f"c{s}_{p}"
            if i not in assigned:
                assigned.add(i)
                inits.append(f"    g{i} = None")
                body.append(f"        g{i} = {c}")
            else:
                body.append(f"        if {c} is not None:")
                body.append(f"            g{i} = {c} if g{i} is None else g{i} + {c}")
    for s in sorted(_kept_grad_slots(plan, bplan)):
        if s in assigned:
            shape = plan.order[s].shape
            wrap = shape is None or shape == ()  # 0-d gradients stay arrays
            body.append(f"    G[{s}] = xp.asarray(g{s})" if wrap else f"    G[{s}] = g{s}")
    body.append("    return G")
    head = ["def backward(V, G, xp, seed):", f"    g{bplan.target_slot} = seed"] + inits
    line_slot = {len(head) + index + 1: s for index, s in body_slot.items()}
    fn = _build(head + body, namespace, "backward", plan.graph.name)
    return _with_node_errors(fn, plan, line_slot, "backward")


def _kept_grad_slots(plan: Plan, bplan: BackwardPlan):
    from .node import PARAM

    keep = {s for s, n in enumerate(plan.order) if n.kind == PARAM and bplan.reach[s]}
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


__all__ = ["compile_forward", "compile_backward"]
