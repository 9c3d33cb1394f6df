/* One step's scan of tabu search over every spin flip of an Ising model, with
 * AVX-512 (8 spins at a time) or AVX2 (4).
 *
 * The generic scan of _engine._tabu_chain calls move_at, delta and the tabu
 * check per candidate, with branches that depend on the data: about 1.3 us a
 * step on G15 (800 spins), nearly all of the step. Here the flips' deltas,
 * -2 s_i h_i, and their admissibility (not tabu, or aspiration: cost + delta
 * below the best cost less the tolerance) are computed a vector at a time; a
 * first pass finds the least admissible delta and the least delta of all, a
 * second collects the admissible flips of that delta in index order. The
 * result is the generic scan's: the same tied moves in the same order (so the
 * same draw picks the same one), the delta of the last of them (the generic
 * scan's best_allowed, whose sign of zero is that move's) and, when no flip is
 * admissible, the first flip of least delta. The deltas are finite (the run
 * checks costs after every chunk). Without AVX2 (ATTNSEARCH_TABU_SCAN = 0) the
 * engine keeps its generic scan: written with GCC's vector extensions the
 * widening of the int8 spins and the tie masks compiled to scalar code, slower
 * than the generic scan on SSE2 (and on AVX2). */
#ifndef ATTNSEARCH_TABU_SCAN_H
#define ATTNSEARCH_TABU_SCAN_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#define ATTNSEARCH_TABU_SCAN 1
#else
#define ATTNSEARCH_TABU_SCAN 0
#endif

/* -2 s h exactly: -2 h with its sign flipped where s = -1. */
static inline double attnsearch_flip_delta(int8_t spin, double field)
{
    return -2.0 * spin * field;
}

/* Returns the number of admissible flips of least delta, written to ties
 * (room for n); *last_delta is the delta of the last. With none admissible it
 * returns 0 and *first_any / *any_delta are the first flip of least delta and
 * its delta (n > 0). Only with ATTNSEARCH_TABU_SCAN. */
static inline int64_t attnsearch_ising_tabu_scan(
    int64_t n, const int8_t *spins, const double *fields, const int64_t *tabu_until,
    int64_t step_index, int aspiration, double cost, double threshold, int64_t *ties,
    double *last_delta, int64_t *first_any, double *any_delta)
{
#if ATTNSEARCH_TABU_SCAN
    double best, best_any, d;
    int64_t k, found = 0;
    int ok_scalar;
#if defined(__AVX512F__)
    const __m512d minus_two = _mm512_set1_pd(-2.0), vcost = _mm512_set1_pd(cost);
    const __m512d vthreshold = _mm512_set1_pd(threshold);
    const __m512i vstep = _mm512_set1_epi64(step_index);
    const __m512i sign = _mm512_set1_epi64(INT64_MIN);
    __m512d vbest = _mm512_set1_pd(INFINITY), vany = vbest, vleast, vd;
    __m512i vs;
    __mmask8 ok, hit;
    int64_t last = n - n % 8;
#define ATTNSEARCH_SCAN_WIDTH 8
    /* d = -2 s h: -2 h, sign bit flipped where s < 0 (the same double) */
#define ATTNSEARCH_SCAN_LOAD(k)                                                     \
    vs = _mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i *)(spins + (k))));     \
    vd = _mm512_castsi512_pd(_mm512_xor_si512(                                      \
        _mm512_castpd_si512(_mm512_mul_pd(minus_two, _mm512_loadu_pd(fields + (k)))), \
        _mm512_and_si512(vs, sign)));                                               \
    ok = _mm512_cmp_epi64_mask(_mm512_loadu_si512(tabu_until + (k)), vstep,         \
                               _MM_CMPINT_LE);                                      \
    if (aspiration)                                                                 \
        ok |= _mm512_cmp_pd_mask(_mm512_add_pd(vcost, vd), vthreshold, _CMP_LT_OQ);
    for (k = 0; k < last; k += 8) {
        ATTNSEARCH_SCAN_LOAD(k)
        vany = _mm512_min_pd(vd, vany);
        vbest = _mm512_mask_min_pd(vbest, ok, vd, vbest);
    }
    best = _mm512_reduce_min_pd(vbest);
    best_any = _mm512_reduce_min_pd(vany);
#define ATTNSEARCH_SCAN_HITS(k)                                                     \
    ATTNSEARCH_SCAN_LOAD(k)                                                         \
    hit = ok & _mm512_cmp_pd_mask(vd, vleast, _CMP_EQ_OQ);
