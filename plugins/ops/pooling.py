"""Pooling over the spatial axes of NCHW (and NCL) arrays, and channel-wise dropout.

Names, arguments and results follow ``torch.nn.functional``:

* ``max_pool2d(x, kernel_size=, stride=None, padding=0, dilation=1, ceil_mode=False)`` and
  ``max_pool1d`` (same arguments, one spatial axis);
* ``avg_pool2d(x, kernel_size=, stride=None, padding=0, ceil_mode=False,
  count_include_pad=True, divisor_override=None)`` and ``avg_pool1d`` (no
  ``divisor_override``, as in torch);
* ``adaptive_avg_pool2d(x, output_size=)``: ``output_size=1`` is global average pooling;
* ``dropout2d(x, p=0.5, training=True, seed=None)``: whole channels zeroed.

Inputs are batched (N, C, H, W) / (N, C, L) or unbatched (C, H, W) / (C, L), floating
point; the output keeps the input's dtype. ``kernel_size``, ``stride``, ``padding`` and
``dilation`` are an int or a tuple with one int per spatial axis; ``stride`` defaults
to ``kernel_size``. Attributes are keywords (``ge.ops.max_pool2d(x, kernel_size=2)``;
a positional ``2`` would be a second input). The output size of an axis of length L is
``floor((L + 2·padding - dilation·(kernel_size - 1) - 1) / stride) + 1`` (``ceil`` with
``ceil_mode=True``, where a last window that would start in the right padding is
dropped). Padding is at most half the (effective) kernel, as torch requires.
``return_indices`` (torch's max pooling) is not offered: an op has one output.

How they run: each kernel offset reads one strided slice of the padded input (a view, no
copy) that holds that offset's entry of every window at once. Forward folds the kh·kw
slices with an elementwise maximum or sum; backward adds each offset's share of the
gradient into the same slice of the input's gradient, so overlapping windows sum
correctly. The Python loops run over kernel offsets (4 for a 2×2 kernel), never over
pixels. The max pool gradient goes to the maximum of each window, the first one in
window (row-major) order on ties, like torch (a window whose maximum is NaN passes no
gradient).
"""

from __future__ import annotations

import itertools
import math
import weakref

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, DtypeError, ShapeError
from graphengine.plugins.regularizers.noise import UNIFORM_DTYPE, _Generators, _step_seed, check_seed, keep_mask

Ints = int | tuple[int, ...]  # attribute annotation: one size for every spatial axis, or one per axis


# --------------------------------------------------------------------------- geometry

