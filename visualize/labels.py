"""Text for diagram labels: number and array formatting, and escaping for Graphviz.

Every label graphengine writes is an HTML-like label (``<...>`` in DOT). User text (node
names, scope names, attribute values, graph names) goes through :func:`html_text`, which
escapes the markup characters, doubles backslashes (Graphviz expands ``\\N``, ``\\G``,
... even inside HTML-like labels), and turns anything that Graphviz' XML parser would refuse
(control characters, lone surrogates, non-characters) into a visible ``\\xNN`` / ``\\uNNNN``
spelling. Newlines become line breaks. Nothing a user types can break the DOT text.

Numbers are formatted with a fixed number of significant digits (``precision``), so the
DOT text of a diagram is the same on every run and every machine.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass

import numpy as np

from graphengine.backends import asnumpy
from graphengine.op import format_shape  # (None, 3); () for a scalar; (?) when unknown: as in error messages

# Characters XML 1.0 refuses (Graphviz parses HTML-like labels with expat), plus the
# surrogate range (which cannot be written as UTF-8 at all).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# "]" too: Graphviz (2.43 at least) rejects a text run made only of "]" characters
_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "]": "&#93;"}
_MARKUP_RE = re.compile("[&<>\"'\\]]")


def _visible(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def html_text(text, *, line_break: str = "<BR/>", brackets: bool = True) -> str:
    """``text`` made safe inside an HTML-like Graphviz label.

    >>> html_text('a<b> & "c"\\nd')
    'a&lt;b&gt; &amp; &quot;c&quot;<BR/>d'
    """
    text = str(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _XML_INVALID.sub(_visible, text)
    text = _MARKUP_RE.sub(lambda m: _MARKUP[m.group(0)], text)
    if not brackets:  # our own number text ("[[1, 2]]") never has a run of "]" alone
        text = text.replace("&#93;", "]")
    # Graphviz expands escString sequences (\N, \G, \L, ...) even in HTML-like labels;
    # a doubled backslash is one literal backslash
    text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", line_break)
    # a tab inside a label renders as nothing useful; show it as spaces
    return text.replace("\t", "    ")


def plain_text(text) -> str:
    """``text`` with the same character clean-up as :func:`html_text` but no markup
    escaping (for places that are not labels, like a plain-text fallback)."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _XML_INVALID.sub(_visible, text)


# ----------------------------------------------------------------------------- numbers

def format_number(x, precision: int = 4) -> str:
    """One number with ``precision`` significant digits (ints and bools exactly).

    >>> format_number(0.0024726231566347743), format_number(3), format_number(float("nan"))
    ('0.002473', '3', 'nan')
    """
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"  # also for -0.0: a sign on zero only confuses a reader
    text = f"{x:.{precision}g}"
    if "e" in text:  # 1e-05 -> 1e-5, 2.5e+10 -> 2.5e10
        mantissa, exponent = text.split("e")
        exponent = int(exponent)
        text = f"{mantissa}e{exponent}"
    return text


def to_host(array):
    """A NumPy array for any backend's array (CuPy arrays are copied to the host once,
    for display only): :func:`graphengine.backends.asnumpy`."""
    return asnumpy(array)


@dataclass(frozen=True)
class FormattedValue:
    """An array formatted for a label: the text lines and what is unusual about it."""

    lines: tuple
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    summarized: bool = False

    @property
    def non_finite(self) -> bool:
        return bool(self.nan or self.posinf or self.neginf)

    def flag_text(self) -> str:
        """'3 NaN, 1 Inf' (empty when every element is finite)."""
        parts = []
        if self.nan:
            parts.append(f"{self.nan} NaN")
        if self.posinf:
            parts.append(f"{self.posinf} +Inf")
        if self.neginf:
            parts.append(f"{self.neginf} -Inf")
        return ", ".join(parts)


