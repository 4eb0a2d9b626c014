"""Shared helpers of the example scripts: arguments, data, figures.

Every example takes ``--quick`` (a CI-sized run on small subsets, a few seconds) and
``--out DIR`` (where figures go; default ``out/``, which git ignores).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

# The examples multiply small matrices (a batch of 32 by a few hundred units), where BLAS
# threads cost more than they save, and much more when other processes share the cores.
# One thread unless the caller chose otherwise; this must happen before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = pathlib.Path(__file__).resolve().parents[1]

try:  # run from a source checkout without installing
    import graphengine  # noqa: F401
except ImportError:  # pragma: no cover - depends on how the examples are run
    sys.path.insert(0, str(REPO))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small, fast run (CI): small data subsets, few epochs")
    p.add_argument("--out", default="out", help="folder for the figures (default: out/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


def add_data_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST IDX files (default: $GRAPHENGINE_DATA, ../shared/data beside the "
                        "checkout, or the download cache)")
    p.add_argument("--no-download", action="store_true", help="never download missing files")


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                   help="train on the CPU with NumPy (default) or on an NVIDIA GPU with CuPy (model.to('cupy'))")


def data_dir(args):
    """The data folder: --data-dir, $GRAPHENGINE_DATA, the checkout's ../shared/data, else the cache."""
    if getattr(args, "data_dir", None):
        return args.data_dir
    if os.environ.get("GRAPHENGINE_DATA"):
        return None  # load_mnist reads the variable itself
    shared = REPO.parent / "shared" / "data"
    if (shared / "mnist").is_dir():
        return str(shared)
    return None


def load_mnist(args, split: str, limit=None, dataset: str = "mnist"):
    import graphengine as ge

    return ge.data.load_mnist(split, data_dir=data_dir(args), dataset=dataset, limit=limit,
                              download=not getattr(args, "no_download", False))


def figure_path(args, name: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)


def save(fig, args, name: str) -> str:
    from graphengine.training.plots import save_figure

    path = save_figure(fig, figure_path(args, name))
    print(f"figure: {path}")
    return path
