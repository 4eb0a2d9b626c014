"""Shared fixtures: a fresh plugin manager per test, seeded RNG, backends, the shared data."""

from __future__ import annotations

import os
import pathlib
import shutil

import numpy as np
import pytest

import graphengine as ge

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("GRAPHENGINE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def plugin_manager():
    """A fresh plugin manager (built-ins only), not the process-wide default."""
    return ge.PluginManager(entry_points=False)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["numpy", "cupy"])
def backend(request):
    """Both backends; cupy skips cleanly where CuPy or a GPU is missing."""
    if request.param == "cupy" and not ge.cupy_available():
        pytest.skip("cupy backend unavailable (CuPy not installed or no GPU)")
    return request.param


@pytest.fixture
def shared_data():
    """The real MNIST / Fashion-MNIST files beside the checkout (../shared/data)."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def dot_executable():
    """Path of Graphviz `dot`. Skips where it is missing, except under CI (CI=true), where
    the test command installs it, so a missing `dot` there is a failure, not a skip."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz `dot` is missing under CI; the test command should have installed it")
        pytest.skip("Graphviz `dot` executable not installed")
    return path
