"""Deck 000 — "Introducción al Deep Learning" (A. G. Abad, ESPOL).

Worked examples and formulas of the deck, rebuilt as graphengine graphs. Expected numbers
come from the slides (the softmax example is printed with decimal commas) or from plain
NumPy / hand formulas, never from graphengine itself.
"""

import math

import numpy as np
import pytest

import graphengine as ge


def slide_number(text: str) -> float:
    """A number as the deck prints it: '0,018' (decimal comma) -> 0.018."""
    return float(text.replace(",", "."))


def half_unit(text: str) -> float:
    """Half a unit of the last digit the slide prints: '0,018' -> 0.0005, '0,90' -> 0.005."""
    decimals = len(text.replace(",", ".").split(".")[1])
    return 0.5 * 10.0 ** -decimals


# --------------------------------------------------------------------------------------
# Slide "Softmax Classifier": z = [1,2; 5,1; 2,7] -> softmax(z) = [0,018; 0,90; 0,08]
# --------------------------------------------------------------------------------------
SOFTMAX_Z = ["1,2", "5,1", "2,7"]
SOFTMAX_PRINTED = ["0,018", "0,90", "0,08"]


def test_softmax_example_matches_slide_digits():
    g = ge.Graph("softmax_slide")
    z = g.input("z", shape=(3,))
    s = ge.ops.softmax(z)
    run = g.forward({"z": np.array([slide_number(t) for t in SOFTMAX_Z])})
    got = np.asarray(run.value(s))
    for value, printed in zip(got, SOFTMAX_PRINTED):
        # each entry rounds to the digits the slide prints
        assert abs(value - slide_number(printed)) <= half_unit(printed), (value, printed)
    # "squashes it to a vector of values between zero and one that sum to one"
    assert np.all((got > 0) & (got < 1))
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_softmax_example_matches_the_formula():
    z = np.array([slide_number(t) for t in SOFTMAX_Z])
    expected = np.exp(z) / np.exp(z).sum()  # softmax_j(z) = e^{z_j} / sum_k e^{z_k}
    g = ge.Graph("softmax_formula")
    zn = g.input("z", shape=(3,))
    s = ge.ops.softmax(zn)
    np.testing.assert_allclose(g.forward({"z": z}).value(s), expected, rtol=1e-12)


def test_softmax_example_as_a_batch_of_column_scores():
    # the slide writes z as a column; as one row of a batch the result is the same
    g = ge.Graph("softmax_batch")
    z = g.input("z", shape=(None, 3))
    s = ge.ops.softmax(z, axis=1)
    batch = np.array([[1.2, 5.1, 2.7], [2.7, 1.2, 5.1]])
    got = np.asarray(g.forward({"z": batch}).value(s))
    np.testing.assert_allclose(got[1], got[0][[2, 0, 1]], rtol=1e-12)
    np.testing.assert_allclose(got[0], [0.018, 0.90, 0.08], atol=0.005)


# --------------------------------------------------------------------------------------
# Slide "Softmax Classifier" (2): L = -sum_i y_true_i log y_pred_i, one-hot y_true;
# slide "Objective Function": hinge loss (4) and softmax loss (5), MSE (6)
# --------------------------------------------------------------------------------------
def test_softmax_loss_eq5_on_the_slide_scores():
    z = np.array([[1.2, 5.1, 2.7]])
    g = ge.Graph("softmax_loss")
    f = g.input("f", shape=(None, 3))
    y = g.input("y", shape=(None,), dtype="int64")
    loss = ge.ops.cross_entropy(f, y)
    for cls in range(3):
        expected = -math.log(math.exp(z[0, cls]) / np.exp(z[0]).sum())  # eq. (5)
        got = float(np.asarray(g.forward({"f": z, "y": np.array([cls])}).value(loss))[0])
        assert got == pytest.approx(expected, rel=1e-12)
    # the right class (index 1, probability 0,90) costs -log 0.90 ~ 0.105
    got = float(np.asarray(g.forward({"f": z, "y": np.array([1])}).value(loss))[0])
    assert got == pytest.approx(-math.log(0.90), abs=0.002)


