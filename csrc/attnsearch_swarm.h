/* The particle swarm's per-iteration passes over a whole swarm (methods/_swarm.pyx).
 *
 * A swarm of P particles in d dimensions is a row-major (P, d) block; every pass
 * here runs over the n = P * d coordinates as one flat loop, which the compiler
 * vectorises whatever d is (a loop per particle of d = 30 left a scalar tail on
 * every row).
 *
 * Random pulls come from ATTNSEARCH_SWARM_LANES independent xoshiro256++
 * streams ("lanes") per swarm, stored lane-major per state word (word w of
 * lane l at lanes[w * LANES + l]) so that one step of all lanes is an
 * elementwise loop: each iteration takes ceil(n / LANES) steps, draw
 * k = step * LANES + l is lane l's output of that step, coordinate k of the
 * block uses draw k and the draws past n are discarded. The upper and lower
 * 32 bits of a draw give the two uniforms r1 and r2 (2^-32 resolution).
 * How the lanes are seeded: _swarm.pyx (and swarm.py, the Python mirror,
 * which draws the same numbers through attnsearch.search.ChainRNG).
 */
#ifndef ATTNSEARCH_SWARM_H
#define ATTNSEARCH_SWARM_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "attnsearch_rng.h"

/* 16 lanes: two AVX-512 vectors (four AVX2 ones) of independent streams, so the
 * latency of one step's dependency chain is hidden. */
#define ATTNSEARCH_SWARM_LANES 16

/* The next ceil(n / LANES) outputs of every lane, interleaved: out[step * LANES + l]. */
static inline void attnsearch_lanes_fill(uint64_t *lanes, uint64_t *out, int64_t n_steps)
{
    enum { L = ATTNSEARCH_SWARM_LANES };
    uint64_t s0[L], s1[L], s2[L], s3[L];
    int64_t step;
    int l;
    memcpy(s0, lanes, sizeof s0);
    memcpy(s1, lanes + L, sizeof s1);
    memcpy(s2, lanes + 2 * L, sizeof s2);
    memcpy(s3, lanes + 3 * L, sizeof s3);
    for (step = 0; step < n_steps; step++) {
        uint64_t *o = out + step * L;
        for (l = 0; l < L; l++) {
            /* attnsearch_rng_next, lane by lane (the rotations spelt out). */
            uint64_t sum = s0[l] + s3[l];
            uint64_t result = ((sum << 23) | (sum >> 41)) + s0[l];
            uint64_t t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = (s3[l] << 45) | (s3[l] >> 19);
            o[l] = result;
        }
    }
    memcpy(lanes, s0, sizeof s0);
    memcpy(lanes + L, s1, sizeof s1);
    memcpy(lanes + 2 * L, s2, sizeof s2);
    memcpy(lanes + 3 * L, s3, sizeof s3);
}

/* u (< 2^32) as a double, exactly: the bits of 2^52 + u minus 2^52. The same
 * value as (double)u, in integer operations every vector ISA has (AVX2 has no
 * unsigned 64-bit to double conversion). */
static inline double attnsearch_u32_to_double(uint64_t u)
{
    union {
        uint64_t i;
        double d;
    } bits;
    bits.i = u | 0x4330000000000000ULL;
    return bits.d - 4503599627370496.0;
}

/* Velocity and position of coordinate k:
 * v <- w v + c1 r1 (own - x) + c2 r2 (lead - x), clamped to |v| <= vmax when
 * vmax is given, then x <- x + v; r1, r2 from the halves of draw k. */
#define ATTNSEARCH_SWARM_MOVE(clamp)                                                      \
    for (k = 0; k < n; k++) {                                                             \
        double r1 = attnsearch_u32_to_double(draws[k] >> 32) * 2.3283064365386963e-10;    \
        double r2 =                                                                       \
            attnsearch_u32_to_double(draws[k] & 0xffffffffu) * 2.3283064365386963e-10;    \
        double position = x[k];                                                           \
        double velocity = w * v[k] + c1 * r1 * (own[k] - position) +                      \
                          c2 * r2 * (lead[k] - position);                                 \
        if (clamp) {                                                                      \
            velocity = velocity > -vmax[k] ? velocity : -vmax[k];                         \
            velocity = velocity < vmax[k] ? velocity : vmax[k];                           \
        }                                                                                 \
        position += velocity;                                                             \
        v[k] = velocity;                                                                  \
        x[k] = position;                                                                  \
        outside += (position < lower[k]) | (position > upper[k]);                         \
    }

/* One pass over the block: every coordinate's velocity and position (vmax,
 * lower and upper tiled over the block; vmax NULL: no clamp). Returns the
 * number of coordinates then outside [lower, upper]. */
