"""Scratch memory of the attention kernels, kept between calls.

Each kernel call needs a few MiB of per-thread buffers. Allocating them anew
costs a fresh allocation and its page faults on every call (a decode step takes
~1 ms, so that is visible); a buffer is therefore kept per calling Python thread
(two threads call the kernels concurrently without the GIL, so they must not
share one) and per kernel, up to :data:`CACHE_LIMIT` bytes. NumPy owns the
memory, so running out of it is a ``MemoryError`` raised before any kernel runs.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

__all__ = ["CACHE_LIMIT", "release_scratch", "scratch_buffer"]

#: Buffers larger than this are not kept after the call.
CACHE_LIMIT = 64 * 1024 * 1024

_cache = threading.local()


def scratch_buffer(nbytes: int, alignment: int, owner: str) -> npt.NDArray[np.uint8]:
    """A uint8 array of at least ``nbytes`` whose data is ``alignment``-aligned,
    reused by the next call of ``owner`` (a kernel's name) on this thread."""
    buffers: dict[str, npt.NDArray[np.uint8] | None] | None
    buffers = getattr(_cache, "buffers", None)
    if buffers is None:
        buffers = _cache.buffers = {}
    buffer = buffers.get(owner)
    if buffer is None or buffer.shape[0] < nbytes:
        raw = np.empty(nbytes + alignment, dtype=np.uint8)
        start = -raw.ctypes.data % alignment
        buffer = raw[start : start + nbytes]
        buffers[owner] = buffer if nbytes <= CACHE_LIMIT else None
    return buffer


def release_scratch() -> None:
    """Drop this thread's cached buffers of every kernel (benchmarks measure cold
    calls)."""
    _cache.buffers = {}
