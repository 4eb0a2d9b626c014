"""Convolution: conv1d, conv2d, conv_transpose2d and pad, with torch.nn.functional's names,
arguments and semantics (NCHW layout; weights (out, in/groups, kh, kw), transposed
weights (in, out/groups, kh, kw); cross-correlation, as every deep-learning library).

Fast by construction. Forward is im2col plus one BLAS matmul per call: the padded input
is viewed through ``as_strided`` as its (kh, kw) windows, copied once into a column matrix
(G, C/G·kh·kw, N·Ho·Wo) and multiplied by the weight (G, O/G, C/G·kh·kw). Backward
recomputes the columns for dW (one matmul) and gets dX as weightᵀ @ grad (one matmul)
folded back by col2im: a loop over the kh·kw kernel offsets, each one strided addition
over every image, channel and pixel at once. No Python loop runs over pixels or batch
items. conv1d is conv2d on a height-1 image; conv_transpose2d is conv2d's backward
(col2im of weightᵀ @ x) and its backward is conv2d's forward.
"""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, DtypeError, ShapeError

Ints = int | tuple[int, ...]  # attribute annotation: one size for every spatial axis, or one per axis

# --------------------------------------------------------------------------- attributes


def _ints(value, n, what, op):
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise AttributeSpecError(f"{op}: {what} must be an int or a tuple of {n} ints, got {value!r}")


def _positive(value, n, what, op):
    out = _ints(value, n, what, op)
    if any(v < 1 for v in out):
        raise AttributeSpecError(f"{op}: {what} must be positive, got {value!r}")
    return out


def _groups(groups, op):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise AttributeSpecError(f"{op}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _conv_padding(padding, n, kernel, stride, dilation, op):
    """Padding as ((before, after), ...) per spatial axis, from an int, a tuple of ints,
    "valid" (none) or "same" (output size = input size, stride 1 only; an odd total puts
    the extra row/column after, as torch does)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise AttributeSpecError(
                    f"{op}: padding='same' needs stride 1 (got stride {stride}), as in torch; give the padding as "
                    "an int or tuple instead")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise AttributeSpecError(f"{op}: padding must be an int, a tuple of {n} ints, 'same' or 'valid', "
                                 f"got {padding!r}")
    try:
        pads = _ints(padding, n, "padding", op)
    except AttributeSpecError:
        raise AttributeSpecError(f"{op}: padding must be an int, a tuple of {n} ints, 'same' or 'valid', "
                                 f"got {padding!r}") from None
    if any(p < 0 for p in pads):
        raise AttributeSpecError(f"{op}: padding must be >= 0, got {padding!r} (use ge.ops.pad to crop)")
    return tuple((p, p) for p in pads)


def _out_size(size, pads, kernel, stride, dilation):
    if size is None:
        return None
    return (size + pads[0] + pads[1] - dilation * (kernel - 1) - 1) // stride + 1


def _float_dtype(op, *dtypes):
    """The computation dtype: the floating dtypes promoted (integer images take the
    weight's float dtype; float32 stays float32)."""
    floats = [np.dtype(d) for d in dtypes if d is not None and np.dtype(d).kind == "f"]
    if not floats:
        raise DtypeError(f"{op}: needs a floating-point weight or input, got dtypes "
                         f"{', '.join(str(d) for d in dtypes)}; cast with .astype('float32')")
    return np.result_type(*floats)


# --------------------------------------------------------------------------- kernels
# Shared by every op here, on 4-D NCHW arrays: kernel, stride and dilation are pairs,
# pads are ((top, bottom), (left, right)).

def _zero_pad(xp, x, pads):
    (t, b), (l, r) = pads
    if not (t or b or l or r):
        return x
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + t + b, w + l + r), dtype=x.dtype)
    out[:, :, t:t + h, l:l + w] = x
    return out


def _windows(xp, xpad, kernel, stride, dilation, out_hw):
    """A read-only view (N, C, kh, kw, Ho, Wo) of the padded input's windows:
    view[n, c, p, q, i, j] = xpad[n, c, i·sh + p·dh, j·sw + q·dw]."""
    n, c = xpad.shape[:2]
    s_n, s_c, s_h, s_w = xpad.strides
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(n, c, kh, kw, ho, wo), strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw))


