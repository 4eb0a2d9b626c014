"""Every optimizer's update against values worked out from its formula, step by step.

Two kinds of expectations, both independent of the plugin code:

* literal numbers worked out by hand for the first steps (the arithmetic is in comments);
* a scalar reference written from the paper's formula in plain Python floats
  (``math.sqrt``, one entry at a time), run for three steps.

The gradients are fixed arrays handed to ``opt.step`` as a mapping, so each step's input
is known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.optimizers import OptimizerConfigError

THETA0 = [1.0, -2.0]
GRADS = [[0.5, -1.0], [-0.25, 2.0], [1.0, 0.0]]

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "adamw"]


def run_steps(name, grads=GRADS, theta0=THETA0, dtype=np.float64, **hyper):
    g = ge.Graph(f"opt_{name}")
    theta = g.param("theta", np.array(theta0, dtype=dtype))
    opt = ge.optimizers.create(name, [theta], **hyper)
    values = []
    for grad in grads:
        opt.step({theta: np.array(grad, dtype=dtype)})
        values.append(np.array(theta.value, copy=True))
    return values, opt, theta


# -- scalar references, one entry at a time, straight from the formulas ------------------

def ref_sgd(theta, grads, lr):
    out = []
    for g in grads:
        theta = theta - lr * g
        out.append(theta)
    return out


def ref_momentum(theta, grads, lr, momentum):        # deck 002: v <- a v - lr g; W <- W + v
    v, out = 0.0, []
    for g in grads:
        v = momentum * v - lr * g
        theta = theta + v
        out.append(theta)
    return out


def ref_nesterov_classical(theta, grads_at, lr, momentum):
    """Classical NAG on theta; ``grads_at(point)`` is the gradient at the look-ahead point.
    Returns the look-ahead points theta + momentum v (what the graph holds)."""
    v, out = 0.0, []
    for grad_at in grads_at:
        g = grad_at
        v = momentum * v - lr * g
        theta = theta + v
        out.append(theta + momentum * v)
    return out


def ref_adagrad(theta, grads, lr, eps):
    h, out = 0.0, []
    for g in grads:
        h += g * g
        theta -= lr * g / (math.sqrt(h) + eps)
        out.append(theta)
    return out


def ref_adadelta(theta, grads, lr, rho, eps):        # Zeiler 2012, algorithm 1
    eg2, edx2, out = 0.0, 0.0, []
    for g in grads:
        eg2 = rho * eg2 + (1 - rho) * g * g
        dx = -math.sqrt(edx2 + eps) / math.sqrt(eg2 + eps) * g
        edx2 = rho * edx2 + (1 - rho) * dx * dx
        theta += lr * dx
        out.append(theta)
    return out


def ref_rmsprop(theta, grads, lr, rho, eps):
    s, out = 0.0, []
    for g in grads:
        s = rho * s + (1 - rho) * g * g
        theta -= lr * g / (math.sqrt(s) + eps)
        out.append(theta)
    return out


def ref_adam(theta, grads, lr, beta1, beta2, eps, weight_decay=0.0):   # Kingma & Ba, algorithm 1
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * (m_hat / (math.sqrt(v_hat) + eps) + weight_decay * theta)
        out.append(theta)
    return out


def ref_adamax(theta, grads, lr, beta1, beta2, eps):  # Kingma & Ba, algorithm 2
    m = u = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, abs(g))
        theta -= (lr / (1 - beta1 ** t)) * m / (u + eps)
        out.append(theta)
    return out


REFERENCES = {
    "sgd": (ref_sgd, dict(lr=0.1)),
    "momentum": (ref_momentum, dict(lr=0.1, momentum=0.9)),
    "nesterov": (ref_nesterov_classical, dict(lr=0.1, momentum=0.9)),
    "adagrad": (ref_adagrad, dict(lr=0.1, eps=1e-8)),
    "adadelta": (ref_adadelta, dict(lr=1.0, rho=0.9, eps=1e-6)),
    "rmsprop": (ref_rmsprop, dict(lr=0.01, rho=0.9, eps=1e-8)),
    "adam": (ref_adam, dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)),
    "adamax": (ref_adamax, dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)),
    "adamw": (ref_adam, dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.5)),
}


@pytest.mark.parametrize("name", NAMES)
def test_three_steps_match_the_scalar_reference(name):
    reference, hyper = REFERENCES[name]
    got, _, _ = run_steps(name, **hyper)
    for i in range(len(THETA0)):
        expected = reference(THETA0[i], [g[i] for g in GRADS], **hyper)
        for step in range(len(GRADS)):
            assert got[step][i] == pytest.approx(expected[step], rel=1e-12, abs=1e-12), (name, step, i)


# -- literal values worked out by hand ------------------------------------------------------

def test_sgd_by_hand():
    got, _, _ = run_steps("sgd", lr=0.1)
    # theta - 0.1 g: [1 - .05, -2 + .1]; then [.95 + .025, -1.9 - .2]; then [.975 - .1, -2.1]
    np.testing.assert_allclose(got, [[0.95, -1.9], [0.975, -2.1], [0.875, -2.1]], rtol=0, atol=1e-15)


def test_momentum_by_hand():
    got, opt, theta = run_steps("momentum", lr=0.1, momentum=0.9)
    # v1 = -.1 g1 = [-.05, .1]; v2 = .9 v1 - .1 g2 = [-.02, -.11]; v3 = .9 v2 - .1 g3 = [-.118, -.099]
    np.testing.assert_allclose(got, [[0.95, -1.9], [0.93, -2.01], [0.812, -2.109]], rtol=0, atol=1e-14)
    np.testing.assert_allclose(opt.state[theta]["velocity"], [-0.118, -0.099], atol=1e-15)


def test_nesterov_by_hand():
    got, _, _ = run_steps("nesterov", lr=0.1, momentum=0.9)
    # W1 = W0 + .9 v1 - .1 g1 = [1 - .045 - .05, -2 + .09 + .1]
    # W2 = W1 + .9 v2 - .1 g2 = [.905 - .018 + .025, -1.81 - .099 - .2]
    # W3 = W2 + .9 v3 - .1 g3 = [.912 - .1062 - .1, -2.109 - .0891]
    np.testing.assert_allclose(got, [[0.905, -1.81], [0.912, -2.109], [0.7058, -2.1981]], rtol=0, atol=1e-14)


def test_adagrad_by_hand():
    got, _, _ = run_steps("adagrad", lr=0.1, eps=1e-8)
    # h1 = [.25, 1]: step lr * g / sqrt(h) = lr * sign(g)
    # h2 = [.3125, 5]; h3 = [1.3125, 5]
    expected = [[0.9, -1.9],
                [0.9 + 0.025 / math.sqrt(0.3125), -1.9 - 0.2 / math.sqrt(5)],
                [0.9 + 0.025 / math.sqrt(0.3125) - 0.1 / math.sqrt(1.3125), -1.9 - 0.2 / math.sqrt(5)]]
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def test_adam_by_hand():
    got, _, _ = run_steps("adam", lr=0.1)
    # step 1: m_hat = g, v_hat = g^2, so the step is lr * sign(g)
    np.testing.assert_allclose(got[0], [0.9, -1.9], rtol=1e-7)
    # step 2: m = .09 g1 + .1 g2 = [.02, .11]; v = .000999 g1^2 + .001 g2^2 = [.00031225, .004999]
    m_hat = np.array([0.02, 0.11]) / (1 - 0.9 ** 2)
    v_hat = np.array([0.00031225, 0.004999]) / (1 - 0.999 ** 2)
    np.testing.assert_allclose(got[1], np.array([0.9, -1.9]) - 0.1 * m_hat / np.sqrt(v_hat), rtol=1e-7)


def test_adamax_by_hand():
    got, _, _ = run_steps("adamax", lr=0.1)
    # step 1: m = .1 g1, u = |g1|; lr / (1 - .9) * m / u = lr * sign(g1)
    np.testing.assert_allclose(got[0], [0.9, -1.9], rtol=1e-7)
    # step 2: m = [.02, .11]; u = max(.999 * [.5, 1], [.25, 2]) = [.4995, 2]; lr / .19
    np.testing.assert_allclose(got[1], [0.9 - 0.1 / 0.19 * 0.02 / 0.4995, -1.9 - 0.1 / 0.19 * 0.11 / 2], rtol=1e-7)


def test_adamw_by_hand():
    got, _, _ = run_steps("adamw", lr=0.1, weight_decay=0.5)
    # step 1: theta - lr (sign g + wd theta) = [1 - .1 (1 + .5), -2 - .1 (-1 - 1)]
    np.testing.assert_allclose(got[0], [0.85, -1.8], rtol=1e-7)


def test_adadelta_first_step_by_hand():
    got, _, _ = run_steps("adadelta", lr=1.0, rho=0.9, eps=1e-6)
    # E[g^2] = .1 g^2; delta = sqrt(0 + eps) / sqrt(.1 g^2 + eps) * g
    expected = [1.0 - 1e-3 / math.sqrt(0.025 + 1e-6) * 0.5, -2.0 + 1e-3 / math.sqrt(0.1 + 1e-6) * 1.0]
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)


def test_rmsprop_first_step_by_hand():
    got, _, _ = run_steps("rmsprop", lr=0.01, rho=0.9)
    # s = .1 g^2, so the first step is lr * sign(g) * sqrt(10)
    np.testing.assert_allclose(got[0], [1 - 0.01 * math.sqrt(10), -2 + 0.01 * math.sqrt(10)], rtol=1e-7)


# -- properties of the base machinery the rules rely on --------------------------------------

def test_defaults_and_registration(plugin_manager):
    assert sorted(plugin_manager.optimizers) == sorted(NAMES)
    assert all(plugin_manager.owner_of("optimizers", n) == "optimizers" for n in NAMES)
    adam = plugin_manager.optimizers["adam"]
    assert adam.defaults == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert plugin_manager.optimizers["momentum"].defaults == {"lr": 0.01, "momentum": 0.9}
    assert plugin_manager.optimizers["adamw"].defaults["weight_decay"] == 0.01


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32_in_values_and_state(name):
    _, opt, theta = run_steps(name, dtype=np.float32, lr=0.01)
    assert theta.value.dtype == np.float32
    for key, value in opt.state[theta].items():
        if hasattr(value, "dtype"):
            assert value.dtype == np.float32, (name, key)


@pytest.mark.parametrize("name", NAMES)
def test_lr_is_read_at_every_step(name):
    """A schedule works by setting hyper['lr']: the next step must use the new value."""
    g = ge.Graph("lr")
    a = g.param("a", np.array([1.0, -2.0]))
    b = g.param("b", np.array([1.0, -2.0]))
    opt_a = ge.optimizers.create(name, [a], lr=0.1)
    opt_b = ge.optimizers.create(name, [b], lr=0.1)
    grad = np.array([0.5, -1.0])
    opt_a.step({a: grad})
    opt_b.step({b: grad})
    opt_b.hyper["lr"] = 0.0
    opt_a.step({a: grad})
    before = np.array(b.value, copy=True)
    opt_b.step({b: grad})
    assert not np.allclose(a.value, before)
    velocity = -0.1 * grad
    if name == "momentum":   # the velocity keeps moving b even with lr 0 (deck form)
        np.testing.assert_allclose(b.value, before + 0.9 * velocity)
    elif name == "nesterov":  # W + mu * (mu v) - 0 * g
        np.testing.assert_allclose(b.value, before + 0.9 * 0.9 * velocity)
    else:
        np.testing.assert_array_equal(b.value, before)


def test_adam_bias_correction_counts_steps_per_param():
    g = ge.Graph("perparam")
    a = g.param("a", np.array([1.0]))
    b = g.param("b", np.array([1.0]))
    opt = ge.optimizers.create("adam", [a, b], lr=0.1)
    opt.step({a: np.array([0.5])})             # b gets no gradient this step
    opt.step({a: np.array([0.5]), b: np.array([-3.0])})
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    # b's first own step is bias-corrected as step 1: lr * sign(g)
    assert float(b.value[0]) == pytest.approx(1.1, rel=1e-7)


def test_gradients_from_a_run(rng):
    g = ge.Graph("run")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.standard_normal((3, 1)))
    loss = ge.ops.mean(ge.ops.square(x @ W))
    X = rng.standard_normal((8, 3))
    run = g.forward({"x": X}).backward(loss)
    expected = W.value - 0.5 * (2 * X.T @ (X @ W.value) / 8)
    ge.optimizers.create("sgd", g.params(), lr=0.5).step(run)
    np.testing.assert_allclose(W.value, expected, rtol=1e-12)


@pytest.mark.parametrize("name, hyper, match", [
    ("sgd", dict(lr=-0.1), r"lr=-0.1 is out of range"),
    ("momentum", dict(momentum=1.0), r"momentum=1.0 is out of range; it must lie in \[0.0, 1.0\)"),
    ("adam", dict(beta2=1.5), "beta2"),
    ("adam", dict(eps=0.0), "eps"),
    ("rmsprop", dict(rho="high"), "rho must be a number"),
    ("adamw", dict(weight_decay=-1), "weight_decay"),
    ("adagrad", dict(lr=float("nan")), "lr"),
])
def test_hyper_parameters_out_of_range_are_refused(name, hyper, match):
    g = ge.Graph("bad")
    p = g.param("p", np.zeros(2))
    with pytest.raises(OptimizerConfigError, match=match):
        ge.optimizers.create(name, [p], **hyper)


def test_unknown_hyper_parameter_suggests_close_name():
    g = ge.Graph("bad")
    p = g.param("p", np.zeros(2))
    with pytest.raises(TypeError, match=r"unknown hyper-parameter beta_1.*Did you mean 'beta1'"):
        ge.optimizers.create("adam", [p], beta_1=0.8)


def test_unknown_optimizer_name_suggests_close_names():
    g = ge.Graph("bad")
    p = g.param("p", np.zeros(2))
    with pytest.raises(ge.UnknownNameError, match=r"no optimizer named 'adamm'.*Did you mean 'adam'") as info:
        ge.optimizers.create("adamm", [p])
    assert isinstance(info.value, KeyError)
