"""Weight initializers, registered through the ``register_initializers`` hook.

Each is reached as ``ge.init.<name>`` and called with a shape::

    W = g.param("W", ge.init.normal((3, 1), std=0.1, seed=0))
    b = g.param("b", ge.init.zeros((1,)))
    W1 = g.param("W1", ge.init.he_normal((784, 128), rng=rng))

Registered names: zeros, ones, constant, normal, uniform, xavier_normal, xavier_uniform,
glorot_normal, glorot_uniform, he_normal, he_uniform, kaiming_normal, kaiming_uniform.
Every one takes ``dtype`` (default float32), ``seed`` and ``rng`` (see :mod:`.base`).
"""

import graphengine as ge

from . import basic, variance_scaling
from .base import Initializer, InitializerError, InitializerOptionError, fan_in_and_fan_out

MODULES = (basic, variance_scaling)

__all__ = ["Initializer", "InitializerError", "InitializerOptionError", "fan_in_and_fan_out", "all_initializers"]


def all_initializers():
    """One instance of every initializer class defined in this package, in a stable order."""
    found = []
    for module in MODULES:
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Initializer) and obj.__module__ == module.__name__
                    and obj.name):
                found.append(obj())
    return found


@ge.hookimpl
def register_initializers(register):
    for init in all_initializers():
        register(init)
