"""visualize/layout.py: the width estimate that picks a rank direction."""

import doctest

import graphengine.visualize.layout as layout
from graphengine.visualize.layout import CHAR_PX, text_width


def test_text_width_counts_the_longest_line_without_markup():
    short = text_width("<<B>a</B>>")
    long = text_width('<<TABLE><TR><TD>x</TD></TR><TR><TD><FONT COLOR="#fff">abcdefghij</FONT></TD></TR></TABLE>>')
    assert long - short == 9 * CHAR_PX
    assert text_width("<a &amp; b>") == text_width("<a & b>")  # entities count as one character


def test_layout_doctest():
    assert doctest.testmod(layout).failed == 0
