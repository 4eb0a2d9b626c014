"""Indexing by data: gather, take_along_axis, index_select, embedding, scatter_add, one_hot.

The indices are arrays computed or fed at run time (integer dtype; declare index inputs
with ``dtype="int64"``). Names and semantics follow ``torch`` / ``torch.nn.functional``
with one difference in spelling: graphengine ops take their arrays positionally and
their options as keywords, so ``torch.gather(x, 1, index)`` is
``ge.ops.gather(x, index, dim=1)`` and ``torch.index_select(x, 0, index)`` is
``ge.ops.index_select(x, index, dim=0)``.

Gradients flow to the data (``input``, ``weight``, ``src``), never to the indices. Where
a gradient is scattered back (gather, take_along_axis, index_select, embedding), entries
picked several times receive the sum of their gradients. The scatter is one
``xp.bincount`` over flat positions (:func:`scatter_add_flat`): the same call on NumPy and
CuPy, faster than ``numpy.add.at``, accumulating in float64 and returning the gradient's
dtype.

Indices are checked on every run (out-of-range entries raise an ``IndexError`` naming the
op, the bad index and the valid range; the engine adds the node): NumPy would wrap
negative indices and CuPy does not check at all, where PyTorch refuses both.
"""

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, DtypeError, ShapeError, broadcast_shapes

INDEX_DTYPE_FIX = "declare the index input with dtype='int64' (g.input(name, shape, dtype='int64')) or cast it " \
                  "with ge.ops.cast(index, dtype='int64')"


# --------------------------------------------------------------------------- helpers

def format_shape(shape) -> str:
    """(2, None, 3) as text for messages (None: known at run time only)."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def scatter_add_flat(xp, positions, values, size, dtype):
    """``out = zeros(size); out[positions] += values``, repeated positions summing.

    One ``xp.bincount`` (NumPy and CuPy alike); it accumulates in float64 and the result
    is cast to ``dtype``.

    >>> scatter_add_flat(np, np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0]), 4, np.float32).tolist()
    [4.0, 0.0, 2.0, 0.0]
    """
    flat = positions.reshape(-1).astype(np.int64, copy=False)  # uint64 does not cast safely to bincount's intp
    summed = xp.bincount(flat, weights=values.reshape(-1), minlength=size)
    return summed.astype(dtype, copy=False)


def _check_index_dtype(index, op, what="index"):
    if index.dtype.kind not in "iu":
        raise DtypeError(f"{op}: {what} must be an integer array, got {index.dtype}; {INDEX_DTYPE_FIX}")


def _check_range(index, size, op, where, *, negative=False, what="index"):
    """Every entry of ``index`` in [0, size) (or [-size, size) where ``negative``)."""
    _check_index_dtype(index, op, what)
    if index.size == 0:
        return
    low, high = int(index.min()), int(index.max())  # two scalars to the host (CuPy: explicit)
    first = -size if negative else 0
    if low < first or high >= size:
        bad = low if low < first else high
        raise IndexError(f"{op}: {what} {bad} is out of range for {where} of size {size}; valid entries are "
                         f"{first}..{size - 1}" + ("" if negative or bad >= 0 else
                                                   " (negative indices are refused, as in PyTorch)"))


def _wrapped(xp, index, size):
    """Negative entries (already range-checked) counted from the end."""
    return xp.where(index < 0, index + size, index)


def _dim(dim, ndim, op, keyword="dim"):
    if dim is None:
        raise AttributeSpecError(f"{op} needs {keyword}= (the axis to index along), e.g. "
                                 f"ge.ops.{op}(x, index, {keyword}=1)")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise AttributeSpecError(f"{op}: {keyword} must be an int, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ShapeError(f"{op}: {keyword}={dim} is out of range for an input of {ndim} dimensions")
    return int(dim) % max(ndim, 1)


def _positions(xp, index, shape, dim):
    """Flat (C-order) positions in an array of ``shape`` of the entries that ``index``
    picks along ``dim``: entry ``[i, j, k]`` is ``(i, index[i, j, k], k)`` for dim=1.
    ``index`` has ``len(shape)`` axes, none longer than ``shape``'s (except ``dim``)."""
    ndim = len(shape)
    strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(ndim)]
    positions = index.astype(np.int64) * strides[dim]
    for d in range(ndim):
        if d != dim and index.shape[d] > 1:
            along = xp.arange(index.shape[d], dtype=np.int64) * strides[d]
            positions = positions + along.reshape(tuple(-1 if e == d else 1 for e in range(ndim)))
    return positions


