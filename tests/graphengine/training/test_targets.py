"""graphengine.training.targets: targets as the y input takes them, and the errors about them."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import Trainer, TrainingError
from graphengine.training import trainer as trainer_module
from graphengine.training.targets import (CLASS_LOSSES, ELEMENT_LOSSES, conform_targets, labels_text, prepare_targets,
                                          whole_labels)


def built(loss, units, y):
    X = np.zeros((len(y), 2))
    return Trainer(ge.nn.Sequential(ge.nn.Dense(2, units), seed=0), loss=loss).build(X, y)


def test_the_loss_lists_are_those_trainer_exports():
    assert trainer_module.CLASS_LOSSES is CLASS_LOSSES and trainer_module.ELEMENT_LOSSES is ELEMENT_LOSSES
    assert "cross_entropy" in CLASS_LOSSES and "mse" in ELEMENT_LOSSES and not set(CLASS_LOSSES) & set(ELEMENT_LOSSES)


def test_whole_labels_gives_the_range_or_a_value_that_is_not_whole():
    assert whole_labels(np.array([2, 0, 1])) == (0, 2)
    assert whole_labels(np.array([3.0, 1.0])) == (1, 3)
    assert whole_labels(np.array([1.0, 0.5, 2.0])) == (None, 0.5)
    assert whole_labels(np.array([1.0, np.nan]))[0] is None
    assert "whole numbers (0 to 1)" in labels_text(np.array([0.0, 1.0]))
    assert "not whole numbers (e.g. 0.25)" in labels_text(np.array([0.25]))


def test_prepare_targets_one_hot_encodes_int_labels_for_an_element_wise_loss():
    y = np.array([0, 2, 1])
    trainer = built("mse", 3, y)
    out = prepare_targets(trainer, y)
    assert out.dtype == np.float32 and out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert trainer.prepare_targets(y).tolist() == out.tolist()  # the method is this function


def test_prepare_targets_refuses_float_labels_for_a_class_loss_and_says_how_to_fix():
    trainer = built("cross_entropy", 2, np.array([0, 1]))
    with pytest.raises(TrainingError, match=r"must be integer class labels.*whole numbers \(0 to 1\).*astype\(int\)"):
        prepare_targets(trainer, np.array([0.0, 1.0]))


def test_targets_that_do_not_fit_the_output_name_both_shapes():
    trainer = built("mse", 2, np.zeros((4, 2)))
    with pytest.raises(TrainingError, match=r"output \(shape \(None, 2\), 2 values per example\).*shape \(4, 3\)"):
        prepare_targets(trainer, np.zeros((4, 3)))


def test_conform_targets_one_hot_encodes_reshapes_and_casts():
    """The code fit and model.evaluate share: labels to one-hot rows, one value per output value reshaped."""
    labels = np.array([1, 0, 1], dtype=bool)
    one_hot = conform_targets(labels, (None, 2), np.float64, loss_name="mse", output_shape=(None, 2))
    assert one_hot.dtype == np.float64 and one_hot.tolist() == [[0, 1], [1, 0], [0, 1]]
    column = conform_targets(np.arange(3), (None, 1), np.float32, loss_name="mse", output_shape=(None, 1))
    assert column.shape == (3, 1) and column.dtype == np.float32 and column[:, 0].tolist() == [0, 1, 2]
    maps = conform_targets(np.zeros((2, 6)), (None, 2, 3), np.float32, loss_name="mse", output_shape=(None, 2, 3))
    assert maps.shape == (2, 2, 3)
    assert conform_targets(np.zeros((2, 5)), None, np.float32, loss_name="mse", output_shape=None).shape == (2, 5)


def test_conform_targets_refuses_labels_out_of_range_and_targets_that_do_not_fit():
    with pytest.raises(TrainingError, match=r"labels must lie in \[0, 3\) for an output of 3 units, got 0..5: "
                                            r"loss 'mse'"):
        conform_targets(np.array([0, 5, 1]), (None, 3), np.float32, loss_name="mse", output_shape=(None, 3))
    with pytest.raises(TrainingError, match=r"^loss 'mae' compares the model output \(shape \(None, 2, 3\), 6 "
                                            r"values per example\) .* the targets have shape \(4,\) \(1 value "
                                            r"per example"):
        conform_targets(np.arange(4), (None, 2, 3), np.float32, loss_name="mae", output_shape=(None, 2, 3))


def test_fit_refuses_labels_out_of_range_for_an_element_wise_loss():
    trainer = built("mse", 3, np.array([0, 2, 1]))
    with pytest.raises(TrainingError, match=r"labels must lie in \[0, 3\) .*got 0..3"):
        prepare_targets(trainer, np.array([0, 3, 1]))
