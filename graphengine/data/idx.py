"""Reading and writing the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.

An IDX file is a big-endian header followed by the array's bytes::

    0x00 0x00 <type code> <ndim>      (4 bytes; the "magic number" as one int32)
    <dim 0> ... <dim ndim-1>          (one int32 each)
    data                               (row-major, big-endian)

Type codes: 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64. MNIST images have magic 2051 (0x00000803: ubyte, 3 dims) and labels 2049
(0x00000801: ubyte, 1 dim).

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx1-ubyte.gz")
>>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
>>> read_idx(path).tolist()
[3, 1, 4]
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..errors import GraphEngineError, NotAFileError, require_file, require_writable

GZIP_MAGIC = b"\x1f\x8b"
# what reading a damaged file raises (gzip.BadGzipFile is an OSError; a damaged deflate stream is zlib.error)
_READ_ERRORS = (EOFError, OSError, zlib.error)

# type code -> big-endian numpy dtype
TYPE_CODES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {np.dtype(v).newbyteorder("=").str: k for k, v in TYPE_CODES.items()}


class IDXFormatError(GraphEngineError, ValueError):
    """A file is not a well-formed IDX file (bad magic number, truncated, wrong counts)."""


class IDXPathIsFolderError(IDXFormatError, NotAFileError):
    """A folder given where an IDX file is expected (also an ``IsADirectoryError``)."""


def magic_number(type_code: int, ndim: int) -> int:
    """The header's first int32: ``magic_number(0x08, 3) == 2051`` (MNIST images)."""
    return (type_code << 8) | ndim


def _open(path):
    with open(path, "rb") as probe:
        head = probe.read(2)
    if head == GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx_header(path) -> tuple[int, tuple[int, ...]]:
    """``(magic number, dims)`` of an IDX file, reading only the header."""
    path = os.fspath(path)
    _check_path(path)
    try:
        with _open(path) as f:
            return _read_header(f, path)
    except _READ_ERRORS as exc:
        raise IDXFormatError(f"{path}: cannot read the IDX header: {type(exc).__name__}: {exc}; "
                             "the file is truncated or corrupt") from exc


def _read_header(f, path):
    try:
        head = f.read(4)
    except _READ_ERRORS as exc:
        raise IDXFormatError(f"{path}: cannot read the IDX header: {type(exc).__name__}: {exc}; "
                             "the file is truncated or corrupt") from exc
    if len(head) < 4:
        raise IDXFormatError(f"{path}: file is too short for an IDX header ({len(head)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", head)
    magic = struct.unpack(">i", head)[0]
    if zero != 0 or code not in TYPE_CODES:
        raise IDXFormatError(
            f"{path}: magic number 0x{magic:08x} is not an IDX magic number (expected 0x0000TTDD with type "
            f"code TT in {', '.join(f'0x{c:02X}' for c in TYPE_CODES)}); is this really an IDX file "
            "(e.g. train-images-idx3-ubyte.gz)?"
        )
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise IDXFormatError(f"{path}: header declares {ndim} dimensions but the file ends inside the header")
    dims = struct.unpack(f">{ndim}i", raw) if ndim else ()
    if any(d < 0 for d in dims):
        raise IDXFormatError(f"{path}: negative dimension in header {dims}")
    return magic, tuple(int(d) for d in dims)


_CHUNK = 1 << 20


def _check_path(path):
    """A missing path is a :class:`~graphengine.errors.MissingFileError` (a FileNotFoundError),
    a folder an :class:`IDXPathIsFolderError`; both name the path and what to do."""
    require_file(path, "IDX file", "pass the path of an IDX file (e.g. train-images-idx3-ubyte.gz), or let "
                 "ge.data.load_mnist(data_dir=...) find and download the MNIST files",
                 suffixes=("-ubyte", "-ubyte.gz"), folder_error=IDXPathIsFolderError)


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (raw or gzip, detected from the first bytes).

    The result has native byte order (``uint8`` for MNIST). ``expected_magic`` (2051 for
    images, 2049 for labels) is checked when given. The header's dimensions are checked
    against the file's length before anything is allocated (a raw file against its size; a
    gzip file is read in chunks, so memory never exceeds the data actually there). A
    truncated, corrupt (damaged gzip stream) or overlong file raises
    :class:`IDXFormatError` naming the file and the byte counts.
    """
    path = os.fspath(path)
    _check_path(path)
    try:
        with _open(path) as f:
            compressed = isinstance(f, gzip.GzipFile)
            magic, dims = _read_header(f, path)
            if expected_magic is not None and magic != expected_magic:
                raise IDXFormatError(
                    f"{path}: magic number {magic} (0x{magic:08x}) where {expected_magic} (0x{expected_magic:08x}) "
                    "was expected; images have 2051, labels 2049. Are image and label files swapped?"
                )
            dtype = TYPE_CODES[(magic >> 8) & 0xFF]
            need = math.prod(dims) * dtype.itemsize
            if not compressed:
                available = os.path.getsize(path) - f.tell()
                if need > available:
                    raise IDXFormatError(
                        f"{path}: header says {dims} ({need} data bytes) but only {available} follow; "
                        "the file is truncated"
                    )
            data = _read_bounded(f, need)
            if len(data) < need:
                raise IDXFormatError(
                    f"{path}: header says {dims} ({need} data bytes) but only {len(data)} follow; the file is truncated"
                )
            extra = f.read(1)
            if extra:
                raise IDXFormatError(f"{path}: {dims} needs {need} data bytes but the file has more; it is corrupt")
    except _READ_ERRORS as exc:
        raise IDXFormatError(f"{path}: cannot read: {type(exc).__name__}: {exc}; the file is truncated or "
                             "corrupt (download it again, or check it with verify_file)") from exc
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _read_bounded(f, need: int) -> bytearray:
    """Up to ``need`` bytes, read in chunks: a header cannot make us allocate more than is there."""
    data = bytearray()
    while len(data) < need:
        chunk = f.read(min(_CHUNK, need - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def write_idx(path, array, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress`` or when the path ends in .gz)."""
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise IDXFormatError(
            f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if array.ndim > 255:
        raise IDXFormatError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path = require_writable(path, "IDX file", "train-images-idx3-ubyte.gz")
    payload = header + np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


__all__ = ["read_idx", "read_idx_header", "write_idx", "magic_number", "IDXFormatError", "IDXPathIsFolderError",
           "TYPE_CODES"]
