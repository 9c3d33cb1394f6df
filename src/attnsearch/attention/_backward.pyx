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

from .._blas cimport gemm_rowmajor_ex
from .._threads cimport omp_get_thread_num

import numpy as np

from ._kernels import LINEAR_TILE_WORK as _TILE_WORK

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
    int PV_MR "ATTNSEARCH_PV_MR"

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

cdef extern from "attnsearch_backward.h" nogil:
    void probs_t_f32 "attnsearch_bwd_probs_t_f32"(float *s, Py_ssize_t lds, int rows, int cols, const float *lse)
    void probs_t_f64 "attnsearch_bwd_probs_t_f64"(double *s, Py_ssize_t lds, int rows, int cols, const double *lse)
    void dscores_t_f32 "attnsearch_bwd_dscores_t_f32"(const float *p, float *dp, Py_ssize_t ld, int rows, int cols, const float *d)
    void dscores_t_f64 "attnsearch_bwd_dscores_t_f64"(const double *p, double *dp, Py_ssize_t ld, int rows, int cols, const double *d)
    void pack_kt_f32 "attnsearch_bwd_pack_kt_f32"(const float *k, Py_ssize_t ldk, int bk, int dk, int dk_pad, float scale, float *kt, Py_ssize_t ldkt)
    void pack_kt_f64 "attnsearch_bwd_pack_kt_f64"(const double *k, Py_ssize_t ldk, int bk, int dk, int dk_pad, double scale, double *kt, Py_ssize_t ldkt)
    void store_t_f32 "attnsearch_bwd_store_t_f32"(const float *src, Py_ssize_t lds, int rows, int cols, float *out, Py_ssize_t ldo)
    void store_t_f64 "attnsearch_bwd_store_t_f64"(const double *src, Py_ssize_t lds, int rows, int cols, double *out, Py_ssize_t ldo)
    double row_dot_f32 "attnsearch_bwd_row_dot_f32"(const float *a, const float *b, int n)
    double row_dot_f64 "attnsearch_bwd_row_dot_f64"(const double *a, const double *b, int n)

ctypedef fused floating:
    float
    double

# "Every key of the block is visible" for the staircase arguments of the tiles.
cdef Py_ssize_t NO_LIMIT = 1 << 40

# Mask kinds (as in _kernels.pyx; set by the Python layer).
cdef enum:
    MASK_NONE = 0
    MASK_BOOL = 1
    MASK_ADDITIVE = 2


cdef struct BwdGeometry:
    # Sizes of one attention problem and the leading dimensions (in elements).
    Py_ssize_t n_q, n_k, d_k, d_v
    Py_ssize_t ld_q, ld_k, ld_v, ld_o, ld_do, ld_dq, ld_dk, ld_dv
    Py_ssize_t mask_ld_row, mask_ld_col
    int mask_kind
    bint has_hi                   # an upper bound (causal, or a window's right side)
    Py_ssize_t hi_offset          # query i sees keys j <= i + hi_offset
    bint has_lo                   # a lower bound (a window's left side)
    Py_ssize_t lo_offset          # query i sees keys j >= i + lo_offset
    const double *slopes          # ALiBi slope per batch item, or NULL
    Py_ssize_t alibi_offset       # query i sits at key position i + alibi_offset
    Py_ssize_t block_q, block_k   # block_q is a multiple of the panel width
    Py_ssize_t bk_pad             # block_k rounded up to ROW_ALIGN
    Py_ssize_t dk_rows            # d_k rounded up to PV_MR (rows of K^T)
    Py_ssize_t dkp, dvp           # d_k, d_v rounded up to the vector width
    Py_ssize_t nq_pad             # n_q rounded up to block_q
    double scale


