"""The interpreter: walks a program step by step, with every check.

It runs the first forward of every program for each feed signature (the fed arrays'
shapes and dtypes, on which the shape rules depend), checking what each op returns: an
array of the declared shape and dtype, and where the static shape leaves sizes open, of
the shape the op's shape rule gives for the actual inputs' shapes. It runs the first
backward of every target (one gradient per input, summed back to the input's shape),
every run with ``check_finite=True``, the probe run of a compiled training step, and
programs too large to generate code for. Later runs of a signature that passed replay the
same program as generated code (:mod:`graphengine.emitter`), which checks no forward
result; generated backward code sums every gradient back as this one does (a gradient
that does not fit its input raises there too).
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from .errors import BackwardError, DtypeRuleWarning, GraphEngineError, GraphStructureError, NonFiniteError, OpExecutionError, ShapeError
from .node import CONST, INPUT, OP, PARAM
from .op import describe_value, format_shape, shapes_compatible, sum_to_shape


class FreedValue:
    """What a run keeps of a value whose backward reads only its shape (to sum a
    broadcast gradient back): the array itself is freed."""

    __slots__ = ("shape", "dtype")

    def __init__(self, value):
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<freed {self.dtype}{list(self.shape)}>"


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def interpret_forward(program, values, xp, check_finite=False):
    """Run the forward steps, checking each op's output; ``values`` (by slot) holds the
    inputs and receives the values, each freed after its last use unless the program keeps
    it (a freed value leaves its shape and dtype: a :class:`FreedValue`)."""
    for s, node in program.params + program.consts:
        values[s] = node._value
    if check_finite:
        for s, node in program.inputs + program.params + program.consts:
            value = values[s]
            check_finite_value(xp, value if hasattr(value, "dtype") else xp.asarray(value), node, "value")
    keep_all, free_after, ndarray = program.keep_all, program.free_after, xp.ndarray
    for k, step in enumerate(program.steps):
        args = [values[i] for i in step.inputs]
        try:
            out = step.impl.forward(xp, *args, **step.attrs) if step.attrs else step.impl.forward(xp, *args)
        except Exception as exc:
            raise op_error(step.node, args, exc, "forward") from exc
        node = step.node
        if type(out) is not ndarray or out.shape != node.shape or node.dtype is None or out.dtype != node.dtype:
            if isinstance(out, np.generic):
                out = xp.asarray(out)  # NumPy ufuncs turn 0-d results into scalars
            check_output(xp, node, out, args)
        if check_finite:
            check_finite_value(xp, out, node, "value")
        values[step.slot] = out
        if not keep_all:
            for i in free_after[k]:
                values[i] = FreedValue(values[i])


def check_output(xp, node, out, args):
    """An op's forward result is an array of the shape and dtype its rules declared."""
    if not isinstance(out, xp.ndarray):
        raise op_error(node, args, TypeError(
            f"forward returned {type(out).__module__}.{type(out).__name__}, not an array; "
            "return xp.asarray(...) (NumPy reductions return scalars)"), "forward")
    if node.shape is not None and node.shape != out.shape and not shapes_compatible(node.shape, out.shape):
        raise op_error(node, args, ShapeError(
            f"forward returned shape {format_shape(out.shape)}, but the op's shape rule said "
            f"{format_shape(node.shape)}"), "forward")
    if node.shape is None or None in node.shape:
        check_shape_rule(node, out, args)
    if node.dtype is None:
        check_dtype_rule(node, out, args)
    elif out.dtype != node.dtype:
        raise op_error(node, args, TypeError(
            f"forward returned dtype {out.dtype}, but the op's dtype rule said {node.dtype}; make forward keep "
            "the dtype its dtype() method gives (cast constants with .astype(x.dtype))"), "forward")


