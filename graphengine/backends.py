"""Array backends: NumPy (always there) and CuPy (optional, for NVIDIA GPUs).

A backend hands ops its array module ``xp``; moving arrays between backends happens
only where the user asks for it (``Graph.to``, feeding host arrays to a GPU graph).
"""

from __future__ import annotations

import numpy as np

from .errors import BackendMismatchError, BackendUnavailableError, UnknownNameError, did_you_mean

CUPY_INSTALL_HINT = (
    "Install CuPy for your CUDA version, for example `pip install 'graphengine[cupy]'` "
    "(CUDA 12) or `pip install cupy-cuda11x`, on a machine with an NVIDIA GPU and driver."
)


class Backend:
    """One array library. ``xp`` is the module ops receive."""

    name = ""
    xp = None

    def asarray(self, value, dtype=None):
        return self.xp.asarray(value, dtype=dtype)

    def is_native(self, value) -> bool:
        return isinstance(value, self.xp.ndarray)

    def to_numpy(self, value):
        return np.asarray(value)

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


class NumpyBackend(Backend):
    name = "numpy"
    xp = np

    def asarray(self, value, dtype=None):
        if _is_cupy_array(value):
            raise BackendMismatchError(
                "got a CuPy array for a graph on the numpy backend; graphengine makes no silent "
                "device-to-host copies. Call value.get() yourself, or move the graph with g.to('cupy')."
            )
        return np.asarray(value, dtype=dtype)


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self):
        try:
            import cupy
        except Exception as exc:  # ImportError, or CUDA libraries missing
            raise BackendUnavailableError(
                f"the 'cupy' backend is not available here: importing cupy failed ({exc}). "
                + CUPY_INSTALL_HINT
            ) from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:
            raise BackendUnavailableError(
                f"the 'cupy' backend is not available here: CuPy found no usable GPU ({exc}). "
                + CUPY_INSTALL_HINT
            ) from exc
        if count < 1:
            raise BackendUnavailableError("the 'cupy' backend is not available here: no GPU found. " + CUPY_INSTALL_HINT)
        self.xp = cupy

    def to_numpy(self, value):
        return self.xp.asnumpy(value)


def _is_cupy_array(value) -> bool:
    return type(value).__module__.startswith("cupy")


_FACTORIES = {"numpy": NumpyBackend, "cupy": CupyBackend}
_INSTANCES: dict = {}


def get_backend(name) -> Backend:
    """The backend called ``name`` ('numpy' or 'cupy'), or a clear error saying why not."""
    if isinstance(name, Backend):
        return name
    if name not in _FACTORIES:
        raise UnknownNameError(
            f"unknown backend {name!r}; available: {', '.join(sorted(_FACTORIES))}." + did_you_mean(str(name), _FACTORIES)
        )
    backend = _INSTANCES.get(name)
    if backend is None:
        backend = _INSTANCES[name] = _FACTORIES[name]()
    return backend


def cupy_available() -> bool:
    """True when the cupy backend can be used (CuPy imports and sees a GPU)."""
    try:
        get_backend("cupy")
    except BackendUnavailableError:
        return False
    return True


def backend_of(value) -> str:
    return "cupy" if _is_cupy_array(value) else "numpy"
