/* Template body of attnsearch_decode.h: included once per dtype with
 * ATTNSEARCH_DEC_T (element), ATTNSEARCH_DEC_V (vector), ATTNSEARCH_DEC_VL
 * (lanes), ATTNSEARCH_DEC_SUFFIX (f32/f64) and ATTNSEARCH_DEC_HSUM defined;
 * optionally ATTNSEARCH_DEC_KT (how K and V are stored), with
 * ATTNSEARCH_DEC_LOADV / ATTNSEARCH_DEC_LOADS (a vector / an element of
 * them, widened to V / T) and ATTNSEARCH_DEC_KV_ONLY (only the score and
 * P V kernels: bfloat16 K/V widened in registers as they are loaded).
 * No include guard on purpose; the parameters are #undef'd at the end, so
 * each instantiation defines its own. */

#define T ATTNSEARCH_DEC_T
#define V ATTNSEARCH_DEC_V
#define VL ATTNSEARCH_DEC_VL
#define MR ATTNSEARCH_DEC_MR
#define KU ATTNSEARCH_DEC_KU
#define CV ATTNSEARCH_DEC_CV
#define FN ATTNSEARCH_DEC_FN
#ifdef ATTNSEARCH_DEC_KT
#define KT ATTNSEARCH_DEC_KT
#define LOADV(p) ATTNSEARCH_DEC_LOADV(p)
#define LOADS(p) ATTNSEARCH_DEC_LOADS(p)
#else
#define KT T
#define LOADV(p) (*(const V *)(p))
#define LOADS(p) (*(p))
#endif
/* Element `col` (a vector from it: KVV, one element: KVS) of row `row` of K or
 * V (base `b`, row stride `ld`). With ATTNSEARCH_DEC_SCALED (int8 rows) each
 * row has one float scale per G (compile-time) elements at ks[row * ldks]: the
 * loaded vector is widened and multiplied by its group's scale in registers,
 * (float)q * scale exactly as the tile widening computes it. A vector never
 * straddles two groups (G is a multiple of VL). SP / SA: the extra parameters
 * and arguments; SA_ROWS(j): the arguments for the rows from row j on. */
#ifdef ATTNSEARCH_DEC_SCALED
#define SP , const float *ks, ptrdiff_t ldks, const int G
#define SA , ks, ldks, G
#define SA_ROWS(j) , ks + (ptrdiff_t)(j) * ldks, ldks, G
#define SP_TOP , const float *ks, ptrdiff_t ldks, int group
#define SA_G(g) , ks, ldks, g
/* The compile-time G of a call: 32, 64, or one scale per row (group >= the row
 * width; any G past the width then reads scale 0). Other groups are widened in
 * a tile by the caller. */
#define BY_GROUP(CALL)                                                                  \
    if (group == 32) {                                                                  \
        CALL(32)                                                                        \
    } else if (group == 64) {                                                           \
        CALL(64)                                                                        \
    } else {                                                                            \
        CALL(1 << 24)                                                                   \
    }
#define KVV(b, ld, row, col)                                                             \
    (LOADV((b) + (ptrdiff_t)(row) * (ld) + (col)) * ks[(ptrdiff_t)(row) * ldks + (col) / G])
#define KVS(b, ld, row, col)                                                             \
    (LOADS((b) + (ptrdiff_t)(row) * (ld) + (col)) * ks[(ptrdiff_t)(row) * ldks + (col) / G])
#else
#define SP
#define SA
#define SA_ROWS(j)
#define SP_TOP
#define SA_G(g)
#define BY_GROUP(CALL) CALL(0)
#define KVV(b, ld, row, col) LOADV((b) + (ptrdiff_t)(row) * (ld) + (col))
#define KVS(b, ld, row, col) LOADS((b) + (ptrdiff_t)(row) * (ld) + (col))
#endif

/* Software prefetch: each kernel asks for `pf_lines` lines of row j of a
 * second stream (pf, row stride pf_ld bytes; NULL: none) as it reaches key j
 * of its own, for j < pf_rows: the caller points it at the rows the next
 * kernel will read (the V rows of this block, the K rows of the next), so the
 * loads of one kernel overlap the arithmetic of the other. */
