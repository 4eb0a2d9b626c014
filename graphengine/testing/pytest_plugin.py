"""graphengine's pytest plugin: fixtures and a parametrize helper for plugin authors.

It is installed with graphengine (entry point ``graphengine`` in the ``pytest11`` group),
so every pytest run in an environment where graphengine is installed has it; there is
nothing to add to a ``conftest.py`` (adding ``-p graphengine.testing.pytest_plugin`` or
``pytest_plugins = [...]`` as well would register it twice, which pytest refuses).

Fixtures (all prefixed ``ge_`` so they never shadow a project's own fixtures):

``ge_plugin_manager``
    A fresh ``ge.PluginManager`` with the built-in plugins only: no installed entry
    points, ``GRAPHENGINE_PLUGINS`` ignored. Add the plugin under test with
    ``ge_plugin_manager.add_plugin(my_plugin_module)``.
``ge_installed_plugin_manager``
    A fresh ``ge.PluginManager`` loaded the way users get it: built-ins plus every
    installed ``graphengine`` entry point (``GRAPHENGINE_PLUGINS`` honoured).
``ge_backend``
    Parametrized over ``"numpy"`` and ``"cupy"``; the cupy case is skipped, with the
    reason, where CuPy or a GPU is missing (and marked ``cupy``).
``ge_xp``
    The array module of ``ge_backend`` (``numpy`` or ``cupy``).

The parametrize helper turns the conformance kits into one readable test per check, in
the spirit of scikit-learn's ``parametrize_with_checks``::

    from graphengine.testing import op_case, optimizer_case, parametrize_with_checks

    @parametrize_with_checks(
        op_case(PReLU(), [x, alpha], reference=prelu_reference),
        optimizer_case(Lion, hyper={"lr": 0.01}),
        ElasticNet,                      # a bare Regularizer subclass (or Optimizer subclass)
    )
    def test_conformance(check):
        check()

gives the test ids ``op-prelu-gradient``, ``optimizer-lion-descends_quadratic``,
``regularizer-elastic_net-penalty_gradient``, ... A check that cannot run here (``cupy``
without a GPU) is reported as skipped.
"""

from __future__ import annotations

import functools

import pytest

KINDS = ("op", "optimizer", "regularizer")


# --------------------------------------------------------------------------- fixtures

def pytest_configure(config):
    config.addinivalue_line("markers", "cupy: needs CuPy and a GPU (graphengine's ge_backend fixture)")


@pytest.fixture
def ge_plugin_manager():
    """A fresh plugin manager with graphengine's built-in plugins only (no entry points)."""
    import graphengine as ge

    return ge.PluginManager(entry_points=False)


@pytest.fixture
def ge_installed_plugin_manager():
    """A fresh plugin manager with the built-ins and every installed entry-point plugin."""
    import graphengine as ge

    return ge.PluginManager()


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.cupy)])
def ge_backend(request):
    """``"numpy"``, then ``"cupy"`` (skipped with the reason where CuPy or a GPU is missing)."""
    from graphengine.backends import get_backend
    from graphengine.errors import BackendUnavailableError

    try:
        get_backend(request.param)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return request.param


@pytest.fixture
def ge_xp(ge_backend):
    """The array module (``numpy`` or ``cupy``) of the ``ge_backend`` being tested."""
    from graphengine.backends import get_backend

    return get_backend(ge_backend).xp


# --------------------------------------------------------------------------- checks as test cases

class Check:
    """One conformance check bound to its subject; call it to run it.

    ``id`` is ``"<kind>-<subject name>-<check name>"``. A check that cannot run here
    (like ``cupy`` without a GPU) calls ``pytest.skip`` with the reason.
    """

    def __init__(self, kind: str, label: str, name: str, run):
        self.kind, self.label, self.name = kind, label, name
        self._run = run

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.label}-{self.name}"

    def __call__(self):
        result = self._run()
        if isinstance(result, str) and result.startswith("skipped"):
            pytest.skip(f"{self.id}: {result}")
        return result

    def __repr__(self) -> str:
        return f"<Check {self.id}>"


class CheckCase:
    """A subject (op, optimizer or regularizer) with the arguments its kit needs."""

    def __init__(self, kind: str, label: str, checks: list):
        self.kind, self.label = kind, label
        self._checks = checks  # [(name, zero-argument callable)]

    def checks(self) -> list[Check]:
        return [Check(self.kind, self.label, name, run) for name, run in self._checks]

    def __repr__(self) -> str:
        return f"<CheckCase {self.kind} {self.label}: {len(self._checks)} checks>"


def _skip_unknown(kind, skip, names):
    unknown = sorted(set(skip) - set(names))
    if unknown:
        raise ValueError(f"{kind}_case: unknown check names in skip: {unknown}; the checks are {list(names)}")


