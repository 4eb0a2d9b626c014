"""Compiling a graph into a plan, and replaying the plan forward and backward.

A :class:`Plan` is made once per graph version and fetch set: a topological order from
networkx of only the nodes the fetches need, each node given a slot in a flat list.
Replaying it touches no networkx. Two executors share the plan:

* the *recording* interpreter (``fetch=None`` or ``check_finite=True``) keeps every value,
  every gradient and every edge's gradient contribution, checks shapes and finiteness,
  and is what diagrams and debugging read;
* the *fast* path keeps only fetched values and what backward needs; from the second
  run of a plan on, it runs straight-line Python generated from the plan
  (:mod:`graphengine.codegen`), with no per-node objects besides the arrays.
"""

from __future__ import annotations

import contextlib
import gc
import itertools

import networkx as nx
import numpy as np

from .errors import GraphStructureError, NonFiniteError, OpExecutionError, ShapeError
from .feeds import missing_feeds_error, resolve_feeds
from .node import CONST, INPUT, OP, PARAM, Node
from .op import describe_value, format_shape, shapes_compatible, sum_to_shape

CODEGEN_MAX_STEPS = 20_000  # larger plans stay interpreted (compiling huge functions costs more than it saves)
_NO_ATTRS: dict = {}  # shared by steps without attributes (never mutated)
CODEGEN_AFTER_RUNS = 1  # generate code once a plan has been replayed this many times


class Plan:
    """The compiled form of (graph version, fetch set). Internal; read by Run and codegen."""

    def __init__(self, graph, fetch_ids, record: bool):
        self.graph = graph
        self.version = graph.version
        self.record = record
        nodes = graph._nodes
        order_ids = plan_order(graph, fetch_ids)
        order = self.order = [nodes[i] for i in order_ids]
        slot = self.slot = dict(zip(order_ids, range(len(order_ids))))
        self.fetch_ids = None if fetch_ids is None else tuple(fetch_ids)
        self.fetch_slots = None if fetch_ids is None else tuple(slot[i] for i in fetch_ids)
        # leaves
        self.input_slots = [(s, n) for s, n in enumerate(order) if n.kind == INPUT]
        self.param_slots = [(s, n) for s, n in enumerate(order) if n.kind == PARAM]
        self.const_slots = [(s, n) for s, n in enumerate(order) if n.kind == CONST]
        # op steps: (slot, node, forward, input slots, attrs); which nodes can carry a
        # gradient (depend on a param, or on an input whose gradient is kept: recording
        # runs, or fetched inputs); which values backward reads
        fetched = set(fetch_ids or ())
        requires = [False] * len(order)
        saved = set()
        steps = self.steps = []
        for s, n in enumerate(order):
            kind = n.kind
            if kind == OP:
                impl = n._op_impl
                in_slots = tuple([slot[i.id] for i in n.inputs])
                steps.append((s, n, impl.forward, in_slots, dict(n.attrs) if n.attrs else _NO_ATTRS))
                if impl.differentiable:
                    for i in in_slots:
                        if requires[i]:
                            requires[s] = True
                            saves = impl.saves
                            if "inputs" in saves:
                                saved.update(in_slots)
                            if "output" in saves:
                                saved.add(s)
                            break
            elif kind == PARAM or (kind == INPUT and (record or n.id in fetched)):
                requires[s] = True
        self.requires_grad = requires
        self.saved = saved
        if record:
            self.keep = set(range(len(order)))
        else:
            self.keep = saved | set(self.fetch_slots) | {s for s, _ in self.input_slots} \
                | {s for s, _ in self.param_slots}
        # last use of every slot, to free values nobody keeps
        last_use = {}
        for step_index, step in enumerate(steps):
            for i in step[3]:
                last_use[i] = step_index
        free_after = self.free_after = [()] * len(steps)  # slots to free after each step
        keep = self.keep
        for s, step_index in last_use.items():
            if s not in keep:
                free_after[step_index] += (s,)
        self.runs = 0
        self.forward_code = None  # generated function, once compiled
        self.backward_plans: dict = {}

    def __len__(self) -> int:
        return len(self.order)


