/* Template body of attnsearch_tiles.h: included once per dtype with
 * ATTNSEARCH_T (element), ATTNSEARCH_V (vector), ATTNSEARCH_VL (lanes),
 * ATTNSEARCH_SUFFIX (f32/f64) and ATTNSEARCH_EXPFN defined. No include guard on
 * purpose. Every function is `static`: each extension module gets its own copy. */

#define T ATTNSEARCH_T
#define V ATTNSEARCH_V
#define VL ATTNSEARCH_VL
#define NR (2 * ATTNSEARCH_VL)

/* Copy rows x dk of q (row stride ldq) times scale into qpack; zero the pad rows. */
static void ATTNSEARCH_FN(pack_q)(const T *q, ptrdiff_t ldq, int rows, int rows_pad,
                                  int dk, T scale, T *qpack)
{
    for (int r = 0; r < rows; r++) {
        const T *src = q + (ptrdiff_t)r * ldq;
        T *dst = qpack + (ptrdiff_t)r * dk;
        for (int d = 0; d < dk; d++) dst[d] = src[d] * scale;
    }
    memset(qpack + (ptrdiff_t)rows * dk, 0, sizeof(T) * (size_t)(rows_pad - rows) * dk);
}

/* Transpose bk keys of k (row stride ldk) into panels of NR keys; zero pad keys. */
static void ATTNSEARCH_FN(pack_k)(const T *k, ptrdiff_t ldk, int bk, int dk, T *kpack)
{
    int n_panels = (bk + NR - 1) / NR;
    for (int p = 0; p < n_panels; p++) {
        T *panel = kpack + (ptrdiff_t)p * dk * NR;
        int keys = bk - p * NR < NR ? bk - p * NR : NR;
        for (int t = 0; t < keys; t++) {
            const T *src = k + (ptrdiff_t)(p * NR + t) * ldk;
            for (int d = 0; d < dk; d++) panel[(ptrdiff_t)d * NR + t] = src[d];
        }
        for (int t = keys; t < NR; t++)
            for (int d = 0; d < dk; d++) panel[(ptrdiff_t)d * NR + t] = 0;
    }
}

/* Copy bk rows of v (row stride ldv) into vpack with dvp >= dv columns. */
static void ATTNSEARCH_FN(pack_v)(const T *v, ptrdiff_t ldv, int bk, int dv, int dvp,
                                  T *vpack)
{
    for (int j = 0; j < bk; j++) {
        const T *src = v + (ptrdiff_t)j * ldv;
        T *dst = vpack + (ptrdiff_t)j * dvp;
        memcpy(dst, src, sizeof(T) * (size_t)dv);
        for (int c = dv; c < dvp; c++) dst[c] = 0;
    }
}

/* s[r][t] = sum_d q[r][d] * panel[d][t] for QK_MR rows and NR keys. */
ATTNSEARCH_ALWAYS_INLINE void ATTNSEARCH_FN(qk_micro)(const T *q, int dk,
                                                      const T *panel, T *s,
                                                      ptrdiff_t lds)
{
#if ATTNSEARCH_HAVE_VECTOR_EXT
    V acc[ATTNSEARCH_QK_MR][2];
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_QK_MR; r++) {
        acc[r][0] = (V){0};
        acc[r][1] = (V){0};
    }
    for (int d = 0; d < dk; d++) {
        V k0 = *(const V *)(panel + (ptrdiff_t)d * NR);
        V k1 = *(const V *)(panel + (ptrdiff_t)d * NR + VL);
#pragma GCC unroll 16
        for (int r = 0; r < ATTNSEARCH_QK_MR; r++) {
            T qs = q[(ptrdiff_t)r * dk + d];
            acc[r][0] += qs * k0;
            acc[r][1] += qs * k1;
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_QK_MR; r++) {
        *(V *)(s + (ptrdiff_t)r * lds) = acc[r][0];
        *(V *)(s + (ptrdiff_t)r * lds + VL) = acc[r][1];
    }
#else
    for (int r = 0; r < ATTNSEARCH_QK_MR; r++)
        for (int t = 0; t < NR; t++) {
            T sum = 0;
            for (int d = 0; d < dk; d++) sum += q[(ptrdiff_t)r * dk + d] * panel[(ptrdiff_t)d * NR + t];
            s[(ptrdiff_t)r * lds + t] = sum;
        }
#endif
}

/* Keys of the tile that row r may see when row 0 sees `visible0` (causal
 * staircase: one more key per row); callers pass a huge visible0 otherwise. */
static inline int ATTNSEARCH_FN(staircase)(ptrdiff_t visible0, int r, int bk)
{
    ptrdiff_t limit = visible0 + r;
    return limit < 0 ? 0 : (limit > bk ? bk : (int)limit);
}

/* Scores of a whole tile: s = qpack kpack^T, rows_pad x (n_panels * NR).
 * Panels that no row of a row group can see (causal staircase) are skipped;
 * their scores are left unwritten and must not be read. */
