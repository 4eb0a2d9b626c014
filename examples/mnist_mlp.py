"""MNIST with one hidden layer of sigmoid units: 784-30-10 and 784-100-10.

Targets: 784-30-10 reaches at least 96 % test accuracy, 784-100-10 at least 97.5 %.
Training: softmax cross-entropy on the logits, SGD with momentum 0.9 (lr 0.05, cosine
decay over 30 epochs), mini-batches of 32, L2 1e-4 on the weights, Xavier init; 5,000 of
the 60,000 training images are held out for validation. The script prints the test
accuracy of each network beside its target and plots the training curves.

    python examples/mnist_mlp.py --out out          # about a minute or two on one core
    python examples/mnist_mlp.py --quick            # a few seconds, on 2,000 images
    python examples/mnist_mlp.py --backend cupy     # on an NVIDIA GPU (needs CuPy)
"""

from __future__ import annotations

import _common

import graphengine as ge

TARGETS = {30: 0.96, 100: 0.975}


def train(hidden, X, y, epochs, seed, quick, backend="numpy"):
    from graphengine.plugins.optimizers import CosineLR

    model = ge.nn.Sequential(ge.nn.Dense(784, hidden), "sigmoid", ge.nn.Dense(hidden, 10), seed=seed).to(backend)
    return ge.training.fit(
        model, X, y, loss="cross_entropy", optimizer="momentum", lr=0.05, momentum=0.9, l2=1e-4,
        lr_schedule=lambda opt: CosineLR(opt, total_steps=epochs), epochs=epochs, batch_size=32,
        validation_split=0.1 if quick else 5000 / 60000, seed=seed, verbose=not quick)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    _common.add_backend_argument(p)
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 30; 3 with --quick)")
    args = p.parse_args(argv)
    limit, epochs = (2000, 3) if args.quick else (None, 30)
    epochs = args.epochs or epochs
    X, y = _common.load_mnist(args, "train", limit=limit)
    Xt, yt = _common.load_mnist(args, "test", limit=1000 if args.quick else None)
    results, histories = {}, {}
    for hidden in TARGETS:
        history = train(hidden, X, y, epochs, args.seed, args.quick, args.backend)
        histories[hidden] = history
        results[hidden] = history.trainer.evaluate(Xt, yt)["accuracy"]
    params = histories[30].params
    print(f"MNIST, trained on {params['samples']} images ({params['validation_samples']} held out for validation), "
          f"{epochs} epochs, test set of {len(Xt)}:")
    ok = True
    for hidden, accuracy in results.items():
        target = TARGETS[hidden]
        met = accuracy >= target
        ok &= met
        verdict = "(quick run: no target)" if args.quick else ("meets the target" if met else "BELOW the target")
        print(f"  784-{hidden}-10 sigmoid: test accuracy {100 * accuracy:.2f} %   target >= {100 * target:.1f} %   "
              f"{verdict}")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, size=(5.0, 3.6))
    for hidden, history in histories.items():
        for ax, key in zip(axes, ("loss", "accuracy")):
            line, = ax.plot(history.epochs, history[key], label=f"784-{hidden}-10 training")
            ax.plot(history.epochs, history[f"val_{key}"], linestyle="--", color=line.get_color(),
                    label=f"784-{hidden}-10 validation")
    for ax, key in zip(axes, ("cross-entropy", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.suptitle("MNIST, one hidden layer of sigmoid units: " + ", ".join(
        f"784-{h}-10 test {100 * a:.2f} %" for h, a in results.items()))
    _common.save(fig, args, "mnist_mlp.png")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
