"""Initializers: registration, shapes and dtypes, seeding, fan-in/fan-out and statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.initializers import (
    Initializer,
    InitializerError,
    InitializerOptionError,
    fan_in_and_fan_out,
)

RANDOM = ["normal", "uniform", "xavier_normal", "xavier_uniform", "glorot_normal", "glorot_uniform",
          "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform"]
CONSTANT = ["zeros", "ones", "constant"]


def test_every_initializer_is_registered_by_the_builtin_plugin(plugin_manager):
    assert sorted(plugin_manager.initializers) == sorted(RANDOM + CONSTANT)
    for name in RANDOM + CONSTANT:
        assert plugin_manager.owner_of("initializers", name) == "initializers"
        assert isinstance(plugin_manager.initializers[name], Initializer)
    assert plugin_manager.plugins["initializers"].status == "ok"


def test_design_example_normal_and_zeros_become_params():
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", ge.init.normal((3, 1), std=0.1))
    b = g.param("b", ge.init.zeros((1,)))
    assert W.value.shape == (3, 1) and W.value.dtype == np.float32
    assert b.value.tolist() == [0.0] and b.value.dtype == np.float32
    z = x @ W + b
    out = g.forward({"x": np.ones((2, 3), dtype=np.float32)}).value(z)
    assert out.shape == (2, 1) and out.dtype == np.float32


@pytest.mark.parametrize("name", RANDOM + CONSTANT)
@pytest.mark.parametrize("dtype", ["float32", "float64", np.float16])
def test_shape_and_dtype(name, dtype):
    out = getattr(ge.init, name)((4, 5), dtype=dtype, **({"seed": 0} if name in RANDOM else {}))
    assert isinstance(out, np.ndarray)
    assert out.shape == (4, 5)
    assert out.dtype == np.dtype(dtype)


def test_int_shape_and_zero_d_shape():
    assert ge.init.zeros(3).shape == (3,)
    assert ge.init.normal((), seed=0).shape == ()
    assert ge.init.he_normal((0, 4), mode="fan_out", seed=0).shape == (0, 4)


@pytest.mark.parametrize("name", RANDOM)
def test_same_seed_same_array_other_seed_other_array(name):
    init = getattr(ge.init, name)
    a = init((6, 7), seed=42)
    b = init((6, 7), seed=42)
    c = init((6, 7), seed=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", RANDOM)
def test_unseeded_calls_differ(name):
    init = getattr(ge.init, name)
    assert not np.array_equal(init((50,)), init((50,)))


def test_rng_draws_a_reproducible_sequence():
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    a1, a2 = ge.init.he_normal((3, 4), rng=rng_a), ge.init.he_normal((3, 4), rng=rng_a)
    b1, b2 = ge.init.he_normal((3, 4), rng=rng_b), ge.init.he_normal((3, 4), rng=rng_b)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    np.testing.assert_array_equal(a1, ge.init.he_normal((3, 4), seed=7))  # seed=s draws like default_rng(s)
    assert not np.array_equal(a1, a2)  # the generator advanced


def test_seed_and_rng_together_are_refused():
    with pytest.raises(InitializerError, match="both seed"):
        ge.init.normal((2,), seed=1, rng=np.random.default_rng(1))
    with pytest.raises(InitializerError, match="numpy.random.Generator"):
        ge.init.normal((2,), rng=np.random.RandomState(1))


def test_dtypes_share_the_same_draws():
    a32 = ge.init.xavier_uniform((10, 10), seed=3, dtype="float32")
    a64 = ge.init.xavier_uniform((10, 10), seed=3, dtype="float64")
    np.testing.assert_array_equal(a32, a64.astype(np.float32))


def test_random_initializers_need_a_floating_dtype_constants_do_not():
    with pytest.raises(ge.DtypeError, match="floating dtype"):
        ge.init.normal((2,), dtype="int32")
    assert ge.init.zeros((2,), dtype="int64").dtype == np.int64
    with pytest.raises(ge.DtypeError, match="not a dtype"):
        ge.init.zeros((2,), dtype="no-such-dtype")


@pytest.mark.parametrize("shape, expected", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((784, 128), (784, 128)),          # x @ W: W is (in, out)
    ((3, 3, 16, 32), (3 * 3 * 16, 3 * 3 * 32)),
    ((5, 2, 4), (5 * 2, 5 * 4)),
])
def test_fan_in_and_fan_out(shape, expected):
    assert fan_in_and_fan_out(shape) == expected


def test_zeros_ones_constant_values():
    assert ge.init.zeros((2, 2)).tolist() == [[0, 0], [0, 0]]
    assert ge.init.ones((3,)).tolist() == [1, 1, 1]
    np.testing.assert_array_equal(ge.init.constant((2, 3), value=0.25), np.full((2, 3), 0.25, np.float32))
    assert ge.init.constant((2,)).tolist() == [0.0, 0.0]


# -- statistics on big shapes: the sample std is within a few percent of the formula ---------

def _check_std(values, std, rel=0.02):
    assert abs(float(values.mean())) < 5 * std / math.sqrt(values.size) + 1e-12
    assert float(values.std()) == pytest.approx(std, rel=rel)


def test_he_normal_std_is_sqrt_2_over_fan_in():
    fan_in, fan_out = 2000, 500
    w = ge.init.he_normal((fan_in, fan_out), seed=0)
    _check_std(w, math.sqrt(2 / fan_in))
    w = ge.init.kaiming_normal((fan_in, fan_out), mode="fan_out", seed=1)
    _check_std(w, math.sqrt(2 / fan_out))


def test_he_uniform_limit_and_std():
    fan_in = 800
    w = ge.init.he_uniform((fan_in, 600), seed=0, dtype="float64")
    limit = math.sqrt(6 / fan_in)
    assert float(np.abs(w).max()) <= limit
    assert float(np.abs(w).max()) > 0.99 * limit
    _check_std(w, limit / math.sqrt(3))  # = sqrt(2 / fan_in)


def test_xavier_normal_and_uniform():
    fan_in, fan_out = 700, 300
    w = ge.init.xavier_normal((fan_in, fan_out), seed=0)
    _check_std(w, math.sqrt(2 / (fan_in + fan_out)))
    w = ge.init.glorot_uniform((fan_in, fan_out), seed=1, dtype="float64")
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert float(np.abs(w).max()) <= limit
    _check_std(w, limit / math.sqrt(3))
    w = ge.init.xavier_normal((fan_in, fan_out), gain=2.0, seed=2)
    _check_std(w, 2.0 * math.sqrt(2 / (fan_in + fan_out)))


def test_conv_kernel_uses_receptive_field():
    w = ge.init.he_normal((3, 3, 64, 128), seed=0)
    _check_std(w, math.sqrt(2 / (3 * 3 * 64)))


def test_normal_and_uniform_options():
    w = ge.init.normal((400, 500), mean=1.0, std=0.5, seed=0)
    assert float(w.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(w.std()) == pytest.approx(0.5, rel=0.02)
    assert float(ge.init.normal((400, 500), seed=0).std()) == pytest.approx(0.01, rel=0.02)  # "small" default
    u = ge.init.uniform((1000,), low=2.0, high=3.0, seed=0)
    assert 2.0 <= float(u.min()) and float(u.max()) < 3.0
    d = ge.init.uniform((1000,), seed=0)
    assert -0.05 <= float(d.min()) and float(d.max()) < 0.05


def test_aliases_give_the_same_arrays():
    for a, b in [("xavier_normal", "glorot_normal"), ("xavier_uniform", "glorot_uniform"),
                 ("he_normal", "kaiming_normal"), ("he_uniform", "kaiming_uniform")]:
        np.testing.assert_array_equal(getattr(ge.init, a)((5, 6), seed=9), getattr(ge.init, b)((5, 6), seed=9))


# -- errors -----------------------------------------------------------------------------------

def test_unknown_option_suggests_the_close_one():
    with pytest.raises(InitializerOptionError, match=r"stdev.*Did you mean 'std'") as info:
        ge.init.normal((2,), stdev=0.1)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ge.GraphEngineError)
    with pytest.raises(InitializerOptionError, match="no options"):
        ge.init.zeros((2,), value=1.0)


@pytest.mark.parametrize("call, match", [
    (lambda: ge.init.normal((2,), std=-1.0), "std must be a finite number >= 0"),
    (lambda: ge.init.uniform((2,), low=1.0, high=0.0), "low <= high"),
    (lambda: ge.init.constant((2,), value="a"), "value must be a number"),
    (lambda: ge.init.he_normal((2, 2), mode="fan_avg"), "mode must be 'fan_in' or 'fan_out'"),
    (lambda: ge.init.he_normal((0, 3)), "fan_in 0"),
    (lambda: ge.init.xavier_normal((2, 2), gain=0), "gain must be a finite number > 0"),
    (lambda: ge.init.zeros((2, -1)), "negative dimension"),
    (lambda: ge.init.zeros("3x4"), "tuple of ints"),
    (lambda: ge.init.zeros((2.5, 1)), "tuple of ints"),
])
def test_bad_arguments_are_explained(call, match):
    with pytest.raises(InitializerError, match=match):
        call()


def test_unknown_initializer_name_suggests_close_names():
    with pytest.raises(ge.UnknownOpError, match="he_normal") as info:
        ge.init.he_normall
    assert isinstance(info.value, AttributeError)
