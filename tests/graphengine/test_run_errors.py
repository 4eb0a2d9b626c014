"""Runs never silently wrong: fed arrays changed after forward, ops that break their own
shape rule, and clear errors for the arguments a user gets wrong."""

import numpy as np
import pytest

import graphengine as ge


def logistic_graph():
    g = ge.Graph("fed")
    x = g.input("x", shape=(None, 1))
    W = g.param("W", np.array([[1.0]]))
    loss = ge.ops.sum(x @ W, name="loss")
    return g, x, W, loss


# -- a fed array changed in place between forward and backward ------------------------------

@pytest.mark.parametrize("fetch", [False, True])
@pytest.mark.parametrize("runs", [1, 3])  # the interpreted first run, and generated code
def test_a_fed_array_changed_after_forward_changes_neither_gradient_nor_values(fetch, runs):
    g, x, W, loss = logistic_graph()
    for _ in range(runs):
        X = np.array([[0.3]])
        run = g.forward({"x": X}, fetch=[loss] if fetch else None)
        X *= 100.0  # the caller reuses its buffer before backward
        run.backward(loss)
        assert run.grad(W)[0, 0] == pytest.approx(0.3)  # d(x W)/dW = x as it was fed
        assert run.value(loss) == pytest.approx(0.3)
        assert run.value(x)[0, 0] == pytest.approx(0.3)
    assert X[0, 0] == pytest.approx(30.0)  # the caller's array is the caller's


def test_a_fed_array_changed_after_forward_does_not_change_gradients_on_request():
    g = ge.Graph("inputs")
    x = g.input("x", shape=(2,))
    y = g.input("y", shape=(2,))
    loss = ge.ops.sum(x * y)
    X, Y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    run = g.forward({"x": X, "y": Y}).backward(loss)
    X[:] = 0.0
    Y[:] = 0.0
    np.testing.assert_array_equal(run.grad(x), [3.0, 4.0])  # computed on request, after the change
    np.testing.assert_array_equal(run.grad(y), [1.0, 2.0])


# -- an op whose forward disagrees with its shape rule on the actual shapes --------------------

class DropsRows(ge.Op):
    """Claims to keep the batch axis but returns one row fewer."""

    name = "drops_rows"

    def forward(self, xp, x):
        return x[1:] * 1.0

    def backward(self, xp, grad, inputs, output):
        return (grad,)

    def shape(self, x):
        return x


@pytest.mark.parametrize("fetch", [False, True])
def test_an_op_returning_fewer_rows_than_its_shape_rule_says_is_refused(fetch):
    g = ge.Graph("rows")
    x = g.input("x", shape=(None, 3))
    h = g.apply(DropsRows(), x, name="dropper")
    loss = ge.ops.sum(h)
    with pytest.raises(ge.OpExecutionError) as info:
        g.forward({"x": np.ones((4, 3))}, fetch=[loss] if fetch else None)
    message = str(info.value)
    assert "'dropper'" in message and "drops_rows" in message
    assert "(3, 3)" in message and "(4, 3)" in message and "shape rule" in message
    assert isinstance(info.value.__cause__, ge.ShapeError)


# -- clear errors for the arguments of a run ------------------------------------------------

@pytest.mark.parametrize("grad", ["ones", None.__class__, [["a", "b"]], object()])
def test_a_seed_gradient_that_is_not_numeric_is_a_backward_error(grad):
    g = ge.Graph("seed")
    x = g.input("x", shape=(2,))
    h = x * 2.0
    run = g.forward({"x": np.ones(2)})
    with pytest.raises(ge.BackwardError, match=r"seed gradient grad= for backward from 'mul_1'.*numeric array.*\(2,\)"):
        run.backward(h, grad=grad)
    run.backward(h, grad=np.ones(2))  # the run is still usable
    np.testing.assert_array_equal(run.grad(x), [2.0, 2.0])


@pytest.mark.parametrize("key", [None, 3.5, [0]])
@pytest.mark.parametrize("method", ["value", "grad"])
def test_a_run_given_something_that_is_not_a_node_says_what_it_takes(key, method):
    g, x, W, loss = logistic_graph()
    run = g.forward({"x": np.ones((1, 1))}).backward(loss)
    with pytest.raises(ge.GraphEngineError, match=r"expected a node, a node name or a node id of graph 'fed', got") \
            as info:
        getattr(run, method)(key)
    assert isinstance(info.value, TypeError)
    assert type(key).__name__ in str(info.value)


@pytest.mark.parametrize("value", [np.array([1.0, np.nan]), float("inf")])
def test_check_finite_names_a_non_finite_const(value):
    g = ge.Graph("consts")
    x = g.input("x", shape=(2,))
    c = g.const(value, name="bad_const")
    y = ge.ops.sum(x * c)
    with pytest.raises(ge.NonFiniteError, match=r"node 'bad_const' \(const.*contains (NaN|Inf).*const was made"):
        g.forward({"x": np.ones(2)}, check_finite=True)
