"""Hook specifications: what a graphengine plugin can provide.

Each hook is called with keyword arguments only and hands the plugin a ``register``
callback that takes one object with a ``name``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("graphengine")
hookimpl = pluggy.HookimplMarker("graphengine")


@hookspec
def register_ops(register):
    """Register ops: call ``register(op)`` with an instance of a ``ge.Op`` subclass."""


@hookspec
def register_optimizers(register):
    """Register optimizers: call ``register(cls)`` with a subclass of ``ge.Optimizer``."""


@hookspec
def register_regularizers(register):
    """Register regularizers: call ``register(cls)`` with a subclass of ``ge.Regularizer``."""


@hookspec
def register_initializers(register):
    """Register initializers: call ``register(init)`` with a callable instance that has a ``name``
    (``init(shape, *, dtype="float32", seed=None, rng=None, **options)`` returns an array;
    ``graphengine.plugins.initializers.Initializer`` is a base class for it)."""


@hookspec
def register_node_styles(register):
    """Register diagram node styles: call ``register(style)`` with a ``graphengine.visualize.NodeStyle``
    instance (a ``name`` and ``style(node)`` returning Graphviz attributes or None)."""
