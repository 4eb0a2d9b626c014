"""``check_regularizer``: the conformance checks every regularizer (built-in or plugin) should pass.

Each check is a plain function named after the property it checks;
:func:`regularizer_checks` lists the ones that apply to a regularizer's ``kind`` (for
``pytest.mark.parametrize`` ids) and :func:`check_regularizer` runs them::

    from graphengine.testing import check_regularizer
    check_regularizer(ElasticNet, strength=0.1, options={"l1_ratio": 0.5})

What is checked depends on ``kind`` (see ``ge.Regularizer``):

* ``"penalty"``: ``penalty(xp, value)`` is a finite 0-d value, and ``gradient(xp, value)``
  matches central finite differences of ``strength * penalty`` along random directions,
  in float64;
* ``"decay"``: ``apply(xp, value, lr)`` shrinks the value and does nothing when ``lr`` is 0;
* ``"constraint"``: ``apply`` is a projection (applying it twice is the same as once);
* all kinds: float32 stays float32, inputs are not modified, CuPy agrees with NumPy.

Sample values are drawn away from zero (magnitudes in [0.1, 2]), where penalties like L1
have their kink. The checks run on ``backend`` (``"numpy"`` by default, ``"cupy"``, or a
``Backend`` instance): samples are made on the host and moved to the backend, the
regularizer computes there, and results come back to the host only through the backend's
explicit ``to_numpy``, never through ``np.asarray`` on a device array.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphEngineError
from ..op import describe_value

KINDS = ("penalty", "decay", "constraint")
SHAPES = ((4, 3), (5,), ())


class RegularizerCheckError(GraphEngineError, AssertionError):
    """A regularizer failed one of the conformance checks; the message says which and why."""


# --------------------------------------------------------------------------- helpers

def _resolve(regularizer, strength=0.5, options=None, manager=None):
    """A Regularizer instance from an instance, a class or a registered name."""
    from ..regularizer import Regularizer

    if isinstance(regularizer, str):
        if manager is None:
            from ..plugin_manager import default_manager

            manager = default_manager()
        regularizer = manager.lookup("regularizers", regularizer)
    if isinstance(regularizer, type):
        if not issubclass(regularizer, Regularizer):
            raise RegularizerCheckError(
                f"{regularizer!r} is not a subclass of ge.Regularizer; regularizers are registered as classes: "
                "class ElasticNet(ge.Regularizer): name = 'elastic_net'; kind = 'penalty'; ..."
            )
        # a constraint's bound is its own option (max_norm=...); penalties and decays take strength
        kwargs = dict(options or {}) if regularizer.kind == "constraint" else {"strength": strength, **(options or {})}
        try:
            return regularizer(**kwargs)
        except TypeError as exc:
            raise RegularizerCheckError(
                f"regularizer {regularizer.name!r}: {regularizer.__name__}(**{kwargs}) failed: {exc}. "
                "__init__ must take (strength=..., **options) (a constraint: its own options)."
            ) from exc
    if options:
        raise ValueError("check_regularizer: options= is for a class or a name; this regularizer is already built")
    return regularizer


def _label(reg) -> str:
    return f"regularizer {getattr(reg, 'name', '') or type(reg).__name__!r} ({getattr(reg, 'kind', '?')})"


def samples(dtype="float64", seed=0, shapes=SHAPES):
    """Sample param values of each of ``shapes``, magnitudes in [0.1, 2], random signs."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        magnitude = rng.uniform(0.1, 2.0, shape)
        sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        out.append(np.asarray(magnitude * sign, dtype=dtype))
    return out


def _xp(backend):
    from ..backends import get_backend

    return get_backend(backend).xp


def _host(backend, value):
    """An explicit device-to-host copy (the backend's ``to_numpy``)."""
    from ..backends import get_backend

    return np.asarray(get_backend(backend).to_numpy(value))


def _is_array(xp, value) -> bool:
    # NumPy turns 0-d results into scalars (np.float64); accept those as 0-d arrays.
    return isinstance(value, xp.ndarray) or (xp is np and isinstance(value, np.generic))


def _call(reg, xp, method, value, *args):
    """``reg.<method>(xp, value, *args)``; an exception it raises becomes a check failure
    that says which call, on which backend, and the usual cause on a device backend."""
    from ..backends import xp_name

    try:
        return getattr(reg, method)(xp, value, *args)
    except Exception as exc:
        hint = ""
        if xp is not np:
            hint = (" On a device backend this usually means NumPy was called on the param array "
                    "(np.sum, np.abs, np.asarray, ...): compute with the xp argument instead "
                    "(xp.sum, xp.abs), which is numpy or cupy as the graph's backend is.")
        raise RegularizerCheckError(
            f"{_label(reg)}: {method}(xp, value{', ' + ', '.join(map(repr, args)) if args else ''}) raised "
            f"{type(exc).__name__} on the {xp_name(xp)!r} backend for a value of {describe_value(value)}: {exc}.{hint}"
        ) from exc


