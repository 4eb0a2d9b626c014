"""Cross-entropy over rows of classes on CuPy, in two or three fused kernels per direction.

The NumPy formulas in ``losses.py`` are the definition; this is their device form for
the common case (2-D logits, integer labels, no class weights, no label smoothing). Written
with NumPy-style calls, that case launches about thirty small kernels per step (the
label checks, the ``ignore_index`` mask, the stable softmax, the pick, the reduction),
and their launch cost on the host came to more than the whole MLP step's GPU time. Here
each row's max, sum of exponentials, loss, label checks and mask are one kernel; the
check_op ``cupy`` check compares the results with NumPy's, forward and backward.

Semantics, as on the NumPy path: a label equal to ``ignore_index`` gives loss 0 and no
gradient and is left out of the mean's denominator; a label outside 0..C-1 gives NaN
(checked on the device, never read on the host).
"""

from __future__ import annotations

from ..cuda_kernels import elementwise


def _kernel(name):
    return elementwise(f"ce_{name}", *_SOURCES[name])


_ROW_STATS = """
    const ptrdiff_t base = (ptrdiff_t)i * C;
    T top = z[base];
    for (ptrdiff_t j = 1; j < C; ++j) top = max(top, z[base + j]);
    T total = 0;
    for (ptrdiff_t j = 0; j < C; ++j) total += exp(z[base + j] - top);
"""

_SOURCES = {
    # per row: the loss, and 1 where the row counts towards the mean (0 where ignored)
    "forward": (
        "raw T z, raw I y, int64 C, int64 ignore, int64 has_ignore, T nan_value",
        "T loss, T kept",
        """
        const long long label = (long long)y[i];
        if (has_ignore && label == ignore) { loss = 0; kept = 0; }
        else if (label < 0 || label >= C) { loss = nan_value; kept = 1; }
        else {""" + _ROW_STATS + """
            loss = log(total) + top - z[base + label];
            kept = 1;
        }
        """,
    ),
    # per row: the max and the sum of exponentials of the shifted logits
    "stats": (
        "raw T z, int64 C",
        "T row_max, T row_sum",
        _ROW_STATS + "row_max = top; row_sum = total;",
    ),
    # per element: (softmax - onehot) times the row's share of the upstream gradient
    "backward": (
        ("raw T z, raw I y, raw T row_max, raw T row_sum, raw T scale, int64 C, int64 ignore, "
         "int64 has_ignore, int64 per_row, T factor, T nan_value"),
        "T g",
        """
        const ptrdiff_t row = i / C, j = i % C;
        const long long label = (long long)y[row];
        if (has_ignore && label == ignore) g = 0;
        else if (label < 0 || label >= C) g = nan_value;
        else {
            const T p = exp(z[i] - row_max[row]) / row_sum[row];
            g = (p - (j == label ? (T)1 : (T)0)) * scale[per_row ? row : 0] * factor;
        }
        """,
    ),
}


def forward(xp, logits, target, reduction, ignore_index, out=None):
    """Cross-entropy of rows of ``logits`` (N, C) against class indices ``target`` (N,)."""
    z = xp.ascontiguousarray(logits)
    n, classes = z.shape
    loss = xp.empty(n, dtype=z.dtype) if reduction != "none" or out is None else out
    kept = xp.empty(n, dtype=z.dtype)
    _kernel("forward")(z, target, classes, 0 if ignore_index is None else int(ignore_index),
                       0 if ignore_index is None else 1, float("nan"), loss, kept)
    if reduction == "none":
        return loss
    total = xp.sum(loss, out=out)
    if reduction == "sum":
        return total
    denominator = n if ignore_index is None else xp.sum(kept)  # 0 when every label is ignored: NaN, as torch
    return xp.divide(total, denominator, out=total)


def backward(xp, grad, logits, target, reduction, ignore_index, out=None):
    """d loss / d logits for :func:`forward`'s loss, given its upstream gradient ``grad``."""
    z = xp.ascontiguousarray(logits)
    n, classes = z.shape
    row_max, row_sum = xp.empty(n, dtype=z.dtype), xp.empty(n, dtype=z.dtype)
    _kernel("stats")(z, classes, row_max, row_sum)
    scale = xp.asarray(grad, dtype=z.dtype).reshape(-1)  # one entry (a reduced loss) or one per row
    factor = 1.0
    if reduction == "mean":
        if ignore_index is None:
            factor = 1.0 / max(n, 1)
        else:
            scale = scale / xp.count_nonzero(target != ignore_index).astype(z.dtype)
    g = xp.empty_like(z) if out is None else out
    _kernel("backward")(z, target, row_max, row_sum, scale, classes,
                        0 if ignore_index is None else int(ignore_index), 0 if ignore_index is None else 1,
                        1 if reduction == "none" else 0, factor, float("nan"), g)
    return g
