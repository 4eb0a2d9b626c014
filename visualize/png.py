"""PNG bytes of a small pixel array, written with zlib and struct only.

The diagrams' thumbnails (grey) and the backprop explorer's tensor images (colour) are
encoded here: one IDAT chunk, filter type 0 on every row, zlib level 9, no ancillary
chunks, so the same array always gives the same bytes on every machine (no imaging library
with its own version-dependent choices is needed).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from graphengine.errors import ShapeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {2: 0, 3: 2}  # array dimensions -> PNG colour type: grey (H, W), RGB (H, W, 3)


def png_bytes(pixels) -> bytes:
    """An 8-bit PNG of ``pixels``: a (H, W) array is grey-scale, a (H, W, 3) array RGB.

    Values are converted to uint8 (pass 0..255). Deterministic: equal arrays give equal bytes.

    >>> png_bytes(np.zeros((2, 3), dtype=np.uint8))[:8] == PNG_SIGNATURE
    True
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim not in _COLOUR_TYPES or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ShapeError(f"png_bytes takes a (height, width) grey or (height, width, 3) RGB array of "
                         f"0..255 values, got shape {pixels.shape}: reshape it to one of those")
    height, width = pixels.shape[:2]
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[pixels.ndim], 0, 0, 0)  # 8-bit, no interlace
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


__all__ = ["png_bytes", "PNG_SIGNATURE"]
