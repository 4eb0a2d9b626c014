"""gradcheck never converts a device array to NumPy implicitly.

``ge_device_xp`` (graphengine's pytest plugin) is NumPy behind arrays that refuse
``np.asarray`` and mixing with host arrays, as CuPy's do; running gradcheck through it on
a machine without a GPU shows every host value is an explicit copy. The same checks run on
real CuPy where CuPy and a GPU are present.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.backends import asnumpy
from graphengine.testing import GradcheckError, gradcheck, numerical_gradient
from graphengine.testing.pytest_plugin import DeviceArray


class Swish(ge.Op):
    name = "swish_device_test"

    def forward(self, xp, x):
        return x / (1 + xp.exp(-x))

    def backward(self, xp, grad, inputs, output):
        (x,) = inputs
        s = 1 / (1 + xp.exp(-x))
        return (grad * (s + output * (1 - s)),)


class ScaledProduct(ge.Op):
    """y = x * w * k, with an integer input k that gets no gradient."""

    name = "scaled_product_device_test"

    def forward(self, xp, x, w, k):
        return x * w * k

    def backward(self, xp, grad, inputs, output):
        x, w, k = inputs
        return (grad * w * k, xp.sum(grad * x * k, axis=0), None)


class WrongSwish(Swish):
    name = "wrong_swish_device_test"

    def backward(self, xp, grad, inputs, output):
        (x,) = inputs
        return (grad * 1 / (1 + xp.exp(-x)),)  # drops the second term


class HostGradient(Swish):
    """A backward that computes on the host: wrong on a device backend."""

    name = "host_gradient_device_test"

    def backward(self, xp, grad, inputs, output):
        return (np.ones(tuple(grad.shape)),)


def test_the_device_double_refuses_implicit_host_conversion(ge_device_xp):
    """The property the other tests rely on, checked: CuPy's refusals, reproduced."""
    a = ge_device_xp.asarray(np.arange(6.0).reshape(2, 3))
    for implicit in (lambda: np.asarray(a), lambda: np.array(a), lambda: np.sum(a), lambda: np.exp(a),
                     lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: ge_device_xp.sum(np.ones(3))):
        with pytest.raises(TypeError):
            implicit()
    assert isinstance(ge_device_xp.sum(a), DeviceArray)  # 0-d device arrays, not host scalars
    np.testing.assert_array_equal(asnumpy(a), np.arange(6.0).reshape(2, 3))  # the explicit copy works


@pytest.mark.parametrize("device_inputs", [False, True])
def test_gradcheck_passes_on_a_device_module_without_implicit_copies(ge_device_xp, rng, device_inputs):
    x = rng.standard_normal((4, 3))
    inputs = [ge_device_xp.asarray(x)] if device_inputs else [x]
    assert gradcheck(Swish(), inputs, xp=ge_device_xp) is True


def test_gradcheck_skips_integer_inputs_on_a_device_module(ge_device_xp, rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3,))
    k = ge_device_xp.asarray(np.full((4, 3), 2, dtype=np.int64))
    assert gradcheck(ScaledProduct(), [x, w, k], xp=ge_device_xp) is True


def test_gradcheck_failure_report_copies_device_values_explicitly(ge_device_xp, rng):
    x = ge_device_xp.asarray(rng.standard_normal((2, 3)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSwish(), [x], xp=ge_device_xp)
    message = str(info.value)
    assert "backward disagrees with finite differences for input 0" in message
    assert "backend 'graphengine.testing.DeviceXP'" in message
    # the inputs are printed as numbers (host copies), not as an array repr or a failure
    assert repr(float(asnumpy(x)[0, 0])) in message


def test_gradcheck_refuses_a_host_gradient_on_a_device_backend(ge_device_xp, rng):
    with pytest.raises(GradcheckError, match=r"backward returned a numpy\.ndarray for input 0 on the "
                                             r"'graphengine.testing.DeviceXP' backend; gradients must be arrays"):
        gradcheck(HostGradient(), [rng.standard_normal((2, 3))], xp=ge_device_xp)


def test_numerical_gradient_returns_a_python_float_from_device_arrays(ge_device_xp, rng):
    xp = ge_device_xp
    x = rng.standard_normal((3,))
    d = np.array([1.0, 0.0, 0.0])
    value = numerical_gradient(Swish(), [xp.asarray(x)], {}, xp.asarray(np.ones(3)), 0, xp.asarray(d), 1e-6, xp)
    assert type(value) is float
    s = 1 / (1 + np.exp(-x[0]))
    assert value == pytest.approx(s + x[0] * s * (1 - s), rel=1e-6)


def test_gradcheck_takes_a_backend_name(rng):
    assert gradcheck(Swish(), [rng.standard_normal((2, 2))], xp="numpy") is True
    with pytest.raises(ge.UnknownNameError, match="unknown backend 'numpyy'"):
        gradcheck(Swish(), [rng.standard_normal((2, 2))], xp="numpyy")


@pytest.fixture
def cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    return cupy


@pytest.mark.cupy
def test_gradcheck_on_cupy(cupy, rng):
    x = rng.standard_normal((4, 3))
    assert gradcheck(Swish(), [cupy.asarray(x)], xp=cupy) is True
    assert gradcheck(Swish(), [x], xp="cupy") is True
    with pytest.raises(GradcheckError, match="backward disagrees"):
        gradcheck(WrongSwish(), [cupy.asarray(x)], xp=cupy)
    with pytest.raises(GradcheckError, match="backward returned a numpy.ndarray"):
        gradcheck(HostGradient(), [x], xp=cupy)
