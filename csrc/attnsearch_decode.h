/* Micro-kernels of the decode path: a few query rows against many keys.
 *
 * Generating one token attends 1-16 query rows (times the query heads of a
 * grouped-query group) to thousands of keys. The tiled kernels of
 * attnsearch_tiles.h are built for many rows: they pack K into panels (one
 * scalar store per element) and pad the rows to 12 (AVX-512) or 6, so with one
 * row they spend ~12x the needed multiply-adds plus a packing pass per key.
 * Here keys are read in place, row by row of K: each score is a dot product
 * accumulated in one vector per (row, key) and reduced across lanes once, and
 * the P V product broadcasts each probability over vectors of a V row. Both
 * loops touch each K and V element once per group of up to
 * ATTNSEARCH_DEC_MR query rows, so the kernels stream K and V at memory speed.
 *
 * Widths: d = 64 and d = 128 are compile-time constants (fully unrolled
 * inner loops); any other d takes the general path (vector part + scalar
 * tail). Row counts 1..ATTNSEARCH_DEC_MR are compile-time too; more rows run in
 * groups (the key block is then re-read from L1/L2, not from memory).
 *
 * Layouts (T = float or double, VL lanes per vector):
 *   q   rows x dk, row-major (contiguous rows), already multiplied by the scale
 *   k   nkeys rows of dk elements, row stride ldk (read in place)
 *   s   rows x lds scores / probabilities
 *   v   nkeys rows of dv elements, row stride ldv (read in place)
 *   o   rows x ldo accumulator; o = o * corr[r] + p v
 * Results do not depend on where the arrays sit or which thread runs them.
 */
#ifndef ATTNSEARCH_DECODE_H
#define ATTNSEARCH_DECODE_H

#include <stddef.h>
#include <string.h>
#include "attnsearch_simd.h"

/* Query rows per micro-kernel call. */
#define ATTNSEARCH_DEC_MR 4
/* Keys per iteration of the score kernel (independent accumulator chains). */
#define ATTNSEARCH_DEC_KU 2
/* Vectors of output columns per pass of the P V kernel (its accumulators are
 * rows x this; 4 x 4 of 32 registers, 4 x 2 of 16). */
#if ATTNSEARCH_NUM_VREGS >= 32
#define ATTNSEARCH_DEC_CV 4
#else
#define ATTNSEARCH_DEC_CV 2
#endif

#if ATTNSEARCH_HAVE_VECTOR_EXT
/* Half-width vectors for the lane reductions. */
typedef float attnsearch_dec_f32h __attribute__((vector_size(ATTNSEARCH_VBYTES / 2), aligned(4)));
typedef float attnsearch_dec_f32q __attribute__((vector_size(ATTNSEARCH_VBYTES / 4), aligned(4)));
typedef double attnsearch_dec_f64h __attribute__((vector_size(ATTNSEARCH_VBYTES / 2), aligned(8)));

/* Sum of the lanes in a fixed order (halves added until 4 / 2 lanes remain). */
ATTNSEARCH_ALWAYS_INLINE float attnsearch_dec_hsum_f32(attnsearch_vf32 x)
{
    attnsearch_dec_f32h lo, hi;
    memcpy(&lo, &x, sizeof lo);
    memcpy(&hi, (const char *)&x + sizeof lo, sizeof hi);
    lo += hi;
#if ATTNSEARCH_VBYTES >= 32
    attnsearch_dec_f32q a, b;
    memcpy(&a, &lo, sizeof a);
    memcpy(&b, (const char *)&lo + sizeof a, sizeof b);
    a += b;
#if ATTNSEARCH_VBYTES == 64
    return (a[0] + a[2]) + (a[1] + a[3]);
#else
    return a[0] + a[1];
#endif
#else
    return lo[0] + lo[1];
#endif
}

ATTNSEARCH_ALWAYS_INLINE double attnsearch_dec_hsum_f64(attnsearch_vf64 x)
{
    attnsearch_dec_f64h lo, hi;
    memcpy(&lo, &x, sizeof lo);
    memcpy(&hi, (const char *)&x + sizeof lo, sizeof hi);
    lo += hi;
    double total = 0.0;
    /* 4, 2 or 1 lanes left; add them pairwise in a fixed order. */
#if ATTNSEARCH_VBYTES == 64
    total = (lo[0] + lo[2]) + (lo[1] + lo[3]);
#elif ATTNSEARCH_VBYTES == 32
    total = lo[0] + lo[1];
#else
    total = lo[0];
#endif
    return total;
}
#endif

/* ---- the dtype template, instantiated below for float and double ---- */

#define ATTNSEARCH_DEC_CAT_(a, b) a##_##b
#define ATTNSEARCH_DEC_CAT(a, b) ATTNSEARCH_DEC_CAT_(a, b)
#define ATTNSEARCH_DEC_FN(name) ATTNSEARCH_DEC_CAT(attnsearch_##name, ATTNSEARCH_DEC_SUFFIX)

#define ATTNSEARCH_DEC_T float
#define ATTNSEARCH_DEC_V attnsearch_vf32
#define ATTNSEARCH_DEC_SUFFIX f32
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f32
#include "attnsearch_decode_impl.h"
#undef ATTNSEARCH_DEC_T
#undef ATTNSEARCH_DEC_V
#undef ATTNSEARCH_DEC_SUFFIX
#undef ATTNSEARCH_DEC_VL
#undef ATTNSEARCH_DEC_HSUM

#define ATTNSEARCH_DEC_T double
#define ATTNSEARCH_DEC_V attnsearch_vf64
#define ATTNSEARCH_DEC_SUFFIX f64
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F64
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f64
#include "attnsearch_decode_impl.h"
#undef ATTNSEARCH_DEC_T
#undef ATTNSEARCH_DEC_V
#undef ATTNSEARCH_DEC_SUFFIX
#undef ATTNSEARCH_DEC_VL
#undef ATTNSEARCH_DEC_HSUM

#endif
