"""A paged key/value cache: many sequences of different lengths in one pool.

A server decodes a batch of sequences that started at different times and end
at different times. A :class:`~attnsearch.attention.KVCache` gives every
sequence of a batch the same capacity (and a batch decode reads the padding);
:class:`PagedKVCache` keeps one pool of fixed-size *blocks* (``block_size``
positions of every key/value head) and, per sequence, a *block table*: the
pool blocks holding its positions ``[i * block_size, (i + 1) * block_size)``,
in order (vLLM's PagedAttention, Kwon et al. 2023). A sequence takes a block
when it needs one and gives all back when it ends; memory waste is below one
block per sequence.

:meth:`PagedKVCache.attend` runs one decode step of the whole batch: the
decode kernel reads each sequence's blocks in place (no gather, no padding),
splits long sequences into chunks across threads, and merges the chunks in a
fixed order, so the result does not depend on the thread count.

Pool layout: ``(n_blocks, n_kv_heads, block_size, d)`` in the cache dtype
(float32/float64, bfloat16/float16, or int8 with float32 scales of shape
``(n_blocks, n_kv_heads, block_size, n_groups)``).
"""

from __future__ import annotations

import contextlib
import numbers
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _decode_path, _kv_formats, _precision
from ._typing import Array
from .cache import _encode_checked, _is_float, _positive_int

__all__ = ["PagedKVCache"]


