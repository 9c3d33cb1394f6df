"""Particle swarm optimisation of the built-in continuous functions, swarms in parallel.

Each chain is a swarm of P particles in d dimensions (row-major (P, d) blocks of
one (n_chains, P, d) array per quantity). Iterations are synchronous: every
particle's neighbourhood best is fixed first, then all particles move, then all
are evaluated (csrc/attnsearch_testfuncs.h) and personal and swarm bests
updated. Random draws come from the swarm's own xoshiro256++ stream in a fixed
order (particle by particle: one 64-bit draw per coordinate, whose halves give
the two 32-bit uniforms, then one more per coordinate that the "random" boundary
redraws), so results are bitwise
identical for any number of threads. The Python reference (``_SwarmReference``
in swarm.py) draws the same numbers in the same order.
"""

from cython.parallel cimport prange
from libc.math cimport INFINITY, fmod
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy

from attnsearch.search.cython_api cimport attnsearch_rng, rng_next, rng_uniform
from attnsearch.search.problems.continuous._core cimport (
    ContinuousCore,
    ContinuousData,
    function_value,
)

import numpy as np

include "attnsearch/_compiled_target.pxi"

cdef extern from "attnsearch_clock.h" nogil:
    double monotonic "attnsearch_monotonic"()

cdef double TWO_TO_MINUS_32 = 2.3283064365386963e-10

cdef enum:
    TOPOLOGY_GLOBAL = 0
    TOPOLOGY_RING = 1
    TOPOLOGY_VON_NEUMANN = 2
    BOUNDARY_REFLECT = 0
    BOUNDARY_CLIP = 1
    BOUNDARY_RANDOM = 2
    BOUNDARY_PERIODIC = 3

TOPOLOGIES = {"global": TOPOLOGY_GLOBAL, "ring": TOPOLOGY_RING,
              "von_neumann": TOPOLOGY_VON_NEUMANN}
BOUNDARIES = {"reflect": BOUNDARY_REFLECT, "clip": BOUNDARY_CLIP,
              "random": BOUNDARY_RANDOM, "periodic": BOUNDARY_PERIODIC}


cdef struct Swarm:
    int64_t n_particles
    int64_t dim
    double w, c1, c2
    const double *vmax          # per coordinate, or NULL: no clamp
    int topology
    int boundary
    int64_t grid_cols           # von Neumann grid: rows x grid_cols particles
    double target
    double deadline


cdef inline int64_t _better(const double *f, int64_t a, int64_t b) noexcept nogil:
    """The particle with the lower personal best (a on ties)."""
    return b if f[b] < f[a] else a


cdef void _neighbourhood_bests(const Swarm *s, const double *pbest_f,
                               int64_t *best_of) noexcept nogil:
    cdef int64_t i, p = s.n_particles, g = 0, row, col, rows, cols
    if s.topology == TOPOLOGY_GLOBAL:
        for i in range(1, p):
            if pbest_f[i] < pbest_f[g]:
                g = i
        for i in range(p):
            best_of[i] = g
    elif s.topology == TOPOLOGY_RING:
        for i in range(p):
            g = _better(pbest_f, i, (i - 1 + p) % p)
            best_of[i] = _better(pbest_f, g, (i + 1) % p)
    else:
        cols = s.grid_cols
        rows = p // cols
        for i in range(p):
            row = i // cols
            col = i % cols
            g = _better(pbest_f, i, ((row - 1 + rows) % rows) * cols + col)
            g = _better(pbest_f, g, ((row + 1) % rows) * cols + col)
            g = _better(pbest_f, g, row * cols + (col - 1 + cols) % cols)
            best_of[i] = _better(pbest_f, g, row * cols + (col + 1) % cols)


