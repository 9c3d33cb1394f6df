"""Compiled core of the symmetric TSP (see _core.pxd for moves and metrics)."""

from libc.stdint cimport int32_t

import numpy as np

#: Metric names accepted by TSPCore, in the order of the METRIC_* constants.
METRICS = {"MATRIX": METRIC_MATRIX, "EUC_2D": METRIC_EUC_2D, "CEIL_2D": METRIC_CEIL_2D,
           "ATT": METRIC_ATT, "GEO": METRIC_GEO, "EUCLIDEAN": METRIC_EUCLIDEAN}
#: Move kind names, as the KIND_* constants.
MOVE_KINDS = {"2opt": KIND_2OPT, "swap": KIND_SWAP, "oropt": KIND_OROPT}


cdef class TSPCore(CompiledProblem):
    """Compiled TSP (built and validated by ``TSP``).

    Parameters
    ----------
    n : int
    metric : str
        A key of METRICS.
    matrix : ndarray (n, n) float64 or None
        For metric "MATRIX".
    x, y : ndarray (n,) float64 or None
        Coordinates (for "GEO": latitude and longitude in radians).
    kinds : sequence of str
        Move kinds (keys of MOVE_KINDS) used by random moves and enumeration.
    weights : sequence of float
        Probability of each kind for random moves (normalised here).
    exact_costs : bool
    """

    def __init__(self, Py_ssize_t n, str metric, matrix, x, y, kinds, weights,
                 bint exact_costs=False):
        cdef const double[:, ::1] matrix_view
        cdef const double[::1] x_view
        cdef const double[::1] y_view
        cdef Py_ssize_t k
        self._init_args = (n, metric, matrix, x, y, list(kinds),
                           np.array(weights, dtype=np.float64), exact_costs)
        self.data.n = n
        self.data.metric = METRICS[metric]
        self.data.matrix = NULL
        self.data.x = NULL
        self.data.y = NULL
        keep = []
        if self.data.metric == METRIC_MATRIX:
            matrix_view = np.ascontiguousarray(matrix, dtype=np.float64)
            keep.append(matrix_view)
            if n:
                self.data.matrix = &matrix_view[0, 0]
        else:
            x_view = np.ascontiguousarray(x, dtype=np.float64)
            y_view = np.ascontiguousarray(y, dtype=np.float64)
            keep += [x_view, y_view]
            if n:
                self.data.x = &x_view[0]
                self.data.y = &y_view[0]
        weights = np.asarray(weights, dtype=np.float64)
        cdf = np.cumsum(weights / weights.sum())
        self.data.n_kinds = len(kinds)
        for k in range(len(kinds)):
            self.data.kinds[k] = MOVE_KINDS[kinds[k]]
            self.data.cdf[k] = cdf[k]
        self._keepalive = keep
        self.state_size = n
        self.state_dtype = np.dtype(np.int32)
        self.aux_nbytes = 0
        self.n_tabu_keys = n
        self.exact_costs = exact_costs
        self.vtable.data = &self.data
        self.vtable.init = tsp_init
        self.vtable.cost = tsp_cost
        self.vtable.random_move = tsp_random_move
        self.vtable.delta = tsp_delta
        self.vtable.apply = tsp_apply
        self.vtable.n_moves = tsp_n_moves
        self.vtable.move_at = tsp_move_at
        self.vtable.tabu_attributes = tsp_tabu_attributes
        self.vtable.propose = tsp_propose

    def tour_lengths(self, tours):
        """Closed length of each row of ``tours`` ((m, n) or (n,) int32 permutations)."""
        cdef int32_t[:, ::1] view = np.ascontiguousarray(np.atleast_2d(tours),
                                                         dtype=np.int32)
        cdef double[::1] out = np.empty(view.shape[0])
        cdef Py_ssize_t r
        if view.shape[1] != self.data.n:
            raise ValueError(f"tours must have {self.data.n} columns")
        with nogil:
            for r in range(view.shape[0]):
                out[r] = tsp_tour_length(&self.data, &view[r, 0]) if self.data.n else 0.0
        return np.asarray(out)

    def distance(self, Py_ssize_t a, Py_ssize_t b):
        """Distance between cities a and b under this instance's metric."""
        if not (0 <= a < self.data.n and 0 <= b < self.data.n):
            raise IndexError("city index out of range")
        return tsp_distance(&self.data, a, b)
