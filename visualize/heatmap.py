"""Gradient heat map: colours for gradient magnitudes on a log scale.

A gradient's *magnitude* is the mean absolute value of its finite elements. Magnitudes
are placed on a log10 scale whose ends are whole decades (chosen from the diagram's own
magnitudes unless given), and coloured from a cold, dark blue (tiny gradients: a layer
that barely learns) through pale yellow to a hot, dark red (large gradients).

A deep sigmoid network shows the vanishing gradient at a glance: its
first layers are blue, its last ones red. With ReLU the colours stay close together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .labels import format_number, to_host

# ColorBrewer RdYlBu, reversed: blue = small, red = large (readable on paper and screens,
# and distinguishable for the common colour-vision deficiencies).
PALETTE = (
    "#313695", "#4575b4", "#74add1", "#abd9e9", "#e0f3f8",
    "#ffffbf", "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026",
)
ZERO_COLOUR = "#d9d9d9"  # an all-zero gradient has no place on a log scale


def magnitude(array) -> float:
    """Mean absolute value of the finite elements (nan when there are none)."""
    data = to_host(array)
    if data.dtype.kind in "fc":
        data = data[np.isfinite(data)]
    if data.size == 0:
        return float("nan")
    return float(np.abs(data.astype(np.float64, copy=False)).mean())


@dataclass(frozen=True)
class LogScale:
    """log10 scale from ``10**low`` to ``10**high`` (whole decades)."""

    low: int
    high: int

    @classmethod
    def fit(cls, magnitudes, given=None) -> "LogScale":
        """The scale for these magnitudes, or for ``given=(low, high)`` (positive numbers)."""
        if given is not None:
            try:
                lo, hi = (float(v) for v in given)
            except (TypeError, ValueError):
                raise ValueError(f"heatmap_range must be two positive numbers (low, high), got {given!r}") from None
            if not (0 < lo < hi) or not math.isfinite(hi):
                raise ValueError(f"heatmap_range must be two positive numbers with low < high, got {given!r}")
            return cls(math.floor(math.log10(lo)), math.ceil(math.log10(hi)))
        positive = [m for m in magnitudes if m is not None and math.isfinite(m) and m > 0]
        if not positive:
            return cls(-1, 0)
        low = math.floor(math.log10(min(positive)))
        high = math.ceil(math.log10(max(positive)))
        if high <= low:
            high = low + 1
        return cls(low, high)

    def position(self, m: float) -> float | None:
        """Where ``m`` sits on the scale, 0..1 (clipped); None for 0 or non-finite."""
        if m is None or not math.isfinite(m) or m <= 0:
            return None
        t = (math.log10(m) - self.low) / (self.high - self.low)
        return min(1.0, max(0.0, t))

    def colour(self, m: float) -> str:
        t = self.position(m)
        return ZERO_COLOUR if t is None else colour_at(t)

    def edge_colour(self, m: float) -> str:
        """The colour of ``m`` darkened a little, so pale mid-scale colours stay visible as
        thin lines on white."""
        return darken(self.colour(m), 0.3)

    def ticks(self) -> list:
        """(decade exponent, colour) for each decade, at most 9 of them, evenly spaced."""
        span = self.high - self.low
        step = max(1, math.ceil(span / 8))
        exponents = list(range(self.low, self.high + 1, step))
        if exponents[-1] != self.high:
            exponents.append(self.high)
        return [(e, colour_at((e - self.low) / span)) for e in exponents]


def colour_at(t: float) -> str:
    """Colour at position ``t`` (0..1) of the palette, interpolated in RGB."""
    t = min(1.0, max(0.0, float(t)))
    x = t * (len(PALETTE) - 1)
    i = min(int(x), len(PALETTE) - 2)
    f = x - i
    a, b = _rgb(PALETTE[i]), _rgb(PALETTE[i + 1])
    rgb = tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return "#%02x%02x%02x" % rgb


def darken(colour: str, amount: float) -> str:
    """``colour`` mixed with ``amount`` (0..1) of black."""
    return "#%02x%02x%02x" % tuple(round(c * (1 - amount)) for c in _rgb(colour))


def text_colour(fill: str) -> str:
    """Black or white, whichever contrasts more with ``fill`` (WCAG contrast ratio)."""
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _rgb(fill))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    on_black = (luminance + 0.05) / 0.05
    on_white = 1.05 / (luminance + 0.05)
    return "#000000" if on_black >= on_white else "#ffffff"


def _rgb(hex_colour: str) -> tuple:
    h = hex_colour.lstrip("#")
    return tuple(int(h[k:k + 2], 16) for k in (0, 2, 4))


def decade_text(exponent: int) -> str:
    """'1e-3', '1', '10' for a decade."""
    return format_number(10.0 ** exponent, 3) if -2 <= exponent <= 2 else f"1e{exponent}"


def legend_html(scale: LogScale) -> str:
    """An HTML-like table fragment (rows) for the colour bar of ``scale``."""
    ticks = scale.ticks()
    cells = "".join(
        f'<TD BGCOLOR="{colour}" WIDTH="34" HEIGHT="14"><FONT POINT-SIZE="8" COLOR="{text_colour(colour)}">'
        f"{decade_text(e)}</FONT></TD>"
        for e, colour in ticks
    )
    zero = (f'<TD BGCOLOR="{ZERO_COLOUR}" WIDTH="20"><FONT POINT-SIZE="8">0</FONT></TD>')
    return (
        f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9">mean |gradient| (log scale)</FONT></TD></TR>'
        f'<TR><TD COLSPAN="2"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1"><TR>'
        f"{zero}{cells}</TR></TABLE></TD></TR>"
    )


__all__ = ["magnitude", "LogScale", "colour_at", "text_colour", "darken", "legend_html", "PALETTE", "ZERO_COLOUR"]
