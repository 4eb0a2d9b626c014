"""Shape ops: getitem (indexing and slicing), reshape, concat, stack, broadcast_to; and
torch's squeeze, unsqueeze, flatten, flip, roll, tile, repeat, tril, triu, narrow, with
split / chunk (functions returning several narrow nodes)."""

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, ShapeError, unbroadcast
from graphengine.node import NODE_INDEX, thaw_index
from graphengine.op import promote_dtypes

Dims = int | tuple[int, ...] | None  # attribute annotation: axis or axes: an int, a tuple of ints, or None


def _index_magnitude(index) -> int:
    """Largest |integer| in an index expression (ints, lists, slice bounds)."""
    if isinstance(index, slice):
        return max(_index_magnitude(v) for v in (index.start, index.stop, index.step))
    if isinstance(index, (tuple, list)):
        return max((_index_magnitude(i) for i in index), default=0)
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return abs(int(index))
    return 0


def _probe_shape(shape, index):
    """Result shape of indexing a (memory-free) array of ``shape``; IndexError if it does not fit."""
    probe = np.broadcast_to(np.int8(0), shape)  # zero strides: no memory, any size
    return probe[index].shape


class GetItem(ge.Op):
    """y = x[index]: ints, slices (any step, negative too), None, Ellipsis and integer
    lists, as in NumPy; and integer index *nodes*, fed or computed at run time
    (``x[ids]``, ``x[:, ids]``, ``x[rows, cols]``): each becomes an input of the getitem
    node after x, and the ``index`` attribute holds a placeholder ``("__node__", k)`` for
    the k-th. A node index is checked on every run: integer dtype (a boolean mask gives a
    data-dependent shape: use ge.ops.where), entries in [-n, n) for its axis of size n.

    The gradient scatters back into a zero array of x's shape: dx[index] += grad, so
    repeated indices add up (x[[0, 0]] sends twice the gradient to x[0]); index nodes
    get none.

    >>> h[0:2], h[:, 1], h[::-1], h[[0, 0, 2]], h[:, None]
    >>> table[ids]          # ids: g.input("ids", shape=(None,), dtype="int64")
    """

    name = "getitem"
    saves = ("inputs",)

    def forward(self, xp, x, *indices, index):
        return xp.asarray(x[_resolved_index(index, indices, x.shape)])

    def backward(self, xp, grad, inputs, output, *, index):
        x, indices = inputs[0], inputs[1:]
        out = xp.zeros(x.shape, dtype=grad.dtype)
        idx = _resolved_index(index, indices, x.shape, check=False)
        if xp is np:
            np.add.at(out, idx, grad)  # unbuffered: repeated indices accumulate
        elif hasattr(xp.add, "at"):
            xp.add.at(out, idx, grad)
        else:  # older CuPy
            import cupyx

            cupyx.scatter_add(out, idx, grad)
        return (out,) + (None,) * len(indices)

    def shape(self, x, *index_shapes, index):
        x = tuple(x)
        unknown = any(d is None for d in x) or any(d is None for s in index_shapes for d in s)

        def probe(size):  # every unknown size (x's and the index nodes') set to ``size``
            known = tuple(size if d is None else d for d in x)
            arrays = [np.broadcast_to(np.intp(0), tuple(size if d is None else d for d in s)) for s in index_shapes]
            return _probe_shape(known, _resolved_index(index, arrays, known, check=False))

        idx = thaw_index(index)
        if not unknown:
            try:
                return probe(None)
            except IndexError as exc:
                raise ShapeError(f"index {_show_index(idx)} does not fit shape {x}: {exc}") from None
        # Unknown (batch) axes: probe with a size past every index bound (must fit), then
        # with other sizes; a result axis that changes with the unknown size is unknown.
        big = _index_magnitude(idx) + 3
        try:
            results = [probe(big)]
        except IndexError as exc:
            raise ShapeError(f"index {_show_index(idx)} does not fit shape {x}: {exc}") from None
        for size in (big + 1, 1):
            try:
                results.append(probe(size))
            except (IndexError, ValueError):
                pass  # fine: a batch that small would fail at run time, not every batch
        return tuple(d if all(len(r) == len(results[0]) and r[i] == d for r in results) else None
                     for i, d in enumerate(results[0]))

    def dtype(self, x, *index_dtypes, index):
        return x


