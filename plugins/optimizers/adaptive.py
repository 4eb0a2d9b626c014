"""Per-parameter adaptive learning rates: AdaGrad (Duchi et al. 2011),
AdaDelta (Zeiler 2012), RMSprop (Hinton, Coursera lecture 6e, 2012).

Each keeps running statistics of the squared gradient per parameter entry and divides
the step by their root, so steep directions take small steps and flat ones large steps.
The rules update the param and the statistics in place, with two temporaries from
``self.scratch``: a step allocates nothing. AdaGrad and RMSprop write their last
temporary, η·g, over the gradient where the step lets them consume it
(``self.may_consume_grad``).
"""

from __future__ import annotations

import graphengine as ge

from ._checks import DECAY_RATE, EPS, LR, check_hyper


def _average_square_into(xp, average, grad, rho, tmp):
    """average ← ρ·average + (1 − ρ)·g·g, in place (``tmp``: scratch)."""
    xp.multiply(average, rho, out=average)
    xp.multiply(grad, 1 - rho, out=tmp)
    xp.multiply(tmp, grad, out=tmp)
    xp.add(average, tmp, out=average)


def _scaled_step_into(xp, value, grad, lr, root_of, eps, tmp, tmp2):
    """W ← W − η·g / (√root_of + ε), in place (``tmp2`` may be ``grad`` itself: it is read
    once, before η·g is written there)."""
    denom = xp.sqrt(root_of, out=tmp)
    xp.add(denom, eps, out=denom)
    step = xp.multiply(grad, lr, out=tmp2)
    xp.divide(step, denom, out=step)
    xp.subtract(value, step, out=value)


class AdaGrad(ge.Optimizer):
    """AdaGrad (Duchi et al. 2011): h ← h + g², W ← W − η·g / (√h + ε).

    ``h`` (state key ``"sum_squares"``) starts at ``initial_accumulator`` (0).
    """

    name = "adagrad"
    defaults = {"lr": 0.01, "eps": 1e-8, "initial_accumulator": 0.0}

    def validate_hyper(self):
        check_hyper(self, {**LR, **EPS, "initial_accumulator": (0.0, None, True, False)})

    def init_state(self, xp, value):
        return {"sum_squares": xp.full_like(value, float(self.hyper["initial_accumulator"]))}

    def update(self, xp, value, grad, state):
        h = state["sum_squares"]
        tmp, tmp2 = self.scratch(xp, value), (grad if self.may_consume_grad else self.scratch(xp, value, 1))
        xp.add(h, xp.multiply(grad, grad, out=tmp), out=h)
        _scaled_step_into(xp, value, grad, float(self.hyper["lr"]), h, float(self.hyper["eps"]), tmp, tmp2)


class AdaDelta(ge.Optimizer):
    """AdaDelta (Zeiler 2012), with no learning rate of its own to tune:

    E[g²] ← ρ·E[g²] + (1 − ρ)·g²
    Δ     = √(E[Δ²] + ε) / √(E[g²] + ε) · g
    E[Δ²] ← ρ·E[Δ²] + (1 − ρ)·Δ²
    W     ← W − η·Δ            (η = ``lr``, 1.0 as in the paper)

    State keys: ``"square_avg"`` (E[g²]) and ``"delta_avg"`` (E[Δ²]), both from zero.
    """

    name = "adadelta"
    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6}

    def validate_hyper(self):
        check_hyper(self, {**LR, **EPS, "rho": DECAY_RATE})

    def init_state(self, xp, value):
        return {"square_avg": xp.zeros_like(value), "delta_avg": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        rho, eps = float(self.hyper["rho"]), float(self.hyper["eps"])
        square_avg, delta_avg = state["square_avg"], state["delta_avg"]
        delta, tmp = self.scratch(xp, value), self.scratch(xp, value, 1)
        _average_square_into(xp, square_avg, grad, rho, delta)
        xp.sqrt(xp.add(delta_avg, eps, out=delta), out=delta)          # √(E[Δ²] + ε)
        xp.sqrt(xp.add(square_avg, eps, out=tmp), out=tmp)             # √(E[g²] + ε)
        xp.divide(delta, tmp, out=delta)
        xp.multiply(delta, grad, out=delta)                            # Δ
        _average_square_into(xp, delta_avg, delta, rho, tmp)
        xp.subtract(value, xp.multiply(delta, float(self.hyper["lr"]), out=tmp), out=value)


class RMSprop(ge.Optimizer):
    """RMSprop (Hinton, lecture 6e): s ← ρ·s + (1 − ρ)·g², W ← W − η·g / (√s + ε).

    State key ``"square_avg"`` (s), from zero.
    """

    name = "rmsprop"
    defaults = {"lr": 0.001, "rho": 0.9, "eps": 1e-8}

    def validate_hyper(self):
        check_hyper(self, {**LR, **EPS, "rho": DECAY_RATE})

    def init_state(self, xp, value):
        return {"square_avg": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        square_avg = state["square_avg"]
        tmp, tmp2 = self.scratch(xp, value), (grad if self.may_consume_grad else self.scratch(xp, value, 1))
        _average_square_into(xp, square_avg, grad, float(self.hyper["rho"]), tmp)
        _scaled_step_into(xp, value, grad, float(self.hyper["lr"]), square_avg, float(self.hyper["eps"]), tmp, tmp2)
