"""The search methods, one file each, and the one table of their names.

* ``annealing.py``: simulated annealing (schedules, automatic temperatures).
* ``hill_climbing.py``: steepest or first-improvement descent.
* ``stochastic.py``: stochastic hill climbing (softmax over gains).
* ``tabu.py``: tabu search (tenure, aspiration, arg-best).
* ``tempering.py``: parallel tempering (replica exchange on a temperature ladder).
* ``iterated.py``: iterated local search (kick, descend, keep unless worse).
* ``swarm.py`` + ``_swarm.pyx``: particle swarm (its own kernel: a swarm is not
  a single-state chain).

Every method but the swarm is a loop in ``search/_engine.pyx`` (compiled) and in
``search/_engine_reference.py`` (its step-for-step mirror); the file here
validates the method's parameters, derives its defaults and drives
``search/_run.Run``. The recipe for a new method is in ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable

from ..result import Result
from .annealing import SCHEDULES, simulated_annealing, temperature_schedule
from .hill_climbing import hill_climb
from .iterated import iterated_local_search
from .stochastic import stochastic_hill_climb
from .swarm import particle_swarm
from .tabu import tabu_search
from .tempering import LADDERS, geometric_ladder, parallel_tempering

__all__ = [
    "LADDERS",
    "METHODS",
    "SCHEDULES",
    "geometric_ladder",
    "hill_climb",
    "iterated_local_search",
    "method_function",
    "method_name",
    "parallel_tempering",
    "particle_swarm",
    "simulated_annealing",
    "stochastic_hill_climb",
    "tabu_search",
    "temperature_schedule",
]

#: Short name -> full name of every method (the command line, ``search.dask``
#: and ``minimize`` accept either).
METHODS = {
    "anneal": "simulated_annealing",
    "hill": "hill_climb",
    "stochastic": "stochastic_hill_climb",
    "tabu": "tabu_search",
    "pso": "particle_swarm",
    "pt": "parallel_tempering",
    "ils": "iterated_local_search",
}

_FUNCTIONS: dict[str, Callable[..., Result]] = {
    "simulated_annealing": simulated_annealing,
    "hill_climb": hill_climb,
    "stochastic_hill_climb": stochastic_hill_climb,
    "tabu_search": tabu_search,
    "particle_swarm": particle_swarm,
    "parallel_tempering": parallel_tempering,
    "iterated_local_search": iterated_local_search,
}


def method_name(method: str | Callable[..., Result]) -> str:
    """The full name of ``method``: a short name, a full name or the function.

    Raises
    ------
    ValueError
        Not a method of this package.
    """
    name = getattr(method, "__name__", None) if callable(method) else method
    if isinstance(name, str) and name in METHODS:
        return METHODS[name]
    if isinstance(name, str) and name in _FUNCTIONS:
        return name
    choices = sorted(set(METHODS) | set(_FUNCTIONS))
    raise ValueError(
        f"method must be one of {choices} or one of those functions, got {method!r}"
    )


def method_function(method: str | Callable[..., Result]) -> Callable[..., Result]:
    """The function of ``method`` (see :func:`method_name`)."""
    return _FUNCTIONS[method_name(method)]
