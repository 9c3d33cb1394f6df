/* Template body of attnsearch_decode.h: included once per dtype with
 * ATTNSEARCH_DEC_T (element), ATTNSEARCH_DEC_V (vector), ATTNSEARCH_DEC_VL
 * (lanes), ATTNSEARCH_DEC_SUFFIX (f32/f64) and ATTNSEARCH_DEC_HSUM defined;
 * optionally ATTNSEARCH_DEC_KT (how K and V are stored), with
 * ATTNSEARCH_DEC_LOADV / ATTNSEARCH_DEC_LOADS (a vector / an element of
 * them, widened to V / T) and ATTNSEARCH_DEC_KV_ONLY (only the score and
 * P V kernels: bfloat16 K/V widened in registers as they are loaded).
 * No include guard on purpose. */

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

/* s[r][j] = q[r] . k[j] for R (compile-time, <= MR) rows and nkeys keys;
 * D > 0 is a compile-time width (a multiple of VL), D == 0 means dk. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_rows)(const T *q, int dk, const KT *k, ptrdiff_t ldk,
                                              int nkeys, T *s, ptrdiff_t lds, const int R,
                                              const int D)
{
    const int d = D > 0 ? D : dk;
    int j = 0;
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
                kk[u] = LOADV(k + (ptrdiff_t)(j + u) * ldk + c * VL);
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
                    sum += q[(ptrdiff_t)r * d + t] * LOADS(k + (ptrdiff_t)(j + u) * ldk + t);
                s[(ptrdiff_t)r * lds + j + u] = sum;
            }
    }
    for (; j < nkeys; j++) {
        V acc[MR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r] = (V){0};
#pragma GCC unroll 16
        for (int c = 0; c < nvec; c++) {
            V kk = LOADV(k + (ptrdiff_t)j * ldk + c * VL);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r] += *(const V *)(q + (ptrdiff_t)r * d + c * VL) * kk;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            T sum = ATTNSEARCH_DEC_HSUM(acc[r]);
            for (int t = tail0; t < d; t++)
                sum += q[(ptrdiff_t)r * d + t] * LOADS(k + (ptrdiff_t)j * ldk + t);
            s[(ptrdiff_t)r * lds + j] = sum;
        }
    }
#else
    for (; j < nkeys; j++)
        for (int r = 0; r < R; r++) {
            T sum = 0;
            for (int t = 0; t < d; t++) sum += q[(ptrdiff_t)r * d + t] * LOADS(k + (ptrdiff_t)j * ldk + t);
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
                                              const int D)
{
    const int d = D > 0 ? D : dk;
    const int nvec = d / VL;
    const int ku = VL / RU;
    V acc[VL];
#pragma GCC unroll 16
    for (int a = 0; a < VL; a++) acc[a] = (V){0};
#pragma GCC unroll 16
    for (int c = 0; c < nvec; c++) {
        V kk[VL];
#pragma GCC unroll 16
        for (int u = 0; u < ku; u++) kk[u] = LOADV(k + (ptrdiff_t)(j + u) * ldk + c * VL);
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
                lanes[r * ku + u] += q[(ptrdiff_t)r * d + t] * LOADS(k + (ptrdiff_t)(j + u) * ldk + t);
#pragma GCC unroll 4
    for (int r = 0; r < RU; r++) memcpy(s + (ptrdiff_t)r * lds + j, lanes + r * ku, sizeof(T) * ku);
}
#endif

/* Scores of RU rows (compile-time: 1, 2 or 4, at most VL) against nkeys keys. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_group)(const T *q, int dk, const KT *k, ptrdiff_t ldk,
                                               int nkeys, T *s, ptrdiff_t lds, const int RU,
                                               const int D)
{
    int j = 0;
#if ATTNSEARCH_DEC_TREE
    if (RU <= VL)
        for (; j + VL / RU <= nkeys; j += VL / RU) FN(dec_qk_tree)(q, dk, k, ldk, j, s, lds, RU, D);
#endif
    if (j < nkeys)
        FN(dec_qk_rows)(q, dk, k + (ptrdiff_t)j * ldk, ldk, nkeys - j, s + j, lds, RU, D);
}

/* Scores of `rows` query rows (any count, groups of 4, 2, 1) against nkeys keys. */
static void FN(dec_qk)(const T *q, int rows, int dk, const KT *k, ptrdiff_t ldk, int nkeys,
                       T *s, ptrdiff_t lds)
{
    int r0 = 0;
    while (r0 < rows) {
        int n = rows - r0 >= 4 ? 4 : (rows - r0 >= 2 ? 2 : 1);
        const T *qr = q + (ptrdiff_t)r0 * dk;
        T *sr = s + (ptrdiff_t)r0 * lds;
#define ATTNSEARCH_DEC_QK_GROUP(D)                                                       \
    switch (n) {                                                                         \
    case 1: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 1, D); break;              \
    case 2: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 2, D); break;              \
    default: FN(dec_qk_group)(qr, dk, k, ldk, nkeys, sr, lds, 4, D); break;             \
    }
        if (dk == 64) {
            ATTNSEARCH_DEC_QK_GROUP(64)
        } else if (dk == 128) {
            ATTNSEARCH_DEC_QK_GROUP(128)
        } else {
            ATTNSEARCH_DEC_QK_GROUP(0)
        }
