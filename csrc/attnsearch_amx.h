/* bfloat16 products on AMX tiles (AMX-BF16), and an exact C emulation of them.
 *
 * The attention forward and the layers' GEMM of _kernels.pyx multiply bfloat16
 * in the pair layouts of attnsearch_reduced.h (qpair, kpair panels, vpair,
 * ppair, the bfloat16 rows of x). Those are AMX's layouts already: an A tile
 * is 16 rows of 16 pairs (qpair, ppair, x rows), a B tile 16 pair-rows of 16
 * columns (a kpair panel half, vpair, the packed weight). So the AMX build
 * keeps the packers, the softmax, the masks and every loop of the driver, and
 * only replaces the three products (qk_tile, pv_tile, gemm_tile) below.
 *
 * Tiles (palette 1, one configuration for the whole call, loaded once per
 * thread by attnsearch_amx_begin and dropped by attnsearch_amx_end):
 *   tmm0..3  C: 16 rows x 16 float32, C(i, j) = tmm(2i + j)  (2 x 2 blocking:
 *            32 output rows x 32 output columns per step)
 *   tmm4, 5  A: rows 0-15 and 16-31 of the block, 16 bfloat16 pairs each
 *   tmm6, 7  B: columns 0-15 and 16-31 of the block, 16 pair-rows each
 * every tile 16 rows x 64 bytes. Edges (fewer than 16 rows, fewer than 16
 * pairs left in the sum) go through zero-padded 16 x 64-byte copies on the
 * stack, so no load reads past an operand and no padding reaches a sum
 * (0 x NaN from stale scratch would be NaN). Each output element is the
 * sum over pairs in increasing order, the even product then the odd one,
 * one rounding (to nearest even) per addition, as the SDM's TDPBF16PS
 * pseudo-code orders it; vdpbf16ps adds the odd product first, so the two
 * targets agree to float32 rounding, not bit for bit.
 *
 * ATTNSEARCH_AMX_EMULATED (the amx_bf16_emulated target, tests only) maps the
 * six tile operations to the C functions below: tile registers and the
 * configuration live in thread-local memory, TDPBF16PS is computed element
 * by element as the SDM's pseudo-code writes it (DAZ on the bfloat16 inputs,
 * FTZ on each float32 result, FMA rounding to nearest even), and every
 * condition under which the hardware faults (no configuration, a shape that
 * does not fit the configuration, operand tiles that are not distinct, ...)
 * increments a fault counter instead. It proves the driver's layouts, strides,
 * edges and configuration discipline; it cannot prove the hardware's speed or
 * that the hardware rounds as its pseudo-code says.
 */
#ifndef ATTNSEARCH_AMX_H
#define ATTNSEARCH_AMX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "attnsearch_reduced.h"

/* The LDTILECFG operand (64 bytes, palette 1). */
typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} attnsearch_amx_config;

#define ATTNSEARCH_AMX_ROWS 16       /* rows of every tile */
#define ATTNSEARCH_AMX_PAIRS 16      /* 32-bit columns (bfloat16 pairs, float32) per row */

#if ATTNSEARCH_HAVE_BF16_TILES && defined(ATTNSEARCH_AMX_EMULATED)
#define ATTNSEARCH_HAVE_AMX_TILES 1
#define ATTNSEARCH_AMX_KIND "emulated"

/* ---- the emulation: thread-local tile registers, counters per module ---- */

typedef struct {
    int configured;
    uint8_t rows[8];
    uint16_t colsb[8];
    uint8_t data[8][16][64];
} attnsearch_amx_emu_state;

static __thread attnsearch_amx_emu_state attnsearch_amx_emu;
static long attnsearch_amx_emu_faults, attnsearch_amx_emu_configs, attnsearch_amx_emu_releases;

static void attnsearch_amx_emu_fault(void)
{
    __atomic_fetch_add(&attnsearch_amx_emu_faults, 1, __ATOMIC_RELAXED);
}

