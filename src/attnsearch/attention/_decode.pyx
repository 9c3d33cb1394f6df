"""Decode kernel: a few query rows against many keys, the keys split across threads.

Generating a token attends 1-16 new query rows per head to a long key/value
cache. The tiled kernel of _kernels.pyx parallelises over (batch item, query
block) only, so with one query row per head it has as many tasks as heads,
re-reads the shared K/V of a grouped-query group once per query head and runs
micro-kernels sized for 96-row tiles. Here:

* **Row blocks**: the query rows of all batch items that read the same K/V (the
  query heads of one grouped-query group; any broadcast of k/v) are stacked
  into one block (up to `rows_max` rows), so each key and value row is read
  from memory once per group.
* **Key chunks**: the visible key range is cut into `n_chunks` chunks of `chunk`
  keys. A task is (row block, chunk); it walks its chunk in blocks of
  `block_k` keys with an online softmax and leaves a *partial result*: the
  running max m, the float64 sum l of exp(s - m), and the unnormalised output
  o (rows x d_v).
* **Merge**: after all tasks, each query row combines its chunks in chunk
  order: M = max_c m_c, L = sum_c l_c exp(m_c - M), out = sum_c o_c exp(m_c -
  M) / L (float64 accumulators).

Chunk boundaries depend on the shapes only (never on num_threads), each task's
arithmetic does not depend on the thread that runs it, and the merge always
adds the chunks in the same order: the output is bitwise identical for every
thread count.

Micro-kernels: blocks of up to `small_rows` rows use csrc/attnsearch_decode.h
(keys read in place, one dot product per row and key); larger blocks use the
packed tiles of csrc/attnsearch_tiles.h, which amortise packing K over many rows.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset

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
    void pack_k_f32 "attnsearch_pack_k_f32"(const float *k, Py_ssize_t ldk, int bk, int dk, float *kpack)
    void pack_k_f64 "attnsearch_pack_k_f64"(const double *k, Py_ssize_t ldk, int bk, int dk, double *kpack)
    void pack_v_f32 "attnsearch_pack_v_f32"(const float *v, Py_ssize_t ldv, int bk, int dv, int dvp, float *vpack)
    void pack_v_f64 "attnsearch_pack_v_f64"(const double *v, Py_ssize_t ldv, int bk, int dv, int dvp, double *vpack)
    void qk_tile_f32 "attnsearch_qk_tile_f32"(const float *qpack, int rows_pad, int dk, const float *kpack, int n_panels, float *s, Py_ssize_t lds, Py_ssize_t visible0)
    void qk_tile_f64 "attnsearch_qk_tile_f64"(const double *qpack, int rows_pad, int dk, const double *kpack, int n_panels, double *s, Py_ssize_t lds, Py_ssize_t visible0)
    void pv_tile_f32 "attnsearch_pv_tile_f32"(const float *p, Py_ssize_t ldp, int rows_pad, int bk, const float *v, Py_ssize_t ldv, int dvp, float *o, Py_ssize_t ldo, const float *corr, Py_ssize_t visible0)
    void pv_tile_f64 "attnsearch_pv_tile_f64"(const double *p, Py_ssize_t ldp, int rows_pad, int bk, const double *v, Py_ssize_t ldv, int dvp, double *o, Py_ssize_t ldo, const double *corr, Py_ssize_t visible0)
    float row_max_f32 "attnsearch_row_max_f32"(const float *x, int n)
    double row_max_f64 "attnsearch_row_max_f64"(const double *x, int n)
    int has_nan_f32 "attnsearch_has_nan_f32"(const float *x, int n)
    int has_nan_f64 "attnsearch_has_nan_f64"(const double *x, int n)
    double exp_sum_f32 "attnsearch_exp_sum_f32"(float *x, int n, float m)
    double exp_sum_f64 "attnsearch_exp_sum_f64"(double *x, int n, double m)
    float expf_scalar "attnsearch_expf"(float x)
    double exp_scalar "attnsearch_exp"(double x)

cdef extern from "attnsearch_decode.h" nogil:
    int DEC_MR "ATTNSEARCH_DEC_MR"
    void dec_qk_f32 "attnsearch_dec_qk_f32"(const float *q, int rows, int dk, const float *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds)
    void dec_qk_f64 "attnsearch_dec_qk_f64"(const double *q, int rows, int dk, const double *k, Py_ssize_t ldk, int nkeys, double *s, Py_ssize_t lds)
    void dec_pv_f32 "attnsearch_dec_pv_f32"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const float *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr)
    void dec_pv_f64 "attnsearch_dec_pv_f64"(const double *p, Py_ssize_t ldp, int rows, int nkeys, const double *v, Py_ssize_t ldv, int dv, double *o, Py_ssize_t ldo, const double *corr)
    double stream_sum_f32 "attnsearch_stream_sum_f32"(const float *x, Py_ssize_t n)
    double stream_sum_f64 "attnsearch_stream_sum_f64"(const double *x, Py_ssize_t n)
    int all_finite_f32 "attnsearch_all_finite_f32"(const float *x, Py_ssize_t n)
    int all_finite_f64 "attnsearch_all_finite_f64"(const double *x, Py_ssize_t n)

ctypedef fused floating:
    float
    double

# "Every key of the block is visible" for the staircase argument of the tiles.
cdef Py_ssize_t NO_LIMIT = 1 << 40

cdef enum:
    MASK_NONE = 0
    MASK_BOOL = 1
    MASK_ADDITIVE = 2


cdef struct DecodeGeometry:
    # Sizes, leading dimensions (elements) and the visible-key rule of one call.
    Py_ssize_t n_q, n_k, d_k, d_v
    Py_ssize_t ld_q, ld_k, ld_v, ld_o
    Py_ssize_t mask_ld_row, mask_ld_col
    int mask_kind
    bint has_lo, has_hi, alibi
    Py_ssize_t lo_offset, hi_offset   # row i sees keys i + lo_offset <= j <= i + hi_offset
    Py_ssize_t alibi_offset           # row i sits at key position i + alibi_offset
    Py_ssize_t kv_lo, kv_hi           # keys [kv_lo, kv_hi) are visible to some row
    Py_ssize_t chunk, n_chunks, block_k
    Py_ssize_t small_rows, rows_pad_max, lds, dvp
    double scale


cdef inline Py_ssize_t _round_up(Py_ssize_t x, Py_ssize_t multiple) noexcept nogil:
    """Smallest multiple of `multiple` that is >= x."""
    return ((x + multiple - 1) // multiple) * multiple


cdef inline int _panel_width(floating dummy) noexcept nogil:
    """Keys per packed K panel for this dtype."""
    if floating is float:
        return NR_F32
    else:
        return NR_F64


cdef inline bint _has_nan(const floating *x, Py_ssize_t n) noexcept nogil:
    """Dtype dispatch of the NaN scan (slow path of rows whose max is -inf)."""
    if floating is float:
        return has_nan_f32(x, <int>n)
    else:
        return has_nan_f64(x, <int>n)


cdef inline void _apply_mask(floating *s, int kind, const void *mask, Py_ssize_t offset,
                             Py_ssize_t col, Py_ssize_t n) noexcept nogil:
    """Fold n mask entries (element `offset`, column stride `col`) into n scores."""
    cdef Py_ssize_t j
    cdef const uint8_t *allowed
    cdef const floating *bias
    if kind == MASK_BOOL:
        allowed = <const uint8_t *>mask + offset
        for j in range(n):
            if not allowed[j * col]:
                s[j] = -INFINITY
    else:
        bias = <const floating *>mask + offset
        for j in range(n):
            s[j] += bias[j * col]


cdef Py_ssize_t _task_scratch_bytes(const DecodeGeometry *g, Py_ssize_t itemsize) noexcept nogil:
    """Bytes of scratch one thread needs (mirrors the carving in _decode_task)."""
    cdef Py_ssize_t rp = g.rows_pad_max, total = 0
    total += _round_up(rp * g.d_k * itemsize, SCRATCH_ALIGN)        # qpack
    total += _round_up(g.lds * g.d_k * itemsize, SCRATCH_ALIGN)     # kpack
    total += _round_up(g.block_k * g.dvp * itemsize, SCRATCH_ALIGN)  # vpack
    total += _round_up(rp * g.lds * itemsize, SCRATCH_ALIGN)        # s
    total += _round_up(rp * g.dvp * itemsize, SCRATCH_ALIGN)        # o
    total += 2 * _round_up(rp * itemsize, SCRATCH_ALIGN)            # running max, corr
    total += 2 * _round_up(rp * sizeof(double), SCRATCH_ALIGN)      # running sum, slope
    total += 4 * _round_up(rp * sizeof(Py_ssize_t), SCRATCH_ALIGN)  # lo, hi, pos, mask row
    total += _round_up(g.d_v * sizeof(double), SCRATCH_ALIGN)       # merge accumulator
    return total


cdef void _decode_task(
    const floating *q, const floating *k, const floating *v, const void *mask,
    const double *slopes, const intp_t *order, const intp_t *q_off, const intp_t *k_off,
    const intp_t *v_off, const intp_t *m_off, const DecodeGeometry *g,
    Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t chunk_index,
    floating *part_o, floating *part_m, double *part_l, char *scratch,
) noexcept nogil:
    """Partial attention of rows [row0, row0 + rows) (one K/V) over one key chunk.

    Global row `rho` is query `rho % n_q` of batch item `order[rho // n_q]`.
    Leaves the chunk's running max, float64 sum and unnormalised output of
    each row in part_m / part_l / part_o at index rho * n_chunks + chunk_index.
    """
    cdef:
        floating dummy = 0
        int nr = _panel_width(dummy)
        bint tiled = rows > g.small_rows
        Py_ssize_t rows_pad = _round_up(rows, ROW_ALIGN) if tiled else rows
        Py_ssize_t d_k = g.d_k, d_v = g.d_v, dvp = g.dvp, lds = g.lds
        Py_ssize_t r, c, i, item, rho, j, j0, c0, c1, bk, a, b, ld_vsrc, idx, dist
        bint pack_values = tiled and (d_v != dvp or g.ld_v != d_v)
        const floating *qrow
        const floating *kbase
        const floating *vbase
        const floating *vsrc
        floating *qpack
        floating *kpack
        floating *vpack
        floating *s
        floating *o
        floating *running_max
        floating *corr
        double *running_sum
        double *row_slope
        Py_ssize_t *row_lo
        Py_ssize_t *row_hi
        Py_ssize_t *row_pos
        Py_ssize_t *row_mask
        floating *s_row
        floating tile_max, m_old, m_new, fscale = <floating>g.scale
        double slope, total
        char *cursor = scratch

    qpack = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * d_k * sizeof(floating), SCRATCH_ALIGN)
    kpack = <floating *>cursor
    cursor += _round_up(lds * d_k * sizeof(floating), SCRATCH_ALIGN)
    vpack = <floating *>cursor
    cursor += _round_up(g.block_k * dvp * sizeof(floating), SCRATCH_ALIGN)
    s = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * lds * sizeof(floating), SCRATCH_ALIGN)
    o = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * dvp * sizeof(floating), SCRATCH_ALIGN)
    running_max = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(floating), SCRATCH_ALIGN)
    corr = <floating *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(floating), SCRATCH_ALIGN)
    running_sum = <double *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(double), SCRATCH_ALIGN)
    row_slope = <double *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(double), SCRATCH_ALIGN)
    row_lo = <Py_ssize_t *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(Py_ssize_t), SCRATCH_ALIGN)
    row_hi = <Py_ssize_t *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(Py_ssize_t), SCRATCH_ALIGN)
    row_pos = <Py_ssize_t *>cursor
    cursor += _round_up(g.rows_pad_max * sizeof(Py_ssize_t), SCRATCH_ALIGN)
    row_mask = <Py_ssize_t *>cursor

    # Every row of the block reads the same keys and values.
    item = order[row0 // g.n_q]
    kbase = k + k_off[item]
    vbase = v + v_off[item]

    # Gather the rows' queries (times the scale) and their visible-key rules.
    for r in range(rows):
        rho = row0 + r
        item = order[rho // g.n_q]
        i = rho % g.n_q
        qrow = q + q_off[item] + i * g.ld_q
        for c in range(d_k):
            qpack[r * d_k + c] = qrow[c] * fscale
        row_lo[r] = max(0, i + g.lo_offset) if g.has_lo else 0
        row_hi[r] = min(g.n_k, i + g.hi_offset + 1) if g.has_hi else g.n_k
        row_pos[r] = i + g.alibi_offset
        row_slope[r] = slopes[item] if g.alibi else 0.0
        row_mask[r] = m_off[item] + i * g.mask_ld_row if g.mask_kind != MASK_NONE else 0
    if rows_pad > rows:
        memset(qpack + rows * d_k, 0, (rows_pad - rows) * d_k * sizeof(floating))
    memset(o, 0, rows_pad * dvp * sizeof(floating))
    for r in range(rows_pad):
        running_max[r] = -INFINITY
        running_sum[r] = 0.0
        corr[r] = 1

    c0 = g.kv_lo + chunk_index * g.chunk
    c1 = min(g.kv_hi, c0 + g.chunk)
    j0 = c0
    while j0 < c1:
        bk = min(g.block_k, c1 - j0)
        if tiled:
            if floating is float:
                pack_k_f32(kbase + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, kpack)
                qk_tile_f32(qpack, <int>rows_pad, <int>d_k, kpack, <int>((bk + nr - 1) // nr),
                            s, lds, NO_LIMIT)
            else:
                pack_k_f64(kbase + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, kpack)
                qk_tile_f64(qpack, <int>rows_pad, <int>d_k, kpack, <int>((bk + nr - 1) // nr),
                            s, lds, NO_LIMIT)
        else:
            if floating is float:
                dec_qk_f32(qpack, <int>rows, <int>d_k, kbase + j0 * g.ld_k, g.ld_k, <int>bk, s, lds)
            else:
                dec_qk_f64(qpack, <int>rows, <int>d_k, kbase + j0 * g.ld_k, g.ld_k, <int>bk, s, lds)

        for r in range(rows):
            s_row = s + r * lds
            # Keys [a, b) of this block are visible to the row (window, causal).
            a = max(0, row_lo[r] - j0)
            b = min(bk, row_hi[r] - j0)
            if b <= a:
                memset(s_row, 0, bk * sizeof(floating))
                corr[r] = 1
                continue
            if g.mask_kind != MASK_NONE:
                _apply_mask(s_row + a, g.mask_kind, mask,
                            row_mask[r] + (j0 + a) * g.mask_ld_col, g.mask_ld_col, b - a)
            if g.alibi:
                slope = row_slope[r]
                for j in range(a, b):
                    dist = j0 + j - row_pos[r]
                    if dist < 0:
                        dist = -dist
                    s_row[j] += <floating>(-slope * <double>dist)
            if floating is float:
                tile_max = row_max_f32(s_row + a, <int>(b - a))
            else:
                tile_max = row_max_f64(s_row + a, <int>(b - a))
            if tile_max == -INFINITY and _has_nan(s_row + a, b - a):
                tile_max = NAN  # all NaN/-inf: propagate, not "fully masked"
            m_old = running_max[r]
            m_new = m_old if m_old >= tile_max else tile_max
            if m_new == -INFINITY:
                memset(s_row, 0, bk * sizeof(floating))
                corr[r] = 1
                continue
            if floating is float:
                corr[r] = expf_scalar(m_old - m_new)
                total = exp_sum_f32(s_row + a, <int>(b - a), m_new)
            else:
                corr[r] = exp_scalar(m_old - m_new)
                total = exp_sum_f64(s_row + a, <int>(b - a), m_new)
            running_sum[r] = running_sum[r] * corr[r] + total
            running_max[r] = m_new
            if a > 0:
                memset(s_row, 0, a * sizeof(floating))
            if b < bk:
                memset(s_row + b, 0, (bk - b) * sizeof(floating))

        if tiled:
            if pack_values:
                if floating is float:
                    pack_v_f32(vbase + j0 * g.ld_v, g.ld_v, <int>bk, <int>d_v, <int>dvp, vpack)
                else:
                    pack_v_f64(vbase + j0 * g.ld_v, g.ld_v, <int>bk, <int>d_v, <int>dvp, vpack)
                vsrc = vpack
                ld_vsrc = dvp
            else:
                vsrc = vbase + j0 * g.ld_v
                ld_vsrc = g.ld_v
            if floating is float:
                pv_tile_f32(s, lds, <int>rows_pad, <int>bk, vsrc, ld_vsrc, <int>dvp, o, dvp,
                            corr, NO_LIMIT)
            else:
                pv_tile_f64(s, lds, <int>rows_pad, <int>bk, vsrc, ld_vsrc, <int>dvp, o, dvp,
                            corr, NO_LIMIT)
        else:
            if floating is float:
                dec_pv_f32(s, lds, <int>rows, <int>bk, vbase + j0 * g.ld_v, g.ld_v, <int>d_v,
                           o, dvp, corr)
            else:
                dec_pv_f64(s, lds, <int>rows, <int>bk, vbase + j0 * g.ld_v, g.ld_v, <int>d_v,
                           o, dvp, corr)
        j0 += bk

    for r in range(rows):
        idx = (row0 + r) * g.n_chunks + chunk_index
        part_m[idx] = running_max[r]
        part_l[idx] = running_sum[r]
        memcpy(part_o + idx * d_v, o + r * dvp, d_v * sizeof(floating))


cdef void _decode_merge_row(
    floating *out, const intp_t *order, const intp_t *o_off, const DecodeGeometry *g,
    Py_ssize_t rho, const floating *part_o, const floating *part_m, const double *part_l,
    double *acc,
) noexcept nogil:
    """Combine the chunks of global row rho in chunk order and write its output."""
    cdef:
        Py_ssize_t item = order[rho // g.n_q], i = rho % g.n_q
        Py_ssize_t c, col, base = rho * g.n_chunks, d_v = g.d_v
        floating *dst = out + o_off[item] + i * g.ld_o
        const floating *o_c
        double m_top = -INFINITY, m_c, w, total = 0.0, inv
    for c in range(g.n_chunks):
        m_c = part_m[base + c]
        m_top = m_top if m_top >= m_c else m_c  # a NaN max wins (and propagates)
    if m_top == -INFINITY:
        for col in range(d_v):
            dst[col] = 0  # the row sees no key
        return
    for col in range(d_v):
        acc[col] = 0.0
    for c in range(g.n_chunks):
        m_c = part_m[base + c]
        if m_c == -INFINITY:
            continue
        w = exp_scalar(m_c - m_top)
        total += part_l[base + c] * w
        o_c = part_o + (base + c) * d_v
        for col in range(d_v):
            acc[col] += w * o_c[col]
    inv = 0.0 if total == 0.0 else 1.0 / total
    for col in range(d_v):
        dst[col] = <floating>(acc[col] * inv)


cdef void _decode_run(
    const floating *q, const floating *k, const floating *v, floating *out, const void *mask,
    const double *slopes, const intp_t *order, const intp_t *block_start, Py_ssize_t n_blocks,
    const intp_t *q_off, const intp_t *k_off, const intp_t *v_off, const intp_t *o_off,
    const intp_t *m_off, const DecodeGeometry *g, Py_ssize_t n_rows,
    floating *part_o, floating *part_m, double *part_l,
    char *scratch, Py_ssize_t scratch_stride, Py_ssize_t acc_offset, int n_threads,
) noexcept nogil:
    """All (row block, key chunk) tasks, then the per-row merge, in one parallel region."""
    cdef Py_ssize_t task, blk, row0, rho, n_tasks = n_blocks * g.n_chunks
    with parallel(num_threads=n_threads):
        for task in prange(n_tasks, schedule="dynamic"):
            blk = task // g.n_chunks
            row0 = block_start[blk]
            _decode_task(q, k, v, mask, slopes, order, q_off, k_off, v_off, m_off, g,
                         row0, block_start[blk + 1] - row0, task % g.n_chunks,
                         part_o, part_m, part_l,
                         scratch + omp_get_thread_num() * scratch_stride)
        for rho in prange(n_rows, schedule="static"):
            _decode_merge_row(out, order, o_off, g, rho, part_o, part_m, part_l,
                              <double *>(scratch + omp_get_thread_num() * scratch_stride
                                         + acc_offset))


# Scratch and partial results kept between calls, per calling Python thread (as
# in _kernels.pyx): a decode step takes ~1 ms, and fresh pages for its few MiB
# of partial results would cost a noticeable fraction of that.
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
    """Drop this thread's cached decode buffers (benchmarks measure cold calls)."""
    _scratch_cache.buffer = None


