# Shared declarations of the attention kernels (_kernels, _decode, _backward,
# _linear, _scans): the micro-kernels of csrc/, the dtype dispatch over them, the
# one description of an operand and of what a query sees, the mask kinds, and
# the scratch layouts. Everything here is `inline` or a declaration, so each
# kernel module (compiled once per CPU target) gets its own copy.

cimport numpy as cnp
from libc.math cimport INFINITY, NAN

ctypedef cnp.intp_t intp_t
ctypedef cnp.uint8_t uint8_t

ctypedef fused floating:
    float
    double

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
    float row_max_f32 "attnsearch_row_max_f32"(const float *x, int n)
    double row_max_f64 "attnsearch_row_max_f64"(const double *x, int n)
    int has_nan_f32 "attnsearch_has_nan_f32"(const float *x, int n)
    int has_nan_f64 "attnsearch_has_nan_f64"(const double *x, int n)
    double exp_sum_f32 "attnsearch_exp_sum_f32"(float *x, int n, float m)
    double exp_sum_f64 "attnsearch_exp_sum_f64"(double *x, int n, double m)
    float expf_scalar "attnsearch_expf"(float x)
    double exp_scalar "attnsearch_exp"(double x)

cdef extern from "attnsearch_reduced.h" nogil:
    ctypedef unsigned short uint16_t
    ctypedef unsigned int uint32_t
    int HAVE_BF16_TILES "ATTNSEARCH_HAVE_BF16_TILES"
    int BF16_NR "ATTNSEARCH_BF16_NR"
    int PV_MR_BF16 "ATTNSEARCH_BF16_PV_MR"
    void pack_q_r "attnsearch_pack_q_r"(int kind, const uint16_t *q, Py_ssize_t ldq, int rows, int rows_pad, int dk, float scale, float *qpack)
    void pack_k_r "attnsearch_pack_k_r"(int kind, const uint16_t *k, Py_ssize_t ldk, int bk, int dk, float *kpack)
    void pack_v_r "attnsearch_pack_v_r"(int kind, const uint16_t *v, Py_ssize_t ldv, int bk, int dv, int dvp, float *vpack)
    void store_r "attnsearch_store_r"(int kind, const double *src, double scale, int n, uint16_t *dst)
    void bf16_pack_q "attnsearch_bf16_pack_q"(const uint16_t *q, Py_ssize_t ldq, int rows, int rows_pad, int dk, uint32_t *qpair)
    void bf16_pack_k "attnsearch_bf16_pack_k"(const uint16_t *k, Py_ssize_t ldk, int bk, int dk, uint32_t *kpair)
    void bf16_pack_v "attnsearch_bf16_pack_v"(const uint16_t *v, Py_ssize_t ldv, int bk, int dv, int dvp, uint32_t *vpair)
    void bf16_p_row "attnsearch_bf16_p_row"(const float *p, int n, int width, uint16_t *dst)
    void bf16_qk_tile "attnsearch_bf16_qk_tile"(const uint32_t *qpair, int rows_pad, int dk, const uint32_t *kpair, int n_panels, float scale, float *s, Py_ssize_t lds, Py_ssize_t visible0)
    void bf16_pv_tile "attnsearch_bf16_pv_tile"(const uint32_t *ppair, Py_ssize_t ldpp, int rows_pad, int bk, const uint32_t *vpair, int dvp, float *o, Py_ssize_t ldo, Py_ssize_t visible0)
    void bf16_gemm_tile "attnsearch_bf16_gemm_tile"(const uint32_t *xpair, Py_ssize_t ldx, int rows_pad, int n_pairs, const uint32_t *wpair, int ldw, int ncols, float *o, Py_ssize_t ldo)
    uint16_t float_to_bf16 "attnsearch_float_to_bf16"(float x)

# How q, k, v and out are stored: in the compute dtype, or as 16-bit floats
# (bfloat16, float16) that the float32 kernels widen while packing.
cdef enum Storage:
    STORE_NATIVE = 0
    STORE_BF16 = 1
    STORE_F16 = 2


# "Every key of the block is visible" for the staircase argument of the tiles.
cdef extern from *:
    """
    #define ATTNSEARCH_NO_LIMIT ((Py_ssize_t)1 << 40)
    """
    const Py_ssize_t NO_LIMIT "ATTNSEARCH_NO_LIMIT"

# What the mask operand holds: nothing, uint8 (1 = may attend), or additive
# biases of the compute dtype. Read from the mask array's dtype (mask_kind_of).
cdef enum MaskKind:
    MASK_NONE = 0
    MASK_BOOL = 1
    MASK_ADDITIVE = 2


# -- operands and the visible-key rule ------------------------------------------

