"""Decoupled weight decay (kind ``"decay"``), AdamW style (Loshchilov & Hutter 2019)."""

from __future__ import annotations

import graphengine as ge

from ._checks import check_number, refuse_options


class WeightDecay(ge.Regularizer):
    """θ ← θ − lr·λ·θ, applied to the value after the optimizer step.

    It never touches the gradient, so an adaptive optimizer does not rescale it: with
    ``adam`` this is AdamW, which differs from Adam with an ``l2`` penalty. With plain
    ``sgd`` the two coincide (up to when the decay is applied). ``lr`` is the optimizer's
    current learning rate, so a schedule scales the decay too.

    >>> reg = ge.regularizers.create("weight_decay", strength=0.01)
    """

    name = "weight_decay"
    kind = "decay"

    def __init__(self, strength: float = 1e-4, **options):
        refuse_options("regularizer 'weight_decay'", options, "only strength")
        super().__init__(check_number("regularizer 'weight_decay'", "strength", strength))

    def apply(self, xp, value, lr: float):
        return value * (1.0 - float(lr) * self.strength)