def decode_forward(
    cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, cnp.ndarray out, mask, int mask_kind,
    slopes, const intp_t[::1] order, const intp_t[::1] block_start,
    const intp_t[::1] q_offsets, const intp_t[::1] k_offsets, const intp_t[::1] v_offsets,
    const intp_t[::1] o_offsets, const intp_t[::1] m_offsets,
    Py_ssize_t n_q, Py_ssize_t n_k, Py_ssize_t d_k, Py_ssize_t d_v,
    Py_ssize_t ld_q, Py_ssize_t ld_k, Py_ssize_t ld_v, Py_ssize_t ld_o,
    Py_ssize_t mask_ld_row, Py_ssize_t mask_ld_col, double scale,
    bint has_lo, Py_ssize_t lo_offset, bint has_hi, Py_ssize_t hi_offset,
    Py_ssize_t alibi_offset, Py_ssize_t kv_lo, Py_ssize_t kv_hi, Py_ssize_t chunk,
    Py_ssize_t block_k, Py_ssize_t small_rows, int num_threads,
):
    """Run the decode kernel over validated arrays (entry point).

    Parameters
    ----------
    q, k, v, out, mask, mask_kind, *_offsets, n_*, d_*, ld_*, mask_ld_*, scale
        As for ``_kernels.attention_forward``: element (b, i, c) of each array
        lives at ``base + offsets[b] + i * ld + c``.
    slopes : ndarray of float64, shape (n_batch,), or None
        ALiBi slope of each batch item: the score of query i and key j gets
        ``-slope * |j - (i + alibi_offset)|``.
    order : ndarray of intp, shape (n_batch,)
        Batch items grouped by the K/V they read; global row ``rho`` is query
        ``rho % n_q`` of item ``order[rho // n_q]``.
    block_start : ndarray of intp, shape (n_blocks + 1,)
        Row blocks ``[block_start[t], block_start[t + 1])`` of global rows;
        the rows of a block read the same K/V.
    has_lo, lo_offset, has_hi, hi_offset : bool, int
        Query i sees keys ``i + lo_offset <= j <= i + hi_offset`` (each bound
        only when its flag is set).
    kv_lo, kv_hi : int
        Keys visible to at least one query (``0 <= kv_lo < kv_hi <= n_k``).
    chunk, block_k : int
        Keys per parallel task and per inner block.
    small_rows : int
        Row blocks up to this size use the decode micro-kernels, larger ones
        the packed tiles.
    num_threads : int
        OpenMP threads (already resolved).
    """
    cdef DecodeGeometry g
    cdef Py_ssize_t n_batch = q_offsets.shape[0], n_blocks = block_start.shape[0] - 1
    cdef Py_ssize_t itemsize, rows_max = 0, t, n_rows = n_batch * n_q
    cdef Py_ssize_t scratch_stride, acc_offset, part_count, o_bytes, m_bytes, l_bytes
    cdef int nr, vl, n_threads
    cdef bint is_float = q.dtype == np.float32
    cdef char *base_ptr
    cdef cnp.ndarray buffer, slope_array

    if order.shape[0] != n_batch or n_blocks < 1 or block_start[n_blocks] != n_rows:
        raise ValueError("decode_forward: inconsistent row blocks")
    if not (0 <= kv_lo < kv_hi <= n_k) or chunk < 1 or block_k < 1 or n_q < 1:
        raise ValueError("decode_forward: bad key range or block sizes")
    for t in range(n_blocks):
        rows_max = max(rows_max, block_start[t + 1] - block_start[t])

    nr = NR_F32 if is_float else NR_F64
    vl = VL_F32 if is_float else VL_F64
    itemsize = 4 if is_float else 8
    g.n_q, g.n_k, g.d_k, g.d_v = n_q, n_k, d_k, d_v
    g.ld_q, g.ld_k, g.ld_v, g.ld_o = ld_q, ld_k, ld_v, ld_o
    g.mask_ld_row, g.mask_ld_col = mask_ld_row, mask_ld_col
    g.mask_kind = mask_kind
    g.has_lo, g.lo_offset, g.has_hi, g.hi_offset = has_lo, lo_offset, has_hi, hi_offset
    g.alibi = slopes is not None
    g.alibi_offset = alibi_offset
    g.kv_lo, g.kv_hi = kv_lo, kv_hi
    g.chunk = chunk
    g.n_chunks = (kv_hi - kv_lo + chunk - 1) // chunk
    g.block_k = block_k
    g.small_rows = small_rows
    g.rows_pad_max = _round_up(rows_max, ROW_ALIGN)
    g.lds = _round_up(block_k, nr)
    g.dvp = _round_up(d_v, vl)
    g.scale = scale

    n_threads = <int>max(1, min(num_threads, n_blocks * g.n_chunks))
    scratch_stride = _task_scratch_bytes(&g, itemsize)
    acc_offset = scratch_stride - _round_up(d_v * sizeof(double), SCRATCH_ALIGN)
    part_count = n_rows * g.n_chunks
    o_bytes = _round_up(part_count * d_v * itemsize, SCRATCH_ALIGN)
    m_bytes = _round_up(part_count * itemsize, SCRATCH_ALIGN)
    l_bytes = _round_up(part_count * sizeof(double), SCRATCH_ALIGN)
    buffer = _scratch(n_threads * scratch_stride + o_bytes + m_bytes + l_bytes + SCRATCH_ALIGN)
    base_ptr = <char *>cnp.PyArray_DATA(buffer)
    base_ptr += (SCRATCH_ALIGN - <size_t>base_ptr % SCRATCH_ALIGN) % SCRATCH_ALIGN
    cdef char *part_o_ptr = base_ptr + n_threads * scratch_stride
    cdef char *part_m_ptr = part_o_ptr + o_bytes
    cdef char *part_l_ptr = part_m_ptr + m_bytes

    cdef const double *slope_ptr = NULL
    if slopes is not None:
        slope_array = np.ascontiguousarray(slopes, dtype=np.float64)
        if slope_array.shape[0] != n_batch:
            raise ValueError("decode_forward: one slope per batch item expected")
        slope_ptr = <const double *>cnp.PyArray_DATA(slope_array)
    cdef void *q_ptr = cnp.PyArray_DATA(q)
    cdef void *k_ptr = cnp.PyArray_DATA(k)
    cdef void *v_ptr = cnp.PyArray_DATA(v)
    cdef void *o_ptr = cnp.PyArray_DATA(out)
    cdef void *m_ptr = NULL
    if mask is not None:
        m_ptr = cnp.PyArray_DATA(mask)

    if is_float:
        with nogil:
            _decode_run(
                <const float *>q_ptr, <const float *>k_ptr, <const float *>v_ptr,
                <float *>o_ptr, m_ptr, slope_ptr, &order[0], &block_start[0], n_blocks,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0], &m_offsets[0],
                &g, n_rows, <float *>part_o_ptr, <float *>part_m_ptr, <double *>part_l_ptr,
                base_ptr, scratch_stride, acc_offset, n_threads,
            )
    else:
        with nogil:
            _decode_run(
                <const double *>q_ptr, <const double *>k_ptr, <const double *>v_ptr,
                <double *>o_ptr, m_ptr, slope_ptr, &order[0], &block_start[0], n_blocks,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0], &m_offsets[0],
                &g, n_rows, <double *>part_o_ptr, <double *>part_m_ptr, <double *>part_l_ptr,
                base_ptr, scratch_stride, acc_offset, n_threads,
            )