def _is_node_index(entry) -> bool:
    return isinstance(entry, tuple) and len(entry) == 2 and entry[0] == NODE_INDEX


def _resolved_index(index, arrays, shape, check=True):
    """The index ready to use on an array of ``shape``: placeholders replaced by the index
    nodes' ``arrays``, each checked (with ``check``) to be integer and in range for its axis."""
    idx = thaw_index(index)
    if not arrays:
        return idx
    single = _is_node_index(idx)
    entries = [idx] if single or not isinstance(idx, tuple) else list(idx)
    if check:
        consumed = sum(0 if e is None or e is Ellipsis else 1 for e in entries)
        axis = 0
        for e in entries:
            if e is Ellipsis:
                axis += len(shape) - consumed
                continue
            if _is_node_index(e):
                _check_node_index(arrays[e[1]], shape, axis)
            if e is not None:
                axis += 1
    entries = [arrays[e[1]] if _is_node_index(e) else e for e in entries]
    return entries[0] if single else tuple(entries)


def _check_node_index(array, shape, axis):
    kind = array.dtype.kind
    if kind == "b":
        raise IndexError("getitem: a boolean mask node as index gives a shape known only at run time, which a graph "
                         "cannot declare; use ge.ops.where(mask, x, 0) to keep the shape")
    if kind not in "iu":
        raise IndexError(f"getitem: an index node must hold integers, got {array.dtype}; declare the index input "
                         "with dtype='int64' or cast it with ge.ops.cast(index, dtype='int64')")
    if axis >= len(shape) or array.size == 0:
        return  # numpy reports too many indices
    n = shape[axis]
    low, high = int(array.min()), int(array.max())
    if low < -n or high >= n:
        raise IndexError(f"getitem: index {low if low < -n else high} is out of range for axis {axis} of size {n} "
                         f"(x has shape {tuple(shape)}); valid entries are {-n}..{n - 1}")


def _show_index(index):
    return repr(index).replace("slice(None, None, None)", ":")


def promote_arrays(arrays) -> list:
    """The arrays in the dtype of the graph's promotion rule (int32 joined to float32 is
    float32, not NumPy's float64); those already in it are not copied. The forward of
    concat, stack and einsum."""
    dtype = promote_dtypes(*[a.dtype for a in arrays])
    return [a if a.dtype == dtype else a.astype(dtype) for a in arrays]


def _as_shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


class _ReshapeLike(ge.Op):
    """Ops that only rearrange axes: the gradient is reshaped back to x's shape."""

    saves = ("inputs",)

    def backward(self, xp, grad, inputs, output, **attrs):
        return (xp.reshape(grad, inputs[0].shape),)


