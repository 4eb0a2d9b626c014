"""Lowering: what a program runs, keeps, frees and releases (graphengine.program)."""

import numpy as np

import graphengine as ge
from graphengine.program import get_program


def layer_graph(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 4)))
    b = g.param("b", np.zeros(4))
    z = x @ W
    a = z + b
    h = ge.ops.tanh(a)
    loss = ge.ops.mean(h * h)
    return g, dict(x=x, W=W, b=b, z=z, a=a, h=h, loss=loss)


def slot(program, node):
    return program.slot[node.id]


def test_fetched_program_keeps_what_backward_reads_and_only_the_shape_of_the_rest(rng):
    g, n = layer_graph(rng)
    program = get_program(g, [n["loss"].id], keep_all=False)
    # matmul reads its inputs, tanh its output, mul its inputs; add reads nothing but z's
    # shape (its gradient may need summing back over the batch axis, of unknown size)
    assert slot(program, n["h"]) in program.keep and slot(program, n["x"]) in program.keep
    assert slot(program, n["z"]) in program.shape_only
    freed = {i for after in program.free_after for i in after}
    assert slot(program, n["z"]) in freed


def test_recording_program_keeps_everything_and_differentiates_no_input(rng):
    g, n = layer_graph(rng)
    program = get_program(g, None, keep_all=True)
    assert program.keep == set(range(len(program.order)))
    assert not any(program.free_after)
    assert not program.requires[slot(program, n["x"])]  # its gradient is computed on request
    assert program.requires[slot(program, n["W"])] and program.requires[slot(program, n["z"])]
    checked = get_program(g, None, keep_all=True, input_grads=True)  # check_finite runs
    assert checked.requires[slot(checked, n["x"])]


def test_backward_releases_values_after_their_last_reader(rng):
    g, n = layer_graph(rng)
    program = get_program(g, [n["loss"].id], keep_all=False)
    backward = program.backward(slot(program, n["loss"]))
    released = {i for after in backward.release for i, _ in after}
    assert slot(program, n["h"]) in released  # an activation only backward needed
    assert slot(program, n["x"]) not in released and slot(program, n["loss"]) not in released
    assert backward.kept == {slot(program, n["W"]), slot(program, n["b"]), slot(program, n["loss"])}
    assert get_program(g, None, keep_all=True).backward(slot(program, n["loss"])).release is None


def test_programs_are_cached_per_version_fetch_and_mode():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    y = ge.ops.tanh(x)
    z = ge.ops.exp(y)
    feeds = {"x": np.ones(2)}
    g.forward(feeds, fetch=[z])
    programs = dict(g._plans)
    g.forward(feeds, fetch=[z])
    assert g._plans == programs
    g.forward(feeds, fetch=[y])
    g.forward(feeds)
    assert len(g._plans) == len(programs) + 2
    ge.ops.neg(z)
    g.forward(feeds, fetch=[z])
    assert g._plans["version"] == g.version and len(g._plans) == 2


def test_unreached_branch_is_not_lowered():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    other = ge.ops.exp(x)
    y = ge.ops.tanh(x)
    program = get_program(g, [y.id], keep_all=False)
    assert other.id not in program.slot and [n.name for n in program.order] == ["x", y.name]
