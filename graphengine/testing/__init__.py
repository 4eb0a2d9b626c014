"""The conformance kit, public for plugin authors too.

* :func:`gradcheck` compares an op's backward against central finite differences along
  random directions, in float64, and on failure reports eps, tolerances, inputs and both
  gradients.
* :func:`check_op` runs every check on one op: forward against a reference, gradcheck,
  dtype preserved (float32 in, float32 out), output is an array, shape rule agrees with
  the forward result, broadcasting, and the same through a real graph.
* :func:`check_optimizer` trains a quadratic with an optimizer (it must descend) and
  round-trips its state; :func:`check_regularizer` checks a penalty's gradient against
  finite differences (or a decay / constraint's ``apply``).
* :func:`parametrize_with_checks` (with :func:`op_case`, :func:`optimizer_case`,
  :func:`regularizer_case`) turns the checks into one pytest test each; the pytest plugin
  (``graphengine.testing.pytest_plugin``, loaded automatically) adds fixtures.
"""

from .gradcheck import GradcheckError, gradcheck, numerical_gradient
from .opcheck import OpCheckError, check_op, op_checks
from .optimizer_check import OptimizerCheckError, check_optimizer, optimizer_checks
from .regularizer_check import RegularizerCheckError, check_regularizer, regularizer_checks

__all__ = ["gradcheck", "numerical_gradient", "GradcheckError", "check_op", "op_checks", "OpCheckError",
           "check_optimizer", "optimizer_checks", "OptimizerCheckError",
           "check_regularizer", "regularizer_checks", "RegularizerCheckError",
           "parametrize_with_checks", "checks_of", "op_case", "optimizer_case", "regularizer_case"]

_PYTEST_HELPERS = ("parametrize_with_checks", "checks_of", "op_case", "optimizer_case", "regularizer_case")


def __getattr__(name):
    # The pytest helpers live in the pytest plugin module, imported only when asked for,
    # so the kit's plain check functions work where pytest is not installed.
    if name in _PYTEST_HELPERS:
        from . import pytest_plugin

        return getattr(pytest_plugin, name)
    raise AttributeError(f"module 'graphengine.testing' has no attribute {name!r}")
