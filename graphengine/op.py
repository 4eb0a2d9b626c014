"""The op contract: the base class every op plugin subclasses, and helpers for it.

An op is one small class with forward, backward and shape rule side by side::

    class Swish(ge.Op):
        name = "swish"
        saves = ("inputs", "output")       # what backward reads; the rest is freed

        def forward(self, xp, x):
            return x / (1 + xp.exp(-x))

        def backward(self, xp, grad, inputs, output):
            (x,) = inputs
            s = 1 / (1 + xp.exp(-x))
            return (grad * (s + output * (1 - s)),)

        def shape(self, x):
            return x

``xp`` is the backend's array module (numpy or cupy). ``backward`` returns one gradient
per input (``None`` for an input that is not differentiable), each summed back to the
input's shape when the input was broadcast (:func:`unbroadcast`). Shapes given to
``shape`` are tuples whose entries may be ``None`` (a batch axis not known until run time).
``backward`` may also take ``needs_grad=`` (a tuple of bools, one per input) to skip the
gradients nobody reads.

Optional, for speed only (an op without them is run through its methods, correctly):

* ``inline_forward`` / ``inline_backward`` / ``inline_unbroadcast``: expression templates
  the generated code pastes in place of the method calls (:mod:`graphengine.codegen`);
* ``forward_into`` / ``backward_into``: the same rules writing into reused buffers, used
  by the fused training step (:mod:`graphengine.training_step`).

``graphengine.testing.check_op`` checks the templates and the methods agree.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import numpy as np

from .errors import ShapeError

Shape = tuple  # entries: int or None (unknown until run time)


class Op:
    """Base class of ops. Subclasses set ``name`` and write ``forward`` and ``backward``.

    Class attributes a subclass may set:

    ``name``
        Registry key; the op appears as ``ge.ops.<name>``.
    ``arity``
        Number of inputs, or ``None`` for a variadic op (concat, stack). By default it is
        read from the signature of ``forward``.
    ``saves``
        Which values backward reads: a tuple of ``"inputs"`` and/or ``"output"``. Values
        that no backward reads are freed after their last use in a fetched run.
    ``differentiable``
        ``False`` for ops whose gradient is zero or undefined everywhere; backward is
        then not called and no gradient flows through.
    """

    name: str = ""
    arity: int | None = None
    saves: tuple = ("inputs", "output")
    differentiable: bool = True
    _attr_names = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._attr_names = None

    def forward(self, xp, *inputs, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError(f"op {self.name!r} has no forward")

    def backward(self, xp, grad, inputs, output, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError(
            f"op {self.name!r} has no backward rule; set differentiable = False if it has none"
        )

    def shape(self, *input_shapes, **attrs):
        """Output shape from input shapes; return None when it cannot be known statically."""
        return None

    def dtype(self, *input_dtypes, **attrs):
        """Output dtype from input dtypes (None entries are weak Python scalars, which
        do not promote: float32 * 2.0 stays float32)."""
        known = [d for d in input_dtypes if d is not None]
        return np.result_type(*known) if known else None

    # -- introspection used by the graph and the scheduler (computed once per class) --

    @classmethod
    def signature_info(cls):
        """(arity, attribute names with defaults, whether backward takes ``needs_grad``)."""
        if cls._attr_names is None:
            sig = inspect.signature(cls.forward)
            params = list(sig.parameters.values())[2:]  # drop self, xp
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                          and p.default is p.empty]
            variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
            attrs = {p.name: p.default for p in params if p.name != "out" and (
                     p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty))}
            any_kw = any(p.kind == p.VAR_KEYWORD for p in params)
            arity = cls.arity if cls.arity is not None or variadic else len(positional)
            bsig = inspect.signature(cls.backward).parameters
            cls._attr_names = (arity, attrs, any_kw, "needs_grad" in bsig)
        return cls._attr_names

    @classmethod
    def takes_out(cls) -> tuple:
        """(forward takes ``out=``, backward takes ``out=``): the optional buffer forms."""
        return ("out" in inspect.signature(cls.forward).parameters,
                "out" in inspect.signature(cls.backward).parameters)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


# --------------------------------------------------------------------------- shapes

def broadcast_shapes(*shapes: Sequence) -> Shape:
    """NumPy broadcasting of static shapes whose entries may be None (unknown)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        dim = 1
        for s in shapes:
            if len(s) < -axis:
                continue
            d = s[axis]
            if d is None:
                if dim == 1:
                    dim = None
            elif d == 1:
                continue
            elif dim == 1 or dim is None:
                dim = d
            elif dim != d:
                raise ShapeError(
                    "shapes " + ", ".join(format_shape(s) for s in shapes)
                    + f" do not broadcast (axis {axis}: {dim} against {d})"
                )
        out.append(dim)
    return tuple(out)


def normalize_axis(axis, ndim: int) -> tuple:
    """Axis argument (None, int or tuple) to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduced_shape(shape: Shape, axis, keepdims: bool) -> Shape:
    axes = normalize_axis(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def format_shape(shape) -> str:
    if shape is None:
        return "(?)"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def shapes_compatible(declared: Shape, actual: Sequence[int]) -> bool:
    """A run-time shape matches a declared one (None entries match anything)."""
    return len(declared) == len(actual) and all(d is None or d == a for d, a in zip(declared, actual))


# --------------------------------------------------------------------------- gradients

def unbroadcast(xp, grad, shape):
    """Sum ``grad`` back to ``shape`` after broadcasting (the gradient of broadcast_to).

    >>> import numpy as np
    >>> unbroadcast(np, np.ones((4, 3)), (3,)).tolist()
    [4.0, 4.0, 4.0]
    """
    gshape = grad.shape
    if gshape == tuple(shape):
        return grad
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, d in enumerate(shape) if d == 1 and gshape[i + lead] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    if lead:
        out = out.reshape(tuple(shape))
    return out


def sum_to_shape(xp, grad, shape):
    """A gradient of a broadcast shape summed back to ``shape`` (unchanged when it cannot
    be: the caller reports the mismatch)."""
    gshape = tuple(grad.shape)
    shape = tuple(shape)
    if gshape == shape or len(gshape) < len(shape):
        return grad
    lead = len(gshape) - len(shape)
    if any(d != 1 and d != gshape[i + lead] for i, d in enumerate(shape)):
        return grad
    return unbroadcast(xp, grad, shape)


def shape_of(value) -> tuple:
    """Shape of an array or a Python scalar."""
    return tuple(getattr(value, "shape", ()))


def describe_value(value) -> str:
    """'float32[2, 3]' style description of an array or scalar for error messages."""
    if value is None:
        return "None"
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return f"{type(value).__name__} scalar"
    return f"{dtype}[{', '.join(str(d) for d in value.shape)}]"


def as_array(xp, value, like=None):
    """``value`` as an array of the backend; Python scalars take ``like``'s dtype."""
    if like is not None and not hasattr(value, "dtype"):
        return xp.asarray(value, dtype=like.dtype)
    return xp.asarray(value)


OpLike = Any
