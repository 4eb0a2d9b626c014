"""Array helpers for datasets: splitting, one-hot encoding, standardizing."""

from __future__ import annotations

import numpy as np

from ..errors import GraphEngineError


class SplitError(GraphEngineError, ValueError):
    """A split was asked for with a fraction or arrays that cannot give one."""


def train_test_split(X, y, test_fraction: float = 0.2, seed=None, shuffle: bool = True):
    """``(X_train, y_train, X_test, y_test)``; the last ``test_fraction`` of a seeded permutation is the test set."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise SplitError(f"X has {len(X)} examples but y has {len(y)}; they must match")
    if not 0.0 < float(test_fraction) < 1.0:
        raise SplitError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n = len(X)
    n_test = int(round(n * float(test_fraction)))
    if n_test == 0 or n_test == n:
        raise SplitError(f"test_fraction={test_fraction} of {n} examples leaves an empty side; use more data")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    train, test = order[: n - n_test], order[n - n_test:]
    return X[train], y[train], X[test], y[test]


def one_hot(labels, classes: int | None = None, dtype="float32"):
    """Integer labels (n,) to one-hot rows (n, classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise SplitError(f"one_hot takes a 1-d integer array of labels, got {labels.dtype} of shape {labels.shape}")
    classes = int(labels.max()) + 1 if classes is None else int(classes)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise SplitError(f"labels must lie in 0..{classes - 1}; got {labels.min()}..{labels.max()}")
    out = np.zeros((labels.size, classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def standardize(X, mean=None, std=None, eps: float = 1e-8):
    """``(X - mean) / std`` per feature; returns ``(X_std, mean, std)`` to apply to other sets."""
    X = np.asarray(X)
    mean = X.mean(axis=0) if mean is None else mean
    std = X.std(axis=0) if std is None else std
    return ((X - mean) / (std + eps)).astype(X.dtype if X.dtype.kind == "f" else np.float32), mean, std


__all__ = ["train_test_split", "one_hot", "standardize", "SplitError"]
