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
#include <stdint.h>
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

/* Transposing lane reduction: VL accumulators (vectors of VL lanes) become one
 * vector whose lane i is the sum of accumulator i's lanes, in log2(VL) levels
 * of two-input shuffles and adds (VL - 1 shuffle pairs in all, against VL full
 * horizontal sums). Level g pairs vectors holding groups of g lanes per
 * accumulator and halves the groups; the addition order is fixed. */
#if ATTNSEARCH_HAVE_VECTOR_EXT && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define ATTNSEARCH_DEC_TREE 1
#endif
#endif
#ifndef ATTNSEARCH_DEC_TREE
#define ATTNSEARCH_DEC_TREE 0
#endif
#define ATTNSEARCH_DEC_SHUF(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#define ATTNSEARCH_DEC_LO16_16 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define ATTNSEARCH_DEC_HI16_16 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define ATTNSEARCH_DEC_LO16_8 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27
#define ATTNSEARCH_DEC_HI16_8 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31
#define ATTNSEARCH_DEC_LO16_4 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29
#define ATTNSEARCH_DEC_HI16_4 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31
#define ATTNSEARCH_DEC_LO16_2 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ATTNSEARCH_DEC_HI16_2 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define ATTNSEARCH_DEC_LO8_8 0, 1, 2, 3, 8, 9, 10, 11
#define ATTNSEARCH_DEC_HI8_8 4, 5, 6, 7, 12, 13, 14, 15
#define ATTNSEARCH_DEC_LO8_4 0, 1, 4, 5, 8, 9, 12, 13
#define ATTNSEARCH_DEC_HI8_4 2, 3, 6, 7, 10, 11, 14, 15
#define ATTNSEARCH_DEC_LO8_2 0, 2, 4, 6, 8, 10, 12, 14
#define ATTNSEARCH_DEC_HI8_2 1, 3, 5, 7, 9, 11, 13, 15
#define ATTNSEARCH_DEC_LO4_4 0, 1, 4, 5
#define ATTNSEARCH_DEC_HI4_4 2, 3, 6, 7
#define ATTNSEARCH_DEC_LO4_2 0, 2, 4, 6
#define ATTNSEARCH_DEC_HI4_2 1, 3, 5, 7
#define ATTNSEARCH_DEC_LO2_2 0, 2
#define ATTNSEARCH_DEC_HI2_2 1, 3
/* One level: pairs acc[2i], acc[2i + 1] into out[i]. */
#define ATTNSEARCH_DEC_LEVEL(out, acc, n, LO, HI)                                        \
    for (int i_ = 0; i_ < (n); i_++)                                                    \
        out[i_] = ATTNSEARCH_DEC_SHUF(acc[2 * i_], acc[2 * i_ + 1], LO) +                 \
                  ATTNSEARCH_DEC_SHUF(acc[2 * i_], acc[2 * i_ + 1], HI);

/* Ask for `lines` cache lines of rows j0 .. j0 + n - 1 of a stream (pf: NULL
 * for none, row stride ld bytes). */
#ifndef ATTNSEARCH_DEC_PF_LOCALITY
#define ATTNSEARCH_DEC_PF_LOCALITY 3
#endif
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_prefetch_rows(const char *pf, ptrdiff_t ld, int lines,
                                                           int j0, int n)
{
    if (pf == NULL) return;
    for (int u = 0; u < n; u++)
        for (int l = 0; l < lines; l++)
            __builtin_prefetch(pf + (ptrdiff_t)(j0 + u) * ld + 64 * l, 0, ATTNSEARCH_DEC_PF_LOCALITY);
}

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

#define ATTNSEARCH_DEC_T double
#define ATTNSEARCH_DEC_V attnsearch_vf64
#define ATTNSEARCH_DEC_SUFFIX f64
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F64
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f64
#include "attnsearch_decode_impl.h"

/* bfloat16 keys and values (a KV cache in bfloat16) read in place: each loaded
 * vector of VL bfloat16 is widened in registers (a zero-extension and a shift:
 * exact), so the float32 score and P V kernels read half the bytes and no
 * widened copy is written. Only those two kernels are instantiated. */
#if ATTNSEARCH_HAVE_VECTOR_EXT
#if defined(__SSE2__)
#include <immintrin.h>
#endif

/* One x86 instruction pair per vector: zero-extend 16-bit lanes to 32 (with
 * the load folded in) and shift them up (SSE2: interleave with zeros). */
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_dec_load_bf16(const uint16_t *p)
{
    attnsearch_vf32 x;
#if ATTNSEARCH_VBYTES == 64 && defined(__AVX512F__)
    __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16);
#elif ATTNSEARCH_VBYTES == 32 && defined(__AVX2__)
    __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16);
#elif ATTNSEARCH_VBYTES == 16 && defined(__SSE2__)
    __m128i w = _mm_unpacklo_epi16(_mm_setzero_si128(), _mm_loadl_epi64((const __m128i *)p));
#else
    typedef uint16_t u16v __attribute__((vector_size(ATTNSEARCH_VBYTES / 2), aligned(2)));
    typedef uint32_t u32v __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(4)));
    u16v h;
    memcpy(&h, p, sizeof h);
    u32v w = __builtin_convertvector(h, u32v) << 16;
#endif
    memcpy(&x, &w, sizeof x);
    return x;
}
#endif

ATTNSEARCH_ALWAYS_INLINE float attnsearch_dec_load_bf16_scalar(const uint16_t *p)
{
    uint32_t bits = (uint32_t)*p << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

#define ATTNSEARCH_DEC_T float
#define ATTNSEARCH_DEC_V attnsearch_vf32
#define ATTNSEARCH_DEC_SUFFIX bf16
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f32
#define ATTNSEARCH_DEC_KT uint16_t
#define ATTNSEARCH_DEC_LOADV(p) attnsearch_dec_load_bf16(p)
#define ATTNSEARCH_DEC_LOADS(p) attnsearch_dec_load_bf16_scalar(p)
#define ATTNSEARCH_DEC_KV_ONLY 1
#include "attnsearch_decode_impl.h"

/* float16 keys and values read in place likewise, where the target converts
 * float16 vectors (F16C, AVX-512): vcvtph2ps on each load, exact. */
#if ATTNSEARCH_HAVE_VECTOR_EXT && (defined(__F16C__) || defined(__AVX512F__))
#include <immintrin.h>
#define ATTNSEARCH_DEC_HAVE_F16 1

ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_dec_load_f16(const uint16_t *p)
{
    attnsearch_vf32 x;
#if ATTNSEARCH_VBYTES == 64
    __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#elif ATTNSEARCH_VBYTES == 32
    __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#else
    __m128 w = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p));
