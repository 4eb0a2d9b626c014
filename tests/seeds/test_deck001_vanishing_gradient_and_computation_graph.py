"""Deck 001 — "Introduction to Deep Learning: tools and deep learning of NNet" (A. Allauzen).

Covers the PyTorch logistic-regression printout ("Illustration in 3 steps"), the
vanishing-gradient product (eq. 1-2), sigma' = sigma(1 - sigma), softplus, the residual
block's backward rule, the l2 / weight-decay update and the single-layer softmax.
"""

import math

import numpy as np
import pytest

import graphengine as ge

# --------------------------------------------------------------------------------------
# Slide "Illustration in 3 steps": the numbers the slide prints from torch
#   x = th.ones(3,1); c = th.ones(1)
#   W = tensor([[-0.3999, 0.1500, 0.3771]])
#   h = 1/(1+th.exp(-W@x))              -> tensor([[0.4682]])
#   l = -y*th.log(h) - (1-y)*th.log(1-h) -> tensor([[0.7588]])   (y is the target c)
#   l.backward(); W.grad                 -> tensor([[0.5318, 0.5318, 0.5318]])
# --------------------------------------------------------------------------------------
W_PRINTED = np.array([[-0.3999, 0.1500, 0.3771]])
H_PRINTED = 0.4682
L_PRINTED = 0.7588
GRAD_PRINTED = 0.5318
# W is printed to 4 decimals (each entry +-5e-5, so W@x is known to +-1.5e-4) and every
# output to 4 decimals (+-5e-5): tolerances follow from that.
TOL_H = 1e-4      # 0.25 * 1.5e-4 + 5e-5
TOL_L = 2e-4      # 0.54 * 1.5e-4 + 5e-5
TOL_GRAD = 1e-4   # 0.25 * 1.5e-4 + 5e-5


def test_printed_values_are_consistent_with_each_other():
    # with target c = 1 the loss is -log h, and dl/da = -(1 - h) for h = sigma(a):
    assert -math.log(H_PRINTED) == pytest.approx(L_PRINTED, abs=TOL_L)
    assert 1 - H_PRINTED == pytest.approx(GRAD_PRINTED, abs=TOL_GRAD)


def _logreg_graph(sign):
    """The slide's code, op for op: h = 1/(1+exp(sign * W@x)); l = -c log h - (1-c) log(1-h)."""
    g = ge.Graph("logreg_torch_slide")
    x = g.input("x", shape=(3, 1))
    c = g.input("c", shape=(1,))
    W = g.param("W", W_PRINTED.copy())
    a = W @ x
    h = 1 / (1 + ge.ops.exp(a if sign > 0 else -a))
    loss = -c * ge.ops.log(h) - (1 - c) * ge.ops.log(1 - h)
    return g, W, a, h, loss


FEEDS = {"x": np.ones((3, 1)), "c": np.ones(1)}


def test_code_as_printed_gives_the_complementary_numbers():
    # The slide's code computes h = sigma(W@x) with W@x = -0.3999 + 0.1500 + 0.3771 = 0.1272,
    # i.e. h = 0.5318 — exactly 1 - 0.4682. The printed h, l and W.grad are those of
    # h = sigma(-W@x) (see the next test). graphengine computes the code as written:
    g, W, a, h, loss = _logreg_graph(sign=-1)
    run = g.forward(FEEDS).backward(loss, grad=np.ones((1, 1)))
    a_expected = W_PRINTED.sum()
    h_expected = 1 / (1 + math.exp(-a_expected))
    assert float(np.asarray(run.value(a))[0, 0]) == pytest.approx(0.1272, abs=1e-12)
    assert float(np.asarray(run.value(h))[0, 0]) == pytest.approx(h_expected, rel=1e-12)
    assert float(np.asarray(run.value(h))[0, 0]) == pytest.approx(1 - H_PRINTED, abs=TOL_H)
    assert float(np.asarray(run.value(loss))[0, 0]) == pytest.approx(-math.log(h_expected), rel=1e-12)
    # dl/dW = (h - c) x^T = -(1 - h) = -0.4682 per entry (torch would print the same)
    np.testing.assert_allclose(run.grad(W), np.full((1, 3), h_expected - 1), rtol=1e-12)
    np.testing.assert_allclose(run.grad(W), np.full((1, 3), -H_PRINTED), atol=TOL_GRAD)


def test_printed_numbers_are_reproduced_by_sigmoid_of_minus_Wx():
    # h = 1/(1+exp(+W@x)) = sigma(-W@x) reproduces all three printouts at once:
    g, W, a, h, loss = _logreg_graph(sign=+1)
    run = g.forward(FEEDS).backward(loss, grad=np.ones((1, 1)))
    assert float(np.asarray(run.value(h))[0, 0]) == pytest.approx(H_PRINTED, abs=TOL_H)
    assert float(np.asarray(run.value(loss))[0, 0]) == pytest.approx(L_PRINTED, abs=TOL_L)
    np.testing.assert_allclose(run.grad(W), np.full((1, 3), GRAD_PRINTED), atol=TOL_GRAD)


