"""The built-in regularizers and the regularization ops.

Regularizers (``ge.regularizers.create(name, ...)``), each saying which kind it is:

================  ============  =================================================
``l2``            penalty       λ/2·‖θ‖², gradient λ·θ
``l1``            penalty       λ·‖θ‖₁, gradient λ·sign θ
``weight_decay``  decay         θ ← θ − lr·λ·θ after the step (AdamW style)
``max_norm``      constraint    each unit's incoming weights rescaled to norm ≤ c
================  ============  =================================================

Ops (``ge.ops.<name>``), identity when ``training=False``:
``dropout(x, p=0.5, training=True, seed=None)`` and
``gaussian_noise(x, std=0.1, training=True, seed=None)``.

Helpers for training loops, re-exported from the core (:mod:`graphengine.regularization`,
also ``ge.<name>``): :func:`add_penalty_gradients`, :func:`apply_after_step`,
:func:`penalty_value`, :func:`regularized_step`.
"""

import graphengine as ge

from . import constraints, decay, penalties
from ._checks import RegularizerError, RegularizerOptionError
from .apply import add_penalty_gradients, apply_after_step, penalty_value, regularized_step
from .constraints import MaxNorm
from .decay import WeightDecay
from .noise import Dropout, GaussianNoise, keep_mask
from .penalties import L1, L2

MODULES = (penalties, decay, constraints)

__all__ = [
    "L1", "L2", "WeightDecay", "MaxNorm", "Dropout", "GaussianNoise", "keep_mask",
    "RegularizerError", "RegularizerOptionError",
    "add_penalty_gradients", "apply_after_step", "penalty_value", "regularized_step", "all_regularizers",
]


def all_regularizers():
    """Every regularizer class defined in this package, in a stable order."""
    return ge.classes_defined_in(MODULES, ge.Regularizer)


@ge.hookimpl
def register_regularizers(register):
    for cls in all_regularizers():
        register(cls)


@ge.hookimpl
def register_ops(register):
    register(Dropout())
    register(GaussianNoise())
