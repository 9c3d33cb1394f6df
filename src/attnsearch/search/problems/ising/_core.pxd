# Ising spin glass E(s) = sum_i h_i s_i + sum_{i<j} J_ij s_i s_j, s_i in {-1, +1},
# couplings in symmetric CSR (each edge stored in both rows). The chain's aux
# caches the local fields f_i = h_i + sum_j J_ij s_j, so a flip's delta is
# -2 s_i f_i (O(1)) and applying it updates the neighbours' fields (O(degree)).
#
# The operations have exactly the signatures of cython_api's ProblemVTable: the
# engine inlines them (fused-type dispatch) and IsingCore's vtable points at them.

from libc.stdint cimport int8_t, int64_t

from attnsearch.search.cython_api cimport (
    MOVE_NONE,
    CompiledProblem,
    Move,
    attnsearch_rng,
    rng_below,
    rng_next,
)

ctypedef struct IsingData:
    int64_t n
    bint random_order           # annealing proposals: random spins, not a sweep in order
    const int64_t *indptr
    const int64_t *indices
    const double *weights
    const double *h


cdef inline int ising_init(const void *data, char *state, char *aux,
                           attnsearch_rng *rng, bint random_start) noexcept nogil:
    cdef const IsingData *p = <const IsingData *>data
    cdef int8_t *spins = <int8_t *>state
    cdef double *fields = <double *>aux
    cdef int64_t i, e
    cdef double f
    for i in range(p.n):
        if random_start:
            spins[i] = 1 if (rng_next(rng) >> 63) else -1
        elif spins[i] != 1 and spins[i] != -1:
            return 1
    for i in range(p.n):
        f = p.h[i]
        for e in range(p.indptr[i], p.indptr[i + 1]):
            f += p.weights[e] * spins[p.indices[e]]
        fields[i] = f
    return 0


cdef inline double ising_cost(const void *data, const char *state,
                              const char *aux) noexcept nogil:
    cdef const IsingData *p = <const IsingData *>data
    cdef const int8_t *spins = <const int8_t *>state
    cdef double linear = 0, pairs = 0, row
    cdef int64_t i, e
    for i in range(p.n):
        linear += p.h[i] * spins[i]
        row = 0
        for e in range(p.indptr[i], p.indptr[i + 1]):
            row += p.weights[e] * spins[p.indices[e]]
        pairs += spins[i] * row
    return linear + 0.5 * pairs     # every edge was counted from both ends


cdef inline void ising_random_move(const void *data, const char *state, char *aux,
                                   attnsearch_rng *rng, Move *move) noexcept nogil:
    cdef int64_t n = (<const IsingData *>data).n
    if n == 0:
        move.kind = MOVE_NONE  # an empty model has no move (no draw either)
        return
    move.i = <int64_t>rng_below(rng, <unsigned long long>n)
    move.kind = 0


cdef inline void ising_propose(const void *data, const char *state, char *aux,
                               attnsearch_rng *rng, int64_t attempt,
                               Move *move) noexcept nogil:
    # Sweeps visit the spins in order (dwave-samplers' convention, no draw
    # needed) unless the model asked for random proposals.
    if (<const IsingData *>data).random_order:
        ising_random_move(data, state, aux, rng, move)
    elif attempt < (<const IsingData *>data).n:
        move.i = attempt
        move.kind = 0
    else:
        move.kind = MOVE_NONE  # (a sweep of an empty model has one empty attempt)


cdef inline double ising_delta(const void *data, const char *state, const char *aux,
                               const Move *move) noexcept nogil:
    return -2.0 * (<const int8_t *>state)[move.i] * (<const double *>aux)[move.i]


cdef inline void ising_apply(const void *data, char *state, char *aux,
                             const Move *move) noexcept nogil:
    cdef const IsingData *p = <const IsingData *>data
    cdef int8_t *spins = <int8_t *>state
    cdef double *fields = <double *>aux
    cdef int64_t i = move.i, e
    cdef double twice_new = 2.0 * (-spins[i])
    spins[i] = -spins[i]
    for e in range(p.indptr[i], p.indptr[i + 1]):
        fields[p.indices[e]] += twice_new * p.weights[e]


cdef inline int64_t ising_n_moves(const void *data, const char *state,
                                  const char *aux) noexcept nogil:
    return (<const IsingData *>data).n


cdef inline void ising_move_at(const void *data, const char *state, const char *aux,
                               int64_t index, Move *move) noexcept nogil:
    move.i = index
    move.kind = 0


cdef inline int ising_tabu_attributes(const void *data, const char *state,
                                      const Move *move,
                                      int64_t *attributes) noexcept nogil:
    attributes[0] = move.i
    return 1


cdef class IsingCore(CompiledProblem):
    cdef IsingData data
