"""Compiled core of the Ising/QUBO/max-cut problems (see _core.pxd for the model)."""

from libc.stdint cimport int8_t, int64_t

import numpy as np


cdef class IsingCore(CompiledProblem):
    """Compiled Ising model over symmetric CSR couplings (built by ``Ising``).

    Parameters
    ----------
    h : ndarray (n,) float64
    indptr, indices : ndarray int64
        Symmetric CSR structure: edge (i, j) appears in row i and in row j.
    weights : ndarray float64
        Coupling of each CSR entry.
    exact_costs : bool
        Whether every h and J is an integer (then energies and deltas are exact).
    """

    def __init__(self, h, indptr, indices, weights, bint exact_costs=False,
                 bint random_order=False):
        cdef const double[::1] h_view = np.ascontiguousarray(h, dtype=np.float64)
        cdef const int64_t[::1] indptr_view = np.ascontiguousarray(indptr, dtype=np.int64)
        cdef const int64_t[::1] indices_view = np.ascontiguousarray(indices, dtype=np.int64)
        cdef const double[::1] weights_view = np.ascontiguousarray(weights, dtype=np.float64)
        n = h_view.shape[0]
        if indptr_view.shape[0] != n + 1 or indices_view.shape[0] != weights_view.shape[0]:
            raise ValueError("inconsistent CSR arrays")
        # Keep the arrays alive: the struct points into them.
        self._keepalive = (h_view, indptr_view, indices_view, weights_view)
        self._init_args = (np.asarray(h_view), np.asarray(indptr_view),
                           np.asarray(indices_view), np.asarray(weights_view),
                           exact_costs, random_order)
        self.data.n = n
        self.data.random_order = random_order
        self.data.h = &h_view[0] if n else NULL
        self.data.indptr = &indptr_view[0]
        self.data.indices = &indices_view[0] if indices_view.shape[0] else NULL
        self.data.weights = &weights_view[0] if weights_view.shape[0] else NULL
        self.state_size = n
        self.state_dtype = np.dtype(np.int8)
        self.aux_nbytes = n * sizeof(double)
        self.n_tabu_keys = n
        self.exact_costs = exact_costs
        self.vtable.data = &self.data
        self.vtable.init = ising_init
        self.vtable.cost = ising_cost
        self.vtable.random_move = ising_random_move
        self.vtable.delta = ising_delta
        self.vtable.apply = ising_apply
        self.vtable.n_moves = ising_n_moves
        self.vtable.move_at = ising_move_at
        self.vtable.tabu_attributes = ising_tabu_attributes
        self.vtable.propose = ising_propose

    def energies(self, spins):
        """Energy of each row of ``spins`` ((m, n) or (n,) int8 of +-1)."""
        cdef int8_t[:, ::1] view = np.ascontiguousarray(np.atleast_2d(spins), dtype=np.int8)
        cdef double[::1] out = np.empty(view.shape[0])
        cdef Py_ssize_t r
        if view.shape[1] != self.data.n:
            raise ValueError(f"spins must have {self.data.n} columns")
        for r in range(view.shape[0]):
            out[r] = ising_cost(&self.data, <const char *>&view[r, 0] if self.data.n else NULL,
                                NULL)
        return np.asarray(out)