static void attnsearch_amx_emu_loadconfig(const attnsearch_amx_config *cfg)
{
    attnsearch_amx_emu_state *st = &attnsearch_amx_emu;
    __atomic_fetch_add(&attnsearch_amx_emu_configs, 1, __ATOMIC_RELAXED);
    int valid = cfg->palette_id == 1 && cfg->start_row == 0;
    for (int i = 0; i < 14; i++) valid &= cfg->reserved[i] == 0;
    for (int t = 0; t < 16; t++) {
        int rows = cfg->rows[t], colsb = cfg->colsb[t];
        if (t >= 8) valid &= rows == 0 && colsb == 0;   /* palette 1 has 8 tiles */
        else valid &= rows <= 16 && colsb <= 64 && (rows == 0) == (colsb == 0);
    }
    if (!valid) {
        attnsearch_amx_emu_fault();
        st->configured = 0;
        return;
    }
    for (int t = 0; t < 8; t++) {
        st->rows[t] = cfg->rows[t];
        st->colsb[t] = cfg->colsb[t];
    }
    memset(st->data, 0, sizeof st->data);
    st->configured = 1;
}

static void attnsearch_amx_emu_release(void)
{
    __atomic_fetch_add(&attnsearch_amx_emu_releases, 1, __ATOMIC_RELAXED);
    attnsearch_amx_emu.configured = 0;
}

static int attnsearch_amx_emu_usable(int t)
{
    const attnsearch_amx_emu_state *st = &attnsearch_amx_emu;
    if (!st->configured || t < 0 || t >= 8 || st->rows[t] == 0) {
        attnsearch_amx_emu_fault();
        return 0;
    }
    return 1;
}

static void attnsearch_amx_emu_load(int t, const void *src, ptrdiff_t stride)
{
    attnsearch_amx_emu_state *st = &attnsearch_amx_emu;
    if (!attnsearch_amx_emu_usable(t)) return;
    memset(st->data[t], 0, sizeof st->data[t]);   /* past rows/colsb: zero, as the hardware */
    for (int r = 0; r < st->rows[t]; r++)
        memcpy(st->data[t][r], (const char *)src + r * stride, st->colsb[t]);
}

static void attnsearch_amx_emu_store(int t, void *dst, ptrdiff_t stride)
{
    const attnsearch_amx_emu_state *st = &attnsearch_amx_emu;
    if (!attnsearch_amx_emu_usable(t)) return;
    for (int r = 0; r < st->rows[t]; r++)
        memcpy((char *)dst + r * stride, st->data[t][r], st->colsb[t]);
}

static void attnsearch_amx_emu_zero(int t)
{
    if (!attnsearch_amx_emu_usable(t)) return;
    memset(attnsearch_amx_emu.data[t], 0, sizeof attnsearch_amx_emu.data[t]);
}

/* bfloat16 -> float32 with denormals as zero (DAZ). */
static inline float attnsearch_amx_emu_widen(uint16_t h)
{
    if ((h & 0x7f80u) == 0) h &= 0x8000u;
    return attnsearch_bf16_to_float(h);
}

/* A float32 result with denormals flushed to zero (FTZ). */
static inline float attnsearch_amx_emu_ftz(float x)
{
    uint32_t bits = attnsearch_float_to_bits(x);
    if ((bits & 0x7f800000u) == 0) bits &= 0x80000000u;
    return attnsearch_bits_to_float(bits);
}

/* TDPBF16PS c, a, b as the SDM's pseudo-code computes it. */
static void attnsearch_amx_emu_dpbf16ps(int c, int a, int b)
{
    attnsearch_amx_emu_state *st = &attnsearch_amx_emu;
    if (!attnsearch_amx_emu_usable(c) || !attnsearch_amx_emu_usable(a) || !attnsearch_amx_emu_usable(b))
        return;
    int m = st->rows[c], k = st->colsb[a] / 4, n = st->colsb[c] / 4;
    if (c == a || c == b || a == b || st->colsb[a] % 4 || st->colsb[c] % 4
        || st->rows[a] != m || st->rows[b] != k || st->colsb[b] != st->colsb[c]) {
        attnsearch_amx_emu_fault();
        return;
    }
    for (int i = 0; i < m; i++) {
        float acc[16];
        memcpy(acc, st->data[c][i], sizeof acc);
        const uint16_t *arow = (const uint16_t *)st->data[a][i];
        for (int p = 0; p < k; p++) {
            const uint16_t *brow = (const uint16_t *)st->data[b][p];
            for (int j = 0; j < n; j++) {
                acc[j] = attnsearch_amx_emu_ftz(__builtin_fmaf(attnsearch_amx_emu_widen(arow[2 * p]),
                                                               attnsearch_amx_emu_widen(brow[2 * j]), acc[j]));
                acc[j] = attnsearch_amx_emu_ftz(__builtin_fmaf(attnsearch_amx_emu_widen(arow[2 * p + 1]),
                                                               attnsearch_amx_emu_widen(brow[2 * j + 1]), acc[j]));
            }
        }
        memcpy(st->data[c][i], acc, (size_t)n * 4);
    }
}