def _ints(op, what, value, d, minimum):
    """``value`` (an int or a sequence of ``d`` ints) as a tuple of ``d`` ints >= ``minimum``."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(value):
        out = (int(value),) * d
    elif isinstance(value, (tuple, list)) and len(value) == d and all(is_int(v) for v in value):
        out = tuple(int(v) for v in value)
    else:
        raise AttributeSpecError(f"{op}: {what} must be an int or a tuple of {d} ints, got {value!r}")
    if any(v < minimum for v in out):
        raise AttributeSpecError(f"{op}: {what} must be >= {minimum} on every axis, got {value!r}")
    return out


class _Geometry:
    """The windows of one pooling call: per spatial axis kernel, stride, padding, dilation."""

    __slots__ = ("op", "kernel", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, op, d, kernel_size, stride, padding, dilation, ceil_mode):
        self.op = op
        self.kernel = _ints(op, "kernel_size", kernel_size, d, 1)
        self.stride = self.kernel if stride is None else _ints(op, "stride", stride, d, 1)
        self.padding = _ints(op, "padding", padding, d, 0)
        self.dilation = _ints(op, "dilation", dilation, d, 1)
        self.ceil_mode = bool(ceil_mode)
        for k, p, dil in zip(self.kernel, self.padding, self.dilation):
            effective = dil * (k - 1) + 1
            if 2 * p > effective:
                raise AttributeSpecError(
                    f"{op}: padding {padding!r} is more than half the kernel ({kernel_size!r}"
                    + (f", dilation {dilation!r}" if dil != 1 else "") + "); torch refuses it too: use padding <= "
                    f"{effective // 2}")

    def out_sizes(self, spatial):
        """Output length of each spatial axis (None where the input length is unknown)."""
        out = []
        for L, k, s, p, dil in zip(spatial, self.kernel, self.stride, self.padding, self.dilation):
            if L is None:
                out.append(None)
                continue
            span = L + 2 * p - dil * (k - 1) - 1
            n = (span + (s - 1 if self.ceil_mode else 0)) // s + 1
            if self.ceil_mode and (n - 1) * s >= L + p:
                n -= 1  # the last window would start in the right padding
            if span < 0 or n < 1:
                raise ShapeError(
                    f"{self.op}: kernel_size {self.kernel} (dilation {self.dilation}, padding {self.padding}) does "
                    f"not fit the spatial size {tuple(spatial)}; use a smaller kernel_size, more padding or a larger "
                    "input")
            out.append(n)
        return tuple(out)

    def pad_widths(self, spatial, out):
        """(left, right) padding per spatial axis: ``padding``, plus on the right what the
        last window of ``ceil_mode`` reaches past it."""
        widths = []
        for L, n, k, s, p, dil in zip(spatial, out, self.kernel, self.stride, self.padding, self.dilation):
            reach = (n - 1) * s + dil * (k - 1) + 1  # padded length the windows read
            widths.append((p, max(p, reach - L - p)))
        return widths

    def offsets(self):
        """The kernel's offsets, in C order (the order of a window's flattened entries)."""
        return itertools.product(*[range(k) for k in self.kernel])

    def slices(self, offset, out):
        """Slice of the padded input that the kernel entry ``offset`` reads across all windows."""
        return (slice(None), slice(None)) + tuple(
            slice(o * dil, o * dil + (n - 1) * s + 1, s)
            for o, dil, s, n in zip(offset, self.dilation, self.stride, out))


def _format(shape):
    return "(" + ", ".join("None" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _spatial_shape(op, d, x):
    """Check the input's rank; return its spatial sizes."""
    if len(x) not in (d + 1, d + 2):
        layout = "(N, C, H, W) or (C, H, W)" if d == 2 else "(N, C, L) or (C, L)"
        raise ShapeError(f"{op} takes input of shape {layout}; got {len(x)} axes {_format(x)}")
    return tuple(x[-d:])


def _check_float(op, x):
    if x.dtype.kind != "f":
        raise DtypeError(f"{op} takes floating-point input, got {x.dtype} of shape {tuple(x.shape)}; cast it first, "
                         "e.g. ge.ops.cast(x, dtype='float32') or x.astype('float32') on the data")


def _batched(x, d):
    """(x with a batch axis, whether one was added)."""
    return (x[None], True) if x.ndim == d + 1 else (x, False)


def _pad(xp, x, widths, value):
    if not any(a or b for a, b in widths):
        return x
    return xp.pad(x, ((0, 0), (0, 0)) + tuple(widths), mode="constant", constant_values=value)


def _crop(dx, widths, spatial):
    if not any(a or b for a, b in widths):
        return dx
    return dx[(slice(None), slice(None)) + tuple(slice(a, a + L) for (a, _), L in zip(widths, spatial))]


def _fold(xp, padded, geometry, out, ufunc):
    """``ufunc`` folded over the kernel's strided slices of ``padded``: the windows'
    maximum (xp.maximum) or sum (xp.add), one elementwise pass per kernel offset."""
    result = None
    for offset in geometry.offsets():
        part = padded[geometry.slices(offset, out)]
        result = part.copy() if result is None else ufunc(result, part, out=result)
    return result


