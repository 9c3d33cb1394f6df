/* Vectorisable exp for float32 and float64, scalar and vector forms.
 *
 * Why: softmax needs n_q * n_k exponentials per head against 4 * n_q * n_k * d
 * flops of GEMM; a scalar libm call per element costs more than both GEMMs.
 *
 * Method (Cody-Waite range reduction, as Cephes): x = n*ln2 + r, |r| <= ln2/2,
 * n = round(x*log2(e)) taken with the 1.5*2^p "magic number" addition (exact in
 * round-to-nearest, no conversion instruction needed); exp(x) = 2^n * p(r), with
 * 2^n written straight into the exponent bits.
 *   float32: Cephes expf polynomial (degree 7 in r, the last two terms exact).
 *   float64: Taylor polynomial of degree 13 in r.
 * The scalar and vector forms do the same operations in the same order.
 *
 * Accuracy (tests/test_fast_exp.py checks it against np.exp, sweeping every
 * float32 in the range and 10^7 float64 points):
 *   float32: max relative error < 2^-23 (about 1.2e-7, i.e. within 1 ulp) for
 *            x in [-87.33, 88.37]; measured 8.5e-8.
 *   float64: max relative error < 2^-52 (about 2.2e-16, within 1 ulp) for
 *            x in [-708.39, 709.08]; measured 1.6e-16.
 * Outside that range: results that would be subnormal are flushed to +0.0
 * (absolute error below 1.2e-38 / 2.3e-308, harmless for softmax weights and
 * acceptance probabilities), x above the range gives +inf, exp(-inf) = 0,
 * exp(+inf) = +inf and NaN gives NaN. Callers in this package only pass
 * x <= 0 (scores minus their row maximum, or -delta/T).
 * No -ffast-math is needed or wanted: IEEE semantics are kept.
 */
#ifndef ATTNSEARCH_EXP_H
#define ATTNSEARCH_EXP_H

#include <stdint.h>
#include <string.h>
#include "attnsearch_simd.h"

#define ATTNSEARCH_EXPF_LO (-87.33654f)   /* ln(FLT_MIN): below, flush to 0 */
#define ATTNSEARCH_EXPF_HI (88.37626f)    /* 2^127 * p(r) stays finite */
#define ATTNSEARCH_EXP_LO (-708.3964185322641) /* ln(DBL_MIN) */
#define ATTNSEARCH_EXP_HI (709.0895657128241)  /* 2^1023 * p(r) stays finite */
#define ATTNSEARCH_EXPF_MAGIC 12582912.0f               /* 1.5 * 2^23 */
#define ATTNSEARCH_EXP_MAGIC 6755399441055744.0         /* 1.5 * 2^52 */

/* Polynomial steps shared by the scalar and vector forms (
 * `zero` is 0 of the scalar or vector type, to splat the first coefficient). */
#define ATTNSEARCH_EXPF_BODY(xc, t, n, r, p, zero)                                    \
    t = (xc) * 1.44269504088896341f + ATTNSEARCH_EXPF_MAGIC;                    \
    n = t - ATTNSEARCH_EXPF_MAGIC;                                              \
    r = (xc) - n * 0.693359375f;                                                \
    r = r - n * -2.12194440e-4f;                                                \
    p = (zero) + 1.9875691500e-4f;                                            \
    p = p * r + 1.3981999507e-3f;                                               \
    p = p * r + 8.3334519073e-3f;                                               \
    p = p * r + 4.1665795894e-2f;                                               \
    p = p * r + 1.6666665459e-1f;                                               \
    p = p * r + 5.0000001201e-1f;                                               \
    p = p * (r * r) + r + 1.0f;

#define ATTNSEARCH_EXP_BODY(xc, t, n, r, p, zero)                                     \
    t = (xc) * 1.4426950408889634074 + ATTNSEARCH_EXP_MAGIC;                    \
    n = t - ATTNSEARCH_EXP_MAGIC;                                               \
    r = (xc) - n * 6.93145751953125e-1;                                         \
    r = r - n * 1.42860682030941723212e-6;                                      \
    p = (zero) + 1.0 / 6227020800.0;                                         \
    p = p * r + 1.0 / 479001600.0;                                              \
    p = p * r + 1.0 / 39916800.0;                                               \
    p = p * r + 1.0 / 3628800.0;                                                \
    p = p * r + 1.0 / 362880.0;                                                 \
    p = p * r + 1.0 / 40320.0;                                                  \
    p = p * r + 1.0 / 5040.0;                                                   \
    p = p * r + 1.0 / 720.0;                                                    \
    p = p * r + 1.0 / 120.0;                                                    \
    p = p * r + 1.0 / 24.0;                                                     \
    p = p * r + 1.0 / 6.0;                                                      \
    p = p * r + 0.5;                                                            \
    p = p * (r * r) + r + 1.0;

