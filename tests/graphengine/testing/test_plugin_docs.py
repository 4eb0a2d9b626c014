"""docs/plugins.md documents every hook with its exact signature and the whole testing
kit; the README links it; the example package's README names what the package adds."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import graphengine as ge
import graphengine.testing
from graphengine import hookspecs
from graphengine.plugin_manager import ENV_ONLY, HOOK_KINDS

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins.md"
EXAMPLE_README = REPO / "examples" / "plugin-package" / "README.md"


def hook_specs() -> dict:
    """Every function in graphengine/hookspecs.py marked as a hook specification."""
    return {name: fn for name, fn in vars(hookspecs).items()
            if inspect.isfunction(fn) and hasattr(fn, "graphengine_spec")}


def test_hookspecs_are_found():
    assert set(hook_specs()) == set(HOOK_KINDS), "hookspecs.py and the plugin manager's HOOK_KINDS disagree"


def test_every_hook_is_documented_with_its_exact_signature():
    text = DOC.read_text()
    for name, fn in hook_specs().items():
        signature = f"{name}{inspect.signature(fn)}"
        assert f"### `{signature}`" in text, f"docs/plugins.md has no section '### `{signature}`'"
        section = text.split(f"### `{signature}`", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        assert f"@ge.hookimpl\ndef {signature}:" in section, (
            f"the section on {name} in docs/plugins.md has no example implementation `def {signature}:`"
        )
        assert f"| `{name}` |" in text, f"the hook table in docs/plugins.md has no row for {name}"


def test_no_documented_hook_is_stale():
    text = DOC.read_text()
    documented = set(re.findall(r"^### `(register_\w+)\(", text, flags=re.M))
    assert documented == set(hook_specs()), f"documented but not a hook: {documented - set(hook_specs())}"


def test_the_testing_kit_is_documented():
    text = DOC.read_text()
    for name in graphengine.testing.__all__:
        if name.endswith("Error") or name in ("numerical_gradient", "op_checks", "optimizer_checks",
                                             "regularizer_checks"):
            continue
        assert f"`{name}" in text, f"graphengine.testing.{name} is not documented in docs/plugins.md"
    for fixture in ("ge_plugin_manager", "ge_installed_plugin_manager", "ge_backend", "ge_xp"):
        assert f"`{fixture}`" in text, f"fixture {fixture} is not documented in docs/plugins.md"


def test_loading_rules_and_cli_are_documented():
    text = DOC.read_text()
    for needle in (ENV_ONLY, "graphengine plugins --json", "[project.entry-points.graphengine]", "PluginWarning",
                   "GRAPHENGINE_DEBUG", "pytest11"):
        assert needle in text, f"docs/plugins.md does not mention {needle}"
    for key in ge.PluginInfo("x").as_dict():
        assert f"`{key}`" in text, f"the --json key {key!r} is not documented in docs/plugins.md"


def test_readme_links_the_plugin_guide():
    readme = (REPO / "README.md").read_text()
    assert "docs/plugins.md" in readme, "README.md does not link docs/plugins.md (the plugin guide)"


def test_example_readme_names_what_the_package_adds():
    text = EXAMPLE_README.read_text()
    for name in ("prelu", "lion", "elastic_net", "orthogonal", "learnable_activations"):
        assert f"`{name}`" in text
    for hook in hook_specs():
        assert f"`{hook}`" in text, f"the example README does not mention the hook {hook}"
    assert "[project.entry-points.graphengine]" in text and "docs/plugins.md" in text
