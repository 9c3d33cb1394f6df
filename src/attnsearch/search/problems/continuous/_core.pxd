# Box-constrained minimisation of a built-in benchmark function (csrc/attnsearch_testfuncs.h).
#
# State: the point (float64, dim). aux (float64): [0] f(x), [1] relative step r,
# [2] proposals since the last adaptation, [3] of them accepted, [4:4+dim] the
# proposed point of an all-coordinate move.
# Random moves are Gaussian steps of r * (upper - lower) on one coordinate or all
# (reflected into the box). r adapts by the 1/5 success rule: every ADAPT_EVERY
# proposals it grows by ADAPT_FACTOR if more than a fifth were accepted, else it
# shrinks by it (within [1e-12, 1]). The enumerable neighbourhood is a compass:
# x_i +- (upper_i - lower_i) / 4^s for s = 1..N_SCALES, clipped to the box.
#
# The operations have exactly the signatures of cython_api's ProblemVTable: the
# engine inlines them (fused-type dispatch), and ContinuousCore's vtable points at
# their copy in _functions, compiled for the same CPU target as the engine.

from libc.math cimport fmod
from libc.stdint cimport int64_t
from libc.string cimport memcpy

from attnsearch.search.cython_api cimport (
    MOVE_NONE,
    CompiledProblem,
    Move,
    ProblemVTable,
    attnsearch_rng,
    rng_below,
    rng_normal,
    rng_uniform,
)

cdef extern from "attnsearch_testfuncs.h" nogil:
    double function_value "attnsearch_function_value"(
        int function, const double *x, int64_t dim, int64_t sub_index, double sub_value)
    double attnsearch_cos(double x)

cdef enum:
    STEP_COORDINATE = 0
    STEP_ALL = 1
    STEP_MIXED = 2
    MOVE_COORDINATE = 0
    MOVE_ALL = 1
    N_SCALES = 16
    ADAPT_EVERY = 50
    AUX_HEADER = 4

cdef extern from *:
    """
    #define ATTNSEARCH_ADAPT_FACTOR 1.2
    #define ATTNSEARCH_INITIAL_STEP 0.1
    """
    double ADAPT_FACTOR "ATTNSEARCH_ADAPT_FACTOR"
    double INITIAL_STEP "ATTNSEARCH_INITIAL_STEP"

ctypedef struct ContinuousData:
    int64_t dim
    int function
    int step_mode
    const double *lower
    const double *upper


cdef inline double continuous_reflect(double v, double lo, double hi) noexcept nogil:
    """Fold v back into [lo, hi] (mirror at the walls, any distance away)."""
    cdef double width = hi - lo, t
    if lo <= v <= hi:
        return v
    t = fmod(v - lo, 2.0 * width)
    if t < 0:
        t += 2.0 * width
    return lo + t if t <= width else lo + 2.0 * width - t


cdef inline int continuous_init(const void *data, char *state, char *aux,
                                attnsearch_rng *rng, bint random_start) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    cdef double *x = <double *>state
    cdef double *a = <double *>aux
    cdef int64_t i
    for i in range(p.dim):
        if random_start:
            x[i] = p.lower[i] + rng_uniform(rng) * (p.upper[i] - p.lower[i])
        elif not (p.lower[i] <= x[i] <= p.upper[i]):
            return 1  # outside the box (or NaN)
    a[0] = function_value(p.function, x, p.dim, -1, 0.0)
    a[1] = INITIAL_STEP
    a[2] = 0
    a[3] = 0
    return 0


cdef inline double continuous_cost(const void *data, const char *state,
                                   const char *aux) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    return function_value(p.function, <const double *>state, p.dim, -1, 0.0)


cdef inline void continuous_random_move(const void *data, const char *state,
                                        char *aux, attnsearch_rng *rng,
                                        Move *move) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    cdef const double *x = <const double *>state
    cdef double *a = <double *>aux
    cdef double *proposal = a + AUX_HEADER
    cdef int64_t i
    cdef bint all_coordinates
    # 1/5 success rule on the proposals of this chain.
    if a[2] >= ADAPT_EVERY:
        if a[3] > 0.2 * a[2]:
            a[1] = min(1.0, a[1] * ADAPT_FACTOR)
        else:
            a[1] = max(1e-12, a[1] / ADAPT_FACTOR)
        a[2] = 0
        a[3] = 0
    a[2] += 1
    all_coordinates = p.step_mode == STEP_ALL
    if p.step_mode == STEP_MIXED:
        all_coordinates = rng_uniform(rng) < 0.5
    if all_coordinates:
        for i in range(p.dim):
            proposal[i] = continuous_reflect(
                x[i] + rng_normal(rng) * a[1] * (p.upper[i] - p.lower[i]),
                p.lower[i], p.upper[i])
        move.kind = MOVE_ALL
        move.i = -1
    else:
        i = <int64_t>rng_below(rng, <unsigned long long>p.dim)
        move.kind = MOVE_COORDINATE
        move.i = i
        move.x = continuous_reflect(
            x[i] + rng_normal(rng) * a[1] * (p.upper[i] - p.lower[i]),
            p.lower[i], p.upper[i])


cdef inline void continuous_propose(const void *data, const char *state, char *aux,
                                    attnsearch_rng *rng, int64_t attempt,
                                    Move *move) noexcept nogil:
    continuous_random_move(data, state, aux, rng, move)


cdef inline double continuous_delta(const void *data, const char *state,
                                    const char *aux, const Move *move) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    cdef const double *a = <const double *>aux
    if move.kind == MOVE_ALL:
        return function_value(p.function, a + AUX_HEADER, p.dim, -1, 0.0) - a[0]
    return function_value(p.function, <const double *>state, p.dim, move.i, move.x) - a[0]


cdef inline void continuous_apply(const void *data, char *state, char *aux,
                                  const Move *move) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    cdef double *x = <double *>state
    cdef double *a = <double *>aux
    if move.kind == MOVE_ALL:
        memcpy(x, a + AUX_HEADER, p.dim * sizeof(double))
    else:
        x[move.i] = move.x
    a[0] = function_value(p.function, x, p.dim, -1, 0.0)  # exact, no drift
    a[3] += 1


cdef inline int64_t continuous_n_moves(const void *data, const char *state,
                                       const char *aux) noexcept nogil:
    return 2 * (<const ContinuousData *>data).dim * N_SCALES


cdef inline void continuous_move_at(const void *data, const char *state,
                                    const char *aux, int64_t index,
                                    Move *move) noexcept nogil:
    cdef const ContinuousData *p = <const ContinuousData *>data
    cdef const double *x = <const double *>state
    cdef int64_t scale = index // (2 * p.dim), rest = index % (2 * p.dim)
    cdef int64_t i = rest // 2
    cdef double step = (p.upper[i] - p.lower[i]) / (4.0 ** (scale + 1))
    cdef double v = x[i] + step if rest % 2 == 0 else x[i] - step
    v = min(p.upper[i], max(p.lower[i], v))
    move.i = i
    move.x = v
    move.kind = MOVE_COORDINATE if v != x[i] else MOVE_NONE


cdef inline int continuous_tabu_attributes(const void *data, const char *state,
                                           const Move *move,
                                           int64_t *attributes) noexcept nogil:
    # A coordinate moved recently is tabu (tabu search uses the compass moves).
    attributes[0] = move.i if move.i >= 0 else 0
    return 1


cdef class ContinuousCore(CompiledProblem):
    cdef ContinuousData data
    cdef object _functions      # the _functions variant of the chosen CPU target
