/* Reduced-precision operands (bfloat16, float16) for the float32 attention kernels.
 *
 * Storage in 16 bits, arithmetic in float32: q, k, v arrive as uint16 bit
 * patterns and are widened while they are packed (the packs exist anyway, so
 * the conversion costs no extra pass over memory); the output is rounded once,
 * to nearest even, from the float64 accumulator.
 *
 * Two ways to use them:
 *   - every target: the *_r packers below fill the float32 packs of
 *     attnsearch_tiles.h, and the float32 micro-kernels run unchanged;
 *   - targets with AVX512-BF16 (ATTNSEARCH_HAVE_BF16_TILES): bfloat16 operands
 *     stay bfloat16 in the packs, and the two products run on vdpbf16ps
 *     (32 multiply-adds per instruction, twice the float32 FMA), with P
 *     rounded to bfloat16 before P V as FlashAttention does. Layouts:
 *       qpair  rows_pad x dpair 32-bit pairs (q[r][2p], q[r][2p+1]), unscaled;
 *       kpair  panels of 32 keys: kpair[panel][p][t] = (k[t][2p], k[t][2p+1]);
 *       vpair  key pairs x dvp: vpair[jp][c] = (v[2jp][c], v[2jp+1][c]);
 *       ppair  rows_pad x ldpp/2 pairs of P rows, zero past each row's keys.
 *     dpair = (d_k + 1) / 2; odd dimensions and key counts are padded with 0.
 */
#ifndef ATTNSEARCH_REDUCED_H
#define ATTNSEARCH_REDUCED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "attnsearch_tiles.h"

enum { ATTNSEARCH_STORE_NATIVE = 0, ATTNSEARCH_STORE_BF16 = 1, ATTNSEARCH_STORE_F16 = 2 };

static inline float attnsearch_bits_to_float(uint32_t bits)
{
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static inline uint32_t attnsearch_float_to_bits(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

static inline float attnsearch_bf16_to_float(uint16_t h)
{
    return attnsearch_bits_to_float((uint32_t)h << 16);
}

/* Round to nearest even; NaN stays a (quiet) NaN, overflow gives inf. */
static inline uint16_t attnsearch_float_to_bf16(float x)
{
    uint32_t bits = attnsearch_float_to_bits(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

/* IEEE binary16 <-> float32, exact widening and round-to-nearest-even narrowing
 * (subnormals, infinities and NaN included), in portable integer code. */
static inline float attnsearch_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1fu) return attnsearch_bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) return attnsearch_bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    /* zero or subnormal: mantissa * 2^-24 */
    float magnitude = (float)mantissa * 5.9604644775390625e-08f;
    return sign ? -magnitude : magnitude;
}

static inline uint16_t attnsearch_float_to_f16(float x)
{
    uint32_t bits = attnsearch_float_to_bits(x);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);           /* NaN */
    if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);          /* rounds past 65504 */
    if (magnitude < 0x38800000u) {                                            /* subnormal or 0 */
        /* Round |x| / 2^-24 to an integer, to nearest even. */
        float scaled = attnsearch_bits_to_float(magnitude) * 16777216.0f;
        uint32_t whole = (uint32_t)scaled;
        float rest = scaled - (float)whole;
        if (rest > 0.5f || (rest == 0.5f && (whole & 1u))) whole++;
        return (uint16_t)(sign | whole);
    }
    uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

static inline float attnsearch_half_to_float(int kind, uint16_t h)
{
    return kind == ATTNSEARCH_STORE_BF16 ? attnsearch_bf16_to_float(h) : attnsearch_f16_to_float(h);
}

static inline uint16_t attnsearch_float_to_half(int kind, float x)
{
    return kind == ATTNSEARCH_STORE_BF16 ? attnsearch_float_to_bf16(x) : attnsearch_float_to_f16(x);
}

/* ---- widening packers: the float32 packs of attnsearch_tiles.h from 16-bit rows ---- */

#if defined(__F16C__)
#include <immintrin.h>
#endif

/* dst[0:n] = src[0:n] widened to float32 (exact). bfloat16 is a shift the
 * compiler vectorises; float16 uses vcvtph2ps where the target has F16C (every
 * x86-64-v3/v4 target), the portable integer code elsewhere. */