def test_cross_entropy_with_one_hot_truth_selects_the_right_label():
    # "In practice, y_true is a one-hot vector selecting the output of the right label."
    z = np.array([[1.2, 5.1, 2.7]])
    g = ge.Graph("one_hot")
    f = g.input("f", shape=(None, 3))
    t = g.input("t", shape=(None, 3))
    pred = ge.ops.softmax(f)
    by_formula = -ge.ops.sum(t * ge.ops.log(pred), axis=1)  # L = -sum y_true log y_pred
    by_op = ge.ops.cross_entropy(f, t)
    run = g.forward({"f": z, "t": np.array([[0.0, 1.0, 0.0]])})
    np.testing.assert_allclose(run.value(by_formula), run.value(by_op), rtol=1e-12)
    np.testing.assert_allclose(run.value(by_op), [-math.log(np.exp(5.1) / np.exp(z).sum())], rtol=1e-12)


@pytest.mark.parametrize("label, expected", [
    # eq. (4): L_i = sum_{j != y_i} max(0, f_j - f_{y_i} + 1), scores f = [1.2, 5.1, 2.7]
    (0, (5.1 - 1.2 + 1) + (2.7 - 1.2 + 1)),   # 4.9 + 2.5 = 7.4
    (1, 0.0),                                 # both margins negative
    (2, 0.0 + (5.1 - 2.7 + 1)),               # max(0, -0.5) + 3.4 = 3.4
])
def test_hinge_loss_eq4(label, expected):
    g = ge.Graph("hinge")
    f = g.input("f", shape=(None, 3))
    y = g.input("y", shape=(None,), dtype="int64")
    loss = ge.ops.hinge(f, y)
    got = float(np.asarray(g.forward({"f": np.array([[1.2, 5.1, 2.7]]), "y": np.array([label])}).value(loss))[0])
    assert got == pytest.approx(expected, abs=1e-12)


def test_mse_eq6_is_squared_l2_norm():
    # L_i = ||f - y_i||_2^2
    f_val = np.array([[0.5, -1.0, 2.0]])
    y_val = np.array([[1.0, 1.0, 1.0]])
    g = ge.Graph("mse")
    f = g.input("f", shape=(None, 3))
    y = g.input("y", shape=(None, 3))
    per_example = ge.ops.sum(ge.ops.mse(f, y), axis=1)
    got = np.asarray(g.forward({"f": f_val, "y": y_val}).value(per_example))
    np.testing.assert_allclose(got, [0.25 + 4.0 + 1.0], rtol=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Logistic Regression": f = sigma(Wx + b), binary cross-entropy (1)/(2)
# --------------------------------------------------------------------------------------
def test_logistic_regression_binary_cross_entropy_eq1(rng):
    m = 8
    X = rng.standard_normal((m, 4))
    Y = (rng.random((m, 1)) > 0.5).astype(np.float64)
    W0 = rng.standard_normal((4, 1))
    b0 = rng.standard_normal(1)
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 4))
    y = g.input("y", shape=(None, 1))
    W = g.param("W", W0)
    b = g.param("b", b0)
    f = ge.ops.sigmoid(x @ W + b)
    loss = ge.ops.binary_cross_entropy(f, y, reduction="mean")
    run = g.forward({"x": X, "y": Y})

    fx = 1 / (1 + np.exp(-(X @ W0 + b0)))  # sigma(x) = 1 / (1 + e^(-x))
    expected = -np.mean(Y * np.log(fx) + (1 - Y) * np.log(1 - fx))  # eq. (1)
    np.testing.assert_allclose(run.value(f), fx, rtol=1e-12)
    assert float(run.value(loss)) == pytest.approx(expected, rel=1e-12)
    # gradient of eq. (1): dL/dW = (1/m) X^T (f - y), dL/db = mean(f - y)
    run.backward(loss)
    np.testing.assert_allclose(run.grad(W), X.T @ (fx - Y) / m, rtol=1e-10)
    np.testing.assert_allclose(run.grad(b), [np.mean(fx - Y)], rtol=1e-10)


