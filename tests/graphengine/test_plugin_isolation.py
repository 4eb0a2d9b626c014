"""Plugin isolation: a broken plugin is reported and skipped (even one that calls
``sys.exit()``), a misspelt hook is reported, a duplicate name (an op, or an entry point
of two distributions) is refused naming both, GRAPHENGINE_PLUGINS loads only the named
ones, and ``graphengine plugins --json`` shows all of it with the built-in rows intact.

The plugins here are real distributions as far as ``importlib.metadata`` is concerned: a
``*.dist-info`` folder with an ``entry_points.txt`` in a folder put on ``sys.path``
(installing them with pip is what tests/plugins_e2e does, at venv speed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import graphengine as ge
from graphengine.plugin_manager import ENV_ONLY

REPO = Path(__file__).resolve().parents[2]

GOOD = """
    import graphengine as ge

    class Twice(ge.Op):
        name = "twice"
        def forward(self, xp, x):
            return x * 2
        def backward(self, xp, grad, inputs, output):
            return (grad * 2,)

    @ge.hookimpl
    def register_ops(register):
        register(Twice())
"""

TWIN = """
    import graphengine as ge

    class Twice(ge.Op):
        name = "twice"
        def forward(self, xp, x):
            return x + x
        def backward(self, xp, grad, inputs, output):
            return (grad * 2,)

    class Thrice(ge.Op):
        name = "thrice"
        def forward(self, xp, x):
            return x * 3
        def backward(self, xp, grad, inputs, output):
            return (grad * 3,)

    @ge.hookimpl
    def register_ops(register):
        register(Twice())
        register(Thrice())
"""

IMPORT_ERROR = """
    import graphengine as ge
    import a_module_that_is_not_installed
"""

HOOK_RAISES = """
    import graphengine as ge

    class Half(ge.Op):
        name = "half"
        def forward(self, xp, x):
            return x / 2
        def backward(self, xp, grad, inputs, output):
            return (grad / 2,)

    class Sink(ge.Optimizer):
        name = "sink"
        def update(self, xp, value, grad, state):
            return value - grad

    @ge.hookimpl
    def register_ops(register):
        register(Half())
        raise RuntimeError("boom while registering ops")

    @ge.hookimpl
    def register_optimizers(register):
        register(Sink)
"""

EXITS_AT_IMPORT = """
    import argparse
    import graphengine as ge

    parser = argparse.ArgumentParser(prog="exiting-plugin")
    parser.add_argument("--size", type=int, required=True)
    OPTIONS = parser.parse_args(["--unknown-option"])  # the program's argv, often: argparse exits
"""

MISSPELT_HOOK = """
    import graphengine as ge

    class Half(ge.Op):
        name = "half"
        def forward(self, xp, x):
            return x / 2
        def backward(self, xp, grad, inputs, output):
            return (grad / 2,)

    @ge.hookimpl
    def register_op(register):
        register(Half())
"""

NO_HOOK_HERE = """
    # an entry point naming the package while its hooks live in a submodule
    PLUGIN_MODULE = "elsewhere"
"""

WRONG_OBJECTS = """
    import graphengine as ge

    @ge.hookimpl
    def register_ops(register):
        register(lambda x: x)

    @ge.hookimpl
    def register_optimizers(register):
        register(object())
"""

BUILTIN_CLASH = """
    import graphengine as ge

    class MyRelu(ge.Op):
        name = "relu"
        def forward(self, xp, x):
            return x
        def backward(self, xp, grad, inputs, output):
            return (grad,)

    @ge.hookimpl
    def register_ops(register):
        register(MyRelu())
"""


class FakeSite:
    """A folder on sys.path holding plugin modules and the dist-info that declares them."""

    def __init__(self, root: Path, monkeypatch):
        self.root = root
        self.modules: list[str] = []
        self._monkeypatch = monkeypatch
        monkeypatch.syspath_prepend(str(root))

    def install(self, dist: str, entry_point: str, module: str, source: str, version: str = "1.0"):
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[graphengine]\n{entry_point} = {module}\n")
        self.modules.append(module)

    def forget(self):
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_ONLY, raising=False)
    (tmp_path / "site").mkdir()
    fake = FakeSite(tmp_path / "site", monkeypatch)
    yield fake
    fake.forget()


def load(**kwargs):
    """A fresh plugin manager (built-ins and entry points) and the PluginWarnings it gave."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        manager = ge.PluginManager(**kwargs)
    return manager, [str(w.message) for w in record if issubclass(w.category, ge.PluginWarning)]


