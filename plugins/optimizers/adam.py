"""Adam and its relatives: Adamax and AdamW (Kingma & Ba 2014; Loshchilov & Hutter 2019).

The moment estimates start at zero and are bias-corrected by the number of steps this
parameter has taken (state key ``"step"``, counted per parameter, so a parameter that
had no gradient in some step is corrected by its own count).
"""

from __future__ import annotations

import graphengine as ge

from ._checks import DECAY_RATE, EPS, LR, check_hyper

_ADAM_RULES = {**LR, **EPS, "beta1": DECAY_RATE, "beta2": DECAY_RATE}


class Adam(ge.Optimizer):
    """Adam:

    m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
    m̂ = m / (1 − β₁ᵗ)               v̂ = v / (1 − β₂ᵗ)
    W ← W − η·m̂ / (√v̂ + ε)

    State keys: ``"step"`` (t), ``"m"``, ``"v"``.
    """

    name = "adam"
    defaults = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        check_hyper(self, {**_ADAM_RULES, **getattr(self, "extra_rules", {})})

    def init_state(self, xp, value):
        return {"step": 0, "m": xp.zeros_like(value), "v": xp.zeros_like(value)}

    def adam_direction(self, xp, grad, state):
        """Advance the moments and return m̂ / (√v̂ + ε) (the step before η)."""
        beta1, beta2 = float(self.hyper["beta1"]), float(self.hyper["beta2"])
        t = state["step"] + 1
        m = beta1 * state["m"] + (1 - beta1) * grad
        v = beta2 * state["v"] + (1 - beta2) * grad * grad
        state["step"], state["m"], state["v"] = t, m, v
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        return m_hat / (xp.sqrt(v_hat) + float(self.hyper["eps"]))

    def update(self, xp, value, grad, state):
        return value - float(self.hyper["lr"]) * self.adam_direction(xp, grad, state)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter):

    W ← W − η·(m̂ / (√v̂ + ε) + λ·W)      (λ = ``weight_decay``, 0.01)

    The decay never enters m and v, unlike Adam with an L2 penalty, whose decay gradient
    λ·W is divided by √v̂ like any gradient (so large-gradient weights barely decay).
    The same decay is available for any optimizer as the ``weight_decay`` regularizer.
    """

    name = "adamw"
    defaults = {**Adam.defaults, "weight_decay": 0.01}
    extra_rules = {"weight_decay": (0.0, None, True, False)}

    def update(self, xp, value, grad, state):
        direction = self.adam_direction(xp, grad, state)
        return value - float(self.hyper["lr"]) * (direction + float(self.hyper["weight_decay"]) * value)


class Adamax(Adam):
    """Adamax (Kingma & Ba, section 7.1), Adam with the infinity norm:

    m ← β₁·m + (1 − β₁)·g        u ← max(β₂·u, |g|)
    W ← W − η / (1 − β₁ᵗ) · m / (u + ε)

    State keys: ``"step"``, ``"m"``, ``"u"``. ε keeps the step finite while u is 0.
    """

    name = "adamax"
    defaults = {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

    def init_state(self, xp, value):
        return {"step": 0, "m": xp.zeros_like(value), "u": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        beta1, beta2 = float(self.hyper["beta1"]), float(self.hyper["beta2"])
        t = state["step"] + 1
        m = beta1 * state["m"] + (1 - beta1) * grad
        u = xp.maximum(beta2 * state["u"], xp.abs(grad))
        state["step"], state["m"], state["u"] = t, m, u
        return value - (float(self.hyper["lr"]) / (1 - beta1 ** t)) * m / (u + float(self.hyper["eps"]))
