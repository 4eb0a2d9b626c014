"""``check_optimizer``: the conformance checks every optimizer (built-in or plugin) should pass.

Each check is a plain function named after the property it checks; :func:`optimizer_checks`
lists them (for ``pytest.mark.parametrize`` ids) and :func:`check_optimizer` runs them all::

    from graphengine.testing import check_optimizer
    check_optimizer(Lion, hyper={"lr": 0.01})

The checks train a small quadratic through the public API (``g.forward``,
``run.backward``, ``opt.step(run)``)::

    loss = sum over params p of  0.5 * sum(c_p * (p - t_p) ** 2)

with three params of shapes ``(4, 3)``, ``(3,)`` and ``()``, curvatures ``c`` in
``[0.5, 2]`` and starting points about one unit away from the targets ``t``.

An update rule either changes ``value`` (and its state) in place and returns None, with
its temporaries from ``self.scratch(xp, value, k)`` (the fast path, what the built-in
optimizers do), or returns the new value as a new array (the functional form).
``updates_in_place`` checks either form against a reference step; ``allocates_nothing``
checks that an in-place rule needs no new param-sized array per step;
``same_when_consuming_grads`` checks that a step allowed to overwrite the gradients
(``consume_grads=True``, what ``fit`` passes) gives the same params and state.
"""

from __future__ import annotations

import inspect
import io
import json
import tracemalloc

import numpy as np

from ..errors import GraphEngineError
from ..op import describe_value

SHAPES = {"W": (4, 3), "b": (3,), "s": ()}
JSON_SCALARS = (bool, int, float, str, type(None))


class OptimizerCheckError(GraphEngineError, AssertionError):
    """An optimizer failed one of the conformance checks; the message says which and why."""


# --------------------------------------------------------------------------- helpers

def _resolve(optimizer, manager=None):
    """An Optimizer subclass from a class, an instance or a registered name."""
    from ..optimizer import Optimizer

    if isinstance(optimizer, str):
        if manager is None:
            from ..plugin_manager import default_manager

            manager = default_manager()
        return manager.lookup("optimizers", optimizer)
    if isinstance(optimizer, Optimizer):
        return type(optimizer)
    return optimizer


def _label(cls) -> str:
    return f"optimizer {getattr(cls, 'name', '') or getattr(cls, '__name__', repr(cls))!r}"


def _hint(hyper) -> str:
    return f" (hyper-parameters: {hyper})" if hyper else " (default hyper-parameters)"


def _host(backend, value):
    from ..backends import get_backend

    return np.array(get_backend(backend).to_numpy(value), copy=True)


def quadratic(backend="numpy", dtype="float64", seed=0, start=None):
    """The check problem: ``(graph, loss node, params, targets)``.

    ``start`` maps param names to starting values (default: target plus a standard normal).
    """
    from ..graph import Graph

    rng = np.random.default_rng(seed)
    g = Graph("optimizer_check_quadratic", backend=backend)
    params, targets, terms = [], {}, []
    for name, shape in SHAPES.items():
        target = rng.standard_normal(shape)
        curvature = rng.uniform(0.5, 2.0, shape)
        first = target + rng.standard_normal(shape)
        if start is not None:
            first = start[name]
        p = g.param(name, np.asarray(first, dtype=dtype))
        diff = p - g.const(np.asarray(target, dtype=dtype), name=f"{name}_target")
        weighted = g.const(np.asarray(curvature, dtype=dtype), name=f"{name}_curvature") * diff * diff
        terms.append(g.apply("sum", weighted, name=f"{name}_term"))
        params.append(p)
        targets[name] = target
    loss = g.apply("mul", g.apply("add", g.apply("add", terms[0], terms[1]), terms[2]), 0.5, name="loss")
    return g, loss, params, targets


def _loss_and_step(g, loss, opt, backend):
    run = g.forward(fetch=[loss])
    value = float(_host(backend, run.value(loss)))
    run.backward(loss)
    try:
        opt.step(run)
    except Exception as exc:
        raise OptimizerCheckError(
            f"{_label(type(opt))}: step() on the check quadratic (step {opt.steps}) raised "
            f"{type(exc).__name__}: {exc}. update(xp, value, grad, state) must return the new value as an "
            "array of the backend (or None after changing value in place)."
        ) from exc
    return value


