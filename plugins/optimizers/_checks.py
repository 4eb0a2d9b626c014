"""Hyper-parameter checks shared by the built-in optimizers."""

from __future__ import annotations

import math

import graphengine as ge


class OptimizerConfigError(ge.GraphEngineError, ValueError):
    """An optimizer hyper-parameter has a value outside its range."""


def check_hyper(opt, rules: dict) -> None:
    """``rules``: hyper name -> (low, high, low_inclusive, high_inclusive); None is unbounded."""
    for key, (low, high, low_in, high_in) in rules.items():
        value = opt.hyper[key]
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise OptimizerConfigError(
                f"optimizer {opt.name!r}: {key} must be a number, got {value!r}"
            ) from None
        ok = math.isfinite(x)
        if ok and low is not None:
            ok = x >= low if low_in else x > low
        if ok and high is not None:
            ok = x <= high if high_in else x < high
        if not ok:
            left = "unbounded" if low is None else f"{'[' if low_in else '('}{low}"
            right = "" if high is None else f"{high}{']' if high_in else ')'}"
            interval = f"{left}, {right or 'inf)'}" if low is not None else f"(-inf, {right}"
            raise OptimizerConfigError(
                f"optimizer {opt.name!r}: {key}={value!r} is out of range; it must lie in {interval}"
            )


LR = {"lr": (0.0, None, True, False)}
EPS = {"eps": (0.0, None, False, False)}
DECAY_RATE = (0.0, 1.0, True, False)  # momentum, rho, beta: [0, 1)