# ------------------------------------------------------------------------- broken plugins

def test_plugin_that_fails_to_import_is_reported_and_skipped(site):
    site.install("ge-good", "good", "ge_iso_good", GOOD)
    site.install("ge-broken", "broken", "ge_iso_broken", IMPORT_ERROR, version="2.3")
    manager, warned = load()
    broken = manager.plugins["broken"]
    assert broken.status == "error"
    assert broken.version == "2.3" and "ge-broken" in broken.origin
    assert "import failed: ModuleNotFoundError" in broken.errors[0]
    assert "a_module_that_is_not_installed" in broken.errors[0]
    assert any("'broken'" in w and "a_module_that_is_not_installed" in w for w in warned), warned
    # the others keep working
    assert manager.plugins["good"].status == "ok"
    assert manager.plugins["ops"].status == "ok"
    assert "twice" in manager.ops and "relu" in manager.ops


def test_hook_that_raises_keeps_nothing_of_that_hook_but_the_other_hooks(site):
    site.install("ge-hook-raises", "raises", "ge_iso_raises", HOOK_RAISES)
    manager, warned = load()
    info = manager.plugins["raises"]
    assert info.status == "error"
    assert info.errors == ["register_ops raised RuntimeError: boom while registering ops"]
    assert "half" not in manager.ops  # no half registrations
    assert "sink" in manager.optimizers and info.registered == {"optimizers": ["sink"]}
    assert any("boom while registering ops" in w and "'raises'" in w for w in warned)


def test_plugin_that_calls_sys_exit_at_import_is_reported_and_the_program_goes_on(site, capsys):
    site.install("ge-good", "good", "ge_iso_good", GOOD)
    site.install("ge-exits", "exits", "ge_iso_exits", EXITS_AT_IMPORT, version="0.4")
    manager, warned = load()  # a SystemExit escaping here would end the test run
    info = manager.plugins["exits"]
    assert info.status == "error" and info.version == "0.4" and "ge-exits" in info.origin
    assert info.errors[0].startswith("import failed: SystemExit: 2 (the plugin called sys.exit()")
    assert any("'exits'" in w and "SystemExit" in w and "argparse" in w for w in warned), warned
    assert "exiting-plugin: error: the following arguments are required: --size" in capsys.readouterr().err
    assert manager.plugins["good"].status == "ok" and "twice" in manager.ops
    assert manager.plugins["ops"].status == "ok" and "relu" in manager.ops


def test_misspelt_hook_is_reported_with_the_right_name(site):
    site.install("ge-misspelt", "misspelt", "ge_iso_misspelt", MISSPELT_HOOK)
    manager, warned = load()
    info = manager.plugins["misspelt"]
    assert info.status == "error" and info.registered == {} and info.hooks == []
    assert len(info.errors) == 1
    assert info.errors[0].startswith("unknown hook 'register_op': graphengine has no hook of that name")
    assert "Did you mean 'register_ops'" in info.errors[0]
    assert any("'misspelt'" in w and "'register_op'" in w for w in warned), warned
    assert "half" not in manager.ops


def test_entry_point_module_without_hooks_is_reported(site):
    site.install("ge-empty", "empty", "ge_iso_empty", NO_HOOK_HERE)
    manager, _ = load()
    info = manager.plugins["empty"]
    assert info.status == "error"
    assert info.errors == [
        "implements no graphengine hook, so it registers nothing: a hook is a function decorated with "
        "@ge.hookimpl and named like one of register_ops, register_optimizers, register_regularizers, "
        "register_initializers, register_node_styles (check that the entry point names the module that "
        "defines them)"]