def _penalty(reg, xp, value):
    out = _call(reg, xp, "penalty", value)
    if not _is_array(xp, out) or tuple(out.shape) != ():
        raise RegularizerCheckError(
            f"{_label(reg)}: penalty() for a value of {describe_value(value)} returned "
            f"{type(out).__name__} {describe_value(out) if hasattr(out, 'shape') else repr(out)}; it must return "
            "a 0-d array of the backend (e.g. xp.sum(...)), not a Python number"
        )
    return out


def _gradient(reg, xp, value):
    out = _call(reg, xp, "gradient", value)
    if not _is_array(xp, out) or tuple(out.shape) != tuple(value.shape):
        raise RegularizerCheckError(
            f"{_label(reg)}: gradient() for a value of {describe_value(value)} returned "
            f"{type(out).__name__} {describe_value(out) if hasattr(out, 'shape') else repr(out)}; it must return "
            "an array of the value's shape"
        )
    return out


def _apply(reg, xp, value, lr):
    out = _call(reg, xp, "apply", value, lr)
    if not _is_array(xp, out) or tuple(out.shape) != tuple(value.shape):
        raise RegularizerCheckError(
            f"{_label(reg)}: apply(xp, value, lr={lr}) for a value of {describe_value(value)} returned "
            f"{type(out).__name__} {describe_value(out) if hasattr(out, 'shape') else repr(out)}; it must return "
            "the new value, an array of the same shape"
        )
    return out


# --------------------------------------------------------------------------- checks

def check_contract(reg, **_):
    """A ge.Regularizer with an identifier name, a known ``kind`` and a non-zero
    ``strength``, that writes the methods its kind needs."""
    from ..regularizer import Regularizer

    if not isinstance(reg, Regularizer):
        raise RegularizerCheckError(f"{reg!r} is not a ge.Regularizer (instance of a subclass)")
    cls = type(reg)
    if not isinstance(cls.name, str) or not cls.name.isidentifier():
        raise RegularizerCheckError(f"{cls.__name__}.name is {cls.name!r}; it must be a Python identifier (the registry key)")
    if reg.kind not in KINDS:
        raise RegularizerCheckError(
            f"{_label(reg)}: kind must be one of {', '.join(KINDS)} (say whether it adds a penalty to the loss, "
            f"decays the value after the step, or projects it), got {reg.kind!r}"
        )
    needs = ("penalty", "gradient") if reg.kind == "penalty" else ("apply",)
    missing = [m for m in needs if getattr(cls, m) is getattr(Regularizer, m)]
    if missing:
        raise RegularizerCheckError(
            f"{_label(reg)}: a {reg.kind} regularizer must define {' and '.join(missing)}()"
        )
    if reg.kind != "constraint" and (not np.isfinite(reg.strength) or reg.strength == 0):
        raise RegularizerCheckError(
            f"{_label(reg)}: strength is {reg.strength}; the checks need a finite, non-zero strength to mean "
            "anything (pass strength= to check_regularizer)"
        )
    repr(reg)


def check_penalty_is_scalar(reg, backend="numpy", shapes=SHAPES, **_):
    """``penalty`` gives a finite 0-d value in the value's dtype, also for a 0-d param."""
    xp = _xp(backend)
    for dtype in ("float64", "float32"):
        for value in samples(dtype, shapes=shapes):
            out = _penalty(reg, xp, xp.asarray(value))
            if out.dtype != value.dtype:
                raise RegularizerCheckError(
                    f"{_label(reg)}: penalty() of a {describe_value(value)} value is {out.dtype}; keep the value's "
                    "dtype (no silent upcast)"
                )
            number = float(_host(backend, out))
            if not np.isfinite(number):
                raise RegularizerCheckError(f"{_label(reg)}: penalty() of a {describe_value(value)} value is {number}")


