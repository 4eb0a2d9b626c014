"""Array helpers for datasets: splitting, one-hot encoding, standardizing.

They work on NumPy arrays and on CuPy arrays alike: the result lives where the input does
(no implicit device-to-host copy; ``np.asarray`` on a CuPy array would raise). Host data
(lists, NumPy arrays) gives NumPy results.
"""

from __future__ import annotations

import numpy as np

from ..backends import backend_of, get_backend
from ..errors import GraphEngineError


class SplitError(GraphEngineError, ValueError):
    """A split was asked for with a fraction or arrays that cannot give one."""


def _xp_of(*values):
    """CuPy if any value is a CuPy array, else NumPy."""
    return get_backend("cupy").xp if any(backend_of(v) == "cupy" for v in values) else np


def train_test_split(X, y, test_fraction: float = 0.2, seed=None, shuffle: bool = True):
    """``(X_train, y_train, X_test, y_test)``; the last ``test_fraction`` of a seeded permutation is the test set.

    The permutation is drawn on the host from ``numpy.random.default_rng(seed)``, so one
    seed gives the same split for NumPy and CuPy data.
    """
    xp = _xp_of(X, y)
    X, y = xp.asarray(X), xp.asarray(y)
    if len(X) != len(y):
        raise SplitError(f"X has {len(X)} examples but y has {len(y)}; they must match")
    if not 0.0 < float(test_fraction) < 1.0:
        raise SplitError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n = len(X)
    n_test = int(round(n * float(test_fraction)))
    if n_test == 0 or n_test == n:
        raise SplitError(f"test_fraction={test_fraction} of {n} examples leaves an empty side; use more data")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    order = xp.asarray(order)  # the index array goes to the data (one small copy), not the data to the host
    train, test = order[: n - n_test], order[n - n_test:]
    return X[train], y[train], X[test], y[test]


def one_hot(labels, classes: int | None = None, dtype="float32"):
    """Integer labels (n,) to one-hot rows (n, classes), on the labels' backend."""
    xp = _xp_of(labels)
    labels = xp.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise SplitError(f"one_hot takes a 1-d integer array of labels, got {labels.dtype} of shape {labels.shape}")
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, -1)  # explicit scalar reads
    classes = high + 1 if classes is None else int(classes)
    if labels.size and (low < 0 or high >= classes):
        raise SplitError(f"labels must lie in 0..{classes - 1}; got {low}..{high}")
    out = xp.zeros((labels.size, classes), dtype=dtype)
    out[xp.arange(labels.size), labels] = 1
    return out


def standardize(X, mean=None, std=None, eps: float = 1e-8):
    """``(X - mean) / std`` per feature; returns ``(X_std, mean, std)`` to apply to other sets."""
    xp = _xp_of(X, mean, std)
    X = xp.asarray(X)
    mean = X.mean(axis=0) if mean is None else mean
    std = X.std(axis=0) if std is None else std
    return ((X - mean) / (std + eps)).astype(X.dtype if X.dtype.kind == "f" else np.float32), mean, std


__all__ = ["train_test_split", "one_hot", "standardize", "SplitError"]
