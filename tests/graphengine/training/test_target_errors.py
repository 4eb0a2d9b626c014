"""Targets that do not fit the loss: the error names the loss, both shapes, whether the
labels are whole numbers, and a fix that leads to a working fit (or to a second error that
says what is left to do)."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import TrainingError


def ten_classes():
    return ge.nn.Sequential(ge.nn.Dense(4, 10), seed=0)


def data(n=200):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype("float32"), rng.integers(0, 10, n).astype(float)


def test_mse_with_float_labels_of_shape_n_names_the_loss_shapes_and_the_fixes():
    X, y = data()
    model = ten_classes()
    with pytest.raises(TrainingError) as info:
        ge.training.fit(model, X, y, loss="mse", batch_size=10, epochs=1, progress=False)
    message = str(info.value)
    assert message.startswith("loss 'mse' (node 'loss/mse') compares the model output (shape (None, 10), 10 values "
                              "per example) with the targets element by element, but the targets have shape (200,) "
                              "(1 value per example, dtype float64).")
    assert "they are whole numbers, 0 to 9" in message and "y.astype(int)" in message
    assert "loss='cross_entropy'" in message and "Dense(..., 1)" in message
    assert not model.built  # all or nothing
    # following either piece of advice works
    ge.training.fit(ten_classes(), X, y.astype(int), loss="mse", batch_size=10, epochs=1, progress=False)
    ge.training.fit(ten_classes(), X, y.astype(int), loss="cross_entropy", batch_size=10, epochs=1, progress=False)


def test_cross_entropy_with_float_labels_says_they_are_whole_numbers_and_the_fix():
    X, y = data()
    with pytest.raises(TrainingError, match=r"loss 'cross_entropy' with targets of shape \(200,\) and dtype float64: "
                                            r"1-d targets are class indices and must be integers, got float64. They "
                                            r"are whole numbers \(0 to 9\): pass y.astype\(int\), which keeps every "
                                            r"value."):
        ge.training.fit(ten_classes(), X, y, loss="cross_entropy", batch_size=10, epochs=1, progress=False)


def test_float_targets_that_are_not_labels_point_to_a_regression_loss():
    X, y = data()
    y = y + 0.25
    with pytest.raises(TrainingError, match=r"They are not whole numbers \(e.g. \d+\.25\), so they are not class "
                                            r"labels: for values to predict, use loss='mse' or 'mae' with targets "
                                            r"shaped like the model output \(None, 10\)"):
        ge.training.fit(ten_classes(), X, y, loss="cross_entropy", epochs=1, progress=False)
    with pytest.raises(TrainingError, match=r"They are not whole numbers \(e.g. \d+\.25\), so not class labels: for "
                                            r"one value to predict per example, end the model with 1 unit"):
        ge.training.fit(ten_classes(), X, y, loss="mse", epochs=1, progress=False)
    # the advice: one unit for one value per example
    model = ge.nn.Sequential(ge.nn.Dense(4, 1), seed=0)
    ge.training.fit(model, X, y, loss="mse", epochs=1, progress=False)


def test_targets_with_another_count_per_example_say_how_to_reshape():
    X, _ = data(20)
    with pytest.raises(TrainingError, match=r"the targets have shape \(20, 3\) \(3 values per example, dtype "
                                            r"float64\). Reshape the targets to \(N, 10\)"):
        ge.training.fit(ten_classes(), X, np.zeros((20, 3)), loss="mse", epochs=1, progress=False)


def test_evaluate_with_float_labels_after_integer_training_says_whether_they_are_whole():
    X, y = data()
    history = ge.training.fit(ten_classes(), X, y.astype(int), epochs=1, progress=False)
    with pytest.raises(TrainingError, match=r"must be integer class labels.*they are whole numbers \(0 to 9\), so "
                                            r"y.astype\(int\) keeps every value"):
        history.trainer.evaluate(X, y)
    with pytest.raises(TrainingError, match=r"they are not whole numbers \(e.g. \d+\.5\)"):
        history.trainer.evaluate(X, y + 0.5)
