"""``graphengine demo``: the worked examples, built, run and differentiated.

Prints values and gradients of the chain-rule example y = w2·exp(w1·x) and of the
logistic regression on one example, trains a 2-2-1 network on XOR (plain gradient
descent on the graph) and a small classifier on two moons (ge.nn, fit, Adam), and writes
the diagrams (forward, backward, both, and a deep-net gradient heat map), the training
curves and the backprop explorer pages of the chain rule, logistic regression and XOR
examples into a folder. With the base install (no ``train`` extra) the training curves are
skipped with a note; everything else runs. The example graphs are those of :mod:`graphengine.worked_examples`,
which the diagram gallery draws too.
"""

from __future__ import annotations

import importlib
import pathlib

import numpy as np

from . import worked_examples


def xor_training(steps: int = 2000, seed: int = 0):
    """The XOR network of the worked examples with a tanh hidden layer, from random
    weights, trained with plain gradient descent (lr = 1) on the four rows of the truth
    table; returns the graph, the final loss and the four predictions."""
    rng = np.random.default_rng(seed)
    weights = {"W1": rng.normal(0, 1, (2, 2)), "b1": np.zeros(2), "W2": rng.normal(0, 1, (2, 1)), "b2": np.zeros(1)}
    g, _ = worked_examples.xor_network(weights, hidden="tanh")
    loss, p = g.node("loss"), g.node("output/p")
    feeds = {"x": worked_examples.XOR_X, "y": worked_examples.XOR_Y}
    params = g.params()
    lr = 1.0
    for _ in range(steps):
        run = g.forward(feeds, fetch=[loss, p]).backward(loss)
        for param in params:
            param.value = param.value - lr * run.grad(param)
    run = g.forward(feeds, fetch=[loss, p])
    return g, float(run.value(loss)), run.value(p).ravel()


TRAIN_EXTRAS = ("matplotlib", "tqdm")  # the `train` extra: plots and progress bars


def missing_train_extras() -> list:
    """The packages of the `train` extra that cannot be imported here."""
    missing = []
    for name in TRAIN_EXTRAS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def run_demo(out_dir="demo-output", quick: bool = False) -> int:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    _, run = worked_examples.chain_rule(x=1.0, w1=0.5, w2=2.0)
    print("Chain rule, y = w2 * exp(w1 * x) at x = 1, w1 = 0.5, w2 = 2")
    print(f"  y        = {float(run.value('y')):.6f}   (2·e^0.5 = {2 * np.exp(0.5):.6f})")
    print(f"  dy/dw1   = {float(run.grad('w1')):.6f}   (w2·x·e^(w1·x) = {2 * np.exp(0.5):.6f})")
    print(f"  dy/dw2   = {float(run.grad('w2')):.6f}   (e^(w1·x) = {np.exp(0.5):.6f})")
    print(f"  dy/dx    = {float(run.grad('x')):.6f}   (w2·w1·e^(w1·x) = {np.exp(0.5):.6f})")

    _, run = worked_examples.logistic_regression()
    print("\nLogistic regression on one example, W = [[-0.3999, 0.1500, 0.3771]], x = ones(3, 1), c = 1")
    h = float(run.value("h")[0, 0])
    print(f"  h = sigmoid(W @ x) = {h:.4f}   (W @ x = {float(np.sum([-0.3999, 0.1500, 0.3771])):.4f})")
    print(f"  l = BCE(h, c)      = {float(run.value('l')[0, 0]):.4f}   (= -log h)")
    print(f"  dl/dW              = {np.round(run.grad('W'), 4).tolist()}   (= (h - c)·xᵀ)")
    print("  A common slip is a flipped sign in the exponent, h = 1/(1 + exp(W @ x)): it gives")
    print(f"  h = {1 - h:.4f} = sigmoid(-W @ x) and l = {-np.log(1 - h):.4f}, self-consistent (l = -log h) but wrong.")

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
    missing = missing_train_extras()
    if missing:  # the base install has no plotting library: the demo runs on without the figure
        print(f"  (training plot skipped: {' and '.join(missing)} not installed; "
              "pip install 'graphengine-nn[train]' adds them)")
    else:
        history.plot(out / "two_moons_history.png")
        written.append(out / "two_moons_history.png")
    try:
        from .visualize.cli import demo_diagrams
        from .visualize.explore_cli import demo_pages
    except ImportError as exc:
        print(f"\n(diagrams skipped: {exc})")
    else:
        from .visualize import DotNotFoundError

        try:
            written += demo_diagrams(out)
            written += demo_pages(out)
        except DotNotFoundError as exc:
            print(f"\n(diagrams skipped: {exc})")
    if written:
        print(f"\nDiagrams and figures written to {out}/:")
        for path in written:
            print(f"  {path}")
    return 0
