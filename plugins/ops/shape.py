"""Shape ops: getitem (indexing and slicing), reshape, concat, stack, broadcast_to."""

import numpy as np

import graphengine as ge
from graphengine import ShapeError, unbroadcast
from graphengine.node import thaw_index


class GetItem(ge.Op):
    """x[index]: ints, slices, None, Ellipsis and integer lists, as in NumPy.

    The gradient scatters back into a zero array of x's shape (repeated indices add up).

    >>> h[0:2], h[:, 1]
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
            np.add.at(out, idx, grad)
        else:
            xp.add.at(out, idx, grad)
        return (out,)

    def shape(self, x, *, index):
        probe = np.empty(tuple(1 if d is None else d for d in x), dtype=np.int8)
        try:
            result = probe[thaw_index(index)]
        except IndexError as exc:
            raise ShapeError(f"index {thaw_index(index)!r} does not fit shape {x}: {exc}") from None
        if any(d is None for d in x):
            return None  # unknown axes make the result shape unknown in general
        return result.shape


class Reshape(ge.Op):
    """Reshape to ``shape`` (one entry may be -1). The gradient is reshaped back."""

    name = "reshape"
    saves = ("inputs",)

    def forward(self, xp, x, *, shape):
        return xp.reshape(x, shape)

    def backward(self, xp, grad, inputs, output, *, shape):
        return (xp.reshape(grad, inputs[0].shape),)

    def shape(self, x, *, shape):
        shape = tuple(shape)
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
    """Broadcast x to ``shape``. The gradient is summed back (unbroadcast)."""

    name = "broadcast_to"
    saves = ("inputs",)

    def forward(self, xp, x, *, shape):
        return xp.broadcast_to(x, shape)

    def backward(self, xp, grad, inputs, output, *, shape):
        return (unbroadcast(xp, grad, inputs[0].shape),)

    def shape(self, x, *, shape):
        out = ge.broadcast_shapes(x, tuple(shape))
        if tuple(out) != tuple(shape):
            raise ShapeError(f"cannot broadcast {x} to {tuple(shape)}")
        return tuple(shape)


class Concat(ge.Op):
    """Join inputs along an existing ``axis``. Each input gets its slice of the gradient."""

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
    """Stack inputs of equal shape along a new ``axis``."""

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
