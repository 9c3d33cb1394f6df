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
from libc.math cimport INFINITY
from libc.string cimport memcpy, memset

from .._threads cimport omp_get_thread_num
from ._common cimport (
    MASK_NONE,
    NO_LIMIT,
    NR_F32,
    NR_F64,
    ROW_ALIGN,
    SCRATCH_ALIGN,
    VL_F32,
    VL_F64,
    AttentionShape,
    Operand,
    ScratchLayout,
    add_alibi,
    exp_one,
    exp_scalar,
    exp_sum,
    floating,
    fold_mask,
    intp_t,
    layout_add,
    layout_start,
    mask_at,
    pack_k,
    pack_v,
    panel_width,
    pv_tile,
    qk_tile,
    read_operand,
    read_shape,
    round_up,
    scratch_at,
    tile_row_max,
)

import numpy as np

from ._scratch import scratch_buffer

cnp.import_array()

include "attnsearch/_compiled_target.pxi"


cdef extern from "attnsearch_decode.h" nogil:
    int DEC_MR "ATTNSEARCH_DEC_MR"
    void dec_qk_f32 "attnsearch_dec_qk_f32"(const float *q, int rows, int dk, const float *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds)
    void dec_qk_f64 "attnsearch_dec_qk_f64"(const double *q, int rows, int dk, const double *k, Py_ssize_t ldk, int nkeys, double *s, Py_ssize_t lds)
    void dec_pv_f32 "attnsearch_dec_pv_f32"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const float *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr)
    void dec_pv_f64 "attnsearch_dec_pv_f64"(const double *p, Py_ssize_t ldp, int rows, int nkeys, const double *v, Py_ssize_t ldv, int dv, double *o, Py_ssize_t ldo, const double *corr)

# One thread's scratch, in this order (see _decode_layout).
cdef enum DecodeBuffer:
    DEC_QPACK
    DEC_KPACK
    DEC_VPACK
    DEC_SCORES
    DEC_OUT
    DEC_RUNNING_MAX
    DEC_CORR
    DEC_RUNNING_SUM
    DEC_ROW_SLOPE
    DEC_ROW_LO
    DEC_ROW_HI
    DEC_ROW_POS
    DEC_MERGE


cdef struct Decode:
    # One call: the shape and score rules, the operands, the plan, the scratch.
    AttentionShape shape
    Operand q, k, v, out, mask
    const intp_t *order           # global row rho is query rho % n_q of item order[rho // n_q]
    const intp_t *block_start     # row blocks [block_start[t], block_start[t + 1])
    Py_ssize_t n_blocks, n_rows
    Py_ssize_t kv_lo, kv_hi       # keys [kv_lo, kv_hi) are visible to some row
    Py_ssize_t chunk, n_chunks, block_k
    Py_ssize_t small_rows, rows_pad_max, lds, dvp
    ScratchLayout layout
    char *part_o                  # per (row, chunk): unnormalised output (d_v)
    char *part_m                  # running max
    double *part_l                # float64 sum of exp(s - m)


cdef void _decode_layout(Decode *d, Py_ssize_t itemsize) noexcept nogil:
    """The one list of a task's buffers: it sizes and carves the scratch."""
    cdef ScratchLayout *layout = &d.layout
    cdef Py_ssize_t rows = d.rows_pad_max, d_k = d.shape.d_k
    layout_start(layout)
    layout_add(layout, DEC_QPACK, rows * d_k * itemsize)
    layout_add(layout, DEC_KPACK, d.lds * d_k * itemsize)
    layout_add(layout, DEC_VPACK, d.block_k * d.dvp * itemsize)
    layout_add(layout, DEC_SCORES, rows * d.lds * itemsize)
    layout_add(layout, DEC_OUT, rows * d.dvp * itemsize)
    layout_add(layout, DEC_RUNNING_MAX, rows * itemsize)
    layout_add(layout, DEC_CORR, rows * itemsize)
    layout_add(layout, DEC_RUNNING_SUM, rows * sizeof(double))
    layout_add(layout, DEC_ROW_SLOPE, rows * sizeof(double))
    layout_add(layout, DEC_ROW_LO, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_ROW_HI, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_ROW_POS, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_MERGE, d.shape.d_v * sizeof(double))


cdef inline void _dec_qk(const floating *q, Py_ssize_t rows, Py_ssize_t dk, const floating *k,
                         Py_ssize_t ldk, Py_ssize_t nkeys, floating *s,
                         Py_ssize_t lds) noexcept nogil:
    """s[:rows, :nkeys] = q k^T with the decode micro-kernels (keys read in place)."""
    if floating is float:
        dec_qk_f32(q, <int>rows, <int>dk, k, ldk, <int>nkeys, s, lds)
    else:
        dec_qk_f64(q, <int>rows, <int>dk, k, ldk, <int>nkeys, s, lds)