def test_printed_numbers_in_float32_like_torch():
    # torch computes in float32 by default; graphengine keeps float32 through the graph
    g = ge.Graph("logreg_float32")
    x = g.input("x", shape=(3, 1), dtype="float32")
    c = g.input("c", shape=(1,), dtype="float32")
    W = g.param("W", W_PRINTED.astype(np.float32))
    h = ge.ops.sigmoid(-(W @ x))
    loss = ge.ops.binary_cross_entropy(h, c)
    run = g.forward({"x": np.ones((3, 1), np.float32), "c": np.ones(1, np.float32)})
    run.backward(loss, grad=np.ones((1, 1), np.float32))
    assert run.value(h).dtype == np.float32 and run.value(loss).dtype == np.float32
    assert run.grad(W).dtype == np.float32
    assert float(run.value(h)[0, 0]) == pytest.approx(H_PRINTED, abs=TOL_H)
    assert float(run.value(loss)[0, 0]) == pytest.approx(L_PRINTED, abs=TOL_L)
    np.testing.assert_allclose(run.grad(W), np.full((1, 3), GRAD_PRINTED), atol=TOL_GRAD)


def test_slide_code_equals_sigmoid_and_binary_cross_entropy_ops(rng):
    # the hand-written expressions of the slide and graphengine's ops agree (value and grad)
    g = ge.Graph("logreg_ops")
    x = g.input("x", shape=(3, None))
    c = g.input("c", shape=(1, None))
    W = g.param("W", W_PRINTED.copy())
    a = W @ x
    h_hand = 1 / (1 + ge.ops.exp(-a))
    l_hand = ge.ops.sum(-c * ge.ops.log(h_hand) - (1 - c) * ge.ops.log(1 - h_hand))
    h_op = ge.ops.sigmoid(a)
    l_op = ge.ops.binary_cross_entropy(h_op, c, reduction="sum")
    feeds = {"x": rng.standard_normal((3, 6)), "c": (rng.random((1, 6)) > 0.5).astype(float)}
    run = g.forward(feeds)
    np.testing.assert_allclose(run.value(h_hand), run.value(h_op), rtol=1e-12)
    assert float(run.value(l_hand)) == pytest.approx(float(run.value(l_op)), rel=1e-12)
    grad_hand = np.asarray(run.backward(l_hand).grad(W)).copy()
    grad_op = np.asarray(run.backward(l_op).grad(W))
    np.testing.assert_allclose(grad_hand, grad_op, rtol=1e-10)
    # and both are (h - c) x^T
    hv = 1 / (1 + np.exp(-(W_PRINTED @ feeds["x"])))
    np.testing.assert_allclose(grad_op, (hv - feeds["c"]) @ feeds["x"].T, rtol=1e-10)


def test_gradient_flows_back_through_the_graph_in_three_factors():
    # slide "Ex: the logistic regression model - compute the gradient":
    # dl/dW = dl/dy * dy/da * da/dW, one factor per node, in reverse order
    g, W, a, h, loss = _logreg_graph(sign=-1)
    run = g.forward(FEEDS).backward(loss, grad=np.ones((1, 1)))
    hv = float(np.asarray(run.value(h))[0, 0])
    dl_dy = float(np.asarray(run.grad(h))[0, 0])
    assert dl_dy == pytest.approx(-1 / hv, rel=1e-12)                   # l = -log y  (c = 1)
    dl_da = float(np.asarray(run.grad(a))[0, 0])
    assert dl_da == pytest.approx(dl_dy * hv * (1 - hv), rel=1e-12)     # dy/da = y(1 - y)
    np.testing.assert_allclose(run.grad(W), dl_da * FEEDS["x"].T, rtol=1e-12)  # da/dW = x^T


# --------------------------------------------------------------------------------------
# Slides "Intuitive explanation" (the vanishing gradient):
#   dC/db1 = dC/dy4 * s'(a4) * w4 * s'(a3) * w3 * s'(a2) * w2 * s'(a1)       (2)
#   s'(x) = s(x)(1 - s(x)); "weights are initialized around 0"
# --------------------------------------------------------------------------------------
def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _four_neuron_chain(ws, bs, activation=ge.ops.sigmoid):
    g = ge.Graph("chain4")
    x = g.input("x", shape=())
    t = g.input("t", shape=())
    y = x
    w_nodes, b_nodes, a_nodes = [], [], []
    for i in range(4):
        w = g.param(f"w{i + 1}", np.array(ws[i]))
        b = g.param(f"b{i + 1}", np.array(bs[i]))
        a = w * y + b
        y = activation(a)
        w_nodes.append(w)
        b_nodes.append(b)
        a_nodes.append(a)
    cost = 0.5 * ge.ops.square(y - t)
    return g, w_nodes, b_nodes, a_nodes, y, cost


