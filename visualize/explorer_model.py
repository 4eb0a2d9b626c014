"""``explore(model, X, y)``: a ``ge.nn`` model's graph and one recording run on (X, y).

The model is built the way ``ge.training.fit`` builds it (a :class:`ge.training.Trainer`:
input ``x``, the model, input ``y``, the mean loss under the scope ``loss``), run forward
on ``X`` and ``y`` keeping every value, and differentiated from the loss. A trainer, or the
history ``fit`` returned (``history.trainer``), is used as it is: its graph, its input,
target and loss nodes.
"""

from __future__ import annotations

import numpy as np


def model_run(model, X, y, loss):
    """(graph, run) for ``explore(model, X, y, loss=...)``."""
    from graphengine.nn.module import Module
    from graphengine.training.trainer import Trainer

    from .explore import ExploreError

    if not isinstance(model, (Module, Trainer)) and isinstance(getattr(model, "trainer", None), Trainer):
        model = model.trainer  # the History that fit returned
    if isinstance(model, Module) and model.built:
        if not isinstance(getattr(model, "trainer", None), Trainer):
            raise ExploreError(
                "this ge.nn model is already built into a graph (by a call on a node), and explore would add a second "
                "input and loss to it: explore(g, run) with a run of its graph instead, or pass a model not built yet")
        model = model.trainer  # built by fit: its trainer knows the input, target and loss nodes
    if not isinstance(model, (Module, Trainer)):
        raise ExploreError(
            f"explore takes a graph and a run (explore(g, run)), a run, or a ge.nn model with data "
            f"(explore(model, X, y, loss='cross_entropy')); got {type(model).__name__}")
    if X is None or y is None:
        raise ExploreError("explore(model, X, y): pass the inputs X and the targets y of a few examples "
                           "(e.g. X[:8], y[:8]); the page shows the run on them")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ExploreError(f"explore(model, X, y): X and y need one row per example, got shapes {X.shape} and {y.shape}")
    if isinstance(model, Trainer):
        if loss is not None and loss != model.loss_spec:
            raise ExploreError(f"the trainer already has its loss ({model.loss_name!r}); leave loss= out")
        trainer = model
        if not trainer.built:
            trainer._ensure_built(X, y)  # as its own fit would, on the first call
    else:
        trainer = Trainer(model, loss=loss or "cross_entropy", optimizer="sgd", lr=0.1)
        trainer._ensure_built(X, y)  # as fit builds it; the model keeps the trainer (model.trainer)
    dtype = trainer.x.dtype
    feeds = {trainer.x: X.astype(dtype, copy=False) if dtype is not None and X.dtype.kind in "fiub" else X,
             trainer.y: trainer.prepare_targets(y)}
    graph = trainer.graph
    run = graph.forward({n.name: v for n, v in feeds.items()})
    run.backward(trainer.loss_node)
    return graph, run


__all__ = ["model_run"]
