"""Synthetic datasets: truth tables, moons, spirals, blobs, the pass-the-class toy; helpers."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.data import SplitError, SyntheticDataError


@pytest.mark.parametrize("gate, outputs", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]), ("nand", [1, 1, 1, 0]),
                                           ("xor", [0, 1, 1, 0]), ("NOR", [1, 0, 0, 0])])
def test_truth_tables(gate, outputs):
    X, y = ge.data.truth_table(gate)
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and X.dtype == np.float32
    assert y.tolist() == outputs and y.dtype == np.int64


def test_truth_table_typo_suggests():
    with pytest.raises(SyntheticDataError, match="Did you mean 'xor'"):
        ge.data.truth_table("xorr")


@pytest.mark.parametrize("make", [ge.data.two_moons, ge.data.spirals, ge.data.blobs, ge.data.pass_the_class])
def test_random_sets_are_seeded_and_shaped(make):
    X1, y1 = make(101, seed=3)
    X2, y2 = make(101, seed=3)
    X3, _ = make(101, seed=4)
    assert X1.shape == (101, 2) and X1.dtype == np.float32 and y1.shape == (101,) and y1.dtype == np.int64
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_class_balance():
    assert np.bincount(ge.data.two_moons(200, seed=0)[1]).tolist() == [100, 100]
    assert np.bincount(ge.data.spirals(301, classes=3, seed=0)[1]).tolist() == [101, 100, 100]
    assert np.bincount(ge.data.blobs(300, centers=3, seed=0)[1]).tolist() == [100, 100, 100]


def test_two_moons_geometry_without_noise():
    X, y = ge.data.two_moons(400, noise=0.0, seed=0)
    upper = X[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-5)
    lower = X[y == 1]
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-5)


def test_blobs_around_given_centers():
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = ge.data.blobs(2000, centers=centers, std=0.5, seed=1)
    for k in range(2):
        np.testing.assert_allclose(X[y == k].mean(axis=0), centers[k], atol=0.1)
        assert abs(X[y == k].std() - 0.5) < 0.05


def test_pass_the_class_rule():
    X, y = ge.data.pass_the_class(2000, noise=0.0, seed=0)
    assert (X[:, 0] >= 0).all() and (X[:, 0] <= 10).all() and (X[:, 1] <= 10).all()
    np.testing.assert_array_equal(y, (X.sum(axis=1) > 8).astype(np.int64))
    assert 0.5 < y.mean() < 0.75


def test_bad_sizes():
    with pytest.raises(SyntheticDataError, match="n must be an int"):
        ge.data.two_moons(1)
    with pytest.raises(SyntheticDataError, match="at least 2 classes"):
        ge.data.spirals(10, classes=1)


def test_train_test_split_and_one_hot():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    Xa, ya, Xb, yb = ge.data.train_test_split(X, y, 0.3, seed=0)
    assert len(Xa) == 7 and len(Xb) == 3
    assert sorted(np.concatenate([ya, yb]).tolist()) == list(range(10))
    np.testing.assert_array_equal(Xa[:, 0] // 2, ya)
    with pytest.raises(SplitError, match="strictly between 0 and 1"):
        ge.data.train_test_split(X, y, 1.0)
    with pytest.raises(SplitError, match="10 examples but y has 9"):
        ge.data.train_test_split(X, y[:9])
    assert ge.data.one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(SplitError, match="labels must lie in 0..2"):
        ge.data.one_hot(np.array([3]), 3)


def test_standardize():
    X = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)
    Z, mean, std = ge.data.standardize(X)
    np.testing.assert_allclose(Z, [[-1, -1], [1, 1]], atol=1e-6)
    assert Z.dtype == np.float32
