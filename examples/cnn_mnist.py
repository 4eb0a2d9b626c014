"""A LeNet-style CNN on MNIST (or Fashion-MNIST with --fashion).

Targets: at least 99.0 % test accuracy on MNIST, at least 90 % on Fashion-MNIST.
Network (NCHW, 1x28x28 images): conv 5x5, 16 maps, padding 2 -> ReLU -> 2x2 max pool
(16x14x14) -> conv 5x5, 32 maps -> ReLU -> 2x2 max pool (32x5x5) -> flatten (800)
-> Dense 128 -> ReLU -> dropout 0.3 -> Dense 10. LeNet-5's layout (Le Cun et al. 1998),
with ReLU, max pooling and wider layers. Training: softmax cross-entropy on the logits,
Adam (lr 2e-3, cosine decay to 0), mini-batches of 128; the convolutions start from
torch's default initialization, the Dense layers from Xavier's; 5,000 of the 60,000 training images are held out for validation. The script prints the
test accuracy beside its target and the time per epoch, and plots the training curves.

    python examples/cnn_mnist.py --out out               # 6 epochs, about a minute each on one free core
    python examples/cnn_mnist.py --fashion --out out     # Fashion-MNIST, 8 epochs
    python examples/cnn_mnist.py --quick                 # a few seconds, on 640 images
    python examples/cnn_mnist.py --backend cupy          # on an NVIDIA GPU (needs CuPy)
"""

from __future__ import annotations

import time

import _common

import graphengine as ge

TARGETS = {"mnist": 0.99, "fashion-mnist": 0.90}
EPOCHS = {"mnist": 6, "fashion-mnist": 8}


def lenet(seed):
    """The network: features (two conv/pool stages) then a small classifier."""
    return ge.nn.Sequential(
        ge.nn.Conv2d(1, 16, kernel_size=5, padding=2), "relu", ge.nn.MaxPool2d(2),
        ge.nn.Conv2d(16, 32, kernel_size=5), "relu", ge.nn.MaxPool2d(2),
        ge.nn.Flatten(),
        ge.nn.Dense(32 * 5 * 5, 128), "relu", ge.nn.Dropout(0.3),
        ge.nn.Dense(128, 10),
        seed=seed)


class EpochTimer(ge.training.Callback):
    """Seconds of each epoch (training pass and validation): wall clock, and CPU time of
    this process (the same on a free core; the CPU time still holds on a shared machine)."""

    def __init__(self):
        self.seconds, self.cpu_seconds = [], []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start[0])
        self.cpu_seconds.append(time.process_time() - self._start[1])


def images(X):
    """(n, 784) rows as (n, 1, 28, 28) images (NCHW)."""
    return X.reshape(-1, 1, 28, 28)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    _common.add_backend_argument(p)
    p.add_argument("--fashion", action="store_true", help="Fashion-MNIST instead of MNIST")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default 6 on MNIST, 8 on Fashion-MNIST; 2 with --quick)")
    args = p.parse_args(argv)
    dataset = "fashion-mnist" if args.fashion else "mnist"
    limit = 640 if args.quick else None
    epochs = args.epochs or (2 if args.quick else EPOCHS[dataset])
    X, y = _common.load_mnist(args, "train", limit=limit, dataset=dataset)
    Xt, yt = _common.load_mnist(args, "test", limit=300 if args.quick else None, dataset=dataset)
    X, Xt = images(X), images(Xt)

    from graphengine.plugins.optimizers import CosineLR

    model = lenet(args.seed).to(args.backend)
    timer = EpochTimer()
    history = ge.training.fit(
        model, X, y, loss="cross_entropy", optimizer="adam", lr=2e-3,
        lr_schedule=lambda opt: CosineLR(opt, total_steps=epochs), epochs=epochs, batch_size=128,
        validation_split=0.1 if args.quick else 5000 / 60000, seed=args.seed, callbacks=[timer],
        verbose=not args.quick)
    accuracy = history.trainer.evaluate(Xt, yt)["accuracy"]
    target = TARGETS[dataset]
    params = history.params
    per_epoch = sum(timer.seconds) / max(len(timer.seconds), 1)
    cpu_per_epoch = sum(timer.cpu_seconds) / max(len(timer.cpu_seconds), 1)
    print(model.summary())
    print(f"{dataset}, trained on {params['samples']} images ({params['validation_samples']} held out for "
          f"validation), {epochs} epochs, {per_epoch:.1f} s per epoch ({cpu_per_epoch:.1f} s of CPU), test set of "
          f"{len(Xt)}:")
    met = accuracy >= target
    verdict = "(quick run: no target)" if args.quick else ("meets the target" if met else "BELOW the target")
    print(f"  LeNet-style CNN: test accuracy {100 * accuracy:.2f} %   target >= {100 * target:.1f} %   {verdict}")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, size=(5.0, 3.6))
    for ax, key, label in zip(axes, ("loss", "accuracy"), ("cross-entropy", "accuracy")):
        ax.plot(history.epochs, history[key], label="training")
        ax.plot(history.epochs, history[f"val_{key}"], linestyle="--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.suptitle(f"{dataset}, LeNet-style CNN: test {100 * accuracy:.2f} %, {per_epoch:.0f} s per epoch")
    _common.save(fig, args, f"cnn_{dataset.replace('-', '_')}.png")
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
