"""Number partitioning as a third-party compiled problem for attnsearch.search.

Split numbers a_1..a_n into two groups with sums as equal as possible:
minimise |sum_i a_i s_i| over s in {-1, +1}^n. The per-chain workspace caches
the signed sum, so a flip's delta is O(1).

This module only cimports attnsearch/search/cython_api.pxd (the public C API): it fills a ProblemVTable
with `noexcept nogil` functions, and every method of attnsearch.search then runs
it in compiled code, in parallel over chains, exactly as the built-in problems.
Build it with the setup.py beside this file.
"""

from libc.math cimport fabs
from libc.stdint cimport int8_t, int64_t

from attnsearch.search.cython_api cimport (
    CompiledProblem,
    Move,
    attnsearch_rng,
    rng_below,
    rng_next,
)

import numpy as np

ctypedef struct PartitionData:
    int64_t n
    const double *values


cdef int _init(const void *data, char *state, char *aux, attnsearch_rng *rng,
               bint random_start) noexcept nogil:
    cdef const PartitionData *p = <const PartitionData *>data
    cdef int8_t *spins = <int8_t *>state
    cdef double total = 0
    cdef int64_t i
    for i in range(p.n):
        if random_start:
            spins[i] = 1 if (rng_next(rng) >> 63) else -1
        elif spins[i] != 1 and spins[i] != -1:
            return 1  # the engine turns this into a ValueError
        total += p.values[i] * spins[i]
    (<double *>aux)[0] = total
    return 0


cdef double _cost(const void *data, const char *state, const char *aux) noexcept nogil:
    return fabs((<const double *>aux)[0])


cdef void _random_move(const void *data, const char *state, char *aux,
                       attnsearch_rng *rng, Move *move) noexcept nogil:
    move.i = <int64_t>rng_below(rng, <unsigned long long>(<const PartitionData *>data).n)
    move.kind = 0


cdef double _delta(const void *data, const char *state, const char *aux,
                   const Move *move) noexcept nogil:
    cdef double total = (<const double *>aux)[0]
    cdef double change = 2.0 * (<const PartitionData *>data).values[move.i] * \
        (<const int8_t *>state)[move.i]
    return fabs(total - change) - fabs(total)


cdef void _apply(const void *data, char *state, char *aux, const Move *move) noexcept nogil:
    cdef int8_t *spins = <int8_t *>state
    (<double *>aux)[0] -= 2.0 * (<const PartitionData *>data).values[move.i] * spins[move.i]
    spins[move.i] = -spins[move.i]


cdef int64_t _n_moves(const void *data, const char *state, const char *aux) noexcept nogil:
    return (<const PartitionData *>data).n


cdef void _move_at(const void *data, const char *state, const char *aux, int64_t index,
                   Move *move) noexcept nogil:
    move.i = index
    move.kind = 0


cdef class NumberPartitioning(CompiledProblem):
    """Minimise |sum_i a_i s_i| over s in {-1, +1}^n (states: int8 spins)."""

    cdef PartitionData data

    def __init__(self, values):
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError("values must be a non-empty 1-d array of finite numbers")
        cdef const double[::1] view = values
        self._keepalive = values            # the struct points into it
        self.data.n = values.shape[0]
        self.data.values = &view[0]
        self.state_size = values.shape[0]
        self.state_dtype = np.dtype(np.int8)
        self.aux_nbytes = sizeof(double)
        self.n_tabu_keys = values.shape[0]
        self.exact_costs = bool(np.all(values == np.round(values)))
        self.vtable.data = &self.data
        self.vtable.init = _init
        self.vtable.cost = _cost
        self.vtable.random_move = _random_move
        self.vtable.delta = _delta
        self.vtable.apply = _apply
        self.vtable.n_moves = _n_moves
        self.vtable.move_at = _move_at
        self.vtable.tabu_attributes = NULL  # default: the flipped index is the attribute
        self.vtable.propose = NULL          # default: annealing proposes random_move