#ifdef ATTNSEARCH_DEC_KV_ONLY
#define PFP , const char *pf, ptrdiff_t pf_ld, int pf_lines, int pf_rows
#define PFA , pf, pf_ld, pf_lines, pf_rows
#define PFA_ROWS(j) , pf ? pf + (ptrdiff_t)(j) * pf_ld : pf, pf_ld, pf_lines, pf_rows - (j)
#define PF_ROWS(j, n)                                                                   \
    if ((j) < pf_rows)                                                                  \
        attnsearch_dec_prefetch_rows(pf, pf_ld, pf_lines, j,                             \
                                     (j) + (n) < pf_rows ? (n) : pf_rows - (j));
#define PF_OFF pf = NULL;
#else /* rows in the compute dtype are left to the hardware prefetcher */
#define PFP
#define PFA
#define PFA_ROWS(j)
#define PF_ROWS(j, n)
#define PF_OFF
#endif

/* s[r][j] = q[r] . k[j] for R (compile-time, <= MR) rows and nkeys keys;
 * D > 0 is a compile-time width (a multiple of VL), D == 0 means dk. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_rows)(const T *q, int dk, const KT *k, ptrdiff_t ldk,
                                              int nkeys, T *s, ptrdiff_t lds, const int R,
                                              const int D SP PFP)
{
    const int d = D > 0 ? D : dk;
    int j = 0;
    PF_ROWS(0, nkeys)
#if ATTNSEARCH_HAVE_VECTOR_EXT
    const int nvec = d / VL;
    const int tail0 = nvec * VL;
    for (; j + KU <= nkeys; j += KU) {
        V acc[MR][KU];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int u = 0; u < KU; u++) acc[r][u] = (V){0};
#pragma GCC unroll 16
        for (int c = 0; c < nvec; c++) {
            V kk[KU];
#pragma GCC unroll 4
            for (int u = 0; u < KU; u++)
                kk[u] = KVV(k, ldk, j + u, c * VL);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                V qq = *(const V *)(q + (ptrdiff_t)r * d + c * VL);
#pragma GCC unroll 4
                for (int u = 0; u < KU; u++) acc[r][u] += qq * kk[u];
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int u = 0; u < KU; u++) {
                T sum = ATTNSEARCH_DEC_HSUM(acc[r][u]);
                for (int t = tail0; t < d; t++)
                    sum += q[(ptrdiff_t)r * d + t] * KVS(k, ldk, j + u, t);
                s[(ptrdiff_t)r * lds + j + u] = sum;
            }
    }
    for (; j < nkeys; j++) {
        V acc[MR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r] = (V){0};
#pragma GCC unroll 16
        for (int c = 0; c < nvec; c++) {
            V kk = KVV(k, ldk, j, c * VL);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r] += *(const V *)(q + (ptrdiff_t)r * d + c * VL) * kk;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            T sum = ATTNSEARCH_DEC_HSUM(acc[r]);
            for (int t = tail0; t < d; t++)
                sum += q[(ptrdiff_t)r * d + t] * KVS(k, ldk, j, t);
            s[(ptrdiff_t)r * lds + j] = sum;
        }
    }
#else
    for (; j < nkeys; j++)
        for (int r = 0; r < R; r++) {
            T sum = 0;
            for (int t = 0; t < d; t++) sum += q[(ptrdiff_t)r * d + t] * KVS(k, ldk, j, t);
            s[(ptrdiff_t)r * lds + j] = sum;
        }
#endif
}

#if ATTNSEARCH_DEC_TREE
/* Lane i of the result = sum of the lanes of acc[i], i < VL (fixed tree). */
ATTNSEARCH_ALWAYS_INLINE V FN(dec_transpose_sum)(const V *acc)
{
#if VL == 16
    V a[8], b[4], c[2], e[1];
    ATTNSEARCH_DEC_LEVEL(a, acc, 8, ATTNSEARCH_DEC_LO16_16, ATTNSEARCH_DEC_HI16_16)
    ATTNSEARCH_DEC_LEVEL(b, a, 4, ATTNSEARCH_DEC_LO16_8, ATTNSEARCH_DEC_HI16_8)
    ATTNSEARCH_DEC_LEVEL(c, b, 2, ATTNSEARCH_DEC_LO16_4, ATTNSEARCH_DEC_HI16_4)
    ATTNSEARCH_DEC_LEVEL(e, c, 1, ATTNSEARCH_DEC_LO16_2, ATTNSEARCH_DEC_HI16_2)
    return e[0];
#elif VL == 8
    V b[4], c[2], e[1];
    ATTNSEARCH_DEC_LEVEL(b, acc, 4, ATTNSEARCH_DEC_LO8_8, ATTNSEARCH_DEC_HI8_8)
    ATTNSEARCH_DEC_LEVEL(c, b, 2, ATTNSEARCH_DEC_LO8_4, ATTNSEARCH_DEC_HI8_4)
    ATTNSEARCH_DEC_LEVEL(e, c, 1, ATTNSEARCH_DEC_LO8_2, ATTNSEARCH_DEC_HI8_2)
    return e[0];
#elif VL == 4
    V c[2], e[1];
    ATTNSEARCH_DEC_LEVEL(c, acc, 2, ATTNSEARCH_DEC_LO4_4, ATTNSEARCH_DEC_HI4_4)
    ATTNSEARCH_DEC_LEVEL(e, c, 1, ATTNSEARCH_DEC_LO4_2, ATTNSEARCH_DEC_HI4_2)
    return e[0];
#else
    V e[1];
    ATTNSEARCH_DEC_LEVEL(e, acc, 1, ATTNSEARCH_DEC_LO2_2, ATTNSEARCH_DEC_HI2_2)
    return e[0];
#endif
}