cdef void _swarm_chain(const ContinuousData *p, const Swarm *s, double *x, double *v,
                       double *pbest, double *pbest_f, double *best, double *best_f,
                       int64_t *best_of, double *pulls, uint64_t *rng_state,
                       int64_t n_iters,
                       int64_t *evaluations, int64_t *improvements, int64_t *progress,
                       int32_t *status) noexcept nogil:
    cdef:
        attnsearch_rng rng = (<attnsearch_rng *>rng_state)[0]
        int64_t _iteration, i, j, n = s.n_particles, d = s.dim, row, leader, outside
        uint64_t bits
        double value, velocity, position, lo, hi, width
        double w = s.w, c1 = s.c1, c2 = s.c2
        const double *vmax = s.vmax
        double *xi
        double *vi
        const double *own
        const double *lead
        const double *r1
        const double *r2
    for _iteration in range(n_iters):
        _neighbourhood_bests(s, pbest_f, best_of)
        for i in range(n):
            row = i * d
            leader = best_of[i] * d
            # All draws of the particle first (one 64-bit draw gives both 32-bit
            # uniforms: half the RNG cost, and 2^-32 is plenty of resolution), so
            # that the arithmetic below is a vectorisable loop.
            for j in range(d):
                bits = rng_next(&rng)
                pulls[j] = <double>(bits >> 32) * TWO_TO_MINUS_32
                pulls[d + j] = <double>((bits << 32) >> 32) * TWO_TO_MINUS_32
            # Local copies of everything the loop reads, so that gcc can keep them
            # in registers and vectorise it.
            xi = x + row
            vi = v + row
            own = pbest + row
            lead = pbest + leader
            r1 = pulls
            r2 = pulls + d
            for j in range(d):
                velocity = (w * vi[j] + c1 * r1[j] * (own[j] - xi[j])
                            + c2 * r2[j] * (lead[j] - xi[j]))
                vi[j] = velocity
            if vmax != NULL:
                for j in range(d):
                    vi[j] = min(vmax[j], max(-vmax[j], vi[j]))
            outside = 0
            for j in range(d):
                xi[j] = xi[j] + vi[j]
                outside += (xi[j] < p.lower[j]) | (xi[j] > p.upper[j])
            for j in range(d if outside else 0):  # most particles stay inside
                position = x[row + j]
                lo = p.lower[j]
                hi = p.upper[j]
                if position < lo or position > hi:
                    velocity = v[row + j]
                    if s.boundary == BOUNDARY_REFLECT:
                        position = lo + (lo - position) if position < lo else hi - (position - hi)
                        position = min(hi, max(lo, position))
                        velocity = -velocity
                    elif s.boundary == BOUNDARY_CLIP:
                        position = min(hi, max(lo, position))
                        velocity = 0.0
                    elif s.boundary == BOUNDARY_PERIODIC:
                        width = hi - lo
                        if position < lo:
                            position = hi - fmod(lo - position, width)
                        else:
                            position = lo + fmod(position - hi, width)
                    else:
                        position = lo + rng_uniform(&rng) * (hi - lo)
                    x[row + j] = position
                    v[row + j] = velocity
        for i in range(n):
            value = function_value(p.function, &x[i * d], d, -1, 0.0)
            if value < pbest_f[i]:
                pbest_f[i] = value
                memcpy(&pbest[i * d], &x[i * d], d * sizeof(double))
                improvements[0] += 1
                if value < best_f[0]:
                    best_f[0] = value
                    memcpy(best, &x[i * d], d * sizeof(double))
        evaluations[0] += n
        progress[0] += 1
        if best_f[0] <= s.target:
            status[0] = 2  # STATUS_TARGET
            break
        if monotonic() > s.deadline:
            status[0] = 3  # STATUS_TIME
            break
    (<attnsearch_rng *>rng_state)[0] = rng


