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
    for _ in range(3):  # a failed run admits nothing: every later run is checked again
        with pytest.raises(ge.OpExecutionError) as info:
            g.forward({"x": np.ones((4, 3))}, fetch=[loss] if fetch else None)
        message = str(info.value)
        assert "'dropper'" in message and "drops_rows" in message
        assert "(3, 3)" in message and "(4, 3)" in message and "shape rule" in message
        assert isinstance(info.value.__cause__, ge.ShapeError)


class FirstTwoRows(ge.Op):
    """Right for a batch of two rows only: returns the first two rows, its shape rule all rows."""

    name = "first_two_rows"
    saves = ("inputs",)

    def forward(self, xp, x):
        return x[:2] * 1.0

    def backward(self, xp, grad, inputs, output):
        g = xp.zeros_like(inputs[0])
        g[:2] = grad
        return (g,)

    def shape(self, x):
        return x


def first_two_rows_graph():
    g = ge.Graph("two_rows")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.ones((2, 2)))
    loss = ge.ops.sum(g.apply(FirstTwoRows(), x @ W, name="two_rows"), name="loss")
    return g, x, W, loss


@pytest.mark.parametrize("fetch", [False, True])
def test_an_op_right_for_one_batch_size_is_checked_again_for_a_new_one(fetch):
    g, x, W, loss = first_two_rows_graph()
    fetch = [loss] if fetch else None
    for _ in range(3):  # interpreted and checked, then generated code for this feed signature
        assert float(g.forward({"x": np.ones((2, 2))}, fetch=fetch).value(loss)) == 8.0
    for _ in range(2):  # a new batch size runs the checks again: refused, every time
        with pytest.raises(ge.OpExecutionError) as info:
            g.forward({"x": np.ones((4, 2))}, fetch=fetch)
        message = str(info.value)
        assert "'two_rows'" in message and "first_two_rows" in message and "shape rule" in message
        assert "(2, 2)" in message and "(4, 2)" in message
        assert isinstance(info.value.__cause__, ge.ShapeError)
    assert float(g.forward({"x": np.ones((2, 2))}, fetch=fetch).value(loss)) == 8.0  # the checked one still runs


class TwoRowGradient(ge.Op):
    """Forward right for every batch size; backward gives the first two rows' gradient only."""

    name = "two_row_gradient"

    def forward(self, xp, x):
        return x * 1.0

    def backward(self, xp, grad, inputs, output):
        return (grad[:2],)

    def shape(self, x):
        return x


@pytest.mark.parametrize("fetch", [False, True])
def test_generated_backward_checks_gradient_shapes_for_a_new_batch_size(fetch):
    g = ge.Graph("grads")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.ones((2, 2)))
    loss = ge.ops.sum(g.apply(TwoRowGradient(), x @ W, name="liar"), name="loss")
    fetch = [loss] if fetch else None
    for _ in range(3):  # right for two rows: interpreted, then generated backward
        run = g.forward({"x": np.ones((2, 2))}, fetch=fetch).backward(loss)
        np.testing.assert_array_equal(run.grad(W), np.full((2, 2), 2.0))
    backward = run._program.backward(run._program.slot[loss.id])
    assert backward.code is not None  # the next backward runs generated code, on a new batch size
    run = g.forward({"x": np.ones((4, 2))}, fetch=fetch)
    with pytest.raises(ge.OpExecutionError) as info:
        run.backward(loss)
    message = str(info.value)
    assert "backward of node 'liar'" in message and "two_row_gradient" in message
    assert "(2, 2)" in message and "(4, 2)" in message
    assert isinstance(info.value.__cause__, ge.ShapeError)


def test_generated_code_runs_only_feed_signatures_a_checked_run_admitted(monkeypatch):
    import graphengine.run as run_module

    interpreted = []
    interpret = run_module.interpret_forward
    monkeypatch.setattr(run_module, "interpret_forward",
                        lambda program, values, *rest: interpreted.append((values[0].shape, values[0].dtype)) or
                        interpret(program, values, *rest))
    g = ge.Graph("sizes")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.ones((2, 3)))
    loss = ge.ops.sum(ge.ops.tanh(x @ W), name="loss")
    sizes = [(2, "f8"), (2, "f8"), (2, "f8"), (5, "f8"), (5, "f8"), (2, "f4"), (2, "f8"), (1, "f8"), (5, "f8"),
             (2, "f4"), (1, "f8")]
    for n, dtype in sizes:
        value = g.forward({"x": np.ones((n, 2), dtype=dtype)}).value(loss)
        assert float(value) == pytest.approx(n * 3 * np.tanh(2.0))
    signatures = [((n, 2), np.dtype(dtype)) for n, dtype in ((2, "f8"), (5, "f8"), (2, "f4"), (1, "f8"))]
    assert interpreted == signatures  # the first run of each signature; the rest ran generated code
    program = g.forward({"x": np.ones((2, 2))})._program
    assert program.forward_code is not None
    assert list(program.checked) == [(signature,) for signature in signatures]


def test_a_program_forgets_its_oldest_checked_signature_beyond_the_limit(monkeypatch):
    import graphengine.run as run_module

    monkeypatch.setattr(run_module, "CHECKED_SIGNATURES_MAX", 2)
    g, x, W, loss = first_two_rows_graph()
    for n in (2, 2):
        g.forward({"x": np.ones((n, 2))})
    program = g.forward({"x": np.ones((2, 2))})._program
    signatures = [(((n, 2), np.dtype(dtype)),) for n, dtype in ((2, "float64"), (2, "float32"), (2, "int64"))]
    for array in (np.ones((2, 2), dtype=np.float32), np.ones((2, 2), dtype=np.int64)):
        g.forward({"x": array})
    assert list(program.checked) == signatures[1:]  # float64 forgotten: its next run is checked again
    g.forward({"x": np.ones((2, 2))})
    assert list(program.checked) == [signatures[2], signatures[0]]


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
