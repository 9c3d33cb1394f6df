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
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from .._dispatch import kernels
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
    kv_lo: int  # keys [kv_lo, kv_hi) are visible to some query
    kv_hi: int
    chunk: int  # keys per (row block, chunk) task
    block_k: int = BLOCK_K
    small_rows: int = SMALL_ROWS


def decode_into(
    q: Operand,
    k: Operand,
    v: Operand,
    out: Operand,
    mask: Operand | None,
    shape: AttentionShape,
    n_threads: int,
) -> Array:
    """Run the decode kernel on ``_geometry.Operand``s of kernel-ready arrays
    and their ``AttentionShape`` (see ``attention._attention_into``)."""
    vis = shape.visibility
    kv_lo = max(0, vis.lo_offset) if vis.has_lo else 0
    kv_hi = min(shape.n_k, shape.n_q + vis.hi_offset) if vis.has_hi else shape.n_k
    if kv_hi <= kv_lo:
        out.array[...] = 0  # no query sees any key
        return out.array
    order, block_start, chunk = plan(k.offsets, v.offsets, shape.n_q, kv_hi - kv_lo)
    _decode.decode_forward(
        q,
        k,
        v,
        out,
        mask,
        shape,
        DecodePlan(order, block_start, kv_lo, kv_hi, chunk),
        n_threads,
    )
    return out.array
