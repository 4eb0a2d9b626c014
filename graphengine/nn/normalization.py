"""Batch normalization (Ioffe and Szegedy 2015), composed from existing ops: no dedicated op is needed.

Training path, over the batch axis (and every other axis but the last)::

    mu  = mean(x)                 var = mean((x - mu)²)
    y   = gamma · (x - mu) / sqrt(var + eps) + beta

Evaluation path, with the running statistics (const nodes the layer owns)::

    y   = gamma · (x - running_mean) / sqrt(running_var + eps) + beta

After each training step the trainer fetches ``mu`` and ``var`` from the training run
and the layer updates its running statistics (PyTorch's convention)::

    running_mean = (1 - momentum) · running_mean + momentum · mu
    running_var  = (1 - momentum) · running_var  + momentum · var · n / (n - 1)

In a hand-written loop, do the same with ``layer.update_running_stats(run)`` (or
``for u in model.state_updates(): u.apply(*(run.value(n) for n in u.nodes))``), fetching
``u.nodes`` in the run.
"""

from __future__ import annotations

import numpy as np

from .module import Module, ModuleError, portable_config


def _free_local_name(graph, base: str) -> str:
    """``base`` in the current scope, or ``base_2``, ... when a second training path of the
    layer (a second call with training=True) already took it."""
    prefix = graph.current_scope + "/" if graph.current_scope else ""
    name, k = base, 1
    while prefix + name in graph:
        k += 1
        name = f"{base}_{k}"
    return name


class BatchNorm(Module):
    """Normalizes each feature (last axis) over the batch, then scales by ``gamma`` and
    shifts by ``beta`` (both learned, shape (features,)).

    ``num_features`` may be None (read from the input on the first call).
    ``momentum`` weights the newest batch in the running statistics; ``eps`` keeps the
    division finite.
    """

    mode_dependent = True

    def __init__(self, num_features=None, *, momentum: float = 0.1, eps: float = 1e-5, dtype="float32",
                 name=None):
        super().__init__(name=name)
        if num_features is not None and (isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer))
                                         or num_features < 1):
            raise ModuleError(f"BatchNorm num_features must be a positive int or None, got {num_features!r}")
        momentum = float(momentum)
        if not 0.0 < momentum <= 1.0:
            raise ModuleError(f"BatchNorm momentum must lie in (0, 1], got {momentum}")
        if not float(eps) > 0:
            raise ModuleError(f"BatchNorm eps must be > 0, got {eps}")
        self.num_features = None if num_features is None else int(num_features)
        self.momentum = momentum
        self.eps = float(eps)
        self.dtype = dtype
        self.batch_stats = []  # (mean node, var node) of each training-mode call

    def get_config(self) -> dict:
        return portable_config({"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps,
                                "dtype": self.dtype, "name": self.name})

    @property
    def default_name(self) -> str:
        return "batchnorm"

    def forward(self, x):
        import graphengine as ge

        if x.shape is None or not x.shape or x.shape[-1] is None:
            raise ModuleError(f"BatchNorm needs the size of the last axis of {x.name!r} (shape {x.shape})")
        features = int(x.shape[-1])
        if self.num_features is None:
            self.num_features = features
        elif features != self.num_features:
            raise ModuleError(f"BatchNorm {self.path!r} normalizes {self.num_features} features, but {x.name!r} "
                              f"has shape {x.shape}")
        gamma = self.add_param("gamma", (features,), "ones", self.dtype)
        beta = self.add_param("beta", (features,), "zeros", self.dtype)
        running_mean = self.add_state("running_mean", np.zeros(features, dtype=self.dtype))
        running_var = self.add_state("running_var", np.ones(features, dtype=self.dtype))
        axes = tuple(range(len(x.shape) - 1))
        if not axes:
            raise ModuleError(f"BatchNorm needs a batch axis; {x.name!r} has shape {x.shape}")
        if self.training:
            mu = ge.ops.mean(x, axis=axes, keepdims=True, name=_free_local_name(x.graph, "batch_mean"))
            centered = x - mu
            var = ge.ops.mean(ge.ops.square(centered), axis=axes, keepdims=True,
                              name=_free_local_name(x.graph, "batch_var"))
            normalized = centered / ge.ops.sqrt(var + self.eps)
            self.batch_stats.append((mu, var, x))
            self.add_update((mu, var, x), self._update_running)
        else:
            normalized = (x - running_mean) / ge.ops.sqrt(running_var + self.eps)
        return normalized * gamma + beta

    def _update_running(self, batch_mean, batch_var, batch_input):
        """Fold one batch's statistics into the running ones (values of the three nodes)."""
        running_mean, running_var = self._state["running_mean"], self._state["running_var"]
        xp = running_mean.graph.xp
        mean = xp.reshape(batch_mean, (-1,))
        var = xp.reshape(batch_var, (-1,))
        n = int(np.prod(batch_input.shape[:-1], dtype=np.int64))
        _momentum_update(running_mean, running_var, mean, var, n, self.momentum)

    def update_running_stats(self, run) -> None:
        """Update the running statistics from a training run that kept the batch statistics
        (fetch ``[n for u in layer.state_updates() for n in u.nodes]`` with the loss)."""
        for nodes in self.batch_stats:
            if run.ran(nodes[0]):
                self._update_running(*(run.value(n) for n in nodes))

    @property
    def running_mean(self):
        return self._built_state("running_mean")

    @property
    def running_var(self):
        return self._built_state("running_var")

    def _built_state(self, key):
        if key not in self._state:
            raise ModuleError(f"BatchNorm {self.name or ''} has no {key} yet: call it on an input node first")
        return self._state[key].value

    def expected_param_shapes(self):
        if self._params or self.built:
            return super().expected_param_shapes()
        if self.num_features is None:
            return None
        return {"gamma": (self.num_features,), "beta": (self.num_features,)}

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


