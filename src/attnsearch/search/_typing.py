"""Type aliases of the search's signatures (annotations only; nothing runs here).

* ``StrPath``: the path of a file to read.
* ``Seed``: the ``seed`` of every method (chain ``c`` draws from child ``c`` of
  ``SeedSequence(seed)``).
* ``ProblemLike``: what a method accepts as ``problem``.
* ``Progress`` and ``Callback``: the dict a method hands its ``callback``
  between chunks, and the callback itself (a true return value stops the run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the problems import this module: no cycle at run time
    from .cython_api import CompiledProblem
    from .problems import QUBO, TSP, Continuous, Ising, MaxCut, Problem

__all__ = ["Callback", "ProblemLike", "Progress", "Seed", "StrPath"]

#: A file to read: a ``str`` or an ``os.PathLike`` such as ``pathlib.Path``.
StrPath: TypeAlias = str | os.PathLike[str]

#: ``None`` (fresh entropy), a non-negative int or a ``numpy.random.SeedSequence``.
Seed: TypeAlias = int | np.random.SeedSequence | None

#: Every problem the chain methods run: the built-ins, Python ``Problem``
#: subclasses and third-party Cython problems.
ProblemLike: TypeAlias = (
    "TSP | Ising | QUBO | MaxCut | Continuous | Problem | CompiledProblem"
)


class Progress(TypedDict):
    """The dict a method passes its ``callback`` between chunks of work."""

    best_state: Any  # the problem's state type (an array for the built-ins)
    method: str
    step: int
    total_steps: int | None
    n_evaluations: int
    best_cost: float
    best_costs: npt.NDArray[np.float64]
    temperature: float
    acceptance_rate: float
    elapsed: float


#: ``callback(progress)``; returning True stops the run.
Callback: TypeAlias = Callable[[Progress], bool | None]
