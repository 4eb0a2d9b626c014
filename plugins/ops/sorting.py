"""Sorting ops: sort, argsort, topk, topk_indices.

An op node has one output, so torch's (values, indices) pairs are two ops over the same
input: ``sort`` gives the sorted values (differentiable) and ``argsort`` the indices;
``topk`` gives the k values (differentiable) and ``topk_indices`` their indices. Both
members of a pair order entries the same way, so they agree index by index::

    values = ge.ops.topk(scores, k=3, dim=1)          # torch.topk(scores, 3, dim=1).values
    where = ge.ops.topk_indices(scores, k=3, dim=1)    # torch.topk(scores, 3, dim=1).indices

Sorting is stable (equal entries keep their order, also when descending), so ties are
broken by position the same way on NumPy and CuPy. Indices are int64 and have no
gradient; the values' gradient goes back to the entry each value came from.
"""

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, ShapeError


def _axis(op, ndim, dim) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise AttributeSpecError(f"{op.name} takes one dim (an int), not {dim!r}")
    return ge.normalize_axis(dim, max(ndim, 1))[0]


def _stable(xp):
    """NumPy's name for its stable sort; CuPy's sort is always stable (kind=None)."""
    return "stable" if xp is np else None


def _order(xp, x, axis, descending):
    """Indices that sort x along ``axis`` stably (descending too: equal entries keep their order)."""
    if not descending:
        return xp.argsort(x, axis=axis, kind=_stable(xp))
    last = x.shape[axis] - 1
    return last - xp.flip(xp.argsort(xp.flip(x, axis=axis), axis=axis, kind=_stable(xp)), axis=axis)


def _as_vector(xp, x):
    """A 0-d array as one entry (torch sorts a 0-d tensor as itself)."""
    return xp.reshape(x, (1,)) if x.ndim == 0 else x


def _scatter_back(xp, grad, order, axis, size):
    """The gradient of ``take_along_axis(x, order[:k])``: each value's gradient goes back to
    the entry it was taken from (the first k of the full stable order ``order``)."""
    k = grad.shape[axis]
    if k < size:
        pad_shape = list(grad.shape)
        pad_shape[axis] = size - k
        grad = xp.concatenate([grad, xp.zeros(tuple(pad_shape), dtype=grad.dtype)], axis=axis)
    inverse = xp.argsort(order, axis=axis, kind=_stable(xp))  # where each entry went
    return xp.take_along_axis(grad, inverse, axis=axis)


class Sort(ge.Op):
    """Sorted values of x along ``dim`` (ascending, or ``descending=True``), as
    torch.sort(x, dim, descending).values; the indices are ``argsort``.

    The sort is always stable (``stable`` is accepted for torch's signature). The gradient
    goes back to the entry each value came from: dx = grad permuted back.

    >>> ge.ops.sort(x, dim=-1, descending=True)     # [[3., 1., 2.]] -> [[3., 2., 1.]]
    """

    name = "sort"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: int = -1, descending: bool = False, stable: bool = False):
        v = _as_vector(xp, x)
        axis = _axis(self, x.ndim, dim)
        values = xp.take_along_axis(v, _order(xp, v, axis, descending), axis=axis)
        return xp.reshape(values, x.shape)

    def backward(self, xp, grad, inputs, output, *, dim=-1, descending=False, stable=False):
        x = _as_vector(xp, inputs[0])
        axis = _axis(self, inputs[0].ndim, dim)
        order = _order(xp, x, axis, descending)
        dx = _scatter_back(xp, _as_vector(xp, grad), order, axis, x.shape[axis])
        return (xp.reshape(dx, inputs[0].shape),)

    def shape(self, x, *, dim=-1, descending=False, stable=False):
        _axis(self, len(x), dim)
        return tuple(x)


