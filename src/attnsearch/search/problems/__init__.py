"""The problems of the local search, one folder each.

* ``base.py``: ``Problem`` (the base class of problems written in Python),
  ``ProblemError``, ``SearchSpec`` (what the run loop needs to know about any
  problem) and ``search_spec``.
* ``tsp/``: ``TSP`` (TSPLIB instances, coordinates or a matrix).
* ``ising/``: ``Ising``, ``QUBO``, ``MaxCut`` (G-set graphs, QUBO files).
* ``continuous/``: ``Continuous`` (user callables, compiled benchmark functions).

Each built-in folder holds the Python class (``problem.py``), the compiled core
(``_core.pxd``: the operations, inlined by the engine; ``_core.pyx``: the
``CompiledProblem`` subclass), the step-for-step Python mirror (``_reference.py``)
and its file readers. The recipe for a new built-in problem is in ARCHITECTURE.md.
"""

from .base import Problem, ProblemError, SearchSpec, search_spec
from .continuous import BUILTIN_FUNCTIONS, Continuous
from .ising import QUBO, Ising, MaxCut
from .tsp import TSP

__all__ = [
    "BUILTIN_FUNCTIONS",
    "Continuous",
    "Ising",
    "MaxCut",
    "Problem",
    "ProblemError",
    "QUBO",
    "SearchSpec",
    "TSP",
    "search_spec",
]