def decode_constants():
    """Rows per decode micro-kernel call (larger counts run in groups of it)."""
    return {"micro_rows": DEC_MR}


# -- test and benchmark access ------------------------------------------------


def _dec_qk_memview(const floating[:, ::1] q, const floating[:, :] k, floating[:, ::1] s):
    """Test wrapper: s[:, :n_k] = q @ k.T with the decode score micro-kernels.

    ``k`` may have any row stride (its rows must be contiguous).
    """
    cdef Py_ssize_t rows = q.shape[0], dk = q.shape[1], nkeys = k.shape[0]
    if k.shape[1] != dk or s.shape[0] != rows or s.shape[1] < nkeys or (dk > 1 and k.strides[1] != sizeof(floating)):
        raise ValueError("shapes do not match")
    if rows == 0 or nkeys == 0:
        return
    cdef Py_ssize_t ldk = k.strides[0] // sizeof(floating)
    with nogil:
        if floating is float:
            dec_qk_f32(&q[0, 0], <int>rows, <int>dk, &k[0, 0], ldk, <int>nkeys, &s[0, 0], s.shape[1])
        else:
            dec_qk_f64(&q[0, 0], <int>rows, <int>dk, &k[0, 0], ldk, <int>nkeys, &s[0, 0], s.shape[1])


