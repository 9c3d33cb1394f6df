"""Fused attention kernel: softmax(q k^T * scale + mask) v without an n_q x n_k buffer.

Work is split into tasks (batch item, block of `block_q` query rows) and the
tasks are spread over OpenMP threads. A task walks the keys in blocks of
`block_k` with an online softmax (running max and running sum, the sum in
float64), so its memory is O(block_q * block_k) whatever n_k is. Each task
writes only its own output rows, and its arithmetic does not depend on which
thread runs it, so the output is bitwise identical for every thread count.

The matrix products are the register-blocked micro-kernels of
csrc/attnsearch_tiles.h (dispatched by dtype in _common.pxd); this module owns
the blocking, the masks, the online softmax and the threading. Operands arrive
as ``_geometry.Operand`` records (base array, per-item element offsets, row
strides), so broadcast batch axes, grouped-query heads and transposed head
layouts are read in place.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, log
from libc.string cimport memcpy, memset

from .._threads cimport omp_get_thread_num
from ._common cimport (
    BF16_NR,
    HAVE_BF16_TILES,
    MASK_NONE,
    NO_LIMIT,
    NR_F32,
    NR_F64,
    PV_MR,
    ROW_ALIGN,
    SCRATCH_ALIGN,
    STORE_BF16,
    STORE_NATIVE,
    PV_MR_BF16,
    VL_F32,
    VL_F64,
    AttentionShape,
    Operand,
    ScratchLayout,
    Storage,
    add_alibi,
    bf16_p_row,
    bf16_pack_k,
    bf16_pack_q,
    bf16_pack_v,
    exp_one,
    float_to_bf16,
    exp_sum,
    floating,
    fold_mask,
    layout_add,
    layout_start,
    mask_at,
    pack_k_from,
    pack_q_from,
    pack_v_from,
    panel_width,
    pv_tile,
    qk_tile,
    read_operand,
    read_shape,
    round_up,
    scratch_at,
    storage_of,
    store_row,
    tile_row_max,
    uint16_t,
    uint32_t,
)

import numpy as np

from ._scratch import scratch_buffer

cnp.import_array()

include "attnsearch/_compiled_target.pxi"

# The products on bfloat16 pairs: AMX tiles where the target has them
# (csrc/attnsearch_amx.h: real, or the C emulation of amx_bf16_emulated), the
# vdpbf16ps tiles of attnsearch_reduced.h otherwise. With AMX each thread
# loads the tile configuration once per call (amx_begin) and drops the tile
# state when its share is done (amx_end); elsewhere both do nothing.
cdef extern from "attnsearch_amx.h" nogil:
    const char *AMX_KIND "ATTNSEARCH_AMX_KIND"
    void amx_begin "attnsearch_amx_begin"()
    void amx_end "attnsearch_amx_end"()
    void amx_counters "attnsearch_amx_counters"(long *faults, long *configs, long *releases)
    int amx_fault_probe "attnsearch_amx_fault_probe"()
    void bf16_qk_tile "attnsearch_target_bf16_qk_tile"(
        const uint32_t *qpair, int rows_pad, int dk, const uint32_t *kpair, int n_panels,
        float scale, float *s, Py_ssize_t lds, Py_ssize_t visible0)
    void bf16_pv_tile "attnsearch_target_bf16_pv_tile"(
        const uint32_t *ppair, Py_ssize_t ldpp, int rows_pad, int bk, const uint32_t *vpair,
        int dvp, float *o, Py_ssize_t ldo, Py_ssize_t visible0)
    void bf16_gemm_tile "attnsearch_target_bf16_gemm_tile"(
        const uint32_t *xpair, Py_ssize_t ldx, int rows_pad, int n_pairs, const uint32_t *wpair,
        int ldw, int ncols, float *o, Py_ssize_t ldo)


# Query rows per score tile inside a task (the score tile stays in L2).
cdef Py_ssize_t TILE_ROWS = 96

# One thread's scratch, in this order (see _forward_layout).
cdef enum ForwardBuffer:
    FWD_QPACK
    FWD_KPACK
    FWD_VPACK
    FWD_SCORES
    FWD_OUT
    FWD_OUT64
    FWD_ONES
    FWD_RUNNING_MAX
    FWD_CORR
    FWD_RUNNING_SUM
    FWD_BLOCK_MAX
    FWD_PPAIR


cdef struct Forward:
    # One call: the shape and score rules, the operands, the blocking, the scratch.
    AttentionShape shape
    Operand q, k, v, out, weights, mask
    Storage storage               # of q, k, v and out (weights and lse: compute dtype)
    Py_ssize_t store_size         # bytes per element of q, k, v and out
    bint bf16_tiles               # bfloat16 operands on the vdpbf16ps tiles
    char *lse                     # (n_batch, n_q) row log-sum-exp, or NULL
    Py_ssize_t block_q, block_k   # query rows per task, keys per inner block
    Py_ssize_t tile_rows          # query rows per score tile (a multiple of ROW_ALIGN)
    Py_ssize_t rows_pad_max, tile_rows_pad, lds, dvp, n_kblocks
    ScratchLayout layout


cdef void _forward_layout(Forward *f, Py_ssize_t itemsize) noexcept nogil:
    """The one list of a task's buffers: it sizes and carves the scratch."""
    cdef ScratchLayout *layout = &f.layout
    cdef Py_ssize_t rows = f.rows_pad_max, d_k = f.shape.d_k
    layout_start(layout)
    layout_add(layout, FWD_QPACK, rows * d_k * itemsize)
    layout_add(layout, FWD_KPACK, f.lds * d_k * itemsize)
    layout_add(layout, FWD_VPACK, f.block_k * f.dvp * itemsize)
    layout_add(layout, FWD_SCORES, f.tile_rows_pad * f.lds * itemsize)
    layout_add(layout, FWD_OUT, rows * f.dvp * itemsize)
    layout_add(layout, FWD_OUT64, rows * f.shape.d_v * sizeof(double))
    layout_add(layout, FWD_ONES, rows * itemsize)
    layout_add(layout, FWD_RUNNING_MAX, rows * itemsize)
    layout_add(layout, FWD_CORR, rows * itemsize)
    layout_add(layout, FWD_RUNNING_SUM, rows * sizeof(double))
    layout_add(layout, FWD_BLOCK_MAX,
               rows * f.n_kblocks * itemsize if f.weights.base != NULL else 0)
    layout_add(layout, FWD_PPAIR, f.tile_rows_pad * f.lds * 2 if f.bf16_tiles else 0)


