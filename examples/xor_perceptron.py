"""XOR: a single perceptron cannot learn it, a 2-2-1 network can.

Both are trained by gradient descent on the binary cross-entropy of a sigmoid output
(Adam, lr 0.1, the four rows of the truth table as one batch). The perceptron draws one
line, so at best 3 of the 4 points are on the right side; under the cross-entropy its best
compromise is to answer 0.5 everywhere (loss ln 2 = 0.693), which is where training takes
it. An output of 0.5 is no decision, so the report counts, for each model, the points it
gets right, wrong and undecided (an output within 0.05 of 0.5) rather than thresholding
0.5 ± rounding error into a meaningless accuracy. The 2-2-1 network (two tanh hidden
units) bends the boundary and gets all four. A 2-2-1 network can stall in a poor local
minimum from some initializations; the script retries with the next seed (20 in all) and
says how many it needed, or says plainly that it did not learn XOR (exit status 1).
Minsky and Papert ("Perceptrons", 1969) proved the single-layer limit; Rumelhart, Hinton
and Williams ("Learning representations by back-propagating errors", Nature 1986) trained
the hidden layer that overcomes it.

    python examples/xor_perceptron.py --out out     # 1,000 epochs
    python examples/xor_perceptron.py --quick       # 300 epochs: still learns XOR
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


UNDECIDED = 0.05  # an output within this distance of 0.5 is no decision
INITIALIZATIONS = 20  # how many seeds the 2-2-1 network gets


def verdict(outputs, targets, margin: float = UNDECIDED) -> dict:
    """How many of ``outputs`` (probabilities of class 1) are right, wrong and undecided
    (within ``margin`` of 0.5) against ``targets`` (0 or 1)."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1)
    targets = np.asarray(targets).reshape(-1)
    undecided = np.abs(outputs - 0.5) < margin
    right = ~undecided & ((outputs > 0.5) == (targets == 1))
    return {"right": int(right.sum()), "wrong": int((~undecided & ~right).sum()), "undecided": int(undecided.sum()),
            "total": int(outputs.size)}


def describe(v: dict) -> str:
    """'4 of 4 right', '3 of 4 right, 1 wrong' or '0 of 4 right, 4 undecided (within 0.05 of 0.5)'."""
    text = f"{v['right']} of {v['total']} right"
    if v["wrong"]:
        text += f", {v['wrong']} wrong"
    if v["undecided"]:
        text += f", {v['undecided']} undecided (within {UNDECIDED} of 0.5)"
    return text


def main(argv=None):
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    epochs = 300 if args.quick else 1000
    X, y = ge.data.xor()

    def outputs(history, points=X):
        return history.trainer.predict(points).reshape(-1)

    single = train(perceptron, args.seed, epochs)
    single_verdict = verdict(outputs(single), y)
    print(f"single perceptron: {describe(single_verdict)} after {epochs} epochs (loss {single.last('loss'):.3f}; "
          f"ln 2 = {np.log(2):.3f} is answering 0.5 everywhere); a line separates at most 3 of the 4 XOR points")

    attempts = 0
    for seed in range(args.seed, args.seed + INITIALIZATIONS):
        attempts += 1
        mlp = train(two_two_one, seed, epochs)
        mlp_verdict = verdict(outputs(mlp), y)
        if mlp_verdict["right"] == mlp_verdict["total"]:
            break
    learned = mlp_verdict["right"] == mlp_verdict["total"]
    tries = f"{attempts} initialization{'s' if attempts > 1 else ''}"
    print(f"2-2-1 network:     {describe(mlp_verdict)} after {epochs} epochs (loss {mlp.last('loss'):.3f}); "
          + (f"learned XOR, needed {tries}" if learned else
             f"did NOT learn XOR from {tries}" + ("; run without --quick for more epochs" if args.quick else "")))
    for name, history in (("perceptron", single), ("2-2-1", mlp)):
        print(f"  {name:<10} outputs on (0,0) (0,1) (1,0) (1,1): " + " ".join(f"{v:.3f}" for v in outputs(history)))

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(3, size=(3.6, 3.4))
    grid = np.linspace(-0.5, 1.5, 161)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    # one band for the undecided outputs, 0.5 ± UNDECIDED, so rounding noise shows no colour change
    levels = [0, 0.1, 0.2, 0.3, 0.4, 0.5 - UNDECIDED, 0.5 + UNDECIDED, 0.6, 0.7, 0.8, 0.9, 1]
    panels = (("single perceptron", single, single_verdict), ("2-2-1 network", mlp, mlp_verdict))
    for ax, (title, history, v) in zip(axes, panels):
        p = outputs(history, points).reshape(gx.shape)
        image = ax.contourf(gx, gy, p, levels=levels, cmap="RdBu", alpha=0.8)
        if np.abs(p - 0.5).max() < UNDECIDED:  # a 0.5 contour here would trace rounding noise
            ax.text(0.5, 0.5, f"p = 0.5 ± {np.abs(p - 0.5).max():.0e} everywhere:\nno decision boundary",
                    ha="center", va="center", fontsize=8, bbox=dict(facecolor="white", alpha=0.8))
        else:
            ax.contour(gx, gy, p, levels=[0.5], colors="black", linewidths=1.5)
        for cls, marker in ((0, "o"), (1, "s")):
            sel = y == cls
            ax.scatter(X[sel, 0], X[sel, 1], marker=marker, s=90, c="white", edgecolors="black", label=f"y = {cls}")
        ax.set_title(f"{title}: {v['right']} of 4 right"
                     + (f", {v['undecided']} undecided" if v["undecided"] else "")
                     + f"\nloss {history.last('loss'):.3f}", fontsize=9)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    fig.colorbar(image, ax=axes[1], label="p(y = 1)", ticks=[0, 0.2, 0.4, 0.5, 0.6, 0.8, 1])
    axes[0].legend(loc="upper center", fontsize=8)
    axes[2].plot(single.epochs, single["loss"], label="single perceptron")
    axes[2].plot(mlp.epochs, mlp["loss"], label="2-2-1 network")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("binary cross-entropy")
    axes[2].set_yscale("log")
    axes[2].legend()
    axes[2].set_title("training loss")
    _common.save(fig, args, "xor_perceptron.png")
    return 0 if learned and single_verdict["right"] < single_verdict["total"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
