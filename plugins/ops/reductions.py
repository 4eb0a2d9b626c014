"""Reductions over ``dim`` (torch's name; NumPy's ``axis`` is accepted too) with
``keepdim`` (or ``keepdims``): sum, mean, max, min, prod, logsumexp, var, std, norm,
argmax, argmin, any, all; and the cumulative ops cumsum, cumprod, logcumsumexp.

Names, arguments and semantics follow torch (``torch.var(x, dim, correction=1,
keepdim=False)``); options are keyword attributes: ``ge.ops.var(h, dim=1, keepdim=True)``.
``dim=None`` reduces every axis. Dtypes follow torch: float stays float (float32 stays
float32); sum, prod, cumsum and cumprod of integer or bool data give int64; mean, var,
std, norm, logsumexp and logcumsumexp of integer data give float32; argmax / argmin give
int64 and any / all give bool (those four have no gradient).
"""

import contextlib

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, ShapeError, reduced_shape

Dims = int | tuple[int, ...] | None  # attribute annotation: an axis, a tuple of axes, or None (every axis)

_INTEGER_KINDS = "biu"


def _expand(xp, grad, shape, axis, keepdims):
    """Put reduced axes back so ``grad`` broadcasts against the input."""
    if keepdims or axis is None and grad.ndim == len(shape):
        return grad
    axes = ge.normalize_axis(axis, len(shape))
    return xp.reshape(grad, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _alias(op, torch_name, torch_value, numpy_name, numpy_value):
    """One option given under its torch name or its NumPy name (None: not given)."""
    if numpy_value is None:
        return torch_value
    if torch_value is None or torch_value == numpy_value:
        return numpy_value
    raise AttributeSpecError(
        f"op {op.name!r} got {torch_name}={torch_value!r} and {numpy_name}={numpy_value!r}: both name the same "
        f"option ({torch_name} as in torch, {numpy_name} as in NumPy); pass only one of them")


def _quiet(xp):
    """NumPy's divide / invalid warnings off where torch's answer is inf or nan anyway."""
    return np.errstate(divide="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


def _count(shape, axis) -> int:
    """Number of entries reduced together."""
    return int(np.prod([shape[a] for a in ge.normalize_axis(axis, len(shape))], dtype=np.int64))


def _floating(xp, x):
    """x itself when floating, else x as float32 (torch's default dtype)."""
    return x if x.dtype.kind in "fc" else x.astype(xp.float32)


def _floating_dtype(dtype):
    return dtype if dtype is None or np.dtype(dtype).kind in "fc" else np.dtype(np.float32)


def _accumulator(dtype):
    """int64 for integer and bool data (torch's sum / prod / cumsum), None (keep) otherwise."""
    return np.dtype(np.int64) if dtype is not None and np.dtype(dtype).kind in _INTEGER_KINDS else None


class _Reduction(ge.Op):
    """Base of the reductions: ``dim`` / ``axis`` and ``keepdim`` / ``keepdims``."""

    def options(self, dim, keepdim, axis, keepdims):
        """(axis, keepdims) from torch's or NumPy's names."""
        return (_alias(self, "dim", dim, "axis", axis),
                bool(_alias(self, "keepdim", keepdim, "keepdims", keepdims)))

    def shape(self, x, *, dim=None, keepdim=None, axis=None, keepdims=None, **_):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return reduced_shape(x, axis, keep)


class Sum(_Reduction):
    """y = Σ_dim x. The gradient broadcasts back over the summed axes (d/dx = 1).
    Integer and bool data sum to int64, as in torch.

    >>> ge.ops.sum(h, dim=1, keepdim=True)     # or axis=1, keepdims=True
    """

    name = "sum"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return xp.asarray(xp.sum(x, axis=axis, keepdims=keep, dtype=_accumulator(x.dtype)))

    def backward(self, xp, grad, inputs, output, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        return (xp.broadcast_to(_expand(xp, grad, x.shape, axis, keep), x.shape).copy(),)

    def dtype(self, x, **_):
        acc = _accumulator(x)
        return x if acc is None else acc


class Mean(_Reduction):
    """y = (1/n) Σ_dim x, n = number of averaged entries. d/dx = 1/n, broadcast back.

    >>> loss = ge.ops.mean(ge.ops.mse(prediction, target))
    """

    name = "mean"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return xp.asarray(xp.mean(_floating(xp, x), axis=axis, keepdims=keep))

    def backward(self, xp, grad, inputs, output, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        g = _expand(xp, grad, x.shape, axis, keep) / _count(x.shape, axis)
        return (xp.broadcast_to(g, x.shape).astype(grad.dtype),)

    def dtype(self, x, **_):
        return _floating_dtype(x)


class Max(_Reduction):
    """y = max_dim x (the values; torch.max(x, dim) also returns indices: see argmax).
    d/dx = 1 at the maximal entry, 0 elsewhere (split evenly on ties, as torch.amax).

    >>> ge.ops.max(scores, dim=-1)
    """

    name = "max"
    saves = ("inputs", "output")
    _reduce = "max"

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return xp.asarray(getattr(xp, self._reduce)(x, axis=axis, keepdims=keep))

    def backward(self, xp, grad, inputs, output, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        out = _expand(xp, output, x.shape, axis, keep)
        mask = (x == out).astype(grad.dtype)
        count = xp.sum(mask, axis=axis, keepdims=True)
        return (mask / count * _expand(xp, grad, x.shape, axis, keep),)


class Min(Max):
    """y = min_dim x (the values; the indices are argmin). d/dx = 1 at the minimal entry,
    0 elsewhere (split evenly on ties, as torch.amin).

    >>> ge.ops.min(distances, dim=1)     # [[3., 1.], [0., 2.]] -> [1., 0.]
    """

    name = "min"
    _reduce = "min"


class LogSumExp(_Reduction):
    """y = log Σ_dim e^x, computed stably as m + log Σ e^(x - m) with m = max_dim x
    (no overflow for any finite x; rows of -inf give -inf).

    d/dx = softmax(x) along the reduced axes. Backward recomputes it from the shifted
    exponentials rather than as e^(x - y): in float32, y ≈ 1e4 is only known to about
    1e-3, which would be the error of every gradient entry.

    >>> ge.ops.logsumexp(logits, dim=1)
    """

    name = "logsumexp"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = _floating(xp, x)
        m = _finite_max(xp, x, axis)
        total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
        with _quiet(xp):
            s = xp.log(total) + m  # a row of -inf sums to 0: log 0 = -inf is the answer
        if not keep:
            s = xp.reshape(s, reduced_shape(x.shape, axis, False))
        return xp.asarray(s)

    def backward(self, xp, grad, inputs, output, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        e = xp.exp(x - _finite_max(xp, x, axis))
        softmax = e / xp.sum(e, axis=axis, keepdims=True)
        return (softmax * _expand(xp, grad, x.shape, axis, keep),)

    def dtype(self, x, **_):
        return _floating_dtype(x)


def _finite_max(xp, x, axis):
    """max over ``axis`` (kept), with non-finite maxima (rows of -inf) replaced by 0."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, xp.zeros((), dtype=m.dtype))


# --------------------------------------------------------------------------- moments

class Var(_Reduction):
    """y = Σ_dim (x - x̄)² / max(n - correction, 0), n = entries reduced together;
    ``correction=1`` (the default, as torch) is the unbiased sample variance, 0 the
    population variance. n - correction <= 0 gives inf or nan, as torch.

    d/dx = 2 (x - x̄) / (n - correction).

    >>> ge.ops.var(h, dim=0, correction=0)     # [[1., 2.], [3., 6.]] -> [1., 4.]
    """

    name = "var"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: Dims = None, correction: float = 1, keepdim: bool | None = None,
                axis: Dims = None, keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = _floating(xp, x)
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        with _quiet(xp):
            return xp.asarray(xp.sum(centred * centred, axis=axis, keepdims=keep) / _dof(x.shape, axis, correction))

    def backward(self, xp, grad, inputs, output, *, dim=None, correction=1, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        with _quiet(xp):
            return (_expand(xp, grad, x.shape, axis, keep) * (centred * 2 / _dof(x.shape, axis, correction)),)

    def dtype(self, x, **_):
        return _floating_dtype(x)


def _dof(shape, axis, correction) -> float:
    """Degrees of freedom n - correction, at least 0 (as a Python float: weak, no upcast)."""
    return float(max(_count(shape, axis) - correction, 0))


class Std(_Reduction):
    """y = √var(x, dim, correction) (see var; correction=1 by default, as torch).

    d/dx = (x - x̄) / ((n - correction) · y), and 0 where y = 0 (a constant slice), as
    torch.

    >>> ge.ops.std(h, dim=1, keepdim=True)
    """

    name = "std"
    saves = ("inputs", "output")

    def forward(self, xp, x, *, dim: Dims = None, correction: float = 1, keepdim: bool | None = None,
                axis: Dims = None, keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = _floating(xp, x)
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        with _quiet(xp):
            return xp.asarray(xp.sqrt(xp.sum(centred * centred, axis=axis, keepdims=keep)
                                      / _dof(x.shape, axis, correction)))

    def backward(self, xp, grad, inputs, output, *, dim=None, correction=1, keepdim=None, axis=None,
                 keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        std = _expand(xp, output, x.shape, axis, keep)
        zero = std == 0
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        with _quiet(xp):
            scale = _expand(xp, grad, x.shape, axis, keep) / (xp.where(zero, 1, std) * _dof(x.shape, axis, correction))
        return (xp.where(zero, xp.zeros((), dtype=scale.dtype), centred * scale),)

    def dtype(self, x, **_):
        return _floating_dtype(x)


class Prod(_Reduction):
    """y = Π_dim x. d/dxᵢ = Π_{j≠i} xⱼ, computed as (product of the entries before i) ·
    (product of those after i), never as y / xᵢ: exact where entries are 0 (with a single
    0, only that entry gets a gradient). Integer and bool data give int64, as torch.

    >>> ge.ops.prod(x, dim=1)     # [[2., 3.], [0., 5.]] -> [6., 0.]; d/dx = [[3., 2.], [5., 0.]]
    """

    name = "prod"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return xp.asarray(xp.prod(x, axis=axis, keepdims=keep, dtype=_accumulator(x.dtype)))

    def backward(self, xp, grad, inputs, output, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        x = inputs[0]
        axes = ge.normalize_axis(axis, x.ndim)
        kept = [i for i in range(x.ndim) if i not in axes]
        order = kept + list(axes)
        moved = xp.transpose(x, order)  # reduced axes last, flattened into one
        flat = xp.reshape(moved, tuple(x.shape[i] for i in kept) + (_count(x.shape, axis),))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), axis=-1), axis=-1), axis=-1)
        others = xp.transpose(xp.reshape(before * after, moved.shape), tuple(np.argsort(order)))
        return (others * _expand(xp, grad, x.shape, axis, keep),)

    def dtype(self, x, **_):
        acc = _accumulator(x)
        return x if acc is None else acc


class Norm(_Reduction):
    """Vector p-norm over ``dim`` (all axes by default), as torch.norm /
    torch.linalg.vector_norm: y = (Σ |x|^p)^(1/p).

    ``p``: 2 (default; also ``"fro"``, the same number for the flattened entries), 1,
    ``inf`` (max |x|), ``-inf`` (min |x|), 0 (count of non-zero entries, no gradient) or
    any number >= 1. Gradients: p=2: x / y; p=1: sign(x); inf / -inf: sign(x) at the
    extreme entries, split evenly on ties; general p: sign(x)·|x|^(p-1) / y^(p-1). At a
    zero vector the gradient is 0 (torch's subgradient).

    >>> ge.ops.norm(v, dim=1)                  # [[3., 4.]] -> [5.]
    >>> ge.ops.norm(w, p=float("inf"))         # the largest |entry|
    """

    name = "norm"
    saves = ("inputs", "output")

    def forward(self, xp, x, *, p: float | str = 2, dim: Dims = None, keepdim: bool | None = None,
                axis: Dims = None, keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        p = _order(p)
        x = _floating(xp, x)
        magnitude = xp.abs(x)
        if p == float("inf"):
            y = xp.max(magnitude, axis=axis, keepdims=keep)
        elif p == -float("inf"):
            y = xp.min(magnitude, axis=axis, keepdims=keep)
        elif p == 0:
            y = xp.sum(magnitude != 0, axis=axis, keepdims=keep).astype(x.dtype)
        elif p == 1:
            y = xp.sum(magnitude, axis=axis, keepdims=keep)
        elif p == 2:
            y = xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keep))
        else:
            y = xp.sum(magnitude ** p, axis=axis, keepdims=keep) ** (1 / p)
        return xp.asarray(y)

    def backward(self, xp, grad, inputs, output, *, p=2, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        p = _order(p)
        x = inputs[0]
        g = _expand(xp, grad, x.shape, axis, keep)
        y = _expand(xp, output, x.shape, axis, keep)
        zero = xp.zeros((), dtype=g.dtype)
        if p in (float("inf"), -float("inf")):
            extreme = (xp.abs(x) == y).astype(g.dtype)
            return (xp.sign(x) * extreme / xp.sum(extreme, axis=axis, keepdims=True) * g,)
        if p == 0:
            return (xp.zeros(x.shape, dtype=g.dtype),)
        if p == 1:
            return (xp.sign(x) * g,)
        vanishing = y == 0
        safe = xp.where(vanishing, 1, y)
        if p == 2:
            return (xp.where(vanishing, zero, x / safe * g),)
        return (xp.where(vanishing, zero, xp.sign(x) * (xp.abs(x) / safe) ** (p - 1) * g),)

    def shape(self, x, *, p=2, dim=None, keepdim=None, axis=None, keepdims=None):
        _order(p)
        return super().shape(x, dim=dim, keepdim=keepdim, axis=axis, keepdims=keepdims)

    def dtype(self, x, **_):
        return _floating_dtype(x)


def _order(p) -> float:
    """The norm's p as a float ("fro" is 2); refuses what norm does not compute."""
    if isinstance(p, str):
        if p == "fro":
            return 2.0
        raise AttributeSpecError(f"norm: p={p!r} is not supported; give 'fro', 2, 1, 0, inf, -inf or a number >= 1 "
                                 "(the nuclear norm 'nuc' needs an SVD: not an op yet)")
    p = float(p)
    if not (p >= 1 or p == 0 or p == -float("inf")):
        raise AttributeSpecError(f"norm: p={p} is not supported; give 'fro', 2, 1, 0, inf, -inf or a number >= 1")
    return p


# --------------------------------------------------------------------------- indices and logic

class _NoGradient(_Reduction):
    differentiable = False
    saves = ()


class ArgMax(_NoGradient):
    """Index of the largest entry along ``dim`` (int64; the first one on ties, as torch).
    ``dim=None`` gives the index into the flattened input. No gradient.

    >>> ge.ops.argmax(logits, dim=1)     # [[0.1, 2.0, -1.0]] -> [1]
    """

    name = "argmax"
    _arg = "argmax"

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        find = getattr(xp, self._arg)
        if axis is None or x.ndim == 0:
            index = find(xp.reshape(x, (-1,)))
            return xp.reshape(xp.asarray(index, dtype=xp.int64), (1,) * x.ndim if keep else ())
        return xp.asarray(find(x, axis=axis, keepdims=keep), dtype=xp.int64)

    def shape(self, x, *, dim=None, keepdim=None, axis=None, keepdims=None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        if axis is not None and not isinstance(axis, (int, np.integer)):
            raise AttributeSpecError(f"{self.name} takes one dim (an int) or None (the flattened input), "
                                     f"not {axis!r}; reshape first to search several axes together")
        if len(x) == 0:
            if axis not in (None, 0, -1):
                raise ShapeError(f"dim {axis} is out of range for a 0-d input (use 0, -1 or None)")
            return ()
        if any(d == 0 for d in x):
            raise ShapeError(f"{self.name} of an empty input {tuple(x)} has no answer")
        return reduced_shape(x, axis, keep)

    def dtype(self, x, **_):
        return np.dtype(np.int64)


class ArgMin(ArgMax):
    """Index of the smallest entry along ``dim`` (int64; the first one on ties, as torch).
    ``dim=None`` gives the index into the flattened input. No gradient.

    >>> ge.ops.argmin(distances, dim=-1)
    """

    name = "argmin"
    _arg = "argmin"


class Any(_NoGradient):
    """True where some entry along ``dim`` is non-zero (bool, as torch.any). No gradient.

    >>> ge.ops.any(mask, dim=1)
    """

    name = "any"
    _logic = "any"

    def forward(self, xp, x, *, dim: Dims = None, keepdim: bool | None = None, axis: Dims = None,
                keepdims: bool | None = None):
        axis, keep = self.options(dim, keepdim, axis, keepdims)
        return xp.asarray(getattr(xp, self._logic)(x, axis=axis, keepdims=keep))

    def dtype(self, x, **_):
        return np.dtype(bool)


class All(Any):
    """True where every entry along ``dim`` is non-zero (bool, as torch.all). No gradient.

    >>> ge.ops.all(ge.ops.isfinite(h))
    """

    name = "all"
    _logic = "all"


# --------------------------------------------------------------------------- cumulative

class _Cumulative(ge.Op):
    """Base of the scans along one ``dim`` (required, as in torch; ``axis`` accepted too)."""

    saves = ("inputs", "output")

    def axis(self, x_ndim, dim, axis):
        axis = _alias(self, "dim", dim, "axis", axis)
        if axis is None:
            raise AttributeSpecError(f"{self.name} needs dim=, the axis to accumulate along "
                                     f"(as torch.{self.name}(x, dim)): ge.ops.{self.name}(x, dim=1)")
        if not isinstance(axis, (int, np.integer)):
            raise AttributeSpecError(f"{self.name} takes one dim (an int), not {axis!r}")
        return ge.normalize_axis(axis, max(x_ndim, 1))[0]

    def shape(self, x, *, dim=None, axis=None):
        self.axis(len(x), dim, axis)
        return tuple(x)

    def scan(self, xp, x, dim, axis, along):
        """``along(x, axis)`` on x, with a 0-d x treated as one entry."""
        a = self.axis(x.ndim, dim, axis)
        if x.ndim == 0:
            return xp.reshape(along(xp.reshape(x, (1,)), 0), ())
        return along(x, a)


def _reverse_cumsum(xp, g, axis):
    return xp.flip(xp.cumsum(xp.flip(g, axis=axis), axis=axis), axis=axis)


class CumSum(_Cumulative):
    """yᵢ = Σ_{j<=i} xⱼ along ``dim``. d/dxᵢ = Σ_{j>=i} gradⱼ (a reversed cumsum).
    Integer and bool data give int64, as torch.

    >>> ge.ops.cumsum(x, dim=0)     # [1., 2., 3.] -> [1., 3., 6.]
    """

    name = "cumsum"
    saves = ()

    def forward(self, xp, x, *, dim: int | None = None, axis: int | None = None):
        return self.scan(xp, x, dim, axis, lambda v, a: xp.cumsum(v, axis=a, dtype=_accumulator(v.dtype)))

    def backward(self, xp, grad, inputs, output, *, dim=None, axis=None):
        return (self.scan(xp, grad, dim, axis, lambda g, a: _reverse_cumsum(xp, g, a)),)

    def dtype(self, x, **_):
        acc = _accumulator(x)
        return x if acc is None else acc


class CumProd(_Cumulative):
    """yᵢ = Π_{j<=i} xⱼ along ``dim``. Integer and bool data give int64, as torch.

    d/dxᵢ = Σ_{j>=i} gradⱼ · Π_{k<=j, k≠i} xₖ, exact with zeros in x: before the first
    zero it is Σ_{j>=i} gradⱼ yⱼ / xᵢ (no xᵢ there is 0); at the first zero z it is
    Σ_{j>=z} gradⱼ · (the cumprod of x with x_z set to 1)ⱼ; after it, 0.

    >>> ge.ops.cumprod(x, dim=0)     # [2., 0., 3.] -> [2., 0., 0.]; d/dx = [1., 8., 0.] for grad 1
    """

    name = "cumprod"

    def forward(self, xp, x, *, dim: int | None = None, axis: int | None = None):
        return self.scan(xp, x, dim, axis, lambda v, a: xp.cumprod(v, axis=a, dtype=_accumulator(v.dtype)))

    def backward(self, xp, grad, inputs, output, *, dim=None, axis=None):
        x = inputs[0]
        if x.ndim == 0 or x.size == 0:
            return (grad * xp.ones((), dtype=grad.dtype),)
        a = self.axis(x.ndim, dim, axis)
        nonzero = x != 0
        before = xp.cumprod(nonzero, axis=a).astype(bool)  # every entry up to i is non-zero
        ones = xp.ones_like(xp.take(before, xp.arange(1), axis=a))
        up_to_previous = xp.concatenate([ones, xp.take(before, xp.arange(x.shape[a] - 1), axis=a)], axis=a)
        first_zero = ~nonzero & up_to_previous
        one = xp.ones((), dtype=x.dtype)
        zero = xp.zeros((), dtype=grad.dtype)
        dx = _reverse_cumsum(xp, grad * output, a) / xp.where(before, x, one)
        skipped = xp.cumprod(xp.where(first_zero, one, x), axis=a)  # the products without x_z
        at_zero = _reverse_cumsum(xp, grad * skipped, a)
        return (xp.where(before, dx, xp.where(first_zero, at_zero, zero)),)

    dtype = CumSum.dtype


class LogCumSumExp(_Cumulative):
    """yᵢ = log Σ_{j<=i} e^(xⱼ) along ``dim``, computed stably as a log-space scan
    (logaddexp over doubling strides: no overflow, and early entries far below later ones
    keep their value: [-1000, 0] -> [-1000, 0]).

    d/dxᵢ = Σ_{j>=i} gradⱼ e^(xᵢ - yⱼ), summed in log space separately for positive and
    negative gradients (no overflow either).

    >>> ge.ops.logcumsumexp(x, dim=1)
    """

    name = "logcumsumexp"

    def forward(self, xp, x, *, dim: int | None = None, axis: int | None = None):
        return self.scan(xp, _floating(xp, x), dim, axis, lambda v, a: _log_scan(xp, v, a))

    def backward(self, xp, grad, inputs, output, *, dim=None, axis=None):
        x = inputs[0]
        if x.ndim == 0:
            return (grad * xp.ones((), dtype=grad.dtype),)
        a = self.axis(x.ndim, dim, axis)
        minus_inf = xp.asarray(-np.inf, dtype=grad.dtype)
        magnitude = xp.where(grad != 0, xp.abs(grad), 1)
        total = xp.zeros(x.shape, dtype=grad.dtype)
        for sign, picked in ((1, grad > 0), (-1, grad < 0)):
            log_part = xp.where(picked, xp.log(magnitude), minus_inf) - output
            reverse = xp.flip(_log_scan(xp, xp.flip(log_part, axis=a), a), axis=a)
            total = total + sign * xp.exp(x + reverse)
        return (total,)

    def dtype(self, x, **_):
        return _floating_dtype(x)


def _log_scan(xp, x, axis):
    """log Σ_{j<=i} e^(xⱼ) along ``axis``: a Hillis-Steele scan with logaddexp (log n steps)."""
    y = xp.moveaxis(x, axis, -1).copy()
    n, step = y.shape[-1], 1
    while step < n:
        y[..., step:] = xp.logaddexp(y[..., step:], y[..., :-step])  # the right side is computed first
        step *= 2
    return xp.moveaxis(y, -1, axis)
