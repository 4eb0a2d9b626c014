"""``ge.Run``: the record of one execution of a graph (values, then gradients)."""

from __future__ import annotations

from .codegen import compile_backward, release_schedule
from .errors import BackwardError, ValueNotAvailableError
from .node import CONST, PARAM, Node
from .scheduler import (
    CODEGEN_AFTER_RUNS,
    CODEGEN_MAX_STEPS,
    FreedValue,
    get_backward_plan,
    interpret_backward,
    seed_gradient,
)


class Run:
    """Values of the nodes that ran, and after :meth:`backward` their gradients.

    ``run.value(node)``, ``run.grad(node)`` and ``run[node]`` take a node or its name.
    A graph can have many runs; a run never changes the graph (params change only when
    an optimizer steps).
    """

    def __init__(self, graph, plan, values, check_finite=False, generated=False):
        self.graph = graph
        self._plan = plan
        self._values = values
        self._generated = generated  # forward ran generated code: backward must too (it keeps less)
        self._released = False  # a fetched run's backward released the values only it kept
        self._grads = None
        self._edge_grads = None
        self._target = None
        self.check_finite = check_finite

    # -- what ran ---------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True when every value and gradient is kept (``fetch=None`` or ``check_finite``)."""
        return self._plan.record

    @property
    def executed(self) -> list[Node]:
        """Nodes this run executed, in the order they ran."""
        return list(self._plan.order)

    def ran(self, node) -> bool:
        return self.graph.node(node).id in self._plan.slot

    @property
    def target(self) -> Node | None:
        """The node of the last ``backward`` call (None before it)."""
        return self._target

    def _slot(self, node, what):
        node = self.graph.node(node)
        s = self._plan.slot.get(node.id)
        if s is None and self._plan.fetch_ids is None:
            raise ValueNotAvailableError(
                f"node {node.name!r} is not part of this run: it was added to the graph after the run was made. "
                "Run g.forward(...) again."
            )
        if s is None:
            fetched = ", ".join(self.graph._nodes[i].name for i in self._plan.fetch_ids or ())
            raise ValueNotAvailableError(
                f"node {node.name!r} did not run: the run computed only what its fetches ({fetched}) need. "
                f"Add {node.name!r} to fetch=, or run with fetch=None to compute everything."
            )
        return node, s

    def value(self, node):
        """The value a node had in this run (an array of the graph's backend)."""
        node, s = self._slot(node, "value")
        value = self._values[s]
        if value is None or type(value) is FreedValue:
            why = ("backward released it after using it" if self._released and s in self._plan.saved
                   else "backward does not need it")
            raise ValueNotAvailableError(
                f"the value of {node.name!r} was freed after use: {why}, and it was not fetched. "
                f"Add {node.name!r} to fetch=, or run with fetch=None to keep every value."
            )
        if not hasattr(value, "shape"):  # weak Python scalar const
            return self.graph.xp.asarray(value)
        return value

    __getitem__ = value

    def values(self) -> dict:
        """{node name: value} for every value this run kept, in execution order."""
        out = {}
        for s, node in enumerate(self._plan.order):
            value = self._values[s]
            if value is not None and type(value) is not FreedValue:
                out[node.name] = self.value(node)
        return out

    # -- backward ---------------------------------------------------------------------------
    def backward(self, node, grad=None) -> "Run":
        """Reverse-mode sweep from ``node`` (a scalar, or pass ``grad=`` the seed gradient).

        Gradients flow in reverse topological order; where a value fans out, its
        contributions are summed before flowing on. Returns the run (for chaining).
        Each call starts afresh: gradients of an earlier call are replaced.
        """
        node, s = self._slot(node, "value")
        plan = self._plan
        if self._released:
            raise BackwardError(
                "this run's backward already ran, and a run with fetch= releases the values backward reads "
                "as it goes (to keep memory low), so it cannot run backward again. Run g.forward(...) again, "
                "or use fetch=None (a recording run keeps every value)."
            )
        value = self._values[s]
        if value is None or type(value) is FreedValue:
            raise BackwardError(
                f"cannot run backward from {node.name!r}: its value was not kept. Fetch it "
                f"(fetch=[{node.name!r}, ...]) or run with fetch=None."
            )
        xp = self.graph.xp
        if not hasattr(value, "shape"):
            value = xp.asarray(value)
        seed = seed_gradient(xp, node, value, grad)
        bplan = get_backward_plan(plan, s)
        grads = [None] * len(plan.order)
        if plan.record:
            self._edge_grads = {}
            interpret_backward(plan, bplan, self._values, grads, seed, xp, self.check_finite, self._edge_grads)
        else:
            bplan.runs += 1
            if bplan.code is None and (bplan.runs > CODEGEN_AFTER_RUNS or self._generated) \
                    and len(bplan.steps) <= CODEGEN_MAX_STEPS:
                bplan.code = compile_backward(plan, bplan)
            if bplan.code is not None:
                self._released = bplan.code.releases
                bplan.code(self._values, grads, xp, seed)
            else:
                if bplan.release is None:
                    bplan.release = release_schedule(plan, bplan, generated=False)
                self._released = any(bplan.release)
                interpret_backward(plan, bplan, self._values, grads, seed, xp, False, None, bplan.release)
                _drop_unkept(plan, bplan, grads)
        self._grads = grads
        self._target = node
        return self

    def grad(self, node):
        """d target / d node from the last :meth:`backward`.

        Params and inputs that the target does not depend on get zeros. In a run with
        ``fetch=[...]`` gradients of intermediate nodes are kept only for fetched nodes.
        """
        if self._grads is None:
            raise ValueNotAvailableError("no gradients yet: call run.backward(loss) first")
        node, s = self._slot(node, "grad")
        g = self._grads[s]
        if g is not None:
            return g
        plan = self._plan
        if node.kind == CONST:
            raise ValueNotAvailableError(f"{node.name!r} is a const node; consts have no gradient")
        kept = plan.record or node.kind == PARAM or node.id in (plan.fetch_ids or ())
        if not kept:
            raise ValueNotAvailableError(
                f"the gradient of {node.kind} node {node.name!r} was not kept in this fetched run (only params' "
                f"and fetched nodes' gradients are); add {node.name!r} to fetch=, or run with fetch=None to "
                "keep every gradient"
            )
        # kept, but no gradient reached it: the target does not depend on it (or only
        # through ops with zero derivative), so the gradient is zero
        value = self._values[s]
        like = value if hasattr(value, "shape") else node._value
        return self.graph.xp.zeros(like.shape, dtype=like.dtype)

    def grads(self) -> dict:
        """{node name: gradient} for every gradient kept by the last backward."""
        if self._grads is None:
            raise ValueNotAvailableError("no gradients yet: call run.backward(loss) first")
        return {self._plan.order[s].name: g for s, g in enumerate(self._grads) if g is not None}

    def edge_grad(self, consumer, position: int):
        """The gradient contribution that flowed from ``consumer`` back into its input
        ``position`` (upstream gradient times the local derivative). Recording runs only."""
        if self._edge_grads is None:
            raise ValueNotAvailableError(
                "edge gradients are kept by recording runs only (fetch=None), after run.backward(...)"
            )
        consumer, s = self._slot(consumer, "grad")
        return self._edge_grads.get((s, position))

    def param_grads(self) -> dict:
        """{param node: gradient} for every param of the graph that ran (for optimizers)."""
        return {n: self.grad(n) for n in self.graph.params() if n.id in self._plan.slot}

    def __repr__(self) -> str:
        state = f", backward from {self._target.name!r}" if self._target is not None else ""
        mode = "recording" if self._plan.record else "fetched"
        return f"<Run of graph {self.graph.name!r}: {len(self._plan.order)} nodes, {mode}{state}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .visualize import draw

        return draw(self.graph, self, mode="both" if self._grads is not None else "forward")._repr_mimebundle_(
            include=include, exclude=exclude)


def _drop_unkept(plan, bplan, grads):
    """Interpreted fast runs keep the same gradients generated code keeps."""
    from .codegen import _kept_grad_slots

    keep = _kept_grad_slots(plan, bplan) | {bplan.target_slot}
    for s in range(len(grads)):
        if s not in keep:
            grads[s] = None
