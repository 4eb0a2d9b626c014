"""Array backends: NumPy (always there) and CuPy (optional, for NVIDIA GPUs).

A backend hands ops its array module ``xp``; moving arrays between backends happens
only where the user asks for it (``Graph.to``, feeding host arrays to a GPU graph).

Code that must read a device array on the host (to print it, to compare it with NumPy,
to turn it into a Python number) converts it explicitly with :func:`asnumpy` (or a
backend's ``to_numpy``); ``np.asarray`` on a CuPy array raises, by CuPy's design, and
graphengine never relies on it.
"""

from __future__ import annotations

import numpy as np

from .errors import BackendMismatchError, BackendUnavailableError, UnknownNameError, did_you_mean

CUPY_INSTALL_HINT = (
    "Install CuPy for your CUDA version, for example `pip install 'graphengine-nn[cupy]'` "
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
        """``value`` as a NumPy array on the host: an explicit copy for a device array."""
        return asnumpy(value)

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


def asnumpy(value, xp=None):
    """``value`` as a NumPy array on the host, copying explicitly from a device.

    A CuPy array (or any device array with ``.get()``) is copied with ``.get()``; with
    ``xp`` given, an array of that module is converted with ``xp.asnumpy`` where the module
    has one (CuPy does); host values (NumPy arrays and scalars, Python numbers and lists)
    go through ``np.asarray``. Use it wherever a value must be printed, compared with
    NumPy or turned into a number on the host; it is a device-to-host copy, so keep it out
    of hot loops.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if xp is not None and xp is not np and hasattr(xp, "asnumpy"):
        ndarray = getattr(xp, "ndarray", None)
        if isinstance(ndarray, type) and isinstance(value, ndarray):
            return np.asarray(xp.asnumpy(value))
    if hasattr(value, "shape") and hasattr(value, "dtype") and callable(getattr(value, "get", None)):
        return np.asarray(value.get())  # CuPy arrays, and device arrays that follow CuPy's .get()
    return np.asarray(value)


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


def xp_name(xp) -> str:
    """A readable name of an array module, for messages: ``'numpy'``, ``'cupy'``, ..."""
    return getattr(xp, "__name__", None) or type(xp).__name__


def backend_of(value) -> str:
    return "cupy" if _is_cupy_array(value) else "numpy"
