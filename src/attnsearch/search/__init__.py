"""Local search: problems with O(1) move deltas and compiled, parallel methods.

Design overview (the full map and the two recipes -- a new problem, a new
method -- are in ARCHITECTURE.md)
-----------------------------------------------------------------------------
* ``problems/``: one folder per built-in problem (``tsp/``, ``ising/``,
  ``continuous/``), each with its Python class, its compiled core
  (``_core.pxd``: ``noexcept nogil`` operations the engine inlines), its
  step-for-step Python mirror and its file readers; ``base.py`` holds
  ``Problem`` (problems written in Python) and ``ProblemError``.
* ``cython_api.pxd``: the public C interface (``Move``, ``ProblemVTable``,
  ``CompiledProblem``) that third-party Cython problems cimport.
* ``_engine.pyx``: the loop of every method, written once, fused over the
  built-in problems (dispatch generated from ``_dispatch.pxi.tp``) and the
  vtable; ``prange`` over chains, one xoshiro256++ stream per chain.
* ``_engine_reference.py``: the same loops in Python, statement by statement
  (the tests' oracle and the engine of Python problems).
* ``_run.py``: ``Run``, the one chunk loop of every method (stop rules,
  callbacks, progress, ``Result``) over a declared ``Backend`` protocol.
* ``methods/``: one file per method (validation, defaults, driving ``Run``).
* ``dask.py``, ``dimod.py``, ``minimize.py``: Dask, D-Wave Ocean and SciPy
  conventions over the methods (``dimod`` is imported on demand).
"""

from ._rng import ChainRNG
from .cython_api import CompiledProblem
from .methods import (
    LADDERS,
    METHODS,
    SCHEDULES,
    geometric_ladder,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
    temperature_schedule,
)
from .minimize import MINIMIZE_METHODS, minimize
from .problems import (
    BUILTIN_FUNCTIONS,
    QUBO,
    TSP,
    Continuous,
    Ising,
    MaxCut,
    Problem,
    ProblemError,
)
from .result import Result

__all__ = [
    "BUILTIN_FUNCTIONS",
    "ChainRNG",
    "CompiledProblem",
    "Continuous",
    "Ising",
    "LADDERS",
    "METHODS",
    "MINIMIZE_METHODS",
    "MaxCut",
    "Problem",
    "ProblemError",
    "QUBO",
    "Result",
    "SCHEDULES",
    "TSP",
    "geometric_ladder",
    "hill_climb",
    "iterated_local_search",
    "minimize",
    "parallel_tempering",
    "particle_swarm",
    "simulated_annealing",
    "stochastic_hill_climb",
    "tabu_search",
    "temperature_schedule",
]
