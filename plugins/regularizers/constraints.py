"""Constraints (kind ``"constraint"``): projections of a value after the optimizer step."""

from __future__ import annotations

import graphengine as ge

from ._checks import RegularizerError, RegularizerOptionError, check_number


class MaxNorm(ge.Regularizer):
    """Max-norm (Srivastava et al. 2014): rescale each unit's weight vector to norm ≤ c.

    graphengine computes ``x @ W`` with ``W`` of shape ``(in, out)``, so the weights coming
    into output unit j are the column ``W[:, j]``. By default (``axis=None``) the norm is
    taken over every axis but the last, one norm per output unit: columns of a 2-D
    weight, ``(kh, kw, in)`` slices of a kernel ``(kh, kw, in, out)``. A 1-D or 0-d param
    (a bias) is constrained as a whole vector. Pass ``axis`` (an int or a tuple) to
    choose other axes, e.g. ``axis=1`` for rows.

    Vectors with norm ≤ c are left exactly as they are; longer ones are scaled by c/‖w‖.

    >>> reg = ge.regularizers.create("max_norm", max_norm=3.0)
    """

    name = "max_norm"
    kind = "constraint"

    def __init__(self, max_norm: float = 3.0, *, axis=None, strength=None):
        if strength is not None:
            raise RegularizerOptionError(
                "regularizer 'max_norm' has no strength; give the bound as max_norm=c (and optionally axis=)"
            )
        if axis is not None and not isinstance(axis, int):
            try:
                if isinstance(axis, str):
                    raise TypeError(axis)
                axis = tuple(int(a) for a in axis)
            except (TypeError, ValueError):
                raise RegularizerError(
                    f"regularizer 'max_norm': axis must be None, an int or a tuple, got {axis!r}"
                ) from None
        self.max_norm = check_number("regularizer 'max_norm'", "max_norm", max_norm, low=0.0, low_inclusive=False)
        self.axis = axis
        super().__init__(strength=self.max_norm, axis=axis)

    def axes(self, ndim: int) -> tuple:
        """The axes one norm is taken over, for a value of ``ndim`` dimensions."""
        if self.axis is None:
            return tuple(range(ndim - 1)) if ndim >= 2 else tuple(range(ndim))
        return ge.normalize_axis(self.axis, ndim)

    def apply(self, xp, value, lr: float = 0.0):
        axes = self.axes(value.ndim)
        norms = xp.sqrt((value * value).sum(axis=axes, keepdims=True)) if axes else xp.abs(value)
        c = self.max_norm
        return value * (c / xp.maximum(norms, c))

    def __repr__(self) -> str:
        return f"<Regularizer max_norm (constraint), max_norm={self.max_norm}, axis={self.axis!r}>"
