"""Pooling layers and channel-wise dropout, with torch.nn's arguments: MaxPool2d, AvgPool2d,
MaxPool1d, AvgPool1d, AdaptiveAvgPool2d, GlobalAvgPool2d, Dropout2d. None has parameters;
each adds its op node under its own scope (``max_pool2d``, ``avg_pool2d``, ...).

>>> import graphengine as ge
>>> g = ge.Graph("pools")
>>> x = g.input("x", shape=(None, 6, 28, 28))
>>> ge.nn.MaxPool2d(2)(x).shape
(None, 6, 14, 14)
>>> ge.nn.GlobalAvgPool2d()(x).shape                  # (N, C): ready for a Dense layer
(None, 6)

The ops (``ge.ops.max_pool2d``, ...) check the geometry when the node is added: a kernel
that does not fit the input is refused there, naming the node and the shapes.
"""

from __future__ import annotations

import numpy as np

from .layers import _noise_seed, _seed_argument
from .module import Module, ModuleError, portable_config


def _sizes(value, n, what, layer, minimum, optional=False):
    """An int or a tuple of ``n`` ints >= ``minimum`` (or None when ``optional``), as given."""
    if value is None and optional:
        return None

    def ok(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum

    if ok(value):
        return int(value)
    if isinstance(value, (tuple, list)) and len(value) == n and all(ok(v) for v in value):
        return tuple(int(v) for v in value)
    raise ModuleError(f"{layer} {what} must be an int >= {minimum} or a tuple of {n} such ints, got {value!r}")


class _Pool(Module):
    """A parameter-free layer that applies one op with fixed attributes."""

    op_name = ""

    @property
    def default_name(self) -> str:
        return self.op_name

    def attrs(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x):
        import graphengine as ge

        return getattr(ge.ops, self.op_name)(x, **self.attrs())

    def expected_param_shapes(self):
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.attrs().items())


class _MaxPool(_Pool):
    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, *, name=None):
        super().__init__(name=name)
        layer = type(self).__name__
        self.kernel_size = _sizes(kernel_size, self.spatial, "kernel_size", layer, 1)
        self.stride = _sizes(stride, self.spatial, "stride", layer, 1, optional=True)
        self.padding = _sizes(padding, self.spatial, "padding", layer, 0)
        self.dilation = _sizes(dilation, self.spatial, "dilation", layer, 1)
        self.ceil_mode = bool(ceil_mode)

    def get_config(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "ceil_mode": self.ceil_mode, "name": self.name}

    def attrs(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode)


class MaxPool2d(_MaxPool):
    """Max pooling over (H, W) of NCHW input: ``ge.ops.max_pool2d`` with torch.nn.MaxPool2d's
    arguments (``stride`` defaults to ``kernel_size``).

    >>> ge.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    """

    op_name = "max_pool2d"
    spatial = 2


class MaxPool1d(_MaxPool):
    """Max pooling over L of NCL input: ``ge.ops.max_pool1d`` (torch.nn.MaxPool1d's arguments)."""

    op_name = "max_pool1d"
    spatial = 1


class _AvgPool(_Pool):
    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 *, name=None):
        super().__init__(name=name)
        layer = type(self).__name__
        self.kernel_size = _sizes(kernel_size, self.spatial, "kernel_size", layer, 1)
        self.stride = _sizes(stride, self.spatial, "stride", layer, 1, optional=True)
        self.padding = _sizes(padding, self.spatial, "padding", layer, 0)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def get_config(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad, "name": self.name}

    def attrs(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad)


