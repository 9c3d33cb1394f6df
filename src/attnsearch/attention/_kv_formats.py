"""Storage formats of the KV caches: float32/float64, bfloat16/float16, int8.

One place for what :class:`~attnsearch.attention.KVCache` and
:class:`~attnsearch.attention.PagedKVCache` store and how it is read back:

* ``float32``/``float64``: stored as given;
* ``bfloat16``/``float16``: rounded once to nearest even when appended
  (``ml_dtypes`` is imported only for bfloat16);
* ``int8``: symmetric quantisation, one float32 scale per ``quant_block``
  consecutive elements of a row (``None``: one per row): ``scale = max|x| /
  127``, ``q = round(x / scale)``, ``x ≈ q * scale``; the rounding error of an
  element is at most ``scale / 2 = max|x of its block| / 254``.

The decode kernel widens bfloat16/float16/int8 rows block by block
(``csrc/attnsearch_kv_quant.h``); :func:`dequantize` is its NumPy reference.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _precision
from ._typing import Array

__all__ = ["CacheFormat", "dequantize", "is_compressed", "resolve_dtype"]

#: Elements per int8 scale along a row by default (llama.cpp's q8_0 block; the
#: measurements behind the choice are in ARCHITECTURE.md, "Compressed caches").
DEFAULT_QUANT_BLOCK = 32


def resolve_dtype(dtype: npt.DTypeLike | str) -> np.dtype:
    """The cache dtype for ``dtype`` (``"bfloat16"`` imports ``ml_dtypes``)."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return _precision.bfloat16()
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown cache dtype {dtype!r}") from exc
    if resolved.name not in ("float32", "float64", "float16", "bfloat16", "int8"):
        raise TypeError(
            "cache dtype must be float32, float64, bfloat16, float16 or int8, got "
            f"{resolved}"
        )
    return resolved


def is_compressed(dtype: np.dtype) -> bool:
    """Whether a cache of ``dtype`` stores rows narrower than the compute dtype
    (bfloat16, float16, int8): read through ``KVCache.attend``."""
    return np.dtype(dtype).name in ("bfloat16", "float16", "int8")


class CacheFormat:
    """How rows of width ``d`` are stored in ``dtype`` (``group``: int8 only)."""

    def __init__(self, dtype: np.dtype, d: int, quant_block: int | None) -> None:
        self.dtype = dtype
        self.d = d
        self.quantized = dtype == np.int8
        self.group = (
            (d if quant_block is None else quant_block) if self.quantized else 1
        )
        self.group = min(self.group, d)
        self.n_groups = -(-d // self.group) if self.quantized else 0

    @property
    def exact_input(self) -> bool:
        """float32/float64 caches store exactly what they are given."""
        return self.dtype in (np.float32, np.float64)

    def encode(self, x: Array) -> tuple[Array, Array | None]:
        """Rows ``x`` (``(..., d)``, any float dtype) as stored, and their scales."""
        if self.quantized:
            return quantize_int8(x, self.group)
        if x.dtype == self.dtype:
            return x, None
        with np.errstate(over="ignore"):  # past float16's range: inf, refused
            return x.astype(self.dtype), None


def quantize_int8(x: Array, group: int) -> tuple[Array, Array]:
    """Symmetric int8 quantisation of ``x`` (``(..., d)``), one float32 scale per
    ``group`` elements (the last group of a row may be shorter)."""
    x = np.asarray(x, dtype=np.float32)
    d = x.shape[-1]
    n_groups = -(-d // group)
    padded = x
    if n_groups * group != d:
        padded = np.zeros(x.shape[:-1] + (n_groups * group,), np.float32)
        padded[..., :d] = x
    blocks = padded.reshape(x.shape[:-1] + (n_groups, group))
    scales = (np.max(np.abs(blocks), axis=-1) / np.float32(127.0)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    q = np.rint(blocks / safe[..., None])
    q = np.clip(q, -127, 127).astype(np.int8)
    return q.reshape(x.shape[:-1] + (n_groups * group,))[..., :d], scales


def dequantize(
    stored: Array, scales: Array | None, group: int, dtype: npt.DTypeLike
) -> Array:
    """Stored rows back in ``dtype`` (the reference of the kernel's widening;
    float64 is exact for every format)."""
    if scales is None:
        return stored.astype(dtype)
    d = stored.shape[-1]
    factors = np.repeat(scales.astype(dtype), group, axis=-1)[..., :d]
    return stored.astype(dtype) * factors


def max_abs(stored: Array, scales: Array | None) -> float:
    """Largest magnitude of stored rows (inf when one is not finite)."""
    if stored.size == 0:
        return 0.0
    if scales is not None:
        return float(np.max(scales, initial=0.0)) * 127.0
    if _precision.is_reduced(stored.dtype):
        return _precision.max_abs_reduced(stored)
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(stored)))
    return top if np.isfinite(top) else float("inf")
