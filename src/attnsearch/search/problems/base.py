"""What every problem shares: the Python ``Problem`` base class, ``ProblemError``,
and ``SearchSpec``, what the run loop needs to know about any problem.

A problem reaches the engine in one of two forms: a compiled core (a
``CompiledProblem``: the built-ins' ``_core`` and third-party Cython problems)
that the methods run without the GIL, and/or Python operations (``ops``) that
the engine reference (``_engine_reference.py``) runs step by step -- the
built-ins' ``_reference`` mirrors, or ``UserProblemOps`` over a user's
``Problem`` subclass. ``search_spec(problem)`` returns both plus the conversions
between the user's states/objectives and the minimised internal ones.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..._validation import check_bool, check_int

if TYPE_CHECKING:
    from .._rng import ChainRNG
    from ..cython_api import CompiledProblem

__all__ = [
    "EXACT_LIMIT",
    "Problem",
    "ProblemError",
    "ProblemOps",
    "SearchSpec",
    "UserProblemOps",
    "search_spec",
]

#: Sums of float64 values whose magnitudes stay below this are exact when the
#: values are integers (or quarter-integers): such problems compare deltas exactly.
EXACT_LIMIT = 2.0**50


class Problem:
    """Base class for problems written in Python.

    Subclass it and implement ``initial``, ``random_move``, ``apply`` and
    ``cost`` (and ``delta`` when it can be computed faster than re-evaluating
    the cost; ``moves`` for hill climbing and tabu search). Every method of
    :mod:`attnsearch.search` then runs on it through the Python reference
    engine, with the same chains, seeding, stopping rules and ``Result``.

    Parameters
    ----------
    maximize : bool, default False
        ``cost`` is an objective to maximise (the engine minimises its negative;
        ``Result.objective`` reports the maximised value). Only a bool is
        accepted (``maximize="no"`` raises ``TypeError``).

    Attributes
    ----------
    size : int
        Move attempts per annealing sweep (default 1): set it to the number
        of variables, cities, etc. (an int >= 0, checked when a method starts).

    Notes
    -----
    ``cost`` and ``delta`` must return finite numbers: NaN or an infinity
    raises :class:`ProblemError` (an infinite cost would make every delta from
    there NaN; return a large finite value for states to avoid).

    ``rng`` arguments are :class:`attnsearch.search.ChainRNG` streams, one per
    chain (``random()``, ``below(n)``, ``integers(lo, hi)``, ``uniform``,
    ``normal``, ``permutation``): draw from them, never from a global RNG, and
    runs are reproducible from ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import Problem, simulated_annealing
    >>> class OneMax(Problem):           # maximise the number of ones
    ...     def __init__(self, n):
    ...         super().__init__(maximize=True)
    ...         self.n = self.size = n
    ...     def initial(self, rng):
    ...         return np.array([rng.below(2) for _ in range(self.n)])
    ...     def random_move(self, state, rng):
    ...         return rng.below(self.n)
    ...     def delta(self, state, i):
    ...         return 1 - 2 * state[i]
    ...     def apply(self, state, i):
    ...         state[i] ^= 1
    ...     def cost(self, state):
    ...         return int(state.sum())
    >>> simulated_annealing(OneMax(20), num_sweeps=50, seed=0).objective
    20.0
    """

    #: Move attempts per annealing sweep: set it to the problem's natural size
    #: (number of variables, cities, ...).
    size: int = 1

    def __init__(self, maximize: bool = False) -> None:
        self.maximize = check_bool(maximize, "maximize")

    def initial(self, rng: ChainRNG) -> Any:
        """Return a random initial state."""
        raise NotImplementedError

    def random_move(self, state: Any, rng: ChainRNG) -> Any:
        """Return a random move (any object ``apply`` understands)."""
        raise NotImplementedError

    def apply(self, state: Any, move: Any) -> Any:
        """Apply ``move``; modify ``state`` in place (return None) or return it."""
        raise NotImplementedError

    def cost(self, state: Any) -> float:
        """Cost of ``state`` (the objective when ``maximize=True``)."""
        raise NotImplementedError

    def delta(self, state: Any, move: Any) -> float:
        """``cost(after) - cost(before)``; the default applies ``move`` to a copy."""
        after = self.copy_state(state)
        result = self.apply(after, move)
        after = after if result is None else result
        return self.cost(after) - self.cost(state)

    def moves(self, state: Any) -> Iterable[Any] | None:
        """All moves of the neighbourhood of ``state`` (hill climbing, tabu)."""
        return None

    def tabu_attributes(self, state: Any, move: Any) -> Iterable[Hashable]:
        """Hashable attributes a move changes (for tabu search); default: the move."""
        return (move,)

    def copy_state(self, state: Any) -> Any:
        """An independent copy of ``state`` (default: ``copy.deepcopy``)."""
        return copy.deepcopy(state)

    def objective(self, cost: float) -> float:
        """The natural objective of a (minimised) cost."""
        return -cost if self.maximize else cost

    # Engine plumbing ------------------------------------------------------------
    def _search_spec(self) -> SearchSpec:
        name = type(self).__name__
        # Subclasses may skip __init__ or set the attribute later: checked here,
        # when a method starts (sweep lengths and default budgets derive from it).
        maximize = check_bool(getattr(self, "maximize", False), f"{name}.maximize")
        return SearchSpec(
            core=None,
            ops=UserProblemOps(self),
            exact=False,
            objective=self.objective,
            to_internal=lambda states: list(states),
            from_internal=lambda state: state,
            size=check_int(getattr(self, "size", 1), f"{name}.size", minimum=0),
            name=name,
            cost_of_objective=_negated if maximize else _unchanged,
            maximize=maximize,
        )


def _unchanged(value: float) -> float:
    return value


def _negated(value: float) -> float:
    return -value


class ProblemOps(Protocol):
    """The operations the engine reference runs a problem with (``SearchSpec.ops``).

    States and moves are the problem's own objects; ``rng`` is the chain's
    stream. ``n_moves``/``move_at`` enumerate the neighbourhood (``move_at``
    may return None for an index that is no move); a problem with a compiled
    core may also set ``n_tabu_keys``, the range of its tabu attributes.
    """

    def initial(self, rng: ChainRNG) -> Any: ...
    def prepare(self, state: Any) -> Any: ...
    def cost(self, state: Any) -> float: ...
    def random_move(self, state: Any, rng: ChainRNG) -> Any: ...
    def propose(self, state: Any, rng: ChainRNG, attempt: int) -> Any: ...
    def delta(self, state: Any, move: Any) -> float: ...
    def apply(self, state: Any, move: Any) -> Any: ...
    def n_moves(self, state: Any) -> int: ...
    def move_at(self, state: Any, index: int) -> Any: ...
    def tabu_attributes(self, state: Any, move: Any) -> tuple[Hashable, ...]: ...
    def copy(self, state: Any) -> Any: ...
    def export(self, state: Any) -> Any: ...


@dataclass
class SearchSpec:
    """What the run loop needs to know about a problem.

    Attributes
    ----------
    core : CompiledProblem or None
        The compiled operations (None: the problem runs on the reference only).
    ops : object or None
        Python operations for the engine reference (``initial``, ``prepare``,
        ``cost``, ``random_move``, ``propose``, ``delta``, ``apply``,
        ``n_moves``, ``move_at``, ``tabu_attributes``, ``copy``, ``export``).
    exact : bool
        Costs and deltas are exact in float64: improvements are compared exactly.
    objective : callable
        Minimised cost -> the problem's natural objective (tour length, cut...).
    to_internal, from_internal : callable
        User states -> internal states (validated), and back. For compiled
        problems both work on one state or on a 2-d array of states (one per
        row), and ``from_internal`` returns new arrays.
    size : int
        Move attempts per annealing sweep (cities, spins, dimensions).
    name : str
    cost_of_objective : callable
        Inverse of ``objective`` (targets are given as objectives).
    maximize : bool
        Whether the natural objective is maximised (then a target means
        objective >= target).
    attributes_per_move : int
        Tabu attributes a typical move changes (4 cities for TSP moves).
    cost_scale : float
        Magnitude of the terms a cost sums, when cancellations can make it
        larger than the costs themselves (0: the costs' own size).
    large_neighbourhood : bool
        The enumerable neighbourhood is too large to scan every step (TSP:
        ~4 n² moves): stochastic hill climbing and tabu sample moves instead.
    """

    core: CompiledProblem | None
    ops: ProblemOps | None
    exact: bool
    objective: Callable[[float], float]
    to_internal: Callable[[Any], Any]
    from_internal: Callable[[Any], Any]
    size: int
    name: str
    cost_of_objective: Callable[[float], float] = _unchanged
    maximize: bool = False
    attributes_per_move: int = 1
    #: The magnitude of the terms a cost sums (Ising: sum |h| + sum |J|), when
    #: it can exceed the cost itself through cancellations: the run loop's
    #: consistency check of deltas allows rounding relative to it.
    cost_scale: float = 0.0
    large_neighbourhood: bool = False


def search_spec(problem: object) -> SearchSpec:
    """The SearchSpec of a problem object (built-in, compiled or Python)."""
    from ..cython_api import CompiledProblem

    if hasattr(problem, "_search_spec"):
        return problem._search_spec()
    if isinstance(problem, CompiledProblem):
        problem._check_vtable()
        return SearchSpec(
            core=problem,
            ops=None,
            exact=bool(problem.exact_costs),
            objective=lambda cost: cost,
            to_internal=lambda states: np.asarray(states, dtype=problem.state_dtype),
            from_internal=lambda state: state,
            size=problem.state_size,
            name=type(problem).__name__,
        )
    raise TypeError(
        f"expected a problem (TSP, Ising, QUBO, MaxCut, a Problem subclass or a "
        f"CompiledProblem), got {type(problem).__name__}"
    )


class UserProblemOps:
    """Adapt a user's Problem (Python) to the operations protocol.

    With ``maximize=True`` the user's ``cost`` is an objective to maximise;
    the engine minimises its negative.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        maximize = check_bool(getattr(problem, "maximize", False), "maximize")
        self.sign = -1.0 if maximize else 1.0
        self._move_lists: dict[int, list[Any]] = {}
        # The time the user's cost takes (a time-limited run keeps room for
        # the final costs its Result recomputes: Run.deadline).
        self._cost_calls = 0
        self._cost_seconds = 0.0

    def initial(self, rng: ChainRNG) -> Any:
        return self.problem.initial(rng)

    def prepare(self, state: Any) -> Any:
        return self.problem.copy_state(state)

    def cost(self, state: Any) -> float:
        start = time.perf_counter()
        value = self.problem.cost(state)
        self._cost_seconds += time.perf_counter() - start
        self._cost_calls += 1
        return self.sign * _as_float(value, "cost", state)

    def mean_cost_seconds(self) -> float:
        """The mean duration of the user's ``cost`` so far (0 before any call)."""
        return self._cost_seconds / self._cost_calls if self._cost_calls else 0.0

    def random_move(self, state: Any, rng: ChainRNG) -> Any:
        return self.problem.random_move(state, rng)

    def propose(self, state: Any, rng: ChainRNG, attempt: int) -> Any:
        return self.problem.random_move(state, rng)

    def delta(self, state: Any, move: Any) -> float:
        return self.sign * _as_float(self.problem.delta(state, move), "delta", state)

    def apply(self, state: Any, move: Any) -> Any:
        result = self.problem.apply(state, move)
        return state if result is None else result

    def _moves(self, state: Any) -> list[Any]:
        moves = self.problem.moves(state)
        if moves is None:
            raise TypeError(
                f"{type(self.problem).__name__}.moves() returned None: this method "
                "needs an enumerable neighbourhood"
            )
        return list(moves)

    def n_moves(self, state: Any) -> int:
        moves = self._moves(state)
        self._move_lists = {id(state): moves}  # only the current step's list is kept
        return len(moves)

    def move_at(self, state: Any, index: int) -> Any:
        return self._move_lists[id(state)][index]

    def tabu_attributes(self, state: Any, move: Any) -> tuple[Hashable, ...]:
        return tuple(self.problem.tabu_attributes(state, move))

    def copy(self, state: Any) -> Any:
        return self.problem.copy_state(state)

    def export(self, state: Any) -> Any:
        return self.problem.copy_state(state)


class ProblemError(RuntimeError):
    """A user problem misbehaved; carries the offending state and the best so far."""

    def __init__(
        self,
        message: str,
        state: Any = None,
        best_state: Any = None,
        best_cost: float | None = None,
    ) -> None:
        super().__init__(message)
        self.state = state
        self.best_state = best_state
        self.best_cost = best_cost


def _as_float(value: Any, what: str, state: Any) -> float:
    """A user's cost or delta as a finite float, else ProblemError: NaN is no
    cost, and an infinite one makes every later delta NaN (and -inf would meet
    any target), so neither can be searched on."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ProblemError(
            f"the problem's {what} returned {value!r}, not a number", state=state
        ) from None
    if math.isnan(value):
        raise ProblemError(f"the problem's {what} returned NaN", state=state)
    if math.isinf(value):
        raise ProblemError(
            f"the problem's {what} returned {value}: costs and deltas must be "
            "finite (return a large finite cost for states to avoid)",
            state=state,
        )
    return value