class FreedValue:
    """What a fetched run keeps of a value whose backward reads only its shape and dtype
    (to sum a broadcast gradient back): the array itself is freed."""

    __slots__ = ("shape", "dtype")

    def __init__(self, value):
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<freed {self.dtype}{list(self.shape)}>"


def plan_order(graph, fetch_ids) -> list:
    """Ids of the nodes the fetches need (all nodes for None), in a topological order.

    Nodes get ids in creation order and an op's inputs exist before it, so id order is
    topological unless ``rewire`` connected a later node into an earlier one. A linear
    sweep over ids finds the needed nodes (a 10^6-node chain in well under a second);
    a rewired graph, where the sweep meets an input with a larger id, is sorted by
    networkx instead.
    """
    nodes = graph._nodes
    if fetch_ids is None:
        for n in nodes:
            for src in n.inputs:
                if src.id >= n.id:
                    return list(nx.topological_sort(graph._nx))
        return list(range(len(nodes)))
    top = max(fetch_ids)
    needed = bytearray(top + 1)
    for fid in fetch_ids:
        needed[fid] = 1
    for i in range(top, -1, -1):
        if needed[i]:
            for src in nodes[i].inputs:
                j = src.id
                if j >= i:
                    return _networkx_order(graph, fetch_ids)
                needed[j] = 1
    return list(itertools.compress(range(top + 1), needed))


def _networkx_order(graph, fetch_ids) -> list:
    gnx = graph._nx
    needed = set(fetch_ids)
    for fid in fetch_ids:
        needed |= nx.ancestors(gnx, fid)
    return list(nx.topological_sort(gnx.subgraph(needed)))


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a plan is compiled.

    Compiling allocates a few long-lived, acyclic containers per node; on a large graph
    the collector would re-scan the whole heap several times meanwhile (measured: more
    than half of compiling a 10^5-node plan) and find nothing to free.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def get_plan(graph, fetch_ids, record: bool) -> Plan:
    key = (None if fetch_ids is None else tuple(fetch_ids), record)
    cache = graph._plans
    if cache.get("version") != graph.version:
        cache.clear()
        cache["version"] = graph.version
    plan = cache.get(key)
    if plan is None:
        with gc_paused():
            plan = cache[key] = Plan(graph, fetch_ids, record)
    return plan


def resolve_fetch(graph, fetch):
    if fetch is None:
        return None
    if isinstance(fetch, (Node, str)):
        fetch = [fetch]
    try:
        items = list(fetch)
    except TypeError:
        raise GraphStructureError(f"fetch must be a node, a name, or a list of them; got {type(fetch).__name__}") from None
    if not items:
        raise GraphStructureError("fetch is an empty list; pass the nodes to compute, or fetch=None for all")
    ids = []
    for item in items:
        nid = graph.node(item).id
        if nid not in ids:
            ids.append(nid)
    return ids


def run_forward(graph, feeds, fetch, check_finite):
    from .run import Run

    fetch_ids = resolve_fetch(graph, fetch)
    record = fetch_ids is None or check_finite
    plan = get_plan(graph, fetch_ids, record)
    fed = resolve_feeds(graph, feeds)
    values = [None] * len(plan.order)
    missing = []
    for s, node in plan.input_slots:
        value = fed.get(node.id)
        if value is None:
            missing.append(node.id)
        values[s] = value
    if missing:
        names = None if fetch_ids is None else [graph._nodes[i].name for i in fetch_ids]
        raise missing_feeds_error(graph, missing, names)
    xp = graph._backend.xp
    if record:
        interpret_forward(plan, values, xp, check_finite)
    else:
        plan.runs += 1
        if plan.forward_code is None and plan.runs > CODEGEN_AFTER_RUNS and len(plan.steps) <= CODEGEN_MAX_STEPS:
            from .codegen import compile_forward

            plan.forward_code = compile_forward(plan)
        if plan.forward_code is not None:
            plan.forward_code(values, xp)
            return Run(graph, plan, values, check_finite=check_finite, generated=True)
        interpret_forward(plan, values, xp, False)
    return Run(graph, plan, values, check_finite=check_finite)