#endif
    memcpy(&x, &w, sizeof x);
    return x;
}

ATTNSEARCH_ALWAYS_INLINE float attnsearch_dec_load_f16_scalar(const uint16_t *p)
{
    return _cvtsh_ss(*p);
}

#define ATTNSEARCH_DEC_T float
#define ATTNSEARCH_DEC_V attnsearch_vf32
#define ATTNSEARCH_DEC_SUFFIX f16
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f32
#define ATTNSEARCH_DEC_KT uint16_t
#define ATTNSEARCH_DEC_LOADV(p) attnsearch_dec_load_f16(p)
#define ATTNSEARCH_DEC_LOADS(p) attnsearch_dec_load_f16_scalar(p)
#define ATTNSEARCH_DEC_KV_ONLY 1
#include "attnsearch_decode_impl.h"
#else
#define ATTNSEARCH_DEC_HAVE_F16 0
/* Never called (ATTNSEARCH_DEC_HAVE_F16 is 0): float16 rows take the tile. */
static void attnsearch_dec_qk_f16(const float *q, int rows, int dk, const uint16_t *k,
                                  ptrdiff_t ldk, int nkeys, float *s, ptrdiff_t lds,
                                  const char *pf, ptrdiff_t pf_ld, int pf_lines, int pf_rows)
{
    (void)q; (void)rows; (void)dk; (void)k; (void)ldk; (void)nkeys; (void)s; (void)lds;
    (void)pf; (void)pf_ld; (void)pf_lines; (void)pf_rows;
}
static void attnsearch_dec_pv_f16(const float *p, ptrdiff_t ldp, int rows, int nkeys,
                                  const uint16_t *v, ptrdiff_t ldv, int dv, float *o,
                                  ptrdiff_t ldo, const float *corr, const char *pf,
                                  ptrdiff_t pf_ld, int pf_lines, int pf_rows)
{
    (void)p; (void)ldp; (void)rows; (void)nkeys; (void)v; (void)ldv; (void)dv; (void)o;
    (void)ldo; (void)corr; (void)pf; (void)pf_ld; (void)pf_lines; (void)pf_rows;
}
#endif
/* int8 keys and values (symmetric, one float32 scale per G elements of a row)
 * read in place too: each loaded vector of VL int8 is sign-extended and
 * converted (exact), then multiplied by its group's scale in registers, so a
 * float32 call reads the stored bytes and scales and no widened copy. */
#if ATTNSEARCH_HAVE_VECTOR_EXT
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_dec_load_i8(const int8_t *p)
{
    attnsearch_vf32 x;
#if ATTNSEARCH_VBYTES == 64 && defined(__AVX512F__)
    __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
#elif ATTNSEARCH_VBYTES == 32 && defined(__AVX2__)
    __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
#elif ATTNSEARCH_VBYTES == 16 && defined(__SSE2__)
    /* SSE2 has no sign extension: each byte goes to the top of its lane and is
     * shifted down arithmetically. */
    int32_t four;
    memcpy(&four, p, sizeof four);
    __m128i b = _mm_cvtsi32_si128(four);
    b = _mm_unpacklo_epi8(b, b);
    b = _mm_unpacklo_epi16(b, b);
    __m128 w = _mm_cvtepi32_ps(_mm_srai_epi32(b, 24));
#else
    typedef int8_t i8v __attribute__((vector_size(ATTNSEARCH_VBYTES / 4), aligned(1)));
    typedef int32_t i32v __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(4)));
    i8v h;
    memcpy(&h, p, sizeof h);
    attnsearch_vf32 w = __builtin_convertvector(__builtin_convertvector(h, i32v), attnsearch_vf32);
#endif
    memcpy(&x, &w, sizeof x);
    return x;
}
#endif

#define ATTNSEARCH_DEC_T float
#define ATTNSEARCH_DEC_V attnsearch_vf32
#define ATTNSEARCH_DEC_SUFFIX i8
#define ATTNSEARCH_DEC_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_DEC_HSUM attnsearch_dec_hsum_f32
#define ATTNSEARCH_DEC_KT int8_t
#define ATTNSEARCH_DEC_LOADV(p) attnsearch_dec_load_i8(p)
#define ATTNSEARCH_DEC_LOADS(p) ((float)*(p))
#define ATTNSEARCH_DEC_KV_ONLY 1
#define ATTNSEARCH_DEC_SCALED 1
#include "attnsearch_decode_impl.h"


/* ---- int8 scores by integer dot products (AVX512-VNNI vpdpbusd) ----
 *
 * The float path above spends, per key and kv head at d = 128, 8 widenings
 * (sign extension, convert, scale) and 8 FMAs per query row on the scores.
 * Here the query rows are quantised once per task as the cache quantises its
 * rows (per group of 32: scale = max|x| / 127, rint(x / scale), NumPy's
 * _kv_formats.quantize_int8), and each group's dot product is exact in int32:
 * vpdpbusd multiplies 64 unsigned by 64 signed bytes and adds each 4 adjacent
 * products into a 32-bit lane, so lanes 0-7 of a 64-element vector hold the
 * partial dots of its first group of 32 and lanes 8-15 of its second.
 * vpdpbusd wants one operand unsigned: the key bytes are flipped (k ^ 0x80 =
 * k + 128, one xor per key vector, shared by the rows) and each lane's
 * accumulator starts at -128 * (its 4 query bytes' sum), computed once per
 * call. Per key and row a 64-element vector then costs one vpdpbusd, one
 * convert and one multiply-add by the lane scales (q's group scale times k's),
 * and the lanes are summed by the float path's transposing reduction.
 *
 * Every score is computed by the same operations in the same order wherever
 * its key sits in a block (a short tail repeats its last key to fill the
 * reduction), so paged and contiguous caches give the same bits. */
