"""How wide a diagram will be, estimated from its labels (no Graphviz needed), to pick a
rank direction that fits a slide.

``draw`` lays a graph out left to right when it is shallow and the sum of its ranks' widest
boxes stays within :data:`SLIDE_WIDTH_PX`; otherwise top to bottom. The estimate counts the
characters of the longest line of each label (Graphviz renders 11-point Helvetica at about
6.5 pixels a character at 96 dpi), so the DOT text stays deterministic.

>>> text_width('<<TABLE><TR><TD><B>matmul</B></TD></TR><TR><TD>matmul(x, W) · (4, 30)</TD></TR></TABLE>>')
167.0
"""

from __future__ import annotations

import html
import re

SLIDE_WIDTH_PX = 1600  # the widest left-to-right picture; wider ones are drawn top down
CHAR_PX = 6.5  # width of a character of an 11-point label at 96 dpi, about
BOX_PADDING_PX = 24.0  # a box's margins and border
RANK_GAP_PX = 50.0  # between two ranks left to right: the rank separation and the edges' room
EDGE_LABEL_PX = 60.0  # more room between ranks for gradients written on the edges
PAGE_MARGIN_PX = 30.0
THUMBNAIL_WIDTH_PX = 400.0  # a box with a grid of thumbnails is at least this wide

_LINE_BREAK = re.compile(r"<BR/>|</TR>|<HR/>")
_TAG = re.compile(r"<[^>]*>")


def text_width(label: str) -> float:
    """About how many pixels wide an HTML-like label (``<...>``) is: its longest line of text."""
    if label.startswith("<") and label.endswith(">"):
        label = label[1:-1]
    lines = _LINE_BREAK.split(label)
    longest = max((len(html.unescape(_TAG.sub("", line))) for line in lines), default=0)
    return longest * CHAR_PX + BOX_PADDING_PX


__all__ = ["text_width", "SLIDE_WIDTH_PX", "CHAR_PX", "RANK_GAP_PX", "EDGE_LABEL_PX", "PAGE_MARGIN_PX",
           "THUMBNAIL_WIDTH_PX"]
