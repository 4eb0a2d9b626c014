"""Worked examples of backpropagation as graphs with a run: one set, shared by
``graphengine demo`` (which prints their values and gradients and trains the XOR network)
and the diagram gallery (:mod:`graphengine.visualize.gallery`, which draws them).

Each builder returns ``(graph, run)`` where the run has gone forward and backward (from
the example's loss or output), so ``draw(graph, run, mode=...)`` shows values and
gradients the way textbook figures of backpropagation do, and ``run.value`` /
``run.grad`` read them. The numbers below are worked by hand; the tests check them.

=====================  ====================================================================
builder                the example
=====================  ====================================================================
chain_rule             y = w2·exp(w1·x); u = w1·x, v = e^u, y = w2·v. At x = 1, w1 = 0.5,
                       w2 = 2: y = 2e^0.5 = 3.297, dy/dw1 = w2·e^u·x = 3.297, dy/dw2 = e^u = 1.649
theta_loss             L = (θ1·θ2·x − y)²; a = θ1θ2, b = a·x, c = b − y, L = c². At θ = (2, 0.5),
                       x = 3, y = 1: L = 4, dL/dθ1 = 2c·x·θ2 = 6, dL/dθ2 = 2c·x·θ1 = 24
logistic_regression    h = σ(W·x), l = −c·log h − (1 − c)·log(1 − h). At W = (−0.3999, 0.1500,
                       0.3771), x = (1, 1, 1), c = 1: W·x = 0.1272, h = 0.5318, l = 0.6316,
                       dl/dW = (h − c)·xᵀ = −0.4682 each
perceptron             ŷ = σ(1 + 3·x1 − 2·x2) at x = (−1, 2): σ(−6) ≈ 0.002473
xor_network            XOR = AND(OR, NAND) as a 2-2-1 sigmoid network with hand-set weights
network_6_4_3_1        a 6-4-3-1 sigmoid network: 6·4 + 4 + 4·3 + 3 + 3·1 + 1 = 47 parameters
deep_mlp               a deep sigmoid net's vanishing gradient (against ReLU and residual)
=====================  ====================================================================
"""

from __future__ import annotations

import numpy as np

import graphengine as ge
from graphengine.errors import GraphStructureError


def chain_rule(x: float = 1.0, w1: float = 0.5, w2: float = 2.0):
    """y = w2·exp(w1·x), the chain rule in three steps: u = w1·x, v = e^u, y = w2·v.

    dy/dw2 = v = e^(w1·x); dy/dw1 = w2·e^(w1·x)·x. At x = 1, w1 = 0.5, w2 = 2:
    y = 3.297, dy/dw1 = 3.297, dy/dw2 = 1.649.
    """
    g = ge.Graph("chain rule: y = w2·exp(w1·x)")
    xn = g.input("x", shape=(), dtype=np.float64)
    w1n = g.param("w1", np.array(w1))
    w2n = g.param("w2", np.array(w2))
    u = ge.ops.mul(w1n, xn, name="u")
    v = ge.ops.exp(u, name="v")
    y = ge.ops.mul(w2n, v, name="y")
    run = g.forward({"x": np.array(x)}).backward(y)
    return g, run


def theta_loss(theta1: float = 2.0, theta2: float = 0.5, x: float = 3.0, y: float = 1.0):
    """L = (θ1·θ2·x − y)², backpropagation by hand.

    a = θ1θ2, b = a·x, c = b − y, L = c². dL/dθ1 = 2c·x·θ2, dL/dθ2 = 2c·x·θ1.
    At θ1 = 2, θ2 = 0.5, x = 3, y = 1: L = 4, dL/dθ1 = 6, dL/dθ2 = 24.
    """
    g = ge.Graph("backprop example: L = (θ1·θ2·x − y)²")
    xn = g.input("x", shape=(), dtype=np.float64)
    yn = g.input("y", shape=(), dtype=np.float64)
    t1 = g.param("θ1", np.array(theta1))
    t2 = g.param("θ2", np.array(theta2))
    a = ge.ops.mul(t1, t2, name="a")
    b = ge.ops.mul(a, xn, name="b")
    c = ge.ops.sub(b, yn, name="c")
    loss = ge.ops.square(c, name="L")
    run = g.forward({"x": np.array(x), "y": np.array(y)}).backward(loss)
    return g, run


