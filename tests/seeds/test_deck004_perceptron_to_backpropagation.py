"""Deck 004 — "Introduction to Deep Learning" (F. Giobergia): from the perceptron to
backpropagation.

Covers the perceptron with x0 = 1, the sigmoid/softmax output properties, the linear
collapse without activations, linear regression (MSE and its closed-form optimum),
gradient descent, the computational graph y = wx + q, the backpropagation example
L = (theta1 theta2 x - y)^2 with every intermediate derivative, and the BCE / CE losses.
"""

import math

import numpy as np
import pytest

import graphengine as ge

# --------------------------------------------------------------------------------------
# Slide "The perceptron": y = f(w0 + w1 x1 + ... + wn xn) = f(sum_{i=0}^n w_i x_i), x0 = 1
# --------------------------------------------------------------------------------------
def test_perceptron_bias_as_weight_of_a_constant_input(rng):
    n = 4
    w = rng.standard_normal(n + 1)  # w0 (bias), w1..wn
    X = rng.standard_normal((6, n))
    g = ge.Graph("perceptron_x0")
    x = g.input("x", shape=(None, n))
    x_aug = g.input("x_aug", shape=(None, n + 1))
    with_bias = ge.ops.sigmoid(g.param("w0", w[:1]) + x @ g.param("w", w[1:, None]))
    folded = ge.ops.sigmoid(x_aug @ g.param("w_all", w[:, None]))     # f(w^T x), x0 = 1
    run = g.forward({"x": X, "x_aug": np.concatenate([np.ones((6, 1)), X], axis=1)})
    np.testing.assert_allclose(run.value(with_bias), run.value(folded), rtol=1e-12)
    np.testing.assert_allclose(run.value(folded), 1 / (1 + np.exp(-(w[0] + X @ w[1:])))[:, None], rtol=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Binary classification" / "Multi-class classification"
#   P(pos|x) = sigma(z), P(neg|x) = 1 - P(pos|x), both in [0, 1], summing to 1;
#   P(c_i|x) = e^{z_i} / sum_j e^{z_j} in [0, 1], sum_i = 1
# --------------------------------------------------------------------------------------
def test_sigmoid_gives_a_valid_binary_distribution():
    zs = np.array([-50.0, -3.0, -0.1, 0.0, 0.1, 3.0, 50.0])
    g = ge.Graph("binary")
    z = g.input("z", shape=(None,))
    pos = ge.ops.sigmoid(z)
    neg = 1 - pos
    neg_direct = ge.ops.sigmoid(-z)   # 1 - sigma(z) = sigma(-z)
    run = g.forward({"z": zs})
    for p in (run.value(pos), run.value(neg)):
        assert np.all((np.asarray(p) >= 0) & (np.asarray(p) <= 1))
    np.testing.assert_allclose(np.asarray(run.value(pos)) + np.asarray(run.value(neg)), 1.0, rtol=1e-15)
    np.testing.assert_allclose(run.value(neg), run.value(neg_direct), atol=1e-15)


@pytest.mark.parametrize("logits", [
    [2.0, 1.0, 0.1, -1.0],                 # (dog, cat, bird, turtle)
    [1000.0, 0.0, -1000.0, 5.0],           # extreme logits stay valid probabilities
    [-7.5, -7.5, -7.5, -7.5],
])
def test_softmax_gives_a_valid_distribution(logits):
    zs = np.array([logits])
    g = ge.Graph("multiclass")
    z = g.input("z", shape=(None, 4))
    p = ge.ops.softmax(z)
    got = np.asarray(g.forward({"z": zs}).value(p))
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    assert float(got.sum()) == pytest.approx(1.0, abs=1e-15)
    shifted = zs - zs.max()
    np.testing.assert_allclose(got, np.exp(shifted) / np.exp(shifted).sum(), rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------------------
# Slide "2. Introduce non-linearities": with f(x) = x, z = s^T W^T x: one layer would do
# --------------------------------------------------------------------------------------
def test_identity_activation_collapses_two_layers(rng):
    Wv = rng.standard_normal((5, 3))   # first layer: 5 inputs -> 3 perceptrons
    sv = rng.standard_normal((3, 1))   # second layer: 3 -> 1
    X = rng.standard_normal((4, 5))
    g = ge.Graph("collapse")
    x = g.input("x", shape=(None, 5))
    two = ge.ops.identity(ge.ops.identity(x @ g.param("W", Wv)) @ g.param("s", sv))
    one = x @ g.param("W_prime", Wv @ sv)   # W' = W s
    run = g.forward({"x": X})
    np.testing.assert_allclose(run.value(two), run.value(one), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Defining weights", "Linear regression":
#   L(theta) = MSE(theta) = 1/n sum (y_i - theta^T x_i)^2; dL/dtheta = 0 at the optimum
# --------------------------------------------------------------------------------------
def _linear_regression(rng):
    X = np.concatenate([np.ones((20, 1)), rng.standard_normal((20, 2))], axis=1)
    y = X @ np.array([[0.5], [2.0], [-1.0]]) + 0.1 * rng.standard_normal((20, 1))
    g = ge.Graph("linear_regression")
    x = g.input("x", shape=(None, 3))
    yn = g.input("y", shape=(None, 1))
    theta = g.param("theta", np.zeros((3, 1)))
    L = ge.ops.mse(x @ theta, yn, reduction="mean")
    return g, theta, L, {"x": X, "y": y}


def test_linear_regression_mse_and_its_gradient(rng):
    g, theta, L, feeds = _linear_regression(rng)
    theta.value = rng.standard_normal((3, 1))
    X, y = feeds["x"], feeds["y"]
    run = g.forward(feeds).backward(L)
    residual = y - X @ theta.value
    assert float(run.value(L)) == pytest.approx(float(np.mean(residual ** 2)), rel=1e-12)
    np.testing.assert_allclose(run.grad(theta), -2 / len(X) * X.T @ residual, rtol=1e-12)


def test_linear_regression_closed_form_optimum_has_zero_gradient(rng):
    g, theta, L, feeds = _linear_regression(rng)
    best, *_ = np.linalg.lstsq(feeds["x"], feeds["y"], rcond=None)   # normal equations
    theta.value = best
    run = g.forward(feeds).backward(L)
    np.testing.assert_allclose(run.grad(theta), 0.0, atol=1e-12)
    best_loss = float(run.value(L))
    # and any other theta has a larger loss (quadratic in theta)
    for _ in range(5):
        theta.value = best + 0.05 * rng.standard_normal((3, 1))
        assert float(g.forward(feeds, fetch=[L]).value(L)) > best_loss


def test_gradient_descent_reaches_the_closed_form_solution(rng):
    # theta_{t+1} = theta_t - alpha grad L(theta_t)
    g, theta, L, feeds = _linear_regression(rng)
    best, *_ = np.linalg.lstsq(feeds["x"], feeds["y"], rcond=None)
    alpha = 0.1
    for _ in range(500):
        run = g.forward(feeds).backward(L)
        theta.value = theta.value - alpha * np.asarray(run.grad(theta))
    np.testing.assert_allclose(theta.value, best, atol=1e-8)


def test_one_dimensional_gradient_step():
    # theta_{t+1} = theta_t - alpha dL/dtheta, on L(theta) = (theta - 3)^2 from theta = 0
    g = ge.Graph("one_d")
    theta = g.param("theta", np.array(0.0))
    L = ge.ops.square(theta - 3.0)
    alpha = 0.25
    expected = 0.0
    for _ in range(4):
        run = g.forward().backward(L)
        assert float(run.grad(theta)) == pytest.approx(2 * (expected - 3.0), rel=1e-15)
        theta.value = theta.value - alpha * np.asarray(run.grad(theta))
        expected = expected - alpha * 2 * (expected - 3.0)     # halves the distance to 3
    assert float(theta.value) == pytest.approx(3.0 - 3.0 / 16, rel=1e-15)
    assert expected == 3.0 - 3.0 / 16


# --------------------------------------------------------------------------------------
# Slides "Using the chain rule" and "Computational graph": f(g(x))' = f'(g(x)) g'(x);
#   y = wx + q as a = wx, z = a + q
# --------------------------------------------------------------------------------------
def test_chain_rule_f_of_g():
    x0 = 0.3
    g = ge.Graph("f_of_g")
    x = g.input("x", shape=())
    inner = ge.ops.tanh(x)            # g(x)
    outer = ge.ops.exp(inner)         # f(g(x))
    run = g.forward({"x": np.array(x0)}).backward(outer)
    expected = math.exp(math.tanh(x0)) * (1 - math.tanh(x0) ** 2)   # f'(g(x)) g'(x)
    assert float(run.grad(x)) == pytest.approx(expected, rel=1e-12)


def test_computational_graph_w_x_plus_q():
    g = ge.Graph("wx_plus_q")
    w = g.input("w", shape=())
    x = g.input("x", shape=())
    q = g.input("q", shape=())
    a = w * x          # first, the intermediate variable a = wx
    z = a + q          # then the output z = a + q
    assert [n.op for n in g.nodes() if n.kind == "op"] == ["mul", "add"]
    assert a.inputs == (w, x) and z.inputs == (a, q)
    run = g.forward({"w": np.array(2.0), "x": np.array(-3.0), "q": np.array(0.5)}).backward(z)
    assert float(run.value(a)) == -6.0 and float(run.value(z)) == -5.5
    assert float(run.grad(w)) == -3.0   # dz/dw = x
    assert float(run.grad(x)) == 2.0    # dz/dx = w
    assert float(run.grad(q)) == 1.0
    assert [n.name for n in run.executed if n.kind == "op"] == [a.name, z.name]


# --------------------------------------------------------------------------------------
# Slide "Backpropagation example": model theta1 theta2 x, L = (theta1 theta2 x - y)^2
#   a = theta1 theta2, b = a x, c = b - y, L = c^2
#   dL/dc = 2c, dL/db = 2c, dL/da = 2cx, dL/dtheta1 = 2cx theta2, dL/dtheta2 = 2cx theta1
#   i.e. dL/dtheta1 = 2(theta1 theta2 x - y) x theta2, dL/dtheta2 = 2(theta1 theta2 x - y) x theta1
# --------------------------------------------------------------------------------------
def _backprop_example(theta1_0, theta2_0):
    g = ge.Graph("backprop_example")
    x = g.input("x", shape=())
    y = g.input("y", shape=())
    theta1 = g.param("theta1", np.array(theta1_0))
    theta2 = g.param("theta2", np.array(theta2_0))
    a = theta1 * theta2
    b = a * x
    c = b - y
    L = ge.ops.square(c)
    return g, dict(theta1=theta1, theta2=theta2, x=x, y=y, a=a, b=b, c=c, L=L)


def test_backprop_example_worked_numbers():
    # theta1 = 2, theta2 = -1.5, x = 0.5, y = 1 (by hand):
    # a = -3, b = -1.5, c = -2.5, L = 6.25; dL/dc = dL/db = -5, dL/da = -2.5,
    # dL/dtheta1 = -2.5 * -1.5 = 3.75, dL/dtheta2 = -2.5 * 2 = -5
    g, n = _backprop_example(2.0, -1.5)
    run = g.forward({"x": np.array(0.5), "y": np.array(1.0)}).backward(n["L"])
    assert [float(run.value(n[k])) for k in "abc"] == [-3.0, -1.5, -2.5]
    assert float(run.value(n["L"])) == 6.25
    assert float(run.grad(n["c"])) == -5.0
    assert float(run.grad(n["b"])) == -5.0
    assert float(run.grad(n["a"])) == -2.5
    assert float(run.grad(n["theta1"])) == 3.75
    assert float(run.grad(n["theta2"])) == -5.0


@pytest.mark.parametrize("theta1_0, theta2_0, x0, y0", [
    (0.7, -1.1, 1.3, 0.4), (-2.0, 0.25, -0.8, 1.5), (1.0, 1.0, 2.0, 2.0),
])
def test_backprop_example_matches_the_slide_formulas(theta1_0, theta2_0, x0, y0):
    g, n = _backprop_example(theta1_0, theta2_0)
    run = g.forward({"x": np.array(x0), "y": np.array(y0)}).backward(n["L"])
    c = theta1_0 * theta2_0 * x0 - y0
    assert float(run.grad(n["c"])) == pytest.approx(2 * c, rel=1e-12, abs=1e-15)            # 2c
    assert float(run.grad(n["b"])) == pytest.approx(2 * c, rel=1e-12, abs=1e-15)            # 2c * d(b - y)/db
    assert float(run.grad(n["a"])) == pytest.approx(2 * c * x0, rel=1e-12, abs=1e-15)       # 2cx
    assert float(run.grad(n["theta1"])) == pytest.approx(2 * c * x0 * theta2_0, rel=1e-12, abs=1e-15)
    assert float(run.grad(n["theta2"])) == pytest.approx(2 * c * x0 * theta1_0, rel=1e-12, abs=1e-15)
    # the backward step in the slide's order: dL/dc -> dL/db -> dL/da -> dL/dtheta
    assert float(run.edge_grad(n["a"], 0)) == pytest.approx(float(run.grad(n["a"])) * theta2_0, rel=1e-12, abs=1e-15)
    assert float(run.edge_grad(n["a"], 1)) == pytest.approx(float(run.grad(n["a"])) * theta1_0, rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------------------
# Slides "Loss functions": MSE, MAE; BCE L = -y log y_hat - (1 - y) log(1 - y_hat) with
# y as a selector; CE L = -sum_i y_i log y_hat_i generalizes BCE to many classes
# --------------------------------------------------------------------------------------
def test_mean_absolute_error(rng):
    pred, target = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    g = ge.Graph("mae")
    p = g.input("p", shape=(None, 2))
    t = g.input("t", shape=(None, 2))
    loss = ge.ops.mae(p, t, reduction="mean")
    assert float(g.forward({"p": pred, "t": target}).value(loss)) == pytest.approx(
        float(np.mean(np.abs(pred - target))), rel=1e-12)


def test_bce_selector():
    y_hat = np.array([0.9, 0.2, 0.6])
    g = ge.Graph("bce_selector")
    p = g.input("y_hat", shape=(None,))
    y = g.input("y", shape=(None,))
    loss = ge.ops.binary_cross_entropy(p, y)
    np.testing.assert_allclose(g.forward({"y_hat": y_hat, "y": np.ones(3)}).value(loss), -np.log(y_hat), rtol=1e-12)
    np.testing.assert_allclose(g.forward({"y_hat": y_hat, "y": np.zeros(3)}).value(loss), -np.log(1 - y_hat),
                               rtol=1e-12)


def test_cross_entropy_generalizes_bce():
    # two classes with predictions [1 - y_hat, y_hat]: -sum_i y_i log y_hat_i = BCE
    y_hat = np.array([0.9, 0.2, 0.6, 0.35])
    labels = np.array([1.0, 0.0, 0.0, 1.0])
    g = ge.Graph("ce_vs_bce")
    p = g.input("y_hat", shape=(None, 1))
    y = g.input("y", shape=(None, 1))
    probs = ge.ops.concat(1 - p, p, axis=1)
    one_hot = ge.ops.concat(1 - y, y, axis=1)
    ce = ge.ops.nll(ge.ops.log(probs), one_hot)
    bce = ge.ops.binary_cross_entropy(p, y)
    run = g.forward({"y_hat": y_hat[:, None], "y": labels[:, None]})
    np.testing.assert_allclose(run.value(ce), np.asarray(run.value(bce))[:, 0], rtol=1e-12)
    expected = -(labels * np.log(y_hat) + (1 - labels) * np.log(1 - y_hat))
    np.testing.assert_allclose(run.value(ce), expected, rtol=1e-12)