def _channels(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModuleError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _check_eps_momentum(kind, eps, momentum=None):
    if not float(eps) > 0:
        raise ModuleError(f"{kind} eps must be > 0, got {eps}")
    if momentum is not None and not 0.0 < float(momentum) <= 1.0:
        raise ModuleError(f"{kind} momentum must lie in (0, 1], got {momentum}")


class BatchNorm2d(BatchNorm):
    """Batch normalisation of images (N, C, H, W) per channel, as torch.nn.BatchNorm2d:
    the op ``batch_norm`` with learned ``weight`` and ``bias`` of shape (C,) (``affine``)
    and running statistics (const nodes ``running_mean``, ``running_var``).

    Training path: batch statistics over (N, H, W); after each training step the running
    statistics are updated from the batch (a graph state update: ``fit`` applies it, a
    hand-written loop calls ``layer.update_running_stats(run)``), with the unbiased
    variance as PyTorch does. Evaluation path (``training=False``): the running statistics.

    >>> bn = ge.nn.BatchNorm2d(16)      # after a Conv2d(…, 16, …)
    """

    def __init__(self, num_features=None, *, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 dtype="float32", name=None):
        super().__init__(num_features, momentum=momentum, eps=eps, dtype=dtype, name=name)
        self.affine = bool(affine)

    def get_config(self) -> dict:
        return dict(super().get_config(), affine=self.affine)

    @property
    def default_name(self) -> str:
        return "batchnorm2d"

    def forward(self, x):
        import graphengine as ge

        if x.shape is None or len(x.shape) != 4 or x.shape[1] is None:
            raise ModuleError(f"BatchNorm2d normalises images of shape (N, C, H, W) with a known C; {x.name!r} has "
                              f"shape {x.shape}. For (N, features) use ge.nn.BatchNorm")
        channels = int(x.shape[1])
        if self.num_features is None:
            self.num_features = channels
        elif channels != self.num_features:
            raise ModuleError(f"BatchNorm2d {self.path!r} normalises {self.num_features} channels, but {x.name!r} has "
                              f"shape {x.shape} ({channels} channels on axis 1)")
        affine = []
        if self.affine:
            affine = [self.add_param("weight", (channels,), "ones", self.dtype),
                      self.add_param("bias", (channels,), "zeros", self.dtype)]
        running_mean = self.add_state("running_mean", np.zeros(channels, dtype=self.dtype))
        running_var = self.add_state("running_var", np.ones(channels, dtype=self.dtype))
        if self.training:
            self.batch_stats.append((x,))
            self.add_update((x,), self._update_running)
        return ge.ops.batch_norm(x, running_mean, running_var, *affine, training=self.training,
                                 momentum=self.momentum, eps=self.eps)

    def _update_running(self, batch_input):
        """Fold the statistics of one batch (the input's value) into the running ones."""
        running_mean, running_var = self._state["running_mean"], self._state["running_var"]
        xp = running_mean.graph.xp
        axes = (0,) + tuple(range(2, batch_input.ndim))
        mean = xp.mean(batch_input, axis=axes)
        var = xp.var(batch_input, axis=axes)
        n = batch_input.size // max(batch_input.shape[1], 1)
        _momentum_update(running_mean, running_var, mean, var, n, self.momentum)

    def expected_param_shapes(self):
        if self._params or self.built:
            return Module.expected_param_shapes(self)
        if self.num_features is None:
            return None
        return {"weight": (self.num_features,), "bias": (self.num_features,)} if self.affine else {}

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}" + ("" if self.affine else ", affine=False")


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes of each example, as
    torch.nn.LayerNorm (op ``layer_norm``), with learned ``weight`` (ones) and ``bias``
    (zeros) of that shape when ``elementwise_affine``. Same in training and evaluation.

    >>> ge.nn.LayerNorm(64)            # inputs (N, T, 64)
    """

    def __init__(self, normalized_shape, *, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype="float32", name=None):
        super().__init__(name=name)
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in shape):
            raise ModuleError(f"LayerNorm normalized_shape must be a positive int or a tuple of them, got "
                              f"{normalized_shape!r}")
        _check_eps_momentum("LayerNorm", eps)
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.use_bias = bool(bias) and self.elementwise_affine
        self.dtype = dtype

    def get_config(self) -> dict:
        return portable_config({"normalized_shape": self.normalized_shape, "eps": self.eps,
                                "elementwise_affine": self.elementwise_affine, "bias": self.use_bias,
                                "dtype": self.dtype, "name": self.name})

    @property
    def default_name(self) -> str:
        return "layernorm"

    def forward(self, x):
        import graphengine as ge

        k = len(self.normalized_shape)
        if x.shape is not None and (len(x.shape) < k or any(
                d is not None and d != n for d, n in zip(x.shape[len(x.shape) - k:], self.normalized_shape))):
            raise ModuleError(f"LayerNorm {self.path!r} normalises the trailing axes {self.normalized_shape}, but "
                              f"{x.name!r} has shape {x.shape}")
        affine = []
        if self.elementwise_affine:
            affine.append(self.add_param("weight", self.normalized_shape, "ones", self.dtype))
            if self.use_bias:
                affine.append(self.add_param("bias", self.normalized_shape, "zeros", self.dtype))
        return ge.ops.layer_norm(x, *affine, normalized_shape=self.normalized_shape, eps=self.eps)

    def expected_param_shapes(self):
        if self._params or self.built:
            return super().expected_param_shapes()
        shapes = {}
        if self.elementwise_affine:
            shapes["weight"] = self.normalized_shape
            if self.use_bias:
                shapes["bias"] = self.normalized_shape
        return shapes

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}" + ("" if self.elementwise_affine else
                                                             ", elementwise_affine=False")


class GroupNorm(Module):
    """Group normalisation of (N, C, ...) inputs, as torch.nn.GroupNorm (op ``group_norm``):
    ``num_channels`` split into ``num_groups`` groups, each normalised per example over
    its channels and spatial axes; learned per-channel ``weight`` and ``bias`` when
    ``affine``. Independent of the batch size; same in training and evaluation.

    >>> ge.nn.GroupNorm(8, 32)
    """

    def __init__(self, num_groups, num_channels, *, eps: float = 1e-5, affine: bool = True, dtype="float32",
                 name=None):
        super().__init__(name=name)
        self.num_groups = _channels(num_groups, "GroupNorm num_groups")
        self.num_channels = _channels(num_channels, "GroupNorm num_channels")
        if self.num_groups is None or self.num_channels is None:
            raise ModuleError("GroupNorm needs num_groups and num_channels, e.g. GroupNorm(8, 32)")
        if self.num_channels % self.num_groups:
            raise ModuleError(f"GroupNorm: num_channels={self.num_channels} is not divisible by "
                              f"num_groups={self.num_groups}; pick a divisor of {self.num_channels}")
        _check_eps_momentum("GroupNorm", eps)
        self.eps = float(eps)
        self.affine = bool(affine)
        self.dtype = dtype

    def get_config(self) -> dict:
        return portable_config({"num_groups": self.num_groups, "num_channels": self.num_channels, "eps": self.eps,
                                "affine": self.affine, "dtype": self.dtype, "name": self.name})

    @property
    def default_name(self) -> str:
        return "groupnorm"

    def forward(self, x):
        import graphengine as ge

        if x.shape is None or len(x.shape) < 2 or x.shape[1] != self.num_channels:
            raise ModuleError(f"GroupNorm {self.path!r} expects inputs (N, {self.num_channels}, ...), but {x.name!r} "
                              f"has shape {x.shape}")
        affine = []
        if self.affine:
            affine = [self.add_param("weight", (self.num_channels,), "ones", self.dtype),
                      self.add_param("bias", (self.num_channels,), "zeros", self.dtype)]
        return ge.ops.group_norm(x, *affine, num_groups=self.num_groups, eps=self.eps)

    def expected_param_shapes(self):
        if self._params or self.built:
            return super().expected_param_shapes()
        return {"weight": (self.num_channels,), "bias": (self.num_channels,)} if self.affine else {}

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}" + ("" if self.affine else ", affine=False")


def _momentum_update(running_mean, running_var, mean, var, n, momentum):
    """Running statistics, as torch updates them: the batch variance unbiased over the
    ``n`` values each statistic saw, blended in with ``momentum``."""
    if n > 1:
        var = var * (n / (n - 1))
    dtype = running_mean.value.dtype
    running_mean.value = ((1 - momentum) * running_mean.value + momentum * mean).astype(dtype)
    running_var.value = ((1 - momentum) * running_var.value + momentum * var).astype(dtype)


__all__ = ["BatchNorm", "BatchNorm2d", "LayerNorm", "GroupNorm"]