#if ATTNSEARCH_HAVE_VECTOR_EXT && ATTNSEARCH_VBYTES == 64 && defined(__AVX512VNNI__) && \
    defined(__AVX512BW__) && defined(__AVX512DQ__) && ATTNSEARCH_DEC_TREE
#define ATTNSEARCH_DEC_HAVE_VNNI 1
#include <math.h>

/* q (rows x d, d a multiple of 64) quantised: qi rows x d int8; per row and
 * 64-element vector c, 16 lane scales at qs[(r * d / 64 + c) * 16] (lane l:
 * the scale of group 2c + l / 8) and 16 int32 corrections at qc (the same
 * index; lane l: -128 * the sum of qi[64c + 4l .. 64c + 4l + 3]). A NaN or
 * infinite element makes its group's scale NaN or infinite and its bytes 0,
 * so the group's scores are NaN (as the float path's would be non-finite). */
static void attnsearch_dec_quantize_q(const float *q, int rows, int d, int8_t *qi, float *qs,
                                      int32_t *qc)
{
    const int nv = d / 64;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < 2 * nv; g++) {
            const float *x = q + (ptrdiff_t)r * d + 32 * g;
            int8_t *dst = qi + (ptrdiff_t)r * d + 32 * g;
            float top = 0.0f;
            for (int t = 0; t < 32; t++) {
                const float a = fabsf(x[t]);
                if (!(a <= top)) top = a; /* a NaN wins */
            }
            const float scale = top / 127.0f;
            const int usable = scale > 0.0f && scale <= 3.4e38f;
            int32_t quad = 0;
            for (int t = 0; t < 32; t++) {
                float v = usable ? nearbyintf(x[t] / scale) : 0.0f;
                v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
                dst[t] = (int8_t)v;
                quad += dst[t];
                if (t % 4 == 3) {
                    qc[((ptrdiff_t)r * nv + g / 2) * 16 + (g % 2) * 8 + t / 4] = -128 * quad;
                    quad = 0;
                }
            }
            for (int l = 0; l < 8; l++) qs[((ptrdiff_t)r * nv + g / 2) * 16 + (g % 2) * 8 + l] = scale;
        }
}

/* k's lane scales for 64-element vector c of a row (scales ks, G per scale). */
ATTNSEARCH_ALWAYS_INLINE __m512 attnsearch_dec_vnni_kscale(const float *ks, int c, const int G)
{
    const int g0 = (64 * c) / G, g1 = (64 * c + 32) / G;
    if (g0 == g1) return _mm512_set1_ps(ks[g0]);
    return _mm512_insertf32x8(_mm512_set1_ps(ks[g0]), _mm256_set1_ps(ks[g1]), 1);
}

/* The score accumulator of one row and key over the head dimension (vectors
 * of 64 elements; `kb`: the key's flipped bytes, `ksv`: its lane scales). */
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_dec_vnni_dot(const int8_t *qi, const float *qs,
                                                                const int32_t *qc, const __m512i *kb,
                                                                const __m512 *ksv, const int nv)
{
    __m512 t = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int c = 0; c < nv; c++) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_loadu_si512((const void *)(qc + 16 * c)), kb[c],
                                                _mm512_loadu_si512((const void *)(qi + 64 * c)));
        const __m512 lane_scale = _mm512_mul_ps(_mm512_loadu_ps(qs + 16 * c), ksv[c]);
        t = c == 0 ? _mm512_mul_ps(_mm512_cvtepi32_ps(dot), lane_scale)
                   : _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), lane_scale, t);
    }
    attnsearch_vf32 x;
    memcpy(&x, &t, sizeof x);
    return x;
}

/* Scores of RU (1, 2, 4) rows x the nk <= 16 / RU keys from key j on. The
 * accumulators of two consecutive keys are paired (the first level of
 * attnsearch_dec_transpose_sum_f32, the same shuffles and adds) as soon as
 * both are done, so at most 8 + 2 RU of them are live. */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_vnni_tree(const int8_t *qi, const float *qs,
                                                      const int32_t *qc, int dk, const int8_t *k,
                                                      ptrdiff_t ldk, int j, int nk, float *s,
                                                      ptrdiff_t lds, const float *ks,
                                                      ptrdiff_t ldks, const char *pf,
                                                      ptrdiff_t pf_ld, int pf_lines, int pf_rows,
                                                      const int RU, const int D, const int G)
{
    typedef attnsearch_vf32 V;
    const int d = D > 0 ? D : dk;
    const int nv = d / 64;
    const int ku = 16 / RU;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    V a[8], b[4], c2[2], e[1];
    if (j < pf_rows) attnsearch_dec_prefetch_rows(pf, pf_ld, pf_lines, j, j + nk < pf_rows ? nk : pf_rows - j);
#pragma GCC unroll 8
    for (int m = 0; m < ku / 2; m++) {
        V pair[4][2];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const int u = 2 * m + h;
            const ptrdiff_t key = j + (u < nk ? u : nk - 1); /* a short tail repeats its last key */
            __m512i kb[4];
            __m512 ksv[4];
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++) {
                kb[c] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(k + key * ldk + 64 * c)), flip);
                ksv[c] = attnsearch_dec_vnni_kscale(ks + key * ldks, c, G);
            }
#pragma GCC unroll 4
            for (int r = 0; r < RU; r++)
                pair[r][h] = attnsearch_dec_vnni_dot(qi + (ptrdiff_t)r * d, qs + (ptrdiff_t)r * nv * 16,
                                                     qc + (ptrdiff_t)r * nv * 16, kb, ksv, nv);
        }
#pragma GCC unroll 4
        for (int r = 0; r < RU; r++)
            a[r * ku / 2 + m] = ATTNSEARCH_DEC_SHUF(pair[r][0], pair[r][1], ATTNSEARCH_DEC_LO16_16) +
                                ATTNSEARCH_DEC_SHUF(pair[r][0], pair[r][1], ATTNSEARCH_DEC_HI16_16);
    }
    ATTNSEARCH_DEC_LEVEL(b, a, 4, ATTNSEARCH_DEC_LO16_8, ATTNSEARCH_DEC_HI16_8)
    ATTNSEARCH_DEC_LEVEL(c2, b, 2, ATTNSEARCH_DEC_LO16_4, ATTNSEARCH_DEC_HI16_4)
    ATTNSEARCH_DEC_LEVEL(e, c2, 1, ATTNSEARCH_DEC_LO16_2, ATTNSEARCH_DEC_HI16_2)
    float lanes[16];
    memcpy(lanes, &e[0], sizeof lanes);
