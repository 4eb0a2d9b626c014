"""Penalty regularizers (kind ``"penalty"``): a term λ·Ω(θ) added to the loss.

Following ``ge.Regularizer``: ``penalty(xp, value)`` is Ω(θ) without the strength
(the loss gets ``strength * penalty``), and ``gradient(xp, value)`` is the gradient of
the whole term, λ·∇Ω(θ), which is added to the parameter's gradient before the step.
With an adaptive optimizer (Adam) that gradient is rescaled like any other; for decay
that is not, use the ``weight_decay`` regularizer (kind ``"decay"``) or ``adamw``.
"""

from __future__ import annotations

import graphengine as ge

from ._checks import check_number, refuse_options


class L2(ge.Regularizer):
    """L2 (weight decay; a Gaussian prior on θ): λ/2 · ‖θ‖², gradient λ·θ.

    One plain SGD step on loss + λ/2‖θ‖² gives θ ← (1 − ηλ)·θ − η·∇loss: the
    weights shrink by the factor (1 − ηλ) at every step.

    >>> reg = ge.regularizers.create("l2", strength=1e-4)
    """

    name = "l2"
    kind = "penalty"

    def __init__(self, strength: float = 1e-4, **options):
        refuse_options("regularizer 'l2'", options, "only strength")
        super().__init__(check_number("regularizer 'l2'", "strength", strength))

    def penalty(self, xp, value):
        return xp.asarray(0.5 * (value * value).sum())

    def gradient(self, xp, value):
        return self.strength * value


class L1(ge.Regularizer):
    """L1 (lasso): λ·‖θ‖₁ = λ·Σ|θᵢ|, gradient λ·sign(θ) (0 where θ = 0, a subgradient).

    It pushes weights to exactly zero less gently than L2: sparse weights.
    """

    name = "l1"
    kind = "penalty"

    def __init__(self, strength: float = 1e-4, **options):
        refuse_options("regularizer 'l1'", options, "only strength")
        super().__init__(check_number("regularizer 'l1'", "strength", strength))

    def penalty(self, xp, value):
        return xp.asarray(xp.abs(value).sum())

    def gradient(self, xp, value):
        return self.strength * xp.sign(value)