def test_vanishing_gradient_product_eq2():
    ws = [0.4, -0.3, 0.5, 0.2]
    bs = [0.1, -0.2, 0.05, 0.3]
    x0, t0 = 0.9, 1.0
    g, w_nodes, b_nodes, a_nodes, y4, cost = _four_neuron_chain(ws, bs)
    run = g.forward({"x": np.array(x0), "t": np.array(t0)}).backward(cost)

    # the chain by hand, in NumPy
    ys, as_ = [x0], []
    for w, b in zip(ws, bs):
        as_.append(w * ys[-1] + b)
        ys.append(_sigmoid(as_[-1]))
    sp = [_sigmoid(a) * (1 - _sigmoid(a)) for a in as_]  # s'(a) = s(a)(1 - s(a))
    dC_dy4 = ys[4] - t0
    eq2 = dC_dy4 * sp[3] * ws[3] * sp[2] * ws[2] * sp[1] * ws[1] * sp[0]
    assert float(run.grad(b_nodes[0])) == pytest.approx(eq2, rel=1e-12)
    assert float(run.grad(y4)) == pytest.approx(dC_dy4, rel=1e-12)
    # every factor of eq. (1) is visible as a gradient of an intermediate node
    for i in range(4):
        assert float(run.grad(a_nodes[i])) == pytest.approx(float(run.grad(b_nodes[i])), rel=1e-12)
    assert float(run.grad(b_nodes[3])) == pytest.approx(dC_dy4 * sp[3], rel=1e-12)

    # early layers learn slower: |dC/db1| <= |dC/db4| * (1/4)^3 * |w2 w3 w4|
    ratio = abs(float(run.grad(b_nodes[0])) / float(run.grad(b_nodes[3])))
    assert ratio <= 0.25 ** 3 * abs(ws[1] * ws[2] * ws[3])
    assert abs(float(run.grad(b_nodes[0]))) < abs(float(run.grad(b_nodes[1]))) \
        < abs(float(run.grad(b_nodes[2]))) < abs(float(run.grad(b_nodes[3])))


def test_sigmoid_derivative_identity_and_its_maximum_one_quarter():
    xs = np.linspace(-8, 8, 33)
    g = ge.Graph("sigmoid_prime")
    x = g.input("x", shape=(None,))
    s = ge.ops.sigmoid(x)
    total = ge.ops.sum(s)
    run = g.forward({"x": xs}).backward(total)
    sv = _sigmoid(xs)
    np.testing.assert_allclose(run.grad(x), sv * (1 - sv), rtol=1e-12)
    assert np.max(np.asarray(run.grad(x))) == pytest.approx(0.25, abs=1e-15)  # at x = 0
    assert float(np.asarray(run.grad(x))[16]) == 0.25


def test_relu_does_not_shrink_the_gradient_in_the_positive_region():
    # "A first solution: change the activation function (ReLU)": the same chain with ReLU
    # and unit weights passes dC/dy4 unchanged back to b1; with sigmoid it shrinks
    ones = [1.0] * 4
    biases = [0.5] * 4
    g, _, b_relu, _, _, cost = _four_neuron_chain(ones, biases, activation=ge.ops.relu)
    run = g.forward({"x": np.array(1.0), "t": np.array(0.0)}).backward(cost)
    y4 = 1.0 + 4 * 0.5  # relu passes positives unchanged
    assert float(run.grad(b_relu[0])) == pytest.approx(y4 - 0.0, rel=1e-12)
    g, _, b_sig, _, _, cost = _four_neuron_chain(ones, biases)
    run = g.forward({"x": np.array(1.0), "t": np.array(0.0)}).backward(cost)
    assert abs(float(run.grad(b_sig[0]))) < 0.25 ** 3 * abs(float(run.grad(b_sig[3])))


def test_softplus_is_log_one_plus_exp_with_sigmoid_derivative():
    xs = np.linspace(-10, 10, 41)
    g = ge.Graph("softplus")
    x = g.input("x", shape=(None,))
    sp = ge.ops.softplus(x)
    total = ge.ops.sum(sp)
    run = g.forward({"x": xs}).backward(total)
    np.testing.assert_allclose(run.value(sp), np.log(1 + np.exp(xs)), rtol=1e-12)
    np.testing.assert_allclose(run.grad(x), _sigmoid(xs), rtol=1e-12)