class Reshape(_ReshapeLike):
    """Same elements in a new ``shape`` (C order; one entry may be -1, inferred).
    The gradient is reshaped back to x's shape.

    >>> ge.ops.reshape(images, shape=(-1, 784))
    """

    name = "reshape"

    def forward(self, xp, x, *, shape: int | tuple[int, ...]):
        return xp.reshape(x, _as_shape(shape))

    def shape(self, x, *, shape):
        shape = _as_shape(shape)
        if any(d < -1 for d in shape):
            raise ShapeError(f"reshape: negative size in {shape}; only -1 (inferred) is allowed")
        if shape.count(-1) > 1:
            raise ShapeError("reshape: only one axis may be -1")
        if any(d is None for d in x):
            return tuple(None if d == -1 else d for d in shape)
        size = int(np.prod(x, dtype=np.int64))
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if -1 in shape:
            if known == 0 or size % known:
                raise ShapeError(f"cannot reshape {x} ({size} elements) to {shape}")
            return tuple(size // known if d == -1 else d for d in shape)
        if known != size:
            raise ShapeError(f"cannot reshape {x} ({size} elements) to {shape} ({known} elements)")
        return shape


class BroadcastTo(ge.Op):
    """Broadcast x to ``shape`` (NumPy rules: size-1 and missing leading axes repeat).
    The gradient is summed back over the repeated axes (ge.unbroadcast).

    >>> ge.ops.broadcast_to(b, shape=(4, 3))
    """

    name = "broadcast_to"
    saves = ("inputs",)

    def forward(self, xp, x, *, shape: int | tuple[int, ...]):
        return xp.broadcast_to(x, _as_shape(shape))

    def backward(self, xp, grad, inputs, output, *, shape):
        return (unbroadcast(xp, grad, inputs[0].shape),)

    def shape(self, x, *, shape):
        shape = _as_shape(shape)
        if len(x) > len(shape):
            raise ShapeError(f"cannot broadcast {tuple(x)} to {shape}: the target has fewer axes")
        for d, t in zip(reversed(tuple(x)), reversed(shape)):
            if d is not None and d not in (1, t):  # an unknown axis is checked at run time
                raise ShapeError(f"cannot broadcast {tuple(x)} to {shape}: an axis of size {d} cannot become {t}")
        return shape


class Concat(ge.Op):
    """Join inputs along an existing ``axis``: y = [x₁; x₂; ...]. Each input gets its
    slice of the gradient.

    >>> ge.ops.concat(a, b, c, axis=1)
    """

    name = "concat"
    arity = None
    saves = ("inputs",)

    def forward(self, xp, *inputs, axis: int = 0):
        return xp.concatenate(promote_arrays(inputs), axis=axis)

    def backward(self, xp, grad, inputs, output, axis=0):
        sizes = [x.shape[axis] for x in inputs]
        cuts = np.cumsum(sizes)[:-1].tolist()
        return tuple(xp.split(grad, cuts, axis=axis))

    def shape(self, *shapes, axis=0):
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes):
            raise ShapeError(f"concat needs inputs of the same number of axes, got {list(shapes)}")
        a = ge.normalize_axis(axis, ndim)[0]
        out = list(shapes[0])
        total = 0
        for s in shapes:
            for i in range(ndim):
                if i != a and s[i] is not None and out[i] is not None and s[i] != out[i]:
                    raise ShapeError(f"concat along axis {axis}: shapes differ on axis {i}: {list(shapes)}")
            total = None if total is None or s[a] is None else total + s[a]
        out[a] = total
        return tuple(out)


class Stack(ge.Op):
    """Stack inputs of equal shape along a new ``axis``: y[..., i, ...] = xᵢ. Each input
    gets its slice of the gradient.

    >>> ge.ops.stack(a, b, axis=0)
    """

    name = "stack"
    arity = None
    saves = ()

    def forward(self, xp, *inputs, axis: int = 0):
        return xp.stack(promote_arrays(inputs), axis=axis)

    def backward(self, xp, grad, inputs, output, axis=0):
        n = grad.shape[axis]
        return tuple(xp.take(grad, i, axis=axis) for i in range(n))

    def shape(self, *shapes, axis=0):
        first = shapes[0]
        for s in shapes:
            if len(s) != len(first) or any(a is not None and b is not None and a != b for a, b in zip(s, first)):
                raise ShapeError(f"stack needs inputs of one shape, got {list(shapes)}")
        a = ge.normalize_axis(axis, len(first) + 1)[0]
        return tuple(first[:a]) + (len(shapes),) + tuple(first[a:])


# --------------------------------------------------------------------------- torch's shape ops

def _dims(op, dims, ndim, what="dims"):
    """An int or a sequence of ints as a sorted tuple of non-negative axes."""
    if dims is None or isinstance(dims, bool):
        raise AttributeSpecError(f"{op.name} needs {what}=, an axis or a tuple of axes, e.g. "
                                 f"ge.ops.{op.name}(x, {what}=0)")
    return ge.normalize_axis(dims, ndim)


def _one_dim(op, dim, ndim, what="dim") -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise AttributeSpecError(f"{op.name} needs {what}=, one axis (an int), got {dim!r}")
    return ge.normalize_axis(dim, ndim)[0]


