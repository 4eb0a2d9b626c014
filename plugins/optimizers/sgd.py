"""Gradient descent and its momentum variants.

All three read ``lr`` from ``self.hyper`` at every step, so a schedule can change it.
Each rule updates the param (and its velocity) in place, with temporaries from
``self.scratch``: a step allocates nothing. Where the step lets the rule consume the
gradient (``self.may_consume_grad``: ``compile_step(..., keep_grads=False)``, ``fit``),
η·g is written over the gradient instead of into a scratch array, as hand-written NumPy
does (``grad *= lr; value -= grad``): the same numbers, one memory pass fewer.
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

    def validate_hyper(self):
        check_hyper(self, LR)

    def update(self, xp, value, grad, state):
        out = grad if self.may_consume_grad else self.scratch(xp, value)
        step = xp.multiply(grad, float(self.hyper["lr"]), out=out)
        xp.subtract(value, step, out=value)


class Momentum(ge.Optimizer):
    """Momentum (Polyak 1964), in velocity form: v ← α·v − η·∂L/∂W, then W ← W + v.

    ``momentum`` is α (0.9), ``lr`` is η. The velocity ``v`` starts at zero and lives in
    the per-parameter state (key ``"velocity"``). The learning rate is folded into the
    velocity when it is computed, so a schedule changing ``lr`` scales only the new
    gradient term, not the velocity already built up.
    """

    name = "momentum"
    defaults = {"lr": 0.01, "momentum": 0.9}

    def validate_hyper(self):
        check_hyper(self, {**LR, "momentum": DECAY_RATE})

    def init_state(self, xp, value):
        return {"velocity": xp.zeros_like(value)}

    def advance_velocity(self, xp, value, grad, state):
        """v ← α·v − η·g in place; returns the array holding η·g (a scratch array, or the
        gradient itself where the rule may consume it)."""
        velocity = state["velocity"]
        lr_grad = xp.multiply(grad, float(self.hyper["lr"]),
                              out=grad if self.may_consume_grad else self.scratch(xp, value))
        xp.multiply(velocity, float(self.hyper["momentum"]), out=velocity)
        xp.subtract(velocity, lr_grad, out=velocity)
        return lr_grad

    def update(self, xp, value, grad, state):
        self.advance_velocity(xp, value, grad, state)
        xp.add(value, state["velocity"], out=value)


class Nesterov(Momentum):
    """Nesterov accelerated gradient (Sutskever et al. 2013), in the look-ahead form.

    v ← α·v − η·g, then W ← W + α·v − η·g (the new v). This is the classical update
    v ← α·v − η·∇L(θ + α·v), θ ← θ + v, rewritten for the look-ahead point W = θ + α·v,
    so that the gradient the graph computes (at W) is the one the method needs.
    """

    name = "nesterov"

    def update(self, xp, value, grad, state):
        lr_grad = self.advance_velocity(xp, value, grad, state)
        ahead = xp.multiply(state["velocity"], float(self.hyper["momentum"]), out=self.scratch(xp, value, 1))
        xp.add(value, ahead, out=value)
        xp.subtract(value, lr_grad, out=value)
