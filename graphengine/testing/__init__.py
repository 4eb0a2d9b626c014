"""The op conformance kit, public for plugin authors too.

* :func:`gradcheck` compares an op's backward against central finite differences along
  random directions, in float64, and on failure reports eps, tolerances, inputs and both
  gradients.
* :func:`check_op` runs every check on one op: forward against a reference, gradcheck,
  dtype preserved (float32 in, float32 out), output is an array, shape rule agrees with
  the forward result, broadcasting, and the same through a real graph.
"""

from .gradcheck import GradcheckError, gradcheck, numerical_gradient
from .opcheck import OpCheckError, check_op, op_checks

__all__ = ["gradcheck", "numerical_gradient", "GradcheckError", "check_op", "op_checks", "OpCheckError"]
