"""Attention of new queries to a KV cache as stored (``KVCache.attend``,
``PagedKVCache.attend``): validation, the decode kernel call, the reference.

The caches keep their rows in float32/float64, bfloat16/float16 or int8
(``_kv_formats``); the decode kernel reads them in place (float32/float64 in
the compute dtype) or widens them block by block, so a decode step reads the
stored bytes once. Queries are widened to the compute dtype (float64 when the
query or the cache is float64, else float32) and the output is rounded once
to the query's dtype: both are ``n_q`` rows per head, nothing next to the
cache.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._threading import effective_n_threads
from .._validation import check_bool
from . import _decode_path, _precision, _reference
from ._geometry import AttentionShape, Operand, Visibility
from ._typing import Array

if TYPE_CHECKING:
    from .cache import KVCache
    from .paged_cache import PagedKVCache


def _attention():  # type: ignore[no-untyped-def]
    from . import attention  # the public function's checks (imported lazily)

    return attention


def check_query(q: npt.ArrayLike, n_kv_heads: int, d_head: int, lead: str) -> Array:
    """``q`` of shape ``(lead, n_heads, n_q, d_head)``, a float dtype the kernels
    take, ``n_heads`` a multiple of ``n_kv_heads``."""
    arr = np.asarray(q)
    if not _precision.is_floating(arr.dtype) or arr.dtype.itemsize > 8:
        raise TypeError(
            f"q must be float16, bfloat16, float32 or float64, got dtype {arr.dtype}"
        )
    if arr.ndim != 4 or arr.shape[3] != d_head:
        raise ValueError(
            f"q must have shape ({lead}, n_heads, n_q, d_head={d_head}), got "
            f"{arr.shape}"
        )
    if arr.shape[1] % n_kv_heads or arr.shape[1] == 0:
        raise ValueError(
            f"q has {arr.shape[1]} heads, not a positive multiple of the cache's "
            f"{n_kv_heads} key/value heads"
        )
    return arr


def compute_dtype(q_dtype: np.dtype, cache_dtype: np.dtype) -> np.dtype:
    """float64 when the query or the cache is float64, else float32."""
    if np.float64 in (q_dtype, cache_dtype):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


class _Options:
    """The checked options of one attend call."""

    def __init__(
        self,
        q: Array,
        n_k: int,
        compute: np.dtype,
        *,
        mask: npt.ArrayLike | None,
        causal: bool,
        scale: float | None,
        window: Any,
        alibi_slopes: npt.ArrayLike | None,
        num_threads: int | None,
        check_finite: bool,
        backend: str,
        quantize_query: bool = True,
    ) -> None:
        att = _attention()
        if backend not in ("auto", "reference"):
            raise ValueError(f"backend must be 'auto' or 'reference', got {backend!r}")
        self.backend = backend
        self.causal = check_bool(causal, "causal")
        self.check_finite = check_bool(check_finite, "check_finite")
        self.quantize_query = check_bool(quantize_query, "quantize_query")
        self.n_threads = effective_n_threads(num_threads)
        self.scale = att._check_scale(scale, q.shape[-1])
        self.window = att.check_window(window)
        self.batch_shape = q.shape[:2]
        n_q = q.shape[2]
        self.slopes = att.check_alibi_slopes(alibi_slopes, self.batch_shape)
        att.check_alibi_range(self.slopes, n_q, n_k, compute)
        self.mask, mask_batch = att._prepare_mask(
            mask, n_q, n_k, compute, self.check_finite
        )
        if self.mask is not None:
            try:
                full = np.broadcast_shapes(mask_batch, self.batch_shape)
            except ValueError:
                full = None
            if full != tuple(self.batch_shape):
                raise ValueError(
                    f"mask of shape {self.mask.shape} does not broadcast to "
                    f"{self.batch_shape + (n_q, n_k)}"
                )
        if self.check_finite and not _finite(q):
            raise ValueError(
                "q contains NaN or infinity; pass check_finite=False to let them "
                "propagate"
            )


def _finite(arr: Array) -> bool:
    if _precision.is_reduced(arr.dtype):
        return _precision.max_abs_reduced(arr) < math.inf
    return bool(np.isfinite(arr).all())


def _overflow_error(q: Array, k: Array, compute: np.dtype, opts: _Options) -> str:
    """What overflowed: the scores (named as the public function names them)
    or, on finite scores, the output accumulator."""
    limit = float(np.finfo(compute).max)
    q64 = np.asarray(q, np.float64)
    bound = abs(opts.scale) * _norm(q64) * _norm(k)
    if bound > limit:
        return _attention()._overflow_message(q64, k, compute, opts.scale)
    return (
        f"attention overflows {compute.name} on finite inputs: the output "
        "accumulator (up to length x max|v|) passes the range; rescale the values"
    )


def _norm(x: Array) -> float:
    return float(np.max(np.linalg.norm(x, axis=-1), initial=0.0))


def _reference_attend(
    q: Array, k: Array, v: Array, opts: _Options, rows: slice = slice(None)
) -> Array:
    """The NumPy reference in float64 on dequantised keys/values ``(batch,
    n_kv_heads, n_k, d)`` for the queries ``q`` of batch rows ``rows`` of the
    call, rounded to q's dtype."""
    q64 = np.asarray(q, np.float64)
    k64 = _reference.expand_kv_heads(q64, k)
    v64 = _reference.expand_kv_heads(q64, v)
    mask = opts.mask
    if mask is not None and mask.dtype == np.uint8:
        mask = mask.view(np.bool_)
    out = _reference.scaled_dot_product_attention(
        q64,
        k64,
        v64,
        mask=mask,
        causal=opts.causal,
        scale=opts.scale,
        window=opts.window,
        alibi_slopes=None
        if opts.slopes is None
        else opts.slopes.reshape(opts.batch_shape)[rows],
    )
    return out.astype(q.dtype)


