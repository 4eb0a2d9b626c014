"""Adam and its relatives: Adamax and AdamW (Kingma & Ba 2014; Loshchilov & Hutter 2019).

The moment estimates start at zero and are bias-corrected by the number of steps this
parameter has taken (state key ``"step"``, counted per parameter, so a parameter that
had no gradient in some step is corrected by its own count). The rules update the param
and the moments in place, with two temporaries from ``self.scratch``: a step allocates
nothing. On CuPy, Adam and AdamW run as one fused kernel per param
(:mod:`graphengine.plugins.cuda_kernels`).
"""

from __future__ import annotations

import graphengine as ge

from ..cuda_kernels import elementwise, is_cupy
from ._checks import DECAY_RATE, EPS, LR, check_hyper

_ADAM_RULES = {**LR, **EPS, "beta1": DECAY_RATE, "beta2": DECAY_RATE}


def _average_into(xp, average, grad, beta, tmp):
    """average ← β·average + (1 − β)·g, in place (``tmp``: scratch)."""
    xp.multiply(average, beta, out=average)
    xp.add(average, xp.multiply(grad, 1 - beta, out=tmp), out=average)


# Adam's and AdamW's update in one CuPy kernel per param (the NumPy calls below launch
# about fifteen per param): the same operations in the same order, the scalars (1 - β,
# 1 - βᵗ) computed in Python as there.
_FUSED_ADAM = (
    "T g, T beta1, T rest1, T beta2, T rest2, T bias1, T bias2, T eps, T lr, T decay",
    "T value, T m, T v",
    """
    m = m * beta1 + g * rest1;
    v = v * beta2 + (g * rest2) * g;
    T direction = (m / bias1) / (sqrt(v / bias2) + eps);
    value = value - (decay != 0 ? direction + value * decay : direction) * lr;
    """,
)


class Adam(ge.Optimizer):
    """Adam:

    m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
    m̂ = m / (1 − β₁ᵗ)               v̂ = v / (1 − β₂ᵗ)
    W ← W − η·m̂ / (√v̂ + ε)

    State keys: ``"step"`` (t), ``"m"``, ``"v"``.
    """

    name = "adam"
    defaults = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    extra_rules: dict = {}

    def validate_hyper(self):
        check_hyper(self, {**_ADAM_RULES, **self.extra_rules})

    def init_state(self, xp, value):
        return {"step": 0, "m": xp.zeros_like(value), "v": xp.zeros_like(value)}

    def adam_direction(self, xp, value, grad, state):
        """Advance the moments in place and return m̂ / (√v̂ + ε) (the step before η), in
        ``self.scratch(xp, value, 0)``; ``self.scratch(xp, value, 1)`` is free afterwards."""
        beta1, beta2 = float(self.hyper["beta1"]), float(self.hyper["beta2"])
        t = state["step"] + 1
        m, v = state["m"], state["v"]
        direction, tmp = self.scratch(xp, value), self.scratch(xp, value, 1)
        _average_into(xp, m, grad, beta1, tmp)
        xp.multiply(v, beta2, out=v)                                   # v ← β₂·v + (1 − β₂)·g·g
        xp.multiply(grad, 1 - beta2, out=tmp)
        xp.add(v, xp.multiply(tmp, grad, out=tmp), out=v)
        state["step"] = t
        denom = xp.sqrt(xp.divide(v, 1 - beta2 ** t, out=tmp), out=tmp)   # √v̂
        xp.add(denom, float(self.hyper["eps"]), out=denom)
        xp.divide(m, 1 - beta1 ** t, out=direction)                        # m̂
        return xp.divide(direction, denom, out=direction)

    def update(self, xp, value, grad, state):
        if is_cupy(xp):
            return self._fused_update(value, grad, state, 0.0)
        direction = self.adam_direction(xp, value, grad, state)
        xp.subtract(value, xp.multiply(direction, float(self.hyper["lr"]), out=direction), out=value)

    def _fused_update(self, value, grad, state, decay):
        """The update on CuPy as one kernel (``decay``: AdamW's λ, 0 for Adam)."""
        beta1, beta2 = float(self.hyper["beta1"]), float(self.hyper["beta2"])
        t = state["step"] = state["step"] + 1
        elementwise("adam", *_FUSED_ADAM)(grad, beta1, 1 - beta1, beta2, 1 - beta2, 1 - beta1 ** t, 1 - beta2 ** t,
                                          float(self.hyper["eps"]), float(self.hyper["lr"]), decay,
                                          value, state["m"], state["v"])


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
        if is_cupy(xp):
            return self._fused_update(value, grad, state, float(self.hyper["weight_decay"]))
        direction = self.adam_direction(xp, value, grad, state)
        decay = xp.multiply(value, float(self.hyper["weight_decay"]), out=self.scratch(xp, value, 1))
        xp.add(direction, decay, out=direction)
        xp.subtract(value, xp.multiply(direction, float(self.hyper["lr"]), out=direction), out=value)


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
        m, u = state["m"], state["u"]
        step, tmp = self.scratch(xp, value), self.scratch(xp, value, 1)
        _average_into(xp, m, grad, beta1, tmp)
        xp.multiply(u, beta2, out=u)
        xp.maximum(u, xp.abs(grad, out=tmp), out=u)
        state["step"] = t
        denom = xp.add(u, float(self.hyper["eps"]), out=tmp)
        xp.multiply(m, float(self.hyper["lr"]) / (1 - beta1 ** t), out=step)
        xp.subtract(value, xp.divide(step, denom, out=step), out=value)