#define ATTNSEARCH_AMX_LOADCONFIG(cfg) attnsearch_amx_emu_loadconfig(cfg)
#define ATTNSEARCH_AMX_RELEASE() attnsearch_amx_emu_release()
#define ATTNSEARCH_AMX_LOAD(t, src, stride) attnsearch_amx_emu_load(t, src, stride)
#define ATTNSEARCH_AMX_STORE(t, dst, stride) attnsearch_amx_emu_store(t, dst, stride)
#define ATTNSEARCH_AMX_ZERO(t) attnsearch_amx_emu_zero(t)
#define ATTNSEARCH_AMX_DP(c, a, b) attnsearch_amx_emu_dpbf16ps(c, a, b)

static void attnsearch_amx_counters(long *faults, long *configs, long *releases)
{
    *faults = __atomic_load_n(&attnsearch_amx_emu_faults, __ATOMIC_RELAXED);
    *configs = __atomic_load_n(&attnsearch_amx_emu_configs, __ATOMIC_RELAXED);
    *releases = __atomic_load_n(&attnsearch_amx_emu_releases, __ATOMIC_RELAXED);
}

#elif ATTNSEARCH_HAVE_BF16_TILES && defined(__AMX_TILE__) && defined(__AMX_BF16__)
#define ATTNSEARCH_HAVE_AMX_TILES 1
#define ATTNSEARCH_AMX_KIND "hardware"
#include <immintrin.h>

#define ATTNSEARCH_AMX_LOADCONFIG(cfg) _tile_loadconfig(cfg)
#define ATTNSEARCH_AMX_RELEASE() _tile_release()
#define ATTNSEARCH_AMX_LOAD(t, src, stride) _tile_loadd(t, src, stride)
#define ATTNSEARCH_AMX_STORE(t, dst, stride) _tile_stored(t, dst, stride)
#define ATTNSEARCH_AMX_ZERO(t) _tile_zero(t)
#define ATTNSEARCH_AMX_DP(c, a, b) _tile_dpbf16ps(c, a, b)

static void attnsearch_amx_counters(long *faults, long *configs, long *releases)
{ *faults = *configs = *releases = -1; }   /* the hardware keeps no count */

#else
#define ATTNSEARCH_HAVE_AMX_TILES 0
#define ATTNSEARCH_AMX_KIND ""

static void attnsearch_amx_counters(long *faults, long *configs, long *releases)
{ *faults = *configs = *releases = -1; }
#endif

#if ATTNSEARCH_HAVE_AMX_TILES

/* The one configuration: 8 tiles of 16 rows x 64 bytes. */
static void attnsearch_amx_begin(void)
{
    attnsearch_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = ATTNSEARCH_AMX_ROWS;
        cfg.colsb[t] = 4 * ATTNSEARCH_AMX_PAIRS;
    }
    ATTNSEARCH_AMX_LOADCONFIG(&cfg);
}

static void attnsearch_amx_end(void) { ATTNSEARCH_AMX_RELEASE(); }

/* A 16 x 16 block of 32-bit words at src (ld words per row), of which only
 * rows x cols are read, into a zero-padded copy. */
static inline void attnsearch_amx_bounce_in(const void *src, ptrdiff_t ld, int rows, int cols,
                                            uint32_t *dst)
{
    memset(dst, 0, 16 * 16 * sizeof(uint32_t));
    for (int r = 0; r < rows; r++)
        memcpy(dst + 16 * r, (const uint32_t *)src + r * ld, (size_t)cols * sizeof(uint32_t));
}

/* Tile t from a (rows x cols of 32-bit words, ld words per row): in place when
 * it is a whole tile, else through the zero-padded bounce copy. */
#define ATTNSEARCH_AMX_LOAD_EDGE(t, src, ld, rows, cols, bounce)                      \
    do {                                                                              \
        if ((rows) == 16 && (cols) == 16) {                                           \
            ATTNSEARCH_AMX_LOAD(t, src, (ld) * 4);                                    \
        } else {                                                                      \
            attnsearch_amx_bounce_in(src, ld, rows, cols, bounce);                    \
            ATTNSEARCH_AMX_LOAD(t, bounce, 64);                                       \
        }                                                                             \
    } while (0)