/* Scores of RU rows x VL / RU keys from key j on (RU * (VL / RU) == VL dot
 * products, reduced together by dec_transpose_sum). */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_tree)(const T *q, int dk, const KT *k, ptrdiff_t ldk,
                                              int j, T *s, ptrdiff_t lds, const int RU,
                                              const int D SP PFP)
{
    const int d = D > 0 ? D : dk;
    const int nvec = d / VL;
    const int ku = VL / RU;
    PF_ROWS(j, ku)
    V acc[VL];
#pragma GCC unroll 16
    for (int a = 0; a < VL; a++) acc[a] = (V){0};
#pragma GCC unroll 16
    for (int c = 0; c < nvec; c++) {
        V kk[VL];
#pragma GCC unroll 16
        for (int u = 0; u < ku; u++) kk[u] = KVV(k, ldk, j + u, c * VL);
#pragma GCC unroll 4
        for (int r = 0; r < RU; r++) {
            V qq = *(const V *)(q + (ptrdiff_t)r * d + c * VL);
#pragma GCC unroll 16
            for (int u = 0; u < ku; u++) acc[r * ku + u] += qq * kk[u];
        }
    }
    V total = FN(dec_transpose_sum)(acc);
    T lanes[VL];
    memcpy(lanes, &total, sizeof total);
    for (int t = nvec * VL; t < d; t++)  /* general d: the scalar tail */
#pragma GCC unroll 4
        for (int r = 0; r < RU; r++)
            for (int u = 0; u < ku; u++)
                lanes[r * ku + u] += q[(ptrdiff_t)r * d + t] * KVS(k, ldk, j + u, t);
#pragma GCC unroll 4
    for (int r = 0; r < RU; r++) memcpy(s + (ptrdiff_t)r * lds + j, lanes + r * ku, sizeof(T) * ku);
}
#endif

