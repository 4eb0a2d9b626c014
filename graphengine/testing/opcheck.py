"""``check_op``: the conformance checks every op (built-in or plugin) should pass.

Each check is a plain function named after the property it checks; :func:`op_checks`
lists them so a test suite can parametrize over them with readable ids, and
:func:`check_op` runs them all::

    from graphengine.testing import check_op
    check_op(Swish(), [np.random.randn(3, 4)], reference=lambda x: x / (1 + np.exp(-x)))

Backward may return gradients of the broadcast (output) shape: like the engine, every
check sums them back to the input's shape (:func:`graphengine.op.sum_to_shape`) before
comparing. Every fast variant an op offers is checked against its methods, on the same
arrays, in float64 and float32: ``inline_forward`` against ``forward``,
``inline_backward`` against ``backward``, ``forward(out=buffer)`` against ``forward()``
and ``backward(out=buffers)`` against ``backward()``. A variant the op does not offer is
reported as skipped.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import GraphEngineError
from ..op import describe_value, shape_of, shapes_compatible, sum_to_shape
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
        return out  # a 0-d result as a NumPy scalar: the engine turns it back into an array
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


def _summed_back(op):
    """``op`` with its backward's gradients summed back to the input shapes, as the
    engine does, for :func:`gradcheck` (which compares gradients of the input's shape)."""

    class SummedBack:
        name = op.name
        differentiable = op.differentiable
        signature_info = staticmethod(type(op).signature_info)

        def forward(self, xp, *inputs, **attrs):
            return op.forward(xp, *inputs, **attrs)

        def backward(self, xp, grad, inputs, output, **kwargs):
            grads = tuple(op.backward(xp, grad, inputs, output, **kwargs))
            if len(grads) != len(inputs):
                return grads  # gradcheck reports the count
            return tuple(_sum_back(xp, g, x) for g, x in zip(grads, inputs))

    return SummedBack()


def _sum_back(xp, grad, like):
    """A gradient summed back to the shape of the input ``like`` (None stays None)."""
    if grad is None or not hasattr(grad, "shape"):
        return grad
    return sum_to_shape(xp, grad, shape_of(like))


def check_gradient(op, inputs, attrs, differentiable=None, gradcheck_options=None, **_):
    """backward (summed back to each input's shape) matches finite differences in float64."""
    if not op.differentiable:
        return
    gradcheck(_summed_back(op), inputs, attrs, differentiable=differentiable, **(gradcheck_options or {}))


def check_in_graph(op, inputs, attrs, differentiable=None, **_):
    """The op gives the same value and gradients when run in a graph, recording and fetched (generated code)."""
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
        expected = [_sum_back(np, g, x) for g, x in zip(expected, inputs64)]
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
            a, b = _sum_back(np, a, inputs64[i]), _sum_back(cupy, b, inputs64[i])
            if (a is None) != (b is None) or (a is not None and not np.allclose(cupy.asnumpy(b), a)):
                raise OpCheckError(f"op {op.name!r}: cupy gradient for input {i} differs from numpy")


# --------------------------------------------------------------------------- fast variants

_TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-5, 1e-6)}
_RETIRED = ("forward_into", "backward_into", "inline_unbroadcast")


def _variant_dtypes(inputs):
    """The sample inputs in float64 and, where some are floating, in float32."""
    cases = [_cast(inputs, np.float64)]
    if any(np.asarray(x).dtype.kind == "f" for x in inputs):
        cases.append(_cast(inputs, np.float32))
    return cases


def _described(arrays) -> str:
    return ", ".join(describe_value(x) for x in arrays)


