"""``ge.Run``: the record of one execution of a graph (values, then gradients).

``g.forward(feeds)`` lowers (graph, fetches) into a program once (:mod:`graphengine.program`)
and runs it: interpreted the first time for each feed signature (the shapes and dtypes of
the fed arrays; every op's result checked against its shape and dtype rules), then, for a
signature a run has checked without error, as generated code (:mod:`graphengine.emitter`),
which checks no op's result. A run that failed a check admits nothing: the next run with
those feeds is interpreted and checked again. A recording run (no ``fetch``) keeps every value and
every gradient the hot loop computes; what only inspection needs (the contribution along
an edge, the gradient of an input) is computed on request from what it kept.
"""

from __future__ import annotations

import numpy as np

from .emitter import emit_backward, emit_forward
from .errors import BackwardError, GraphEngineError, ValueNotAvailableError
from .feeds import missing_feeds_error, resolve_feeds
from .interpreter import FreedValue, contributions, interpret_backward, interpret_forward, seed_gradient
from .node import CONST, PARAM, Node, _short_repr
from .program import Backward, get_program, resolve_fetch


class RunArgumentError(GraphEngineError, TypeError):
    """A run's method was given something that is not a node, a node name or a node id."""


JUPYTER_COLLAPSE_ABOVE = 500  # nodes: a graph's or run's inline display folds scopes above it
GENERATE_MAX_STEPS = 20_000  # larger programs stay interpreted (compiling huge functions costs more than it saves)
CHECKED_SIGNATURES_MAX = 256  # feed signatures a program remembers as checked (oldest forgotten first)


def run_forward(graph, feeds, fetch, check_finite) -> "Run":
    """``g.forward``: values of the fetched nodes (all with ``fetch=None``)."""
    fetch_ids = resolve_fetch(graph, fetch)
    program = get_program(graph, fetch_ids, keep_all=fetch_ids is None or check_finite, input_grads=check_finite)
    fed = resolve_feeds(graph, feeds)
    values = [None] * len(program.order)
    missing = []
    signature = ()
    if program.inputs:
        # the run keeps its own copy of each array the caller handed it unchanged, so that
        # changing that array in place before backward changes neither the gradients nor
        # what the run shows (arrays resolve_feeds converted are the run's already)
        callers = {id(value) for _, value in feeds.items()}
        shapes = []
        for s, node in program.inputs:
            value = fed.get(node.id)
            if value is None:
                missing.append(node.id)
                continue
            if id(value) in callers:
                value = value.copy()
            values[s] = value
            shapes.append((value.shape, value.dtype))
        signature = tuple(shapes)
    if missing:
        raise missing_feeds_error(graph, missing, None if fetch_ids is None else [graph._nodes[i].name for i in fetch_ids])
    xp = graph._backend.xp
    checked = program.checked
    if signature in checked and not check_finite and len(program.steps) <= GENERATE_MAX_STEPS:
        # generated code checks no op's result: it runs only feed signatures an
        # interpreted run has checked (the shape rules depend on the feeds' shapes only)
        if program.forward_code is None:
            program.forward_code = emit_forward(program)
        program.forward_code(values, xp)
    else:
        interpret_forward(program, values, xp, check_finite)
        if signature not in checked:  # only a run that passed every check admits its signature
            if len(checked) >= CHECKED_SIGNATURES_MAX:
                checked.pop(next(iter(checked)), None)  # the oldest: its next run is checked again
            checked[signature] = None
    return Run(graph, program, values, check_finite)


