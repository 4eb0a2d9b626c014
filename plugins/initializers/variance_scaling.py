"""Variance-scaling initializers: Xavier/Glorot (2010) and He/Kaiming (2015).

They pick the spread of the random weights from the layer's fan-in and fan-out (see
:func:`~graphengine.plugins.initializers.fan_in_and_fan_out`: a weight ``(in, out)`` used
as ``x @ W``), so that activations and gradients keep their variance from layer to layer:

==================  ==============================================  =====================
initializer         distribution                                    for
==================  ==============================================  =====================
``xavier_normal``   N(0, std²), std = gain·√(2 / (fan_in + fan_out))  tanh, sigmoid
``xavier_uniform``  U(-a, a),   a = gain·√(6 / (fan_in + fan_out))
``he_normal``       N(0, std²), std = √(2 / fan)                    ReLU
``he_uniform``      U(-a, a),   a = √(6 / fan)
==================  ==============================================  =====================

``fan`` is ``fan_in`` by default (``mode="fan_in"``, keeps the forward variance) or
``fan_out`` (``mode="fan_out"``, keeps the backward variance). ``glorot_*`` and
``kaiming_*`` are the same initializers under their other names. The normal variants are
plain (not truncated) Gaussians.
"""

from __future__ import annotations

import math

from .base import Initializer, InitializerError, fan_in_and_fan_out, require_positive


def _fan(name, shape, mode):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise InitializerError(f"initializer {name!r}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise InitializerError(
            f"initializer {name!r}: shape {shape} has {mode} 0, so the scale √(2/{mode}) is undefined"
        )
    return fan


def _xavier_fans(name, shape):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if fan_in + fan_out == 0:
        raise InitializerError(f"initializer {name!r}: shape {shape} has fan_in + fan_out = 0")
    return fan_in + fan_out


class XavierNormal(Initializer):
    """Glorot & Bengio (2010), normal: std = gain·√(2 / (fan_in + fan_out))."""

    name = "xavier_normal"
    options = {"gain": 1.0}

    def check(self, shape, options):
        require_positive(self.name, "gain", options["gain"])

    def sample(self, shape, rng, gain):
        std = float(gain) * math.sqrt(2.0 / _xavier_fans(self.name, shape))
        return rng.normal(0.0, std, size=shape)


class XavierUniform(Initializer):
    """Glorot & Bengio (2010), uniform on ±gain·√(6 / (fan_in + fan_out))."""

    name = "xavier_uniform"
    options = {"gain": 1.0}

    def check(self, shape, options):
        require_positive(self.name, "gain", options["gain"])

    def sample(self, shape, rng, gain):
        limit = float(gain) * math.sqrt(6.0 / _xavier_fans(self.name, shape))
        return rng.uniform(-limit, limit, size=shape)


class HeNormal(Initializer):
    """He et al. (2015), normal: std = √(2 / fan), fan = fan_in (or fan_out with mode=)."""

    name = "he_normal"
    options = {"mode": "fan_in"}

    def sample(self, shape, rng, mode):
        std = math.sqrt(2.0 / _fan(self.name, shape, mode))
        return rng.normal(0.0, std, size=shape)


class HeUniform(Initializer):
    """He et al. (2015), uniform on ±√(6 / fan), fan = fan_in (or fan_out with mode=)."""

    name = "he_uniform"
    options = {"mode": "fan_in"}

    def sample(self, shape, rng, mode):
        limit = math.sqrt(6.0 / _fan(self.name, shape, mode))
        return rng.uniform(-limit, limit, size=shape)


class GlorotNormal(XavierNormal):
    """Same as ``xavier_normal``."""

    name = "glorot_normal"


class GlorotUniform(XavierUniform):
    """Same as ``xavier_uniform``."""

    name = "glorot_uniform"


class KaimingNormal(HeNormal):
    """Same as ``he_normal``."""

    name = "kaiming_normal"


class KaimingUniform(HeUniform):
    """Same as ``he_uniform``."""

    name = "kaiming_uniform"
