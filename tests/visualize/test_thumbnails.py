"""``draw(..., thumbnails=True)``: 4-D values and gradients (feature maps, kernels) as grids
of grey-scale images on their nodes; deterministic DOT and PNG bytes; rendering with dot."""

import struct
import zlib

import numpy as np
import pytest

import graphengine as ge
from graphengine.visualize import draw
from graphengine.visualize.diagram import dot_available
from graphengine.visualize.draw import DrawError, ThumbnailDiagram
from graphengine.visualize.labels import is_image_shaped, thumbnail_grid

needs_dot = pytest.mark.skipif(not dot_available(), reason="the Graphviz dot executable is not installed")


def _feature_map_graph():
    """x (2, 1, 6, 6) images, a (3, 1, 1, 1) 'kernel' param scaling them into 3 channels."""
    g = ge.Graph("maps")
    x = g.input("x", shape=(None, 1, 6, 6))
    k = g.param("k", np.array([1.0, -1.0, 0.5]).reshape(3, 1, 1, 1) * np.ones((3, 1, 2, 2)))
    h = ge.ops.relu(x * ge.ops.reshape(ge.ops.mean(k, axis=(2, 3), keepdims=True), shape=(1, 3, 1, 1)))
    loss = ge.ops.sum(h * h)
    X = np.zeros((2, 1, 6, 6))
    X[0, 0, 1:5, 2:4] = 1.0  # a vertical bar
    X[1, 0, 2:4, 1:5] = 1.0  # a horizontal bar
    run = g.forward({"x": X}).backward(loss)
    return g, run, x, k, h


def _png_pixels(data):
    """Decode our own 8-bit grey PNG (one IDAT, filter 0) back to an array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_length])
    rows = [raw[r * (width + 1) + 1:(r + 1) * (width + 1)] for r in range(height)]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width)


def test_grid_layout_scaling_and_caption():
    images = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    grid, caption = thumbnail_grid(images, tile=5)
    # 2 rows of 4x5 images (tile 5: not magnified), white gaps of 2 pixels
    assert grid.shape == (2 * 4 + 2, 3 * 5 + 2 * 2) and caption == "2 × 3"
    assert grid[0, 0] == 0 and grid[3, 4] == 255  # each image stretched over the grey range
    assert np.all(grid[4:6, :] == 255)  # the gap between the rows
    big, caption = thumbnail_grid(np.random.default_rng(0).standard_normal((64, 16, 3, 3)))
    assert caption == "4 of 64 × 8 of 16"
    row, caption = thumbnail_grid(np.ones((5, 1, 2, 2)), rows=1, columns=3)
    assert caption == "3 of 5 × 1" and row.shape[0] == 2 * 24  # one row; constant images are mid grey
    assert set(np.unique(row)) == {128, 255}
    nan = np.full((1, 1, 2, 2), np.nan)
    assert thumbnail_grid(nan)[0].max() == 0  # NaN drawn black
    assert is_image_shaped((None, 3, 8, 8)) is False and is_image_shaped((2, 3, 8, 8))
    assert not is_image_shaped((2, 3, 1, 8)) and not is_image_shaped((3, 8, 8))


def test_draw_puts_image_rows_on_4d_nodes_only_and_the_dot_is_deterministic():
    g, run, x, k, h = _feature_map_graph()
    d = draw(g, run, thumbnails=True)
    assert isinstance(d, ThumbnailDiagram)
    names = sorted(d.images)
    assert f"maps_n{x.id}_value.png" in names and f"maps_n{h.id}_grad.png" in names
    assert f"maps_n{k.id}_value.png" in names  # the kernel, (3, 1, 2, 2)
    assert not any(f"_n{ge_id}_" in n for n in names for ge_id in [g.node("sum_1").id])
    assert f'<IMG SRC="maps_n{h.id}_value.png"/>' in d.source and "2 × 3 images" in d.source
    assert "imagepath" not in d.source  # no temporary folder in the text
    again = draw(*_feature_map_graph()[:2], thumbnails=True)
    assert again.source == d.source and again.images == d.images
    pixels = _png_pixels(d.images[f"maps_n{x.id}_value.png"])
    assert pixels.shape == (48, 2 * 48 + 2)  # two 6x6 images magnified 8 times, in one row (C = 1)
    plain = draw(g, run)
    assert "<IMG" not in plain.source and not isinstance(plain, ThumbnailDiagram)


def test_structure_mode_shows_kernels_and_forward_mode_no_gradients():
    g, run, x, k, h = _feature_map_graph()
    structure = draw(g, thumbnails=True)
    assert sorted(structure.images) == [f"maps_n{k.id}_value.png"]
    forward = draw(g, run, mode="forward", thumbnails=True)
    assert not any(name.endswith("_grad.png") for name in forward.images)


def test_thumbnails_option_is_checked():
    g, run, *_ = _feature_map_graph()
    with pytest.raises(DrawError, match="thumbnails must be True or False"):
        draw(g, run, thumbnails="yes")


@needs_dot
def test_rendered_png_and_svg_are_self_contained(tmp_path):
    g, run, *_ = _feature_map_graph()
    d = draw(g, run, thumbnails=True)
    png = d.write(tmp_path / "maps.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    svg = d.write(tmp_path / "maps.svg").read_text(encoding="utf-8")
    assert svg.count("data:image/png;base64,") == len(d.images)
    assert "imagepath" not in d.source  # restored after rendering
    rendered = d.render("rendered", directory=tmp_path, format="svg")
    assert all((tmp_path / name).read_bytes() == data for name, data in d.images.items())
    assert rendered.endswith("rendered.svg")