def logistic_regression():
    """Logistic regression on one example: x = ones(3, 1), c = 1, W = [[-0.3999, 0.1500, 0.3771]].

    a = W·x, h = σ(a), l = −c·log h − (1 − c)·log(1 − h), written out op by op, so the
    graph shows every factor of dl/dW = dl/dh · dh/da · da/dW = (h − c)·xᵀ: a = 0.1272,
    h = 0.5318, l = −log h = 0.6316, dl/dW = −0.4682 in each entry.
    """
    g = ge.Graph("logistic regression")
    x = g.input("x", shape=(3, 1), dtype=np.float64)
    c = g.input("c", shape=(1, 1), dtype=np.float64)
    W = g.param("W", np.array([[-0.3999, 0.1500, 0.3771]]))
    a = ge.ops.matmul(W, x, name="a")
    h = ge.ops.sigmoid(a, name="h")
    one_minus_c = ge.ops.sub(1.0, c, name="1-c")
    one_minus_h = ge.ops.sub(1.0, h, name="1-h")
    positive = ge.ops.mul(c, ge.ops.log(h, name="log h"), name="c·log h")
    negative = ge.ops.mul(one_minus_c, ge.ops.log(one_minus_h, name="log(1-h)"), name="(1-c)·log(1-h)")
    loss = ge.ops.neg(ge.ops.add(positive, negative, name="sum"), name="l")
    total = ge.ops.sum(loss, name="loss")
    run = g.forward({"x": np.ones((3, 1)), "c": np.ones((1, 1))}).backward(total)
    return g, run


def perceptron(x1: float = -1.0, x2: float = 2.0):
    """A perceptron with a sigmoid g: w0 = 1, W = (3, −2); ŷ = g(1 + 3·x1 − 2·x2).

    At x = (−1, 2): z = −6, ŷ = σ(−6) ≈ 0.002473; the gradient is taken from ŷ.
    """
    g = ge.Graph("perceptron")
    X = g.input("X", shape=(2,), dtype=np.float64)
    w0 = g.param("w0", np.array(1.0))
    W = g.param("W", np.array([3.0, -2.0]))
    dot = ge.ops.matmul(X, W, name="XᵀW")
    z = ge.ops.add(w0, dot, name="z")
    y_hat = ge.ops.sigmoid(z, name="ŷ")
    run = g.forward({"X": np.array([x1, x2])}).backward(y_hat)
    return g, run


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


XOR_WEIGHTS = {  # hidden: OR (h1) and NAND (h2) of the inputs; output: their AND
    "W1": np.array([[5.0, -5.0], [5.0, -5.0]]), "b1": np.array([-2.5, 7.5]),
    "W2": np.array([[5.0], [5.0]]), "b2": np.array([-7.5]),
}


def xor_network(weights=None, hidden: str = "sigmoid"):
    """XOR built from logic gates, XOR(x) = AND(OR(x), NAND(x)), as a 2-2-1 network.

    With the default ``weights`` (:data:`XOR_WEIGHTS`) the hidden layer computes OR (h1)
    and NAND (h2) of the inputs, the output neuron their AND, with weights of 5: the
    outputs are near [0, 1, 1, 0], not saturated, so every gradient is visible. The loss
    is the mean binary cross-entropy over the four rows of the truth table. ``weights``
    (a dict with ``W1`` (2, 2), ``b1`` (2,), ``W2`` (2, 1), ``b2`` (1,)) and ``hidden``
    (the hidden activation, an op name) give the same graph with other starting values,
    e.g. random ones to train it (``graphengine demo``).
    """
    weights = XOR_WEIGHTS if weights is None else weights
    missing = sorted(set(XOR_WEIGHTS) - set(weights))
    if missing:
        raise GraphStructureError(f"xor_network: weights needs W1, b1, W2 and b2; missing {', '.join(missing)}")
    g = ge.Graph("XOR network")
    x = g.input("x", shape=(None, 2), dtype=np.float64)
    y = g.input("y", shape=(None, 1), dtype=np.float64)
    with g.scope("hidden"):
        W1 = g.param("W", np.array(weights["W1"], dtype=np.float64))
        b1 = g.param("b", np.array(weights["b1"], dtype=np.float64))
        h = g.apply(hidden, ge.ops.add(ge.ops.matmul(x, W1, name="xW"), b1, name="s"), name="h")
    with g.scope("output"):
        W2 = g.param("W", np.array(weights["W2"], dtype=np.float64))
        b2 = g.param("b", np.array(weights["b2"], dtype=np.float64))
        p = ge.ops.sigmoid(ge.ops.add(ge.ops.matmul(h, W2, name="hW"), b2, name="s"), name="p")
    loss = ge.ops.binary_cross_entropy(p, y, reduction="mean", name="loss")
    run = g.forward({"x": XOR_X, "y": XOR_Y}).backward(loss)
    return g, run


