"""What ``fit(..., comm=comm)`` does differently from one-process training, in one place.

Each rank trains on its own shard (``scatter_dataset``) with ``batch_size`` examples per
step; the global batch is ``batch_size × comm.size`` (or ``global_batch_size=``, which
must be a multiple of ``comm.size``). Before the first step the root's params (and
state) go to every rank; in every step the gradients are averaged over the ranks right
after backward, before the penalties, the clipping and the update, so every rank applies
the same update and the params stay bit-identical. The epoch's loss and metrics, and the
validation metrics, are averaged over all ranks' examples (weighted by their counts), so
every rank records the same History and callbacks such as early stopping decide the same
thing everywhere. BatchNorm running statistics, which each rank updates from its own
batches, are averaged over the ranks at the end of each epoch. Only the root shows
progress, prints, and runs the callbacks that write files (``ModelCheckpoint``, and any
callback with ``root_only = True``).
"""

from __future__ import annotations

import numpy as np

from .communicator import DistributedError, as_communicator
from .optimizer import DistributedOptimizer


class _GradientAllreduce:
    """The ``before_update`` hook fit inserts: one flat-buffer allreduce of the gradients.

    The step's loss rides along in the same buffer, so every rank gets the loss averaged
    over the ranks (``self.loss``) without another collective: fit's finite-loss check
    reads it, and all ranks stop together, before the update, when any rank's loss is
    NaN or Inf (a rank stopping alone would leave the others waiting in the next
    allreduce)."""

    def __init__(self, distributed_optimizer, loss_node=None, step=None):
        self.distributed_optimizer = distributed_optimizer
        self.loss_node, self.step = loss_node, step
        self.loss = None  # this step's loss averaged over the ranks (a 0-d array), once the hook ran

    def __call__(self, grads):
        if self.loss_node is None:
            return self.distributed_optimizer.allreduce_gradients(grads)
        packed = dict(grads)
        packed[self.loss_node] = self.step.value(self.loss_node)
        out = self.distributed_optimizer.allreduce_gradients(packed)
        self.loss = out.pop(self.loss_node)
        return out

    def __repr__(self) -> str:
        return f"<gradient allreduce over {self.distributed_optimizer.comm.size} ranks>"


class DataParallel:
    """The distributed side of one ``fit`` call; with ``comm=None`` every method is a
    pass-through, so the training loop has one path."""

    def __init__(self, comm, batch_size: int, global_batch_size=None):
        self.active = comm is not None
        self.comm = as_communicator(comm) if self.active else None
        size = self.comm.size if self.active else 1
        if global_batch_size is not None:
            if isinstance(global_batch_size, bool) or not isinstance(global_batch_size, (int, np.integer)) \
                    or global_batch_size < 1:
                raise DistributedError(f"global_batch_size must be an int >= 1, got {global_batch_size!r}")
            if global_batch_size % size:
                raise DistributedError(
                    f"global_batch_size={global_batch_size} does not split evenly over {size} ranks; pass a multiple "
                    f"of {size} (e.g. {max(size, global_batch_size // size * size)}) or batch_size= per rank")
            batch_size = int(global_batch_size) // size
        self.batch_size = int(batch_size)
        self.global_batch_size = self.batch_size * size

    @property
    def is_root(self) -> bool:
        return not self.active or self.comm.is_root

    @property
    def size(self) -> int:
        return self.comm.size if self.active else 1

    def params(self) -> dict:
        """What the History records about the distribution (nothing without comm=)."""
        if not self.active:
            return {}
        return {"ranks": self.size, "global_batch_size": self.global_batch_size}

    def start(self, trainer, compiled_step, check, n_train: int, n_val: int) -> None:
        """Check that the ranks agree (shard sizes, params), broadcast the root's params
        and state, and put the gradient allreduce into ``compiled_step`` right before the
        hook ``check`` (the loss check, which then reads the loss averaged over the ranks),
        before the penalties, the clipping and the update."""
        self.finish(trainer, compiled_step)
        hooks = compiled_step.before_update
        if not self.active:
            if isinstance(trainer.optimizer, DistributedOptimizer):
                raise DistributedError(
                    "fit got a DistributedOptimizer but no comm=; pass comm=comm to fit (it then averages the "
                    "gradients before penalties and clipping), with the DistributedOptimizer or a plain optimizer")
            return
        comm = self.comm
        comm.agree([n_train, n_val, self.batch_size],
                   "the number of training examples, validation examples and the batch size per rank (give every "
                   "rank an equal shard: ge.distributed.scatter_dataset(X, y, comm))")
        from .parameters import broadcast_parameters

        broadcast_parameters(trainer.graph, comm, root=0)
        optimizer = trainer.optimizer
        if not isinstance(optimizer, DistributedOptimizer):
            optimizer = DistributedOptimizer(optimizer, comm)
        elif optimizer.comm.mpi_comm is not comm.mpi_comm:
            raise DistributedError("the DistributedOptimizer given to fit uses another communicator than comm=")
        allreduce = _GradientAllreduce(optimizer, trainer.loss_node, compiled_step)
        position = next((i for i, h in enumerate(hooks) if h == check), 0)
        hooks.insert(position, allreduce)
        trainer._loss_source = (lambda: allreduce.loss, f"averaged over the {comm.size} ranks")

    def finish(self, trainer, compiled_step) -> None:
        """Take the allreduce out of the step again (a later fit without comm= trains alone)."""
        hooks = compiled_step.before_update
        hooks[:] = [h for h in hooks if not isinstance(h, _GradientAllreduce)]
        trainer._loss_source = None

    def callbacks(self, callbacks, root_only_types=()) -> list:
        """The callbacks this rank runs: all on the root; elsewhere all but those that
        write files (``root_only_types``, or ``root_only = True`` on the callback)."""
        callbacks = list(callbacks or ())
        if self.is_root:
            return callbacks
        return [cb for cb in callbacks
                if not isinstance(cb, tuple(root_only_types)) and not getattr(cb, "root_only", False)]

    def reduce_sums(self, sums, count):
        """``(sums, count)`` summed over the ranks (the epoch's loss and metric sums)."""
        if not self.active or self.comm.size == 1:
            return list(sums), count
        total = self.comm.sum_values(list(sums) + [count])
        return [float(v) for v in total[:-1]], int(round(total[-1]))

    def reduce_means(self, means: dict, count: int) -> dict:
        """Means over this rank's ``count`` examples -> means over every rank's examples."""
        if not self.active or self.comm.size == 1:
            return means
        keys = list(means)
        sums, total = self.reduce_sums([means[k] * count for k in keys], count)
        return {k: s / total for k, s in zip(keys, sums)}

    def average_state(self, trainer) -> None:
        """Average the state of the layers with state updates (BatchNorm running
        statistics) over the ranks; params are already identical."""
        if not self.active or self.comm.size == 1 or not getattr(trainer, "updates", None):
            return
        modules = {id(u.module): u.module for u in trainer.updates}
        nodes = [n for m in modules.values() for n in m.state()]
        if not nodes:
            return
        from .parameters import FlatBuffers

        values = [n.value for n in nodes]
        flat = FlatBuffers(trainer.graph.xp, [v.shape for v in values], [v.dtype for v in values],
                           [n.name for n in nodes])
        flat.pack(values)
        for buffer in flat.buffers:
            self.comm.allreduce_(buffer, "sum")
            buffer *= 1.0 / self.comm.size
        for node, view in zip(nodes, flat.views):
            node.value = view


__all__ = ["DataParallel"]
