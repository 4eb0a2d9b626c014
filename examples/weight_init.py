"""Weight initialization: zeros (symmetry never breaks) against small normal, Xavier and He
(Glorot and Bengio, AISTATS 2010; He et al., ICCV 2015).

1. Activation histograms per layer. 1,000 random inputs go through 5 layers of 100
   units. With zeros every unit outputs the same value (sigmoid(0) = 0.5): one spike.
   With a normal of std 1 the sigmoid saturates (activations pile up at 0 and 1, where
   its gradient vanishes); with std 0.01 they all collapse to 0.5 (every unit alike, little
   representational power). Xavier (std √(1/fan_in) scale, for sigmoid/tanh) keeps them
   spread in every layer; He (√(2/fan_in), for ReLU) does the same for ReLU units.
2. Symmetry. A 784-30-10 sigmoid network trained on MNIST from all-zero weights keeps all
   30 hidden units identical (same value, same gradient, same update: the spread between
   units stays exactly 0), so it is no better than a network with one hidden unit; from
   Xavier weights the units differ and it learns. (This part runs in float64. In float32
   the symmetric state is broken after a few hundred steps, by accident: the matrix
   products round identical columns differently in the last bit, and training amplifies
   those 1e-8 differences.)

    python examples/weight_init.py --out out
"""

from __future__ import annotations

import functools

import _common
import numpy as np

import graphengine as ge

LAYERS, UNITS = 5, 100
SCHEMES = {
    "zeros, sigmoid": ("zeros", "sigmoid"),
    "normal std=1, sigmoid": (functools.partial(ge.init.normal, std=1.0), "sigmoid"),
    "normal std=0.01, sigmoid": (functools.partial(ge.init.normal, std=0.01), "sigmoid"),
    "Xavier (normal), sigmoid": ("xavier_normal", "sigmoid"),
    "He (normal), ReLU": ("he_normal", "relu"),
}


def activations(init, activation, X, seed):
    """Values of the 5 activation layers for inputs X, with every Dense initialized by ``init``."""
    g = ge.Graph("deep")
    x = g.input("x", shape=(None, UNITS))
    h, outputs = x, []
    for i in range(LAYERS):
        h = ge.nn.Dense(UNITS, UNITS, init=init, seed=seed + i, name=f"dense_{i + 1}")(h)
        h = ge.nn.Activation(activation, name=f"{activation}_{i + 1}")(h)
        outputs.append(h)
    run = g.forward({x: X}, fetch=outputs)
    return [run.value(o) for o in outputs]


def symmetry(args, init, X, y, Xt, yt, epochs):
    model = ge.nn.Sequential(ge.nn.Dense(784, 30, init=init, dtype="float64"), "sigmoid",
                             ge.nn.Dense(30, 10, init=init, dtype="float64"), seed=args.seed)
    history = ge.training.fit(model, X, y, optimizer="sgd", lr=0.5, epochs=epochs, batch_size=10, seed=args.seed,
                              progress=False, dtype="float64")
    W1 = model[0].W.value
    spread = float(np.abs(W1 - W1[:, :1]).max())  # largest difference between a unit's weights and unit 0's
    return spread, history.trainer.evaluate(Xt, yt)["accuracy"]


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((1000, UNITS)).astype(np.float32)
    results = {name: activations(init, act, X, args.seed) for name, (init, act) in SCHEMES.items()}
    print(f"activation standard deviation per layer (1,000 random inputs, {LAYERS} layers of {UNITS} units)")
    for name, acts in results.items():
        print(f"{name:<26} " + " ".join(f"{a.std():.4f}" for a in acts))

    n_train, epochs = (1000, 1) if args.quick else (10000, 5)
    Xm, ym = _common.load_mnist(args, "train", limit=n_train)
    Xt, yt = _common.load_mnist(args, "test", limit=1000 if args.quick else None)
    print(f"\n784-30-10 sigmoid on {n_train} MNIST images, {epochs} epoch(s) of SGD, float64:")
    sym = {}
    for name in ("zeros", "xavier_uniform"):
        spread, accuracy = symmetry(args, name, Xm, ym, Xt, yt, epochs)
        sym[name] = spread
        print(f"  init {name:<15} largest difference between hidden units' weights {spread:.3g}, "
              f"test accuracy {100 * accuracy:.2f}%")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(LAYERS, len(SCHEMES), size=(2.3, 1.9))
    for row, (name, acts) in enumerate(results.items()):
        for col, values in enumerate(acts):
            ax = axes[row * LAYERS + col]
            relu = SCHEMES[name][1] == "relu"
            bins = np.linspace(0, max(1e-6, float(values.max())), 30) if relu else np.linspace(0, 1, 30)
            ax.hist(values.ravel(), bins=bins, color="#2c5aa0")
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"layer {col + 1}")
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("Activation histograms per layer for each initialization")
    _common.save(fig, args, "weight_init.png")
    return 0 if sym["zeros"] < 1e-9 and sym["xavier_uniform"] > 0.01 else 1


if __name__ == "__main__":
    raise SystemExit(main())
