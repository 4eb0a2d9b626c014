"""The plugin host: built-ins through the same hooks, registries per manager, listing."""

import json
import re
import warnings

import numpy as np
import pytest

import graphengine as ge


class Swish(ge.Op):
    name = "swish"
    saves = ("inputs",)

    def forward(self, xp, x):
        return x / (1 + xp.exp(-x))

    def backward(self, xp, grad, inputs, output):
        (x,) = inputs
        s = 1 / (1 + xp.exp(-x))
        return (grad * (s + x * s * (1 - s)),)

    def shape(self, x):
        return x


class SwishPlugin:
    @ge.hookimpl
    def register_ops(self, register):
        register(Swish())


def test_builtin_ops_come_through_the_hooks(plugin_manager):
    info = plugin_manager.plugins["ops"]
    assert info.origin == "builtin" and info.status == "ok"
    assert info.hooks == ["register_ops"]
    assert "sigmoid" in info.registered["ops"]
    assert plugin_manager.owner_of("ops", "sigmoid") == "ops"


def test_managers_do_not_share_registries(plugin_manager):
    other = ge.PluginManager(entry_points=False)
    plugin_manager.add_plugin(SwishPlugin(), name="swish_plugin")
    assert "swish" in plugin_manager.ops and "swish" not in other.ops


def test_plugin_op_usable_in_a_graph_with_that_manager(plugin_manager):
    plugin_manager.add_plugin(SwishPlugin(), name="swish_plugin")
    g = ge.Graph(plugins=plugin_manager)
    x = g.input("x", shape=(3,))
    y = g.apply("swish", x)
    total = ge.ops.sum(y)
    run = g.forward({"x": np.array([-1.0, 0.0, 2.0])}).backward(total)
    np.testing.assert_allclose(run.value(y), np.array([-1.0, 0.0, 2.0]) / (1 + np.exp([1.0, 0.0, -2.0])))


def test_broken_plugin_is_reported_and_the_rest_keeps_working(plugin_manager):
    class Broken:
        @ge.hookimpl
        def register_ops(self, register):
            register(Swish())
            raise RuntimeError("half-way failure")

    with pytest.warns(ge.PluginWarning, match="half-way failure"):
        info = plugin_manager.add_plugin(Broken(), name="broken")
    assert info.status == "error" and "RuntimeError: half-way failure" in info.errors[0]
    assert "swish" not in plugin_manager.ops  # nothing half-registered
    assert "tanh" in plugin_manager.ops


def test_duplicate_name_is_refused_naming_both(plugin_manager):
    class Again:
        @ge.hookimpl
        def register_ops(self, register):
            register(Swish())

    plugin_manager.add_plugin(SwishPlugin(), name="first")
    with pytest.warns(ge.PluginWarning) as record:
        info = plugin_manager.add_plugin(Again(), name="second")
    message = str(record[0].message)
    assert "'first'" in message and "'second'" in message and "swish" in message
    assert info.status == "error"
    assert plugin_manager.owner_of("ops", "swish") == "first"


def test_registering_something_that_is_not_an_op_is_refused(plugin_manager):
    class Wrong:
        @ge.hookimpl
        def register_ops(self, register):
            register(object())

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        info = plugin_manager.add_plugin(Wrong(), name="wrong")
    assert info.status == "error" and "which is not an Op" in info.errors[0] and "plugin 'wrong'" in info.errors[0]


def test_plugins_list_as_dicts():
    listing = ge.plugins.list()
    ops = next(p for p in listing if p["name"] == "ops")
    assert ops["status"] == "ok" and "tanh" in ops["registered"]["ops"]
    json.dumps(listing)  # JSON-serializable


def test_unknown_names_suggest_close_ones(plugin_manager):
    with pytest.raises(ge.UnknownOpError, match="'tanh'"):
        plugin_manager.get_op("tahn")


# ------------------------------------------------------------------------- anything but Ctrl-C

class _Halting(BaseException):
    """A BaseException that is not SystemExit or KeyboardInterrupt (as some frameworks define)."""


@pytest.mark.parametrize("exc, shown", [
    (SystemExit(3), "SystemExit: 3 (the plugin called sys.exit()"),
    (_Halting("stop everything"), "_Halting: stop everything"),
    (MemoryError("too big"), "MemoryError: too big"),
])
def test_hook_raising_any_base_exception_is_reported(plugin_manager, exc, shown):
    class Exits:
        @ge.hookimpl
        def register_ops(self, register):
            register(Swish())
            raise exc

        @ge.hookimpl
        def register_optimizers(self, register):
            register(ge.optimizers.get("sgd"))  # refused as a duplicate, but the hook runs

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        info = plugin_manager.add_plugin(Exits(), name="exits")
    assert info.status == "error" and info.errors[0].startswith(f"register_ops raised {shown}")
    assert any("'exits'" in str(w.message) and shown in str(w.message) for w in record)
    assert "swish" not in plugin_manager.ops and "tanh" in plugin_manager.ops
    assert any("'sgd'" in e for e in info.errors[1:])  # the other hook still ran


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), BaseExceptionGroup("many", [KeyboardInterrupt()])])
def test_ctrl_c_in_a_hook_goes_through_and_leaves_the_manager_as_it_was(plugin_manager, interrupt):
    class Interrupted:
        @ge.hookimpl
        def register_ops(self, register):  # runs first (hooks run in name order)
            register(Swish())

        @ge.hookimpl
        def register_optimizers(self, register):
            raise interrupt

    before = {kind: dict(registry) for kind, registry in plugin_manager.registries.items()}
    with pytest.raises(type(interrupt)):
        plugin_manager.add_plugin(Interrupted(), name="interrupted")
    assert plugin_manager.registries == before and "interrupted" not in plugin_manager.plugins
    assert plugin_manager.owner_of("ops", "swish") is None
    info = plugin_manager.add_plugin(SwishPlugin(), name="interrupted")  # the name is free again
    assert info.status == "ok" and info.registered == {"ops": ["swish"]}


