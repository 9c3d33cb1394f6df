/* bfloat16 operands of the attention backward and of the layers' gradient GEMMs.
 *
 * The backward on the bfloat16 tiles (AVX512-BF16 targets) runs its five
 * products on the vdpbf16ps micro-kernels of attnsearch_reduced.h, with the
 * pair layouts described there. Besides those, it needs:
 *
 *   pack_t     the transposed pairs of a bfloat16 matrix: dst[c][jp] =
 *              (x[2jp][c], x[2jp+1][c]), i.e. x^T as the P operand of a
 *              pv/gemm tile whose sum runs over x's rows (K^T for dQ^T += K^T
 *              dS^T; X^T for the weight gradient X^T dY);
 *   round_t    a float32 tile rounded to bfloat16 twice over: as rows (the P
 *              operand: pairs of columns) and as pairs of rows (the V operand:
 *              dst[jp][c] = (t[2jp][c], t[2jp+1][c])), in one pass;
 *   row_dot    D[i] = sum_c dO[i][c] * O[i][c] of bfloat16 rows, in double.
 *
 * Plain C (bfloat16 widening is a shift): it compiles on every target, and
 * only the AVX512-BF16 variant calls it.
 */
#ifndef ATTNSEARCH_REDUCED_BACKWARD_H
#define ATTNSEARCH_REDUCED_BACKWARD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "attnsearch_reduced.h"

/* dst[c][jp] = (x[2jp][c], x[2jp+1][c]) for c < cols, jp < rows_pad / 2 (rows
 * from `rows` up read 0); rows cols..cols_pad of dst are 0. rows_pad is even. */
static void attnsearch_bwd_bf16_pack_t(const uint16_t *x, ptrdiff_t ldx, int rows, int rows_pad,
                                       int cols, int cols_pad, uint32_t *dst, ptrdiff_t ld_dst)
{
    int n_pairs = rows_pad / 2;
    int full_pairs = rows / 2 < n_pairs ? rows / 2 : n_pairs;
    /* Blocks of 16 columns keep the 16 destination rows being written in cache. */
    for (int c0 = 0; c0 < cols; c0 += 16) {
        int c1 = c0 + 16 < cols ? c0 + 16 : cols;
        for (int jp = 0; jp < full_pairs; jp++) {
            const uint16_t *even = x + (ptrdiff_t)(2 * jp) * ldx;
            const uint16_t *odd = even + ldx;
            for (int c = c0; c < c1; c++)
                dst[(ptrdiff_t)c * ld_dst + jp] = (uint32_t)even[c] | ((uint32_t)odd[c] << 16);
        }
    }
    /* The pair with the last row of an odd count, the pad pairs, the pad rows. */
    for (int c = 0; c < cols_pad; c++) {
        uint32_t *row = dst + (ptrdiff_t)c * ld_dst;
        int jp = full_pairs;
        if (c < cols && 2 * jp < rows && jp < n_pairs) row[jp++] = x[(ptrdiff_t)(2 * full_pairs) * ldx + c];
        if (c >= cols) jp = 0;
        for (; jp < n_pairs; jp++) row[jp] = 0;
    }
}

/* t (rows x cols float32, rows even, cols a multiple of 32) rounded to
 * bfloat16: rows16[r][c] and pairs[r/2][c] = (rows16[r][c], rows16[r+1][c]). */
static void attnsearch_bwd_bf16_round_t(const float *t, ptrdiff_t ldt, int rows, int cols,
                                        uint16_t *rows16, ptrdiff_t ld16, uint32_t *pairs,
                                        ptrdiff_t ldp)
{
    for (int r = 0; r < rows; r += 2) {
        uint16_t *even = rows16 + (ptrdiff_t)r * ld16;
        uint16_t *odd = even + ld16;
        attnsearch_bf16_p_row(t + (ptrdiff_t)r * ldt, cols, cols, even);
        attnsearch_bf16_p_row(t + (ptrdiff_t)(r + 1) * ldt, cols, cols, odd);
        uint32_t *dst = pairs + (ptrdiff_t)(r / 2) * ldp;
        for (int c = 0; c < cols; c++) dst[c] = (uint32_t)even[c] | ((uint32_t)odd[c] << 16);
    }
}

/* sum_c a[c] * b[c] of bfloat16 rows, exact products summed in double. */
static inline double attnsearch_bwd_bf16_row_dot(const uint16_t *a, const uint16_t *b, int n)
{
    double total = 0.0;
    for (int c = 0; c < n; c++)
        total += (double)attnsearch_bf16_to_float(a[c]) * (double)attnsearch_bf16_to_float(b[c]);
    return total;
}

#endif
