"""Random search of the learning rate (and more) on an MNIST subset.

The usual advice: search hyper-parameters on a log scale (``learning_rate = 10 **
uniform(-6, 1)``, as in Stanford's CS231n notes, "Neural Networks Part 3"), prefer random
search to grid search (every trial tries a new value of each parameter, so the few that
matter are explored more finely: Bergstra and Bengio, "Random Search for Hyper-Parameter
Optimization", JMLR 2012), and go from coarse to fine ranges. Here: 784-30-10 sigmoid networks
trained for a few epochs on 5,000 images with SGD; the learning rate is drawn from
10 ** uniform(-6, 1), the batch size from {16, 32, 64} and the hidden size from {30, 100}.
The results table is sorted by validation accuracy; the figure shows accuracy against
the learning rate: too small learns nothing in the budget, too large diverges or
saturates the sigmoids, and the good range spans about a decade.

    python examples/random_search_mnist.py --out out
"""

from __future__ import annotations

import _common
import numpy as np

import graphengine as ge


def build(hidden=30):
    return ge.nn.Sequential(ge.nn.Dense(784, hidden), "sigmoid", ge.nn.Dense(hidden, 10))


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    p.add_argument("--trials", type=int, default=None, help="number of trials (default 20, quick 4)")
    args = p.parse_args(argv)
    n_train, epochs = (1000, 1) if args.quick else (5000, 3)
    trials = args.trials or (4 if args.quick else 20)
    X, y = _common.load_mnist(args, "train", limit=n_train)
    space = {
        "lr": ge.search.log_uniform(-6, 1),       # learning_rate = 10 ** uniform(-6, 1)
        "batch_size": [16, 32, 64],
        "hidden": [30, 100],
    }
    results = ge.search.random_search(build, X, y, space, n_trials=trials, seed=args.seed, validation_split=0.2,
                                      epochs=epochs, optimizer="sgd", verbose=True)
    print()
    print(results.table())
    best = results.best
    print(f"\nbest: lr={best['lr']:.3g}, batch_size={best['batch_size']}, hidden={best['hidden']} -> "
          f"validation accuracy {100 * best['score']:.2f} %")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(1, size=(6.0, 4.0))
    ax = axes[0]
    for hidden, marker in ((30, "o"), (100, "s")):
        rows = [r for r in results.rows if r["hidden"] == hidden]
        if rows:
            ax.scatter([r["lr"] for r in rows], [100 * r["score"] for r in rows], marker=marker, s=45,
                       label=f"784-{hidden}-10")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("best validation accuracy (%)")
    ax.set_title(f"Random search, {trials} trials, {n_train} MNIST images, {epochs} epoch(s)")
    ax.axvline(best["lr"], color="grey", linestyle=":", label=f"best lr {best['lr']:.3g}")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend()
    _common.save(fig, args, "random_search_mnist.png")
    return 0 if np.isfinite(best["score"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
