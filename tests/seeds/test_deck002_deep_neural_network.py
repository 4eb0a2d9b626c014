"""Deck 002 — "Deep neural network" (Kyung-Ah Sohn, Ajou University).

Covers the perceptron truth tables (AND, OR, XOR built from AND/OR/NAND) and the
perceptron learning rule, the MNIST loss example (y, t), the NN1/NN2 loss table, the
chain-rule example y = w2 e^{w1 x}, layer-wise backprop, the log-odds of logistic
regression, the SGD / momentum update formulas on f(x, y) = x^2/20 + y^2 and the batch
norm formula.

The step activation ``ge.ops.step`` has no gradient by design: the perceptron rule
(w <- w + eta (t - y) x) is run here with graph forward passes only.
"""

import math

import numpy as np
import pytest

import graphengine as ge

# --------------------------------------------------------------------------------------
# Slides "Perceptron", "Perceptron: Boolean operation", "Building XOR from AND and OR"
#   y = 0 if w1 x1 + w2 x2 <= theta, 1 if > theta;  y = h(b + w1 x1 + w2 x2),
#   h(x) = 0 (x <= 0), 1 (x > 0)
# --------------------------------------------------------------------------------------
INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
AND_TABLE = np.array([0.0, 0.0, 0.0, 1.0])   # slide's first table
OR_TABLE = np.array([0.0, 1.0, 1.0, 1.0])    # slide's second table
XOR_TABLE = np.array([0.0, 1.0, 1.0, 0.0])   # slide's third table
NAND_TABLE = 1 - AND_TABLE

# hand-set weights (w1, w2, theta); none of these puts an input exactly on the threshold
GATES = {
    "AND": (0.5, 0.5, 0.7, AND_TABLE),
    "OR": (0.5, 0.5, 0.2, OR_TABLE),
    "NAND": (-0.5, -0.5, -0.7, NAND_TABLE),
}


def perceptron(g, x, w1, w2, theta, name):
    """y = h(b + w1 x1 + w2 x2) with b = -theta, as graph nodes."""
    with g.scope(name):
        w = g.param("w", np.array([[w1], [w2]]))
        b = g.param("b", np.array([-theta]))
        return ge.ops.step(x @ w + b)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_hand_set_perceptron_truth_tables(gate):
    w1, w2, theta, table = GATES[gate]
    g = ge.Graph(gate)
    x = g.input("x", shape=(None, 2))
    y = perceptron(g, x, w1, w2, theta, gate)
    got = np.asarray(g.forward({"x": INPUTS}).value(y))[:, 0]
    np.testing.assert_array_equal(got, table)
    # the threshold form of the first slide gives the same table
    np.testing.assert_array_equal((INPUTS @ [w1, w2] > theta).astype(float), table)


def test_xor_from_and_or_nand_two_layers():
    # "XOR is not linearly separable ... But can be separated using AND and OR":
    # XOR(x) = AND(OR(x), NAND(x)), a two-layer network of perceptrons in one graph
    g = ge.Graph("xor")
    x = g.input("x", shape=(None, 2))
    s1 = perceptron(g, x, *GATES["NAND"][:3], "nand")
    s2 = perceptron(g, x, *GATES["OR"][:3], "or")
    hidden = ge.ops.concat(s1, s2, axis=1)
    y = perceptron(g, hidden, *GATES["AND"][:3], "and")
    run = g.forward({"x": INPUTS})
    np.testing.assert_array_equal(np.asarray(run.value(y))[:, 0], XOR_TABLE)
    np.testing.assert_array_equal(np.asarray(run.value(s1))[:, 0], NAND_TABLE)
    np.testing.assert_array_equal(np.asarray(run.value(s2))[:, 0], OR_TABLE)
    assert g.parameter_count() == 9  # three perceptrons of two weights and a bias


