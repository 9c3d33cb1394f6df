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

Keys and values are `KVSource`s: rows in the compute dtype are read in place;
bfloat16, float16 and int8 rows (with per-block scales) are widened block by
block into the thread's scratch (csrc/attnsearch_kv_quant.h). A source may be
paged (a block table per sequence): a task's inner block then ends at a page
end. The tasks are an explicit list (row block, key range, chunk index), so
row blocks may see key ranges of their own (a batch of sequences of different
lengths: `item_shift` gives each item's key count relative to `n_k`).

With `check`, each task flags a NaN/inf raw score (a NaN/inf key, or an
overflowing score) or output row (a NaN/inf value enters every row's
accumulator, times a probability of 0 if masked): the default call's check of
k and v, made without reading them again.
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
    void dec_qk_bf16 "attnsearch_dec_qk_bf16"(const float *q, int rows, int dk, const unsigned short *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    void dec_pv_bf16 "attnsearch_dec_pv_bf16"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const unsigned short *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    int DEC_HAVE_F16 "ATTNSEARCH_DEC_HAVE_F16"
    void dec_qk_f16 "attnsearch_dec_qk_f16"(const float *q, int rows, int dk, const unsigned short *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    void dec_pv_f16 "attnsearch_dec_pv_f16"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const unsigned short *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    void dec_qk_i8 "attnsearch_dec_qk_i8"(const float *q, int rows, int dk, const signed char *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds, const float *ks, Py_ssize_t ldks, int group, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    void dec_pv_i8 "attnsearch_dec_pv_i8"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const signed char *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr, const float *vs, Py_ssize_t ldvs, int group, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    int DEC_HAVE_VNNI "ATTNSEARCH_DEC_HAVE_VNNI"
    void dec_quantize_q "attnsearch_dec_quantize_q"(const float *q, int rows, int d, signed char *qi, float *qs, int *qc)
    void dec_qk_i8_vnni "attnsearch_dec_qk_i8_vnni"(const signed char *qi, const float *qs, const int *qc, int rows, int dk, const signed char *k, Py_ssize_t ldk, int nkeys, float *s, Py_ssize_t lds, const float *ks, Py_ssize_t ldks, int group, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    void dec_pv_i8_vnni "attnsearch_dec_pv_i8_vnni"(const float *p, Py_ssize_t ldp, int rows, int nkeys, const signed char *v, Py_ssize_t ldv, int dv, float *o, Py_ssize_t ldo, const float *corr, const float *vs, Py_ssize_t ldvs, int group, const char *pf, Py_ssize_t pf_ld, int pf_lines, int pf_rows)
    int all_finite_f32 "attnsearch_all_finite_f32"(const float *x, Py_ssize_t n)
    int all_finite_f64 "attnsearch_all_finite_f64"(const double *x, Py_ssize_t n)

cdef extern from "attnsearch_kv_quant.h" nogil:
    int KV_NATIVE "ATTNSEARCH_KV_NATIVE"
    int KV_F32 "ATTNSEARCH_KV_F32"
    int KV_BF16 "ATTNSEARCH_KV_BF16"
    int KV_F16 "ATTNSEARCH_KV_F16"
    int KV_I8 "ATTNSEARCH_KV_I8"
    void kv_rows_f32 "attnsearch_kv_rows_f32"(int fmt, const char *src, Py_ssize_t ld_src, const float *scales, Py_ssize_t ld_scales, int group, int rows, int d, float *dst, Py_ssize_t ld_dst)
    void kv_rows_f64 "attnsearch_kv_rows_f64"(int fmt, const char *src, Py_ssize_t ld_src, const float *scales, Py_ssize_t ld_scales, int group, int rows, int d, double *dst, Py_ssize_t ld_dst)

# Key-row elements (keys x (d_k + d_v), summed over the tasks) under which a
# call runs on one thread: ~10-20 µs of work, about what starting and joining
# a parallel region costs on a busy machine.
cdef Py_ssize_t TINY_WORK = 1 << 17

# Row blocks score int8 keys by integer dot products (where the variant has
# them and the call allows it) with at most INT8_TREE_MAX_ROWS rows (one
# accumulator per row and key) or at least INT8_LANES_MIN_ROWS (keys in lanes;
# P V on int16 probabilities from that many rows too). Measured from DRAM
# (131072 keys, 1 thread, the scale planes prefetched, _prefetch_scales):
# 1.09x at 4 rows against the float kernels (1.04x for the float kernels with
# the same prefetch), 1.05-1.11x at 8 rows (ARCHITECTURE.md).
cdef Py_ssize_t INT8_TREE_MAX_ROWS = 2
cdef Py_ssize_t INT8_LANES_MIN_ROWS = 3

# Rows from a contiguous source are never cut (a page ends first otherwise).
cdef Py_ssize_t ROWS_UNBOUNDED = <Py_ssize_t>1 << 60

# One thread's scratch, in this order (see _decode_layout).
cdef enum DecodeBuffer:
    DEC_QPACK
    DEC_KPACK
    DEC_VPACK
    DEC_KCONV
    DEC_VCONV
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


cdef struct KVSource:
    # The keys (or values) of every batch item, as stored: in the compute dtype
    # (fmt KV_NATIVE: read in place) or compressed (widened block by block into
    # the thread's scratch). Row j of item b starts at element
    #   contiguous (pages == NULL): offsets[b] + j * ld_row
    #   paged: offsets[b] + pages[(b // items_per_seq) * pages_ld + j // page_rows]
    #          * page_stride + (j % page_rows) * ld_row
    # and its int8 scales (one per `group` elements) likewise at scale_offsets,
    # scale_ld_row, scale_page_stride (float32 elements).
    const char *base
    const intp_t *offsets
    Py_ssize_t ld_row, itemsize
    int fmt
    const float *scales
    const intp_t *scale_offsets
    Py_ssize_t scale_ld_row, scale_page_stride, group
    const intp_t *pages
    Py_ssize_t pages_ld, page_rows, page_stride, items_per_seq


cdef struct Decode:
    # One call: the shape and score rules, the operands, the plan, the scratch.
    AttentionShape shape
    Operand q, out, mask
    KVSource k, v
    const intp_t *order           # global row rho is query rho % n_q of item order[rho // n_q]
    const intp_t *block_start     # row blocks [block_start[t], block_start[t + 1])
    const intp_t *block_chunks    # key chunks of each row block
    const intp_t *block_part      # index of each row block's first partial result
    const intp_t *row_block       # the row block of each global row
    const intp_t *tasks           # per task: row block, first key, end key, chunk index
    const intp_t *item_shift      # per item: its key count minus n_k (NULL: all n_k)
    Py_ssize_t n_blocks, n_rows, n_tasks, block_k
    Py_ssize_t small_rows, rows_pad_max, lds, dvp
    bint check                    # flag non-finite scores and outputs per task
    bint int8_scores              # int8 K scored by integer dots, q quantised (VNNI)
    signed char *q_i8             # then: every global row's quantised query (n_rows x d_k),
    float *q_i8_scales            # its lane scales and corrections (n_rows x d_k / 4),
    int *q_i8_corr                # as attnsearch_dec_quantize_q lays them out
    bint int8_pv                  # int8 V times int16-quantised probabilities (VNNI)
    int *task_flag
    ScratchLayout layout
    char *part_o                  # per (row, chunk): unnormalised output (d_v)
    char *part_m                  # running max
    double *part_l                # float64 sum of exp(s - m)


cdef void _decode_layout(Decode *d, Py_ssize_t itemsize) noexcept nogil:
    """The one list of a task's buffers: it sizes and carves the scratch."""
    cdef ScratchLayout *layout = &d.layout
    cdef Py_ssize_t rows = d.rows_pad_max, d_k = d.shape.d_k, d_v = d.shape.d_v
    layout_start(layout)
    layout_add(layout, DEC_QPACK, rows * d_k * itemsize)
    layout_add(layout, DEC_KPACK, d.lds * d_k * itemsize)
    layout_add(layout, DEC_VPACK, d.block_k * d.dvp * itemsize)
    layout_add(layout, DEC_KCONV, 0 if d.k.fmt == KV_NATIVE else d.block_k * d_k * itemsize)
    layout_add(layout, DEC_VCONV, 0 if d.v.fmt == KV_NATIVE else d.block_k * d_v * itemsize)
    layout_add(layout, DEC_SCORES, rows * d.lds * itemsize)
    layout_add(layout, DEC_OUT, rows * d.dvp * itemsize)
    layout_add(layout, DEC_RUNNING_MAX, rows * itemsize)
    layout_add(layout, DEC_CORR, rows * itemsize)
    layout_add(layout, DEC_RUNNING_SUM, rows * sizeof(double))
    layout_add(layout, DEC_ROW_SLOPE, rows * sizeof(double))
    layout_add(layout, DEC_ROW_LO, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_ROW_HI, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_ROW_POS, rows * sizeof(Py_ssize_t))
    layout_add(layout, DEC_MERGE, d_v * sizeof(double))


cdef extern from *:
    void _prefetch_line "__builtin_prefetch"(const void *addr, int rw, int locality) nogil


cdef inline void _prefetch_scales(const KVSource *src, Py_ssize_t scale_index,
                                  Py_ssize_t rows) noexcept nogil:
    """Ask for an int8 block's scale plane (rows x its groups, contiguous within
    a page). The integer kernels read a block's scales all at once, before its
    rows, and missed on them in half their samples: a burst of 2 KiB per 128
    keys that the hardware prefetcher does not run ahead of."""
    cdef const char *first = <const char *>(src.scales + scale_index)
    cdef Py_ssize_t nbytes = rows * src.scale_ld_row * sizeof(float), at
    at = 0
    while at < nbytes:
        _prefetch_line(first + at, 0, 3)
        at += 64


cdef struct Prefetch:
    # Rows a micro-kernel asks for as it goes (the next kernel's operand).
    const char *base              # NULL: none
    Py_ssize_t ld                 # row stride in bytes
    int lines, rows               # cache lines per row, rows


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


cdef inline bint _finite(const floating *x, Py_ssize_t n) noexcept nogil:
    """Whether x[0:n] holds no NaN or infinity (one vectorised pass)."""
    if floating is float:
        return all_finite_f32(x, n) != 0
    else:
        return all_finite_f64(x, n) != 0


cdef inline Py_ssize_t _kv_locate(const KVSource *src, Py_ssize_t item, Py_ssize_t j,
                                  Py_ssize_t *elem, Py_ssize_t *scale_elem) noexcept nogil:
    """Element offsets of row j of `item` and of its first scale; returns how
    many rows are stored one after the other from j on (to the end of a page)."""
    cdef Py_ssize_t page, r
    if src.pages == NULL:
        elem[0] = src.offsets[item] + j * src.ld_row
        scale_elem[0] = src.scale_offsets[item] + j * src.scale_ld_row if src.scales != NULL else 0
        return ROWS_UNBOUNDED
    page = src.pages[(item // src.items_per_seq) * src.pages_ld + j // src.page_rows]
    r = j % src.page_rows
    elem[0] = src.offsets[item] + page * src.page_stride + r * src.ld_row
    if src.scales != NULL:
        scale_elem[0] = (src.scale_offsets[item] + page * src.scale_page_stride
                         + r * src.scale_ld_row)
    else:
        scale_elem[0] = 0
    return src.page_rows - r


cdef inline bint _int8_in_registers(const KVSource *src, Py_ssize_t width) noexcept nogil:
    """Whether the int8 kernels read `src` (float32 calls): groups of 32 or 64
    elements, or one scale per row (a vector never straddles two groups)."""
    return src.fmt == KV_I8 and (src.group == 32 or src.group == 64 or src.group >= width)


cdef inline bint _int8_dots(const KVSource *src, Py_ssize_t width) noexcept nogil:
    """Whether the integer-dot kernel can score `src` (where the variant has it):
    int8 read in registers, 64, 128, 192 or 256 elements per row."""
    return _int8_in_registers(src, width) and width % 64 == 0 and 0 < width <= 256


cdef inline const floating *_kv_block(const KVSource *src, Py_ssize_t elem,
                                      Py_ssize_t scale_elem, Py_ssize_t rows, Py_ssize_t width,
                                      floating *tile, Py_ssize_t *ld) noexcept nogil:
    """`rows` rows from element `elem` on in the compute dtype: in place
    (KV_NATIVE, row stride ld_row) or widened into `tile` (row stride width)."""
    cdef const float *scales = src.scales + scale_elem if src.scales != NULL else NULL
    if src.fmt == KV_NATIVE:
        ld[0] = src.ld_row
        return <const floating *>src.base + elem
    ld[0] = width
    if floating is float:
        kv_rows_f32(src.fmt, src.base + elem * src.itemsize, src.ld_row * src.itemsize,
                    scales, src.scale_ld_row, <int>src.group, <int>rows, <int>width, tile, width)
    else:
        kv_rows_f64(src.fmt, src.base + elem * src.itemsize, src.ld_row * src.itemsize,
                    scales, src.scale_ld_row, <int>src.group, <int>rows, <int>width, tile, width)
    return tile


cdef void _decode_task(const Decode *d, floating *dummy, Py_ssize_t task,
                       char *scratch) noexcept nogil:
    """Partial attention of one row block (one K/V) over one key chunk.

    Leaves the chunk's running max, float64 sum and unnormalised output of
    each row in part_m / part_l / part_o, and (with d.check) 1 in
    task_flag[task] when a score or the output is NaN or infinite.
    """
    cdef:
        const AttentionShape *shape = &d.shape
        floating zero = 0
        int nr = panel_width(zero)
        Py_ssize_t blk = d.tasks[4 * task], c0 = d.tasks[4 * task + 1]
        Py_ssize_t c1 = d.tasks[4 * task + 2], chunk_index = d.tasks[4 * task + 3]
        Py_ssize_t row0 = d.block_start[blk], rows = d.block_start[blk + 1] - row0
        Py_ssize_t n_chunks = d.block_chunks[blk], part0 = d.block_part[blk]
        bint tiled = rows > d.small_rows
        Py_ssize_t rows_pad = round_up(rows, ROW_ALIGN) if tiled else rows
        Py_ssize_t d_k = shape.d_k, d_v = shape.d_v, dvp = d.dvp, lds = d.lds
        Py_ssize_t r, c, i, item, rho, j0, bk, a, b, ld_vsrc, idx, shift, n_k_item
        Py_ssize_t k_elem, k_scale, v_elem, v_scale, ldk, ldv
        const floating *qrow
        const floating *kblk
        const floating *vblk
        const floating *vsrc
        floating *qpack = <floating *>scratch_at(&d.layout, scratch, DEC_QPACK)
        floating *kpack = <floating *>scratch_at(&d.layout, scratch, DEC_KPACK)
        floating *vpack = <floating *>scratch_at(&d.layout, scratch, DEC_VPACK)
        floating *kconv = <floating *>scratch_at(&d.layout, scratch, DEC_KCONV)
        floating *vconv = <floating *>scratch_at(&d.layout, scratch, DEC_VCONV)
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
        bint flagged = False
        bint k_bf16 = False, v_bf16 = False, k_f16 = False, v_f16 = False
        bint k_i8 = False, v_i8 = False, k_vnni = False, v_vnni = False
        Py_ssize_t lanes = d_k // 4  # lane scales (corrections) per quantised row
        Prefetch qk_pf, pv_pf
        Py_ssize_t j1, next_elem, next_scale

    # Compressed K/V of a small block in a float32 call: widened in registers
    # by the bf16/f16/i8 kernels (int8: groups the kernels know, see
    # _int8_in_registers).
    if floating is float:
        k_bf16 = d.k.fmt == KV_BF16 and not tiled
        v_bf16 = d.v.fmt == KV_BF16 and not tiled
        k_f16 = DEC_HAVE_F16 and d.k.fmt == KV_F16 and not tiled
        v_f16 = DEC_HAVE_F16 and d.v.fmt == KV_F16 and not tiled
        k_i8 = not tiled and _int8_in_registers(&d.k, d_k)
        v_i8 = not tiled and _int8_in_registers(&d.v, d_v)
        k_vnni = k_i8 and d.int8_scores and (rows <= INT8_TREE_MAX_ROWS
                                             or rows >= INT8_LANES_MIN_ROWS)
        v_vnni = v_i8 and d.int8_pv and rows >= INT8_LANES_MIN_ROWS

    # Every row of the block reads the same keys and values (those of item0).
    cdef Py_ssize_t item0 = d.order[row0 // shape.n_q]

    # Gather the rows' queries (times the scale) and their visible-key rules.
    for r in range(rows):
        rho = row0 + r
        item = d.order[rho // shape.n_q]
        i = rho % shape.n_q
        shift = d.item_shift[item] if d.item_shift != NULL else 0
        n_k_item = shape.n_k + shift
        qrow = <const floating *>d.q.base + d.q.offsets[item] + i * d.q.ld_row
        for c in range(d_k):
            qpack[r * d_k + c] = qrow[c] * fscale
        row_lo[r] = max(0, i + shape.vis.lo_offset + shift) if shape.vis.has_lo else 0
        row_hi[r] = (min(n_k_item, i + shape.vis.hi_offset + shift + 1) if shape.vis.has_hi
                     else n_k_item)
        row_pos[r] = i + shape.alibi_offset + shift
        row_slope[r] = shape.slopes[item] if shape.slopes != NULL else 0.0
    if rows_pad > rows:
        memset(qpack + rows * d_k, 0, (rows_pad - rows) * d_k * sizeof(floating))
    memset(o, 0, rows_pad * dvp * sizeof(floating))
    for r in range(rows_pad):
        running_max[r] = -INFINITY
        running_sum[r] = 0.0
        corr[r] = 1

    # Kernels widening compressed rows in registers ask for the next kernel's
    # rows as they go: the score kernel for this block's values, the P V
    # kernel for the next block's keys (their demand loads alone keep too few
    # misses in flight). float32/float64 rows read in place are left to the
    # hardware prefetcher: asking for them measured slower at 1-2 query heads
    # per kv head (ARCHITECTURE.md).
    qk_pf.ld = d.v.ld_row * d.v.itemsize
    qk_pf.lines = <int>((d_v * d.v.itemsize + 63) // 64)
    pv_pf.ld = d.k.ld_row * d.k.itemsize
    pv_pf.lines = <int>((d_k * d.k.itemsize + 63) // 64)

    j0 = c0
    while j0 < c1:
        bk = min(d.block_k, c1 - j0)
        bk = min(bk, _kv_locate(&d.k, item0, j0, &k_elem, &k_scale))
        bk = min(bk, _kv_locate(&d.v, item0, j0, &v_elem, &v_scale))
        qk_pf.base = d.v.base + v_elem * d.v.itemsize
        qk_pf.rows = <int>bk
        j1 = j0 + bk
        pv_pf.base = NULL
        pv_pf.rows = 0
        if j1 < c1:
            pv_pf.rows = <int>min(d.block_k, c1 - j1,
                                  _kv_locate(&d.k, item0, j1, &next_elem, &next_scale))
            pv_pf.base = d.k.base + next_elem * d.k.itemsize
        if v_i8:
            _prefetch_scales(&d.v, v_scale, bk)
        if k_i8 and pv_pf.rows > 0:
            _prefetch_scales(&d.k, next_scale, pv_pf.rows)
        if k_bf16:
            if floating is float:
                dec_qk_bf16(qpack, <int>rows, <int>d_k,
                            <const unsigned short *>d.k.base + k_elem, d.k.ld_row,
                            <int>bk, s, lds, qk_pf.base, qk_pf.ld, qk_pf.lines, qk_pf.rows)
        elif k_f16:
            if floating is float:
                dec_qk_f16(qpack, <int>rows, <int>d_k,
                           <const unsigned short *>d.k.base + k_elem, d.k.ld_row,
                           <int>bk, s, lds, qk_pf.base, qk_pf.ld, qk_pf.lines, qk_pf.rows)
        elif k_vnni:
            if floating is float:
                dec_qk_i8_vnni(d.q_i8 + row0 * d_k, d.q_i8_scales + row0 * lanes,
                               d.q_i8_corr + row0 * lanes, <int>rows, <int>d_k,
                               <const signed char *>d.k.base + k_elem, d.k.ld_row, <int>bk, s,
                               lds, d.k.scales + k_scale, d.k.scale_ld_row, <int>d.k.group,
                               qk_pf.base, qk_pf.ld, qk_pf.lines, qk_pf.rows)
        elif k_i8:
            if floating is float:
                dec_qk_i8(qpack, <int>rows, <int>d_k, <const signed char *>d.k.base + k_elem,
                          d.k.ld_row, <int>bk, s, lds, d.k.scales + k_scale,
                          d.k.scale_ld_row, <int>d.k.group, qk_pf.base, qk_pf.ld,
                          qk_pf.lines, qk_pf.rows)
        else:
            kblk = _kv_block(&d.k, k_elem, k_scale, bk, d_k, kconv, &ldk)
            if tiled:
                pack_k(kblk, ldk, bk, d_k, kpack)
                qk_tile(qpack, rows_pad, d_k, kpack, (bk + nr - 1) // nr, s, lds, NO_LIMIT)
            else:
                _dec_qk(qpack, rows, d_k, kblk, ldk, bk, s, lds)
        if d.check and not flagged:
            # A NaN or infinite key makes its score NaN or infinite for any
            # finite query (0 * inf is NaN); so does a score past the dtype.
            for r in range(rows):
                if not _finite(s + r * lds, bk):
                    flagged = True

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

        # Every value row of the block enters every row's accumulator (with
        # probability 0 if masked), so a NaN or infinite value reaches `o`.
        if v_bf16 or v_f16 or v_i8:
            if floating is float:
                if v_vnni:
                    dec_pv_i8_vnni(s, lds, <int>rows, <int>bk,
                                   <const signed char *>d.v.base + v_elem, d.v.ld_row, <int>d_v,
                                   o, dvp, corr, d.v.scales + v_scale, d.v.scale_ld_row,
                                   <int>d.v.group, pv_pf.base, pv_pf.ld, pv_pf.lines, pv_pf.rows)
                elif v_i8:
                    dec_pv_i8(s, lds, <int>rows, <int>bk, <const signed char *>d.v.base + v_elem,
                              d.v.ld_row, <int>d_v, o, dvp, corr, d.v.scales + v_scale,
                              d.v.scale_ld_row, <int>d.v.group, pv_pf.base, pv_pf.ld,
                              pv_pf.lines, pv_pf.rows)
                elif v_bf16:
                    dec_pv_bf16(s, lds, <int>rows, <int>bk,
                                <const unsigned short *>d.v.base + v_elem, d.v.ld_row,
                                <int>d_v, o, dvp, corr, pv_pf.base, pv_pf.ld, pv_pf.lines,
                                pv_pf.rows)
                else:
                    dec_pv_f16(s, lds, <int>rows, <int>bk,
                               <const unsigned short *>d.v.base + v_elem, d.v.ld_row,
                               <int>d_v, o, dvp, corr, pv_pf.base, pv_pf.ld, pv_pf.lines,
                               pv_pf.rows)
            j0 += bk
            continue
        vblk = _kv_block(&d.v, v_elem, v_scale, bk, d_v, vconv, &ldv)
        if tiled:
            if d_v != dvp or ldv != d_v:
                pack_v(vblk, ldv, bk, d_v, dvp, vpack)
                vsrc = vpack
                ld_vsrc = dvp
            else:
                vsrc = vblk
                ld_vsrc = ldv
            pv_tile(s, lds, rows_pad, bk, vsrc, ld_vsrc, dvp, o, dvp, corr, NO_LIMIT)
        else:
            _dec_pv(s, lds, rows, bk, vblk, ldv, d_v, o, dvp, corr)
        j0 += bk

    for r in range(rows):
        idx = part0 + r * n_chunks + chunk_index
        part_m[idx] = running_max[r]
        d.part_l[idx] = running_sum[r]
        memcpy(part_o + idx * d_v, o + r * dvp, d_v * sizeof(floating))
        if d.check and not flagged and not _finite(o + r * dvp, d_v):
            flagged = True
    if d.check:
        d.task_flag[task] = 1 if flagged else 0


cdef void _quantize_queries(Decode *d, float *row) noexcept nogil:
    """Every global row's query times the scale (as _decode_task gathers it),
    quantised once per call for the integer-dot scores."""
    cdef Py_ssize_t rho, item, i, c, d_k = d.shape.d_k
    cdef const float *qrow
    cdef float fscale = <float>d.shape.scale
    for rho in range(d.n_rows):
        item = d.order[rho // d.shape.n_q]
        i = rho % d.shape.n_q
        qrow = <const float *>d.q.base + d.q.offsets[item] + i * d.q.ld_row
        for c in range(d_k):
            row[c] = qrow[c] * fscale
        dec_quantize_q(row, 1, <int>d_k, d.q_i8 + rho * d_k, d.q_i8_scales + rho * (d_k // 4),
                       d.q_i8_corr + rho * (d_k // 4))


cdef void _decode_merge_row(const Decode *d, floating *dummy, Py_ssize_t rho,
                            double *acc) noexcept nogil:
    """Combine the chunks of global row rho in chunk order and write its output."""
    cdef:
        Py_ssize_t item = d.order[rho // d.shape.n_q], i = rho % d.shape.n_q
        Py_ssize_t blk = d.row_block[rho], n_chunks = d.block_chunks[blk]
        Py_ssize_t c, col, d_v = d.shape.d_v
        Py_ssize_t base = d.block_part[blk] + (rho - d.block_start[blk]) * n_chunks
        floating *dst = <floating *>d.out.base + d.out.offsets[item] + i * d.out.ld_row
        const floating *part_o = <const floating *>d.part_o
        const floating *part_m = <const floating *>d.part_m
        const floating *o_c
        double m_top = -INFINITY, m_c, w, total = 0.0, inv
    for c in range(n_chunks):
        m_c = part_m[base + c]
        m_top = m_top if m_top >= m_c else m_c  # a NaN max wins (and propagates)
    if m_top == -INFINITY:
        for col in range(d_v):
            dst[col] = 0  # the row sees no key
        return
    for col in range(d_v):
        acc[col] = 0.0
    for c in range(n_chunks):
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
    cdef Py_ssize_t task, rho
    cdef char *mine
    if n_threads == 1:  # no parallel region: its start and barriers are pure cost
        for task in range(d.n_tasks):
            _decode_task(d, dummy, task, scratch)
        for rho in range(d.n_rows):
            _decode_merge_row(d, dummy, rho, <double *>scratch_at(&d.layout, scratch, DEC_MERGE))
        return
    with parallel(num_threads=n_threads):
        for task in prange(d.n_tasks, schedule="dynamic"):
            _decode_task(d, dummy, task, scratch + omp_get_thread_num() * d.layout.total)
        for rho in prange(d.n_rows, schedule="static"):
            mine = scratch + omp_get_thread_num() * d.layout.total
            _decode_merge_row(d, dummy, rho, <double *>scratch_at(&d.layout, mine, DEC_MERGE))


cdef const intp_t *_intp_data(object arr, Py_ssize_t size, str name) except? NULL:
    """Data of a contiguous intp array of `size` elements (internal contract)."""
    cdef cnp.ndarray a = arr
    if (cnp.PyArray_TYPE(a) != cnp.NPY_INTP or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or cnp.PyArray_SIZE(a) != size):
        raise ValueError(f"decode_forward: {name} must be {size} contiguous intp")
    return <const intp_t *>cnp.PyArray_DATA(a)


cdef int _read_kv(object spec, Py_ssize_t n_batch, KVSource *src) except -1:
    """Fill `src` from a ``_decode_path.KVSpec``; the caller keeps `spec` alive."""
    cdef cnp.ndarray array = spec.array
    src.base = <const char *>cnp.PyArray_DATA(array)
    src.offsets = _intp_data(spec.offsets, n_batch, "kv offsets")
    src.ld_row = spec.row_stride
    src.itemsize = cnp.PyArray_ITEMSIZE(array)
    src.fmt = spec.fmt
    if src.fmt not in (KV_NATIVE, KV_F32, KV_BF16, KV_F16, KV_I8):
        raise ValueError(f"decode_forward: unknown kv format {src.fmt}")
    src.scales = NULL
    src.scale_offsets = NULL
    src.scale_ld_row = src.scale_page_stride = 0
    src.group = spec.group
    if src.fmt == KV_I8:
        if spec.scales is None or cnp.PyArray_TYPE(<cnp.ndarray>spec.scales) != cnp.NPY_FLOAT32:
            raise ValueError("decode_forward: int8 rows need float32 scales")
        if src.group < 1:
            raise ValueError("decode_forward: int8 scale groups must be positive")
        src.scales = <const float *>cnp.PyArray_DATA(<cnp.ndarray>spec.scales)
        src.scale_offsets = _intp_data(spec.scale_offsets, n_batch, "scale offsets")
        src.scale_ld_row = spec.scale_row_stride
        src.scale_page_stride = spec.scale_page_stride
    src.pages = NULL
    src.pages_ld = src.page_rows = src.page_stride = 0
    src.items_per_seq = 1
    if spec.pages is not None:
        pages = spec.pages
        if cnp.PyArray_TYPE(<cnp.ndarray>pages) != cnp.NPY_INTP or pages.ndim != 2 or not pages.flags.c_contiguous:
            raise ValueError("decode_forward: the block table must be 2-d contiguous intp")
        src.pages = <const intp_t *>cnp.PyArray_DATA(<cnp.ndarray>pages)
        src.pages_ld = pages.shape[1]
        src.page_rows = spec.page_rows
        src.page_stride = spec.page_stride
        src.items_per_seq = spec.items_per_seq
        if src.page_rows < 1 or src.items_per_seq < 1:
            raise ValueError("decode_forward: bad page geometry")
    return 0


def decode_forward(q, k, v, out, mask, shape, plan, int num_threads, bint check=False,
                   bint int8_scores=False):
    """Run the decode kernel over validated operands (entry point).

    Parameters
    ----------
    q, out, mask : _geometry.Operand (mask: or None)
        As for ``_kernels.attention_forward``, in the compute dtype.
    k, v : _decode_path.KVSpec
        Keys and values as stored: the compute dtype, or bfloat16/float16/int8
        rows widened block by block; contiguous per item or in pages.
    shape : _geometry.AttentionShape
        Sizes, scale, the visible-key rule and ALiBi (``n_k``: the largest
        key count; ``plan.item_shift`` gives each item's own).
    plan : _decode_path.DecodePlan
        ``order`` (batch items grouped by the K/V they read; global row ``rho``
        is query ``rho % n_q`` of item ``order[rho // n_q]``), the row blocks
        (``block_start``; ``block_chunks`` chunks each, partial results from
        ``block_part``; ``row_block`` of each row), the ``tasks`` (row block,
        first key, end key, chunk index), ``item_shift``, ``block_k`` and
        ``small_rows``.
    num_threads : int
        OpenMP threads (already resolved).
    check : bool
        Flag non-finite scores and outputs (the default call's check of k and
        v, made while the kernel reads them).
    int8_scores : bool
        Where this variant has integer dot products (AVX512-VNNI) and the call
        is float32: score int8 keys against the query rows quantised per group
        of 32 (``attnsearch_dec_qk_i8_vnni``; ``d_k`` 64, 128, 192 or 256, K's
        groups read in registers) in row blocks of at most 2 or at least 5
        rows, and in the latter multiply int8 values by the probabilities
        times the value scales rounded to int16 per block of 128 keys
        (``attnsearch_dec_pv_i8_vnni``; ``d_v`` likewise); else ignored.

    Returns
    -------
    bool
        True when ``check`` and some score or output was NaN or infinite.
    """
    cdef Decode d
    cdef bint is_float = q.array.dtype == np.float32
    cdef int nr = NR_F32 if is_float else NR_F64
    cdef int vl = VL_F32 if is_float else VL_F64
    cdef Py_ssize_t itemsize = 4 if is_float else 8
    cdef Py_ssize_t t, blk, rows_max = 0, work = 0, part_count, o_bytes, m_bytes, l_bytes, flag_bytes
    cdef const intp_t[::1] block_start = plan.block_start
    cdef const intp_t[:, ::1] tasks = plan.tasks
    cdef char *scratch
    read_shape(shape, mask, &d.shape)
    read_operand(q, &d.q)
    read_operand(out, &d.out)
    read_operand(mask, &d.mask)
    _read_kv(k, d.shape.n_batch, &d.k)
    _read_kv(v, d.shape.n_batch, &d.v)
    if (d.k.fmt == KV_F32 or d.v.fmt == KV_F32) and is_float:
        raise ValueError("decode_forward: float32 rows are native to a float32 call")
    d.n_blocks = block_start.shape[0] - 1
    d.n_rows = d.shape.n_batch * d.shape.n_q
    d.n_tasks = tasks.shape[0]
    if d.n_blocks < 1 or block_start[d.n_blocks] != d.n_rows or tasks.shape[1] != 4:
        raise ValueError("decode_forward: inconsistent row blocks")
    d.order = _intp_data(plan.order, d.shape.n_batch, "order")
    d.block_start = &block_start[0]
    d.block_chunks = _intp_data(plan.block_chunks, d.n_blocks, "block_chunks")
    d.block_part = _intp_data(plan.block_part, d.n_blocks + 1, "block_part")
    d.row_block = _intp_data(plan.row_block, d.n_rows, "row_block")
    d.item_shift = NULL
    if plan.item_shift is not None:
        d.item_shift = _intp_data(plan.item_shift, d.shape.n_batch, "item_shift")
    d.tasks = &tasks[0, 0] if d.n_tasks > 0 else NULL
    d.block_k = plan.block_k
    if d.block_k < 1 or d.shape.n_q < 1:
        raise ValueError("decode_forward: bad block sizes")
    for t in range(d.n_tasks):
        blk = tasks[t, 0]
        if (not 0 <= blk < d.n_blocks or not 0 <= tasks[t, 1] < tasks[t, 2] <= d.shape.n_k
                or not 0 <= tasks[t, 3] < d.block_chunks[blk]):
            raise ValueError("decode_forward: bad task")
        work += (tasks[t, 2] - tasks[t, 1]) * (d.shape.d_k + d.shape.d_v)
    for t in range(d.n_blocks):
        rows_max = max(rows_max, block_start[t + 1] - block_start[t])
    d.small_rows = plan.small_rows
    d.rows_pad_max = round_up(rows_max, ROW_ALIGN)
    d.lds = round_up(d.block_k, nr)
    d.dvp = round_up(d.shape.d_v, vl)
    d.check = check
    d.int8_scores = (int8_scores and DEC_HAVE_VNNI and is_float
                     and _int8_dots(&d.k, d.shape.d_k))
    d.int8_pv = int8_scores and DEC_HAVE_VNNI and is_float and _int8_dots(&d.v, d.shape.d_v)
    _decode_layout(&d, itemsize)

    # Tiny calls (a few keys) run on the calling thread: starting threads would
    # cost more than the work (the result is the same for any thread count).
    cdef int n_threads = <int>max(1, min(num_threads, d.n_tasks))
    if work < TINY_WORK:
        n_threads = 1
    part_count = d.block_part[d.n_blocks]
    o_bytes = round_up(part_count * d.shape.d_v * itemsize, SCRATCH_ALIGN)
    m_bytes = round_up(part_count * itemsize, SCRATCH_ALIGN)
    l_bytes = round_up(part_count * sizeof(double), SCRATCH_ALIGN)
    flag_bytes = round_up(max(1, d.n_tasks) * sizeof(int), SCRATCH_ALIGN)
    buffer = scratch_buffer(n_threads * d.layout.total + o_bytes + m_bytes + l_bytes
                            + flag_bytes, SCRATCH_ALIGN, "decode")
    scratch = <char *>cnp.PyArray_DATA(buffer)
    d.part_o = scratch + n_threads * d.layout.total
    d.part_m = d.part_o + o_bytes
    d.part_l = <double *>(d.part_m + m_bytes)
    d.task_flag = <int *>(d.part_m + m_bytes + l_bytes)
    memset(d.task_flag, 0, max(1, d.n_tasks) * sizeof(int))
    cdef cnp.ndarray q_i8, q_i8_scales, q_i8_corr, q_row
    if d.int8_scores:
        q_i8 = np.empty(d.n_rows * d.shape.d_k, np.int8)
        q_i8_scales = np.empty(d.n_rows * (d.shape.d_k // 4), np.float32)
        q_i8_corr = np.empty(d.n_rows * (d.shape.d_k // 4), np.intc)
        q_row = np.empty(d.shape.d_k, np.float32)
        d.q_i8 = <signed char *>cnp.PyArray_DATA(q_i8)
        d.q_i8_scales = <float *>cnp.PyArray_DATA(q_i8_scales)
        d.q_i8_corr = <int *>cnp.PyArray_DATA(q_i8_corr)
        with nogil:
            _quantize_queries(&d, <float *>cnp.PyArray_DATA(q_row))
    if is_float:
        with nogil:
            _decode_run(&d, <float *>NULL, scratch, n_threads)
    else:
        with nogil:
            _decode_run(&d, <double *>NULL, scratch, n_threads)
    if check:
        for t in range(d.n_tasks):
            if d.task_flag[t]:
                return True
    return False


def decode_constants():
    """Rows per decode micro-kernel call (larger counts run in groups of it), and
    whether float16 K/V are widened in registers (else in a tile) and int8 keys
    scored by integer dot products (this variant has AVX512-VNNI)."""
    return {"micro_rows": DEC_MR, "f16_in_registers": DEC_HAVE_F16,
            "int8_dot_products": DEC_HAVE_VNNI}


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


def _dec_qk_i8_memview(const float[:, ::1] q, const signed char[:, ::1] k,
                       const float[:, ::1] scales, int group, float[:, ::1] s):
    """Test wrapper: s[:, :n_k] = scores of q against int8 keys (one scale per
    `group` elements) by the integer-dot kernel, q quantised per group of 32.

    Raises RuntimeError where this variant has no such kernel.
    """
    cdef Py_ssize_t rows = q.shape[0], dk = q.shape[1], nkeys = k.shape[0]
    if not DEC_HAVE_VNNI:
        raise RuntimeError("this variant has no int8 dot-product kernel")
    if (k.shape[1] != dk or s.shape[0] != rows or s.shape[1] < nkeys or dk % 64 or dk == 0
            or dk > 256 or not (group == 32 or group == 64 or group >= dk)
            or scales.shape[0] != nkeys or scales.shape[1] != (dk + group - 1) // group):
        raise ValueError("shapes do not match")
    if rows == 0 or nkeys == 0:
        return
    qi = np.empty((rows, dk), np.int8)
    lane_scales = np.empty(rows * (dk // 64) * 16, np.float32)
    corr = np.empty(rows * (dk // 64) * 16, np.intc)
    cdef signed char[:, ::1] qi_v = qi
    cdef float[::1] ls_v = lane_scales
    cdef int[::1] corr_v = corr
    with nogil:
        dec_quantize_q(&q[0, 0], <int>rows, <int>dk, &qi_v[0, 0], &ls_v[0], &corr_v[0])
        dec_qk_i8_vnni(&qi_v[0, 0], &ls_v[0], &corr_v[0], <int>rows, <int>dk, &k[0, 0], dk,
                       <int>nkeys, &s[0, 0], s.shape[1], &scales[0, 0], scales.shape[1], group,
                       NULL, 0, 0, 0)


def _dec_pv_i8_memview(const float[:, ::1] p, const signed char[:, ::1] v,
                       const float[:, ::1] scales, int group, float[:, ::1] o,
                       const float[::1] corr, bint integer):
    """Test wrapper: o = o * corr[:, None] + p @ (v dequantised) with the int8
    P V kernels: the float one, or (``integer``) the integer-dot one, p times
    the value scales quantised to int16 per block of 128 keys.

    Raises RuntimeError where this variant has no integer kernel.
    """
    cdef Py_ssize_t rows = p.shape[0], nkeys = p.shape[1], dv = v.shape[1]
    if integer and not DEC_HAVE_VNNI:
        raise RuntimeError("this variant has no int8 dot-product kernel")
    if (v.shape[0] != nkeys or o.shape[0] != rows or o.shape[1] != dv or corr.shape[0] != rows
            or not (group == 32 or group == 64 or group >= dv) or scales.shape[0] != nkeys
            or scales.shape[1] != (dv + group - 1) // group
            or (integer and (dv % 64 or dv == 0 or dv > 256))):
        raise ValueError("shapes do not match")
    if rows == 0 or nkeys == 0 or dv == 0:
        return
    with nogil:
        if integer:
            dec_pv_i8_vnni(&p[0, 0], p.shape[1], <int>rows, <int>nkeys, &v[0, 0], dv, <int>dv,
                           &o[0, 0], o.shape[1], &corr[0], &scales[0, 0], scales.shape[1], group,
                           NULL, 0, 0, 0)
        else:
            dec_pv_i8(&p[0, 0], p.shape[1], <int>rows, <int>nkeys, &v[0, 0], dv, <int>dv,
                      &o[0, 0], o.shape[1], &corr[0], &scales[0, 0], scales.shape[1], group,
                      NULL, 0, 0, 0)
