"""DistributedOptimizer in one process: it is the wrapped optimizer (same updates, state,
checkpoints), its hook marks the step so step() does not reduce twice, and bad use is
refused. Its averaging over 2 ranks is checked by the MPI job of test_training.py."""

import functools

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import DistributedError, DistributedOptimizer


def _graph(seed=0):
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", np.random.default_rng(seed).normal(size=(3, 2)))
    b = g.param("b", np.zeros(2))
    loss = ge.ops.mean(ge.ops.tanh(x @ W + b) ** 2)
    return g, loss


def test_it_is_the_wrapped_optimizer_in_one_process():
    X = np.random.default_rng(1).normal(size=(8, 3))
    g1, loss1 = _graph()
    g2, loss2 = _graph()
    plain = ge.optimizers.create("adam", g1.params(), lr=0.1)
    wrapped = DistributedOptimizer(ge.optimizers.create("adam", g2.params(), lr=0.1), ge.distributed.init("single"))
    assert isinstance(wrapped, ge.Optimizer) and wrapped.name == "adam" and wrapped.params == g2.params()
    s1 = ge.compile_step(loss1, plain)
    s2 = ge.compile_step(loss2, wrapped, before_update=[wrapped.allreduce_gradients,
                                                        functools.partial(ge.clip_grad_norm, max_norm=10.0)])
    for _ in range(3):
        s1({"x": X})
        s2({"x": X})
    assert all(np.array_equal(p.value, q.value) for p, q in zip(g1.params(), g2.params()))
    assert wrapped.steps == 3 and wrapped.allreduce_calls == 0  # one process: nothing to send
    run = g2.forward({"x": X}).backward(loss2)
    wrapped.step(run)  # a Run works too
    assert wrapped.steps == 4
    wrapped.hyper["lr"] = 0.5
    assert wrapped.optimizer.hyper["lr"] == 0.5
    state = wrapped.state_dict()
    assert state["steps"] == 4 and state["name"] == "adam"
    fresh = DistributedOptimizer(ge.optimizers.create("adam", g2.params()), ge.distributed.init("single"))
    fresh.load_state_dict(state)
    assert fresh.steps == 4 and fresh.hyper["lr"] == 0.5
    assert "DistributedOptimizer over 1 ranks" in repr(wrapped)


def test_the_hook_marks_the_step():
    g, loss = _graph()
    opt = DistributedOptimizer(ge.optimizers.create("sgd", g.params(), lr=0.1), ge.distributed.init("single"))
    grads = {p: np.ones(p.shape) for p in g.params()}
    out = opt.allreduce_gradients(grads)
    assert opt._reduced and set(out) == set(grads)
    opt.step(out)
    assert not opt._reduced  # the next step reduces again unless the hook runs first


def test_refused():
    g, loss = _graph()
    comm = ge.distributed.init("single")
    inner = ge.optimizers.create("sgd", g.params(), lr=0.1)
    with pytest.raises(DistributedError, match="wraps a ge.Optimizer"):
        DistributedOptimizer("sgd", comm)
    wrapped = DistributedOptimizer(inner, comm)
    with pytest.raises(DistributedError, match="already a DistributedOptimizer"):
        DistributedOptimizer(wrapped, comm)
    with pytest.raises(DistributedError, match="keyed by param nodes"):
        wrapped.allreduce_gradients({"W": np.zeros((3, 2))})
    with pytest.raises(DistributedError, match="takes a mapping"):
        wrapped.allreduce_gradients([np.zeros((3, 2))])
