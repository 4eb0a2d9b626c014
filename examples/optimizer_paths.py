"""Optimizer paths on f(x, y) = x²/20 + y² from (-7, 2).

The function is a long, narrow valley: steep along y, almost flat along x. Plain SGD
zig-zags across the valley, momentum overshoots and swings, AdaGrad scales each axis
by its own gradient history and heads almost straight in, Adam combines both. Each
optimizer is ``ge.optimizers.create(name, ...)`` stepping a param node (x, y) of a small
graph; the function, the start and the learning rates (SGD 0.95, momentum 0.1, AdaGrad 1.5,
Adam 0.3, 30 steps each) are those of the comparison in Koki Saito, "Deep Learning from
Scratch" (O'Reilly Japan, 2016), chapter 6, so the four panels can be set side by side.

    python examples/optimizer_paths.py --out out
"""

from __future__ import annotations

import _common
import numpy as np

import graphengine as ge

START = (-7.0, 2.0)
SETTINGS = {
    "sgd": {"lr": 0.95},
    "momentum": {"lr": 0.1, "momentum": 0.9},
    "adagrad": {"lr": 1.5},
    "adam": {"lr": 0.3},
}
TITLES = {"sgd": "SGD", "momentum": "Momentum", "adagrad": "AdaGrad", "adam": "Adam"}


def valley():
    """The graph of f(x, y) = x²/20 + y² with (x, y) as one param node."""
    g = ge.Graph("valley")
    p = g.param("p", np.array(START, dtype=np.float64))
    f = p[0] ** 2 / 20 + p[1] ** 2
    return g, p, f


def path(name: str, steps: int) -> np.ndarray:
    g, p, f = valley()
    opt = ge.optimizers.create(name, [p], **SETTINGS[name])
    points = [p.value.copy()]
    for _ in range(steps):
        run = g.forward({}, fetch=[f]).backward(f)
        opt.step(run)
        points.append(p.value.copy())
    return np.array(points)


def main(argv=None):
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    steps = 30
    paths = {name: path(name, steps) for name in SETTINGS}
    print(f"{'optimizer':<10} {'hyper-parameters':<26} {'final (x, y)':>20} {'f(final)':>10}")
    for name, pts in paths.items():
        x, y = pts[-1]
        hyper = ", ".join(f"{k}={v}" for k, v in SETTINGS[name].items())
        print(f"{TITLES[name]:<10} {hyper:<26} ({x:8.4f}, {y:8.4f}) {x * x / 20 + y * y:10.5f}")

    from graphengine.training.plots import new_figure

    fig, axes = new_figure(2, 2, size=(4.6, 3.4))
    xs = np.linspace(-10, 10, 201)
    ys = np.linspace(-5, 5, 201)
    gx, gy = np.meshgrid(xs, ys)
    gz = gx ** 2 / 20 + gy ** 2
    for ax, (name, pts) in zip(axes, paths.items()):
        ax.contour(gx, gy, gz, levels=np.geomspace(0.05, 30, 14), colors="#9aa7b8", linewidths=0.7)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color="#c0392b", markersize=3, linewidth=1)
        ax.plot([0], [0], "+", color="black", markersize=12)
        ax.set_title(f"{TITLES[name]} ({', '.join(f'{k}={v}' for k, v in SETTINGS[name].items())})")
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.suptitle("f(x, y) = x²/20 + y², 30 steps from (-7, 2)")
    _common.save(fig, args, "optimizer_paths.png")
    final = {name: float(pts[-1][0] ** 2 / 20 + pts[-1][1] ** 2) for name, pts in paths.items()}
    return 0 if all(v < 0.5 for v in final.values()) else 1  # each one got from f = 24.5 to near the minimum


if __name__ == "__main__":
    raise SystemExit(main())