/* Accumulator t to its rows of c (rows x 16 floats, ldc floats per row). */
#define ATTNSEARCH_AMX_STORE_EDGE(t, dst, ldc, rows, bounce)                          \
    do {                                                                              \
        if ((rows) == 16) {                                                           \
            ATTNSEARCH_AMX_STORE(t, dst, (ldc) * 4);                                  \
        } else {                                                                      \
            ATTNSEARCH_AMX_STORE(t, bounce, 64);                                      \
            for (int r_ = 0; r_ < (rows); r_++)                                       \
                memcpy((dst) + r_ * (ldc), (const float *)(bounce) + 16 * r_, 64);    \
        }                                                                             \
    } while (0)

/* c[0:m][0:n] (+)= a[0:m][0:k] . b[0:k][0:n]: a and b are bfloat16 pairs
 * (uint32, lda and ldb per row), c float32 (ldc per row); n a multiple of 16.
 * Blocks of 32 x 32 outputs on the 2 x 2 tiles; each output sums its k pairs
 * in increasing order, so the result does not depend on m or the block. */
static void attnsearch_amx_gemm(const uint32_t *a, ptrdiff_t lda, int m, const uint32_t *b,
                                ptrdiff_t ldb, int n, int k, float *c, ptrdiff_t ldc,
                                int accumulate)
{
    uint32_t bounce[4][16 * 16];   /* A rows 0-15, A rows 16-31, B cols 0-15, B cols 16-31 */
    for (int r0 = 0; r0 < m; r0 += 32) {
        int rows0 = m - r0 < 16 ? m - r0 : 16;
        int rows1 = m - r0 - 16 < 0 ? 0 : (m - r0 - 16 < 16 ? m - r0 - 16 : 16);
        const uint32_t *a0 = a + r0 * lda, *a1 = a0 + 16 * lda;
        float *c0 = c + r0 * ldc, *c1 = c0 + 16 * ldc;
        for (int j0 = 0; j0 < n; j0 += 32) {
            int two_cols = n - j0 >= 32;
            if (accumulate) {
                ATTNSEARCH_AMX_LOAD_EDGE(0, c0 + j0, ldc, rows0, 16, bounce[0]);
                if (two_cols) ATTNSEARCH_AMX_LOAD_EDGE(1, c0 + j0 + 16, ldc, rows0, 16, bounce[0]);
                if (rows1) {
                    ATTNSEARCH_AMX_LOAD_EDGE(2, c1 + j0, ldc, rows1, 16, bounce[0]);
                    if (two_cols) ATTNSEARCH_AMX_LOAD_EDGE(3, c1 + j0 + 16, ldc, rows1, 16, bounce[0]);
                }
            } else {
                ATTNSEARCH_AMX_ZERO(0);
                if (two_cols) ATTNSEARCH_AMX_ZERO(1);
                if (rows1) {
                    ATTNSEARCH_AMX_ZERO(2);
                    if (two_cols) ATTNSEARCH_AMX_ZERO(3);
                }
            }
            for (int p0 = 0; p0 < k; p0 += 16) {
                int pairs = k - p0 < 16 ? k - p0 : 16;
                ATTNSEARCH_AMX_LOAD_EDGE(4, a0 + p0, lda, rows0, pairs, bounce[0]);
                ATTNSEARCH_AMX_LOAD_EDGE(6, b + p0 * ldb + j0, ldb, pairs, 16, bounce[2]);
                ATTNSEARCH_AMX_DP(0, 4, 6);
                if (two_cols) {
                    ATTNSEARCH_AMX_LOAD_EDGE(7, b + p0 * ldb + j0 + 16, ldb, pairs, 16, bounce[3]);
                    ATTNSEARCH_AMX_DP(1, 4, 7);
                }
                if (rows1) {
                    ATTNSEARCH_AMX_LOAD_EDGE(5, a1 + p0, lda, rows1, pairs, bounce[1]);
                    ATTNSEARCH_AMX_DP(2, 5, 6);
                    if (two_cols) ATTNSEARCH_AMX_DP(3, 5, 7);
                }
            }
            ATTNSEARCH_AMX_STORE_EDGE(0, c0 + j0, ldc, rows0, bounce[0]);
            if (two_cols) ATTNSEARCH_AMX_STORE_EDGE(1, c0 + j0 + 16, ldc, rows0, bounce[0]);
            if (rows1) {
                ATTNSEARCH_AMX_STORE_EDGE(2, c1 + j0, ldc, rows1, bounce[0]);
                if (two_cols) ATTNSEARCH_AMX_STORE_EDGE(3, c1 + j0 + 16, ldc, rows1, bounce[0]);
            }
        }
    }
}

