/* Compressed key/value rows for the decode kernel: bfloat16, float16 and int8.
 *
 * A KV cache in 16 or 8 bits halves or quarters the bytes a decode step reads.
 * The decode kernel reads a block of up to block_k compressed rows from memory
 * once and widens it here into a float32 (or float64) tile of its per-thread
 * scratch (L1/L2-resident: 256 keys x 128 x 4 bytes = 128 KiB at most), then
 * runs its float micro-kernels on the tile; memory traffic is the compressed
 * bytes only.
 *
 * Formats (`fmt`):
 *   ATTNSEARCH_KV_NATIVE  the compute dtype itself: never converted (read in place)
 *   ATTNSEARCH_KV_F32     float32 rows widened to float64 (a float64 computation)
 *   ATTNSEARCH_KV_BF16    bfloat16 bit patterns (uint16): exact widening
 *   ATTNSEARCH_KV_F16     IEEE binary16 (uint16): exact widening (F16C where built)
 *   ATTNSEARCH_KV_I8      int8 with one float32 scale per `group` consecutive
 *                         elements of a row (symmetric: x = q * scale, |q| <= 127;
 *                         the last group of a row may be shorter)
 * Widening bfloat16/float16 is exact; int8 rows are q * scale rounded once to
 * the compute dtype (exact in float64).
 */
#ifndef ATTNSEARCH_KV_QUANT_H
#define ATTNSEARCH_KV_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

enum {
    ATTNSEARCH_KV_NATIVE = 0,
    ATTNSEARCH_KV_F32 = 1,
    ATTNSEARCH_KV_BF16 = 2,
    ATTNSEARCH_KV_F16 = 3,
    ATTNSEARCH_KV_I8 = 4
};

/* Rows prefetched ahead of the widening loop. */
#ifndef ATTNSEARCH_KV_AHEAD
#define ATTNSEARCH_KV_AHEAD 32
#endif

/* A uint32 store that may alias a float (the bfloat16 widening writes bits). */
typedef uint32_t attnsearch_kv_u32a __attribute__((may_alias));

static inline float attnsearch_kv_f16_scalar(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    float x;
    if (exponent == 0x1fu) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else {
        float magnitude = (float)mantissa * 5.9604644775390625e-08f; /* 2^-24 */
        return sign ? -magnitude : magnitude;
    }
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* One row of d elements of format fmt widened to float32. */
static inline void attnsearch_kv_row_f32(int fmt, const char *src, const float *scales,
                                         int group, int d, float *dst)
{
    int c = 0;
    switch (fmt) {
    case ATTNSEARCH_KV_BF16: {
        const uint16_t *h = (const uint16_t *)src;
        attnsearch_kv_u32a *out = (attnsearch_kv_u32a *)dst;
        for (c = 0; c < d; c++) out[c] = (uint32_t)h[c] << 16;
        break;
    }
    case ATTNSEARCH_KV_F16: {
        const uint16_t *h = (const uint16_t *)src;
#if defined(__AVX512F__)
        for (; c + 16 <= d; c += 16)
            _mm512_storeu_ps(dst + c, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + c))));
#endif
#if defined(__F16C__)
        for (; c + 8 <= d; c += 8)
            _mm256_storeu_ps(dst + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + c))));
#endif
        for (; c < d; c++) dst[c] = attnsearch_kv_f16_scalar(h[c]);
        break;
    }
    case ATTNSEARCH_KV_I8: {
        const int8_t *q = (const int8_t *)src;
        for (int g0 = 0, gi = 0; g0 < d; g0 += group, gi++) {
            const float scale = scales[gi];
            const int g1 = g0 + group < d ? g0 + group : d;
            for (c = g0; c < g1; c++) dst[c] = (float)q[c] * scale;
        }
        break;
    }
    default: /* ATTNSEARCH_KV_NATIVE, ATTNSEARCH_KV_F32: float32 rows */
        memcpy(dst, src, sizeof(float) * (size_t)d);
        break;
    }
}

/* One row widened to float64 (a float64 computation over a compressed cache). */
static inline void attnsearch_kv_row_f64(int fmt, const char *src, const float *scales,
                                         int group, int d, double *dst)
{
    switch (fmt) {
    case ATTNSEARCH_KV_F32: {
        const float *x = (const float *)src;
        for (int c = 0; c < d; c++) dst[c] = (double)x[c];
        break;
    }
    case ATTNSEARCH_KV_BF16: {
        const uint16_t *h = (const uint16_t *)src;
        for (int c = 0; c < d; c++) {
            uint32_t bits = (uint32_t)h[c] << 16;
            float x;
            memcpy(&x, &bits, sizeof x);
            dst[c] = (double)x;
        }
        break;
    }
    case ATTNSEARCH_KV_F16: {
        const uint16_t *h = (const uint16_t *)src;
        for (int c = 0; c < d; c++) dst[c] = (double)attnsearch_kv_f16_scalar(h[c]);
        break;
    }
    case ATTNSEARCH_KV_I8: {
        const int8_t *q = (const int8_t *)src;
        for (int g0 = 0, gi = 0; g0 < d; g0 += group, gi++) {
            const double scale = (double)scales[gi];
            const int g1 = g0 + group < d ? g0 + group : d;
            for (int c = g0; c < g1; c++) dst[c] = (double)q[c] * scale;
        }
        break;
    }
    default: /* ATTNSEARCH_KV_NATIVE: float64 rows */
        memcpy(dst, src, sizeof(double) * (size_t)d);
        break;
    }
}

/* `rows` rows (source row stride ld_src bytes, scale row stride ld_scales
 * floats) widened into dst (row stride ld_dst elements). */
static void attnsearch_kv_rows_f32(int fmt, const char *src, ptrdiff_t ld_src,
                                   const float *scales, ptrdiff_t ld_scales, int group,
                                   int rows, int d, float *dst, ptrdiff_t ld_dst)
{
    const int row_bytes = d * (fmt == ATTNSEARCH_KV_I8 ? 1 : 2);
    for (int r = 0; r < rows; r++) {
        /* Ask for the row ATTNSEARCH_KV_AHEAD rows on: one demand stream of
         * loads followed by dependent widening keeps too few misses in flight. */
        if (r + ATTNSEARCH_KV_AHEAD < rows) {
            const char *next = src + (ptrdiff_t)(r + ATTNSEARCH_KV_AHEAD) * ld_src;
            for (int b = 0; b < row_bytes; b += 64) __builtin_prefetch(next + b, 0, 3);
        }
        attnsearch_kv_row_f32(fmt, src + (ptrdiff_t)r * ld_src,
                              scales ? scales + (ptrdiff_t)r * ld_scales : NULL, group, d,
                              dst + (ptrdiff_t)r * ld_dst);
    }
}

static void attnsearch_kv_rows_f64(int fmt, const char *src, ptrdiff_t ld_src,
                                   const float *scales, ptrdiff_t ld_scales, int group,
                                   int rows, int d, double *dst, ptrdiff_t ld_dst)
{
    for (int r = 0; r < rows; r++)
        attnsearch_kv_row_f64(fmt, src + (ptrdiff_t)r * ld_src,
                              scales ? scales + (ptrdiff_t)r * ld_scales : NULL, group, d,
                              dst + (ptrdiff_t)r * ld_dst);
}

#endif