def _spec(
    stored: Array,
    scales: Array | None,
    group: int,
    fmt: int,
    batch_shape: tuple[int, ...],
    heads_group: int,
) -> _decode_path.KVSpec:
    """A contiguous KVSpec of a cache view ``(batch, n_kv_heads, length, d)``."""
    op = Operand.of(_precision.kernel_view(stored), batch_shape, heads_group)
    if scales is None:
        return _decode_path.KVSpec(op.array, op.offsets, op.row_stride, fmt)
    sop = Operand.of(scales, batch_shape, heads_group)
    return _decode_path.KVSpec(
        op.array,
        op.offsets,
        op.row_stride,
        fmt,
        scales=sop.array,
        scale_offsets=sop.offsets,
        scale_row_stride=sop.row_stride,
        group=group,
    )


def attend_contiguous(cache: KVCache, q: npt.ArrayLike, **options: Any) -> Array:
    """Body of :meth:`KVCache.attend` (the caller holds the cache's lock)."""
    q = check_query(q, cache.n_kv_heads, cache.d_head, f"batch={cache.batch}")
    if q.shape[0] != cache.batch:
        raise ValueError(
            f"q has batch {q.shape[0]} but the cache holds {cache.batch} sequences"
        )
    n_k = cache.length
    compute = compute_dtype(q.dtype, cache.dtype)
    opts = _Options(q, n_k, compute, **options)
    n_batch, h_q, n_q, _ = q.shape
    out_shape = (n_batch, h_q, n_q, cache.d_v)
    if opts.backend == "reference":
        k, v = cache.dequantized(np.float64)
        return _reference_attend(q, k, v, opts)
    if n_k == 0 or q.size == 0:
        return np.zeros(out_shape, q.dtype)
    group = h_q // cache.n_kv_heads
    fmt = _decode_path.kv_format(cache.dtype, compute)
    k_spec = _spec(
        cache.keys, cache.key_scales, cache._k_format.group, fmt, q.shape[:2], group
    )
    v_spec = _spec(
        cache.values, cache.value_scales, cache._v_format.group, fmt, q.shape[:2], group
    )
    shape = AttentionShape(
        n_batch=n_batch * h_q,
        n_q=n_q,
        n_k=n_k,
        d_k=cache.d_head,
        d_v=cache.d_v,
        scale=opts.scale,
        visibility=Visibility.of(n_q, n_k, opts.causal, opts.window),
        slopes=opts.slopes,
        alibi_offset=n_k - n_q,
    )
    q_c = np.ascontiguousarray(q, dtype=compute)
    out = np.empty(out_shape, compute)
    mask_op = None if opts.mask is None else Operand.of(opts.mask, q.shape[:2])
    try:
        _decode_path.decode_into(
            Operand.of(q_c, q.shape[:2]),
            k_spec,
            v_spec,
            Operand.of(out, q.shape[:2]),
            mask_op,
            shape,
            opts.n_threads,
            opts.check_finite,
            opts.quantize_query,
        )
    except _decode_path.NonFiniteKV:
        k, _ = cache.dequantized(np.float64)
        raise ValueError(
            _overflow_error(q, _reference.expand_kv_heads(q, k), compute, opts)
        ) from None
    return out if out.dtype == q.dtype else out.astype(q.dtype)


