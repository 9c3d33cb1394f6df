"""A preallocated key/value cache for incremental decoding (generation).

A layer that generates token by token attends each new token to the keys and
values of every earlier one. :class:`KVCache` keeps them in preallocated
``(batch, kv_heads, capacity, d)`` arrays: appending copies only the new rows,
and :attr:`KVCache.keys` / :attr:`KVCache.values` are views of the filled part,
laid out as the attention kernels read them (no copy per step).

With ``ring=True`` the cache keeps only the last ``capacity`` positions, for
sliding-window models: the buffers are twice the capacity and every position
is written at slot ``p % capacity`` and at ``p % capacity + capacity``, so the
last ``capacity`` positions are always one contiguous, in-order view (no copy,
no reordering of keys), at the price of twice the memory of a plain ring.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .._validation import check_bool
from ._typing import Array

__all__ = ["KVCache"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _read_only_alias(buffer: Array) -> Array:
    """An array over ``buffer``'s memory whose base is a read-only memoryview:
    neither it nor any view of it can be made writeable."""
    return np.asarray(memoryview(cast(Any, buffer)).toreadonly())


class KVCache:
    """Keys and values of the tokens seen so far, preallocated.

    Parameters
    ----------
    batch : int
        Sequences decoded together.
    n_kv_heads : int
        Key/value heads (``n_kv_heads`` of the layer; grouped-query layers
        have fewer than query heads).
    capacity : int
        Positions the cache holds. A plain cache refuses to grow past it; a
        ring cache keeps the last ``capacity`` positions.
    d_head : int
        Width of a key head.
    d_v : int, optional
        Width of a value head; defaults to ``d_head``.
    dtype : {np.float32, np.float64}
        Must match the layer that writes it.
    ring : bool, default False
        Keep only the last ``capacity`` positions (sliding-window models). It
        costs ``2 * capacity`` positions of memory so that the kept positions
        stay one contiguous view.

    Attributes
    ----------
    keys, values : ndarray, shape (batch, n_kv_heads, length, d)
        Read-only views of the filled part, oldest position first. They are
        read-only for good: their base is a read-only buffer, so
        ``flags.writeable = True`` is refused (write through :meth:`append`,
        which checks what it stores). A later append may overwrite what a
        ring cache's earlier view shows; copy a view to keep it.
    length : int
        Positions in ``keys``/``values`` (at most ``capacity``).
    position : int
        Positions appended since the last :meth:`reset`: the absolute position
        of the next token (a ring cache's view starts at ``position - length``).

    Notes
    -----
    **Threads.** :meth:`append`, :meth:`reset` and a layer's cached call each
    hold the cache's lock, so concurrent appends are never lost (four threads
    appending ``n`` positions each leave ``position == 4 n``); their order is
    the order in which the threads get the lock. Decoding several sequences in
    parallel wants one cache per sequence (or one batch).

    Examples
    --------
    >>> import numpy as np
    >>> cache = KVCache(batch=1, n_kv_heads=2, capacity=8, d_head=4)
    >>> k = np.ones((1, 2, 3, 4), np.float32)
    >>> cache.append(k, k)
    >>> cache.length, cache.keys.shape
    (3, (1, 2, 3, 4))
    """

    def __init__(
        self,
        batch: int,
        n_kv_heads: int,
        capacity: int,
        d_head: int,
        *,
        d_v: int | None = None,
        dtype: npt.DTypeLike = np.float32,
        ring: bool = False,
    ) -> None:
        self.batch = _positive_int(batch, "batch")
        self.n_kv_heads = _positive_int(n_kv_heads, "n_kv_heads")
        self.capacity = _positive_int(capacity, "capacity")
        self.d_head = _positive_int(d_head, "d_head")
        self.d_v = self.d_head if d_v is None else _positive_int(d_v, "d_v")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.dtype: np.dtype = dtype
        self.ring = check_bool(ring, "ring")
        slots = 2 * self.capacity if self.ring else self.capacity
        shape = (self.batch, self.n_kv_heads, slots)
        # np.zeros: untouched pages cost no memory until they are written.
        self._k = np.zeros(shape + (self.d_head,), dtype)
        self._v = np.zeros(shape + (self.d_v,), dtype)
        # What keys/values slice: arrays over a read-only memoryview of the
        # buffers, so that no view handed out can be made writeable again.
        self._k_read = _read_only_alias(self._k)
        self._v_read = _read_only_alias(self._v)
        self._position = 0
        # Largest |key| appended since the reset: the layer's score-range check
        # reads it instead of the whole cache (a ring's dropped keys may keep it
        # high, which only makes the check look at the row norms).
        self._key_bound = 0.0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"KVCache(batch={self.batch}, n_kv_heads={self.n_kv_heads}, "
            f"capacity={self.capacity}, d_head={self.d_head}, d_v={self.d_v}, "
            f"dtype={self.dtype.name}, ring={self.ring}, length={self.length})"
        )

    def __len__(self) -> int:
        return self.length

    @property
    def position(self) -> int:
        """Positions appended since the last reset."""
        return self._position

    @property
    def length(self) -> int:
        """Positions held (``min(position, capacity)``)."""
        return min(self._position, self.capacity)

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated buffers."""
        return self._k.nbytes + self._v.nbytes

    def _view(self, read_only_buffer: Array) -> Array:
        length = self.length
        start = (self._position - length) % self.capacity if self.ring else 0
        return read_only_buffer[:, :, start : start + length]

    @property
    def keys(self) -> Array:
        """Read-only view ``(batch, n_kv_heads, length, d_head)``, oldest first."""
        return self._view(self._k_read)

    @property
    def values(self) -> Array:
        """Read-only view ``(batch, n_kv_heads, length, d_v)``, oldest first."""
        return self._view(self._v_read)

    def reset(self) -> None:
        """Forget every position (the buffers are kept)."""
        with self._lock:
            self._position = 0
            self._key_bound = 0.0

    @contextmanager
    def _all_or_nothing(self, n_new: int) -> Iterator[None]:
        """Hold the lock; if the block raises (a layer's refused call, Ctrl-C),
        put back the position and the slots that up to ``n_new`` appends
        overwrote, so that the cache is as it was before the block."""
        with self._lock:
            position, key_bound = self._position, self._key_bound
            if self.ring:
                kept = min(n_new, self.capacity)
                slots = (position + np.arange(kept)) % self.capacity
                copies: tuple[int, ...] = (0, self.capacity)
            else:
                slots = np.arange(position, min(position + n_new, self.capacity))
                copies = (0,)
            k_old, v_old = self._k[:, :, slots], self._v[:, :, slots]  # copies
            try:
                yield
            except BaseException:
                for offset in copies:
                    self._k[:, :, slots + offset] = k_old
                    self._v[:, :, slots + offset] = v_old
                self._position, self._key_bound = position, key_bound
                raise

    def _check(
        self, array: npt.ArrayLike, name: str, width: int
    ) -> tuple[Array, float]:
        """``array`` checked for the cache, and its largest magnitude."""
        arr = np.asarray(array)
        if arr.dtype != self.dtype:
            raise TypeError(
                f"{name} has dtype {arr.dtype} but the cache holds {self.dtype}; "
                f"convert it with .astype(np.{self.dtype.name})"
            )
        expected = (self.batch, self.n_kv_heads, "n_new", width)
        if arr.ndim != 4 or arr.shape[:2] != expected[:2] or arr.shape[3] != width:
            raise ValueError(
                f"{name} must have shape (batch={self.batch}, "
                f"n_kv_heads={self.n_kv_heads}, n_new, {width}), got {arr.shape}"
            )
        top = float(np.max(np.abs(arr), initial=0.0))
        if not math.isfinite(top):
            raise ValueError(f"{name} contains NaN or infinity")
        return arr, top

    def append(self, k: npt.ArrayLike, v: npt.ArrayLike) -> None:
        """Copy new positions into the cache.

        Parameters
        ----------
        k : ndarray, shape (batch, n_kv_heads, n_new, d_head)
        v : ndarray, shape (batch, n_kv_heads, n_new, d_v)
            Of the cache's dtype; any strides (a head-split view of a
            projection is fine).

        Raises
        ------
        TypeError
            A dtype other than the cache's.
        ValueError
            Wrong shapes, different ``n_new`` in k and v, NaN/infinity, or
            (plain cache) more positions than the capacity left; the cache is
            unchanged.
        """
        k, k_top = self._check(k, "k", self.d_head)
        v, _ = self._check(v, "v", self.d_v)
        n_new = k.shape[2]
        if v.shape[2] != n_new:
            raise ValueError(f"k has {n_new} new positions but v has {v.shape[2]}")
        if n_new == 0:
            return
        with self._lock:
            self._store(k, v, n_new)
            self._key_bound = max(self._key_bound, k_top)

    def _store(self, k: Array, v: Array, n_new: int) -> None:
        start = self._position
        if not self.ring:
            if start + n_new > self.capacity:
                raise ValueError(
                    f"KVCache overflow: it holds {start} of {self.capacity} "
                    f"positions and cannot take {n_new} more; create it with a "
                    "larger capacity, reset() it, or use ring=True with a "
                    "sliding-window layer"
                )
            self._k[:, :, start : start + n_new] = k
            self._v[:, :, start : start + n_new] = v
        else:
            kept = min(n_new, self.capacity)  # older ones would be overwritten
            first = start + n_new - kept
            slots = (first + np.arange(kept)) % self.capacity
            for offset in (0, self.capacity):
                self._k[:, :, slots + offset] = k[:, :, n_new - kept :]
                self._v[:, :, slots + offset] = v[:, :, n_new - kept :]
        self._position = start + n_new


