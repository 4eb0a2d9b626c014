"""Dropout and Gaussian noise draw on the array's backend, through ``xp.random``.

``ge_device_xp`` (graphengine's pytest plugin) is NumPy behind CuPy-like arrays that refuse
host arrays, with an ``xp.random`` that records every draw. With NumPy's own generators
made to fail, a forward that still works and records its draws in ``xp.random`` draws on
the device: no host mask, no host-to-device copy. The real CuPy tests at the end run where
CuPy and a GPU are present.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.regularizers import Dropout, GaussianNoise, RegularizerError
from graphengine.plugins.regularizers.noise import keep_mask, noise_sample
from graphengine.testing.pytest_plugin import DeviceArray


@pytest.fixture
def no_host_random(monkeypatch):
    """NumPy's generators (the new API, the global legacy functions, RandomState) fail."""
    def refuse(*args, **kwargs):
        raise AssertionError("drew random numbers with numpy's host generator")

    class RefusedRandomState(np.random.RandomState):  # a class still, for isinstance checks inside numpy
        def __init__(self, *args, **kwargs):
            refuse()

    for name in ("default_rng", "random", "rand", "randn", "standard_normal", "normal", "uniform"):
        monkeypatch.setattr(np.random, name, refuse)
    monkeypatch.setattr(np.random, "RandomState", RefusedRandomState)


def host(a):
    return a.get()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_seeded_dropout_draws_its_mask_through_xp_random(ge_device_xp, no_host_random, dtype):
    xp, p, seed = ge_device_xp, 0.4, 7
    x = xp.asarray(np.linspace(1.0, 2.0, 60).reshape(6, 10).astype(dtype))
    op = Dropout()
    out = op.forward(xp, x, p=p, seed=seed)
    assert isinstance(out, DeviceArray) and out.dtype == np.dtype(dtype)
    assert xp.random.calls[0] == ("default_rng", seed)
    (draw,) = xp.random.draws()
    assert draw[0] == "random" and draw[2] == ((6, 10),) and draw[3] == {"dtype": np.dtype("float32")}
    mask = op._masks[id(out)]
    assert isinstance(mask, DeviceArray) and mask.dtype == np.dtype(dtype)  # no float64 mask for float32 data
    expected_keep = np.asarray(host(keep_mask((6, 10), p, seed, xp)))
    np.testing.assert_array_equal(host(out) != 0, expected_keep)
    np.testing.assert_allclose(host(out), host(x) * expected_keep / (1 - p), rtol=1e-3)


def test_the_same_seed_gives_the_same_mask_for_float32_and_float64(ge_device_xp):
    xp = ge_device_xp
    x = np.linspace(1.0, 2.0, 200).reshape(10, 20)
    op = Dropout()
    a = host(op.forward(xp, xp.asarray(x.astype(np.float32)), p=0.5, seed=3))
    b = host(op.forward(xp, xp.asarray(x), p=0.5, seed=3))
    np.testing.assert_array_equal(a != 0, b != 0)


def test_unseeded_dropout_keeps_one_device_generator_and_draws_fresh_masks(ge_device_xp, no_host_random):
    xp = ge_device_xp
    x = xp.asarray(np.ones((20, 30), dtype=np.float32))
    op = Dropout()
    masks = [host(op.forward(xp, x, p=0.5)) != 0 for _ in range(3)]
    assert [c for c in xp.random.calls if c[0] == "default_rng"] == [("default_rng", None)]  # one generator
    assert len(xp.random.draws()) == 3
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])


def test_dropout_backward_on_the_device_is_the_forward_mask(ge_device_xp, no_host_random):
    xp, p = ge_device_xp, 0.25
    x = xp.asarray(np.zeros((8, 5), dtype=np.float32))  # all zeros: the output cannot show the mask
    op = Dropout()
    out = op.forward(xp, x, p=p, seed=5)
    grad = xp.asarray(np.ones((8, 5), dtype=np.float32))
    (gx,) = op.backward(xp, grad, (x,), out, p=p, seed=5)
    expected = np.asarray(host(keep_mask((8, 5), p, 5, xp))) / np.float32(1 - p)
    assert isinstance(gx, DeviceArray) and gx.dtype == np.float32
    np.testing.assert_allclose(host(gx), expected)
    # an output this instance did not produce: the mask is drawn again from the seed, on the device
    (again,) = Dropout().backward(xp, grad, (x,), out.copy(), p=p, seed=5)
    np.testing.assert_allclose(host(again), expected)


@pytest.mark.parametrize("dtype, draw", [("float32", "float32"), ("float64", "float64"), ("float16", "float32")])
def test_seeded_gaussian_noise_draws_on_the_device_in_the_data_dtype(ge_device_xp, no_host_random, dtype, draw):
    xp = ge_device_xp
    x = xp.asarray(np.zeros((50, 40), dtype=dtype))
    out = GaussianNoise().forward(xp, x, std=0.5, seed=9)
    assert isinstance(out, DeviceArray) and out.dtype == np.dtype(dtype)
    (call,) = xp.random.draws()
    assert call[0] == "standard_normal" and call[3] == {"dtype": np.dtype(draw)}
    np.testing.assert_array_equal(host(out), host(noise_sample((50, 40), 0.5, 9, dtype, xp)))
    assert float(host(out).astype(np.float64).std()) == pytest.approx(0.5, rel=0.05)