class ArgSort(ge.Op):
    """Indices (int64) that sort x along ``dim``, as torch.argsort(x, dim, descending)
    with stable=True; ``x`` gathered at them is ``sort(x)``. No gradient.

    >>> ge.ops.argsort(x, dim=-1)     # [[3., 1., 2.]] -> [[1, 2, 0]]
    """

    name = "argsort"
    saves = ()
    differentiable = False

    def forward(self, xp, x, *, dim: int = -1, descending: bool = False, stable: bool = False):
        v = _as_vector(xp, x)
        order = _order(xp, v, _axis(self, x.ndim, dim), descending)
        return xp.reshape(order.astype(xp.int64), x.shape)

    def shape(self, x, *, dim=-1, descending=False, stable=False):
        _axis(self, len(x), dim)
        return tuple(x)

    def dtype(self, x, **_):
        return np.dtype(np.int64)


def _check_k(op, k, size, scalar=False):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise AttributeSpecError(f"{op.name} needs k=, a whole number of entries to keep, got {k!r}: "
                                 f"ge.ops.{op.name}(x, k=3, dim=-1)")
    if scalar and k != 1:
        raise ShapeError(f"{op.name}: a 0-d input is one entry, so k must be 1, got k={k}")
    if k < 0 or (size is not None and k > size):
        raise ShapeError(f"{op.name}: k={k} is out of range for a dim of size {size}; "
                         f"k must be between 0 and {size}")


class TopK(ge.Op):
    """The k largest (``largest=False``: smallest) values along ``dim``, in sorted order,
    as torch.topk(x, k, dim, largest, sorted).values; the indices are ``topk_indices``.

    Ties keep the lower index first. ``sorted`` is accepted for torch's signature; the
    values always come sorted (one of the orders torch allows with sorted=False). The
    gradient goes back to the entries the values came from; the others get 0.

    >>> ge.ops.topk(x, k=2, dim=1)     # [[1., 5., 3.]] -> [[5., 3.]]
    """

    name = "topk"
    saves = ("inputs",)

    def forward(self, xp, x, *, k: int = None, dim: int = -1, largest: bool = True, sorted: bool = True):
        v = _as_vector(xp, x)
        axis = _axis(self, x.ndim, dim)
        _check_k(self, k, v.shape[axis], scalar=x.ndim == 0)
        order = _order(xp, v, axis, largest)
        picked = xp.take(order, xp.arange(k), axis=axis)
        values = xp.take_along_axis(v, picked, axis=axis)
        return values if x.ndim else xp.reshape(values, ())

    def backward(self, xp, grad, inputs, output, *, k=None, dim=-1, largest=True, sorted=True):
        x = _as_vector(xp, inputs[0])
        axis = _axis(self, inputs[0].ndim, dim)
        order = _order(xp, x, axis, largest)
        dx = _scatter_back(xp, _as_vector(xp, grad), order, axis, x.shape[axis])
        return (xp.reshape(dx, inputs[0].shape),)

    def shape(self, x, *, k=None, dim=-1, largest=True, sorted=True):
        axis = _axis(self, len(x), dim)
        if not x:
            _check_k(self, k, 1, scalar=True)
            return ()
        _check_k(self, k, x[axis])
        return tuple(k if i == axis else d for i, d in enumerate(x))


class TopKIndices(ge.Op):
    """Indices (int64) of ``topk(x, k, dim, largest)``, as torch.topk(...).indices.
    No gradient.

    >>> ge.ops.topk_indices(x, k=2, dim=1)     # [[1., 5., 3.]] -> [[1, 2]]
    """

    name = "topk_indices"
    saves = ()
    differentiable = False

    def forward(self, xp, x, *, k: int = None, dim: int = -1, largest: bool = True, sorted: bool = True):
        v = _as_vector(xp, x)
        axis = _axis(self, x.ndim, dim)
        _check_k(self, k, v.shape[axis], scalar=x.ndim == 0)
        picked = xp.take(_order(xp, v, axis, largest), xp.arange(k), axis=axis).astype(xp.int64)
        return picked if x.ndim else xp.reshape(picked, ())

    shape = TopK.shape

    def dtype(self, x, **_):
        return np.dtype(np.int64)