def check_penalty_gradient(reg, backend="numpy", eps=1e-6, atol=1e-7, rtol=1e-4, directions=3, shapes=SHAPES, **_):
    """``gradient`` matches central finite differences of ``strength * penalty``, in float64,
    and has the value's shape and dtype (float32 too)."""
    xp = _xp(backend)
    rng = np.random.default_rng(1)
    for value in samples("float64", shapes=shapes):
        v = xp.asarray(value)
        grad = _gradient(reg, xp, v)
        g = _host(backend, grad)
        for _ in range(directions):
            d = rng.standard_normal(value.shape)
            d = d / (np.sqrt(np.sum(d * d)) or 1.0)
            plus = float(_host(backend, _penalty(reg, xp, xp.asarray(value + eps * d))))
            minus = float(_host(backend, _penalty(reg, xp, xp.asarray(value - eps * d))))
            numeric = reg.strength * (plus - minus) / (2 * eps)
            analytic = float(np.sum(g * d))
            if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
                ratio = analytic / numeric if numeric else float("nan")
                hint = ""
                if np.isfinite(ratio) and abs(ratio - 1) > 1e-3 and abs(ratio * reg.strength - 1) < 1e-3:
                    hint = ("\n  The gradient is 1/strength times the finite difference: either gradient() lacks the "
                            "factor strength, or penalty() already includes it. penalty() is without strength; "
                            "gradient() is the gradient of strength * penalty.")
                elif np.isfinite(ratio) and abs(ratio - 1) > 1e-3 and abs(ratio / reg.strength - 1) < 1e-3:
                    hint = ("\n  The gradient is strength times the finite difference: is strength applied twice? "
                            "penalty() is without strength; gradient() is the gradient of strength * penalty.")
                raise RegularizerCheckError(
                    f"{_label(reg)}: gradient() disagrees with finite differences of strength * penalty() for a "
                    f"value of {describe_value(value)}.\n  eps={eps}, atol={atol}, rtol={rtol}, "
                    f"strength={reg.strength}\n  analytic <grad, d> = {analytic!r}\n  numeric  <grad, d> = {numeric!r}\n"
                    f"  value = {value.tolist()}\n  gradient = {g.tolist()}\n  direction = {d.tolist()}" + hint
                )
    for value in samples("float32", shapes=shapes):
        grad = _gradient(reg, xp, xp.asarray(value))
        if grad.dtype != np.float32:
            raise RegularizerCheckError(
                f"{_label(reg)}: gradient() of a float32 value is {grad.dtype}; keep the value's dtype "
                "(cast constants with value.dtype)"
            )


def check_leaves_input_unchanged(reg, backend="numpy", shapes=SHAPES, **_):
    """``penalty`` and ``gradient`` (or ``apply``) do not modify the array they are given
    in place, except that ``apply`` may return that same array updated."""
    xp = _xp(backend)
    for value in samples("float64", shapes=shapes):
        v = xp.asarray(value.copy())
        if reg.kind == "penalty":
            _penalty(reg, xp, v)
            _gradient(reg, xp, v)
            if not np.array_equal(_host(backend, v), value):
                raise RegularizerCheckError(
                    f"{_label(reg)}: penalty() or gradient() modified the param value it was given; compute "
                    "new arrays instead of updating the value in place"
                )


def check_decay_shrinks(reg, backend="numpy", shapes=SHAPES, **_):
    """``apply`` with ``lr > 0`` shrinks every value's norm, keeps its dtype, and with
    ``lr = 0`` leaves the value as it is (decay is scaled by the learning rate)."""
    xp = _xp(backend)
    for dtype in ("float64", "float32"):
        for value in samples(dtype, shapes=shapes):
            for lr in (0.1, 0.01):
                out = _host(backend, _apply(reg, xp, xp.asarray(value.copy()), lr))
                if out.dtype != value.dtype:
                    raise RegularizerCheckError(f"{_label(reg)}: apply() of a {describe_value(value)} value gave {out.dtype}")
                if not np.all(np.isfinite(out)) or np.linalg.norm(out) > np.linalg.norm(value) * (1 + 1e-6):
                    raise RegularizerCheckError(
                        f"{_label(reg)}: apply(xp, value, lr={lr}) did not shrink the value: norm "
                        f"{np.linalg.norm(value):.6g} became {np.linalg.norm(out):.6g} (strength={reg.strength}). "
                        "Decoupled decay is value - lr * strength * value."
                    )
            unchanged = _host(backend, _apply(reg, xp, xp.asarray(value.copy()), 0.0))
            if not np.allclose(unchanged, value, rtol=1e-6, atol=0):
                raise RegularizerCheckError(
                    f"{_label(reg)}: apply(xp, value, lr=0.0) changed the value; decay must be scaled by the "
                    "learning rate, so a zero learning rate leaves the value as it is"
                )