static inline float attnsearch_expf(float x)
{
    /* No input clamp: out-of-range lanes compute garbage that the two selects at
     * the end replace; comparisons are false for NaN, so a NaN passes through. */
    float t, n, r, p;
    ATTNSEARCH_EXPF_BODY(x, t, n, r, p, 0.0f)
    int32_t t_bits, magic_bits;
    const float magic = ATTNSEARCH_EXPF_MAGIC;
    memcpy(&t_bits, &t, sizeof t);
    memcpy(&magic_bits, &magic, sizeof magic);
    int32_t bits = (int32_t)((uint32_t)(t_bits - magic_bits + 127) << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x < ATTNSEARCH_EXPF_LO ? 0.0f : y;
    y = x > ATTNSEARCH_EXPF_HI ? __builtin_inff() : y;
    return y;
}

static inline double attnsearch_exp(double x)
{
    double t, n, r, p;
    ATTNSEARCH_EXP_BODY(x, t, n, r, p, 0.0)
    int64_t t_bits, magic_bits;
    const double magic = ATTNSEARCH_EXP_MAGIC;
    memcpy(&t_bits, &t, sizeof t);
    memcpy(&magic_bits, &magic, sizeof magic);
    int64_t bits = (int64_t)((uint64_t)(t_bits - magic_bits + 1023) << 52);
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double y = p * scale;
    y = x < ATTNSEARCH_EXP_LO ? 0.0 : y;
    y = x > ATTNSEARCH_EXP_HI ? __builtin_inf() : y;
    return y;
}

#if ATTNSEARCH_HAVE_VECTOR_EXT
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_expf_vec(attnsearch_vf32 x)
{
    const attnsearch_vf32 lo = (attnsearch_vf32){0} + ATTNSEARCH_EXPF_LO;
    const attnsearch_vf32 hi = (attnsearch_vf32){0} + ATTNSEARCH_EXPF_HI;
    const attnsearch_vf32 magic = (attnsearch_vf32){0} + ATTNSEARCH_EXPF_MAGIC;
    attnsearch_vi32 below = x < lo, above = x > hi;
    attnsearch_vf32 t, n, r, p;
    ATTNSEARCH_EXPF_BODY(x, t, n, r, p, (attnsearch_vf32){0})
    attnsearch_vi32 bits = ((attnsearch_vi32)t - (attnsearch_vi32)magic + 127) << 23;
    attnsearch_vf32 y = p * (attnsearch_vf32)bits;
    y = attnsearch_select_f32(below, (attnsearch_vf32){0}, y);
    return attnsearch_select_f32(above, (attnsearch_vf32){0} + __builtin_inff(), y);
}

ATTNSEARCH_ALWAYS_INLINE attnsearch_vf64 attnsearch_exp_vec(attnsearch_vf64 x)
{
    const attnsearch_vf64 lo = (attnsearch_vf64){0} + ATTNSEARCH_EXP_LO;
    const attnsearch_vf64 hi = (attnsearch_vf64){0} + ATTNSEARCH_EXP_HI;
    const attnsearch_vf64 magic = (attnsearch_vf64){0} + ATTNSEARCH_EXP_MAGIC;
    attnsearch_vi64 below = x < lo, above = x > hi;
    attnsearch_vf64 t, n, r, p;
    ATTNSEARCH_EXP_BODY(x, t, n, r, p, (attnsearch_vf64){0})
    attnsearch_vi64 bits = ((attnsearch_vi64)t - (attnsearch_vi64)magic + 1023) << 52;
    attnsearch_vf64 y = p * (attnsearch_vf64)bits;
    y = attnsearch_select_f64(below, (attnsearch_vf64){0}, y);
    return attnsearch_select_f64(above, (attnsearch_vf64){0} + __builtin_inf(), y);
}

/* exp(x) for x <= 0, -inf or NaN (softmax arguments x - max, acceptance
 * exponents -delta/T): the same lanes as the general form, without the
 * overflow branch; below-range lanes are cleared with one and-not. */
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_expf_vec_nonpos(attnsearch_vf32 x)
{
    const attnsearch_vf32 lo = (attnsearch_vf32){0} + ATTNSEARCH_EXPF_LO;
    const attnsearch_vf32 magic = (attnsearch_vf32){0} + ATTNSEARCH_EXPF_MAGIC;
    attnsearch_vi32 below = x < lo;
    attnsearch_vf32 t, n, r, p;
    ATTNSEARCH_EXPF_BODY(x, t, n, r, p, (attnsearch_vf32){0})
    attnsearch_vi32 bits = ((attnsearch_vi32)t - (attnsearch_vi32)magic + 127) << 23;
    attnsearch_vf32 y = p * (attnsearch_vf32)bits;
    return (attnsearch_vf32)(~below & (attnsearch_vi32)y);
}

ATTNSEARCH_ALWAYS_INLINE attnsearch_vf64 attnsearch_exp_vec_nonpos(attnsearch_vf64 x)
{
    const attnsearch_vf64 lo = (attnsearch_vf64){0} + ATTNSEARCH_EXP_LO;
    const attnsearch_vf64 magic = (attnsearch_vf64){0} + ATTNSEARCH_EXP_MAGIC;
    attnsearch_vi64 below = x < lo;
    attnsearch_vf64 t, n, r, p;
    ATTNSEARCH_EXP_BODY(x, t, n, r, p, (attnsearch_vf64){0})
    attnsearch_vi64 bits = ((attnsearch_vi64)t - (attnsearch_vi64)magic + 1023) << 52;
    attnsearch_vf64 y = p * (attnsearch_vf64)bits;
    return (attnsearch_vf64)(~below & (attnsearch_vi64)y);
}
#endif

#endif