def check_dtype_rule(node, out, args):
    """Where the static dtype is unknown (an input declared without ``dtype=`` upstream),
    the op's dtype rule on the actual inputs' dtypes should give the dtype forward returned.
    Where it does not, integer data reached an op that casts it to float only when the dtype
    is known at build time, and NumPy promoted it instead: the run warns, naming the node."""
    dtypes = [getattr(a, "dtype", None) for a in args]
    expected = node._op_impl.result_dtype(dtypes, [type(a) for a in args if not hasattr(a, "dtype")], node.attrs)
    if expected is None or expected == out.dtype:  # None: a rule that cannot judge these dtypes
        return
    undeclared = [n.name for n in node.inputs if n.kind == INPUT and n.dtype is None]
    if undeclared:
        why = f"input {undeclared[0]!r} has no declared dtype, so its integer data was not cast at build time"
        fix = (f"Declare the input's dtype (g.input({undeclared[0]!r}, ..., dtype='int64') casts integer data to "
               "float where an op needs it, visibly) or feed floating data.")
    else:
        why = ("its integer input was not cast at build time (an input upstream has no declared dtype, the node "
               "was rewired onto it, or no cast op is registered)")
        fix = "Cast it explicitly (ge.ops.cast(node, dtype='float32')) or declare the dtypes of the inputs upstream."
    warnings.warn(
        f"node {node.name!r} (op {node.op}) computed {out.dtype} from inputs of dtypes "
        f"{', '.join(str(d) if d is not None else type(a).__name__ for d, a in zip(dtypes, args))}, where "
        f"graphengine's dtype rules give {expected}: {why}, and NumPy promoted it. {fix}", DtypeRuleWarning,
        stacklevel=_outside_graphengine())


def _outside_graphengine() -> int:
    """The ``stacklevel`` of the first caller outside graphengine (the user's g.forward line)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def check_shape_rule(node, out, args):
    """Where the static shape leaves sizes open (a batch axis None), the op's shape rule
    evaluated on the actual inputs' shapes must give the shape forward returned."""
    shapes = [tuple(getattr(a, "shape", ())) for a in args]
    try:
        expected = node._op_impl.shape(*shapes, **node.attrs)
    except (GraphEngineError, ValueError, TypeError, IndexError) as exc:
        raise op_error(node, args, ShapeError(
            f"the op's shape rule refuses the actual inputs' shapes "
            f"({', '.join(format_shape(s) for s in shapes) or 'none'}): {exc}"), "forward") from exc
    if expected is None:
        return
    expected = tuple(None if d is None else int(d) for d in expected)
    if not shapes_compatible(expected, out.shape):
        error = ShapeError(
            f"forward returned shape {format_shape(out.shape)}, but op {node.op!r}'s shape rule gives "
            f"{format_shape(expected)} for the actual inputs' shapes "
            f"({', '.join(format_shape(s) for s in shapes)}); fix the op's forward or its shape rule so "
            "that they agree")
        raise op_error(node, args, error, "forward") from error


def contributions(step, needs, grad, values, xp):
    """Call ``step``'s backward; its gradients, one per input, each summed back to its
    input's shape (None where an input needs none or the op gave none)."""
    impl, slots, attrs = step.impl, step.inputs, step.attrs
    saves = impl.saves
    inputs = tuple([values[i] for i in slots]) if "inputs" in saves else (None,) * len(slots)
    output = values[step.slot] if "output" in saves else None
    try:
        if step.pass_needs:
            result = impl.backward(xp, grad, inputs, output, needs_grad=needs, **attrs)
        else:
            result = impl.backward(xp, grad, inputs, output, **attrs) if attrs else impl.backward(xp, grad, inputs, output)
        if len(result) != len(slots):
            raise GraphStructureError(
                f"backward returned {len(result)} gradients for {len(slots)} inputs; "
                "return one per input (None where an input has no gradient)")
        out = list(result)
        for position, c in enumerate(result):
            like = values[slots[position]]  # freed only where the static shape is fully known
            if c is None or not needs[position]:
                out[position] = None
            elif type(c) is not xp.ndarray or c.shape != getattr(like, "shape", None):
                if isinstance(c, np.generic):
                    c = xp.asarray(c)  # 0-d gradients stay arrays
                shape = like.shape if hasattr(like, "shape") else step.node.inputs[position].shape
                out[position] = c if c.shape == shape else sum_back(xp, c, shape, position)
        return out
    except Exception as exc:
        raise op_error(step.node, [values[i] for i in slots], exc, "backward") from exc