class PagedKVCache:
    """Keys and values of many sequences in one pool of fixed-size blocks.

    Parameters
    ----------
    n_blocks : int
        Blocks in the pool (its memory is allocated once, lazily by the OS).
    block_size : int
        Positions per block (a multiple of 16 suits the kernel; 64-256 keep
        the per-block work small against the reads).
    n_kv_heads, d_head : int
        Key/value heads and the width of a key head.
    d_v : int, optional
        Width of a value head; defaults to ``d_head``.
    dtype : {np.float32, np.float64, "bfloat16", np.float16, np.int8}
        Storage, as for :class:`~attnsearch.attention.KVCache`.
    quant_block : int or None, default 32
        int8 only: elements sharing one scale (``None``: one per row).

    Notes
    -----
    Appends are all-or-nothing: a refused append (bad shape, NaN, a pool
    without enough free blocks) changes nothing. Every method holds the
    cache's lock.

    Examples
    --------
    >>> import numpy as np
    >>> cache = PagedKVCache(n_blocks=64, block_size=16, n_kv_heads=2, d_head=8)
    >>> a, b = cache.add_sequence(), cache.add_sequence()
    >>> rng = np.random.default_rng(0)
    >>> k = rng.standard_normal((2, 5, 8)).astype(np.float32)
    >>> cache.append(a, k, k)                     # a prompt of 5 positions
    >>> cache.append(b, k[:, :3], k[:, :3])       # another of 3
    >>> step = rng.standard_normal((2, 2, 1, 8)).astype(np.float32)
    >>> cache.append([a, b], step, step)          # one token each
    >>> q = rng.standard_normal((2, 4, 1, 8)).astype(np.float32)  # 4 query heads
    >>> cache.attend(q, [a, b]).shape
    (2, 4, 1, 8)
    >>> cache.lengths([a, b])
    [6, 4]
    >>> cache.free_sequence(a)                    # its block goes back to the pool
    """

    def __init__(
        self,
        n_blocks: int,
        block_size: int,
        n_kv_heads: int,
        d_head: int,
        *,
        d_v: int | None = None,
        dtype: npt.DTypeLike = np.float32,
        quant_block: int | None = _kv_formats.DEFAULT_QUANT_BLOCK,
    ) -> None:
        self.n_blocks = _positive_int(n_blocks, "n_blocks")
        self.block_size = _positive_int(block_size, "block_size")
        self.n_kv_heads = _positive_int(n_kv_heads, "n_kv_heads")
        self.d_head = _positive_int(d_head, "d_head")
        self.d_v = self.d_head if d_v is None else _positive_int(d_v, "d_v")
        self.dtype: np.dtype = _kv_formats.resolve_dtype(dtype)
        self.quant_block = (
            None if quant_block is None else _positive_int(quant_block, "quant_block")
        )
        self._formats = {
            "k": _kv_formats.CacheFormat(self.dtype, self.d_head, self.quant_block),
            "v": _kv_formats.CacheFormat(self.dtype, self.d_v, self.quant_block),
        }
        shape = (self.n_blocks, self.n_kv_heads, self.block_size)
        self._pool: dict[str, Array] = {
            "k": np.zeros(shape + (self.d_head,), self.dtype),
            "v": np.zeros(shape + (self.d_v,), self.dtype),
        }
        self._scales: dict[str, Array | None] = {"k": None, "v": None}
        for name, fmt in self._formats.items():
            if fmt.quantized:
                self._scales[name] = np.zeros(shape + (fmt.n_groups,), np.float32)
        # Free blocks as a stack: the lowest ids first, freed ones reused first.
        self._free: list[int] = list(range(self.n_blocks - 1, -1, -1))
        self._tables: dict[int, list[int]] = {}
        self._lengths: dict[int, int] = {}
        self._next_id = 0
        self._key_bound = 0.0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"PagedKVCache(n_blocks={self.n_blocks}, block_size={self.block_size}, "
            f"n_kv_heads={self.n_kv_heads}, d_head={self.d_head}, d_v={self.d_v}, "
            f"dtype={self.dtype.name}, sequences={len(self._tables)}, "
            f"free_blocks={self.free_blocks})"
        )

    # -- bookkeeping -------------------------------------------------------------

    @property
    def free_blocks(self) -> int:
        """Blocks not held by any sequence."""
        return len(self._free)

    @property
    def sequences(self) -> list[int]:
        """Ids of the live sequences, oldest first."""
        return list(self._tables)

    @property
    def nbytes(self) -> int:
        """Bytes of the pool (int8 scales included)."""
        arrays = list(self._pool.values()) + [
            s for s in self._scales.values() if s is not None
        ]
        return sum(a.nbytes for a in arrays)

    def add_sequence(self) -> int:
        """Start a sequence (no block is taken until it is appended to); its id."""
        with self._lock:
            seq = self._next_id
            self._next_id += 1
            self._tables[seq] = []
            self._lengths[seq] = 0
            return seq

    def free_sequence(self, seq_id: int) -> None:
        """End a sequence: its blocks go back to the pool (their contents are
        overwritten by later appends); the id becomes unknown."""
        with self._lock:
            (seq,) = self._check_ids([seq_id])
            self._free.extend(reversed(self._tables.pop(seq)))
            del self._lengths[seq]

    def length(self, seq_id: int) -> int:
        """Positions held for one sequence."""
        with self._lock:
            (seq,) = self._check_ids([seq_id])
            return self._lengths[seq]

    def lengths(self, seq_ids: Iterable[int]) -> list[int]:
        """Positions held for each sequence of ``seq_ids``."""
        with self._lock:
            return [self._lengths[s] for s in self._check_ids(seq_ids)]

    def block_table(self, seq_id: int) -> tuple[int, ...]:
        """The pool blocks of one sequence, in position order."""
        with self._lock:
            (seq,) = self._check_ids([seq_id])
            return tuple(self._tables[seq])

    @contextlib.contextmanager
    def _all_or_nothing(self, seq_ids: Any) -> Iterator[list[int]]:
        """Hold the cache for a layer call on ``seq_ids``; when the call raises
        (a refused input, an overflow, Ctrl-C) the sequences' block tables,
        lengths and the free pool are restored: the rows written past the old
        lengths are unreachable again."""
        with self._lock:
            ids = self._check_ids(seq_ids)
            saved = {s: (list(self._tables[s]), self._lengths[s]) for s in ids}
            free, key_bound = list(self._free), self._key_bound
            try:
                yield ids
            except BaseException:
                for s, (table, length) in saved.items():
                    self._tables[s], self._lengths[s] = table, length
                self._free, self._key_bound = free, key_bound
                raise

    def _check_ids(self, seq_ids: Any) -> list[int]:
        """``seq_ids`` (an int or ints) as a list of live, distinct ids."""
        if isinstance(seq_ids, numbers.Integral) and not isinstance(seq_ids, bool):
            seq_ids = [seq_ids]
        try:
            ids = [int(s) for s in seq_ids]
        except (TypeError, ValueError):
            raise TypeError(
                f"seq_ids must be a sequence id or a list of them, got {seq_ids!r}"
            ) from None
        for s in ids:
            if s not in self._tables:
                raise KeyError(
                    f"unknown sequence id {s} (live: {sorted(self._tables)[:10]}"
                    f"{'...' if len(self._tables) > 10 else ''}); add_sequence() "
                    "first, and do not use an id after free_sequence()"
                )
        if len(set(ids)) != len(ids):
            raise ValueError(f"seq_ids names a sequence twice: {ids}")
        return ids

    # -- appending ---------------------------------------------------------------

    def append(
        self, seq_ids: int | Iterable[int], k: npt.ArrayLike, v: npt.ArrayLike
    ) -> None:
        """Copy new positions of one or more sequences into their blocks.

        Parameters
        ----------
        seq_ids : int or list of int
            The sequences (distinct, live).
        k : ndarray, shape (n_seqs, n_kv_heads, n_new, d_head)
        v : ndarray, shape (n_seqs, n_kv_heads, n_new, d_v)
            The same ``n_new`` for every sequence (a decode step: 1; a prompt:
            one sequence). For one int id, the leading axis may be left out.
            float32/float64 caches take their own dtype; compressed ones any
            float dtype (rounded or quantised once, here).

        Raises
        ------
        KeyError
            An unknown sequence id.
        TypeError, ValueError
            Wrong dtypes or shapes, NaN/infinity, or a pool without the free
            blocks the append needs; nothing is changed.
        """
        with self._lock:
            single = isinstance(seq_ids, numbers.Integral)
            ids = self._check_ids(seq_ids)
            rows = {}
            for name, arr, width in (("k", k, self.d_head), ("v", v, self.d_v)):
                arr = np.asarray(arr)
                if single and arr.ndim == 3:
                    arr = arr[None]
                rows[name] = self._encode(arr, name, width, len(ids))
            n_new = rows["k"][0].shape[2]
            if rows["v"][0].shape[2] != n_new:
                raise ValueError(
                    f"k has {n_new} new positions but v has {rows['v'][0].shape[2]}"
                )
            if n_new == 0 or not ids:
                return
            bs = self.block_size
            need = [
                -(-(self._lengths[s] + n_new) // bs) - len(self._tables[s]) for s in ids
            ]
            if sum(need) > len(self._free):
                raise ValueError(
                    f"PagedKVCache pool exhausted: this append needs {sum(need)} new "
                    f"blocks of {bs} positions but {len(self._free)} of "
                    f"{self.n_blocks} are free; free finished sequences "
                    "(free_sequence) or create the cache with more blocks (nothing "
                    "was appended)"
                )
            saved = {s: (list(self._tables[s]), self._lengths[s]) for s in ids}
            free_before = list(self._free)
            try:
                for s, n in zip(ids, need, strict=True):
                    self._tables[s].extend(self._free.pop() for _ in range(n))
                positions = np.array([self._lengths[s] for s in ids], np.intp)
                pos = positions[:, None] + np.arange(n_new, dtype=np.intp)
                tables = [np.asarray(self._tables[s], np.intp) for s in ids]
                blocks = np.stack(
                    [t[p // bs] for t, p in zip(tables, pos, strict=True)]
                ).reshape(-1)
                slots = (pos % bs).reshape(-1)
                for name in ("k", "v"):
                    stored, scales, _ = rows[name]
                    flat = stored.transpose(0, 2, 1, 3).reshape(
                        (-1, self.n_kv_heads, stored.shape[3])
                    )
                    self._pool[name][blocks, :, slots] = flat
                    if scales is not None:
                        target = self._scales[name]
                        assert target is not None
                        target[blocks, :, slots] = scales.transpose(0, 2, 1, 3).reshape(
                            (-1, self.n_kv_heads, scales.shape[3])
                        )
                for s in ids:
                    self._lengths[s] += n_new
                self._key_bound = max(self._key_bound, rows["k"][2])
            except BaseException:
                for s, (table, length) in saved.items():
                    self._tables[s], self._lengths[s] = table, length
                self._free = free_before
                raise

    def _encode(
        self, arr: Array, name: str, width: int, n_seqs: int
    ) -> tuple[Array, Array | None, float]:
        fmt = self._formats[name]
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
        if (
            arr.ndim != 4
            or arr.shape[0] != n_seqs
            or arr.shape[1] != self.n_kv_heads
            or arr.shape[3] != width
        ):
            raise ValueError(
                f"{name} must have shape (n_seqs={n_seqs}, n_kv_heads="
                f"{self.n_kv_heads}, n_new, {width}), got {arr.shape}"
            )
        return _encode_checked(arr, fmt, name)

    # -- reading -----------------------------------------------------------------

    def dequantized(
        self, seq_id: int, dtype: npt.DTypeLike = np.float64
    ) -> tuple[Array, Array]:
        """Copies of one sequence's keys and values, ``(n_kv_heads, length, d)``,
        in ``dtype`` (float64: exact), as :meth:`attend` reads them."""
        with self._lock:
            (seq,) = self._check_ids([seq_id])
            length, table = self._lengths[seq], self._tables[seq]
            out = []
            for name in ("k", "v"):
                pool, scales = self._pool[name], self._scales[name]
                rows = (
                    pool[table]
                    .transpose(1, 0, 2, 3)
                    .reshape(self.n_kv_heads, -1, pool.shape[-1])[:, :length]
                )
                sc = None
                if scales is not None:
                    sc = (
                        scales[table]
                        .transpose(1, 0, 2, 3)
                        .reshape(self.n_kv_heads, -1, scales.shape[-1])[:, :length]
                    )
                out.append(
                    _kv_formats.dequantize(rows, sc, self._formats[name].group, dtype)
                )
            return out[0], out[1]

    def attend(
        self,
        q: npt.ArrayLike,
        seq_ids: int | Iterable[int],
        *,
        causal: bool = True,
        scale: float | None = None,
        window: Any = None,
        alibi_slopes: npt.ArrayLike | None = None,
        num_threads: int | None = None,
        check_finite: bool = True,
        backend: str = "auto",
        quantize_query: bool = True,
    ) -> Array:
        """One decode step of a batch of sequences of different lengths.

        Parameters
        ----------
        q : ndarray, shape (n_seqs, n_heads, n_q, d_head)
            The new queries of each sequence (float32, float64, bfloat16 or
            float16; ``n_heads`` a multiple of ``n_kv_heads``), the last
            ``n_q`` positions of their sequence (append their keys and values
            first).
        seq_ids : int or list of int
            The sequences, in the order of ``q``'s first axis.
        causal, scale, window, alibi_slopes, num_threads, check_finite, backend
            As for :meth:`KVCache.attend`, per sequence (query ``i`` of a
            sequence of length ``L`` sits at position ``L - n_q + i``).
        quantize_query : bool, default True
            As for :meth:`KVCache.attend` (int8 pools).

        Returns
        -------
        ndarray, shape (n_seqs, n_heads, n_q, d_v), dtype of ``q``
            Equal, up to rounding, to each sequence decoded alone through a
            contiguous cache with the same rows.
        """
        from . import _kv_attend

        with self._lock:
            return _kv_attend.attend_paged(
                self,
                q,
                seq_ids,
                causal=causal,
                scale=scale,
                window=window,
                alibi_slopes=alibi_slopes,
                num_threads=num_threads,
                check_finite=check_finite,
                backend=backend,
                quantize_query=quantize_query,
            )

    def _table(self, ids: list[int]) -> npt.NDArray[np.intp]:
        """Block tables of ``ids`` as one ``(n_seqs, max_blocks)`` intp array."""
        width = max(1, max(len(self._tables[s]) for s in ids))
        table = np.zeros((len(ids), width), np.intp)
        for row, s in enumerate(ids):
            blocks = self._tables[s]
            table[row, : len(blocks)] = blocks
        return table

    def _spec(
        self,
        name: str,
        kv_head: npt.NDArray[np.intp],
        items_per_seq: int,
        pages: npt.NDArray[np.intp],
        fmt: int,
    ) -> _decode_path.KVSpec:
        """The kernel's view of the k or v pool for items with these kv heads."""
        pool, scales = self._pool[name], self._scales[name]
        width = pool.shape[-1]
        bs = self.block_size
        offsets = np.ascontiguousarray(kv_head * (bs * width), dtype=np.intp)
        if scales is None:
            return _decode_path.KVSpec(
                _precision.kernel_view(pool),
                offsets,
                width,
                fmt,
                pages=pages,
                page_rows=bs,
                page_stride=self.n_kv_heads * bs * width,
                items_per_seq=items_per_seq,
            )
        n_groups = scales.shape[-1]
        return _decode_path.KVSpec(
            pool,
            offsets,
            width,
            fmt,
            scales=scales,
            scale_offsets=np.ascontiguousarray(kv_head * (bs * n_groups), np.intp),
            scale_row_stride=n_groups,
            group=self._formats[name].group,
            pages=pages,
            page_rows=bs,
            page_stride=self.n_kv_heads * bs * width,
            scale_page_stride=self.n_kv_heads * bs * n_groups,
            items_per_seq=items_per_seq,
        )
