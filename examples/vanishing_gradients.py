"""Vanishing gradients: per-layer gradient norms of a deep sigmoid network, against ReLU
and residual versions (Nielsen, "Neural Networks and Deep Learning", chapter 5; He et al.,
"Deep Residual Learning for Image Recognition", CVPR 2016).

For a chain of sigmoid layers, ∂C/∂b1 is a product of terms σ'(a)·w, each usually below
1/4 in size, so the gradient shrinks layer after layer towards the input: early layers
learn much more slowly than late ones. ReLU (derivative 1 where active) and residual
blocks y = x + R(x) (∂y/∂x = 1 + ∂R/∂x) keep it from vanishing.

Three networks of 5 hidden layers of 30 units on MNIST: sigmoid (Xavier init), ReLU
(He init), and sigmoid residual blocks. The script prints and plots ‖∂C/∂b_l‖ for each
layer l at initialization (averaged over batches, as in Nielsen's chapter 5) and after
training, and the test accuracy each reaches with the same training budget.

    python examples/vanishing_gradients.py --out out
"""

from __future__ import annotations

import _common
import numpy as np

import graphengine as ge

HIDDEN, DEPTH = 30, 5


def sigmoid_net(seed):
    layers = [ge.nn.Dense(784, HIDDEN), "sigmoid"]
    for _ in range(DEPTH - 1):
        layers += [ge.nn.Dense(HIDDEN, HIDDEN), "sigmoid"]
    return ge.nn.Sequential(*layers, ge.nn.Dense(HIDDEN, 10), seed=seed, name="sigmoid")


def relu_net(seed):
    layers = [ge.nn.Dense(784, HIDDEN, init="he_normal"), "relu"]
    for _ in range(DEPTH - 1):
        layers += [ge.nn.Dense(HIDDEN, HIDDEN, init="he_normal"), "relu"]
    return ge.nn.Sequential(*layers, ge.nn.Dense(HIDDEN, 10), seed=seed, name="relu")


def residual_net(seed):
    layers = [ge.nn.Dense(784, HIDDEN), "sigmoid"]
    for _ in range(DEPTH - 1):
        layers.append(ge.nn.Residual(ge.nn.Dense(HIDDEN, HIDDEN), "sigmoid"))
    return ge.nn.Sequential(*layers, ge.nn.Dense(HIDDEN, 10), seed=seed, name="residual")


BUILDERS = {"sigmoid": sigmoid_net, "ReLU": relu_net, "residual (sigmoid)": residual_net}


def dense_layers(model):
    layers = [m for m in model.modules() if isinstance(m, ge.nn.Dense)]
    return sorted(layers, key=lambda layer: layer.W.id)


def bias_gradient_norms(trainer, layers, X, y, batch_size=100, batches=10):
    """Mean over ``batches`` batches of ‖∂C/∂b‖ for each layer (input side first)."""
    norms = np.zeros(len(layers))
    targets = trainer.prepare_targets(y)
    for k in range(batches):
        sl = slice(k * batch_size, (k + 1) * batch_size)
        run = trainer.graph.forward({trainer.x: X[sl], trainer.y: targets[sl]}, fetch=[trainer.loss_node])
        run.backward(trainer.loss_node)
        norms += [float(np.linalg.norm(run.grad(layer.b))) for layer in layers]
    return norms / batches


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    args = p.parse_args(argv)
    n_train, epochs = (1000, 1) if args.quick else (20000, 5)
    X, y = _common.load_mnist(args, "train", limit=n_train)
    Xt, yt = _common.load_mnist(args, "test", limit=1000 if args.quick else None)
    results = {}
    for name, build in BUILDERS.items():
        model = build(args.seed)
        trainer = ge.training.Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.1, seed=args.seed)
        trainer.build(X, y)
        layers = dense_layers(model)
        before = bias_gradient_norms(trainer, layers, X, y)
        trainer.fit(X, y, epochs=epochs, batch_size=10, progress=False)
        after = bias_gradient_norms(trainer, layers, X, y)
        accuracy = trainer.evaluate(Xt, yt)["accuracy"]
        results[name] = (before, after, accuracy)

    print(f"‖∂C/∂b‖ per layer (1 = nearest the input, {DEPTH + 1} = output), mean over 10 batches of 100")
    for name, (before, after, accuracy) in results.items():
        print(f"{name:<19} at init: " + " ".join(f"{v:.2e}" for v in before))
        print(f"{'':<19} trained: " + " ".join(f"{v:.2e}" for v in after)
              + f"   test accuracy {100 * accuracy:.2f}% after {epochs} epoch{'s' if epochs > 1 else ''}")
    sig = results["sigmoid"][0]
    print(f"sigmoid: the first layer's gradient is {sig[-2] / sig[0]:.0f}x smaller than the last hidden layer's")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, size=(5.0, 3.8))
    layers_axis = np.arange(1, DEPTH + 2)
    for index, (title, ax) in enumerate((("at initialization", axes[0]), (f"after {epochs} epoch(s) of SGD", axes[1]))):
        for name, values in results.items():
            ax.plot(layers_axis, values[index], "o-", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = input side)")
        ax.set_ylabel("‖∂C/∂b‖")
        ax.set_xticks(layers_axis)
        ax.set_title(f"bias gradient norm per layer, {title}")
        ax.grid(True, alpha=0.3, which="both")
        ax.legend()
    _common.save(fig, args, "vanishing_gradients.png")
    return 0 if sig[0] < sig[-2] else 1


if __name__ == "__main__":
    raise SystemExit(main())