def _max_difference(got, want) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    both_nan = np.isnan(got) & np.isnan(want)
    with np.errstate(invalid="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(got - want))
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only
    return float(diff.max()) if diff.size else 0.0


def _compare(op, variant, got, want, inputs, what, fix):
    """Raise OpCheckError unless ``got`` (a variant's result) matches ``want`` (the method's)."""
    got_arr, want_arr = np.asarray(got), np.asarray(want)
    where = f"op {op.name!r}: {variant} on inputs {_described(inputs)}"
    if got_arr.shape != want_arr.shape or got_arr.dtype != want_arr.dtype:
        raise OpCheckError(f"{where}: {what} is {describe_value(got_arr)}, the method gives "
                           f"{describe_value(want_arr)}. {fix}")
    rtol, atol = _TOLERANCES.get(want_arr.dtype, (0.0, 0.0))
    if not np.allclose(got_arr, want_arr, rtol=rtol, atol=atol, equal_nan=True):
        raise OpCheckError(f"{where}: {what} differs from the method's by max |difference| "
                           f"{_max_difference(got_arr, want_arr):.3g} (rtol={rtol}, atol={atol}, "
                           f"{describe_value(want_arr)}). {fix}")


def _evaluate(op, template, variant, xp, inputs, attrs, grad=None, output=None):
    """An inline template evaluated with ``xp`` on the given arrays, as generated code does."""
    env = {"xp": xp, "_grad": grad, "_output": output}
    names = []
    for i, x in enumerate(inputs):
        env[f"_input{i}"] = x
        names.append(f"_input{i}")
    attr_names = {}
    for key, value in {**type(op).signature_info()[1], **attrs}.items():
        env[f"_attr_{key}"] = value
        attr_names[key] = f"_attr_{key}"
    try:
        expression = template.format(*names, grad="_grad", output="_output", **attr_names)
        return eval(expression, env)  # noqa: S307 - the op's own template, as the emitter pastes it
    except Exception as exc:
        known = ", ".join(["{0}".replace("0", str(i)) for i in range(len(inputs))] + ["{grad}", "{output}"]
                          + ["{" + k + "}" for k in attr_names])
        raise OpCheckError(
            f"op {op.name!r}: {variant} {template!r} fails on inputs {_described(inputs)}: "
            f"{type(exc).__name__}: {exc}. A template may use xp and the placeholders {known}."
        ) from exc


def _needs(op, inputs, differentiable):
    return tuple(bool(d) for d in _diff(inputs, differentiable))


def _backward_kwargs(op, attrs, needs):
    kwargs = dict(attrs)
    if type(op).signature_info()[3]:
        kwargs["needs_grad"] = needs
    return kwargs


def _unchanged(op, variant, before, after, names):
    for name, old, new in zip(names, before, after):
        if old is not None and not np.array_equal(np.asarray(old), np.asarray(new), equal_nan=True):
            raise OpCheckError(f"op {op.name!r}: {variant} changed its {name} in place; an op may write only "
                               "into the out= buffers it is given")


def _not_an_operand(op, variant, result, operands, what):
    """``result`` is none of ``operands`` (name -> array) and shares no memory with them."""
    for name, operand in operands.items():
        if operand is None or not isinstance(operand, np.ndarray) or not isinstance(result, np.ndarray):
            continue
        if result is operand or np.may_share_memory(result, operand):
            raise OpCheckError(
                f"op {op.name!r}: {variant} returned {'' if result is operand else 'a view of '}its {name} as "
                f"{what}; the engine reuses buffers, so return a new array (or the out= buffer) instead")


def check_inline_forward(op, inputs, attrs, **_):
    """``inline_forward`` gives what ``forward`` gives, same shape and dtype."""
    template = getattr(op, "inline_forward", None)
    if template is None:
        return "skipped: the op has no inline_forward"
    for xs in _variant_dtypes(inputs):
        want = op.forward(np, *xs, **attrs)
        got = _evaluate(op, template, "inline_forward", np, xs, attrs)
        _compare(op, f"inline_forward {template!r}", got, want, xs, "the result",
                 "Make the template compute exactly what forward does (templates are optional).")


def check_inline_backward(op, inputs, attrs, differentiable=None, **_):
    """Each ``inline_backward`` expression gives what ``backward`` gives for that input
    (both summed back to the input's shape); None exactly where backward gives None."""
    template = getattr(op, "inline_backward", None)
    if template is None:
        return "skipped: the op has no inline_backward"
    if not op.differentiable:
        return "skipped: the op is not differentiable"
    if len(template) != len(inputs):
        raise OpCheckError(f"op {op.name!r}: inline_backward has {len(template)} entries for {len(inputs)} inputs; "
                           "give one per input (None where an input gets no gradient)")
    rng = np.random.default_rng(3)
    for xs in _variant_dtypes(inputs):
        output = np.asarray(op.forward(np, *xs, **attrs))
        grad = rng.standard_normal(output.shape).astype(output.dtype)
        needs = _needs(op, xs, differentiable)
        want = tuple(op.backward(np, grad, tuple(xs), output, **_backward_kwargs(op, attrs, needs)))
        for i, entry in enumerate(template):
            if not needs[i]:
                continue
            variant = f"inline_backward[{i}] {entry!r}"
            if entry is None or want[i] is None:
                if entry is not None or want[i] is not None:
                    gives = "no gradient" if entry is None else "a gradient"
                    raise OpCheckError(f"op {op.name!r}: {variant} gives {gives} for input {i} and backward does "
                                       "not; they must agree on which inputs get a gradient")
                continue
            got = _evaluate(op, entry, "inline_backward", np, xs, attrs, grad=grad, output=output)
            if entry.strip() != "{grad}":
                _not_an_operand(op, variant, got, {"gradient argument": grad, "output": output,
                                                   **{f"input {j}": x for j, x in enumerate(xs)}},
                                f"the gradient of input {i}")
            _compare(op, variant, _sum_back(np, np.asarray(got), xs[i]), _sum_back(np, np.asarray(want[i]), xs[i]),
                     xs, f"the gradient of input {i} (summed back to {shape_of(xs[i])})",
                     "Make the template compute exactly what backward does (templates are optional).")


def _retired(op):
    old = [name for name in _RETIRED if getattr(op, name, None) is not None]
    if old:
        warnings.warn(
            f"op {op.name!r} defines {', '.join(old)}, which graphengine no longer uses: give forward / backward an "
            "out=None keyword and write into out where it is given (see 'The op contract' in docs/plugins.md)",
            UserWarning, stacklevel=3)


def check_forward_out(op, inputs, attrs, **_):
    """``forward(..., out=buffer)`` gives what ``forward(...)`` gives, twice in a row into
    the same buffer (the engine reuses it), returning the buffer or a new array, never an
    input, and leaving the inputs as they were."""
    _retired(op)
    if not type(op).takes_out()[0]:
        return "skipped: forward takes no out="
    for xs in _variant_dtypes(inputs):
        want = np.asarray(op.forward(np, *xs, **attrs))
        before = [x.copy() for x in xs]
        buffer = np.full(want.shape, np.nan if want.dtype.kind in "fc" else 7, dtype=want.dtype)  # stale contents
        for call in ("first", "second"):
            variant = f"forward(out={describe_value(buffer)}) ({call} call into the buffer)"
            got = op.forward(np, *xs, out=buffer, **attrs)
            if got is not buffer:
                _not_an_operand(op, variant, got, {f"input {j}": x for j, x in enumerate(xs)}, "its result")
            _compare(op, variant, got, want, xs, "the result",
                     "Compute the result with the same code into out (e.g. xp.multiply(a, b, out=out)) and return "
                     "it; never read what out held before.")
        _unchanged(op, "forward(out=...)", before, xs, [f"input {j}" for j in range(len(xs))])


def check_backward_out(op, inputs, attrs, differentiable=None, **_):
    """``backward(..., out=buffers)`` gives what ``backward(...)`` gives, with every
    buffer and with each one alone, twice into the same buffers; each gradient is its
    buffer, ``grad`` itself or a new array, never an input or the output; nothing but the
    buffers is written."""
    if not type(op).takes_out()[1]:
        return "skipped: backward takes no out="
    if not op.differentiable:
        return "skipped: the op is not differentiable"
    rng = np.random.default_rng(4)
    for xs in _variant_dtypes(inputs):
        output = np.asarray(op.forward(np, *xs, **attrs))
        grad = rng.standard_normal(output.shape).astype(output.dtype)
        needs = _needs(op, xs, differentiable)
        kwargs = _backward_kwargs(op, attrs, needs)
        want = tuple(op.backward(np, grad, tuple(xs), output, **kwargs))
        wanted = [i for i, need in enumerate(needs) if need and want[i] is not None]
        layouts = [tuple(wanted)] + ([(i,) for i in wanted] if len(wanted) > 1 else [])
        for layout in layouts:
            buffers = tuple(np.full(shape_of(x), np.nan, dtype=x.dtype) if i in layout else None
                            for i, x in enumerate(xs))
            before = [x.copy() for x in xs] + [grad.copy(), output.copy()]
            names = [f"input {j}" for j in range(len(xs))] + ["gradient argument", "output"]
            shown = "(" + ", ".join(describe_value(b) for b in buffers) + ")"
            for call in ("first", "second"):
                variant = f"backward(out={shown}) ({call} call into the buffers)"
                got = tuple(op.backward(np, grad, tuple(xs), output, out=buffers, **kwargs))
                if len(got) != len(xs):
                    raise OpCheckError(f"op {op.name!r}: {variant} returned {len(got)} gradients for {len(xs)} inputs")
                for i in wanted:
                    g = got[i]
                    if g is None:
                        raise OpCheckError(f"op {op.name!r}: {variant} returned None for input {i}, backward() "
                                           "returns a gradient")
                    if g is not buffers[i] and g is not grad:
                        _not_an_operand(op, variant, g, {"output": output, **{f"input {j}": x for j, x in enumerate(xs)}},
                                        f"the gradient of input {i}")
                    _compare(op, variant, _sum_back(np, np.asarray(g), xs[i]), _sum_back(np, np.asarray(want[i]), xs[i]),
                             xs, f"the gradient of input {i}",
                             "Compute each gradient with the same code into its out entry and return it; never "
                             "read what the buffer held before.")
            _unchanged(op, "backward(out=...)", before, list(xs) + [grad, output], names)


CHECKS = (
    check_forward_returns_array,
    check_forward_matches_reference,
    check_shape_rule,
    check_float32_preserved,
    check_gradient,
    check_inline_forward,
    check_inline_backward,
    check_forward_out,
    check_backward_out,
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