class AvgPool2d(_AvgPool):
    """Average pooling over (H, W) of NCHW input: ``ge.ops.avg_pool2d`` with
    torch.nn.AvgPool2d's arguments (``count_include_pad=True``: padding zeros count in
    the average; ``divisor_override``: divide every window's sum by this instead).

    >>> ge.nn.AvgPool2d(2)                               # (N, C, 28, 28) -> (N, C, 14, 14)
    """

    op_name = "avg_pool2d"
    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None, *, name=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, name=name)
        if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
                divisor_override, (int, np.integer)) or divisor_override == 0):
            raise ModuleError(f"AvgPool2d divisor_override must be None or a non-zero int, got {divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def get_config(self) -> dict:
        return dict(super().get_config(), divisor_override=self.divisor_override)

    def attrs(self) -> dict:
        return dict(super().attrs(), divisor_override=self.divisor_override)


class AvgPool1d(_AvgPool):
    """Average pooling over L of NCL input: ``ge.ops.avg_pool1d`` (torch.nn.AvgPool1d's arguments)."""

    op_name = "avg_pool1d"
    spatial = 1


class AdaptiveAvgPool2d(_Pool):
    """Average pooling of NCHW input to a fixed (oh, ow), whatever H and W:
    ``ge.ops.adaptive_avg_pool2d`` (torch.nn.AdaptiveAvgPool2d). ``output_size=1`` gives
    (N, C, 1, 1); a None entry keeps that axis's size.

    >>> ge.nn.AdaptiveAvgPool2d((7, 7))
    """

    op_name = "adaptive_avg_pool2d"

    def __init__(self, output_size, *, name=None):
        super().__init__(name=name)
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 2 or not all(v is None or _positive(v) for v in output_size):
                raise ModuleError(f"AdaptiveAvgPool2d output_size must be an int or a tuple of 2 ints (or None), got "
                                  f"{output_size!r}")
            output_size = tuple(None if v is None else int(v) for v in output_size)
        elif _positive(output_size):
            output_size = int(output_size)
        else:
            raise ModuleError(f"AdaptiveAvgPool2d output_size must be a positive int or a tuple of 2, got "
                              f"{output_size!r}")
        self.output_size = output_size

    def get_config(self) -> dict:
        return {"output_size": self.output_size, "name": self.name}

    def attrs(self) -> dict:
        return dict(output_size=self.output_size)


def _positive(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1


class GlobalAvgPool2d(Module):
    """Global average pooling: the mean of each channel over (H, W). (N, C, H, W) -> (N, C),
    ready for a Dense classifier (Keras's GlobalAveragePooling2D); ``keepdims=True`` gives
    (N, C, 1, 1), like ``AdaptiveAvgPool2d(1)``. One node,
    ``ge.ops.adaptive_avg_pool2d(x, output_size=1)``, then a reshape to (N, C).

    >>> ge.nn.Sequential(ge.nn.Conv2d(3, 64, 3, padding=1), "relu", ge.nn.GlobalAvgPool2d(), ge.nn.Dense(64, 10))
    """

    def __init__(self, keepdims: bool = False, *, name=None):
        super().__init__(name=name)
        self.keepdims = bool(keepdims)

    def get_config(self) -> dict:
        return {"keepdims": self.keepdims, "name": self.name}

    @property
    def default_name(self) -> str:
        return "global_avg_pool2d"

    def forward(self, x):
        import graphengine as ge

        if x.shape is None or len(x.shape) != 4:
            raise ModuleError(f"GlobalAvgPool2d takes (N, C, H, W) input; {x.name!r} has shape {x.shape}")
        y = ge.ops.adaptive_avg_pool2d(x, output_size=1)
        if self.keepdims:
            return y
        channels = x.shape[1]
        if channels is None:
            raise ModuleError(f"GlobalAvgPool2d needs the number of channels of {x.name!r} (shape {x.shape}); declare "
                              "it, or use keepdims=True")
        return ge.ops.reshape(y, shape=(-1, channels))

    def expected_param_shapes(self):
        return {}

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


class Dropout2d(Module):
    """Channel-wise dropout (torch.nn.Dropout2d): in training, each channel of each example
    is zeroed as a whole with probability ``p`` and the others scaled by 1/(1-p); the
    evaluation path adds no node. Neighbouring pixels of a feature map are strongly
    correlated, so dropping single pixels (``Dropout``) regularizes a CNN little; dropping
    whole maps does. The training path is ``ge.ops.dropout2d``; its masks are seeded as
    :class:`Dropout`'s are (``seed=``, else the model's or ``fit``'s seed and the layer's
    path; another mask at every training step, the same ones in two seeded runs).
    """

    mode_dependent = True

    def __init__(self, p: float = 0.5, *, seed=None, name=None):
        super().__init__(name=name, seed=_seed_argument("Dropout2d", seed))
        try:
            p = float(p)
        except (TypeError, ValueError):
            raise ModuleError(f"Dropout2d p must be a number in [0, 1], got {p!r}") from None
        if not 0.0 <= p <= 1.0:
            raise ModuleError(f"Dropout2d p is the probability to drop a channel, in [0, 1]; got {p}")
        self.p = p

    def get_config(self) -> dict:
        return portable_config({"p": self.p, "name": self.name}, seed=self.seed)

    @property
    def default_name(self) -> str:
        return "dropout2d"

    def forward(self, x):
        import graphengine as ge

        if not self.training or self.p == 0.0:
            return x
        return ge.ops.dropout2d(x, p=self.p, training=True, seed=_noise_seed(self))

    def expected_param_shapes(self):
        return {}

    def extra_repr(self) -> str:
        return f"p={self.p}"


__all__ = ["MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d", "AdaptiveAvgPool2d", "GlobalAvgPool2d", "Dropout2d"]