def interpret_forward(plan: Plan, values: list, xp, check_finite: bool):
    """Run the plan's steps one by one (recording mode keeps everything)."""
    for s, node in plan.param_slots:
        values[s] = node._value
    for s, node in plan.const_slots:
        values[s] = node._value
    if check_finite:
        for s, node in plan.input_slots + plan.param_slots:
            _check_finite(xp, values[s], node, "value")
    record = plan.record
    free_after = plan.free_after
    for step_index, (s, node, forward, in_slots, attrs) in enumerate(plan.steps):
        args = [values[i] for i in in_slots]
        try:
            out = forward(xp, *args, **attrs)
        except Exception as exc:
            raise op_error(node, args, exc, "forward") from exc
        if type(out) is not xp.ndarray and isinstance(out, np.generic):
            out = xp.asarray(out)  # NumPy ufuncs turn 0-d results into scalars
        if record:
            _check_output(xp, node, out, args)
            if check_finite:
                _check_finite(xp, out, node, "value")
        values[s] = out
        if not record:
            for i in free_after[step_index]:
                values[i] = None


def _check_output(xp, node, out, args):
    if not isinstance(out, xp.ndarray):
        raise op_error(node, args, TypeError(
            f"forward returned {type(out).__module__}.{type(out).__name__}, not an array; "
            "return xp.asarray(...) (NumPy reductions return scalars)"), "forward")
    if node.shape is not None and node.shape != out.shape and not shapes_compatible(node.shape, out.shape):
        raise op_error(node, args, ShapeError(
            f"forward returned shape {format_shape(out.shape)}, but the op's shape rule said "
            f"{format_shape(node.shape)}"), "forward")


def _check_finite(xp, value, node, what, via=None):
    if value is None or not hasattr(value, "dtype") or value.dtype.kind != "f":
        return
    if not bool(xp.isfinite(value).all()):
        nan = bool(xp.isnan(value).any())
        kind = "NaN" if nan else "Inf"
        op = f"op {node.op}" if node.kind == OP else f"{node.kind}"
        where = f" (flowing back from {via!r})" if via else ""
        raise NonFiniteError(
            f"{what} of node {node.name!r} ({op}, shape {format_shape(value.shape)}) contains {kind}{where}: "
            f"this is the first node whose {what} is not finite. "
            + _non_finite_hint(node, what)
        )


def _non_finite_hint(node, what):
    if node.kind == OP and node.op in ("log", "div", "sqrt", "pow"):
        return f"{node.op} of a zero or negative input is the usual cause; clip its input or add an epsilon."
    if node.kind == OP and node.op == "exp":
        return "exp overflows for inputs above ~88 (float32); use a stable form (logsumexp, softplus, *_with_logits)."
    if node.kind in (INPUT, PARAM):
        return "the array already held NaN or Inf before the run; check the data or the last optimizer step."
    return "look at its inputs' values in the run (run.value) to see where it starts."


def op_error(node, args, exc, phase) -> OpExecutionError:
    described = ", ".join(
        f"{src.name!r} {describe_value(a)}" for src, a in zip(node.inputs, args)
    ) or "none"
    attrs = ", ".join(f"{k}={v!r}" for k, v in node.attrs.items())
    return OpExecutionError(
        f"{phase} of node {node.name!r} (op {node.op}{', ' + attrs if attrs else ''}) failed: "
        f"{type(exc).__name__}: {exc}. Inputs: {described}."
    )


# ------------------------------------------------------------------------------ backward

class BackwardPlan:
    """The reverse sweep from one target: which steps run, where contributions go."""

    def __init__(self, plan: Plan, target_slot: int):
        self.target_slot = target_slot
        requires = plan.requires_grad
        # ancestors of the target inside the plan, by one reverse walk over the steps
        reach = bytearray(len(plan.order))
        reach[target_slot] = 1
        self.steps = steps = []  # (slot, node, backward, in_slots, attrs, needs_grad, pass_needs)
        for s, node, _, in_slots, attrs in reversed(plan.steps):
            if s > target_slot or not reach[s]:
                continue
            for i in in_slots:
                reach[i] = 1
            if not requires[s]:
                continue
            impl = node._op_impl
            needs = tuple([requires[i] for i in in_slots])
            pass_needs = type(impl).signature_info()[3]
            steps.append((s, node, impl.backward, in_slots, attrs, needs, pass_needs))
        self.reach = reach
        self.code = None
        self.release = None  # what the interpreted fast path releases after each step (computed once)
        self.runs = 0


