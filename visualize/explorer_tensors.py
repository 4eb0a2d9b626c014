"""How the backprop explorer shows one tensor: in full, as a colour image, or summarised.

:func:`tensor_view` turns an array into a small, JSON-ready dict that the page's script
draws in the node panel:

* ``full``: at most ``max_elements`` elements: every number (``precision`` significant
  digits, as the diagrams write them);
* ``image``: a 2-D array, or a 4-D (N, C, H, W) / (O, I, kh, kw) one, with more elements:
  a colour PNG (``data:`` URI), downsampled to at most :data:`IMAGE_MAX_SIDE` pixels a
  side by block means, plus the histogram and statistics below. A 2-D array whose rows (or
  columns) hold 16² or more values, a perfect square, shows its first rows (columns) as
  square images: MNIST inputs (N, 784) as digits, a first layer's weights (784, H) as the
  28 × 28 pattern each unit responds to;
* ``summary``: anything else: a histogram of :data:`HISTOGRAM_BINS` bins and the mean,
  std, min, max, and the counts of zeros, NaN and Inf.

Everything is deterministic (fixed number formats, fixed PNG encoding), so the same run
gives the same page, byte for byte. Colours: arrays with negative and positive entries use
a diverging map (blue below zero, white at zero, red above, symmetric around zero); arrays
of one sign use a light-to-dark sequential map.
"""

from __future__ import annotations

import math

import numpy as np

from .labels import format_number, format_shape, format_value, is_image_shaped, to_host
from .png import png_bytes

IMAGE_MAX_SIDE = 160   # pixels per side of an array image, after downsampling
IMAGE_TILES = 16       # 4-D arrays: at most this many (N, C) / (O, I) images in the grid
HISTOGRAM_BINS = 24
SQUARE_MIN_SIDE = 16   # a 2-D axis of 16², 28², ... values is read as flattened square images

# diverging: ColorBrewer RdBu reversed (blue = negative, red = positive), sequential: viridis-like
DIVERGING = ((33, 102, 172), (103, 169, 207), (209, 229, 240), (247, 247, 247), (253, 219, 199), (239, 138, 98),
             (178, 24, 43))
SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def tensor_view(array, precision: int = 4, max_elements: int = 16) -> dict:
    """A JSON-ready description of ``array`` for the explorer's panel (see the module)."""
    data = to_host(array)
    view = {"shape": list(data.shape), "shape_text": format_shape(data.shape), "dtype": str(data.dtype),
            "size": int(data.size), "bytes": int(data.nbytes),
            "lines": list(format_value(data, precision, max_elements).lines)}
    if data.size <= max_elements or data.size == 1 or data.dtype.kind not in "biuf":
        view["kind"] = "full"
        view["numbers"] = [format_number(v, precision + 2) for v in data.ravel().tolist()]
        return view
    view["kind"] = "summary"
    view["stats"] = statistics(data, precision)
    view["histogram"] = histogram(data)
    image = image_of(data)
    if image is not None:
        view["kind"] = "image"
        view.update(image)
    return view


def statistics(data, precision: int = 4) -> dict:
    """mean, std, min, max of the finite elements (as text), and counts of zeros, NaN, Inf."""
    floating = data.dtype.kind == "f"
    finite = data[np.isfinite(data)] if floating else data.ravel()
    out = {"zeros": int(np.count_nonzero(data == 0)),
           "nan": int(np.isnan(data).sum()) if floating else 0,
           "inf": int(np.isinf(data).sum()) if floating else 0}
    if finite.size:
        f64 = finite.astype(np.float64, copy=False)
        out.update(mean=format_number(float(f64.mean()), precision), std=format_number(float(f64.std()), precision),
                   min=format_number(float(f64.min()), precision), max=format_number(float(f64.max()), precision),
                   mean_abs=format_number(float(np.abs(f64).mean()), precision))
    return out


