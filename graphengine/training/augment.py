"""Data augmentation for image batches: random shifts and flips.

New training examples from label-preserving transformations of the inputs. An
augmentation is any function ``augment(batch, rng) -> batch`` given to ``fit(augment=...)``;
it is applied to each training batch (never to validation or test data)::

    augment = ge.training.ImageAugmenter(max_shift=2)                   # MNIST: shifts only
    augment = ge.training.ImageAugmenter(max_shift=2, flip="horizontal")  # Fashion-MNIST

Batches may be images ``(n, height, width)``, ``(n, height, width, channels)`` or flat
vectors ``(n, height·width)`` (``image_shape`` then says the image size; a square size
is inferred).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GraphEngineError

FLIPS = (None, "horizontal", "vertical", "both")


class AugmentationError(GraphEngineError, ValueError):
    """An augmentation got a batch or option it cannot work with."""


def _as_images(batch, image_shape):
    batch = np.asarray(batch)
    if batch.ndim == 2:
        if image_shape is None:
            side = math.isqrt(batch.shape[1])
            if side * side != batch.shape[1]:
                raise AugmentationError(
                    f"cannot tell the image size of flat vectors of {batch.shape[1]} values; pass image_shape=(h, w)"
                )
            image_shape = (side, side)
        image_shape = tuple(image_shape)
        if int(np.prod(image_shape)) != batch.shape[1]:
            raise AugmentationError(f"image_shape {image_shape} does not hold {batch.shape[1]} values per example")
        return batch.reshape((batch.shape[0],) + image_shape), batch.shape
    if batch.ndim in (3, 4):
        return batch, batch.shape
    raise AugmentationError(
        f"expected a batch of images (n, h, w), (n, h, w, c) or flat vectors (n, h*w); got shape {batch.shape}"
    )


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def random_shift(batch, max_shift: int = 2, rng=None, image_shape=None, fill: float = 0.0):
    """Shift each image by a random whole number of pixels in [-max_shift, max_shift] along
    height and width; pixels shifted in take ``fill``. Returns a new array (same shape and dtype)."""
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise AugmentationError(f"max_shift must be an int >= 0 (pixels), got {max_shift!r}")
    images, original_shape = _as_images(batch, image_shape)
    if max_shift == 0 or images.shape[0] == 0:
        return np.array(batch, copy=True)
    rng = _rng(rng)
    n, h, w = images.shape[:3]
    s = int(max_shift)
    pad = [(0, 0), (s, s), (s, s)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad, mode="constant", constant_values=fill)
    dy = rng.integers(-s, s + 1, n)
    dx = rng.integers(-s, s + 1, n)
    out = np.empty_like(images)
    for oy in range(-s, s + 1):
        for ox in range(-s, s + 1):
            chosen = np.nonzero((dy == oy) & (dx == ox))[0]
            if chosen.size:
                # shifting the content by (oy, ox) reads the window offset by (-oy, -ox)
                out[chosen] = padded[chosen, s - oy: s - oy + h, s - ox: s - ox + w]
    return out.reshape(original_shape)


def random_flip(batch, direction: str = "horizontal", rng=None, image_shape=None, probability: float = 0.5):
    """Mirror each image with ``probability``: 'horizontal' (left-right), 'vertical' or 'both'."""
    if direction not in FLIPS[1:]:
        raise AugmentationError(f"flip direction must be one of {', '.join(map(str, FLIPS[1:]))}, got {direction!r}")
    if not 0.0 <= float(probability) <= 1.0:
        raise AugmentationError(f"flip probability must lie in [0, 1], got {probability}")
    images, original_shape = _as_images(batch, image_shape)
    rng = _rng(rng)
    out = np.array(images, copy=True)
    n = out.shape[0]
    if direction in ("horizontal", "both"):
        chosen = rng.random(n) < probability
        out[chosen] = out[chosen][:, :, ::-1]
    if direction in ("vertical", "both"):
        chosen = rng.random(n) < probability
        out[chosen] = out[chosen][:, ::-1, :]
    return out.reshape(original_shape)


class ImageAugmenter:
    """Random shifts (up to ``max_shift`` pixels) and optional flips, as one callable.

    ``augmenter(batch, rng)`` returns the augmented copy; without ``rng`` it draws from
    its own generator seeded with ``seed``. Flips are off by default: a mirrored digit is
    often not the same digit (use ``flip="horizontal"`` for clothes or natural images).
    """

    def __init__(self, max_shift: int = 2, flip: str | None = None, image_shape=None, fill: float = 0.0,
                 flip_probability: float = 0.5, seed=None):
        if flip not in FLIPS:
            raise AugmentationError(f"flip must be one of {', '.join(map(str, FLIPS))}, got {flip!r}")
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
            raise AugmentationError(f"max_shift must be an int >= 0 (pixels), got {max_shift!r}")
        self.max_shift = int(max_shift)
        self.flip = flip
        self.image_shape = image_shape
        self.fill = fill
        self.flip_probability = float(flip_probability)
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch, rng=None):
        rng = self.rng if rng is None else _rng(rng)
        out = batch
        if self.max_shift:
            out = random_shift(out, self.max_shift, rng, self.image_shape, self.fill)
        if self.flip is not None:
            out = random_flip(out, self.flip, rng, self.image_shape, self.flip_probability)
        if out is batch:
            out = np.array(batch, copy=True)
        return out

    def __repr__(self) -> str:
        return f"ImageAugmenter(max_shift={self.max_shift}, flip={self.flip!r})"


__all__ = ["ImageAugmenter", "random_shift", "random_flip", "AugmentationError"]
