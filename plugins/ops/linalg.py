"""Linear algebra: matmul (2-D and batched) and transpose."""

import graphengine as ge
from graphengine import ShapeError, broadcast_shapes


class MatMul(ge.Op):
    """a @ b with NumPy's matmul rules: C[..., i, j] = Σ_k A[..., i, k] B[..., k, j].

    1-D operands are promoted (a to a row, b to a column) and the added axis removed;
    leading (batch) axes broadcast. d/da = grad @ bᵀ, d/db = aᵀ @ grad (with broadcast
    batch axes; the engine sums them back). With ``out=`` both directions write into the
    engine's buffers (forward: the product; backward: dA and dB of 2-D operands).

    >>> x @ W          # (None, 3) @ (3, 1) -> (None, 1)
    """

    name = "matmul"
    saves = ("inputs",)
    promote_inputs = (0, 1)  # integer data meeting float gets a cast node (graph._infer)

    def forward(self, xp, a, b, out=None):
        if a.ndim == 1 and b.ndim == 1:  # inner product: NumPy gives a scalar
            return xp.asarray(xp.matmul(a, b))
        return xp.matmul(a, b, out=out)

    def backward(self, xp, grad, inputs, output, needs_grad=(True, True), out=None):
        a, b = inputs
        out_a, out_b = out if out is not None else (None, None)
        if a.ndim == 1 and b.ndim == 1:  # inner product -> scalar
            return (grad * b if needs_grad[0] else None, grad * a if needs_grad[1] else None)
        if a.ndim == 2 and b.ndim == 2:  # the dense layer: straight into the buffers
            return (xp.matmul(grad, b.T, out=out_a) if needs_grad[0] else None,
                    xp.matmul(a.T, grad, out=out_b) if needs_grad[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if needs_grad[0]:  # (batch..., m, k); a 1-D a drops its row axis
            ga = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = xp.squeeze(ga, -2)
        if needs_grad[1]:  # (batch..., k, n); a 1-D b drops its column axis
            gb = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = xp.squeeze(gb, -1)
        return ga, gb

    def shape(self, a, b):
        if len(a) == 0 or len(b) == 0:
            raise ShapeError("matmul needs operands with at least one axis; use mul (*) for scalars")
        a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
        b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
        k1, k2 = a2[-1], b2[-2]
        if k1 is not None and k2 is not None and k1 != k2:
            raise ShapeError(f"matmul contracts axis of size {k1} (last of a) with size {k2} "
                             f"({'only axis' if len(b) == 1 else 'second to last'} of b)")
        batch = broadcast_shapes(a2[:-2], b2[:-2])
        out = batch + (a2[-2], b2[-1])
        if len(a) == 1:
            out = out[:-2] + out[-1:]
        if len(b) == 1:
            out = out[:-1]
        return out


class Transpose(ge.Op):
    """Permute axes: y.shape[i] = x.shape[axes[i]] (reverse them when ``axes`` is None,
    like ndarray.T). The gradient is transposed back by the inverse permutation.

    >>> h.T, ge.ops.transpose(images, axes=(0, 2, 3, 1))
    """

    name = "transpose"
    saves = ()

    def forward(self, xp, x, *, axes: tuple[int, ...] | None = None):
        return xp.transpose(x, axes)

    def backward(self, xp, grad, inputs, output, *, axes=None):
        if axes is None:
            return (xp.transpose(grad),)
        inverse = [0] * len(axes)
        for i, a in enumerate(axes):
            inverse[a % len(axes)] = i
        return (xp.transpose(grad, inverse),)

    def shape(self, x, *, axes=None):
        if axes is None:
            return tuple(reversed(x))
        axes = tuple(axes)
        if len(axes) != len(x) or sorted(int(a) % len(x) for a in axes) != list(range(len(x))) \
                or any(not -len(x) <= int(a) < len(x) for a in axes):
            raise ShapeError(f"axes {axes!r} are not a permutation of the {len(x)} axes of {tuple(x)}")
        return tuple(x[a] for a in axes)