def check_cache_fits(
    cache: object, *, n_batch: int, n_kv_heads: int, d_head: int, dtype: np.dtype
) -> None:
    """Raise unless ``cache`` is a :class:`KVCache` a layer of these sizes can use."""
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
    expected = (n_batch, n_kv_heads, d_head, d_head)
    got = (cache.batch, cache.n_kv_heads, cache.d_head, cache.d_v)
    if got != expected:
        raise ValueError(
            "cache does not fit this layer and input: (batch, n_kv_heads, "
            f"d_head, d_v) = {got}, expected {expected} (use layer.new_cache)"
        )
    if cache.dtype != dtype:
        raise TypeError(f"cache holds {cache.dtype} but the layer computes in {dtype}")


def positions_per_append(cache: KVCache, n_new: int, window_left: int | None) -> int:
    """Positions one append may add so that every query still finds its window
    in ``cache`` (all ``n_new`` for a plain cache); ``window_left`` is how far
    back a query sees (None: unbounded). Raises when the cache cannot serve."""
    if not cache.ring:
        if cache.position + n_new > cache.capacity:
            raise ValueError(
                f"KVCache overflow: it holds {cache.position} of "
                f"{cache.capacity} positions and cannot take {n_new} more"
            )
        return n_new
    if window_left is None:
        if cache.position + n_new > cache.capacity:
            raise ValueError(
                "a ring KVCache drops old positions, which this layer (no "
                "window, or a window unbounded on the left) still attends to: "
                "give the layer window=... or use a plain cache"
            )
        return n_new
    piece = cache.capacity - window_left
    if piece < 1:
        raise ValueError(
            f"the ring KVCache holds {cache.capacity} positions but the window "
            f"reaches {window_left} positions back: it needs a capacity of at least "
            f"{window_left + 1}"
        )
    return piece