static inline void attnsearch_widen_run(int kind, const uint16_t *src, int n, float *dst)
{
    int i = 0;
    if (kind == ATTNSEARCH_STORE_BF16) {
        for (; i < n; i++) dst[i] = attnsearch_bits_to_float((uint32_t)src[i] << 16);
        return;
    }
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = attnsearch_f16_to_float(src[i]);
}

static void attnsearch_pack_q_r(int kind, const uint16_t *q, ptrdiff_t ldq, int rows,
                                int rows_pad, int dk, float scale, float *qpack)
{
    for (int r = 0; r < rows; r++) {
        const uint16_t *src = q + (ptrdiff_t)r * ldq;
        float *dst = qpack + (ptrdiff_t)r * dk;
        attnsearch_widen_run(kind, src, dk, dst);
        for (int d = 0; d < dk; d++) dst[d] *= scale;
    }
    memset(qpack + (ptrdiff_t)rows * dk, 0, sizeof(float) * (size_t)(rows_pad - rows) * dk);
}

static void attnsearch_pack_k_r(int kind, const uint16_t *k, ptrdiff_t ldk, int bk, int dk,
                                float *kpack)
{
    const int nr = ATTNSEARCH_NR_F32;
    int n_panels = (bk + nr - 1) / nr;
    for (int p = 0; p < n_panels; p++) {
        float *panel = kpack + (ptrdiff_t)p * dk * nr;
        int keys = bk - p * nr < nr ? bk - p * nr : nr;
        for (int t = 0; t < keys; t++) {
            const uint16_t *src = k + (ptrdiff_t)(p * nr + t) * ldk;
            float row[256];
            for (int d0 = 0; d0 < dk; d0 += 256) {
                int m = dk - d0 < 256 ? dk - d0 : 256;
                attnsearch_widen_run(kind, src + d0, m, row);
                for (int d = 0; d < m; d++) panel[(ptrdiff_t)(d0 + d) * nr + t] = row[d];
            }
        }
        for (int t = keys; t < nr; t++)
            for (int d = 0; d < dk; d++) panel[(ptrdiff_t)d * nr + t] = 0.0f;
    }
}

static void attnsearch_pack_v_r(int kind, const uint16_t *v, ptrdiff_t ldv, int bk, int dv,
                                int dvp, float *vpack)
{
    for (int j = 0; j < bk; j++) {
        const uint16_t *src = v + (ptrdiff_t)j * ldv;
        float *dst = vpack + (ptrdiff_t)j * dvp;
        attnsearch_widen_run(kind, src, dv, dst);
        for (int c = dv; c < dvp; c++) dst[c] = 0.0f;
    }
}

/* dst[c] = round(src[c] * scale) for one output row. */
static void attnsearch_store_r(int kind, const double *src, double scale, int n, uint16_t *dst)
{
    for (int c = 0; c < n; c++) dst[c] = attnsearch_float_to_half(kind, (float)(src[c] * scale));
}

/* ---- bfloat16 tiles on vdpbf16ps (AVX512-BF16 targets only) ---- */

#if defined(__AVX512BF16__) && defined(__AVX512F__) && ATTNSEARCH_HAVE_VECTOR_EXT
#include <immintrin.h>
#if ATTNSEARCH_QK_MR != 12 || ATTNSEARCH_VL_F32 != 16
#error "the bfloat16 tiles assume 12-row groups and 16 float32 lanes (AVX-512)"
#endif
#define ATTNSEARCH_HAVE_BF16_TILES 1
#define ATTNSEARCH_BF16_NR 32      /* keys per kpair panel: two zmm of 16 f32 lanes */
#define ATTNSEARCH_BF16_QK_MR 12
#define ATTNSEARCH_BF16_PV_MR 6

/* qpair: rows x dpair pairs of q (unscaled; the scale multiplies the scores). */
static void attnsearch_bf16_pack_q(const uint16_t *q, ptrdiff_t ldq, int rows, int rows_pad,
                                   int dk, uint32_t *qpair)
{
    int dpair = (dk + 1) / 2;
    for (int r = 0; r < rows; r++) {
        const uint16_t *src = q + (ptrdiff_t)r * ldq;
        uint32_t *dst = qpair + (ptrdiff_t)r * dpair;
        for (int p = 0; p < dk / 2; p++)
            dst[p] = (uint32_t)src[2 * p] | ((uint32_t)src[2 * p + 1] << 16);
        if (dk & 1) dst[dpair - 1] = src[dk - 1];
    }
    memset(qpair + (ptrdiff_t)rows * dpair, 0, sizeof(uint32_t) * (size_t)(rows_pad - rows) * dpair);
}

