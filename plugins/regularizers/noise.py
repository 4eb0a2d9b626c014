"""Stochastic regularization ops that layers insert: dropout and input Gaussian noise.

Both are identity when ``training=False`` (evaluation). When training they draw random
numbers **on the array's own backend**, through ``xp.random`` (NumPy's or CuPy's
``default_rng``): on the CuPy backend the mask or noise is generated on the GPU, with no
host draw and no host-to-device copy per forward. Randomness works the same way in both:

* ``seed=<int>``: the draw is a pure function of (seed, shape, backend): the same mask or
  noise at every call. This is what makes the op checkable (finite differences call
  forward many times) and a run reproducible; give each dropout node its own seed, and
  change it (rebuild the node) to get another mask. **NumPy and CuPy have different
  generators** (NumPy: PCG64; CuPy: cuRAND XORWOW), so one seed gives one fixed mask on
  NumPy and another fixed mask on CuPy; compare the two backends by properties (the
  kept fraction, the gradient equals the mask), not element by element.
  Inside a training step (``fit`` runs step ``k`` inside
  ``ge.training.noise_step(k)``) the draw is a pure function of (seed, k, shape,
  backend) instead: another mask at every step, the same one for the same step, so a
  seeded training run is reproducible bit for bit (see
  :mod:`graphengine.training.noise_step`). ``ge.nn.Dropout`` and ``ge.nn.GaussianNoise``
  give their node a seed derived from the model's seed (or ``fit(seed=)``) and the
  layer's path.
* ``seed=None`` (default): a fresh draw at every forward call, from a generator the op
  instance owns, one per backend (and per GPU), seeded from OS entropy.

Dtypes: dropout draws its uniforms in float32 on every backend (so one seed gives the
same mask for float32 and float64 data) and builds the scaled mask in the data's dtype;
Gaussian noise draws its normals in the data's floating dtype (float32 data: float32
normals; float16 data: float32 normals, cast), so float32 data never meets a float64
random array. Integer data gives a float64 output, as before.
"""

from __future__ import annotations

import weakref

import numpy as np

import graphengine as ge

from ._checks import RegularizerError, check_number

#: dtype of dropout's uniform draws, on every backend and for every data dtype.
UNIFORM_DTYPE = np.dtype("float32")