ctypedef struct Operand:
    # An array read or written per batch item: item b's element (i, c) lives at
    # base + offsets[b] + i * ld_row + c * ld_col (elements; ld_col is 1 except
    # for masks, whose broadcast axes have stride 0).
    char *base
    const intp_t *offsets
    Py_ssize_t ld_row, ld_col

ctypedef struct Visibility:
    # Query i sees key j when i + lo_offset <= j (if has_lo: a window's left
    # side) and j <= i + hi_offset (if has_hi: causal, or a window's right side).
    bint has_lo, has_hi
    Py_ssize_t lo_offset, hi_offset

ctypedef struct AttentionShape:
    # One call's sizes and score rules, shared by every kernel.
    Py_ssize_t n_batch, n_q, n_k, d_k, d_v
    double scale
    Visibility vis
    MaskKind mask_kind
    const double *slopes           # ALiBi slope per batch item, or NULL
    Py_ssize_t alibi_offset        # query i sits at key position i + alibi_offset


cdef inline const void *mask_at(const Operand *mask, MaskKind kind, Py_ssize_t item,
                                Py_ssize_t row, Py_ssize_t col,
                                Py_ssize_t itemsize) noexcept nogil:
    """Address of mask element (row, col) of batch item `item` (itemsize: the
    compute dtype's, for an additive mask)."""
    cdef Py_ssize_t element = mask.offsets[item] + row * mask.ld_row + col * mask.ld_col
    if kind == MASK_BOOL:
        return mask.base + element
    return mask.base + element * itemsize


cdef inline int read_operand(object spec, Operand *op) except -1:
    """Fill `op` from a Python ``_geometry.Operand`` (array, offsets, strides);
    None gives an operand with no data. The caller keeps `spec` alive."""
    cdef cnp.ndarray array, offsets
    op.base = NULL
    op.offsets = NULL
    op.ld_row = 0
    op.ld_col = 0
    if spec is None:
        return 0
    array = spec.array
    offsets = spec.offsets
    if cnp.PyArray_TYPE(offsets) != cnp.NPY_INTP or not cnp.PyArray_IS_C_CONTIGUOUS(offsets):
        raise ValueError("internal: operand offsets must be contiguous intp")
    op.base = <char *>cnp.PyArray_DATA(array)
    op.offsets = <const intp_t *>cnp.PyArray_DATA(offsets)
    op.ld_row = spec.row_stride
    op.ld_col = spec.col_stride
    return 0


cdef inline int read_shape(object spec, object mask, AttentionShape *shape) except -1:
    """Fill `shape` from a Python ``_geometry.AttentionShape``; the mask kind
    comes from the mask operand's dtype. ``spec.slopes`` must stay alive."""
    cdef cnp.ndarray slopes
    shape.n_batch = spec.n_batch
    shape.n_q = spec.n_q
    shape.n_k = spec.n_k
    shape.d_k = spec.d_k
    shape.d_v = spec.d_v
    shape.scale = spec.scale
    shape.vis.has_lo = spec.visibility.has_lo
    shape.vis.lo_offset = spec.visibility.lo_offset
    shape.vis.has_hi = spec.visibility.has_hi
    shape.vis.hi_offset = spec.visibility.hi_offset
    shape.alibi_offset = spec.alibi_offset
    shape.slopes = NULL
    if spec.slopes is not None:
        slopes = spec.slopes
        if (cnp.PyArray_TYPE(slopes) != cnp.NPY_FLOAT64
                or not cnp.PyArray_IS_C_CONTIGUOUS(slopes)
                or cnp.PyArray_SIZE(slopes) != shape.n_batch):
            raise ValueError("internal: one contiguous float64 ALiBi slope per batch item")
        shape.slopes = <const double *>cnp.PyArray_DATA(slopes)
    if mask is None:
        shape.mask_kind = MASK_NONE
    elif cnp.PyArray_TYPE(<cnp.ndarray>mask.array) == cnp.NPY_UINT8:
        shape.mask_kind = MASK_BOOL
    else:
        shape.mask_kind = MASK_ADDITIVE
    return 0


# -- small helpers ----------------------------------------------------------------