def sum_back(xp, grad, shape, position=0):
    """A gradient summed back to its input's ``shape`` (the engine's one place for it)."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    out = sum_to_shape(xp, grad, shape)
    if out.shape != shape:
        raise ShapeError(
            f"backward returned a gradient of shape {format_shape(grad.shape)} for input {position} of shape "
            f"{format_shape(shape)}; return the input's shape, or a shape that broadcasting made from it")
    return out


def interpret_backward(program, backward, values, grads, seed, xp, check_finite=False):
    """The reverse sweep: ``grads`` (by slot) receives the gradients; one the program does
    not keep is dropped once used, leaving its shape and dtype (a :class:`FreedValue`)."""
    kept = backward.kept if backward.target in backward.kept else backward.kept | {backward.target}
    grads[backward.target] = seed
    order = program.order
    if check_finite:
        check_finite_value(xp, seed, order[backward.target], "gradient")
    none_edges = set()
    for k, (step, needs) in enumerate(backward.steps):
        g = grads[step.slot]
        if g is not None:
            for position, c in enumerate(contributions(step, needs, g, values, xp)):
                if c is None:
                    if needs[position]:
                        none_edges.add((step.slot, position))
                    continue
                i = step.inputs[position]
                grads[i] = c if grads[i] is None else grads[i] + c
                if check_finite:
                    check_finite_value(xp, grads[i], order[i], "gradient", via=step.node.name)
            if step.slot not in kept:
                grads[step.slot] = FreedValue(g)  # complete and used: a gradient nobody keeps goes
        if backward.release is not None:
            for i, _ in backward.release[k]:
                values[i] = FreedValue(values[i])
    backward.none_edges = none_edges
    return grads


def seed_gradient(xp, target, value, grad):
    """The gradient backward starts from: ones for a scalar, else ``grad`` checked."""
    shape = tuple(getattr(value, "shape", ()))
    if grad is None:
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if size != 1:
            raise BackwardError(
                f"backward from {target.name!r} of shape {format_shape(shape)} needs a seed gradient: it is not "
                f"a scalar. Reduce it first (ge.ops.mean / ge.ops.sum), or pass grad= an array of shape "
                f"{format_shape(shape)}.")
        return xp.ones(shape, dtype=value.dtype)
    kind = getattr(getattr(grad, "dtype", None), "kind", None)
    if kind is None:  # not an array: a list, a number, a string, a node, ...
        try:
            kind = np.asarray(grad).dtype.kind
        except Exception:
            kind = "O"
    if kind not in "biuf":
        text = repr(grad)
        raise BackwardError(
            f"seed gradient grad= for backward from {target.name!r} must be a numeric array of the target's shape "
            f"{format_shape(shape)}, got {type(grad).__name__} {text if len(text) <= 60 else text[:57] + '...'}; "
            f"pass e.g. grad=np.ones({shape!r}), or leave grad= out for a scalar target")
    try:
        seed = xp.asarray(grad, dtype=value.dtype)
    except Exception as exc:
        raise BackwardError(
            f"seed gradient grad= for backward from {target.name!r} cannot be made a {value.dtype} array: "
            f"{type(exc).__name__}: {exc}") from exc
    if tuple(seed.shape) != shape:
        raise BackwardError(
            f"seed gradient for {target.name!r} has shape {format_shape(seed.shape)}; it must match the "
            f"target's shape {format_shape(shape)}")
    return seed


def check_finite_value(xp, value, node, what, via=None):
    if value is None or not hasattr(value, "dtype") or value.dtype.kind != "f":
        return
    if bool(xp.isfinite(value).all()):
        return
    kind = "NaN" if bool(xp.isnan(value).any()) else "Inf"
    op = f"op {node.op}" if node.kind == OP else f"{node.kind}"
    where = f" (flowing back from {via!r})" if via else ""
    if node.kind == OP and node.op in ("log", "div", "sqrt", "pow"):
        hint = f"{node.op} of a zero or negative input is the usual cause; clip its input or add an epsilon."
    elif node.kind == OP and node.op == "exp":
        hint = "exp overflows for inputs above ~88 (float32); use a stable form (logsumexp, softplus, *_with_logits)."
    elif node.kind in (INPUT, PARAM):
        hint = "the array already held NaN or Inf before the run; check the data or the last optimizer step."
    elif node.kind == CONST:
        hint = "the const was made from a value holding NaN or Inf; build it from finite numbers."
    else:
        hint = "look at its inputs' values in the run (run.value) to see where it starts."
    raise NonFiniteError(
        f"{what} of node {node.name!r} ({op}, shape {format_shape(value.shape)}) contains {kind}{where}: "
        f"this is the first node whose {what} is not finite. {hint}")


def op_error(node, args, exc, phase) -> OpExecutionError:
    """The error for an op that failed: node, op, attributes, inputs' shapes and dtypes."""
    described = ", ".join(f"{src.name!r} {describe_value(a)}" for src, a in zip(node.inputs, args)) or "none"
    attrs = ", ".join(f"{k}={v!r}" for k, v in node.attrs.items())
    return OpExecutionError(
        f"{phase} of node {node.name!r} (op {node.op}{', ' + attrs if attrs else ''}) failed: "
        f"{type(exc).__name__}: {exc}. Inputs: {described}.")


__all__ = ["interpret_forward", "interpret_backward", "contributions", "seed_gradient", "op_error", "FreedValue"]