/* As attnsearch_bf16_qk_tile: scores of 32 keys per kpair panel (two B
 * tiles: the panel's keys 0-15 and 16-31, 128-byte rows), rows in blocks of
 * 32, a block skipped where none of its rows sees the panel. */
static void attnsearch_amx_qk_tile(const uint32_t *qpair, int rows_pad, int dk,
                                   const uint32_t *kpair, int n_panels, float scale,
                                   float *s, ptrdiff_t lds, ptrdiff_t visible0)
{
    int dpair = (dk + 1) / 2;
    for (int panel_index = 0; panel_index < n_panels; panel_index++) {
        const uint32_t *panel = kpair + (ptrdiff_t)panel_index * dpair * ATTNSEARCH_BF16_NR;
        for (int r = 0; r < rows_pad; r += 32) {
            int m = rows_pad - r < 32 ? rows_pad - r : 32;
            if (visible0 + r + m - 1 <= (ptrdiff_t)panel_index * ATTNSEARCH_BF16_NR) continue;
            float *s_block = s + (ptrdiff_t)r * lds + (ptrdiff_t)panel_index * ATTNSEARCH_BF16_NR;
            attnsearch_amx_gemm(qpair + (ptrdiff_t)r * dpair, dpair, m, panel, ATTNSEARCH_BF16_NR,
                                ATTNSEARCH_BF16_NR, dpair, s_block, lds, 0);
            for (int i = 0; i < m; i++)
                for (int t = 0; t < ATTNSEARCH_BF16_NR; t++) s_block[i * lds + t] *= scale;
        }
    }
}

/* As attnsearch_bf16_pv_tile: o += P V, a block of 32 rows stopping at the
 * keys its last row may see (the rows before it have zeros there). */
static void attnsearch_amx_pv_tile(const uint32_t *ppair, ptrdiff_t ldpp, int rows_pad,
                                   int bk, const uint32_t *vpair, int dvp, float *o,
                                   ptrdiff_t ldo, ptrdiff_t visible0)
{
    for (int r = 0; r < rows_pad; r += 32) {
        int m = rows_pad - r < 32 ? rows_pad - r : 32;
        ptrdiff_t limit = visible0 + r + m - 1;
        int keys = limit < 0 ? 0 : (limit > bk ? bk : (int)limit);
        if (keys == 0) continue;
        attnsearch_amx_gemm(ppair + (ptrdiff_t)r * ldpp, ldpp, m, vpair, dvp, dvp,
                            (keys + 1) / 2, o + (ptrdiff_t)r * ldo, ldo, 1);
    }
}

/* As attnsearch_bf16_gemm_tile (any rows_pad). */
static void attnsearch_amx_gemm_tile(const uint32_t *xpair, ptrdiff_t ldx, int rows_pad,
                                     int n_pairs, const uint32_t *wpair, int ldw, int ncols,
                                     float *o, ptrdiff_t ldo)
{
    attnsearch_amx_gemm(xpair, ldx, rows_pad, wpair, ldw, ncols, n_pairs, o, ldo, 1);
}

#define attnsearch_target_bf16_qk_tile attnsearch_amx_qk_tile
#define attnsearch_target_bf16_pv_tile attnsearch_amx_pv_tile
#define attnsearch_target_bf16_gemm_tile attnsearch_amx_gemm_tile

#else
/* No AMX: the vdpbf16ps tiles (or their never-called stand-ins). */
static inline void attnsearch_amx_begin(void) {}
static inline void attnsearch_amx_end(void) {}
#define attnsearch_target_bf16_qk_tile attnsearch_bf16_qk_tile
#define attnsearch_target_bf16_pv_tile attnsearch_bf16_pv_tile
#define attnsearch_target_bf16_gemm_tile attnsearch_bf16_gemm_tile
#endif

/* Two operations the hardware refuses, so the tests can see the emulation
 * count them: a product before any configuration and one whose tiles are not
 * distinct. Returns the faults they should add (0: nothing to count here). */
static int attnsearch_amx_fault_probe(void)
{
#if ATTNSEARCH_HAVE_AMX_TILES && defined(ATTNSEARCH_AMX_EMULATED)
    attnsearch_amx_emu_dpbf16ps(0, 4, 6);
    attnsearch_amx_begin();
    attnsearch_amx_emu_dpbf16ps(0, 0, 6);
    attnsearch_amx_end();
    return 2;
#else
    return 0;
#endif
}

#endif
