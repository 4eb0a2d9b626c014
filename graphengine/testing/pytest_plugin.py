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
``ge_device_xp``
    A :class:`DeviceXP`: NumPy behind an array module whose arrays behave like CuPy's
    where it matters on a machine without a GPU: ``np.asarray`` (and every NumPy function
    or ufunc) on them raises ``TypeError``, mixing them with host ``numpy.ndarray`` raises,
    and only ``xp.asnumpy(a)`` / ``a.get()`` copy to the host. Its ``random`` records
    every draw (``ge_device_xp.random.calls``). Run an op, a regularizer or a check
    through it to show the code computes with ``xp`` and converts explicitly.

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

import numpy as np
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


# --------------------------------------------------------------------------- a device-like array module

_HOST_REFUSED = (
    "Implicit conversion to a NumPy array is not allowed for a device array (as with CuPy); "
    "copy it to the host explicitly with xp.asnumpy(a), a.get() or graphengine.backends.asnumpy(a)"
)
_NP_DEFAULT_RNG = np.random.default_rng  # captured at import: tests may patch numpy's own


def _to_device_operand(value, where):
    """The NumPy storage of a device array, a scalar as it is; a host ndarray is refused."""
    if isinstance(value, DeviceArray):
        return value._data
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"{where}: got a host numpy.ndarray {value.dtype}{list(value.shape)} where a device array was "
            "expected (CuPy refuses to mix host and device arrays); move it with xp.asarray(a) first"
        )
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device_operand(v, where) for v in value)
    return value


def _to_device_result(value):
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, np.generic):
        return DeviceArray(np.asarray(value))  # CuPy returns 0-d arrays, not scalars
    if isinstance(value, tuple):
        return tuple(_to_device_result(v) for v in value)
    if isinstance(value, list):
        return [_to_device_result(v) for v in value]
    return value


def _binary(name, reflected=False):
    op = getattr(np.ndarray, name)

    def method(self, other):
        other = _to_device_operand(other, f"DeviceArray.{name}")
        return _to_device_result(op(self._data, other))

    method.__name__ = name
    return method


class DeviceArray:
    """An array "on a device" for tests without a GPU: NumPy storage that refuses implicit
    host conversion the way ``cupy.ndarray`` does (see ``ge_device_xp``)."""

    __array_ufunc__ = None  # numpy ufuncs refuse it: np.exp(a) raises TypeError

    def __init__(self, data):
        self._data = np.asarray(data)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_HOST_REFUSED)

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented  # np.sum(a), np.allclose(a, b), ... raise TypeError

    # explicit host copies, as in CuPy
    def get(self):
        return self._data.copy()

    def tolist(self):
        return self._data.tolist()

    def item(self):
        return self._data.item()

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __bool__(self):
        return bool(self._data)

    def __index__(self):
        return self._data.__index__()

    def __len__(self):
        return len(self._data)

    # attributes
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: DeviceArray(self._data.T))

    def astype(self, dtype, copy=True):
        out = self._data.astype(dtype, copy=copy)
        return self if out is self._data else DeviceArray(out)

    def copy(self):
        return DeviceArray(self._data.copy())

    def reshape(self, *shape):
        return DeviceArray(self._data.reshape(*shape))

    def __getitem__(self, key):
        return _to_device_result(self._data[_to_device_operand(key, "DeviceArray index")])

    def __setitem__(self, key, value):
        self._data[_to_device_operand(key, "DeviceArray index")] = _to_device_operand(value, "DeviceArray assignment")

    def __getattr__(self, name):
        # reductions and other methods (sum, mean, max, min, any, all, ravel, ...); never the
        # array protocols (__array_interface__, ...), through which NumPy would read the data
        if name.startswith("_"):
            raise AttributeError(f"DeviceArray has no attribute {name!r}")
        attr = getattr(self._data, name)
        if not callable(attr):
            return attr

        def method(*args, **kwargs):
            args = _to_device_operand(args, f"DeviceArray.{name}")
            kwargs = {k: _to_device_operand(v, f"DeviceArray.{name}") for k, v in kwargs.items()}
            return _to_device_result(attr(*args, **kwargs))

        return method

    def __neg__(self):
        return DeviceArray(-self._data)

    def __pos__(self):
        return DeviceArray(+self._data)

    def __abs__(self):
        return DeviceArray(abs(self._data))

    def __invert__(self):
        return DeviceArray(~self._data)

    __hash__ = None

    def __repr__(self):
        return f"DeviceArray({self._data!r})"


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor"):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        if hasattr(np.ndarray, _form):
            setattr(DeviceArray, _form, _binary(_form))
