"""One call of a method: the backend that runs its chains, and the one chunk loop.

A method function (``methods/*.py``) validates its own parameters, builds a
``Run`` (which validates the common ones, seeds the chains and picks a
backend), then hands ``Run.loop`` a function that advances every chain by a
number of units (sweeps, steps, iterations). The loop sizes chunks to ~0.1 s and
between chunks handles the time limit, the target, the callback, Ctrl-C, the
progress bar and the bounded history; ``Run.result`` builds the ``Result``.
Chunking never changes the arithmetic: without a time limit or target, results
are bitwise identical for any chunking and any thread count.

Backends (the ``Backend`` protocol) hold the chains:

* ``CompiledBackend``: ``ChainArrays`` updated in place by ``_engine`` (nogil,
  OpenMP over chains);
* ``ReferenceBackend``: Python states run by ``_engine_reference``, the
  step-for-step mirror (the tests' oracle and the engine of Python problems);
* the particle swarm's own backend (``methods/swarm.py``), whose chains are swarms.

The two chain backends run a method the same way, ``backend.call(name,
**params)``: ``_engine.<name>(core, arrays, **params, num_threads=...)`` or
``_engine_reference.<name>(chains, **params)``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .._backends import check_backend
from .._threading import effective_n_threads
from . import _engine, _engine_reference
from ._chains import ChainArrays, ChainCounters
from ._rng import ChainRNG
from ._seeding import ChainBlock, calibration_states, chain_rng_states
from ._validation import (
    check_int,
    check_optional_float,
    check_time_limit,
    rounding_tolerance,
)
from .problems.base import Problem, ProblemError, UserProblemOps, search_spec
from .result import Result

__all__ = [
    "Backend",
    "ChainBackend",
    "CompiledBackend",
    "ReferenceBackend",
    "Run",
    "require_neighbourhood",
]

STATUS = _engine.STATUS
_CHUNK_SECONDS = 0.1
_MAX_HISTORY = 1000


class Backend(Protocol):
    """What the run loop needs from the chains of any method."""

    name: str  # "cython" or "reference"
    counters: ChainCounters

    def best_states(self) -> Any:
        """Every chain's best state, internal form (an array with one row per
        chain for compiled problems, a list otherwise); may share memory."""

    def best_state(self, chain: int) -> Any:
        """One chain's best state, internal form."""

    def final_costs(self) -> np.ndarray:
        """Every chain's best cost, recomputed from scratch (no drift)."""

    def final_cost(self, chain: int) -> float:
        """One chain's best cost, recomputed from scratch."""


class ChainBackend(Backend, Protocol):
    """Chains of single states (every method but the particle swarm)."""

    def call(self, method: str, **params: Any) -> Any:
        """Run ``method`` (an entry point of ``_engine``) on every running chain."""

    def clone(self) -> ChainBackend:
        """An independent copy, for throwaway measurement runs."""

    def restart_from_best(self) -> None:
        """Every chain continues from its best state (annealing's reheats)."""

    def has_neighbourhood(self) -> bool:
        """Whether the problem can enumerate its moves (hill climbing, tabu)."""

    def provides(self, operation: str) -> bool:
        """Whether the problem has the optional operation (``descend``, ``kick``,
        ``checkpoint``, ``rollback``: cython_api.pxd) of its own."""