def _dec_pv_memview(const floating[:, ::1] p, const floating[:, :] v, floating[:, ::1] o,
                    const floating[::1] corr):
    """Test wrapper: o = o * corr[:, None] + p @ v with the decode P V micro-kernels."""
    cdef Py_ssize_t rows = p.shape[0], nkeys = p.shape[1], dv = v.shape[1]
    if v.shape[0] != nkeys or o.shape[0] != rows or o.shape[1] != dv or corr.shape[0] != rows or (dv > 1 and v.strides[1] != sizeof(floating)):
        raise ValueError("shapes do not match")
    if rows == 0 or dv == 0:
        return
    cdef Py_ssize_t ldv = v.strides[0] // sizeof(floating) if nkeys > 0 else dv
    with nogil:
        if floating is float:
            dec_pv_f32(&p[0, 0], p.shape[1], <int>rows, <int>nkeys, &v[0, 0] if nkeys > 0 else NULL,
                       ldv, <int>dv, &o[0, 0], o.shape[1], &corr[0])
        else:
            dec_pv_f64(&p[0, 0], p.shape[1], <int>rows, <int>nkeys, &v[0, 0] if nkeys > 0 else NULL,
                       ldv, <int>dv, &o[0, 0], o.shape[1], &corr[0])


cdef double _sum_block(const char *base, Py_ssize_t start, Py_ssize_t n, bint is_float) noexcept nogil:
    """Sum of n elements from element `start` (float32 or float64)."""
    if is_float:
        return stream_sum_f32(<const float *>base + start, n)
    return stream_sum_f64(<const double *>base + start, n)


