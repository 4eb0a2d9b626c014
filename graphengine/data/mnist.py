"""MNIST and Fashion-MNIST from their original IDX files.

>>> X, y = load_mnist("test", data_dir="../shared/data", download=False)  # doctest: +SKIP
>>> X.shape, X.dtype, y[:5].tolist()                                          # doctest: +SKIP
((10000, 784), dtype('float32'), [7, 2, 1, 0, 4])

Where the files are looked for, first match wins:

1. the ``data_dir`` argument,
2. the ``GRAPHENGINE_DATA`` environment variable,
3. the cache ``$XDG_CACHE_HOME/graphengine/data`` (``~/.cache/graphengine/data``).

Each of these may be the dataset's own folder (holding ``train-images-idx3-ubyte.gz``
...) or a parent holding ``mnist/`` and ``fashion-mnist/``. Files may be gzip-compressed
(the official ``.gz`` files) or decompressed. Every file is checked: the IDX magic number
(2051 images, 2049 labels), the counts (60,000 train and 10,000 test, 28x28 pixels,
as many labels as images) and its SHA-256 against the sums of the official release.

When files are missing and ``download`` is true, they are fetched from the dataset's
official mirrors into the first folder above (set ``GRAPHENGINE_OFFLINE=1`` to forbid it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request

import numpy as np

from ..errors import GraphEngineError, MissingFileError
from .idx import IDXFormatError, read_idx

ENV_DATA_DIR = "GRAPHENGINE_DATA"
ENV_OFFLINE = "GRAPHENGINE_OFFLINE"

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
COUNTS = {"train": 60_000, "test": 10_000}
IMAGE_SHAPE = (28, 28)
MAGIC = {"images": 2051, "labels": 2049}

# SHA-256 of the official files: the .gz as distributed, and their decompressed content.
KNOWN_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# Official distribution points of the .gz files, tried in order.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

DATASETS = tuple(KNOWN_SHA256)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetError(GraphEngineError, ValueError):
    """A dataset's files are missing, corrupt (wrong checksum, counts) or cannot be fetched."""


class DatasetNotFoundError(DatasetError, MissingFileError):
    """A dataset's files are not where they were looked for (and no download was allowed):
    both a :class:`DatasetError` and a ``FileNotFoundError``."""


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/graphengine/data``, or ``~/.cache/graphengine/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphengine", "data")


def _check_dataset(dataset: str) -> str:
    if dataset not in KNOWN_SHA256:
        from ..errors import did_you_mean

        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}." + did_you_mean(dataset, DATASETS))
    return dataset


def _dataset_folder(root: str, dataset: str) -> str:
    """``root`` itself if it holds the files, else ``root/<dataset>``."""
    nested = os.path.join(root, dataset)
    if os.path.isdir(nested):
        return nested
    for stem in FILES.values():
        if os.path.exists(os.path.join(root, stem + ".gz")) or os.path.exists(os.path.join(root, stem)):
            return root
    return nested


def candidate_dirs(dataset: str = "mnist", data_dir=None) -> list[tuple[str, str]]:
    """``[(folder, where it came from)]`` in the order they are searched."""
    _check_dataset(dataset)
    out = []
    if data_dir is not None:
        out.append((_dataset_folder(os.fspath(data_dir), dataset), "the data_dir argument"))
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        out.append((_dataset_folder(env, dataset), f"${ENV_DATA_DIR}"))
    out.append((_dataset_folder(default_cache_dir(), dataset), "the default cache"))
    return out