def check_seed(owner: str, seed):
    """``seed`` as None or a non-negative int, or a clear error naming ``owner``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RegularizerError(
            f"{owner}: seed={seed!r} must be None (a fresh draw at every run) or a non-negative int "
            "(the same draw at every run)"
        )
    return int(seed)


def _step_seed(seed):
    """``seed`` mixed with the training step running (``ge.training.noise_step``), or
    ``seed`` itself outside any step."""
    from graphengine.training.noise_step import current_noise_step, step_seed

    return step_seed(seed, current_noise_step())


def _seeded_generator(xp, seed):
    """``xp.random.default_rng(seed)``: NumPy's Generator or CuPy's (on the current GPU)."""
    try:
        return xp.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise RegularizerError(
            f"cannot seed the {getattr(xp, '__name__', xp)!r} random generator with seed={seed!r} ({exc}); "
            "give the op a non-negative int seed, or seed=None for a fresh draw at every run"
        ) from exc


def keep_mask(shape, p: float, seed, xp=np):
    """The dropout keep-mask for ``seed`` on the backend ``xp`` (numpy or cupy), a bool
    array of ``xp``: ``xp.random.default_rng(seed).random(shape, dtype=float32) >= p``.

    The same seed gives the same mask on one backend; NumPy and CuPy masks differ.
    """
    return _seeded_generator(xp, seed).random(tuple(shape), dtype=UNIFORM_DTYPE) >= p


def noise_sample(shape, std: float, seed, dtype="float64", xp=np):
    """The Gaussian noise ``gaussian_noise(x, std=std, seed=seed)`` adds to data of
    ``dtype`` on the backend ``xp``: ``std * xp.random.default_rng(seed).standard_normal(shape)``,
    drawn in ``dtype`` (float32 for float32 or float16 data) and returned in ``dtype``."""
    dtype = np.dtype(dtype)
    draw = _draw_dtype(dtype)
    noise = _seeded_generator(xp, seed).standard_normal(tuple(shape), dtype=draw)
    return _scaled(noise, std, dtype)


def _out_dtype(x_dtype):
    return x_dtype if x_dtype.kind == "f" else np.dtype("float64")


def _draw_dtype(dtype):
    """Random generators draw float32 or float64 only: float16 data draws float32."""
    return np.dtype("float64") if np.dtype(dtype).itemsize > 4 else np.dtype("float32")


def _scaled(values, factor, dtype):
    """``values * factor`` in ``dtype``, computed in place (no float64 temporary)."""
    values = values.astype(dtype, copy=False)
    values *= dtype.type(factor)
    return values


class _Generators:
    """The unseeded generators of one op instance: one per array module, and for CuPy one
    per GPU (a CuPy generator's state lives on the device that was current when it was
    made)."""

    def __init__(self):
        self._by_key = {}

    def get(self, xp):
        key = (xp, _device_id(xp))
        rng = self._by_key.get(key)
        if rng is None:
            rng = self._by_key[key] = _seeded_generator(xp, None)
        return rng


def _device_id(xp):
    if getattr(xp, "__name__", "") != "cupy":
        return None
    return xp.cuda.runtime.getDevice()


class Dropout(ge.Op):
    """Inverted dropout (Srivastava et al. 2014): each entry is kept with probability 1 − p.

    training:  y = x · m / (1 − p),  m ~ Bernoulli(1 − p) per entry
    backward:  dL/dx = dL/dy · m / (1 − p)
    evaluation (``training=False``) or p = 0: y = x

    Kept entries are scaled up by 1/(1 − p) while training, so the expected activation
    is the same as at evaluation and nothing needs rescaling at test time (the original
    formulation, Srivastava et al. 2014, scales the weights by the keep probability at test
    time instead; the two are equivalent in expectation).

    The mask is drawn on the data's backend (``xp.random``); see the module docstring for
    seeds and backends. Backward reuses the forward's mask: it is kept beside the output
    (released with it) and, if missing, regenerated from ``seed``. Only when neither is
    possible (``seed=None`` and an output array that this op instance did not produce) is
    it read back from the output as ``output != 0``, which treats a kept entry whose input
    was exactly 0 as dropped; such an entry gets no gradient.

    >>> h = ge.ops.dropout(ge.ops.relu(x @ W1 + b1), p=0.5, seed=1)
    """

    name = "dropout"
    saves = ("output",)

    def __init__(self):
        self._generators = _Generators()
        self._masks = {}  # id(output) -> scaled mask, dropped when the output is freed

    def shape(self, x, *, p: float = 0.5, training: bool = True, seed: int | None = None):
        check_number("op 'dropout'", "p", p, low=0.0, high=1.0)
        check_seed("op 'dropout'", seed)
        return x

    def dtype(self, x, **attrs):
        return None if x is None else _out_dtype(np.dtype(x))

    def _scaled_mask(self, xp, shape, dtype, p, seed):
        """The keep-mask scaled by 1/(1 − p), an array of ``xp`` in ``dtype``."""
        if seed is None:
            keep = self._generators.get(xp).random(tuple(shape), dtype=UNIFORM_DTYPE) >= p
        else:
            keep = keep_mask(shape, p, _step_seed(seed), xp)
        return _scaled(keep, 1.0 / (1.0 - p), np.dtype(dtype))

    def forward(self, xp, x, *, p: float = 0.5, training: bool = True, seed: int | None = None):
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

    def backward(self, xp, grad, inputs, output, *, p: float = 0.5, training: bool = True,
                 seed: int | None = None):
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
    std = 0: y = x. The noise is drawn on the data's backend (``xp.random``), in the
    data's dtype; see the module docstring for seeds and backends.

    >>> noisy = ge.ops.gaussian_noise(x, std=0.1, seed=3)
    """

    name = "gaussian_noise"
    saves = ()

    def __init__(self):
        self._generators = _Generators()

    def shape(self, x, *, std: float = 0.1, training: bool = True, seed: int | None = None):
        check_number("op 'gaussian_noise'", "std", std)
        check_seed("op 'gaussian_noise'", seed)
        return x

    def dtype(self, x, **attrs):
        return None if x is None else _out_dtype(np.dtype(x))

    def forward(self, xp, x, *, std: float = 0.1, training: bool = True, seed: int | None = None):
        dtype = _out_dtype(x.dtype)
        if not training or std == 0:
            return x.astype(dtype, copy=True)
        std = check_number("op 'gaussian_noise'", "std", std)
        if seed is None:
            noise = self._generators.get(xp).standard_normal(tuple(x.shape), dtype=_draw_dtype(dtype))
            noise = _scaled(noise, std, dtype)
        else:
            noise = noise_sample(x.shape, std, _step_seed(seed), dtype, xp)
        return x + noise

    def backward(self, xp, grad, inputs, output, *, std: float = 0.1, training: bool = True,
                 seed: int | None = None):
        return (grad,)
