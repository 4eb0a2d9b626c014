"""XOR: a single perceptron cannot learn it, a 2-2-1 network can (deck 002).

Both are trained by gradient descent on the binary cross-entropy of a sigmoid output.
The perceptron draws one line, so at best 3 of the 4 points are right; under the
cross-entropy its best compromise is to answer 0.5 everywhere (loss ln 2 = 0.693), which
is where training takes it. The 2-2-1 network (two tanh hidden units) bends the boundary
and gets all four. A 2-2-1 network
can stall in a poor local minimum from some initializations; the script retries with
the next seed and says how many it needed.

    python examples/xor_perceptron.py --out out
"""

from __future__ import annotations

import _common
import numpy as np

import graphengine as ge


def perceptron(seed):
    return ge.nn.Sequential(ge.nn.Dense(2, 1), "sigmoid", seed=seed, name="perceptron")


def two_two_one(seed):
    return ge.nn.Sequential(ge.nn.Dense(2, 2), "tanh", ge.nn.Dense(2, 1), "sigmoid", seed=seed, name="mlp_2_2_1")


def train(build, seed, epochs):
    X, y = ge.data.xor()
    history = ge.training.fit(build(seed), X, y, loss="binary_cross_entropy", optimizer="adam", lr=0.1,
                              epochs=epochs, batch_size=4, seed=seed, progress=False)
    return history


def main(argv=None):
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 300 if args.quick else 1000
    X, y = ge.data.xor()

    single = train(perceptron, args.seed, epochs)
    print(f"single perceptron: accuracy {single.last('accuracy'):.2f} after {epochs} epochs "
          f"(loss {single.last('loss'):.3f}); a line separates at most 3 of the 4 XOR points")

    attempts = 0
    for seed in range(args.seed, args.seed + 20):
        attempts += 1
        mlp = train(two_two_one, seed, epochs)
        if mlp.last("accuracy") == 1.0:
            break
    print(f"2-2-1 network:     accuracy {mlp.last('accuracy'):.2f} after {epochs} epochs "
          f"(loss {mlp.last('loss'):.3f}); needed {attempts} initialization{'s' if attempts > 1 else ''}")
    for name, history in (("perceptron", single), ("2-2-1", mlp)):
        out = history.trainer.predict(X).reshape(-1)
        print(f"  {name:<10} outputs on (0,0) (0,1) (1,0) (1,1): " + " ".join(f"{v:.3f}" for v in out))

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(3, size=(3.6, 3.4))
    grid = np.linspace(-0.5, 1.5, 161)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    for ax, (title, history) in zip(axes, (("single perceptron", single), ("2-2-1 network", mlp))):
        p = history.trainer.predict(points).reshape(gx.shape)
        image = ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.8)
        ax.contour(gx, gy, p, levels=[0.5], colors="black", linewidths=1.5)
        for cls, marker in ((0, "o"), (1, "s")):
            sel = y == cls
            ax.scatter(X[sel, 0], X[sel, 1], marker=marker, s=90, c="white", edgecolors="black", label=f"y = {cls}")
        ax.set_title(f"{title}: accuracy {history.last('accuracy'):.2f}, loss {history.last('loss'):.3f}",
                     fontsize=9)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    fig.colorbar(image, ax=axes[1], label="p(y = 1)")
    axes[0].legend(loc="upper center", fontsize=8)
    axes[2].plot(single.epochs, single["loss"], label="single perceptron")
    axes[2].plot(mlp.epochs, mlp["loss"], label="2-2-1 network")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("binary cross-entropy")
    axes[2].set_yscale("log")
    axes[2].legend()
    axes[2].set_title("training loss")
    _common.save(fig, args, "xor_perceptron.png")
    return 0 if single.last("accuracy") <= 0.75 and mlp.last("accuracy") == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