def get_backward_plan(plan: Plan, target_slot: int) -> BackwardPlan:
    bplan = plan.backward_plans.get(target_slot)
    if bplan is None:
        with gc_paused():
            bplan = plan.backward_plans[target_slot] = BackwardPlan(plan, target_slot)
    return bplan


def interpret_backward(plan: Plan, bplan: BackwardPlan, values, grads, seed, xp, check_finite, edge_grads,
                       release=None):
    """Reverse sweep; ``grads`` (list by slot) receives every accumulated gradient.

    ``release``: per step, the value slots to set to None after it (a fetched run's
    backward releases what only it keeps; see ``codegen.release_schedule``)."""
    grads[bplan.target_slot] = seed
    if check_finite:
        _check_finite(xp, seed, plan.order[bplan.target_slot], "gradient")
    generic = np.generic
    for k, (s, node, backward, in_slots, attrs, needs, pass_needs) in enumerate(bplan.steps):
        if release is not None:
            for i in release[k - 1] if k else ():
                values[i] = None
        g = grads[s]
        if g is None:
            continue
        saves = node._op_impl.saves
        inputs = tuple([values[i] for i in in_slots]) if "inputs" in saves else (None,) * len(in_slots)
        output = values[s] if "output" in saves else None
        try:
            if pass_needs:
                contributions = backward(xp, g, inputs, output, needs_grad=needs, **attrs)
            else:
                contributions = backward(xp, g, inputs, output, **attrs)
            contributions = tuple(contributions)
            if len(contributions) != len(in_slots):
                raise GraphStructureError(
                    f"backward returned {len(contributions)} gradients for {len(in_slots)} inputs; "
                    "return one per input (None where an input has no gradient)"
                )
        except Exception as exc:
            raise op_error(node, [values[i] for i in in_slots], exc, "backward") from exc
        for position, c in enumerate(contributions):
            if c is None or not needs[position]:
                continue
            i = in_slots[position]
            expected = getattr(values[i], "shape", None)
            if expected is not None and getattr(c, "shape", ()) != expected and hasattr(c, "shape"):
                c = sum_to_shape(xp, c, expected)
            if expected is not None and getattr(c, "shape", ()) != expected:
                raise op_error(node, [values[j] for j in in_slots], ShapeError(
                    f"backward returned a gradient of shape {format_shape(getattr(c, 'shape', ()))} for input "
                    f"{position} ({plan.order[i].name!r}) of shape {format_shape(expected)}; sum broadcast "
                    "gradients back with ge.unbroadcast"), "backward")
            if isinstance(c, generic):
                c = xp.asarray(c)  # 0-d gradients stay arrays
            if edge_grads is not None:
                edge_grads[(s, position)] = c
            current = grads[i]
            grads[i] = c if current is None else current + c
        # a node's gradient is complete once its own step ran (reverse topological order)
        if check_finite:
            for i in in_slots:
                if grads[i] is not None:
                    _check_finite(xp, grads[i], plan.order[i], "gradient", via=node.name)
    if release is not None and release:
        for i in release[-1]:
            values[i] = None


def seed_gradient(xp, target, value, grad):
    from .errors import BackwardError

    if value is None:
        raise BackwardError(f"no value for backward target {target.name!r}")
    shape = tuple(getattr(value, "shape", ()))
    if grad is None:
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if size != 1:
            raise BackwardError(
                f"backward from {target.name!r} of shape {format_shape(shape)} needs a seed gradient: it is not "
                f"a scalar. Reduce it first (ge.ops.mean / ge.ops.sum), or pass grad= an array of shape "
                f"{format_shape(shape)}."
            )
        return xp.ones(shape, dtype=value.dtype)
    seed = xp.asarray(grad, dtype=value.dtype)
    if tuple(seed.shape) != shape:
        raise BackwardError(
            f"seed gradient for {target.name!r} has shape {format_shape(seed.shape)}; it must match the "
            f"target's shape {format_shape(shape)}"
        )
    return seed


__all__ = ["Plan", "get_plan", "run_forward", "interpret_forward", "interpret_backward", "BackwardPlan"]
