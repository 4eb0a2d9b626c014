"""``DistributedOptimizer``: an optimizer whose step first averages the gradients over
all ranks, with one flat-buffer ``Allreduce`` per step.

::

    opt = ge.distributed.DistributedOptimizer(ge.optimizers.create("sgd", g.params(), lr=0.1), comm)
    ge.distributed.broadcast_parameters(g, comm)        # every rank starts from rank 0's params
    step = ge.compile_step(loss, opt)                   # forward, backward, allreduce, update
    # or, so that clipping sees the averaged gradients:
    step = ge.compile_step(loss, opt, before_update=[opt.allreduce_gradients,
                                                     functools.partial(ge.clip_grad_norm, max_norm=1.0)])

The gradients of one step are copied into one contiguous buffer per dtype (allocated
once), summed over the ranks in place by one ``Allreduce`` (NCCL for CuPy graphs), and
multiplied by ``1 / comm.size``. Every rank then holds the same bits: the ranks apply
the same update to the same params and stay bit-identical.

Where the average happens: ``step(grads)`` averages and then updates, unless
:meth:`allreduce_gradients` already ran as a ``before_update`` hook of this step (it
marks the step). Put it first among the hooks, so that penalties and clipping see the
averaged gradients; ``fit(..., comm=comm)`` does that for you.
"""

from __future__ import annotations

import time

from ..node import Node
from ..optimizer import Optimizer
from .communicator import DistributedError, as_communicator
from .parameters import FlatBuffers


def _delegated(attr: str) -> property:
    """An attribute read from and written to the wrapped optimizer."""
    return property(lambda self: getattr(self.optimizer, attr), lambda self, value: setattr(self.optimizer, attr, value))


class DistributedOptimizer(Optimizer):
    """Wraps ``optimizer`` (a ``ge.Optimizer``): same params, hyper-parameters, state and
    checkpoints; ``step`` averages the gradients over ``comm``'s ranks first."""

    def __init__(self, optimizer, comm, *, average: bool = True):  # noqa: D107 - no Optimizer.__init__: it delegates
        if isinstance(optimizer, DistributedOptimizer):
            raise DistributedError("the optimizer is already a DistributedOptimizer; wrap the plain optimizer once")
        if not isinstance(optimizer, Optimizer):
            raise DistributedError(
                f"DistributedOptimizer wraps a ge.Optimizer (ge.optimizers.create('sgd', g.params(), lr=0.1)), got "
                f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.comm = as_communicator(comm)
        self.average = bool(average)
        self._flat = None
        self._reduced = False  # allreduce_gradients ran for the step in progress
        self.allreduce_calls = 0
        self.allreduce_seconds = 0.0

    # -- the wrapped optimizer's face ------------------------------------------------------
    name = property(lambda self: self.optimizer.name)
    params = property(lambda self: self.optimizer.params)
    defaults = property(lambda self: self.optimizer.defaults)

    hyper = _delegated("hyper")
    state = _delegated("state")
    steps = _delegated("steps")

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, data: dict) -> None:
        self.optimizer.load_state_dict(data)

    def validate_hyper(self) -> None:
        self.optimizer.validate_hyper()

    def init_state(self, xp, value) -> dict:
        return self.optimizer.init_state(xp, value)

    def update(self, xp, value, grad, state):
        return self.optimizer.update(xp, value, grad, state)

    # -- the step ------------------------------------------------------------------------------
    def allreduce_gradients(self, grads: dict) -> dict:
        """``{param: gradient}`` averaged over the ranks (sums when ``average=False``):
        one ``Allreduce`` per dtype of one flat buffer. The arrays returned live in that
        buffer until the next call. Usable as a ``before_update`` hook of ``compile_step``."""
        if not hasattr(grads, "items"):
            raise DistributedError(f"allreduce_gradients takes a mapping param -> gradient, got {type(grads).__name__}")
        keys = [k for k, g in grads.items() if g is not None]
        for k in keys:
            if not isinstance(k, Node):
                raise DistributedError(f"gradients must be keyed by param nodes, got key {k!r}")
        self._reduced = True
        comm = self.comm
        if comm.size == 1:
            return dict(grads)
        arrays = [grads[k] for k in keys]
        flat = self._flat
        if flat is None or flat.names != [k.name for k in keys] or not flat.matches(arrays):
            xp = keys[0].graph.xp if keys else None
            flat = FlatBuffers(xp, [a.shape for a in arrays], [a.dtype for a in arrays], [k.name for k in keys])
            # a new layout (first step, or another set of gradients): check that every rank has the same one
            comm.agree_on_text(flat.description(), "the gradients to average (param dtype[shape])")
            self._flat = flat
        start = time.perf_counter()
        flat.pack(arrays)
        for buffer in flat.buffers:
            comm.allreduce_(buffer, "sum")
            if self.average:
                buffer *= 1.0 / comm.size  # a Python float: float32 stays float32
        self.allreduce_seconds += time.perf_counter() - start
        self.allreduce_calls += 1
        out = dict(grads)
        out.update(zip(keys, flat.views))
        return out

    def step(self, grads) -> None:
        """Average ``grads`` (a Run after backward, or ``{param: gradient}``) over the
        ranks, unless :meth:`allreduce_gradients` already did for this step, then update."""
        if hasattr(grads, "param_grads") and hasattr(grads, "ran"):  # a Run
            run = grads
            grads = {p: run.grad(p) for p in self.optimizer.params if p.graph is run.graph and run.ran(p)}
        if self._reduced:
            self._reduced = False
        else:
            grads = self.allreduce_gradients(grads)
            self._reduced = False
        self.optimizer.step(grads)

    def __repr__(self) -> str:
        return f"<DistributedOptimizer over {self.comm.size} ranks of {self.optimizer!r}>"


__all__ = ["DistributedOptimizer"]