#pragma GCC unroll 4
    for (int r = 0; r < RU; r++) memcpy(s + (ptrdiff_t)r * lds + j, lanes + r * ku, sizeof(float) * nk);
}

/* The int8 kernels' entries instantiate their body per compile-time row width
 * (64, 128, or 0: any) and scale group (32, 64, or 1 << 24: one per row):
 * BODY(width, group) in the branch that matches (dim, group). */
#define ATTNSEARCH_DEC_BY_GROUP(BODY, D)                                                       \
    if (group == 32) {                                                                         \
        BODY(D, 32)                                                                            \
    } else if (group == 64) {                                                                  \
        BODY(D, 64)                                                                            \
    } else {                                                                                   \
        BODY(D, 1 << 24)                                                                       \
    }
#define ATTNSEARCH_DEC_BY_WIDTH_GROUP(BODY, dim)                                               \
    if ((dim) == 64) {                                                                         \
        ATTNSEARCH_DEC_BY_GROUP(BODY, 64)                                                      \
    } else if ((dim) == 128) {                                                                 \
        ATTNSEARCH_DEC_BY_GROUP(BODY, 128)                                                     \
    } else {                                                                                   \
        ATTNSEARCH_DEC_BY_GROUP(BODY, 0)                                                       \
    }

/* The scores of `rows` rows (groups of 4, 2, 1) by attnsearch_dec_vnni_tree. */
static void attnsearch_dec_qk_i8_vnni_trees(const int8_t *qi, const float *qs, const int32_t *qc,
                                            int rows, int dk, const int8_t *k, ptrdiff_t ldk,
                                            int nkeys, float *s, ptrdiff_t lds, const float *ks,
                                            ptrdiff_t ldks, int group, const char *pf,
                                            ptrdiff_t pf_ld, int pf_lines, int pf_rows)
{
    const int nv = dk / 64;
    int r0 = 0;
    while (r0 < rows) {
        if (r0 > 0) pf = NULL;
        const int n = rows - r0 >= 4 ? 4 : (rows - r0 >= 2 ? 2 : 1);
        const int8_t *qir = qi + (ptrdiff_t)r0 * dk;
        const float *qsr = qs + (ptrdiff_t)r0 * nv * 16;
        const int32_t *qcr = qc + (ptrdiff_t)r0 * nv * 16;
        float *sr = s + (ptrdiff_t)r0 * lds;
        const int ku = 16 / n;
#define ATTNSEARCH_DEC_VNNI_KEYS(RU, D, G_)                                                  \
    for (int j = 0; j < nkeys; j += ku)                                                     \
        attnsearch_dec_vnni_tree(qir, qsr, qcr, dk, k, ldk, j, nkeys - j < ku ? nkeys - j : ku, \
                                 sr, lds, ks, ldks, pf, pf_ld, pf_lines, pf_rows, RU, D, G_);
#define ATTNSEARCH_DEC_VNNI_ROWS(D, G_)                                                     \
    switch (n) {                                                                            \
    case 1: ATTNSEARCH_DEC_VNNI_KEYS(1, D, G_) break;                                       \
    case 2: ATTNSEARCH_DEC_VNNI_KEYS(2, D, G_) break;                                       \
    default: ATTNSEARCH_DEC_VNNI_KEYS(4, D, G_) break;                                      \
    }
        ATTNSEARCH_DEC_BY_WIDTH_GROUP(ATTNSEARCH_DEC_VNNI_ROWS, dk)
#undef ATTNSEARCH_DEC_VNNI_KEYS
#undef ATTNSEARCH_DEC_VNNI_ROWS
        r0 += n;
    }
}

/* ---- int8 P V by integer dot products over key pairs (AVX512-VNNI vpdpwssd) ----
 *
 * The float P V kernel spends, per key and kv head at d = 128, 8 widenings
 * (sign extension, convert, scale) and 8 FMAs per query row. Here the
 * probabilities times the values' group scales, p'[r][j][g] = p[r][j] *
 * vs[j][g], are quantised to int16 once per block of at most
 * ATTNSEARCH_DEC_PV_KB keys, per (row, group): with pmax the block's largest
 * |p| of the row and vmax the block's largest scale of the group,
 *   top = pmax * vmax, scale = top / 32767, q = rint(p' * (32767 / top))
 * (every product float32, rounded; p' <= top so |q| <= 32767). The int8 V
 * rows of keys j and j + 1 are sign-extended to int16 and interleaved
 * (vpunpck{l,h}wd), so one vpdpwssd per 16 dims and row adds
 * v[j][i] q[j] + v[j+1][i] q[j+1] into an int32 lane, exactly (a block of 128
 * keys sums at most 64 * 2 * 127 * 32767 < 2^31); the q pair is one
 * embedded-broadcast dword. Once per block each lane is converted and
 * multiply-added by its (row, group) scale into the float output, and the
 * interleave's permutation of the dims undone (vpermt2ps). Per key pair and
 * 64 dims: 4 sign extensions and 4 unpacks shared by the rows, 4 vpdpwssd per
 * row. An odd last key pairs with itself, with q 0. NaN probabilities make
 * their row's scales NaN (so its outputs are NaN, as the float path's). */
#define ATTNSEARCH_DEC_PV_KB 128

/* acc += the pairwise products of the int16 of x and w (vpdpwssd). Written
 * as asm: GCC's intrinsic copied every accumulator in and out of a scratch
 * register (and spilled) in the 16-accumulator loop below. */
#define ATTNSEARCH_DEC_DPWSSD(acc, x, w) __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w))

/* 32 int8 sign-extended to int16 (the load folded in). */
ATTNSEARCH_ALWAYS_INLINE __m512i attnsearch_dec_ld_i16(const int8_t *p)
{
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p));
}

