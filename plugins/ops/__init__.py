"""The standard op library, registered through the ``register_ops`` hook."""

import graphengine as ge

from . import activations, elementwise, linalg, losses, reductions, shape

MODULES = (elementwise, linalg, shape, reductions, activations, losses)


def all_ops():
    """One instance of every op class defined in this package, in a stable order."""
    ops = []
    for module in MODULES:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ge.Op) and obj.__module__ == module.__name__ and obj.name:
                ops.append(obj())
    return ops


@ge.hookimpl
def register_ops(register):
    for op in all_ops():
        register(op)
