"""Compiled core of the built-in continuous problems (see _continuous.pxd)."""

from libc.stdint cimport int64_t

from ._core cimport Move, attnsearch_rng

import numpy as np

#: Built-in function ids (csrc/attnsearch_testfuncs.h).
FUNCTION_IDS = {"sphere": 0, "rastrigin": 1, "rosenbrock": 2, "ackley": 3,
                "griewank": 4, "schwefel": 5, "styblinski_tang": 6, "levy": 7}
#: Step modes of random moves.
STEP_MODES = {"coordinate": STEP_COORDINATE, "all": STEP_ALL, "mixed": STEP_MIXED}
#: Adaptation constants, for the docs and the Python reference.
ADAPTATION = {"every": ADAPT_EVERY, "factor": ADAPT_FACTOR, "initial": INITIAL_STEP,
              "scales": N_SCALES, "header": AUX_HEADER}


cdef int _init(const void *data, char *state, char *aux, attnsearch_rng *rng,
               bint random_start) noexcept nogil:
    return continuous_init(<const ContinuousData *>data, state, aux, rng, random_start)


cdef double _cost(const void *data, const char *state, const char *aux) noexcept nogil:
    return continuous_cost(<const ContinuousData *>data, state, aux)


cdef void _random_move(const void *data, const char *state, char *aux,
                       attnsearch_rng *rng, Move *move) noexcept nogil:
    continuous_random_move(<const ContinuousData *>data, state, aux, rng, move)


cdef double _delta(const void *data, const char *state, const char *aux,
                   const Move *move) noexcept nogil:
    return continuous_delta(<const ContinuousData *>data, state, aux, move)


cdef void _apply(const void *data, char *state, char *aux, const Move *move) noexcept nogil:
    continuous_apply(<const ContinuousData *>data, state, aux, move)


cdef int64_t _n_moves(const void *data, const char *state, const char *aux) noexcept nogil:
    return continuous_n_moves(<const ContinuousData *>data, state, aux)


cdef void _move_at(const void *data, const char *state, const char *aux, int64_t index,
                   Move *move) noexcept nogil:
    continuous_move_at(<const ContinuousData *>data, state, aux, index, move)


cdef int _tabu_attributes(const void *data, const char *state, const Move *move,
                          int64_t *attributes) noexcept nogil:
    return continuous_tabu_attributes(<const ContinuousData *>data, state, move, attributes)


cdef class ContinuousCore(CompiledProblem):
    """Compiled box-constrained benchmark function (built by search.continuous).

    Parameters
    ----------
    function : str
        A key of FUNCTION_IDS.
    lower, upper : ndarray (dim,) float64
        The box, lower < upper, finite.
    step : str
        A key of STEP_MODES.
    """

    def __init__(self, str function, lower, upper, str step="coordinate"):
        cdef const double[::1] lo = np.ascontiguousarray(lower, dtype=np.float64)
        cdef const double[::1] hi = np.ascontiguousarray(upper, dtype=np.float64)
        if lo.shape[0] != hi.shape[0] or lo.shape[0] == 0:
            raise ValueError("lower and upper must be non-empty and of equal length")
        self._keepalive = (lo, hi)
        self._init_args = (function, np.asarray(lo), np.asarray(hi), step)
        self.data.dim = lo.shape[0]
        self.data.function = FUNCTION_IDS[function]
        self.data.step_mode = STEP_MODES[step]
        self.data.lower = &lo[0]
        self.data.upper = &hi[0]
        self.state_size = lo.shape[0]
        self.state_dtype = np.dtype(np.float64)
        self.aux_nbytes = (AUX_HEADER + lo.shape[0]) * sizeof(double)
        self.n_tabu_keys = lo.shape[0]
        self.exact_costs = False
        self.vtable.data = &self.data
        self.vtable.init = _init
        self.vtable.cost = _cost
        self.vtable.random_move = _random_move
        self.vtable.delta = _delta
        self.vtable.apply = _apply
        self.vtable.n_moves = _n_moves
        self.vtable.move_at = _move_at
        self.vtable.tabu_attributes = _tabu_attributes

    def values(self, points):
        """Function value at each row of ``points`` ((m, dim) or (dim,))."""
        cdef double[:, ::1] view = np.ascontiguousarray(np.atleast_2d(points),
                                                        dtype=np.float64)
        cdef double[::1] out = np.empty(view.shape[0])
        cdef Py_ssize_t r
        if view.shape[1] != self.data.dim:
            raise ValueError(f"points must have {self.data.dim} columns")
        with nogil:
            for r in range(view.shape[0]):
                out[r] = function_value(self.data.function, &view[r, 0], self.data.dim,
                                        -1, 0.0)
        return np.asarray(out)


def _cos_memview(const double[::1] x, double[::1] out):
    """Test access to the package's vectorisable cos."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = attnsearch_cos(x[i])