def stream_read_sum(arrays, int num_threads):
    """Sum every element of ``arrays`` with ``num_threads`` OpenMP threads.

    The streaming-read ceiling of the decode benchmark: the same bytes the
    decode kernel reads (K and V), read once, in fixed blocks of 64 Ki
    elements spread over the threads. Arrays must be C-contiguous float32 or
    float64.
    """
    cdef Py_ssize_t block = 1 << 16, n, n_blocks, b
    cdef double total = 0.0
    cdef const char *ptr
    cdef bint is_float
    cdef double[::1] partial
    for array in arrays:
        arr = np.asarray(array)
        if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
            raise ValueError("stream_read_sum: C-contiguous float32/float64 arrays only")
        n = arr.size
        if n == 0:
            continue
        is_float = arr.dtype == np.float32
        ptr = <const char *>cnp.PyArray_DATA(arr)
        n_blocks = (n + block - 1) // block
        partial = np.zeros(n_blocks)
        with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
            for b in prange(n_blocks, schedule="static"):
                partial[b] = _sum_block(ptr, b * block, min(block, n - b * block), is_float)
        for b in range(n_blocks):
            total += partial[b]
    return total


cdef int _finite_block(const char *base, Py_ssize_t start, Py_ssize_t n, bint is_float) noexcept nogil:
    """1 if the n elements from element `start` are all finite."""
    if is_float:
        return all_finite_f32(<const float *>base + start, n)
    return all_finite_f64(<const double *>base + start, n)


