"""``png_bytes``: the one PNG encoder of the diagrams' thumbnails (grey) and the explorer's
tensor images (RGB): pixels survive a round trip, the bytes are deterministic, and a shape
it cannot encode is refused with a message that names it."""

import io
import struct
import zlib

import numpy as np
import pytest

from graphengine.errors import GraphEngineError, ShapeError
from graphengine.visualize.png import PNG_SIGNATURE, png_bytes


def _decode(data):
    """(colour type, pixels) of a PNG with one IDAT chunk and filter 0 on every row."""
    assert data[:8] == PNG_SIGNATURE
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8
    channels = {0: 1, 2: 3}[colour]
    idat_length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT" and data[-12:] == struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    raw = zlib.decompress(data[41:41 + idat_length])
    stride = width * channels + 1
    assert all(raw[r * stride] == 0 for r in range(height))
    rows = b"".join(raw[r * stride + 1:(r + 1) * stride] for r in range(height))
    shape = (height, width) if channels == 1 else (height, width, 3)
    return colour, np.frombuffer(rows, dtype=np.uint8).reshape(shape)


def test_grey_round_trip_and_are_deterministic():
    grey = (np.arange(35).reshape(5, 7) * 7).astype(np.uint8)
    data = png_bytes(grey)
    assert data == png_bytes(grey.copy())
    colour, pixels = _decode(data)
    assert colour == 0
    np.testing.assert_array_equal(pixels, grey)


def test_rgb_round_trip_and_header():
    rgb = (np.arange(3 * 4 * 3).reshape(3, 4, 3) * 5).astype(np.uint8)
    data = png_bytes(rgb)
    assert data[16:24] == (4).to_bytes(4, "big") + (3).to_bytes(4, "big")  # width, height
    colour, pixels = _decode(data)
    assert colour == 2
    np.testing.assert_array_equal(pixels, rgb)
    assert png_bytes(np.asfortranarray(rgb)) == data  # memory layout does not matter


def test_an_imaging_library_reads_both_kinds():
    image = pytest.importorskip("PIL.Image")
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    for pixels, mode in [(grey, "L"), (rgb, "RGB")]:
        with image.open(io.BytesIO(png_bytes(pixels))) as opened:
            assert opened.mode == mode
            np.testing.assert_array_equal(np.asarray(opened), pixels)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (2, 3, 1), (1, 2, 3, 3)])
def test_other_shapes_are_refused(shape):
    with pytest.raises(ShapeError, match=r"png_bytes takes a \(height, width\) grey or \(height, width, 3\) RGB") as info:
        png_bytes(np.zeros(shape, dtype=np.uint8))
    assert str(shape) in str(info.value) and isinstance(info.value, GraphEngineError)
