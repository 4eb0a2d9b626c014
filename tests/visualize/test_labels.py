"""Number and array formatting, and label escaping (no Graphviz needed)."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.visualize import labels
from graphengine.visualize.labels import format_number, format_value, html_text


@pytest.mark.parametrize("value, text", [
    (0.0024726231566347743, "0.002473"),
    (3.0, "3"),
    (-0.5, "-0.5"),
    (3.2974425414002564, "3.297"),
    (1e-5, "1e-5"),
    (2.5e10, "2.5e10"),
    (-0.0, "0"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (float("-inf"), "-inf"),
    (7, "7"),
    (np.int64(-3), "-3"),
    (True, "True"),
    (np.float32(0.1), "0.1"),
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_precision_is_configurable():
    assert format_number(np.pi, 2) == "3.1"
    assert format_number(np.pi, 8) == "3.1415927"
    assert format_value(np.array(np.pi), precision=6).lines == ("3.14159",)


def test_scalars_and_one_element_arrays():
    assert format_value(np.array(0.5)).lines == ("0.5",)
    assert format_value(np.array([0.5])).lines == ("[0.5]",)
    assert format_value(np.array([[0.5]])).lines == ("[[0.5]]",)
    assert not format_value(np.array(0.5)).summarized


def test_small_tensors_in_full_one_row_per_line():
    fv = format_value(np.array([[5.0, -5.0], [5.0, -5.0]]))
    assert fv.lines == ("[[5, -5],", " [5, -5]]")
    assert format_value(np.arange(16.0)).summarized is False  # 16 elements: still in full
    assert format_value(np.array([1, 2, 3], dtype=np.int32)).lines == ("[1, 2, 3]",)
    assert format_value(np.array([True, False])).lines == ("[True, False]",)


def test_tall_and_long_arrays_are_packed_into_lines():
    column = format_value(np.arange(16.0).reshape(16, 1))
    assert len(column.lines) < 16  # not one line per element
    assert "".join(column.lines).replace(" ", "") == "[" + ",".join(f"[{i}]" for i in range(16)) + "]"
    row = format_value(np.linspace(-1, 1, 16))
    assert all(len(line) <= 48 for line in row.lines)


def test_large_tensors_are_summarized():
    fv = format_value(np.arange(100.0))
    assert fv.summarized
    assert fv.lines == ("mean 49.5  std 28.87", "min 0  max 99")
    assert format_value(np.arange(17.0)).summarized  # one past max_elements
    assert not format_value(np.arange(17.0), max_elements=17).summarized
    ints = format_value(np.arange(20, dtype=np.int64))
    assert ints.lines[1] == "min 0  max 19"


def test_nan_and_inf_are_counted_and_summaries_use_finite_elements():
    fv = format_value(np.array([1.0, np.nan, np.inf, -np.inf]))
    assert fv.non_finite and (fv.nan, fv.posinf, fv.neginf) == (1, 1, 1)
    assert fv.flag_text() == "1 NaN, 1 +Inf, 1 -Inf"
    big = np.ones(100)
    big[3] = np.nan
    summary = format_value(big)
    assert summary.lines[0] == "mean 1  std 0" and summary.flag_text() == "1 NaN"
    assert format_value(np.full(50, np.nan)).lines == ("no finite elements",)
    assert not format_value(np.ones(3)).non_finite


def test_empty_array():
    assert format_value(np.zeros((0, 3))).lines == ("[] (empty)",)


@pytest.mark.parametrize("text, escaped", [
    ('a"b', "a&quot;b"),
    ("<b>", "&lt;b&gt;"),
    ("x & y", "x &amp; y"),
    ("{a|b}:c", "{a|b}:c"),  # record/port characters are plain text in HTML-like labels
    ("two\nlines", "two<BR/>lines"),
    ("cr\r\nlf", "cr<BR/>lf"),
    ("back\\slash", "back\\\\slash"),  # Graphviz expands \N, \G, ... even in HTML labels
    ("\\N", "\\\\N"),
    ("bell\x07", "bell\\\\x07"),  # XML-invalid: shown as a visible escape
    ("lone \ud800", "lone \\\\ud800"),
    ("θ₁ ∂L/∂w 😀", "θ₁ ∂L/∂w 😀"),
    ("it's", "it&#39;s"),
    ("]", "&#93;"),  # Graphviz rejects a text run of only "]"
])
def test_html_text(text, escaped):
    assert html_text(text) == escaped


# ---------------------------------------------------------------------- op attributes

def test_attributes_equal_to_the_ops_defaults_are_left_out():
    import graphengine as ge
    from graphengine.visualize.labels import attributes_text

    g = ge.Graph("a")
    x = g.input("x", shape=(1, 1, 8, 8))
    pool = ge.ops.max_pool2d(x, kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False)
    assert attributes_text(pool) == "kernel_size=2"
    assert attributes_text(pool, all_attributes=True) == \
        "kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False"
    w = g.param("w", np.ones((2, 1, 3, 3), dtype=np.float32))
    conv = ge.ops.conv2d(x, w, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    assert attributes_text(conv) == "padding=(1, 1)"  # (1, 1) is the default stride 1 for both axes
    wide = ge.ops.max_pool2d(x, kernel_size=2, stride=1, ceil_mode=True)
    assert attributes_text(wide) == "kernel_size=2, stride=1, ceil_mode=True"
    drop = ge.ops.dropout(g.input("h", shape=(2, 3)), p=0.5, training=False)
    assert attributes_text(drop) == "training=False"  # a bool is never taken for 0 or 1


def test_is_default_compares_kinds_of_values_strictly():
    from graphengine.visualize.labels import _is_default

    assert _is_default(0, 0.0) and _is_default((1, 1), 1) and _is_default([2, 3], (2, 3))
    assert not _is_default(True, 1) and not _is_default(1, True) and not _is_default(None, 0)
    assert not _is_default((1, 2), 1) and not _is_default((), 1) and not _is_default("mean", "none")
    assert not _is_default(np.zeros(2), None)


def test_labels_doctests():
    import doctest

    import graphengine.visualize.labels as labels

    result = doctest.testmod(labels)
    assert result.failed == 0 and result.attempted >= 5


def test_a_random_ops_seed_is_left_out_of_its_box_unless_every_attribute_is_asked_for():
    g = ge.Graph("d")
    x = g.input("x", shape=(None, 4))
    node = ge.ops.dropout(x, p=0.3, seed=243971427)
    assert labels.attributes_text(node) == "p=0.3"
    assert "seed=243971427" in labels.attributes_text(node, all_attributes=True)
