"""16-bit floating-point operands: bfloat16 (``ml_dtypes.bfloat16``) and float16.

They are *storage* dtypes: the kernels widen them to float32 while packing (or,
for bfloat16 on CPUs with AVX512-BF16, multiply them on ``vdpbf16ps`` tiles),
keep the softmax statistics and every accumulation in float32/float64, and
round the output once to the input's dtype. ``ml_dtypes`` is never imported
here: a bfloat16 array can only exist if its creator imported it, so the dtype
is recognised by name.
"""

from __future__ import annotations

import functools

import numpy as np

from ._typing import Array

__all__ = [
    "REDUCED_NAMES",
    "bfloat16",
    "compute_dtype",
    "is_reduced",
    "kernel_view",
    "largest",
    "max_abs_reduced",
    "reduced_storage",
]

#: The 16-bit dtypes the attention functions and layers accept.
REDUCED_NAMES = ("bfloat16", "float16")

#: Largest finite bit pattern (sign cleared) of each dtype: infinity comes next.
_FINITE_BITS = {"bfloat16": 0x7F7F, "float16": 0x7BFF}


def bfloat16() -> np.dtype:
    """The bfloat16 dtype (imports the optional ``ml_dtypes``)."""
    try:
        import ml_dtypes
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "bfloat16 needs the optional package ml_dtypes: pip install "
            "'attnsearch[bfloat16]' (or pip install ml_dtypes)"
        ) from err
    return np.dtype(ml_dtypes.bfloat16)


def is_reduced(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is bfloat16 or float16."""
    try:
        return _is_reduced_cached(dtype)
    except TypeError:  # an unhashable dtype-like
        return np.dtype(dtype).name in REDUCED_NAMES


@functools.lru_cache(maxsize=64)
def _is_reduced_cached(dtype: np.dtype) -> bool:
    # Cached: numpy builds ``dtype.name`` in Python (~1.5 µs), and a decode
    # step asks ~10 times.
    return np.dtype(dtype).name in REDUCED_NAMES


def is_floating(dtype: np.dtype) -> bool:
    """Real floating dtypes the kernels take: float16/32/64 and bfloat16."""
    dtype = np.dtype(dtype)
    return (dtype.kind == "f" and dtype.itemsize <= 8) or dtype.name == "bfloat16"


def reduced_storage(*dtypes: np.dtype, names: tuple[str, ...] = ()) -> np.dtype | None:
    """The one 16-bit dtype of the operands, or None when none is 16-bit.

    Raises ``TypeError`` when a 16-bit dtype is mixed with another dtype: the
    result dtype would be a guess (and a silent float32 or float64 computation
    of a bfloat16 model is rarely what was meant).
    """
    dtypes = tuple(np.dtype(d) for d in dtypes)
    reduced = [d for d in dtypes if is_reduced(d)]
    if not reduced:
        return None
    if any(d != reduced[0] for d in dtypes):
        listed = ", ".join(
            f"{name} {d.name}" for name, d in zip(names or ("",) * len(dtypes), dtypes)
        )
        raise TypeError(
            f"mixed dtypes ({listed.strip()}): with bfloat16 or float16 every operand "
            "must have the same dtype; convert them with .astype(...)"
        )
    return reduced[0]


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the kernels compute in for operands of ``dtype``."""
    return np.dtype(np.float32) if is_reduced(dtype) else np.dtype(dtype)


def largest(dtype: np.dtype) -> float:
    """The largest finite value of a floating dtype, 16-bit ones included."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        return float(np.array(_FINITE_BITS["bfloat16"], np.uint16).view(dtype))
    return float(np.finfo(dtype).max)


def kernel_view(arr: Array) -> Array:
    """``arr`` as the kernels take it: bfloat16 as its uint16 bit pattern."""
    return arr.view(np.uint16) if _is_bfloat16(arr.dtype) else arr


@functools.lru_cache(maxsize=64)
def _is_bfloat16(dtype: np.dtype) -> bool:
    return dtype.name == "bfloat16"


def max_abs_reduced(arr: Array) -> float:
    """max |x| of a 16-bit array (inf when an element is inf or NaN), from the bit
    patterns: with the sign cleared they order like the magnitudes."""
    if arr.size == 0:
        return 0.0
    bits = int(np.max(np.bitwise_and(arr.view(np.uint16), 0x7FFF)))
    if bits > _FINITE_BITS[arr.dtype.name]:
        return float("inf")
    return float(np.array(bits, dtype=np.uint16).view(arr.dtype).astype(np.float32))
