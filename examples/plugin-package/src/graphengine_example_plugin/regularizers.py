"""The ``elastic_net`` regularizer."""

from __future__ import annotations

import graphengine as ge


class ElasticNetConfigError(ge.GraphEngineError, ValueError):
    """An elastic-net option is out of range."""


class ElasticNet(ge.Regularizer):
    """Elastic net (Zou & Hastie 2005), a penalty that mixes L1 and L2::

        penalty(θ)  = l1_ratio * ||θ||₁ + (1 - l1_ratio) / 2 * ||θ||²
        gradient(θ) = strength * (l1_ratio * sign(θ) + (1 - l1_ratio) * θ)

    Kind ``"penalty"``: ``strength * penalty`` is added to the loss and its gradient to the
    param's gradient before the optimizer step. ``l1_ratio=1`` is L1, ``0`` is L2.

    >>> reg = ge.regularizers.create("elastic_net", strength=1e-3, l1_ratio=0.5)
    """

    name = "elastic_net"
    kind = "penalty"

    def __init__(self, strength: float = 1e-4, *, l1_ratio: float = 0.5):
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ElasticNetConfigError(f"regularizer 'elastic_net': l1_ratio={l1_ratio!r} must lie in [0, 1]")
        super().__init__(strength=strength, l1_ratio=l1_ratio)
        self.l1_ratio = float(l1_ratio)

    def penalty(self, xp, value):
        r = self.l1_ratio
        return xp.asarray(r * xp.abs(value).sum() + (1 - r) / 2 * (value * value).sum())

    def gradient(self, xp, value):
        r = self.l1_ratio
        return self.strength * (r * xp.sign(value) + (1 - r) * value)
