"""Normalisation ops: layer_norm, batch_norm, group_norm (torch.nn.functional semantics,
NCHW layout: the channel axis is axis 1).

Each one normalises ``x`` over some axes, x̂ = (x - μ) / sqrt(σ² + eps) with the biased
variance σ², then applies an optional per-element (layer_norm) or per-channel
(batch_norm, group_norm) affine map y = x̂·weight + bias. The optional ``weight`` and
``bias`` are extra inputs after the ones that are always there::

    ge.ops.layer_norm(x, normalized_shape=(C,))              # no affine map
    ge.ops.layer_norm(x, w, b, normalized_shape=(C,))        # torch: F.layer_norm(x, (C,), w, b)
    ge.ops.group_norm(x, w, b, num_groups=4)                 # torch: F.group_norm(x, 4, w, b)
    ge.ops.batch_norm(x, running_mean, running_var, w, b, training=True)

(A bias without a weight: pass 1.0 as the weight.) Backward is exact (the gradient
through μ and σ included): with g the gradient of x̂ and means over the normalised axes,

    dL/dx = (g - mean(g) - x̂·mean(g·x̂)) / sqrt(σ² + eps)

Statistics are recomputed from the saved input in backward, so only the inputs are kept.
"""

from __future__ import annotations

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, ShapeError

_AFFINE = ("weight", "bias")


