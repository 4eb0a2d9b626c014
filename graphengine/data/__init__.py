"""Datasets: MNIST and Fashion-MNIST from IDX files, synthetic toy problems, array helpers.

>>> import graphengine as ge
>>> X, y = ge.data.two_moons(100, seed=0)
>>> X.shape, y.shape
((100, 2), (100,))
"""

from .idx import IDXFormatError, IDXPathIsFolderError, magic_number, read_idx, read_idx_header, write_idx
from .mnist import (
    FASHION_MNIST_CLASSES,
    KNOWN_SHA256,
    MIRRORS,
    DatasetError,
    DatasetNotFoundError,
    candidate_dirs,
    default_cache_dir,
    download_dataset,
    find_dataset_dir,
    load_fashion_mnist,
    load_mnist,
    verify_file,
)
from .synthetic import GATES, SyntheticDataError, blobs, pass_the_class, spirals, truth_table, two_moons, xor
from .utils import SplitError, one_hot, standardize, train_test_split

__all__ = [
    "read_idx", "read_idx_header", "write_idx", "magic_number", "IDXFormatError", "IDXPathIsFolderError",
    "load_mnist", "load_fashion_mnist", "download_dataset", "verify_file", "find_dataset_dir", "candidate_dirs",
    "default_cache_dir", "DatasetError", "DatasetNotFoundError", "KNOWN_SHA256", "MIRRORS", "FASHION_MNIST_CLASSES",
    "truth_table", "xor", "two_moons", "spirals", "blobs", "pass_the_class", "GATES", "SyntheticDataError",
    "train_test_split", "one_hot", "standardize", "SplitError",
]
