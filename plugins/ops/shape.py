"""Shape ops: getitem (indexing and slicing), reshape, concat, stack, broadcast_to."""

import numpy as np

import graphengine as ge
from graphengine import ShapeError, unbroadcast
from graphengine.node import thaw_index


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
    lists, as in NumPy.

    The gradient scatters back into a zero array of x's shape: dx[index] += grad, so
    repeated indices add up (x[[0, 0]] sends twice the gradient to x[0]).

    >>> h[0:2], h[:, 1], h[::-1], h[[0, 0, 2]], h[:, None]
    """

    name = "getitem"
    saves = ("inputs",)

    def forward(self, xp, x, *, index):
        return xp.asarray(x[thaw_index(index)])

    def backward(self, xp, grad, inputs, output, *, index):
        x = inputs[0]
        out = xp.zeros(x.shape, dtype=grad.dtype)
        idx = thaw_index(index)
        if xp is np:
            np.add.at(out, idx, grad)  # unbuffered: repeated indices accumulate
        elif hasattr(xp.add, "at"):
            xp.add.at(out, idx, grad)
        else:  # older CuPy
            import cupyx

            cupyx.scatter_add(out, idx, grad)
        return (out,)

    def shape(self, x, *, index):
        idx = thaw_index(index)
        x = tuple(x)
        if all(d is not None for d in x):
            try:
                return _probe_shape(x, idx)
            except IndexError as exc:
                raise ShapeError(f"index {_show_index(idx)} does not fit shape {x}: {exc}") from None
        # Unknown (batch) axes: probe with a size past every index bound (must fit), then
        # with other sizes; a result axis that changes with the unknown size is unknown.
        big = _index_magnitude(idx) + 3
        try:
            results = [_probe_shape(tuple(big if d is None else d for d in x), idx)]
        except IndexError as exc:
            raise ShapeError(f"index {_show_index(idx)} does not fit shape {x}: {exc}") from None
        for size in (big + 1, 1):
            try:
                results.append(_probe_shape(tuple(size if d is None else d for d in x), idx))
            except IndexError:
                pass  # fine: a batch that small would fail at run time, not every batch
        return tuple(d if all(r[i] == d for r in results) else None for i, d in enumerate(results[0]))


def _show_index(index):
    return repr(index).replace("slice(None, None, None)", ":")


def _as_shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


class Reshape(ge.Op):
    """Same elements in a new ``shape`` (C order; one entry may be -1, inferred).
    The gradient is reshaped back to x's shape.

    >>> ge.ops.reshape(images, shape=(-1, 784))
    """

    name = "reshape"
    saves = ("inputs",)

    def forward(self, xp, x, *, shape):
        return xp.reshape(x, _as_shape(shape))

    def backward(self, xp, grad, inputs, output, *, shape):
        return (xp.reshape(grad, inputs[0].shape),)

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

    def forward(self, xp, x, *, shape):
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

    def forward(self, xp, *inputs, axis=0):
        return xp.concatenate(inputs, axis=axis)

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

    def forward(self, xp, *inputs, axis=0):
        return xp.stack(inputs, axis=axis)

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
