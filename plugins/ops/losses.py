"""Loss functions from the decks. Each returns per-element (or per-example) losses by
default; ``reduction="mean"`` or ``"sum"`` reduces them, or wrap in ``ge.ops.mean``.

Classification losses take targets either as integer class indices of shape (batch,)
or as one-hot (or soft) distributions of the logits' shape.
"""

import contextlib

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, DtypeError, ShapeError, broadcast_shapes

REDUCTIONS = ("none", "mean", "sum")
LOG_FLOOR = -100.0  # log(p) is clamped here (as PyTorch does) so p = 0 gives a finite loss


def _shape_of(x):
    return tuple(getattr(x, "shape", ()))


def _like(xp, target, prediction):
    """Targets in the prediction's dtype (integer labels must not upcast float32 to float64)."""
    if hasattr(target, "dtype") and target.dtype != prediction.dtype and prediction.dtype.kind == "f":
        return target.astype(prediction.dtype)
    return target


def _target_grad(grad, target):
    """A target's gradient in the target's own dtype (None for Python-scalar or integer targets)."""
    if getattr(target, "dtype", None) is None or target.dtype.kind != "f":
        return None
    return grad if grad.dtype == target.dtype else grad.astype(target.dtype)


def _quiet(xp):
    """log(0) = -inf is expected below (then clamped); NumPy would warn about it."""
    return np.errstate(divide="ignore") if xp is np else contextlib.nullcontext()


def _reduce(xp, loss, reduction, out=None):
    """The per-example ``loss`` reduced; ``out``: a 0-d buffer for "mean" / "sum" (with
    "none" the loss itself is returned, a new array)."""
    if reduction == "none":
        return loss
    if reduction == "mean":  # a sum and a division: cheaper than xp.mean, the same value
        return xp.asarray(xp.divide(xp.sum(loss, out=out), max(loss.size, 1), out=out))
    if reduction == "sum":
        return xp.asarray(xp.sum(loss, out=out))
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce_grad(xp, grad, shape, reduction, dtype):
    """Upstream gradient of the reduced loss, as a gradient of the unreduced loss."""
    if reduction == "none":
        return grad
    scale = 1.0 / max(int(np.prod(shape, dtype=np.int64)), 1) if reduction == "mean" else 1.0
    return xp.broadcast_to(grad * scale, shape).astype(dtype, copy=False)


def _reduced_shape(shape, reduction):
    if reduction not in REDUCTIONS:
        raise AttributeSpecError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return shape if reduction == "none" else ()


class _Loss(ge.Op):
    saves = ("inputs",)

    def dtype(self, prediction, target, **attrs):
        return prediction


class _ElementwiseLoss(_Loss):
    def shape(self, prediction, target, *, reduction="none"):
        return _reduced_shape(broadcast_shapes(prediction, target), reduction)


