"""Loss functions. Each returns per-element (or per-example) losses by
default; ``reduction="mean"`` or ``"sum"`` reduces them, or wrap in ``ge.ops.mean``.

Classification losses (cross_entropy, nll, hinge) take targets either as integer class
indices of shape (batch,) or as one-hot (or soft) distributions of the logits' shape;
anything else (float labels, a (batch, 1) column) is refused, at build time where the
shapes and dtypes are known and at run time otherwise.

Element losses (mse, mae, huber, smooth_l1, binary_cross_entropy[_with_logits], kl_div)
take a target of the prediction's shape, or one that broadcasts to it explicitly: the
same number of axes with 1 where the target repeats (``(N, 1)`` against ``(N, 10)``), or
a single value. A target of another rank is refused even where NumPy would broadcast it:
predictions (N, 10) against targets (N,) broadcast when N == 10 and silently compare
every prediction with the wrong target (PyTorch warns there; here it is an error that
says how to reshape).

Binary cross-entropy targets must lie in [0, 1]: see :class:`BinaryCrossEntropy`.
"""

import contextlib
from collections.abc import Sequence
from typing import Literal

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, DtypeError, ShapeError, broadcast_shapes

from ..cuda_kernels import is_cupy
from . import losses_cuda

REDUCTIONS = ("none", "mean", "sum")
Reduction = Literal["none", "mean", "sum"]  # attribute annotations
Weights = Sequence[float] | np.ndarray  # one weight per class
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
    target_input = 1  # (prediction, target): diagrams leave the target neutral
    promote_inputs = (0, 1)  # integer predictions (and targets) get a cast node to float32 (graph._infer)

    def dtype(self, prediction, target, **attrs):
        if prediction is not None and np.dtype(prediction).kind in "biu":
            return np.dtype(np.float32)  # a loss is floating: integer predictions become float32
        return prediction


def element_target_problem(op_name, prediction, target):
    """Why a target of shape ``target`` does not fit a prediction of shape ``prediction``
    in an element loss, with the fix; None where it fits (entries may be None: unknown,
    and then taken to fit). It fits when the shapes are equal, when the target is a
    single value, or when it has the prediction's rank with 1 where it repeats."""
    prediction, target = tuple(prediction), tuple(target)
    if prediction == target or all(d == 1 for d in target) and len(target) <= len(prediction):
        return None
    p_text, t_text = ge.op.format_shape(prediction), ge.op.format_shape(target)
    if len(target) != len(prediction):
        if len(target) == len(prediction) - 1 and len(prediction) and prediction[-1] == 1:
            fix = "give the target the prediction's shape: y.reshape(-1, 1) on the data, or ge.ops.unsqueeze(y, dim=-1)"
        elif len(target) == len(prediction) + 1 and len(target) and target[-1] == 1:
            fix = "give the target the prediction's shape: y.reshape(-1) on the data, or ge.ops.squeeze(y, dim=-1)"
        elif len(target) == len(prediction) - 1:
            fix = ("give the target the prediction's shape; if the targets are class labels, use cross_entropy (or "
                   "one-hot encode them with ge.data.one_hot)")
        else:
            fix = "give the target the prediction's shape (reshape it)"
        return (f"{op_name}: target of shape {t_text} does not match the prediction's shape {p_text}; NumPy would "
                f"broadcast them to a different shape and compare each prediction with the wrong targets. "
                f"A target must have the prediction's shape, or its number of axes with 1 where it repeats; {fix}")
    for axis, (d_p, d_t) in enumerate(zip(prediction, target)):
        if d_p is None or d_t is None or d_p == d_t or d_t == 1:
            continue
        if d_p == 1:
            fix = (f"the target would make the loss bigger than the prediction; if that is meant, broadcast the "
                   f"prediction explicitly (ge.ops.broadcast_to(prediction, shape={t_text}))")
        else:
            fix = "check the shapes (a transpose or a different layer size may be missing)"
        return (f"{op_name}: target of shape {t_text} does not match the prediction's shape {p_text} "
                f"(axis {axis}: {d_t} against {d_p}); {fix}")
    return None


def _check_element_target(op_name, prediction, target):
    """Run-time form of :func:`element_target_problem` (a tuple comparison in the common case)."""
    p_shape, t_shape = _shape_of(prediction), _shape_of(target)
    if t_shape != p_shape:
        problem = element_target_problem(op_name, p_shape, t_shape)
        if problem is not None:
            raise ShapeError(problem)


class _ElementwiseLoss(_Loss):
    def shape(self, prediction, target, *, reduction="none", **options):
        problem = element_target_problem(self.name, prediction, target)
        if problem is not None:
            raise ShapeError(problem)
        return _reduced_shape(broadcast_shapes(prediction, target), reduction)