def test_label_acts_as_selector():
    # "For positive examples we penalize predictions close to zero. For negative examples
    # we penalize predictions close to one."
    p = np.array([0.01, 0.5, 0.99])
    g = ge.Graph("selector")
    pn = g.input("p", shape=(3,))
    yn = g.input("y", shape=(3,))
    loss = ge.ops.binary_cross_entropy(pn, yn)
    positive = np.asarray(g.forward({"p": p, "y": np.ones(3)}).value(loss))
    negative = np.asarray(g.forward({"p": p, "y": np.zeros(3)}).value(loss))
    np.testing.assert_allclose(positive, -np.log(p), rtol=1e-12)
    np.testing.assert_allclose(negative, -np.log(1 - p), rtol=1e-12)
    assert positive[0] > positive[2] and negative[2] > negative[0]


# --------------------------------------------------------------------------------------
# Slides "Neuron Activation": sigmoid, tanh, ReLU
# --------------------------------------------------------------------------------------
X_GRID = np.linspace(-6.0, 6.0, 25)


def _activation_values(op, x):
    g = ge.Graph("act")
    xn = g.input("x", shape=(None,))
    out = op(xn)
    return np.asarray(g.forward({"x": x}).value(out))


def test_sigmoid_squashes_into_zero_one():
    s = _activation_values(ge.ops.sigmoid, X_GRID)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-X_GRID)), rtol=1e-12)
    assert np.all((s > 0) & (s < 1))


def test_tanh_is_a_scaled_sigmoid():
    # The slide prints tanh(x) = 2 sigma(x) - 1; the identity holds with 2x inside:
    # tanh(x) = 2 sigma(2x) - 1 (the printed form is off by that factor, see README).
    t = _activation_values(ge.ops.tanh, X_GRID)
    sigma_2x = 1 / (1 + np.exp(-2 * X_GRID))
    np.testing.assert_allclose(t, 2 * sigma_2x - 1, atol=1e-12)
    printed_form = 2 / (1 + np.exp(-X_GRID)) - 1
    assert np.max(np.abs(t - printed_form)) > 0.1  # the slide's literal formula is not tanh
    assert np.all((t >= -1) & (t <= 1))


def test_relu_is_max_zero_x():
    np.testing.assert_array_equal(_activation_values(ge.ops.relu, X_GRID), np.maximum(0, X_GRID))


# --------------------------------------------------------------------------------------
# Slide "Why using non-linear activations at all?": W2 W1 x = W x
# --------------------------------------------------------------------------------------
def test_without_nonlinearities_two_layers_collapse_to_one(rng):
    W1v = rng.standard_normal((4, 6))
    W2v = rng.standard_normal((1, 4))
    X = rng.standard_normal((6, 5))  # columns are examples, as on the slide
    g = ge.Graph("linear_collapse")
    x = g.input("x", shape=(6, None))
    W1 = g.param("W1", W1v)
    W2 = g.param("W2", W2v)
    two_layers = W2 @ (W1 @ x)
    one_layer = g.param("W", W2v @ W1v) @ x  # W = W2 W1
    with_phi = ge.ops.tanh(W2 @ ge.ops.tanh(W1 @ x))
    run = g.forward({"x": X})
    np.testing.assert_allclose(run.value(two_layers), run.value(one_layer), rtol=1e-10, atol=1e-12)
    # with phi the map is no longer linear: f(2x) != 2 f(x)
    run2 = g.forward({"x": 2 * X})
    np.testing.assert_allclose(run2.value(two_layers), 2 * np.asarray(run.value(two_layers)), rtol=1e-10)
    assert not np.allclose(run2.value(with_phi), 2 * np.asarray(run.value(with_phi)))


# --------------------------------------------------------------------------------------
# Slides "Neural Networks": the network "has a total of 47 learnable parameters";
# out = phi(W3 phi(W2 phi(W1 x))), x in R^6, W1 4x6, W2 3x4, W3 1x3 (+ biases)
# --------------------------------------------------------------------------------------
def build_47_parameter_network(weights, phi=ge.ops.sigmoid):
    """The deck's 6-4-3-1 network with biases; examples are rows of x.

    Returns the graph, the activations of the three layers (the last is ``out``) and a
    mean-squared-error loss against the input ``y``.
    """
    g = ge.Graph("net47")
    x = g.input("x", shape=(None, 6))
    y = g.input("y", shape=(None, 1))
    h = x
    layers = []
    for layer, (Wv, bv) in enumerate(weights, start=1):
        with g.scope(f"layer{layer}"):
            W = g.param("W", Wv)
            b = g.param("b", bv)
            h = phi(h @ W.T + b)  # W_l has the slide's shape (fan_out, fan_in)
        layers.append(h)
    loss = ge.ops.mse(h, y, reduction="mean")
    return g, layers, loss


