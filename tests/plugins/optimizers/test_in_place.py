"""The one update mechanism: every built-in rule changes the param (and its state) in place,
with temporaries from ``Optimizer.scratch``, and gives the numbers of the functional
formulas it replaced; functional third-party rules (returning a new array) still work.

The functional references below are the rules as they were written before the in-place
rewrite (one new array per operation), kept here as the specification.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import graphengine as ge

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "adamw"]
HYPER = {
    "sgd": dict(lr=0.1),
    "momentum": dict(lr=0.1, momentum=0.9),
    "nesterov": dict(lr=0.1, momentum=0.8),
    "adagrad": dict(lr=0.1, eps=1e-8, initial_accumulator=0.1),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6),
    "rmsprop": dict(lr=0.01, rho=0.9, eps=1e-8),
    "adam": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8),
    "adamax": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8),
    "adamw": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.5),
}


# -- the functional formulas (one new array per operation) ------------------------------

def f_sgd(xp, h, value, grad, state):
    return value - h["lr"] * grad


def f_momentum(xp, h, value, grad, state):
    velocity = h["momentum"] * state["velocity"] - h["lr"] * grad
    state["velocity"] = velocity
    return value + velocity


def f_nesterov(xp, h, value, grad, state):
    velocity = h["momentum"] * state["velocity"] - h["lr"] * grad
    state["velocity"] = velocity
    return value + h["momentum"] * velocity - h["lr"] * grad


def f_adagrad(xp, h, value, grad, state):
    s = state["sum_squares"] + grad * grad
    state["sum_squares"] = s
    return value - h["lr"] * grad / (xp.sqrt(s) + h["eps"])


def f_adadelta(xp, h, value, grad, state):
    rho, eps = h["rho"], h["eps"]
    square_avg = rho * state["square_avg"] + (1 - rho) * grad * grad
    delta = xp.sqrt(state["delta_avg"] + eps) / xp.sqrt(square_avg + eps) * grad
    state["square_avg"] = square_avg
    state["delta_avg"] = rho * state["delta_avg"] + (1 - rho) * delta * delta
    return value - h["lr"] * delta


def f_rmsprop(xp, h, value, grad, state):
    square_avg = h["rho"] * state["square_avg"] + (1 - h["rho"]) * grad * grad
    state["square_avg"] = square_avg
    return value - h["lr"] * grad / (xp.sqrt(square_avg) + h["eps"])


def _f_adam_direction(xp, h, grad, state):
    beta1, beta2 = h["beta1"], h["beta2"]
    t = state["step"] + 1
    m = beta1 * state["m"] + (1 - beta1) * grad
    v = beta2 * state["v"] + (1 - beta2) * grad * grad
    state["step"], state["m"], state["v"] = t, m, v
    return (m / (1 - beta1 ** t)) / (xp.sqrt(v / (1 - beta2 ** t)) + h["eps"])


def f_adam(xp, h, value, grad, state):
    return value - h["lr"] * _f_adam_direction(xp, h, grad, state)


def f_adamw(xp, h, value, grad, state):
    direction = _f_adam_direction(xp, h, grad, state)
    return value - h["lr"] * (direction + h["weight_decay"] * value)


def f_adamax(xp, h, value, grad, state):
    beta1, beta2 = h["beta1"], h["beta2"]
    t = state["step"] + 1
    m = beta1 * state["m"] + (1 - beta1) * grad
    u = xp.maximum(beta2 * state["u"], xp.abs(grad))
    state["step"], state["m"], state["u"] = t, m, u
    return value - (h["lr"] / (1 - beta1 ** t)) * m / (u + h["eps"])


FUNCTIONAL = {name: globals()[f"f_{name}"] for name in NAMES}
SHAPES = [(4, 3), (5,), ()]


def _graph(dtype, seed=0):
    rng = np.random.default_rng(seed)
    g = ge.Graph("inplace")
    params = [g.param(f"p{i}", rng.standard_normal(shape).astype(dtype)) for i, shape in enumerate(SHAPES)]
    return g, params


def _grads(params, dtype, seed):
    rng = np.random.default_rng(seed)
    return {p: rng.standard_normal(p.shape).astype(dtype) for p in params}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_in_place_rule_gives_the_numbers_of_the_functional_formula(name, dtype):
    _, params = _graph(dtype)
    opt = ge.optimizers.create(name, params, **HYPER[name])
    values = {p: np.array(p.value, copy=True) for p in params}
    states = {p: opt.init_state(np, p.value) for p in params}
    for seed in range(6):
        grads = _grads(params, dtype, seed)
        opt.step(grads)
        for p in params:
            values[p] = np.asarray(FUNCTIONAL[name](np, HYPER[name], values[p], grads[p], states[p]))
            assert values[p].dtype == dtype  # the reference itself keeps float32 (weak Python scalars)
            # the same operations in the same order, each rounded once: equal to the last bit
            np.testing.assert_array_equal(p.value, values[p],
                                          err_msg=f"{name} {dtype.__name__} step {seed} param {p.name}")
            for key, item in states[p].items():
                np.testing.assert_array_equal(opt.state[p][key], item,
                                              err_msg=f"{name} state[{key!r}] step {seed}")


@pytest.mark.parametrize("name", NAMES)
def test_the_param_array_and_the_state_arrays_are_updated_in_place(name):
    _, params = _graph(np.float32)
    opt = ge.optimizers.create(name, params, **HYPER[name])
    opt.step(_grads(params, np.float32, 0))
    arrays = {p: p.value for p in params}
    state_arrays = {p: {k: v for k, v in opt.state[p].items() if hasattr(v, "shape")} for p in params}
    counts = {p: p._updates for p in params}
    before = {p: np.array(p.value, copy=True) for p in params}
    grads = _grads(params, np.float32, 1)
    kept = {p: np.array(g, copy=True) for p, g in grads.items()}
    opt.step(grads)
    for p in params:
        assert p.value is arrays[p], f"{name} replaced the array of {p.name}"
        assert p.value.dtype == np.float32 and isinstance(p.value, np.ndarray)
        assert not np.array_equal(p.value, before[p]), f"{name} did not change {p.name}"
        assert p._updates == counts[p] + 1
        for key, item in state_arrays[p].items():
            assert opt.state[p][key] is item, f"{name} replaced state[{key!r}]"
            assert item.dtype == np.float32
        np.testing.assert_array_equal(grads[p], kept[p], err_msg=f"{name} changed the gradient")


@pytest.mark.parametrize("name", NAMES)
def test_a_step_allocates_no_param_sized_array(name):
    """After the first step (state and scratch made), a step of a 256 KiB param allocates
    nothing of its size: no temporaries, no float64 copies."""
    g = ge.Graph("alloc")
    p = g.param("W", np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32))
    opt = ge.optimizers.create(name, [p], **HYPER[name])
    grads = {p: np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)}
    opt.step(grads)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        opt.step(grads)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < p.value.nbytes // 4, f"{name}: a step allocated {peak} bytes (the param is {p.value.nbytes})"


def test_scratch_is_reused_per_shape_dtype_and_index():
    g = ge.Graph("scratch")
    a = g.param("a", np.zeros((2, 3)))
    opt = ge.optimizers.create("sgd", [a])
    s0 = opt.scratch(np, a.value)
    assert s0.shape == (2, 3) and s0.dtype == np.float64
    assert opt.scratch(np, np.ones((2, 3))) is s0
    assert opt.scratch(np, a.value, 1) is not s0
    assert opt.scratch(np, np.zeros((2, 3), np.float32)).dtype == np.float32
    assert opt.scratch(np, np.zeros((3, 2))) is not s0
    assert opt.scratch(np, np.zeros(())).shape == ()


# -- functional (third-party) rules ------------------------------------------------------

class FunctionalLion(ge.Optimizer):
    """Lion as the example plugin writes it: returns a new array, assigns new state."""

    name = "functional_lion"
    defaults = {"lr": 0.1, "beta1": 0.9, "beta2": 0.99}

    def init_state(self, xp, value):
        return {"m": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        lr, beta1, beta2 = (float(self.hyper[k]) for k in ("lr", "beta1", "beta2"))
        direction = xp.sign(beta1 * state["m"] + (1 - beta1) * grad)
        state["m"] = beta2 * state["m"] + (1 - beta2) * grad
        return xp.asarray(value - lr * direction)


def test_a_functional_rule_gets_its_array_stored_and_the_old_one_left_alone():
    g = ge.Graph("lion")
    p = g.param("w", np.array([1.0, -2.0, 0.5], dtype=np.float32))
    opt = FunctionalLion([p])
    old = p.value
    opt.step({p: np.array([0.3, -0.1, 0.0], dtype=np.float32)})
    np.testing.assert_allclose(p.value, [0.9, -1.9, 0.5], rtol=1e-6)
    assert p.value is not old and p.value.dtype == np.float32
    np.testing.assert_array_equal(old, [1.0, -2.0, 0.5])      # replaced, not changed in place
    assert p._updates == 0                                       # only in-place changes are counted


def test_a_functional_rule_returning_the_gradient_or_a_state_array_gets_a_copy():
    class ReturnsGrad(ge.Optimizer):
        name = "returns_grad"

        def init_state(self, xp, value):
            return {"last": xp.zeros_like(value)}

        def update(self, xp, value, grad, state):
            state["last"] = value + 1.0
            return grad if self.hyper["lr"] > 0.5 else state["last"]

    g = ge.Graph("alias")
    p = g.param("w", np.zeros(3))
    grad = np.array([1.0, 2.0, 3.0])
    ReturnsGrad([p], lr=1.0).step({p: grad})
    assert p.value is not grad and not np.shares_memory(p.value, grad)
    np.testing.assert_array_equal(p.value, grad)
    opt = ReturnsGrad([p], lr=0.1)
    opt.step({p: grad})
    assert p.value is not opt.state[p]["last"]
    np.testing.assert_array_equal(p.value, [2.0, 3.0, 4.0])


def test_a_functional_rule_returning_a_numpy_scalar_or_float64_keeps_an_array_of_the_param_dtype():
    class Scalar(ge.Optimizer):
        name = "scalar"

        def update(self, xp, value, grad, state):
            return np.float64(value) - 0.5  # a NumPy float64 scalar for a float32 0-d param

    g = ge.Graph("scalar")
    p = g.param("s", np.array(1.0, dtype=np.float32))
    Scalar([p]).step({p: np.array(1.0, dtype=np.float32)})
    assert isinstance(p.value, np.ndarray) and p.value.dtype == np.float32 and float(p.value) == 0.5


def test_a_functional_rule_returning_the_wrong_shape_is_refused():
    class Flat(ge.Optimizer):
        name = "flat"

        def update(self, xp, value, grad, state):
            return (value - grad).ravel()

    g = ge.Graph("flat")
    p = g.param("W", np.zeros((2, 3)))
    with pytest.raises(ge.ShapeError, match=r"update\(\) returned an array of shape \(6,\) for param 'W' of shape \(2, 3\)"):
        Flat([p]).step({p: np.ones((2, 3))})


def test_a_read_only_param_array_gives_a_clear_error():
    g = ge.Graph("ro")
    p = g.param("W", np.zeros(3))
    p._value.flags.writeable = False   # e.g. an array set from a read-only memory map
    with pytest.raises(ge.GraphEngineError, match=r"array of param 'W' is read-only.*np.array\(p.value, copy=True\)"):
        ge.optimizers.create("sgd", [p]).step({p: np.ones(3)})


# -- g.param owns its array --------------------------------------------------------------

def test_param_copies_the_callers_array():
    data = np.array([1.0, 2.0, 3.0])
    g = ge.Graph("own")
    a = g.param("a", data)
    b = g.param("b", data)
    c = g.param("c", data[1:])              # a view shares memory too
    assert not np.shares_memory(a.value, data) and not np.shares_memory(a.value, b.value)
    assert not np.shares_memory(c.value, data)
    ge.optimizers.create("sgd", [a, c], lr=1.0).step({a: np.ones(3), c: np.ones(2)})
    np.testing.assert_array_equal(data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a.value, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(b.value, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(c.value, [1.0, 2.0])


def test_param_from_a_list_or_a_cast_array_is_still_its_own():
    g = ge.Graph("own2")
    data = np.array([1.0, 2.0], dtype=np.float64)
    a = g.param("a", data, dtype=np.float32)
    b = g.param("b", [1.0, 2.0])
    assert a.value.dtype == np.float32 and not np.shares_memory(a.value, data)
    assert b.value.dtype == np.float64 and b.value.base is None
