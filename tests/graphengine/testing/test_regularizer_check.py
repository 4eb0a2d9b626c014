"""check_regularizer: correct penalties, decays and constraints pass; each kind of broken
one is caught by the check named after the property it breaks."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.testing import RegularizerCheckError, check_regularizer, regularizer_checks


class Ridge(ge.Regularizer):
    name = "ridge"
    kind = "penalty"

    def penalty(self, xp, value):
        return xp.asarray(0.5 * (value * value).sum())

    def gradient(self, xp, value):
        return self.strength * value


class Lasso(ge.Regularizer):
    name = "lasso"
    kind = "penalty"

    def penalty(self, xp, value):
        return xp.asarray(xp.abs(value).sum())

    def gradient(self, xp, value):
        return self.strength * xp.sign(value)


class Decay(ge.Regularizer):
    name = "decay"
    kind = "decay"

    def apply(self, xp, value, lr):
        return value - lr * self.strength * value


class UnitBall(ge.Regularizer):
    name = "unit_ball"
    kind = "constraint"

    def __init__(self, radius=1.0):
        super().__init__(strength=radius)
        self.radius = radius

    def apply(self, xp, value, lr=0.0):
        norm = xp.sqrt((value * value).sum())
        return value * (self.radius / xp.maximum(norm, self.radius))


def names(ran):
    return [r.split(" ")[0] for r in ran]


def test_checks_depend_on_the_kind():
    assert [n for n, _ in regularizer_checks(Ridge)] == [
        "contract", "penalty_is_scalar", "penalty_gradient", "leaves_input_unchanged", "cupy"]
    assert [n for n, _ in regularizer_checks(Decay)] == ["contract", "decay_shrinks", "cupy"]
    assert [n for n, _ in regularizer_checks(UnitBall)] == ["contract", "constraint_is_projection", "cupy"]


@pytest.mark.parametrize("reg", [Ridge, Lasso, Decay, UnitBall, Ridge(strength=2.0)])
def test_correct_regularizers_pass(reg):
    assert names(check_regularizer(reg)) == [n for n, _ in regularizer_checks(reg)]


def test_builtin_regularizers_by_name(plugin_manager):
    for name in plugin_manager.regularizers:
        options = {"max_norm": 1.5} if name == "max_norm" else None
        assert "contract" in check_regularizer(name, options=options, manager=plugin_manager)


def test_gradient_without_strength_is_caught_with_a_hint():
    class NoStrength(Ridge):
        name = "no_strength"

        def gradient(self, xp, value):
            return value

    with pytest.raises(RegularizerCheckError, match=r"(?s)disagrees with finite differences.*lacks the factor strength"):
        check_regularizer(NoStrength)


def test_strength_applied_twice_is_caught_with_a_hint():
    class Twice(Ridge):
        name = "twice"

        def penalty(self, xp, value):
            return xp.asarray(self.strength * 0.5 * (value * value).sum())

    with pytest.raises(RegularizerCheckError, match=r"(?s)either gradient\(\) lacks the factor strength, or penalty\(\) "
                                                    r"already includes it"):
        check_regularizer(Twice)


def test_wrong_gradient_is_caught():
    class WrongSign(Lasso):
        name = "wrong_sign"

        def gradient(self, xp, value):
            return -self.strength * xp.sign(value)

    with pytest.raises(RegularizerCheckError, match=r"(?s)analytic <grad, d> = .*numeric  <grad, d> = "):
        check_regularizer(WrongSign)


def test_python_float_penalty_is_refused():
    class Floats(Ridge):
        name = "floats"

        def penalty(self, xp, value):
            return float(0.5 * (value * value).sum())

    with pytest.raises(RegularizerCheckError, match=r"returned float .* 0-d array of the backend"):
        check_regularizer(Floats)


def test_float32_upcast_is_caught():
    class Upcast(Ridge):
        name = "upcast"

        def penalty(self, xp, value):
            return xp.asarray(0.5 * (value.astype(np.float64) ** 2).sum())

    with pytest.raises(RegularizerCheckError, match=r"penalty\(\) of a float32\[4, 3\] value is float64"):
        check_regularizer(Upcast)


def test_gradient_of_the_wrong_shape_is_caught():
    class Summed(Ridge):
        name = "summed"

        def gradient(self, xp, value):
            return self.strength * value.sum()

    with pytest.raises(RegularizerCheckError, match=r"gradient\(\) for a value of float64\[4, 3\] returned"):
        check_regularizer(Summed)


def test_penalty_that_modifies_the_param_is_caught():
    class Mutates(Ridge):
        name = "mutates"

        def gradient(self, xp, value):
            value *= 1.0 + 1e-3  # in place: the param itself changes
            return self.strength * value

    with pytest.raises(RegularizerCheckError, match=r"modified the param value"):
        check_regularizer(Mutates, skip=("penalty_gradient",))


def test_decay_that_grows_is_caught():
    class Grows(Decay):
        name = "grows"

        def apply(self, xp, value, lr):
            return value + lr * self.strength * value

    with pytest.raises(RegularizerCheckError, match=r"did not shrink the value"):
        check_regularizer(Grows)


def test_decay_not_scaled_by_lr_is_caught():
    class Unscaled(Decay):
        name = "unscaled"

        def apply(self, xp, value, lr):
            return value * (1 - self.strength)

    with pytest.raises(RegularizerCheckError, match=r"lr=0.0\) changed the value"):
        check_regularizer(Unscaled)


def test_constraint_that_is_not_a_projection_is_caught():
    class Halves(UnitBall):
        name = "halves"

        def apply(self, xp, value, lr=0.0):
            return value * 0.5

    with pytest.raises(RegularizerCheckError, match=r"not a projection"):
        check_regularizer(Halves)


def test_contract_problems():
    class NoKind(Ridge):
        name = "no_kind"
        kind = "sometimes"

    with pytest.raises(RegularizerCheckError, match=r"kind must be one of penalty, decay, constraint.*'sometimes'"):
        check_regularizer(NoKind)

    class Missing(ge.Regularizer):
        name = "missing"
        kind = "penalty"

    with pytest.raises(RegularizerCheckError, match=r"must define penalty and gradient"):
        check_regularizer(Missing)

    with pytest.raises(RegularizerCheckError, match=r"strength is 0.0"):
        check_regularizer(Ridge, strength=0.0)

    with pytest.raises(RegularizerCheckError, match=r"not a subclass of ge.Regularizer"):
        check_regularizer(type("Lookalike", (), {"name": "lookalike", "kind": "penalty"}))


def test_shapes_can_be_chosen():
    class RowsOnly(UnitBall):
        name = "rows_only"

        def apply(self, xp, value, lr=0.0):
            norm = xp.sqrt((value * value).sum(axis=1, keepdims=True))  # needs 2-d values
            return value * (self.radius / xp.maximum(norm, self.radius))

    assert "constraint_is_projection" in check_regularizer(RowsOnly, shapes=[(4, 3), (2, 7)])


def test_unknown_skip_name_is_refused():
    with pytest.raises(ValueError, match=r"unknown check names in skip: \['gradient'\]"):
        check_regularizer(Ridge, skip=("gradient",))


# --------------------------------------------------------------------------- device arrays, no implicit host copies

@pytest.fixture
def device_backend(ge_device_xp):
    """A Backend over graphengine's device double (CuPy-like arrays on NumPy)."""
    return _device_backend(ge_device_xp)


