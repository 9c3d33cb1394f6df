"""The per-chain arrays of a run, shared by every backend.

``ChainCounters`` are the numbers every backend keeps per chain (the run loop and
``Result`` read only these); ``ChainArrays`` adds the states, workspaces and RNG
states of the compiled engine, which its nogil kernels update in place. The
engine reference keeps Python states in ``_engine_reference.ChainsReference``,
a ``ChainCounters`` too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ChainArrays", "ChainCounters"]


class ChainCounters:
    """Per-chain counters (row c = chain c).

    Attributes
    ----------
    cost, best_cost : ndarray of float64
        Current and best cost (running values; ``Result`` recomputes the best).
    n_evaluations : ndarray of int64
        Moves whose delta the method computed (its proposals).
    n_accepted : ndarray of int64
        Moves it applied (particle swarm: personal-best improvements).
    progress : ndarray of int64
        Sweeps (annealing), steps or iterations done.
    status : ndarray of int32
        ``_engine.STATUS`` codes: 0 while the chain runs.
    """

    def __init__(self, n_chains: int) -> None:
        self.cost = np.zeros(n_chains)
        self.best_cost = np.zeros(n_chains)
        self.n_evaluations = np.zeros(n_chains, dtype=np.int64)
        self.n_accepted = np.zeros(n_chains, dtype=np.int64)
        self.progress = np.zeros(n_chains, dtype=np.int64)
        self.status = np.zeros(n_chains, dtype=np.int32)

    def copy_counters_into(self, other: ChainCounters) -> None:
        for name in ("cost", "best_cost", "n_evaluations", "n_accepted", "progress"):
            setattr(other, name, getattr(self, name).copy())
        other.status = self.status.copy()


class ChainArrays(ChainCounters):
    """Counters plus the compiled engine's states, workspaces and streams.

    ``scratch`` holds what a method keeps between chunks (the tabu memory, the
    candidate buffers of stochastic hill climbing), allocated once per run by
    the engine's entry points.
    """

    def __init__(
        self,
        n_chains: int,
        state_size: int,
        state_dtype: npt.DTypeLike,
        aux_nbytes: int,
        rng_states: npt.ArrayLike,
    ) -> None:
        super().__init__(n_chains)
        self.states = np.zeros((n_chains, state_size), dtype=state_dtype)
        # np.zeros: pages are touched when written (zeros_like writes them all,
        # seconds for the replicas of a long ladder).
        self.best_states = np.zeros(self.states.shape, dtype=self.states.dtype)
        self.aux = np.zeros((n_chains, aux_nbytes), dtype=np.uint8)
        self.rng = np.ascontiguousarray(rng_states, dtype=np.uint64).copy()
        self.scratch: dict[Any, Any] = {}
        #: (first, last): the engine runs methods on chains first..last-1 only.
        self.active_chains: tuple[int, int] | None = None

    def copy(self) -> ChainArrays:
        clone = ChainArrays.__new__(ChainArrays)
        self.copy_counters_into(clone)
        for name in ("states", "best_states", "aux", "rng"):
            setattr(clone, name, getattr(self, name).copy())
        clone.scratch = {key: _copy(value) for key, value in self.scratch.items()}
        clone.active_chains = None
        return clone


def _copy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(v.copy() for v in value)
    return value.copy()