cdef inline Py_ssize_t _round_up(Py_ssize_t x, Py_ssize_t multiple) noexcept nogil:
    """Smallest multiple of `multiple` that is >= x."""
    return ((x + multiple - 1) // multiple) * multiple


cdef inline Py_ssize_t _first_query(const BwdGeometry *g, Py_ssize_t j0) noexcept nogil:
    """First query that may see key j0 (the upper bound's horizon; 0 without one)."""
    if g.has_hi:
        return min(g.n_q, max(0, j0 - g.hi_offset))
    return 0


cdef inline Py_ssize_t _query_end(const BwdGeometry *g, Py_ssize_t j0, Py_ssize_t bk) noexcept nogil:
    """One past the last query that may see a key of [j0, j0 + bk): n_q, or with
    a window's left side the last query whose window still reaches j0 + bk - 1."""
    if g.has_lo:
        return max(0, min(g.n_q, j0 + bk - g.lo_offset))
    return g.n_q


cdef inline Py_ssize_t _visible_keys(const BwdGeometry *g, Py_ssize_t i0, Py_ssize_t rows,
                                     Py_ssize_t j0, Py_ssize_t bk,
                                     Py_ssize_t *first) noexcept nogil:
    """Keys of block [j0, j0 + bk) that some query of [i0, i0 + rows) may see:
    returns the end of that range (relative to j0) and sets `first` to its start,
    rounded down to a multiple of ROW_ALIGN (tile rows outside are not computed)."""
    cdef Py_ssize_t end = bk
    first[0] = 0
    if g.has_hi:
        end = max(0, min(bk, i0 + rows + g.hi_offset - j0))
    if g.has_lo:
        first[0] = (min(end, max(0, i0 + g.lo_offset - j0)) // ROW_ALIGN) * ROW_ALIGN
    return end


cdef void _tile_score_hook(floating *s, Py_ssize_t lds, const BwdGeometry *g,
                           const void *mask, double slope, Py_ssize_t i0,
                           Py_ssize_t rows, Py_ssize_t j0, Py_ssize_t keys) noexcept nogil:
    """Mask, ALiBi and the visible-key bounds on a transposed score tile s[t][r]
    (key j0 + t, query i0 + r), before the exponential, in the forward's order:
    the additive mask is added (a boolean one sets -inf), then ALiBi's
    -slope * |j - (i + alibi_offset)| (computed in float64, rounded once, as
    the forward does), then the entries outside a query's bounds become -inf.
    The one place that decides what a query sees."""
    cdef Py_ssize_t t, r, first, last, dist
    cdef const uint8_t *allowed
    cdef const floating *bias
    cdef floating *row
    if g.mask_kind == MASK_BOOL:
        for t in range(keys):
            row = s + t * lds
            allowed = <const uint8_t *>mask + i0 * g.mask_ld_row + (j0 + t) * g.mask_ld_col
            for r in range(rows):
                if not allowed[r * g.mask_ld_row]:
                    row[r] = -INFINITY
    elif g.mask_kind == MASK_ADDITIVE:
        for t in range(keys):
            row = s + t * lds
            bias = <const floating *>mask + i0 * g.mask_ld_row + (j0 + t) * g.mask_ld_col
            for r in range(rows):
                row[r] = row[r] + bias[r * g.mask_ld_row]
    if g.slopes != NULL:
        for t in range(keys):
            row = s + t * lds
            for r in range(rows):
                dist = j0 + t - (i0 + r + g.alibi_offset)
                if dist < 0:
                    dist = -dist
                row[r] += <floating>(-slope * <double>dist)
    if g.has_hi:
        # Key j0 + t is seen by queries i >= j0 + t - hi_offset.
        for t in range(keys):
            first = min(rows, j0 + t - g.hi_offset - i0)
            row = s + t * lds
            for r in range(first):
                row[r] = -INFINITY
    if g.has_lo:
        # ... and by queries i <= j0 + t - lo_offset.
        for t in range(keys):
            last = max(-1, j0 + t - g.lo_offset - i0)
            row = s + t * lds
            for r in range(last + 1, rows):
                row[r] = -INFINITY


cdef void _backward_item(
    const floating *q, const floating *k, const floating *v, const floating *o,
    const floating *dout, const floating *lse, const void *mask, double slope,
    floating *dq, floating *dk, floating *dv, bint first_item,
    const BwdGeometry *g, char *scratch,
) noexcept nogil:
    """Add one batch item's dK, dV to dk, dv (set them when `first_item`) and
    write its dQ into dq. Pointers are offset to this item; `slope` is its
    ALiBi slope (used when g.slopes is set)."""
    cdef:
        int nr, vl
        Py_ssize_t bk_pad = g.bk_pad, dk_rows = g.dk_rows, dkp = g.dkp, dvp = g.dvp
        Py_ssize_t d_k = g.d_k, d_v = g.d_v, lds = g.block_q, nq_pad = g.nq_pad
        Py_ssize_t i, i0, j0, bk, rows, cols, keys, keys_pad, r, t0, jt
        bint hook = g.mask_kind != MASK_NONE or g.has_hi or g.has_lo or g.slopes != NULL
        floating *kpack
        floating *vpack
        floating *ktpack
        floating *qpanel
        floating *dopanel
        floating *qrows
        floating *dorows
        floating *s
        floating *dp
        floating *dk_acc
        floating *dv_acc
        floating *lse_adj
        floating *dvec
        floating *ones
        floating *dqt
        char *cursor = scratch
    if floating is float:
        nr = NR_F32
        vl = VL_F32
    else:
        nr = NR_F64
        vl = VL_F64

    # Carve this thread's scratch (64-byte aligned pieces; sizes as in _scratch_bytes).
    kpack = <floating *>cursor
    cursor += _round_up(bk_pad * d_k * sizeof(floating), SCRATCH_ALIGN)
    vpack = <floating *>cursor
    cursor += _round_up(bk_pad * d_v * sizeof(floating), SCRATCH_ALIGN)
    ktpack = <floating *>cursor
    cursor += _round_up(dk_rows * bk_pad * sizeof(floating), SCRATCH_ALIGN)
    qpanel = <floating *>cursor
    cursor += _round_up(g.block_q * d_k * sizeof(floating), SCRATCH_ALIGN)
    dopanel = <floating *>cursor
    cursor += _round_up(g.block_q * d_v * sizeof(floating), SCRATCH_ALIGN)
    qrows = <floating *>cursor
    cursor += _round_up(g.block_q * dkp * sizeof(floating), SCRATCH_ALIGN)
    dorows = <floating *>cursor
    cursor += _round_up(g.block_q * dvp * sizeof(floating), SCRATCH_ALIGN)
    s = <floating *>cursor
    cursor += _round_up(bk_pad * lds * sizeof(floating), SCRATCH_ALIGN)
    dp = <floating *>cursor
    cursor += _round_up(bk_pad * lds * sizeof(floating), SCRATCH_ALIGN)
    dk_acc = <floating *>cursor
    cursor += _round_up(bk_pad * dkp * sizeof(floating), SCRATCH_ALIGN)
    dv_acc = <floating *>cursor
    cursor += _round_up(bk_pad * dvp * sizeof(floating), SCRATCH_ALIGN)
    lse_adj = <floating *>cursor
    cursor += _round_up(nq_pad * sizeof(floating), SCRATCH_ALIGN)
    dvec = <floating *>cursor
    cursor += _round_up(nq_pad * sizeof(floating), SCRATCH_ALIGN)
    ones = <floating *>cursor
    cursor += _round_up(max(bk_pad, dk_rows) * sizeof(floating), SCRATCH_ALIGN)
    dqt = <floating *>cursor

    for r in range(max(bk_pad, dk_rows)):
        ones[r] = 1
    # D = rowsum(dO * O) and the log-sum-exp as the exponential needs it: a
    # query that sees no key (lse = -inf) and the pad queries get +inf, so P = 0.
    for i in range(nq_pad):
        if i < g.n_q:
            if floating is float:
                dvec[i] = <floating>row_dot_f32(dout + i * g.ld_do, o + i * g.ld_o, <int>d_v)
            else:
                dvec[i] = <floating>row_dot_f64(dout + i * g.ld_do, o + i * g.ld_o, <int>d_v)
            lse_adj[i] = lse[i] if lse[i] != -INFINITY else INFINITY
        else:
            dvec[i] = 0
            lse_adj[i] = INFINITY
    memset(dqt, 0, dk_rows * nq_pad * sizeof(floating))

    j0 = 0
    while j0 < g.n_k:
        bk = min(g.block_k, g.n_k - j0)
        # Key block j0: scale * K (rows, for S^T), V (rows, for dP^T), scale * K^T.
        if floating is float:
            pack_q_f32(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>bk_pad, <int>d_k,
                       <float>g.scale, kpack)
            pack_q_f32(v + j0 * g.ld_v, g.ld_v, <int>bk, <int>bk_pad, <int>d_v, 1, vpack)
            pack_kt_f32(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, <int>dk_rows,
                        <float>g.scale, ktpack, bk_pad)
        else:
            pack_q_f64(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>bk_pad, <int>d_k,
                       g.scale, kpack)
            pack_q_f64(v + j0 * g.ld_v, g.ld_v, <int>bk, <int>bk_pad, <int>d_v, 1, vpack)
            pack_kt_f64(k + j0 * g.ld_k, g.ld_k, <int>bk, <int>d_k, <int>dk_rows,
                        g.scale, ktpack, bk_pad)
        if first_item:
            memset(dk_acc, 0, bk_pad * dkp * sizeof(floating))
            memset(dv_acc, 0, bk_pad * dvp * sizeof(floating))
        else:
            for r in range(bk):
                memcpy(dk_acc + r * dkp, dk + (j0 + r) * g.ld_dk, d_k * sizeof(floating))
                memcpy(dv_acc + r * dvp, dv + (j0 + r) * g.ld_dv, d_v * sizeof(floating))

        i0 = (_first_query(g, j0) // g.block_q) * g.block_q
        while i0 < _query_end(g, j0, bk):
            rows = min(g.block_q, g.n_q - i0)
            # The tile: keys [jt, jt + keys) = [j0 + t0, j0 + end) of the block.
            keys = _visible_keys(g, i0, rows, j0, bk, &t0) - t0
            if keys <= 0:
                i0 += g.block_q
                continue
            jt = j0 + t0
            keys_pad = _round_up(keys, ROW_ALIGN)
            cols = _round_up(rows, nr)
            # Query block i0: Q and dO as panels (the "keys" of qk_tile) and as rows.
            if floating is float:
                pack_k_f32(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>d_k, qpanel)
                pack_k_f32(dout + i0 * g.ld_do, g.ld_do, <int>rows, <int>d_v, dopanel)
                pack_v_f32(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>d_k, <int>dkp, qrows)
                pack_v_f32(dout + i0 * g.ld_do, g.ld_do, <int>rows, <int>d_v, <int>dvp, dorows)
            else:
                pack_k_f64(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>d_k, qpanel)
                pack_k_f64(dout + i0 * g.ld_do, g.ld_do, <int>rows, <int>d_v, dopanel)
                pack_v_f64(q + i0 * g.ld_q, g.ld_q, <int>rows, <int>d_k, <int>dkp, qrows)
                pack_v_f64(dout + i0 * g.ld_do, g.ld_do, <int>rows, <int>d_v, <int>dvp, dorows)

            # S^T = (scale K) Q^T, masked, then P^T = exp(S^T - lse).
            if floating is float:
                qk_tile_f32(kpack + t0 * d_k, <int>keys_pad, <int>d_k, qpanel,
                            <int>(cols // nr), s, lds, NO_LIMIT)
            else:
                qk_tile_f64(kpack + t0 * d_k, <int>keys_pad, <int>d_k, qpanel,
                            <int>(cols // nr), s, lds, NO_LIMIT)
            if hook:
                _tile_score_hook(s, lds, g, mask, slope, i0, rows, jt, keys)
            if floating is float:
                probs_t_f32(s, lds, <int>keys, <int>cols, lse_adj + i0)
            else:
                probs_t_f64(s, lds, <int>keys, <int>cols, lse_adj + i0)
            if keys_pad > keys:
                memset(s + keys * lds, 0, (keys_pad - keys) * lds * sizeof(floating))

            # dV += P^T dO;  dP^T = V dO^T;  dS^T = P^T * (dP^T - D).
            if floating is float:
                pv_tile_f32(s, lds, <int>keys_pad, <int>rows, dorows, dvp, <int>dvp,
                            dv_acc + t0 * dvp, dvp, ones, NO_LIMIT)
                qk_tile_f32(vpack + t0 * d_v, <int>keys_pad, <int>d_v, dopanel,
                            <int>(cols // nr), dp, lds, NO_LIMIT)
                dscores_t_f32(s, dp, lds, <int>keys_pad, <int>cols, dvec + i0)
            else:
                pv_tile_f64(s, lds, <int>keys_pad, <int>rows, dorows, dvp, <int>dvp,
                            dv_acc + t0 * dvp, dvp, ones, NO_LIMIT)
                qk_tile_f64(vpack + t0 * d_v, <int>keys_pad, <int>d_v, dopanel,
                            <int>(cols // nr), dp, lds, NO_LIMIT)
                dscores_t_f64(s, dp, lds, <int>keys_pad, <int>cols, dvec + i0)

            # dK += dS^T Q (scaled at the end);  dQ^T += (scale K)^T dS^T.
            if floating is float:
                pv_tile_f32(dp, lds, <int>keys_pad, <int>rows, qrows, dkp, <int>dkp,
                            dk_acc + t0 * dkp, dkp, ones, NO_LIMIT)
                pv_tile_f32(ktpack + t0, bk_pad, <int>dk_rows, <int>keys, dp, lds,
                            <int>cols, dqt + i0, nq_pad, ones, NO_LIMIT)
            else:
                pv_tile_f64(dp, lds, <int>keys_pad, <int>rows, qrows, dkp, <int>dkp,
                            dk_acc + t0 * dkp, dkp, ones, NO_LIMIT)
                pv_tile_f64(ktpack + t0, bk_pad, <int>dk_rows, <int>keys, dp, lds,
                            <int>cols, dqt + i0, nq_pad, ones, NO_LIMIT)
            i0 += g.block_q

        for r in range(bk):
            memcpy(dk + (j0 + r) * g.ld_dk, dk_acc + r * dkp, d_k * sizeof(floating))
            memcpy(dv + (j0 + r) * g.ld_dv, dv_acc + r * dvp, d_v * sizeof(floating))
        j0 += bk

    if floating is float:
        store_t_f32(dqt, nq_pad, <int>g.n_q, <int>d_k, dq, g.ld_dq)
    else:
        store_t_f64(dqt, nq_pad, <int>g.n_q, <int>d_k, dq, g.ld_dq)


cdef Py_ssize_t _scratch_bytes(const BwdGeometry *g, Py_ssize_t itemsize) noexcept nogil:
    """Bytes of scratch one thread needs (mirrors the carving in _backward_item)."""
    cdef Py_ssize_t total = 0, bk_pad = g.bk_pad, bq = g.block_q
    total += _round_up(bk_pad * g.d_k * itemsize, SCRATCH_ALIGN)
    total += _round_up(bk_pad * g.d_v * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.dk_rows * bk_pad * itemsize, SCRATCH_ALIGN)
    total += _round_up(bq * g.d_k * itemsize, SCRATCH_ALIGN)
    total += _round_up(bq * g.d_v * itemsize, SCRATCH_ALIGN)
    total += _round_up(bq * g.dkp * itemsize, SCRATCH_ALIGN)
    total += _round_up(bq * g.dvp * itemsize, SCRATCH_ALIGN)
    total += 2 * _round_up(bk_pad * bq * itemsize, SCRATCH_ALIGN)
    total += _round_up(bk_pad * g.dkp * itemsize, SCRATCH_ALIGN)
    total += _round_up(bk_pad * g.dvp * itemsize, SCRATCH_ALIGN)
    total += 2 * _round_up(g.nq_pad * itemsize, SCRATCH_ALIGN)
    total += _round_up(max(bk_pad, g.dk_rows) * itemsize, SCRATCH_ALIGN)
    total += _round_up(g.dk_rows * g.nq_pad * itemsize, SCRATCH_ALIGN)
    return total


cdef void _run_groups(
    const floating *q, const floating *k, const floating *v, const floating *o,
    const floating *dout, const floating *lse, const void *mask,
    floating *dq, floating *dk, floating *dv,
    const intp_t *items, const intp_t *group_start, Py_ssize_t n_groups,
    const intp_t *q_off, const intp_t *k_off, const intp_t *v_off,
    const intp_t *o_off, const intp_t *do_off, const intp_t *m_off,
    const intp_t *dq_off, const intp_t *dk_off, const intp_t *dv_off,
    const BwdGeometry *g, char *scratch, Py_ssize_t scratch_stride, int n_threads,
) noexcept nogil:
    """One task per dK/dV destination (group), spread over the threads."""
    cdef:
        Py_ssize_t grp, idx, b, r, c
        const void *m_ptr
        floating *dk_grp
        floating *dv_grp
        floating scale = <floating>g.scale
        int elem_mask = g.mask_kind
    with parallel(num_threads=n_threads):
        for grp in prange(n_groups, schedule="dynamic"):
            dk_grp = dk + dk_off[grp]
            dv_grp = dv + dv_off[grp]
            for idx in range(group_start[grp], group_start[grp + 1]):
                b = items[idx]
                m_ptr = NULL
                if elem_mask == MASK_BOOL:
                    m_ptr = <const uint8_t *>mask + m_off[b]
                elif elem_mask == MASK_ADDITIVE:
                    m_ptr = <const floating *>mask + m_off[b]
                _backward_item(
                    q + q_off[b], k + k_off[b], v + v_off[b], o + o_off[b],
                    dout + do_off[b], lse + b * g.n_q, m_ptr,
                    g.slopes[b] if g.slopes != NULL else 0.0,
                    dq + dq_off[b], dk_grp, dv_grp,
                    idx == group_start[grp], g,
                    scratch + omp_get_thread_num() * scratch_stride,
                )
            # dK was summed from unscaled dS^T Q.
            for r in range(g.n_k):
                for c in range(g.d_k):
                    dk_grp[r * g.ld_dk + c] = dk_grp[r * g.ld_dk + c] * scale


def attention_backward(
    cnp.ndarray q, cnp.ndarray k, cnp.ndarray v, cnp.ndarray out, cnp.ndarray grad_out,
    cnp.ndarray lse, mask, int mask_kind,
    cnp.ndarray dq, cnp.ndarray dk, cnp.ndarray dv,
    const intp_t[::1] items, const intp_t[::1] group_start,
    const intp_t[::1] q_offsets, const intp_t[::1] k_offsets, const intp_t[::1] v_offsets,
    const intp_t[::1] o_offsets, const intp_t[::1] do_offsets, const intp_t[::1] m_offsets,
    const intp_t[::1] dq_offsets, const intp_t[::1] dk_offsets, const intp_t[::1] dv_offsets,
    Py_ssize_t n_q, Py_ssize_t n_k, Py_ssize_t d_k, Py_ssize_t d_v,
    Py_ssize_t ld_q, Py_ssize_t ld_k, Py_ssize_t ld_v, Py_ssize_t ld_o, Py_ssize_t ld_do,
    Py_ssize_t ld_dq, Py_ssize_t ld_dk, Py_ssize_t ld_dv,
    Py_ssize_t mask_ld_row, Py_ssize_t mask_ld_col,
    double scale, bint causal, Py_ssize_t block_q, Py_ssize_t block_k, int num_threads,
    hi_offset=None, bint has_lo=False, Py_ssize_t lo_offset=0, slopes=None,
    Py_ssize_t alibi_offset=0,
):
    """Run the fused backward over validated arrays (entry point, checks only sizes).

    Parameters
    ----------
    q, k, v, out, grad_out : ndarray
        float32 or float64 arrays of one dtype; element (b, i, c) at
        ``base + offsets[b] + i * ld + c``.
    lse : ndarray
        C-contiguous ``(n_batch, n_q)`` row log-sum-exp of the forward pass.
    mask : ndarray or None
        As for ``attention_forward`` (uint8 or additive, read through
        ``m_offsets``, ``mask_ld_row`` and ``mask_ld_col``).
    dq : ndarray
        Written: item b's row i at ``base + dq_offsets[b] + i * ld_dq``.
    dk, dv : ndarray
        Written: one ``(n_k, d)`` slab per key/value destination (group) g at
        ``base + dk_offsets[g] + j * ld_dk`` (and likewise for dv). Slabs of
        different groups and rows of dq must not overlap.
    items, group_start : ndarray of intp
        Batch items of group ``g`` are ``items[group_start[g]:group_start[g+1]]``
        (every item once; each group non-empty), processed in that order.
    scale : float
        Multiplies q k^T.
    causal : bool
        Query i sees keys j <= i + hi_offset (default ``n_k - n_q``: causal).
    block_q, block_k : int
        Queries and keys per tile; ``block_q`` is rounded up to a multiple of
        the panel width.
    num_threads : int
        OpenMP threads (already resolved).
    hi_offset : int, optional
        The upper bound's offset when ``causal`` (a window's right side).
    has_lo, lo_offset : bool, int
        Query i sees keys j >= i + lo_offset (a window's left side).
    slopes : ndarray of float64, shape (n_batch,), optional
        ALiBi slope per batch item: the score of query i and key j gets
        ``-slope * |j - (i + alibi_offset)|`` after scaling (and the mask).
    """
    cdef BwdGeometry g
    cdef Py_ssize_t n_batch = q_offsets.shape[0], n_groups = group_start.shape[0] - 1
    cdef Py_ssize_t itemsize, scratch_stride
    cdef int nr, vl, n_threads
    cdef bint is_float = q.dtype == np.float32
    cdef char *scratch_ptr
    cdef cnp.ndarray scratch

    for arr in (k, v, out, grad_out, lse, dq, dk, dv):
        if arr.dtype != q.dtype:
            raise ValueError("attention_backward: every array must have q's dtype")
    if not lse.flags.c_contiguous:
        raise ValueError("attention_backward: lse must be C-contiguous")
    if (lse.size != n_batch * n_q or items.shape[0] != n_batch or n_groups < 0
            or dq_offsets.shape[0] != n_batch or dk_offsets.shape[0] != n_groups
            or dv_offsets.shape[0] != n_groups
            or k_offsets.shape[0] != n_batch or v_offsets.shape[0] != n_batch
            or o_offsets.shape[0] != n_batch or do_offsets.shape[0] != n_batch
            or m_offsets.shape[0] != n_batch):
        raise ValueError("attention_backward: array sizes do not match the geometry")
    if n_batch == 0 or n_groups == 0 or n_q == 0 or n_k == 0:
        return
    if block_q < 1 or block_k < 1:
        raise ValueError("attention_backward: block sizes must be positive")

    nr = NR_F32 if is_float else NR_F64
    vl = VL_F32 if is_float else VL_F64
    itemsize = 4 if is_float else 8
    g.n_q, g.n_k, g.d_k, g.d_v = n_q, n_k, d_k, d_v
    g.ld_q, g.ld_k, g.ld_v, g.ld_o, g.ld_do = ld_q, ld_k, ld_v, ld_o, ld_do
    g.ld_dq, g.ld_dk, g.ld_dv = ld_dq, ld_dk, ld_dv
    g.mask_ld_row, g.mask_ld_col = mask_ld_row, mask_ld_col
    g.mask_kind = mask_kind
    g.has_hi = causal
    g.hi_offset = n_k - n_q if hi_offset is None else hi_offset
    g.has_lo = has_lo
    g.lo_offset = lo_offset
    g.alibi_offset = alibi_offset
    g.slopes = NULL
    cdef cnp.ndarray slope_array
    if slopes is not None:
        slope_array = np.ascontiguousarray(slopes, dtype=np.float64)
        if slope_array.ndim != 1 or slope_array.shape[0] != n_batch:
            raise ValueError("attention_backward: one ALiBi slope per batch item expected")
        g.slopes = <const double *>cnp.PyArray_DATA(slope_array)
    g.block_q = _round_up(min(block_q, _round_up(n_q, nr)), nr)
    g.block_k = min(block_k, n_k)
    g.bk_pad = _round_up(g.block_k, ROW_ALIGN)
    g.dk_rows = _round_up(d_k, PV_MR)  # K^T only feeds pv_tile (row groups of PV_MR)
    g.dkp = _round_up(d_k, vl)
    g.dvp = _round_up(d_v, vl)
    g.nq_pad = _round_up(n_q, g.block_q)
    g.scale = scale

    n_threads = max(1, min(num_threads, n_groups))
    scratch_stride = _scratch_bytes(&g, itemsize)
    # One buffer for all threads, owned by NumPy (a MemoryError surfaces here).
    scratch = np.empty(n_threads * scratch_stride + SCRATCH_ALIGN, dtype=np.uint8)
    scratch_ptr = <char *>cnp.PyArray_DATA(scratch)
    scratch_ptr += (SCRATCH_ALIGN - <size_t>scratch_ptr % SCRATCH_ALIGN) % SCRATCH_ALIGN

    cdef void *m_ptr = NULL
    if mask is not None:
        m_ptr = cnp.PyArray_DATA(mask)
    cdef void *q_ptr = cnp.PyArray_DATA(q)
    cdef void *k_ptr = cnp.PyArray_DATA(k)
    cdef void *v_ptr = cnp.PyArray_DATA(v)
    cdef void *o_ptr = cnp.PyArray_DATA(out)
    cdef void *do_ptr = cnp.PyArray_DATA(grad_out)
    cdef void *l_ptr = cnp.PyArray_DATA(lse)
    cdef void *dq_ptr = cnp.PyArray_DATA(dq)
    cdef void *dk_ptr = cnp.PyArray_DATA(dk)
    cdef void *dv_ptr = cnp.PyArray_DATA(dv)
    if is_float:
        with nogil:
            _run_groups(
                <const float *>q_ptr, <const float *>k_ptr, <const float *>v_ptr,
                <const float *>o_ptr, <const float *>do_ptr, <const float *>l_ptr, m_ptr,
                <float *>dq_ptr, <float *>dk_ptr, <float *>dv_ptr,
                &items[0], &group_start[0], n_groups,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0],
                &do_offsets[0], &m_offsets[0], &dq_offsets[0], &dk_offsets[0], &dv_offsets[0],
                &g, scratch_ptr, scratch_stride, n_threads,
            )
    else:
        with nogil:
            _run_groups(
                <const double *>q_ptr, <const double *>k_ptr, <const double *>v_ptr,
                <const double *>o_ptr, <const double *>do_ptr, <const double *>l_ptr, m_ptr,
                <double *>dq_ptr, <double *>dk_ptr, <double *>dv_ptr,
                &items[0], &group_start[0], n_groups,
                &q_offsets[0], &k_offsets[0], &v_offsets[0], &o_offsets[0],
                &do_offsets[0], &m_offsets[0], &dq_offsets[0], &dk_offsets[0], &dv_offsets[0],
                &g, scratch_ptr, scratch_stride, n_threads,
            )


# The gradient GEMMs run on a grid of chunks that depends on the shapes only
# (never on num_threads): every output element comes from the same gemm call
# whatever the thread count, so the layers' gradients are bitwise identical for
# any num_threads. Each extra chunk repacks an operand (x for a column chunk of
# dW = x^T dy, w for a row chunk of dx = dy w^T), so, as linear_forward's grid
# (_kernels.linear_tiles), the number of chunks grows with the work: 1, 2, 4 or
# 8 chunks at LINEAR_TILE_WORK multiply-adds.


cdef Py_ssize_t _n_chunks(Py_ssize_t work):
    """Chunks of a gemm of `work` multiply-adds (1, 2, 4 or 8)."""
    cdef Py_ssize_t chunks = 1
    for threshold in _TILE_WORK:
        if work >= threshold:
            chunks *= 2
    return chunks


def grad_chunks(Py_ssize_t m, Py_ssize_t k, Py_ssize_t n):
    """(rows per chunk of linear_grad_input's dx (m, k), columns per chunk of
    linear_grad_weight's dw (k, n)) for x (m, k) and dy (m, n): shapes only."""
    cdef Py_ssize_t chunks = _n_chunks(m * k * n)
    cdef Py_ssize_t cols = _round_up((n + chunks - 1) // chunks, 16)
    return max(1, (m + chunks - 1) // chunks), max(1, cols)


cdef void _grad_weight_cols(const floating *x, Py_ssize_t ld_x, const floating *dy,
                            Py_ssize_t ld_dy, floating *dw, Py_ssize_t ld_dw,
                            Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, floating beta,
                            Py_ssize_t cols_per_chunk, int n_threads) noexcept nogil:
    """dw = x^T dy + beta * dw over chunks of `cols_per_chunk` columns."""
    cdef Py_ssize_t chunk, c0, c1, n_chunks = (n + cols_per_chunk - 1) // cols_per_chunk
    with parallel(num_threads=n_threads):
        for chunk in prange(n_chunks, schedule="dynamic"):
            c0 = chunk * cols_per_chunk
            c1 = min(n, c0 + cols_per_chunk)
            if c1 > c0:
                gemm_rowmajor_ex(True, False, <int>k, <int>(c1 - c0), <int>m, <floating>1,
                                 x, <int>ld_x, dy + c0, <int>ld_dy, beta, dw + c0,
                                 <int>ld_dw)


cdef void _grad_input_rows(const floating *dy, Py_ssize_t ld_dy, const floating *w,
                           Py_ssize_t ld_w, floating *dx, Py_ssize_t ld_dx,
                           Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, floating beta,
                           Py_ssize_t rows_per_chunk, int n_threads) noexcept nogil:
    """dx = dy w^T + beta * dx over chunks of `rows_per_chunk` rows."""
    cdef Py_ssize_t chunk, r0, r1, n_chunks = (m + rows_per_chunk - 1) // rows_per_chunk
    with parallel(num_threads=n_threads):
        for chunk in prange(n_chunks, schedule="dynamic"):
            r0 = chunk * rows_per_chunk
            r1 = min(m, r0 + rows_per_chunk)
            if r1 > r0:
                gemm_rowmajor_ex(False, True, <int>(r1 - r0), <int>k, <int>n, <floating>1,
                                 dy + r0 * ld_dy, <int>ld_dy, w, <int>ld_w, beta,
                                 dx + r0 * ld_dx, <int>ld_dx)


cdef Py_ssize_t _check_rows(cnp.ndarray a, str name) except -1:
    """Row stride (elements) of a 2-d array with unit-stride rows, else raise."""
    if a.ndim != 2 or (a.shape[1] > 1 and a.strides[1] != a.itemsize) or a.strides[0] % a.itemsize:
        raise ValueError(f"{name} must be 2-d with unit-stride rows")
    return a.strides[0] // a.itemsize if a.shape[0] > 1 else max(1, a.shape[1])


def linear_grad_weight(cnp.ndarray x, cnp.ndarray dy, cnp.ndarray dw, bint accumulate,
                       int num_threads):
    """dw (+)= x^T dy: the weight gradient of ``y = x @ w``, column chunks over threads.

    The chunks (:func:`grad_chunks`) depend on the shapes only, so the result
    is bitwise identical for every ``num_threads``.

    Parameters
    ----------
    x : ndarray, (m, k); dy : ndarray, (m, n); dw : ndarray, (k, n)
        One float dtype, unit-stride rows (any row stride). The caller limits
        BLAS to one thread (blas_limited_to_one_thread).
    accumulate : bool
        Add to dw instead of overwriting it.
    num_threads : int
    """
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = dy.shape[1]
    cdef Py_ssize_t ld_x = _check_rows(x, "x"), ld_dy = _check_rows(dy, "dy")
    cdef Py_ssize_t ld_dw = _check_rows(dw, "dw")
    cdef Py_ssize_t cols_per_chunk = grad_chunks(m, k, n)[1]
    cdef int n_threads = <int>max(1, min(num_threads, (n + cols_per_chunk - 1) // cols_per_chunk))
    if dy.shape[0] != m or dw.shape[0] != k or dw.shape[1] != n:
        raise ValueError("linear_grad_weight: shapes do not match")
    if x.dtype != dy.dtype or x.dtype != dw.dtype or x.dtype not in (np.float32, np.float64):
        raise ValueError("linear_grad_weight: x, dy, dw must share a float dtype")
    if k == 0 or n == 0:
        return
    if m == 0:
        if not accumulate:
            dw[...] = 0
        return
    cdef void *x_ptr = cnp.PyArray_DATA(x)
    cdef void *dy_ptr = cnp.PyArray_DATA(dy)
    cdef void *dw_ptr = cnp.PyArray_DATA(dw)
    if x.dtype == np.float32:
        with nogil:
            _grad_weight_cols(<const float *>x_ptr, ld_x, <const float *>dy_ptr, ld_dy,
                              <float *>dw_ptr, ld_dw, m, k, n, 1 if accumulate else 0,
                              cols_per_chunk, n_threads)
    else:
        with nogil:
            _grad_weight_cols(<const double *>x_ptr, ld_x, <const double *>dy_ptr, ld_dy,
                              <double *>dw_ptr, ld_dw, m, k, n, 1 if accumulate else 0,
                              cols_per_chunk, n_threads)


def linear_grad_input(cnp.ndarray dy, cnp.ndarray w, cnp.ndarray dx, bint accumulate,
                      int num_threads):
    """dx (+)= dy w^T: the input gradient of ``y = x @ w``, row chunks over threads.

    The chunks (:func:`grad_chunks`) depend on the shapes only, so the result
    is bitwise identical for every ``num_threads``.

    Parameters
    ----------
    dy : ndarray, (m, n); w : ndarray, (k, n); dx : ndarray, (m, k)
        One float dtype, unit-stride rows (any row stride).
    accumulate : bool
        Add to dx instead of overwriting it.
    num_threads : int
    """
    cdef Py_ssize_t m = dy.shape[0], n = dy.shape[1], k = w.shape[0]
    cdef Py_ssize_t ld_dy = _check_rows(dy, "dy"), ld_w = _check_rows(w, "w")
    cdef Py_ssize_t ld_dx = _check_rows(dx, "dx")
    cdef Py_ssize_t rows_per_chunk = grad_chunks(m, k, n)[0]
    cdef int n_threads = <int>max(1, min(num_threads, (m + rows_per_chunk - 1) // rows_per_chunk))
    if w.shape[1] != n or dx.shape[0] != m or dx.shape[1] != k:
        raise ValueError("linear_grad_input: shapes do not match")
    if dy.dtype != w.dtype or dy.dtype != dx.dtype or dy.dtype not in (np.float32, np.float64):
        raise ValueError("linear_grad_input: dy, w, dx must share a float dtype")
    if m == 0 or k == 0:
        return
    if n == 0:
        if not accumulate:
            dx[...] = 0
        return
    cdef void *dy_ptr = cnp.PyArray_DATA(dy)
    cdef void *w_ptr = cnp.PyArray_DATA(w)
    cdef void *dx_ptr = cnp.PyArray_DATA(dx)
    if dy.dtype == np.float32:
        with nogil:
            _grad_input_rows(<const float *>dy_ptr, ld_dy, <const float *>w_ptr, ld_w,
                             <float *>dx_ptr, ld_dx, m, k, n, 1 if accumulate else 0,
                             rows_per_chunk, n_threads)
    else:
        with nogil:
            _grad_input_rows(<const double *>dy_ptr, ld_dy, <const double *>w_ptr, ld_w,
                             <double *>dx_ptr, ld_dx, m, k, n, 1 if accumulate else 0,
                             rows_per_chunk, n_threads)
