"""``graphengine demo``: the lectures' worked examples, built, run and differentiated.

Prints values and gradients of the chain-rule example y = w2·exp(w1·x) and of the
logistic-regression snippet of deck 001, trains a 2-2-1 network on XOR (plain gradient
descent on the graph) and a small classifier on two moons (ge.nn, fit, Adam), and writes
the diagrams (forward, backward, both, and a deep-net gradient heat map) and the training
curves into a folder.
"""

from __future__ import annotations

import pathlib

import numpy as np


def chain_rule_example():
    """y = w2·exp(w1·x) at x = 1, w1 = 0.5, w2 = 2 (dy/dw1 = w2·x·exp(w1·x))."""
    import graphengine as ge

    g = ge.Graph("chain_rule")
    x = g.input("x", shape=())
    w1 = g.param("w1", np.array(0.5))
    w2 = g.param("w2", np.array(2.0))
    y = ge.ops.mul(w2, ge.ops.exp(w1 * x), name="y")
    run = g.forward({"x": np.array(1.0)}).backward(y)
    return g, run, {"y": y, "w1": w1, "w2": w2, "x": x}


def logistic_regression_example():
    """Deck 001: x = ones(3, 1), c = 1, W = [[-0.3999, 0.1500, 0.3771]]; h ≈ 0.4682, l ≈ 0.7588."""
    import graphengine as ge

    g = ge.Graph("logistic_regression")
    x = g.input("x", shape=(3, 1))
    c = g.input("c", shape=(1, 1))
    W = g.param("W", np.array([[-0.3999, 0.1500, 0.3771]]))
    h = ge.ops.sigmoid(W @ x, name="h")
    loss = ge.ops.binary_cross_entropy(h, c, name="l")
    run = g.forward({"x": np.ones((3, 1)), "c": np.ones((1, 1))}).backward(loss, grad=np.ones((1, 1)))
    return g, run, {"h": h, "l": loss, "W": W}


def xor_training(steps: int = 2000, seed: int = 0):
    """A 2-2-1 tanh/sigmoid network learns XOR with plain gradient descent."""
    import graphengine as ge

    rng = np.random.default_rng(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    g = ge.Graph("xor")
    x = g.input("x", shape=(None, 2))
    y = g.input("y", shape=(None, 1))
    with g.scope("hidden"):
        W1 = g.param("W", rng.normal(0, 1, (2, 2)))
        b1 = g.param("b", np.zeros(2))
        h = ge.ops.tanh(x @ W1 + b1)
    with g.scope("output"):
        W2 = g.param("W", rng.normal(0, 1, (2, 1)))
        b2 = g.param("b", np.zeros(1))
        p = ge.ops.sigmoid(h @ W2 + b2)
    loss = ge.ops.mean(ge.ops.binary_cross_entropy(p, y), name="loss")
    feeds = {"x": X, "y": Y}
    params = g.params()
    lr = 1.0
    for _ in range(steps):
        run = g.forward(feeds, fetch=[loss, p]).backward(loss)
        for param in params:
            param.value = param.value - lr * run.grad(param)
    run = g.forward(feeds, fetch=[loss, p])
    return g, float(run.value(loss)), run.value(p).ravel()


def run_demo(out_dir="demo-output", quick: bool = False) -> int:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    g, run, n = chain_rule_example()
    print("Chain rule, y = w2 * exp(w1 * x) at x = 1, w1 = 0.5, w2 = 2")
    print(f"  y        = {float(run.value(n['y'])):.6f}   (2·e^0.5 = {2 * np.exp(0.5):.6f})")
    print(f"  dy/dw1   = {float(run.grad(n['w1'])):.6f}   (w2·x·e^(w1·x) = {2 * np.exp(0.5):.6f})")
    print(f"  dy/dw2   = {float(run.grad(n['w2'])):.6f}   (e^(w1·x) = {np.exp(0.5):.6f})")
    print(f"  dy/dx    = {float(run.grad(n['x'])):.6f}   (w2·w1·e^(w1·x) = {np.exp(0.5):.6f})")

    g, run, n = logistic_regression_example()
    print("\nLogistic regression (deck 001), W = [[-0.3999, 0.1500, 0.3771]], x = ones(3, 1), c = 1")
    h = float(run.value(n['h'])[0, 0])
    print(f"  h = sigmoid(W @ x) = {h:.4f}   (W @ x = {float(np.sum([-0.3999, 0.1500, 0.3771])):.4f})")
    print(f"  l = BCE(h, c)      = {float(run.value(n['l'])[0, 0]):.4f}   (= -log h)")
    print(f"  dl/dW              = {np.round(run.grad(n['W']), 4).tolist()}   (= (h - c)·xᵀ)")
    print("  The slide prints h = 0.4682 and l = 0.7588: consistent with each other (l = -log h), but")
    print(f"  0.4682 = 1 - {h:.4f} = sigmoid(-W @ x): the printed W has the opposite sign of the one used.")

    g, final_loss, predictions = xor_training(steps=600 if quick else 2000)
    print("\nXOR with a 2-2-1 network, plain gradient descent")
    print(f"  final loss {final_loss:.4f}; predictions {np.round(predictions, 3).tolist()} (targets [0, 1, 1, 0])")

    from . import data, nn, training

    X, labels = data.two_moons(400, noise=0.1, seed=0)
    model = nn.Sequential(nn.Dense(2, 16), "tanh", nn.Dense(16, 2), seed=0)
    history = training.fit(model, X, labels, loss="cross_entropy", optimizer="adam", lr=0.03,
                           epochs=10 if quick else 40, batch_size=32, validation_split=0.25, seed=0,
                           progress=False)
    print("\nTwo moons with ge.nn (2-16-2 tanh), ge.training.fit and Adam")
    print(f"  final loss {history.last('loss'):.4f}, validation accuracy {history.last('val_accuracy'):.3f}")
    written = []
    try:
        history.plot(out / "two_moons_history.png")
        written.append(out / "two_moons_history.png")
    except ImportError as exc:  # matplotlib is in the train/test extras
        print(f"  (history plot skipped: {exc})")
    try:
        from .visualize.cli import demo_diagrams
    except ImportError as exc:
        print(f"\n(diagrams skipped: {exc})")
    else:
        from .visualize import DotNotFoundError

        try:
            written += demo_diagrams(out)
        except DotNotFoundError as exc:
            print(f"\n(diagrams skipped: {exc})")
    if written:
        print(f"\nDiagrams and figures written to {out}/:")
        for path in written:
            print(f"  {path}")
    return 0
