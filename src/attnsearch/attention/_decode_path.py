"""Plan and run the decode kernel (``_decode.pyx``) for short query blocks.

:func:`attnsearch.attention.scaled_dot_product_attention` sends a call here
when it has at most :data:`DECODE_MAX_QUERIES` query rows per batch item (and
no attention weights or log-sum-exp are requested). The plan is a function of the shapes
only, never of the thread count, so the output is bitwise identical for every
``num_threads``:

* batch items that read the same K/V (the query heads of a grouped-query group,
  or any broadcast of k/v) form a *group*; its rows (items x queries) are cut
  into *row blocks* of at most :data:`ROWS_MAX` rows;
* the keys visible to some query are cut into ``n_chunks`` equal *chunks*:
  enough for about :data:`TARGET_TASKS` (row block, chunk) tasks, but no chunk
  under :data:`MIN_CHUNK` keys; a task walks its chunk in blocks of
  :data:`BLOCK_K` keys;
* the chunks of each row are merged by their log-sum-exp in chunk order.

How the constants were chosen is in ARCHITECTURE.md ("The decode path").
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from .._dispatch import kernels
from . import _precision
from ._geometry import AttentionShape, Operand
from ._typing import Array

if TYPE_CHECKING:
    from . import _decode
else:
    _decode = kernels("decode")

#: What :func:`plan` returns: group order, row block boundaries, keys per chunk.
Plan: TypeAlias = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], int]

#: Queries per batch item up to which the decode kernel runs (measured crossover,
#: see ARCHITECTURE.md).
DECODE_MAX_QUERIES = 16
#: Rows of a row block up to which the decode micro-kernels run; larger blocks
#: use the packed tiles of the prefill kernel (with K packed once per block).
#: Measured crossover (one thread, 4096 keys, d = 64 and 128): the decode
#: micro-kernels are faster up to 32 rows, the tiles from 48.
SMALL_ROWS = 32
#: Rows per row block at most (a group with more rows is split evenly).
ROWS_MAX = 96
#: Keys per inner block of a task (the block's K and V stay in L2).
BLOCK_K = 256
#: Keys per inner block when K/V are widened into a tile (float16, int8; bfloat16
#: in float64): the tiles (64 x d x 4 bytes each) stay in L1.
BLOCK_K_WIDENED = 64
#: Keys per inner block when a float32 call widens compressed K/V in registers
#: (bfloat16, float16, int8): the next kernel's rows are prefetched one block
#: ahead, and 128 rows of 16-bit K (32 KiB) stay in L1 (measured: 64-128 beat
#: 256 and 512 by 5-15 % at 1-4 query heads per kv head, ARCHITECTURE.md).
BLOCK_K_IN_REGISTERS = 128
#: Keys per chunk at least (each chunk costs one partial result per row).
MIN_CHUNK = 512
#: (row block, chunk) tasks to aim for: enough for 16+ threads.
TARGET_TASKS = 128


def use_decode(
    n_q: int, extra_outputs: bool, block_q: int | None, block_k: int | None
) -> bool:
    """True when ``scaled_dot_product_attention`` should take the decode path.

    ``extra_outputs``: the weights or the row log-sum-exp were asked for; only
    the tiled kernel writes them (the backward's ``return_lse=True`` included).
    """
    return (
        0 < n_q <= DECODE_MAX_QUERIES
        and not extra_outputs
        and block_q is None
        and block_k is None
    )


def plan(
    k_off: npt.NDArray[np.intp], v_off: npt.NDArray[np.intp], n_q: int, n_visible: int
) -> Plan:
    """Group order, row block boundaries and chunk size (shapes only), cached.

    See :func:`_plan` for the meaning of the results.
    """
    return _plan_cached(k_off.tobytes(), v_off.tobytes(), n_q, n_visible)


@functools.lru_cache(maxsize=256)
def _plan_cached(k_bytes: bytes, v_bytes: bytes, n_q: int, n_visible: int) -> Plan:
    order, block_start, chunk = _plan(
        np.frombuffer(k_bytes, dtype=np.intp),
        np.frombuffer(v_bytes, dtype=np.intp),
        n_q,
        n_visible,
    )
    order.flags.writeable = False
    block_start.flags.writeable = False
    return order, block_start, chunk


def _plan(
    k_off: npt.NDArray[np.intp], v_off: npt.NDArray[np.intp], n_q: int, n_visible: int
) -> Plan:
    """Group order, row block boundaries and chunk size (shapes only).

    Returns
    -------
    order : ndarray of intp
        Batch items sorted by the K/V they read (stable).
    block_start : ndarray of intp
        Global row boundaries of the row blocks.
    chunk : int
        Keys per chunk.
    """
    n_batch = k_off.shape[0]
    order = np.lexsort((v_off, k_off)).astype(np.intp)
    key_k, key_v = k_off[order], v_off[order]
    new_group = np.ones(n_batch, dtype=bool)
    new_group[1:] = (key_k[1:] != key_k[:-1]) | (key_v[1:] != key_v[:-1])
    group_first = np.flatnonzero(new_group)
    group_rows = np.diff(np.append(group_first, n_batch)) * n_q
    n_blocks_g = -(-group_rows // ROWS_MAX)
    block_group = np.repeat(np.arange(group_rows.shape[0]), n_blocks_g)
    block_index = np.arange(block_group.shape[0]) - np.repeat(
        np.cumsum(n_blocks_g) - n_blocks_g, n_blocks_g
    )
    base = group_rows // n_blocks_g
    extra = group_rows % n_blocks_g
    sizes = base[block_group] + (block_index < extra[block_group])
    block_start = np.zeros(sizes.shape[0] + 1, dtype=np.intp)
    np.cumsum(sizes, out=block_start[1:])
    n_blocks = sizes.shape[0]
    n_chunks = max(1, min(-(-TARGET_TASKS // n_blocks), -(-n_visible // MIN_CHUNK)))
    chunk = -(-n_visible // n_chunks)
    return order, block_start, chunk


class DecodePlan(NamedTuple):
    """How a decode call is cut into tasks (shapes only; see the module docstring)."""

    order: npt.NDArray[np.intp]  # batch items grouped by the K/V they read
    block_start: npt.NDArray[np.intp]  # row blocks of global rows (one K/V each)
    block_chunks: npt.NDArray[np.intp]  # key chunks of each row block
    block_part: npt.NDArray[np.intp]  # first partial result of each row block
    row_block: npt.NDArray[np.intp]  # the row block of each global row
    tasks: npt.NDArray[np.intp]  # (n_tasks, 4): row block, first key, end, chunk
    item_shift: npt.NDArray[np.intp] | None = None  # per item: n_k_item - n_k
    block_k: int = BLOCK_K
    small_rows: int = SMALL_ROWS


#: Storage formats of K/V rows (csrc/attnsearch_kv_quant.h).
KV_NATIVE, KV_F32, KV_BF16, KV_F16, KV_I8 = range(5)


class KVSpec(NamedTuple):
    """Keys or values as the decode kernel reads them (``_decode.pyx`` ``KVSource``).

    Row ``j`` of batch item ``b`` starts at element ``offsets[b] + j *
    row_stride`` of ``array`` (contiguous), or, with a block table ``pages``
    (one row per sequence), at ``offsets[b] + pages[b // items_per_seq, j //
    page_rows] * page_stride + (j % page_rows) * row_stride``; int8 scales
    (one float32 per ``group`` elements of a row) alike.
    """

    array: np.ndarray  # bfloat16 as its uint16 bit pattern
    offsets: npt.NDArray[np.intp]
    row_stride: int
    fmt: int = KV_NATIVE
    scales: np.ndarray | None = None
    scale_offsets: npt.NDArray[np.intp] | None = None
    scale_row_stride: int = 0
    group: int = 1
    pages: npt.NDArray[np.intp] | None = None
    page_rows: int = 0
    page_stride: int = 0
    scale_page_stride: int = 0
    items_per_seq: int = 1


class NonFiniteKV(Exception):
    """The decode kernel saw a NaN or infinite score or output while checking
    (raised after the output is written): the caller runs the full checks,
    which name the operand or the overflow."""


def kv_format(storage: np.dtype, compute: np.dtype) -> int:
    """The kernel format code of rows stored in ``storage``, computed in ``compute``."""
    storage = np.dtype(storage)
    if storage == compute:
        return KV_NATIVE
    name = storage.name
    if name == "float32" and compute == np.float64:
        return KV_F32
    if name == "bfloat16":
        return KV_BF16
    if name == "float16":
        return KV_F16
    if name == "int8":
        return KV_I8
    raise TypeError(f"the decode kernel cannot read {name} rows in {compute.name}")


def spec_of(op: Operand, fmt: int) -> KVSpec:
    """A contiguous :class:`KVSpec` from a ``_geometry.Operand``."""
    return KVSpec(op.array, op.offsets, op.row_stride, fmt)


def _tasks(
    order: npt.NDArray[np.intp],
    block_start: npt.NDArray[np.intp],
    lo: npt.NDArray[np.intp],
    hi: npt.NDArray[np.intp],
    chunk: int,
    item_shift: npt.NDArray[np.intp] | None = None,
) -> DecodePlan:
    """The plan of row blocks that see keys ``[lo[t], hi[t])``, cut in chunks."""
    n_blocks = block_start.shape[0] - 1
    rows = np.diff(block_start)
    n_chunks = np.maximum(0, -(-(hi - lo) // chunk)).astype(np.intp)
    n_tasks = int(n_chunks.sum())
    blk = np.repeat(np.arange(n_blocks, dtype=np.intp), n_chunks)
    index = np.arange(n_tasks, dtype=np.intp) - np.repeat(
        np.cumsum(n_chunks) - n_chunks, n_chunks
    )
    first = lo[blk] + index * chunk
    tasks = np.ascontiguousarray(
        np.stack([blk, first, np.minimum(hi[blk], first + chunk), index], axis=1),
        dtype=np.intp,
    ).reshape(n_tasks, 4)
    block_part = np.zeros(n_blocks + 1, dtype=np.intp)
    np.cumsum(rows * n_chunks, out=block_part[1:])
    row_block = np.repeat(np.arange(n_blocks, dtype=np.intp), rows)
    arrays = (order, block_start, n_chunks, block_part, row_block, tasks)
    for arr in arrays:
        arr.flags.writeable = False
    return DecodePlan(*arrays, item_shift=item_shift)


@functools.lru_cache(maxsize=256)
def _uniform_plan(
    k_bytes: bytes, v_bytes: bytes, n_q: int, kv_lo: int, kv_hi: int
) -> DecodePlan:
    order, block_start, chunk = plan(
        np.frombuffer(k_bytes, dtype=np.intp),
        np.frombuffer(v_bytes, dtype=np.intp),
        n_q,
        kv_hi - kv_lo,
    )
    n_blocks = block_start.shape[0] - 1
    lo = np.full(n_blocks, kv_lo, dtype=np.intp)
    return _tasks(order, block_start, lo, lo + (kv_hi - kv_lo), chunk)


def ragged_plan(
    group_key: npt.NDArray[np.intp],
    n_q: int,
    lo_item: npt.NDArray[np.intp],
    hi_item: npt.NDArray[np.intp],
    item_shift: npt.NDArray[np.intp],
    align: int = 1,
) -> DecodePlan:
    """Plan for batch items with key ranges of their own (a paged batch).

    Items with the same ``group_key`` read the same K/V and share
    ``lo_item``/``hi_item`` (the keys some of their queries see). One chunk
    size for all: enough for :data:`TARGET_TASKS` tasks over all the keys, at
    least :data:`MIN_CHUNK`, a multiple of ``align`` (the page size).
    """
    order, block_start, _ = plan(group_key, group_key, n_q, 1)
    first_item = order[block_start[:-1] // n_q]
    lo, hi = lo_item[first_item], hi_item[first_item]
    total = int(np.maximum(hi - lo, 0).sum())
    chunk = max(MIN_CHUNK, -(-total // TARGET_TASKS))
    chunk = -(-chunk // align) * align
    return _tasks(order, block_start, lo, hi, chunk, item_shift)


def decode_into(
    q: Operand,
    k: Operand | KVSpec,
    v: Operand | KVSpec,
    out: Operand,
    mask: Operand | None,
    shape: AttentionShape,
    n_threads: int,
    check: bool = False,
    int8_scores: bool = False,
) -> Array:
    """Run the decode kernel on ``_geometry.Operand``s of kernel-ready arrays
    (``q`` and ``out`` in the compute dtype; ``k``, ``v`` in it or as
    :class:`KVSpec` of compressed rows) and their ``AttentionShape``.

    ``check``: flag NaN/inf scores and outputs while the kernel reads k and v;
    raises :class:`NonFiniteKV` after writing ``out`` when it saw one.
    ``int8_scores``: int8 keys scored by integer dot products against the
    queries quantised per group of 32, where the kernel variant has them
    (``KVCache.attend``'s ``quantize_query``).
    """
    vis = shape.visibility
    kv_lo = max(0, vis.lo_offset) if vis.has_lo else 0
    kv_hi = min(shape.n_k, shape.n_q + vis.hi_offset) if vis.has_hi else shape.n_k
    if kv_hi <= kv_lo:
        out.array[...] = 0  # no query sees any key
        return out.array
    k_spec = k if isinstance(k, KVSpec) else spec_of(k, KV_NATIVE)
    v_spec = v if isinstance(v, KVSpec) else spec_of(v, KV_NATIVE)
    the_plan = _uniform_plan(
        k_spec.offsets.tobytes(), v_spec.offsets.tobytes(), shape.n_q, kv_lo, kv_hi
    )
    the_plan = with_block_k(
        the_plan, k_spec, v_spec, q.array.dtype, shape.d_k, shape.d_v
    )
    seen = _decode.decode_forward(
        q, k_spec, v_spec, out, mask, shape, the_plan, n_threads, check, int8_scores
    )
    if seen:
        raise NonFiniteKV
    return out.array


def with_block_k(
    the_plan: DecodePlan, k: KVSpec, v: KVSpec, compute: np.dtype, d_k: int, d_v: int
) -> DecodePlan:
    """``the_plan`` with :data:`BLOCK_K_WIDENED` keys per inner block when K or
    V are widened into a tile, :data:`BLOCK_K_IN_REGISTERS` when they are
    widened in registers (a float32 call's bfloat16, float16 where the target
    can, and int8 in groups of 32 or 64 or with one scale per row); rows read
    in place keep :data:`BLOCK_K`."""
    if compute == np.float32:
        if k.fmt == KV_NATIVE and v.fmt == KV_NATIVE:
            return the_plan
        if _in_registers(k, d_k) and _in_registers(v, d_v):
            return the_plan._replace(block_k=BLOCK_K_IN_REGISTERS)
    elif k.fmt == KV_NATIVE and v.fmt == KV_NATIVE:
        return the_plan
    return the_plan._replace(block_k=BLOCK_K_WIDENED)


def _in_registers(spec: KVSpec, width: int) -> bool:
    """Whether a float32 call reads these rows without a tile (``_decode.pyx``
    ``_int8_in_registers`` for int8)."""
    if spec.fmt == KV_I8:
        return spec.group in (32, 64) or spec.group >= width
    return spec.fmt in (KV_NATIVE, KV_BF16, KV_F16)


def _finite(arr: Array) -> bool:
    """Whether a float array (bfloat16/float16 included) has no NaN or infinity."""
    if _precision.is_reduced(arr.dtype):
        return _precision.max_abs_reduced(arr) < math.inf
    return bool(np.isfinite(arr).all())


def decode_arrays(
    q: Array,
    k: Array,
    v: Array,
    out: Array,
    mask: Operand | None,
    shape: AttentionShape,
    batch_shape: tuple[int, ...],
    k_group: int,
    v_group: int,
    n_threads: int,
    check: bool = False,
) -> Array:
    """The decode path of ``attention._attention_into``: kernel-ready ``q``,
    ``k``, ``v`` of one storage dtype (``out`` too). 16-bit k and v are read as
    stored (widened block by block in the kernel); only ``q`` is widened and
    the output rounded once.

    ``check`` (the default call's ``check_finite``, q already checked): the
    kernel checks k and v while it reads them, and this checks the rows no
    query reads; raises :class:`NonFiniteKV` (after writing ``out``) when
    something is NaN or infinite, for the caller to name it.
    """
    storage = out.dtype
    compute = _precision.compute_dtype(storage)
    fmt = kv_format(storage, compute)
    k_op = Operand.of(_precision.kernel_view(k), batch_shape, k_group)
    v_op = Operand.of(_precision.kernel_view(v), batch_shape, v_group)
    unread_ok = True
    if check:
        vis = shape.visibility
        kv_lo = max(0, vis.lo_offset) if vis.has_lo else 0
        kv_hi = min(shape.n_k, shape.n_q + vis.hi_offset) if vis.has_hi else shape.n_k
        kv_hi = max(kv_lo, kv_hi)
        if kv_lo > 0 or kv_hi < shape.n_k:  # (none for plain or causal decode)
            for arr in (k, v):
                for part in (arr[..., :kv_lo, :], arr[..., kv_hi:, :]):
                    unread_ok = unread_ok and (part.size == 0 or _finite(part))
    if storage == compute:
        decode_into(
            Operand.of(q, batch_shape),
            k_op,
            v_op,
            Operand.of(out, batch_shape),
            mask,
            shape,
            n_threads,
            check,
        )
    else:
        wide = np.empty(out.shape, dtype=compute)
        try:
            decode_into(
                Operand.of(q.astype(compute), batch_shape),
                spec_of(k_op, fmt),
                spec_of(v_op, fmt),
                Operand.of(wide, batch_shape),
                mask,
                shape,
                n_threads,
                check,
            )
        finally:
            out[...] = wide.astype(storage)
    if not unread_ok:
        raise NonFiniteKV
    return out
