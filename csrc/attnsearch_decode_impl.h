/* Template body of attnsearch_decode.h: included once per dtype with
 * ATTNSEARCH_DEC_T (element), ATTNSEARCH_DEC_V (vector), ATTNSEARCH_DEC_VL
 * (lanes), ATTNSEARCH_DEC_SUFFIX (f32/f64) and ATTNSEARCH_DEC_HSUM defined.
 * No include guard on purpose. */

#define T ATTNSEARCH_DEC_T
#define V ATTNSEARCH_DEC_V
#define VL ATTNSEARCH_DEC_VL
#define MR ATTNSEARCH_DEC_MR
#define KU ATTNSEARCH_DEC_KU
#define CV ATTNSEARCH_DEC_CV
#define FN ATTNSEARCH_DEC_FN

/* s[r][j] = q[r] . k[j] for R (compile-time, <= MR) rows and nkeys keys;
 * D > 0 is a compile-time width (a multiple of VL), D == 0 means dk. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_qk_rows)(const T *q, int dk, const T *k, ptrdiff_t ldk,
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
                kk[u] = *(const V *)(k + (ptrdiff_t)(j + u) * ldk + c * VL);
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
                    sum += q[(ptrdiff_t)r * d + t] * k[(ptrdiff_t)(j + u) * ldk + t];
                s[(ptrdiff_t)r * lds + j + u] = sum;
            }
    }
    for (; j < nkeys; j++) {
        V acc[MR];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r] = (V){0};
#pragma GCC unroll 16
        for (int c = 0; c < nvec; c++) {
            V kk = *(const V *)(k + (ptrdiff_t)j * ldk + c * VL);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r] += *(const V *)(q + (ptrdiff_t)r * d + c * VL) * kk;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            T sum = ATTNSEARCH_DEC_HSUM(acc[r]);
            for (int t = tail0; t < d; t++)
                sum += q[(ptrdiff_t)r * d + t] * k[(ptrdiff_t)j * ldk + t];
            s[(ptrdiff_t)r * lds + j] = sum;
        }
    }
#else
    for (; j < nkeys; j++)
        for (int r = 0; r < R; r++) {
            T sum = 0;
            for (int t = 0; t < d; t++) sum += q[(ptrdiff_t)r * d + t] * k[(ptrdiff_t)j * ldk + t];
            s[(ptrdiff_t)r * lds + j] = sum;
        }
#endif
}

/* Scores of `rows` query rows (any count, groups of MR) against nkeys keys. */
static void FN(dec_qk)(const T *q, int rows, int dk, const T *k, ptrdiff_t ldk, int nkeys,
                       T *s, ptrdiff_t lds)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        int n = rows - r0 < MR ? rows - r0 : MR;
        const T *qr = q + (ptrdiff_t)r0 * dk;
        T *sr = s + (ptrdiff_t)r0 * lds;
#define ATTNSEARCH_DEC_QK_ROWS(D)                                                        \
    switch (n) {                                                                         \
    case 1: FN(dec_qk_rows)(qr, dk, k, ldk, nkeys, sr, lds, 1, D); break;               \
    case 2: FN(dec_qk_rows)(qr, dk, k, ldk, nkeys, sr, lds, 2, D); break;               \
    case 3: FN(dec_qk_rows)(qr, dk, k, ldk, nkeys, sr, lds, 3, D); break;               \
    default: FN(dec_qk_rows)(qr, dk, k, ldk, nkeys, sr, lds, 4, D); break;              \
    }
        if (dk == 64) {
            ATTNSEARCH_DEC_QK_ROWS(64)
        } else if (dk == 128) {
            ATTNSEARCH_DEC_QK_ROWS(128)
        } else {
            ATTNSEARCH_DEC_QK_ROWS(0)
        }
#undef ATTNSEARCH_DEC_QK_ROWS
    }
}

#if ATTNSEARCH_HAVE_VECTOR_EXT
/* NC (compile-time) vectors of output columns of R rows:
 * o[r][c] = o[r][c] * corr[r] + sum_j p[r][j] v[j][c]. */
ATTNSEARCH_ALWAYS_INLINE void FN(dec_pv_cols)(const T *p, ptrdiff_t ldp, int nkeys, const T *v,
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
        for (int c = 0; c < NC; c++) vv[c] = *(const V *)(v + (ptrdiff_t)j * ldv + c * VL);
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
ATTNSEARCH_ALWAYS_INLINE void FN(dec_pv_rows)(const T *p, ptrdiff_t ldp, int nkeys, const T *v,
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
                sum += p[(ptrdiff_t)r * ldp + j] * v[(ptrdiff_t)j * ldv + c];
            o[(ptrdiff_t)r * ldo + c] = sum;
        }
}

/* o = o * corr + p v for `rows` rows (any count, groups of MR), nkeys keys. */
static void FN(dec_pv)(const T *p, ptrdiff_t ldp, int rows, int nkeys, const T *v,
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

#undef T
#undef V
#undef VL
#undef MR
#undef KU
#undef CV
#undef FN
