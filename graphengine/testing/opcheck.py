"""``check_op``: the conformance checks every op (built-in or plugin) should pass.

Each check is a plain function named after the property it checks; :func:`op_checks`
lists them so a test suite can parametrize over them with readable ids, and
:func:`check_op` runs them all::

    from graphengine.testing import check_op
    check_op(Swish(), [np.random.randn(3, 4)], reference=lambda x: x / (1 + np.exp(-x)))
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphEngineError
from ..op import shapes_compatible
from .gradcheck import gradcheck


class OpCheckError(GraphEngineError, AssertionError):
    """An op failed one of the conformance checks; the message says which and why."""


def _resolve(op):
    if isinstance(op, str):
        from ..plugin_manager import default_manager

        return default_manager().get_op(op)
    return op


def _cast(inputs, dtype):
    return [np.asarray(x, dtype=dtype) if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in inputs]


def check_forward_returns_array(op, inputs, attrs, xp=np, **_):
    out = op.forward(xp, *[xp.asarray(x) for x in inputs], **attrs)
    if isinstance(out, np.generic) and xp is np:
        return out  # a 0-d result as a NumPy scalar: the scheduler turns it back into an array
    if not isinstance(out, xp.ndarray):
        raise OpCheckError(f"op {op.name!r}: forward returned {type(out).__name__}, not an array; wrap it in xp.asarray")
    return out


def check_forward_matches_reference(op, inputs, attrs, reference=None, rtol=1e-6, atol=1e-8, **_):
    if reference is None:
        return
    got = np.asarray(op.forward(np, *_cast(inputs, np.float64), **attrs))
    want = np.asarray(reference(*_cast(inputs, np.float64), **attrs))
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        raise OpCheckError(
            f"op {op.name!r}: forward differs from the reference (rtol={rtol}, atol={atol}).\n"
            f"  got shape {got.shape}: {got.tolist() if got.size <= 32 else '...'}\n"
            f"  reference shape {want.shape}: {want.tolist() if want.size <= 32 else '...'}"
        )


def check_shape_rule(op, inputs, attrs, **_):
    shapes = [tuple(np.shape(x)) for x in inputs]
    out = op.forward(np, *[np.asarray(x) for x in inputs], **attrs)
    rule = op.shape(*shapes, **attrs)
    if rule is not None and tuple(rule) != tuple(out.shape):
        raise OpCheckError(f"op {op.name!r}: shape rule says {tuple(rule)} for inputs {shapes}, forward gives {out.shape}")
    # with a leading unknown (batch) axis the rule must still be compatible
    if shapes and shapes[0]:
        unknown = [(None,) + s[1:] if s and i == 0 else s for i, s in enumerate(shapes)]
        try:
            rule = op.shape(*unknown, **attrs)
        except Exception as exc:
            raise OpCheckError(f"op {op.name!r}: shape rule fails with an unknown batch axis {unknown}: {exc}") from exc
        if rule is not None and not shapes_compatible(tuple(rule), out.shape):
            raise OpCheckError(f"op {op.name!r}: shape rule gives {tuple(rule)} for {unknown}; forward gives {out.shape}")


def check_float32_preserved(op, inputs, attrs, differentiable=None, **_):
    inputs32 = _cast(inputs, np.float32)
    if not any(x.dtype == np.float32 for x in inputs32):
        return
    out = op.forward(np, *inputs32, **attrs)
    if out.dtype != np.float32:
        raise OpCheckError(f"op {op.name!r}: float32 inputs gave a {out.dtype} output (no silent upcast allowed)")
    if not op.differentiable:
        return
    grad = np.ones(out.shape, dtype=np.float32)
    kwargs = dict(attrs)
    if type(op).signature_info()[3]:
        kwargs["needs_grad"] = tuple(differentiable or [x.dtype.kind == "f" for x in inputs32])
    grads = op.backward(np, grad, tuple(inputs32), out, **kwargs)
    for i, g in enumerate(grads):
        if g is not None and inputs32[i].dtype == np.float32 and np.asarray(g).dtype != np.float32:
            raise OpCheckError(f"op {op.name!r}: float32 gradient for input {i} came back as {np.asarray(g).dtype}")


def check_gradient(op, inputs, attrs, differentiable=None, gradcheck_options=None, **_):
    if not op.differentiable:
        return
    gradcheck(op, inputs, attrs, differentiable=differentiable, **(gradcheck_options or {}))


def check_in_graph(op, inputs, attrs, differentiable=None, **_):
    """The op gives the same value and gradients when run by the scheduler, both modes."""
    from ..graph import Graph

    inputs64 = _cast(inputs, np.float64)
    direct = op.forward(np, *inputs64, **attrs)
    g = Graph(f"check_{op.name}")
    nodes = [g.input(f"x{i}", shape=np.shape(x), dtype=x.dtype) for i, x in enumerate(inputs64)]
    out = g.apply(op, *nodes, **attrs)  # the instance itself: no registry needed
    feeds = {f"x{i}": x for i, x in enumerate(inputs64)}
    seed = np.random.default_rng(1).standard_normal(np.shape(direct))
    expected = None
    if op.differentiable:
        kwargs = dict(attrs)
        if type(op).signature_info()[3]:
            kwargs["needs_grad"] = tuple(_diff(inputs64, differentiable))
        expected = op.backward(np, seed, tuple(inputs64), np.asarray(direct), **kwargs)
    for fetch in (None, [out] + [n for n, d in zip(nodes, _diff(inputs64, differentiable)) if d]):
        for _ in range(3):  # the later fetched runs go through generated code
            run = g.forward(feeds, fetch=fetch)
            if not np.allclose(run.value(out), direct, equal_nan=True):
                raise OpCheckError(f"op {op.name!r}: value in a graph differs from calling forward directly")
            if op.differentiable:
                run.backward(out, grad=seed)
                for n, d in zip(nodes, _diff(inputs64, differentiable)):
                    if d:
                        grad = run.grad(n)
                        if tuple(grad.shape) != tuple(np.shape(feeds[n.name])):
                            raise OpCheckError(f"op {op.name!r}: gradient of input {n.name} has the wrong shape")
                        want = expected[nodes.index(n)]
                        if want is not None and not np.allclose(grad, want, rtol=1e-7, atol=1e-10, equal_nan=True):
                            mode = "recording" if fetch is None else "fetched (generated code)"
                            raise OpCheckError(
                                f"op {op.name!r}: gradient of input {nodes.index(n)} in a {mode} graph run differs "
                                "from calling backward directly (check inline_forward/inline_backward templates)"
                            )


def _diff(inputs, differentiable):
    return differentiable or [np.asarray(x).dtype.kind == "f" for x in inputs]


def check_cupy(op, inputs, attrs, differentiable=None, **_):
    """Same value and gradients on CuPy as on NumPy (skipped where CuPy is unavailable)."""
    from ..backends import cupy_available

    if not cupy_available():
        return "skipped: cupy unavailable"
    import cupy

    inputs64 = _cast(inputs, np.float64)
    want = op.forward(np, *inputs64, **attrs)
    got = op.forward(cupy, *[cupy.asarray(x) for x in inputs64], **attrs)
    if not isinstance(got, cupy.ndarray) or not np.allclose(cupy.asnumpy(got), want, equal_nan=True):
        raise OpCheckError(f"op {op.name!r}: cupy forward differs from numpy")
    if op.differentiable:
        grad = np.ones(want.shape)
        kwargs = dict(attrs)
        if type(op).signature_info()[3]:
            kwargs["needs_grad"] = tuple(_diff(inputs64, differentiable))
        g_np = op.backward(np, grad, tuple(inputs64), want, **kwargs)
        g_cp = op.backward(cupy, cupy.asarray(grad), tuple(cupy.asarray(x) for x in inputs64), got, **kwargs)
        for i, (a, b) in enumerate(zip(g_np, g_cp)):
            if (a is None) != (b is None) or (a is not None and not np.allclose(cupy.asnumpy(b), a)):
                raise OpCheckError(f"op {op.name!r}: cupy gradient for input {i} differs from numpy")


CHECKS = (
    check_forward_returns_array,
    check_forward_matches_reference,
    check_shape_rule,
    check_float32_preserved,
    check_gradient,
    check_in_graph,
    check_cupy,
)


def op_checks():
    """The checks as (name, function) pairs, for ``pytest.mark.parametrize`` ids."""
    return [(fn.__name__.removeprefix("check_"), fn) for fn in CHECKS]


def check_op(op, inputs, reference=None, attrs=None, *, differentiable=None, gradcheck_options=None,
             skip=()):
    """Run every conformance check on ``op`` (an Op instance or a registered name).

    ``inputs``: sample input arrays (float inputs are checked in float64 and float32);
    ``reference``: a NumPy function with the op's semantics; ``differentiable``: which
    inputs get a gradient (default: the floating ones); ``skip``: names of checks to skip.
    Returns the list of checks run; raises OpCheckError (or GradcheckError) on failure.
    """
    op = _resolve(op)
    attrs = dict(attrs or {})
    ran = []
    for name, fn in op_checks():
        if name in skip:
            continue
        outcome = fn(op, inputs, attrs, reference=reference, differentiable=differentiable,
                     gradcheck_options=gradcheck_options)
        ran.append(f"{name} ({outcome})" if isinstance(outcome, str) else name)
    return ran
