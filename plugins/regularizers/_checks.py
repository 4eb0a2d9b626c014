"""Argument checks shared by the built-in regularizers."""

from __future__ import annotations

import math

import graphengine as ge


class RegularizerError(ge.GraphEngineError, ValueError):
    """A regularizer (or a regularization op) got a bad argument."""


class RegularizerOptionError(ge.GraphEngineError, TypeError):
    """A regularizer got an option it does not take."""


def check_number(owner: str, key: str, value, *, low=0.0, low_inclusive=True, high=None, high_inclusive=False):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RegularizerError(f"{owner}: {key} must be a number, got {value!r}") from None
    ok = math.isfinite(x) and (x >= low if low_inclusive else x > low)
    if ok and high is not None:
        ok = x <= high if high_inclusive else x < high
    if not ok:
        lo = f"{'[' if low_inclusive else '('}{low}"
        hi = "inf)" if high is None else f"{high}{']' if high_inclusive else ')'}"
        raise RegularizerError(f"{owner}: {key}={value!r} is out of range; it must lie in {lo}, {hi}")
    return x


def refuse_options(owner: str, options: dict, takes: str) -> None:
    if options:
        raise RegularizerOptionError(
            f"{owner} got unknown option{'s' if len(options) > 1 else ''} {', '.join(sorted(options))}; "
            f"it takes {takes}"
        )