/* The value scales of a block of nk <= ATTNSEARCH_DEC_PV_KB keys by group:
 * vcol[g][j] = vs[j * ldvs + g] (0 from nk to the next multiple of 16), and
 * vmax[g] their largest. Rows of 1, 2 or 4 contiguous scales are transposed
 * 16 keys at a time by permutes; others are copied one by one. */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_pv_vnni_vcols(const float *vs, ptrdiff_t ldvs, int nk,
                                                          int ng, float (*vcol)[ATTNSEARCH_DEC_PV_KB],
                                                          float *vmax)
{
    if (ldvs != ng || (ng != 1 && ng != 2 && ng != 4)) {
        for (int g = 0; g < ng; g++) {
            float top = 0.0f;
            int j = 0;
            for (; j < nk; j++) {
                const float x = vs[(ptrdiff_t)j * ldvs + g];
                vcol[g][j] = x;
                top = x > top ? x : top;
            }
            for (; j % 16; j++) vcol[g][j] = 0.0f;
            vmax[g] = top;
        }
        return;
    }
    /* ng = 2: even / odd lanes; ng = 4: groups 0/1 and 2/3 of 8 keys, then halves. */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i g01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i g23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i lo8 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i hi8 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    __m512 top[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int j = 0; j < nk; j += 16) {
        const int count = (nk - j < 16 ? nk - j : 16) * ng; /* scales of this chunk */
        __m512 x[4], col[4];
        for (int i = 0; i < ng; i++) {
            const int left = count - 16 * i;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (left > 0 ? (__mmask16)((1u << left) - 1) : 0);
            x[i] = _mm512_maskz_loadu_ps(m, vs + (ptrdiff_t)j * ng + 16 * i);
        }
        if (ng == 1) {
            col[0] = x[0];
        } else if (ng == 2) {
            col[0] = _mm512_permutex2var_ps(x[0], even, x[1]);
            col[1] = _mm512_permutex2var_ps(x[0], odd, x[1]);
        } else {
            const __m512 a01 = _mm512_permutex2var_ps(x[0], g01, x[1]);
            const __m512 a23 = _mm512_permutex2var_ps(x[0], g23, x[1]);
            const __m512 b01 = _mm512_permutex2var_ps(x[2], g01, x[3]);
            const __m512 b23 = _mm512_permutex2var_ps(x[2], g23, x[3]);
            col[0] = _mm512_permutex2var_ps(a01, lo8, b01);
            col[1] = _mm512_permutex2var_ps(a01, hi8, b01);
            col[2] = _mm512_permutex2var_ps(a23, lo8, b23);
            col[3] = _mm512_permutex2var_ps(a23, hi8, b23);
        }
        for (int g = 0; g < ng; g++) {
            _mm512_store_ps(vcol[g] + j, col[g]);
            top[g] = _mm512_max_ps(top[g], col[g]);
        }
    }
    for (int g = 0; g < ng; g++) vmax[g] = _mm512_reduce_max_ps(top[g]);
}

/* One block of nk <= ATTNSEARCH_DEC_PV_KB keys for R (compile-time, 1-4) rows:
 * o[r][:d] = o[r][:d] * corr[r] (corr NULL: no rescaling) + p v. */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_pv_vnni_block(
    const float *p, ptrdiff_t ldp, int nk, const int8_t *v, ptrdiff_t ldv, int dv, float *o,
    ptrdiff_t ldo, const float *corr, const float *vs, ptrdiff_t ldvs, const char *pf,
    ptrdiff_t pf_ld, int pf_lines, int pf_rows, const int R, const int D, const int G)
{
    enum { KB = ATTNSEARCH_DEC_PV_KB, MAXG = 8 };
    const int d = D > 0 ? D : dv;
    const int ng = G >= d ? 1 : d / G;
    int16_t pq[4][MAXG][KB] __attribute__((aligned(64)));
    float vcol[MAXG][KB] __attribute__((aligned(64)));
    float scale[4][MAXG];
    float vmax[MAXG];
    attnsearch_dec_pv_vnni_vcols(vs, ldvs, nk, ng, vcol, vmax);
    /* Each row's p' quantised per group. */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const float *pr = p + (ptrdiff_t)r * ldp;
        __m512 top = _mm512_setzero_ps();
        __mmask16 bad = 0;
        for (int j = 0; j < nk; j += 16) {
            const __mmask16 m = nk - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nk - j)) - 1);
            const __m512 x = _mm512_maskz_loadu_ps(m, pr + j);
            top = _mm512_max_ps(top, _mm512_abs_ps(x));
            bad |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        }
        const float pmax = _mm512_reduce_max_ps(top);
        for (int g = 0; g < ng; g++) {
            const float t = pmax * vmax[g];
            const float inv = t > 0.0f ? 32767.0f / t : 0.0f;
            scale[r][g] = bad ? NAN : t / 32767.0f;
            const __m512 vinv = _mm512_set1_ps(inv);
            for (int j = 0; j < nk; j += 16) {
                const __mmask16 m = nk - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nk - j)) - 1);
                const __m512 x = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, pr + j),
                                                             _mm512_load_ps(vcol[g] + j)), vinv);
                const __m512i qi = _mm512_cvt_roundps_epi32(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                _mm256_store_si256((__m256i *)(pq[r][g] + j), _mm512_cvtsepi32_epi16(qi));
            }
        }
    }
    /* Lanes of the interleaved dims back in order: dims 8L + k (k < 4) are in
     * lane 4L + k of the unpacklo product, dims 8L + 4 + k in the unpackhi's. */
    const __m512i dims_lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i dims_hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int c0 = 0; c0 < d; c0 += 64) {
        const int g0 = c0 / G < ng ? c0 / G : ng - 1, g1 = (c0 + 32) / G < ng ? (c0 + 32) / G : ng - 1;
        __m512i acc[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_si512();
        for (int j = 0; j < nk; j += 2) {
            const int j2 = j + 1 < nk ? j + 1 : j; /* an odd last key pairs with itself (q 0) */
            if (c0 == 0 && j < pf_rows) attnsearch_dec_prefetch_rows(pf, pf_ld, pf_lines, j, j + 1 < pf_rows ? 2 : 1);
            const int8_t *va = v + (ptrdiff_t)j * ldv + c0, *vb = v + (ptrdiff_t)j2 * ldv + c0;
            const __m512i a0 = attnsearch_dec_ld_i16(va), a1 = attnsearch_dec_ld_i16(va + 32);
            const __m512i b0 = attnsearch_dec_ld_i16(vb), b1 = attnsearch_dec_ld_i16(vb + 32);
            const __m512i u0 = _mm512_unpacklo_epi16(a0, b0), u1 = _mm512_unpackhi_epi16(a0, b0);
            const __m512i u2 = _mm512_unpacklo_epi16(a1, b1), u3 = _mm512_unpackhi_epi16(a1, b1);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                int32_t q0, q1;
                memcpy(&q0, pq[r][g0] + j, sizeof q0);
                memcpy(&q1, pq[r][g1] + j, sizeof q1);
                const __m512i w0 = _mm512_set1_epi32(q0), w1 = _mm512_set1_epi32(q1);
                ATTNSEARCH_DEC_DPWSSD(acc[r][0], u0, w0);
                ATTNSEARCH_DEC_DPWSSD(acc[r][1], u1, w0);
                ATTNSEARCH_DEC_DPWSSD(acc[r][2], u2, w1);
                ATTNSEARCH_DEC_DPWSSD(acc[r][3], u3, w1);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m512 lo = _mm512_cvtepi32_ps(acc[r][2 * h]), hi = _mm512_cvtepi32_ps(acc[r][2 * h + 1]);
                const __m512 s = _mm512_set1_ps(scale[r][h ? g1 : g0]);
                float *dst = o + (ptrdiff_t)r * ldo + c0 + 32 * h;
                __m512 base0 = _mm512_loadu_ps(dst), base1 = _mm512_loadu_ps(dst + 16);
                if (corr != NULL) {
                    base0 = _mm512_mul_ps(base0, _mm512_set1_ps(corr[r]));
                    base1 = _mm512_mul_ps(base1, _mm512_set1_ps(corr[r]));
                }
                _mm512_storeu_ps(dst, _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, dims_lo, hi), s, base0));
                _mm512_storeu_ps(dst + 16, _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, dims_hi, hi), s, base1));
            }
    }
}