for _form in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(DeviceArray, _form, _binary(_form))


class _RecordingGenerator:
    """A NumPy Generator whose draws come back as device arrays and are recorded."""

    def __init__(self, rng, calls, seed):
        self._rng, self._calls, self.seed = rng, calls, seed

    def __getattr__(self, name):
        method = getattr(self._rng, name)

        def draw(*args, **kwargs):
            self._calls.append((name, self.seed, args, kwargs))
            return _to_device_result(method(*_to_device_operand(args, f"Generator.{name}"), **kwargs))

        return draw


class _DeviceRandom:
    """``xp.random`` of :class:`DeviceXP`: ``default_rng`` only (the Generator API that
    NumPy and CuPy share). ``calls`` lists ``("default_rng", seed)`` and every draw as
    ``(method, seed, args, kwargs)``."""

    def __init__(self):
        self.calls = []

    def default_rng(self, seed=None):
        self.calls.append(("default_rng", seed))
        return _RecordingGenerator(_NP_DEFAULT_RNG(seed), self.calls, seed)

    def draws(self):
        """The recorded draws (not the generator creations)."""
        return [c for c in self.calls if c[0] != "default_rng"]

    def __getattr__(self, name):
        raise AttributeError(
            f"DeviceXP.random.{name}: only the Generator API (xp.random.default_rng(seed)) is provided; "
            "the legacy global functions differ between NumPy and CuPy and share hidden global state"
        )


class DeviceXP:
    """An array module with NumPy's functions over :class:`DeviceArray` (see ``ge_device_xp``).

    ``xp.asarray`` / ``xp.array`` copy host data to the "device"; ``xp.asnumpy`` copies
    back; every other NumPy function takes and returns device arrays and refuses host
    ``numpy.ndarray`` arguments, as CuPy's do.
    """

    __name__ = "graphengine.testing.DeviceXP"
    ndarray = DeviceArray

    def __init__(self):
        self.random = _DeviceRandom()

    def asarray(self, value, dtype=None):
        if isinstance(value, DeviceArray):
            return value if dtype is None else value.astype(dtype, copy=False)
        return DeviceArray(np.array(value, dtype=dtype))

    array = asarray

    def asnumpy(self, value):
        return value.get() if isinstance(value, DeviceArray) else np.asarray(value)

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes (xp.float32), constants (xp.pi), ...

        def function(*args, **kwargs):
            args = _to_device_operand(args, f"xp.{name}")
            kwargs = {k: _to_device_operand(v, f"xp.{name}") for k, v in kwargs.items()}
            return _to_device_result(attr(*args, **kwargs))

        function.__name__ = name
        return function

    def __repr__(self):
        return "<DeviceXP: numpy behind CuPy-like device arrays>"


@pytest.fixture
def ge_device_xp():
    """A fresh :class:`DeviceXP` (CuPy-like arrays on NumPy; see the module docstring)."""
    return DeviceXP()


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


def regularizer_case(regularizer, *, strength=0.5, options=None, shapes=None, skip=(), id=None,
                     backend="numpy") -> CheckCase:
    """The checks of ``check_regularizer`` that apply to the regularizer's kind (an
    instance, a class built as ``cls(strength=strength, **options)`` (a constraint:
    ``cls(**options)``), or a registered name), on params of ``shapes``, computed on
    ``backend`` (``"numpy"``, ``"cupy"`` or a ``Backend``)."""
    from .regularizer_check import SHAPES, _resolve, regularizer_checks

    subject = regularizer
    if isinstance(regularizer, str):
        from ..plugin_manager import default_manager

        subject = default_manager().lookup("regularizers", regularizer)
    label = id or getattr(subject, "name", "") or type(subject).__name__
    _skip_unknown("regularizer", skip, [name for name, _ in regularizer_checks()])
    get = functools.lru_cache(maxsize=1)(lambda: _resolve(subject, strength, options))

    def bind(fn):
        return lambda: fn(get(), shapes=tuple(shapes or SHAPES), backend=backend)

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
