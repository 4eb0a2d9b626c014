"""Applying regularizers around an optimizer step lives in the core
(:mod:`graphengine.regularization`, also ``ge.add_penalty_gradients`` and friends); this
module keeps the old import path working::

    from graphengine.plugins.regularizers import add_penalty_gradients, apply_after_step
"""

from graphengine import add_penalty_gradients, apply_after_step, penalty_value, regularized_step

__all__ = ["add_penalty_gradients", "apply_after_step", "penalty_value", "regularized_step"]
