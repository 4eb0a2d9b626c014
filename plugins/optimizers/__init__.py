"""The built-in optimizers, registered through the ``register_optimizers`` hook.

Create one by name::

    opt = ge.optimizers.create("adam", g.params(), lr=1e-3)
    opt.step(run)                     # after run.backward(loss)

Registered names and their hyper-parameters (defaults):

=============  =========================================================
``sgd``        lr=0.01
``momentum``   lr=0.01, momentum=0.9
``nesterov``   lr=0.01, momentum=0.9
``adagrad``    lr=0.01, eps=1e-8, initial_accumulator=0.0
``adadelta``   lr=1.0, rho=0.9, eps=1e-6
``rmsprop``    lr=0.001, rho=0.9, eps=1e-8
``adam``       lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8
``adamax``     lr=0.002, beta1=0.9, beta2=0.999, eps=1e-8
``adamw``      lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01
=============  =========================================================

Every rule changes the param's array and its state arrays in place, with temporaries
from ``Optimizer.scratch``, so a step allocates nothing (the contract is in
:mod:`graphengine.optimizer`); the numbers are those of the formulas in each class's
docstring, float32 staying float32.

This package also offers learning-rate schedules (:class:`StepLR`, :class:`ExponentialLR`,
:class:`CosineLR`, :class:`WarmupLR`) and re-exports gradient clipping from the core
(:mod:`graphengine.clipping`, also ``ge.<name>``: :func:`clip_grad_norm`,
:func:`clip_grad_value`, :func:`global_grad_norm`).
"""

import graphengine as ge

from . import adam, adaptive, sgd
from ._checks import OptimizerConfigError
from .clipping import ClipError, clip_grad_norm, clip_grad_value, global_grad_norm
from .schedules import CosineLR, ExponentialLR, LRSchedule, ScheduleError, StepLR, WarmupLR

MODULES = (sgd, adaptive, adam)

__all__ = [
    "all_optimizers", "OptimizerConfigError", "LRSchedule", "StepLR", "ExponentialLR", "CosineLR", "WarmupLR",
    "ScheduleError", "clip_grad_norm", "clip_grad_value", "global_grad_norm", "ClipError",
]


def all_optimizers():
    """Every optimizer class defined in this package, in a stable order."""
    return ge.classes_defined_in(MODULES, ge.Optimizer)


@ge.hookimpl
def register_optimizers(register):
    for cls in all_optimizers():
        register(cls)
