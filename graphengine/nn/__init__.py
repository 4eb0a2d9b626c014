"""Layers and models that add nodes to a graph under name scopes (``ge.nn``).

>>> import graphengine as ge
>>> g = ge.Graph("classifier")
>>> x = g.input("x", shape=(None, 784))
>>> model = ge.nn.Sequential(ge.nn.Dense(784, 100), "relu", ge.nn.Dense(100, 10), seed=0)
>>> logits = model(x)
>>> logits.shape, model.parameter_count()
((None, 10), 79510)

See :mod:`graphengine.nn.module` for how names, scopes, training/evaluation paths and
seeds work, ``docs/training.md`` for training these models, and ``docs/models.md`` for
``model.predict``, ``model.evaluate``, ``model.save`` and ``ge.nn.load``.
"""

from .layers import (
    ELU,
    GELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Residual,
    Sequential,
    SiLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
    as_module,
)
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .embedding import Embedding
from .module import LayerInfo, Module, ModuleError, StateUpdate, graph_state_updates, make_initial_value
from .normalization import BatchNorm, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Dropout2d, GlobalAvgPool2d, MaxPool1d, MaxPool2d
from .loading import load

__all__ = [
    "Module", "ModuleError", "LayerInfo", "load", "StateUpdate", "make_initial_value", "graph_state_updates",
    "Dense", "Linear", "Activation", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "GELU", "SiLU",
    "Softmax", "LogSoftmax", "Step", "Identity", "Flatten", "Dropout", "GaussianNoise", "Sequential", "Residual",
    "BatchNorm", "as_module", "BatchNorm2d", "LayerNorm", "GroupNorm",
    "MaxPool2d", "MaxPool1d", "AvgPool2d", "AvgPool1d", "AdaptiveAvgPool2d", "GlobalAvgPool2d", "Dropout2d",
    "Conv1d", "Conv2d", "ConvTranspose2d",
    "Embedding",
]
