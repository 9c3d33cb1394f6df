"""What the attention kernels read: operands, the visible-key rule, the sizes.

The Python layer validates the user's arrays and describes one call with three
small records, which every kernel entry point reads once, with the GIL held,
into its C structs (``_common.pxd``):

* :class:`Operand` — an array read or written per batch item: item ``b``'s
  element ``(i, c)`` is at ``array.flat[offsets[b] + i * row_stride + c *
  col_stride]`` (elements). Broadcast batch axes, grouped-query heads and
  head-split views of a fused projection are read in place this way.
* :class:`Visibility` — which keys a query sees (causal, sliding windows).
* :class:`AttentionShape` — sizes, scale, visibility and ALiBi of the call.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_BLOCK_K",
    "AttentionShape",
    "Operand",
    "Visibility",
    "batch_offsets",
    "element_strides",
    "row_stride",
]

#: Default keys per inner block of the forward and backward kernels.
DEFAULT_BLOCK_K = 512


class Visibility(NamedTuple):
    """Query ``i`` sees key ``j`` when ``i + lo_offset <= j`` (if ``has_lo``: a
    window's left side) and ``j <= i + hi_offset`` (if ``has_hi``: causal
    masking or a window's right side)."""

    has_lo: bool
    lo_offset: int
    has_hi: bool
    hi_offset: int

    @classmethod
    def of(
        cls,
        n_q: int,
        n_k: int,
        causal: bool,
        window: tuple[int | None, int | None] | None,
    ) -> Visibility:
        """The rule of ``causal`` and a normalised ``window`` (``check_window``):
        queries are aligned bottom-right, query ``i`` at key position ``i + n_k -
        n_q``."""
        offset = n_k - n_q
        left, right = window if window is not None else (None, None)
        # A side longer than both sequences hides nothing: unbounded.
        if left is not None and left >= n_q + n_k:
            left = None
        if right is not None and right >= n_q + n_k:
            right = None
        has_hi = causal or right is not None
        hi_offset = offset + (0 if causal or right is None else right)
        has_lo = left is not None
        lo_offset = offset - left if left is not None else 0
        return cls(has_lo, lo_offset, has_hi, hi_offset)


class Operand(NamedTuple):
    """An array the kernels read or write per batch item (see the module docstring)."""

    array: np.ndarray
    offsets: npt.NDArray[np.intp]
    row_stride: int
    col_stride: int = 1

    @classmethod
    def of(
        cls, arr: np.ndarray, batch_shape: tuple[int, ...], group: int = 1
    ) -> Operand:
        """``arr`` (its last two axes the matrix, the others broadcasting to
        ``batch_shape``, the head axis shared by ``group`` query heads) as an
        operand; a broadcast row or column axis gets stride 0."""
        strides = element_strides(arr)
        n_batch_axes = arr.ndim - 2
        return cls(
            arr,
            # batch_offsets, with the strides computed once
            _offsets_for(
                tuple(batch_shape),
                arr.shape[:n_batch_axes],
                strides[:n_batch_axes],
                group,
            ),
            strides[-2] if arr.shape[-2] > 1 else 0,
            strides[-1] if arr.shape[-1] > 1 else 0,
        )


class AttentionShape(NamedTuple):
    """The sizes and score rules of one call, shared by every kernel."""

    n_batch: int
    n_q: int
    n_k: int
    d_k: int
    d_v: int
    scale: float
    visibility: Visibility
    slopes: npt.NDArray[np.float64] | None = None  # ALiBi slope per batch item
    alibi_offset: int = 0  # query i sits at key position i + alibi_offset


def element_strides(arr: np.ndarray) -> tuple[int, ...]:
    """Strides of ``arr`` in elements (the kernels' unit)."""
    size = arr.itemsize  # (a list, not a generator: called ~12 times a decode step)
    return tuple([s // size for s in arr.strides])


def row_stride(arr: np.ndarray) -> int:
    """Elements between consecutive rows of the matrices of ``arr`` (0: one row)."""
    return arr.strides[-2] // arr.dtype.itemsize if arr.shape[-2] > 1 else 0


def batch_offsets(
    batch_shape: tuple[int, ...], arr: np.ndarray, n_batch_axes: int, group: int = 1
) -> npt.NDArray[np.intp]:
    """Element offset of each batch item's matrix in ``arr`` (flattened, C order)."""
    return _offsets_for(
        tuple(batch_shape),
        tuple(arr.shape[:n_batch_axes]),
        element_strides(arr)[:n_batch_axes],
        group,
    )


@functools.lru_cache(maxsize=512)
def _offsets_for(
    batch_shape: tuple[int, ...],
    shape: tuple[int, ...],
    strides: tuple[int, ...],
    group: int,
) -> npt.NDArray[np.intp]:
    """Cached body of :func:`batch_offsets` (a decode step repeats the same
    shapes thousands of times); the result is read-only."""
    offsets = np.zeros(batch_shape, dtype=np.intp)
    n_batch_axes = len(shape)
    lead = len(batch_shape) - n_batch_axes
    for axis, (size, stride) in enumerate(zip(shape, strides, strict=True)):
        if size == 1:
            continue
        full_axis = lead + axis
        index = np.arange(batch_shape[full_axis], dtype=np.intp)
        if group > 1 and axis == n_batch_axes - 1:
            index //= group
        view_shape = [1] * len(batch_shape)
        view_shape[full_axis] = -1
        offsets = offsets + (index * stride).reshape(view_shape)
    offsets = np.ascontiguousarray(offsets.reshape(-1), dtype=np.intp)
    offsets.flags.writeable = False
    return offsets
