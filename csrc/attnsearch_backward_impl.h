/* Template body of attnsearch_backward.h, included once per dtype with
 * ATTNSEARCH_BWD_T (element), _V (vector), _VL (lanes), _SUFFIX, _EXP (scalar
 * exp) and _EXP_VEC (vector exp) defined. No include guard on purpose. */

#define T ATTNSEARCH_BWD_T
#define V ATTNSEARCH_BWD_V
#define VL ATTNSEARCH_BWD_VL

/* s[r][c] = exp((s[r][c] - shift[c]) - log_sum[c]) for rows x cols (cols a
 * multiple of VL). shift is the row log-sum-exp and log_sum 0, except for rows
 * whose lse is too large to hold log(row sum) in T: there shift is the row max.
 * Masked scores are -inf and give 0; a query column with shift = +inf (a query
 * that sees no key, or a pad column) gives 0 as well. */
static void ATTNSEARCH_BWD_FN(probs_t)(T *s, ptrdiff_t lds, int rows, int cols,
                                       const T *shift, const T *log_sum)
{
    for (int r = 0; r < rows; r++) {
        T *row = s + (ptrdiff_t)r * lds;
        int c = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
        for (; c + VL <= cols; c += VL)
            *(V *)(row + c) = ATTNSEARCH_BWD_EXP_VEC(
                (*(const V *)(row + c) - *(const V *)(shift + c)) - *(const V *)(log_sum + c));
#endif
        for (; c < cols; c++) row[c] = ATTNSEARCH_BWD_EXP((row[c] - shift[c]) - log_sum[c]);
    }
}

/* dp[r][c] = p[r][c] * (dp[r][c] - d[c]): the softmax backward, in place in dp. */
static void ATTNSEARCH_BWD_FN(dscores_t)(const T *p, T *dp, ptrdiff_t ld, int rows,
                                         int cols, const T *d)
{
    for (int r = 0; r < rows; r++) {
        const T *prow = p + (ptrdiff_t)r * ld;
        T *row = dp + (ptrdiff_t)r * ld;
        int c = 0;
#if ATTNSEARCH_HAVE_VECTOR_EXT
        for (; c + VL <= cols; c += VL)
            *(V *)(row + c) = *(const V *)(prow + c) * (*(const V *)(row + c) - *(const V *)(d + c));
#endif
        for (; c < cols; c++) row[c] = prow[c] * (row[c] - d[c]);
    }
}

/* kt[f][t] = scale * k[t][f] for f < dk, t < bk; kt is dk_pad x ldkt and the
 * pad rows f >= dk and pad columns bk <= t < ldkt are zero. */
static void ATTNSEARCH_BWD_FN(pack_kt)(const T *k, ptrdiff_t ldk, int bk, int dk,
                                       int dk_pad, T scale, T *kt, ptrdiff_t ldkt)
{
    memset(kt, 0, sizeof(T) * (size_t)dk_pad * (size_t)ldkt);
    /* Blocks of 8 keys: each key row is read once, 8 output rows written at a time. */
    for (int t0 = 0; t0 < bk; t0 += 8) {
        int t1 = t0 + 8 < bk ? t0 + 8 : bk;
        for (int t = t0; t < t1; t++) {
            const T *src = k + (ptrdiff_t)t * ldk;
            for (int f = 0; f < dk; f++) kt[(ptrdiff_t)f * ldkt + t] = src[f] * scale;
        }
    }
}

/* sum_c a[c] * b[c] over n terms, accumulated in double. The SIMD reduction
 * (-fopenmp-simd) fixes the summation order at compile time: the result does
 * not depend on the thread that computes it. */
static double ATTNSEARCH_BWD_FN(row_dot)(const T *a, const T *b, int n)
{
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < n; c++) sum += (double)a[c] * (double)b[c];
    return sum;
}

#undef T
#undef V
#undef VL
