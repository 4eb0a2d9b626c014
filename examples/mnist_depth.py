"""MNIST accuracy against depth: 0 to 4 hidden layers of 30 sigmoid units.

Published numbers to compare with: Michael Nielsen, "Neural Networks and Deep Learning",
chapter 5 ("Why are deep neural networks hard to train?"), trains 784-30-...-10 sigmoid
networks the same way at every depth (30 epochs, mini-batches of 10, learning rate 0.1,
L2 λ = 5) and reports 96.48, 96.90, 96.57 and 96.53 % accuracy (on its 10,000 validation
images) for 1, 2, 3 and 4 hidden layers; without a hidden layer, a linear classifier makes 12.0 % test errors (LeCun et al.,
"Gradient-based learning applied to document recognition", 1998), so about 88 %. Depth
helps once, then stops helping, because the gradient vanishes in the early sigmoid layers
(see vanishing_gradients.py). Each network here ends with a softmax (cross-entropy on the
logits) and is trained the same way: SGD with momentum 0.9 (lr 0.05, cosine decay),
batches of 32, L2 1e-4, Xavier init, 30 epochs on 55,000 images (5,000 held out for
validation). The script prints our test accuracies beside the published ones and plots
both.

    python examples/mnist_depth.py --out out         # a few minutes on one core
    python examples/mnist_depth.py --quick           # seconds, on 2,000 images
"""

from __future__ import annotations

import _common

import graphengine as ge

# published accuracies (%): 0 hidden layers from LeCun et al. 1998 (12.0 % error of a linear
# classifier), 1 to 4 from Nielsen, "Neural Networks and Deep Learning", chapter 5
PUBLISHED = {0: 88.0, 1: 96.48, 2: 96.90, 3: 96.57, 4: 96.53}


def build(depth, seed):
    layers, width = [], 784
    for _ in range(depth):
        layers += [ge.nn.Dense(width, 30), "sigmoid"]
        width = 30
    layers.append(ge.nn.Dense(width, 10))
    return ge.nn.Sequential(*layers, seed=seed, name=f"depth_{depth}")


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    args = p.parse_args(argv)
    limit, epochs = (2000, 3) if args.quick else (None, 30)
    X, y = _common.load_mnist(args, "train", limit=limit)
    Xt, yt = _common.load_mnist(args, "test", limit=1000 if args.quick else None)
    from graphengine.plugins.optimizers import CosineLR

    ours, histories = {}, {}
    for depth in PUBLISHED:
        model = build(depth, args.seed)
        history = ge.training.fit(
            model, X, y, loss="cross_entropy", optimizer="momentum", lr=0.05, momentum=0.9, l2=1e-4,
            lr_schedule=lambda opt: CosineLR(opt, total_steps=epochs), epochs=epochs, batch_size=32,
            validation_split=0.1 if args.quick else 5000 / 60000, seed=args.seed)
        histories[depth] = history
        ours[depth] = 100 * history.trainer.evaluate(Xt, yt)["accuracy"]
        print(f"{depth} hidden layer{'s' if depth != 1 else ''} of 30: test accuracy {ours[depth]:.2f} % "
              f"(published: {PUBLISHED[depth]:.2f} %), {model.parameter_count()} params", flush=True)

    print(f"\n{'hidden layers (30 sigmoid units)':<34} {'published':>10} {'graphengine':>12}")
    for depth in PUBLISHED:
        print(f"{depth:<34} {PUBLISHED[depth]:>9.2f}% {ours[depth]:>11.2f}%")
    if args.quick:
        print(f"(quick run: {len(X)} training images, {epochs} epochs, {len(Xt)} test images; not comparable)")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, size=(5.0, 3.8))
    depths = list(PUBLISHED)
    width = 0.38
    axes[0].bar([d - width / 2 for d in depths], [PUBLISHED[d] for d in depths], width,
                label="published (Nielsen ch. 5; LeCun 1998)",
                color="#9aa7b8")
    axes[0].bar([d + width / 2 for d in depths], [ours[d] for d in depths], width, label="graphengine",
                color="#2c5aa0")
    for d in depths:
        axes[0].text(d + width / 2, ours[d] + 0.1, f"{ours[d]:.1f}", ha="center", fontsize=8)
    low = min(min(PUBLISHED.values()), min(ours.values()))
    axes[0].set_ylim(max(0.0, low - 3), 100)
    axes[0].set_xticks(depths)
    axes[0].set_xlabel("hidden layers of 30 sigmoid units")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(loc="lower right")
    axes[0].set_title("MNIST test accuracy by depth")
    for depth, history in histories.items():
        axes[1].plot(history.epochs, [100 * v for v in history["val_accuracy"]], label=f"{depth} hidden")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation accuracy (%)")
    axes[1].grid(True, alpha=0.3)
    axes[1].legend()
    axes[1].set_title("validation accuracy during training")
    _common.save(fig, args, "mnist_depth.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
