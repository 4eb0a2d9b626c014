"""Constant fills and small random values: zeros, ones, constant, normal, uniform.

Biases usually start at zero; weights at small random numbers centred on zero, which
breaks the symmetry between units: with equal weights every unit of a layer computes
the same value and receives the same gradient, so they never differ.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Initializer, InitializerError, require_positive


class Zeros(Initializer):
    """All zeros. ``ge.init.zeros((1,))`` -> ``array([0.], dtype=float32)``."""

    name = "zeros"
    random = False

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones (a batch-norm scale, say)."""

    name = "ones"
    random = False

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every entry equal to ``value``: ``ge.init.constant((3,), value=0.1)``."""

    name = "constant"
    random = False
    options = {"value": 0.0}

    def check(self, shape, options):
        try:
            float(options["value"])
        except (TypeError, ValueError):
            raise InitializerError(
                f"initializer 'constant': value must be a number, got {options['value']!r}"
            ) from None

    def sample(self, shape, rng, value):
        return np.full(shape, float(value))


class Normal(Initializer):
    """Gaussian N(mean, std²); small by default (std 0.01).

    >>> W = ge.init.normal((3, 1), std=0.1, seed=0)
    """

    name = "normal"
    options = {"mean": 0.0, "std": 0.01}

    def check(self, shape, options):
        require_positive(self.name, "std", options["std"], allow_zero=True)
        if not math.isfinite(float(options["mean"])):
            raise InitializerError(f"initializer 'normal': mean must be finite, got {options['mean']!r}")

    def sample(self, shape, rng, mean, std):
        return rng.normal(float(mean), float(std), size=shape)


class Uniform(Initializer):
    """Uniform on [low, high); small by default ([-0.05, 0.05))."""

    name = "uniform"
    options = {"low": -0.05, "high": 0.05}

    def check(self, shape, options):
        low, high = options["low"], options["high"]
        try:
            ok = math.isfinite(float(low)) and math.isfinite(float(high)) and float(low) <= float(high)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InitializerError(
                f"initializer 'uniform' needs finite numbers low <= high, got low={low!r}, high={high!r}"
            )

    def sample(self, shape, rng, low, high):
        return rng.uniform(float(low), float(high), size=shape)