def test_no_single_perceptron_computes_xor():
    # "XOR is not linearly separable / Cannot be solved by a simple perceptron":
    # every (w1, w2, b) on a grid, evaluated in one batched forward pass
    grid = np.linspace(-2.0, 2.0, 33)
    w1, w2, b = (a.ravel() for a in np.meshgrid(grid, grid, grid, indexing="ij"))
    g = ge.Graph("xor_search")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.stack([w1, w2]))            # (2, candidates)
    B = g.param("B", b)                             # (candidates,)
    y = ge.ops.step(x @ W + B)                      # (4, candidates)
    outputs = np.asarray(g.forward({"x": INPUTS}).value(y))
    matches = np.all(outputs == XOR_TABLE[:, None], axis=0)
    assert not matches.any()
    # ... while the same search finds AND, OR and NAND perceptrons
    for table in (AND_TABLE, OR_TABLE, NAND_TABLE):
        assert np.all(outputs == table[:, None], axis=0).any()


def train_perceptron(targets, eta=0.1, epochs=50):
    """The perceptron learning rule, w <- w + eta (t - y) x, b <- b + eta (t - y), online.

    Predictions come from forward passes of the graph. Returns (graph, y node, errors per
    epoch).
    """
    g = ge.Graph("perceptron_rule")
    x = g.input("x", shape=(None, 2))
    w = g.param("w", np.zeros((2, 1)))
    b = g.param("b", np.zeros(1))
    y = ge.ops.step(x @ w + b)
    errors = []
    for _ in range(epochs):
        wrong = 0
        for xi, ti in zip(INPUTS, targets):
            pred = float(np.asarray(g.forward({"x": xi[None, :]}, fetch=[y]).value(y))[0, 0])
            if pred != ti:
                wrong += 1
                w.value = w.value + eta * (ti - pred) * xi[:, None]
                b.value = b.value + eta * (ti - pred)
        errors.append(wrong)
        if wrong == 0:
            break
    return g, y, errors


@pytest.mark.parametrize("table", [AND_TABLE, OR_TABLE, NAND_TABLE], ids=["AND", "OR", "NAND"])
def test_perceptron_rule_learns_the_linearly_separable_tables(table):
    g, y, errors = train_perceptron(table)
    assert errors[-1] == 0, errors          # converged (linearly separable)
    assert len(errors) < 50
    got = np.asarray(g.forward({"x": INPUTS}).value(y))[:, 0]
    np.testing.assert_array_equal(got, table)


def test_perceptron_rule_never_fits_xor():
    _, _, errors = train_perceptron(XOR_TABLE, epochs=100)
    assert len(errors) == 100 and min(errors) >= 1


def test_step_has_no_gradient():
    # the reason the rule above is run with forward passes: backprop sees zero
    g = ge.Graph("step_grad")
    x = g.input("x", shape=(None, 2))
    w = g.param("w", np.array([[0.5], [0.5]]))
    loss = ge.ops.sum(ge.ops.step(x @ w - 0.7))
    run = g.forward({"x": INPUTS}).backward(loss)
    np.testing.assert_array_equal(run.grad(w), np.zeros((2, 1)))


def test_step_is_zero_at_zero_as_the_deck_defines_it():
    g = ge.Graph("boundary_and")
    x = g.input("x", shape=(None, 2))
    y = perceptron(g, x, 1.0, 1.0, 1.0, "and")  # (1,0): 1 <= 1 -> 0 on the slide
    got = np.asarray(g.forward({"x": INPUTS}).value(y))[:, 0]
    np.testing.assert_array_equal(got, AND_TABLE)


def test_relu_is_zero_at_and_below_zero():
    # slide "Activation functions": h(x) = x (x > 0), 0 (x <= 0)
    xs = np.array([-2.0, -1e-9, 0.0, 1e-9, 3.0])
    g = ge.Graph("relu")
    x = g.input("x", shape=(None,))
    r = ge.ops.relu(x)
    np.testing.assert_array_equal(g.forward({"x": xs}).value(r), [0.0, 0.0, 0.0, 1e-9, 3.0])