class MSE(_ElementwiseLoss):
    """Squared error (prediction - target)², per element. d/dprediction = 2(prediction - target).

    Deck 000 eq. 6 (L_i = ‖f - y_i‖²) is ge.ops.sum(ge.ops.mse(f, y), axis=-1).
    """

    name = "mse"

    def forward(self, xp, prediction, target, *, reduction="none"):
        d = prediction - _like(xp, target, prediction)
        return _reduce(xp, d * d, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, t = inputs
        d = p - _like(xp, t, p)
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * (2 * d)
        return (g if needs_grad[0] else None,
                _target_grad(-g, t) if needs_grad[1] else None)


class MAE(_ElementwiseLoss):
    """Absolute error |prediction - target|, per element. d/dprediction = sign(prediction - target)
    (0 at the kink)."""

    name = "mae"

    def forward(self, xp, prediction, target, *, reduction="none"):
        return _reduce(xp, xp.abs(prediction - _like(xp, target, prediction)), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, t = inputs
        d = p - _like(xp, t, p)
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * xp.sign(d)
        return (g if needs_grad[0] else None,
                _target_grad(-g, t) if needs_grad[1] else None)


def _clamped_logs(xp, p):
    """(log p, log(1 - p)), each clamped at LOG_FLOOR, without warnings at p = 0 or 1."""
    with _quiet(xp):
        return xp.maximum(xp.log(p), LOG_FLOOR), xp.maximum(xp.log1p(-p), LOG_FLOOR)


class BinaryCrossEntropy(_ElementwiseLoss):
    """-(y·log p + (1 - y)·log(1 - p)) on probabilities p (deck 000, eq. 1), per element.

    log is clamped at -100 so p = 0 or 1 stays finite. d/dp = (p - y) / (p(1 - p)),
    d/dy = log(1 - p) - log p. For logits, binary_cross_entropy_with_logits is exact and
    stable.

    >>> loss = ge.ops.binary_cross_entropy(ge.ops.sigmoid(x @ W + b), y, reduction="mean")
    """

    name = "binary_cross_entropy"

    def forward(self, xp, p, y, *, reduction="none"):
        y_ = _like(xp, y, p)
        log_p, log_1p = _clamped_logs(xp, p)
        return _reduce(xp, -(y_ * log_p + (1 - y_) * log_1p), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, y = inputs
        y_ = _like(xp, y, p)
        tiny = float(np.finfo(p.dtype).tiny) if p.dtype.kind == "f" else 1e-300
        shape = broadcast_shapes(p.shape, _shape_of(y))
        g = _reduce_grad(xp, grad, shape, reduction, p.dtype)
        gp = gy = None
        if needs_grad[0]:
            gp = g * (p - y_) / xp.maximum(p * (1 - p), tiny)
        if needs_grad[1]:
            log_p, log_1p = _clamped_logs(xp, p)
            gy = _target_grad(g * (log_1p - log_p), y)
        return gp, gy


class BinaryCrossEntropyWithLogits(_ElementwiseLoss):
    """BCE of σ(x) against y, from logits x: -(y·log σ(x) + (1 - y)·log(1 - σ(x))),
    computed without overflow as max(x, 0) - x·y + log(1 + e^(-|x|)).

    d/dx = σ(x) - y, d/dy = -x.
    """

    name = "binary_cross_entropy_with_logits"

    def forward(self, xp, x, y, *, reduction="none"):
        loss = xp.maximum(x, 0) - x * _like(xp, y, x) + xp.log1p(xp.exp(-xp.abs(x)))
        return _reduce(xp, loss, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        x, y = inputs
        shape = broadcast_shapes(x.shape, _shape_of(y))
        g = _reduce_grad(xp, grad, shape, reduction, x.dtype)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return (g * (s - _like(xp, y, x)) if needs_grad[0] else None,
                _target_grad(g * -x, y) if needs_grad[1] else None)


def _targets(xp, target, logits, op_name):
    """(one-hot / soft targets in the logits' dtype, or None; integer class indices, or None)."""
    target = xp.asarray(target)
    if target.ndim == logits.ndim - 1:
        if target.dtype.kind not in "iu":
            raise DtypeError(
                f"{op_name}: targets of shape {target.shape} (the logits {logits.shape} without the class axis) "
                f"are class indices and must be integers, got {target.dtype}. Cast them with .astype(int), "
                f"or pass one-hot targets of shape {logits.shape}."
            )
        return None, target
    return _like(xp, target, logits), None


class _ClassLoss(_Loss):
    def shape(self, logits, target, *, axis=-1, reduction="none"):
        if len(logits) == 0:
            raise ShapeError(f"{self.name} needs logits with a class axis, got a scalar")
        a = ge.normalize_axis(axis, len(logits))[0]
        per_example = tuple(d for i, d in enumerate(logits) if i != a)
        if len(target) == len(logits) - 1:
            for d1, d2 in zip(target, per_example):
                if d1 is not None and d2 is not None and d1 != d2:
                    raise ShapeError(f"integer targets of shape {target} do not match logits {logits}")
        elif len(target) == len(logits):
            broadcast_shapes(logits, target)
        else:
            raise ShapeError(
                f"targets must be class indices of shape {per_example} or one-hot of shape {tuple(logits)}, "
                f"got {tuple(target)}"
            )
        return _reduced_shape(per_example, reduction)


def _weighted_sum(xp, dist, log_probs, axis):
    """Σ_j t_j·log p_j with 0·log 0 = 0 (a zero probability where the target is 0 is no
    loss, not 0·(-inf) = nan)."""
    return xp.sum(dist * xp.where(dist != 0, log_probs, 0), axis=axis)


def _log_softmax(xp, z, axis):
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _pick(xp, log_probs, indices, axis):
    """log_probs[..., indices[...], ...] along ``axis``."""
    idx = xp.expand_dims(indices.astype(np.int64), axis)
    return xp.squeeze(xp.take_along_axis(log_probs, idx, axis=axis), axis=axis)


def _one_hot_like(xp, indices, like, axis):
    """One-hot rows of ``like``'s shape and dtype along ``axis`` (a comparison: every backend has it)."""
    classes = like.shape[axis]
    hot = xp.expand_dims(indices, -1) == xp.arange(classes)
    return xp.moveaxis(hot, -1, axis % like.ndim).astype(like.dtype)


def _check_indices(xp, indices, classes, op_name):
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= classes):
        raise ValueError(
            f"{op_name}: class indices must lie in 0..{classes - 1} (the logits have {classes} classes); "
            f"got values from {int(indices.min())} to {int(indices.max())}. Check the labels, or the size "
            "of the last layer."
        )


def _labels_in_range(xp, indices, classes, op_name):
    """(class indices safe to gather with, mask of out-of-range labels or None).

    On NumPy a label outside 0..classes-1 raises a ValueError naming the range (reading
    two numbers is cheap there). On other backends (CuPy) reading them would make the host
    wait for the device at every step, so the check stays on the device: bad labels are
    clipped for the gather and the mask turns their loss and gradient into NaN, seen when
    the loss is read (or named by ``check_finite=True``)."""
    if xp is np:
        _check_indices(xp, indices, classes, op_name)
        return indices, None
    bad = (indices < 0) | (indices >= classes)
    return xp.clip(indices, 0, classes - 1), bad


def _nan_where(xp, bad, values, axis=None):
    """``values`` with NaN where ``bad`` (per example; expanded along ``axis`` for per-class values)."""
    if bad is None:
        return values
    if axis is not None:
        bad = xp.expand_dims(bad, axis)
    return xp.where(bad, xp.asarray(float("nan"), dtype=values.dtype), values)


def _negative_log_likelihood(xp, log_probs, target, axis, op_name):
    """-log_probs[y] per example for class indices, -Σ t·log_probs for distributions."""
    dist, indices = _targets(xp, target, log_probs, op_name)
    if indices is not None:
        indices, bad = _labels_in_range(xp, indices, log_probs.shape[axis], op_name)
        return _nan_where(xp, bad, xp.asarray(-_pick(xp, log_probs, indices, axis)))
    return xp.asarray(-_weighted_sum(xp, dist, log_probs, axis))


def _rows_of_classes(logits, target, axis):
    """The common case: 2-D logits (examples × classes) and integer class indices."""
    return logits.ndim == 2 and axis in (-1, 1) and getattr(target, "ndim", None) == 1 \
        and target.dtype.kind in "iu"


def _class_major_exp(xp, logits):
    """(e^(z - max z) and z - max z, both classes × examples) of rows of logits z.

    Class-major, the reductions over the few classes run along contiguous rows (NumPy
    reduces a (1024, 10) array along its last axis 20× slower than along its first)."""
    shifted = xp.ascontiguousarray(logits.T)
    shifted -= shifted.max(axis=0)
    return xp.exp(shifted), shifted


class CrossEntropy(_ClassLoss):
    """Softmax cross-entropy from logits (deck 000 eq. 5), per example:
    L_i = -log(e^(z_y) / Σ_j e^(z_j)) = logsumexp(z) - z_y, computed stably.

    Targets: integer class indices (the logits' shape without the class axis), or one-hot /
    soft distributions t of the logits' shape, L_i = -Σ_j t_j log softmax(z)_j.
    d/dz = softmax(z)·Σ_j t_j - t (= softmax(z) - onehot(y) for one-hot targets).

    Class indices outside 0..classes-1 raise a ValueError on NumPy. On CuPy the labels
    are checked on the device, without a per-step device-to-host sync: a bad label makes
    its example's loss (and gradient) NaN, so a mean loss reads NaN; run with
    ``check_finite=True`` to have the node named, or on NumPy to have the labels named.

    With ``out=`` the reduced loss is written into the engine's 0-d buffer, and backward
    writes d/dz of rows of logits with integer labels into its buffer.

    >>> loss = ge.ops.cross_entropy(x @ W + b, labels, reduction="mean")
    """

    name = "cross_entropy"

    def forward(self, xp, logits, target, *, axis=-1, reduction="none", out=None):
        if _rows_of_classes(logits, target, axis):
            indices, bad = _labels_in_range(xp, target, logits.shape[1], self.name)
            e, shifted = _class_major_exp(xp, logits)
            loss = xp.log(e.sum(axis=0)) - shifted[indices, xp.arange(len(indices))]
            loss = _nan_where(xp, bad, loss)
        else:
            loss = _negative_log_likelihood(xp, _log_softmax(xp, logits, axis), target, axis, self.name)
        return _reduce(xp, loss, reduction, out=out)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", needs_grad=(True, False),
                 out=None):
        logits, target = inputs
        if _rows_of_classes(logits, target, axis):
            if not needs_grad[0]:
                return (None, None)
            indices, bad = _labels_in_range(xp, target, logits.shape[1], self.name)
            e, _ = _class_major_exp(xp, logits)
            e /= e.sum(axis=0)
            g_logits = xp.empty_like(logits) if out is None or out[0] is None else out[0]
            xp.copyto(g_logits, e.T)                                   # softmax(z)
            g_logits[xp.arange(len(indices)), indices] -= 1           # softmax(z) - onehot(y)
            if reduction == "none":
                g_logits *= grad[:, None]
            else:
                g_logits *= grad * (1.0 / max(len(indices), 1) if reduction == "mean" else 1.0)
            if bad is not None:
                xp.copyto(g_logits, float("nan"), where=bad[:, None])
            return (g_logits, None)
        log_probs = _log_softmax(xp, logits, axis)
        probs = xp.exp(log_probs)
        dist, indices = _targets(xp, target, logits, self.name)
        per_example = tuple(d for i, d in enumerate(logits.shape) if i != axis % logits.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, logits.dtype), axis)
        if indices is not None:
            indices, bad = _labels_in_range(xp, indices, logits.shape[axis], self.name)
            return (_nan_where(xp, bad, g * (probs - _one_hot_like(xp, indices, probs, axis)), axis), None)
        total = xp.sum(dist, axis=axis, keepdims=True)
        g_target = _target_grad(g * -log_probs, target) if needs_grad[1] else None
        return (g * (probs * total - dist), g_target)


class NLL(_ClassLoss):
    """Negative log-likelihood from log-probabilities ℓ, per example: L_i = -ℓ_y
    (or -Σ_j t_j ℓ_j for one-hot / soft targets t, with 0·log 0 = 0). Pair it with
    log_softmax: nll(log_softmax(z), y) == cross_entropy(z, y). d/dℓ = -onehot(y) (or -t).
    Out-of-range class indices: as for cross_entropy (an error on NumPy, NaN losses on CuPy).

    >>> ge.ops.nll(ge.ops.log(probabilities), one_hot)   # deck 002: E = -Σ_k t_k log y_k
    """

    name = "nll"

    def forward(self, xp, log_probs, target, *, axis=-1, reduction="none"):
        return _reduce(xp, _negative_log_likelihood(xp, log_probs, target, axis, self.name), reduction)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", needs_grad=(True, False)):
        log_probs, target = inputs
        dist, indices = _targets(xp, target, log_probs, self.name)
        per_example = tuple(d for i, d in enumerate(log_probs.shape) if i != axis % log_probs.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, log_probs.dtype), axis)
        if indices is not None:
            indices, bad = _labels_in_range(xp, indices, log_probs.shape[axis], self.name)
            return (_nan_where(xp, bad, -g * _one_hot_like(xp, indices, log_probs, axis), axis), None)
        g_t = _target_grad(-g * log_probs, target) if needs_grad[1] else None
        return (-g * dist, g_t)


