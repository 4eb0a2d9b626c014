"""The standard op library, registered through the ``register_ops`` hook."""

import graphengine as ge

from . import activations, elementwise, linalg, losses, reductions, shape
from . import einsum, sorting
from . import normalization
from . import pooling
from . import convolution
from . import indexing, logic
from . import special

MODULES = (elementwise, linalg, shape, reductions, activations, losses, normalization, pooling, convolution, sorting, einsum, indexing, logic, special)


def all_ops():
    """One instance of every op class defined in this package, in a stable order."""
    return [cls() for cls in ge.classes_defined_in(MODULES, ge.Op)]


@ge.hookimpl
def register_ops(register):
    for op in all_ops():
        register(op)