cdef inline Py_ssize_t round_up(Py_ssize_t x, Py_ssize_t multiple) noexcept nogil:
    """Smallest multiple of `multiple` that is >= x."""
    return ((x + multiple - 1) // multiple) * multiple


cdef inline int panel_width(floating dummy) noexcept nogil:
    """Keys per packed K panel for this dtype."""
    if floating is float:
        return NR_F32
    else:
        return NR_F64


cdef inline int lanes(floating dummy) noexcept nogil:
    """Vector lanes of the micro-kernels for this dtype."""
    if floating is float:
        return VL_F32
    else:
        return VL_F64


cdef inline floating exp_one(floating x) noexcept nogil:
    """The package's vectorisable exp (csrc/attnsearch_exp.h), scalar form."""
    if floating is float:
        return expf_scalar(x)
    else:
        return exp_scalar(x)


cdef inline void fold_mask(floating *s, MaskKind kind, const void *mask, Py_ssize_t col,
                           Py_ssize_t n) noexcept nogil:
    """Fold n mask entries (the first at `mask`, `col` elements apart) into n
    scores: -inf where a boolean mask forbids, plus the bias of an additive one."""
    cdef Py_ssize_t j
    cdef const uint8_t *allowed
    cdef const floating *bias
    if kind == MASK_BOOL:
        allowed = <const uint8_t *>mask
        for j in range(n):
            if not allowed[j * col]:
                s[j] = -INFINITY
    elif kind == MASK_ADDITIVE:
        bias = <const floating *>mask
        for j in range(n):
            s[j] += bias[j * col]


cdef inline void add_alibi(floating *s, Py_ssize_t n, double slope,
                           Py_ssize_t distance0) noexcept nogil:
    """s[j] -= slope * |j - distance0| for j < n: ALiBi's linear bias, computed
    in float64 and rounded once (`distance0` is where the distance is zero)."""
    cdef Py_ssize_t j, dist
    for j in range(n):
        dist = j - distance0 if j >= distance0 else distance0 - j
        s[j] += <floating>(-slope * <double>dist)


# -- dtype dispatch of the micro-kernels ------------------------------------------

cdef inline void pack_q(const floating *q, Py_ssize_t ldq, Py_ssize_t rows,
                        Py_ssize_t rows_pad, Py_ssize_t dk, double scale,
                        floating *qpack) noexcept nogil:
    if floating is float:
        pack_q_f32(q, ldq, <int>rows, <int>rows_pad, <int>dk, <float>scale, qpack)
    else:
        pack_q_f64(q, ldq, <int>rows, <int>rows_pad, <int>dk, scale, qpack)


cdef inline void pack_k(const floating *k, Py_ssize_t ldk, Py_ssize_t bk, Py_ssize_t dk,
                        floating *kpack) noexcept nogil:
    if floating is float:
        pack_k_f32(k, ldk, <int>bk, <int>dk, kpack)
    else:
        pack_k_f64(k, ldk, <int>bk, <int>dk, kpack)


cdef inline void pack_v(const floating *v, Py_ssize_t ldv, Py_ssize_t bk, Py_ssize_t dv,
                        Py_ssize_t dvp, floating *vpack) noexcept nogil:
    if floating is float:
        pack_v_f32(v, ldv, <int>bk, <int>dv, <int>dvp, vpack)
    else:
        pack_v_f64(v, ldv, <int>bk, <int>dv, <int>dvp, vpack)


cdef inline void qk_tile(const floating *qpack, Py_ssize_t rows_pad, Py_ssize_t dk,
                         const floating *kpack, Py_ssize_t n_panels, floating *s,
                         Py_ssize_t lds, Py_ssize_t visible0) noexcept nogil:
    """s = qpack kpack^T over rows_pad rows and n_panels key panels."""
    if floating is float:
        qk_tile_f32(qpack, <int>rows_pad, <int>dk, kpack, <int>n_panels, s, lds, visible0)
    else:
        qk_tile_f64(qpack, <int>rows_pad, <int>dk, kpack, <int>n_panels, s, lds, visible0)


cdef inline void pv_tile(const floating *p, Py_ssize_t ldp, Py_ssize_t rows_pad,
                         Py_ssize_t bk, const floating *v, Py_ssize_t ldv, Py_ssize_t dvp,
                         floating *o, Py_ssize_t ldo, const floating *corr,
                         Py_ssize_t visible0) noexcept nogil:
    """o = o * corr (per row) + p v over rows_pad rows and bk keys."""
    if floating is float:
        pv_tile_f32(p, ldp, <int>rows_pad, <int>bk, v, ldv, <int>dvp, o, ldo, corr, visible0)
    else:
        pv_tile_f64(p, ldp, <int>rows_pad, <int>bk, v, ldv, <int>dvp, o, ldo, corr, visible0)


cdef inline floating row_max(const floating *x, Py_ssize_t n) noexcept nogil:
    """max of x[:n] (NaN skipped; -inf for n == 0)."""
    if floating is float:
        return row_max_f32(x, <int>n)
    else:
        return row_max_f64(x, <int>n)


cdef inline bint has_nan(const floating *x, Py_ssize_t n) noexcept nogil:
    """Whether x[:n] holds a NaN (the slow path of rows whose max is -inf)."""
    if floating is float:
        return has_nan_f32(x, <int>n)
    else:
        return has_nan_f64(x, <int>n)


cdef inline double exp_sum(floating *x, Py_ssize_t n, floating m) noexcept nogil:
    """x[j] = exp(x[j] - m) in place; returns the sum in float64."""
    if floating is float:
        return exp_sum_f32(x, <int>n, m)
    else:
        return exp_sum_f64(x, <int>n, m)


cdef inline floating tile_row_max(const floating *x, Py_ssize_t n) noexcept nogil:
    """The row's max for the online softmax: NaN when the row holds only NaN
    and -inf (propagated, not taken for a fully masked row)."""
    cdef floating top = row_max(x, n)
    if top == -INFINITY and has_nan(x, n):
        return <floating>NAN
    return top


# -- operands stored in 16 bits ------------------------------------------------------

cdef inline int storage_of(object array, Storage *storage, Py_ssize_t *itemsize) except -1:
    """The storage of a kernel operand: float32/float64 arrays are native;
    uint16 arrays hold bfloat16 bits and float16 arrays float16 (both computed
    in float32)."""
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        storage[0] = STORE_NATIVE
        itemsize[0] = dtype.itemsize
    elif dtype.kind == "u" and dtype.itemsize == 2:
        storage[0] = STORE_BF16
        itemsize[0] = 2
    elif dtype.kind == "f" and dtype.itemsize == 2:
        storage[0] = STORE_F16
        itemsize[0] = 2
    else:
        raise ValueError(f"internal: no kernel storage for dtype {dtype}")
    return 0


cdef inline void pack_q_from(Storage storage, const char *q, Py_ssize_t ldq, Py_ssize_t rows,
                             Py_ssize_t rows_pad, Py_ssize_t dk, double scale,
                             floating *qpack) noexcept nogil:
    """pack_q of rows stored natively or in 16 bits (float32 compute only)."""
    if storage == STORE_NATIVE:
        pack_q(<const floating *>q, ldq, rows, rows_pad, dk, scale, qpack)
    elif floating is float:
        pack_q_r(storage, <const uint16_t *>q, ldq, <int>rows, <int>rows_pad, <int>dk,
                 <float>scale, qpack)


cdef inline void pack_k_from(Storage storage, const char *k, Py_ssize_t ldk, Py_ssize_t bk,
                             Py_ssize_t dk, floating *kpack) noexcept nogil:
    """pack_k of keys stored natively or in 16 bits (float32 compute only)."""
    if storage == STORE_NATIVE:
        pack_k(<const floating *>k, ldk, bk, dk, kpack)
    elif floating is float:
        pack_k_r(storage, <const uint16_t *>k, ldk, <int>bk, <int>dk, kpack)


cdef inline void pack_v_from(Storage storage, const char *v, Py_ssize_t ldv, Py_ssize_t bk,
                             Py_ssize_t dv, Py_ssize_t dvp, floating *vpack) noexcept nogil:
    """pack_v of values stored natively or in 16 bits (float32 compute only)."""
    if storage == STORE_NATIVE:
        pack_v(<const floating *>v, ldv, bk, dv, dvp, vpack)
    elif floating is float:
        pack_v_r(storage, <const uint16_t *>v, ldv, <int>bk, <int>dv, <int>dvp, vpack)


cdef inline void store_row(Storage storage, const double *src, double scale, Py_ssize_t n,
                           char *dst, floating dummy) noexcept nogil:
    """dst[:n] = src[:n] * scale, rounded once to the storage dtype."""
    cdef Py_ssize_t c
    cdef floating *native
    if storage == STORE_NATIVE:
        native = <floating *>dst
        for c in range(n):
            native[c] = <floating>(src[c] * scale)
    else:
        store_r(storage, src, scale, <int>n, <uint16_t *>dst)


# -- scratch layouts --------------------------------------------------------------
# A kernel lists its per-thread buffers once, in one function that fills a
# ScratchLayout (sizes in bytes, each rounded to SCRATCH_ALIGN); the layout then
# sizes the allocation (layout.total) and carves it (scratch_at).

cdef enum:
    MAX_SCRATCH_BUFFERS = 24

ctypedef struct ScratchLayout:
    Py_ssize_t n
    Py_ssize_t total
    Py_ssize_t offset[MAX_SCRATCH_BUFFERS]


cdef inline void layout_start(ScratchLayout *layout) noexcept nogil:
    layout.n = 0
    layout.total = 0


cdef inline void layout_add(ScratchLayout *layout, int index, Py_ssize_t nbytes) noexcept nogil:
    """Place buffer `index` (a kernel's enum) of `nbytes` after the previous ones."""
    layout.offset[index] = layout.total
    layout.total += round_up(nbytes, SCRATCH_ALIGN)
    layout.n += 1


cdef inline char *scratch_at(const ScratchLayout *layout, char *scratch,
                             int index) noexcept nogil:
    """Buffer `index` of the layout inside one thread's scratch."""
    return scratch + layout.offset[index]
