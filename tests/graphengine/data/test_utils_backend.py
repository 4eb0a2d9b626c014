"""ge.data's array helpers keep CuPy data on the GPU (no implicit host copy)."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge


def test_helpers_on_host_data_give_numpy_arrays():
    Xtr, ytr, Xte, yte = ge.data.train_test_split(np.arange(20.0).reshape(10, 2), np.arange(10), 0.3, seed=0)
    assert all(isinstance(a, np.ndarray) for a in (Xtr, ytr, Xte, yte)) and len(Xte) == 3
    np.testing.assert_array_equal(ge.data.one_hot([2, 0]), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ge.data.SplitError, match=r"labels must lie in 0..1; got 0..2"):
        ge.data.one_hot([2, 0], classes=2)


@pytest.fixture
def cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    return cupy


@pytest.mark.cupy
def test_helpers_keep_cupy_data_on_the_gpu(cupy):
    X, y = np.arange(40.0, dtype=np.float32).reshape(20, 2), np.arange(20) % 3
    host_split = ge.data.train_test_split(X, y, 0.25, seed=4)
    device_split = ge.data.train_test_split(cupy.asarray(X), cupy.asarray(y), 0.25, seed=4)
    for h, d in zip(host_split, device_split):
        assert isinstance(d, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(d), h)  # one seed, one split, on both backends
    onehot = ge.data.one_hot(cupy.asarray(y))
    assert isinstance(onehot, cupy.ndarray) and onehot.dtype == cupy.float32
    np.testing.assert_array_equal(cupy.asnumpy(onehot), ge.data.one_hot(y))
    Z, mean, std = ge.data.standardize(cupy.asarray(X))
    assert isinstance(Z, cupy.ndarray) and Z.dtype == cupy.float32
    np.testing.assert_allclose(cupy.asnumpy(Z), ge.data.standardize(X)[0], rtol=1e-5)