def _im2col(xp, xpad, kernel, stride, dilation, out_hw, groups):
    """Columns (G, C/G·kh·kw, N·Ho·Wo): one copy of the windows, ready for one matmul.

    Large NumPy columns are copied into a buffer reused between calls (see
    :func:`_column_buffer`); every caller is done with them before the next call, and they
    never escape: only the matmuls' results do."""
    n, c = xpad.shape[:2]
    win = _windows(xp, xpad, kernel, stride, dilation, out_hw)
    win = win.reshape((n, groups, c // groups) + win.shape[2:])  # split C: still a view
    k = (c // groups) * kernel[0] * kernel[1]
    win = win.transpose(1, 2, 3, 4, 0, 5, 6)
    shape = (groups, k, n * out_hw[0] * out_hw[1])
    if xp is np and win.size * win.itemsize >= _REUSE_BYTES:
        buffer = _column_buffer(shape, win.dtype)
        np.copyto(buffer.reshape(win.shape), win)
        return buffer
    return win.reshape(shape)


_REUSE_BYTES = 1 << 22   # 4 MiB: below that, fresh arrays come from the allocator's cache
_WORKSPACE = threading.local()


def _column_buffer(shape, dtype):
    """A NumPy buffer for im2col columns, kept per thread (the two most recent shapes) and
    reused: a fresh 150 MB array costs page faults on every call (the ResNet-block conv's
    three im2cols: about 40 ms each). CuPy has its memory pool and does not use this."""
    cache = getattr(_WORKSPACE, "buffers", None)
    if cache is None:
        cache = _WORKSPACE.buffers = {}
    key = (shape, np.dtype(dtype).str)
    buffer = cache.pop(key, None)
    if buffer is None:
        buffer = np.empty(shape, dtype=dtype)
    cache[key] = buffer  # the most recent last
    while len(cache) > 2:
        del cache[next(iter(cache))]
    return buffer


def _col2im(xp, cols, padded_shape, kernel, stride, dilation, out_hw):
    """The adjoint of _im2col: columns (G, C/G·kh·kw, N·Ho·Wo) summed back into an array of
    ``padded_shape`` (N, C, Hp, Wp); one strided addition per kernel offset."""
    n, c, hp, wp = padded_shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    groups = cols.shape[0]
    blocks = cols.reshape(groups, c // groups, kh, kw, n, ho, wo).transpose(4, 0, 1, 2, 3, 5, 6)
    blocks = blocks.reshape(n, c, kh, kw, ho, wo)
    out = xp.zeros(padded_shape, dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            out[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh, q * dw:q * dw + sw * (wo - 1) + 1:sw] += blocks[:, :, p, q]
    return out


def _crop(x, pads):
    (t, b), (l, r) = pads
    if not (t or b or l or r):
        return x
    h, w = x.shape[2:]
    return x[:, :, t:h - b, l:w - r]


def _to_columns_layout(x, groups):
    """(N, C, H, W) -> (G, C/G, N·H·W), a copy: the operand layout of the matmuls."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h * w).transpose(1, 2, 0, 3).reshape(groups, c // groups, n * h * w)


def _from_columns_layout(y, n, hw):
    """(G, C/G, N·H·W) -> (N, C, H, W): a view of the matmul's result for G = 1 (channel-major
    memory, as the product came out; NumPy and CuPy take any strides), a copy for G > 1."""
    groups, cg = y.shape[:2]
    return y.reshape(groups, cg, n, hw[0], hw[1]).transpose(2, 0, 1, 3, 4).reshape(n, groups * cg, hw[0], hw[1])


def _conv2d(xp, x, w, b, stride, pads, dilation, groups):
    """y[n, o, i, j] = b[o] + Σ_{c, p, q} xpad[n, g·C/G + c, i·s + p·d, j·s + q·d] · w[o, c, p, q]."""
    n = x.shape[0]
    o, _, kh, kw = w.shape
    xpad = _zero_pad(xp, x, pads)
    out_hw = tuple(_out_size(s, pd, k, st, d) for s, pd, k, st, d in
                   zip(x.shape[2:], pads, (kh, kw), stride, dilation))
    cols = _im2col(xp, xpad, (kh, kw), stride, dilation, out_hw, groups)
    y = xp.matmul(w.reshape(groups, o // groups, -1), cols)
    y = _from_columns_layout(y, n, out_hw)
    if b is not None:
        y += b.reshape(1, o, 1, 1)
    return y


def _gradient_as_convolution(c, o, stride, pads, kernel, dilation):
    """Whether dx is cheaper as a convolution of the gradient (im2col of O·kh·kw rows) than
    as col2im (kh·kw strided additions over C channels): stride 1, padding at most the
    dilated kernel, and not many more output than input channels."""
    return (stride == (1, 1) and o <= 2 * c
            and all(lo <= d * (k - 1) and hi <= d * (k - 1) for (lo, hi), k, d in zip(pads, kernel, dilation)))


def _conv2d_backward(xp, grad, x, w, stride, pads, dilation, groups, need_x, need_w):
    n = x.shape[0]
    o, _, kh, kw = w.shape
    out_hw = grad.shape[2:]
    g3 = _to_columns_layout(grad, groups)                     # (G, O/G, N·Ho·Wo)
    w3 = w.reshape(groups, o // groups, -1)                   # (G, O/G, C/G·kh·kw)
    gx = gw = None
    if need_w:
        xpad = _zero_pad(xp, x, pads)
        cols = _im2col(xp, xpad, (kh, kw), stride, dilation, out_hw, groups)
        gw = xp.matmul(g3, cols.transpose(0, 2, 1)).reshape(w.shape)
    if need_x and _gradient_as_convolution(x.shape[1], o, stride, pads, (kh, kw), dilation):
        # stride 1: dx is the correlation of the gradient, padded by d·(k - 1) - pad, with the
        # flipped kernel (channels swapped per group): one im2col and one matmul, no col2im
        c = x.shape[1]
        flipped = w.reshape(groups, o // groups, c // groups, kh, kw).transpose(0, 2, 1, 3, 4)
        flipped = flipped.reshape(c, o // groups, kh, kw)[:, :, ::-1, ::-1]
        grad_pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi) for (lo, hi), k, d in zip(pads, (kh, kw), dilation))
        gx = _conv2d(xp, grad, flipped, None, (1, 1), grad_pads, dilation, groups)
    elif need_x:
        padded = (n, x.shape[1], x.shape[2] + pads[0][0] + pads[0][1], x.shape[3] + pads[1][0] + pads[1][1])
        gcols = xp.matmul(w3.transpose(0, 2, 1), g3)         # (G, C/G·kh·kw, N·Ho·Wo)
        gx = _crop(_col2im(xp, gcols, padded, (kh, kw), stride, dilation, out_hw), pads)
        if gx.base is not None:
            gx = xp.ascontiguousarray(gx)
    return gx, gw


def _transpose_full_size(size, kernel, stride, dilation, output_padding):
    return (size - 1) * stride + dilation * (kernel - 1) + 1 + output_padding


def _conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
    """The adjoint of conv2d in x: columns wᵀ @ x folded by col2im, then cropped."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    full = (n, og * groups) + tuple(_transpose_full_size(s, k, st, d, op) for s, k, st, d, op in
                                    zip((h, wd), (kh, kw), stride, dilation, output_padding))
    w3 = w.reshape(groups, c // groups, og * kh * kw)          # (G, Cin/G, Cout/G·kh·kw)
    cols = xp.matmul(w3.transpose(0, 2, 1), _to_columns_layout(x, groups))
    y = _col2im(xp, cols, full, (kh, kw), stride, dilation, (h, wd))
    y = _crop(y, tuple((p, p) for p in padding))
    y = xp.ascontiguousarray(y) if y.base is not None else y
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _conv_transpose2d_backward(xp, grad, x, w, stride, padding, dilation, groups, need_x, need_w):
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    gfull = _zero_pad(xp, grad, tuple((p, p) for p in padding))
    cols = _im2col(xp, gfull, (kh, kw), stride, dilation, (h, wd), groups)   # (G, Cout/G·kh·kw, N·H·W)
    gx = gw = None
    w3 = w.reshape(groups, c // groups, og * kh * kw)
    if need_x:
        gx = _from_columns_layout(xp.matmul(w3, cols), n, (h, wd))
    if need_w:
        gw = xp.matmul(_to_columns_layout(x, groups), cols.transpose(0, 2, 1)).reshape(w.shape)
    return gx, gw


# --------------------------------------------------------------------------- ops

class _Conv(ge.Op):
    """Shared checks of conv1d / conv2d / conv_transpose2d: inputs (x, weight[, bias])."""

    arity = None  # (input, weight) or (input, weight, bias)
    saves = ("inputs",)
    spatial = 2
    transposed = False

    def _check_inputs(self, shapes):
        if len(shapes) not in (2, 3):
            raise ShapeError(f"{self.name} takes (input, weight) or (input, weight, bias), got {len(shapes)} inputs")
        x, w = shapes[0], shapes[1]
        d = self.spatial
        if len(w) != d + 2:
            layout = "(in_channels, out_channels/groups, " if self.transposed else "(out_channels, in_channels/groups, "
            raise ShapeError(f"{self.name}: weight must have {d + 2} axes {layout}"
                             f"{'kh, kw' if d == 2 else 'kernel_size'}), got {ge.op.format_shape(w)}")
        if len(x) not in (d + 1, d + 2):
            raise ShapeError(f"{self.name}: input must have {d + 2} axes (N, C, {'H, W' if d == 2 else 'L'}) or "
                             f"{d + 1} without the batch axis, got {ge.op.format_shape(x)}")
        if any(k == 0 for k in w[2:] if k is not None):
            raise ShapeError(f"{self.name}: weight {ge.op.format_shape(w)} has an empty kernel")

    def _check_channels(self, x, w, b, groups):
        c = x[-self.spatial - 1]
        if self.transposed:
            cin, cout = w[0], None if w[1] is None else w[1] * groups
            if cin is not None and cin % groups:
                raise ShapeError(f"{self.name}: weight {ge.op.format_shape(w)} has {cin} input channels, "
                                 f"not divisible by groups={groups}")
        else:
            cout, cin = w[0], None if w[1] is None else w[1] * groups
            if cout is not None and cout % groups:
                raise ShapeError(f"{self.name}: weight {ge.op.format_shape(w)} has {cout} output channels, "
                                 f"not divisible by groups={groups}")
        if c is not None and cin is not None and c != cin:
            where = "weight.shape[0]" if self.transposed else f"weight.shape[1] · groups = {w[1]} · {groups}"
            raise ShapeError(f"{self.name}: input {ge.op.format_shape(x)} has {c} channels, the weight "
                             f"{ge.op.format_shape(w)} expects {cin} ({where}); check in_channels (and groups)")
        if b is not None:
            if len(b) != 1 or (b[0] is not None and cout is not None and b[0] != cout):
                raise ShapeError(f"{self.name}: bias must have shape ({cout},) (one per output channel), got "
                                 f"{ge.op.format_shape(b)}")
        return cout

    def dtype(self, *dtypes, **attrs):
        known = [d for d in dtypes if d is not None]
        if not known:
            return None
        floats = [np.dtype(d) for d in known if np.dtype(d).kind == "f"]
        return np.result_type(*floats) if floats else None

    @staticmethod
    def _bias(bias, op):
        if bias is not None:
            raise AttributeSpecError(f"{op}: pass the bias as the third input, ge.ops.{op}(x, weight, bias, ...), "
                                     "not as bias=")

    def _prepare(self, xp, inputs):
        """Inputs in the computation dtype, the batch axis added where it is missing."""
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        self._check_inputs([x.shape, w.shape] + ([b.shape] if b is not None else []))
        dtype = _float_dtype(self.name, *(a.dtype for a in inputs))
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
        b = None if b is None else b.astype(dtype, copy=False)
        unbatched = x.ndim == self.spatial + 1
        if unbatched:
            x = x[None]
        if self.spatial == 1:  # a 1-D convolution is a 2-D one on a height-1 image
            x, w = x[:, :, None, :], w[:, :, None, :]
        return x, w, b, unbatched

    def _finish(self, y, unbatched):
        if self.spatial == 1:
            y = y.reshape(y.shape[:2] + y.shape[3:])
        return y[0] if unbatched else y

    def _grad_like(self, xp, g, like):
        if g is None:
            return None
        g = g.reshape(like.shape)
        return g if like.dtype.kind != "f" or g.dtype == like.dtype else g.astype(like.dtype)


class _ConvNd(_Conv):
    """conv1d / conv2d: torch.nn.functional.conv{1,2}d."""

    def _attrs(self, kernel, stride, padding, dilation, groups):
        d = self.spatial
        stride = _positive(stride, d, "stride", self.name)
        dilation = _positive(dilation, d, "dilation", self.name)
        groups = _groups(groups, self.name)
        pads = _conv_padding(padding, d, kernel, stride, dilation, self.name)
        if d == 1:  # as 2-D on a height-1 image
            return (1,) + stride, ((0, 0),) + pads, (1,) + dilation, groups
        return stride, pads, dilation, groups

    def forward(self, xp, *inputs, stride: Ints = 1, padding: Ints | str = 0, dilation: Ints = 1,
                groups: int = 1, bias: None = None):
        self._bias(bias, self.name)
        x, w, b, unbatched = self._prepare(xp, inputs)
        self.shape(*[a.shape for a in inputs], stride=stride, padding=padding, dilation=dilation, groups=groups)
        stride, pads, dilation, groups = self._attrs(tuple(inputs[1].shape[2:]), stride, padding, dilation, groups)
        return self._finish(_conv2d(xp, x, w, b, stride, pads, dilation, groups), unbatched)

    def backward(self, xp, grad, inputs, output, needs_grad=None, *, stride=1, padding=0, dilation=1, groups=1,
                 bias=None):
        needs_grad = needs_grad or (True,) * len(inputs)
        x, w, b, unbatched = self._prepare(xp, inputs)
        stride, pads, dilation, groups = self._attrs(tuple(inputs[1].shape[2:]), stride, padding, dilation, groups)
        g = grad.astype(x.dtype, copy=False)
        g = g[None] if unbatched else g
        if self.spatial == 1:
            g = g[:, :, None, :]
        gx, gw = _conv2d_backward(xp, g, x, w, stride, pads, dilation, groups, needs_grad[0], needs_grad[1])
        out = [self._grad_like(xp, gx, inputs[0]), self._grad_like(xp, gw, inputs[1])]
        if len(inputs) > 2:
            out.append(self._grad_like(xp, g.sum(axis=(0, 2, 3)), inputs[2]) if needs_grad[2] else None)
        return tuple(out)

    def shape(self, *shapes, stride=1, padding=0, dilation=1, groups=1, bias=None):
        self._bias(bias, self.name)
        self._check_inputs(shapes)
        x, w = shapes[0], shapes[1]
        kernel = tuple(w[2:])
        if any(k is None for k in kernel):
            return None
        stride_, pads, dilation_, groups_ = self._attrs(kernel, stride, padding, dilation, groups)
        if self.spatial == 1:
            stride_, pads, dilation_ = stride_[1:], pads[1:], dilation_[1:]
        cout = self._check_channels(x, w, shapes[2] if len(shapes) > 2 else None, groups_)
        sizes = []
        for axis, (size, pd, k, s, d) in enumerate(zip(x[-self.spatial:], pads, kernel, stride_, dilation_)):
            out = _out_size(size, pd, k, s, d)
            if out is not None and out < 1:
                raise ShapeError(
                    f"{self.name}: input {ge.op.format_shape(x)} is too small for the kernel "
                    f"{ge.op.format_shape(kernel)} on spatial axis {axis}: padded size {size + pd[0] + pd[1]} < "
                    f"dilated kernel size {d * (k - 1) + 1}; pad the input or use a smaller kernel or dilation")
            sizes.append(out)
        return tuple(x[:-self.spatial - 1]) + (cout,) + tuple(sizes)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation), ``torch.nn.functional.conv2d``:

        y[n, o, i, j] = bias[o] + Σ_{c, p, q} x[n, g·C/G + c, i·sh + p·dh - ph, j·sw + q·dw - pw] · w[o, c, p, q]

    where g = o // (O/G) is the group of output channel o and x is zero outside the image.
    Inputs: ``input`` (N, C, H, W) (or (C, H, W)), ``weight`` (O, C/groups, kh, kw) and an
    optional ``bias`` (O,) as a third input. Attributes: ``stride``, ``padding`` (an int,
    a pair, ``"valid"`` or ``"same"``: output size = input size, stride 1 only),
    ``dilation``, ``groups``. Output (N, O, Ho, Wo), Ho = ⌊(H + 2ph - dh·(kh - 1) - 1) / sh⌋ + 1.

    Gradients: dW = grad ⊛ windows of x (one matmul over the im2col columns), dx = col2im
    of Wᵀ @ grad (the transposed convolution), dbias = Σ_{n,i,j} grad. float32 stays
    float32; integer images take the weight's dtype.

    >>> y = ge.ops.conv2d(x, w, b, stride=1, padding=2)     # (N, 1, 28, 28), w (6, 1, 5, 5) -> (N, 6, 28, 28)
    >>> y = ge.ops.conv2d(x, w, padding="same", groups=2)
    """

    name = "conv2d"
    spatial = 2


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation), ``torch.nn.functional.conv1d``:

        y[n, o, i] = bias[o] + Σ_{c, p} x[n, g·C/G + c, i·s + p·d - pad] · w[o, c, p]

    Inputs: ``input`` (N, C, L) (or (C, L)), ``weight`` (O, C/groups, k), optional
    ``bias`` (O,). Attributes ``stride``, ``padding`` (int, ``"valid"``, ``"same"``),
    ``dilation``, ``groups`` as in torch. Output length ⌊(L + 2·pad - d·(k - 1) - 1) / s⌋ + 1.
    Computed as conv2d on a height-1 image (same im2col + one matmul); gradients likewise.

    >>> y = ge.ops.conv1d(signal, w, b, padding="same")   # (N, 4, 100), w (8, 4, 3) -> (N, 8, 100)
    """

    name = "conv1d"
    spatial = 1


class ConvTranspose2d(_Conv):
    """Transposed 2-D convolution, ``torch.nn.functional.conv_transpose2d`` (the gradient
    of conv2d with respect to its input, used to upsample):

        y_full[n, g·O/G + o, i·sh + p·dh, j·sw + q·dw] += x[n, g·C/G + c, i, j] · w[g·C/G + c, o, p, q]
        y = y_full cropped by ``padding`` on each side (+ bias)

    Inputs: ``input`` (N, C, H, W) (or (C, H, W)), ``weight`` (C, O/groups, kh, kw),
    optional ``bias`` (O,). Attributes ``stride``, ``padding``, ``output_padding`` (extra
    rows/columns after, each < stride or dilation), ``groups``, ``dilation``. Output
    Ho = (H - 1)·sh - 2·ph + dh·(kh - 1) + output_padding + 1. Forward is one matmul
    (wᵀ @ x) and a col2im; backward is the conv2d of the gradient (one im2col, one matmul
    for dx and one for dW).

    >>> up = ge.ops.conv_transpose2d(h, w, stride=2)   # (N, 16, 7, 7), w (16, 8, 2, 2) -> (N, 8, 14, 14)
    """

    name = "conv_transpose2d"
    transposed = True

    def _attrs(self, stride, padding, output_padding, dilation, groups):
        stride = _positive(stride, 2, "stride", self.name)
        dilation = _positive(dilation, 2, "dilation", self.name)
        if isinstance(padding, str):
            raise AttributeSpecError(f"{self.name}: padding must be an int or a pair of ints (torch's "
                                     f"conv_transpose2d takes no {padding!r}), got {padding!r}")
        padding = _ints(padding, 2, "padding", self.name)
        output_padding = _ints(output_padding, 2, "output_padding", self.name)
        if any(p < 0 for p in padding + output_padding):
            raise AttributeSpecError(f"{self.name}: padding and output_padding must be >= 0, got {padding} and "
                                     f"{output_padding}")
        for op_, s, d in zip(output_padding, stride, dilation):
            if op_ >= max(s, d):
                raise AttributeSpecError(
                    f"{self.name}: output_padding {output_padding} must be smaller than stride {stride} or "
                    f"dilation {dilation} (as in torch); it only picks among the output sizes a stride allows")
        return stride, padding, output_padding, dilation, _groups(groups, self.name)

    def forward(self, xp, *inputs, stride: Ints = 1, padding: Ints = 0, output_padding: Ints = 0,
                groups: int = 1, dilation: Ints = 1, bias: None = None):
        self._bias(bias, self.name)
        x, w, b, unbatched = self._prepare(xp, inputs)
        self.shape(*[a.shape for a in inputs], stride=stride, padding=padding, output_padding=output_padding,
                   groups=groups, dilation=dilation)
        s, p, op_, d, g = self._attrs(stride, padding, output_padding, dilation, groups)
        return self._finish(_conv_transpose2d(xp, x, w, b, s, p, op_, d, g), unbatched)

    def backward(self, xp, grad, inputs, output, needs_grad=None, *, stride=1, padding=0, output_padding=0,
                 groups=1, dilation=1, bias=None):
        needs_grad = needs_grad or (True,) * len(inputs)
        x, w, b, unbatched = self._prepare(xp, inputs)
        s, p, _, d, g = self._attrs(stride, padding, output_padding, dilation, groups)
        gr = grad.astype(x.dtype, copy=False)
        gr = gr[None] if unbatched else gr
        gx, gw = _conv_transpose2d_backward(xp, gr, x, w, s, p, d, g, needs_grad[0], needs_grad[1])
        out = [self._grad_like(xp, gx, inputs[0]), self._grad_like(xp, gw, inputs[1])]
        if len(inputs) > 2:
            out.append(self._grad_like(xp, gr.sum(axis=(0, 2, 3)), inputs[2]) if needs_grad[2] else None)
        return tuple(out)

    def shape(self, *shapes, stride=1, padding=0, output_padding=0, groups=1, dilation=1, bias=None):
        self._bias(bias, self.name)
        self._check_inputs(shapes)
        x, w = shapes[0], shapes[1]
        s, p, op_, d, g = self._attrs(stride, padding, output_padding, dilation, groups)
        cout = self._check_channels(x, w, shapes[2] if len(shapes) > 2 else None, g)
        sizes = []
        for axis, (size, k) in enumerate(zip(x[-2:], w[2:])):
            if size is None or k is None:
                sizes.append(None)
                continue
            out = _transpose_full_size(size, k, s[axis], d[axis], op_[axis]) - 2 * p[axis]
            if out < 1:
                raise ShapeError(f"{self.name}: padding {p} crops the whole output on spatial axis {axis} "
                                 f"(input {ge.op.format_shape(x)}, weight {ge.op.format_shape(w)}); use less padding")
            sizes.append(out)
        return tuple(x[:-3]) + (cout,) + tuple(sizes)


# --------------------------------------------------------------------------- pad

PAD_MODES = ("constant", "reflect", "replicate", "circular")


class Pad(ge.Op):
    """Pad the last axes, ``torch.nn.functional.pad(input, pad, mode, value)``.

    ``pad`` lists (before, after) pairs starting from the LAST axis, as in torch:
    ``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the last two.
    Modes: ``"constant"`` (fill with ``value``, default 0; negative pads crop),
    ``"reflect"`` (mirror without repeating the edge: [1, 2, 3] -> [3, 2, 1, 2, 3] with
    pad (2, 0); each pad < the axis size), ``"replicate"`` (repeat the edge: [1, 1, 1, 2, 3])
    and ``"circular"`` (wrap around: [2, 3, 1, 2, 3]; each pad ≤ the axis size).

    Gradient: the inner part of grad, plus, for reflect / replicate / circular, the
    gradient of every padded entry added to the entry it copies (folded back axis by
    axis). dtype and integer data are kept.

    >>> ge.ops.pad(images, pad=(1, 1, 2, 2), mode="reflect")   # (N, C, 28, 28) -> (N, C, 32, 30)
    """

    name = "pad"
    saves = ("inputs",)

    def _pairs(self, pad, mode, ndim):
        if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not pad or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pad):
            raise AttributeSpecError(f"pad: pad must be a tuple of an even number of ints, (left, right[, top, "
                                     f"bottom, ...]) from the last axis back, got {pad!r}")
        if mode not in PAD_MODES:
            raise AttributeSpecError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
        pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]
        if len(pairs) > ndim:
            raise ShapeError(f"pad: {pad!r} pads {len(pairs)} axes but the input has only {ndim}")
        # per axis of the input, first axis first
        return [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]

    def _check(self, shape, pad, mode, value):
        pairs = self._pairs(pad, mode, len(shape))
        if mode != "constant" and value is not None:
            raise AttributeSpecError(f"pad: value={value!r} only applies to mode='constant', not {mode!r}")
        out = []
        for axis, (size, (lo, hi)) in enumerate(zip(shape, pairs)):
            if mode != "constant" and (lo < 0 or hi < 0):
                raise AttributeSpecError(f"pad: negative padding {pad!r} only crops in mode='constant'")
            if size is not None and (lo or hi):
                if mode == "reflect" and (lo >= size or hi >= size):
                    raise ShapeError(f"pad: reflect padding {(lo, hi)} on axis {axis} of shape "
                                     f"{ge.op.format_shape(shape)} must be smaller than the axis size {size}")
                if mode == "circular" and (lo > size or hi > size):
                    raise ShapeError(f"pad: circular padding {(lo, hi)} on axis {axis} of shape "
                                     f"{ge.op.format_shape(shape)} must be at most the axis size {size}")
                if mode == "replicate" and size == 0:
                    raise ShapeError(f"pad: cannot replicate an empty axis {axis} of {ge.op.format_shape(shape)}")
            new = None if size is None else size + lo + hi
            if new is not None and new < 0:
                raise ShapeError(f"pad: {pad!r} crops axis {axis} of {ge.op.format_shape(shape)} below zero")
            out.append(new)
        return pairs, tuple(out)

    def forward(self, xp, x, *, pad: Ints,
                mode: Literal["constant", "reflect", "replicate", "circular"] = "constant",
                value: float | None = None):
        pairs, shape = self._check(x.shape, pad, mode, value)
        if mode == "constant":
            fill = 0 if value is None else value
            y = xp.full(shape, fill, dtype=x.dtype)
            y[tuple(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0)) for n, (lo, hi) in
                    zip(x.shape, pairs))] = x[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in
                                                    zip(x.shape, pairs))]
            return y
        np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        return xp.pad(x, pairs, mode=np_mode)

    def backward(self, xp, grad, inputs, output, *, pad, mode="constant", value=None):
        x = inputs[0]
        pairs, _ = self._check(x.shape, pad, mode, value)
        if mode == "constant":
            gx = xp.zeros(x.shape, dtype=grad.dtype)
            gx[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape, pairs))] = \
                grad[tuple(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0)) for n, (lo, hi) in
                           zip(x.shape, pairs))]
            return (gx,)
        g = grad
        for axis, (lo, hi) in enumerate(pairs):
            if lo or hi:
                g = _fold(xp, g, axis, lo, hi, x.shape[axis], mode)
        return (g if g is not grad else grad.copy(),)

    def shape(self, x, *, pad, mode="constant", value=None):
        return self._check(x, pad, mode, value)[1]


def _fold(xp, g, axis, lo, hi, n, mode):
    """The gradient of padding one axis: the inner part plus each padded entry's gradient
    added to the entry it copied."""
    def take(start, stop, step=1):
        index = [slice(None)] * g.ndim
        index[axis] = slice(start, stop, step)
        return tuple(index)

    inner = g[take(lo, lo + n)].copy()
    left, right = g[take(0, lo)], g[take(lo + n, lo + n + hi)]
    if mode == "replicate":
        if lo:
            inner[take(0, 1)] += left.sum(axis=axis, keepdims=True)
        if hi:
            inner[take(n - 1, n)] += right.sum(axis=axis, keepdims=True)
    elif mode == "reflect":  # padded entry lo - 1 - k copies x[1 + k]; lo + n + k copies x[n - 2 - k]
        if lo:
            inner[take(1, lo + 1)] += left[take(None, None, -1)]
        if hi:
            inner[take(n - 1 - hi, n - 1)] += right[take(None, None, -1)]
    else:  # circular: the left pad copies the last lo entries, the right pad the first hi
        if lo:
            inner[take(n - lo, n)] += left
        if hi:
            inner[take(0, hi)] += right
    return inner