def _make(cls, params, hyper):
    try:
        return cls(params, **hyper)
    except TypeError as exc:
        raise OptimizerCheckError(
            f"{_label(cls)}: {cls.__name__}(params, **{hyper}) failed: {exc}. Every hyper-parameter "
            "must be listed in the class attribute `defaults`, and __init__ must take (params, **hyper)."
        ) from exc


def _train(cls, hyper, backend, dtype, steps, seed=0):
    g, loss, params, _ = quadratic(backend, dtype, seed)
    opt = _make(cls, params, hyper)
    losses = [_loss_and_step(g, loss, opt, backend) for _ in range(steps)]
    run = g.forward(fetch=[loss])
    losses.append(float(_host(backend, run.value(loss))))
    return g, params, opt, losses


# --------------------------------------------------------------------------- checks

def check_contract(cls, hyper, **_):
    """A subclass of ge.Optimizer with an identifier name, ``defaults`` covering ``hyper``,
    that refuses unknown hyper-parameters and writes its own ``update``."""
    from ..optimizer import Optimizer

    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise OptimizerCheckError(
            f"{cls!r} is not a subclass of ge.Optimizer; optimizers are registered as classes: "
            "class Lion(ge.Optimizer): name = 'lion'; defaults = {...}; def update(self, xp, value, grad, state): ..."
        )
    if not isinstance(cls.name, str) or not cls.name.isidentifier():
        raise OptimizerCheckError(f"{cls.__name__}.name is {cls.name!r}; it must be a Python identifier (the registry key)")
    if not isinstance(cls.defaults, dict):
        raise OptimizerCheckError(f"{_label(cls)}: `defaults` must be a dict of hyper-parameter -> default value")
    unknown = sorted(set(hyper) - set(cls.defaults))
    if unknown:
        raise OptimizerCheckError(
            f"{_label(cls)}: the check was given hyper-parameters {unknown} that are not in `defaults` "
            f"({sorted(cls.defaults)}); add them to `defaults` or fix the check's hyper="
        )
    if cls.update is Optimizer.update:
        raise OptimizerCheckError(f"{_label(cls)} does not define update(self, xp, value, grad, state)")
    _, _, params, _ = quadratic()
    try:
        cls(params, not_a_hyper_parameter=1.0)
    except TypeError:
        pass
    else:
        raise OptimizerCheckError(
            f"{_label(cls)} accepted an unknown hyper-parameter `not_a_hyper_parameter`; a misspelt "
            "hyper-parameter must be refused (let ge.Optimizer.__init__ check **hyper against `defaults`)"
        )
    repr(_make(cls, params, hyper))