def test_unseeded_gaussian_noise_is_fresh_per_call(ge_device_xp, no_host_random):
    xp = ge_device_xp
    x = xp.asarray(np.zeros((10, 10), dtype=np.float32))
    op = GaussianNoise()
    a, b = host(op.forward(xp, x, std=1.0)), host(op.forward(xp, x, std=1.0))
    assert a.dtype == np.float32 and not np.array_equal(a, b)
    assert [c[0] for c in xp.random.calls] == ["default_rng", "standard_normal", "standard_normal"]


def test_evaluation_draws_nothing(ge_device_xp, no_host_random):
    xp = ge_device_xp
    x = xp.asarray(np.ones((3, 3), dtype=np.float32))
    for op, attrs in ((Dropout(), dict(p=0.5, training=False)), (GaussianNoise(), dict(std=1.0, training=False))):
        out = op.forward(xp, x, **attrs)
        np.testing.assert_array_equal(host(out), np.ones((3, 3)))
    assert xp.random.calls == []


@pytest.mark.parametrize("op", ["dropout", "gaussian_noise"])
def test_a_negative_seed_is_refused_when_the_node_is_built(op):
    g = ge.Graph("bad_seed")
    x = g.input("x", shape=(None, 3))
    with pytest.raises(RegularizerError, match=rf"op '{op}': seed=-1 must be None .* or a non-negative int"):
        getattr(ge.ops, op)(x, seed=-1)
    assert len(g) == 1


@pytest.mark.parametrize("seed, given", [(1.5, "a float"), (True, "a bool"), ("7", "a str")])
@pytest.mark.parametrize("op", ["dropout", "gaussian_noise"])
def test_a_seed_of_the_wrong_type_is_refused_by_the_annotation(op, seed, given):
    g = ge.Graph("bad_seed")
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match=rf"op {op}\): attribute seed={seed!r} \({given}\) does not fit "
                                                    rf"op '{op}': seed takes an int or None"):
        getattr(ge.ops, op)(x, seed=seed)
    assert len(g) == 1


@pytest.mark.parametrize("attr, value", [("p", "0.5"), ("training", 1), ("std", None)])
def test_rate_and_mode_of_the_wrong_type_are_refused_at_build(attr, value):
    op = "gaussian_noise" if attr == "std" else "dropout"
    g = ge.Graph("bad_attr")
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match=rf"attribute {attr}={value!r} .* does not fit op '{op}'"):
        getattr(ge.ops, op)(x, **{attr: value})
    assert len(g) == 1


# --------------------------------------------------------------------------- real CuPy

@pytest.fixture
def cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    return cupy


@pytest.mark.cupy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_dropout_draws_on_the_gpu_reproducibly(cupy, no_host_random, dtype):
    p = 0.3
    x = cupy.ones((400, 500), dtype=dtype)
    op = Dropout()
    out = op.forward(cupy, x, p=p, seed=11)
    again = Dropout().forward(cupy, x, p=p, seed=11)
    assert isinstance(out, cupy.ndarray) and out.dtype == np.dtype(dtype)
    assert isinstance(op._masks[id(out)], cupy.ndarray) and op._masks[id(out)].dtype == np.dtype(dtype)
    cupy.testing.assert_array_equal(out, again)  # the same seed: the same mask on this backend
    kept = float(cupy.count_nonzero(out)) / out.size
    assert kept == pytest.approx(1 - p, abs=0.005)
    (gx,) = op.backward(cupy, cupy.ones_like(x), (x,), out, p=p, seed=11)
    cupy.testing.assert_array_equal(gx, out)  # with x = 1 the gradient is the scaled mask, i.e. the output
    fresh = [Dropout().forward(cupy, x, p=p) for _ in range(2)]
    assert not bool(cupy.array_equal(fresh[0], fresh[1]))


@pytest.mark.cupy
def test_cupy_gaussian_noise_draws_on_the_gpu_in_float32(cupy, no_host_random):
    x = cupy.zeros((300, 400), dtype=cupy.float32)
    out = GaussianNoise().forward(cupy, x, std=0.5, seed=3)
    assert isinstance(out, cupy.ndarray) and out.dtype == cupy.float32
    cupy.testing.assert_array_equal(out, GaussianNoise().forward(cupy, x, std=0.5, seed=3))
    assert float(out.std()) == pytest.approx(0.5, rel=0.01)


@pytest.mark.cupy
def test_cupy_graph_with_dropout_runs_and_backpropagates_the_mask(cupy):
    g = ge.Graph("dropout_cupy")
    x = g.input("x", shape=(None, 6), dtype="float32")
    y = ge.ops.dropout(x, p=0.5, seed=2)
    total = ge.ops.sum(y)
    g.to("cupy")
    X = np.ones((50, 6), dtype=np.float32)
    run = g.forward({"x": X}).backward(total)
    value, grad = run.value(y), run.grad(x)
    assert isinstance(value, cupy.ndarray) and value.dtype == cupy.float32
    cupy.testing.assert_array_equal(grad, value)  # x = 1: d sum(y) / dx is the scaled mask