class MSE(_ElementwiseLoss):
    """Squared error (prediction - target)², per element. d/dprediction = 2(prediction - target).

    The squared L2 norm per example, L_i = ‖f - y_i‖², is ge.ops.sum(ge.ops.mse(f, y), axis=-1).
    """

    name = "mse"

    def forward(self, xp, prediction, target, *, reduction: Reduction = "none"):
        _check_element_target(self.name, prediction, target)
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

    def forward(self, xp, prediction, target, *, reduction: Reduction = "none"):
        _check_element_target(self.name, prediction, target)
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


def _binary_targets(xp, target, op_name):
    """Check that binary cross-entropy targets lie in [0, 1]; the mask of those that do not
    where the check stays on the device (CuPy), else None.

    On NumPy this is one ``min`` and one ``max`` of the target per forward (once per feed:
    backward does not check again), two passes over the target against the loss's own
    dozen: measured at 8 µs of the op's 200 µs forward for a (1024, 1) float32 target
    (4 %, mostly call overhead) and 50 µs of 7 ms (0.7 %) for (65536, 1); bool targets
    are not read at all. Labels 0..9, or -1/1, raise a
    ValueError naming the range found. On CuPy reading two numbers would make the host
    wait for the device at every step, so the check stays on the device: an out-of-range
    target makes its loss and gradient NaN (seen when the loss is read; ``check_finite=True``
    names the node), as class indices out of range do for cross_entropy."""
    if not hasattr(target, "dtype"):  # a Python number (a weak const)
        if not 0 <= target <= 1:
            raise ValueError(_binary_target_message(op_name, target, target))
        return None
    if target.dtype.kind == "b" or target.size == 0:
        return None
    if xp is not np:
        return (target < 0) | (target > 1)
    low, high = target.min(), target.max()
    if low < 0 or high > 1:
        raise ValueError(_binary_target_message(op_name, low, high))
    return None


def _device_bad_targets(xp, target):
    """In backward: the mask of targets outside [0, 1] off NumPy (NumPy refused them in forward)."""
    if xp is np or not hasattr(target, "dtype") or target.dtype.kind == "b":
        return None
    return (target < 0) | (target > 1)


def _binary_target_message(op_name, low, high):
    return (f"{op_name}: targets must lie in [0, 1] (0/1 labels or probabilities), got values from {low:g} to "
            f"{high:g}. For labels of several classes use cross_entropy with integer labels; for two labels "
            "other than 0 and 1 map them to 0 and 1 (e.g. (y == positive).astype('float32'))")


