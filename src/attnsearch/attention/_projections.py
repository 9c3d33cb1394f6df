"""The layers' projections ``x @ W + b`` and the checks around a layer call.

The projections run the ``linear`` kernel family (``_linear.pyx``): single-
threaded SciPy-BLAS calls on a fixed grid of tiles spread over the OpenMP
threads, bitwise identical for every thread count. The caller holds
``blas_limited_to_one_thread()`` (:func:`blas_limit`): NumPy's own threaded
matmul would leave its BLAS workers spinning for ~0.1 s, which halves the
speed of the attention kernel that runs right after it on the same cores.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

from .._dispatch import kernels
from .._threading import blas_limited_to_one_thread
from .._validation import finite_as
from ._typing import Array
from .attention import _all_finite

if TYPE_CHECKING:
    from . import _linear as _linear_kernels
else:
    _linear_kernels = kernels("linear")

__all__ = ["blas_limit", "check_input", "finite_output", "project"]


def project(x: Array, w: Array, b: Array | None, n_threads: int) -> Array:
    """``x @ w + b`` over the last axis (see the module docstring)."""
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"internal: input of width {x.shape[-1]} for a projection of "
            f"{w.shape[0]} inputs"
        )
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    w = np.ascontiguousarray(w)  # no copy: layer weights are stored C-contiguous
    out = np.empty((rows.shape[0], w.shape[1]), dtype=w.dtype)
    _linear_kernels.linear_forward(rows, w, b, out, n_threads)
    return out.reshape(x.shape[:-1] + (w.shape[1],))


def blas_limit(*n_rows: int) -> contextlib.AbstractContextManager[None]:
    """``blas_limited_to_one_thread()`` when a projection of this many rows runs a
    BLAS gemm; a no-op for decode-sized inputs, which never call BLAS (their
    projections stream the weights in our own kernel): entering and leaving the
    limit costs ~20 µs and, on leaving, wakes OpenBLAS's worker threads."""
    if max(n_rows) > _linear_kernels.LINEAR_GEMV_MAX_ROWS:
        return blas_limited_to_one_thread()
    return contextlib.nullcontext()


def check_input(x: object, name: str, d_features: int, dtype: np.dtype) -> Array:
    """``x`` as an array of the layer dtype with last axis ``d_features``."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., n, {d_features}), got {arr.shape}"
        )
    if arr.shape[-1] != d_features:
        raise ValueError(
            f"{name} has {arr.shape[-1]} features on its last axis, expected "
            f"{d_features}"
        )
    return finite_as(arr, dtype, name)


def finite_output(out: Array, layer: str) -> Array:
    """``out``, after checking the promise that finite inputs and weights give a
    finite output (a float32 layer fed inputs near 1e20 overflows in its
    projections or scores): raise rather than return inf/NaN silently."""
    if not _all_finite(out):
        dtype = out.dtype.name
        raise ValueError(
            f"{layer} overflows {dtype} on finite inputs: the output is not finite "
            f"(projections or attention scores beyond {np.finfo(out.dtype).max:.3g}); "
            "rescale the inputs or the weights"
            + ("" if out.dtype == np.float64 else ", or use dtype=np.float64")
        )
    return out