class CompiledBackend:
    """Chains in NumPy arrays, methods in ``_engine`` (nogil, OpenMP over chains)."""

    name = "cython"

    def __init__(self, spec, rng_states, initial, n_threads, use_vtable=False):
        core = spec.core
        self.spec = spec
        self.core = core
        self.n_threads = n_threads
        self.use_vtable = use_vtable
        self.arrays = self.counters = ChainArrays(
            len(rng_states),
            core.state_size,
            core.state_dtype,
            core.aux_nbytes,
            rng_states,
        )
        random_start = np.ones(len(rng_states), dtype=bool)
        if initial is not None:
            self.arrays.states[:] = initial
            random_start[:] = False
        self.call("init_chains", random_start=random_start)
        bad = np.flatnonzero(self.arrays.status == STATUS["bad_initial_state"])
        if bad.size:
            raise ValueError(f"initial state of chain {bad[0]} is not a valid state")

    def call(self, method, **params):
        entry = getattr(_engine, method)
        if method == "init_chains":
            return entry(
                self.core,
                self.arrays,
                params["random_start"],
                num_threads=self.n_threads,
                use_vtable=self.use_vtable,
            )
        return entry(
            self.core,
            self.arrays,
            num_threads=self.n_threads,
            use_vtable=self.use_vtable,
            **params,
        )

    def has_neighbourhood(self):
        return self.core.has_neighbourhood

    def provides(self, operation):
        return bool(self.core.provides(operation))

    def clone(self):
        clone = CompiledBackend.__new__(CompiledBackend)
        clone.spec, clone.core = self.spec, self.core
        clone.n_threads, clone.use_vtable = self.n_threads, self.use_vtable
        clone.arrays = clone.counters = self.arrays.copy()
        return clone

    def restart_from_best(self):
        arrays = self.arrays
        arrays.states[:] = arrays.best_states
        self.call("init_chains", random_start=np.zeros(len(arrays.cost), bool))
        arrays.status[:] = STATUS["running"]

    def best_states(self):
        return self.arrays.best_states

    def best_state(self, chain):
        return self.arrays.best_states[chain]

    def final_costs(self):
        return _engine.costs_of(self.core, self.arrays.best_states)

    def final_cost(self, chain):
        rows = self.arrays.best_states[chain : chain + 1]
        return float(_engine.costs_of(self.core, rows)[0])


class ReferenceBackend:
    """Chains as Python states, methods in ``_engine_reference`` (the mirror)."""

    name = "reference"

    def __init__(self, spec, rng_states, initial):
        self.spec = spec
        self.chains = self.counters = _engine_reference.ChainsReference(
            spec.ops, [ChainRNG(s) for s in rng_states]
        )
        random_start = np.full(len(rng_states), initial is None)
        _engine_reference.init_chains(self.chains, random_start, initial)

    def call(self, method, **params):
        return getattr(_engine_reference, method)(self.chains, **params)

    def has_neighbourhood(self):
        ops = self.spec.ops
        if isinstance(ops, UserProblemOps):  # a user Problem: does it define moves()?
            return type(ops.problem).moves is not Problem.moves
        return hasattr(ops, "n_moves")

    def provides(self, operation):
        return hasattr(self.spec.ops, operation)

    def clone(self):
        clone = ReferenceBackend.__new__(ReferenceBackend)
        clone.spec = self.spec
        clone.chains = clone.counters = self.chains.copy()
        return clone

    def restart_from_best(self):
        chains = self.chains
        for c in range(len(chains.rngs)):
            chains.states[c] = chains.ops.copy(chains.best_states[c])
            chains.cost[c] = chains.best_cost[c]
        chains.status[:] = STATUS["running"]

    def best_states(self):
        export = self.chains.ops.export
        return [export(state) for state in self.chains.best_states]

    def best_state(self, chain):
        return self.chains.ops.export(self.chains.best_states[chain])

    def final_costs(self):
        ops = self.chains.ops
        return np.array([ops.cost(s) for s in self.chains.best_states], dtype=float)

    def final_cost(self, chain):
        return float(self.chains.ops.cost(self.chains.best_states[chain]))


def require_neighbourhood(run):
    """TypeError unless the problem's neighbourhood can be enumerated."""
    if not run.backend.has_neighbourhood():
        raise TypeError(
            f"{run.spec.name} has no enumerable neighbourhood (moves); "
            "this method needs one"
        )