def _device_backend(xp):
    from graphengine.backends import Backend

    class _Device(Backend):
        name = "device_double"

        def to_numpy(self, value):
            return self.xp.asnumpy(value)

    backend = _Device()
    backend.xp = xp
    return backend


class NumpyOnlyLasso(Lasso):
    """Right on NumPy, wrong on a GPU: calls numpy on the param array."""

    name = "numpy_only_lasso"

    def penalty(self, xp, value):
        return xp.asarray(np.sum(np.abs(value)))


@pytest.mark.parametrize("reg", [Ridge, Lasso, Decay, UnitBall])
def test_checks_compute_on_the_backend_and_copy_to_the_host_explicitly(reg, device_backend):
    ran = check_regularizer(reg, backend=device_backend)
    assert names(ran) == [n for n, _ in regularizer_checks(reg)]


@pytest.mark.parametrize("name", ["l1", "l2", "weight_decay", "max_norm"])
def test_builtin_regularizers_never_call_numpy_on_param_arrays(name, device_backend, plugin_manager):
    check_regularizer(name, backend=device_backend, manager=plugin_manager)


def test_numpy_calls_on_param_arrays_are_caught_on_a_device_backend(device_backend):
    check_regularizer(NumpyOnlyLasso)  # passes on numpy: the bug only shows on a device
    with pytest.raises(RegularizerCheckError, match=r"regularizer 'numpy_only_lasso' \(penalty\): penalty\(xp, value\) "
                                                    r"raised TypeError on the 'graphengine.testing.DeviceXP' backend .*"
                                                    r"compute with the xp argument instead"):
        check_regularizer(NumpyOnlyLasso, backend=device_backend)


def test_an_unavailable_backend_is_reported_before_any_check():
    with pytest.raises(ge.GraphEngineError, match="unknown backend 'cuda'"):
        check_regularizer(Ridge, backend="cuda")


@pytest.mark.cupy
@pytest.mark.parametrize("name", ["l1", "l2", "weight_decay", "max_norm"])
def test_builtin_regularizers_on_cupy(name, plugin_manager):
    pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    ran = check_regularizer(name, backend="cupy", manager=plugin_manager)
    assert not any("skipped" in r for r in ran)
