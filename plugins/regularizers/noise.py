"""Stochastic regularization ops that layers insert: dropout and input Gaussian noise.

Both are identity when ``training=False`` (evaluation). When training they draw random
numbers, and randomness is handled the same way in both:

* ``seed=<int>``: the random draw is a pure function of (seed, shape): the same mask or
  noise at every call, on NumPy and CuPy alike. This is what makes the op checkable
  (finite differences call forward many times) and a run reproducible; give each dropout
  node its own seed, and change it (rebuild the node) to get another mask.
* ``seed=None`` (default): a fresh draw at every forward call, from a generator the op
  instance owns.

The draws are made with NumPy on the host (``np.random.default_rng(seed)``) and copied to
the device on the CuPy backend, so one seed gives the same mask on both backends.
"""

from __future__ import annotations

import weakref

import numpy as np

import graphengine as ge

from ._checks import check_number


def keep_mask(shape, p: float, seed) -> np.ndarray:
    """The dropout keep-mask for ``seed``: ``default_rng(seed).random(shape) >= p``."""
    return np.random.default_rng(seed).random(shape) >= p


def _out_dtype(x_dtype):
    return x_dtype if x_dtype.kind == "f" else np.dtype("float64")


def _to_backend(xp, array):
    return array if xp is np else xp.asarray(array)


class Dropout(ge.Op):
    """Inverted dropout (Srivastava et al. 2014): each entry is kept with probability 1 − p.

    training:  y = x · m / (1 − p),  m ~ Bernoulli(1 − p) per entry
    backward:  dL/dx = dL/dy · m / (1 − p)
    evaluation (``training=False``) or p = 0: y = x

    Kept entries are scaled up by 1/(1 − p) while training, so the expected activation
    is the same as at evaluation and nothing needs rescaling at test time (deck 001 scales
    by p at test time instead; the two are equivalent in expectation).

    Backward reuses the forward's mask: it is kept beside the output (released with it)
    and, if missing, regenerated from ``seed``. Only when neither is possible (``seed=None``
    and an output array that this op instance did not produce) is it read back from the
    output as ``output != 0``, which treats a kept entry whose input was exactly 0 as
    dropped; such an entry gets no gradient.

    >>> h = ge.ops.dropout(ge.ops.relu(x @ W1 + b1), p=0.5, seed=1)
    """

    name = "dropout"
    saves = ("output",)

    def __init__(self):
        self._rng = None
        self._masks = {}  # id(output) -> scaled mask, dropped when the output is freed

    def shape(self, x, *, p=0.5, training=True, seed=None):
        check_number("op 'dropout'", "p", p, low=0.0, high=1.0)
        return x

    def dtype(self, x, **attrs):
        return None if x is None else _out_dtype(np.dtype(x))

    def _scaled_mask(self, xp, shape, dtype, p, seed):
        if seed is None:
            if self._rng is None:
                self._rng = np.random.default_rng()
            keep = self._rng.random(shape) >= p
        else:
            keep = keep_mask(shape, p, seed)
        return _to_backend(xp, (keep * (1.0 / (1.0 - p))).astype(dtype))

    def forward(self, xp, x, *, p=0.5, training=True, seed=None):
        dtype = _out_dtype(x.dtype)
        if not training or p == 0:
            return x.astype(dtype, copy=True)
        p = check_number("op 'dropout'", "p", p, low=0.0, high=1.0)
        mask = self._scaled_mask(xp, x.shape, dtype, p, seed)
        out = x * mask
        key = id(out)
        self._masks[key] = mask
        try:
            weakref.finalize(out, self._masks.pop, key, None)
        except TypeError:  # an array type without weak references: keep nothing, recompute in backward
            del self._masks[key]
        return out

    def backward(self, xp, grad, inputs, output, *, p=0.5, training=True, seed=None):
        if not training or p == 0:
            return (grad,)
        mask = self._masks.get(id(output)) if output is not None else None
        if mask is None:
            if seed is not None:
                mask = self._scaled_mask(xp, grad.shape, grad.dtype, float(p), seed)
            else:
                mask = (output != 0) * grad.dtype.type(1.0 / (1.0 - float(p)))
        return (grad * mask.astype(grad.dtype, copy=False),)


class GaussianNoise(ge.Op):
    """Additive input noise: y = x + ε, ε ~ N(0, std²) per entry, while training.

    The noise does not depend on x, so dL/dx = dL/dy. Evaluation (``training=False``) or
    std = 0: y = x.

    >>> noisy = ge.ops.gaussian_noise(x, std=0.1, seed=3)
    """

    name = "gaussian_noise"
    saves = ()

    def __init__(self):
        self._rng = None

    def shape(self, x, *, std=0.1, training=True, seed=None):
        check_number("op 'gaussian_noise'", "std", std)
        return x

    def dtype(self, x, **attrs):
        return None if x is None else _out_dtype(np.dtype(x))

    def forward(self, xp, x, *, std=0.1, training=True, seed=None):
        dtype = _out_dtype(x.dtype)
        if not training or std == 0:
            return x.astype(dtype, copy=True)
        std = check_number("op 'gaussian_noise'", "std", std)
        if seed is None:
            if self._rng is None:
                self._rng = np.random.default_rng()
            noise = self._rng.standard_normal(x.shape)
        else:
            noise = np.random.default_rng(seed).standard_normal(x.shape)
        return x + _to_backend(xp, (noise * std).astype(dtype))

    def backward(self, xp, grad, inputs, output, *, std=0.1, training=True, seed=None):
        return (grad,)
