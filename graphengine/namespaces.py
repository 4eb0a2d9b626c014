"""The registry views users type: ``ge.ops.<name>``, ``ge.optimizers.create``, ``ge.init.<name>``.

They read the default plugin manager (or one handed to them). ``ge.ops`` keeps the function
it made for each op name it was asked for as an ordinary attribute, so the next
``ge.ops.<name>`` is a plain attribute read; that function looks the op up by name, in its
graph's plugin manager, each time it adds a node.
"""

from __future__ import annotations

import functools

from .errors import GraphStructureError, UnknownOpError
from .node import Node
from .plugin_manager import RegistryView, shadowing_problem  # noqa: F401  (shadowing_problem: re-exported)


class OpsNamespace(RegistryView):
    """``ge.ops.<name>(*inputs, **attrs)`` adds an op node to the inputs' graph.

    Every registered op is an attribute; a misspelt name raises ``UnknownOpError``
    (an ``AttributeError``) that suggests the close names. The plugin manager refuses an op
    whose name this class has itself (``names``, ``manager``, ...): ``ge.ops.names`` could
    never reach it.
    """

    attribute_registry = "ops"
    shown_as = "ge.ops"

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        impl = self.manager.ops.get(name)
        if impl is None:
            impl = self.manager.get_op(name)  # UnknownOpError with suggestions
        # kept: Python finds it before asking __getattr__ again (an op named like an attribute
        # of this class is refused at registration, so it shadows nothing)
        function = self.__dict__[name] = _op_function(impl)
        return function

    def __dir__(self):
        return sorted(self.manager.ops)

    def names(self) -> list[str]:
        return sorted(self.manager.ops)

    def __repr__(self) -> str:
        return f"<ge.ops: {len(self.manager.ops)} ops>"


@functools.lru_cache(maxsize=4096)
def _op_function(impl):
    """The function ``ge.ops.<name>`` for the registered op ``impl`` (made once per op)."""
    name = impl.name

    def build(*inputs, name_=None, **attrs):
        for i in inputs:
            if isinstance(i, Node):
                return i.graph.apply(name, *inputs, name=attrs.pop("name", name_), **attrs)
        if any(isinstance(i, (list, tuple)) and any(isinstance(j, Node) for j in i) for i in inputs):
            raise GraphStructureError(
                f"ge.ops.{name}() takes its inputs as separate arguments: ge.ops.{name}(*nodes), not a list"
            )
        raise GraphStructureError(
            f"ge.ops.{name}() needs at least one graph node among its inputs to know which graph "
            "to add to; for constants only, use g.const(...) first"
        )

    build.__name__ = name
    build.__qualname__ = f"ops.{name}"
    build.__doc__ = type(impl).__doc__ or f"The {name} op."
    return build


class OptimizersNamespace(RegistryView):
    """``ge.optimizers.create(name, params, **hyper)`` and ``ge.optimizers.names()``."""

    def create(self, name: str, params, **hyper):
        return self.manager.lookup("optimizers", name)(params, **hyper)

    def get(self, name: str):
        return self.manager.lookup("optimizers", name)

    def names(self) -> list[str]:
        return sorted(self.manager.optimizers)


class RegularizersNamespace(RegistryView):
    """``ge.regularizers.create(name, strength=..., ...)`` and ``ge.regularizers.names()``."""

    def create(self, name: str, *args, **options):
        return self.manager.lookup("regularizers", name)(*args, **options)

    def get(self, name: str):
        return self.manager.lookup("regularizers", name)

    def names(self) -> list[str]:
        return sorted(self.manager.regularizers)


class InitNamespace(RegistryView):
    """``ge.init.<name>(shape, ...)`` returns an array made by that initializer plugin (an
    initializer named like an attribute of this class is refused, as for ``ge.ops``)."""

    attribute_registry = "initializers"
    shown_as = "ge.init"

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