def _weights_47(rng):
    return [(rng.standard_normal((4, 6)) * 0.8, rng.standard_normal(4) * 0.1),
            (rng.standard_normal((3, 4)) * 0.8, rng.standard_normal(3) * 0.1),
            (rng.standard_normal((1, 3)) * 0.8, rng.standard_normal(1) * 0.1)]


def test_47_parameters():
    assert 6 * 4 + 4 + 4 * 3 + 3 + 3 * 1 + 1 == 47
    g, _, _ = build_47_parameter_network(_weights_47(np.random.default_rng(0)))
    assert g.parameter_count() == 47
    assert [g.parameter_count(f"layer{i}") for i in (1, 2, 3)] == [28, 15, 4]
    assert [tuple(p.shape) for p in g.params()] == [(4, 6), (4,), (3, 4), (3,), (1, 3), (1,)]


def test_47_parameters_with_biases_folded_into_the_weights(rng):
    # "to ease the notation biases have been incorporated into weight matrices W":
    # W1 4x7, W2 3x5, W3 1x4 on inputs with a constant 1 prepended: still 47 numbers.
    weights = _weights_47(rng)
    g = ge.Graph("net47_folded")
    x = g.input("x1", shape=(None, 7))  # [1, x]
    ones = g.const(np.ones((3, 1)), name="ones")
    h = x
    for i, (Wv, bv) in enumerate(weights):
        W = g.param(f"W{i + 1}", np.concatenate([bv[:, None], Wv], axis=1))
        h = ge.ops.sigmoid(h @ W.T)
        if i < 2:
            h = ge.ops.concat(ones, h, axis=1)  # the next layer's constant input 1
    assert g.parameter_count() == 47
    X = rng.standard_normal((3, 6))
    g2, layers, _ = build_47_parameter_network(weights)
    folded = g.forward({"x1": np.concatenate([np.ones((3, 1)), X], axis=1)}).value(h)
    plain = g2.forward({"x": X, "y": np.zeros((3, 1))}).value(layers[-1])
    np.testing.assert_allclose(folded, plain, rtol=1e-12)


def test_47_parameter_network_forward_matches_eq3(rng):
    weights = _weights_47(rng)
    g, layers, _ = build_47_parameter_network(weights)
    X = rng.standard_normal((5, 6))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    expected = X.T
    for Wv, bv in weights:  # out = phi(W3 phi(W2 phi(W1 x))), x as columns
        expected = sig(Wv @ expected + bv[:, None])
    got = g.forward({"x": X, "y": np.zeros((5, 1))}).value(layers[-1])
    np.testing.assert_allclose(got, expected.T, rtol=1e-12)