/* kpair: panels of 32 keys, for each dimension pair the 32 keys' pairs. */
static void attnsearch_bf16_pack_k(const uint16_t *k, ptrdiff_t ldk, int bk, int dk,
                                   uint32_t *kpair)
{
    const int nr = ATTNSEARCH_BF16_NR;
    int dpair = (dk + 1) / 2;
    int n_panels = (bk + nr - 1) / nr;
    for (int panel_index = 0; panel_index < n_panels; panel_index++) {
        uint32_t *panel = kpair + (ptrdiff_t)panel_index * dpair * nr;
        int keys = bk - panel_index * nr < nr ? bk - panel_index * nr : nr;
        for (int t = 0; t < keys; t++) {
            const uint16_t *src = k + (ptrdiff_t)(panel_index * nr + t) * ldk;
            for (int p = 0; p < dk / 2; p++)
                panel[(ptrdiff_t)p * nr + t] = (uint32_t)src[2 * p] | ((uint32_t)src[2 * p + 1] << 16);
            if (dk & 1) panel[(ptrdiff_t)(dpair - 1) * nr + t] = src[dk - 1];
        }
        for (int t = keys; t < nr; t++)
            for (int p = 0; p < dpair; p++) panel[(ptrdiff_t)p * nr + t] = 0;
    }
}

/* vpair: for each pair of keys, dvp columns of (v[2jp][c], v[2jp+1][c]). */
static void attnsearch_bf16_pack_v(const uint16_t *v, ptrdiff_t ldv, int bk, int dv, int dvp,
                                   uint32_t *vpair)
{
    int n_pairs = (bk + 1) / 2;
    for (int jp = 0; jp < n_pairs; jp++) {
        const uint16_t *even = v + (ptrdiff_t)(2 * jp) * ldv;
        const uint16_t *odd = 2 * jp + 1 < bk ? even + ldv : NULL;
        uint32_t *dst = vpair + (ptrdiff_t)jp * dvp;
        for (int c = 0; c < dv; c++)
            dst[c] = (uint32_t)even[c] | (odd ? (uint32_t)odd[c] << 16 : 0u);
        for (int c = dv; c < dvp; c++) dst[c] = 0;
    }
}

/* ppair row: P[0:n] rounded to bfloat16, zero from n up to width (even). */
static void attnsearch_bf16_p_row(const float *p, int n, int width, uint16_t *dst)
{
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512bh pair = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + j + 16), _mm512_loadu_ps(p + j));
        _mm512_storeu_si512((void *)(dst + j), (__m512i)pair);
    }
    for (; j < n; j++) dst[j] = attnsearch_float_to_bf16(p[j]);
    for (; j < width; j++) dst[j] = 0;
}

/* s[r][t] = scale * sum_p qpair[r][p] . kpair[p][t] for 12 rows and 32 keys. */
static inline __attribute__((always_inline)) void
attnsearch_bf16_qk_micro(const uint32_t *qpair, int dpair, const uint32_t *panel, float *s,
                         ptrdiff_t lds, __m512 scale)
{
    __m512 acc[ATTNSEARCH_BF16_QK_MR][2];
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_BF16_QK_MR; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (int p = 0; p < dpair; p++) {
        __m512bh k0 = (__m512bh)_mm512_loadu_si512((const void *)(panel + (ptrdiff_t)p * 32));
        __m512bh k1 = (__m512bh)_mm512_loadu_si512((const void *)(panel + (ptrdiff_t)p * 32 + 16));
#pragma GCC unroll 16
        for (int r = 0; r < ATTNSEARCH_BF16_QK_MR; r++) {
            __m512bh qb = (__m512bh)_mm512_set1_epi32((int)qpair[(ptrdiff_t)r * dpair + p]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], qb, k0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], qb, k1);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < ATTNSEARCH_BF16_QK_MR; r++) {
        _mm512_storeu_ps(s + (ptrdiff_t)r * lds, _mm512_mul_ps(acc[r][0], scale));
        _mm512_storeu_ps(s + (ptrdiff_t)r * lds + 16, _mm512_mul_ps(acc[r][1], scale));
    }
}

/* Scores of a tile (rows_pad a multiple of 12), skipping panels that no row of
 * a row group sees (visible0: as qk_tile of attnsearch_tiles.h). */
