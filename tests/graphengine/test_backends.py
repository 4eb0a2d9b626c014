"""Backends: numpy by default; cupy runs the same code where there is a GPU, else a clear error."""

import numpy as np
import pytest

import graphengine as ge


def test_numpy_is_the_default():
    g = ge.Graph()
    assert g.backend == "numpy" and g.xp is np


def test_unknown_backend_is_named():
    with pytest.raises(ge.UnknownNameError, match="'numpy'"):
        ge.Graph(backend="nunpy")


@pytest.mark.skipif(ge.cupy_available(), reason="CuPy is usable here")
def test_cupy_missing_is_a_clear_error():
    g = ge.Graph()
    with pytest.raises(ge.BackendUnavailableError) as info:
        g.to("cupy")
    assert "pip install" in str(info.value) and "cupy" in str(info.value).lower()
    assert g.backend == "numpy"  # unchanged


def test_cupy_array_fed_to_numpy_graph_is_refused():
    class FakeCupyArray:
        __module__ = "cupy._core.core"

    FakeCupyArray.__module__ = "cupy._core.core"
    g = ge.Graph()
    g.input("x")
    with pytest.raises(ge.BackendMismatchError, match="no silent"):
        g.forward({"x": FakeCupyArray()})


def test_same_results_on_every_backend(backend, rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    W = g.param("W", rng.normal(size=(3, 2)).astype(np.float32))
    loss = ge.ops.mean(ge.ops.sigmoid(x @ W))
    X = rng.normal(size=(5, 3)).astype(np.float32)
    want = g.forward({"x": X}).backward(loss)
    want_value, want_grad = float(want.value(loss)), np.asarray(want.grad(W))
    g.to(backend)
    assert g.backend == backend
    for fetch in (None, [loss], [loss]):
        run = g.forward({"x": X}, fetch=fetch).backward(loss)
        assert type(run.value(loss)) is g.xp.ndarray
        got_grad = g._backend.to_numpy(run.grad(W))
        np.testing.assert_allclose(float(run.value(loss)), want_value, rtol=1e-6)
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5)
        assert got_grad.dtype == np.float32
    g.to("numpy")
    assert isinstance(W.value, np.ndarray)


# --------------------------------------------------------------------------- explicit host copies

def test_asnumpy_copies_device_arrays_explicitly(ge_device_xp):
    from graphengine.backends import asnumpy

    a = ge_device_xp.asarray(np.arange(4.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    np.testing.assert_array_equal(asnumpy(a), np.arange(4.0))              # through a.get()
    np.testing.assert_array_equal(asnumpy(a, ge_device_xp), np.arange(4.0))  # through xp.asnumpy
    host = np.arange(3)
    assert asnumpy(host) is host                                         # host arrays are not copied
    np.testing.assert_array_equal(asnumpy([1, 2]), np.array([1, 2]))


def test_the_numpy_backend_to_numpy_takes_device_arrays_explicitly(ge_device_xp):
    a = ge_device_xp.asarray(np.ones((2, 2), dtype=np.float32))
    out = ge.backends.get_backend("numpy").to_numpy(a)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_asnumpy_on_cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    from graphengine.backends import asnumpy

    out = asnumpy(cupy.arange(5, dtype=cupy.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.tolist() == [0, 1, 2, 3, 4]
