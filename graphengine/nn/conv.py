"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d, with torch.nn's arguments, weight
layouts and default initialization.

>>> import graphengine as ge
>>> g = ge.Graph("lenet")
>>> x = g.input("x", shape=(None, 1, 28, 28))
>>> conv = ge.nn.Conv2d(1, 6, kernel_size=5, padding=2, seed=0)
>>> y = conv(x)
>>> y.shape, [p.name for p in conv.params()]
((None, 6, 28, 28), ['conv2d/weight', 'conv2d/bias'])

Weights are (out_channels, in_channels/groups, *kernel_size) (ConvTranspose2d:
(in_channels, out_channels/groups, *kernel_size)), as in torch, so a torch state dict's
arrays can be loaded as they are. The default initialization is torch's: weight and bias
uniform on ±1/√fan_in, fan_in = weight.shape[1]·kh·kw (kaiming-uniform with a = √5).
``init=`` / ``bias_init=`` take an initializer name, a callable ``f(shape, dtype=..., rng=...)``,
a number or an array instead.
"""

from __future__ import annotations

import math

import numpy as np

from .module import Module, ModuleError, portable_config

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value, n, what, layer):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),) * n
    if not isinstance(value, (tuple, list)) or len(value) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        raise ModuleError(f"{layer} {what} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in value)


def _count(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModuleError(f"{layer} {what} must be a positive int, got {value!r}")
    return int(value)


def torch_default_uniform(fan_in):
    """torch's default for conv and linear weights and biases: U(-1/√fan_in, 1/√fan_in),
    as an initializer ``f(shape, dtype=..., rng=...)``."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(shape, dtype="float32", rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    init.__name__ = f"uniform_pm_1_over_sqrt_{fan_in}"
    return init