def _leading_block(index_shape, dim):
    """The slice of an array that ``index`` covers outside ``dim`` (torch's gather rule:
    index may be shorter than the input on the other axes)."""
    return tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index_shape))


def _same_rank(op, shapes):
    """ShapeError unless every named shape has the same number of axes."""
    ranks = {len(s) for s in shapes.values()}
    if len(ranks) > 1:
        described = ", ".join(f"{k} {format_shape(s)}" for k, s in shapes.items())
        raise ShapeError(f"{op} needs inputs with the same number of axes, got {described}")


def _not_longer(op, short, long, skip, what):
    """ShapeError if ``short`` is longer than ``long`` on an axis other than ``skip``."""
    for d, (a, b) in enumerate(zip(short, long)):
        if d != skip and a is not None and b is not None and a > b:
            raise ShapeError(f"{op}: index {format_shape(short)} is longer than {what} {format_shape(long)} on "
                             f"axis {d} ({a} > {b})")


def _scatter_rows(xp, rows, index, count, dtype):
    """``out = zeros((count, *rows.shape[1:])); out[index[i]] += rows[i]``, summed."""
    width = int(np.prod(rows.shape[1:], dtype=np.int64))
    positions = index.reshape(-1, 1).astype(np.int64) * width + xp.arange(width, dtype=np.int64)
    flat = scatter_add_flat(xp, positions, rows, count * width, dtype)
    return flat.reshape((count,) + tuple(rows.shape[1:]))


# --------------------------------------------------------------------------- ops

