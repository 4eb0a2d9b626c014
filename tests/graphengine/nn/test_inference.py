"""The helpers behind model.predict and model.evaluate: inputs, batches, targets, metrics."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError
from graphengine.nn.inference import as_input_list, prepare_targets, resolve_metrics, run_batches


def test_inputs_are_checked_and_several_inputs_come_as_a_list():
    one = as_input_list(np.ones((3, 2)), 1, "predict")
    assert len(one) == 1 and one[0].shape == (3, 2)
    two = as_input_list([np.ones((3, 2)), np.zeros((3, 4))], 2, "predict")
    assert [a.shape for a in two] == [(3, 2), (3, 4)]
    with pytest.raises(ModuleError, match="takes 2 inputs; pass X as a list of 2 arrays"):
        as_input_list(np.ones((3, 2)), 2, "predict")
    with pytest.raises(ModuleError, match="different numbers of rows"):
        as_input_list([np.ones((3, 2)), np.ones((4, 2))], 2, "predict")
    with pytest.raises(ModuleError, match="numeric array with one row per example"):
        as_input_list(np.array(["a", "b"]), 1, "predict")


def test_a_model_of_two_inputs_predicts_from_a_list(rng):
    class Pair(ge.nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = ge.nn.Dense(2, 3), ge.nn.Dense(4, 3)

        def forward(self, a, b):
            return self.left(a) + self.right(b)

    g = ge.Graph("g")
    model = Pair()
    model(g.input("a", shape=(None, 2)), g.input("b", shape=(None, 4)))
    A, B = rng.standard_normal((5, 2)), rng.standard_normal((5, 4))
    out = model.predict([A, B], batch_size=2)
    expected = (A.astype(np.float32) @ model.left.W.value + model.left.b.value
                + B.astype(np.float32) @ model.right.W.value + model.right.b.value)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_batches_are_stitched_and_batch_size_is_checked():
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 2))
    y = x * 2.0
    X = np.arange(14, dtype=np.float32).reshape(7, 2)
    np.testing.assert_array_equal(run_batches(g, [x], y, [X], 3, "predict"), X * 2)
    with pytest.raises(ModuleError, match="batch_size must be a positive int, got 0"):
        run_batches(g, [x], y, [X], 0, "predict")


def test_targets_are_prepared_as_fit_prepares_them():
    pred = np.zeros((4, 3), np.float32)
    labels = np.array([0, 2, 1, 2])
    assert prepare_targets("cross_entropy", labels, pred, "evaluate").dtype == np.int64
    np.testing.assert_array_equal(prepare_targets("mse", labels, pred, "evaluate"), np.eye(3, dtype=np.float32)[labels])
    column = prepare_targets("mse", np.arange(4.0), np.zeros((4, 1), np.float32), "evaluate")
    assert column.shape == (4, 1) and column.dtype == np.float32
    with pytest.raises(ModuleError, match=r"labels must lie in \[0, 3\)"):
        prepare_targets("mse", np.array([0, 5, 1, 2]), pred, "evaluate")
    # the code fit runs (graphengine.training.targets.conform_targets): what fit refuses, evaluate refuses,
    # instead of comparing (4, 1) targets with a (4, 3) output by broadcasting
    with pytest.raises(ModuleError, match=r"^evaluate: loss 'mse' compares the model output \(shape \(None, 3\), "
                                          r"3 values per example\) .* the targets have shape \(4, 1\)"):
        prepare_targets("mse", np.zeros((4, 1)), pred, "evaluate")
    assert prepare_targets("cross_entropy", np.eye(3)[labels], pred, "evaluate").dtype == np.float32  # one-hot rows
    assert prepare_targets(lambda o, t: o, labels, pred, "evaluate").dtype == np.int64


def test_default_metrics_follow_the_loss():
    assert [n for n, _ in resolve_metrics("cross_entropy", None)] == ["accuracy"]
    assert [n for n, _ in resolve_metrics("mse", None)] == []
    _, accuracy = resolve_metrics("binary_cross_entropy_with_logits", None)[0]
    assert accuracy(np.array([[0.2], [-0.1]]), np.array([1, 0])) == 1.0  # logits: threshold 0
    with pytest.raises(ModuleError, match="unique and not 'loss'"):
        resolve_metrics("mse", ["mae", "mae"])