def op_case(op, inputs, reference=None, attrs=None, *, differentiable=None, gradcheck_options=None,
            skip=(), id=None) -> CheckCase:
    """The op checks of ``check_op`` for ``op`` (an Op instance or a registered name) on
    sample ``inputs``; ``reference`` is a NumPy function with the op's semantics; ``id``
    replaces the op's name in the test ids (to tell apart two cases of one op)."""
    from .opcheck import _resolve, op_checks

    label = id or (op if isinstance(op, str) else getattr(op, "name", "") or type(op).__name__)
    names = [name for name, _ in op_checks()]
    _skip_unknown("op", skip, names)

    def bind(fn):
        def run():
            return fn(_resolve(op), inputs, dict(attrs or {}), reference=reference, differentiable=differentiable,
                      gradcheck_options=gradcheck_options)
        return run

    return CheckCase("op", label, [(name, bind(fn)) for name, fn in op_checks() if name not in skip])


def optimizer_case(optimizer, hyper=None, *, steps=200, min_decrease=0.5, skip=(), id=None) -> CheckCase:
    """The checks of ``check_optimizer`` for an optimizer class (or registered name) with
    the hyper-parameters ``hyper``."""
    from .optimizer_check import _resolve, optimizer_checks

    label = id or (optimizer if isinstance(optimizer, str) else getattr(optimizer, "name", "")
                   or getattr(optimizer, "__name__", type(optimizer).__name__))
    names = [name for name, _ in optimizer_checks()]
    _skip_unknown("optimizer", skip, names)

    def bind(name, fn):
        def run():
            kwargs = {"steps": steps, "min_decrease": min_decrease} if name == "descends_quadratic" else {}
            return fn(_resolve(optimizer), dict(hyper or {}), **kwargs)
        return run

    return CheckCase("optimizer", label, [(name, bind(name, fn)) for name, fn in optimizer_checks() if name not in skip])


def regularizer_case(regularizer, *, strength=0.5, options=None, shapes=None, skip=(), id=None) -> CheckCase:
    """The checks of ``check_regularizer`` that apply to the regularizer's kind (an
    instance, a class built as ``cls(strength=strength, **options)`` (a constraint:
    ``cls(**options)``), or a registered name), on params of ``shapes``."""
    from .regularizer_check import SHAPES, _resolve, regularizer_checks

    subject = regularizer
    if isinstance(regularizer, str):
        from ..plugin_manager import default_manager

        subject = default_manager().lookup("regularizers", regularizer)
    label = id or getattr(subject, "name", "") or type(subject).__name__
    _skip_unknown("regularizer", skip, [name for name, _ in regularizer_checks()])
    get = functools.lru_cache(maxsize=1)(lambda: _resolve(subject, strength, options))

    def bind(fn):
        return lambda: fn(get(), shapes=tuple(shapes or SHAPES))

    return CheckCase("regularizer", label,
                     [(name, bind(fn)) for name, fn in regularizer_checks(subject) if name not in skip])


def _as_case(item) -> CheckCase:
    from ..op import Op
    from ..optimizer import Optimizer
    from ..regularizer import Regularizer

    if isinstance(item, CheckCase):
        return item
    if isinstance(item, type) and issubclass(item, Optimizer):
        return optimizer_case(item)
    if isinstance(item, Regularizer) or (isinstance(item, type) and issubclass(item, Regularizer)):
        return regularizer_case(item)
    if isinstance(item, Op):
        raise TypeError(
            f"parametrize_with_checks: op {item.name!r} needs sample inputs; pass "
            f"op_case({type(item).__name__}(), inputs=[...], reference=...) instead of the bare op"
        )
    raise TypeError(
        f"parametrize_with_checks takes op_case(...), optimizer_case(...), regularizer_case(...), "
        f"ge.Optimizer subclasses and ge.Regularizer subclasses or instances; got {item!r}"
    )


def checks_of(*cases) -> list:
    """Every check of ``cases`` as a ``pytest.param`` with a readable id (to combine with
    other parameters in your own ``pytest.mark.parametrize``)."""
    return [pytest.param(check, id=check.id) for case in map(_as_case, cases) for check in case.checks()]


def parametrize_with_checks(*cases, argname: str = "check"):
    """A ``pytest.mark.parametrize`` decorator: one test per check of every case.

    Each case is ``op_case(...)``, ``optimizer_case(...)``, ``regularizer_case(...)``, or a
    bare ``ge.Optimizer`` / ``ge.Regularizer`` subclass (checked with its defaults). The
    test receives the check as ``argname`` (default ``check``) and calls it.
    """
    if not cases:
        raise TypeError("parametrize_with_checks needs at least one case, e.g. optimizer_case(Lion, hyper={'lr': 0.01})")
    return pytest.mark.parametrize(argname, checks_of(*cases))