def check_constraint_is_projection(reg, backend="numpy", shapes=SHAPES, **_):
    """``apply`` is a projection: applied to its own result it changes nothing; it keeps
    the dtype and gives finite values."""
    xp = _xp(backend)
    for dtype in ("float64", "float32"):
        for value in samples(dtype, seed=2, shapes=shapes):
            scaled = value * np.asarray(10.0, dtype=dtype)  # outside most feasible sets
            once = _apply(reg, xp, xp.asarray(scaled.copy()), 0.1)
            once_host = _host(backend, once).copy()
            if once_host.dtype != value.dtype or not np.all(np.isfinite(once_host)):
                raise RegularizerCheckError(
                    f"{_label(reg)}: apply() of a {describe_value(value)} value gave {describe_value(once_host)} "
                    f"with values {once_host.tolist()}"
                )
            twice = _host(backend, _apply(reg, xp, xp.asarray(once_host.copy()), 0.1))
            tol = 1e-5 if dtype == "float32" else 1e-10
            if not np.allclose(twice, once_host, rtol=tol, atol=tol):
                raise RegularizerCheckError(
                    f"{_label(reg)}: apply() is not a projection: applied to its own result it changed it again "
                    f"(max change {np.max(np.abs(twice - once_host)):.3g}). A constraint maps a value to the "
                    "closest feasible one; a feasible value must stay as it is."
                )


def check_cupy(reg, shapes=SHAPES, **_):
    """Same penalty, gradient and applied value on CuPy as on NumPy (skipped where CuPy is
    unavailable)."""
    from ..backends import cupy_available

    if not cupy_available():
        return "skipped: cupy unavailable"
    import cupy

    for value in samples("float64", shapes=shapes):
        v = cupy.asarray(value)
        if reg.kind == "penalty":
            pairs = [("penalty", reg.penalty(np, value), _penalty(reg, cupy, v)),
                     ("gradient", reg.gradient(np, value), _gradient(reg, cupy, v))]
        else:
            pairs = [("apply", reg.apply(np, value.copy(), 0.1), _apply(reg, cupy, v.copy(), 0.1))]
        for what, want, got in pairs:
            if not isinstance(got, cupy.ndarray):
                raise RegularizerCheckError(f"{_label(reg)}: {what}() on cupy returned {type(got).__name__}, not a cupy array")
            if not np.allclose(cupy.asnumpy(got), np.asarray(want), rtol=1e-6, atol=1e-12):
                raise RegularizerCheckError(f"{_label(reg)}: {what}() on cupy differs from numpy for {describe_value(value)}")


CHECKS = {
    check_contract: KINDS,
    check_penalty_is_scalar: ("penalty",),
    check_penalty_gradient: ("penalty",),
    check_leaves_input_unchanged: ("penalty",),
    check_decay_shrinks: ("decay",),
    check_constraint_is_projection: ("constraint",),
    check_cupy: KINDS,
}


def regularizer_checks(regularizer=None):
    """The checks as (name, function) pairs, for ``pytest.mark.parametrize`` ids: all of
    them, or those that apply to ``regularizer``'s kind (an instance or a class)."""
    kind = getattr(regularizer, "kind", None)
    return [(fn.__name__.removeprefix("check_"), fn) for fn, kinds in CHECKS.items()
            if kind is None or kind in kinds or kind not in KINDS and fn is check_contract]


def check_regularizer(regularizer, *, strength=0.5, options=None, shapes=SHAPES, skip=(), manager=None,
                      backend="numpy"):
    """Run every conformance check that applies to a regularizer's kind.

    ``regularizer``: an instance, a ge.Regularizer subclass or a registered name (a class
    is built as ``cls(strength=strength, **options)``, a constraint as ``cls(**options)``;
    the default strength, 0.5, is large enough for the gradient check to see a missing
    factor); ``shapes``: the param shapes to try (default ``(4, 3)``, ``(5,)`` and
    ``()``); ``skip``: names of checks to skip; ``backend``: where the penalty, gradient
    and apply checks compute (``"numpy"``, ``"cupy"`` or a ``Backend``; the ``cupy`` check
    compares CuPy with NumPy whatever it is). Returns the names of the checks run
    (``"cupy (skipped: ...)"`` where CuPy is unavailable). Raises
    :class:`RegularizerCheckError` on the first failure.
    """
    from ..backends import get_backend

    get_backend(backend)  # an unknown or unavailable backend fails here, with the reason
    reg = _resolve(regularizer, strength, options, manager)
    names = {name for name, _ in regularizer_checks()}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise ValueError(f"check_regularizer: unknown check names in skip: {unknown}; the checks are {sorted(names)}")
    ran = []
    for name, fn in regularizer_checks(reg):
        if name in skip:
            continue
        result = fn(reg, shapes=tuple(shapes), backend=backend)
        ran.append(f"{name} ({result})" if isinstance(result, str) else name)
    return ran
