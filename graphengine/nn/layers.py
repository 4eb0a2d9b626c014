"""Layers: Dense (Linear), activations by name, Flatten, Dropout, GaussianNoise, Sequential,
Residual. Batch normalization is in :mod:`graphengine.nn.normalization`.

>>> import numpy as np, graphengine as ge
>>> g = ge.Graph("mlp")
>>> x = g.input("x", shape=(None, 784))
>>> model = ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10), seed=0)
>>> out = model(x)
>>> out.shape, model.parameter_count()
((None, 10), 23860)
>>> [p.name for p in model.params()]
['sequential/dense_1/W', 'sequential/dense_1/b', 'sequential/dense_2/W', 'sequential/dense_2/b']
"""

from __future__ import annotations

import zlib

import numpy as np

from ..node import Node
from .module import Module, ModuleError, nearest_seed, portable_config


def _positive_int(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModuleError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _last_dim(x: Node, layer: str) -> int:
    if x.shape is None or not x.shape or x.shape[-1] is None:
        raise ModuleError(
            f"{layer} needs to know the size of its input's last axis, but {x.name!r} has shape "
            f"{x.shape}; declare it (g.input(name, shape=(None, 784))) or give the layer its input size"
        )
    return int(x.shape[-1])


class Dense(Module):
    """A fully connected layer: ``y = x @ W + b`` with ``W`` of shape (in, out).

    ``in_features`` may be None: it is then read from the input node's last axis on the
    first call. ``init`` / ``bias_init``: initializer names (``ge.init.<name>``), callables
    ``f(shape, dtype=..., rng=...)``, numbers or arrays. ``activation``: an optional op
    name applied to the result inside the layer's scope (``Dense(784, 30, activation="relu")``).
    """

    def __init__(self, in_features, out_features, *, bias: bool = True, init="xavier_uniform",
                 bias_init="zeros", activation: str | None = None, dtype="float32", name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.in_features = _positive_int(in_features, "Dense in_features")
        self.out_features = _positive_int(out_features, "Dense out_features")
        if self.out_features is None:
            raise ModuleError("Dense needs out_features (the number of units)")
        self.use_bias = bool(bias)
        self.init = init
        self.bias_init = bias_init
        self.activation = _check_activation(activation) if activation is not None else None
        self.dtype = dtype

    @property
    def default_name(self) -> str:
        return "dense"

    def forward(self, x):
        n_in = _last_dim(x, "Dense")
        if self.in_features is None:
            self.in_features = n_in
        elif n_in != self.in_features:
            raise ModuleError(
                f"Dense {self.path!r} expects inputs with {self.in_features} features (W is "
                f"({self.in_features}, {self.out_features})), but {x.name!r} has shape {x.shape}"
            )
        W = self.add_param("W", (self.in_features, self.out_features), self.init, self.dtype)
        y = x @ W
        if self.use_bias:
            b = self.add_param("b", (self.out_features,), self.bias_init, self.dtype)
            y = y + b
        if self.activation is not None:
            import graphengine as ge

            y = getattr(ge.ops, self.activation)(y)
        return y

    @property
    def W(self) -> Node:
        return self._built_param("W")

    @property
    def b(self) -> Node:
        return self._built_param("b")

    def _built_param(self, key):
        if key not in self._params:
            raise ModuleError(f"Dense {self.name or ''} has no param {key!r} yet: call it on an input node first")
        return self._params[key]

    def expected_param_shapes(self):
        if self._params or self.built:
            return super().expected_param_shapes()
        if self.in_features is None:
            return None
        shapes = {"W": (self.in_features, self.out_features)}
        if self.use_bias:
            shapes["b"] = (self.out_features,)
        return shapes

    def get_config(self) -> dict:
        return portable_config({"in_features": self.in_features, "out_features": self.out_features,
                                "bias": self.use_bias, "activation": self.activation, "dtype": self.dtype,
                                "name": self.name}, init=self.init, bias_init=self.bias_init, seed=self.seed)

    def extra_repr(self) -> str:
        extra = "" if self.use_bias else ", bias=False"
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"{self.in_features}, {self.out_features}{extra}{act}"


Linear = Dense


def _check_activation(name: str) -> str:
    import graphengine as ge

    getattr(ge.ops, name)  # raises UnknownOpError with suggestions
    return name


class Activation(Module):
    """An element-wise activation by op name: ``Activation("relu")``,
    ``Activation("leaky_relu", alpha=0.1)``; no parameters."""

    def __init__(self, op: str, *, name=None, **attrs):
        super().__init__(name=name)
        self.op = _check_activation(op)
        self.attrs = attrs

    @property
    def default_name(self) -> str:
        return self.op

    def forward(self, x):
        import graphengine as ge

        return getattr(ge.ops, self.op)(x, **self.attrs)

    def expected_param_shapes(self):
        return {}

    def get_config(self) -> dict:
        head = {"op": self.op} if type(self) is Activation else {}
        return {**head, "name": self.name, **self.attrs}

    def extra_repr(self) -> str:
        attrs = "".join(f", {k}={v!r}" for k, v in self.attrs.items())
        return f"{self.op!r}{attrs}"

    def __repr__(self) -> str:
        if type(self) is Activation:
            return f"Activation({self.extra_repr()})"
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.attrs.items())})"


