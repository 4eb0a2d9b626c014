"""Deck 003 — "Neural Network and Deep Learning" (the perceptron, activations, losses,
gradient descent, backpropagation, mini-batches).

Covers "The Perceptron: Example" (w0 = 1, W = [3, -2], X = [-1, 2] -> g(-6) ~ 0.002), the
activation derivatives of "Common Activation Functions", the layer formulas z_i and
z_{k,i}, the empirical / binary cross-entropy / MSE losses and their TensorFlow snippets,
the chain-rule slides of "Computing Gradients: Backpropagation", gradient descent and the
mini-batch gradient (1/B) sum_k dJ_k/dW.
"""

import math

import numpy as np
import pytest

import graphengine as ge

# --------------------------------------------------------------------------------------
# Slides "The Perceptron: Example": w0 = 1, W = [3; -2]; y = g(1 + 3 x1 - 2 x2);
#   X = [-1; 2]: y = g(1 + (3 * -1) - (2 * 2)) = g(-6) ~ 0.002
# --------------------------------------------------------------------------------------
W0 = 1.0
W = np.array([[3.0], [-2.0]])
SLIDE_X = np.array([[-1.0, 2.0]])
SLIDE_OUTPUT = 0.002  # printed with three decimals


def perceptron(activation):
    g = ge.Graph("perceptron_example")
    x = g.input("x", shape=(None, 2))
    z = g.param("w0", np.array([W0])) + x @ g.param("W", W.copy())  # w0 + X^T W
    return g, z, activation(z)


def test_perceptron_example_g_of_minus_six():
    g, z, y = perceptron(ge.ops.sigmoid)
    run = g.forward({"x": SLIDE_X})
    assert float(np.asarray(run.value(z))[0, 0]) == -6.0
    got = float(np.asarray(run.value(y))[0, 0])
    assert got == pytest.approx(1 / (1 + math.exp(6)), rel=1e-12)      # 0.002473
    assert abs(got - SLIDE_OUTPUT) <= 0.0005                            # "~ 0.002"


def test_perceptron_example_is_a_line_in_2d():
    # "y = g(1 + 3 x1 - 2 x2): this is just a line in 2D!" — points on the line give
    # z = 0 (sigmoid 0.5), points on either side give z < 0 / z > 0
    on_line = np.array([[x1, (1 + 3 * x1) / 2] for x1 in (-2.0, 0.0, 1.0, 3.0)])
    g, z, y = perceptron(ge.ops.sigmoid)
    run = g.forward({"x": on_line})
    np.testing.assert_allclose(run.value(z), 0.0, atol=1e-12)
    np.testing.assert_allclose(run.value(y), 0.5, atol=1e-12)
    above = on_line + [0.0, 1.0]   # x2 larger -> z smaller by 2
    below = on_line - [0.0, 1.0]
    np.testing.assert_allclose(g.forward({"x": above}).value(z), -2.0, atol=1e-12)
    np.testing.assert_allclose(g.forward({"x": below}).value(z), 2.0, atol=1e-12)


def test_perceptron_example_with_a_step_activation():
    # a hard-threshold perceptron on the same line classifies the slide's point negative
    g, z, y = perceptron(ge.ops.step)
    points = np.array([[-1.0, 2.0], [1.0, 0.0], [0.0, 5.0], [2.0, 1.0]])
    expected = (1 + 3 * points[:, 0] - 2 * points[:, 1] > 0).astype(float)  # none on the line
    np.testing.assert_array_equal(np.asarray(g.forward({"x": points}).value(y))[:, 0], expected)
    assert expected[0] == 0.0


# --------------------------------------------------------------------------------------
# Slide "Common Activation Functions":
#   sigmoid g' = g(1 - g); tanh g = (e^z - e^-z)/(e^z + e^-z), g' = 1 - g^2;
#   ReLU g = max(0, z), g' = 1 if z > 0 else 0
# --------------------------------------------------------------------------------------
Z = np.array([-4.0, -1.5, -0.25, 0.0, 0.25, 1.5, 4.0])


def _value_and_derivative(op):
    g = ge.Graph("activation")
    z = g.input("z", shape=(None,))
    out = op(z)
    total = ge.ops.sum(out)
    run = g.forward({"z": Z}).backward(total)
    return np.asarray(run.value(out)), np.asarray(run.grad(z))


def test_sigmoid_and_its_derivative():
    g, dg = _value_and_derivative(ge.ops.sigmoid)
    np.testing.assert_allclose(g, 1 / (1 + np.exp(-Z)), rtol=1e-12)
    np.testing.assert_allclose(dg, g * (1 - g), rtol=1e-12)