static inline int64_t attnsearch_swarm_move(int64_t n, double w, double c1, double c2,
                                            double *x, double *v, const double *own,
                                            const double *lead, const uint64_t *draws,
                                            const double *vmax, const double *lower,
                                            const double *upper)
{
    int64_t k, outside = 0;
    if (vmax != NULL) {
        ATTNSEARCH_SWARM_MOVE(1)
    } else {
        ATTNSEARCH_SWARM_MOVE(0)
    }
    return outside;
}
#undef ATTNSEARCH_SWARM_MOVE

/* What a coordinate that left the box does (_swarm.pyx BOUNDARIES). */
enum {
    ATTNSEARCH_WALL_REFLECT = 0,
    ATTNSEARCH_WALL_CLIP = 1,
    ATTNSEARCH_WALL_RANDOM = 2,
    ATTNSEARCH_WALL_PERIODIC = 3
};

/* Coordinate k back into [lower, upper] by the rule of the walls ("random"
 * draws from rng). */
static inline void attnsearch_swarm_wall(double *x, double *v, double lo, double hi,
                                         int walls, attnsearch_rng *rng)
{
    double position = *x, velocity = *v;
    if (walls == ATTNSEARCH_WALL_REFLECT) {
        position = position < lo ? lo + (lo - position) : hi - (position - hi);
        position = position > lo ? position : lo;
        position = hi < position ? hi : position;
        velocity = -velocity;
    } else if (walls == ATTNSEARCH_WALL_CLIP) {
        position = position > lo ? position : lo;
        position = hi < position ? hi : position;
        velocity = 0.0;
    } else if (walls == ATTNSEARCH_WALL_PERIODIC) {
        position = position < lo ? hi - fmod(lo - position, hi - lo)
                                 : lo + fmod(position - hi, hi - lo);
    } else {
        position = lo + attnsearch_rng_uniform(rng) * (hi - lo);
    }
    *x = position;
    *v = velocity;
}

/* Every coordinate outside [lower, upper] (tiled) back in. A swarm sends
 * several percent of its coordinates out of the box in every iteration (150 of
 * 1500 on average on Rastrigin-30, with periodic walls), so the walls that draw
 * nothing are elementwise loops the compiler vectorises: reflecting and
 * clipping as they are, periodic walls for a coordinate less than a box width
 * out, where fmod(over, width) is over itself (the rarer coordinates further
 * out are left outside and wrapped by fmod after the loop). "random" draws
 * from rng, coordinate after coordinate in index order; blocks of 16
 * coordinates are tested with a vectorisable loop first. */
static inline void attnsearch_swarm_walls(int64_t n, double *x, double *v,
                                          const double *lower, const double *upper,
                                          int walls, attnsearch_rng *rng)
{
    enum { BLOCK = 16 };
    int64_t k0, k, far = 0;
    if (walls == ATTNSEARCH_WALL_REFLECT) {
        for (k = 0; k < n; k++) {
            double position = x[k], lo = lower[k], hi = upper[k];
            int below = position < lo, out = below | (position > hi);
            double moved = below ? lo + (lo - position) : hi - (position - hi);
            moved = moved > lo ? moved : lo;
            moved = hi < moved ? hi : moved;
            x[k] = out ? moved : position;
            v[k] = out ? -v[k] : v[k];
        }
        return;
    }
    if (walls == ATTNSEARCH_WALL_CLIP) {
        for (k = 0; k < n; k++) {
            double position = x[k], lo = lower[k], hi = upper[k];
            int out = (position < lo) | (position > hi);
            double moved = position > lo ? position : lo;
            moved = hi < moved ? hi : moved;
            x[k] = out ? moved : position;
            v[k] = out ? 0.0 : v[k];
        }
        return;
    }
    if (walls == ATTNSEARCH_WALL_PERIODIC) {
        for (k = 0; k < n; k++) {
            double position = x[k], lo = lower[k], hi = upper[k];
            int64_t below = position < lo, above = position > hi;
            double over = below ? lo - position : position - hi;
            double wrapped = below ? hi - over : lo + over;
            int64_t near = over < hi - lo;
            x[k] = (below | above) & near ? wrapped : position;
            far += (below | above) & (near ^ 1);
        }
        if (!far) return;
    }
    for (k0 = 0; k0 < n; k0 += BLOCK) {
        int64_t end = n - k0 < BLOCK ? n : k0 + BLOCK;
        int any = 0;
        for (k = k0; k < end; k++) any |= (x[k] < lower[k]) | (x[k] > upper[k]);
        if (!any) continue;
        for (k = k0; k < end; k++)
            if (x[k] < lower[k] || x[k] > upper[k])
                attnsearch_swarm_wall(&x[k], &v[k], lower[k], upper[k], walls, rng);
    }
}

#endif