class Run:
    """One call of a method: problem spec, backend, timing, history, Result.

    Parameters
    ----------
    method : str
        The method's public name (``"simulated_annealing"``, ...).
    problem : object
        Any problem ``search_spec`` understands.
    num_chains, initial_states, seed, num_threads, time_limit, target, callback,
    backend, progress
        The public arguments every method shares, validated here.
    use_vtable : bool
        Run built-in problems through their vtable (the tests compare paths).
    make_backend : callable, optional
        ``make_backend(run, rng_states) -> Backend`` for methods whose chains are
        not single states (the particle swarm).
    unit : str
        What ``loop`` counts (``"sweeps"``, ``"steps"``, ``"iterations"``).
    """

    def __init__(
        self,
        method,
        problem,
        *,
        num_chains,
        initial_states,
        seed,
        num_threads,
        time_limit,
        target,
        callback,
        backend,
        use_vtable=False,
        make_backend=None,
        progress=False,
        unit="steps",
    ):
        self.start = time.perf_counter()
        self.method = method
        self.unit = unit
        self.show_progress = bool(progress)
        self.progress_bar = None
        backend = check_backend(backend)
        # The clock starts before the problem prepares itself (a TSP builds its
        # greedy start tour here): the time limit covers the whole call.
        self.time_limit = check_time_limit(time_limit)
        self.deadline = (
            time.monotonic() + self.time_limit
            if self.time_limit is not None
            else math.inf
        )
        self.spec = spec = search_spec(problem)
        self.problem = problem
        self.num_chains = check_int(num_chains, "num_chains")
        self.target = check_optional_float(target, "target")
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        self.callback = callback
        self.n_threads = effective_n_threads(num_threads, n_tasks=self.num_chains)
        first_chain = 0
        if isinstance(seed, ChainBlock):  # one task of attnsearch.search.dask
            seed, first_chain = seed.root, seed.first_chain
        self.seed = seed
        rng_states = chain_rng_states(seed, self.num_chains, first_chain)
        # Targets are objectives (cut size, tour length, the user's value); the
        # engine compares minimised costs.
        self.internal_target = (
            -math.inf
            if self.target is None
            else float(spec.cost_of_objective(self.target))
        )
        self.history = {
            "n_evaluations": [],
            "best_costs": [],
            "temperature": [],
            "elapsed": [],
        }
        self.temperature = math.nan  # reported in the history and the callback
        self.stop_reason = None
        self.units_done = 0
        if make_backend is not None:  # a method with chains of its own (swarms)
            self.backend = make_backend(self, rng_states)
            return
        initial = self._initial_states(initial_states)
        if backend == "cython" and spec.core is None:
            raise ValueError(
                f"{spec.name} is written in Python: use backend='auto' or 'reference'"
            )
        if spec.core is not None and backend != "reference":
            self.backend = CompiledBackend(
                spec, rng_states, initial, self.n_threads, use_vtable
            )
        else:
            if spec.ops is None:
                raise ValueError(f"{spec.name} has no Python implementation")
            self.backend = ReferenceBackend(spec, rng_states, initial)

    def _initial_states(self, initial_states):
        """None (random starts), or one internal state per chain."""
        n = self.num_chains
        if initial_states is None:
            return None
        spec = self.spec
        if spec.core is None:  # Python problem: a state, or a list of n states
            if isinstance(initial_states, list | tuple) and len(initial_states) == n:
                return list(initial_states)
            return [initial_states] * n
        array = np.asarray(spec.to_internal(initial_states))
        if np.ndim(initial_states) == 1:  # one state for every chain
            array = np.broadcast_to(array.reshape(-1), (n, array.size))
        if array.shape != (n, spec.size):
            raise ValueError(
                f"initial_states must have shape ({spec.size},) or ({n}, {spec.size}), "
                f"got {np.shape(initial_states)}"
            )
        return np.ascontiguousarray(array)

    # -- measurements that depend on the seed only ---------------------------

    def calibration_backend(self):
        """A backend of a few chains from random states on the calibration streams,
        for measurements (temperatures, tolerances) that must depend on the seed
        only, never on num_chains or on which block of chains a worker runs."""
        rng_states = calibration_states(self.seed)
        if isinstance(self.backend, CompiledBackend):
            return CompiledBackend(
                self.spec, rng_states, None, self.n_threads, self.backend.use_vtable
            )
        return ReferenceBackend(self.spec, rng_states, None)

    def improvement_tolerance(self):
        """Deltas must be below -tolerance to count as improvements: rounding
        noise relative to the size of the costs (those of random states)."""
        if self.spec.exact:
            return 0.0
        costs = np.abs(np.asarray(self.calibration_backend().counters.cost))
        return rounding_tolerance(np.max(costs[np.isfinite(costs)], initial=0.0), False)

    # -- the chunk loop ------------------------------------------------------

    @contextlib.contextmanager
    def guard(self):
        """Re-raise a user problem's error with the best state found so far (and
        close the progress bar on any error)."""
        try:
            yield
        except ProblemError as error:
            self.close_progress()
            costs = np.asarray(self.backend.counters.best_cost, dtype=float)
            if costs.size and np.isfinite(costs).any():
                best = int(np.nanargmin(costs))
                error.best_cost = float(self.spec.objective(costs[best]))
                error.best_state = self.spec.from_internal(
                    self.backend.best_state(best)
                )
            raise
        except BaseException:
            self.close_progress()
            raise

    def loop(self, advance: Callable[[int, int], int], budget: int | None) -> None:
        """Advance every running chain in ~0.1 s chunks until ``budget`` units
        are done (None: no unit budget), a stop rule fires, or every chain
        stops. ``advance(done, size)`` runs at most ``size`` more units after
        ``done`` and returns how many it ran (annealing ends a chunk at the end
        of a pass). Sets ``stop_reason`` and ``units_done``; Ctrl-C ends the run
        with ``"interrupted"``."""
        done = 0
        per_unit = 0.0
        counters = self.backend.counters
        self.record()
        try:
            while True:
                remaining = (budget - done) if budget is not None else None
                if remaining is not None and remaining <= 0:
                    self.stop_reason = "max_iters"
                    break
                size = self.chunk_size(done, per_unit, remaining)
                start = time.perf_counter()
                with self.guard():
                    ran = advance(done, size)
                per_unit = (time.perf_counter() - start) / max(ran, 1)
                done += ran
                self._raise_for_problem_bugs()
                # The callback's "step": the furthest chain's units, which is the
                # units run unless chains stopped (converged, target) early.
                reason = self.between_chunks(int(np.max(counters.progress)), budget)
                if reason:
                    self.stop_reason = reason
                    break
                if np.all(counters.status != STATUS["running"]):
                    self.stop_reason = "converged"
                    break
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
        self.units_done = done

    def _raise_for_problem_bugs(self):
        status = self.backend.counters.status
        if np.any(status == STATUS["bad_tabu_attribute"]):
            self.close_progress()
            raise ProblemError(
                f"{self.spec.name}: tabu_attributes gave an attribute outside "
                "[0, n_tabu_keys) or more than MAX_TABU_ATTRIBUTES (4) of them"
            )

    def chunk_size(self, done, per_unit, remaining):
        """Units for the next chunk: ~0.1 s of work, at least 1, at most remaining."""
        size = max(1, done) if per_unit <= 0 else int(_CHUNK_SECONDS / per_unit)
        if self.deadline != math.inf and per_unit > 0:
            left = self.deadline - time.monotonic()
            size = min(size, max(1, int(left / per_unit) + 1))
        size = max(1, size)
        return size if remaining is None else min(size, remaining)

    def between_chunks(self, done, total):
        """Bookkeeping after a chunk; returns a stop reason or None."""
        self.record()
        if self.show_progress:
            self._update_progress(done, total)
        counters = self.backend.counters
        if np.any(counters.status == STATUS["target"]) or (
            np.min(counters.best_cost) <= self.internal_target
        ):
            return "target"
        if (
            np.any(counters.status == STATUS["time_limit"])
            or time.monotonic() > self.deadline
        ):
            return "time_limit"
        if self.callback is not None:
            if self.callback(self.progress(done, total)):
                return "callback"
        return None

    # -- what the user sees along the way ------------------------------------

    def elapsed(self):
        return time.perf_counter() - self.start

    def record(self):
        history = self.history
        counters = self.backend.counters
        history["n_evaluations"].append(int(counters.n_evaluations.sum()))
        history["best_costs"].append(np.array(counters.best_cost, dtype=float))
        history["temperature"].append(float(self.temperature))
        history["elapsed"].append(self.elapsed())
        if len(history["elapsed"]) > 2 * _MAX_HISTORY:
            for key in history:  # keep every other point, the last one included
                history[key] = history[key][::-1][::2][::-1]

    def progress(self, step, total):
        """The callback's dict: the best chain's state and cost (recomputed, so
        they agree exactly), counts and rates so far."""
        counters = self.backend.counters
        evaluations = int(counters.n_evaluations.sum())
        best_chain = int(np.argmin(counters.best_cost))
        best_costs = np.array(counters.best_cost, dtype=float)
        best_costs[best_chain] = self.backend.final_cost(best_chain)
        return {
            "best_state": self.spec.from_internal(self.backend.best_state(best_chain)),
            "method": self.method,
            "step": int(step),
            "total_steps": None if total is None else int(total),
            "n_evaluations": evaluations,
            "best_cost": float(best_costs[best_chain]),
            "best_costs": best_costs,
            "temperature": float(self.temperature),
            "acceptance_rate": _rate(counters),
            "elapsed": self.elapsed(),
        }

    def _update_progress(self, step, total):
        from .._progress import ProgressBar

        if self.progress_bar is None:
            self.progress_bar = ProgressBar(total, self.method, unit=self.unit)
        counters = self.backend.counters
        fields = {"best": float(self.spec.objective(np.min(counters.best_cost)))}
        if not math.isnan(self.temperature):
            fields["T"] = float(self.temperature)
        if counters.n_evaluations.sum():
            fields["accept"] = _rate(counters)
        self.progress_bar.update(step, **fields)

    def close_progress(self):
        if self.progress_bar is not None:
            self.progress_bar.close()
            self.progress_bar = None

    # -- the Result ----------------------------------------------------------

    def result(self, params):
        """The Result of the run; ``params`` are the method's own."""
        self.close_progress()
        backend = self.backend
        counters = backend.counters
        costs = np.asarray(backend.final_costs(), dtype=float)
        best = int(np.argmin(costs))
        best_cost = float(costs[best])
        if self.spec.core is not None:  # one conversion of all the rows
            states = self.spec.from_internal(np.asarray(backend.best_states()))
            best_state = states[best].copy()
        else:
            states = [self.spec.from_internal(s) for s in backend.best_states()]
            best_state = states[best]
        history = {
            key: (
                np.array(value)
                if key != "best_costs"
                else np.array(value).reshape(len(value), self.num_chains)
            )
            for key, value in self.history.items()
        }
        # The same trace in the problem's own terms (cut size, tour length, ...).
        objective = np.vectorize(
            lambda cost: float(self.spec.objective(cost)), otypes=[float]
        )
        history["best_objectives"] = (
            objective(history["best_costs"])
            if history["best_costs"].size
            else history["best_costs"].copy()
        )
        params = dict(
            params,
            num_chains=self.num_chains,
            num_threads=self.n_threads,
            seed=self.seed,
            time_limit=self.time_limit,
            target=self.target,
            backend=backend.name,
        )
        accepted = int(counters.n_accepted.sum())
        proposed = int(counters.n_evaluations.sum())
        return Result(
            best_state=best_state,
            best_cost=best_cost,
            objective=float(self.spec.objective(best_cost)),
            states=states,
            costs=costs,
            history=history,
            acceptance_rate=_rate(counters),
            n_evaluations=proposed,
            elapsed=self.elapsed(),
            stop_reason=self.stop_reason,
            method=self.method,
            params=params,
            acceptance_counts=(accepted, proposed),
        )


def _rate(counters):
    """Accepted / proposed over all chains (NaN before any proposal)."""
    proposed = int(counters.n_evaluations.sum())
    return float(counters.n_accepted.sum() / proposed) if proposed else math.nan