class Gather(ge.Op):
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim=0 (torch.gather; likewise
    input[i][index[i][j][k]][k] for dim=1, ...). ``index`` has input's number of axes and
    is no longer than input on the other axes; the output has index's shape.

    d/dinput: the gradient scattered back to the picked entries (summed where an entry
    is picked twice); index gets none.

    >>> ge.ops.gather(x, index, dim=1)     # torch.gather(x, 1, index); x (2, 3), index [[2, 0], [1, 1]]
    """

    name = "gather"
    saves = ("inputs",)

    def forward(self, xp, input, index, *, dim: int = None):
        dim = _dim(dim, input.ndim, self.name)
        _check_range(index, input.shape[dim], self.name, f"dim {dim} of input {format_shape(input.shape)}")
        return xp.take_along_axis(input[_leading_block(index.shape, dim)], index, axis=dim)

    def backward(self, xp, grad, inputs, output, *, dim=None):
        input, index = inputs
        dim = _dim(dim, input.ndim, self.name)
        positions = _positions(xp, index, input.shape, dim)
        return scatter_add_flat(xp, positions, grad, input.size, grad.dtype).reshape(input.shape), None

    def shape(self, input, index, *, dim=None):
        dim = _dim(dim, len(input), self.name)
        _same_rank(self.name, {"input": input, "index": index})
        _not_longer(self.name, index, input, dim, "input")
        return tuple(index)

    def dtype(self, input, index, **attrs):
        return input


class TakeAlongAxis(ge.Op):
    """out = take_along_axis(input, indices, axis) as in NumPy (torch.take_along_dim):
    out[i][j][k] = input[i][indices[i][j][k]][k] for axis=1; the other axes broadcast;
    ``axis=None`` takes from the flattened input with 1-D ``indices``. Negative indices
    count from the end, as in NumPy.

    d/dinput: the gradient scattered back to the picked entries (summed where an entry
    is picked twice, and over broadcast axes); indices get none.

    >>> top = ge.ops.take_along_axis(scores, order, axis=-1)
    """

    name = "take_along_axis"
    saves = ("inputs",)

    def forward(self, xp, input, indices, *, axis: int | None = None):
        if axis is None:
            _check_range(indices, input.size, self.name, "the flattened input", negative=True, what="indices")
            return xp.take(input.reshape(-1), indices)
        axis = _dim(axis, input.ndim, self.name, "axis")
        _check_range(indices, input.shape[axis], self.name, f"axis {axis} of input {format_shape(input.shape)}",
                     negative=True, what="indices")
        return xp.take_along_axis(input, indices, axis=axis)

    def backward(self, xp, grad, inputs, output, *, axis=None):
        input, indices = inputs
        if axis is None:
            flat = scatter_add_flat(xp, _wrapped(xp, indices, input.size), grad, input.size, grad.dtype)
            return flat.reshape(input.shape), None
        axis = _dim(axis, input.ndim, self.name, "axis")
        # the input broadcast over the output's other axes: its gradient is summed back by the engine
        full = tuple(input.shape[d] if d == axis else grad.shape[d] for d in range(grad.ndim))
        index = xp.broadcast_to(_wrapped(xp, indices, input.shape[axis]), grad.shape)
        positions = _positions(xp, index, full, axis)
        size = int(np.prod(full, dtype=np.int64))
        return scatter_add_flat(xp, positions, grad, size, grad.dtype).reshape(full), None

    def shape(self, input, indices, *, axis=None):
        if axis is None:
            if len(indices) != 1:
                raise ShapeError(f"{self.name} with axis=None takes 1-D indices, got {format_shape(indices)}")
            return tuple(indices)
        axis = _dim(axis, len(input), self.name, "axis")
        _same_rank(self.name, {"input": input, "indices": indices})
        others = broadcast_shapes(tuple(1 if d == axis else n for d, n in enumerate(input)),
                                  tuple(1 if d == axis else n for d, n in enumerate(indices)))
        return tuple(indices[axis] if d == axis else n for d, n in enumerate(others))

    def dtype(self, input, indices, **attrs):
        return input


class IndexSelect(ge.Op):
    """out = input with only the entries ``index`` (1-D) picks along ``dim``
    (torch.index_select): out[i][j] = input[index[i]][j] for dim=0.

    d/dinput: the gradient's slices added back at the picked positions (repeats sum);
    index gets none.

    >>> ge.ops.index_select(x, rows, dim=0)      # torch.index_select(x, 0, rows)
    """

    name = "index_select"
    saves = ("inputs",)

    def forward(self, xp, input, index, *, dim: int = None):
        dim = _dim(dim, input.ndim, self.name)
        _check_range(index, input.shape[dim], self.name, f"dim {dim} of input {format_shape(input.shape)}")
        return xp.take(input, index.reshape(-1), axis=dim)

    def backward(self, xp, grad, inputs, output, *, dim=None):
        input, index = inputs
        dim = _dim(dim, input.ndim, self.name)
        rows = xp.moveaxis(grad, dim, 0)
        summed = _scatter_rows(xp, rows, index, input.shape[dim], grad.dtype)
        return xp.moveaxis(summed, 0, dim), None

    def shape(self, input, index, *, dim=None):
        dim = _dim(dim, len(input), self.name)
        if len(index) > 1:
            raise ShapeError(f"{self.name} takes a 1-D index, got {format_shape(index)}; for an index of "
                             "several axes use ge.ops.gather or ge.ops.embedding")
        count = index[0] if index else 1
        return tuple(count if d == dim else n for d, n in enumerate(input))

    def dtype(self, input, index, **attrs):
        return input


def _padding_index(padding_idx, count):
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise AttributeSpecError(f"embedding: padding_idx must be an int or None, got {padding_idx!r}")
    if count is not None and not -count <= padding_idx < count:
        raise AttributeSpecError(f"embedding: padding_idx={padding_idx} is out of range for {count} embeddings "
                                 f"(valid: {-count}..{count - 1})")
    return int(padding_idx) % count if count is not None else int(padding_idx)


class Embedding(ge.Op):
    """out[..., :] = weight[input[...], :] (torch.nn.functional.embedding(input, weight,
    padding_idx)): a lookup of rows of ``weight`` (num_embeddings, embedding_dim) by the
    integer ``input`` of any shape; the output has shape input.shape + (embedding_dim,).

    d/dweight: each output row's gradient added to the row it was read from (a row read
    n times gets the sum of n gradients); the row ``padding_idx`` gets none (zero), as in
    PyTorch. input gets no gradient. (max_norm, scale_grad_by_freq and sparse are not
    supported.)

    >>> vectors = ge.ops.embedding(token_ids, table)          # ids (N, T) int64, table (V, D)
    >>> ge.ops.embedding(ids, table, padding_idx=0)
    """

    name = "embedding"
    saves = ("inputs",)

    def forward(self, xp, input, weight, *, padding_idx: int | None = None):
        _check_range(input, weight.shape[0], self.name, f"weight {format_shape(weight.shape)} (num_embeddings)")
        return xp.take(weight, input, axis=0)

    def backward(self, xp, grad, inputs, output, *, padding_idx=None):
        input, weight = inputs
        count, width = weight.shape
        rows = grad.reshape(-1, width)
        dweight = _scatter_rows(xp, rows, input, count, grad.dtype)
        padding = _padding_index(padding_idx, count)
        if padding is not None:
            dweight[padding] = 0
        return None, dweight

    def shape(self, input, weight, *, padding_idx=None):
        if len(weight) != 2:
            raise ShapeError(f"{self.name}: weight must be 2-D (num_embeddings, embedding_dim), got "
                             f"{format_shape(weight)}")
        _padding_index(padding_idx, weight[0])
        return tuple(input) + (weight[1],)

    def dtype(self, input, weight, **attrs):
        return weight


class ScatterAdd(ge.Op):
    """out = input, then out[index[i][j][k]][j][k] += src[i][j][k] for dim=0
    (torch.scatter_add; likewise along other dims). index, src and input have the same
    number of axes; index is no longer than src anywhere, nor than input off ``dim``.
    Repeated indices add up. The output has input's shape and dtype (src is cast to it).

    d/dinput = grad; d/dsrc = grad gathered at the same positions (0 where src is not
    read); index gets none.

    >>> ge.ops.scatter_add(totals, group, values, dim=0)   # torch.scatter_add(totals, 0, group, values)
    """

    name = "scatter_add"
    saves = ("inputs",)

    def forward(self, xp, input, index, src, *, dim: int = None):
        dim = _dim(dim, input.ndim, self.name)
        _check_range(index, input.shape[dim], self.name, f"dim {dim} of input {format_shape(input.shape)}")
        positions = _positions(xp, index, input.shape, dim)
        values = src[tuple(slice(0, n) for n in index.shape)]
        added = scatter_add_flat(xp, positions, values, input.size, input.dtype).reshape(input.shape)
        return xp.add(input, added, dtype=input.dtype)

    def backward(self, xp, grad, inputs, output, *, dim=None):
        input, index, src = inputs
        dim = _dim(dim, input.ndim, self.name)
        picked = xp.take(grad, _positions(xp, index, input.shape, dim))
        if tuple(picked.shape) == tuple(src.shape):
            dsrc = picked.astype(src.dtype, copy=False)
        else:
            dsrc = xp.zeros(src.shape, dtype=src.dtype)
            dsrc[tuple(slice(0, n) for n in index.shape)] = picked
        return grad, None, dsrc

    def shape(self, input, index, src, *, dim=None):
        dim = _dim(dim, len(input), self.name)
        _same_rank(self.name, {"input": input, "index": index, "src": src})
        _not_longer(self.name, index, src, None, "src")
        _not_longer(self.name, index, input, dim, "input")
        return tuple(input)

    def dtype(self, input, index, src, **attrs):
        return input


class OneHot(ge.Op):
    """out[..., c] = 1 where tensor[...] == c, else 0 (torch.nn.functional.one_hot): int64
    of shape tensor.shape + (num_classes,). ``num_classes=-1`` takes max(tensor) + 1, known
    only at run time (the static shape then ends in None). No gradient.

    >>> ge.ops.one_hot(labels, num_classes=10)      # labels (N,) int64 -> (N, 10) int64
    """

    name = "one_hot"
    saves = ()
    differentiable = False

    def forward(self, xp, tensor, *, num_classes: int = -1):
        classes = _classes(num_classes)
        _check_index_dtype(tensor, self.name, "tensor")
        if classes == -1:
            if tensor.size == 0:
                raise ValueError("one_hot: cannot infer num_classes from an empty tensor; give num_classes=")
            classes = int(tensor.max()) + 1
        _check_range(tensor, classes, self.name, "num_classes", what="class")
        return (tensor[..., None] == xp.arange(classes, dtype=tensor.dtype)).astype(np.int64)

    def shape(self, tensor, *, num_classes=-1):
        classes = _classes(num_classes)
        return tuple(tensor) + (None if classes == -1 else classes,)

    def dtype(self, tensor, **attrs):
        return np.dtype(np.int64)


def _classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < -1:
        raise AttributeSpecError(f"one_hot: num_classes must be a non-negative int or -1 (inferred), got "
                                 f"{num_classes!r}")
    return int(num_classes)