def check_descends_quadratic(cls, hyper, backend="numpy", steps=200, min_decrease=0.5, **_):
    """``steps`` steps on the quadratic bring the loss to at most ``min_decrease`` times
    its start, every loss along the way finite."""
    _, _, _, losses = _train(cls, hyper, backend, "float64", steps)
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    if bad:
        raise OptimizerCheckError(
            f"{_label(cls)}: the loss became {losses[bad[0]]} at step {bad[0]} on the check quadratic{_hint(hyper)}; "
            f"losses before it: {losses[max(0, bad[0] - 3):bad[0]]}"
        )
    first, last = losses[0], losses[-1]
    if not last <= min_decrease * first:
        every = max(1, steps // 8)
        trace = ", ".join(f"{i}: {losses[i]:.4g}" for i in range(0, len(losses), every))
        raise OptimizerCheckError(
            f"{_label(cls)} does not descend the check quadratic{_hint(hyper)}: the loss went from "
            f"{first:.6g} to {last:.6g} in {steps} steps; it must reach {min_decrease} x the start "
            f"({min_decrease * first:.6g}).\n  losses by step: {trace}\n"
            "  If the rule is right but slow with these hyper-parameters, pass a larger learning rate "
            "(hyper={'lr': ...}) or more steps=; if the loss grows, check the sign of the update."
        )


def check_update_keeps_shape_and_dtype(cls, hyper, backend="numpy", **_):
    """``update`` returns the param's shape and dtype (float32 stays float32), or None after
    updating ``value`` in place; floating state keeps the param's dtype; after ``step``
    every param is still an array of the backend (a 0-d param too, not a NumPy scalar)."""
    from ..backends import get_backend

    xp = get_backend(backend).xp
    g, loss, params, _ = quadratic(backend, "float32")
    opt = _make(cls, params, hyper)
    for p in params:
        value = p.value
        before = _host(backend, value)
        grad = xp.asarray(np.random.default_rng(3).standard_normal(tuple(value.shape)), dtype=value.dtype)
        state = opt.init_state(xp, value)
        if not isinstance(state, dict):
            raise OptimizerCheckError(f"{_label(cls)}: init_state returned {type(state).__name__}; it must return a dict")
        new = opt.update(xp, value, grad, state)
        if new is None:
            if np.array_equal(_host(backend, value), before):
                raise OptimizerCheckError(
                    f"{_label(cls)}: update() returned None (meaning: updated in place) for param {p.name!r} "
                    "but the value did not change; return the new value"
                )
            new = value
        if not isinstance(new, (xp.ndarray, np.generic)) or (isinstance(new, np.generic) and backend != "numpy"):
            raise OptimizerCheckError(
                f"{_label(cls)}: update() returned {type(new).__name__} for param {p.name!r} "
                f"({value.dtype}{tuple(value.shape)}); return an array of the backend (xp)"
            )
        if tuple(new.shape) != tuple(value.shape) or new.dtype != value.dtype:
            raise OptimizerCheckError(
                f"{_label(cls)}: update() for param {p.name!r} returned {new.dtype}{tuple(new.shape)}, "
                f"the param is {value.dtype}{tuple(value.shape)}; cast constants to value.dtype (no silent upcast)"
            )
        for key, item in state.items():
            dt = getattr(item, "dtype", None)
            if dt is not None and np.dtype(dt).kind == "f" and dt != value.dtype:
                raise OptimizerCheckError(
                    f"{_label(cls)}: state[{key!r}] of float32 param {p.name!r} is {dt}; keep floating state "
                    "in the param's dtype (xp.zeros_like(value))"
                )
    for _ in range(2):
        _loss_and_step(g, loss, opt, backend)
    for p in params:
        value = p.value
        if not isinstance(value, xp.ndarray) or tuple(value.shape) != tuple(p.shape) or value.dtype != np.float32:
            raise OptimizerCheckError(
                f"{_label(cls)}: after step() param {p.name!r} (float32 {tuple(p.shape)}) holds a "
                f"{type(value).__module__}.{type(value).__name__} ({describe_value(value)}); it must "
                "stay an array of the backend with its shape and dtype. NumPy turns 0-d array arithmetic into "
                "scalars: return xp.asarray(new_value) from update()."
            )


def _fresh_scratch_twin(cls):
    """``cls`` with a scratch that hands out a new NaN-filled array on every call: the
    functional reference of an in-place rule (same operations, nothing shared between
    calls or params, garbage where a rule reads scratch before writing it)."""

    class FreshScratch(cls):
        def scratch(self, xp, value, k=0):
            return xp.full(value.shape, xp.nan, dtype=value.dtype)

    FreshScratch.__name__ = FreshScratch.__qualname__ = f"{cls.__name__}FreshScratch"
    return FreshScratch


def check_updates_in_place(cls, hyper, backend="numpy", steps=3, **_):
    """An in-place rule (``update`` returns None) keeps every param's array object, counts
    each change in ``node._updates``, keeps float32 in the value and the state, leaves the
    gradient alone, and gives the same numbers as a reference step whose scratch arrays are
    fresh on every call. A functional rule (returns a new array) must leave ``value`` as it
    was: the base class stores the returned array and the old one stays valid."""
    from ..backends import get_backend

    label = _label(cls)
    xp = get_backend(backend).xp
    _, _, params, _ = quadratic(backend, "float32", seed=5)
    _, _, twins, _ = quadratic(backend, "float32", seed=5)
    opt, ref = _make(cls, params, hyper), _make(_fresh_scratch_twin(cls), twins, hyper)
    rng = np.random.default_rng(11)
    for step in range(steps):
        grads = {p.name: rng.standard_normal(p.shape).astype(np.float32) for p in params}
        arrays = {p.name: p.value for p in params}
        before = {p.name: _host(backend, p.value) for p in params}
        counts = {p.name: p._updates for p in params}
        given = {p: xp.array(grads[p.name], copy=True) for p in params}
        try:
            opt.step(given)
            ref.step({q: xp.array(grads[q.name], copy=True) for q in twins})
        except Exception as exc:
            raise OptimizerCheckError(
                f"{label}: step() with float32 gradients (step {step}) raised {type(exc).__name__}: {exc}"
            ) from exc
        for p, q in zip(params, twins):
            where = f"{label}, param {p.name!r} (float32 {tuple(p.shape)}), step {step}"
            if not np.array_equal(_host(backend, given[p]), grads[p.name]):
                raise OptimizerCheckError(f"{where}: update() changed the gradient; never write into `grad`")
            value = p.value
            if value.dtype != np.float32 or tuple(value.shape) != tuple(p.shape):
                raise OptimizerCheckError(f"{where}: the param became {value.dtype}{tuple(value.shape)} after step()")
            in_place = value is arrays[p.name]
            if in_place:
                if np.array_equal(_host(backend, value), before[p.name]):
                    raise OptimizerCheckError(
                        f"{where}: update() returned None (meaning: changed value in place) but the value did not "
                        "change; write the result into value (out=value) or return the new value"
                    )
                if p._updates != counts[p.name] + 1:
                    raise OptimizerCheckError(
                        f"{where}: node._updates went from {counts[p.name]} to {p._updates} over one in-place step; "
                        "it must grow by one (let ge.Optimizer.step call update(); do not assign p._value)"
                    )
            else:
                if not np.array_equal(_host(backend, arrays[p.name]), before[p.name]):
                    raise OptimizerCheckError(
                        f"{where}: update() changed value in place and also returned a new array. Do one or the "
                        "other: change value in place (out=value) and return None, or leave value alone and "
                        "return the new value (runs made before the step still hold the old array)"
                    )
                if p._updates != counts[p.name]:
                    raise OptimizerCheckError(f"{where}: node._updates changed although the array was replaced")
            expected, got = _host(backend, q.value), _host(backend, value)
            if not np.allclose(got, expected, rtol=1e-6, atol=1e-7, equal_nan=False):
                if np.isnan(expected).any() and not np.isnan(got).any():
                    how = "the reference is NaN: the rule read a scratch array before writing it"
                else:
                    how = f"max abs difference {np.max(np.abs(got - expected)):.3g}"
                raise OptimizerCheckError(
                    f"{where}: the value differs from a reference step whose scratch arrays are new (and NaN-filled) "
                    f"on every call ({how}). A scratch array's content is garbage on entry and must not be kept "
                    "past the rule; take one per simultaneous temporary (k=0, 1, ...)."
                )
            for key, item in opt.state[p].items():
                dt = getattr(item, "dtype", None)
                if dt is not None and np.dtype(dt).kind == "f" and dt != np.float32:
                    raise OptimizerCheckError(
                        f"{where}: state[{key!r}] is {dt}; keep floating state in the param's dtype (xp.zeros_like)"
                    )


def check_same_when_consuming_grads(cls, hyper, backend="numpy", steps=3, **_):
    """``step(grads, consume_grads=True)`` (what ``compile_step(..., keep_grads=False)`` and
    ``fit`` pass: the rule may overwrite the gradient, ``self.may_consume_grad``) gives the
    params and the state of ``step(grads)``; the flag is False again after the step.
    Skipped where ``step`` is overridden without ``consume_grads`` (a compiled step then
    keeps the gradients)."""
    from ..backends import get_backend

    parameters = inspect.signature(cls.step).parameters
    if "consume_grads" not in parameters and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return "skipped: step() takes no consume_grads"
    label = _label(cls)
    xp = get_backend(backend).xp
    _, _, params, _ = quadratic(backend, "float32", seed=7)
    _, _, twins, _ = quadratic(backend, "float32", seed=7)
    keeps, consumes = _make(cls, params, hyper), _make(cls, twins, hyper)
    rng = np.random.default_rng(13)
    for step in range(steps):
        grads = {p.name: rng.standard_normal(p.shape).astype(np.float32) for p in params}
        try:
            keeps.step({p: xp.array(grads[p.name], copy=True) for p in params})
            consumes.step({q: xp.array(grads[q.name], copy=True) for q in twins}, consume_grads=True)
        except Exception as exc:
            raise OptimizerCheckError(
                f"{label}: step(grads, consume_grads=True) (step {step}) raised {type(exc).__name__}: {exc}"
            ) from exc
        if consumes.may_consume_grad:
            raise OptimizerCheckError(
                f"{label}: may_consume_grad is still True after step(..., consume_grads=True); only "
                "ge.Optimizer.step sets it, for the duration of the step")
        for p, q in zip(params, twins):
            where = f"{label}, param {p.name!r} (float32 {tuple(p.shape)}), step {step}"
            expected, got = _host(backend, p.value), _host(backend, q.value)
            if not np.allclose(got, expected, rtol=1e-6, atol=1e-7):
                raise OptimizerCheckError(
                    f"{where}: step(grads, consume_grads=True) gives another value than step(grads) (max abs "
                    f"difference {np.max(np.abs(got - expected)):.3g}). With self.may_consume_grad the rule may "
                    "write into grad, but must read grad's values before it overwrites them (e.g. "
                    "xp.multiply(grad, lr, out=grad) as the last use of grad)."
                )
            for key, item in keeps.state[p].items():
                other = consumes.state[q][key]
                if hasattr(item, "shape") and not np.allclose(_host(backend, other), _host(backend, item),
                                                              rtol=1e-6, atol=1e-7):
                    raise OptimizerCheckError(
                        f"{where}: state[{key!r}] after step(grads, consume_grads=True) differs from the state "
                        "after step(grads); the rule must compute the same state whether or not it may "
                        "overwrite grad"
                    )


def check_allocates_nothing(cls, hyper, backend="numpy", **_):
    """An in-place rule allocates no param-sized array in a step (after the first, which
    makes the state and the scratch arrays): temporaries come from ``self.scratch`` and
    hyper-parameters are Python floats, so no float64 copies either. NumPy only (measured
    with tracemalloc); skipped for functional rules, which return a new array by design."""
    from ..graph import Graph

    if backend != "numpy":
        return "skipped: measured on numpy only"
    rng = np.random.default_rng(2)
    g = Graph("optimizer_check_allocation")
    p = g.param("W", rng.standard_normal((128, 128)).astype(np.float32))
    opt = _make(cls, [p], hyper)
    grads = {p: rng.standard_normal((128, 128)).astype(np.float32)}
    opt.step(grads)
    array = p.value
    opt.step(grads)
    if p.value is not array:
        return "skipped: functional rule (returns a new array)"
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        opt.step(grads)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()
    if p.value is not array:
        raise OptimizerCheckError(f"{_label(cls)}: step() replaced the param's array after updating it in place before")
    if peak >= array.nbytes // 2:
        raise OptimizerCheckError(
            f"{_label(cls)}: one in-place step of a float32 (128, 128) param ({array.nbytes} bytes) allocated "
            f"{peak} bytes at its peak. Take temporaries from self.scratch(xp, value, k) and write with out=, e.g. "
            "xp.multiply(grad, lr, out=self.scratch(xp, value)); xp.subtract(value, that, out=value). Pass "
            "hyper-parameters as Python floats (a float64 array or np.float64(...) makes float64 temporaries)."
        )


def check_skips_params_without_gradient(cls, hyper, backend="numpy", **_):
    """``step`` with a gradient for one param only leaves the others unchanged."""
    g, loss, params, _ = quadratic(backend)
    opt = _make(cls, params, hyper)
    run = g.forward(fetch=[loss]).backward(loss)
    first = params[0]
    before = {p.name: _host(backend, p.value) for p in params}
    opt.step({first: run.grad(first)})
    for p in params[1:]:
        if not np.array_equal(_host(backend, p.value), before[p.name]):
            raise OptimizerCheckError(
                f"{_label(cls)}: step() with a gradient for {first.name!r} only changed param {p.name!r}, "
                "which had no gradient; params without a gradient must stay as they are"
            )
    if np.array_equal(_host(backend, first.value), before[first.name]):
        raise OptimizerCheckError(f"{_label(cls)}: step() did not change param {first.name!r}, which had a gradient")


def _state_to_bytes(data, label):
    """A state dict through JSON + ``.npz`` (no pickle), the way it would be saved."""
    arrays, meta = {}, {}
    for key in ("name", "hyper", "steps"):
        meta[key] = data.get(key)
    meta["state"] = {}
    for pname, state in data.get("state", {}).items():
        meta["state"][pname] = {}
        for key, item in state.items():
            if isinstance(item, np.ndarray):
                slot = f"{pname}/{key}"
                arrays[slot] = item
                meta["state"][pname][key] = {"array": slot}
            elif isinstance(item, JSON_SCALARS):
                meta["state"][pname][key] = item
            else:
                raise OptimizerCheckError(
                    f"{label}: state_dict()['state'][{pname!r}][{key!r}] is a {type(item).__name__}; state must "
                    "hold NumPy arrays and plain numbers/strings so it saves as JSON + .npz without pickle"
                )
    try:
        text = json.dumps(meta)
    except TypeError as exc:
        raise OptimizerCheckError(f"{label}: state_dict() does not save as JSON ({exc}); hyper-parameters must be "
                                  "plain numbers, strings or booleans") from exc
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return text, buffer.getvalue()


def _state_from_bytes(text, blob):
    meta = json.loads(text)
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        for pname, state in meta["state"].items():
            for key, item in state.items():
                if isinstance(item, dict) and "array" in item:
                    state[key] = arrays[item["array"]]
    return meta


def _copy_state(data):
    return {pname: {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in st.items()}
            for pname, st in data.get("state", {}).items()}


def check_state_round_trips(cls, hyper, backend="numpy", warmup=5, steps=5, **_):
    """``state_dict()`` saved (JSON + .npz, no pickle) and loaded into a fresh optimizer on
    the same values continues exactly like the original."""
    label = _label(cls)
    g, loss, params, _ = quadratic(backend)
    opt = _make(cls, params, hyper)
    for _ in range(warmup):
        _loss_and_step(g, loss, opt, backend)
    try:
        data = opt.state_dict()
    except Exception as exc:
        raise OptimizerCheckError(
            f"{label}: state_dict() on the {backend} backend raised {type(exc).__name__}: {exc}; it must return "
            "host (NumPy) copies of the state arrays"
        ) from exc
    if not isinstance(data, dict) or data.get("name") != cls.name:
        raise OptimizerCheckError(f"{label}: state_dict() must be a dict with 'name': {cls.name!r}, got {data!r:.200}")
    frozen = _copy_state(data)
    text, blob = _state_to_bytes(data, label)
    middle = {p.name: _host(backend, p.value) for p in params}
    for _ in range(steps):
        _loss_and_step(g, loss, opt, backend)
    for pname, state in frozen.items():
        for key, item in state.items():
            now = data["state"][pname][key]
            if isinstance(item, np.ndarray) and not np.array_equal(item, now):
                raise OptimizerCheckError(
                    f"{label}: the array state_dict() returned for state[{pname!r}][{key!r}] changed when the "
                    "optimizer stepped on: it shares memory with the live state (updated in place). state_dict() "
                    "must return copies (ge.Optimizer.state_dict does; an override must too)."
                )
    g2, loss2, params2, _ = quadratic(backend, start=middle)
    fresh = _make(cls, params2, hyper)
    try:
        fresh.load_state_dict(_state_from_bytes(text, blob))
    except Exception as exc:
        raise OptimizerCheckError(
            f"{label}: load_state_dict() of a state dict read back from JSON + .npz raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if fresh.steps != warmup:
        raise OptimizerCheckError(f"{label}: after load_state_dict the step count is {fresh.steps}, expected {warmup}")
    for _ in range(steps):
        _loss_and_step(g2, loss2, fresh, backend)
    for p, q in zip(params, params2):
        a, b = _host(backend, p.value), _host(backend, q.value)
        if not np.allclose(a, b, rtol=1e-12, atol=1e-14):
            raise OptimizerCheckError(
                f"{label}: after state_dict() -> JSON + .npz -> load_state_dict() and {steps} more steps, param "
                f"{p.name!r} differs from the optimizer that never stopped (max abs difference "
                f"{np.max(np.abs(a - b)):.3g}). Everything update() reads must live in `state` (per param) or "
                "`hyper`, and load_state_dict must restore it."
            )


def check_cupy(cls, hyper, steps=20, **_):
    """On CuPy: the same trajectory as on NumPy, params stay on the GPU, update keeps shape
    and dtype, and the state round-trips (skipped where CuPy is unavailable)."""
    from ..backends import cupy_available

    if not cupy_available():
        return "skipped: cupy unavailable"
    check_update_keeps_shape_and_dtype(cls, hyper, backend="cupy")
    check_updates_in_place(cls, hyper, backend="cupy")
    check_same_when_consuming_grads(cls, hyper, backend="cupy")
    check_skips_params_without_gradient(cls, hyper, backend="cupy")
    check_state_round_trips(cls, hyper, backend="cupy")
    _, params_np, _, losses_np = _train(cls, hyper, "numpy", "float64", steps)
    _, params_cp, _, losses_cp = _train(cls, hyper, "cupy", "float64", steps)
    for p, q in zip(params_np, params_cp):
        if not isinstance(q.value, type(q.graph.xp.asarray(0.0))):
            raise OptimizerCheckError(f"{_label(cls)}: param {q.name!r} left the GPU after step()")
        if not np.allclose(_host("numpy", p.value), _host("cupy", q.value), rtol=1e-6, atol=1e-9):
            raise OptimizerCheckError(
                f"{_label(cls)}: after {steps} steps on cupy, param {p.name!r} differs from numpy "
                f"(losses numpy {losses_np[-1]:.6g}, cupy {losses_cp[-1]:.6g})"
            )


CHECKS = (
    check_contract,
    check_update_keeps_shape_and_dtype,
    check_updates_in_place,
    check_same_when_consuming_grads,
    check_allocates_nothing,
    check_descends_quadratic,
    check_skips_params_without_gradient,
    check_state_round_trips,
    check_cupy,
)


def optimizer_checks():
    """The checks as (name, function) pairs, for ``pytest.mark.parametrize`` ids."""
    return [(fn.__name__.removeprefix("check_"), fn) for fn in CHECKS]


def check_optimizer(optimizer, hyper=None, *, steps=200, min_decrease=0.5, skip=(), manager=None):
    """Run every conformance check on an optimizer (its class, an instance, or a registered name).

    ``hyper``: hyper-parameters for the checks (e.g. ``{"lr": 0.05}``; default: the class
    ``defaults``); ``steps`` and ``min_decrease``: the descent check needs the quadratic's
    loss to fall to ``min_decrease`` times its start within ``steps`` steps; ``skip``:
    names of checks to skip. Returns the names of the checks run (a check that could not
    run here, like ``cupy`` without a GPU, is listed as ``"cupy (skipped: ...)"``).
    Raises :class:`OptimizerCheckError` on the first failure.
    """
    cls = _resolve(optimizer, manager)
    hyper = dict(hyper or {})
    unknown = sorted(set(skip) - {name for name, _ in optimizer_checks()})
    if unknown:
        raise ValueError(f"check_optimizer: unknown check names in skip: {unknown}; "
                         f"the checks are {[name for name, _ in optimizer_checks()]}")
    ran = []
    for name, fn in optimizer_checks():
        if name in skip:
            continue
        result = fn(cls, hyper, steps=steps, min_decrease=min_decrease) if name == "descends_quadratic" \
            else fn(cls, hyper)
        ran.append(f"{name} ({result})" if isinstance(result, str) else name)
    return ran