def _ints(op, values, what):
    """An int or a sequence of ints as a tuple of ints."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        return (int(values),)
    if isinstance(values, (tuple, list)) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                 for v in values):
        return tuple(int(v) for v in values)
    raise AttributeSpecError(f"{op.name} needs {what}= as an int or a tuple of ints, got {values!r}")


def _product(sizes):
    return None if any(d is None for d in sizes) else int(np.prod(sizes, dtype=np.int64))


class Squeeze(_ReshapeLike):
    """x without axes of size 1: all of them (``dim=None``), or those of ``dim`` (an int or
    a tuple) that have size 1, as torch.squeeze (an axis of another size stays, no error).
    The gradient is reshaped back.

    With an unknown (batch) axis among those it may squeeze, the result's shape is unknown
    until run time (a batch of 1 would be squeezed too); give ``dim`` to say which axes.

    >>> ge.ops.squeeze(x, dim=1)     # (4, 1, 3) -> (4, 3)
    """

    name = "squeeze"

    def forward(self, xp, x, *, dim: Dims = None):
        return xp.reshape(x, self.shape(x.shape, dim=dim))

    def shape(self, x, *, dim=None):
        axes = tuple(range(len(x))) if dim is None else _dims(self, dim, max(len(x), 1), "dim")
        if any(x[i] is None for i in axes if i < len(x)):
            return None
        return tuple(d for i, d in enumerate(x) if not (i in axes and d == 1))


class Unsqueeze(_ReshapeLike):
    """x with a new axis of size 1 at ``dim`` (-x.ndim - 1 <= dim <= x.ndim), as
    torch.unsqueeze. The gradient is reshaped back.

    >>> ge.ops.unsqueeze(x, dim=0)     # (3,) -> (1, 3); dim=-1: (3, 1)
    """

    name = "unsqueeze"

    def forward(self, xp, x, *, dim: Dims = None):
        return xp.reshape(x, self.shape(x.shape, dim=dim))

    def shape(self, x, *, dim=None):
        a = _one_dim(self, dim, len(x) + 1)
        return tuple(x[:a]) + (1,) + tuple(x[a:])


class Flatten(_ReshapeLike):
    """Axes start_dim..end_dim (inclusive) merged into one, as torch.flatten; a 0-d x
    becomes shape (1,). The gradient is reshaped back.

    >>> ge.ops.flatten(images, start_dim=1)     # (N, C, H, W) -> (N, C·H·W)
    """

    name = "flatten"

    def forward(self, xp, x, *, start_dim: int = 0, end_dim: int = -1):
        return xp.reshape(x, self.shape(x.shape, start_dim=start_dim, end_dim=end_dim))

    def shape(self, x, *, start_dim=0, end_dim=-1):
        x = tuple(x)
        ndim = max(len(x), 1)
        start = _one_dim(self, start_dim, ndim, "start_dim")
        end = _one_dim(self, end_dim, ndim, "end_dim")
        if start > end:
            raise ShapeError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for {len(x)} axes; "
                             "give start_dim <= end_dim")
        if not x:
            return (1,)
        return x[:start] + (_product(x[start:end + 1]),) + x[end + 1:]


class Flip(ge.Op):
    """x reversed along each axis of ``dims`` (an int or a tuple), as torch.flip.
    The gradient is flipped back.

    >>> ge.ops.flip(x, dims=1)     # [[1., 2., 3.]] -> [[3., 2., 1.]]
    """

    name = "flip"
    saves = ()

    def forward(self, xp, x, *, dims: Dims = None):
        return xp.flip(x, axis=_dims(self, dims, max(x.ndim, 1))) if x.ndim else x.copy()

    def backward(self, xp, grad, inputs, output, *, dims=None):
        return (xp.flip(grad, axis=_dims(self, dims, max(grad.ndim, 1))) if grad.ndim else grad,)

    def shape(self, x, *, dims=None):
        _dims(self, dims, max(len(x), 1))
        return tuple(x)


class Roll(ge.Op):
    """x shifted circularly by ``shifts`` along ``dims`` (ints or tuples of one length),
    as torch.roll; ``dims=None`` rolls the flattened x and restores its shape.
    The gradient is rolled back by -shifts.

    >>> ge.ops.roll(x, shifts=1, dims=0)     # [1., 2., 3.] -> [3., 1., 2.]
    """

    name = "roll"
    saves = ()

    def forward(self, xp, x, *, shifts: int | tuple[int, ...] = None, dims: Dims = None):
        shifts, dims = self._options(shifts, dims, x.ndim)
        return xp.roll(x, shifts, axis=dims)

    def backward(self, xp, grad, inputs, output, *, shifts=None, dims=None):
        shifts, dims = self._options(shifts, dims, grad.ndim)
        return (xp.roll(grad, tuple(-s for s in shifts) if dims is not None else -shifts[0], axis=dims),)

    def _options(self, shifts, dims, ndim):
        shifts = _ints(self, shifts, "shifts")
        if dims is None:
            if len(shifts) != 1:
                raise AttributeSpecError(f"roll: {len(shifts)} shifts need as many dims; dims=None rolls the "
                                         "flattened input by one shift")
            return shifts, None
        axes = _ints(self, dims, "dims")
        if len(axes) != len(shifts):
            raise AttributeSpecError(f"roll: shifts={shifts} and dims={axes} differ in length; give one shift per dim")
        return shifts, tuple(ge.normalize_axis(a, max(ndim, 1))[0] for a in axes)

    def shape(self, x, *, shifts=None, dims=None):
        self._options(shifts, dims, len(x))
        return tuple(x)


def _tile_backward(xp, grad, shape, reps):
    """Sum the tiled copies of the gradient back onto one copy of x's ``shape``."""
    reps = tuple(reps)
    base = (1,) * (len(reps) - len(shape)) + tuple(shape)
    reps = (1,) * (len(base) - len(reps)) + reps
    interleaved = tuple(v for r, d in zip(reps, base) for v in (r, d))
    summed = xp.sum(xp.reshape(grad, interleaved), axis=tuple(range(0, 2 * len(base), 2)))
    return xp.reshape(summed, tuple(shape))


