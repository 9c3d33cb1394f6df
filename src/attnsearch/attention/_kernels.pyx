"""Fused attention kernel: softmax(q k^T * scale + mask) v without an n_q x n_k buffer.

Work is split into tasks (batch item, block of `block_q` query rows) and the
tasks are spread over OpenMP threads. A task walks the keys in blocks of
`block_k` with an online softmax (running max and running sum, the sum in
float64), so its memory is O(block_q * block_k) whatever n_k is. Each task
writes only its own output rows, and its arithmetic does not depend on which
thread runs it, so the output is bitwise identical for every thread count.

The matrix products are the register-blocked micro-kernels of
csrc/attnsearch_tiles.h; this module owns the blocking, the masks, the online
softmax and the threading. Inputs arrive as base pointers plus per-batch-item
element offsets and row strides (leading dimensions), so broadcast batch axes,
grouped-query heads and transposed head layouts are read in place.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, log
from libc.string cimport memcpy, memset

from .._blas cimport gemm_rowmajor
from .._threads cimport omp_get_thread_num

import threading

import numpy as np

cnp.import_array()

include "attnsearch/_compiled_target.pxi"

ctypedef cnp.intp_t intp_t
ctypedef cnp.uint8_t uint8_t

cdef extern from "attnsearch_tiles.h" nogil:
    int ROW_ALIGN "ATTNSEARCH_ROW_ALIGN"
    int NR_F32 "ATTNSEARCH_NR_F32"
    int NR_F64 "ATTNSEARCH_NR_F64"
    int VL_F32 "ATTNSEARCH_VL_F32"
    int VL_F64 "ATTNSEARCH_VL_F64"
    int SCRATCH_ALIGN "ATTNSEARCH_ALIGN"

    void pack_q_f32 "attnsearch_pack_q_f32"(const float *q, Py_ssize_t ldq, int rows, int rows_pad, int dk, float scale, float *qpack)
    void pack_q_f64 "attnsearch_pack_q_f64"(const double *q, Py_ssize_t ldq, int rows, int rows_pad, int dk, double scale, double *qpack)
    void pack_k_f32 "attnsearch_pack_k_f32"(const float *k, Py_ssize_t ldk, int bk, int dk, float *kpack)
    void pack_k_f64 "attnsearch_pack_k_f64"(const double *k, Py_ssize_t ldk, int bk, int dk, double *kpack)
    void pack_v_f32 "attnsearch_pack_v_f32"(const float *v, Py_ssize_t ldv, int bk, int dv, int dvp, float *vpack)
    void pack_v_f64 "attnsearch_pack_v_f64"(const double *v, Py_ssize_t ldv, int bk, int dv, int dvp, double *vpack)
    void qk_tile_f32 "attnsearch_qk_tile_f32"(const float *qpack, int rows_pad, int dk, const float *kpack, int n_panels, float *s, Py_ssize_t lds, Py_ssize_t visible0)
    void qk_tile_f64 "attnsearch_qk_tile_f64"(const double *qpack, int rows_pad, int dk, const double *kpack, int n_panels, double *s, Py_ssize_t lds, Py_ssize_t visible0)
    void pv_tile_f32 "attnsearch_pv_tile_f32"(const float *p, Py_ssize_t ldp, int rows_pad, int bk, const float *v, Py_ssize_t ldv, int dvp, float *o, Py_ssize_t ldo, const float *corr, Py_ssize_t visible0)
    void pv_tile_f64 "attnsearch_pv_tile_f64"(const double *p, Py_ssize_t ldp, int rows_pad, int bk, const double *v, Py_ssize_t ldv, int dvp, double *o, Py_ssize_t ldo, const double *corr, Py_ssize_t visible0)
    int PV_MR "ATTNSEARCH_PV_MR"
    float row_max_f32 "attnsearch_row_max_f32"(const float *x, int n)
    double row_max_f64 "attnsearch_row_max_f64"(const double *x, int n)
    int has_nan_f32 "attnsearch_has_nan_f32"(const float *x, int n)
    int has_nan_f64 "attnsearch_has_nan_f64"(const double *x, int n)
    double exp_sum_f32 "attnsearch_exp_sum_f32"(float *x, int n, float m)
    double exp_sum_f64 "attnsearch_exp_sum_f64"(double *x, int n, double m)
    float expf_scalar "attnsearch_expf"(float x)
    double exp_scalar "attnsearch_exp"(double x)

cdef extern from "attnsearch_decode.h" nogil:
    void gemv_block_f32 "attnsearch_gemv_block_f32"(const float *x, Py_ssize_t ldx, int m, const float *w, Py_ssize_t ldw, int n, int i0, int i1, float *acc, Py_ssize_t ldacc)
    void gemv_block_f64 "attnsearch_gemv_block_f64"(const double *x, Py_ssize_t ldx, int m, const double *w, Py_ssize_t ldw, int n, int i0, int i1, double *acc, Py_ssize_t ldacc)

ctypedef fused floating:
    float
    double

# Query rows per score tile inside a task (the score tile stays in L2).
cdef Py_ssize_t TILE_ROWS = 96
# "Every key of the block is visible" for the staircase arguments of the tiles.
cdef Py_ssize_t NO_LIMIT = 1 << 40

# Mask kinds (set by the Python layer).
cdef enum:
    MASK_NONE = 0
    MASK_BOOL = 1
    MASK_ADDITIVE = 2


cdef struct Geometry:
    # Sizes of one attention problem and the leading dimensions (in elements).
    Py_ssize_t n_q, n_k, d_k, d_v
    Py_ssize_t ld_q, ld_k, ld_v, ld_o, ld_w
    Py_ssize_t mask_ld_row, mask_ld_col
    int mask_kind
    bint causal                   # an upper bound (causal, or a window's right side)
    Py_ssize_t causal_offset      # row i sees keys j <= i + causal_offset (n_k - n_q when causal)
    bint has_lo                   # a lower bound (a window's left side)
    Py_ssize_t lo_offset          # row i sees keys j >= i + lo_offset
    bint alibi                    # ALiBi: add -slope * |j - (i + alibi_offset)|
    Py_ssize_t alibi_offset
    Py_ssize_t block_q, block_k, tile_rows
    Py_ssize_t rows_pad_max, tile_rows_pad, lds, dvp, n_kblocks
    double scale


cdef inline Py_ssize_t _round_up(Py_ssize_t x, Py_ssize_t multiple) noexcept nogil:
    """Smallest multiple of `multiple` that is >= x."""
    return ((x + multiple - 1) // multiple) * multiple


cdef inline int _lanes(floating dummy) noexcept nogil:
    """Vector lanes of the micro-kernels for this dtype."""
    if floating is float:
        return VL_F32
    else:
        return VL_F64


cdef inline int _panel_width(floating dummy) noexcept nogil:
    """Keys per packed K panel for this dtype."""
    if floating is float:
        return NR_F32
    else:
        return NR_F64


cdef inline floating _exp(floating x) noexcept nogil:
    """The package's vectorisable exp (csrc/attnsearch_exp.h), scalar form."""
    if floating is float:
        return expf_scalar(x)
    else:
        return exp_scalar(x)