def test_tanh_and_its_derivative():
    g, dg = _value_and_derivative(ge.ops.tanh)
    np.testing.assert_allclose(g, (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dg, 1 - g ** 2, rtol=1e-12)


def test_relu_and_its_derivative():
    g, dg = _value_and_derivative(ge.ops.relu)
    np.testing.assert_array_equal(g, np.maximum(0, Z))
    np.testing.assert_array_equal(dg, (Z > 0).astype(float))  # "0, otherwise" includes z = 0
    assert dg[3] == 0.0


# --------------------------------------------------------------------------------------
# Slides "Multi Output Perceptron", "Single Layer Neural Network", "Deep Neural Network":
#   z_i = w_{0,i} + sum_j x_j w_{j,i};  z_{k,i} = w^(k)_{0,i} + sum_j g(z_{k-1,j}) w^(k)_{j,i}
# --------------------------------------------------------------------------------------
def test_layer_formulas_elementwise(rng):
    m, d1, d2 = 3, 4, 2
    Wa, ba = rng.standard_normal((m, d1)), rng.standard_normal(d1)
    Wb, bb = rng.standard_normal((d1, d2)), rng.standard_normal(d2)
    xv = rng.standard_normal(m)
    g = ge.Graph("layers")
    x = g.input("x", shape=(None, m))
    z1 = x @ g.param("W1", Wa) + g.param("b1", ba)
    z2 = ge.ops.sigmoid(z1) @ g.param("W2", Wb) + g.param("b2", bb)
    run = g.forward({"x": xv[None, :]})
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    z1_loop = [ba[i] + sum(xv[j] * Wa[j, i] for j in range(m)) for i in range(d1)]
    z2_loop = [bb[i] + sum(sig(z1_loop[j]) * Wb[j, i] for j in range(d1)) for i in range(d2)]
    np.testing.assert_allclose(np.asarray(run.value(z1))[0], z1_loop, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(run.value(z2))[0], z2_loop, rtol=1e-12)


def test_keras_multi_output_snippet_parameter_count():
    # inputs = Input(m); hidden = Dense(d1)(inputs); outputs = Dense(2)(hidden)
    m, d1 = 5, 3
    g = ge.Graph("keras_snippet")
    x = g.input("inputs", shape=(None, m))
    with g.scope("hidden"):
        hidden = x @ g.param("W", np.zeros((m, d1))) + g.param("b", np.zeros(d1))
    with g.scope("outputs"):
        hidden @ g.param("W", np.zeros((d1, 2))) + g.param("b", np.zeros(2))
    assert g.parameter_count() == (m + 1) * d1 + (d1 + 1) * 2
    assert g.parameter_count("hidden") == 18 and g.parameter_count("outputs") == 8


# --------------------------------------------------------------------------------------
# Slides "Empirical Loss", "Binary Cross Entropy Loss", "Mean Squared Error Loss"
# --------------------------------------------------------------------------------------
def test_binary_cross_entropy_and_the_slides_formula(rng):
    n = 10
    f = rng.uniform(0.05, 0.95, (n, 1))
    y = (rng.random((n, 1)) > 0.5).astype(float)
    g = ge.Graph("bce")
    fn = g.input("f", shape=(None, 1))
    yn = g.input("y", shape=(None, 1))
    J = ge.ops.binary_cross_entropy(fn, yn, reduction="mean")
    J_empirical = ge.ops.mean(ge.ops.binary_cross_entropy(fn, yn))  # (1/n) sum_i L(f(x_i), y_i)
    run = g.forward({"f": f, "y": y})
    # the slide prints J(W) = 1/n sum y log f + (1 - y) log(1 - f), without the leading
    # minus; the loss to minimize (and the tf snippet's) is its negative
    printed = np.mean(y * np.log(f) + (1 - y) * np.log(1 - f))
    assert float(run.value(J)) == pytest.approx(-printed, rel=1e-12)
    assert float(run.value(J_empirical)) == pytest.approx(-printed, rel=1e-12)
    assert printed < 0 < float(run.value(J))


def test_binary_cross_entropy_equals_two_class_softmax_cross_entropy(rng):
    # the slide pairs the BCE formula with tf.nn.softmax_cross_entropy_with_logits: for one
    # logit z, two-class softmax on [0, z] gives P(1) = sigma(z), so the losses agree
    z = rng.standard_normal((6, 1)) * 3
    y = np.array([0, 1, 1, 0, 1, 0])
    g = ge.Graph("bce_vs_softmax")
    zn = g.input("z", shape=(None, 1))
    yn = g.input("y", shape=(None,), dtype="int64")         # class index
    y_float = g.input("y_float", shape=(None, 1))          # the same labels as BCE targets
    bce = ge.ops.binary_cross_entropy_with_logits(zn, y_float)
    two_class = ge.ops.concat(zn * 0.0, zn, axis=1)
    ce = ge.ops.cross_entropy(two_class, yn)
    run = g.forward({"z": z, "y": y, "y_float": y[:, None].astype(float)})
    np.testing.assert_allclose(np.asarray(run.value(bce))[:, 0], run.value(ce), rtol=1e-12)
    p = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(run.value(ce), -(y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-10)


def test_mse_snippet(rng):
    # loss = tf.reduce_mean(tf.square(tf.subtract(model.y, model.pred)))
    y = rng.standard_normal((7, 1))
    pred = rng.standard_normal((7, 1))
    g = ge.Graph("mse_snippet")
    yn = g.input("y", shape=(None, 1))
    pn = g.input("pred", shape=(None, 1))
    by_op = ge.ops.mse(pn, yn, reduction="mean")
    by_snippet = ge.ops.mean(ge.ops.square(yn - pn))
    run = g.forward({"y": y, "pred": pred})
    assert float(run.value(by_op)) == pytest.approx(float(np.mean((y - pred) ** 2)), rel=1e-12)
    assert float(run.value(by_snippet)) == pytest.approx(float(run.value(by_op)), rel=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Computing Gradients: Backpropagation": x -(w1)-> z1 -(w2)-> y_hat -> J(W)
#   dJ/dw2 = dJ/dy_hat * dy_hat/dw2;  dJ/dw1 = dJ/dy_hat * dy_hat/dz1 * dz1/dw1
# --------------------------------------------------------------------------------------
def test_backprop_chain_through_one_hidden_unit():
    x0, w1_0, w2_0, y0 = 1.5, 0.4, -1.2, 1.0
    g = ge.Graph("two_weights")
    x = g.input("x", shape=())
    w1 = g.param("w1", np.array(w1_0))
    w2 = g.param("w2", np.array(w2_0))
    z1 = ge.ops.sigmoid(w1 * x)
    y_hat = ge.ops.sigmoid(w2 * z1)
    J = ge.ops.square(y_hat - y0)
    run = g.forward({"x": np.array(x0)}).backward(J)

    z1v = 1 / (1 + math.exp(-w1_0 * x0))
    yv = 1 / (1 + math.exp(-w2_0 * z1v))
    dJ_dy = 2 * (yv - y0)
    dy_dw2 = yv * (1 - yv) * z1v
    dy_dz1 = yv * (1 - yv) * w2_0
    dz1_dw1 = z1v * (1 - z1v) * x0
    assert float(run.grad(y_hat)) == pytest.approx(dJ_dy, rel=1e-12)
    assert float(run.grad(w2)) == pytest.approx(dJ_dy * dy_dw2, rel=1e-12)
    assert float(run.grad(z1)) == pytest.approx(dJ_dy * dy_dz1, rel=1e-12)
    assert float(run.grad(w1)) == pytest.approx(dJ_dy * dy_dz1 * dz1_dw1, rel=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Gradient Descent" and "Stochastic Gradient Descent":
#   W <- W - eta dJ/dW;  mini-batch gradient dJ/dW = (1/B) sum_k dJ_k/dW
# --------------------------------------------------------------------------------------
def _regression_graph(W_init):
    g = ge.Graph("regression")
    x = g.input("x", shape=(None, 3))
    y = g.input("y", shape=(None, 1))
    W = g.param("W", W_init.copy())
    b = g.param("b", np.zeros(1))
    J = ge.ops.mse(ge.ops.tanh(x @ W + b), y, reduction="mean")
    return g, W, b, J


def test_gradient_descent_step_lowers_the_loss(rng):
    X = rng.standard_normal((16, 3))
    Y = np.tanh(X @ np.array([[0.5], [-1.0], [0.25]]))
    g, W, b, J = _regression_graph(rng.standard_normal((3, 1)) * 0.1)
    feeds = {"x": X, "y": Y}
    losses = []
    eta = 0.2
    for _ in range(25):
        run = g.forward(feeds).backward(J)
        losses.append(float(run.value(J)))
        W.value = W.value - eta * np.asarray(run.grad(W))   # weights.assign(weights - lr * grads)
        b.value = b.value - eta * np.asarray(run.grad(b))
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert losses[-1] < 0.5 * losses[0]


def test_mini_batch_gradient_is_the_average_of_per_example_gradients(rng):
    B = 5
    X = rng.standard_normal((B, 3))
    Y = rng.standard_normal((B, 1))
    g, W, b, J = _regression_graph(rng.standard_normal((3, 1)))
    batch = g.forward({"x": X, "y": Y}).backward(J)
    per_example = []
    for k in range(B):
        run = g.forward({"x": X[k:k + 1], "y": Y[k:k + 1]}).backward(J)  # J_k, one data point
        per_example.append((np.asarray(run.grad(W)).copy(), np.asarray(run.grad(b)).copy()))
    np.testing.assert_allclose(batch.grad(W), sum(gw for gw, _ in per_example) / B, rtol=1e-12)
    np.testing.assert_allclose(batch.grad(b), sum(gb for _, gb in per_example) / B, rtol=1e-12)
