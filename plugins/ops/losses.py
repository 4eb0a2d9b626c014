"""Loss functions from the decks. Each returns per-element (or per-example) losses by
default; ``reduction="mean"`` or ``"sum"`` reduces them, or wrap in ``ge.ops.mean``.

Classification losses take targets either as integer class indices of shape (batch,)
or as one-hot (or soft) distributions of the logits' shape.
"""

import numpy as np

import graphengine as ge
from graphengine import ShapeError, broadcast_shapes, unbroadcast

REDUCTIONS = ("none", "mean", "sum")
LOG_FLOOR = -100.0  # log(p) is clamped here (as PyTorch does) so p = 0 gives a finite loss


def _reduce(xp, loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return xp.asarray(xp.mean(loss))
    if reduction == "sum":
        return xp.asarray(xp.sum(loss))
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce_grad(xp, grad, shape, reduction, dtype):
    """Upstream gradient of the reduced loss, as a gradient of the unreduced loss."""
    if reduction == "none":
        return grad
    scale = 1.0 / max(int(np.prod(shape, dtype=np.int64)), 1) if reduction == "mean" else 1.0
    return xp.broadcast_to(grad * scale, shape).astype(dtype, copy=False)


def _reduced_shape(shape, reduction):
    if reduction not in REDUCTIONS:
        raise ShapeError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return shape if reduction == "none" else ()


class _Loss(ge.Op):
    saves = ("inputs",)

    def dtype(self, prediction, target, **attrs):
        return prediction


class _ElementwiseLoss(_Loss):
    def shape(self, prediction, target, *, reduction="none"):
        return _reduced_shape(broadcast_shapes(prediction, target), reduction)


class MSE(_ElementwiseLoss):
    """(prediction - target)², per element. d/dprediction = 2(prediction - target)."""

    name = "mse"

    def forward(self, xp, prediction, target, *, reduction="none"):
        d = prediction - target
        return _reduce(xp, d * d, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, t = inputs
        d = p - t
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * (2 * d)
        return (unbroadcast(xp, g, p.shape) if needs_grad[0] else None,
                unbroadcast(xp, -g, np.shape(t)) if needs_grad[1] else None)


class MAE(_ElementwiseLoss):
    """|prediction - target|, per element. d/dprediction = sign(prediction - target)."""

    name = "mae"

    def forward(self, xp, prediction, target, *, reduction="none"):
        return _reduce(xp, xp.abs(prediction - target), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, t = inputs
        d = p - t
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * xp.sign(d)
        return (unbroadcast(xp, g, p.shape) if needs_grad[0] else None,
                unbroadcast(xp, -g, np.shape(t)) if needs_grad[1] else None)


class BinaryCrossEntropy(_ElementwiseLoss):
    """-(y·log p + (1 - y)·log(1 - p)) on probabilities p (deck 000, eq. 1), per element.

    log is clamped at -100 so p = 0 or 1 stays finite. d/dp = (p - y) / (p(1 - p)).
    For logits, binary_cross_entropy_with_logits is exact and stable.
    """

    name = "binary_cross_entropy"

    def forward(self, xp, p, y, *, reduction="none"):
        log_p = xp.maximum(xp.log(p), LOG_FLOOR)
        log_1p = xp.maximum(xp.log1p(-p), LOG_FLOOR)
        return _reduce(xp, -(y * log_p + (1 - y) * log_1p), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, y = inputs
        tiny = np.finfo(p.dtype).tiny if p.dtype.kind == "f" else 1e-300
        shape = broadcast_shapes(p.shape, np.shape(y))
        g = _reduce_grad(xp, grad, shape, reduction, p.dtype)
        gp = gy = None
        if needs_grad[0]:
            gp = unbroadcast(xp, g * (p - y) / xp.maximum(p * (1 - p), tiny), p.shape)
        if needs_grad[1]:
            log_p = xp.maximum(xp.log(p), LOG_FLOOR)
            log_1p = xp.maximum(xp.log1p(-p), LOG_FLOOR)
            gy = unbroadcast(xp, g * (log_1p - log_p), np.shape(y))
        return gp, gy


class BinaryCrossEntropyWithLogits(_ElementwiseLoss):
    """BCE of sigmoid(x) against y, from logits x, without overflow:
    max(x, 0) - x·y + log(1 + e^(-|x|)). d/dx = σ(x) - y.
    """

    name = "binary_cross_entropy_with_logits"

    def forward(self, xp, x, y, *, reduction="none"):
        loss = xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
        return _reduce(xp, loss, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        x, y = inputs
        shape = broadcast_shapes(x.shape, np.shape(y))
        g = _reduce_grad(xp, grad, shape, reduction, x.dtype)
        e = xp.exp(-xp.abs(x))
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return (unbroadcast(xp, g * (s - y), x.shape) if needs_grad[0] else None,
                unbroadcast(xp, g * -x, np.shape(y)) if needs_grad[1] else None)


def _targets(xp, target, logits_shape, axis):
    """(one-hot float targets or None, integer indices or None)."""
    if target.dtype.kind in "iub" and target.ndim == len(logits_shape) - 1:
        return None, target
    return target, None


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


def _log_softmax(xp, z, axis):
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _pick(xp, log_probs, indices, axis):
    """log_probs[..., indices[...], ...] along ``axis``."""
    idx = xp.expand_dims(indices.astype(np.int64), axis)
    return xp.squeeze(xp.take_along_axis(log_probs, idx, axis=axis), axis=axis)


def _one_hot_like(xp, indices, like, axis):
    out = xp.zeros(like.shape, dtype=like.dtype)
    idx = xp.expand_dims(indices.astype(np.int64), axis)
    xp.put_along_axis(out, idx, 1, axis=axis)
    return out


def _check_indices(xp, indices, classes):
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= classes):
        raise ValueError(
            f"class indices must lie in 0..{classes - 1}; got values from {int(indices.min())} to {int(indices.max())}"
        )


class CrossEntropy(_ClassLoss):
    """Softmax cross-entropy from logits (deck 000 eq. 5): -log softmax(z)_y per example.

    Targets: integer class indices (shape without the class axis) or one-hot / soft
    distributions (the logits' shape). d/dz = softmax(z) - onehot(y).
    """

    name = "cross_entropy"

    def forward(self, xp, logits, target, *, axis=-1, reduction="none"):
        log_probs = _log_softmax(xp, logits, axis)
        dist, indices = _targets(xp, target, logits.shape, axis)
        if indices is not None:
            _check_indices(xp, indices, logits.shape[axis])
            loss = -_pick(xp, log_probs, indices, axis)
        else:
            loss = -xp.sum(dist * log_probs, axis=axis)
        return _reduce(xp, xp.asarray(loss), reduction)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", needs_grad=(True, False)):
        logits, target = inputs
        log_probs = _log_softmax(xp, logits, axis)
        probs = xp.exp(log_probs)
        dist, indices = _targets(xp, target, logits.shape, axis)
        per_example = tuple(d for i, d in enumerate(logits.shape) if i != axis % logits.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, logits.dtype), axis)
        if indices is not None:
            return (g * (probs - _one_hot_like(xp, indices, probs, axis)), None)
        dist = xp.asarray(dist, dtype=logits.dtype)
        total = xp.sum(dist, axis=axis, keepdims=True)
        g_logits = unbroadcast(xp, g * (probs * total - dist), logits.shape)
        g_target = unbroadcast(xp, g * -log_probs, target.shape) if needs_grad[1] else None
        return (g_logits, g_target)


class NLL(_ClassLoss):
    """Negative log-likelihood from log-probabilities: -log_probs[y] per example
    (pair it with log_softmax). Targets as for cross_entropy."""

    name = "nll"

    def forward(self, xp, log_probs, target, *, axis=-1, reduction="none"):
        dist, indices = _targets(xp, target, log_probs.shape, axis)
        if indices is not None:
            _check_indices(xp, indices, log_probs.shape[axis])
            loss = -_pick(xp, log_probs, indices, axis)
        else:
            loss = -xp.sum(dist * log_probs, axis=axis)
        return _reduce(xp, xp.asarray(loss), reduction)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", needs_grad=(True, False)):
        log_probs, target = inputs
        dist, indices = _targets(xp, target, log_probs.shape, axis)
        per_example = tuple(d for i, d in enumerate(log_probs.shape) if i != axis % log_probs.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, log_probs.dtype), axis)
        if indices is not None:
            return (-g * _one_hot_like(xp, indices, log_probs, axis), None)
        g_lp = unbroadcast(xp, -g * xp.asarray(dist, dtype=log_probs.dtype), log_probs.shape)
        g_t = unbroadcast(xp, -g * log_probs, target.shape) if needs_grad[1] else None
        return (g_lp, g_t)


class Hinge(_ClassLoss):
    """Multiclass hinge (SVM) loss, deck 000 eq. 4: Σ_{j≠y} max(0, f_j - f_y + margin).

    d/df_j = 1 for each violating j ≠ y; d/df_y = -(number of violators).
    """

    name = "hinge"

    def forward(self, xp, scores, target, *, axis=-1, margin=1.0, reduction="none"):
        indices = self._indices(xp, target, scores, axis)
        correct = xp.expand_dims(_pick(xp, scores, indices, axis), axis)
        margins = xp.maximum(scores - correct + margin, 0)
        margins = margins * (1 - _one_hot_like(xp, indices, scores, axis))
        return _reduce(xp, xp.asarray(xp.sum(margins, axis=axis)), reduction)

    def backward(self, xp, grad, inputs, output, *, axis=-1, margin=1.0, reduction="none", needs_grad=(True, False)):
        scores, target = inputs
        indices = self._indices(xp, target, scores, axis)
        one_hot = _one_hot_like(xp, indices, scores, axis)
        correct = xp.expand_dims(_pick(xp, scores, indices, axis), axis)
        violate = ((scores - correct + margin) > 0).astype(scores.dtype) * (1 - one_hot)
        local = violate - one_hot * xp.sum(violate, axis=axis, keepdims=True)
        per_example = tuple(d for i, d in enumerate(scores.shape) if i != axis % scores.ndim)
        g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, scores.dtype), axis)
        return (g * local, None)

    @staticmethod
    def _indices(xp, target, scores, axis):
        dist, indices = _targets(xp, target, scores.shape, axis)
        if indices is None:
            indices = xp.argmax(dist, axis=axis)
        _check_indices(xp, indices, scores.shape[axis])
        return indices
