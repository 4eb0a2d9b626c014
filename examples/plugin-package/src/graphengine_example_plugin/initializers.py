"""The ``orthogonal`` initializer."""

from __future__ import annotations

import math

import numpy as np

import graphengine as ge


class InitializerError(ge.GraphEngineError, ValueError):
    """The orthogonal initializer got a shape, dtype or seed it cannot use."""


class Orthogonal:
    """Orthogonal weights (Saxe et al. 2014), drawn uniformly from the orthogonal matrices.

    A weight of shape ``(fan_in, fan_out)`` (graphengine computes ``x @ W``) gets
    orthonormal columns when ``fan_in >= fan_out`` and orthonormal rows otherwise, times
    ``gain``. More than two axes: the leading ones are flattened into the rows.

    >>> W = g.param("W", ge.init.orthogonal((64, 32), seed=0))

    Every initializer is called as ``init(shape, *, dtype="float32", seed=None, rng=None,
    **options)``: ``seed`` gives a fixed array, ``rng`` (a ``numpy.random.Generator``) draws
    from your own generator; give one of them, not both.
    """

    name = "orthogonal"

    def __call__(self, shape, *, dtype="float32", seed=None, rng=None, gain=1.0):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if len(shape) < 2 or any(not isinstance(d, int) or d < 1 for d in shape):
            raise InitializerError(
                f"initializer 'orthogonal': shape must have at least two positive dimensions, got {shape}; "
                "for example ge.init.orthogonal((64, 32))"
            )
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ge.DtypeError(f"initializer 'orthogonal' needs a floating dtype, got {dtype}; use 'float32' or 'float64'")
        if seed is not None and rng is not None:
            raise InitializerError("initializer 'orthogonal' got both seed= and rng=; pass one of them")
        generator = rng if rng is not None else np.random.default_rng(seed)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(generator.standard_normal((max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))  # sign fix: makes the distribution uniform (Haar)
        if rows < cols:
            q = q.T
        return (float(gain) * q).reshape(shape).astype(dtype)

    def __repr__(self) -> str:
        return "<Initializer orthogonal(gain=1.0)>"