# ------------------------------------------------------------------------- hook names

def test_unknown_hook_is_reported_and_the_known_ones_still_run(plugin_manager):
    class Misspelt:
        @ge.hookimpl
        def register_op(self, register):
            register(Swish())

        @ge.hookimpl
        def register_optimizer(self, register):
            pass

        @ge.hookimpl
        def register_initializers(self, register):
            pass

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        info = plugin_manager.add_plugin(Misspelt(), name="misspelt")
    assert [str(w.message).split(": ")[1] for w in record] == ["unknown hook 'register_op'",
                                                               "unknown hook 'register_optimizer'"]
    assert info.status == "error" and info.hooks == ["register_initializers"]
    assert [e.split(":")[0] for e in info.errors] == ["unknown hook 'register_op'", "unknown hook 'register_optimizer'"]
    assert "Did you mean 'register_optimizers'" in info.errors[1]
    assert "swish" not in plugin_manager.ops


def test_optional_hook_of_a_newer_graphengine_is_not_an_error(plugin_manager):
    class Newer(SwishPlugin):
        @ge.hookimpl(optionalhook=True)
        def register_losses(self, register):
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = plugin_manager.add_plugin(Newer(), name="newer")
    assert info.status == "ok" and info.errors == [] and "swish" in plugin_manager.ops


def test_hook_without_the_marker_is_reported(plugin_manager):
    class Unmarked:
        def register_ops(self, register):
            register(Swish())

    with pytest.warns(ge.PluginWarning, match="register_ops is not decorated with @ge.hookimpl"):
        info = plugin_manager.add_plugin(Unmarked(), name="unmarked")
    assert info.status == "error" and len(info.errors) == 1 and "swish" not in plugin_manager.ops


def test_plugin_with_no_hook_at_all_is_reported(plugin_manager):
    import types

    with pytest.warns(ge.PluginWarning, match="'nothing'.*implements no graphengine hook"):
        info = plugin_manager.add_plugin(types.ModuleType("nothing_here"), name="nothing")
    assert info.status == "error" and info.registered == {}


# ------------------------------------------------------------------------- the register callback

def test_hook_that_returns_its_objects_instead_of_registering_them_is_reported(plugin_manager):
    class Returns:
        @ge.hookimpl
        def register_ops(self, register):
            return [Swish()]

    with pytest.warns(ge.PluginWarning, match=r"register_ops returned \[<Op swish>\], which is ignored: "
                                              r"a hook registers each object by calling register\(obj\)"):
        info = plugin_manager.add_plugin(Returns(), name="returns")
    assert info.status == "error" and "swish" not in plugin_manager.ops


def test_register_kept_and_called_after_the_hook_returned_is_refused(plugin_manager):
    class Lazy:
        @ge.hookimpl
        def register_ops(self, register):
            self.register = register

    lazy = Lazy()
    assert plugin_manager.add_plugin(lazy, name="lazy").status == "ok"
    with pytest.raises(ge.PluginError, match="plugin 'lazy' called the register\\(\\) of its register_ops hook "
                                             "after the hook returned"):
        lazy.register(Swish())
    assert "swish" not in plugin_manager.ops


def _plugin_registering(hook, obj):
    def hook_function(self, register):
        register(obj)

    hook_function.__name__ = hook
    return type("OneObject", (), {hook: ge.hookimpl(hook_function)})()


class _Nameless(ge.Op):
    def forward(self, xp, x):
        return x


@pytest.mark.parametrize("hook, obj, says", [
    ("register_ops", object(), r"register\(\) for ops got an object \(<object object at .*>\), "
                               r"which is not an Op: register\(\) needs an instance of a ge.Op subclass"),
    ("register_ops", [1, 2], r"got a list \(\[1, 2\]\), which is not an Op"),
    ("register_ops", Swish, r"got the class .*Swish, not an Op instance: .* register\(Swish\(\)\)"),
    ("register_ops", _Nameless(), r"register\(\) for ops got a .*_Nameless \(<Op >\) whose name "
                                  r"is ''; every registered op needs a `name` that is a Python identifier"),
    ("register_optimizers", "sgd", r"got a str \('sgd'\), which is not a ge.Optimizer subclass: register\(\) needs a "
                                   r"subclass of ge.Optimizer"),
    ("register_initializers", 3, r"got an int \(3\), which is not a callable instance"),
    ("register_node_styles", None, r"got a NoneType \(None\), which is not a node style"),
])
def test_registering_the_wrong_kind_of_object_names_the_plugin_and_the_objects_type(plugin_manager, hook, obj, says):
    with pytest.warns(ge.PluginWarning, match=r"graphengine plugin 'odd'") as record:
        info = plugin_manager.add_plugin(_plugin_registering(hook, obj), name="odd")
    assert info.status == "error" and len(info.errors) == 1
    assert info.errors[0].startswith("plugin 'odd': register() for ") and re.search(says, info.errors[0]), \
        info.errors[0]
    assert "whose name is None" not in info.errors[0] and len(record) == 1
    assert not info.registered