def attend_paged(
    cache: PagedKVCache, q: npt.ArrayLike, seq_ids: Any, **options: Any
) -> Array:
    """Body of :meth:`PagedKVCache.attend` (the caller holds the cache's lock)."""
    q = check_query(q, cache.n_kv_heads, cache.d_head, "n_seqs")
    ids = cache._check_ids(seq_ids)
    if q.shape[0] != len(ids):
        raise ValueError(f"q has {q.shape[0]} sequences but seq_ids names {len(ids)}")
    lengths = np.array([cache._lengths[i] for i in ids], dtype=np.intp)
    n_k = int(lengths.max(initial=0))
    compute = compute_dtype(q.dtype, cache.dtype)
    opts = _Options(q, max(n_k, 1), compute, mask=None, **options)
    n_seq, h_q, n_q, _ = q.shape
    out_shape = (n_seq, h_q, n_q, cache.d_v)
    if opts.backend == "reference":
        out = np.zeros(out_shape, q.dtype)
        for s, seq in enumerate(ids):
            if lengths[s] == 0:
                continue
            k, v = cache.dequantized(seq, np.float64)
            out[s : s + 1] = _reference_attend(
                q[s : s + 1], k[None], v[None], opts, slice(s, s + 1)
            )
        return out
    if n_q == 0 or n_seq == 0 or n_k == 0:
        return np.zeros(out_shape, q.dtype)
    group = h_q // cache.n_kv_heads
    n_items = n_seq * h_q
    vis = Visibility.of(n_q, n_k, opts.causal, opts.window)
    shift_seq = lengths - n_k
    lo = (
        np.maximum(0, vis.lo_offset + shift_seq)
        if vis.has_lo
        else np.zeros(n_seq, np.intp)
    )
    hi = (
        np.minimum(lengths, n_q + vis.hi_offset + shift_seq)
        if vis.has_hi
        else lengths.copy()
    )
    item_seq = np.repeat(np.arange(n_seq, dtype=np.intp), h_q)
    kv_head = np.tile(np.arange(h_q, dtype=np.intp) // group, n_seq)
    the_plan = _decode_path.ragged_plan(
        (item_seq * cache.n_kv_heads + kv_head).astype(np.intp),
        n_q,
        lo[item_seq].astype(np.intp),
        hi[item_seq].astype(np.intp),
        np.ascontiguousarray(shift_seq[item_seq], dtype=np.intp),
        align=cache.block_size,
    )
    pages = cache._table(ids)
    fmt = _decode_path.kv_format(cache.dtype, compute)
    k_spec = cache._spec("k", kv_head, h_q, pages, fmt)
    v_spec = cache._spec("v", kv_head, h_q, pages, fmt)
    the_plan = _decode_path.with_block_k(
        the_plan, k_spec, v_spec, compute, cache.d_head, cache.d_v
    )
    shape = AttentionShape(
        n_batch=n_items,
        n_q=n_q,
        n_k=n_k,
        d_k=cache.d_head,
        d_v=cache.d_v,
        scale=opts.scale,
        visibility=vis,
        slopes=opts.slopes,
        alibi_offset=n_k - n_q,
    )
    q_c = np.ascontiguousarray(q, dtype=compute)
    out = np.empty(out_shape, compute)
    seen = _decode_path._decode.decode_forward(
        Operand.of(q_c, q.shape[:2]),
        k_spec,
        v_spec,
        Operand.of(out, q.shape[:2]),
        None,
        shape,
        the_plan,
        opts.n_threads,
        opts.check_finite,
        opts.quantize_query,
    )
    if seen:
        k_all = np.concatenate(
            [cache.dequantized(i, np.float64)[0] for i in ids], axis=1
        )
        raise ValueError(_overflow_error(q, k_all[None], compute, opts))
    return out if out.dtype == q.dtype else out.astype(q.dtype)