def _find_file(folder: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def find_dataset_dir(dataset: str = "mnist", data_dir=None, splits=("train", "test")) -> str | None:
    """The first candidate folder holding every file the splits need (None if none does).

    An explicit ``data_dir`` is the only candidate when given: files are never silently
    taken from elsewhere then.
    """
    candidates = candidate_dirs(dataset, data_dir)
    if data_dir is not None:
        candidates = candidates[:1]
    for folder, _ in candidates:
        if all(_find_file(folder, FILES[(s, k)]) for s in splits for k in ("images", "labels")):
            return folder
    return None


def sha256_of(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def verify_file(path, dataset: str = "mnist") -> None:
    """Check a file's SHA-256 against the official release; raise :class:`DatasetError` if it differs."""
    name = os.path.basename(path)
    expected = KNOWN_SHA256[_check_dataset(dataset)].get(name)
    if expected is None:
        raise DatasetError(f"{path}: {name!r} is not one of the {dataset} files; expected one of "
                           f"{', '.join(sorted(KNOWN_SHA256[dataset]))}")
    actual = sha256_of(path)
    if actual != expected:
        raise DatasetError(
            f"{path}: SHA-256 {actual} does not match the official {dataset} file ({expected}); the file is "
            "corrupt or from another dataset. Delete it (it will be downloaded again) or replace it, "
            "or pass verify=False to read it anyway."
        )


def download_dataset(dataset: str = "mnist", data_dir=None, splits=("train", "test"), mirrors=None, timeout: float = 60.0) -> str:
    """Fetch the missing ``.gz`` files of ``dataset`` from its official mirrors; return the folder.

    Files go to the first candidate folder (see the module docstring); each is checked
    against its known SHA-256 before it is moved into place. Raises :class:`DatasetError`
    when offline (every mirror failed), naming the folder to fill by hand.
    """
    _check_dataset(dataset)
    if os.environ.get(ENV_OFFLINE):
        raise DatasetError(f"{dataset}: files are missing and ${ENV_OFFLINE} forbids downloading; "
                           f"put the IDX files in {candidate_dirs(dataset, data_dir)[0][0]}")
    folder = candidate_dirs(dataset, data_dir)[0][0]
    os.makedirs(folder, exist_ok=True)
    mirrors = tuple(mirrors or MIRRORS[dataset])
    for split in splits:
        for kind in ("images", "labels"):
            stem = FILES[(split, kind)]
            if _find_file(folder, stem):
                continue
            name = stem + ".gz"
            errors = []
            for base in mirrors:
                url = base + name
                try:
                    _fetch(url, os.path.join(folder, name), dataset, timeout)
                    break
                except (urllib.error.URLError, OSError, DatasetError) as exc:
                    errors.append(f"{url}: {exc}")
            else:
                raise DatasetError(
                    f"cannot download {dataset} file {name}: " + "; ".join(errors)
                    + f". If this machine is offline, copy the official files into {folder} "
                    f"(or point ${ENV_DATA_DIR} or data_dir= at a folder that has them)."
                )
    return folder


def _fetch(url: str, destination: str, dataset: str, timeout: float) -> None:
    folder = os.path.dirname(destination)
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        expected = KNOWN_SHA256[dataset][os.path.basename(destination)]
        actual = sha256_of(tmp)
        if actual != expected:
            raise DatasetError(f"downloaded file has SHA-256 {actual}, expected {expected}")
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_checked(path, dataset, split, kind, verify):
    if verify:
        verify_file(path, dataset)
    try:
        array = read_idx(path, expected_magic=MAGIC[kind])
    except IDXFormatError as exc:
        raise DatasetError(f"{dataset} {split} {kind}: {exc}") from exc
    expected = (COUNTS[split],) + (IMAGE_SHAPE if kind == "images" else ())
    if verify and array.shape != expected:
        raise DatasetError(f"{path}: holds shape {array.shape}, but {dataset} {split} {kind} have {expected}")
    if kind == "images" and array.shape[1:] != IMAGE_SHAPE:
        raise DatasetError(f"{path}: images of {array.shape[1:]} pixels, expected {IMAGE_SHAPE}")
    return array


def load_mnist(split: str = "train", *, data_dir=None, dataset: str = "mnist", download: bool = True,
               verify: bool = True, normalize: bool = True, flatten: bool = True, limit: int | None = None,
               dtype="float32"):
    """``(images, labels)`` of one split (``"train"`` or ``"test"``) of MNIST or Fashion-MNIST.

    ``images`` are ``dtype`` in [0, 1] (``normalize``; else uint8 0..255), of shape
    ``(n, 784)`` when ``flatten`` else ``(n, 28, 28)``; ``labels`` are int64 in 0..9.
    ``limit`` keeps the first ``limit`` examples. ``verify=False`` skips the checksum and
    exact-count checks (magic numbers and images-vs-labels counts are always checked).
    """
    _check_dataset(dataset)
    if split not in COUNTS:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    folder = find_dataset_dir(dataset, data_dir, splits=(split,))
    if folder is None:
        searched = "; ".join(f"{f} ({why})" for f, why in
                             (candidate_dirs(dataset, data_dir)[:1] if data_dir is not None else candidate_dirs(dataset)))
        if not download:
            raise DatasetNotFoundError(
                f"{dataset} {split} files ({FILES[(split, 'images')]}[.gz], {FILES[(split, 'labels')]}[.gz]) not found "
                f"in: {searched}. Pass data_dir= the folder that holds them, set ${ENV_DATA_DIR}, or allow "
                "download=True on a machine that is online."
            )
        folder = download_dataset(dataset, data_dir, splits=(split,))
    images_path = _find_file(folder, FILES[(split, "images")])
    labels_path = _find_file(folder, FILES[(split, "labels")])
    images = _read_checked(images_path, dataset, split, "images", verify)
    labels = _read_checked(labels_path, dataset, split, "labels", verify)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split")
    if limit is not None:
        if limit < 0:
            raise DatasetError(f"limit must be a non-negative number of examples, got {limit}")
        images, labels = images[:limit], labels[:limit]
    if flatten:
        images = images.reshape(images.shape[0], -1)
    if normalize:
        images = images.astype(dtype) / np.asarray(255, dtype=dtype)
    labels = labels.astype(np.int64)
    return images, labels


def load_fashion_mnist(split: str = "train", **options):
    """Fashion-MNIST, like :func:`load_mnist` (class names: ``FASHION_MNIST_CLASSES``)."""
    return load_mnist(split, dataset="fashion-mnist", **options)


__all__ = ["load_mnist", "load_fashion_mnist", "download_dataset", "verify_file", "find_dataset_dir", "candidate_dirs",
           "default_cache_dir", "DatasetError", "DatasetNotFoundError", "KNOWN_SHA256", "MIRRORS",
           "FASHION_MNIST_CLASSES"]