/* Scores of RU rows (compile-time: 1, 2 or 4, at most VL) against nkeys keys. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_group)(const T *q, int dk, const KT *k, ptrdiff_t ldk,
                                               int nkeys, T *s, ptrdiff_t lds, const int RU,
                                               const int D SP PFP)
{
    int j = 0;
#if ATTNSEARCH_DEC_TREE
    if (RU <= VL)
        for (; j + VL / RU <= nkeys; j += VL / RU) FN(dec_qk_tree)(q, dk, k, ldk, j, s, lds, RU, D SA PFA);
#endif
    if (j < nkeys)
        FN(dec_qk_rows)(q, dk, k + (ptrdiff_t)j * ldk, ldk, nkeys - j, s + j, lds, RU, D SA_ROWS(j) PFA_ROWS(j));
}

/* Scores of `rows` query rows (any count, groups of 4, 2, 1) against nkeys keys. */
static void FN(dec_qk)(const T *q, int rows, int dk, const KT *k, ptrdiff_t ldk, int nkeys,
                       T *s, ptrdiff_t lds SP_TOP PFP)
{
    int r0 = 0;
    while (r0 < rows) {
        if (r0 > 0) {
            PF_OFF /* the first group of rows asks for the lines */
        }
        int n = rows - r0 >= 4 ? 4 : (rows - r0 >= 2 ? 2 : 1);
        const T *qr = q + (ptrdiff_t)r0 * dk;
        T *sr = s + (ptrdiff_t)r0 * lds;
#define ATTNSEARCH_DEC_QK_GROUP(D, G_)                                                   \
    switch (n) {                                                                         \
    case 1: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 1, D SA_G(G_) PFA); break; \
    case 2: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 2, D SA_G(G_) PFA); break; \
    default: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 4, D SA_G(G_) PFA); break;\
    }
#define ATTNSEARCH_DEC_QK_64(G_) ATTNSEARCH_DEC_QK_GROUP(64, G_)
#define ATTNSEARCH_DEC_QK_128(G_) ATTNSEARCH_DEC_QK_GROUP(128, G_)
#define ATTNSEARCH_DEC_QK_ANY(G_) ATTNSEARCH_DEC_QK_GROUP(0, G_)
        if (dk == 64) {
            BY_GROUP(ATTNSEARCH_DEC_QK_64)
        } else if (dk == 128) {
            BY_GROUP(ATTNSEARCH_DEC_QK_128)
        } else {
            BY_GROUP(ATTNSEARCH_DEC_QK_ANY)
        }
#undef ATTNSEARCH_DEC_QK_GROUP
#undef ATTNSEARCH_DEC_QK_64
#undef ATTNSEARCH_DEC_QK_128
#undef ATTNSEARCH_DEC_QK_ANY
        r0 += n;
    }
}

#if ATTNSEARCH_HAVE_VECTOR_EXT
/* NC (compile-time) vectors of output columns c0, c0 + VL, ... of R rows:
 * o[r][c] = o[r][c] * corr[r] + sum_j p[r][j] v[j][c]. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_pv_cols)(const T *p, ptrdiff_t ldp, int nkeys, const KT *v,
                                              ptrdiff_t ldv, int c0, T *o, ptrdiff_t ldo,
                                              const T *corr, const int R, const int NC SP PFP)
{
    V acc[MR][CV];
    v += c0;
    o += c0;
#ifdef ATTNSEARCH_DEC_SCALED
    ks += c0 / G; /* c0 is a multiple of VL: the group of column c0 */
#define PV_LOAD(j, c) (LOADV(v + (ptrdiff_t)(j) * ldv + (c) * VL) *                        \
                       ks[(ptrdiff_t)(j) * ldks + (c0 % G + (c) * VL) / G])
#else
#define PV_LOAD(j, c) LOADV(v + (ptrdiff_t)(j) * ldv + (c) * VL)
#endif
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) acc[r][c] = *(const V *)(o + (ptrdiff_t)r * ldo + c * VL) * corr[r];
    for (int j = 0; j < nkeys; j++) {
        V vv[CV];
        PF_ROWS(j, 1)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) vv[c] = PV_LOAD(j, c);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            T pr = p[(ptrdiff_t)r * ldp + j];
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) acc[r][c] += pr * vv[c];
        }
    }
#undef PV_LOAD
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) *(V *)(o + (ptrdiff_t)r * ldo + c * VL) = acc[r][c];
}
#endif