cdef inline void _dec_pv(const floating *p, Py_ssize_t ldp, Py_ssize_t rows, Py_ssize_t nkeys,
                         const floating *v, Py_ssize_t ldv, Py_ssize_t dv, floating *o,
                         Py_ssize_t ldo, const floating *corr) noexcept nogil:
    """o = o * corr (per row) + p v with the decode micro-kernels."""
    if floating is float:
        dec_pv_f32(p, ldp, <int>rows, <int>nkeys, v, ldv, <int>dv, o, ldo, corr)
    else:
        dec_pv_f64(p, ldp, <int>rows, <int>nkeys, v, ldv, <int>dv, o, ldo, corr)


cdef void _decode_task(const Decode *d, floating *dummy, Py_ssize_t row0, Py_ssize_t rows,
                       Py_ssize_t chunk_index, char *scratch) noexcept nogil:
    """Partial attention of rows [row0, row0 + rows) (one K/V) over one key chunk.

    Leaves the chunk's running max, float64 sum and unnormalised output of
    each row in part_m / part_l / part_o at index rho * n_chunks + chunk_index.
    """
    cdef:
        const AttentionShape *shape = &d.shape
        floating zero = 0
        int nr = panel_width(zero)
        bint tiled = rows > d.small_rows
        Py_ssize_t rows_pad = round_up(rows, ROW_ALIGN) if tiled else rows
        Py_ssize_t d_k = shape.d_k, d_v = shape.d_v, dvp = d.dvp, lds = d.lds
        Py_ssize_t r, c, i, item, rho, j0, c0, c1, bk, a, b, ld_vsrc, idx
        bint pack_values = tiled and (d_v != dvp or d.v.ld_row != d_v)
        const floating *qrow
        const floating *kbase
        const floating *vbase
        const floating *vsrc
        floating *qpack = <floating *>scratch_at(&d.layout, scratch, DEC_QPACK)
        floating *kpack = <floating *>scratch_at(&d.layout, scratch, DEC_KPACK)
        floating *vpack = <floating *>scratch_at(&d.layout, scratch, DEC_VPACK)
        floating *s = <floating *>scratch_at(&d.layout, scratch, DEC_SCORES)
        floating *o = <floating *>scratch_at(&d.layout, scratch, DEC_OUT)
        floating *running_max = <floating *>scratch_at(&d.layout, scratch, DEC_RUNNING_MAX)
        floating *corr = <floating *>scratch_at(&d.layout, scratch, DEC_CORR)
        double *running_sum = <double *>scratch_at(&d.layout, scratch, DEC_RUNNING_SUM)
        double *row_slope = <double *>scratch_at(&d.layout, scratch, DEC_ROW_SLOPE)
        Py_ssize_t *row_lo = <Py_ssize_t *>scratch_at(&d.layout, scratch, DEC_ROW_LO)
        Py_ssize_t *row_hi = <Py_ssize_t *>scratch_at(&d.layout, scratch, DEC_ROW_HI)
        Py_ssize_t *row_pos = <Py_ssize_t *>scratch_at(&d.layout, scratch, DEC_ROW_POS)
        floating *part_o = <floating *>d.part_o
        floating *part_m = <floating *>d.part_m
        floating *s_row
        floating tile_max, m_old, m_new, fscale = <floating>shape.scale
        double total

    # Every row of the block reads the same keys and values.
    item = d.order[row0 // shape.n_q]
    kbase = <const floating *>d.k.base + d.k.offsets[item]
    vbase = <const floating *>d.v.base + d.v.offsets[item]

    # Gather the rows' queries (times the scale) and their visible-key rules.
    for r in range(rows):
        rho = row0 + r
        item = d.order[rho // shape.n_q]
        i = rho % shape.n_q
        qrow = <const floating *>d.q.base + d.q.offsets[item] + i * d.q.ld_row
        for c in range(d_k):
            qpack[r * d_k + c] = qrow[c] * fscale
        row_lo[r] = max(0, i + shape.vis.lo_offset) if shape.vis.has_lo else 0
        row_hi[r] = min(shape.n_k, i + shape.vis.hi_offset + 1) if shape.vis.has_hi else shape.n_k
        row_pos[r] = i + shape.alibi_offset
        row_slope[r] = shape.slopes[item] if shape.slopes != NULL else 0.0
    if rows_pad > rows:
        memset(qpack + rows * d_k, 0, (rows_pad - rows) * d_k * sizeof(floating))
    memset(o, 0, rows_pad * dvp * sizeof(floating))
    for r in range(rows_pad):
        running_max[r] = -INFINITY
        running_sum[r] = 0.0
        corr[r] = 1

    c0 = d.kv_lo + chunk_index * d.chunk
    c1 = min(d.kv_hi, c0 + d.chunk)
    j0 = c0
    while j0 < c1:
        bk = min(d.block_k, c1 - j0)
        if tiled:
            pack_k(kbase + j0 * d.k.ld_row, d.k.ld_row, bk, d_k, kpack)
            qk_tile(qpack, rows_pad, d_k, kpack, (bk + nr - 1) // nr, s, lds, NO_LIMIT)
        else:
            _dec_qk(qpack, rows, d_k, kbase + j0 * d.k.ld_row, d.k.ld_row, bk, s, lds)

        for r in range(rows):
            s_row = s + r * lds
            # Keys [a, b) of this block are visible to the row (window, causal).
            a = max(0, row_lo[r] - j0)
            b = min(bk, row_hi[r] - j0)
            if b <= a:
                memset(s_row, 0, bk * sizeof(floating))
                corr[r] = 1
                continue
            if shape.mask_kind != MASK_NONE:
                rho = row0 + r
                fold_mask(s_row + a, shape.mask_kind,
                          mask_at(&d.mask, shape.mask_kind, d.order[rho // shape.n_q],
                                  rho % shape.n_q, j0 + a, sizeof(floating)),
                          d.mask.ld_col, b - a)
            if shape.slopes != NULL:
                add_alibi(s_row + a, b - a, row_slope[r], row_pos[r] - j0 - a)
            tile_max = tile_row_max(s_row + a, b - a)
            m_old = running_max[r]
            m_new = m_old if m_old >= tile_max else tile_max
            if m_new == -INFINITY:
                memset(s_row, 0, bk * sizeof(floating))
                corr[r] = 1
                continue
            corr[r] = exp_one(m_old - m_new)
            total = exp_sum(s_row + a, b - a, m_new)
            running_sum[r] = running_sum[r] * corr[r] + total
            running_max[r] = m_new
            if a > 0:
                memset(s_row, 0, a * sizeof(floating))
            if b < bk:
                memset(s_row + b, 0, (bk - b) * sizeof(floating))

        if tiled:
            if pack_values:
                pack_v(vbase + j0 * d.v.ld_row, d.v.ld_row, bk, d_v, dvp, vpack)
                vsrc = vpack
                ld_vsrc = dvp
            else:
                vsrc = vbase + j0 * d.v.ld_row
                ld_vsrc = d.v.ld_row
            pv_tile(s, lds, rows_pad, bk, vsrc, ld_vsrc, dvp, o, dvp, corr, NO_LIMIT)
        else:
            _dec_pv(s, lds, rows, bk, vbase + j0 * d.v.ld_row, d.v.ld_row, d_v, o, dvp, corr)
        j0 += bk

    for r in range(rows):
        idx = (row0 + r) * d.n_chunks + chunk_index
        part_m[idx] = running_max[r]
        d.part_l[idx] = running_sum[r]
        memcpy(part_o + idx * d_v, o + r * dvp, d_v * sizeof(floating))


cdef void _decode_merge_row(const Decode *d, floating *dummy, Py_ssize_t rho,
                            double *acc) noexcept nogil:
    """Combine the chunks of global row rho in chunk order and write its output."""
    cdef:
        Py_ssize_t item = d.order[rho // d.shape.n_q], i = rho % d.shape.n_q
        Py_ssize_t c, col, base = rho * d.n_chunks, d_v = d.shape.d_v
        floating *dst = <floating *>d.out.base + d.out.offsets[item] + i * d.out.ld_row
        const floating *part_o = <const floating *>d.part_o
        const floating *part_m = <const floating *>d.part_m
        const floating *o_c
        double m_top = -INFINITY, m_c, w, total = 0.0, inv
    for c in range(d.n_chunks):
        m_c = part_m[base + c]
        m_top = m_top if m_top >= m_c else m_c  # a NaN max wins (and propagates)
    if m_top == -INFINITY:
        for col in range(d_v):
            dst[col] = 0  # the row sees no key
        return
    for col in range(d_v):
        acc[col] = 0.0
    for c in range(d.n_chunks):
        m_c = part_m[base + c]
        if m_c == -INFINITY:
            continue
        w = exp_scalar(m_c - m_top)
        total += d.part_l[base + c] * w
        o_c = part_o + (base + c) * d_v
        for col in range(d_v):
            acc[col] += w * o_c[col]
    inv = 0.0 if total == 0.0 else 1.0 / total
    for col in range(d_v):
        dst[col] = <floating>(acc[col] * inv)


cdef void _decode_run(const Decode *d, floating *dummy, char *scratch,
                      int n_threads) noexcept nogil:
    """All (row block, key chunk) tasks, then the per-row merge, in one parallel region."""
    cdef Py_ssize_t task, blk, row0, rho, n_tasks = d.n_blocks * d.n_chunks
    cdef char *mine
    with parallel(num_threads=n_threads):
        for task in prange(n_tasks, schedule="dynamic"):
            blk = task // d.n_chunks
            row0 = d.block_start[blk]
            _decode_task(d, dummy, row0, d.block_start[blk + 1] - row0, task % d.n_chunks,
                         scratch + omp_get_thread_num() * d.layout.total)
        for rho in prange(d.n_rows, schedule="static"):
            mine = scratch + omp_get_thread_num() * d.layout.total
            _decode_merge_row(d, dummy, rho, <double *>scratch_at(&d.layout, mine, DEC_MERGE))


def decode_forward(q, k, v, out, mask, shape, plan, int num_threads):
    """Run the decode kernel over validated operands (entry point).

    Parameters
    ----------
    q, k, v, out, mask : _geometry.Operand (mask: or None)
        As for ``_kernels.attention_forward``.
    shape : _geometry.AttentionShape
        Sizes, scale, the visible-key rule and ALiBi.
    plan : _decode_path.DecodePlan
        ``order`` (batch items grouped by the K/V they read; global row ``rho``
        is query ``rho % n_q`` of item ``order[rho // n_q]``), ``block_start``
        (row blocks ``[block_start[t], block_start[t + 1])``, whose rows read
        the same K/V), ``kv_lo, kv_hi`` (the keys some query sees), ``chunk``
        and ``block_k`` (keys per parallel task and per inner block), and
        ``small_rows`` (row blocks up to this size use the decode micro-kernels,
        larger ones the packed tiles).
    num_threads : int
        OpenMP threads (already resolved).
    """
    cdef Decode d
    cdef bint is_float = q.array.dtype == np.float32
    cdef int nr = NR_F32 if is_float else NR_F64
    cdef int vl = VL_F32 if is_float else VL_F64
    cdef Py_ssize_t itemsize = 4 if is_float else 8
    cdef Py_ssize_t t, rows_max = 0, part_count, o_bytes, m_bytes, l_bytes
    cdef const intp_t[::1] order = plan.order
    cdef const intp_t[::1] block_start = plan.block_start
    cdef char *scratch
    read_shape(shape, mask, &d.shape)
    read_operand(q, &d.q)
    read_operand(k, &d.k)
    read_operand(v, &d.v)
    read_operand(out, &d.out)
    read_operand(mask, &d.mask)
    d.n_blocks = block_start.shape[0] - 1
    d.n_rows = d.shape.n_batch * d.shape.n_q
    if (order.shape[0] != d.shape.n_batch or d.n_blocks < 1
            or block_start[d.n_blocks] != d.n_rows):
        raise ValueError("decode_forward: inconsistent row blocks")
    d.kv_lo, d.kv_hi, d.chunk, d.block_k = plan.kv_lo, plan.kv_hi, plan.chunk, plan.block_k
    if (not (0 <= d.kv_lo < d.kv_hi <= d.shape.n_k) or d.chunk < 1 or d.block_k < 1
            or d.shape.n_q < 1):
        raise ValueError("decode_forward: bad key range or block sizes")
    for t in range(d.n_blocks):
        rows_max = max(rows_max, block_start[t + 1] - block_start[t])
    d.order = &order[0]
    d.block_start = &block_start[0]
    d.n_chunks = (d.kv_hi - d.kv_lo + d.chunk - 1) // d.chunk
    d.small_rows = plan.small_rows
    d.rows_pad_max = round_up(rows_max, ROW_ALIGN)
    d.lds = round_up(d.block_k, nr)
    d.dvp = round_up(d.shape.d_v, vl)
    _decode_layout(&d, itemsize)

    cdef int n_threads = <int>max(1, min(num_threads, d.n_blocks * d.n_chunks))
    part_count = d.n_rows * d.n_chunks
    o_bytes = round_up(part_count * d.shape.d_v * itemsize, SCRATCH_ALIGN)
    m_bytes = round_up(part_count * itemsize, SCRATCH_ALIGN)
    l_bytes = round_up(part_count * sizeof(double), SCRATCH_ALIGN)
    buffer = scratch_buffer(n_threads * d.layout.total + o_bytes + m_bytes + l_bytes,
                            SCRATCH_ALIGN, "decode")
    scratch = <char *>cnp.PyArray_DATA(buffer)
    d.part_o = scratch + n_threads * d.layout.total
    d.part_m = d.part_o + o_bytes
    d.part_l = <double *>(d.part_m + m_bytes)
    if is_float:
        with nogil:
            _decode_run(&d, <float *>NULL, scratch, n_threads)
    else:
        with nogil:
            _decode_run(&d, <double *>NULL, scratch, n_threads)


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