class _MaxPool(ge.Op):
    saves = ("inputs", "output")
    spatial_axes = 2

    def _geometry(self, kernel_size, stride, padding, dilation, ceil_mode):
        return _Geometry(self.name, self.spatial_axes, kernel_size, stride, padding, dilation, ceil_mode)

    def shape(self, x, *, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        geometry = self._geometry(kernel_size, stride, padding, dilation, ceil_mode)
        spatial = _spatial_shape(self.name, self.spatial_axes, x)
        return tuple(x[:-self.spatial_axes]) + geometry.out_sizes(spatial)

    def _padded(self, xp, x, geometry):
        """(the batched input padded with -inf, output sizes, pad widths)."""
        _check_float(self.name, x)
        out = geometry.out_sizes(x.shape[2:])
        widths = geometry.pad_widths(x.shape[2:], out)
        return _pad(xp, x, widths, -np.inf), out, widths

    def forward(self, xp, x, *, kernel_size: Ints, stride: Ints | None = None, padding: Ints = 0,
                dilation: Ints = 1, ceil_mode: bool = False):
        geometry = self._geometry(kernel_size, stride, padding, dilation, ceil_mode)
        _spatial_shape(self.name, self.spatial_axes, x.shape)
        x, added = _batched(x, self.spatial_axes)
        padded, out, _ = self._padded(xp, x, geometry)
        y = _fold(xp, padded, geometry, out, xp.maximum)  # NaN propagates, as in torch
        return xp.asarray(y[0] if added else y)

    def backward(self, xp, grad, inputs, output, *, kernel_size, stride=None, padding=0, dilation=1,
                 ceil_mode=False):
        geometry = self._geometry(kernel_size, stride, padding, dilation, ceil_mode)
        x, added = _batched(inputs[0], self.spatial_axes)
        if added:
            grad, output = grad[None], output[None]
        padded, out, widths = self._padded(xp, x, geometry)
        dx = xp.zeros(padded.shape, dtype=grad.dtype)
        # windows that do not overlap write their slices of dx directly; overlapping ones add
        disjoint = all(s >= dil * (k - 1) + 1 for k, s, dil in zip(geometry.kernel, geometry.stride,
                                                                      geometry.dilation))
        remaining = grad  # each window's gradient, until the window's first maximum takes it
        offsets = list(geometry.offsets())
        for k, offset in enumerate(offsets):  # in window (row-major) order
            where = geometry.slices(offset, out)
            hit = xp.greater_equal(padded[where], output)  # == for the maximum (a NaN window: no hit)
            if disjoint:
                xp.multiply(remaining, hit, out=dx[where])  # a product, not xp.where: several times faster
            else:
                dx[where] += remaining * hit
            if k + 1 < len(offsets):
                xp.logical_not(hit, out=hit)
                remaining = remaining * hit if k == 0 else xp.multiply(remaining, hit, out=remaining)
        dx = _crop(dx, widths, x.shape[2:])
        return (dx[0] if added else dx,)


class MaxPool2d(_MaxPool):
    """y[n, c, i, j] = max over the window of x (padded with -inf), NCHW; as
    ``torch.nn.functional.max_pool2d`` (without ``return_indices``).

    The window of output (i, j) reads x[n, c, i·sh - ph + a·dh, j·sw - pw + b·dw] for
    a < kh, b < kw. d/dx: each output's gradient goes to its window's maximum (the
    first one in the window on ties, like torch); overlapping windows add up.

    >>> x = g.input("x", shape=(None, 6, 28, 28))
    >>> ge.ops.max_pool2d(x, kernel_size=2).shape          # stride defaults to kernel_size
    (None, 6, 14, 14)
    >>> ge.ops.max_pool2d(x, kernel_size=3, stride=2, padding=1).shape
    (None, 6, 14, 14)
    """

    name = "max_pool2d"
    spatial_axes = 2


class MaxPool1d(_MaxPool):
    """y[n, c, i] = max over the window of x (padded with -inf), NCL; as
    ``torch.nn.functional.max_pool1d``. Gradient to the window's (first) maximum.

    >>> ge.ops.max_pool1d(x, kernel_size=3, stride=1, padding=1)    # (N, C, L) -> (N, C, L)
    """

    name = "max_pool1d"
    spatial_axes = 1


# --------------------------------------------------------------------------- average pooling

class _AvgPool(ge.Op):
    saves = ("inputs",)  # backward reads the input's shape only
    spatial_axes = 2

    def _geometry(self, kernel_size, stride, padding, ceil_mode):
        return _Geometry(self.name, self.spatial_axes, kernel_size, stride, padding, 1, ceil_mode)

    def _shape(self, x, kernel_size, stride, padding, ceil_mode, divisor_override):
        geometry = self._geometry(kernel_size, stride, padding, ceil_mode)
        _check_divisor(self.name, divisor_override)
        spatial = _spatial_shape(self.name, self.spatial_axes, x)
        return tuple(x[:-self.spatial_axes]) + geometry.out_sizes(spatial)

    def _divisor(self, xp, geometry, spatial, out, count_include_pad, divisor_override, dtype):
        """What each window's sum is divided by: a number, or an array of the output's
        spatial shape (windows that overlap the padding count fewer entries)."""
        if divisor_override:
            return float(divisor_override)
        if all(_counts_whole_kernel(L, n, k, s, p, count_include_pad)
               for L, n, k, s, p in zip(spatial, out, geometry.kernel, geometry.stride, geometry.padding)):
            return float(math.prod(geometry.kernel))
        return _window_counts(xp, geometry, spatial, out, count_include_pad, dtype)

    def _forward(self, xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        geometry = self._geometry(kernel_size, stride, padding, ceil_mode)
        _check_divisor(self.name, divisor_override)
        _spatial_shape(self.name, self.spatial_axes, x.shape)
        _check_float(self.name, x)
        x, added = _batched(x, self.spatial_axes)
        spatial = tuple(x.shape[2:])
        out = geometry.out_sizes(spatial)
        widths = geometry.pad_widths(spatial, out)
        total = _fold(xp, _pad(xp, x, widths, 0), geometry, out, xp.add)
        y = total / self._divisor(xp, geometry, spatial, out, count_include_pad, divisor_override, x.dtype)
        return xp.asarray(y[0] if added else y)

    def _backward(self, xp, grad, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        geometry = self._geometry(kernel_size, stride, padding, ceil_mode)
        x, added = _batched(x, self.spatial_axes)
        if added:
            grad = grad[None]
        spatial = tuple(x.shape[2:])
        out = geometry.out_sizes(spatial)
        widths = geometry.pad_widths(spatial, out)
        share = grad / self._divisor(xp, geometry, spatial, out, count_include_pad, divisor_override, grad.dtype)
        padded = tuple(x.shape[:2]) + tuple(L + a + b for L, (a, b) in zip(spatial, widths))
        dx = xp.zeros(padded, dtype=grad.dtype)
        for offset in geometry.offsets():
            dx[geometry.slices(offset, out)] += share
        dx = _crop(dx, widths, spatial)
        return (dx[0] if added else dx,)


def _counts_whole_kernel(L, n, k, s, p, count_include_pad):
    """Whether every window of an axis counts all its k entries (the last window is the
    only one that can reach past the padded end; with count_include_pad=False, no window
    may touch the padding)."""
    last_end = (n - 1) * s - p + k
    return last_end <= L + p if count_include_pad else (p == 0 and last_end <= L)


def _window_counts(xp, geometry, spatial, out, count_include_pad, dtype):
    """Entries each window counts: the product over spatial axes of the per-axis counts
    (inside the padded input with count_include_pad, else inside the input), as torch."""
    total = None
    for i, (L, n, k, s, p) in enumerate(zip(spatial, out, geometry.kernel, geometry.stride, geometry.padding)):
        starts = xp.arange(n, dtype=np.int64) * s - p
        ends = xp.minimum(starts + k, L + p if count_include_pad else L)
        if not count_include_pad:
            starts = xp.maximum(starts, 0)
        c = (ends - starts).astype(dtype).reshape(tuple(n if j == i else 1 for j in range(len(out))))
        total = c if total is None else total * c
    return total


def _check_divisor(op, divisor_override):
    if divisor_override is None:
        return
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)) \
            or divisor_override == 0:
        raise AttributeSpecError(f"{op}: divisor_override must be None or a non-zero int, got {divisor_override!r}")


class AvgPool2d(_AvgPool):
    """y[n, c, i, j] = (1/D) Σ over the window of x (padded with zeros), NCHW; as
    ``torch.nn.functional.avg_pool2d``.

    D is kh·kw with ``count_include_pad=True`` (the default: padding zeros count), the
    number of entries of the window inside the input with ``False``, or
    ``divisor_override``. (With ``ceil_mode``, a window reaching past the padding counts
    only what it covers, as in torch.) d/dx: each output's gradient / D, spread over its
    window; overlapping windows add up.

    >>> ge.ops.avg_pool2d(x, kernel_size=2).shape          # x: (None, 6, 28, 28)
    (None, 6, 14, 14)
    >>> ge.ops.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    """

    name = "avg_pool2d"
    spatial_axes = 2

    def shape(self, x, *, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
        return self._shape(x, kernel_size, stride, padding, ceil_mode, divisor_override)

    def forward(self, xp, x, *, kernel_size: Ints, stride: Ints | None = None, padding: Ints = 0,
                ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None):
        return self._forward(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    def backward(self, xp, grad, inputs, output, *, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        return self._backward(xp, grad, inputs[0], kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override)


class AvgPool1d(_AvgPool):
    """y[n, c, i] = (1/D) Σ over the window of x (zero-padded), NCL; as
    ``torch.nn.functional.avg_pool1d`` (D = kernel_size, or the entries inside the input
    with ``count_include_pad=False``). d/dx: gradient / D over the window.

    >>> ge.ops.avg_pool1d(x, kernel_size=2)                # (N, C, 10) -> (N, C, 5)
    """

    name = "avg_pool1d"
    spatial_axes = 1

    def shape(self, x, *, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        return self._shape(x, kernel_size, stride, padding, ceil_mode, None)

    def forward(self, xp, x, *, kernel_size: Ints, stride: Ints | None = None, padding: Ints = 0,
                ceil_mode: bool = False, count_include_pad: bool = True):
        return self._forward(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad, None)

    def backward(self, xp, grad, inputs, output, *, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        return self._backward(xp, grad, inputs[0], kernel_size, stride, padding, ceil_mode, count_include_pad, None)


# --------------------------------------------------------------------------- adaptive pooling

def _output_size(op, output_size, d):
    """``output_size`` as ``d`` entries, each a positive int or None (keep the input's size)."""
    if output_size is None or isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        sizes = (output_size,) * d
    elif isinstance(output_size, (tuple, list)) and len(output_size) == d:
        sizes = tuple(output_size)
    else:
        raise AttributeSpecError(f"{op}: output_size must be an int or a tuple of {d} ints (None keeps that axis's "
                                 f"size), got {output_size!r}")
    for v in sizes:
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise AttributeSpecError(f"{op}: output_size entries must be positive ints or None, got {output_size!r}")
    return tuple(None if v is None else int(v) for v in sizes)


def _bin_matrix(xp, n_out, n_in, dtype):
    """(n_out, n_in) matrix averaging bin i = [floor(i·n_in/n_out), ceil((i+1)·n_in/n_out))."""
    i = xp.arange(n_out, dtype=np.int64)
    starts = (i * n_in) // n_out
    ends = -((-(i + 1) * n_in) // n_out)
    j = xp.arange(n_in, dtype=np.int64)
    inside = (j >= starts[:, None]) & (j < ends[:, None])
    return inside.astype(dtype) / (ends - starts).astype(dtype)[:, None]


class AdaptiveAvgPool2d(ge.Op):
    """Average pooling to a fixed ``output_size`` (oh, ow), whatever the input's H, W; as
    ``torch.nn.functional.adaptive_avg_pool2d``. ``output_size=1`` is global average
    pooling: (N, C, H, W) -> (N, C, 1, 1).

    Output (i, j) averages rows [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) and columns
    [⌊j·W/ow⌋, ⌈(j+1)·W/ow⌉) (bins may overlap when the sizes do not divide). The
    average over a box is separable: y = P_h · x · P_wᵀ with P the (out, in) bin-averaging
    matrices, so d/dx = P_hᵀ · grad · P_w. When the sizes divide, it is a reshape and a
    mean. A None entry keeps that axis's size.

    >>> ge.ops.adaptive_avg_pool2d(x, output_size=1).shape   # x: (None, 64, 7, 7)
    (None, 64, 1, 1)
    >>> ge.ops.adaptive_avg_pool2d(x, output_size=(3, None)).shape
    (None, 64, 3, 7)
    """

    name = "adaptive_avg_pool2d"
    saves = ("inputs",)  # backward reads the input's shape only

    def shape(self, x, *, output_size):
        sizes = _output_size(self.name, output_size, 2)
        spatial = _spatial_shape(self.name, 2, x)
        return tuple(x[:-2]) + tuple(L if o is None else o for o, L in zip(sizes, spatial))

    def _plan(self, x, output_size):
        sizes = _output_size(self.name, output_size, 2)
        (H, W) = x.shape[-2:]
        oh, ow = (H if sizes[0] is None else sizes[0]), (W if sizes[1] is None else sizes[1])
        return oh, ow, H % oh == 0 and W % ow == 0

    def forward(self, xp, x, *, output_size: int | tuple[int | None, ...]):
        _spatial_shape(self.name, 2, x.shape)
        _check_float(self.name, x)
        oh, ow, divides = self._plan(x, output_size)
        H, W = x.shape[-2:]
        lead = x.shape[:-2]
        if divides:
            y = xp.mean(x.reshape(lead + (oh, H // oh, ow, W // ow)), axis=(-3, -1))
        else:
            y = xp.matmul(xp.matmul(_bin_matrix(xp, oh, H, x.dtype), x), _bin_matrix(xp, ow, W, x.dtype).T)
        return xp.asarray(y)

    def backward(self, xp, grad, inputs, output, *, output_size):
        x = inputs[0]
        oh, ow, divides = self._plan(x, output_size)
        H, W = x.shape[-2:]
        lead = x.shape[:-2]
        if divides:
            kh, kw = H // oh, W // ow
            share = (grad / (kh * kw)).reshape(lead + (oh, 1, ow, 1))
            dx = xp.broadcast_to(share, lead + (oh, kh, ow, kw)).reshape(x.shape)
        else:
            dx = xp.matmul(xp.matmul(_bin_matrix(xp, oh, H, grad.dtype).T, grad), _bin_matrix(xp, ow, W, grad.dtype))
        return (dx,)


# --------------------------------------------------------------------------- channel dropout

def _check_p(op, p):
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise AttributeSpecError(f"{op}: p must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= value <= 1.0:
        raise AttributeSpecError(f"{op}: p={p!r} is the probability to zero a channel and must lie in [0, 1]")
    return value


class Dropout2d(ge.Op):
    """Channel-wise dropout, as ``torch.nn.functional.dropout2d``: while training, each
    channel (n, c) of an (N, C, H, W) input is zeroed as a whole with probability p, and
    the kept channels are scaled by 1/(1 − p):

        y[n, c] = x[n, c] · m[n, c] / (1 − p),   m ~ Bernoulli(1 − p) per (n, c)
        d/dx = m / (1 − p) (the same mask);  training=False or p = 0: y = x;  p = 1: y = 0

    A 3-D input is taken as (N, C, L) (channel-wise 1-D dropout), as torch does. The
    mask is drawn on the data's backend by the same machinery as ``dropout``
    (graphengine.plugins.regularizers.noise): ``seed=<int>`` gives the same mask at every
    call (for gradient checks), ``seed=None`` a fresh one. Backward reuses the forward's
    mask, or redraws it from ``seed``; failing both, a channel counts as kept when its
    output is not all zero.

    >>> h = ge.ops.dropout2d(ge.ops.relu(conv), p=0.2)     # conv: (None, 32, 14, 14)
    """

    name = "dropout2d"
    saves = ("output",)

    def __init__(self):
        self._generators = _Generators()
        self._masks = {}  # id(output) -> scaled mask, dropped when the output is freed

    def shape(self, x, *, p=0.5, training=True, seed=None):
        _check_p(self.name, p)
        check_seed(f"op {self.name!r}", seed)
        if len(x) not in (3, 4):
            raise ShapeError(f"{self.name} takes input of shape (N, C, H, W) (or (N, C, L)); got {len(x)} axes "
                             f"{_format(x)}")
        return x

    def _scaled_mask(self, xp, x_shape, dtype, p, seed):
        shape = tuple(x_shape[:2]) + (1,) * (len(x_shape) - 2)
        if p == 1.0:
            return xp.zeros(shape, dtype=dtype)
        if seed is None:
            keep = self._generators.get(xp).random(shape, dtype=UNIFORM_DTYPE) >= p
        else:
            keep = keep_mask(shape, p, _step_seed(seed), xp)
        mask = keep.astype(dtype)
        mask *= dtype.type(1.0 / (1.0 - p))
        return mask

    def forward(self, xp, x, *, p: float = 0.5, training: bool = True, seed: int | None = None):
        _check_float(self.name, x)
        p = _check_p(self.name, p)
        if not training or p == 0.0:
            return x.copy()
        if x.ndim not in (3, 4):
            raise ShapeError(f"{self.name} takes input of shape (N, C, H, W) (or (N, C, L)); got {x.shape}")
        mask = self._scaled_mask(xp, x.shape, x.dtype, p, check_seed(f"op {self.name!r}", seed))
        out = x * mask
        key = id(out)
        self._masks[key] = mask
        try:
            weakref.finalize(out, self._masks.pop, key, None)
        except TypeError:  # an array type without weak references: redraw or read back in backward
            del self._masks[key]
        return out

    def backward(self, xp, grad, inputs, output, *, p=0.5, training=True, seed=None):
        p = float(p)
        if not training or p == 0.0:
            return (grad,)
        mask = self._masks.get(id(output)) if output is not None else None
        if mask is None:
            if seed is not None:
                mask = self._scaled_mask(xp, grad.shape, grad.dtype, p, seed)
            elif p == 1.0:
                return (xp.zeros_like(grad),)
            else:
                spatial = tuple(range(2, grad.ndim))
                kept = xp.any(output != 0, axis=spatial, keepdims=True)
                mask = kept.astype(grad.dtype) * grad.dtype.type(1.0 / (1.0 - p))
        return (grad * mask.astype(grad.dtype, copy=False),)