/* o[r][:d] = o[r][:d] * corr[r] + sum_j p[r][j] v[j][:d] for R (compile-time) rows;
 * D > 0 is a compile-time width, D == 0 means dv. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_pv_rows)(const T *p, ptrdiff_t ldp, int nkeys, const KT *v,
                                              ptrdiff_t ldv, int dv, T *o, ptrdiff_t ldo,
                                              const T *corr, const int R, const int D SP PFP)
{
    const int d = D > 0 ? D : dv;
    int c0 = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    const int nvec = d / VL;
    int cv = 0;
    for (; cv + CV <= nvec; cv += CV) {
        FN(dec_pv_cols)(p, ldp, nkeys, v, ldv, cv * VL, o, ldo, corr, R, CV SA PFA);
        PF_OFF /* the first pass asks for the lines */
    }
    switch (nvec - cv) {
    case 0: break;
    case 1: FN(dec_pv_cols)(p, ldp, nkeys, v, ldv, cv * VL, o, ldo, corr, R, 1 SA PFA); break;
#if CV > 2
    case 2: FN(dec_pv_cols)(p, ldp, nkeys, v, ldv, cv * VL, o, ldo, corr, R, 2 SA PFA); break;
    default: FN(dec_pv_cols)(p, ldp, nkeys, v, ldv, cv * VL, o, ldo, corr, R, 3 SA PFA); break;
#endif
    }
    c0 = nvec * VL;
#endif
    for (int r = 0; r < R; r++)
        for (int c = c0; c < d; c++) {
            T sum = o[(ptrdiff_t)r * ldo + c] * corr[r];
            for (int j = 0; j < nkeys; j++) sum += p[(ptrdiff_t)r * ldp + j] * KVS(v, ldv, j, c);
            o[(ptrdiff_t)r * ldo + c] = sum;
        }
}

/* o = o * corr + p v for `rows` rows (any count, groups of MR), nkeys keys. */
static void FN(dec_pv)(const T *p, ptrdiff_t ldp, int rows, int nkeys, const KT *v,
                       ptrdiff_t ldv, int dv, T *o, ptrdiff_t ldo, const T *corr SP_TOP PFP)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        if (r0 > 0) {
            PF_OFF /* the first group of rows asks for the lines */
        }
        int n = rows - r0 < MR ? rows - r0 : MR;
        const T *pr = p + (ptrdiff_t)r0 * ldp;
        T *orow = o + (ptrdiff_t)r0 * ldo;
        const T *cr = corr + r0;
#define ATTNSEARCH_DEC_PV_ROWS(D, G_)                                                    \
    switch (n) {                                                                         \
    case 1: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 1, D SA_G(G_) PFA); break; \
    case 2: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 2, D SA_G(G_) PFA); break; \
    case 3: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 3, D SA_G(G_) PFA); break; \
    default: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 4, D SA_G(G_) PFA); break; \
    }
#define ATTNSEARCH_DEC_PV_64(G_) ATTNSEARCH_DEC_PV_ROWS(64, G_)
#define ATTNSEARCH_DEC_PV_128(G_) ATTNSEARCH_DEC_PV_ROWS(128, G_)
#define ATTNSEARCH_DEC_PV_ANY(G_) ATTNSEARCH_DEC_PV_ROWS(0, G_)
        if (dv == 64) {
            BY_GROUP(ATTNSEARCH_DEC_PV_64)
        } else if (dv == 128) {
            BY_GROUP(ATTNSEARCH_DEC_PV_128)
        } else {
            BY_GROUP(ATTNSEARCH_DEC_PV_ANY)
        }
#undef ATTNSEARCH_DEC_PV_ROWS
#undef ATTNSEARCH_DEC_PV_64
#undef ATTNSEARCH_DEC_PV_128
#undef ATTNSEARCH_DEC_PV_ANY
    }
}

#ifndef ATTNSEARCH_DEC_KV_ONLY
/* acc[r][c] += sum_{i in [i0, i1)} x[r][i] w[i][c] for r < m, c < n: a few rows
 * times a row-major weight block, streamed row by row of w (4 rows of w per
 * pass over the accumulators). The terms of each element are added in the same
 * order in the vector and the scalar columns. */
