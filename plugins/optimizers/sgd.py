"""Gradient descent and its momentum variants (deck 002, "Parameter update").

All three read ``lr`` from ``self.hyper`` at every step, so a schedule can change it.
"""

from __future__ import annotations

import graphengine as ge

from ._checks import DECAY_RATE, LR, check_hyper


class SGD(ge.Optimizer):
    """Plain (stochastic) gradient descent: W ← W − η·∂L/∂W.

    >>> opt = ge.optimizers.create("sgd", g.params(), lr=0.1)
    """

    name = "sgd"
    defaults = {"lr": 0.01}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, LR)

    def update(self, xp, value, grad, state):
        return value - float(self.hyper["lr"]) * grad

    def update_into(self, xp, value, grad, state, scratch):  # in place (graphengine.training_step)
        value -= xp.multiply(grad, float(self.hyper["lr"]), out=scratch)


class Momentum(ge.Optimizer):
    """Momentum, in the form of deck 002: v ← α·v − η·∂L/∂W, then W ← W + v.

    ``momentum`` is α (0.9), ``lr`` is η. The velocity ``v`` starts at zero and lives in
    the per-parameter state (key ``"velocity"``). The learning rate is folded into the
    velocity when it is computed, so a schedule changing ``lr`` scales only the new
    gradient term, not the velocity already built up.
    """

    name = "momentum"
    defaults = {"lr": 0.01, "momentum": 0.9}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, {**LR, "momentum": DECAY_RATE})

    def init_state(self, xp, value):
        return {"velocity": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        lr, momentum = float(self.hyper["lr"]), float(self.hyper["momentum"])
        velocity = momentum * state["velocity"] - lr * grad
        state["velocity"] = velocity
        return value + velocity


class Nesterov(Momentum):
    """Nesterov accelerated gradient (Sutskever et al. 2013), in the look-ahead form.

    v ← α·v − η·g, then W ← W + α·v − η·g (the new v). This is the classical update
    v ← α·v − η·∇L(θ + α·v), θ ← θ + v, rewritten for the look-ahead point W = θ + α·v,
    so that the gradient the graph computes (at W) is the one the method needs.
    """

    name = "nesterov"

    def update(self, xp, value, grad, state):
        lr, momentum = float(self.hyper["lr"]), float(self.hyper["momentum"])
        velocity = momentum * state["velocity"] - lr * grad
        state["velocity"] = velocity
        return value + momentum * velocity - lr * grad