static void attnsearch_bf16_qk_tile(const uint32_t *qpair, int rows_pad, int dk,
                                    const uint32_t *kpair, int n_panels, float scale,
                                    float *s, ptrdiff_t lds, ptrdiff_t visible0)
{
    int dpair = (dk + 1) / 2;
    __m512 scale_vec = _mm512_set1_ps(scale);
    for (int panel_index = 0; panel_index < n_panels; panel_index++) {
        const uint32_t *panel = kpair + (ptrdiff_t)panel_index * dpair * ATTNSEARCH_BF16_NR;
        for (int r = 0; r < rows_pad; r += ATTNSEARCH_BF16_QK_MR) {
            ptrdiff_t limit = visible0 + r + ATTNSEARCH_BF16_QK_MR - 1;
            if (limit <= (ptrdiff_t)panel_index * ATTNSEARCH_BF16_NR) continue;
            attnsearch_bf16_qk_micro(qpair + (ptrdiff_t)r * dpair, dpair, panel,
                                     s + (ptrdiff_t)r * lds + (ptrdiff_t)panel_index * ATTNSEARCH_BF16_NR,
                                     lds, scale_vec);
        }
    }
}

/* o[r][c0:c0+16 nv] += sum_jp ppair[r][jp] . vpair[jp][c] for 6 rows. */
static inline __attribute__((always_inline)) void
attnsearch_bf16_pv_micro(const uint32_t *ppair, ptrdiff_t ldpp, int n_pairs,
                         const uint32_t *vpair, int dvp, float *o, ptrdiff_t ldo, const int nv)
{
    __m512 acc[ATTNSEARCH_BF16_PV_MR][4];
#pragma GCC unroll 8
    for (int r = 0; r < ATTNSEARCH_BF16_PV_MR; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++) acc[r][c] = _mm512_loadu_ps(o + (ptrdiff_t)r * ldo + 16 * c);
    for (int jp = 0; jp < n_pairs; jp++) {
        __m512bh vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            vv[c] = (__m512bh)_mm512_loadu_si512((const void *)(vpair + (ptrdiff_t)jp * dvp + 16 * c));
#pragma GCC unroll 8
        for (int r = 0; r < ATTNSEARCH_BF16_PV_MR; r++) {
            __m512bh pb = (__m512bh)_mm512_set1_epi32((int)ppair[(ptrdiff_t)r * ldpp + jp]);
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], pb, vv[c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < ATTNSEARCH_BF16_PV_MR; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(o + (ptrdiff_t)r * ldo + 16 * c, acc[r][c]);
}

/* o += P V over rows_pad rows (a multiple of 6) and bk keys; a row group stops
 * at the keys its last row may see (visible0, as pv_tile). ldpp is in pairs;
 * dvp is a multiple of 16. */
static void attnsearch_bf16_pv_tile(const uint32_t *ppair, ptrdiff_t ldpp, int rows_pad,
                                    int bk, const uint32_t *vpair, int dvp, float *o,
                                    ptrdiff_t ldo, ptrdiff_t visible0)
{
    for (int r = 0; r < rows_pad; r += ATTNSEARCH_BF16_PV_MR) {
        ptrdiff_t limit = visible0 + r + ATTNSEARCH_BF16_PV_MR - 1;
        int keys = limit < 0 ? 0 : (limit > bk ? bk : (int)limit);
        if (keys == 0) continue;
        int n_pairs = (keys + 1) / 2;
        const uint32_t *p_rows = ppair + (ptrdiff_t)r * ldpp;
        float *o_rows = o + (ptrdiff_t)r * ldo;
        for (int c0 = 0; c0 < dvp; c0 += 64) {
            int nv = (dvp - c0) / 16;
            if (nv > 4) nv = 4;
            switch (nv) {
            case 4: attnsearch_bf16_pv_micro(p_rows, ldpp, n_pairs, vpair + c0, dvp, o_rows + c0, ldo, 4); break;
            case 3: attnsearch_bf16_pv_micro(p_rows, ldpp, n_pairs, vpair + c0, dvp, o_rows + c0, ldo, 3); break;
            case 2: attnsearch_bf16_pv_micro(p_rows, ldpp, n_pairs, vpair + c0, dvp, o_rows + c0, ldo, 2); break;
            default: attnsearch_bf16_pv_micro(p_rows, ldpp, n_pairs, vpair + c0, dvp, o_rows + c0, ldo, 1); break;
            }
        }
    }
}
/* o[0:rows_pad][0:ncols] += x . w for a GEMM of bfloat16 operands (the layers'
 * projections): xpair holds rows of x as pairs of features (a bfloat16 row is
 * that layout already, ldx in pairs), wpair the pairs of w's rows as
 * attnsearch_bf16_pack_v packs them (ldw pairs per row, ncols a multiple of 16
 * at most ldw). rows_pad is a multiple of 6. */
static void attnsearch_bf16_gemm_tile(const uint32_t *xpair, ptrdiff_t ldx, int rows_pad,
                                      int n_pairs, const uint32_t *wpair, int ldw, int ncols,
                                      float *o, ptrdiff_t ldo)
{
    for (int r = 0; r < rows_pad; r += ATTNSEARCH_BF16_PV_MR) {
        const uint32_t *x_rows = xpair + (ptrdiff_t)r * ldx;
        float *o_rows = o + (ptrdiff_t)r * ldo;
        for (int c0 = 0; c0 < ncols; c0 += 64) {
            int nv = (ncols - c0) / 16;
            if (nv > 4) nv = 4;
            switch (nv) {
            case 4: attnsearch_bf16_pv_micro(x_rows, ldx, n_pairs, wpair + c0, ldw, o_rows + c0, ldo, 4); break;
            case 3: attnsearch_bf16_pv_micro(x_rows, ldx, n_pairs, wpair + c0, ldw, o_rows + c0, ldo, 3); break;
            case 2: attnsearch_bf16_pv_micro(x_rows, ldx, n_pairs, wpair + c0, ldw, o_rows + c0, ldo, 2); break;
            default: attnsearch_bf16_pv_micro(x_rows, ldx, n_pairs, wpair + c0, ldw, o_rows + c0, ldo, 1); break;
            }
        }
    }
}
#else
#define ATTNSEARCH_HAVE_BF16_TILES 0
#define ATTNSEARCH_BF16_NR 32
#define ATTNSEARCH_BF16_QK_MR 12
#define ATTNSEARCH_BF16_PV_MR 6
/* Never called without AVX512-BF16 (the kernels test ATTNSEARCH_HAVE_BF16_TILES);
 * declared so that one Cython source compiles for every target. */
static void attnsearch_bf16_pack_q(const uint16_t *q, ptrdiff_t ldq, int rows, int rows_pad,
                                   int dk, uint32_t *qpair)
{ (void)q; (void)ldq; (void)rows; (void)rows_pad; (void)dk; (void)qpair; }
static void attnsearch_bf16_pack_k(const uint16_t *k, ptrdiff_t ldk, int bk, int dk, uint32_t *kpair)
{ (void)k; (void)ldk; (void)bk; (void)dk; (void)kpair; }
static void attnsearch_bf16_pack_v(const uint16_t *v, ptrdiff_t ldv, int bk, int dv, int dvp,
                                   uint32_t *vpair)
{ (void)v; (void)ldv; (void)bk; (void)dv; (void)dvp; (void)vpair; }
static void attnsearch_bf16_p_row(const float *p, int n, int width, uint16_t *dst)
{ (void)p; (void)n; (void)width; (void)dst; }
static void attnsearch_bf16_qk_tile(const uint32_t *qpair, int rows_pad, int dk,
                                    const uint32_t *kpair, int n_panels, float scale,
                                    float *s, ptrdiff_t lds, ptrdiff_t visible0)
{ (void)qpair; (void)rows_pad; (void)dk; (void)kpair; (void)n_panels; (void)scale; (void)s; (void)lds; (void)visible0; }
static void attnsearch_bf16_pv_tile(const uint32_t *ppair, ptrdiff_t ldpp, int rows_pad,
                                    int bk, const uint32_t *vpair, int dvp, float *o,
                                    ptrdiff_t ldo, ptrdiff_t visible0)
{ (void)ppair; (void)ldpp; (void)rows_pad; (void)bk; (void)vpair; (void)dvp; (void)o; (void)ldo; (void)visible0; }
static void attnsearch_bf16_gemm_tile(const uint32_t *xpair, ptrdiff_t ldx, int rows_pad,
                                      int n_pairs, const uint32_t *wpair, int ldw, int ncols,
                                      float *o, ptrdiff_t ldo)
{ (void)xpair; (void)ldx; (void)rows_pad; (void)n_pairs; (void)wpair; (void)ldw; (void)ncols; (void)o; (void)ldo; }
#endif

#endif