static void ATTNSEARCH_FN(qk_tile)(const T *qpack, int rows_pad, int dk,
                                   const T *kpack, int n_panels, T *s, ptrdiff_t lds,
                                   ptrdiff_t visible0)
{
    for (int p = 0; p < n_panels; p++) {
        const T *panel = kpack + (ptrdiff_t)p * dk * NR;
        for (int r = 0; r < rows_pad; r += ATTNSEARCH_QK_MR) {
            int group_keys = ATTNSEARCH_FN(staircase)(visible0, r + ATTNSEARCH_QK_MR - 1,
                                                      n_panels * NR);
            if (p * NR >= group_keys) continue;
            ATTNSEARCH_FN(qk_micro)(qpack + (ptrdiff_t)r * dk, dk, panel,
                                    s + (ptrdiff_t)r * lds + (ptrdiff_t)p * NR, lds);
        }
    }
}

/* o[r][:nv*VL] = o[r][:nv*VL] * corr[r] + sum_j p[r][j] * v[j][:nv*VL], PV_MR rows. */
ATTNSEARCH_ALWAYS_INLINE void ATTNSEARCH_FN(pv_micro)(const T *p, ptrdiff_t ldp, int bk,
                                                      const T *v, ptrdiff_t ldv, T *o,
                                                      ptrdiff_t ldo, const T *corr,
                                                      const int nv)
{
#if ATTNSEARCH_HAVE_VECTOR_EXT
    V acc[ATTNSEARCH_PV_MR][ATTNSEARCH_PV_MAX_NV];
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_PV_MR; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            acc[r][c] = *(const V *)(o + (ptrdiff_t)r * ldo + c * VL) * corr[r];
    for (int j = 0; j < bk; j++) {
        V vv[ATTNSEARCH_PV_MAX_NV];
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++) vv[c] = *(const V *)(v + (ptrdiff_t)j * ldv + c * VL);
#pragma GCC unroll 16
        for (int r = 0; r < ATTNSEARCH_PV_MR; r++) {
            T ps = p[(ptrdiff_t)r * ldp + j];
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++) acc[r][c] += ps * vv[c];
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_PV_MR; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++) *(V *)(o + (ptrdiff_t)r * ldo + c * VL) = acc[r][c];
#else
    for (int r = 0; r < ATTNSEARCH_PV_MR; r++)
        for (int c = 0; c < nv * VL; c++) {
            T sum = o[(ptrdiff_t)r * ldo + c] * corr[r];
            for (int j = 0; j < bk; j++) sum += p[(ptrdiff_t)r * ldp + j] * v[(ptrdiff_t)j * ldv + c];
            o[(ptrdiff_t)r * ldo + c] = sum;
        }
#endif
}

/* o = o * corr (per row) + p[:, :bk] v[:bk, :dvp] over rows_pad rows.
 * dvp is a multiple of VL; v is either vpack (ldv = dvp) or the caller's values
 * read in place when d_v is already a multiple of VL. o has row stride ldo.
 * A row group stops at the keys its last row may see (causal staircase from
 * visible0); P must be zero between a row's own limit and its group's. A group
 * that sees no key is skipped: its rows are unchanged (their corr is 1). */
static void ATTNSEARCH_FN(pv_tile)(const T *p, ptrdiff_t ldp, int rows_pad, int bk,
                                   const T *v, ptrdiff_t ldv, int dvp, T *o,
                                   ptrdiff_t ldo, const T *corr, ptrdiff_t visible0)
{
    for (int r = 0; r < rows_pad; r += ATTNSEARCH_PV_MR) {
        const T *p_rows = p + (ptrdiff_t)r * ldp;
        T *o_rows = o + (ptrdiff_t)r * ldo;
        int group_keys = ATTNSEARCH_FN(staircase)(visible0, r + ATTNSEARCH_PV_MR - 1, bk);
        if (group_keys == 0) continue;
        for (int c0 = 0; c0 < dvp; c0 += ATTNSEARCH_PV_MAX_NV * VL) {
            int nv = (dvp - c0) / VL;
            if (nv > ATTNSEARCH_PV_MAX_NV) nv = ATTNSEARCH_PV_MAX_NV;
            switch (nv) {
            case 4: ATTNSEARCH_FN(pv_micro)(p_rows, ldp, group_keys, v + c0, ldv, o_rows + c0, ldo, corr + r, 4); break;
            case 3: ATTNSEARCH_FN(pv_micro)(p_rows, ldp, group_keys, v + c0, ldv, o_rows + c0, ldo, corr + r, 3); break;
            case 2: ATTNSEARCH_FN(pv_micro)(p_rows, ldp, group_keys, v + c0, ldv, o_rows + c0, ldo, corr + r, 2); break;
            default: ATTNSEARCH_FN(pv_micro)(p_rows, ldp, group_keys, v + c0, ldv, o_rows + c0, ldo, corr + r, 1); break;
            }
        }
    }
}

