/* xoshiro256++ (Blackman & Vigna, 2019) with the helpers the search kernels use.
 *
 * One generator per chain, passed by pointer: chain c only ever touches its own
 * state, so results do not depend on which thread runs the chain. States are
 * seeded from NumPy's SeedSequence in Python (4 x uint64 per chain, never all
 * zero). Doubles use the top 53 bits; bounded integers use Lemire's
 * multiply-and-reject method (no modulo bias). The Python reference
 * (attnsearch.search._rng and tests/test_search_rng.py) implements the same
 * arithmetic, so the two draw identical streams.
 */
#ifndef ATTNSEARCH_RNG_H
#define ATTNSEARCH_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} attnsearch_rng;

static inline uint64_t attnsearch_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t attnsearch_rng_next(attnsearch_rng *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = attnsearch_rotl(s[0] + s[3], 23) + s[0];
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = attnsearch_rotl(s[3], 45);
    return result;
}

/* Advance the state by 2^128 draws (Blackman & Vigna's jump(): the state
 * after it is a fixed linear function of the state before it), e.g. to split
 * one state into streams that cannot overlap in any practical run. */
static inline void attnsearch_rng_jump(attnsearch_rng *rng)
{
    static const uint64_t jump[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                     0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i, b;
    for (i = 0; i < 4; i++)
        for (b = 0; b < 64; b++) {
            if (jump[i] & ((uint64_t)1 << b)) {
                s0 ^= rng->s[0];
                s1 ^= rng->s[1];
                s2 ^= rng->s[2];
                s3 ^= rng->s[3];
            }
            attnsearch_rng_next(rng);
        }
    rng->s[0] = s0;
    rng->s[1] = s1;
    rng->s[2] = s2;
    rng->s[3] = s3;
}

/* Uniform double in [0, 1) from the top 53 bits. */
static inline double attnsearch_rng_uniform(attnsearch_rng *rng)
{
    return (double)(attnsearch_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) for n >= 1 (Lemire 2019, "Fast random integer
 * generation in an interval"): multiply, reject the biased low range. */
static inline uint64_t attnsearch_rng_below(attnsearch_rng *rng, uint64_t n)
{
#if defined(__SIZEOF_INT128__)
    uint64_t x = attnsearch_rng_next(rng);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            x = attnsearch_rng_next(rng);
            m = (__uint128_t)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
#else
    /* Same result as above, with the 128-bit product built from 32-bit halves. */
    uint64_t x, hi, low;
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        x = attnsearch_rng_next(rng);
        uint64_t x_lo = x & 0xffffffffu, x_hi = x >> 32;
        uint64_t n_lo = n & 0xffffffffu, n_hi = n >> 32;
        uint64_t lo_lo = x_lo * n_lo, hi_lo = x_hi * n_lo;
        uint64_t lo_hi = x_lo * n_hi, hi_hi = x_hi * n_hi;
        uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
        hi = hi_hi + (hi_lo >> 32) + (cross >> 32);
        low = (cross << 32) | (lo_lo & 0xffffffffu);
        if (low >= n || low >= threshold) return hi;
    }
#endif
}

/* Standard normal by the Marsaglia polar method (two uniforms per attempt;
 * the second value of the pair is discarded to keep the state a plain
 * xoshiro state). */
static inline double attnsearch_rng_normal(attnsearch_rng *rng)
{
    double u, v, s;
    do {
        u = 2.0 * attnsearch_rng_uniform(rng) - 1.0;
        v = 2.0 * attnsearch_rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

#endif