# --------------------------------------------------------------------------------------
# Slide "Loss function, ex: MNIST classification"
#   y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]; t = one-hot of class 2
#   MSE E = 1/2 sum_k (y_k - t_k)^2;  cross entropy E = -sum_k t_k log y_k
# --------------------------------------------------------------------------------------
MNIST_Y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
MNIST_T = np.array([[0, 0, 1, 0, 0, 0, 0, 0, 0, 0]], dtype=float)


def test_mnist_example_half_sum_squared_error():
    # by hand: 1/2 (0.1^2 + 0.05^2 + 0.4^2 + 0.05^2 + 0.1^2 + 0.1^2) = 1/2 * 0.195 = 0.0975
    g = ge.Graph("mnist_mse")
    y = g.input("y", shape=(None, 10))
    t = g.input("t", shape=(None, 10))
    E = 0.5 * ge.ops.sum(ge.ops.mse(y, t), axis=1)
    assert float(np.asarray(g.forward({"y": MNIST_Y, "t": MNIST_T}).value(E))[0]) == pytest.approx(0.0975, abs=1e-15)


def test_mnist_example_cross_entropy_with_class_index():
    # by hand: -log 0.6 = 0.5108...
    g = ge.Graph("mnist_ce")
    y = g.input("y", shape=(None, 10))
    label = g.input("label", shape=(None,), dtype="int64")
    E = ge.ops.nll(ge.ops.log(y), label)
    with np.errstate(divide="ignore"):  # log 0 = -inf for the classes with y_k = 0
        got = float(np.asarray(g.forward({"y": MNIST_Y, "label": np.array([2])}).value(E))[0])
    assert got == pytest.approx(-math.log(0.6), rel=1e-12)
    assert got == pytest.approx(0.5108, abs=5e-5)


def test_mnist_example_cross_entropy_with_one_hot_target():
    g = ge.Graph("mnist_ce_one_hot")
    y = g.input("y", shape=(None, 10))
    t = g.input("t", shape=(None, 10))
    E = ge.ops.nll(ge.ops.log(y), t)
    with np.errstate(divide="ignore", invalid="ignore"):
        got = float(np.asarray(g.forward({"y": MNIST_Y, "t": MNIST_T}).value(E))[0])
    assert got == pytest.approx(-math.log(0.6), rel=1e-12)


# --------------------------------------------------------------------------------------
# Slide "Loss function": the NN1 / NN2 table
# --------------------------------------------------------------------------------------
NN1 = np.array([[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]])
NN2 = np.array([[0.1, 0.2, 0.7], [0.1, 0.7, 0.2], [0.3, 0.4, 0.3]])
TARGETS = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)  # democrat, republican, other
TABLE = {
    # network: (correct? per row, classification error, avg cross-entropy, MSE)
    "NN1": (NN1, [1.0, 1.0, 0.0], 0.33, 1.38, 0.81),
    "NN2": (NN2, [1.0, 1.0, 0.0], 0.33, 0.64, 0.34),
}
TABLE_TOL = 0.005  # the table prints two decimals


def _table_graph():
    g = ge.Graph("loss_table")
    p = g.input("computed", shape=(None, 3))
    t = g.input("targets", shape=(None, 3))
    # correct? the target's score is the row's maximum. Scores differ by >= 0.1 on every
    # row, so a margin of 0.05 keeps step's convention at exactly 0 out of the way.
    target_score = ge.ops.sum(p * t, axis=1)
    correct = ge.ops.step(target_score - ge.ops.max(p, axis=1) + 0.05)
    classification_error = 1 - ge.ops.mean(correct)
    per_sample_ce = ge.ops.nll(ge.ops.log(p), t)          # -(sum_k t_k log p_k)
    ace = ge.ops.mean(per_sample_ce)
    per_sample_se = ge.ops.sum(ge.ops.mse(p, t), axis=1)  # sum_k (p_k - t_k)^2
    mse = ge.ops.mean(per_sample_se)
    return g, dict(correct=correct, error=classification_error, ce=per_sample_ce, ace=ace,
                   se=per_sample_se, mse=mse)