#define ATTNSEARCH_SCAN_LEAST() vleast = _mm512_set1_pd(best);
#else /* AVX2: 4 spins at a time, masks as vectors */
    const __m256d minus_two = _mm256_set1_pd(-2.0), vcost = _mm256_set1_pd(cost);
    const __m256d vthreshold = _mm256_set1_pd(threshold);
    const __m256i vstep = _mm256_set1_epi64x(step_index);
    const __m256i sign = _mm256_set1_epi64x(INT64_MIN);
    __m256d vbest = _mm256_set1_pd(INFINITY), vany = vbest, vleast, vd, ok;
    __m256i vs;
    int32_t four;
    int hit;
    int64_t last = n - n % 4;
#define ATTNSEARCH_SCAN_WIDTH 4
    double lanes[4];
#define ATTNSEARCH_SCAN_LOAD(k)                                                     \
    memcpy(&four, spins + (k), 4);                                                  \
    vs = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four));                             \
    vd = _mm256_castsi256_pd(_mm256_xor_si256(                                      \
        _mm256_castpd_si256(_mm256_mul_pd(minus_two, _mm256_loadu_pd(fields + (k)))), \
        _mm256_and_si256(vs, sign)));                                               \
    ok = _mm256_castsi256_pd(_mm256_xor_si256(                                      \
        _mm256_cmpgt_epi64(_mm256_loadu_si256((const __m256i *)(tabu_until + (k))), \
                           vstep),                                                  \
        _mm256_set1_epi64x(-1)));                                                   \
    if (aspiration)                                                                 \
        ok = _mm256_or_pd(ok, _mm256_cmp_pd(_mm256_add_pd(vcost, vd), vthreshold,   \
                                            _CMP_LT_OQ));
    for (k = 0; k < last; k += 4) {
        ATTNSEARCH_SCAN_LOAD(k)
        vany = _mm256_min_pd(vd, vany);
        vbest = _mm256_blendv_pd(vbest, _mm256_min_pd(vd, vbest), ok);
    }
    _mm256_storeu_pd(lanes, vbest);
    best = lanes[0];
    for (k = 1; k < 4; k++)
        best = lanes[k] < best ? lanes[k] : best;
    _mm256_storeu_pd(lanes, vany);
    best_any = lanes[0];
    for (k = 1; k < 4; k++)
        best_any = lanes[k] < best_any ? lanes[k] : best_any;
#define ATTNSEARCH_SCAN_HITS(k)                                                     \
    ATTNSEARCH_SCAN_LOAD(k)                                                         \
    hit = _mm256_movemask_pd(_mm256_and_pd(ok, _mm256_cmp_pd(vd, vleast, _CMP_EQ_OQ)));
#define ATTNSEARCH_SCAN_LEAST() vleast = _mm256_set1_pd(best);
#endif
    for (k = last; k < n; k++) {
        d = attnsearch_flip_delta(spins[k], fields[k]);
        ok_scalar = tabu_until[k] <= step_index || (aspiration && cost + d < threshold);
        if (d < best_any)
            best_any = d;
        if (ok_scalar && d < best)
            best = d;
    }
    if (best == INFINITY) { /* nothing admissible: the first flip of least delta */
        for (k = 0; k < n; k++) {
            d = attnsearch_flip_delta(spins[k], fields[k]);
            if (d == best_any) {
                *first_any = k;
                *any_delta = d;
                return 0;
            }
        }
        *first_any = 0; /* unreachable with finite deltas */
        *any_delta = attnsearch_flip_delta(spins[0], fields[0]);
        return 0;
    }
    ATTNSEARCH_SCAN_LEAST()
    for (k = 0; k < last; k += ATTNSEARCH_SCAN_WIDTH) {
        ATTNSEARCH_SCAN_HITS(k)
        while (hit) {
            ties[found++] = k + __builtin_ctz(hit);
            hit &= hit - 1;
        }
    }
#undef ATTNSEARCH_SCAN_LOAD
#undef ATTNSEARCH_SCAN_HITS
#undef ATTNSEARCH_SCAN_LEAST
#undef ATTNSEARCH_SCAN_WIDTH
    for (k = last; k < n; k++) {
        d = attnsearch_flip_delta(spins[k], fields[k]);
        ok_scalar = tabu_until[k] <= step_index || (aspiration && cost + d < threshold);
        if (ok_scalar && d == best)
            ties[found++] = k;
    }
    *last_delta = attnsearch_flip_delta(spins[ties[found - 1]], fields[ties[found - 1]]);
    return found;
#else
    (void)n, (void)spins, (void)fields, (void)tabu_until, (void)step_index;
    (void)aspiration, (void)cost, (void)threshold, (void)ties, (void)last_delta;
    (void)first_any, (void)any_delta;
    return 0;
#endif
}

#endif
