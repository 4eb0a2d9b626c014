"""Lowering: a graph, the nodes to fetch and a keep mode become one :class:`Program`.

A program is the only form the engine executes. It holds

* the forward steps, one per op node the fetches need, in topological order, each node
  given a *slot* (its index in flat lists of values and gradients);
* which nodes can carry a gradient (``requires``: they depend on a param, or on an input
  whose gradient the run keeps);
* one :class:`Backward` per backward target: the reverse steps that target reaches;
* the liveness of values: which a run keeps (``keep``), which it keeps only the shape of
  (``shape_only``, for summing a broadcast gradient back), and, per backward target,
  which values the backward releases after their last reader.

The emitter (:mod:`graphengine.emitter`) prints a program as straight-line Python and
the interpreter (:mod:`graphengine.interpreter`) walks it; both read these same tables.
A recording run (``g.forward(feeds)``) is the same program with keep-everything
liveness. Compiling touches networkx only for a graph that ``rewire`` made
non-topological in creation order; running touches no networkx at all.
"""

from __future__ import annotations

import contextlib
import gc
import itertools

import networkx as nx

from .errors import GraphStructureError
from .node import CONST, INPUT, OP, PARAM, Node

NO_ATTRS: dict = {}  # shared by steps without attributes (never mutated)
KIND_INDEX = {INPUT: 0, PARAM: 1, CONST: 2}  # leaves: program.inputs, .params, .consts


class OpStep:
    """One op node of a program: its slot, inputs' slots and attributes."""

    __slots__ = ("slot", "node", "impl", "inputs", "attrs", "pass_needs")

    def __init__(self, slot, node, inputs, pass_needs):
        self.slot = slot
        self.node = node
        self.impl = node._op_impl
        self.inputs = inputs
        self.attrs = dict(node.attrs) if node.attrs else NO_ATTRS
        self.pass_needs = pass_needs  # backward takes needs_grad=


class Program:
    """The compiled form of (graph version, fetch set, keep mode)."""

    def __init__(self, graph, fetch_ids, keep_all: bool, input_grads: bool = False):
        self.graph = graph
        self.keep_all = keep_all
        nodes = graph._nodes
        order_ids = topological_ids(graph, fetch_ids)
        self.order = order = [nodes[i] for i in order_ids]
        self.slot = slot = dict(zip(order_ids, range(len(order_ids))))
        self.fetch_ids = None if fetch_ids is None else tuple(fetch_ids)
        self.fetch_slots = () if fetch_ids is None else tuple(slot[i] for i in fetch_ids)
        leaves = self.inputs, self.params, self.consts = [], [], []
        fetched = set(self.fetch_slots)
        requires = self.requires = [False] * len(order)
        steps = self.steps = []
        pass_needs = {}  # per op class: its backward takes needs_grad=
        by_id = None if type(order_ids) is range else slot  # None: every slot is the node's id
        for s, n in enumerate(order):
            kind = n.kind
            if kind == OP:
                impl = n._op_impl
                cls = type(impl)
                if cls not in pass_needs:
                    pass_needs[cls] = cls.signature_info()[3]
                inputs = tuple([i.id for i in n.inputs] if by_id is None else [by_id[i.id] for i in n.inputs])
                steps.append(OpStep(s, n, inputs, pass_needs[cls]))
                if impl.differentiable:
                    for i in inputs:
                        if requires[i]:
                            requires[s] = True
                            break
            else:
                leaves[KIND_INDEX[kind]].append((s, n))
                if kind == PARAM or (kind == INPUT and (input_grads or s in fetched)):
                    requires[s] = True  # else inputs' gradients are computed on request in recording runs
        self._liveness()
        self.backwards: dict = {}
        # feed signatures (per input: shape, dtype) whose interpreted run passed every check;
        # generated forward code runs only these (a dict: ordered, the oldest forgotten first)
        self.checked: dict = {}
        self.forward_code = None
        self.steps_at = {step.slot: step for step in steps}

    def backward_reads(self, step: OpStep):
        """(value slots, shape-only slots) the backward of ``step`` reads: what its op's
        ``saves`` declares, and the run-time shapes of inputs whose gradient may need summing
        back (a backward method may return any broadcast shape; an inline template, the
        output's) and whose static shape is not fully known."""
        saves = step.impl.saves
        values = (step.inputs if "inputs" in saves else ()) + ((step.slot,) if "output" in saves else ())
        shape = step.node.shape
        order, requires = self.order, self.requires
        inline = has_inline_backward(step)
        shapes = tuple(i for i in step.inputs if requires[i] and not known_shape(order[i].shape)
                       and not (inline and same_static_shape(shape, order[i].shape)))
        return values, shapes

    def _liveness(self):
        """What a run keeps of each value, and where the forward frees the rest."""
        n = len(self.order)
        if self.keep_all:
            self.keep = set(range(n))
            self.shape_only = set()
        else:
            keep = set(self.fetch_slots) | {s for s, _ in self.inputs} | {s for s, _ in self.params} \
                | {s for s, _ in self.consts}
            shapes = set()
            for step in self.steps:
                if self.requires[step.slot]:
                    values, shape_reads = self.backward_reads(step)
                    keep.update(values)
                    shapes.update(shape_reads)
            self.keep = keep
            self.shape_only = shapes - keep
        self.free_after = [()] * len(self.steps)  # slots nobody keeps, freed after step k
        if self.keep_all:
            return
        last_use = {}
        for k, step in enumerate(self.steps):
            for i in step.inputs:
                last_use[i] = k
        for i, k in last_use.items():
            if i not in self.keep:
                self.free_after[k] += (i,)

    def backward(self, target_slot: int) -> "Backward":
        b = self.backwards.get(target_slot)
        if b is None:
            with gc_paused():
                b = self.backwards[target_slot] = Backward(self, target_slot)
        return b