cdef void _init_chain(const ContinuousData *p, const Swarm *s, double *x, double *v,
                      double *pbest, double *pbest_f, double *best, double *best_f,
                      uint64_t *rng_state, const double *vinit, bint random_start,
                      int64_t *evaluations) noexcept nogil:
    cdef:
        attnsearch_rng rng = (<attnsearch_rng *>rng_state)[0]
        int64_t i, j, n = s.n_particles, d = s.dim
        double value
    for i in range(n):
        for j in range(d):
            if random_start:
                x[i * d + j] = p.lower[j] + rng_uniform(&rng) * (p.upper[j] - p.lower[j])
            v[i * d + j] = (2.0 * rng_uniform(&rng) - 1.0) * vinit[j]
    best_f[0] = INFINITY
    for i in range(n):
        value = function_value(p.function, &x[i * d], d, -1, 0.0)
        pbest_f[i] = value
        memcpy(&pbest[i * d], &x[i * d], d * sizeof(double))
        if value < best_f[0]:
            best_f[0] = value
            memcpy(best, &x[i * d], d * sizeof(double))
    evaluations[0] += n
    (<attnsearch_rng *>rng_state)[0] = rng


def swarm_run(ContinuousCore core, arrays, Py_ssize_t n_iters, double w, double c1,
              double c2, vmax, str topology, str boundary, Py_ssize_t grid_cols,
              double target, double deadline, int num_threads, bint initialise=False,
              random_start=None, vinit=None):
    """Initialise (``initialise=True``) or run ``n_iters`` iterations of every swarm
    whose status is 0, updating ``arrays`` (a SwarmArrays) in place."""
    cdef Swarm s
    cdef const ContinuousData *p = &core.data
    cdef double[:, :, ::1] x = arrays.x
    cdef double[:, :, ::1] v = arrays.v
    cdef double[:, :, ::1] pbest = arrays.pbest
    cdef double[:, ::1] pbest_f = arrays.pbest_f
    cdef double[:, ::1] best = arrays.best
    cdef double[::1] best_f = arrays.best_f
    cdef int64_t[:, ::1] best_of = arrays.best_of
    cdef double[:, ::1] pulls = np.empty((arrays.x.shape[0], 2 * arrays.x.shape[2]))
    cdef uint64_t[:, ::1] rng = arrays.rng
    cdef int64_t[::1] evaluations = arrays.n_evaluations
    cdef int64_t[::1] improvements = arrays.n_accepted
    cdef int64_t[::1] progress = arrays.progress
    cdef int32_t[::1] status = arrays.status
    cdef const double[::1] vmax_view
    cdef const double[::1] vinit_view
    cdef const unsigned char[::1] random_view
    cdef Py_ssize_t n_chains = x.shape[0], c
    s.n_particles = x.shape[1]
    s.dim = x.shape[2]
    s.w, s.c1, s.c2 = w, c1, c2
    s.vmax = NULL
    if vmax is not None:
        vmax_view = np.ascontiguousarray(vmax, dtype=np.float64)
        s.vmax = &vmax_view[0]
    s.topology = TOPOLOGIES[topology]
    s.boundary = BOUNDARIES[boundary]
    s.grid_cols = grid_cols
    s.target = target
    s.deadline = deadline
    if s.dim != core.data.dim:
        raise ValueError("swarm dimension does not match the problem")
    if n_chains == 0:
        return
    if initialise:
        vinit_view = np.ascontiguousarray(vinit, dtype=np.float64)
        random_view = np.ascontiguousarray(random_start, dtype=np.uint8)
        with nogil:
            for c in prange(n_chains, schedule="dynamic", num_threads=num_threads):
                _init_chain(p, &s, &x[c, 0, 0], &v[c, 0, 0], &pbest[c, 0, 0],
                            &pbest_f[c, 0], &best[c, 0], &best_f[c], &rng[c, 0],
                            &vinit_view[0], random_view[c], &evaluations[c])
        return
    with nogil:
        for c in prange(n_chains, schedule="dynamic", num_threads=num_threads):
            if status[c] == 0:
                _swarm_chain(p, &s, &x[c, 0, 0], &v[c, 0, 0], &pbest[c, 0, 0],
                             &pbest_f[c, 0], &best[c, 0], &best_f[c], &best_of[c, 0],
                             &pulls[c, 0], &rng[c, 0], n_iters, &evaluations[c],
                             &improvements[c], &progress[c], &status[c])
