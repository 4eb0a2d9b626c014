"""The namespaces users type (``ge.ops``, ``ge.init``, ``ge.optimizers``): every registered
name is reachable, and a plugin cannot register a name the namespace itself would hide."""

import warnings

import numpy as np
import pytest

import graphengine as ge
from graphengine.namespaces import InitNamespace, OpsNamespace, OptimizersNamespace, shadowing_problem


class Named(ge.Op):
    def forward(self, xp, x):
        return x

    def backward(self, xp, grad, inputs, output):
        return (grad,)


def op_called(name):
    return type(f"Op_{name}", (Named,), {"name": name})()


def add_quietly(manager, plugin, name):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        info = manager.add_plugin(plugin, name=name)
    return info, [str(w.message) for w in record if issubclass(w.category, ge.PluginWarning)]


@pytest.mark.parametrize("op_name, shown", [
    ("names", "ge.ops.names, the namespace's own method"),
    ("manager", "ge.ops.manager, the namespace's own attribute"),
    ("_manager", "ge.ops._manager, the namespace's own attribute"),
])
def test_op_that_would_shadow_the_namespace_is_refused_naming_both(plugin_manager, op_name, shown):
    class Shadowing:
        @ge.hookimpl
        def register_ops(self, register):
            register(op_called(op_name))
            register(op_called("kept"))

    info, warned = add_quietly(plugin_manager, Shadowing(), "shadowing")
    assert info.status == "error" and info.registered == {"ops": ["kept"]}
    assert info.errors == [f"op {op_name!r} would be shadowed by {shown}: ge.ops.{op_name} would never "
                           "reach the op. Rename the op."]
    assert any("'shadowing'" in w and f"op {op_name!r}" in w for w in warned), warned
    assert op_name not in plugin_manager.ops
    ops = OpsNamespace(plugin_manager)
    assert "kept" in ops.names() and ops.manager is plugin_manager  # the namespace still works


def test_op_name_starting_with_double_underscore_is_refused(plugin_manager):
    class Dunder:
        @ge.hookimpl
        def register_ops(self, register):
            register(op_called("__secret"))

    info, _ = add_quietly(plugin_manager, Dunder(), "dunder")
    assert info.registered == {} and "ge.ops does not look up names starting with '__'" in info.errors[0]


def test_initializer_that_would_shadow_ge_init_is_refused(plugin_manager):
    class Names:
        name = "names"

        def __call__(self, shape, **options):
            return np.zeros(shape)

    class Plugin:
        @ge.hookimpl
        def register_initializers(self, register):
            register(Names())

    info, _ = add_quietly(plugin_manager, Plugin(), "init_names")
    assert info.errors == ["initializer 'names' would be shadowed by ge.init.names, the namespace's own method: "
                           "ge.init.names would never reach the initializer. Rename the initializer."]
    assert callable(InitNamespace(plugin_manager).names) and "names" not in InitNamespace(plugin_manager).names()


def test_optimizer_names_are_not_attributes_so_create_is_a_fine_name(plugin_manager):
    class Create(ge.Optimizer):
        name = "create"

        def update(self, xp, value, grad, state):
            return value - grad

    class Plugin:
        @ge.hookimpl
        def register_optimizers(self, register):
            register(Create)

    info, warned = add_quietly(plugin_manager, Plugin(), "create_plugin")
    assert info.status == "ok" and not warned
    assert OptimizersNamespace(plugin_manager).get("create") is Create
    assert shadowing_problem("optimizers", "create") == "" and shadowing_problem("regularizers", "names") == ""


def test_every_builtin_op_and_initializer_is_reachable_as_an_attribute(plugin_manager):
    ops, init = OpsNamespace(plugin_manager), InitNamespace(plugin_manager)
    for name in plugin_manager.ops:
        assert getattr(ops, name).__name__ == name
    for name in plugin_manager.initializers:
        assert getattr(init, name) is plugin_manager.initializers[name]


def test_misspelt_attribute_suggests_close_names(plugin_manager):
    with pytest.raises(AttributeError, match="Did you mean 'relu'"):
        OpsNamespace(plugin_manager).rleu
    with pytest.raises(ge.UnknownOpError, match="Did you mean 'zeros'"):
        InitNamespace(plugin_manager).zeroes


def test_op_function_is_kept_as_an_attribute_and_finds_the_op_in_the_graphs_manager(plugin_manager):
    ops = OpsNamespace(plugin_manager)
    tanh = ops.tanh
    assert ops.tanh is tanh and vars(ops)["tanh"] is tanh  # the next access is a plain attribute read
    g = ge.Graph("g", plugins=plugin_manager)
    x = g.input("x", shape=(2,))
    assert tanh(x).op == "tanh" and tanh(x, name="t").name == "t"
    with pytest.raises(ge.UnknownOpError, match="tanh"):
        ops.tanhh  # a misspelt name is not kept: it raises every time
    with pytest.raises(ge.UnknownOpError):
        ops.tanhh
    assert "tanhh" not in vars(ops)
    bare = ge.PluginManager(builtins=False, entry_points=False)
    with pytest.raises(ge.UnknownOpError, match="'tanh'"):  # looked up by name in the graph's own manager
        tanh(ge.Graph("bare", plugins=bare).input("x", shape=(2,)))