def _statistics(xp, x, axes, eps):
    """(x̂, 1/sqrt(σ² + eps)), both computed in x's dtype, statistics kept as broadcast axes."""
    mu = xp.mean(x, axis=axes, keepdims=True)
    centered = x - mu
    var = xp.mean(centered * centered, axis=axes, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    return centered * inv_std, inv_std


def _normalized_grad(xp, g, x_hat, inv_std, axes):
    """dL/dx from g = dL/dx̂ when x̂ is normalised with statistics over ``axes``."""
    mean_g = xp.mean(g, axis=axes, keepdims=True)
    mean_gx = xp.mean(g * x_hat, axis=axes, keepdims=True)
    return inv_std * (g - mean_g - x_hat * mean_gx)


def _affine(x_hat, affine, channel_shape):
    """x̂·weight + bias, weight and bias reshaped to ``channel_shape`` (None: as they are)."""
    out = x_hat
    if affine:
        w = affine[0] if channel_shape is None else affine[0].reshape(channel_shape) if affine[0].ndim else affine[0]
        out = out * w
    if len(affine) > 1:
        b = affine[1] if channel_shape is None else affine[1].reshape(channel_shape) if affine[1].ndim else affine[1]
        out = out + b
    return out.astype(x_hat.dtype, copy=False)


def _affine_grads(xp, grad, x_hat, affine, axes, needs_grad):
    """Gradients of weight and bias: summed over ``axes`` (None: left in the broadcast
    shape for the engine to sum back), in each parameter's own shape and dtype."""
    out = []
    for i, p in enumerate(affine):
        if not needs_grad[i]:
            out.append(None)
            continue
        g = grad * x_hat if i == 0 else grad
        if axes is not None:
            g = xp.sum(g, axis=axes)
            g = g.reshape(p.shape) if p.ndim else xp.sum(g)
        out.append(g.astype(p.dtype, copy=False) if g.dtype != p.dtype else g)
    return out


def _weight_grad_input(xp, grad, affine, channel_shape):
    """dL/dx̂ = grad·weight (grad itself without a weight)."""
    if not affine:
        return grad
    w = affine[0]
    if channel_shape is not None and w.ndim:
        w = w.reshape(channel_shape)
    return (grad * w).astype(grad.dtype, copy=False)


def _arrays(xp, affine, x):
    """weight and bias as arrays (a Python number, such as the weight 1.0 before a bias,
    in x's dtype)."""
    return [a if hasattr(a, "ndim") else xp.asarray(a, dtype=_result_dtype(x.dtype)) for a in affine]


def _check_affine_count(name, affine):
    if len(affine) > 2:
        raise ShapeError(f"{name} takes at most two inputs after its data inputs (weight, bias), got {len(affine)}")


def _channel_shape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


def _check_channels(name, what, shape, channels):
    if shape is None:
        return
    if shape == ():
        return  # a scalar (e.g. the weight 1.0 in front of a bias)
    if len(shape) != 1 or (shape[0] is not None and channels is not None and shape[0] != channels):
        raise ShapeError(f"{name}: {what} must have shape ({channels},) (one entry per channel, axis 1 of the "
                         f"input), got {tuple(shape)}")


class _Normalization(ge.Op):
    """Shared by the three ops: the output has the input's dtype (float32 data stays
    float32 whatever the dtype of weight, bias or running statistics; integer data gives
    float32), and only the inputs are saved for backward."""

    arity = None
    saves = ("inputs",)

    def dtype(self, x, *others, **attrs):
        return _result_dtype(x)


def _result_dtype(dtype):
    dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


def _as_result(y, x):
    """``y`` in the dtype the op promises for input ``x`` (no copy when it already is)."""
    return y.astype(_result_dtype(x.dtype), copy=False)


class LayerNorm(_Normalization):
    """Layer normalisation (Ba et al. 2016; torch.nn.functional.layer_norm): normalise over
    the last ``len(normalized_shape)`` axes of each example,

        y = (x - mean) / sqrt(var + eps) · weight + bias     (var biased, over those axes)

    Inputs: x, then optionally weight and bias of shape ``normalized_shape``. Without
    ``normalized_shape`` the weight's shape is used (and without weight, the last axis).

    >>> y = ge.ops.layer_norm(h, gamma, beta, normalized_shape=(64,))   # h: (N, T, 64)
    >>> # x = [[1, 2, 3]] gives [[-1.2247, 0, 1.2247]]
    """

    name = "layer_norm"
    def forward(self, xp, x, *affine, normalized_shape: int | tuple[int, ...] | None = None, eps: float = 1e-5):
        affine = _arrays(xp, affine, x)
        axes = self._axes(x.ndim, affine, normalized_shape)
        x_hat, _ = _statistics(xp, x, axes, eps)
        return _as_result(_affine(x_hat, affine, None), x)

    def backward(self, xp, grad, inputs, output, *, normalized_shape=None, eps=1e-5, needs_grad=None):
        x, *affine = inputs
        affine = _arrays(xp, affine, x)
        needs_grad = needs_grad or (True,) * len(inputs)
        axes = self._axes(x.ndim, affine, normalized_shape)
        x_hat, inv_std = _statistics(xp, x, axes, eps)
        gx = None
        if needs_grad[0]:
            gx = _as_result(_normalized_grad(xp, _weight_grad_input(xp, grad, affine, None), x_hat, inv_std, axes), x)
        return (gx, *_affine_grads(xp, grad, x_hat, affine, None, needs_grad[1:]))

    def shape(self, x, *affine, normalized_shape=None, eps=1e-5):
        _check_affine_count(self.name, affine)
        norm = self._normalized(affine and affine[0], normalized_shape)
        if len(norm) > len(x) or any(d is not None and d != n for d, n in zip(x[len(x) - len(norm):], norm)):
            raise ShapeError(f"layer_norm: normalized_shape {norm} must be the last axes of the input, "
                             f"whose shape is {tuple(x)}; pass normalized_shape=x.shape[-k:]")
        for what, s in zip(_AFFINE, affine):
            if s is not None and s != () and tuple(s) != norm:
                raise ShapeError(f"layer_norm: {what} must have the normalized shape {norm}, got {tuple(s)}")
        return tuple(x)

    @staticmethod
    def _normalized(weight_shape, normalized_shape):
        if normalized_shape is None:
            if weight_shape:
                return tuple(weight_shape)
            raise AttributeSpecError("layer_norm needs normalized_shape= (the trailing axes to normalise over, "
                                     "e.g. normalized_shape=(64,)) when no weight is given")
        if isinstance(normalized_shape, (int, np.integer)):
            return (int(normalized_shape),)
        return tuple(int(d) for d in normalized_shape)

    def _axes(self, ndim, affine, normalized_shape):
        k = len(self._normalized(affine[0].shape if affine else None, normalized_shape))
        return tuple(range(ndim - k, ndim))


class BatchNorm(_Normalization):
    """Batch normalisation (Ioffe & Szegedy 2015; torch.nn.functional.batch_norm) of an
    (N, C, ...) input per channel (axis 1):

        training: y = (x - mean_c) / sqrt(var_c + eps) · weight_c + bias_c
                  (mean and biased variance over the batch and spatial axes)
        eval:     y = (x - running_mean_c) / sqrt(running_var_c + eps) · weight_c + bias_c

    Inputs: x, running_mean, running_var (shape (C,); they get no gradient), then
    optionally weight and bias (C,). Ops do not change state: in training mode the running
    statistics are updated by the layer ``ge.nn.BatchNorm2d`` after each step (a graph
    state update, with ``momentum``); the op takes ``momentum`` for torch's signature only.

    >>> y = ge.ops.batch_norm(x, rm, rv, gamma, beta, training=True)   # x: (N, C, H, W)
    >>> # x[:, 0] = [1, 3] (N = 2, training) gives y[:, 0] = [-1, 1] (eps aside)
    """

    name = "batch_norm"
    def forward(self, xp, x, running_mean, running_var, *affine, training: bool = False, momentum: float = 0.1,
                eps: float = 1e-5):
        affine = _arrays(xp, affine, x)
        shape = _channel_shape(x.ndim)
        if training:
            x_hat, _ = _statistics(xp, x, self._axes(x.ndim), eps)
        else:
            inv_std = 1.0 / xp.sqrt(running_var.reshape(shape) + eps)
            x_hat = _as_result((x - running_mean.reshape(shape)) * inv_std, x)
        return _as_result(_affine(x_hat, affine, shape), x)

    def backward(self, xp, grad, inputs, output, *, training=False, momentum=0.1, eps=1e-5, needs_grad=None):
        x, running_mean, running_var, *affine = inputs
        affine = _arrays(xp, affine, x)
        needs_grad = needs_grad or (True,) * len(inputs)
        shape, axes = _channel_shape(x.ndim), self._axes(x.ndim)
        if training:
            x_hat, inv_std = _statistics(xp, x, axes, eps)
        else:
            inv_std = (1.0 / xp.sqrt(running_var.reshape(shape) + eps)).astype(_result_dtype(x.dtype), copy=False)
            x_hat = (x - running_mean.reshape(shape)) * inv_std
        gx = None
        if needs_grad[0]:
            g_hat = _weight_grad_input(xp, grad, affine, shape)
            gx = _as_result(_normalized_grad(xp, g_hat, x_hat, inv_std, axes) if training else g_hat * inv_std, x)
        return (gx, None, None, *_affine_grads(xp, grad, x_hat, affine, axes, needs_grad[3:]))

    def shape(self, x, running_mean, running_var, *affine, training=False, momentum=0.1, eps=1e-5):
        _check_affine_count(self.name, affine)
        if len(x) < 2:
            raise ShapeError(f"batch_norm needs an input of shape (N, C, ...), got {tuple(x)}")
        for what, s in zip(("running_mean", "running_var") + _AFFINE, (running_mean, running_var) + affine):
            _check_channels(self.name, what, s, x[1])
        return tuple(x)

    @staticmethod
    def _axes(ndim):
        return (0,) + tuple(range(2, ndim))


class GroupNorm(_Normalization):
    """Group normalisation (Wu & He 2018; torch.nn.functional.group_norm): the C channels
    of an (N, C, ...) input are split into ``num_groups`` groups of C / num_groups
    channels; each example's group is normalised over its channels and spatial axes,

        y = (x - mean_(n,g)) / sqrt(var_(n,g) + eps) · weight_c + bias_c

    Inputs: x, then optionally weight and bias of shape (C,). num_groups = 1 is layer
    normalisation over (C, H, W) with per-channel affine; num_groups = C is instance norm.

    >>> y = ge.ops.group_norm(x, gamma, beta, num_groups=8)    # x: (N, 32, H, W)
    """

    name = "group_norm"
    def forward(self, xp, x, *affine, num_groups: int = 1, eps: float = 1e-5):
        affine = _arrays(xp, affine, x)
        grouped = x.reshape(x.shape[0], int(num_groups), -1)
        x_hat, _ = _statistics(xp, grouped, (2,), eps)
        return _as_result(_affine(x_hat.reshape(x.shape), affine, _channel_shape(x.ndim)), x)

    def backward(self, xp, grad, inputs, output, *, num_groups=1, eps=1e-5, needs_grad=None):
        x, *affine = inputs
        affine = _arrays(xp, affine, x)
        needs_grad = needs_grad or (True,) * len(inputs)
        shape, groups = _channel_shape(x.ndim), (x.shape[0], int(num_groups), -1)
        x_hat, inv_std = _statistics(xp, x.reshape(groups), (2,), eps)
        gx = None
        if needs_grad[0]:
            g_hat = _weight_grad_input(xp, grad, affine, shape).reshape(groups)
            gx = _as_result(_normalized_grad(xp, g_hat, x_hat, inv_std, (2,)).reshape(x.shape), x)
        axes = (0,) + tuple(range(2, x.ndim))
        return (gx, *_affine_grads(xp, grad, x_hat.reshape(x.shape), affine, axes, needs_grad[1:]))

    def shape(self, x, *affine, num_groups=1, eps=1e-5):
        _check_affine_count(self.name, affine)
        if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
            raise AttributeSpecError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
        if len(x) < 2:
            raise ShapeError(f"group_norm needs an input of shape (N, C, ...), got {tuple(x)}")
        if x[1] is not None and x[1] % num_groups:
            raise ShapeError(f"group_norm: {x[1]} channels cannot be split into num_groups={num_groups} equal "
                             f"groups; pick a divisor of {x[1]}")
        for what, s in zip(_AFFINE, affine):
            _check_channels(self.name, what, s, x[1])
        return tuple(x)
