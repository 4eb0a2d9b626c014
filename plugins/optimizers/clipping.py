"""Gradient clipping lives in the core (:mod:`graphengine.clipping`, also ``ge.clip_grad_norm``
and friends); this module keeps the old import path working::

    from graphengine.plugins.optimizers import clip_grad_norm, clip_grad_value
"""

from graphengine import ClipError, clip_grad_norm, clip_grad_value, global_grad_norm

__all__ = ["ClipError", "clip_grad_norm", "clip_grad_value", "global_grad_norm"]
