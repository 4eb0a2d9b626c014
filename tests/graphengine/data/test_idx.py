"""The IDX reader and writer on small files made in the test."""

import gzip
import struct

import numpy as np
import pytest

import graphengine as ge
from graphengine.data import IDXFormatError, magic_number, read_idx, read_idx_header, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type_raw_and_gzip(tmp_path, rng, dtype, suffix):
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"data-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, array)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == (suffix == ".gz")


def test_mnist_magic_numbers_and_header(tmp_path):
    assert magic_number(0x08, 3) == 2051
    assert magic_number(0x08, 1) == 2049
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "images.gz", images)
    assert read_idx_header(tmp_path / "images.gz") == (2051, (2, 28, 28))
    # the header is the documented big-endian layout
    raw = gzip.decompress((tmp_path / "images.gz").read_bytes())
    assert struct.unpack(">iiii", raw[:16]) == (2051, 2, 28, 28)
    assert raw[16:] == images.tobytes()


def test_expected_magic_mismatch_says_files_may_be_swapped(tmp_path):
    write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="2049.*2051 .*expected.*swapped"):
        read_idx(tmp_path / "labels", expected_magic=2051)
    assert isinstance(IDXFormatError("x"), ge.GraphEngineError)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, world")
    with pytest.raises(IDXFormatError, match="not an IDX magic number"):
        read_idx(path)


def test_truncated_and_overlong_files(tmp_path):
    good = tmp_path / "good"
    write_idx(good, np.zeros((4, 3), dtype=np.int32))
    data = good.read_bytes()
    (tmp_path / "short").write_bytes(data[:-5])
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(data + b"\x00")
    with pytest.raises(IDXFormatError, match="more"):
        read_idx(tmp_path / "long")
    (tmp_path / "header").write_bytes(data[:6])
    with pytest.raises(IDXFormatError, match="ends inside the header"):
        read_idx(tmp_path / "header")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(IDXFormatError):
        read_idx(broken)


def test_missing_file_and_unsupported_dtype(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        read_idx(tmp_path / "nope")
    assert isinstance(info.value, ge.GraphEngineError) and info.value.filename == str(tmp_path / "nope")
    assert f"IDX file {str(tmp_path / 'nope')!r} does not exist; pass the path of an IDX file" in str(info.value)
    with pytest.raises(IDXFormatError, match="cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


def test_zero_dimensional_and_empty_arrays(tmp_path):
    write_idx(tmp_path / "empty", np.zeros((0, 28, 28), dtype=np.uint8))
    assert read_idx(tmp_path / "empty").shape == (0, 28, 28)


def test_a_directory_is_named_as_a_directory(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    for read in (read_idx, read_idx_header):
        with pytest.raises(IDXFormatError, match="is a directory, not a file; it holds 't10k-labels-idx1-ubyte'") \
                as info:
            read(tmp_path)
        assert isinstance(info.value, IsADirectoryError)


def test_a_damaged_gzip_stream_is_an_idx_format_error(tmp_path):
    path = tmp_path / "a-idx1-ubyte.gz"
    write_idx(path, np.arange(5000, dtype=np.uint8) % 7)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IDXFormatError, match="a-idx1-ubyte.gz: cannot read.*corrupt"):
        read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_huge_declared_dimensions_are_refused_before_allocating(tmp_path, suffix):
    import tracemalloc

    payload = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3i", 2**20, 2**20, 2**10) + bytes(100)
    path = tmp_path / f"huge-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    tracemalloc.start()
    try:
        with pytest.raises(IDXFormatError, match=r"\(1048576, 1048576, 1024\) .* but only 100 follow"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the header asks for 1 TiB