def format_value(value, precision: int = 4, max_elements: int = 16) -> FormattedValue:
    """Format an array (or a number) for a diagram.

    Scalars and one-element arrays: the number. Arrays of at most ``max_elements``
    elements: in full, one line per row. Larger arrays: mean, std, min and max of their
    finite elements. NaN and Inf are counted (:attr:`FormattedValue.non_finite`).

    >>> format_value(np.array([[1.0, 2.5], [3.0, 4.0]])).lines
    ('[[1, 2.5],', ' [3, 4]]')
    >>> format_value(np.arange(100.0)).lines
    ('mean 49.5  std 28.87', 'min 0  max 99')
    """
    array = to_host(value)
    if array.dtype == object:
        raise TypeError(f"cannot format an object array ({array!r:.60}) for a diagram")
    nan = posinf = neginf = 0
    if array.dtype.kind in "fc":
        nan = int(np.isnan(array).sum())
        posinf = int(np.isposinf(array).sum())
        neginf = int(np.isneginf(array).sum())
    if array.size <= max_elements or array.size == 1:
        if array.ndim == 0:
            lines = (format_number(array.item(), precision),)
        elif array.size == 0:
            lines = ("[] (empty)",)
        else:
            lines = tuple(_nested_lines(array, precision))
        return FormattedValue(lines, nan, posinf, neginf, summarized=False)
    finite = array[np.isfinite(array)] if array.dtype.kind in "fc" else array
    if finite.size == 0:
        lines = ("no finite elements",)
    else:
        data = finite.astype(np.float64, copy=False)
        mean, std = float(data.mean()), float(data.std())
        low, high = data.min(), data.max()
        if array.dtype.kind in "biu":
            low, high = array.dtype.type(low), array.dtype.type(high)
        lines = (
            f"mean {format_number(mean, precision)}  std {format_number(std, precision)}",
            f"min {format_number(low, precision)}  max {format_number(high, precision)}",
        )
    return FormattedValue(lines, nan, posinf, neginf, summarized=True)


ROWS_ONE_PER_LINE = 4  # matrices with at most this many rows keep one row per line
LINE_WIDTH = 44  # longer arrays pack several rows into lines of about this many characters


def _nested_lines(array, precision):
    """NumPy-like nested brackets. The innermost axis stays on one line; small matrices get
    one row per line, taller ones pack rows into lines of about LINE_WIDTH characters."""
    if array.ndim == 1:
        items = [format_number(v, precision) for v in array.tolist()]
        lines, line = [], "["
        for k, item in enumerate(items):
            piece = item + ("," if k < len(items) - 1 else "]")
            if line != "[" and len(line) + 1 + len(piece) > LINE_WIDTH:
                lines.append(line)
                line = " " + piece
            else:
                line = line + piece if line == "[" else f"{line} {piece}"
        lines.append(line)
        return lines
    count = array.shape[0]
    blocks = []
    for i in range(count):
        inner = _nested_lines(array[i], precision)
        if i < count - 1:
            inner[-1] += ","
        blocks.append(inner)
    if count > ROWS_ONE_PER_LINE and all(len(b) == 1 for b in blocks):
        packed, line = [], ""
        for (text,) in blocks:
            if line and len(line) + 1 + len(text) > LINE_WIDTH:
                packed.append(line)
                line = text
            else:
                line = f"{line} {text}" if line else text
        packed.append(line)
        blocks = [packed]
    lines = []
    for block in blocks:
        for line in block:
            lines.append(("[" if not lines else " ") + line)
    lines[-1] += "]"
    return lines


def format_attr_value(value, limit: int = 40) -> str:
    """A short, deterministic text for an op attribute value."""
    if isinstance(value, float):
        text = format_number(value)
    elif isinstance(value, tuple) and len(value) == 2 and value[0] == "__list__":
        text = repr(list(value[1]))  # a frozen list index
    elif hasattr(value, "shape") and hasattr(value, "dtype"):
        text = f"array{format_shape(value.shape)}"
    else:
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _is_default(value, default) -> bool:
    """Whether an attribute ``value`` is the op's ``default`` for it: equal with the same
    kind of value (``True`` is not ``1``), numbers by value (``0`` is ``0.0``), and a tuple
    whose every entry is a scalar default too (``stride=(1, 1)`` for ``stride=1``)."""
    if default is inspect.Parameter.empty or hasattr(value, "shape"):
        return False  # a required attribute, or an array: always shown
    if isinstance(value, (tuple, list)):
        if isinstance(default, (tuple, list)):
            return len(value) == len(default) and all(_is_default(v, d) for v, d in zip(value, default))
        return len(value) > 0 and all(_is_default(v, default) for v in value)
    if isinstance(value, bool) or isinstance(default, bool) or value is None or default is None:
        return type(value) is type(default) and value == default
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return value == default
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # an odd object whose == does not give a bool: show it
        return False


def op_defaults(node) -> dict:
    """The defaults of ``node``'s op attributes, from its ``forward`` signature (empty when
    the op is not registered in the node's graph)."""
    try:
        op = node.graph.plugins.get_op(node.op)
        return dict(type(op).signature_info()[1])
    except Exception:  # an op missing from this process: every attribute is shown
        return {}