def test_two_distributions_with_one_entry_point_name_are_both_listed(site):
    # both declare `twin`; the distribution whose name sorts first keeps it, whatever order the
    # file system lists them in
    site.install("ge-first", "twin", "ge_iso_first", GOOD, version="1.0")
    site.install("ge-second", "twin", "ge_iso_second", BUILTIN_CLASH, version="2.0")
    manager, warned = load()
    first = manager.plugins["twin"]
    assert first.status == "ok" and "ge-first" in first.origin and first.registered == {"ops": ["twice"]}
    second = manager.plugins["twin (ge-second)"]
    assert second.status == "error" and second.version == "2.0" and "ge_iso_second" in second.origin
    message = second.errors[0]
    assert message.startswith("entry-point name 'twin' is taken: the plugin from entry point ge_iso_first "
                              "(ge-first) has that name already")
    assert "this plugin is not loaded" in message and "rename the entry point" in message
    assert "ge_iso_second" not in sys.modules  # not imported
    assert any("ge-second" in w and "ge-first" in w for w in warned), warned


def test_entry_point_named_like_a_builtin_keeps_the_builtin_row(site):
    site.install("ge-shadow", "ops", "ge_iso_shadow", GOOD)
    manager, warned = load()
    builtin = manager.plugins["ops"]
    assert builtin.origin == "builtin" and builtin.status == "ok" and "relu" in builtin.registered["ops"]
    shadow = manager.plugins["ops (ge-shadow)"]
    assert shadow.status == "error"
    assert "'ops' is the name of the built-in plugin graphengine.plugins.ops" in shadow.errors[0]
    assert "twice" not in manager.ops
    assert any("ge-shadow" in w for w in warned), warned


def test_wrong_objects_are_refused_with_what_to_register(site):
    site.install("ge-wrong", "wrong", "ge_iso_wrong", WRONG_OBJECTS)
    manager, _ = load()
    errors = " | ".join(manager.plugins["wrong"].errors)
    assert "which is not an Op" in errors and "which is not a ge.Optimizer subclass" in errors
    assert manager.plugins["wrong"].registered == {}


def test_unknown_op_error_points_at_the_broken_plugin(site):
    site.install("ge-broken", "broken", "ge_iso_broken", IMPORT_ERROR)
    manager, _ = load()
    with pytest.raises(ge.UnknownOpError, match=r"Plugins that failed to load: broken"):
        manager.get_op("twice")


# ------------------------------------------------------------------------- duplicates

def test_duplicate_op_name_is_refused_naming_both_plugins(site):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD)
    site.install("ge-b", "beta", "ge_iso_beta", TWIN)
    manager, warned = load()
    # entry points load in name order: alpha first, its `twice` stays
    assert manager.owner_of("ops", "twice") == "alpha"
    beta = manager.plugins["beta"]
    assert beta.status == "error"
    message = beta.errors[0]
    assert "'twice'" in message and "'alpha'" in message and "'beta'" in message
    assert any("'twice'" in w and "'alpha'" in w and "'beta'" in w for w in warned)
    # never a silent override, and beta's other op is still registered
    import numpy as np

    assert manager.get_op("twice").forward(np, np.array(3.0)) == 6.0
    assert beta.registered == {"ops": ["thrice"]}


def test_plugin_cannot_replace_a_builtin(site):
    site.install("ge-clash", "clash", "ge_iso_clash", BUILTIN_CLASH)
    manager, _ = load()
    assert manager.owner_of("ops", "relu") == "ops"
    assert "plugin 'ops'" in manager.plugins["clash"].errors[0]
    assert "plugin 'clash'" in manager.plugins["clash"].errors[0]


def test_add_plugin_refuses_a_taken_plugin_name(plugin_manager):
    import types

    with pytest.raises(ge.PluginError, match="already loaded"):
        plugin_manager.add_plugin(types.ModuleType("anything"), name="ops")


# ------------------------------------------------------------------------- GRAPHENGINE_PLUGINS

