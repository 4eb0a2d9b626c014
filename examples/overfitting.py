"""Overfitting and its cures: training against validation loss with no regularization,
L2, dropout and early stopping (Goodfellow, Bengio and Courville, "Deep Learning", 2016,
chapter 7).

A network with far more parameters than examples (784-200-200-10 ReLU, ~200k params, on
1,000 MNIST images) drives its training loss towards zero while the validation loss,
after a minimum, climbs: it memorizes the training set. The cures:

* L2 (weight decay as a penalty): λ/2·‖W‖² added to the loss, so one SGD step is
  W ← (1 − ηλ)·W − η·∂L/∂W;
* dropout (p = 0.5 after each hidden layer; Srivastava et al., JMLR 2014): a different
  thinned network at every step;
* early stopping (patience 10): stop when the validation loss has not improved
  for 10 epochs, and restore the weights of the best epoch.

    python examples/overfitting.py --out out
"""

from __future__ import annotations

import _common

import graphengine as ge


def build(dropout: float, seed: int):
    layers = [ge.nn.Dense(784, 200, init="he_normal"), "relu"]
    if dropout:
        layers.append(ge.nn.Dropout(dropout))
    layers += [ge.nn.Dense(200, 200, init="he_normal"), "relu"]
    if dropout:
        layers.append(ge.nn.Dropout(dropout))
    layers.append(ge.nn.Dense(200, 10))
    return ge.nn.Sequential(*layers, seed=seed)


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    _common.add_data_argument(p)
    args = p.parse_args(argv)
    n_train, n_val, epochs = (300, 300, 12) if args.quick else (1000, 5000, 150)
    X, y = _common.load_mnist(args, "train", limit=n_train + n_val)
    X_train, y_train, X_val, y_val = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    common = dict(loss="cross_entropy", optimizer="momentum", lr=0.02, momentum=0.9, batch_size=32, epochs=epochs,
                  validation_data=(X_val, y_val), seed=args.seed, progress=False)
    patience = 3 if args.quick else 10
    stopper = ge.training.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    runs = {
        "no regularization": dict(model=build(0.0, args.seed)),
        "L2 (λ = 5e-3)": dict(model=build(0.0, args.seed), l2=5e-3),
        "dropout (p = 0.5)": dict(model=build(0.5, args.seed)),
        f"early stopping (patience {patience})": dict(model=build(0.0, args.seed), callbacks=[stopper]),
    }
    histories = {}
    print(f"{n_train} training and {n_val} validation images, up to {epochs} epochs")
    print(f"{'':<30} {'min val loss':>12} {'at epoch':>8} {'final val loss':>14} {'final val acc':>13} {'epochs':>6}")
    for name, options in runs.items():
        model = options.pop("model")
        history = ge.training.fit(model, X_train, y_train, **common, **options)
        histories[name] = history
        best_epoch, best = history.best("val_loss")
        # the weights in use at the end (restored to the best epoch by early stopping)
        final = history.trainer.evaluate(X_val, y_val)
        print(f"{name:<30} {best:12.4f} {best_epoch:8d} {final['loss']:14.4f} {100 * final['accuracy']:12.2f}% "
              f"{len(history):6d}")
    if stopper.stopped_epoch is not None:
        print(f"early stopping stopped at epoch {stopper.stopped_epoch} and restored the weights of epoch "
              f"{stopper.best_epoch}")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, 2, size=(5.0, 3.6))
    top = max(max(h["val_loss"]) for h in histories.values())
    for ax, (name, history) in zip(axes, histories.items()):
        ax.plot(history.epochs, history["loss"], label="training loss")
        ax.plot(history.epochs, history["val_loss"], label="validation loss")
        best_epoch, best = history.best("val_loss")
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"lowest validation loss (epoch {best_epoch})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy")
        ax.set_xlim(0, epochs + 1)
        ax.set_ylim(1e-3, top * 1.5)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Overfitting on {n_train} MNIST images: training vs validation loss")
    _common.save(fig, args, "overfitting.png")
    plain = histories["no regularization"]
    rises = plain.last("val_loss") > plain.best("val_loss")[1]
    return 0 if rises or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
