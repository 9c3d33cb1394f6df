"""Fused attention backward: (dq, dk, dv) from dO, q, k, v, O and the row log-sum-exp.

FlashAttention-2's backward on CPU tiles. No n_q x n_k array exists: for each
tile of `block_k` keys x `block_q` queries the probabilities are recomputed
from the saved log-sum-exp, P = exp(S - lse), and

    D   = rowsum(dO * O)                     (once per query, float64 sum)
    dV += P^T dO
    dP  = dO V^T
    dS  = P * (dP - D)
    dK += scale * dS^T Q
    dQ += scale * dS K

Tiles are transposed (rows = keys, columns = queries), so that all five
products are the register-blocked micro-kernels of csrc/attnsearch_tiles.h:
qk_tile for S^T = (scale K) Q^T and dP^T = V dO^T, pv_tile for dV += P^T dO,
dK += dS^T Q and dQ^T += (scale K)^T dS^T. The element-wise steps in between
live in csrc/attnsearch_backward.h.

Determinism. A task owns one dK/dV destination (a key/value head: with grouped-
query attention, the query heads of a group; with broadcast k/v, every batch item
that reads it) and runs, in a fixed order: for each of its batch items, for each
key block, for each query block. dK and dV of a key block are summed over the
items' query blocks in that order, dQ of an item over its key blocks in key order.
No sum is split between threads and no arithmetic depends on the thread that runs
a task, so dq, dk and dv are bitwise identical for every num_threads.

What a query sees. Query i sees key j when i + lo_offset <= j (a window's left
side, if has_lo) and j <= i + hi_offset (causal or a window's right side, if
has_hi): the bounds of the forward kernels (attention.visible_bounds). Everything
that changes which keys a query sees or adds to a score (the user's boolean or
additive mask, ALiBi's -slope * |j - (i + alibi_offset)|, both bounds) happens in
`_tile_score_hook`, on one transposed score tile before the exponential, in the
forward's order (mask, ALiBi, bounds). The *block skipping* is `_first_query`
and `_query_end` (the query blocks that meet a key block at all) and
`_visible_keys` (the keys of a tile that some query of it sees: a range of
whole micro-kernel rows; the others are not computed). With a window of W keys
a key block meets ~(W + block_k) / block_q query blocks and a tile computes at
most W + block_q of its keys, so the work is ~n_q * (W + block_q) per head,
proportional to n * W, not n^2.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.string cimport memcpy, memset

from .._threads cimport omp_get_thread_num
from ._common cimport (
    MASK_BOOL,
    MASK_NONE,
    NO_LIMIT,
    NR_F32,
    NR_F64,
    PV_MR,
    ROW_ALIGN,
    SCRATCH_ALIGN,
    VL_F32,
    VL_F64,
    BF16_NR,
    HAVE_BF16_TILES,
    PV_MR_BF16,
    AttentionShape,
    Operand,
    ScratchLayout,
    floating,
    intp_t,
    layout_add,
    layout_start,
    mask_at,
    pack_k,
    pack_q,
    pack_v,
    panel_width,
    pv_tile,
    bf16_gemm_tile,
    bf16_pack_k,
    bf16_pack_q,
    bf16_pack_v,
    bf16_p_row,
    bf16_pv_tile,
    bf16_qk_tile,
    float_to_bf16,
    qk_tile,
    read_operand,
    read_shape,
    round_up,
    scratch_at,
    uint8_t,
    uint16_t,
    uint32_t,
)

import numpy as np

from ._scratch import scratch_buffer

cnp.import_array()

include "attnsearch/_compiled_target.pxi"


cdef extern from "attnsearch_backward.h" nogil:
    void probs_t_f32 "attnsearch_bwd_probs_t_f32"(float *s, Py_ssize_t lds, int rows, int cols, const float *shift, const float *log_sum)
    void probs_t_f64 "attnsearch_bwd_probs_t_f64"(double *s, Py_ssize_t lds, int rows, int cols, const double *shift, const double *log_sum)
    void dscores_t_f32 "attnsearch_bwd_dscores_t_f32"(const float *p, float *dp, Py_ssize_t ld, int rows, int cols, const float *d)
    void dscores_t_f64 "attnsearch_bwd_dscores_t_f64"(const double *p, double *dp, Py_ssize_t ld, int rows, int cols, const double *d)
    void pack_kt_f32 "attnsearch_bwd_pack_kt_f32"(const float *k, Py_ssize_t ldk, int bk, int dk, int dk_pad, float scale, float *kt, Py_ssize_t ldkt)
    void pack_kt_f64 "attnsearch_bwd_pack_kt_f64"(const double *k, Py_ssize_t ldk, int bk, int dk, int dk_pad, double scale, double *kt, Py_ssize_t ldkt)
    double row_dot_f32 "attnsearch_bwd_row_dot_f32"(const float *a, const float *b, int n)
    double row_dot_f64 "attnsearch_bwd_row_dot_f64"(const double *a, const double *b, int n)

cdef extern from "attnsearch_reduced_backward.h" nogil:
    void bf16_pack_t "attnsearch_bwd_bf16_pack_t"(const uint16_t *x, Py_ssize_t ldx, int rows, int rows_pad, int cols, int cols_pad, uint32_t *dst, Py_ssize_t ld_dst)
    void bf16_round_t "attnsearch_bwd_bf16_round_t"(const float *t, Py_ssize_t ldt, int rows, int cols, uint16_t *rows16, Py_ssize_t ld16, uint32_t *pairs, Py_ssize_t ldp)
    double bf16_row_dot "attnsearch_bwd_bf16_row_dot"(const uint16_t *a, const uint16_t *b, int n)

# One thread's scratch, in this order (see _backward_layout).
cdef enum BackwardBuffer:
    BWD_KPACK
    BWD_VPACK
    BWD_KTPACK
    BWD_QPANEL
    BWD_DOPANEL
    BWD_QROWS
    BWD_DOROWS
    BWD_SCORES
    BWD_DSCORES
    BWD_DK
    BWD_DV
    BWD_LSE
    BWD_LOG_SUM
    BWD_D
    BWD_ONES
    BWD_DQT
    BWD_DK64
    BWD_DV64
    BWD_DQT64
    BWD_HALF      # bfloat16 tiles: P^T, then dS^T, rounded (rows x pairs of queries)
    BWD_DSPAIR    # bfloat16 tiles: dS^T as pairs of keys (the V operand of dQ^T)


cdef struct Backward:
    # One call: the shape and score rules, the operands, the groups, the blocking.
    AttentionShape shape
    Operand q, k, v, out, grad_out, mask, dq, dk, dv   # dk, dv: offsets per group
    # P = exp((S - shift) - log_sum) per query row, both (n_batch, n_q): shift is the
    # forward's log-sum-exp and log_sum 0 (NULL), except for rows whose lse is too
    # large to carry its log(row sum) (see backward.py): there shift = row max.
    const char *shift
    const char *log_sum
    const intp_t *items           # batch items of group g: items[group_start[g]:group_start[g+1]]
    const intp_t *group_start
    Py_ssize_t n_groups
    Py_ssize_t block_q, block_k   # block_q is a multiple of the panel width
    Py_ssize_t bk_pad             # block_k rounded up to ROW_ALIGN
    Py_ssize_t dk_rows            # d_k rounded up to PV_MR (rows of K^T)
    Py_ssize_t dkp, dvp           # d_k, d_v rounded up to the vector width
    Py_ssize_t nq_pad             # n_q rounded up to block_q
    bint bf16                     # bfloat16 operands on the vdpbf16ps tiles
    ScratchLayout layout


cdef void _backward_layout(Backward *g, Py_ssize_t itemsize) noexcept nogil:
    """The one list of a task's buffers: it sizes and carves the scratch. On the
    bfloat16 tiles the packs hold pairs (uint32) in the layouts of
    csrc/attnsearch_reduced.h instead of float32 panels and rows."""
    cdef ScratchLayout *layout = &g.layout
    cdef Py_ssize_t bk_pad = g.bk_pad, bq = g.block_q
    cdef Py_ssize_t pairs_k = (g.shape.d_k + 1) // 2, pairs_v = (g.shape.d_v + 1) // 2
    layout_start(layout)
    if g.bf16:
        layout_add(layout, BWD_KPACK, bk_pad * pairs_k * 4)       # K rows (qpair)
        layout_add(layout, BWD_VPACK, bk_pad * pairs_v * 4)       # V rows (qpair)
        layout_add(layout, BWD_KTPACK, g.dk_rows * (bk_pad // 2) * 4)  # K^T (pairs of keys)
        layout_add(layout, BWD_QPANEL, bq * pairs_k * 4)          # Q (kpair panels)
        layout_add(layout, BWD_DOPANEL, bq * pairs_v * 4)         # dO (kpair panels)
        layout_add(layout, BWD_QROWS, (bq // 2) * g.dkp * 4)      # Q (vpair)
        layout_add(layout, BWD_DOROWS, (bq // 2) * g.dvp * 4)     # dO (vpair)
    else:
        layout_add(layout, BWD_KPACK, bk_pad * g.shape.d_k * itemsize)
        layout_add(layout, BWD_VPACK, bk_pad * g.shape.d_v * itemsize)
        layout_add(layout, BWD_KTPACK, g.dk_rows * bk_pad * itemsize)
        layout_add(layout, BWD_QPANEL, bq * g.shape.d_k * itemsize)
        layout_add(layout, BWD_DOPANEL, bq * g.shape.d_v * itemsize)
        layout_add(layout, BWD_QROWS, bq * g.dkp * itemsize)
        layout_add(layout, BWD_DOROWS, bq * g.dvp * itemsize)
    layout_add(layout, BWD_SCORES, bk_pad * bq * itemsize)
    layout_add(layout, BWD_DSCORES, bk_pad * bq * itemsize)
    layout_add(layout, BWD_DK, bk_pad * g.dkp * itemsize)
    layout_add(layout, BWD_DV, bk_pad * g.dvp * itemsize)
    layout_add(layout, BWD_LSE, g.nq_pad * itemsize)
    layout_add(layout, BWD_LOG_SUM, g.nq_pad * itemsize)
    layout_add(layout, BWD_D, g.nq_pad * itemsize)
    layout_add(layout, BWD_ONES, max(bk_pad, g.dk_rows) * itemsize)
    layout_add(layout, BWD_DQT, g.dk_rows * g.nq_pad * itemsize)
    layout_add(layout, BWD_DK64, bk_pad * g.shape.d_k * sizeof(double))
    layout_add(layout, BWD_DV64, bk_pad * g.shape.d_v * sizeof(double))
    layout_add(layout, BWD_DQT64, g.shape.d_k * g.nq_pad * sizeof(double))
    layout_add(layout, BWD_HALF, bk_pad * bq * 2 if g.bf16 else 0)
    layout_add(layout, BWD_DSPAIR, (bk_pad // 2) * bq * 4 if g.bf16 else 0)


cdef inline Py_ssize_t _first_query(const Backward *g, Py_ssize_t j0) noexcept nogil:
    """First query that may see key j0 (the upper bound's horizon; 0 without one)."""
    if g.shape.vis.has_hi:
        return min(g.shape.n_q, max(0, j0 - g.shape.vis.hi_offset))
    return 0


cdef inline Py_ssize_t _query_end(const Backward *g, Py_ssize_t j0, Py_ssize_t bk) noexcept nogil:
    """One past the last query that may see a key of [j0, j0 + bk): n_q, or with
    a window's left side the last query whose window still reaches j0 + bk - 1."""
    if g.shape.vis.has_lo:
        return max(0, min(g.shape.n_q, j0 + bk - g.shape.vis.lo_offset))
    return g.shape.n_q


cdef inline Py_ssize_t _visible_keys(const Backward *g, Py_ssize_t i0, Py_ssize_t rows,
                                     Py_ssize_t j0, Py_ssize_t bk,
                                     Py_ssize_t *first) noexcept nogil:
    """Keys of block [j0, j0 + bk) that some query of [i0, i0 + rows) may see:
    returns the end of that range (relative to j0) and sets `first` to its start,
    rounded down to a multiple of ROW_ALIGN (tile rows outside are not computed)."""
    cdef Py_ssize_t end = bk
    first[0] = 0
    if g.shape.vis.has_hi:
        end = max(0, min(bk, i0 + rows + g.shape.vis.hi_offset - j0))
    if g.shape.vis.has_lo:
        first[0] = (min(end, max(0, i0 + g.shape.vis.lo_offset - j0)) // ROW_ALIGN) * ROW_ALIGN
    return end


cdef void _tile_score_hook(floating *s, Py_ssize_t lds, const Backward *g, Py_ssize_t item,
                           Py_ssize_t i0, Py_ssize_t rows, Py_ssize_t j0,
                           Py_ssize_t keys) noexcept nogil:
    """Mask, ALiBi and the visible-key bounds on a transposed score tile s[t][r]
    (key j0 + t, query i0 + r), before the exponential, in the forward's order:
    the additive mask is added (a boolean one sets -inf), then ALiBi's
    -slope * |j - (i + alibi_offset)| (computed in float64, rounded once, as
    the forward does), then the entries outside a query's bounds become -inf.
    The one place that decides what a query sees."""
    cdef const AttentionShape *shape = &g.shape
    cdef Py_ssize_t t, r, first, last, dist, ld_row = g.mask.ld_row
    cdef const uint8_t *allowed
    cdef const floating *bias
    cdef floating *row
    cdef double slope
    if shape.mask_kind == MASK_BOOL:
        for t in range(keys):
            row = s + t * lds
            allowed = <const uint8_t *>mask_at(&g.mask, shape.mask_kind, item, i0, j0 + t, 1)
            for r in range(rows):
                if not allowed[r * ld_row]:
                    row[r] = -INFINITY
    elif shape.mask_kind != MASK_NONE:
        for t in range(keys):
            row = s + t * lds
            bias = <const floating *>mask_at(&g.mask, shape.mask_kind, item, i0, j0 + t,
                                             sizeof(floating))
            for r in range(rows):
                row[r] = row[r] + bias[r * ld_row]
    if shape.slopes != NULL:
        slope = shape.slopes[item]
        for t in range(keys):
            row = s + t * lds
            for r in range(rows):
                dist = j0 + t - (i0 + r + shape.alibi_offset)
                if dist < 0:
                    dist = -dist
                row[r] += <floating>(-slope * <double>dist)
    if shape.vis.has_hi:
        # Key j0 + t is seen by queries i >= j0 + t - hi_offset.
        for t in range(keys):
            first = min(rows, j0 + t - shape.vis.hi_offset - i0)
            row = s + t * lds
            for r in range(first):
                row[r] = -INFINITY
    if shape.vis.has_lo:
        # ... and by queries i <= j0 + t - lo_offset.
        for t in range(keys):
            last = max(-1, j0 + t - shape.vis.lo_offset - i0)
            row = s + t * lds
            for r in range(last + 1, rows):
                row[r] = -INFINITY


cdef inline void _load_block_sums(double *acc, const floating *grad, Py_ssize_t ld,
                                  Py_ssize_t rows, Py_ssize_t cols,
                                  bint first_item) noexcept nogil:
    # A key block's dK/dV sums run in float64 over the query blocks of every
    # item of its group: they start from what the group's earlier items left.
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            acc[r * cols + c] = 0.0 if first_item else grad[r * ld + c]


cdef inline void _store_block_sums(floating *grad, Py_ssize_t ld, const double *acc,
                                   Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            grad[r * ld + c] = <floating>acc[r * cols + c]


cdef inline void _probs_t(floating *s, Py_ssize_t lds, Py_ssize_t rows, Py_ssize_t cols,
                          const floating *shift, const floating *log_sum) noexcept nogil:
    if floating is float:
        probs_t_f32(s, lds, <int>rows, <int>cols, shift, log_sum)
    else:
        probs_t_f64(s, lds, <int>rows, <int>cols, shift, log_sum)


cdef inline void _dscores_t(const floating *p, floating *dp, Py_ssize_t ld, Py_ssize_t rows,
                            Py_ssize_t cols, const floating *d) noexcept nogil:
    if floating is float:
        dscores_t_f32(p, dp, ld, <int>rows, <int>cols, d)
    else:
        dscores_t_f64(p, dp, ld, <int>rows, <int>cols, d)


cdef inline void _pack_kt(const floating *k, Py_ssize_t ldk, Py_ssize_t bk, Py_ssize_t dk,
                          Py_ssize_t dk_pad, double scale, floating *kt,
                          Py_ssize_t ldkt) noexcept nogil:
    if floating is float:
        pack_kt_f32(k, ldk, <int>bk, <int>dk, <int>dk_pad, <float>scale, kt, ldkt)
    else:
        pack_kt_f64(k, ldk, <int>bk, <int>dk, <int>dk_pad, scale, kt, ldkt)


cdef inline double _row_dot(const floating *a, const floating *b, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return row_dot_f32(a, b, <int>n)
    else:
        return row_dot_f64(a, b, <int>n)


cdef inline void _add_rows(double *acc, Py_ssize_t ld_acc, const floating *part,
                           Py_ssize_t ld_part, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """acc[r][c] += part[r][c] for the first rows x cols (the float64 merge)."""
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            acc[r * ld_acc + c] += part[r * ld_part + c]


cdef void _backward_item(const Backward *g, Py_ssize_t item, floating *dk, floating *dv,
                         bint first_item, char *scratch) noexcept nogil:
    """Add batch item `item`'s dK, dV to dk, dv (its group's; set them when
    `first_item`) and write its dQ."""
    cdef:
        const AttentionShape *shape = &g.shape
        floating zero = 0
        int nr = panel_width(zero)
        Py_ssize_t bk_pad = g.bk_pad, dk_rows = g.dk_rows, dkp = g.dkp, dvp = g.dvp
        Py_ssize_t d_k = shape.d_k, d_v = shape.d_v, lds = g.block_q, nq_pad = g.nq_pad
        Py_ssize_t i, i0, j0, bk, rows, cols, keys, keys_pad, r, c, t0, jt
        bint hook = (shape.mask_kind != MASK_NONE or shape.vis.has_hi or shape.vis.has_lo
                     or shape.slopes != NULL)
        const floating *q = <const floating *>g.q.base + g.q.offsets[item]
        const floating *k = <const floating *>g.k.base + g.k.offsets[item]
        const floating *v = <const floating *>g.v.base + g.v.offsets[item]
        const floating *o = <const floating *>g.out.base + g.out.offsets[item]
        const floating *dout = <const floating *>g.grad_out.base + g.grad_out.offsets[item]
        const floating *lse = <const floating *>g.shift + item * shape.n_q
        const floating *log_sum = (NULL if g.log_sum == NULL else
                                   <const floating *>g.log_sum + item * shape.n_q)
        floating *dq = <floating *>g.dq.base + g.dq.offsets[item]
        Py_ssize_t ld_q = g.q.ld_row, ld_k = g.k.ld_row, ld_v = g.v.ld_row
        Py_ssize_t ld_o = g.out.ld_row, ld_do = g.grad_out.ld_row
        Py_ssize_t ld_dk = g.dk.ld_row, ld_dv = g.dv.ld_row
        floating *kpack = <floating *>scratch_at(&g.layout, scratch, BWD_KPACK)
        floating *vpack = <floating *>scratch_at(&g.layout, scratch, BWD_VPACK)
        floating *ktpack = <floating *>scratch_at(&g.layout, scratch, BWD_KTPACK)
        floating *qpanel = <floating *>scratch_at(&g.layout, scratch, BWD_QPANEL)
        floating *dopanel = <floating *>scratch_at(&g.layout, scratch, BWD_DOPANEL)
        floating *qrows = <floating *>scratch_at(&g.layout, scratch, BWD_QROWS)
        floating *dorows = <floating *>scratch_at(&g.layout, scratch, BWD_DOROWS)
        floating *s = <floating *>scratch_at(&g.layout, scratch, BWD_SCORES)
        floating *dp = <floating *>scratch_at(&g.layout, scratch, BWD_DSCORES)
        floating *dk_acc = <floating *>scratch_at(&g.layout, scratch, BWD_DK)
        floating *dv_acc = <floating *>scratch_at(&g.layout, scratch, BWD_DV)
        floating *lse_adj = <floating *>scratch_at(&g.layout, scratch, BWD_LSE)
        floating *log_sum_adj = <floating *>scratch_at(&g.layout, scratch, BWD_LOG_SUM)
        floating *dvec = <floating *>scratch_at(&g.layout, scratch, BWD_D)
        floating *ones = <floating *>scratch_at(&g.layout, scratch, BWD_ONES)
        floating *dqt = <floating *>scratch_at(&g.layout, scratch, BWD_DQT)
        double *dk64 = <double *>scratch_at(&g.layout, scratch, BWD_DK64)
        double *dv64 = <double *>scratch_at(&g.layout, scratch, BWD_DV64)
        double *dqt64 = <double *>scratch_at(&g.layout, scratch, BWD_DQT64)

    for r in range(max(bk_pad, dk_rows)):
        ones[r] = 1
    # D = rowsum(dO * O) and the log-sum-exp as the exponential needs it: a
    # query that sees no key (lse = -inf) and the pad queries get +inf, so P = 0.
    for i in range(nq_pad):
        if i < shape.n_q:
            dvec[i] = <floating>_row_dot(dout + i * ld_do, o + i * ld_o, d_v)
            lse_adj[i] = lse[i] if lse[i] != -INFINITY else INFINITY
            log_sum_adj[i] = 0 if log_sum == NULL else log_sum[i]
        else:
            dvec[i] = 0
            lse_adj[i] = INFINITY
            log_sum_adj[i] = 0
    memset(dqt64, 0, d_k * nq_pad * sizeof(double))

    j0 = 0
    while j0 < shape.n_k:
        bk = min(g.block_k, shape.n_k - j0)
        # Key block j0: scale * K (rows, for S^T), V (rows, for dP^T), scale * K^T.
        pack_q(k + j0 * ld_k, ld_k, bk, bk_pad, d_k, shape.scale, kpack)
        pack_q(v + j0 * ld_v, ld_v, bk, bk_pad, d_v, 1.0, vpack)
        _pack_kt(k + j0 * ld_k, ld_k, bk, d_k, dk_rows, shape.scale, ktpack, bk_pad)
        # dK and dV of the block sum over query blocks in float64 (each query
        # block's part is formed in the tile dtype): a float32 sum over
        # millions of queries would stall at 2^24 times its terms.
        _load_block_sums(dk64, dk + j0 * ld_dk, ld_dk, bk, d_k, first_item)
        _load_block_sums(dv64, dv + j0 * ld_dv, ld_dv, bk, d_v, first_item)

        i0 = (_first_query(g, j0) // g.block_q) * g.block_q
        while i0 < _query_end(g, j0, bk):
            rows = min(g.block_q, shape.n_q - i0)
            # The tile: keys [jt, jt + keys) = [j0 + t0, j0 + end) of the block.
            keys = _visible_keys(g, i0, rows, j0, bk, &t0) - t0
            if keys <= 0:
                i0 += g.block_q
                continue
            jt = j0 + t0
            keys_pad = round_up(keys, ROW_ALIGN)
            cols = round_up(rows, nr)
            # Query block i0: Q and dO as panels (the "keys" of qk_tile) and as rows.
            pack_k(q + i0 * ld_q, ld_q, rows, d_k, qpanel)
            pack_k(dout + i0 * ld_do, ld_do, rows, d_v, dopanel)
            pack_v(q + i0 * ld_q, ld_q, rows, d_k, dkp, qrows)
            pack_v(dout + i0 * ld_do, ld_do, rows, d_v, dvp, dorows)

            # S^T = (scale K) Q^T, masked, then P^T = exp(S^T - lse).
            qk_tile(kpack + t0 * d_k, keys_pad, d_k, qpanel, cols // nr, s, lds, NO_LIMIT)
            if hook:
                _tile_score_hook(s, lds, g, item, i0, rows, jt, keys)
            _probs_t(s, lds, keys, cols, lse_adj + i0, log_sum_adj + i0)
            if keys_pad > keys:
                memset(s + keys * lds, 0, (keys_pad - keys) * lds * sizeof(floating))

            # dV += P^T dO;  dP^T = V dO^T;  dS^T = P^T * (dP^T - D).
            memset(dv_acc + t0 * dvp, 0, keys_pad * dvp * sizeof(floating))
            pv_tile(s, lds, keys_pad, rows, dorows, dvp, dvp, dv_acc + t0 * dvp, dvp, ones,
                    NO_LIMIT)
            _add_rows(dv64 + t0 * d_v, d_v, dv_acc + t0 * dvp, dvp, keys, d_v)
            qk_tile(vpack + t0 * d_v, keys_pad, d_v, dopanel, cols // nr, dp, lds, NO_LIMIT)
            _dscores_t(s, dp, lds, keys_pad, cols, dvec + i0)

            # dK += dS^T Q (scaled at the end);  dQ^T += (scale K)^T dS^T.
            memset(dk_acc + t0 * dkp, 0, keys_pad * dkp * sizeof(floating))
            pv_tile(dp, lds, keys_pad, rows, qrows, dkp, dkp, dk_acc + t0 * dkp, dkp, ones,
                    NO_LIMIT)
            _add_rows(dk64 + t0 * d_k, d_k, dk_acc + t0 * dkp, dkp, keys, d_k)
            for r in range(dk_rows):
                memset(dqt + r * nq_pad + i0, 0, cols * sizeof(floating))
            pv_tile(ktpack + t0, bk_pad, dk_rows, keys, dp, lds, cols, dqt + i0, nq_pad,
                    ones, NO_LIMIT)
            _add_rows(dqt64 + i0, nq_pad, dqt + i0, nq_pad, d_k, rows)
            i0 += g.block_q

        _store_block_sums(dk + j0 * ld_dk, ld_dk, dk64, bk, d_k)
        _store_block_sums(dv + j0 * ld_dv, ld_dv, dv64, bk, d_v)
        j0 += bk

    # dq = (dQ^T)^T, in blocks of 16 queries so that both sides stay in cache.
    for i0 in range(0, shape.n_q, 16):
        for c in range(d_k):
            for i in range(i0, min(i0 + 16, shape.n_q)):
                dq[i * g.dq.ld_row + c] = <floating>dqt64[c * nq_pad + i]


cdef void _backward_item_bf16(const Backward *g, Py_ssize_t item, float *dk, float *dv,
                              bint first_item, char *scratch) noexcept nogil:
    """_backward_item on the bfloat16 tiles: q, k, v, O, dO are bfloat16, and the
    five products run on vdpbf16ps with float32 accumulation, as FlashAttention-2's
    bfloat16 backward. P^T (for dV) and dS^T (for dK and dQ) are rounded to
    bfloat16 where they enter a product; S, P in dS, dP - D, D, the softmax
    statistics and every accumulator stay float32 (the sums over blocks float64).
    The scale multiplies the scores (in the S^T tile), dK and dQ (at the end)."""
    cdef:
        const AttentionShape *shape = &g.shape
        Py_ssize_t bk_pad = g.bk_pad, dk_rows = g.dk_rows, dkp = g.dkp, dvp = g.dvp
        Py_ssize_t d_k = shape.d_k, d_v = shape.d_v, lds = g.block_q, nq_pad = g.nq_pad
        Py_ssize_t pairs_k = (d_k + 1) // 2, pairs_v = (d_v + 1) // 2
        Py_ssize_t i, i0, j0, bk, rows, cols, keys, keys_pad, r, c, t0, jt
        bint hook = (shape.mask_kind != MASK_NONE or shape.vis.has_hi or shape.vis.has_lo
                     or shape.slopes != NULL)
        const uint16_t *q = <const uint16_t *>g.q.base + g.q.offsets[item]
        const uint16_t *k = <const uint16_t *>g.k.base + g.k.offsets[item]
        const uint16_t *v = <const uint16_t *>g.v.base + g.v.offsets[item]
        const uint16_t *o = <const uint16_t *>g.out.base + g.out.offsets[item]
        const uint16_t *dout = <const uint16_t *>g.grad_out.base + g.grad_out.offsets[item]
        const float *lse = <const float *>g.shift + item * shape.n_q
        const float *log_sum = (NULL if g.log_sum == NULL else
                                <const float *>g.log_sum + item * shape.n_q)
        float *dq = <float *>g.dq.base + g.dq.offsets[item]
        float scale = <float>shape.scale
        Py_ssize_t ld_q = g.q.ld_row, ld_k = g.k.ld_row, ld_v = g.v.ld_row
        Py_ssize_t ld_o = g.out.ld_row, ld_do = g.grad_out.ld_row
        Py_ssize_t ld_dk = g.dk.ld_row, ld_dv = g.dv.ld_row
        uint32_t *krows = <uint32_t *>scratch_at(&g.layout, scratch, BWD_KPACK)
        uint32_t *vrows = <uint32_t *>scratch_at(&g.layout, scratch, BWD_VPACK)
        uint32_t *ktpair = <uint32_t *>scratch_at(&g.layout, scratch, BWD_KTPACK)
        uint32_t *qpanel = <uint32_t *>scratch_at(&g.layout, scratch, BWD_QPANEL)
        uint32_t *dopanel = <uint32_t *>scratch_at(&g.layout, scratch, BWD_DOPANEL)
        uint32_t *qpairs = <uint32_t *>scratch_at(&g.layout, scratch, BWD_QROWS)
        uint32_t *dopairs = <uint32_t *>scratch_at(&g.layout, scratch, BWD_DOROWS)
        float *s = <float *>scratch_at(&g.layout, scratch, BWD_SCORES)
        float *dp = <float *>scratch_at(&g.layout, scratch, BWD_DSCORES)
        float *dk_acc = <float *>scratch_at(&g.layout, scratch, BWD_DK)
        float *dv_acc = <float *>scratch_at(&g.layout, scratch, BWD_DV)
        float *lse_adj = <float *>scratch_at(&g.layout, scratch, BWD_LSE)
        float *log_sum_adj = <float *>scratch_at(&g.layout, scratch, BWD_LOG_SUM)
        float *dvec = <float *>scratch_at(&g.layout, scratch, BWD_D)
        float *dqt = <float *>scratch_at(&g.layout, scratch, BWD_DQT)
        double *dk64 = <double *>scratch_at(&g.layout, scratch, BWD_DK64)
        double *dv64 = <double *>scratch_at(&g.layout, scratch, BWD_DV64)
        double *dqt64 = <double *>scratch_at(&g.layout, scratch, BWD_DQT64)
        uint16_t *half = <uint16_t *>scratch_at(&g.layout, scratch, BWD_HALF)
        uint32_t *dspair = <uint32_t *>scratch_at(&g.layout, scratch, BWD_DSPAIR)

    for i in range(nq_pad):
        if i < shape.n_q:
            dvec[i] = <float>bf16_row_dot(dout + i * ld_do, o + i * ld_o, <int>d_v)
            lse_adj[i] = lse[i] if lse[i] != -INFINITY else INFINITY
            log_sum_adj[i] = 0 if log_sum == NULL else log_sum[i]
        else:
            dvec[i] = 0
            lse_adj[i] = INFINITY
            log_sum_adj[i] = 0
    memset(dqt64, 0, d_k * nq_pad * sizeof(double))

    j0 = 0
    while j0 < shape.n_k:
        bk = min(g.block_k, shape.n_k - j0)
        # Key block j0: K and V as rows of pairs (S^T, dP^T), K^T as pairs of keys (dQ^T).
        bf16_pack_q(k + j0 * ld_k, ld_k, <int>bk, <int>bk_pad, <int>d_k, krows)
        bf16_pack_q(v + j0 * ld_v, ld_v, <int>bk, <int>bk_pad, <int>d_v, vrows)
        bf16_pack_t(k + j0 * ld_k, ld_k, <int>bk, <int>bk_pad, <int>d_k, <int>dk_rows,
                    ktpair, bk_pad // 2)
        _load_block_sums(dk64, dk + j0 * ld_dk, ld_dk, bk, d_k, first_item)
        _load_block_sums(dv64, dv + j0 * ld_dv, ld_dv, bk, d_v, first_item)

        i0 = (_first_query(g, j0) // g.block_q) * g.block_q
        while i0 < _query_end(g, j0, bk):
            rows = min(g.block_q, shape.n_q - i0)
            keys = _visible_keys(g, i0, rows, j0, bk, &t0) - t0
            if keys <= 0:
                i0 += g.block_q
                continue
            jt = j0 + t0
            keys_pad = round_up(keys, ROW_ALIGN)
            cols = round_up(rows, BF16_NR)
            # Query block i0: Q and dO as panels of 32 queries (the "keys" of the
            # score tiles) and as pairs of queries (the V operand of dK, dV).
            bf16_pack_k(q + i0 * ld_q, ld_q, <int>rows, <int>d_k, qpanel)
            bf16_pack_k(dout + i0 * ld_do, ld_do, <int>rows, <int>d_v, dopanel)
            bf16_pack_v(q + i0 * ld_q, ld_q, <int>rows, <int>d_k, <int>dkp, qpairs)
            bf16_pack_v(dout + i0 * ld_do, ld_do, <int>rows, <int>d_v, <int>dvp, dopairs)

            # S^T = scale K Q^T, masked, then P^T = exp(S^T - lse) in float32.
            bf16_qk_tile(krows + t0 * pairs_k, <int>keys_pad, <int>d_k, qpanel,
                         <int>(cols // BF16_NR), scale, s, lds, NO_LIMIT)
            if hook:
                _tile_score_hook(s, lds, g, item, i0, rows, jt, keys)
            _probs_t(s, lds, keys, cols, lse_adj + i0, log_sum_adj + i0)
            if keys_pad > keys:
                memset(s + keys * lds, 0, (keys_pad - keys) * lds * sizeof(float))

            # dV += bf16(P^T) dO.
            for r in range(keys_pad):
                bf16_p_row(s + r * lds, <int>cols, <int>cols, half + r * lds)
            memset(dv_acc + t0 * dvp, 0, keys_pad * dvp * sizeof(float))
            bf16_pv_tile(<const uint32_t *>half, lds // 2, <int>keys_pad, <int>rows, dopairs,
                         <int>dvp, dv_acc + t0 * dvp, dvp, NO_LIMIT)
            _add_rows(dv64 + t0 * d_v, d_v, dv_acc + t0 * dvp, dvp, keys, d_v)

            # dP^T = V dO^T;  dS^T = P^T * (dP^T - D) (float32 P), then rounded.
            bf16_qk_tile(vrows + t0 * pairs_v, <int>keys_pad, <int>d_v, dopanel,
                         <int>(cols // BF16_NR), 1.0, dp, lds, NO_LIMIT)
            _dscores_t(s, dp, lds, keys_pad, cols, dvec + i0)
            bf16_round_t(dp, lds, <int>keys_pad, <int>cols, half, lds, dspair, cols)

            # dK += bf16(dS^T) Q;  dQ^T += K^T bf16(dS^T) (both scaled at the end).
            memset(dk_acc + t0 * dkp, 0, keys_pad * dkp * sizeof(float))
            bf16_pv_tile(<const uint32_t *>half, lds // 2, <int>keys_pad, <int>rows, qpairs,
                         <int>dkp, dk_acc + t0 * dkp, dkp, NO_LIMIT)
            _add_rows(dk64 + t0 * d_k, d_k, dk_acc + t0 * dkp, dkp, keys, d_k)
            for r in range(dk_rows):
                memset(dqt + r * nq_pad + i0, 0, cols * sizeof(float))
            bf16_pv_tile(ktpair + t0 // 2, bk_pad // 2, <int>dk_rows, <int>keys, dspair,
                         <int>cols, dqt + i0, nq_pad, NO_LIMIT)
            _add_rows(dqt64 + i0, nq_pad, dqt + i0, nq_pad, d_k, rows)
            i0 += g.block_q

        _store_block_sums(dk + j0 * ld_dk, ld_dk, dk64, bk, d_k)
        _store_block_sums(dv + j0 * ld_dv, ld_dv, dv64, bk, d_v)
        j0 += bk

    for i0 in range(0, shape.n_q, 16):
        for c in range(d_k):
            for i in range(i0, min(i0 + 16, shape.n_q)):
                dq[i * g.dq.ld_row + c] = <float>(dqt64[c * nq_pad + i] * shape.scale)


cdef void _run_groups(const Backward *g, floating *dummy, char *scratch,
                      int n_threads) noexcept nogil:
    """One task per dK/dV destination (group), spread over the threads."""
    cdef:
        Py_ssize_t grp, idx, r, c
        floating *dk_grp
        floating *dv_grp
        floating scale = <floating>g.shape.scale
    with parallel(num_threads=n_threads):
        for grp in prange(g.n_groups, schedule="dynamic"):
            dk_grp = <floating *>g.dk.base + g.dk.offsets[grp]
            dv_grp = <floating *>g.dv.base + g.dv.offsets[grp]
            for idx in range(g.group_start[grp], g.group_start[grp + 1]):
                if floating is float and g.bf16:
                    _backward_item_bf16(g, g.items[idx], dk_grp, dv_grp,
                                        idx == g.group_start[grp],
                                        scratch + omp_get_thread_num() * g.layout.total)
                else:
                    _backward_item(g, g.items[idx], dk_grp, dv_grp, idx == g.group_start[grp],
                                   scratch + omp_get_thread_num() * g.layout.total)
            # dK was summed from unscaled dS^T Q.
            for r in range(g.shape.n_k):
                for c in range(g.shape.d_k):
                    dk_grp[r * g.dk.ld_row + c] = dk_grp[r * g.dk.ld_row + c] * scale


def attention_backward(q, k, v, out, grad_out, lse, log_sum, mask, dq, dk, dv, groups, shape,
                       Py_ssize_t block_q, Py_ssize_t block_k, int num_threads):
    """Run the fused backward over validated operands (entry point, checks only sizes).

    Parameters
    ----------
    q, k, v, out, grad_out, mask : _geometry.Operand (mask: or None)
        As for ``_kernels.attention_forward``: float32/float64, or uint16
        bfloat16 bit patterns on a variant with the bfloat16 tiles
        (``BF16_TILES``); the gradients, ``lse`` and an additive mask are then
        float32.
    lse : ndarray
        C-contiguous ``(n_batch, n_q)`` row log-sum-exp of the forward pass,
        or, in the rows where ``log_sum`` is not 0, the row maximum of the
        scores.
    log_sum : ndarray or None
        Like ``lse``: ``log(sum(exp(S - lse)))`` of each row, so that
        ``P = exp((S - lse) - log_sum)``; None means zeros (``lse`` is the
        log-sum-exp in every row).
    dq : _geometry.Operand
        Written: item b's rows.
    dk, dv : _geometry.Operand
        Written: one ``(n_k, d)`` slab per key/value destination (group);
        their offsets are per group. Slabs of different groups and rows of dq
        must not overlap.
    groups : (items, group_start) of intp arrays
        Batch items of group ``g`` are ``items[group_start[g]:group_start[g+1]]``
        (every item once; each group non-empty), processed in that order.
    shape : _geometry.AttentionShape
        Sizes, scale, the visible-key rule and ALiBi.
    block_q, block_k : int
        Queries and keys per tile; ``block_q`` is rounded up to a multiple of
        the panel width.
    num_threads : int
        OpenMP threads (already resolved).
    """
    cdef Backward g
    cdef const intp_t[::1] items = groups[0]
    cdef const intp_t[::1] group_start = groups[1]
    cdef cnp.ndarray lse_array = lse
    cdef cnp.ndarray log_sum_array = log_sum
    # bfloat16 operands (uint16 bit patterns) run on the tiles, with float32
    # gradients, lse and additive mask.
    g.bf16 = q.array.dtype == np.uint16
    if g.bf16 and not HAVE_BF16_TILES:
        raise ValueError("attention_backward: this kernel variant has no bfloat16 tiles")
    compute = np.dtype(np.float32) if g.bf16 else q.array.dtype
    cdef bint is_float = compute == np.float32
    cdef int nr = NR_F32 if is_float else NR_F64
    cdef int vl = VL_F32 if is_float else VL_F64
    cdef Py_ssize_t itemsize = 4 if is_float else 8
    cdef char *scratch
    read_shape(shape, mask, &g.shape)
    for operand in (k, v, out, grad_out):
        if operand.array.dtype != q.array.dtype:
            raise ValueError("attention_backward: q, k, v, out, grad_out must share a dtype")
    for operand in (dq, dk, dv):
        if operand.array.dtype != compute:
            raise ValueError("attention_backward: dq, dk, dv must have the compute dtype")
    if lse_array.dtype != compute or not lse_array.flags.c_contiguous:
        raise ValueError("attention_backward: lse must be C-contiguous, of the compute dtype")
    if log_sum_array is not None and (
            log_sum_array.dtype != compute or not log_sum_array.flags.c_contiguous
            or log_sum_array.size != lse_array.size):
        raise ValueError("attention_backward: log_sum must be C-contiguous, of lse's size and dtype")
    g.n_groups = group_start.shape[0] - 1
    if (lse_array.size != g.shape.n_batch * g.shape.n_q or items.shape[0] != g.shape.n_batch
            or g.n_groups < 0 or dk.offsets.shape[0] != g.n_groups
            or dv.offsets.shape[0] != g.n_groups):
        raise ValueError("attention_backward: array sizes do not match the geometry")
    for operand in (q, k, v, out, grad_out, dq):
        if operand.offsets.shape[0] != g.shape.n_batch:
            raise ValueError("attention_backward: array sizes do not match the geometry")
    if mask is not None and mask.offsets.shape[0] != g.shape.n_batch:
        raise ValueError("attention_backward: array sizes do not match the geometry")
    if g.shape.n_batch == 0 or g.n_groups == 0 or g.shape.n_q == 0 or g.shape.n_k == 0:
        return
    if block_q < 1 or block_k < 1:
        raise ValueError("attention_backward: block sizes must be positive")
    read_operand(q, &g.q)
    read_operand(k, &g.k)
    read_operand(v, &g.v)
    read_operand(out, &g.out)
    read_operand(grad_out, &g.grad_out)
    read_operand(mask, &g.mask)
    read_operand(dq, &g.dq)
    read_operand(dk, &g.dk)
    read_operand(dv, &g.dv)
    g.shift = <const char *>cnp.PyArray_DATA(lse_array)
    g.log_sum = (NULL if log_sum_array is None
                 else <const char *>cnp.PyArray_DATA(log_sum_array))
    g.items = &items[0]
    g.group_start = &group_start[0]
    g.block_q = round_up(min(block_q, round_up(g.shape.n_q, nr)), nr)
    g.block_k = min(block_k, g.shape.n_k)
    g.bk_pad = round_up(g.block_k, ROW_ALIGN)
    g.dk_rows = round_up(g.shape.d_k, PV_MR)  # K^T only feeds pv_tile (row groups of PV_MR)
    g.dkp = round_up(g.shape.d_k, vl)
    g.dvp = round_up(g.shape.d_v, vl)
    g.nq_pad = round_up(g.shape.n_q, g.block_q)
    _backward_layout(&g, itemsize)

    cdef int n_threads = <int>max(1, min(num_threads, g.n_groups))
    buffer = scratch_buffer(n_threads * g.layout.total, SCRATCH_ALIGN, "backward")
    scratch = <char *>cnp.PyArray_DATA(buffer)
    if is_float:
        with nogil:
            _run_groups(&g, <float *>NULL, scratch, n_threads)
    else:
        with nogil:
            _run_groups(&g, <double *>NULL, scratch, n_threads)


# -- bfloat16 GEMMs of the layers' gradients ------------------------------------------
# dX = dY W^T and dW = X^T dY of a bfloat16 layer on the same vdpbf16ps tile as its
# forward projections (_kernels.bf16_linear): A (rows x pairs) and B (pairs x
# columns) in the pair layouts of csrc/attnsearch_reduced.h, float32 accumulation.

#: Whether this variant multiplies bfloat16 on vdpbf16ps tiles.
BF16_TILES = bool(HAVE_BF16_TILES)

#: Output rows and columns a GEMM task owns (its float32 accumulator, 48 KiB).
cdef int GEMM_ROWS = 96
cdef int GEMM_COLS = 128
#: Pairs of the summed axis per pass over a task's rows (B's chunk: 128 KiB).
cdef int GEMM_PAIRS = 256


def bf16_pack_pairs(const uint16_t[:, ::1] x not None):
    """The B operand of :func:`bf16_gemm` from bfloat16 bits x (m, n): pairs of
    rows interleaved, (ceil(m / 2), round_up(n, 16)) uint32, zero padded."""
    cdef int m = x.shape[0], n = x.shape[1]
    cdef int ldb = round_up(max(n, 1), 16)
    packed = np.empty(((m + 1) // 2, ldb), dtype=np.uint32)
    cdef uint32_t[:, ::1] dst = packed
    if m and n:
        with nogil:
            bf16_pack_v(&x[0, 0], n, m, n, ldb, &dst[0, 0])
    elif m:
        packed[...] = 0
    return packed


def bf16_pack_pairs_t(const uint16_t[:, ::1] x not None):
    """The A operand of :func:`bf16_gemm` for x^T from bfloat16 bits x (m, k):
    (k, ceil(m / 2)) uint32, row c holding (x[2j][c], x[2j+1][c])."""
    cdef int m = x.shape[0], k = x.shape[1]
    cdef int n_pairs = (m + 1) // 2
    packed = np.empty((k, n_pairs), dtype=np.uint32)
    cdef uint32_t[:, ::1] dst = packed
    if k and n_pairs:
        with nogil:
            bf16_pack_t(&x[0, 0], k, m, 2 * n_pairs, k, k, &dst[0, 0], n_pairs)
    return packed


cdef void _bf16_gemm_task(const uint32_t *a, Py_ssize_t n_rows, int n_pairs, const uint32_t *b,
                          int ldb, int n_cols, float *out32, uint16_t *out16,
                          Py_ssize_t ld_out, bint accumulate, Py_ssize_t task,
                          int n_col_blocks, float *acc, uint32_t *tail) noexcept nogil:
    """One (GEMM_ROWS x GEMM_COLS) block of the output, summed over every pair."""
    cdef Py_ssize_t r0 = (task // n_col_blocks) * GEMM_ROWS
    cdef int c0 = <int>(task % n_col_blocks) * GEMM_COLS
    cdef int rows = <int>min(<Py_ssize_t>GEMM_ROWS, n_rows - r0)
    cdef int cols = min(GEMM_COLS, n_cols - c0)
    cdef int cols_pad = round_up(cols, 16)
    cdef int rows_full = rows - rows % PV_MR_BF16
    cdef int r, c, k0, kc
    cdef float value
    for r in range(round_up(rows, PV_MR_BF16)):
        for c in range(cols_pad):
            acc[r * GEMM_COLS + c] = 0
    if rows > rows_full:
        # The last partial group of rows goes through a zero-padded copy.
        memset(tail, 0, PV_MR_BF16 * n_pairs * sizeof(uint32_t))
        memcpy(tail, a + (r0 + rows_full) * n_pairs,
               (rows - rows_full) * n_pairs * sizeof(uint32_t))
    # The sum runs over chunks of GEMM_PAIRS pairs, so that B's chunk (128 KiB)
    # stays in L2 for every row group of the task: dW = x^T dy sums over all the
    # tokens, and a whole column slice of B would be streamed from L3 per group.
    k0 = 0
    while k0 < n_pairs:
        kc = min(GEMM_PAIRS, n_pairs - k0)
        if rows_full:
            bf16_gemm_tile(a + r0 * n_pairs + k0, n_pairs, rows_full, kc, b + k0 * ldb + c0,
                           ldb, cols_pad, acc, GEMM_COLS)
        if rows > rows_full:
            bf16_gemm_tile(tail + k0, n_pairs, PV_MR_BF16, kc, b + k0 * ldb + c0, ldb,
                           cols_pad, acc + rows_full * GEMM_COLS, GEMM_COLS)
        k0 += kc
    for r in range(rows):
        for c in range(cols):
            value = acc[r * GEMM_COLS + c]
            if out16 != NULL:
                out16[(r0 + r) * ld_out + c0 + c] = float_to_bf16(value)
            elif accumulate:
                out32[(r0 + r) * ld_out + c0 + c] += value
            else:
                out32[(r0 + r) * ld_out + c0 + c] = value


def bf16_gemm(const uint32_t[:, ::1] a not None, const uint32_t[:, ::1] b not None,
              cnp.ndarray out not None, bint accumulate, int num_threads):
    """out (+)= A B of bfloat16 operands in pair layouts, float32 accumulation.

    Parameters
    ----------
    a : (n_rows, n_pairs) uint32
        Rows of A as pairs along the summed axis (a C-contiguous bfloat16 row
        of even length is that layout; :func:`bf16_pack_pairs_t` makes it for
        a transposed operand).
    b : (n_pairs, ldb) uint32
        :func:`bf16_pack_pairs` of B (ldb a multiple of 16, at least n_cols).
    out : (n_rows, n_cols) ndarray, C-contiguous
        float32 (written, or added to with ``accumulate``), or uint16 for
        bfloat16 bits (each element rounded once; no ``accumulate``).
    accumulate : bool
    num_threads : int

    Notes
    -----
    Tasks are (96-row, 128-column) blocks of the output, each summed over
    every pair in order: the same bits for any thread count.
    """
    if not HAVE_BF16_TILES:
        raise RuntimeError("bf16_gemm: this kernel variant has no bfloat16 tiles")
    cdef Py_ssize_t n_rows = a.shape[0]
    cdef int n_pairs = a.shape[1], ldb = b.shape[1]
    if out.ndim != 2 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("bf16_gemm: out must be a writeable C-contiguous 2-d array")
    cdef int n_cols = out.shape[1]
    cdef bint narrow = out.dtype == np.uint16
    if not narrow and out.dtype != np.float32:
        raise ValueError("bf16_gemm: out must be float32 or uint16 (bfloat16 bits)")
    if narrow and accumulate:
        raise ValueError("bf16_gemm: a bfloat16 out cannot accumulate")
    if (b.shape[0] != n_pairs or ldb < n_cols or ldb % 16 or out.shape[0] != n_rows):
        raise ValueError("bf16_gemm: a, b and out do not fit")
    if n_rows == 0 or n_cols == 0:
        return
    if n_pairs == 0:
        if not accumulate:
            out[...] = 0
        return
    cdef int n_col_blocks = (n_cols + GEMM_COLS - 1) // GEMM_COLS
    cdef Py_ssize_t n_tasks = ((n_rows + GEMM_ROWS - 1) // GEMM_ROWS) * n_col_blocks
    cdef int n_threads = <int>max(1, min(<Py_ssize_t>num_threads, n_tasks))
    cdef Py_ssize_t per_thread = round_up(
        GEMM_ROWS * GEMM_COLS * sizeof(float) + PV_MR_BF16 * n_pairs * sizeof(uint32_t),
        SCRATCH_ALIGN)
    buffer = scratch_buffer(n_threads * per_thread, SCRATCH_ALIGN, "bf16 gradient GEMM")
    cdef char *scratch = <char *>cnp.PyArray_DATA(buffer)
    cdef char *mine
    cdef Py_ssize_t task
    cdef float *out32 = NULL if narrow else <float *>cnp.PyArray_DATA(out)
    cdef uint16_t *out16 = <uint16_t *>cnp.PyArray_DATA(out) if narrow else NULL
    with nogil, parallel(num_threads=n_threads):
        mine = scratch + omp_get_thread_num() * per_thread
        for task in prange(n_tasks, schedule="dynamic"):
            _bf16_gemm_task(&a[0, 0], n_rows, n_pairs, &b[0, 0], ldb, n_cols, out32, out16,
                            n_cols, accumulate, task, n_col_blocks, <float *>mine,
                            <uint32_t *>(mine + GEMM_ROWS * GEMM_COLS * sizeof(float)))


def bf16_round(cnp.ndarray x not None, cnp.ndarray out not None):
    """out = x rounded to bfloat16 (to nearest even; vcvtne2ps2bf16, which
    flushes float32 subnormals to zero): x C-contiguous float32, out
    C-contiguous uint16 (bfloat16 bits) of x's size. The layers' conversions
    of float32 gradients and inputs to GEMM operands. One thread: it runs at
    memory speed (~0.15 ns an element), and waking a team costs more."""
    if not HAVE_BF16_TILES:
        raise RuntimeError("bf16_round: this kernel variant has no bfloat16 tiles")
    if (x.dtype != np.float32 or out.dtype != np.uint16 or not x.flags.c_contiguous
            or not out.flags.c_contiguous or not out.flags.writeable or x.size != out.size):
        raise ValueError("bf16_round: x must be C-contiguous float32 and out a writeable "
                         "C-contiguous uint16 array of x's size")
    cdef Py_ssize_t n = x.size, start, count
    cdef const float *src = <const float *>cnp.PyArray_DATA(x)
    cdef uint16_t *dst = <uint16_t *>cnp.PyArray_DATA(out)
    with nogil:
        start = 0
        while start < n:
            count = min(<Py_ssize_t>1 << 20, n - start)
            bf16_p_row(src + start, <int>count, <int>count, dst + start)
            start += count
