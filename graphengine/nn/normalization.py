"""Batch normalization (deck 002), composed from existing ops: no dedicated op is needed.

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

from .module import Module, ModuleError


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
            mu = ge.ops.mean(x, axis=axes, keepdims=True, name="batch_mean")
            centered = x - mu
            var = ge.ops.mean(ge.ops.square(centered), axis=axes, keepdims=True, name="batch_var")
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
        if n > 1:
            var = var * (n / (n - 1))
        m = self.momentum
        dtype = running_mean.value.dtype
        running_mean.value = ((1 - m) * running_mean.value + m * mean).astype(dtype)
        running_var.value = ((1 - m) * running_var.value + m * var).astype(dtype)

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


__all__ = ["BatchNorm"]