cdef inline bint _has_nan(const floating *x, Py_ssize_t n) noexcept nogil:
    """Dtype dispatch of the NaN scan (slow path of rows whose max is -inf)."""
    if floating is float:
        return has_nan_f32(x, <int>n)
    else:
        return has_nan_f64(x, <int>n)


cdef inline void _apply_mask_row(floating *s_row, const Geometry *g, const void *mask_rows,
                                 Py_ssize_t row, Py_ssize_t j0, Py_ssize_t bk) noexcept nogil:
    """Fold the user's boolean or additive mask into one row of scores."""
    cdef Py_ssize_t j, col = g.mask_ld_col
    cdef const uint8_t *allowed
    cdef const floating *bias
    if g.mask_kind == MASK_BOOL:
        allowed = <const uint8_t *>mask_rows + row * g.mask_ld_row + j0 * col
        for j in range(bk):
            if not allowed[j * col]:
                s_row[j] = -INFINITY
    else:
        bias = <const floating *>mask_rows + row * g.mask_ld_row + j0 * col
        for j in range(bk):
            s_row[j] += bias[j * col]


cdef void _attend_query_block(
    const floating *q, const floating *k, const floating *v, floating *out,
    floating *weights, const void *mask, const Geometry *g,
    Py_ssize_t i0, Py_ssize_t rows, char *scratch, floating *lse, double slope,
) noexcept nogil:
    """Attention output for query rows [i0, i0 + rows) of one batch item.

    The pointers are already offset to this batch item; `weights` is NULL
    unless the caller asked for the attention matrix, `lse` (the row
    log-sum-exp, kept for the backward pass) unless asked for. Each packed key/value
    block is shared by all sub-tiles of TILE_Q rows of the task, which
    amortises the packing; each sub-tile has its own causal horizon. With a
    window's lower bound, key blocks left of every row's window are skipped
    and the keys left of a row's window in the blocks it straddles get -inf;
    `slope` is the batch item's ALiBi slope (used when g.alibi).
    """
    cdef:
        floating dummy = 0
        int nr = _panel_width(dummy)
        Py_ssize_t rows_pad = _round_up(rows, ROW_ALIGN)
        Py_ssize_t lds = g.lds, dvp = g.dvp, d_v = g.d_v, d_k = g.d_k
        Py_ssize_t kv_end = g.n_k, tile_kv_end, j0, bk, tile_bk, r, c, t0, tile_rows
        Py_ssize_t visible0, row_len, tail_end, block_index, ld_vsrc, lo_cut, dist, pos
        # Values are read in place only when the block is one contiguous run of
        # whole vectors: a strided V (a head view of a fused projection) would be
        # re-walked, page by page, by every row group of the micro-kernel.
        bint pack_values = d_v != dvp or g.ld_v != d_v
        const floating *vsrc
        floating *qpack
        floating *kpack
        floating *vpack
        floating *s
        floating *o
        floating *running_max
        floating *corr
        floating *block_max
        double *running_sum
        floating *s_row
        floating *w_row
        floating tile_max, m_old, m_new, inv, factor
        double total
        char *cursor = scratch

    # Carve this thread's scratch (64-byte aligned pieces; sizes as in _scratch_bytes).
    qpack = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * d_k * sizeof(floating), SCRATCH_ALIGN)
    kpack = <floating *>cursor
    cursor += _round_up(lds * d_k * sizeof(floating), SCRATCH_ALIGN)
    vpack = <floating *>cursor
    cursor += _round_up(g.block_k * dvp * sizeof(floating), SCRATCH_ALIGN)
    s = <floating *>cursor
    cursor += _round_up(g.tile_rows_pad * lds * sizeof(floating), SCRATCH_ALIGN)
    o = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * dvp * sizeof(floating), SCRATCH_ALIGN)
    running_max = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(floating), SCRATCH_ALIGN)
    corr = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(floating), SCRATCH_ALIGN)
    running_sum = <double *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(double), SCRATCH_ALIGN)
    block_max = <floating *>cursor

    if g.causal:
        # The last row of the task sees keys j <= i0 + rows - 1 + causal_offset.
        kv_end = min(g.n_k, i0 + rows + g.causal_offset)

    memset(o, 0, rows_pad * dvp * sizeof(floating))
    for r in range(rows_pad):
        running_max[r] = -INFINITY
        running_sum[r] = 0.0
        corr[r] = 1
    if weights != NULL:
        for r in range(rows * g.n_kblocks):
            block_max[r] = -INFINITY

    if kv_end > 0:
        if floating is float:
            pack_q_f32(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>rows_pad, <int>d_k,
                       <float>g.scale, qpack)
        else:
            pack_q_f64(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>rows_pad, <int>d_k,
                       g.scale, qpack)
        j0 = 0
        if g.has_lo:
            # Start at the block holding the first key the task's first row sees.
            j0 = (max(0, min(kv_end, i0 + g.lo_offset)) // g.block_k) * g.block_k
        block_index = j0 // g.block_k
        while j0 < kv_end:
            bk = min(g.block_k, kv_end - j0)
            if floating is float:
                pack_k_f32(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, kpack)
            else:
                pack_k_f64(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, kpack)
            if pack_values:
                if floating is float:
                    pack_v_f32(v + j0 * g.ld_v, g.ld_v, <int>bk, <int>d_v, <int>dvp, vpack)
                else:
                    pack_v_f64(v + j0 * g.ld_v, g.ld_v, <int>bk, <int>d_v, <int>dvp, vpack)
                vsrc = vpack
                ld_vsrc = dvp
            else:
                vsrc = v + j0 * g.ld_v
                ld_vsrc = g.ld_v

            t0 = -g.tile_rows
            while t0 + g.tile_rows < rows:
                t0 += g.tile_rows
                tile_rows = min(g.tile_rows, rows - t0)
                tile_kv_end = kv_end
                if g.causal:
                    tile_kv_end = min(g.n_k, i0 + t0 + tile_rows + g.causal_offset)
                if tile_kv_end <= j0:
                    continue  # this sub-tile sees none of this block (causal)
                if g.has_lo and j0 + bk <= i0 + t0 + g.lo_offset:
                    continue  # the block lies left of every row's window
                tile_bk = min(bk, tile_kv_end - j0)
                # Keys of this block that the tile's first row may see: the causal
                # staircase then adds one key per row (NO_LIMIT when not causal).
                visible0 = NO_LIMIT
                if g.causal:
                    visible0 = i0 + t0 + g.causal_offset - j0 + 1
                _tile_scores(qpack + t0 * d_k, _round_up(tile_rows, ROW_ALIGN), d_k,
                             kpack, (tile_bk + nr - 1) // nr, s, lds, visible0)
                for r in range(t0, t0 + tile_rows):
                    s_row = s + (r - t0) * lds
                    row_len = tile_bk
                    if g.causal:
                        row_len = min(tile_bk, max(0, visible0 + r - t0))
                    if g.mask_kind != MASK_NONE:
                        _apply_mask_row(s_row, g, mask, i0 + r, j0, row_len)
                    if g.alibi:
                        pos = i0 + r + g.alibi_offset - j0
                        for c in range(row_len):
                            dist = c - pos if c >= pos else pos - c
                            s_row[c] += <floating>(-slope * <double>dist)
                    if g.has_lo:
                        lo_cut = min(row_len, max(0, i0 + r + g.lo_offset - j0))
                        for c in range(lo_cut):
                            s_row[c] = -INFINITY  # left of the row's window
                    if floating is float:
                        tile_max = row_max_f32(s_row, <int>row_len)
                    else:
                        tile_max = row_max_f64(s_row, <int>row_len)
                    if tile_max == -INFINITY and _has_nan(s_row, row_len):
                        tile_max = NAN  # all NaN/-inf: propagate, not "fully masked"
                    m_old = running_max[r]
                    # Written so that a NaN tile_max wins (and propagates).
                    m_new = m_old if m_old >= tile_max else tile_max
                    if m_new == -INFINITY:
                        # Nothing visible yet: P is zero and there is nothing to rescale.
                        memset(s_row, 0, row_len * sizeof(floating))
                        corr[r] = 1
                    else:
                        corr[r] = _exp(m_old - m_new)
                        if floating is float:
                            total = exp_sum_f32(s_row, <int>row_len, m_new)
                        else:
                            total = exp_sum_f64(s_row, <int>row_len, m_new)
                        running_sum[r] = running_sum[r] * corr[r] + total
                        running_max[r] = m_new
                    # Beyond the row's staircase P is zero: as far as its PV row group
                    # reads (PV_MR - 1 keys more), or the whole row for the weights.
                    tail_end = tile_bk if weights != NULL else min(tile_bk, row_len + PV_MR - 1)
                    if tail_end > row_len:
                        memset(s_row + row_len, 0, (tail_end - row_len) * sizeof(floating))
                    if weights != NULL:
                        memcpy(weights + (i0 + r) * g.ld_w + j0, s_row,
                               tile_bk * sizeof(floating))
                        block_max[r * g.n_kblocks + block_index] = running_max[r]
                _tile_accumulate(s, lds, _round_up(tile_rows, ROW_ALIGN), tile_bk,
                                 vsrc, ld_vsrc, dvp, o + t0 * dvp, dvp, corr + t0, visible0)
            j0 += bk
            block_index += 1

    for r in range(rows):
        total = running_sum[r]
        # A row that sees no key (sum 0) outputs zeros; a NaN sum propagates.
        inv = 0 if total == 0.0 else <floating>(1.0 / total)
        if lse != NULL:
            # log sum_j exp(s_j) = m + log(l); -inf for a row that sees no key.
            lse[i0 + r] = <floating>(running_max[r] + log(total)) if total != 0.0 else -INFINITY
        for c in range(d_v):
            out[(i0 + r) * g.ld_o + c] = o[r * dvp + c] * inv
        if weights != NULL:
            # Block b was exponentiated against the running max of its time.
            w_row = weights + (i0 + r) * g.ld_w
            for block_index in range(g.n_kblocks):
                j0 = block_index * g.block_k
                bk = min(g.block_k, g.n_k - j0)
                factor = 0
                if total != 0.0:
                    factor = _exp(block_max[r * g.n_kblocks + block_index] - running_max[r]) * inv
                for c in range(j0, j0 + bk):
                    w_row[c] = w_row[c] * factor


cdef inline void _tile_scores(const floating *qpack, Py_ssize_t rows_pad, Py_ssize_t d_k,
                              const floating *kpack, Py_ssize_t n_panels, floating *s,
                              Py_ssize_t lds, Py_ssize_t visible0) noexcept nogil:
    """Dtype dispatch of the QK^T micro-kernel tile."""
    if floating is float:
        qk_tile_f32(qpack, <int>rows_pad, <int>d_k, kpack, <int>n_panels, s, lds, visible0)
    else:
        qk_tile_f64(qpack, <int>rows_pad, <int>d_k, kpack, <int>n_panels, s, lds, visible0)


cdef inline void _tile_accumulate(const floating *p, Py_ssize_t ldp, Py_ssize_t rows_pad,
                                  Py_ssize_t bk, const floating *v, Py_ssize_t ldv,
                                  Py_ssize_t dvp, floating *o, Py_ssize_t ldo,
                                  const floating *corr, Py_ssize_t visible0) noexcept nogil:
    """Dtype dispatch of the rescale-and-accumulate P V micro-kernel tile."""
    if floating is float:
        pv_tile_f32(p, ldp, <int>rows_pad, <int>bk, v, ldv, <int>dvp, o, ldo, corr, visible0)
    else:
        pv_tile_f64(p, ldp, <int>rows_pad, <int>bk, v, ldv, <int>dvp, o, ldo, corr, visible0)


cdef Py_ssize_t _scratch_bytes(const Geometry *g, Py_ssize_t itemsize, bint with_weights) noexcept nogil:
    """Bytes of scratch one thread needs (mirrors the carving in _attend_query_block)."""
    cdef Py_ssize_t total = 0
    total += _round_up(g.rows_pad_max * g.d_k * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.lds * g.d_k * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.block_k * g.dvp * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.tile_rows_pad * g.lds * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.rows_pad_max * g.dvp * itemsize, SCRATCH_ALIGN)
    total += 2 * _round_up(g.rows_pad_max * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.rows_pad_max * sizeof(double), SCRATCH_ALIGN)
    if with_weights:
        total += _round_up(g.rows_pad_max * g.n_kblocks * itemsize, SCRATCH_ALIGN)
    return total


cdef void _run_tasks(
    const floating *q, const floating *k, const floating *v, floating *out,
    floating *weights, const void *mask, floating *lse,
    const intp_t *q_off, const intp_t *k_off, const intp_t *v_off,
    const intp_t *o_off, const intp_t *w_off, const intp_t *m_off,
    const Geometry *g, Py_ssize_t n_batch, char *scratch, Py_ssize_t scratch_stride,
    int n_threads, const double *slopes,
) noexcept nogil:
    """Spread (batch item, query block) tasks over the threads."""
    cdef:
        Py_ssize_t n_qblocks = (g.n_q + g.block_q - 1) // g.block_q
        Py_ssize_t n_tasks = n_batch * n_qblocks
        Py_ssize_t task, b, i0, rows
        floating *w_ptr
        floating *l_ptr
        const void *m_ptr
        int elem_mask
    elem_mask = g.mask_kind
    with parallel(num_threads=n_threads):
        for task in prange(n_tasks, schedule="dynamic"):
            b = task // n_qblocks
            i0 = (task % n_qblocks) * g.block_q
            rows = min(g.block_q, g.n_q - i0)
            w_ptr = NULL
            if weights != NULL:
                w_ptr = weights + w_off[b]
            l_ptr = NULL
            if lse != NULL:
                l_ptr = lse + b * g.n_q
            m_ptr = NULL
            if elem_mask == MASK_BOOL:
                m_ptr = <const uint8_t *>mask + m_off[b]
            elif elem_mask == MASK_ADDITIVE:
                m_ptr = <const floating *>mask + m_off[b]
            _attend_query_block(
                q + q_off[b], k + k_off[b], v + v_off[b], out + o_off[b], w_ptr, m_ptr, g,
                i0, rows, scratch + omp_get_thread_num() * scratch_stride, l_ptr,
                slopes[b] if slopes != NULL else 0.0,
            )


# Scratch kept between calls, per calling Python thread (calls from two threads
# run concurrently without the GIL, so they must not share it). Reusing it saves
# a fresh allocation, and its page faults, on every call; only buffers up to
# _SCRATCH_CACHE_LIMIT bytes are kept.
_scratch_cache = threading.local()
_SCRATCH_CACHE_LIMIT = 64 * 1024 * 1024


def _scratch(Py_ssize_t nbytes):
    """A uint8 buffer of at least nbytes, reused across calls of this thread."""
    buffer = getattr(_scratch_cache, "buffer", None)
    if buffer is not None and buffer.shape[0] >= nbytes:
        return buffer
    buffer = np.empty(nbytes, dtype=np.uint8)
    _scratch_cache.buffer = buffer if nbytes <= _SCRATCH_CACHE_LIMIT else None
    return buffer


def release_scratch():
    """Drop this thread's cached scratch buffer (benchmarks measure cold calls)."""
    _scratch_cache.buffer = None


def attention_forward(
    cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, cnp.ndarray out, weights, mask,
    int mask_kind,
    const intp_t[::1] q_offsets, const intp_t[::1] k_offsets, const intp_t[::1] v_offsets,
    const intp_t[::1] o_offsets, const intp_t[::1] w_offsets, const intp_t[::1] m_offsets,
    Py_ssize_t n_q, Py_ssize_t n_k, Py_ssize_t d_k, Py_ssize_t d_v,
    Py_ssize_t ld_q, Py_ssize_t ld_k, Py_ssize_t ld_v, Py_ssize_t ld_o, Py_ssize_t ld_w,
    Py_ssize_t mask_ld_row, Py_ssize_t mask_ld_col,
    double scale, bint causal, Py_ssize_t block_q, Py_ssize_t block_k, int num_threads,
    lse=None, hi_offset=None, bint has_lo=False, Py_ssize_t lo_offset=0, slopes=None,
    Py_ssize_t alibi_offset=0,
):
    """Run the fused kernel over validated arrays (entry point, no checks of its own).

    Parameters
    ----------
    q, k, v, out : ndarray
        float32 or float64 arrays of one dtype. Element (b, i, c) of each lives
        at ``base + offsets[b] + i * ld + c`` (elements), i.e. the last axis is
        contiguous; `out` is written.
    weights : ndarray or None
        Zero-filled ``(.., n_q, n_k)`` buffer to receive the attention matrix.
    mask : ndarray or None
        uint8 (1 = may attend) for ``mask_kind == 1`` or an additive mask of the
        compute dtype for ``mask_kind == 2``; element (b, i, j) at
        ``base + m_offsets[b] + i * mask_ld_row + j * mask_ld_col``.
    n_q, n_k, d_k, d_v, ld_* : int
        Sizes and leading dimensions in elements.
    scale : float
        Multiplies q k^T.
    causal : bool
        Query i sees keys j <= i + hi_offset (default ``n_k - n_q``: causal).
    block_q, block_k : int
        Query rows per task and keys per inner block.
    num_threads : int
        OpenMP threads (already resolved).
    lse : ndarray or None
        C-contiguous ``(n_batch, n_q)`` array of the compute dtype that receives
        the row log-sum-exp ``max + log(sum)`` (``-inf`` for a query that sees
        no key), which the backward pass needs.
    hi_offset : int, optional
        The upper bound's offset when ``causal`` (a window's right side).
    has_lo, lo_offset : bool, int
        Query i sees keys j >= i + lo_offset (a window's left side).
    slopes : ndarray of float64, shape (n_batch,), optional
        ALiBi slope per batch item: the score of query i and key j gets
        ``-slope * |j - (i + alibi_offset)|`` after scaling.
    """
    cdef Geometry g
    cdef Py_ssize_t n_batch = q_offsets.shape[0], itemsize, scratch_stride
    cdef int nr, vl, n_threads
    cdef bint is_float = q.dtype == np.float32
    cdef char *scratch_ptr
    cdef cnp.ndarray scratch

    nr = NR_F32 if is_float else NR_F64
    vl = VL_F32 if is_float else VL_F64
    itemsize = 4 if is_float else 8
    g.n_q, g.n_k, g.d_k, g.d_v = n_q, n_k, d_k, d_v
    g.ld_q, g.ld_k, g.ld_v, g.ld_o, g.ld_w = ld_q, ld_k, ld_v, ld_o, ld_w
    g.mask_ld_row, g.mask_ld_col = mask_ld_row, mask_ld_col
    g.mask_kind = mask_kind
    g.causal = causal
    g.causal_offset = n_k - n_q if hi_offset is None else hi_offset
    g.has_lo = has_lo
    g.lo_offset = lo_offset
    g.alibi = slopes is not None
    g.alibi_offset = alibi_offset
    g.block_q = block_q
    g.block_k = block_k
    g.rows_pad_max = _round_up(min(block_q, n_q), ROW_ALIGN)
    # Sub-tiles start at multiples of TILE_ROWS, itself a multiple of ROW_ALIGN.
    g.tile_rows = _round_up(TILE_ROWS, ROW_ALIGN)
    g.tile_rows_pad = min(g.tile_rows, g.rows_pad_max)
    g.lds = _round_up(block_k, nr)
    g.dvp = _round_up(d_v, vl)
    g.n_kblocks = (n_k + block_k - 1) // block_k
    g.scale = scale

    n_threads = max(1, min(num_threads, n_batch * ((n_q + block_q - 1) // block_q)))
    scratch_stride = _scratch_bytes(&g, itemsize, weights is not None)
    # One buffer for all threads, owned by NumPy (a MemoryError surfaces here).
    scratch = _scratch(n_threads * scratch_stride + SCRATCH_ALIGN)
    scratch_ptr = <char *>cnp.PyArray_DATA(scratch)
    scratch_ptr += (SCRATCH_ALIGN - <size_t>scratch_ptr % SCRATCH_ALIGN) % SCRATCH_ALIGN

    cdef void *q_ptr = cnp.PyArray_DATA(q)
    cdef void *k_ptr = cnp.PyArray_DATA(k)
    cdef void *v_ptr = cnp.PyArray_DATA(v)
    cdef void *o_ptr = cnp.PyArray_DATA(out)
    cdef void *w_ptr = NULL
    cdef void *m_ptr = NULL
    cdef void *l_ptr = NULL
    if lse is not None:
        if lse.dtype != q.dtype or not lse.flags.c_contiguous or lse.size != n_batch * n_q:
            raise ValueError("attention_forward: lse must be C-contiguous (n_batch, n_q) of q's dtype")
        l_ptr = cnp.PyArray_DATA(lse)
    cdef const double *slope_ptr = NULL
    cdef cnp.ndarray slope_array
    if slopes is not None:
        slope_array = np.ascontiguousarray(slopes, dtype=np.float64)
        if slope_array.shape[0] != n_batch:
            raise ValueError("attention_forward: one ALiBi slope per batch item expected")
        slope_ptr = <const double *>cnp.PyArray_DATA(slope_array)
    if weights is not None:
        w_ptr = cnp.PyArray_DATA(weights)
    if mask is not None:
        m_ptr = cnp.PyArray_DATA(mask)

    if is_float:
        with nogil:
            _run_tasks(
                <const float *>q_ptr, <const float *>k_ptr, <const float *>v_ptr,
                <float *>o_ptr, <float *>w_ptr, m_ptr, <float *>l_ptr,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0],
                &w_offsets[0], &m_offsets[0], &g, n_batch, scratch_ptr, scratch_stride,
                n_threads, slope_ptr,
            )
    else:
        with nogil:
            _run_tasks(
                <const double *>q_ptr, <const double *>k_ptr, <const double *>v_ptr,
                <double *>o_ptr, <double *>w_ptr, m_ptr, <double *>l_ptr,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0],
                &w_offsets[0], &m_offsets[0], &g, n_batch, scratch_ptr, scratch_stride,
                n_threads, slope_ptr,
            )


cdef void _linear_tiles(const floating *x, Py_ssize_t ld_x, const floating *w,
                        const floating *bias, floating *out, Py_ssize_t ld_out,
                        Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, Py_ssize_t row_block,
                        Py_ssize_t col_block, int n_threads) noexcept nogil:
    """out = x @ w (+ bias): one single-threaded gemm per tile of a fixed grid.

    The grid (row_block x col_block tiles) depends on the shapes only, so every
    output element comes from the same gemm call whatever the thread count.
    """
    cdef Py_ssize_t n_rb = (m + row_block - 1) // row_block
    cdef Py_ssize_t n_cb = (n + col_block - 1) // col_block
    cdef Py_ssize_t tile, r0, r1, c0, c1, r, c
    cdef floating beta
    with parallel(num_threads=n_threads):
        for tile in prange(n_rb * n_cb, schedule="dynamic"):
            r0 = (tile // n_cb) * row_block
            r1 = min(m, r0 + row_block)
            c0 = (tile % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            beta = 0
            if bias != NULL:
                beta = 1
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        out[r * ld_out + c] = bias[c]
            gemm_rowmajor(False, <int>(r1 - r0), <int>(c1 - c0), <int>k, <floating>1,
                          x + r0 * ld_x, <int>ld_x, w + c0, <int>n, beta,
                          out + r0 * ld_out + c0, <int>ld_out)


cdef void _linear_split_k(const floating *x, Py_ssize_t ld_x, const floating *w,
                          const floating *bias, floating *out, Py_ssize_t ld_out,
                          Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, Py_ssize_t k_block,
                          Py_ssize_t col_block, floating *partial, int n_threads) noexcept nogil:
    """out = x @ w (+ bias) for a few rows: w streamed in fixed blocks of k_block
    rows (x col_block columns), one partial sum per block, added in block order."""
    cdef Py_ssize_t n_kb = (k + k_block - 1) // k_block
    cdef Py_ssize_t n_cb = (n + col_block - 1) // col_block
    cdef Py_ssize_t task, kb, r, c, c0, c1, i0, i1
    cdef floating *acc
    cdef floating *dst
    cdef const floating *src
    with parallel(num_threads=n_threads):
        for task in prange(n_kb * n_cb, schedule="dynamic"):
            kb = task // n_cb
            c0 = (task % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            i0 = kb * k_block
            i1 = min(k, i0 + k_block)
            acc = partial + kb * m * n + c0
            for r in range(m):
                memset(acc + r * n, 0, (c1 - c0) * sizeof(floating))
            if floating is float:
                gemv_block_f32(x, ld_x, <int>m, w + c0, n, <int>(c1 - c0), <int>i0, <int>i1, acc, n)
            else:
                gemv_block_f64(x, ld_x, <int>m, w + c0, n, <int>(c1 - c0), <int>i0, <int>i1, acc, n)
        for task in prange(m * n_cb, schedule="static"):
            r = task // n_cb
            c0 = (task % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            dst = out + r * ld_out
            for c in range(c0, c1):
                dst[c] = bias[c] if bias != NULL else 0
            for kb in range(n_kb):
                src = partial + (kb * m + r) * n
                for c in range(c0, c1):
                    dst[c] = dst[c] + src[c]


# Rows up to which linear_forward streams w itself (split-k, see _linear_split_k):
# a gemm over a few rows is bound by reading w, which OpenBLAS's small-m path
# does at a fraction of the memory bandwidth.
LINEAR_GEMV_MAX_ROWS = 16
# Rows of w per split-k block (at least), and the number of blocks to aim for.
LINEAR_GEMV_MIN_K_BLOCK = 64
LINEAR_GEMV_K_BLOCKS = 16
# Columns per split-k task (8 KiB of float32 per row of w).
LINEAR_GEMV_COL_BLOCK = 2048

# Tile grid of linear_forward (more than LINEAR_GEMV_MAX_ROWS rows). Each gemm
# call packs both of its operands, so a grid of n_rb x n_cb tiles copies
# (n_cb - 1) * m * k + (n_rb - 1) * k * n elements more than one call. The grid
# splits only the larger of the two output dimensions, into more tiles as the
# work grows (multiply-adds m * n * k at least LINEAR_TILE_WORK[t] for 2, 4, 8
# tiles), so the copies stay a few percent at most: on one thread,
# MultiHeadAttention(512, 8) at n = 1024 (805 M multiply-adds per projection)
# took 49.5-51 ms with 1 tile, 51-52 with 2, 51.5-53.4 with 4, and 24 narrow
# 512 x 128 tiles had cost 8 %.
LINEAR_TILE_WORK = (1 << 22, 1 << 30, 1 << 33)


def linear_tiles(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k=1):
    """(row_block, col_block) of linear_forward's tile grid for x (m, k) @ w (k, n)."""
    cdef Py_ssize_t work = m * n * max(1, k), tiles = 1
    for threshold in LINEAR_TILE_WORK:
        if work >= threshold:
            tiles *= 2
    if m >= n:
        return max(1, (m + tiles - 1) // tiles), max(1, n)
    cdef Py_ssize_t col_block = ((n + tiles - 1) // tiles + 15) // 16 * 16
    return max(1, m), max(1, col_block)


def linear_forward(cnp.ndarray x, cnp.ndarray w, bias, cnp.ndarray out, int num_threads):
    """out = x @ w (+ bias) with single-threaded SciPy-BLAS calls on a tile grid.

    Parameters
    ----------
    x : ndarray, (m, k), unit column stride, any row stride
    w : ndarray, (k, n), C-contiguous
    bias : ndarray (n,) or None
    out : ndarray, (m, n), unit column stride, any row stride
    num_threads : int
        The caller limits BLAS to one thread (blas_limited_to_one_thread), so
        numpy's and SciPy's BLAS thread pools are not woken: their spinning
        workers would otherwise compete with the attention kernel's threads.

    Notes
    -----
    Up to ``LINEAR_GEMV_MAX_ROWS`` rows (decoding), w is streamed by our own
    kernel in fixed blocks of rows whose partial sums are added in block
    order; more rows run single-threaded BLAS gemms on a grid of tiles
    (:func:`linear_tiles`). Both depend on the shapes only: the result is
    bitwise identical for every ``num_threads``.
    """
    if x.ndim != 2 or w.ndim != 2 or out.ndim != 2:
        raise ValueError("linear_forward: x, w and out must be 2-d")
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = w.shape[1]
    if w.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError(
            f"linear_forward: shapes do not match: x {(<object>x).shape}, "
            f"w {(<object>w).shape}, out {(<object>out).shape}"
        )
    if x.dtype != w.dtype or out.dtype != w.dtype or w.dtype not in (np.float32, np.float64):
        raise ValueError("linear_forward: x, w and out must share a float dtype")
    if bias is not None and (bias.dtype != w.dtype or bias.shape != (n,)
                             or not bias.flags.c_contiguous):
        raise ValueError("linear_forward: bias must be a contiguous (n,) array of w's dtype")
    if not w.flags.c_contiguous or (k > 1 and x.strides[1] != x.itemsize) or (n > 1 and out.strides[1] != out.itemsize):
        raise ValueError("linear_forward: w must be C-contiguous, x and out unit-stride rows")
    if not out.flags.writeable:
        raise ValueError("linear_forward: out must be writeable")
    if m == 0 or n == 0:
        return
    if k == 0:
        out[...] = 0 if bias is None else bias
        return
    cdef Py_ssize_t ld_x = x.strides[0] // x.itemsize if m > 1 else k
    cdef Py_ssize_t ld_out = out.strides[0] // out.itemsize if m > 1 else n
    cdef Py_ssize_t k_block, n_kb, n_tiles, gemv_cols
    cdef int n_threads
    cdef cnp.ndarray partial
    cdef void *x_ptr = cnp.PyArray_DATA(x)
    cdef void *w_ptr = cnp.PyArray_DATA(w)
    cdef void *o_ptr = cnp.PyArray_DATA(out)
    cdef void *b_ptr = NULL
    if bias is not None:
        b_ptr = cnp.PyArray_DATA(bias)
    if m <= LINEAR_GEMV_MAX_ROWS:
        k_block = max(LINEAR_GEMV_MIN_K_BLOCK, (k + LINEAR_GEMV_K_BLOCKS - 1) // LINEAR_GEMV_K_BLOCKS)
        k_block = ((k_block + 3) // 4) * 4
        n_kb = (k + k_block - 1) // k_block
        partial = np.empty(n_kb * m * n, dtype=w.dtype)
        gemv_cols = LINEAR_GEMV_COL_BLOCK
        n_tiles = n_kb * ((n + gemv_cols - 1) // gemv_cols)
        n_threads = <int>max(1, min(num_threads, n_tiles))
        if x.dtype == np.float32:
            with nogil:
                _linear_split_k(<const float *>x_ptr, ld_x, <const float *>w_ptr,
                                <const float *>b_ptr, <float *>o_ptr, ld_out, m, k, n,
                                k_block, gemv_cols,
                                <float *>cnp.PyArray_DATA(partial), n_threads)
        else:
            with nogil:
                _linear_split_k(<const double *>x_ptr, ld_x, <const double *>w_ptr,
                                <const double *>b_ptr, <double *>o_ptr, ld_out, m, k, n,
                                k_block, gemv_cols,
                                <double *>cnp.PyArray_DATA(partial), n_threads)
        return
    row_block, col_block = linear_tiles(m, n, k)
    cdef Py_ssize_t rb = row_block, cb = col_block
    n_tiles = ((m + rb - 1) // rb) * ((n + cb - 1) // cb)
    n_threads = <int>max(1, min(num_threads, n_tiles))
    if x.dtype == np.float32:
        with nogil:
            _linear_tiles(<const float *>x_ptr, ld_x, <const float *>w_ptr,
                          <const float *>b_ptr, <float *>o_ptr, ld_out, m, k, n, rb, cb,
                          n_threads)
    else:
        with nogil:
            _linear_tiles(<const double *>x_ptr, ld_x, <const double *>w_ptr,
                          <const double *>b_ptr, <double *>o_ptr, ld_out, m, k, n, rb, cb,
                          n_threads)


def kernel_constants():
    """Vector lanes, panel widths and row alignment the kernel was compiled with."""
    return {
        "row_align": ROW_ALIGN,
        "lanes_float32": VL_F32,
        "lanes_float64": VL_F64,
        "panel_float32": NR_F32,
        "panel_float64": NR_F64,
    }
