"""Particle swarm optimisation of the built-in continuous functions, swarms in parallel.

Each chain is a swarm of P particles in d dimensions (row-major (P, d) blocks of
one (n_chains, P, d) array per quantity). Iterations are synchronous: every
particle's neighbourhood best is fixed first, then all particles move, then all
are evaluated and personal and swarm bests updated. Each step is a pass over
the swarm's whole (P, d) block (csrc/attnsearch_swarm.h: draws, velocities,
positions; csrc/attnsearch_testfuncs.h: the values of all particles), flat
loops the compiler vectorises.

Random numbers: the pulls r1, r2 come from the swarm's SWARM_LANES lanes,
independent xoshiro256++ streams drawn in an interleaved order (see
attnsearch_swarm.h); lane l starts from the swarm's own state advanced by l + 1
jumps of 2^128 draws (``lane_states``), so the lanes never overlap each other
or the swarm's own stream, which draws the initial positions and velocities
and the positions that the "random" walls redraw (particle by particle,
coordinate by coordinate). Everything a swarm draws depends on its state
alone, so results are bitwise identical for any number of threads. The Python
reference (``_SwarmReference`` in swarm.py) draws the same numbers in the same
order.
"""

from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy

from attnsearch.search.cython_api cimport attnsearch_rng, rng_uniform
from attnsearch.search.problems.continuous._core cimport (
    ContinuousCore,
    ContinuousData,
    function_value,
)

import numpy as np

include "attnsearch/_compiled_target.pxi"

cdef extern from "attnsearch_clock.h" nogil:
    double monotonic "attnsearch_monotonic"()

cdef extern from "attnsearch_rng.h" nogil:
    void rng_jump "attnsearch_rng_jump"(attnsearch_rng *rng)

cdef extern from "attnsearch_swarm.h" nogil:
    enum: SWARM_LANES "ATTNSEARCH_SWARM_LANES"
    enum:
        BOUNDARY_REFLECT "ATTNSEARCH_WALL_REFLECT"
        BOUNDARY_CLIP "ATTNSEARCH_WALL_CLIP"
        BOUNDARY_RANDOM "ATTNSEARCH_WALL_RANDOM"
        BOUNDARY_PERIODIC "ATTNSEARCH_WALL_PERIODIC"
    void lanes_fill "attnsearch_lanes_fill"(uint64_t *lanes, uint64_t *out, int64_t n_steps)
    int64_t swarm_move "attnsearch_swarm_move"(
        int64_t n, double w, double c1, double c2, double *x, double *v,
        const double *own, const double *lead, const uint64_t *draws,
        const double *vmax, const double *lower, const double *upper)
    void swarm_walls "attnsearch_swarm_walls"(
        int64_t n, double *x, double *v, const double *lower, const double *upper,
        int walls, attnsearch_rng *rng)

cdef extern from "attnsearch_testfuncs.h" nogil:
    void function_values_block "attnsearch_function_values_block"(
        int function, const double *x, int64_t n_points, int64_t dim, double *out,
        double *scratch)

#: Random streams per swarm (the pulls' lanes, see the module's notes).
LANES = SWARM_LANES

cdef enum:
    TOPOLOGY_GLOBAL = 0
    TOPOLOGY_RING = 1
    TOPOLOGY_VON_NEUMANN = 2

TOPOLOGIES = {"global": TOPOLOGY_GLOBAL, "ring": TOPOLOGY_RING,
              "von_neumann": TOPOLOGY_VON_NEUMANN}
BOUNDARIES = {"reflect": BOUNDARY_REFLECT, "clip": BOUNDARY_CLIP,
              "random": BOUNDARY_RANDOM, "periodic": BOUNDARY_PERIODIC}


cdef struct Swarm:
    int64_t n_particles
    int64_t dim
    double w, c1, c2
    const double *vmax          # per coordinate tiled over (P, d), or NULL: no clamp
    const double *lower         # the box, tiled over (P, d)
    const double *upper
    int topology
    int boundary
    const int64_t *neighbours   # (P, n_neighbours): _neighbour_table (not global)
    int64_t n_neighbours
    double target
    double deadline


cdef inline int64_t _better(const double *f, int64_t a, int64_t b) noexcept nogil:
    """The particle with the lower personal best (a on ties)."""
    return b if f[b] < f[a] else a


cdef void _neighbourhood_bests(const Swarm *s, const double *pbest_f,
                               int64_t *best_of) noexcept nogil:
    cdef int64_t i, m, p = s.n_particles, k = s.n_neighbours, g = 0
    cdef const int64_t *neighbours
    if s.topology == TOPOLOGY_GLOBAL:
        for i in range(1, p):
            if pbest_f[i] < pbest_f[g]:
                g = i
        for i in range(p):
            best_of[i] = g
        return
    for i in range(p):
        neighbours = s.neighbours + i * k
        g = i
        for m in range(k):
            g = _better(pbest_f, g, neighbours[m])
        best_of[i] = g


def _neighbour_table(str topology, Py_ssize_t n_particles, Py_ssize_t grid_cols):
    """Each particle's neighbours in the order they are compared ((P, 2) for the
    ring: left, right; (P, 4) on the von Neumann torus: up, down, left, right),
    computed once so that the iterations need no integer division."""
    i = np.arange(n_particles, dtype=np.int64)
    if topology == "ring":
        return np.stack([(i - 1) % n_particles, (i + 1) % n_particles], axis=1)
    cols = grid_cols
    rows = n_particles // cols
    row, col = i // cols, i % cols
    return np.stack([((row - 1) % rows) * cols + col, ((row + 1) % rows) * cols + col,
                     row * cols + (col - 1) % cols, row * cols + (col + 1) % cols], axis=1)


