"""Compiled core of the built-in continuous problems (see _core.pxd).

The operations themselves come from ``_functions``, compiled per CPU target: a
``ContinuousCore`` takes them (vtable and ``values``) from the variant the
dispatch chose when it was built, the variant the engine and the swarm run.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer

import numpy as np

from attnsearch._dispatch import kernel_module

#: Built-in function ids (csrc/attnsearch_testfuncs.h).
FUNCTION_IDS = {"sphere": 0, "rastrigin": 1, "rosenbrock": 2, "ackley": 3,
                "griewank": 4, "schwefel": 5, "styblinski_tang": 6, "levy": 7}
#: Step modes of random moves.
STEP_MODES = {"coordinate": STEP_COORDINATE, "all": STEP_ALL, "mixed": STEP_MIXED}
#: Adaptation constants, for the docs and the Python reference.
ADAPTATION = {"every": ADAPT_EVERY, "factor": ADAPT_FACTOR, "initial": INITIAL_STEP,
              "scales": N_SCALES, "header": AUX_HEADER}


cdef class ContinuousCore(CompiledProblem):
    """Compiled box-constrained benchmark function (built by ``Continuous.builtin``).

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
        self._functions = kernel_module("functions")
        self.vtable = (<ProblemVTable *>PyCapsule_GetPointer(
            self._functions.vtable_capsule(), self._functions.VTABLE_CAPSULE_NAME))[0]
        self.vtable.data = &self.data

    def values(self, points):
        """Function value at each row of ``points`` ((m, dim) or (dim,))."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if points.ndim != 2 or points.shape[1] != self.data.dim:
            raise ValueError(f"points must have {self.data.dim} columns")
        return self._functions.values(self.data.function, points)
