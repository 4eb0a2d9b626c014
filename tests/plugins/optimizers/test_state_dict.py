"""state_dict / load_state_dict: a restored optimizer continues exactly like the original."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.optimizers import CosineLR

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "adamw"]


def build(seed=0):
    """A small regression graph whose gradients depend on the params (so state matters)."""
    rng = np.random.default_rng(seed)
    g = ge.Graph("reg")
    x = g.input("x", shape=(None, 3))
    y = g.input("y", shape=(None, 2))
    W = g.param("W", rng.standard_normal((3, 2)))
    b = g.param("b", rng.standard_normal((2,)))
    loss = ge.ops.mean(ge.ops.square(ge.ops.tanh(x @ W + b) - y))
    feeds = {"x": rng.standard_normal((16, 3)), "y": rng.standard_normal((16, 2))}
    return g, loss, feeds


def train(g, loss, feeds, opt, steps):
    for _ in range(steps):
        opt.step(g.forward(feeds, fetch=[loss]).backward(loss))


def to_plain(state: dict) -> dict:
    """What a save file would hold: JSON for scalars, plain NumPy copies for arrays."""
    arrays = {}
    skeleton = {"name": state["name"], "hyper": state["hyper"], "steps": state["steps"], "state": {}}
    for pname, st in state["state"].items():
        skeleton["state"][pname] = {}
        for key, value in st.items():
            if hasattr(value, "shape"):
                arrays[f"{pname}/{key}"] = np.array(value, copy=True)
                skeleton["state"][pname][key] = None
            else:
                skeleton["state"][pname][key] = value
    text = json.dumps(skeleton)
    loaded = json.loads(text)
    for path, array in arrays.items():
        pname, key = path.split("/")
        loaded["state"][pname][key] = array
    return loaded


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_continues_identically(name):
    g1, loss1, feeds = build()
    opt1 = ge.optimizers.create(name, g1.params(), lr=0.05)
    train(g1, loss1, feeds, opt1, 5)

    g2, loss2, _ = build()
    opt2 = ge.optimizers.create(name, g2.params(), lr=0.05)
    train(g2, loss2, feeds, opt2, 2)
    saved = to_plain(opt2.state_dict())
    values = {p.name: np.array(p.value, copy=True) for p in g2.params()}

    g3, loss3, _ = build(seed=99)            # other initial values, overwritten below
    for p in g3.params():
        p.value = values[p.name]
    opt3 = ge.optimizers.create(name, g3.params(), lr=0.5)   # the state dict restores lr
    opt3.load_state_dict(saved)
    assert opt3.hyper == opt1.hyper and opt3.steps == 2
    train(g3, loss3, feeds, opt3, 3)

    for p1, p3 in zip(g1.params(), g3.params()):
        np.testing.assert_array_equal(p1.value, p3.value)
    assert opt3.steps == opt1.steps == 5


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_a_snapshot_not_a_live_view(name):
    """The rules update state arrays in place; state_dict returns copies, so a state dict
    taken earlier does not change."""
    g, loss, feeds = build()
    opt = ge.optimizers.create(name, g.params(), lr=0.05)
    train(g, loss, feeds, opt, 2)
    state = opt.state_dict()
    frozen = copy.deepcopy(state)
    train(g, loss, feeds, opt, 2)
    for pname, st in frozen["state"].items():
        for key, value in st.items():
            np.testing.assert_array_equal(np.asarray(state["state"][pname][key]), np.asarray(value))


def test_state_dict_of_another_optimizer_is_refused():
    g, loss, feeds = build()
    adam = ge.optimizers.create("adam", g.params())
    train(g, loss, feeds, adam, 1)
    sgd = ge.optimizers.create("sgd", g.params())
    with pytest.raises(ge.GraphEngineError, match="state dict is for optimizer 'adam', not 'sgd'"):
        sgd.load_state_dict(adam.state_dict())


def test_schedule_state_round_trip():
    g, loss, feeds = build()
    opt = ge.optimizers.create("sgd", g.params(), lr=0.1)
    schedule = CosineLR(opt, total_steps=10)
    for _ in range(4):
        schedule.step()
    saved = json.loads(json.dumps(schedule.state_dict()))
    g2, _, _ = build()
    opt2 = ge.optimizers.create("sgd", g2.params(), lr=0.1)
    schedule2 = CosineLR(opt2, total_steps=10)
    schedule2.load_state_dict(saved)
    assert opt2.hyper["lr"] == opt.hyper["lr"] == schedule.lr_at(4)
    assert schedule2.step() == schedule.step()