cdef void _attend_query_block(
    const char *q, const char *k, const char *v, char *out,
    floating *weights, floating *lse, const Forward *f, Py_ssize_t item,
    Py_ssize_t i0, Py_ssize_t rows, char *scratch,
) noexcept nogil:
    """Attention output for query rows [i0, i0 + rows) of batch item `item`.

    The pointers are already offset to this batch item (bytes: q, k, v and out
    may be stored in 16 bits, see Storage); `weights` is NULL
    unless the caller asked for the attention matrix, `lse` (the row
    log-sum-exp, kept for the backward pass) unless asked for. Each packed key/value
    block is shared by all sub-tiles of TILE_ROWS rows of the task, which
    amortises the packing; each sub-tile has its own causal horizon. With a
    window's lower bound, key blocks left of every row's window are skipped
    and the keys left of a row's window in the blocks it straddles get -inf.
    """
    cdef:
        const AttentionShape *shape = &f.shape
        floating dummy = 0
        int nr = panel_width(dummy)
        Py_ssize_t rows_pad = round_up(rows, ROW_ALIGN)
        Py_ssize_t lds = f.lds, dvp = f.dvp, d_v = shape.d_v, d_k = shape.d_k
        Py_ssize_t kv_end = shape.n_k, tile_kv_end, j0, bk, tile_bk, r, c, t0, tile_rows
        Py_ssize_t visible0, row_len, tail_end, block_index, ld_vsrc, lo_cut
        # Values are read in place only when the block is one contiguous run of
        # whole vectors: a strided V (a head view of a fused projection) would be
        # re-walked, page by page, by every row group of the micro-kernel.
        bint pack_values = d_v != dvp or f.v.ld_row != d_v or f.storage != STORE_NATIVE
        bint bf16_tiles = f.bf16_tiles
        Py_ssize_t esize = f.store_size
        bint has_lo = shape.vis.has_lo, has_hi = shape.vis.has_hi
        Py_ssize_t lo_offset = shape.vis.lo_offset, hi_offset = shape.vis.hi_offset
        double slope = shape.slopes[item] if shape.slopes != NULL else 0.0
        const floating *vsrc
        floating *qpack = <floating *>scratch_at(&f.layout, scratch, FWD_QPACK)
        floating *kpack = <floating *>scratch_at(&f.layout, scratch, FWD_KPACK)
        floating *vpack = <floating *>scratch_at(&f.layout, scratch, FWD_VPACK)
        floating *s = <floating *>scratch_at(&f.layout, scratch, FWD_SCORES)
        floating *o = <floating *>scratch_at(&f.layout, scratch, FWD_OUT)
        double *o64 = <double *>scratch_at(&f.layout, scratch, FWD_OUT64)
        floating *ones = <floating *>scratch_at(&f.layout, scratch, FWD_ONES)
        floating *running_max = <floating *>scratch_at(&f.layout, scratch, FWD_RUNNING_MAX)
        floating *corr = <floating *>scratch_at(&f.layout, scratch, FWD_CORR)
        double *running_sum = <double *>scratch_at(&f.layout, scratch, FWD_RUNNING_SUM)
        floating *block_max = <floating *>scratch_at(&f.layout, scratch, FWD_BLOCK_MAX)
        uint16_t *ppair = <uint16_t *>scratch_at(&f.layout, scratch, FWD_PPAIR)
        floating *s_row
        floating *w_row
        floating tile_max, m_old, m_new, factor
        double total, inv64

    if has_hi:
        # The last row of the task sees keys j <= i0 + rows - 1 + hi_offset.
        kv_end = min(shape.n_k, i0 + rows + hi_offset)

    memset(o64, 0, rows * d_v * sizeof(double))
    for r in range(rows_pad):
        running_max[r] = -INFINITY
        running_sum[r] = 0.0
        corr[r] = 1
        ones[r] = 1
    if weights != NULL:
        for r in range(rows * f.n_kblocks):
            block_max[r] = -INFINITY

    if kv_end > 0:
        if bf16_tiles:
            bf16_pack_q(<const uint16_t *>(q + i0 * f.q.ld_row * esize), f.q.ld_row,
                        <int>rows, <int>rows_pad, <int>d_k, <uint32_t *>qpack)
        else:
            pack_q_from(f.storage, q + i0 * f.q.ld_row * esize, f.q.ld_row, rows, rows_pad,
                        d_k, shape.scale, qpack)
        j0 = 0
        if has_lo:
            # Start at the block holding the first key the task's first row sees.
            j0 = (max(0, min(kv_end, i0 + lo_offset)) // f.block_k) * f.block_k
        block_index = j0 // f.block_k
        while j0 < kv_end:
            bk = min(f.block_k, kv_end - j0)
            if bf16_tiles:
                bf16_pack_k(<const uint16_t *>(k + j0 * f.k.ld_row * esize), f.k.ld_row,
                            <int>bk, <int>d_k, <uint32_t *>kpack)
                bf16_pack_v(<const uint16_t *>(v + j0 * f.v.ld_row * esize), f.v.ld_row,
                            <int>bk, <int>d_v, <int>dvp, <uint32_t *>vpack)
            else:
                pack_k_from(f.storage, k + j0 * f.k.ld_row * esize, f.k.ld_row, bk, d_k, kpack)
            if bf16_tiles:
                pass
            elif pack_values:
                pack_v_from(f.storage, v + j0 * f.v.ld_row * esize, f.v.ld_row, bk, d_v,
                            dvp, vpack)
                vsrc = vpack
                ld_vsrc = dvp
            else:
                vsrc = <const floating *>v + j0 * f.v.ld_row
                ld_vsrc = f.v.ld_row

            t0 = -f.tile_rows
            while t0 + f.tile_rows < rows:
                t0 += f.tile_rows
                tile_rows = min(f.tile_rows, rows - t0)
                tile_kv_end = kv_end
                if has_hi:
                    tile_kv_end = min(shape.n_k, i0 + t0 + tile_rows + hi_offset)
                if tile_kv_end <= j0:
                    continue  # this sub-tile sees none of this block (causal)
                if has_lo and j0 + bk <= i0 + t0 + lo_offset:
                    continue  # the block lies left of every row's window
                tile_bk = min(bk, tile_kv_end - j0)
                # Keys of this block that the tile's first row may see: the causal
                # staircase then adds one key per row (NO_LIMIT without an upper bound).
                visible0 = NO_LIMIT
                if has_hi:
                    visible0 = i0 + t0 + hi_offset - j0 + 1
                if bf16_tiles:
                    bf16_qk_tile(<const uint32_t *>qpack + t0 * ((d_k + 1) // 2),
                                 <int>round_up(tile_rows, ROW_ALIGN), <int>d_k,
                                 <const uint32_t *>kpack, <int>((tile_bk + BF16_NR - 1) // BF16_NR),
                                 <float>shape.scale, <float *>s, lds, visible0)
                else:
                    qk_tile(qpack + t0 * d_k, round_up(tile_rows, ROW_ALIGN), d_k,
                            kpack, (tile_bk + nr - 1) // nr, s, lds, visible0)
                for r in range(t0, t0 + tile_rows):
                    s_row = s + (r - t0) * lds
                    row_len = tile_bk
                    if has_hi:
                        row_len = min(tile_bk, max(0, visible0 + r - t0))
                    if shape.mask_kind != MASK_NONE:
                        fold_mask(s_row, shape.mask_kind,
                                  mask_at(&f.mask, shape.mask_kind, item, i0 + r, j0,
                                          sizeof(floating)),
                                  f.mask.ld_col, row_len)
                    if shape.slopes != NULL:
                        add_alibi(s_row, row_len, slope, i0 + r + shape.alibi_offset - j0)
                    if has_lo:
                        lo_cut = min(row_len, max(0, i0 + r + lo_offset - j0))
                        for c in range(lo_cut):
                            s_row[c] = -INFINITY  # left of the row's window
                    tile_max = tile_row_max(s_row, row_len)
                    m_old = running_max[r]
                    # Written so that a NaN tile_max wins (and propagates).
                    m_new = m_old if m_old >= tile_max else tile_max
                    if m_new == -INFINITY:
                        # Nothing visible yet: P is zero and there is nothing to rescale.
                        memset(s_row, 0, row_len * sizeof(floating))
                        corr[r] = 1
                    else:
                        corr[r] = exp_one(m_old - m_new)
                        total = exp_sum(s_row, row_len, m_new)
                        running_sum[r] = running_sum[r] * corr[r] + total
                        running_max[r] = m_new
                    # Beyond the row's staircase P is zero: as far as its PV row group
                    # reads (PV_MR - 1 keys more), or the whole row for the weights.
                    tail_end = tile_bk if weights != NULL else min(tile_bk, row_len + PV_MR - 1)
                    if tail_end > row_len:
                        memset(s_row + row_len, 0, (tail_end - row_len) * sizeof(floating))
                    if weights != NULL:
                        memcpy(weights + (i0 + r) * f.weights.ld_row + j0, s_row,
                               tile_bk * sizeof(floating))
                        block_max[r * f.n_kblocks + block_index] = running_max[r]
                    if bf16_tiles:
                        # P rounded to bfloat16 (as FlashAttention), zero past the row.
                        bf16_p_row(<const float *>s_row, <int>row_len,
                                   <int>round_up(tile_bk, 2), ppair + (r - t0) * lds)
                # P V of this block alone in the tile's dtype, then into the
                # float64 accumulator with the rescale: a float32 sum over
                # millions of keys would stall at 2^24 times its terms.
                memset(o + t0 * dvp, 0, round_up(tile_rows, ROW_ALIGN) * dvp * sizeof(floating))
                if bf16_tiles:
                    # Pad rows of the row groups read zeros, not a stale tile.
                    memset(ppair + tile_rows * lds, 0,
                           (round_up(tile_rows, ROW_ALIGN) - tile_rows) * lds * 2)
                    bf16_pv_tile(<const uint32_t *>ppair, lds // 2,
                                 <int>round_up(tile_rows, ROW_ALIGN), <int>tile_bk,
                                 <const uint32_t *>vpack, <int>dvp, <float *>(o + t0 * dvp),
                                 dvp, visible0)
                else:
                    pv_tile(s, lds, round_up(tile_rows, ROW_ALIGN), tile_bk, vsrc, ld_vsrc,
                            dvp, o + t0 * dvp, dvp, ones, visible0)
                for r in range(t0, t0 + tile_rows):
                    for c in range(d_v):
                        o64[r * d_v + c] = o64[r * d_v + c] * corr[r] + o[r * dvp + c]
            j0 += bk
            block_index += 1

    for r in range(rows):
        total = running_sum[r]
        # A row that sees no key (sum 0) outputs zeros; a NaN sum propagates.
        inv64 = 0.0 if total == 0.0 else 1.0 / total
        if lse != NULL:
            # log sum_j exp(s_j) = m + log(l); -inf for a row that sees no key.
            lse[i0 + r] = <floating>(running_max[r] + log(total)) if total != 0.0 else -INFINITY
        store_row(f.storage, o64 + r * d_v, inv64, d_v,
                  out + (i0 + r) * f.out.ld_row * esize, dummy)
        if weights != NULL:
            # Block b was exponentiated against the running max of its time.
            w_row = weights + (i0 + r) * f.weights.ld_row
            for block_index in range(f.n_kblocks):
                j0 = block_index * f.block_k
                bk = min(f.block_k, shape.n_k - j0)
                factor = 0
                if total != 0.0:
                    factor = exp_one(block_max[r * f.n_kblocks + block_index] - running_max[r]) * <floating>inv64
                for c in range(j0, j0 + bk):
                    w_row[c] = w_row[c] * factor


cdef void _run_tasks(const Forward *f, floating *dummy, char *scratch, int n_threads) noexcept nogil:
    """Spread (batch item, query block) tasks over the threads (`dummy` picks the dtype)."""
    cdef:
        Py_ssize_t n_qblocks = (f.shape.n_q + f.block_q - 1) // f.block_q
        Py_ssize_t n_tasks = f.shape.n_batch * n_qblocks
        Py_ssize_t task, b, i0
        floating *w_ptr
        floating *l_ptr
    with parallel(num_threads=n_threads):
        if f.bf16_tiles:
            amx_begin()
        for task in prange(n_tasks, schedule="dynamic"):
            b = task // n_qblocks
            i0 = (task % n_qblocks) * f.block_q
            w_ptr = NULL
            if f.weights.base != NULL:
                w_ptr = <floating *>f.weights.base + f.weights.offsets[b]
            l_ptr = NULL
            if f.lse != NULL:
                l_ptr = <floating *>f.lse + b * f.shape.n_q
            _attend_query_block(
                f.q.base + f.q.offsets[b] * f.store_size,
                f.k.base + f.k.offsets[b] * f.store_size,
                f.v.base + f.v.offsets[b] * f.store_size,
                f.out.base + f.out.offsets[b] * f.store_size,
                w_ptr, l_ptr, f, b, i0, min(f.block_q, f.shape.n_q - i0),
                scratch + omp_get_thread_num() * f.layout.total,
            )
        if f.bf16_tiles:
            amx_end()


def attention_forward(q, k, v, out, weights, lse, mask, shape,
                      Py_ssize_t block_q, Py_ssize_t block_k, int num_threads):
    """Run the fused kernel over validated operands (entry point, no checks of its own).

    Parameters
    ----------
    q, k, v, out : _geometry.Operand
        Arrays of one dtype, unit column stride; `out` is written. float32 or
        float64 (the compute dtype), or 16-bit storage computed in float32:
        uint16 arrays holding bfloat16 bits, or float16. bfloat16 operands run
        on the vdpbf16ps tiles where the target has AVX512-BF16 (P rounded to
        bfloat16), else they are widened while packed.
    weights : _geometry.Operand or None
        Zero-filled ``(.., n_q, n_k)`` buffer to receive the attention matrix.
    lse : ndarray or None
        C-contiguous ``(n_batch, n_q)`` array of the compute dtype that receives
        the row log-sum-exp ``max + log(sum)`` (``-inf`` for a query that sees
        no key), which the backward pass needs.
    mask : _geometry.Operand or None
        uint8 (1 = may attend) or additive in the compute dtype; its strides
        may be 0 (broadcast rows or columns).
    shape : _geometry.AttentionShape
        Sizes, scale, the visible-key rule and ALiBi.
    block_q, block_k : int
        Query rows per task and keys per inner block.
    num_threads : int
        OpenMP threads (already resolved).
    """
    cdef Forward f
    storage_of(q.array, &f.storage, &f.store_size)
    for operand in (k, v, out):
        if operand.array.dtype != q.array.dtype:
            raise ValueError("attention_forward: q, k, v and out must share one dtype")
    cdef bint is_float = q.array.dtype != np.float64
    f.bf16_tiles = HAVE_BF16_TILES and f.storage == STORE_BF16
    cdef int nr = NR_F32 if is_float else NR_F64
    cdef int vl = VL_F32 if is_float else VL_F64
    cdef Py_ssize_t itemsize = 4 if is_float else 8
    cdef cnp.ndarray lse_array
    cdef char *scratch
    read_shape(shape, mask, &f.shape)
    read_operand(q, &f.q)
    read_operand(k, &f.k)
    read_operand(v, &f.v)
    read_operand(out, &f.out)
    read_operand(weights, &f.weights)
    read_operand(mask, &f.mask)
    f.lse = NULL
    if lse is not None:
        lse_array = lse
        if (lse_array.dtype != (np.float32 if is_float else np.float64)
                or not lse_array.flags.c_contiguous
                or lse_array.size != f.shape.n_batch * f.shape.n_q):
            raise ValueError("attention_forward: lse must be C-contiguous (n_batch, n_q) "
                             "of the compute dtype")
        f.lse = <char *>cnp.PyArray_DATA(lse_array)
    if weights is not None and weights.array.dtype != (np.float32 if is_float else np.float64):
        raise ValueError("attention_forward: weights must have the compute dtype")
    f.block_q = block_q
    f.block_k = block_k
    f.rows_pad_max = round_up(min(block_q, f.shape.n_q), ROW_ALIGN)
    # Sub-tiles start at multiples of TILE_ROWS, itself a multiple of ROW_ALIGN.
    f.tile_rows = round_up(TILE_ROWS, ROW_ALIGN)
    f.tile_rows_pad = min(f.tile_rows, f.rows_pad_max)
    f.lds = round_up(block_k, nr)
    f.dvp = round_up(f.shape.d_v, vl)
    f.n_kblocks = (f.shape.n_k + block_k - 1) // block_k
    _forward_layout(&f, itemsize)

    cdef int n_threads = max(1, min(num_threads, f.shape.n_batch
                                    * ((f.shape.n_q + block_q - 1) // block_q)))
    buffer = scratch_buffer(n_threads * f.layout.total, SCRATCH_ALIGN, "forward")
    scratch = <char *>cnp.PyArray_DATA(buffer)
    if is_float:
        with nogil:
            _run_tasks(&f, <float *>NULL, scratch, n_threads)
    else:
        with nogil:
            _run_tasks(&f, <double *>NULL, scratch, n_threads)


# -- bfloat16 GEMM for the layers' projections ------------------------------------

#: Rows and columns of the output a GEMM task owns: its float32 accumulator
#: (96 x 128 floats, 48 KiB) stays in L1/L2 while the task streams its column
#: slice of the packed weights (n_pairs x 128 pairs: 256 KiB at 512 inputs).
cdef int GEMM_ROWS = 96
cdef int GEMM_COLS = 128

#: Whether this variant multiplies bfloat16 on vdpbf16ps tiles.
BF16_TILES = bool(HAVE_BF16_TILES)


def bf16_pack_weight(const uint16_t[:, ::1] weight not None):
    """The (n_in, n_out) bfloat16 bit patterns of a weight as the GEMM reads
    them: pairs of rows interleaved, (n_in / 2, round_up(n_out, 16)) uint32."""
    cdef int n_in = weight.shape[0], n_out = weight.shape[1]
    if n_in % 2:
        raise ValueError("bf16_pack_weight: the number of inputs must be even")
    cdef int ldw = round_up(max(n_out, 1), 16)
    packed = np.empty((n_in // 2, ldw), dtype=np.uint32)
    cdef uint32_t[:, ::1] dst = packed
    if n_in and n_out:
        with nogil:
            bf16_pack_v(&weight[0, 0], n_out, n_in, n_out, ldw, &dst[0, 0])
    return packed


cdef void _gemm_task(const uint16_t *x, Py_ssize_t n_rows, int n_in, const uint32_t *w,
                     int ldw, int n_out, const float *bias, uint16_t *out,
                     Py_ssize_t task, int n_col_blocks, float *acc,
                     uint16_t *tail) noexcept nogil:
    cdef Py_ssize_t r0 = (task // n_col_blocks) * GEMM_ROWS
    cdef int c0 = <int>(task % n_col_blocks) * GEMM_COLS
    cdef int rows = <int>min(<Py_ssize_t>GEMM_ROWS, n_rows - r0)
    cdef int cols = min(GEMM_COLS, n_out - c0)
    cdef int cols_pad = round_up(cols, 16)
    cdef int rows_full = rows - rows % PV_MR_BF16
    cdef int r, c
    cdef float b
    for r in range(round_up(rows, PV_MR_BF16)):
        for c in range(cols_pad):
            acc[r * GEMM_COLS + c] = 0
    # Whole groups of 6 rows read x in place (a bfloat16 row is its pairs);
    # the last partial group goes through a zero-padded copy.
    if rows_full:
        bf16_gemm_tile(<const uint32_t *>(x + r0 * n_in), n_in // 2, rows_full,
                       n_in // 2, w + c0, ldw, cols_pad, acc, GEMM_COLS)
    if rows > rows_full:
        memset(tail, 0, PV_MR_BF16 * n_in * sizeof(uint16_t))
        memcpy(tail, x + (r0 + rows_full) * n_in,
               (rows - rows_full) * n_in * sizeof(uint16_t))
        bf16_gemm_tile(<const uint32_t *>tail, n_in // 2, PV_MR_BF16, n_in // 2,
                       w + c0, ldw, cols_pad, acc + rows_full * GEMM_COLS, GEMM_COLS)
    for r in range(rows):
        for c in range(cols):
            b = bias[c0 + c] if bias != NULL else 0
            out[(r0 + r) * n_out + c0 + c] = float_to_bf16(acc[r * GEMM_COLS + c] + b)


def bf16_linear(const uint16_t[:, ::1] x not None, const uint32_t[:, ::1] w_packed not None,
                n_out, bias, uint16_t[:, ::1] out not None, int num_threads):
    """out = x @ w + bias for bfloat16 bit patterns x (n, n_in), the packed
    weight of :func:`bf16_pack_weight`, an optional float32 bias (n_out,):
    float32 accumulation, one rounding to bfloat16. Tasks are (96-row, 128-column)
    blocks of the output, each summed in a fixed order: the same bits for any
    thread count."""
    if not HAVE_BF16_TILES:
        raise RuntimeError("bf16_linear: this kernel variant has no bfloat16 tiles")
    cdef Py_ssize_t n_rows = x.shape[0]
    cdef int n_in = x.shape[1], n_cols = n_out, ldw = w_packed.shape[1]
    if n_in % 2 or w_packed.shape[0] != n_in // 2 or ldw < n_cols or ldw % 16:
        raise ValueError("bf16_linear: x and the packed weight do not fit")
    if out.shape[0] != n_rows or out.shape[1] != n_cols:
        raise ValueError("bf16_linear: out must be (n, n_out)")
    cdef const float[::1] bias_view
    cdef const float *bias_ptr = NULL
    if bias is not None:
        bias_view = bias
        if bias_view.shape[0] != n_cols:
            raise ValueError("bf16_linear: bias must have n_out entries")
        bias_ptr = &bias_view[0]
    if n_rows == 0 or n_cols == 0:
        return
    cdef int n_col_blocks = (n_cols + GEMM_COLS - 1) // GEMM_COLS
    cdef Py_ssize_t n_tasks = ((n_rows + GEMM_ROWS - 1) // GEMM_ROWS) * n_col_blocks
    cdef int n_threads = <int>max(1, min(<Py_ssize_t>num_threads, n_tasks))
    cdef Py_ssize_t per_thread = round_up(
        GEMM_ROWS * GEMM_COLS * sizeof(float) + PV_MR_BF16 * max(n_in, 1) * sizeof(uint16_t),
        SCRATCH_ALIGN)
    buffer = scratch_buffer(n_threads * per_thread, SCRATCH_ALIGN, "bf16 projection")
    cdef char *scratch = <char *>cnp.PyArray_DATA(buffer)
    cdef char *mine
    cdef Py_ssize_t task
    cdef const uint16_t *x_ptr = &x[0, 0] if n_in else NULL
    with nogil, parallel(num_threads=n_threads):
        mine = scratch + omp_get_thread_num() * per_thread
        amx_begin()
        for task in prange(n_tasks, schedule="dynamic"):
            _gemm_task(x_ptr, n_rows, n_in, &w_packed[0, 0], ldw, n_cols, bias_ptr,
                       &out[0, 0], task, n_col_blocks, <float *>mine,
                       <uint16_t *>(mine + GEMM_ROWS * GEMM_COLS * sizeof(float)))
        amx_end()


#: How this variant multiplies bfloat16 pairs: "hardware" (AMX tiles),
#: "emulated" (the C emulation of the AMX instructions, for tests) or ""
#: (vdpbf16ps tiles, or no bfloat16 products at all).
AMX_TILES = AMX_KIND.decode()


def amx_emulation_counters():
    """Counters of the AMX emulation since import: ``faults`` (tile operations
    the hardware would have refused), ``configs`` and ``releases`` (tile
    configurations loaded and tile states dropped, one each per thread per
    call). All -1 in a variant that does not emulate AMX."""
    cdef long faults, configs, releases
    amx_counters(&faults, &configs, &releases)
    return {"faults": faults, "configs": configs, "releases": releases}


def _amx_fault_probe():
    """Run two tile operations the hardware would refuse (emulated variant
    only); returns the faults the emulation should have counted (0 elsewhere)."""
    return amx_fault_probe()


def kernel_constants():
    """Vector lanes, panel widths and row alignment the kernel was compiled with."""
    return {
        "row_align": ROW_ALIGN,
        "lanes_float32": VL_F32,
        "lanes_float64": VL_F64,
        "panel_float32": NR_F32,
        "panel_float64": NR_F64,
    }