def test_47_parameter_network_gradients_match_finite_differences(rng, numeric):
    g, _, loss = build_47_parameter_network(_weights_47(rng), phi=ge.ops.tanh)
    feeds = {"x": rng.standard_normal((7, 6)), "y": rng.standard_normal((7, 1))}
    run = g.forward(feeds).backward(loss)
    checked = 0
    for param in g.params():
        analytic = np.asarray(run.grad(param))
        assert analytic.shape == tuple(param.shape)
        flat = list(np.ndindex(*param.shape))
        for index in [flat[0], flat[len(flat) // 2], flat[-1]]:
            expected = numeric.param_grad(g, loss, feeds, param, index)
            assert analytic[index] == pytest.approx(expected, rel=1e-6, abs=1e-9), (param.name, index)
            checked += 1
    assert checked == 18
    # and the input gradient, once
    x_grad = np.asarray(run.grad("x"))
    assert x_grad[2, 3] == pytest.approx(numeric.input_grad(g, loss, feeds, "x", (2, 3)), rel=1e-6, abs=1e-9)


def test_47_parameter_network_fetched_runs_match_the_recording_run(rng):
    # training-style runs (fetch=[loss], replayed: generated code)
    # give the same loss and parameter gradients as the recording run
    g, _, loss = build_47_parameter_network(_weights_47(rng))
    feeds = {"x": rng.standard_normal((9, 6)), "y": rng.standard_normal((9, 1))}
    reference = g.forward(feeds).backward(loss)
    expected = {p.name: np.asarray(reference.grad(p)).copy() for p in g.params()}
    for _ in range(4):
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        assert float(run.value(loss)) == pytest.approx(float(reference.value(loss)), rel=1e-14)
        for p in g.params():
            np.testing.assert_allclose(run.grad(p), expected[p.name], rtol=1e-13, atol=1e-16)


# --------------------------------------------------------------------------------------
# Slide "Weights Initialization": all weights equal -> same output, same gradient
# --------------------------------------------------------------------------------------
def test_equal_initialization_does_not_break_symmetry(rng):
    weights = [(np.full((4, 6), 0.3), np.zeros(4)), (np.full((3, 4), 0.3), np.zeros(3)),
               (np.full((1, 3), 0.3), np.zeros(1))]
    g, layers, loss = build_47_parameter_network(weights, phi=ge.ops.tanh)
    run = g.forward({"x": rng.standard_normal((5, 6)), "y": rng.standard_normal((5, 1))}).backward(loss)
    for layer in (1, 2):
        hidden = np.asarray(run.value(layers[layer - 1]))
        # every neuron of the layer computes the same output ...
        np.testing.assert_allclose(hidden, np.repeat(hidden[:, :1], hidden.shape[1], axis=1), rtol=1e-12)
        # ... gets the same gradient, and would undergo the same update
        grad_W = np.asarray(run.grad(f"layer{layer}/W"))
        np.testing.assert_allclose(grad_W, np.repeat(grad_W[:1], grad_W.shape[0], axis=0), rtol=1e-12)
    # small random weights break the symmetry
    g2, _, loss2 = build_47_parameter_network(_weights_47(rng), phi=ge.ops.tanh)
    run2 = g2.forward({"x": rng.standard_normal((5, 6)), "y": rng.standard_normal((5, 1))}).backward(loss2)
    grad_W1 = np.asarray(run2.grad("layer1/W"))
    assert not np.allclose(grad_W1, np.repeat(grad_W1[:1], 4, axis=0))


# --------------------------------------------------------------------------------------
# Slides "Backpropagation": dz/dx = dz/dy dy/dx with z = f(g(x)), y = g(x); each neuron
# receives dL/dh_{i+1} and chains it with its local gradient
# --------------------------------------------------------------------------------------
def test_chain_rule_dz_dx_equals_dz_dy_times_dy_dx():
    x0 = 0.7
    g = ge.Graph("chain")
    x = g.input("x", shape=())
    y = x * x            # y = g(x) = x^2
    z = ge.ops.exp(y)    # z = f(y) = e^y
    run = g.forward({"x": np.array(x0)}).backward(z)
    dz_dy = math.exp(x0 ** 2)
    dy_dx = 2 * x0
    assert float(run.grad(y)) == pytest.approx(dz_dy, rel=1e-12)
    assert float(run.grad(x)) == pytest.approx(dz_dy * dy_dx, rel=1e-12)


def test_backprop_is_local_upstream_times_local_gradient():
    # neuron h_{i+1} = tanh(w h_i): it receives dL/dh_{i+1}, multiplies by its local gradient
    g = ge.Graph("local")
    h0 = g.input("h0", shape=())
    w = g.param("w", np.array(0.8))
    a = w * h0
    h1 = ge.ops.tanh(a)
    loss = ge.ops.square(h1 - 0.25)
    run = g.forward({"h0": np.array(1.5)}).backward(loss)
    upstream = float(run.grad(h1))
    t = math.tanh(0.8 * 1.5)
    assert upstream == pytest.approx(2 * (t - 0.25), rel=1e-12)
    # what flows from the tanh node back into its input: upstream x local gradient
    assert float(run.edge_grad(h1, 0)) == pytest.approx(upstream * (1 - t * t), rel=1e-12)
    assert float(run.grad(w)) == pytest.approx(upstream * (1 - t * t) * 1.5, rel=1e-12)
