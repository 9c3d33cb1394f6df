"""The built-in continuous problems' compiled operations, one variant per CPU target.

The engine and the swarm inline these operations (csrc/attnsearch_testfuncs.h
via _core.pxd) in their own per-target variants. This module gives everything
else the same arithmetic as the running kernels: ``ContinuousCore`` fills its
vtable from ``vtable_capsule()`` and evaluates ``values`` here, and the Python
references evaluate through ``values``. On targets with FMA the functions use
fused multiply-adds (one rounding), on the baseline they do not, so the kernel
and its reference must come from the same target (attnsearch._dispatch picks
one target for the engine, the swarm and this module).
"""

from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t

from attnsearch.search.cython_api cimport ProblemVTable

from ._core cimport (
    attnsearch_cos,
    continuous_apply,
    continuous_cost,
    continuous_delta,
    continuous_init,
    continuous_move_at,
    continuous_n_moves,
    continuous_propose,
    continuous_random_move,
    continuous_tabu_attributes,
    function_value,
)

import numpy as np

include "attnsearch/_compiled_target.pxi"

#: Name of the capsule returned by vtable_capsule().
VTABLE_CAPSULE_NAME = b"attnsearch.search.ProblemVTable"

cdef ProblemVTable _vtable
_vtable.data = NULL
_vtable.init = continuous_init
_vtable.cost = continuous_cost
_vtable.random_move = continuous_random_move
_vtable.delta = continuous_delta
_vtable.apply = continuous_apply
_vtable.n_moves = continuous_n_moves
_vtable.move_at = continuous_move_at
_vtable.tabu_attributes = continuous_tabu_attributes
_vtable.propose = continuous_propose
_vtable.descend = NULL
_vtable.kick = NULL
_vtable.checkpoint = NULL
_vtable.rollback = NULL


def vtable_capsule():
    """The continuous problems' operations (a ProblemVTable with data NULL)."""
    return PyCapsule_New(&_vtable, VTABLE_CAPSULE_NAME, NULL)


def values(int function, points):
    """Value of built-in function ``function`` at each row of ``points`` ((m, dim))."""
    cdef const double[:, ::1] view = np.ascontiguousarray(points, dtype=np.float64)
    cdef double[::1] out = np.empty(view.shape[0])
    cdef Py_ssize_t r, dim = view.shape[1]
    with nogil:
        for r in range(view.shape[0]):
            out[r] = function_value(function, &view[r, 0], dim, -1, 0.0)
    return np.asarray(out)


cdef extern from "attnsearch_testfuncs.h" nogil:
    void function_values_block "attnsearch_function_values_block"(
        int function, const double *x, int64_t n_points, int64_t dim, double *out,
        double *scratch)


def _values_block_memview(int function, const double[:, ::1] points, double[::1] out):
    """Test access to the swarm's evaluation of a whole block of points."""
    cdef Py_ssize_t n = points.shape[0], dim = points.shape[1]
    cdef double[::1] scratch = np.empty(2 * n * dim + dim + n)
    if n == 0:
        return
    with nogil:
        function_values_block(function, &points[0, 0], n, dim, &out[0], &scratch[0])


def _cos_memview(const double[::1] x, double[::1] out):
    """Test access to the package's vectorisable cos."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = attnsearch_cos(x[i])