class Backward:
    """The reverse sweep of a program from one target.

    ``steps``: (step, needs) in reverse topological order, for the op nodes the target
    reaches that can carry a gradient (``needs``: per input, whether it takes one).
    ``kept``: the gradient slots a run keeps (all in recording programs; else params and
    fetched nodes). ``release``: per step, the value slots a fetched run releases after
    it (their last backward reader), so that gradients do not pile up on top of every
    activation. ``none_edges``: the (slot, position) pairs whose backward returned None
    in the first, interpreted run; generated code is specialised on them and checks them.
    """

    def __init__(self, program: Program, target_slot: int, requires=None):
        self.target = target_slot
        requires = program.requires if requires is None else requires
        reach = bytearray(len(program.order))
        reach[target_slot] = 1
        steps = self.steps = []
        for step in reversed(program.steps):
            s = step.slot
            if s > target_slot or not reach[s]:
                continue
            for i in step.inputs:
                reach[i] = 1
            if requires[s]:
                steps.append((step, tuple([requires[i] for i in step.inputs])))
        if program.keep_all:
            self.kept = set(range(len(program.order)))
        else:
            self.kept = {s for s, _ in program.params if reach[s]} | {s for s in program.fetch_slots if reach[s]}
        self.release = self._release_schedule(program)
        self.none_edges = None
        self.code = None

    def _release_schedule(self, program):
        if program.keep_all:
            return None
        kept = set(program.fetch_slots) | {self.target}
        order = program.order
        last_value, last_shape = {}, {}
        for k, (step, _) in enumerate(self.steps):
            values, shapes = program.backward_reads(step)
            for i in values:
                last_value[i] = k
            for i in shapes:
                last_shape[i] = k
        schedule = [()] * len(self.steps)  # (slot, keep its shape) after each step
        for i, k in last_value.items():
            if i not in kept and order[i].kind == OP:
                schedule[k] += ((i, last_shape.get(i, -1) > k),)
        return schedule


def known_shape(shape) -> bool:
    """A static shape with every entry known."""
    return shape is not None and None not in shape


def same_static_shape(a, b) -> bool:
    """Two static shapes fully known and equal (so no output-shaped gradient needs summing back)."""
    return known_shape(a) and known_shape(b) and tuple(a) == tuple(b)


def has_inline_backward(step) -> bool:
    """The op gives one ``inline_backward`` template per input (pasted by the emitter)."""
    template = getattr(step.impl, "inline_backward", None)
    return template is not None and len(template) == len(step.inputs)


def topological_ids(graph, fetch_ids) -> list:
    """Ids of the nodes the fetches need (all nodes for None), in a topological order
    (a ``range`` where that is every node in id order).

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
        return range(len(nodes))
    top = max(fetch_ids)
    needed = bytearray(top + 1)
    for fid in fetch_ids:
        needed[fid] = 1
    for i in range(top, -1, -1):
        if needed[i]:
            for src in nodes[i].inputs:
                if src.id >= i:
                    gnx = graph._nx
                    ancestors = set(fetch_ids)
                    for fid in fetch_ids:
                        ancestors |= nx.ancestors(gnx, fid)
                    return list(nx.topological_sort(gnx.subgraph(ancestors)))
                needed[src.id] = 1
    return list(itertools.compress(range(top + 1), needed))


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a program is compiled.

    Compiling allocates a few long-lived, acyclic containers per node; on a large graph
    the collector would re-scan the whole heap several times meanwhile (measured: more
    than half of compiling a 10^5-node program) and find nothing to free.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def get_program(graph, fetch_ids, keep_all: bool, input_grads: bool = False) -> Program:
    """The cached program of (graph version, fetches, mode); compiled on first use.
    ``input_grads``: the backward differentiates every input (``check_finite`` runs check
    their gradients too); else only fetched ones, the rest on request."""
    key = (None if fetch_ids is None else tuple(fetch_ids), keep_all, input_grads)
    cache = graph._plans
    if cache.get("version") != graph.version:
        cache.clear()
        cache["version"] = graph.version
    program = cache.get(key)
    if program is None:
        with gc_paused():
            program = cache[key] = Program(graph, fetch_ids, keep_all, input_grads)
    return program


def resolve_fetch(graph, fetch):
    """Node ids of ``fetch`` (a node, a name, or a list of them), in order, without repeats."""
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


__all__ = ["Program", "Backward", "OpStep", "get_program", "resolve_fetch", "gc_paused", "topological_ids"]
