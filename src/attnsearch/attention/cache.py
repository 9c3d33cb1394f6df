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

Compressed caches (``dtype=`` bfloat16, float16 or int8 with one float32 scale
per 32 elements of a row) quantise each row once, when it is appended, and
:meth:`KVCache.attend` reads them as stored: a decode step reads 1/2 or about
1/4 of the bytes of a float32 cache (see ``_kv_formats`` for the error).
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
from . import _kv_formats
from ._typing import Array

__all__ = ["KVCache"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _read_only_alias(buffer: Array) -> Array:
    """An array over ``buffer``'s memory whose base is a read-only memoryview:
    neither it nor any view of it can be made writeable."""
    if buffer.dtype.name == "bfloat16":  # no buffer format: through its bits
        bits = np.asarray(memoryview(cast(Any, buffer.view(np.uint16))).toreadonly())
        return bits.view(buffer.dtype)
    return np.asarray(memoryview(cast(Any, buffer)).toreadonly())


def _check_quant_block(value: object) -> int | None:
    if value is None:
        return None
    return _positive_int(value, "quant_block")


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
    dtype : {np.float32, np.float64, "bfloat16", np.float16, np.int8}
        What the cache stores. float32/float64 must match the layer that
        writes it and store exactly what is appended. bfloat16
        (``ml_dtypes.bfloat16`` or the string ``"bfloat16"``; needs the
        optional ``ml_dtypes``), float16 and int8 caches take rows of any
        float dtype and round (quantise) them once, when they are appended;
        :meth:`attend` reads them as stored (1/2 and about 1/4 of the bytes
        per decode step).
    quant_block : int or None, default 32
        int8 only: elements of a row that share one float32 scale (``None``:
        one scale per row). Each element is within ``max|x| / 254`` of its
        value, ``max`` over its block.
    ring : bool, default False
        Keep only the last ``capacity`` positions (sliding-window models). It
        costs ``2 * capacity`` positions of memory so that the kept positions
        stay one contiguous view.

    Attributes
    ----------
    keys, values : ndarray, shape (batch, n_kv_heads, length, d)
        Read-only views of the filled part, oldest position first, as stored
        (int8 caches: the quantised rows; see :attr:`key_scales` and
        :meth:`dequantized`). They are
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
        quant_block: int | None = _kv_formats.DEFAULT_QUANT_BLOCK,
    ) -> None:
        self.batch = _positive_int(batch, "batch")
        self.n_kv_heads = _positive_int(n_kv_heads, "n_kv_heads")
        self.capacity = _positive_int(capacity, "capacity")
        self.d_head = _positive_int(d_head, "d_head")
        self.d_v = self.d_head if d_v is None else _positive_int(d_v, "d_v")
        dtype = _kv_formats.resolve_dtype(dtype)
        self.dtype: np.dtype = dtype
        self.quant_block = _check_quant_block(quant_block)
        self.ring = check_bool(ring, "ring")
        self._k_format = _kv_formats.CacheFormat(dtype, self.d_head, self.quant_block)
        self._v_format = _kv_formats.CacheFormat(dtype, self.d_v, self.quant_block)
        slots = 2 * self.capacity if self.ring else self.capacity
        shape = (self.batch, self.n_kv_heads, slots)
        # np.zeros: untouched pages cost no memory until they are written.
        self._k = np.zeros(shape + (self.d_head,), dtype)
        self._v = np.zeros(shape + (self.d_v,), dtype)
        # int8: one float32 scale per quant_block elements of a row.
        self._ks: Array | None = None
        self._vs: Array | None = None
        if self._k_format.quantized:
            self._ks = np.zeros(shape + (self._k_format.n_groups,), np.float32)
            self._vs = np.zeros(shape + (self._v_format.n_groups,), np.float32)
        # What keys/values slice: arrays over a read-only memoryview of the
        # buffers, so that no view handed out can be made writeable again.
        self._k_read = _read_only_alias(self._k)
        self._v_read = _read_only_alias(self._v)
        self._ks_read = None if self._ks is None else _read_only_alias(self._ks)
        self._vs_read = None if self._vs is None else _read_only_alias(self._vs)
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
        """Bytes of the preallocated buffers (int8 scales included)."""
        scales = (
            0
            if self._ks is None or self._vs is None
            else (self._ks.nbytes + self._vs.nbytes)
        )
        return self._k.nbytes + self._v.nbytes + scales

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

    @property
    def key_scales(self) -> Array | None:
        """int8 caches: read-only ``(batch, n_kv_heads, length, n_groups)`` float32
        scales of :attr:`keys` (row ``j``'s element ``c`` is ``keys[..., j, c] *
        key_scales[..., j, c // quant_block]``); None otherwise."""
        return None if self._ks_read is None else self._view(self._ks_read)

    @property
    def value_scales(self) -> Array | None:
        """int8 caches: the scales of :attr:`values` (see :attr:`key_scales`)."""
        return None if self._vs_read is None else self._view(self._vs_read)

    def dequantized(self, dtype: npt.DTypeLike = np.float64) -> tuple[Array, Array]:
        """Copies of the held keys and values in ``dtype`` (float64: exact for
        every cache dtype), as :meth:`attend` reads them."""
        k = _kv_formats.dequantize(
            self.keys, self.key_scales, self._k_format.group, dtype
        )
        v = _kv_formats.dequantize(
            self.values, self.value_scales, self._v_format.group, dtype
        )
        return k, v

    def attend(
        self,
        q: npt.ArrayLike,
        *,
        mask: npt.ArrayLike | None = None,
        causal: bool = True,
        scale: float | None = None,
        window: Any = None,
        alibi_slopes: npt.ArrayLike | None = None,
        num_threads: int | None = None,
        check_finite: bool = True,
        backend: str = "auto",
        quantize_query: bool = True,
    ) -> Array:
        """Attention of new queries to the held keys and values (a decode step).

        Reads the cache as stored (bfloat16, float16 and int8 rows are widened
        block by block inside the decode kernel; no float32 copy of the cache
        is made).

        Parameters
        ----------
        q : ndarray, shape (batch, n_heads, n_q, d_head)
            float32, float64, bfloat16 or float16; ``n_heads`` a multiple of
            ``n_kv_heads`` (grouped-query heads share a key/value head). The
            queries are the last ``n_q`` positions of the cache (append their
            keys and values first).
        mask, scale, window, alibi_slopes, num_threads
            As for :func:`~attnsearch.attention.scaled_dot_product_attention`
            (``mask`` broadcasts to ``(batch, n_heads, n_q, length)``).
        causal : bool, default True
            Query ``i`` sees positions up to its own (bottom-right aligned).
        check_finite : bool, default True
            Refuse NaN/inf queries, and scores or outputs that overflow (the
            stored rows were checked when they were appended; the kernel flags
            an overflow while it reads them).
        backend : {"auto", "reference"}
            ``"reference"``: the NumPy reference on the dequantised rows
            (float64).
        quantize_query : bool, default True
            int8 caches on CPUs with AVX512-VNNI (the decode kernel's
            ``avx512_vnni`` variant), float32 calls, ``d_head`` 64, 128, 192
            or 256, and 1-2 or 5 or more query rows per key/value head
            (where it measured faster): the scores quantise each query row
            (times the softmax scale) as the cache quantises its keys (one
            scale per 32 elements, ``rint(x / scale)``) and compute the dot
            products in integers, exactly. Each score then carries the
            query's rounding too, at most ``sum over groups g of max|q_g| /
            254 * sum |k_g|`` (k as stored): about as much again as the keys'
            own rounding (one N(0, 1) step: relative RMS error 9.7e-3 instead
            of 8.0e-3). From 5 rows the product with the values likewise
            rounds each probability times its value scale to int16 (per row,
            value group and block of 128 keys, the step ``max / 32767``),
            which moves an output element by at most ``max / 65534 * sum
            |v|`` per block (v as stored; about 1e-5 relative, a tenth of the
            values' own rounding). ``False`` keeps the float32 kernels (the
            results every other CPU computes); ignored for other caches.

        Returns
        -------
        ndarray, shape (batch, n_heads, n_q, d_v), dtype of ``q``
            Computed in float64 when ``q`` or the cache is float64, else in
            float32 (float32 softmax statistics and accumulation).
        """
        from . import _kv_attend

        with self._lock:
            return _kv_attend.attend_contiguous(
                self,
                q,
                mask=mask,
                causal=causal,
                scale=scale,
                window=window,
                alibi_slopes=alibi_slopes,
                num_threads=num_threads,
                check_finite=check_finite,
                backend=backend,
                quantize_query=quantize_query,
            )

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
            buffers = [
                b for b in (self._k, self._v, self._ks, self._vs) if b is not None
            ]
            old = [b[:, :, slots] for b in buffers]  # copies
            try:
                yield
            except BaseException:
                for offset in copies:
                    for buffer, saved in zip(buffers, old, strict=True):
                        buffer[:, :, slots + offset] = saved
                self._position, self._key_bound = position, key_bound
                raise

    def _check(
        self, array: npt.ArrayLike, name: str, width: int
    ) -> tuple[Array, Array | None, float]:
        """``array`` checked and encoded for the cache (rows as stored, int8
        scales), and the largest magnitude stored."""
        arr = np.asarray(array)
        fmt = self._k_format if name == "k" else self._v_format
        if fmt.exact_input and arr.dtype != self.dtype:
            raise TypeError(
                f"{name} has dtype {arr.dtype} but the cache holds {self.dtype}; "
                f"convert it with .astype(np.{self.dtype.name})"
            )
        if not fmt.exact_input and not _is_float(arr.dtype):
            raise TypeError(
                f"{name} has dtype {arr.dtype}; a {self.dtype.name} cache takes "
                "float16/bfloat16/float32/float64 rows"
            )
        expected = (self.batch, self.n_kv_heads, "n_new", width)
        if arr.ndim != 4 or arr.shape[:2] != expected[:2] or arr.shape[3] != width:
            raise ValueError(
                f"{name} must have shape (batch={self.batch}, "
                f"n_kv_heads={self.n_kv_heads}, n_new, {width}), got {arr.shape}"
            )
        return _encode_checked(arr, fmt, name)

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
        kv = np.asarray(k), np.asarray(v)
        if kv[0].ndim == 4 and kv[1].ndim == 4 and kv[0].shape[2] != kv[1].shape[2]:
            raise ValueError(
                f"k has {kv[0].shape[2]} new positions but v has {kv[1].shape[2]}"
            )
        k_rows, k_scales, k_top = self._check(kv[0], "k", self.d_head)
        v_rows, v_scales, _ = self._check(kv[1], "v", self.d_v)
        n_new = k_rows.shape[2]
        if n_new == 0:
            return
        with self._lock:
            self._store((k_rows, v_rows, k_scales, v_scales), n_new)
            self._key_bound = max(self._key_bound, k_top)

    def _store(self, rows: tuple[Array | None, ...], n_new: int) -> None:
        """Write (k, v, k_scales, v_scales) rows (scales: None unless int8)."""
        start = self._position
        pairs = [
            (buffer, new)
            for buffer, new in zip((self._k, self._v, self._ks, self._vs), rows)
            if buffer is not None and new is not None
        ]
        if not self.ring:
            if start + n_new > self.capacity:
                raise ValueError(
                    f"KVCache overflow: it holds {start} of {self.capacity} "
                    f"positions and cannot take {n_new} more; create it with a "
                    "larger capacity, reset() it, or use ring=True with a "
                    "sliding-window layer"
                )
            for buffer, new in pairs:
                buffer[:, :, start : start + n_new] = new
        else:
            kept = min(n_new, self.capacity)  # older ones would be overwritten
            first = start + n_new - kept
            slots = (first + np.arange(kept)) % self.capacity
            for offset in (0, self.capacity):
                for buffer, new in pairs:
                    buffer[:, :, slots + offset] = new[:, :, n_new - kept :]
        self._position = start + n_new


