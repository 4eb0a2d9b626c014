"""Deck 002, "Parameter update": every optimizer descends f(x, y) = x²/20 + y² from (−7, 2).

The function is a narrow valley (x is 20 times flatter than y): plain SGD zig-zags in y
and crawls in x. The learning rates for sgd, momentum, adagrad and adam are the ones of
the slide's figures; 30 steps. The gradients come from a real graph and run.backward.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge

F0 = 49 / 20 + 4  # f(-7, 2) = 6.45

CASES = {
    "sgd": dict(lr=0.95),
    "momentum": dict(lr=0.1),
    "nesterov": dict(lr=0.1),
    "adagrad": dict(lr=1.5),
    "rmsprop": dict(lr=0.3),
    # AdaDelta's first steps are about sqrt(eps) long (its running E[dx^2] starts at 0);
    # with eps 1e-6 it needs hundreds of steps to cover a distance of 7
    "adadelta": dict(eps=1e-2),
    "adam": dict(lr=0.3),
    "adamax": dict(lr=0.3),
    "adamw": dict(lr=0.3, weight_decay=0.01),
}


def valley():
    g = ge.Graph("valley")
    x = g.param("x", np.array(-7.0))
    y = g.param("y", np.array(2.0))
    f = x * x / 20 + y * y
    return g, x, y, f


def descend(name, steps=30, **hyper):
    g, x, y, f = valley()
    opt = ge.optimizers.create(name, g.params(), **hyper)
    path, values = [(float(x.value), float(y.value))], []
    for _ in range(steps):
        run = g.forward({}, fetch=[f]).backward(f)
        values.append(float(run.value(f)))
        opt.step(run)
        path.append((float(x.value), float(y.value)))
    values.append(float(g.forward({}, fetch=[f]).value(f)))
    return values, path


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_optimizer_descends_the_valley(name):
    values, path = descend(name, steps=100 if name == "adadelta" else 30, **CASES[name])
    assert values[0] == pytest.approx(F0)
    assert values[-1] < 0.05 * F0, f"{name}: f went from {values[0]} to {values[-1]}"
    assert abs(path[-1][0]) < 7 * 0.5  # moved well along the flat x direction too


def test_sgd_zig_zags_in_y_and_momentum_overshoots_in_x():
    _, sgd_path = descend("sgd", lr=0.95)
    ys = [p[1] for p in sgd_path[:6]]
    # y <- y - .95 * 2y = -.9 y: the sign flips every step (the zig-zag of the slide)
    assert all(a * b < 0 for a, b in zip(ys, ys[1:]))
    np.testing.assert_allclose(ys, [2 * (-0.9) ** k for k in range(6)], rtol=1e-12)
    _, momentum_path = descend("momentum", lr=0.1)
    assert max(p[0] for p in momentum_path) > 0  # the velocity carries x past the minimum


def test_with_float32_params():
    g = ge.Graph("valley32")
    x = g.param("x", np.array(-7.0, dtype=np.float32))
    y = g.param("y", np.array(2.0, dtype=np.float32))
    f = x * x / 20 + y * y
    opt = ge.optimizers.create("adam", g.params(), lr=0.3)
    for _ in range(30):
        opt.step(g.forward({}, fetch=[f]).backward(f))
    assert x.value.dtype == np.float32 and y.value.dtype == np.float32
    assert float(g.forward({}, fetch=[f]).value(f)) < 0.05 * F0