cdef void _swarm_chain(const ContinuousData *p, const Swarm *s, double *x, double *v,
                       double *pbest, double *pbest_f, double *best, double *best_f,
                       int64_t *best_of, uint64_t *rng_state, uint64_t *lanes,
                       uint64_t *draws, double *scratch, int64_t n_iters,
                       int64_t *evaluations, int64_t *improvements, int64_t *progress,
                       int32_t *status) noexcept nogil:
    cdef:
        attnsearch_rng rng = (<attnsearch_rng *>rng_state)[0]
        int64_t _iteration, i, n = s.n_particles, d = s.dim, size = n * d
        int64_t n_steps = (size + SWARM_LANES - 1) // SWARM_LANES
        double value
        double *lead = scratch                  # the leaders' personal bests, (P, d)
        double *values = scratch + size         # the particles' values, P
        double *function_scratch = scratch + size + n
    for _iteration in range(n_iters):
        _neighbourhood_bests(s, pbest_f, best_of)
        for i in range(n):
            memcpy(&lead[i * d], &pbest[best_of[i] * d], d * sizeof(double))
        # The whole swarm's draws, then flat passes over the (P, d) block.
        lanes_fill(lanes, draws, n_steps)
        if swarm_move(size, s.w, s.c1, s.c2, x, v, pbest, lead, draws, s.vmax,
                      s.lower, s.upper):
            # The coordinates that left the box, in index order (the "random"
            # walls draw from the swarm's own stream in this order).
            swarm_walls(size, x, v, s.lower, s.upper, s.boundary, &rng)
        function_values_block(p.function, x, n, d, values, function_scratch)
        for i in range(n):
            value = values[i]
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


def lane_states(rng_states):
    """The lanes of swarms with xoshiro256++ states ``rng_states`` ((n_chains, 4)):
    an (n_chains, 4 * LANES) array, word w of lane l at column w * LANES + l,
    lane l being the swarm's state advanced by l + 1 jumps (2^128 draws each)."""
    cdef const uint64_t[:, ::1] states = np.ascontiguousarray(rng_states, dtype=np.uint64)
    cdef uint64_t[:, ::1] lanes = np.empty((states.shape[0], 4 * SWARM_LANES),
                                           dtype=np.uint64)
    cdef attnsearch_rng rng
    cdef Py_ssize_t c, lane, w
    with nogil:
        for c in range(states.shape[0]):
            for w in range(4):
                rng.s[w] = states[c, w]
            for lane in range(SWARM_LANES):
                rng_jump(&rng)
                for w in range(4):
                    lanes[c, w * SWARM_LANES + lane] = rng.s[w]
    return np.asarray(lanes)


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
    cdef uint64_t[:, ::1] rng = arrays.rng
    cdef uint64_t[:, ::1] lanes = arrays.lanes
    cdef int64_t[::1] evaluations = arrays.n_evaluations
    cdef int64_t[::1] improvements = arrays.n_accepted
    cdef int64_t[::1] progress = arrays.progress
    cdef int32_t[::1] status = arrays.status
    cdef const double[::1] vmax_view
    cdef const int64_t[:, ::1] neighbours_view
    cdef const double[::1] lower_view
    cdef const double[::1] upper_view
    cdef const double[::1] vinit_view
    cdef const unsigned char[::1] random_view
    cdef uint64_t[:, ::1] draws
    cdef double[:, ::1] scratch
    cdef Py_ssize_t n_chains = x.shape[0], c, n_particles = x.shape[1], dim = x.shape[2]
    cdef Py_ssize_t size = n_particles * dim
    s.n_particles = n_particles
    s.dim = dim
    s.w, s.c1, s.c2 = w, c1, c2
    s.topology = TOPOLOGIES[topology]
    s.boundary = BOUNDARIES[boundary]
    s.target = target
    s.deadline = deadline
    if s.dim != core.data.dim:
        raise ValueError("swarm dimension does not match the problem")
    if lanes.shape[0] != n_chains or lanes.shape[1] != 4 * SWARM_LANES:
        raise ValueError("the swarms' lanes do not match the swarms")
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
    # The flat passes read the box and the clamp per coordinate of the block.
    lower_view = np.tile(core._init_args[1], n_particles)
    upper_view = np.tile(core._init_args[2], n_particles)
    s.lower = &lower_view[0]
    s.upper = &upper_view[0]
    if s.topology != TOPOLOGY_GLOBAL:
        neighbours_view = np.ascontiguousarray(
            _neighbour_table(topology, n_particles, grid_cols))
        s.neighbours = &neighbours_view[0, 0]
        s.n_neighbours = neighbours_view.shape[1]
    s.vmax = NULL
    if vmax is not None:
        vmax_view = np.tile(np.asarray(vmax, dtype=np.float64), n_particles)
        s.vmax = &vmax_view[0]
    # Per swarm: the draws of an iteration, and the leaders' rows, the values and
    # the functions' scratch (size + P + 2 size + d + P).
    draws = np.empty((n_chains, (size + SWARM_LANES - 1) // SWARM_LANES * SWARM_LANES),
                     dtype=np.uint64)
    scratch = np.empty((n_chains, 3 * size + 2 * n_particles + dim))
    with nogil:
        for c in prange(n_chains, schedule="dynamic", num_threads=num_threads):
            if status[c] == 0:
                _swarm_chain(p, &s, &x[c, 0, 0], &v[c, 0, 0], &pbest[c, 0, 0],
                             &pbest_f[c, 0], &best[c, 0], &best_f[c], &best_of[c, 0],
                             &rng[c, 0], &lanes[c, 0], &draws[c, 0], &scratch[c, 0],
                             n_iters, &evaluations[c], &improvements[c], &progress[c],
                             &status[c])