def test_env_var_loads_only_the_named_plugins(site, monkeypatch):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD)
    site.install("ge-broken", "broken", "ge_iso_broken", IMPORT_ERROR)
    monkeypatch.setenv(ENV_ONLY, "alpha")
    manager, warned = load()
    assert manager.plugins["alpha"].status == "ok" and "twice" in manager.ops
    broken = manager.plugins["broken"]
    assert broken.status == "disabled" and ENV_ONLY in broken.errors[0]
    assert "ge_iso_broken" not in sys.modules  # not even imported
    assert not warned
    # built-in plugins are not entry points: they always load
    assert manager.plugins["ops"].status == "ok"


def test_env_var_takes_a_comma_separated_list(site, monkeypatch):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD)
    site.install("ge-h", "raises", "ge_iso_raises", HOOK_RAISES)
    monkeypatch.setenv(ENV_ONLY, " raises , alpha ")
    manager, _ = load()
    assert manager.plugins["alpha"].status == "ok"
    assert manager.plugins["raises"].status == "error"


def test_empty_env_var_disables_every_entry_point_plugin(site, monkeypatch):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD)
    monkeypatch.setenv(ENV_ONLY, "")
    manager, _ = load()
    assert manager.plugins["alpha"].status == "disabled"
    assert "twice" not in manager.ops


def test_only_argument_wins_over_the_env_var(site, monkeypatch):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD)
    monkeypatch.setenv(ENV_ONLY, "nothing")
    manager, _ = load(only=["alpha"])
    assert manager.plugins["alpha"].status == "ok"


# ------------------------------------------------------------------------- the CLI

def cli_plugins(site, *args, env=None):
    environment = {k: v for k, v in os.environ.items() if k != ENV_ONLY}
    environment["PYTHONPATH"] = os.pathsep.join([str(site.root), str(REPO)])
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "graphengine.cli", "plugins", *args], capture_output=True,
                          text=True, env=environment, cwd=site.root, timeout=120)


def test_cli_plugins_json_reports_broken_duplicate_and_disabled_plugins(site):
    site.install("ge-a", "alpha", "ge_iso_alpha", GOOD, version="1.2")
    site.install("ge-b", "beta", "ge_iso_beta", TWIN)
    site.install("ge-broken", "broken", "ge_iso_broken", IMPORT_ERROR)
    site.install("ge-shadow", "ops", "ge_iso_shadow", GOOD)
    site.install("ge-exits", "exits", "ge_iso_exits", EXITS_AT_IMPORT)
    proc = cli_plugins(site, "--json")
    assert proc.returncode == 0, proc.stderr
    infos = {info["name"]: info for info in json.loads(proc.stdout)}
    assert infos["ops"]["origin"] == "builtin" and infos["ops (ge-shadow)"]["status"] == "error"
    assert infos["exits"]["status"] == "error" and "SystemExit" in infos["exits"]["errors"][0]
    assert set(infos["alpha"]) == {"name", "version", "origin", "status", "errors", "hooks", "registered"}
    assert infos["alpha"]["version"] == "1.2" and infos["alpha"]["registered"] == {"ops": ["twice"]}
    assert infos["alpha"]["hooks"] == ["register_ops"]
    assert infos["beta"]["status"] == "error" and "'alpha'" in infos["beta"]["errors"][0]
    assert infos["broken"]["status"] == "error" and "import failed" in infos["broken"]["errors"][0]
    assert infos["ops"]["status"] == "ok" and "relu" in infos["ops"]["registered"]["ops"]

    disabled = json.loads(cli_plugins(site, "--json", env={ENV_ONLY: "beta"}).stdout)
    statuses = {info["name"]: info["status"] for info in disabled}
    assert statuses["alpha"] == "disabled" and statuses["broken"] == "disabled" and statuses["beta"] == "ok"


def test_cli_plugins_text_shows_errors(site):
    site.install("ge-broken", "broken", "ge_iso_broken", IMPORT_ERROR)
    proc = cli_plugins(site)
    assert proc.returncode == 0, proc.stderr
    assert "broken 1.0  [error]" in proc.stdout
    assert "error: import failed: ModuleNotFoundError" in proc.stdout
