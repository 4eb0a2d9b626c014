"""The ``lion`` optimizer."""

from __future__ import annotations

import math

import graphengine as ge


class LionConfigError(ge.GraphEngineError, ValueError):
    """A Lion hyper-parameter is out of range; the message says which and the range."""


class Lion(ge.Optimizer):
    """Lion, "EvoLved Sign Momentum" (Chen et al. 2023)::

        c = beta1 * m + (1 - beta1) * g          (interpolated momentum)
        W <- W - lr * (sign(c) + weight_decay * W)
        m <- beta2 * m + (1 - beta2) * g

    Every coordinate moves by exactly ``lr`` per step (the sign of ``c``), so Lion wants a
    learning rate 3-10x smaller than Adam's. ``weight_decay`` is decoupled (applied to
    the value, not added to the gradient). State per param: ``"m"``.

    >>> opt = ge.optimizers.create("lion", g.params(), lr=1e-4)
    """

    name = "lion"
    defaults = {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)  # refuses hyper-parameters not in `defaults`
        for key, low, high in (("lr", 0.0, math.inf), ("beta1", 0.0, 1.0), ("beta2", 0.0, 1.0),
                               ("weight_decay", 0.0, math.inf)):
            value = self.hyper[key]
            try:
                ok = low <= float(value) < high and not (key == "lr" and float(value) == 0)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise LionConfigError(
                    f"optimizer 'lion': {key}={value!r} is out of range; it must be a number in "
                    f"{'(' if key == 'lr' else '['}{low}, {high})"
                )

    def init_state(self, xp, value):
        return {"m": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        lr, beta1, beta2, decay = (float(self.hyper[k]) for k in ("lr", "beta1", "beta2", "weight_decay"))
        m = state["m"]
        direction = xp.sign(beta1 * m + (1 - beta1) * grad)
        state["m"] = beta2 * m + (1 - beta2) * grad  # a new array: a saved state_dict stays as it was
        # xp.asarray: NumPy turns arithmetic on 0-d arrays into scalars; a param stays an array
        return xp.asarray(value - lr * (direction + decay * value))