#undef ATTNSEARCH_DEC_QK_GROUP
        r0 += n;
    }
}

#if ATTNSEARCH_HAVE_VECTOR_EXT
/* NC (compile-time) vectors of output columns of R rows:
 * o[r][c] = o[r][c] * corr[r] + sum_j p[r][j] v[j][c]. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_pv_cols)(const T *p, ptrdiff_t ldp, int nkeys, const KT *v,
                                              ptrdiff_t ldv, T *o, ptrdiff_t ldo,
                                              const T *corr, const int R, const int NC)
{
    V acc[MR][CV];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) acc[r][c] = *(const V *)(o + (ptrdiff_t)r * ldo + c * VL) * corr[r];
    for (int j = 0; j < nkeys; j++) {
        V vv[CV];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) vv[c] = LOADV(v + (ptrdiff_t)j * ldv + c * VL);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            T pr = p[(ptrdiff_t)r * ldp + j];
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) acc[r][c] += pr * vv[c];
        }
    }
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
                                              const T *corr, const int R, const int D)
{
    const int d = D > 0 ? D : dv;
    int c0 = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    const int nvec = d / VL;
    int cv = 0;
    for (; cv + CV <= nvec; cv += CV)
        FN(dec_pv_cols)(p, ldp, nkeys, v + cv * VL, ldv, o + cv * VL, ldo, corr, R, CV);
    switch (nvec - cv) {
    case 0: break;
    case 1: FN(dec_pv_cols)(p, ldp, nkeys, v + cv * VL, ldv, o + cv * VL, ldo, corr, R, 1); break;
#if CV > 2
    case 2: FN(dec_pv_cols)(p, ldp, nkeys, v + cv * VL, ldv, o + cv * VL, ldo, corr, R, 2); break;
    default: FN(dec_pv_cols)(p, ldp, nkeys, v + cv * VL, ldv, o + cv * VL, ldo, corr, R, 3); break;
#endif
    }
    c0 = nvec * VL;
#endif
    for (int r = 0; r < R; r++)
        for (int c = c0; c < d; c++) {
            T sum = o[(ptrdiff_t)r * ldo + c] * corr[r];
            for (int j = 0; j < nkeys; j++)
                sum += p[(ptrdiff_t)r * ldp + j] * LOADS(v + (ptrdiff_t)j * ldv + c);
            o[(ptrdiff_t)r * ldo + c] = sum;
        }
}

/* o = o * corr + p v for `rows` rows (any count, groups of MR), nkeys keys. */
static void FN(dec_pv)(const T *p, ptrdiff_t ldp, int rows, int nkeys, const KT *v,
                       ptrdiff_t ldv, int dv, T *o, ptrdiff_t ldo, const T *corr)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int n = rows - r0 < MR ? rows - r0 : MR;
        const T *pr = p + (ptrdiff_t)r0 * ldp;
        T *orow = o + (ptrdiff_t)r0 * ldo;
        const T *cr = corr + r0;
#define ATTNSEARCH_DEC_PV_ROWS(D)                                                        \
    switch (n) {                                                                         \
    case 1: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 1, D); break;    \
    case 2: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 2, D); break;    \
    case 3: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 3, D); break;    \
    default: FN(dec_pv_rows)(pr, ldp, nkeys, v, ldv, dv, orow, ldo, cr, 4, D); break;   \
    }
        if (dv == 64) {
            ATTNSEARCH_DEC_PV_ROWS(64)
        } else if (dv == 128) {
            ATTNSEARCH_DEC_PV_ROWS(128)
        } else {
            ATTNSEARCH_DEC_PV_ROWS(0)
        }
#undef ATTNSEARCH_DEC_PV_ROWS
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