def histogram(data, bins: int = HISTOGRAM_BINS) -> dict:
    """Counts of the finite elements in ``bins`` equal bins between their min and max."""
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data.ravel()
    if finite.size == 0:
        return {"counts": [], "low": "nan", "high": "nan"}
    f64 = finite.astype(np.float64, copy=False).ravel()
    low, high = float(f64.min()), float(f64.max())
    if high == low:
        counts = [0] * bins
        counts[bins // 2] = int(f64.size)
    else:
        counts = np.histogram(f64, bins=bins, range=(low, high))[0].astype(int).tolist()
    return {"counts": counts, "low": format_number(low, 4), "high": format_number(high, 4)}


def image_of(data):
    """{"image": data URI, "image_note": what it shows} for 2-D and image-shaped 4-D
    arrays (None for other shapes)."""
    if data.ndim == 2 and _square_side(data.shape[1]):  # rows of flattened images (MNIST inputs)
        side = _square_side(data.shape[1])
        plane, note = _tile(data.reshape(data.shape[0], 1, side, side))
        note = "rows as " + note
    elif data.ndim == 2 and _square_side(data.shape[0]):  # columns of them (a first layer's weights)
        side = _square_side(data.shape[0])
        plane, note = _tile(data.T.reshape(data.shape[1], 1, side, side))
        note = "columns as " + note
    elif data.ndim == 2:
        plane = data
        note = f"{data.shape[0]} × {data.shape[1]} as an image"
    elif is_image_shaped(data.shape):
        plane, note = _tile(data)
    else:
        return None
    small, factor = downsample(plane.astype(np.float64))
    if factor > 1:
        note += f", downsampled {factor}×"
    rgb, scale = colourize(small)
    return {"image": "data:image/png;base64," + _base64(png_bytes(rgb)), "image_note": note, "image_scale": scale,
            "image_width": int(rgb.shape[1]), "image_height": int(rgb.shape[0])}


def _square_side(n: int) -> int:
    """The side of a square image of ``n`` pixels, 16 or more pixels wide (0 otherwise):
    2-D arrays with such an axis are shown as images (784 = 28 × 28)."""
    side = math.isqrt(int(n))
    return side if side * side == n and side >= SQUARE_MIN_SIDE else 0


def _tile(data):
    """A 4-D array as one plane: its first (N, C) images in a grid, separated by NaN lines."""
    a, b, h, w = data.shape
    pairs = [(i, j) for i in range(a) for j in range(b)][:IMAGE_TILES]
    columns = min(len(pairs), 4)
    rows = math.ceil(len(pairs) / columns)
    plane = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for k, (i, j) in enumerate(pairs):
        r, c = divmod(k, columns)
        plane[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = data[i, j]
    total = a * b
    note = f"{len(pairs)} of {total} images ({h} × {w})" if len(pairs) < total else f"{total} images ({h} × {w})"
    return plane, note


def downsample(plane):
    """Block means (NaN-aware) so that no side exceeds IMAGE_MAX_SIDE; returns (plane, factor)."""
    h, w = plane.shape
    factor = max(1, math.ceil(max(h, w) / IMAGE_MAX_SIDE))
    if factor == 1:
        return plane, 1
    H, W = math.ceil(h / factor), math.ceil(w / factor)
    padded = np.full((H * factor, W * factor), np.nan)
    padded[:h, :w] = plane
    blocks = padded.reshape(H, factor, W, factor)
    finite = np.isfinite(blocks)
    counts = finite.sum(axis=(1, 3))
    sums = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out, factor


def colourize(plane):
    """(H, W, 3) uint8 colours of ``plane`` and the scale used ({"map", "low", "high"});
    NaN and Inf are light grey."""
    finite = np.isfinite(plane)
    values = plane[finite]
    if values.size == 0:
        rgb = np.full(plane.shape + (3,), 200, dtype=np.uint8)
        return rgb, {"map": "none", "low": "nan", "high": "nan"}
    low, high = float(values.min()), float(values.max())
    if low < 0 < high:
        bound = max(-low, high)
        t = (plane / bound + 1.0) / 2.0
        palette, scale = DIVERGING, {"map": "diverging", "low": format_number(-bound), "high": format_number(bound)}
    else:
        t = (plane - low) / (high - low) if high > low else np.full(plane.shape, 0.5)
        palette, scale = SEQUENTIAL, {"map": "sequential", "low": format_number(low), "high": format_number(high)}
    t = np.clip(np.where(finite, t, 0.0), 0.0, 1.0)
    stops = np.asarray(palette, dtype=np.float64)
    x = t * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    rgb = stops[i] + (stops[i + 1] - stops[i]) * f
    rgb = np.where(finite[..., None], rgb, 200.0)
    return np.rint(rgb).astype(np.uint8), scale


def _base64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


__all__ = ["tensor_view", "statistics", "histogram", "image_of", "downsample", "colourize"]