/* o[r][:dv] = o[r][:dv] * corr[r] + p v for `rows` rows (groups of 4, 3, 2, 1)
 * and nkeys int8 value rows (scales vs, row stride ldvs, `group` elements per
 * scale: 32, 64 or one per row), in blocks of ATTNSEARCH_DEC_PV_KB keys from
 * the first (see above); dv 64, 128, 192 or 256. pf..pf_rows: the rows to ask
 * for as the keys go (the first group of rows asks). */
static void attnsearch_dec_pv_i8_vnni(const float *p, ptrdiff_t ldp, int rows, int nkeys,
                                      const int8_t *v, ptrdiff_t ldv, int dv, float *o,
                                      ptrdiff_t ldo, const float *corr, const float *vs,
                                      ptrdiff_t ldvs, int group, const char *pf, ptrdiff_t pf_ld,
                                      int pf_lines, int pf_rows)
{
    for (int r0 = 0; r0 < rows; r0 += 4) {
        const int n = rows - r0 < 4 ? rows - r0 : 4;
        if (r0 > 0) pf = NULL;
        for (int j0 = 0; j0 < nkeys; j0 += ATTNSEARCH_DEC_PV_KB) {
            const int nk = nkeys - j0 < ATTNSEARCH_DEC_PV_KB ? nkeys - j0 : ATTNSEARCH_DEC_PV_KB;
            const float *pb = p + (ptrdiff_t)r0 * ldp + j0;
            const int8_t *vb = v + (ptrdiff_t)j0 * ldv;
            const float *vsb = vs + (ptrdiff_t)j0 * ldvs;
            float *ob = o + (ptrdiff_t)r0 * ldo;
            const float *cb = j0 == 0 ? corr + r0 : NULL;
            const char *pfb = pf != NULL && j0 < pf_rows ? pf + (ptrdiff_t)j0 * pf_ld : NULL;
            const int pfr = pfb != NULL ? pf_rows - j0 : 0;
#define ATTNSEARCH_DEC_PVV(RU, D, G_)                                                          \
    attnsearch_dec_pv_vnni_block(pb, ldp, nk, vb, ldv, dv, ob, ldo, cb, vsb, ldvs, pfb, pf_ld,  \
                                 pf_lines, pfr, RU, D, G_);
#define ATTNSEARCH_DEC_PVV_ROWS(D, G_)                                                         \
    switch (n) {                                                                               \
    case 1: ATTNSEARCH_DEC_PVV(1, D, G_) break;                                                \
    case 2: ATTNSEARCH_DEC_PVV(2, D, G_) break;                                                \
    case 3: ATTNSEARCH_DEC_PVV(3, D, G_) break;                                                \
    default: ATTNSEARCH_DEC_PVV(4, D, G_) break;                                               \
    }
            ATTNSEARCH_DEC_BY_WIDTH_GROUP(ATTNSEARCH_DEC_PVV_ROWS, dv)
#undef ATTNSEARCH_DEC_PVV
#undef ATTNSEARCH_DEC_PVV_ROWS
        }
    }
}

/* ---- int8 scores of 3 or more rows: keys in lanes ----
 *
 * attnsearch_dec_vnni_tree keeps one accumulator per (row, key) and pays, per
 * row, key and 64 elements, a convert, a lane-scale multiply and an FMA, plus
 * the lane reduction: from 4 rows that costs what the float path does. Here
 * 16 keys are transposed once (4 levels of unpacks and 128-bit shuffles per
 * 16 x 16 dwords, shared by the rows) so that dword t of key u sits in lane u
 * of vector t; a row then broadcasts its own dword t (embedded broadcast) and
 * one vpdpbusd adds 4 products into each of the 16 keys' lanes. Per row and
 * group of 32 elements, 8 vpdpbusd fill one int32 accumulator (lanes: keys),
 * started at the group's correction (-128 * its q bytes' sum); then one
 * convert and one multiply-add by q's group scale times each key's group
 * scale (the block's scales by group, as the P V kernel gathers them). No
 * lane reduction; each key's score is computed in its own lane by the same
 * operations wherever it sits (a short tail repeats its last key), so paged
 * and contiguous caches give the same bits. */