def _is_float(dtype: np.dtype) -> bool:
    return (dtype.kind == "f" and dtype.itemsize <= 8) or dtype.name == "bfloat16"


def _encode_checked(
    arr: Array, fmt: _kv_formats.CacheFormat, name: str
) -> tuple[Array, Array | None, float]:
    """Rows as ``fmt`` stores them, their int8 scales, their largest magnitude;
    refuses NaN/inf, and values past the range of a float16 cache."""
    if fmt.exact_input:
        top = float(np.max(np.abs(arr), initial=0.0))
        if not math.isfinite(top):
            raise ValueError(f"{name} contains NaN or infinity")
        return arr, None, top
    wide = arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(wide), initial=0.0))
    if not math.isfinite(top):
        raise ValueError(f"{name} contains NaN or infinity")
    stored, scales = fmt.encode(wide)
    top_stored = _kv_formats.max_abs(stored, scales)
    if not math.isfinite(top_stored):
        limit = float(np.finfo(np.float16).max) if fmt.dtype == np.float16 else None
        raise ValueError(
            f"{name} has values up to {top:.3g}, past the range of the "
            f"{fmt.dtype.name} cache"
            + (f" (it holds up to {limit:g}); rescale them" if limit else "")
        )
    return stored, scales, max(top, top_stored)


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
    if cache.dtype != dtype and not _kv_formats.is_compressed(cache.dtype):
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
