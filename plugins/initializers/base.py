"""The initializer contract, fan-in/fan-out, and the shared argument checks.

An initializer is a registered object with a ``name`` that is called with a shape::

    W = g.param("W", ge.init.he_normal((784, 128), seed=0))
    b = g.param("b", ge.init.zeros((128,)))

Call signature (every initializer)::

    init(shape, *, dtype="float32", seed=None, rng=None, **options) -> numpy array

* ``seed``: the same seed gives the same array (``np.random.default_rng(seed)``);
* ``rng``: a ``numpy.random.Generator`` to draw from (for a reproducible sequence of
  initializations from one seed); give ``seed`` or ``rng``, not both;
* neither: a fresh, unseeded generator.

Constant fills (zeros, ones, constant) accept ``seed`` and ``rng`` and ignore them.

Random values are drawn in float64 and then cast to ``dtype``, so one seed gives the
same numbers (up to rounding) in every floating dtype. The result is a NumPy array;
``g.param`` moves it to the graph's backend. On the CuPy backend that is one host draw and
one host-to-device copy per param, at creation (and at ``g.to``), never per run; drawing
on the host keeps one seed giving the same initial weights on NumPy and CuPy.
"""

from __future__ import annotations

import difflib
import math
import operator

import numpy as np

import graphengine as ge


class InitializerError(ge.GraphEngineError, ValueError):
    """An initializer got a bad shape, option value, or seed/rng combination."""


class InitializerOptionError(ge.GraphEngineError, TypeError):
    """An initializer got an option it does not take."""


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    """Fan-in and fan-out of a weight of ``shape``.

    graphengine computes ``x @ W``, so a 2-D weight has shape ``(fan_in, fan_out)``.
    A weight of more than two axes follows the same rule on its last two axes, with the
    leading axes as the receptive field (a convolution kernel ``(kh, kw, in, out)``):
    ``fan_in = in * kh * kw`` and ``fan_out = out * kh * kw``. A 1-D shape ``(n,)``
    (a bias) has ``fan_in = fan_out = n``; a 0-d shape has 1 and 1.

    >>> fan_in_and_fan_out((784, 128))
    (784, 128)
    >>> fan_in_and_fan_out((3, 3, 16, 32))
    (144, 288)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def check_shape(shape, name: str) -> tuple:
    """``shape`` (an int or a sequence of ints >= 0) as a tuple, or a clear error."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise InitializerError(
            f"initializer {name!r}: shape must be an int or a tuple of ints, got {shape!r}; "
            f"for example ge.init.{name}((3, 4))"
        ) from None
    if any(d < 0 for d in dims):
        raise InitializerError(f"initializer {name!r}: shape {dims} has a negative dimension")
    return dims


def check_dtype(dtype, name: str, *, floating: bool) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ge.DtypeError(f"initializer {name!r}: {dtype!r} is not a dtype ({exc})") from None
    if floating and dt.kind != "f":
        raise ge.DtypeError(
            f"initializer {name!r} draws random real numbers and needs a floating dtype, got {dt}; "
            "use dtype='float32' or 'float64'"
        )
    if dt.kind not in "biuf":
        raise ge.DtypeError(f"initializer {name!r}: dtype {dt} is not numeric")
    return dt


def make_generator(seed, rng, name: str) -> np.random.Generator:
    """The generator to draw from: ``rng`` if given, else ``default_rng(seed)``."""
    if rng is not None:
        if seed is not None:
            raise InitializerError(
                f"initializer {name!r} got both seed={seed!r} and rng=; pass one of them "
                "(seed for a fixed array, rng to draw from your own generator)"
            )
        if not isinstance(rng, np.random.Generator):
            raise InitializerError(
                f"initializer {name!r}: rng must be a numpy.random.Generator "
                f"(np.random.default_rng(seed)), got {type(rng).__name__}"
            )
        return rng
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InitializerError(f"initializer {name!r}: bad seed {seed!r} ({exc}); use a non-negative int") from None


class Initializer:
    """Base class of the built-in initializers.

    A subclass sets ``name``, ``options`` (every option it takes, with its default),
    ``random`` (False for constant fills) and writes ``sample(shape, rng, **options)``
    returning a float64 NumPy array (or anything ``np.asarray`` takes) of ``shape``.
    ``check(options)`` may refuse bad option values.
    """

    name = ""
    options: dict = {}
    random = True

    def __call__(self, shape, *, dtype="float32", seed=None, rng=None, **options):
        shape = check_shape(shape, self.name)
        dt = check_dtype(dtype, self.name, floating=self.random)
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(self.options), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InitializerOptionError(
                f"initializer {self.name!r} got unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; it takes: {', '.join(sorted(self.options)) or 'no options'} "
                f"(plus dtype, seed, rng).{hint}"
            )
        opts = {**self.options, **options}
        self.check(shape, opts)
        generator = make_generator(seed, rng, self.name) if self.random else None
        values = np.asarray(self.sample(shape, generator, **opts))
        return values.astype(dt, copy=False)

    def check(self, shape, options) -> None:
        """Refuse bad option values (raise InitializerError)."""

    def sample(self, shape, rng, **options):  # pragma: no cover - abstract
        raise NotImplementedError(f"initializer {self.name!r} has no sample()")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<Initializer {self.name}({opts})>"


def require_positive(name: str, option: str, value, *, allow_zero=False) -> None:
    try:
        ok = float(value) >= 0 if allow_zero else float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok or not math.isfinite(float(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise InitializerError(f"initializer {name!r}: {option} must be a finite number {bound}, got {value!r}")