class Run:
    """Values of the nodes that ran, and after :meth:`backward` their gradients.

    ``run.value(node)``, ``run.grad(node)`` and ``run[node]`` take a node or its name.
    A graph can have many runs; a run never changes the graph (params change only when
    an optimizer steps, and a run refuses to show a param that changed after it ran).
    """

    def __init__(self, graph, program, values, check_finite=False):
        self.graph = graph
        self._program = program
        self._values = values
        self._param_updates = {s: node._updates for s, node in program.params}
        self._released = False  # a fetched run's backward released the values only it kept
        self._grads = None
        self._edges = None  # recording runs: {consumer slot: contributions}, on request
        self._target = None
        self.check_finite = check_finite

    # -- what ran ---------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True when every value and gradient is kept (``fetch=None`` or ``check_finite``)."""
        return self._program.keep_all

    @property
    def executed(self) -> list[Node]:
        """Nodes this run executed, in the order they ran."""
        return list(self._program.order)

    def ran(self, node) -> bool:
        return self.graph.node(node).id in self._program.slot

    @property
    def target(self) -> Node | None:
        """The node of the last ``backward`` call (None before it)."""
        return self._target

    def _slot(self, node):
        if not isinstance(node, (Node, str, int, np.integer)) or isinstance(node, bool):
            raise RunArgumentError(
                f"expected a node, a node name or a node id of graph {self.graph.name!r}, got "
                f"{type(node).__name__} {_short_repr(node, 60)}; pass the node itself (run.value(h)) or its name "
                "(run.value('h'))")
        node = self.graph.node(node)
        s = self._program.slot.get(node.id)
        if s is None and self._program.fetch_ids is None:
            raise ValueNotAvailableError(
                f"node {node.name!r} is not part of this run: it was added to the graph after the run was made. "
                "Run g.forward(...) again.")
        if s is None:
            fetched = ", ".join(self.graph._nodes[i].name for i in self._program.fetch_ids)
            raise ValueNotAvailableError(
                f"node {node.name!r} did not run: the run computed only what its fetches ({fetched}) need. "
                f"Add {node.name!r} to fetch=, or run with fetch=None to compute everything.")
        return node, s

    def _check_params_unchanged(self, what, only=None):
        """Refuse ``what`` when a param (``only``: that slot's) was changed in place since the run."""
        for s, seen in self._param_updates.items() if only is None else ((only, self._param_updates[only]),):
            node = self._program.order[s]
            if node._updates != seen and self._values[s] is node._value:
                raise ValueNotAvailableError(
                    f"param {node.name!r} was updated in place (by an optimizer step) after this run, so the run "
                    f"no longer holds the value it ran with and cannot give {what}. Read or draw the run before "
                    "the step, or run g.forward(...) again.")

    def value(self, node):
        """The value a node had in this run (an array of the graph's backend)."""
        node, s = self._slot(node)
        value = self._values[s]
        if node.kind == PARAM:
            self._check_params_unchanged(f"the value of {node.name!r}", only=s)
        if value is None or type(value) is FreedValue:
            why = ("backward released it after using it" if self._released
                   else "backward does not need it")
            raise ValueNotAvailableError(
                f"the value of {node.name!r} was freed after use: {why}, and it was not fetched. "
                f"Add {node.name!r} to fetch=, or run with fetch=None to keep every value.")
        if not hasattr(value, "shape"):  # weak Python scalar const
            return self.graph.xp.asarray(value)
        return value

    __getitem__ = value

    def values(self) -> dict:
        """{node name: value} for every value this run kept, in execution order."""
        return {node.name: self.value(node) for s, node in enumerate(self._program.order)
                if self._values[s] is not None and type(self._values[s]) is not FreedValue}

    # -- backward ---------------------------------------------------------------------------
    def backward(self, node, grad=None) -> "Run":
        """Reverse-mode sweep from ``node`` (a scalar, or pass ``grad=`` the seed gradient).

        Gradients flow in reverse topological order; where a value fans out, its
        contributions are summed before flowing on. Returns the run (for chaining).
        Each call starts afresh: gradients of an earlier call are replaced.
        """
        node, s = self._slot(node)
        program = self._program
        if self._released:
            raise BackwardError(
                "this run's backward already ran, and a run with fetch= releases the values backward reads "
                "as it goes (to keep memory low), so it cannot run backward again. Run g.forward(...) again, "
                "or use fetch=None (a recording run keeps every value).")
        value = self._values[s]
        if value is None or type(value) is FreedValue:
            raise BackwardError(
                f"cannot run backward from {node.name!r}: its value was not kept. Fetch it "
                f"(fetch=[{node.name!r}, ...]) or run with fetch=None.")
        self._check_params_unchanged("gradients")
        xp = self.graph.xp
        seed = seed_gradient(xp, node, value if hasattr(value, "shape") else xp.asarray(value), grad)
        backward = program.backward(s)
        grads = [None] * len(program.order)
        if backward.code is not None and not self.check_finite:
            backward.code(self._values, grads, xp, seed)
        elif self.check_finite or backward.none_edges is None or len(backward.steps) > GENERATE_MAX_STEPS:
            interpret_backward(program, backward, self._values, grads, seed, xp, self.check_finite)
        else:
            backward.code = emit_backward(program, backward)
            backward.code(self._values, grads, xp, seed)
        self._released = bool(backward.release) and any(backward.release)
        self._grads = grads
        self._edges = {} if program.keep_all else None
        self._completed = False
        self._seed, self._target = seed, node
        return self

    def grad(self, node):
        """d target / d node from the last :meth:`backward`.

        Params and inputs that the target does not depend on get zeros. In a run with
        ``fetch=[...]`` gradients of intermediate nodes are kept only for fetched nodes.
        """
        if self._grads is None:
            raise ValueNotAvailableError("no gradients yet: call run.backward(loss) first")
        node, s = self._slot(node)
        g = self._grads[s]
        if g is not None and type(g) is not FreedValue:  # an interpreted backward leaves shapes of dropped ones
            return g
        program = self._program
        if node.kind == CONST:
            raise ValueNotAvailableError(f"{node.name!r} is a const node; consts have no gradient")
        if program.keep_all:
            self._complete(s)
            if self._grads[s] is not None:
                return self._grads[s]
        elif not (node.kind == PARAM or s in program.fetch_slots):
            raise ValueNotAvailableError(
                f"the gradient of {node.kind} node {node.name!r} was not kept in this fetched run (only params' "
                f"and fetched nodes' gradients are); add {node.name!r} to fetch=, or run with fetch=None to "
                "keep every gradient")
        # no gradient reached it: the target does not depend on it (or only through ops
        # with zero derivative), so the gradient is zero
        value = self._values[s]
        like = value if hasattr(value, "shape") else node._value
        return self.graph.xp.zeros(like.shape, dtype=like.dtype)

    def grads(self) -> dict:
        """{node name: gradient} for every gradient kept by the last backward."""
        if self._grads is None:
            raise ValueNotAvailableError("no gradients yet: call run.backward(loss) first")
        if self._program.keep_all:
            for s, node in self._program.inputs:
                self.grad(node)
        return {self._program.order[s].name: g for s, g in enumerate(self._grads)
                if g is not None and type(g) is not FreedValue}

    def edge_grad(self, consumer, position: int):
        """The gradient contribution that flowed from ``consumer`` back into its input
        ``position`` (upstream gradient times the local derivative, summed back to the
        input's shape). Recording runs only; None where no gradient flows."""
        if self._edges is None:
            raise ValueNotAvailableError(
                "edge gradients are kept by recording runs only (fetch=None), after run.backward(...)")
        consumer, s = self._slot(consumer)
        contributions = self._contributions(s)
        return contributions[position] if contributions is not None and position < len(contributions) else None

    def param_grads(self) -> dict:
        """{param node: gradient} for every param of the graph that ran (for optimizers)."""
        return {n: self.grad(n) for n in self.graph.params() if n.id in self._program.slot}

    # -- what only inspection needs, computed on request (recording runs) ------------------
    def _contributions(self, s):
        """The gradients node ``s``'s backward sends to each of its inputs (cached)."""
        if s in self._edges:
            return self._edges[s]
        self._complete(s)
        program, out = self._program, None
        grad = self._grads[s]
        if s in program.steps_at and grad is not None and program.steps_at[s].impl.differentiable:
            step = program.steps_at[s]
            needs = tuple(program.order[i].kind != CONST for i in step.inputs)
            self._check_params_unchanged("edge gradients")
            out = contributions(step, needs, grad, self._values, self.graph.xp)
        self._edges[s] = out
        return out

    def _complete(self, s):
        """Fill in the gradients the hot loop skipped (inputs, and nodes that depend only on
        inputs) if node ``s``'s is one: once, by a backward that differentiates inputs too."""
        if self._grads[s] is not None or self._completed:
            return
        self._check_params_unchanged("gradients of inputs")  # this backward reads the params' values
        program = self._program
        requires = list(program.requires)
        for i, _ in program.inputs:
            requires[i] = True
        for step in program.steps:
            if step.impl.differentiable and any(requires[i] for i in step.inputs):
                requires[step.slot] = True
        backward = Backward(program, program.slot[self._target.id], requires)
        grads = interpret_backward(program, backward, self._values, [None] * len(program.order), self._seed,
                                   self.graph.xp)
        self._grads = [g if g is not None else grads[t] for t, g in enumerate(self._grads)]
        self._completed = True  # only once it worked: a failed completion is tried again, not taken as zeros

    def __repr__(self) -> str:
        state = f", backward from {self._target.name!r}" if self._target is not None else ""
        mode = "recording" if self._program.keep_all else "fetched"
        return f"<Run of graph {self.graph.name!r}: {len(self._program.order)} nodes, {mode}{state}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .visualize import draw  # lazy: the core never imports visualize at import time

        # inline display of a big graph folds its scopes, as the graph's own display does
        collapse = 1 if len(self.graph._nodes) > JUPYTER_COLLAPSE_ABOVE else None
        return draw(self.graph, self, mode="both" if self._grads is not None else "forward",
                    collapse=collapse)._repr_mimebundle_(include=include, exclude=exclude)
