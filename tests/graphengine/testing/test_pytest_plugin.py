"""graphengine's pytest plugin, run inside pytester sessions: fixtures, the parametrize
helper's test ids, skips and failures, and living next to this project's own conftest.

Each inner session loads the plugin explicitly (``-p graphengine.testing.pytest_plugin``)
with entry-point autoloading off, so the result does not depend on whether graphengine is
installed in this environment; the autoloading through the ``pytest11`` entry point is
proven in tests/plugins_e2e (the example package's tests use the fixtures there).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

import graphengine as ge

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[3]
PLUGIN = "graphengine.testing.pytest_plugin"


@pytest.fixture
def inner(pytester, monkeypatch):
    """Run a pytest session on the files written to ``pytester`` with only our plugin."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("GRAPHENGINE_PLUGINS", raising=False)

    def run(*args):
        return pytester.runpytest("-p", PLUGIN, "-p", "no:cacheprovider", *args)

    return run


def fixture_names(path: Path) -> set[str]:
    """Names of the functions decorated with a pytest fixture in a Python file."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
            names.add(node.name)
    return names


def test_entry_point_is_declared_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["project"]["entry-points"]["pytest11"] == {"graphengine": PLUGIN}


def test_fixture_names_do_not_clash_with_the_project_conftest():
    ours = fixture_names(REPO / "graphengine" / "testing" / "pytest_plugin.py")
    assert ours == {"ge_plugin_manager", "ge_installed_plugin_manager", "ge_backend", "ge_xp", "ge_device_xp"}
    assert not ours & fixture_names(REPO / "tests" / "conftest.py")


def test_fixtures(pytester, inner):
    pytester.makepyfile(
        """
        import numpy as np
        import graphengine as ge

        def test_fresh_manager(ge_plugin_manager):
            assert isinstance(ge_plugin_manager, ge.PluginManager)
            assert ge_plugin_manager is not ge.default_manager()
            assert "relu" in ge_plugin_manager.ops
            assert all(p.origin == "builtin" for p in ge_plugin_manager.list())

        def test_each_test_gets_its_own(ge_plugin_manager):
            test_each_test_gets_its_own.seen = getattr(test_each_test_gets_its_own, "seen", []) + [id(ge_plugin_manager)]

        def test_installed(ge_installed_plugin_manager):
            assert "ops" in ge_installed_plugin_manager.plugins

        def test_backend(ge_backend, ge_xp):
            assert ge_backend in ("numpy", "cupy")
            g = ge.Graph("b", backend=ge_backend)
            assert g.xp is ge_xp
        """
    )
    result = inner("-rs", "-v")
    cupy = "PASSED" if ge.cupy_available() else "SKIPPED"
    result.stdout.fnmatch_lines([
        "*test_backend?numpy? PASSED*",
        f"*test_backend?cupy? {cupy}*",
    ])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    if not ge.cupy_available():
        result.stdout.fnmatch_lines(["SKIPPED * the 'cupy' backend is not available here*"])


def test_cupy_case_carries_the_cupy_marker(pytester, inner):
    pytester.makepyfile("def test_backend(ge_backend):\n    pass\n")
    result = inner("-m", "not cupy", "-v", "--strict-markers")
    result.stdout.fnmatch_lines(["*test_backend?numpy? PASSED*", "*1 passed, 1 deselected*"])


def test_parametrize_with_checks_gives_readable_ids(pytester, inner):
    pytester.makepyfile(
        """
        import numpy as np
        import graphengine as ge
        from graphengine.testing import op_case, optimizer_case, parametrize_with_checks, regularizer_case

        class Sgd(ge.Optimizer):
            name = "sgd_under_test"
            defaults = {"lr": 0.05}
            def update(self, xp, value, grad, state):
                return xp.asarray(value - self.hyper["lr"] * grad)

        class Ridge(ge.Regularizer):
            name = "ridge"
            def penalty(self, xp, value):
                return xp.asarray(0.5 * (value * value).sum())
            def gradient(self, xp, value):
                return self.strength * value

        @parametrize_with_checks(
            op_case("tanh", [np.linspace(-1, 1, 6).reshape(2, 3)], reference=np.tanh),
            optimizer_case(Sgd),
            regularizer_case(Ridge, strength=0.1),
        )
        def test_conformance(check):
            check()
        """
    )
    result = inner("--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "::" in line]
    prefix = "test_parametrize_with_checks_gives_readable_ids.py::test_conformance"
    assert ids == [f"{prefix}[{i}]" for i in [
        "op-tanh-forward_returns_array", "op-tanh-forward_matches_reference", "op-tanh-shape_rule",
        "op-tanh-float32_preserved", "op-tanh-gradient", "op-tanh-inline_forward", "op-tanh-inline_backward",
        "op-tanh-forward_out", "op-tanh-backward_out", "op-tanh-in_graph", "op-tanh-cupy",
        "optimizer-sgd_under_test-contract", "optimizer-sgd_under_test-update_keeps_shape_and_dtype",
        "optimizer-sgd_under_test-updates_in_place", "optimizer-sgd_under_test-same_when_consuming_grads",
        "optimizer-sgd_under_test-allocates_nothing",
        "optimizer-sgd_under_test-descends_quadratic", "optimizer-sgd_under_test-skips_params_without_gradient",
        "optimizer-sgd_under_test-state_round_trips", "optimizer-sgd_under_test-cupy",
        "regularizer-ridge-contract", "regularizer-ridge-penalty_is_scalar", "regularizer-ridge-penalty_gradient",
        "regularizer-ridge-leaves_input_unchanged", "regularizer-ridge-cupy",
    ]], result.stdout.str()
    result = inner("-q", "-rs")
    # tanh's backward takes no out= (it is derived from its template) and the functional
    # sgd_under_test rule allocates by design: those checks are skipped, as are the op's, the
    # optimizer's and the regularizer's cupy checks without CuPy
    skipped = 2 + (0 if ge.cupy_available() else 3)
    result.assert_outcomes(passed=25 - skipped, skipped=skipped)
    result.stdout.fnmatch_lines(["SKIPPED * op-tanh-backward_out: skipped: backward takes no out="])
    if not ge.cupy_available():
        result.stdout.fnmatch_lines(["SKIPPED * optimizer-sgd_under_test-cupy: skipped: cupy unavailable"])


def test_failing_check_fails_only_its_own_test_with_the_kit_message(pytester, inner):
    pytester.makepyfile(
        """
        import graphengine as ge
        from graphengine.testing import parametrize_with_checks

        class Ascent(ge.Optimizer):
            name = "ascent"
            defaults = {"lr": 0.05}
            def update(self, xp, value, grad, state):
                return xp.asarray(value + self.hyper["lr"] * grad)

        @parametrize_with_checks(Ascent)
        def test_conformance(check):
            check()
        """
    )
    result = inner("-q", "-rf", "-k", "not cupy")
    result.assert_outcomes(passed=6, failed=1, skipped=1)  # allocates_nothing: skipped for a functional rule
    result.stdout.fnmatch_lines([
        "*OptimizerCheckError: optimizer 'ascent' does not descend the check quadratic*",
        "FAILED *test_conformance[[]optimizer-ascent-descends_quadratic[]]*",
    ])


def test_selecting_checks_with_k(pytester, inner):
    pytester.makepyfile(
        """
        import graphengine as ge
        from graphengine.testing import optimizer_case, parametrize_with_checks

        class Sgd(ge.Optimizer):
            name = "plain"
            defaults = {"lr": 0.05}
            def update(self, xp, value, grad, state):
                return xp.asarray(value - self.hyper["lr"] * grad)

        @parametrize_with_checks(optimizer_case(Sgd, skip=("cupy",)))
        def test_conformance(check):
            check()
        """
    )
    inner("-q", "-k", "plain and round_trips").assert_outcomes(passed=1)


def test_bare_op_and_unknown_objects_are_refused():
    from graphengine.testing import parametrize_with_checks

    tanh = ge.default_manager().get_op("tanh")
    with pytest.raises(TypeError, match=r"op 'tanh' needs sample inputs; pass op_case\("):
        parametrize_with_checks(tanh)
    with pytest.raises(TypeError, match=r"takes op_case\(\.\.\.\), optimizer_case"):
        parametrize_with_checks("adam")
    with pytest.raises(TypeError, match="at least one case"):
        parametrize_with_checks()
    from graphengine.testing import optimizer_case

    with pytest.raises(ValueError, match=r"unknown check names in skip: \['descend'\]"):
        optimizer_case(ge.Optimizer, skip=("descend",))


def test_project_conftest_and_plugin_fixtures_work_side_by_side(pytester, inner):
    """The project's own fixtures (plugin_manager, backend, rng, ...) keep their meaning
    when the plugin is loaded, and the plugin's ge_* fixtures are there too."""
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import graphengine as ge

        def test_both(plugin_manager, ge_plugin_manager, backend, ge_backend, rng):
            assert plugin_manager is not ge_plugin_manager
            assert isinstance(plugin_manager, ge.PluginManager)
            assert backend in ("numpy", "cupy") and ge_backend in ("numpy", "cupy")
            assert rng.integers(10) >= 0
        """
    )
    result = inner("-q")
    outcomes = result.parseoutcomes()
    expected = 4 if ge.cupy_available() else 1  # 2 x 2 backends, or numpy x numpy
    assert outcomes.get("passed") == expected and not outcomes.get("failed") and not outcomes.get("errors"), \
        result.stdout.str()