class BinaryCrossEntropy(_ElementwiseLoss):
    """-(y·log p + (1 - y)·log(1 - p)) on probabilities p, per element.

    log is clamped at -100 so p = 0 or 1 stays finite. d/dp = (p - y) / (p(1 - p)),
    d/dy = log(1 - p) - log p. For logits, binary_cross_entropy_with_logits is exact and
    stable.

    >>> loss = ge.ops.binary_cross_entropy(ge.ops.sigmoid(x @ W + b), y, reduction="mean")
    """

    name = "binary_cross_entropy"

    def forward(self, xp, p, y, *, reduction: Reduction = "none"):
        _check_element_target(self.name, p, y)
        bad = _binary_targets(xp, y, self.name)
        y_ = _like(xp, y, p)
        log_p, log_1p = _clamped_logs(xp, p)
        return _reduce(xp, _nan_where(xp, bad, -(y_ * log_p + (1 - y_) * log_1p)), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", needs_grad=(True, True)):
        p, y = inputs
        y_ = _like(xp, y, p)
        tiny = float(np.finfo(p.dtype).tiny) if p.dtype.kind == "f" else 1e-300
        shape = broadcast_shapes(p.shape, _shape_of(y))
        g = _reduce_grad(xp, grad, shape, reduction, p.dtype)
        gp = gy = None
        if needs_grad[0]:
            gp = _nan_where(xp, _device_bad_targets(xp, y), g * (p - y_) / xp.maximum(p * (1 - p), tiny))
        if needs_grad[1]:
            log_p, log_1p = _clamped_logs(xp, p)
            gy = _target_grad(g * (log_1p - log_p), y)
        return gp, gy


class BinaryCrossEntropyWithLogits(_ElementwiseLoss):
    """BCE of σ(x) against y, from logits x (torch.nn.functional.binary_cross_entropy_with_logits):
    -(p_w·y·log σ(x) + (1 - y)·log(1 - σ(x))), computed without overflow as
    p_w·y·softplus(-x) + (1 - y)·softplus(x), softplus(x) = max(x, 0) + log(1 + e^(-|x|)).

    ``pos_weight`` p_w (default 1: plain BCE) weighs the positive examples, one value or
    one per class (broadcast along the last axis, as in PyTorch): > 1 raises recall.
    d/dx = (p_w·y + 1 - y)·σ(x) - p_w·y (= σ(x) - y for p_w = 1), d/dy = p_w·softplus(-x) -
    softplus(x) (= -x for p_w = 1).

    >>> ge.ops.binary_cross_entropy_with_logits(z, y, pos_weight=[3.0, 1.0], reduction="mean")
    >>> # x = 0, y = 1: loss = log 2 = 0.6931
    """

    name = "binary_cross_entropy_with_logits"

    def forward(self, xp, x, y, *, reduction: Reduction = "none", pos_weight: float | Weights | None = None):
        _check_element_target(self.name, x, y)
        bad = _binary_targets(xp, y, self.name)
        y_ = _like(xp, y, x)
        if pos_weight is None:
            loss = xp.maximum(x, 0) - x * y_ + xp.log1p(xp.exp(-xp.abs(x)))
        else:
            softplus = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
            loss = _weight_like(xp, pos_weight, x) * y_ * (softplus - x) + (1 - y_) * softplus
        return _reduce(xp, _nan_where(xp, bad, loss), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", pos_weight=None, needs_grad=(True, True)):
        x, y = inputs
        y_ = _like(xp, y, x)
        shape = broadcast_shapes(x.shape, _shape_of(y))
        g = _reduce_grad(xp, grad, shape, reduction, x.dtype)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        bad = _device_bad_targets(xp, y)
        if pos_weight is None:
            return (_nan_where(xp, bad, g * (s - y_)) if needs_grad[0] else None,
                    _target_grad(g * -x, y) if needs_grad[1] else None)
        pw = _weight_like(xp, pos_weight, x)
        gx = _nan_where(xp, bad, g * ((pw * y_ + 1 - y_) * s - pw * y_)) if needs_grad[0] else None
        gy = None
        if needs_grad[1]:
            softplus = xp.maximum(x, 0) + xp.log1p(e)
            gy = _target_grad(g * (pw * (softplus - x) - softplus), y)
        return gx, gy

    def shape(self, prediction, target, *, reduction="none", pos_weight=None):
        return super().shape(prediction, target, reduction=reduction)


def _weight_like(xp, weight, like):
    """A weight attribute (number, list or array) as an array of ``like``'s dtype."""
    return xp.asarray(weight, dtype=like.dtype)


class SmoothL1(_ElementwiseLoss):
    """Smooth L1 loss (torch.nn.functional.smooth_l1_loss), per element, d = prediction - target:

        0.5·d²/β       where |d| < β
        |d| - 0.5·β    elsewhere                (β = 0: the absolute error)

    d/dprediction = d/β inside, sign(d) outside. huber(delta=β) is β·smooth_l1(beta=β).

    >>> ge.ops.smooth_l1(box, target_box, beta=1.0, reduction="mean")
    >>> # d = 0.5 gives 0.125, d = 3 gives 2.5
    """

    name = "smooth_l1"

    def forward(self, xp, prediction, target, *, reduction: Reduction = "none",
                beta: float = 1.0):
        _check_element_target(self.name, prediction, target)
        d = prediction - _like(xp, target, prediction)
        a = xp.abs(d)
        beta = float(beta)
        loss = a if beta == 0 else xp.where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta)
        return _reduce(xp, loss, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", beta=1.0, needs_grad=(True, True)):
        p, t = inputs
        d = p - _like(xp, t, p)
        beta = float(beta)
        local = xp.sign(d) if beta == 0 else xp.where(xp.abs(d) < beta, d / beta, xp.sign(d))
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * local
        return (g if needs_grad[0] else None, _target_grad(-g, t) if needs_grad[1] else None)

    def shape(self, prediction, target, *, reduction="none", beta=1.0):
        if float(beta) < 0:
            raise AttributeSpecError(f"smooth_l1: beta must be >= 0, got {beta}")
        return super().shape(prediction, target, reduction=reduction)


class Huber(_ElementwiseLoss):
    """Huber loss (torch.nn.functional.huber_loss), per element, d = prediction - target:

        0.5·d²                 where |d| <= δ
        δ·(|d| - 0.5·δ)        elsewhere

    Quadratic near 0, linear (slope δ) far away: robust to outliers. d/dprediction =
    d inside, δ·sign(d) outside.

    >>> ge.ops.huber(prediction, target, delta=1.0, reduction="mean")
    >>> # d = 0.5 gives 0.125, d = 3 gives 2.5
    """

    name = "huber"

    def forward(self, xp, prediction, target, *, reduction: Reduction = "none",
                delta: float = 1.0):
        _check_element_target(self.name, prediction, target)
        d = prediction - _like(xp, target, prediction)
        a = xp.abs(d)
        delta = float(delta)
        return _reduce(xp, xp.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", delta=1.0, needs_grad=(True, True)):
        p, t = inputs
        d = p - _like(xp, t, p)
        delta = float(delta)
        local = xp.where(xp.abs(d) <= delta, d, delta * xp.sign(d))
        g = _reduce_grad(xp, grad, d.shape, reduction, d.dtype) * local
        return (g if needs_grad[0] else None, _target_grad(-g, t) if needs_grad[1] else None)

    def shape(self, prediction, target, *, reduction="none", delta=1.0):
        if not float(delta) > 0:
            raise AttributeSpecError(f"huber: delta must be > 0, got {delta}")
        return super().shape(prediction, target, reduction=reduction)


KL_REDUCTIONS = REDUCTIONS + ("batchmean",)


class KLDiv(_Loss):
    """Kullback-Leibler divergence (torch.nn.functional.kl_div), per element, from
    log-probabilities ℓ = ``input`` to the ``target`` distribution t:

        t·(log t - ℓ)          (0 where t = 0)          log_target=False
        e^t·(t - ℓ)            (t given as log-probabilities)   log_target=True

    ``reduction``: "none" (per element, the default here), "sum", "mean" (over every
    element) or "batchmean" (the sum divided by the batch size, input.shape[0]: the
    mathematical KL divergence per example, what PyTorch recommends).
    d/dℓ = -t (or -e^t); d/dt = log t + 1 - ℓ (or e^t·(t - ℓ + 1)).

    >>> ge.ops.kl_div(ge.ops.log_softmax(z), p_teacher, reduction="batchmean")
    >>> # ℓ = log [0.5, 0.5], t = [1, 0]: Σ = log 2 = 0.6931
    """

    name = "kl_div"

    def forward(self, xp, input, target, *, reduction: Literal["none", "mean", "sum", "batchmean"] = "none",
                log_target: bool = False):
        _check_element_target(self.name, input, target)
        t = _like(xp, target, input)
        if log_target:
            loss = xp.exp(t) * (t - input)
        else:
            with _quiet(xp):
                loss = xp.where(t > 0, t * (xp.log(xp.where(t > 0, t, 1)) - input), xp.zeros((), dtype=t.dtype))
        return self._reduce(xp, loss, reduction)

    def backward(self, xp, grad, inputs, output, *, reduction="none", log_target=False, needs_grad=(True, True)):
        lp, target = inputs
        t = _like(xp, target, lp)
        shape = broadcast_shapes(lp.shape, _shape_of(target))
        if reduction == "batchmean":
            g = xp.broadcast_to(grad * (1.0 / max(shape[0] if shape else 1, 1)), shape).astype(lp.dtype, copy=False)
        else:
            g = _reduce_grad(xp, grad, shape, reduction, lp.dtype)
        et = xp.exp(t) if log_target else t
        g_input = g * -et if needs_grad[0] else None
        g_target = None
        if needs_grad[1]:
            if log_target:
                local = et * (t - lp + 1)
            else:
                with _quiet(xp):
                    local = xp.log(t) + 1 - lp
            g_target = _target_grad(g * local, target)
        return g_input, g_target

    def shape(self, input, target, *, reduction="none", log_target=False):
        if reduction not in KL_REDUCTIONS:
            raise AttributeSpecError(f"kl_div: reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
        problem = element_target_problem(self.name, input, target)
        if problem is not None:
            raise ShapeError(problem)
        shape = broadcast_shapes(input, target)
        return shape if reduction == "none" else ()

    @staticmethod
    def _reduce(xp, loss, reduction):
        if reduction == "batchmean":
            return xp.asarray(xp.sum(loss) / max(loss.shape[0] if loss.ndim else 1, 1))
        return _reduce(xp, loss, reduction)


def _class_index_dtype_message(op_name, target_shape, target_dtype, logits_shape, logits_dtype):
    fmt = ge.op.format_shape
    return (f"{op_name}: targets of shape {fmt(target_shape)} {target_dtype} for logits of shape {fmt(logits_shape)}"
            f"{' ' + str(logits_dtype) if logits_dtype is not None else ''}: targets of the logits' shape without "
            f"the class axis are class indices and must be integers. Cast them (y.astype('int64') on the data, or "
            f"ge.ops.cast(y, dtype='int64')), or pass one-hot / soft targets of the logits' shape {fmt(logits_shape)}")


def _targets(xp, target, logits, op_name, axis=-1):
    """(one-hot / soft targets in the logits' dtype, or None; integer class indices, or None)."""
    target = xp.asarray(target)
    if target.ndim == logits.ndim - 1:
        if target.dtype.kind not in "iu":
            raise DtypeError(_class_index_dtype_message(op_name, target.shape, target.dtype, logits.shape,
                                                        logits.dtype))
        return None, target
    if target.shape != logits.shape:
        raise ShapeError(_target_shape_message(op_name, target.shape, logits.shape, target.dtype.kind in "iu", axis))
    return _like(xp, target, logits), None


def _target_shape_message(op_name, target_shape, logits_shape, integer, axis=-1):
    """What is wrong with targets of the logits' rank but not their shape, and the fix."""
    per_example = tuple(d for i, d in enumerate(logits_shape) if i != axis % len(logits_shape))
    if integer:
        return (f"{op_name}: integer targets of shape {tuple(target_shape)} for logits of shape {tuple(logits_shape)} "
                f"would be read as one-hot rows; class indices must have the logits' shape without the class axis, "
                f"e.g. {per_example}: pass y.reshape(-1) (or y[:, 0])")
    return (f"{op_name}: float targets of shape {tuple(target_shape)} for logits of shape {tuple(logits_shape)}: "
            f"one-hot / soft targets must have exactly the logits' shape, and class indices the logits' shape "
            f"without the class axis (integers, e.g. {per_example})")


class _ClassLoss(_Loss):
    promote_inputs = (0,)  # integer logits become float32; class-index targets stay integers
    min_classes = 1  # cross_entropy and hinge over one class are 0 whatever the input: refused

    def check_inputs(self, shapes, dtypes, **attrs):
        """At build time, where the shapes and the target's dtype are known: class indices
        (the logits' shape without the class axis) must be integers."""
        super().check_inputs(shapes, dtypes, **attrs)
        if len(shapes) != 2 or len(dtypes) != 2:
            return
        (logits, target), (logits_dtype, target_dtype) = shapes, dtypes
        if logits is None or target is None or target_dtype is None or len(target) != len(logits) - 1:
            return
        if np.dtype(target_dtype).kind not in "iu":
            raise DtypeError(_class_index_dtype_message(self.name, target, target_dtype, logits, logits_dtype))

    def _check_classes(self, classes, logits_shape):
        if classes is not None and classes < self.min_classes:
            raise ShapeError(
                f"{self.name}: logits of shape {ge.op.format_shape(logits_shape)} have {classes} class along the "
                f"class axis, and {self.name} over one class is 0 whatever the input (nothing is learnt). For a "
                "yes/no output of one unit use binary_cross_entropy_with_logits (or binary_cross_entropy after a "
                "sigmoid) with 0/1 targets of the output's shape; for C classes give the last layer C outputs")

    def shape(self, logits, target, *, axis=-1, reduction="none", **options):
        if len(logits) == 0:
            raise ShapeError(f"{self.name} needs logits with a class axis, got a scalar")
        a = ge.normalize_axis(axis, len(logits))[0]
        self._check_classes(logits[a], logits)
        per_example = tuple(d for i, d in enumerate(logits) if i != a)
        if len(target) == len(logits) - 1:
            for d1, d2 in zip(target, per_example):
                if d1 is not None and d2 is not None and d1 != d2:
                    raise ShapeError(f"integer targets of shape {target} do not match logits {logits}")
        elif len(target) == len(logits):
            if any(d1 is not None and d2 is not None and d1 != d2 for d1, d2 in zip(target, logits)):
                raise ShapeError(
                    f"targets of shape {tuple(target)} do not fit logits {tuple(logits)}: class indices must have "
                    f"shape {per_example} (integers; reshape labels of shape (N, 1) with y.reshape(-1)), one-hot "
                    f"or soft targets exactly the logits' shape")
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


def _check_indices(xp, indices, classes, op_name, bounds=None):
    if not indices.size:
        return
    low, high = bounds or (int(indices.min()), int(indices.max()))
    if low < 0 or high >= classes:
        raise ValueError(
            f"{op_name}: class indices must lie in 0..{classes - 1} (the logits have {classes} classes); "
            f"got values from {low} to {high}. Check the labels, or the size of the last layer."
        )


def _labels_in_range(xp, indices, classes, op_name, ignore_index=None):
    """(class indices safe to gather with, mask of out-of-range labels or None, mask of
    labels equal to ``ignore_index`` or None).

    On NumPy a label outside 0..classes-1 raises a ValueError naming the range (reading
    two numbers is cheap there). On other backends (CuPy) reading them would make the host
    wait for the device at every step, so the check stays on the device: bad labels are
    clipped for the gather and the mask turns their loss and gradient into NaN, seen when
    the loss is read (or named by ``check_finite=True``)."""
    if xp is np:
        if not indices.size:
            return indices, None, None
        low, high = int(indices.min()), int(indices.max())
        if ignore_index is None or not low <= ignore_index <= high:  # the common case: two reads
            _check_indices(xp, indices, classes, op_name, (low, high))
            return indices, None, None
        ignored = indices == ignore_index
        _check_indices(xp, indices[~ignored], classes, op_name)
        return np.where(ignored, 0, indices), None, ignored
    ignored = None if ignore_index is None else indices == ignore_index
    bad = (indices < 0) | (indices >= classes)
    if ignored is not None:
        bad = bad & ~ignored
    return xp.clip(indices, 0, classes - 1), bad, ignored


def _nan_where(xp, bad, values, axis=None):
    """``values`` with NaN where ``bad`` (per example; expanded along ``axis`` for per-class values)."""
    if bad is None:
        return values
    if axis is not None:
        bad = xp.expand_dims(bad, axis)
    return xp.where(bad, xp.asarray(float("nan"), dtype=values.dtype), values)


def _negative_log_likelihood(xp, log_probs, target, axis, op_name):
    """-log_probs[y] per example for class indices, -Σ t·log_probs for distributions."""
    dist, indices = _targets(xp, target, log_probs, op_name, axis)
    if indices is not None:
        indices, bad, _ = _labels_in_range(xp, indices, log_probs.shape[axis], op_name)
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
    """Softmax cross-entropy from logits (torch.nn.functional.cross_entropy),
    per example: L_i = -log(e^(z_y) / Σ_j e^(z_j)) = logsumexp(z) - z_y, computed stably.

    Targets: integer class indices (the logits' shape without the class axis ``axis``,
    default the last), or one-hot / soft distributions t of exactly the logits' shape,
    L_i = -Σ_j t_j log softmax(z)_j. d/dz = softmax(z)·Σ_j t_j - t (= softmax(z) - onehot(y)
    for one-hot targets). Integer labels of shape (N, 1) are refused: pass shape (N,).

    Options, as in PyTorch (the default reduction here is "none"):

    * ``weight``: one rescaling weight per class (a list or array of length C):
      L_i = -w_(y_i)·log p_(y_i) (soft targets: -Σ_j w_j t_j log p_j);
    * ``ignore_index`` (default -100): examples whose label is this value get loss 0
      and no gradient (class-index targets only); ``None`` ignores nothing (on CuPy that
      saves the few device operations of the mask at each step);
    * ``label_smoothing`` ε in [0, 1]: the target becomes (1 - ε)·onehot(y) + ε/C;
    * ``reduction="mean"`` with class indices divides by Σ_i w_(y_i) over the examples not
      ignored (the number of those without weights); with soft targets by the number of
      examples.

    Class indices outside 0..classes-1 (other than ignore_index) raise a ValueError on
    NumPy. On CuPy the labels are checked on the device, without a per-step device-to-host
    sync: a bad label makes its example's loss (and gradient) NaN, so a mean loss reads
    NaN; run with ``check_finite=True`` to have the node named, or on NumPy to have the
    labels named.

    With ``out=`` the reduced loss is written into the engine's 0-d buffer, and backward
    writes d/dz of rows of logits with integer labels into its buffer. On CuPy, rows of
    logits with integer labels (no weights, no smoothing) run as a few fused kernels
    (``losses_cuda.py``).

    >>> loss = ge.ops.cross_entropy(x @ W + b, labels, reduction="mean")
    >>> # z = [[0, 0]], y = [0]: loss = log 2 = 0.6931
    """

    name = "cross_entropy"
    min_classes = 2

    def forward(self, xp, logits, target, *, axis: int = -1, reduction: Reduction = "none",
                weight: Weights | None = None, ignore_index: int | None = -100, label_smoothing: float = 0.0,
                out=None):
        if logits.ndim:
            self._check_classes(logits.shape[axis], logits.shape)
        if weight is None and not label_smoothing and _rows_of_classes(logits, target, axis):
            if is_cupy(xp):
                return losses_cuda.forward(xp, logits, target, reduction, ignore_index, out)
            indices, bad, ignored = _labels_in_range(xp, target, logits.shape[1], self.name, ignore_index)
            e, shifted = _class_major_exp(xp, logits)
            loss = xp.log(e.sum(axis=0)) - shifted[indices, xp.arange(len(indices))]
            loss = _nan_where(xp, bad, loss)
            if ignored is not None:
                loss = xp.where(ignored, xp.zeros((), dtype=loss.dtype), loss)
                return _reduce_by(xp, loss, reduction, _kept(xp, ignored, loss.dtype), out)
            return _reduce(xp, loss, reduction, out=out)
        log_probs = _log_softmax(xp, logits, axis)
        if weight is None and not label_smoothing and not _may_ignore(xp, target, logits, ignore_index):
            loss = _negative_log_likelihood(xp, log_probs, target, axis, self.name)
            return _reduce(xp, loss, reduction, out=out)
        dist, denominator = _effective_targets(xp, target, log_probs, axis, weight, ignore_index, label_smoothing,
                                               self.name)
        return _reduce_by(xp, xp.asarray(-_weighted_sum(xp, dist, log_probs, axis)), reduction, denominator, out)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", weight=None, ignore_index=-100,
                 label_smoothing=0.0, needs_grad=(True, False), out=None):
        logits, target = inputs
        if weight is None and not label_smoothing and _rows_of_classes(logits, target, axis):
            if not needs_grad[0]:
                return (None, None)
            if is_cupy(xp):
                return (losses_cuda.backward(xp, grad, logits, target, reduction, ignore_index,
                                             None if out is None else out[0]), None)
            indices, bad, ignored = _labels_in_range(xp, target, logits.shape[1], self.name, ignore_index)
            e, _ = _class_major_exp(xp, logits)
            e /= e.sum(axis=0)
            g_logits = xp.empty_like(logits) if out is None or out[0] is None else out[0]
            xp.copyto(g_logits, e.T)                                   # softmax(z)
            g_logits[xp.arange(len(indices)), indices] -= 1           # softmax(z) - onehot(y)
            if ignored is not None:
                scale = _per_example_scale(xp, grad, reduction, _kept(xp, ignored, logits.dtype), len(indices))
                g_logits *= xp.where(ignored, xp.zeros((), dtype=logits.dtype), scale)[:, None]
            elif reduction == "none":
                g_logits *= grad[:, None]
            else:
                g_logits *= grad * (1.0 / max(len(indices), 1) if reduction == "mean" else 1.0)
            if bad is not None:
                xp.copyto(g_logits, float("nan"), where=bad[:, None])
            return (g_logits, None)
        log_probs = _log_softmax(xp, logits, axis)
        probs = xp.exp(log_probs)
        per_example = tuple(d for i, d in enumerate(logits.shape) if i != axis % logits.ndim)
        if weight is None and not label_smoothing and not _may_ignore(xp, target, logits, ignore_index):
            dist, indices = _targets(xp, target, logits, self.name, axis)
            g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, logits.dtype), axis)
            if indices is not None:
                indices, bad, _ = _labels_in_range(xp, indices, logits.shape[axis], self.name)
                return (_nan_where(xp, bad, g * (probs - _one_hot_like(xp, indices, probs, axis)), axis), None)
            total = xp.sum(dist, axis=axis, keepdims=True)
            g_target = _target_grad(g * -log_probs, target) if needs_grad[1] else None
            return (g * (probs * total - dist), g_target)
        dist, denominator = _effective_targets(xp, target, log_probs, axis, weight, ignore_index, label_smoothing,
                                               self.name)
        g = xp.expand_dims(_grad_by(xp, grad, per_example, reduction, denominator, logits.dtype), axis)
        total = xp.sum(dist, axis=axis, keepdims=True)
        g_target = None
        if needs_grad[1] and getattr(target, "ndim", 0) == logits.ndim:
            w = 1.0 if weight is None else _class_vector(xp, weight, logits, axis, self.name)
            g_target = _target_grad(g * -log_probs * (w * (1.0 - float(label_smoothing))), target)
        return (g * (probs * total - dist), g_target)


class NLL(_ClassLoss):
    """Negative log-likelihood from log-probabilities ℓ (torch.nn.functional.nll_loss), per
    example: L_i = -ℓ_y (or -Σ_j t_j ℓ_j for one-hot / soft targets t of ℓ's shape, with
    0·log 0 = 0). Pair it with log_softmax: nll(log_softmax(z), y) == cross_entropy(z, y).
    d/dℓ = -onehot(y) (or -t). Integer labels of shape (N, 1) are refused: pass shape (N,).

    ``weight`` (one per class) and ``ignore_index`` (default -100) as in PyTorch:
    L_i = -w_(y_i)·ℓ_(y_i), 0 for ignored examples; ``reduction="mean"`` divides by
    Σ_i w_(y_i) over the examples not ignored. Out-of-range class indices: as for
    cross_entropy (an error on NumPy, NaN losses on CuPy).

    >>> ge.ops.nll(ge.ops.log(probabilities), one_hot)   # E = -Σ_k t_k log y_k
    """

    name = "nll"

    def forward(self, xp, log_probs, target, *, axis: int = -1, reduction: Reduction = "none",
                weight: Weights | None = None, ignore_index: int | None = -100):
        if weight is None and not _may_ignore(xp, target, log_probs, ignore_index):
            return _reduce(xp, _negative_log_likelihood(xp, log_probs, target, axis, self.name), reduction)
        dist, denominator = _effective_targets(xp, target, log_probs, axis, weight, ignore_index, 0.0, self.name)
        return _reduce_by(xp, xp.asarray(-_weighted_sum(xp, dist, log_probs, axis)), reduction, denominator)

    def backward(self, xp, grad, inputs, output, *, axis=-1, reduction="none", weight=None, ignore_index=-100,
                 needs_grad=(True, False)):
        log_probs, target = inputs
        per_example = tuple(d for i, d in enumerate(log_probs.shape) if i != axis % log_probs.ndim)
        if weight is None and not _may_ignore(xp, target, log_probs, ignore_index):
            dist, indices = _targets(xp, target, log_probs, self.name, axis)
            g = xp.expand_dims(_reduce_grad(xp, grad, per_example, reduction, log_probs.dtype), axis)
            if indices is not None:
                indices, bad, _ = _labels_in_range(xp, indices, log_probs.shape[axis], self.name)
                return (_nan_where(xp, bad, -g * _one_hot_like(xp, indices, log_probs, axis), axis), None)
            g_t = _target_grad(-g * log_probs, target) if needs_grad[1] else None
            return (-g * dist, g_t)
        dist, denominator = _effective_targets(xp, target, log_probs, axis, weight, ignore_index, 0.0, self.name)
        g = xp.expand_dims(_grad_by(xp, grad, per_example, reduction, denominator, log_probs.dtype), axis)
        g_t = None
        if needs_grad[1] and getattr(target, "ndim", 0) == log_probs.ndim:
            w = 1.0 if weight is None else _class_vector(xp, weight, log_probs, axis, self.name)
            g_t = _target_grad(-g * log_probs * w, target)
        return (-g * dist, g_t)


def _may_ignore(xp, target, like, ignore_index):
    """Whether ignore_index can matter: class-index targets, and (on NumPy, where reading
    is cheap) some label equal to it. Off NumPy: always, decided on the device."""
    if ignore_index is None or getattr(target, "ndim", None) != like.ndim - 1 or target.dtype.kind not in "iu":
        return False
    return xp is not np or bool((target == ignore_index).any())


def _kept(xp, ignored, dtype):
    """Number of examples not ignored, as a 0-d array (on the device: no host sync)."""
    return xp.sum(~ignored).astype(dtype)


def _reduce_by(xp, loss, reduction, denominator, out=None):
    """``loss`` reduced, "mean" dividing by ``denominator`` (a 0-d array, or None for the
    number of entries), NaN when it is 0 (every example ignored), as PyTorch gives."""
    if reduction != "mean" or denominator is None:
        return _reduce(xp, loss, reduction, out=out)
    with _quiet_division(xp):
        return xp.asarray(xp.divide(xp.sum(loss, out=out), denominator, out=out))


def _grad_by(xp, grad, shape, reduction, denominator, dtype):
    """Upstream gradient of the reduced loss as a gradient of the per-example loss."""
    if reduction != "mean" or denominator is None:
        return _reduce_grad(xp, grad, shape, reduction, dtype)
    with _quiet_division(xp):
        return xp.broadcast_to(grad / denominator, shape).astype(dtype, copy=False)


def _per_example_scale(xp, grad, reduction, denominator, n):
    if reduction == "none":
        return grad
    if reduction == "mean":
        with _quiet_division(xp):
            return xp.broadcast_to(grad / denominator, (n,))
    return xp.broadcast_to(grad, (n,))


def _quiet_division(xp):
    return np.errstate(divide="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


def _class_vector(xp, weight, like, axis, op_name):
    """The per-class ``weight`` as an array of ``like``'s dtype shaped to broadcast along ``axis``."""
    w = xp.asarray(weight, dtype=like.dtype)
    classes = like.shape[axis]
    if w.shape != (classes,):
        raise ShapeError(f"{op_name}: weight must have one entry per class, shape ({classes},), got {tuple(w.shape)}")
    return w.reshape(tuple(classes if i == axis % like.ndim else 1 for i in range(like.ndim)))


def _effective_targets(xp, target, log_probs, axis, weight, ignore_index, smoothing, op_name):
    """(targets t of log_probs' shape such that the loss is -Σ_j t_j ℓ_j, denominator of
    "mean" as a 0-d array or None for the number of examples) under ``weight``,
    ``ignore_index`` and label ``smoothing`` (PyTorch's definitions)."""
    smoothing = float(smoothing)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{op_name}: label_smoothing must lie in [0, 1], got {smoothing}")
    classes = log_probs.shape[axis]
    w = None if weight is None else _class_vector(xp, weight, log_probs, axis, op_name)
    dist, indices = _targets(xp, target, log_probs, op_name, axis)
    if indices is None:  # soft targets: t' = w·((1 - ε)·t + ε/C); mean over examples
        if smoothing:
            dist = dist * (1.0 - smoothing) + smoothing / classes
        return (dist if w is None else dist * w), None
    indices, bad, ignored = _labels_in_range(xp, indices, classes, op_name, ignore_index)
    hot = _one_hot_like(xp, indices, log_probs, axis)
    w_y = xp.ones(indices.shape, dtype=log_probs.dtype) if w is None else xp.sum(hot * w, axis=axis)
    if ignored is not None:
        w_y = xp.where(ignored, xp.zeros((), dtype=w_y.dtype), w_y)
    if bad is not None:  # off NumPy: bad labels give NaN targets, so NaN losses and gradients
        w_y = _nan_where(xp, bad, w_y)
    dist = hot * xp.expand_dims(w_y * (1.0 - smoothing), axis)
    if smoothing:
        spread = (smoothing / classes) * (1.0 if w is None else w)
        keep = xp.ones(indices.shape, dtype=log_probs.dtype) if ignored is None else \
            (~ignored).astype(log_probs.dtype)
        dist = dist + xp.expand_dims(keep, axis) * spread
    return dist.astype(log_probs.dtype, copy=False), xp.sum(w_y)


class Hinge(_ClassLoss):
    """Multiclass hinge (SVM) loss (Weston and Watkins 1999): L_i = Σ_{j≠y_i} max(0, f_j - f_{y_i} + margin),
    margin = 1 by default, per example.

    d/df_j = 1 for each violating j ≠ y (f_j - f_y + margin > 0); d/df_y = -(number of
    violators). Targets: class indices, or one-hot rows (the argmax is the class). The
    targets get no gradient. Out-of-range class indices: as for cross_entropy (an error on
    NumPy, NaN losses on CuPy).
    """

    name = "hinge"
    min_classes = 2

    def forward(self, xp, scores, target, *, axis: int = -1, margin: float = 1.0, reduction: Reduction = "none"):
        if scores.ndim:
            self._check_classes(scores.shape[axis], scores.shape)
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
        dist, indices = _targets(xp, target, scores, self.name, axis)
        if indices is None:
            if dist.shape != scores.shape:
                raise ShapeError(f"hinge: one-hot targets must have the scores' shape {scores.shape}, got {dist.shape}")
            return xp.argmax(dist, axis=axis), None  # always in range
        return _labels_in_range(xp, indices, scores.shape[axis], self.name)[:2]