@pytest.mark.parametrize("network", ["NN1", "NN2"])
def test_loss_table(network):
    computed, correct, error, ace, mse = TABLE[network]
    g, n = _table_graph()
    run = g.forward({"computed": computed, "targets": TARGETS})
    np.testing.assert_array_equal(run.value(n["correct"]), correct)
    assert float(run.value(n["error"])) == pytest.approx(error, abs=TABLE_TOL)
    assert float(run.value(n["ace"])) == pytest.approx(ace, abs=TABLE_TOL)
    assert float(run.value(n["mse"])) == pytest.approx(mse, abs=TABLE_TOL)


def test_loss_table_worked_terms():
    g, n = _table_graph()
    run = g.forward({"computed": NN1, "targets": TARGETS})
    # "1st sample: -(0 log 0.3 + 0 log 0.3 + 1 log 0.4) = -log 0.4"
    # "ACE = (-log 0.4 - log 0.4 - log 0.1) / 3 = 1.38"
    np.testing.assert_allclose(run.value(n["ce"]), [-math.log(0.4), -math.log(0.4), -math.log(0.1)], rtol=1e-12)
    assert float(run.value(n["ace"])) == pytest.approx((-2 * math.log(0.4) - math.log(0.1)) / 3, rel=1e-12)
    # "MSE (0.54 + 0.54 + 1.34) / 3 = 0.81"
    np.testing.assert_allclose(run.value(n["se"]), [0.54, 0.54, 1.34], rtol=1e-12)
    # NN2's per-sample terms (not printed): 0.14, 0.14, 0.74 -> 1.02 / 3 = 0.34
    run = g.forward({"computed": NN2, "targets": TARGETS})
    np.testing.assert_allclose(run.value(n["se"]), [0.14, 0.14, 0.74], rtol=1e-12)
    np.testing.assert_allclose(run.value(n["ce"]), [-math.log(0.7), -math.log(0.7), -math.log(0.3)], rtol=1e-12)


def test_loss_table_cross_entropy_from_the_softmax_loss_op():
    # the rows sum to one, so log p are normalized logits: softmax(log p) = p and
    # cross_entropy(log p, t) is the same average cross-entropy as the table's
    g = ge.Graph("table_ce_logits")
    p = g.input("computed", shape=(None, 3))
    t = g.input("targets", shape=(None, 3))
    ace = ge.ops.cross_entropy(ge.ops.log(p), t, reduction="mean")
    for network in ("NN1", "NN2"):
        computed, *_, expected, _ = TABLE[network]
        got = float(g.forward({"computed": computed, "targets": TARGETS}).value(ace))
        assert got == pytest.approx(expected, abs=TABLE_TOL)


# --------------------------------------------------------------------------------------
# Slide "chain rule example": y = w2 e^{w1 x}; v = e^{w1 x}, u = w1 x
#   dy/dw2 = v = e^{w1 x};  dy/dw1 = dy/dv dv/du du/dw1 = w2 e^{w1 x} x
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("x0, w1_0, w2_0", [(0.5, 1.2, -0.7), (-1.5, 0.3, 2.0), (2.0, -0.4, 0.9)])
def test_chain_rule_example_y_w2_exp_w1_x(x0, w1_0, w2_0):
    g = ge.Graph("chain_rule")
    x = g.input("x", shape=())
    w1 = g.param("w1", np.array(w1_0))
    w2 = g.param("w2", np.array(w2_0))
    u = w1 * x
    v = ge.ops.exp(u)
    y = w2 * v
    run = g.forward({"x": np.array(x0)}).backward(y)
    e = math.exp(w1_0 * x0)
    assert float(run.value(y)) == pytest.approx(w2_0 * e, rel=1e-12)
    assert float(run.grad(w2)) == pytest.approx(e, rel=1e-12)                # dy/dw2 = v
    assert float(run.grad(v)) == pytest.approx(w2_0, rel=1e-12)              # dy/dv = w2
    assert float(run.grad(u)) == pytest.approx(w2_0 * e, rel=1e-12)          # dy/dv dv/du
    assert float(run.grad(w1)) == pytest.approx(w2_0 * e * x0, rel=1e-12)    # ... du/dw1