/* acc += per lane, the 4 products of the unsigned bytes of x with the signed
 * bytes of the dword at w, broadcast (vpdpbusd). asm: GCC's intrinsic copies
 * the accumulators (see ATTNSEARCH_DEC_DPWSSD). */
typedef int32_t attnsearch_dec_i32_alias __attribute__((may_alias));
#define ATTNSEARCH_DEC_DPBUSD_BCST(acc, x, w)                                                  \
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*(const attnsearch_dec_i32_alias *)(w)))

/* 16 x 16 dwords: lane t of x[u] goes to lane u of x[t]. */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_transpose16(__m512i *x)
{
    __m512i a[16], b[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
    }
    /* b[4i + m], 128-bit lane L: dword 4L + m of keys 4i .. 4i + 3 */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        const __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44);
        const __m512i c1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
        const __m512i c2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44);
        const __m512i c3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
        x[m] = _mm512_shuffle_i32x4(c0, c2, 0x88);
        x[4 + m] = _mm512_shuffle_i32x4(c0, c2, 0xDD);
        x[8 + m] = _mm512_shuffle_i32x4(c1, c3, 0x88);
        x[12 + m] = _mm512_shuffle_i32x4(c1, c3, 0xDD);
    }
}

/* Scores of R (compile-time, 1-4) rows against the 16 transposed keys of
 * `tile` (nv x 16 vectors): s[r][0:nk], q groups of 32 (scales qs as
 * attnsearch_dec_quantize_q lays them out; qtot[r * 2 nv + g]: the sum of the
 * corrections of group g, attnsearch_dec_vnni_group_totals), kcol[g]: the
 * keys' scale for q group g (16 floats). */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_vnni_lanes_rows(const int8_t *qi, const float *qs,
                                                            const int32_t *qtot, const __m512i *tile,
                                                            const float *const *kcol, int nk,
                                                            float *s, ptrdiff_t lds, const int R,
                                                            const int nv)
{
    const __mmask16 keep = nk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nk) - 1);
    __m512 score[4];
#pragma GCC unroll 4
    for (int c = 0; c < nv; c++) {
        __m512i acc[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) acc[r][h] = _mm512_set1_epi32(qtot[(ptrdiff_t)r * 2 * nv + 2 * c + h]);
#pragma GCC unroll 16
        for (int t = 0; t < 16; t++) {
            const __m512i x = tile[16 * c + t];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                ATTNSEARCH_DEC_DPBUSD_BCST(acc[r][t / 8], x, qi + (ptrdiff_t)r * 64 * nv + 64 * c + 4 * t);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const float q_scale = qs[((ptrdiff_t)r * nv + c) * 16 + 8 * h];
                const __m512 lane_scale = _mm512_mul_ps(_mm512_set1_ps(q_scale), _mm512_load_ps(kcol[2 * c + h]));
                const __m512 dot = _mm512_cvtepi32_ps(acc[r][h]);
                score[r] = c == 0 && h == 0 ? _mm512_mul_ps(dot, lane_scale)
                                            : _mm512_fmadd_ps(dot, lane_scale, score[r]);
            }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(s + (ptrdiff_t)r * lds, keep, score[r]);
}

/* The lanes kernel's rows per call of attnsearch_dec_vnni_lanes: their group
 * totals of the corrections live on its stack. */
#define ATTNSEARCH_DEC_LANES_MAX_ROWS 64

/* qtot[r * 2 nv + g] = the sum of row r's 8 lane corrections of group g (qc as
 * attnsearch_dec_quantize_q lays them out): what a key's 8 lanes of the group
 * add up to, computed once per call rather than per 16 keys. */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_vnni_group_totals(const int32_t *qc, int rows, int nv,
                                                              int32_t *qtot)
{
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < 2 * nv; g++) {
            const int32_t *corr = qc + ((ptrdiff_t)r * nv + g / 2) * 16 + 8 * (g % 2);
            int32_t total = 0;
            for (int l = 0; l < 8; l++) total += corr[l];
            qtot[r * 2 * nv + g] = total;
        }
}

/* Scores of `rows` <= ATTNSEARCH_DEC_LANES_MAX_ROWS rows (groups of 4 and the
 * rest) against nkeys int8 keys, 16 keys at a time (D: compile-time d_k or 0,
 * G: k's group). */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_dec_vnni_lanes(const int8_t *qi, const float *qs,
                                                       const int32_t *qc, int rows, int dk,
                                                       const int8_t *k, ptrdiff_t ldk, int nkeys,
                                                       float *s, ptrdiff_t lds, const float *ks,
                                                       ptrdiff_t ldks, const char *pf,
                                                       ptrdiff_t pf_ld, int pf_lines, int pf_rows,
                                                       const int D, const int G)
{
    enum { KB = ATTNSEARCH_DEC_PV_KB, MAXG = 8 };
    const int d = D > 0 ? D : dk;
    const int nv = d / 64;
    const int ngk = G >= d ? 1 : d / G;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    float vcol[MAXG][KB] __attribute__((aligned(64)));
    float vmax[MAXG];
    __m512i tile[4 * 16];
    int32_t qtot[ATTNSEARCH_DEC_LANES_MAX_ROWS * MAXG];
    attnsearch_dec_vnni_group_totals(qc, rows, nv, qtot);
    for (int j0 = 0; j0 < nkeys; j0 += KB) {
        const int nb = nkeys - j0 < KB ? nkeys - j0 : KB;
        attnsearch_dec_pv_vnni_vcols(ks + (ptrdiff_t)j0 * ldks, ldks, nb, ngk, vcol, vmax);
        for (int j = j0; j < j0 + nb; j += 16) {
            const int nk = j0 + nb - j < 16 ? j0 + nb - j : 16;
            if (j < pf_rows) attnsearch_dec_prefetch_rows(pf, pf_ld, pf_lines, j, j + nk < pf_rows ? nk : pf_rows - j);
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++) {
#pragma GCC unroll 16
                for (int u = 0; u < 16; u++) {
                    const ptrdiff_t key = j + (u < nk ? u : nk - 1); /* a short tail repeats its last key */
                    tile[16 * c + u] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(k + key * ldk + 64 * c)), flip);
                }
                attnsearch_dec_transpose16(tile + 16 * c);
            }
            const float *kcol[MAXG];
            for (int g = 0; g < 2 * nv; g++) kcol[g] = vcol[(32 * g) / G < ngk ? (32 * g) / G : ngk - 1] + (j - j0);
            int r0 = 0;
            for (; r0 + 4 <= rows; r0 += 4)
                attnsearch_dec_vnni_lanes_rows(qi + (ptrdiff_t)r0 * d, qs + (ptrdiff_t)r0 * nv * 16,
                                               qtot + (ptrdiff_t)r0 * 2 * nv, tile, kcol, nk,
                                               s + (ptrdiff_t)r0 * lds + j, lds, 4, nv);
            switch (rows - r0) {
            case 3:
                attnsearch_dec_vnni_lanes_rows(qi + (ptrdiff_t)r0 * d, qs + (ptrdiff_t)r0 * nv * 16,
                                               qtot + (ptrdiff_t)r0 * 2 * nv, tile, kcol, nk,
                                               s + (ptrdiff_t)r0 * lds + j, lds, 3, nv);
                break;
            case 2:
                attnsearch_dec_vnni_lanes_rows(qi + (ptrdiff_t)r0 * d, qs + (ptrdiff_t)r0 * nv * 16,
                                               qtot + (ptrdiff_t)r0 * 2 * nv, tile, kcol, nk,
                                               s + (ptrdiff_t)r0 * lds + j, lds, 2, nv);
                break;
            case 1:
                attnsearch_dec_vnni_lanes_rows(qi + (ptrdiff_t)r0 * d, qs + (ptrdiff_t)r0 * nv * 16,
                                               qtot + (ptrdiff_t)r0 * 2 * nv, tile, kcol, nk,
                                               s + (ptrdiff_t)r0 * lds + j, lds, 1, nv);
                break;
            default: break;
            }
        }
    }
}