class _ConvLayer(Module):
    spatial = 2
    transposed = False
    op_name = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias: bool = True, padding_mode: str = "zeros", *, init=None, bias_init=None, dtype="float32",
                 name=None, seed=None):
        super().__init__(name=name, seed=seed)
        layer = type(self).__name__
        self.in_channels = _count(in_channels, "in_channels", layer)
        self.out_channels = _count(out_channels, "out_channels", layer)
        self.groups = _count(groups, "groups", layer)
        for what, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ModuleError(f"{layer} {what}={channels} must be divisible by groups={self.groups}")
        self.kernel_size = _tuple(kernel_size, self.spatial, "kernel_size", layer)
        self.stride = _tuple(stride, self.spatial, "stride", layer)
        self.dilation = _tuple(dilation, self.spatial, "dilation", layer)
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self.transposed:
                raise ModuleError(f"{layer} padding must be an int, a tuple{', same or valid' * (not self.transposed)}"
                                  f", got {padding!r}")
            self.padding = padding
        else:
            self.padding = _tuple(padding, self.spatial, "padding", layer)
        if padding_mode not in PADDING_MODES:
            raise ModuleError(f"{layer} padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        if padding_mode != "zeros" and self.transposed:
            raise ModuleError(f"{layer} supports only padding_mode='zeros' (as torch), got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.use_bias = bool(bias)
        self.init = init
        self.bias_init = bias_init
        self.dtype = dtype

    def get_config(self) -> dict:
        config = {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                  "stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups,
                  "bias": self.use_bias, "padding_mode": self.padding_mode, "dtype": self.dtype, "name": self.name}
        if self.transposed:
            config["output_padding"] = self.output_padding
        return portable_config(config, init=self.init, bias_init=self.bias_init, seed=self.seed)

    @property
    def default_name(self) -> str:
        return self.op_name

    def weight_shape(self) -> tuple:
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _fan_in(self) -> int:
        return self.weight_shape()[1] * math.prod(self.kernel_size)

    def _check_input(self, x):
        layer = type(self).__name__
        ndim = self.spatial + 2
        if x.shape is not None and len(x.shape) not in (ndim, ndim - 1):
            axes = "(N, C, H, W)" if self.spatial == 2 else "(N, C, L)"
            raise ModuleError(f"{layer} {self.path!r} expects inputs of shape {axes}, but {x.name!r} has shape "
                              f"{x.shape}")
        channels = None if x.shape is None else x.shape[-self.spatial - 1]
        if channels is not None and channels != self.in_channels:
            raise ModuleError(f"{layer} {self.path!r} expects {self.in_channels} input channels, but {x.name!r} "
                              f"has shape {x.shape} ({channels} channels on axis {-self.spatial - 1})")

    def _make_params(self):
        weight = self.add_param("weight", self.weight_shape(), self.init or torch_default_uniform(self._fan_in()),
                                self.dtype)
        params = [weight]
        if self.use_bias:
            params.append(self.add_param("bias", (self.out_channels,),
                                         self.bias_init or torch_default_uniform(self._fan_in()), self.dtype))
        return params

    def forward(self, x):
        import graphengine as ge

        self._check_input(x)
        attrs = {"stride": self.stride, "dilation": self.dilation, "groups": self.groups}
        padding = self.padding
        if self.padding_mode != "zeros":
            if padding == "valid":
                padding = (0,) * self.spatial
            elif padding == "same":
                totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
                pairs = [(t // 2, t - t // 2) for t in totals]
            if padding != "same":
                pairs = [(p, p) for p in padding]
            flat = tuple(v for pair in reversed(pairs) for v in pair)  # torch's order: last axis first
            if any(flat):
                x = ge.ops.pad(x, pad=flat, mode=self.padding_mode)
            padding = 0
        attrs["padding"] = padding
        if self.transposed:
            attrs["output_padding"] = self.output_padding
        return getattr(ge.ops, self.op_name)(x, *self._make_params(), **attrs)

    @property
    def weight(self):
        return self._built_param("weight")

    @property
    def bias(self):
        return self._built_param("bias")

    def _built_param(self, key):
        if key not in self._params:
            raise ModuleError(f"{type(self).__name__} {self.path or ''} has no param {key!r} yet: call it on an "
                              "input node first" + (" (bias=False)" if key == "bias" and not self.use_bias else ""))
        return self._params[key]

    def expected_param_shapes(self):
        if self.built:
            return super().expected_param_shapes()
        shapes = {"weight": self.weight_shape()}
        if self.use_bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"stride={self.stride}"]
        if self.padding not in ((0,) * self.spatial, "valid"):
            parts.append(f"padding={self.padding!r}")
        if self.transposed and any(self.output_padding):
            parts.append(f"output_padding={self.output_padding}")
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if not self.use_bias:
            parts.append("bias=False")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(parts)


class Conv2d(_ConvLayer):
    """2-D convolution layer, ``torch.nn.Conv2d``: ``y = conv2d(x, weight, bias, stride,
    padding, dilation, groups)`` with weight (out_channels, in_channels/groups, kh, kw)
    and bias (out_channels,), on inputs (N, C, H, W). ``padding`` is an int, a pair,
    ``"same"`` or ``"valid"``; ``padding_mode`` "zeros" (inside the op) or "reflect",
    "replicate", "circular" (a ``pad`` node before it).

    >>> lenet_start = ge.nn.Sequential(ge.nn.Conv2d(1, 6, 5, padding=2), "relu", ge.nn.Conv2d(6, 16, 5))
    """

    spatial = 2
    op_name = "conv2d"


class Conv1d(_ConvLayer):
    """1-D convolution layer, ``torch.nn.Conv1d``: weight (out_channels,
    in_channels/groups, kernel_size), bias (out_channels,), inputs (N, C, L).

    >>> ge.nn.Conv1d(4, 8, kernel_size=3, padding="same")
    """

    spatial = 1
    op_name = "conv1d"


class ConvTranspose2d(_ConvLayer):
    """Transposed 2-D convolution layer, ``torch.nn.ConvTranspose2d`` (upsampling):
    weight (in_channels, out_channels/groups, kh, kw), bias (out_channels,); output
    size (H - 1)·stride - 2·padding + dilation·(kh - 1) + output_padding + 1.

    >>> ge.nn.ConvTranspose2d(16, 8, kernel_size=2, stride=2)    # (N, 16, 7, 7) -> (N, 8, 14, 14)
    """

    spatial = 2
    transposed = True
    op_name = "conv_transpose2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias: bool = True, dilation=1, padding_mode: str = "zeros", *, init=None, bias_init=None,
                 dtype="float32", name=None, seed=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, bias=bias, padding_mode=padding_mode, init=init, bias_init=bias_init,
                         dtype=dtype, name=name, seed=seed)
        self.output_padding = _tuple(output_padding, 2, "output_padding", "ConvTranspose2d")


__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d", "torch_default_uniform"]