class Hinge(_ClassLoss):
    """Multiclass hinge (SVM) loss, deck 000 eq. 4: L_i = Σ_{j≠y_i} max(0, f_j - f_{y_i} + margin),
    margin = 1 by default, per example.

    d/df_j = 1 for each violating j ≠ y (f_j - f_y + margin > 0); d/df_y = -(number of
    violators). Targets: class indices, or one-hot rows (the argmax is the class). The
    targets get no gradient. Out-of-range class indices: as for cross_entropy (an error on
    NumPy, NaN losses on CuPy).
    """

    name = "hinge"

    def forward(self, xp, scores, target, *, axis=-1, margin=1.0, reduction="none"):
        indices, bad = self._indices(xp, target, scores, axis)
        correct = xp.expand_dims(_pick(xp, scores, indices, axis), axis)
        margins = xp.maximum(scores - correct + float(margin), 0)
        margins = margins * (1 - _one_hot_like(xp, indices, scores, axis))
        return _reduce(xp, _nan_where(xp, bad, xp.asarray(xp.sum(margins, axis=axis))), reduction)

    def backward(self, xp, grad, inputs, output, *, axis=-1, margin=1.0, reduction="none"):
        scores, target = inputs
        indices, bad = self._indices(xp, target, scores, axis)
        one_hot = _one_hot_like(xp, indices, scores, axis)
        correct = xp.expand_dims(_pick(xp, scores, indices, axis), axis)
        violate = ((scores - correct + float(margin)) > 0).astype(scores.dtype) * (1 - one_hot)
        local = violate - one_hot * xp.sum(violate, axis=axis, keepdims=True)
        per_example = tuple(d for i, d in enumerate(scores.shape) if i != axis % scores.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, scores.dtype), axis)
        return (_nan_where(xp, bad, g * local, axis), None)

    def _indices(self, xp, target, scores, axis):
        """(class indices, mask of out-of-range labels or None: see cross_entropy)."""
        dist, indices = _targets(xp, target, scores, self.name)
        if indices is None:
            if dist.shape != scores.shape:
                raise ShapeError(f"hinge: one-hot targets must have the scores' shape {scores.shape}, got {dist.shape}")
            return xp.argmax(dist, axis=axis), None  # always in range
        return _labels_in_range(xp, indices, scores.shape[axis], self.name)