def network_6_4_3_1(seed: int = 0, batch: int = 2):
    """A 6-4-3-1 network (sigmoid layers): 47 learnable parameters
    (6·4 + 4 + 4·3 + 3 + 3·1 + 1), one name scope per layer."""
    rng = np.random.default_rng(seed)
    g = ge.Graph("6-4-3-1 network")
    h = g.input("x", shape=(None, 6), dtype=np.float64)
    sizes = (6, 4, 3, 1)
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        with g.scope(f"layer{i}"):
            W = g.param("W", rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out)))
            b = g.param("b", np.zeros(n_out))
            h = ge.ops.sigmoid(ge.ops.add(ge.ops.matmul(h, W, name="xW"), b, name="s"), name="out")
    loss = ge.ops.mean(h, name="mean_out")
    run = g.forward({"x": rng.normal(0.0, 1.0, (batch, 6))}).backward(loss)
    return g, run


def deep_mlp(activation: str = "sigmoid", depth: int = 8, width: int = 8, residual: bool = False,
             batch: int = 16, seed: int = 0):
    """A deep MLP, to show the vanishing gradient: ``depth`` hidden layers of ``width``.

    With sigmoid, each layer multiplies the gradient by σ' ≤ 1/4 (times the weights), so
    the first layers' gradients are orders of magnitude below the last ones'. ReLU (He
    initialisation) or residual connections keep them in the same range.
    """
    if activation not in ("sigmoid", "relu", "tanh"):
        raise GraphStructureError(f"deep_mlp: activation must be 'sigmoid', 'relu' or 'tanh', got {activation!r}")
    rng = np.random.default_rng(seed)
    kind = f"{activation}{' residual' if residual else ''}"
    g = ge.Graph(f"deep {kind} MLP ({depth} layers of {width})")
    x = g.input("x", shape=(None, width), dtype=np.float64)
    y = g.input("y", shape=(None, 1), dtype=np.float64)
    gain = np.sqrt(2.0) if activation == "relu" else 1.0
    h = x
    for i in range(1, depth + 1):
        with g.scope(f"layer{i}"):
            W = g.param("W", rng.normal(0.0, gain / np.sqrt(width), (width, width)))
            b = g.param("b", np.zeros(width))
            s = ge.ops.add(ge.ops.matmul(h, W, name="hW"), b, name="s")
            a = g.apply(activation, s, name=activation)
            h = ge.ops.add(h, a, name="skip") if residual else a
    with g.scope("head"):
        W = g.param("W", rng.normal(0.0, 1.0 / np.sqrt(width), (width, 1)))
        out = ge.ops.matmul(h, W, name="out")
    loss = ge.ops.mse(out, y, reduction="mean", name="loss")
    feeds = {"x": rng.normal(0.0, 1.0, (batch, width)), "y": rng.normal(0.0, 1.0, (batch, 1))}
    run = g.forward(feeds).backward(loss)
    return g, run


# name -> builder, for the demo diagrams and the examples (the order they are written in)
WORKED_EXAMPLES = {
    "chain_rule": chain_rule,
    "theta_loss": theta_loss,
    "logistic_regression": logistic_regression,
    "perceptron": perceptron,
    "xor_network": xor_network,
}

__all__ = ["chain_rule", "theta_loss", "logistic_regression", "perceptron", "xor_network", "network_6_4_3_1",
           "deep_mlp", "WORKED_EXAMPLES", "XOR_X", "XOR_Y", "XOR_WEIGHTS"]