# --------------------------------------------------------------------------------------
# Slides "Backpropagation": s(l) = W(l) x(l-1), x(l) = sigma(s(l));
#   dL/dW(L) = dL/dx(L) dx(L)/ds(L) x(L-1)^T, and dL/ds(L) is reused for W(L-1)
# --------------------------------------------------------------------------------------
def test_layerwise_backprop_formulas(rng):
    W1v = rng.standard_normal((4, 3))
    W2v = rng.standard_normal((2, 4))
    x0v = rng.standard_normal((3, 1))
    tv = rng.standard_normal((2, 1))
    g = ge.Graph("two_layers")
    x0 = g.input("x0", shape=(3, 1))
    t = g.input("t", shape=(2, 1))
    W1 = g.param("W1", W1v)
    W2 = g.param("W2", W2v)
    s1 = W1 @ x0
    x1 = ge.ops.sigmoid(s1)
    s2 = W2 @ x1
    x2 = ge.ops.sigmoid(s2)
    L = 0.5 * ge.ops.sum(ge.ops.square(x2 - t))
    run = g.forward({"x0": x0v, "t": tv}).backward(L)

    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    x1v = sig(W1v @ x0v)
    x2v = sig(W2v @ x1v)
    delta2 = (x2v - tv) * x2v * (1 - x2v)                 # dL/dx(L) * dx(L)/ds(L)
    delta1 = (W2v.T @ delta2) * x1v * (1 - x1v)           # reuses dL/ds(L)
    np.testing.assert_allclose(run.grad(s2), delta2, rtol=1e-12)
    np.testing.assert_allclose(run.grad(W2), delta2 @ x1v.T, rtol=1e-12)   # ds/dW = x(L-1)^T
    np.testing.assert_allclose(run.grad(s1), delta1, rtol=1e-12)
    np.testing.assert_allclose(run.grad(W1), delta1 @ x0v.T, rtol=1e-12)


def test_product_of_many_small_terms_goes_to_zero():
    # slide "Vanishing gradient": a deep chain of sigmoids; with ReLU (positive region)
    # the gradient passes unchanged
    depth = 30
    for activation, check in ((ge.ops.sigmoid, lambda grad: 0 < grad <= 0.25 ** depth),
                              (ge.ops.relu, lambda grad: grad == 1.0)):
        g = ge.Graph("deep_chain")
        x = g.input("x", shape=())
        h = x
        for _ in range(depth):
            h = activation(h)
        run = g.forward({"x": np.array(0.5)}).backward(h)
        assert check(float(run.grad(x))), (activation, float(run.grad(x)))