def _tiled_shape(x, reps):
    x, reps = tuple(x), tuple(reps)
    ndim = max(len(x), len(reps))
    x = (1,) * (ndim - len(x)) + x
    reps = (1,) * (ndim - len(reps)) + reps
    return tuple(None if d is None else d * r for d, r in zip(x, reps))


class Tile(ge.Op):
    """x repeated ``dims[i]`` times along each axis, as torch.tile / numpy.tile: with fewer
    entries than x has axes, ``dims`` is padded with leading 1s; with more, x gets leading
    axes of size 1. The gradient sums the copies.

    >>> ge.ops.tile(x, dims=(2,))     # [1., 2.] -> [1., 2., 1., 2.]
    """

    name = "tile"
    saves = ("inputs",)

    def forward(self, xp, x, *, dims: Dims = None):
        return xp.tile(x, self._reps(dims))

    def backward(self, xp, grad, inputs, output, *, dims=None):
        return (_tile_backward(xp, grad, inputs[0].shape, self._reps(dims)),)

    def _reps(self, dims):
        reps = _ints(self, dims, "dims")
        if any(r < 0 for r in reps):
            raise AttributeSpecError(f"{self.name}: negative repeat count in {reps}")
        return reps

    def shape(self, x, *, dims=None):
        return _tiled_shape(x, self._reps(dims))


class Repeat(Tile):
    """x repeated ``repeats[i]`` times along each axis, as torch.Tensor.repeat: ``repeats``
    has at least as many entries as x has axes (extra ones add leading axes). It is not
    numpy.repeat, which repeats each entry in place (torch.repeat_interleave). The
    gradient sums the copies.

    >>> ge.ops.repeat(x, repeats=(2, 1))     # (1, 3) -> (2, 3); (2, 1, 1) on (1, 3): (2, 1, 3)
    """

    name = "repeat"

    def forward(self, xp, x, *, repeats: int | tuple[int, ...] = None):
        return xp.tile(x, self._check(x.ndim, repeats))

    def backward(self, xp, grad, inputs, output, *, repeats=None):
        return (_tile_backward(xp, grad, inputs[0].shape, self._check(inputs[0].ndim, repeats)),)

    def _check(self, ndim, repeats):
        reps = self._reps(repeats)
        if len(reps) < ndim:
            raise ShapeError(f"repeat: repeats={reps} has {len(reps)} entries for an input of {ndim} axes; give "
                             f"at least one per axis (torch.Tensor.repeat), or use tile to pad with leading 1s")
        return reps

    def shape(self, x, *, repeats=None):
        return _tiled_shape(x, self._check(len(x), repeats))