/* Largest of x[0:n] (-inf for n == 0). NaNs are skipped: a row whose result is
 * -inf must be checked with has_nan before being treated as fully masked. */
static T ATTNSEARCH_FN(row_max)(const T *x, int n)
{
    T m = -(T)__builtin_inf();
    int j = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    if (n >= 2 * VL) {
        V m0 = *(const V *)x, m1 = *(const V *)(x + VL);
        for (j = 2 * VL; j + 2 * VL <= n; j += 2 * VL) {
            V x0 = *(const V *)(x + j), x1 = *(const V *)(x + j + VL);
            m0 = ATTNSEARCH_SELECT(x0 > m0, x0, m0);
            m1 = ATTNSEARCH_SELECT(x1 > m1, x1, m1);
        }
        m0 = ATTNSEARCH_SELECT(m1 > m0, m1, m0);
        for (int lane = 0; lane < VL; lane++) m = m0[lane] > m ? m0[lane] : m;
    }
#endif
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* 1 if any of x[0:n] is NaN (the slow path of a row whose max is -inf). */
static int ATTNSEARCH_FN(has_nan)(const T *x, int n)
{
    for (int j = 0; j < n; j++)
        if (x[j] != x[j]) return 1;
    return 0;
}

/* x[j] = exp(x[j] - m) in place; returns the sum in double.
 * Four vector accumulators of T each sum at most ATTNSEARCH_EXP_SUM_CHUNK / (4 * VL)
 * terms per lane (8 for float32 on AVX-512) before being widened and added in
 * double, so T rounding touches only short partial sums of values in [0, 1]. */
#ifndef ATTNSEARCH_EXP_SUM_CHUNK
#define ATTNSEARCH_EXP_SUM_CHUNK 512
#endif
static double ATTNSEARCH_FN(exp_sum)(T *x, int n, T m)
{
    double sum = 0.0;
    int j = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    attnsearch_vf64 acc_lo = (attnsearch_vf64){0}, acc_hi = (attnsearch_vf64){0};
    while (j + 4 * VL <= n) {
        int chunk_end = j + ATTNSEARCH_EXP_SUM_CHUNK < n ? j + ATTNSEARCH_EXP_SUM_CHUNK : n;
        V s0 = (V){0}, s1 = (V){0}, s2 = (V){0}, s3 = (V){0};
        for (; j + 4 * VL <= chunk_end; j += 4 * VL) {
            V e0 = ATTNSEARCH_EXPFN_VEC_NONPOS(*(const V *)(x + j) - m);
            V e1 = ATTNSEARCH_EXPFN_VEC_NONPOS(*(const V *)(x + j + VL) - m);
            V e2 = ATTNSEARCH_EXPFN_VEC_NONPOS(*(const V *)(x + j + 2 * VL) - m);
            V e3 = ATTNSEARCH_EXPFN_VEC_NONPOS(*(const V *)(x + j + 3 * VL) - m);
            *(V *)(x + j) = e0;
            *(V *)(x + j + VL) = e1;
            *(V *)(x + j + 2 * VL) = e2;
            *(V *)(x + j + 3 * VL) = e3;
            s0 += e0;
            s1 += e1;
            s2 += e2;
            s3 += e3;
        }
        ATTNSEARCH_ACCUMULATE(&acc_lo, &acc_hi, s0);
        ATTNSEARCH_ACCUMULATE(&acc_lo, &acc_hi, s1);
        ATTNSEARCH_ACCUMULATE(&acc_lo, &acc_hi, s2);
        ATTNSEARCH_ACCUMULATE(&acc_lo, &acc_hi, s3);
    }
    for (; j + VL <= n; j += VL) {
        V e = ATTNSEARCH_EXPFN_VEC_NONPOS(*(const V *)(x + j) - m);
        *(V *)(x + j) = e;
        ATTNSEARCH_ACCUMULATE(&acc_lo, &acc_hi, e);
    }
    acc_lo += acc_hi;
    for (int lane = 0; lane < ATTNSEARCH_VL_F64; lane++) sum += acc_lo[lane];
#endif
    for (; j < n; j++) {
        T e = ATTNSEARCH_EXPFN(x[j] - m);
        x[j] = e;
        sum += (double)e;
    }
    return sum;
}

/* y[j] = exp(x[j]) with the vector form (scalar for the tail), for the tests. */
static void ATTNSEARCH_FN(exp_array)(const T *x, T *y, ptrdiff_t n)
{
    ptrdiff_t j = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
    for (; j + VL <= n; j += VL) *(V *)(y + j) = ATTNSEARCH_EXPFN_VEC(*(const V *)(x + j));
#endif
    for (; j < n; j++) y[j] = ATTNSEARCH_EXPFN(x[j]);
}

#undef T
#undef V
#undef VL
#undef NR