cdef double _max_abs_block(const char *base, Py_ssize_t start, Py_ssize_t n,
                           bint is_float) noexcept nogil:
    """max |x| of n elements from element `start`, +inf if one is inf or NaN.

    |x| of an IEEE float is its bit pattern without the sign bit, and those
    patterns order like the magnitudes, with inf and every NaN above all finite
    values: one unsigned-integer max (a reduction compilers vectorise) answers
    both questions."""
    cdef const uint32_t *bits32
    cdef const uint64_t *bits64
    cdef uint32_t top32 = 0, b32
    cdef uint64_t top64 = 0, b64
    cdef float value32
    cdef double value64
    cdef Py_ssize_t i
    if is_float:
        bits32 = <const uint32_t *>base + start
        for i in range(n):
            b32 = bits32[i] & 0x7FFFFFFFu
            top32 = b32 if b32 > top32 else top32
        if top32 >= 0x7F800000u:
            return INFINITY
        memcpy(&value32, &top32, sizeof(float))
        return value32
    bits64 = <const uint64_t *>base + start
    for i in range(n):
        b64 = bits64[i] & 0x7FFFFFFFFFFFFFFFu
        top64 = b64 if b64 > top64 else top64
    if top64 >= 0x7FF0000000000000u:
        return INFINITY
    memcpy(&value64, &top64, sizeof(double))
    return value64


