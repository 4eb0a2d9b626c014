"""The training step that random ops (dropout, Gaussian noise) draw their masks for.

A seeded random op (``ge.ops.dropout(x, p=0.5, seed=7)``) draws its mask from
``default_rng(seed)``: the same mask at every run, which finite-difference checks need.
Inside ``with noise_step(k):`` it draws from a generator seeded by ``(seed, k)``
instead: another mask at every step, the same one for the same ``(seed, k)``.
:meth:`Trainer.fit <graphengine.training.Trainer.fit>` runs training step ``k`` (the
optimizer's update count, ``optimizer.steps``) inside ``noise_step(k)``, so two runs of
``fit(..., seed=0)`` draw the same masks and end bit-identical, and a run resumed from a
checkpoint (which restores ``optimizer.steps``) draws the masks of the uninterrupted one.

A loop written by hand does the same::

    for k, (xb, yb) in enumerate(batches):
        with ge.training.noise_step(k):
            step({x: xb, y: yb})

Ops with ``seed=None`` ignore the step: a fresh draw at every run.
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from ..errors import GraphEngineError

_STEP: contextvars.ContextVar = contextvars.ContextVar("graphengine_noise_step", default=None)


class NoiseStepError(GraphEngineError, ValueError):
    """A noise step that is not an int >= 0."""


def current_noise_step():
    """The step set by the innermost :func:`noise_step`, or None outside any."""
    return _STEP.get()


@contextlib.contextmanager
def noise_step(step: int):
    """Within the block, seeded random ops draw the masks of training step ``step``."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise NoiseStepError(f"noise_step takes the step number, an int >= 0; got {step!r}")
    token = _STEP.set(int(step))
    try:
        yield int(step)
    finally:
        _STEP.reset(token)


def step_seed(seed: int, step) -> int:
    """The seed a random op with attribute ``seed`` uses at ``step``: ``seed`` itself when
    ``step`` is None, else a 32-bit int mixed from both (NumPy's SeedSequence), an int
    that NumPy's and CuPy's ``default_rng`` both take."""
    if step is None:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1, np.uint32)[0])


__all__ = ["NoiseStepError", "current_noise_step", "noise_step", "step_seed"]
