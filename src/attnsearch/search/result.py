"""The Result every search method returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Result", "STOP_REASONS"]

#: Why a run ended.
STOP_REASONS = (
    "converged",  # every chain reached a local optimum (hill climbing)
    "max_iters",  # the step/sweep budget was used up
    "time_limit",
    "target",  # a chain reached the target cost
    "callback",  # the callback returned True
    "interrupted",  # Ctrl-C (KeyboardInterrupt)
)


@dataclass
class Result:
    """Outcome of a search run (all chains).

    Attributes
    ----------
    best_state : object
        Best state found over all chains (a NumPy array for built-in problems:
        tour, spins, binary vector; whatever the problem uses otherwise).
    best_cost : float
        Its cost (the minimised quantity; for ``maximize=True`` problems this
        is minus the user's objective).
    objective : float
        The problem's natural objective of ``best_state``: tour length, cut
        size, energy, or the user's function value.
    states : list or ndarray
        Final best state of each chain (row c = chain c).
    costs : ndarray
        Best cost of each chain, recomputed from scratch.
    history : dict of ndarray
        Bounded trace (at most ~1000 points): ``n_evaluations`` (cumulative,
        all chains), ``best_costs`` and ``best_objectives`` (points × chains),
        ``temperature`` (NaN where not applicable), ``elapsed`` seconds.
    acceptance_rate : float
        ``accepted / proposed`` over all chains, counted by the kernels with one
        meaning for every method: *proposed* = moves whose cost change the
        method evaluated, *accepted* = moves it applied. Annealing: Metropolis
        acceptances per attempt; hill climbing and tabu search: one move taken
        per step over the candidates scanned; stochastic hill climbing: steps
        that moved over the candidates scanned. Particle swarm (whose particles
        always move): personal-best improvements per particle evaluation. NaN
        when nothing was proposed.
    acceptance_counts : tuple of int
        ``(accepted, proposed)`` behind ``acceptance_rate`` (integers, so that
        results of blocks of chains merge exactly).
    n_evaluations : int
        Move evaluations (delta computations) over all chains.
    elapsed : float
        Wall-clock seconds of the whole call.
    stop_reason : str
        One of ``STOP_REASONS``.
    method : str
    params : dict
        The parameters actually used (e.g. ``t_start``, ``t_end``, the
        temperature ``schedule`` array, ``num_sweeps``, ``num_threads``, seed).
    """

    best_state: Any
    best_cost: float
    objective: float
    states: Any
    costs: np.ndarray
    history: dict
    acceptance_rate: float
    n_evaluations: int
    elapsed: float
    stop_reason: str
    method: str
    params: dict = field(default_factory=dict)
    acceptance_counts: tuple = (0, 0)

    @property
    def best_chain(self) -> int:
        """Index of the chain that found ``best_state`` (lowest index on ties)."""
        return int(np.argmin(self.costs))

    def plot(self, ax=None):
        """Best objective of each chain against evaluations (and, for annealing,
        the temperature on a second axis). Needs matplotlib (``attnsearch[plot]``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..plot import result_history

        return result_history(self, ax=ax)

    def __repr__(self):
        return (
            f"Result(method={self.method!r}, objective={self.objective!r}, "
            f"best_cost={self.best_cost!r}, chains={len(self.costs)}, "
            f"n_evaluations={self.n_evaluations}, elapsed={self.elapsed:.3g}s, "
            f"stop_reason={self.stop_reason!r})"
        )