def max_abs(arr, int num_threads):
    """max |x| over a C-contiguous float32/float64 array (0 when empty), or inf
    when an element is inf or NaN: finiteness and magnitude in one threaded read
    without a temporary (the range checks of attention need both)."""
    if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
        raise ValueError("max_abs: C-contiguous float32/float64 arrays only")
    cdef Py_ssize_t block = 1 << 16, n = arr.size, n_blocks, b
    if n == 0:
        return 0.0
    cdef bint is_float = arr.dtype == np.float32
    cdef const char *ptr = <const char *>cnp.PyArray_DATA(arr)
    n_blocks = (n + block - 1) // block
    cdef double[::1] tops = np.zeros(n_blocks)
    with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
        for b in prange(n_blocks, schedule="static"):
            tops[b] = _max_abs_block(ptr, b * block, min(block, n - b * block), is_float)
    return float(np.max(tops))


def all_finite(arr, int num_threads):
    """True if every element of a C-contiguous float32/float64 array is finite.

    One read of the array, spread over ``num_threads`` OpenMP threads in fixed
    blocks, no temporary array (``np.isfinite(x).all()`` writes a boolean
    array as large as x and reads it back, single-threaded).
    """
    if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
        raise ValueError("all_finite: C-contiguous float32/float64 arrays only")
    cdef Py_ssize_t block = 1 << 16, n = arr.size, n_blocks, b
    if n == 0:
        return True
    cdef bint is_float = arr.dtype == np.float32
    cdef const char *ptr = <const char *>cnp.PyArray_DATA(arr)
    n_blocks = (n + block - 1) // block
    cdef int[::1] ok = np.ones(n_blocks, dtype=np.intc)
    with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
        for b in prange(n_blocks, schedule="static"):
            ok[b] = _finite_block(ptr, b * block, min(block, n - b * block), is_float)
    for b in range(n_blocks):
        if not ok[b]:
            return False
    return True
