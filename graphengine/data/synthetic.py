"""Small synthetic datasets for teaching: truth tables, two moons, spirals, blobs, and the
"will I pass this class?" toy.

Every generator returns ``(X, y)``: ``X`` float32 of shape ``(n, features)`` and ``y``
int64 class labels of shape ``(n,)``. Random ones take ``seed`` (an int, a
``numpy.random.Generator`` or None) and give the same data for the same seed.

>>> X, y = truth_table("xor")
>>> X.tolist(), y.tolist()
([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphEngineError

GATES = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}


class SyntheticDataError(GraphEngineError, ValueError):
    """A synthetic dataset was asked for with impossible options."""


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_n(n, what, minimum=1):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < minimum:
        raise SyntheticDataError(f"{what}: n must be an int >= {minimum}, got {n!r}")
    return int(n)


def truth_table(gate: str):
    """Inputs (0,0), (0,1), (1,0), (1,1) and the gate's outputs: and, or, nand, nor, xor, xnor."""
    key = str(gate).lower()
    if key not in GATES:
        from ..errors import did_you_mean

        raise SyntheticDataError(f"unknown gate {gate!r}; known: {', '.join(GATES)}." + did_you_mean(key, GATES))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return X, np.array(GATES[key], dtype=np.int64)


def xor():
    """The XOR truth table: not linearly separable (no line puts (0, 1), (1, 0) on one side and
    (0, 0), (1, 1) on the other)."""
    return truth_table("xor")


def two_moons(n: int = 200, noise: float = 0.1, seed=None):
    """Two interleaving half circles, ``n`` points split evenly between classes 0 and 1."""
    n = _check_n(n, "two_moons", 2)
    rng = _rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order]


def spirals(n: int = 300, classes: int = 2, noise: float = 0.2, turns: float = 1.0, seed=None):
    """``classes`` interleaved spiral arms (the CS231n spiral), ``n`` points in total."""
    n = _check_n(n, "spirals", classes)
    if classes < 2:
        raise SyntheticDataError(f"spirals needs at least 2 classes, got {classes}")
    rng = _rng(seed)
    per = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    xs, ys = [], []
    for k, m in enumerate(per):
        r = np.linspace(0.05, 1.0, m)
        theta = np.linspace(0, 2 * np.pi * turns, m) + 2 * np.pi * k / classes + rng.normal(0, noise, m)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(m, k, dtype=np.int64))
    X, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order]


def blobs(n: int = 300, centers=3, std: float = 1.0, features: int = 2, box=(-5.0, 5.0), seed=None):
    """Gaussian blobs: ``centers`` (a count, or an array of shape (k, features)) with ``std`` spread."""
    n = _check_n(n, "blobs")
    rng = _rng(seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1:
            raise SyntheticDataError(f"blobs needs at least one center, got {centers}")
        centers = rng.uniform(box[0], box[1], (int(centers), features))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2:
        raise SyntheticDataError(f"centers must be a count or an array (k, features), got shape {centers.shape}")
    k = centers.shape[0]
    y = np.arange(n, dtype=np.int64) % k
    X = centers[y] + rng.normal(0.0, std, (n, centers.shape[1]))
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order]


def pass_the_class(n: int = 200, noise: float = 1.0, seed=None):
    """A toy problem, "Will I pass this class?".

    Two features: ``x1`` the number of lectures attended (0..10) and ``x2`` the hours spent
    on the final project (0..10). A student passes (``y = 1``) when
    ``x1 + x2 + noise > 8`` (about 60 % do): the classes are separated by a line, with a
    noisy border (``noise`` is its standard deviation). A student with ``x = [4, 5]``
    lies just past it, on the passing side.
    """
    n = _check_n(n, "pass_the_class")
    rng = _rng(seed)
    lectures = rng.integers(0, 11, n).astype(np.float64)
    hours = rng.uniform(0, 10, n)
    score = lectures + hours + rng.normal(0.0, noise, n)
    X = np.stack([lectures, hours], axis=1).astype(np.float32)
    return X, (score > 8).astype(np.int64)


__all__ = ["truth_table", "xor", "two_moons", "spirals", "blobs", "pass_the_class", "GATES", "SyntheticDataError"]
