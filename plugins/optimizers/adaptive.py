"""Per-parameter adaptive learning rates: AdaGrad, AdaDelta, RMSprop (deck 002, 003).

Each keeps running statistics of the squared gradient per parameter entry and divides
the step by their root, so steep directions take small steps and flat ones large steps.
"""

from __future__ import annotations

import graphengine as ge

from ._checks import DECAY_RATE, EPS, LR, check_hyper


class AdaGrad(ge.Optimizer):
    """AdaGrad (Duchi et al. 2011): h ← h + g², W ← W − η·g / (√h + ε).

    ``h`` (state key ``"sum_squares"``) starts at ``initial_accumulator`` (0).
    """

    name = "adagrad"
    defaults = {"lr": 0.01, "eps": 1e-8, "initial_accumulator": 0.0}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, {**LR, **EPS, "initial_accumulator": (0.0, None, True, False)})

    def init_state(self, xp, value):
        return {"sum_squares": xp.full_like(value, float(self.hyper["initial_accumulator"]))}

    def update(self, xp, value, grad, state):
        h = state["sum_squares"] + grad * grad
        state["sum_squares"] = h
        return value - float(self.hyper["lr"]) * grad / (xp.sqrt(h) + float(self.hyper["eps"]))


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

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, {**LR, **EPS, "rho": DECAY_RATE})

    def init_state(self, xp, value):
        return {"square_avg": xp.zeros_like(value), "delta_avg": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        rho, eps = float(self.hyper["rho"]), float(self.hyper["eps"])
        square_avg = rho * state["square_avg"] + (1 - rho) * grad * grad
        delta = xp.sqrt(state["delta_avg"] + eps) / xp.sqrt(square_avg + eps) * grad
        state["square_avg"] = square_avg
        state["delta_avg"] = rho * state["delta_avg"] + (1 - rho) * delta * delta
        return value - float(self.hyper["lr"]) * delta


class RMSprop(ge.Optimizer):
    """RMSprop (Hinton, lecture 6e): s ← ρ·s + (1 − ρ)·g², W ← W − η·g / (√s + ε).

    State key ``"square_avg"`` (s), from zero.
    """

    name = "rmsprop"
    defaults = {"lr": 0.001, "rho": 0.9, "eps": 1e-8}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, {**LR, **EPS, "rho": DECAY_RATE})

    def init_state(self, xp, value):
        return {"square_avg": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        rho = float(self.hyper["rho"])
        square_avg = rho * state["square_avg"] + (1 - rho) * grad * grad
        state["square_avg"] = square_avg
        return value - float(self.hyper["lr"]) * grad / (xp.sqrt(square_avg) + float(self.hyper["eps"]))