def _activation_class(class_name: str, op: str, doc: str):
    def __init__(self, *, name=None, **attrs):
        Activation.__init__(self, op, name=name, **attrs)

    return type(class_name, (Activation,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Sigmoid = _activation_class("Sigmoid", "sigmoid", "σ(x) = 1 / (1 + e^-x), element-wise.")
Tanh = _activation_class("Tanh", "tanh", "tanh(x), element-wise.")
ReLU = _activation_class("ReLU", "relu", "max(0, x), element-wise.")
LeakyReLU = _activation_class("LeakyReLU", "leaky_relu", "x if x > 0 else alpha·x (alpha=0.01).")
ELU = _activation_class("ELU", "elu", "x if x > 0 else alpha·(e^x - 1).")
Softplus = _activation_class("Softplus", "softplus", "log(1 + e^x).")
GELU = _activation_class("GELU", "gelu", "x·Φ(x), exact (erf); approximate=\"tanh\" gives the tanh form.")
SiLU = _activation_class("SiLU", "silu", "x·σ(x) (swish).")
Softmax = _activation_class("Softmax", "softmax", "Softmax over the last axis (axis=-1).")
LogSoftmax = _activation_class("LogSoftmax", "log_softmax", "log softmax over the last axis.")
Step = _activation_class("Step", "step", "The perceptron's threshold: 1 if x > 0 else 0 (zero gradient).")
Identity = _activation_class("Identity", "identity", "y = x (a linear output layer).")


def as_module(layer) -> Module:
    """A module from a module or an activation name (``"relu"``)."""
    if isinstance(layer, Module):
        return layer
    if isinstance(layer, str):
        return Activation(layer)
    raise ModuleError(f"expected a ge.nn.Module or an activation name, got {type(layer).__name__} {layer!r}")


class Flatten(Module):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...): images to vectors for Dense layers."""

    @property
    def default_name(self) -> str:
        return "flatten"

    def forward(self, x):
        import graphengine as ge

        if x.shape is None or any(d is None for d in x.shape[1:]):
            raise ModuleError(f"Flatten needs the sizes of every axis after the batch; {x.name!r} has shape {x.shape}")
        size = int(np.prod(x.shape[1:], dtype=np.int64))
        return ge.ops.reshape(x, shape=(-1, size))

    def expected_param_shapes(self):
        return {}


def _noise_seed(layer) -> int | None:
    """The ``seed`` attribute of the random node ``layer`` is adding: derived from the
    nearest seed among the layer and the modules calling it (the model's seed, or the
    one ``fit(seed=)`` gives a model that has none) and the layer's path below that
    module, and the number of the call (a layer called twice draws two masks). None when
    no module has a seed: the op then draws a fresh mask at every run."""
    seed, rel = nearest_seed()
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**32))
    entropy = [int(seed), zlib.crc32("/".join(rel).encode()), layer.calls]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])


def _seed_argument(owner: str, seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ModuleError(f"{owner} seed must be None (the model's seed, or fit's) or an int >= 0, got {seed!r}")
    return int(seed)


class Dropout(Module):
    """Dropout (Srivastava et al., JMLR 2014): in training, each unit is zeroed with probability ``p`` and the
    survivors scaled by 1/(1-p) (inverted dropout), so evaluation is the identity.

    The training path is the ``dropout`` op (``F.dropout(x, p, training=True)`` in
    torch); the evaluation path adds no node at all. Masks are reproducible: the node's
    ``seed`` comes from ``seed=`` here, else from the model's seed (or the one
    ``fit(seed=)`` gives a model that has none) and the layer's path, and ``fit`` draws
    the mask of step ``k`` from ``(seed, k)`` (``ge.training.noise_step``): another mask
    at every step, the same masks in two runs of ``fit(..., seed=0)``. Without any seed
    the node has ``seed=None`` and draws a fresh mask at every run. Outside a training
    step (``graph.forward`` by hand), a seeded node draws the same mask at every run.
    """

    mode_dependent = True

    def __init__(self, p: float = 0.5, *, seed=None, name=None):
        super().__init__(name=name, seed=_seed_argument("Dropout", seed))
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ModuleError(f"Dropout p is the probability to drop a unit, in [0, 1); got {p}")
        self.p = p

    @property
    def default_name(self) -> str:
        return "dropout"

    def forward(self, x):
        import graphengine as ge

        if not self.training or self.p == 0.0:
            return x
        return ge.ops.dropout(x, p=self.p, training=True, seed=_noise_seed(self))

    def expected_param_shapes(self):
        return {}

    def get_config(self) -> dict:
        return portable_config({"p": self.p, "name": self.name}, seed=self.seed)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GaussianNoise(Module):
    """Additive Gaussian noise in training (``x + N(0, std²)``); identity in evaluation.

    The noise is reproducible as Dropout's masks are: the node's ``seed`` comes from
    ``seed=`` or the model's (or fit's) seed and the layer's path, and ``fit`` draws the
    noise of step ``k`` from ``(seed, k)``; without any seed, a fresh draw at every run.
    """

    mode_dependent = True

    def __init__(self, std: float = 0.1, *, seed=None, name=None):
        super().__init__(name=name, seed=_seed_argument("GaussianNoise", seed))
        std = float(std)
        if not std >= 0.0:
            raise ModuleError(f"GaussianNoise std must be >= 0, got {std}")
        self.std = std

    @property
    def default_name(self) -> str:
        return "gaussian_noise"

    def forward(self, x):
        import graphengine as ge

        if not self.training or self.std == 0.0:
            return x
        return ge.ops.gaussian_noise(x, std=self.std, training=True, seed=_noise_seed(self))

    def expected_param_shapes(self):
        return {}

    def get_config(self) -> dict:
        return portable_config({"std": self.std, "name": self.name}, seed=self.seed)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class Sequential(Module):
    """Layers applied one after the other. Items are modules or activation names::

        Sequential(Dense(784, 30), "sigmoid", Dense(30, 10))

    Layers are named after their type and rank in the sequence (``dense_1``,
    ``sigmoid_1``, ``dense_2``) unless they have a name. ``model[i]`` is the i-th layer.
    """

    def __init__(self, *layers, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        modules = [as_module(layer) for layer in layers]
        counters: dict[str, int] = {}
        used = set()
        for index, module in enumerate(modules):
            if any(module is m for m in modules[:index]):
                raise ModuleError(
                    f"Sequential: layer {index} ({type(module).__name__}) appears twice; a layer used twice shares "
                    "its parameters, build two layers for two positions"
                )
            if module.name is not None:
                key = module.name
            else:
                base = module.default_name
                counters[base] = counters.get(base, 0) + 1
                key = f"{base}_{counters[base]}"
                while key in used:
                    counters[base] += 1
                    key = f"{base}_{counters[base]}"
            if key in used:
                raise ModuleError(f"Sequential: two layers are named {key!r}; layer names must be unique")
            used.add(key)
            self._children[key] = module
        self._layers = modules

    @property
    def default_name(self) -> str:
        return "sequential"

    def forward(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def __getitem__(self, index):
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    @property
    def layers(self) -> list:
        return list(self._layers)

    @property
    def in_features(self):
        for layer in self._layers:
            n = getattr(layer, "in_features", None)
            if n is not None or isinstance(layer, (Dense, Sequential, Residual)):
                return n
        return None

    @property
    def out_features(self):
        for layer in reversed(self._layers):
            n = getattr(layer, "out_features", None)
            if n is not None or isinstance(layer, (Dense, Sequential, Residual)):
                return n
        return None

    def get_config(self) -> dict:
        return portable_config({"layers": list(self._layers), "name": self.name}, seed=self.seed)

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        config = dict(config)
        return cls(*config.pop("layers", ()), **config)

    def expected_param_shapes(self):
        return {}


class Residual(Module):
    """A residual block (He et al., "Deep Residual Learning", CVPR 2016): ``y = x + R(x)``.

    When ``R`` changes the size of the last axis, the shortcut is a learned projection
    ``x @ W_s`` (a bias-free Dense, He et al.'s ``y = W_s x + R(x)``); ``projection=True``
    forces one, ``False`` refuses a size change. ``activation`` is applied after the sum
    (ResNet uses "relu").
    """

    def __init__(self, *inner, projection: bool | None = None, activation: str | None = None,
                 init="xavier_uniform", name=None, seed=None):
        super().__init__(name=name, seed=seed)
        if not inner:
            raise ModuleError("Residual needs the inner function R: Residual(Dense(30, 30), 'relu', Dense(30, 30))")
        self.inner = inner[0] if len(inner) == 1 and isinstance(inner[0], Module) else Sequential(*inner)
        self.projection_mode = projection
        self.activation = _check_activation(activation) if activation is not None else None
        self.init = init
        self.projection = None

    @property
    def default_name(self) -> str:
        return "residual"

    @property
    def in_features(self):
        return getattr(self.inner, "in_features", None)

    @property
    def out_features(self):
        return getattr(self.inner, "out_features", None)

    def forward(self, x):
        import graphengine as ge

        r = self.inner(x)
        n_in = x.shape[-1] if x.shape else None
        n_out = r.shape[-1] if r.shape else None
        project = self.projection_mode
        if project is None:
            if n_in is None or n_out is None:
                raise ModuleError(
                    f"Residual {self.path!r}: cannot tell whether the shortcut needs a projection: input {x.shape}, "
                    f"R(x) {r.shape}; declare the sizes, or pass projection=True/False"
                )
            project = n_in != n_out
        if project:
            if self.projection is None:
                self.projection = Dense(n_in, n_out, bias=False, init=self.init, name="projection")
            shortcut = self.projection(x)
        else:
            if n_in is not None and n_out is not None and n_in != n_out:
                raise ModuleError(
                    f"Residual {self.path!r}: R changes the size {n_in} -> {n_out} but projection=False; "
                    "use projection=None (automatic) or keep the sizes equal"
                )
            shortcut = x
        y = shortcut + r
        if self.activation is not None:
            y = getattr(ge.ops, self.activation)(y)
        return y

    def expected_param_shapes(self):
        if self.built or self.projection is not None:
            return {}
        project = self.projection_mode
        n_in, n_out = self.in_features, self.out_features
        if project is None:
            if n_in is None or n_out is None:
                return None
            project = n_in != n_out
        if project:
            if n_in is None or n_out is None:
                return None
            return {"projection/W": (n_in, n_out)}
        return {}

    def get_config(self) -> dict:
        return portable_config({"inner": self.inner, "projection": self.projection_mode,
                                "activation": self.activation, "name": self.name}, init=self.init, seed=self.seed)

    @classmethod
    def from_config(cls, config: dict) -> "Residual":
        config = dict(config)
        if "inner" not in config:
            raise ModuleError("Residual's config needs 'inner' (the module R of y = x + R(x))")
        return cls(config.pop("inner"), **config)

    def extra_repr(self) -> str:
        return f"projection={self.projection_mode!r}" + (f", activation={self.activation!r}" if self.activation else "")


__all__ = [
    "Dense", "Linear", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "GELU", "SiLU",
    "Softmax", "LogSoftmax", "Step", "Identity", "Flatten", "Dropout", "GaussianNoise", "Sequential", "Residual",
    "as_module",
]
