"""Fused CuPy kernels of the built-in plugins: where a rule written with NumPy-style calls
launches many small kernels per step, its CuPy form is one ``cupy.ElementwiseKernel``.

The NumPy formulas stay the definition; each fused form is checked against them on a GPU
by the conformance kits' ``cupy`` checks (``check_op``, ``check_optimizer``).
"""

from __future__ import annotations

_KERNELS: dict = {}


def is_cupy(xp) -> bool:
    """Whether ``xp`` is CuPy (not NumPy, nor a test's stand-in array module)."""
    return getattr(xp, "__name__", "") == "cupy"


def elementwise(name: str, in_params: str, out_params: str, body: str):
    """The ``cupy.ElementwiseKernel`` ``name``, made on first use (CuPy compiles it when first
    called and caches the binary on disk)."""
    kernel = _KERNELS.get(name)
    if kernel is None:
        import cupy

        kernel = _KERNELS[name] = cupy.ElementwiseKernel(in_params, out_params, body, f"graphengine_{name}")
    return kernel
