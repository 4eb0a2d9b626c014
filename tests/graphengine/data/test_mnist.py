"""MNIST / Fashion-MNIST loading: the real files in ../shared/data, and small fake ones.

Nothing here downloads: every test passes data_dir and forbids downloading through
GRAPHENGINE_OFFLINE (download tests use file:// mirrors pointing at the shared files).
"""

import hashlib
import os

import numpy as np
import pytest

import graphengine as ge
from graphengine.data import DatasetError, KNOWN_SHA256, write_idx
from graphengine.data import mnist as mnist_module


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHENGINE_OFFLINE", "1")
    monkeypatch.delenv("GRAPHENGINE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_known_sums_are_those_of_the_shared_files(shared_data):
    for dataset in ("mnist", "fashion-mnist"):
        listed = {}
        for line in (shared_data / dataset / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            listed[name.lstrip("*")] = digest
        assert {k: v for k, v in KNOWN_SHA256[dataset].items() if k.endswith(".gz")} == listed


def test_mnist_test_split(shared_data):
    X, y = ge.data.load_mnist("test", data_dir=shared_data, download=False)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert 0.0 == X.min() and X.max() == 1.0
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_train_split_counts_and_raw_images(shared_data):
    X, y = ge.data.load_mnist("train", data_dir=shared_data / "mnist", download=False, normalize=False,
                              flatten=False)
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y).sum() == 60000


def test_fashion_mnist_and_limit(shared_data):
    X, y = ge.data.load_fashion_mnist("test", data_dir=shared_data, download=False, limit=5)
    assert X.shape == (5, 784)
    assert y.tolist() == [9, 2, 1, 1, 6]
    assert ge.data.FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_data_dir_from_environment_variable(shared_data, monkeypatch):
    monkeypatch.setenv("GRAPHENGINE_DATA", str(shared_data))
    X, _ = ge.data.load_mnist("test", download=False, limit=3)
    assert X.shape == (3, 784)


def test_data_dir_default_cache(shared_data, tmp_path, monkeypatch):
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert ge.data.default_cache_dir() == str(cache / "graphengine" / "data")
    target = cache / "graphengine" / "data" / "mnist"
    target.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(shared_data / "mnist" / name, target / name)
    X, y = ge.data.load_mnist("test", download=False, limit=2)
    assert y.tolist() == [7, 2]


def _fake_dataset(folder, n=6, swap=False, labels_n=None):
    folder.mkdir(parents=True, exist_ok=True)
    images = np.arange(n * 28 * 28, dtype=np.uint32).reshape(n, 28, 28).astype(np.uint8)
    labels = np.arange(labels_n if labels_n is not None else n, dtype=np.uint8) % 10
    files = (labels, images) if swap else (images, labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", files[0])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", files[1])
    return images, labels


def test_small_fake_files_fail_the_checksum_but_load_unverified(tmp_path):
    images, labels = _fake_dataset(tmp_path / "mnist")
    with pytest.raises(DatasetError, match="SHA-256 .* does not match the official mnist file"):
        ge.data.load_mnist("test", data_dir=tmp_path, download=False)
    X, y = ge.data.load_mnist("test", data_dir=tmp_path, download=False, verify=False, normalize=False)
    np.testing.assert_array_equal(X.reshape(-1, 28, 28), images)
    np.testing.assert_array_equal(y, labels)


def test_magic_numbers_and_counts_are_checked_even_unverified(tmp_path):
    _fake_dataset(tmp_path / "swapped", swap=True)
    with pytest.raises(DatasetError, match="magic number 2049 .*2051"):
        ge.data.load_mnist("test", data_dir=tmp_path / "swapped", download=False, verify=False)
    _fake_dataset(tmp_path / "uneven", n=6, labels_n=5)
    with pytest.raises(DatasetError, match="6 images but 5 labels"):
        ge.data.load_mnist("test", data_dir=tmp_path / "uneven", download=False, verify=False)


def test_decompressed_files_are_read_and_verified(shared_data, tmp_path):
    import gzip

    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(gzip.decompress((shared_data / "mnist" / (name + ".gz")).read_bytes()))
    X, y = ge.data.load_mnist("test", data_dir=tmp_path, download=False, limit=4)
    assert y.tolist() == [7, 2, 1, 0]


def test_missing_files_name_the_places_searched(tmp_path):
    with pytest.raises(DatasetError, match=r"not found in: .*empty.*data_dir argument.*GRAPHENGINE_DATA"):
        ge.data.load_mnist("test", data_dir=tmp_path / "empty", download=False)


def test_no_download_when_offline_is_set(tmp_path):
    with pytest.raises(DatasetError, match="GRAPHENGINE_OFFLINE forbids downloading"):
        ge.data.load_mnist("test", data_dir=tmp_path / "empty", download=True)


def test_download_from_a_mirror_verifies_and_places_files(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHENGINE_OFFLINE")
    mirror = (shared_data / "mnist").resolve().as_uri() + "/"
    folder = ge.data.download_dataset("mnist", tmp_path, splits=("test",), mirrors=[mirror])
    assert folder == str(tmp_path / "mnist")
    assert sorted(os.listdir(folder)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    X, y = ge.data.load_mnist("test", data_dir=tmp_path, download=False, limit=2)
    assert y.tolist() == [7, 2]


def test_download_refuses_a_file_with_the_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHENGINE_OFFLINE")
    bad = tmp_path / "mirror"
    _fake_dataset(bad)
    with pytest.raises(DatasetError, match="cannot download mnist file .*SHA-256.*copy the official files"):
        ge.data.download_dataset("mnist", tmp_path / "target", splits=("test",), mirrors=[bad.as_uri() + "/"])
    assert not any(p.name.endswith(".gz") for p in (tmp_path / "target").rglob("*"))


def test_verify_file_detects_corruption(shared_data, tmp_path):
    data = bytearray((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[-20] ^= 0xFF
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    assert hashlib.sha256(bytes(data)).hexdigest() != KNOWN_SHA256["mnist"][path.name]
    with pytest.raises(DatasetError, match="corrupt"):
        ge.data.verify_file(path, "mnist")


def test_bad_arguments():
    with pytest.raises(DatasetError, match="split must be 'train' or 'test'"):
        ge.data.load_mnist("validation", download=False)
    with pytest.raises(DatasetError, match="unknown dataset 'mnsit'.*'mnist'"):
        ge.data.load_mnist("test", dataset="mnsit", download=False)
    assert mnist_module.ENV_DATA_DIR == "GRAPHENGINE_DATA"


def test_a_corrupt_gzip_read_unverified_is_a_dataset_error_naming_the_file(tmp_path):
    _fake_dataset(tmp_path / "mnist", n=50)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    start = 10 + (data.index(0, 10) + 1 - 10 if data[3] & 0x08 else 0)  # deflate data, after the file name
    data[start] = 0xFF  # a reserved block type: a raw zlib.error before
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*(corrupt|truncated)"):
        ge.data.load_mnist("test", data_dir=tmp_path, download=False, verify=False)