# --------------------------------------------------------------------------------------
# Slide "Residual block": y = x + R(x) (or W_s x + R(x));
#   dl/dx = dl/dy * (1 + dR/dx)
# --------------------------------------------------------------------------------------
def test_residual_block_backward_is_one_plus_dR_dx():
    w0, x0 = 0.7, 0.4
    g = ge.Graph("residual")
    x = g.input("x", shape=())
    w = g.param("w", np.array(w0))
    r = ge.ops.tanh(w * x)       # R(x)
    y = x + r                    # skip connection
    loss = ge.ops.square(y)      # l = y^2
    run = g.forward({"x": np.array(x0)}).backward(loss)
    yv = x0 + math.tanh(w0 * x0)
    dl_dy = 2 * yv
    dR_dx = w0 * (1 - math.tanh(w0 * x0) ** 2)
    assert float(run.grad(y)) == pytest.approx(dl_dy, rel=1e-12)
    assert float(run.grad(x)) == pytest.approx(dl_dy * (1 + dR_dx), rel=1e-12)
    # the gradient reaches x through the identity path even where R saturates
    run = g.forward({"x": np.array(50.0)}).backward(loss)
    assert float(run.grad(x)) == pytest.approx(2 * (50.0 + 1.0), rel=1e-9)


def test_residual_block_with_projection(rng):
    # y = W_s x + R(x), to adapt the dimension: dl/dx = W_s^T dl/dy + (dR/dx)^T dl/dy
    Ws = rng.standard_normal((2, 3))
    Wr = rng.standard_normal((2, 3))
    xv = rng.standard_normal((3, 1))
    g = ge.Graph("residual_projection")
    x = g.input("x", shape=(3, 1))
    y = g.param("Ws", Ws) @ x + ge.ops.tanh(g.param("Wr", Wr) @ x)
    loss = ge.ops.sum(ge.ops.square(y))
    run = g.forward({"x": xv}).backward(loss)
    yv = Ws @ xv + np.tanh(Wr @ xv)
    dl_dy = 2 * yv
    dR_dx = (1 - np.tanh(Wr @ xv) ** 2) * Wr  # Jacobian of tanh(Wr x)
    np.testing.assert_allclose(run.grad(x), Ws.T @ dl_dy + dR_dx.T @ dl_dy, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Slide "Regularization l2 or gaussian prior or weight decay":
#   L(theta) = sum_i l(theta, x_i, c_i) + lambda/2 ||theta||^2
#   printed update: theta = (1 + eta lambda) theta - eta grad
# --------------------------------------------------------------------------------------
def test_l2_penalty_gradient_and_the_weight_decay_update(rng):
    lam, eta = 0.1, 0.5
    theta0 = rng.standard_normal((3, 1))
    X = rng.standard_normal((5, 3))
    C = (rng.random((5, 1)) > 0.5).astype(float)
    g = ge.Graph("l2")
    x = g.input("x", shape=(None, 3))
    c = g.input("c", shape=(None, 1))
    theta = g.param("theta", theta0.copy())
    data_term = ge.ops.binary_cross_entropy_with_logits(x @ theta, c, reduction="sum")
    total = data_term + (lam / 2) * ge.ops.sum(ge.ops.square(theta))
    run = g.forward({"x": X, "c": C})
    grad_data = np.asarray(run.backward(data_term).grad(theta)).copy()
    grad_total = np.asarray(run.backward(total).grad(theta))
    np.testing.assert_allclose(grad_total, grad_data + lam * theta0, rtol=1e-12)  # d/dtheta lambda/2||theta||^2
    # one gradient step on the regularized loss decays theta: (1 - eta lambda) theta - eta grad
    stepped = theta0 - eta * grad_total
    np.testing.assert_allclose(stepped, (1 - eta * lam) * theta0 - eta * grad_data, rtol=1e-12)
    # the slide prints (1 + eta lambda): a sign slip; that would grow theta instead
    slide_form = (1 + eta * lam) * theta0 - eta * grad_data
    assert not np.allclose(stepped, slide_form)


# --------------------------------------------------------------------------------------
# Slide "Two layers fully connected": y_k = e^{W_k,: x} / sum_k' e^{W_k',: x}, W: C x D
# --------------------------------------------------------------------------------------
def test_single_layer_softmax_over_classes(rng):
    C, D = 4, 5
    Wv = rng.standard_normal((C, D))
    xv = rng.standard_normal((D, 1))
    g = ge.Graph("softmax_layer")
    x = g.input("x", shape=(D, 1))
    y = ge.ops.softmax(g.param("W", Wv) @ x, axis=0)
    got = np.asarray(g.forward({"x": xv}).value(y))
    scores = Wv @ xv
    np.testing.assert_allclose(got, np.exp(scores) / np.exp(scores).sum(), rtol=1e-12)
    assert got.shape == (C, 1) and float(got.sum()) == pytest.approx(1.0, abs=1e-12)