/* s[r][j] = the quantised q[r] . k[j] (see above) for `rows` rows and nkeys
 * int8 keys (scales ks, row stride ldks, `group` elements per scale: 32, 64,
 * or one per row); dk 64, 128, 192 or 256. Blocks of 3 or more rows put the
 * keys in lanes, of 1 or 2 the rows and keys (attnsearch_dec_vnni_tree).
 * pf..pf_rows: the rows to ask for as the keys go. */
static void attnsearch_dec_qk_i8_vnni(const int8_t *qi, const float *qs, const int32_t *qc,
                                      int rows, int dk, const int8_t *k, ptrdiff_t ldk, int nkeys,
                                      float *s, ptrdiff_t lds, const float *ks, ptrdiff_t ldks,
                                      int group, const char *pf, ptrdiff_t pf_ld, int pf_lines,
                                      int pf_rows)
{
    if (rows <= 2) {
        attnsearch_dec_qk_i8_vnni_trees(qi, qs, qc, rows, dk, k, ldk, nkeys, s, lds, ks, ldks,
                                        group, pf, pf_ld, pf_lines, pf_rows);
        return;
    }
    const int nv = dk / 64;
    for (int r0 = 0; r0 < rows; r0 += ATTNSEARCH_DEC_LANES_MAX_ROWS) {
        const int n = rows - r0 < ATTNSEARCH_DEC_LANES_MAX_ROWS ? rows - r0 : ATTNSEARCH_DEC_LANES_MAX_ROWS;
        const int8_t *qir = qi + (ptrdiff_t)r0 * dk;
        const float *qsr = qs + (ptrdiff_t)r0 * nv * 16;
        const int32_t *qcr = qc + (ptrdiff_t)r0 * nv * 16;
        float *sr = s + (ptrdiff_t)r0 * lds;
        if (r0 > 0) pf = NULL;
#define ATTNSEARCH_DEC_LANES(D, G_)                                                            \
    attnsearch_dec_vnni_lanes(qir, qsr, qcr, n, dk, k, ldk, nkeys, sr, lds, ks, ldks, pf, pf_ld, \
                              pf_lines, pf_rows, D, G_);
        ATTNSEARCH_DEC_BY_WIDTH_GROUP(ATTNSEARCH_DEC_LANES, dk)
#undef ATTNSEARCH_DEC_LANES
    }
}
#else
#define ATTNSEARCH_DEC_HAVE_VNNI 0
/* Never called (ATTNSEARCH_DEC_HAVE_VNNI is 0): the float path scores int8 keys. */
static void attnsearch_dec_quantize_q(const float *q, int rows, int d, int8_t *qi, float *qs,
                                      int32_t *qc)
{
    (void)q; (void)rows; (void)d; (void)qi; (void)qs; (void)qc;
}
static void attnsearch_dec_qk_i8_vnni(const int8_t *qi, const float *qs, const int32_t *qc,
                                      int rows, int dk, const int8_t *k, ptrdiff_t ldk, int nkeys,
                                      float *s, ptrdiff_t lds, const float *ks, ptrdiff_t ldks,
                                      int group, const char *pf, ptrdiff_t pf_ld, int pf_lines,
                                      int pf_rows)
{
    (void)qi; (void)qs; (void)qc; (void)rows; (void)dk; (void)k; (void)ldk; (void)nkeys;
    (void)s; (void)lds; (void)ks; (void)ldks; (void)group; (void)pf; (void)pf_ld;
    (void)pf_lines; (void)pf_rows;
}
static void attnsearch_dec_pv_i8_vnni(const float *p, ptrdiff_t ldp, int rows, int nkeys,
                                      const int8_t *v, ptrdiff_t ldv, int dv, float *o,
                                      ptrdiff_t ldo, const float *corr, const float *vs,
                                      ptrdiff_t ldvs, int group, const char *pf, ptrdiff_t pf_ld,
                                      int pf_lines, int pf_rows)
{
    (void)p; (void)ldp; (void)rows; (void)nkeys; (void)v; (void)ldv; (void)dv; (void)o;
    (void)ldo; (void)corr; (void)vs; (void)ldvs; (void)group; (void)pf; (void)pf_ld;
    (void)pf_lines; (void)pf_rows;
}
#endif


#endif