class Tril(ge.Op):
    """The lower triangle of the last two axes: entries (i, j) with j - i <= ``diagonal``
    kept, the rest 0, as torch.tril. The gradient is the same triangle of grad.

    >>> ge.ops.tril(scores, diagonal=0)     # a causal mask of a square matrix
    """

    name = "tril"
    saves = ()
    _triangle = "tril"

    def forward(self, xp, x, *, diagonal: int = 0):
        self._check(x.ndim, diagonal)
        return getattr(xp, self._triangle)(x, k=int(diagonal))

    def backward(self, xp, grad, inputs, output, *, diagonal=0):
        return (getattr(xp, self._triangle)(grad, k=int(diagonal)),)

    def _check(self, ndim, diagonal):
        if ndim < 2:
            raise ShapeError(f"{self.name} needs an input of at least 2 axes (a matrix or a stack of them), got "
                             f"{ndim}")
        if not isinstance(diagonal, (int, np.integer)) or isinstance(diagonal, bool):
            raise AttributeSpecError(f"{self.name}: diagonal must be an int, got {diagonal!r}")

    def shape(self, x, *, diagonal=0):
        self._check(len(x), diagonal)
        return tuple(x)


class Triu(Tril):
    """The upper triangle of the last two axes: entries (i, j) with j - i >= ``diagonal``
    kept, the rest 0, as torch.triu. The gradient is the same triangle of grad.

    >>> ge.ops.triu(x, diagonal=1)     # strictly above the diagonal
    """

    name = "triu"
    _triangle = "triu"


class Narrow(ge.Op):
    """``length`` entries of x along ``dim`` from ``start`` (negative: from the end), as
    torch.narrow; the pieces of split / chunk. The gradient goes into those entries of a
    zero array of x's shape.

    >>> ge.ops.narrow(x, dim=1, start=2, length=3)     # x[:, 2:5]
    """

    name = "narrow"
    saves = ("inputs",)

    def forward(self, xp, x, *, dim: int = 0, start: int = 0, length: int | None = None):
        return x[self._index(x.shape, dim, start, length)]

    def backward(self, xp, grad, inputs, output, *, dim=0, start=0, length=None):
        x = inputs[0]
        dx = xp.zeros(x.shape, dtype=grad.dtype)
        dx[self._index(x.shape, dim, start, length)] = grad
        return (dx,)

    def _index(self, shape, dim, start, length):
        a = _one_dim(self, dim, len(shape))
        first = self._bounds(shape[a], start, length)
        return (slice(None),) * a + (slice(first, first + length),)

    def _bounds(self, size, start, length):
        for what, v in (("start", start), ("length", length)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise AttributeSpecError(f"narrow needs {what}= as an int, got {v!r}")
        if length < 0:
            raise ShapeError(f"narrow: length={length} is negative")
        if size is None:
            return None
        first = start + size if start < 0 else start
        if not 0 <= first <= size or first + length > size:
            raise ShapeError(f"narrow: start={start}, length={length} does not fit an axis of size {size}; "
                             f"need -{size} <= start <= {size} and start + length <= {size}")
        return first

    def shape(self, x, *, dim=0, start=0, length=None):
        a = _one_dim(self, dim, len(x))
        self._bounds(x[a], start, length)
        return tuple(length if i == a else d for i, d in enumerate(x))


# --------------------------------------------------------------------------- several outputs

def split(x, split_size_or_sections, dim=0):
    """torch.split for nodes: ``x.split(split_size_or_sections, dim)`` (a list of ``narrow`` nodes)."""
    return x.split(split_size_or_sections, dim)


def chunk(x, chunks, dim=0):
    """torch.chunk for nodes: ``x.chunk(chunks, dim)`` (a list of ``narrow`` nodes)."""
    return x.chunk(chunks, dim)