# --------------------------------------------------------------------------------------
# Slide "Recall: Logistic regression": log p/(1-p) = w^T x + b, p = 1/(1 + e^{-(w^T x + b)})
# --------------------------------------------------------------------------------------
def test_logistic_regression_log_odds_are_linear(rng):
    wv, bv = np.array([[1.5], [-0.8]]), np.array([0.3])
    X = rng.standard_normal((6, 2))
    g = ge.Graph("log_odds")
    x = g.input("x", shape=(None, 2))
    t = x @ g.param("w", wv) + g.param("b", bv)
    p = ge.ops.sigmoid(t)
    log_odds = ge.ops.log(p) - ge.ops.log(1 - p)
    run = g.forward({"x": X})
    np.testing.assert_allclose(run.value(p), 1 / (1 + np.exp(-(X @ wv + bv))), rtol=1e-12)
    np.testing.assert_allclose(run.value(log_odds), X @ wv + bv, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------
# Slides "Parameter update": W <- W - eta dL/dW on f(x, y) = x^2/20 + y^2;
#   momentum: v <- alpha v - eta dL/dW, W <- W + v
# --------------------------------------------------------------------------------------
def _bowl():
    g = ge.Graph("bowl")
    p = g.param("p", np.array([-7.0, 2.0]))  # (x, y)
    f = ge.ops.square(p[0]) / 20 + ge.ops.square(p[1])
    return g, p, f


def test_gradient_of_the_bowl_function():
    g, p, f = _bowl()
    for point in ([-7.0, 2.0], [3.0, -0.5], [0.0, 0.0]):
        p.value = np.array(point)
        run = g.forward().backward(f)
        np.testing.assert_allclose(run.grad(p), [point[0] / 10, 2 * point[1]], rtol=1e-12, atol=0)


def test_sgd_on_the_bowl_follows_its_closed_form():
    # each step multiplies x by (1 - eta/10) and y by (1 - 2 eta)
    eta, steps = 0.1, 20
    g, p, f = _bowl()
    for _ in range(steps):
        run = g.forward().backward(f)
        p.value = p.value - eta * np.asarray(run.grad(p))
    np.testing.assert_allclose(p.value, [-7.0 * (1 - eta / 10) ** steps, 2.0 * (1 - 2 * eta) ** steps], rtol=1e-12)


def test_momentum_on_the_bowl_matches_the_recurrence():
    eta, alpha, steps = 0.1, 0.9, 20
    g, p, f = _bowl()
    v = np.zeros(2)
    ref_w, ref_v = np.array([-7.0, 2.0]), np.zeros(2)
    for _ in range(steps):
        run = g.forward().backward(f)
        v = alpha * v - eta * np.asarray(run.grad(p))
        p.value = p.value + v
        ref_v = alpha * ref_v - eta * np.array([ref_w[0] / 10, 2 * ref_w[1]])  # analytic gradient
        ref_w = ref_w + ref_v
    np.testing.assert_allclose(p.value, ref_w, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Slide "Batch normalization": s <- gamma (s - mu_B) / sigma_B + beta
# --------------------------------------------------------------------------------------
def test_batch_norm_formula(rng, numeric):
    S = rng.standard_normal((8, 3)) * 3 + 5
    gamma_v, beta_v = np.array([2.0, 0.5, 1.0]), np.array([-1.0, 0.0, 3.0])
    g = ge.Graph("batch_norm_formula")
    s = g.input("s", shape=(None, 3))
    mu = ge.ops.mean(s, axis=0)
    sigma = ge.ops.sqrt(ge.ops.mean(ge.ops.square(s - mu), axis=0))
    out = g.param("gamma", gamma_v) * (s - mu) / sigma + g.param("beta", beta_v)
    loss = ge.ops.sum(ge.ops.square(out) * np.arange(1.0, 25.0).reshape(8, 3))
    run = g.forward({"s": S}).backward(loss)
    got = np.asarray(run.value(out))
    np.testing.assert_allclose(got, gamma_v * (S - S.mean(0)) / S.std(0) + beta_v, rtol=1e-12)
    np.testing.assert_allclose(got.mean(0), beta_v, atol=1e-12)
    np.testing.assert_allclose(got.std(0), gamma_v, rtol=1e-12)
    # the batch statistics fan out to every example: their gradient must still be right
    grad = np.asarray(run.grad(s))
    for index in [(0, 0), (3, 1), (7, 2)]:
        assert grad[index] == pytest.approx(numeric.input_grad(g, loss, {"s": S}, "s", index), rel=1e-5)
