"""graphengine: neural networks declared as explicit graphs of op nodes.

>>> import numpy as np, graphengine as ge
>>> g = ge.Graph("square")
>>> x = g.input("x", shape=())
>>> y = x * x
>>> run = g.forward({"x": np.array(3.0)}).backward(y)
>>> float(run.value(y)), float(run.grad(x))
(9.0, 6.0)
"""

from __future__ import annotations

import os as _os
import sys as _sys

from .version import __version__  # noqa: E402,F401

# A source checkout keeps plugins/ and visualize/ beside graphengine/ (pyproject maps them
# to graphengine.plugins and graphengine.visualize). Installed, they sit inside the package;
# from a bare checkout on sys.path, make the same import names work.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "plugins")) and _os.path.isfile(_os.path.join(_root, "plugins", "__init__.py")) \
        and _os.path.isfile(_os.path.join(_root, "pyproject.toml")):
    __path__.append(_root)  # type: ignore[name-defined]  # noqa: F821

from .backends import cupy_available, get_backend  # noqa: E402
from .clipping import ClipError, clip_grad_norm, clip_grad_value, global_grad_norm  # noqa: E402
from .errors import (  # noqa: E402
    AttributeSpecError,
    BackendMismatchError,
    BackendUnavailableError,
    BackwardError,
    DtypeError,
    DtypeRuleWarning,
    FeedError,
    GraphCycleError,
    GraphEngineError,
    GraphStructureError,
    MissingFileError,
    NodeNotFoundError,
    NonFiniteError,
    NotAFileError,
    OpExecutionError,
    PluginError,
    SaveFormatError,
    ShapeError,
    UnknownFeedError,
    UnknownNameError,
    UnknownOpError,
    ValueNotAvailableError,
)
from .graph import Graph  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .namespaces import InitNamespace, OpsNamespace, OptimizersNamespace, RegularizersNamespace  # noqa: E402
from .node import Node, NodeUsageError  # noqa: E402
from .op import Op, broadcast_shapes, normalize_axis, reduced_shape, unbroadcast  # noqa: E402
from .optimizer import Optimizer, OptimizerParamsError  # noqa: E402
from .plugin_manager import PluginInfo, PluginManager, PluginWarning, classes_defined_in, default_manager  # noqa: E402
from .regularization import add_penalty_gradients, apply_after_step, penalty_value, regularized_step  # noqa: E402
from .regularizer import Regularizer  # noqa: E402
from .run import Run, RunArgumentError  # noqa: E402
from .serialization import load  # noqa: E402
from .training_step import CompiledStep, compile_step  # noqa: E402

ops = OpsNamespace()
optimizers = OptimizersNamespace()
regularizers = RegularizersNamespace()
init = InitNamespace()

__all__ = [
    "Graph", "Node", "Run", "Op", "Optimizer", "Regularizer", "PluginManager", "PluginInfo", "PluginWarning",
    "hookimpl", "ops", "optimizers", "regularizers", "init", "load", "compile_step", "CompiledStep", "unbroadcast", "broadcast_shapes",
    "normalize_axis", "reduced_shape", "default_manager", "classes_defined_in", "get_backend", "cupy_available",
    "GraphEngineError", "ShapeError", "DtypeError", "DtypeRuleWarning", "GraphCycleError", "GraphStructureError", "NodeNotFoundError",
    "FeedError", "UnknownFeedError", "ValueNotAvailableError", "BackwardError", "OpExecutionError",
    "NonFiniteError", "UnknownOpError", "UnknownNameError", "AttributeSpecError", "PluginError",
    "BackendUnavailableError", "BackendMismatchError", "SaveFormatError", "MissingFileError", "NotAFileError",
    "RunArgumentError", "NodeUsageError", "OptimizerParamsError", "plugins",
    "clip_grad_norm", "clip_grad_value", "global_grad_norm", "ClipError",
    "add_penalty_gradients", "apply_after_step", "penalty_value", "regularized_step",
]


_LAZY_SUBMODULES = ("plugins", "nn", "data", "training", "search", "distributed", "visualize", "testing")


def __getattr__(name):
    # Subpackages load on first use: `ge.nn.Dense`, `ge.data.load_mnist`, ... The core never
    # imports them (or visualize) at import time. `ge.plugins` is the built-in plugins
    # package, which also offers ge.plugins.list().
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"graphengine.{name}")
    raise AttributeError(f"module 'graphengine' has no attribute {name!r}")


del _sys