static void FN(gemv_block)(const T *x, ptrdiff_t ldx, int m, const T *w, ptrdiff_t ldw,
                           int n, int i0, int i1, T *acc, ptrdiff_t ldacc)
{
    int i = i0;
    for (; i + 4 <= i1; i += 4) {
        const T *w0 = w + (ptrdiff_t)i * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        for (int r = 0; r < m; r++) {
            const T a0 = x[(ptrdiff_t)r * ldx + i], a1 = x[(ptrdiff_t)r * ldx + i + 1];
            const T a2 = x[(ptrdiff_t)r * ldx + i + 2], a3 = x[(ptrdiff_t)r * ldx + i + 3];
            T *o = acc + (ptrdiff_t)r * ldacc;
            int c = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
            for (; c + VL <= n; c += VL) {
                V t = *(const V *)(o + c);
                t += a0 * *(const V *)(w0 + c);
                t += a1 * *(const V *)(w1 + c);
                t += a2 * *(const V *)(w2 + c);
                t += a3 * *(const V *)(w3 + c);
                *(V *)(o + c) = t;
            }
#endif
            for (; c < n; c++) {
                T t = o[c];
                t += a0 * w0[c];
                t += a1 * w1[c];
                t += a2 * w2[c];
                t += a3 * w3[c];
                o[c] = t;
            }
        }
    }
    for (; i < i1; i++) {
        const T *w0 = w + (ptrdiff_t)i * ldw;
        for (int r = 0; r < m; r++) {
            const T a0 = x[(ptrdiff_t)r * ldx + i];
            T *o = acc + (ptrdiff_t)r * ldacc;
            int c = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
            for (; c + VL <= n; c += VL) {
                V t = *(const V *)(o + c);
                t += a0 * *(const V *)(w0 + c);
                *(V *)(o + c) = t;
            }
#endif
            for (; c < n; c++) {
                T t = o[c];
                t += a0 * w0[c];
                o[c] = t;
            }
        }
    }
}

/* Sum of x[0:n] (benchmarks: the streaming-read ceiling; no accuracy claim). */
static double FN(stream_sum)(const T *x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    double total = 0.0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    V s0 = (V){0}, s1 = (V){0}, s2 = (V){0}, s3 = (V){0};
    for (; i + 4 * VL <= n; i += 4 * VL) {
        s0 += *(const V *)(x + i);
        s1 += *(const V *)(x + i + VL);
        s2 += *(const V *)(x + i + 2 * VL);
        s3 += *(const V *)(x + i + 3 * VL);
    }
    total = (double)ATTNSEARCH_DEC_HSUM((s0 + s1) + (s2 + s3));
#endif
    for (; i < n; i++) total += (double)x[i];
    return total;
}

/* 1 if every x[0:n] is finite: x - x is 0 for finite x and NaN otherwise. */
static int FN(all_finite)(const T *x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    T total = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    V s0 = (V){0}, s1 = (V){0};
    for (; i + 2 * VL <= n; i += 2 * VL) {
        V a = *(const V *)(x + i), b = *(const V *)(x + i + VL);
        s0 += a - a;
        s1 += b - b;
    }
    total = ATTNSEARCH_DEC_HSUM(s0 + s1);
#endif
    for (; i < n; i++) total += x[i] - x[i];
    return total == 0;
}

#endif /* ATTNSEARCH_DEC_KV_ONLY */

#undef T
#undef V
#undef VL
#undef MR
#undef KU
#undef CV
#undef FN
#undef KT
#undef LOADV
#undef LOADS
#undef SP
#undef SA
#undef SA_ROWS
#undef SP_TOP
#undef SA_G
#undef BY_GROUP
#undef KVV
#undef KVS
#undef PFP
#undef PFA
#undef PFA_ROWS
#undef PF_ROWS
#undef PF_OFF

/* This instantiation's parameters (the next one defines its own). */
#undef ATTNSEARCH_DEC_T
#undef ATTNSEARCH_DEC_V
#undef ATTNSEARCH_DEC_SUFFIX
#undef ATTNSEARCH_DEC_VL
#undef ATTNSEARCH_DEC_HSUM
#undef ATTNSEARCH_DEC_KT
#undef ATTNSEARCH_DEC_LOADV
#undef ATTNSEARCH_DEC_LOADS
#undef ATTNSEARCH_DEC_KV_ONLY
#undef ATTNSEARCH_DEC_SCALED
