"""Local search: problems with O(1) move deltas and compiled, parallel methods.

Design overview
---------------
* ``_core.pxd``: the C-level problem interface (state, workspace, Move, and
  the nogil operations init / cost / random_move / delta / apply /
  n_moves / move_at / tabu_attributes) plus ``CompiledProblem``, the base
  class of problems written in Cython (third parties cimport it).
* ``_ising.pyx``, ``_tsp.pyx``: built-in problem cores; their operations are
  ``cdef inline`` functions in the ``.pxd`` so the engine inlines them.
* ``_engine.pyx``: every method written once, fused over the problem type,
  ``prange`` over chains; one xoshiro256++ stream per chain (``_rng.pyx``).
* ``_reference.py``: the same methods and problem operations in Python,
  step for step (the oracle of the tests, and the engine of Python problems).
* ``problems.py``: TSP, Ising, QUBO, MaxCut, Problem (validation, I/O,
  conversions); ``annealing.py``, ``hill_climbing.py``: the public methods;
  ``_driver.py``: chains, chunked run loop, stopping rules, Result.
* ``_minimize.py``: ``minimize``, SciPy's conventions over the methods;
  ``dimod.py`` (imported on demand): D-Wave Ocean samplers.
"""

from ._core import CompiledProblem
from ._minimize import MINIMIZE_METHODS, minimize
from ._reference import ProblemError
from ._rng import ChainRNG
from .annealing import SCHEDULES, simulated_annealing, temperature_schedule
from .continuous import BUILTIN_FUNCTIONS, Continuous
from .hill_climbing import hill_climb
from .problems import QUBO, TSP, Ising, MaxCut, Problem
from .result import Result
from .stochastic import stochastic_hill_climb
from .swarm import particle_swarm
from .tabu import tabu_search

__all__ = [
    "BUILTIN_FUNCTIONS",
    "SCHEDULES",
    "Continuous",
    "ProblemError",
    "particle_swarm",
    "QUBO",
    "TSP",
    "ChainRNG",
    "CompiledProblem",
    "Ising",
    "MaxCut",
    "Problem",
    "Result",
    "hill_climb",
    "minimize",
    "MINIMIZE_METHODS",
    "simulated_annealing",
    "stochastic_hill_climb",
    "tabu_search",
    "temperature_schedule",
]
