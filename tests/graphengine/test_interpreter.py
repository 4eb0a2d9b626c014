"""The interpreter (and the generated code after it): op failures named, NaN/Inf checks."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.program import get_program


class Broken(ge.Op):
    """Fails on negative inputs (so that a run on other data can pass its checks first)."""

    name = "broken"

    def forward(self, xp, x):
        if (x < 0).any():
            raise RuntimeError("kaboom")
        return x * 1.0

    def backward(self, xp, grad, inputs, output):
        return (grad,)

    def shape(self, x):
        return x


class BadBackward(ge.Op):
    name = "bad_backward"

    def forward(self, xp, x):
        return x * 1.0

    def backward(self, xp, grad, inputs, output):
        raise ValueError("no gradient today")

    def shape(self, x):
        return x


@pytest.mark.parametrize("fetch_mode", ["record", "fetch-interpreted", "fetch-generated"])
def test_op_failure_names_node_op_shapes_and_dtypes(fetch_mode):
    g = ge.Graph()
    x = g.input("x", shape=(None, 2), dtype="float32")
    h = ge.ops.tanh(x)
    bad = g.apply(Broken(), h, name="the_bad_one")
    fetch = None if fetch_mode == "record" else [bad]
    if fetch_mode == "fetch-generated":  # two good runs: checked, then generated code for these feeds' shapes
        for _ in range(2):
            g.forward({"x": np.ones((4, 2), dtype=np.float32)}, fetch=fetch)
    with pytest.raises(ge.OpExecutionError) as info:
        g.forward({"x": -np.ones((4, 2), dtype=np.float32)}, fetch=fetch)
    assert (get_program(g, [bad.id], keep_all=False).forward_code is not None) == (fetch_mode == "fetch-generated")
    message = str(info.value)
    assert "'the_bad_one'" in message and "op broken" in message
    assert "float32[4, 2]" in message and "'tanh_1'" in message and "kaboom" in message
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("runs", [1, 3])
def test_backward_failure_names_the_node(runs):
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    W = g.param("W", np.ones(2))
    y = ge.ops.sum(g.apply(BadBackward(), x * W, name="culprit"))
    for _ in range(runs):
        run = g.forward({"x": np.ones(2)}, fetch=[y])
        with pytest.raises(ge.OpExecutionError) as info:
            run.backward(y)
        assert "backward of node 'culprit'" in str(info.value) and "no gradient today" in str(info.value)


def test_check_finite_names_the_first_bad_node():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    a = ge.ops.log(x, name="log_of_x")
    b = ge.ops.exp(a * 2.0, name="later")
    with np.errstate(all="ignore"):
        run = g.forward({"x": np.array([1.0, 0.0, 2.0])})  # off by default: no error
        assert np.isinf(run.value(b)).sum() == 0 and np.isneginf(run.value(a)).sum() == 1
        with pytest.raises(ge.NonFiniteError) as info:
            g.forward({"x": np.array([1.0, 0.0, 2.0])}, check_finite=True)
    message = str(info.value)
    assert "'log_of_x'" in message and "op log" in message and "Inf" in message
    with np.errstate(all="ignore"):
        with pytest.raises(ge.NonFiniteError, match="'x'.*NaN"):
            g.forward({"x": np.array([np.nan, 1.0, 1.0])}, check_finite=True)


def test_check_finite_checks_gradients_too():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    y = ge.ops.sum(ge.ops.sqrt(x))  # d sqrt(x)/dx at 0 is inf
    with np.errstate(all="ignore"):
        run = g.forward({"x": np.array([0.0, 4.0])}, check_finite=True)
        with pytest.raises(ge.NonFiniteError, match="gradient of node 'x'"):
            run.backward(y)


def test_generated_code_is_used_and_matches_the_interpreter(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 3)))
    h = x
    for _ in range(5):
        h = ge.ops.tanh(h @ W) + h
    loss = ge.ops.mean(h * h)
    feeds = {"x": rng.normal(size=(4, 3))}
    reference = g.forward(feeds).backward(loss).grad(W)
    for _ in range(3):
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        np.testing.assert_allclose(run.grad(W), reference, rtol=1e-12)
    program = get_program(g, [loss.id], keep_all=False)
    assert program.forward_code is not None and "def forward" in program.forward_code.source


def test_unreached_branch_is_not_computed():
    calls = []

    class Counting(ge.Op):
        name = "counting"

        def forward(self, xp, x):
            calls.append(1)
            return x

        def backward(self, xp, grad, inputs, output):
            return (grad,)

        def shape(self, x):
            return x

    g = ge.Graph()
    x = g.input("x", shape=(2,))
    g.apply(Counting(), x)
    y = ge.ops.tanh(x)
    g.forward({"x": np.ones(2)}, fetch=[y])
    assert calls == []
    g.forward({"x": np.ones(2)})
    assert calls == [1]


def test_integer_data_through_an_undeclared_input_that_breaks_the_dtype_rules_warns_naming_the_node():
    import warnings

    g = ge.Graph()
    x = g.input("x", shape=(3,))
    w = g.param("w", np.ones(3, np.float32))
    y = ge.ops.exp(x) + w
    with pytest.warns(ge.DtypeRuleWarning, match=r"node 'exp_1' \(op exp\) computed float64 from inputs of dtypes "
                                                 r"int64, where graphengine's dtype rules give float32: input 'x' has "
                                                 r"no declared dtype") as caught:
        run = g.forward({"x": np.arange(3)})
    assert caught[0].filename == __file__  # it points at the g.forward line
    assert run.value(y).dtype == np.float64  # what the warning says; add_1 follows from exp_1 and is not named
    assert [str(w.message).split("'")[1] for w in caught] == ["exp_1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g.forward({"x": np.arange(3)})                                   # generated code: checked once
        g.forward({"x": np.arange(3.0, dtype=np.float32)})               # floats: the rules hold
        b = g.input("b", shape=(3,))
        ge.ops.binary_cross_entropy(ge.ops.sigmoid(w), b)                 # casts its targets itself
        g.forward({"x": np.ones(3, np.float32), "b": np.array([True, False, True])})
        declared = ge.Graph()
        xd = declared.input("x", shape=(3,), dtype="int64")
        yd = ge.ops.exp(xd) + declared.param("w", np.ones(3, np.float32))
        assert declared.forward({"x": np.arange(3)}).value(yd).dtype == np.float32  # a cast node, by the rules