def attributes_text(node, *, all_attributes: bool = False) -> str:
    """``node``'s op attributes as ``k=v, ...`` in the node's order, without the ones equal
    to the op's defaults and a random op's ``seed`` (unless ``all_attributes``):
    ``max_pool2d kernel_size=2``, not ``kernel_size=2, stride=None, padding=0, dilation=1,
    ceil_mode=False``; ``dropout p=0.3``, not ``p=0.3, seed=243971427``.

    >>> import graphengine as ge
    >>> g = ge.Graph("p")
    >>> x = g.input("x", shape=(1, 1, 4, 4))
    >>> attributes_text(ge.ops.max_pool2d(x, kernel_size=2, stride=None, padding=0, dilation=1))
    'kernel_size=2'
    """
    if all_attributes:
        return ", ".join(f"{k}={format_attr_value(v)}" for k, v in node.attrs.items())
    defaults = op_defaults(node)
    return ", ".join(f"{k}={format_attr_value(v)}" for k, v in node.attrs.items()
                     if k not in HIDDEN_ATTRIBUTES and (k not in defaults or not _is_default(v, defaults[k])))


# attributes that say nothing about the maths a box shows (a random op's seed, often a large
# number derived from the model's seed): drawn only with show_attrs="all"
HIDDEN_ATTRIBUTES = frozenset({"seed"})


def count_text(n: int, noun: str) -> str:
    """'1 element', '3 elements', '1,234 elements'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


__all__ = ["html_text", "plain_text", "format_number", "format_value", "FormattedValue", "format_shape",
           "format_attr_value", "attributes_text", "op_defaults", "count_text", "to_host"]


# ------------------------------------------------------------------------------ thumbnails

THUMBNAIL_ROWS = 4      # first axis: examples (N) of a feature map, output channels (O) of a kernel
THUMBNAIL_COLUMNS = 8   # second axis: channels (C), input channels (I)
THUMBNAIL_TILE = 48     # each image is magnified (nearest neighbour) to about this many pixels
THUMBNAIL_GAP = 2       # pixels of white between tiles


def is_image_shaped(shape) -> bool:
    """True for a 4-D shape (N, C, H, W) or (O, I, kh, kw) whose images have at least 2×2 pixels."""
    return shape is not None and len(shape) == 4 and all(d is not None for d in shape) \
        and shape[2] >= 2 and shape[3] >= 2


def thumbnail_grid(array, rows: int = THUMBNAIL_ROWS, columns: int = THUMBNAIL_COLUMNS,
                   tile: int = THUMBNAIL_TILE):
    """A 4-D array as one grey-scale picture: a grid of its first ``rows`` × ``columns``
    images (row i, column j shows ``array[i, j]``), each stretched to the full grey range
    on its own (min black, max white; a constant image is mid grey; NaN and Inf are drawn
    black), magnified by an integer factor to about ``tile`` pixels, with white gaps.
    With one image per row (C = 1, or a kernel with one input channel) the images of the
    first axis are laid out in one row instead, up to ``rows × columns`` of them.

    Returns (uint8 array of shape (height, width), caption such as "4 of 64 × 8 of 16").

    >>> grid, caption = thumbnail_grid(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> grid.shape, caption, int(grid[0, 0]), int(grid[-1, -1])
    ((48, 48), '1 × 1', 0, 255)
    """
    a, b, h, w = array.shape
    if b == 1 and a > 1:  # one column: lay the first axis out in a row
        shown = min(a, rows * columns)
        values = to_host(array[:shown])  # only what is shown crosses to the host
        grid, _ = thumbnail_grid(values.reshape(1, shown, h, w), rows=1, columns=shown, tile=tile)
        return grid, (f"{shown} of {a}" if shown < a else f"{a}") + " × 1"
    shown_rows, shown_cols = min(a, rows), min(b, columns)
    values = to_host(array[:shown_rows, :shown_cols])
    scale = max(1, round(tile / max(h, w)))
    gap = THUMBNAIL_GAP
    height = shown_rows * h * scale + (shown_rows - 1) * gap
    width = shown_cols * w * scale + (shown_cols - 1) * gap
    grid = np.full((height, width), 255, dtype=np.uint8)
    for i in range(shown_rows):
        for j in range(shown_cols):
            image = np.asarray(values[i, j], dtype=np.float64)
            finite = np.isfinite(image)
            low = image[finite].min() if finite.any() else 0.0
            high = image[finite].max() if finite.any() else 0.0
            if high > low:
                grey = np.where(finite, (image - low) / (high - low), 0.0) * 255.0
            else:
                grey = np.where(finite, 128.0, 0.0)
            grey = np.repeat(np.repeat(np.rint(grey).astype(np.uint8), scale, axis=0), scale, axis=1)
            top, left = i * (h * scale + gap), j * (w * scale + gap)
            grid[top:top + h * scale, left:left + w * scale] = grey
    caption = f"{shown_rows} of {a}" if shown_rows < a else f"{a}"
    caption += f" × {shown_cols} of {b}" if shown_cols < b else f" × {b}"
    return grid, caption
