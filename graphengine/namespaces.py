"""The registry views users type: ``ge.ops.<name>``, ``ge.optimizers.create``, ``ge.init.<name>``.

They read the default plugin manager (or one handed to them); they hold no state.
"""

from __future__ import annotations

import inspect

from .errors import GraphStructureError, UnknownOpError
from .node import Node


class _RegistryView:
    """Reads the registries of a plugin manager (by default, the default one)."""

    def __init__(self, manager=None):
        self._manager = manager

    @property
    def manager(self):
        if self._manager is not None:
            return self._manager
        from .plugin_manager import default_manager

        return default_manager()


class OpsNamespace(_RegistryView):
    """``ge.ops.<name>(*inputs, **attrs)`` adds an op node to the inputs' graph.

    Every registered op is an attribute; a misspelt name raises ``UnknownOpError``
    (an ``AttributeError``) that suggests the close names.
    """

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        impl = self.manager.get_op(name)  # UnknownOpError with suggestions
        return _op_function(impl)

    def __dir__(self):
        return sorted(self.manager.ops)

    def names(self) -> list[str]:
        return sorted(self.manager.ops)

    def __repr__(self) -> str:
        return f"<ge.ops: {len(self.manager.ops)} ops>"


def _op_function(impl):
    name = impl.name

    def build(*inputs, name_=None, **attrs):
        graph = next((i.graph for i in inputs if isinstance(i, Node)), None)
        if graph is None and any(isinstance(i, (list, tuple)) and any(isinstance(j, Node) for j in i) for i in inputs):
            raise GraphStructureError(
                f"ge.ops.{name}() takes its inputs as separate arguments: ge.ops.{name}(*nodes), not a list"
            )
        if graph is None:
            raise GraphStructureError(
                f"ge.ops.{name}() needs at least one graph node among its inputs to know which graph "
                "to add to; for constants only, use g.const(...) first"
            )
        node_name = attrs.pop("name", name_)
        return graph.apply(name, *inputs, name=node_name, **attrs)

    build.__name__ = name
    build.__qualname__ = f"ops.{name}"
    build.__doc__ = type(impl).__doc__ or f"The {name} op."
    return build


class OptimizersNamespace(_RegistryView):
    """``ge.optimizers.create(name, params, **hyper)`` and ``ge.optimizers.names()``."""

    def create(self, name: str, params, **hyper):
        return self.manager.lookup("optimizers", name)(params, **hyper)

    def get(self, name: str):
        return self.manager.lookup("optimizers", name)

    def names(self) -> list[str]:
        return sorted(self.manager.optimizers)


class RegularizersNamespace(_RegistryView):
    """``ge.regularizers.create(name, strength=..., ...)`` and ``ge.regularizers.names()``."""

    def create(self, name: str, *args, **options):
        return self.manager.lookup("regularizers", name)(*args, **options)

    def get(self, name: str):
        return self.manager.lookup("regularizers", name)

    def names(self) -> list[str]:
        return sorted(self.manager.regularizers)


class InitNamespace(_RegistryView):
    """``ge.init.<name>(shape, ...)`` returns an array made by that initializer plugin."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self.manager.initializers:
            from .errors import did_you_mean

            raise UnknownOpError(
                f"no initializer named {name!r} is registered." + did_you_mean(name, self.manager.initializers)
                + f" Available: {', '.join(sorted(self.manager.initializers))}."
            )
        return self.manager.initializers[name]

    def __dir__(self):
        return sorted(self.manager.initializers)

    def names(self) -> list[str]:
        return sorted(self.manager.initializers)


# registry kind -> (what users type, the namespace class that turns registered names into attributes)
_ATTRIBUTE_NAMESPACES = {"ops": ("ge.ops", OpsNamespace), "initializers": ("ge.init", InitNamespace)}
_MISSING = object()


def shadowing_problem(kind: str, name: str) -> str:
    """Why ``name`` cannot be registered in registry ``kind`` because the namespace users type
    (``ge.ops``, ``ge.init``) would never reach it, or "" when it can.

    A registered name becomes an attribute of its namespace through ``__getattr__``, which is
    only asked for names the namespace does not have itself: an op called ``names`` would be
    hidden by ``ge.ops.names()``. Registries read by name only (optimizers, regularizers,
    node styles) have no such attribute names.

    >>> shadowing_problem("ops", "names")[:40]
    "op 'names' would be shadowed by ge.ops.n"
    >>> shadowing_problem("ops", "swish"), shadowing_problem("optimizers", "create")
    ('', '')
    """
    if kind not in _ATTRIBUTE_NAMESPACES:
        return ""
    shown, namespace = _ATTRIBUTE_NAMESPACES[kind]
    what = "op" if kind == "ops" else "initializer"
    if name.startswith("__"):
        return (f"{what} {name!r} cannot be reached as {shown}.{name}: {shown} does not look up names "
                f"starting with '__' (Python's own attributes). Rename the {what}.")
    # the namespace's own attribute, found the way Python finds it before __getattr__ is asked
    own = inspect.getattr_static(namespace(manager=None), name, _MISSING)
    if own is _MISSING:
        return ""
    kind_of = "method" if callable(own) or isinstance(own, (staticmethod, classmethod)) else "attribute"
    return (f"{what} {name!r} would be shadowed by {shown}.{name}, the namespace's own {kind_of}: "
            f"{shown}.{name} would never reach the {what}. Rename the {what}.")
