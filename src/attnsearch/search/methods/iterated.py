"""Iterated local search: kick the best state, descend again, keep it unless worse."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..._backends import BackendName
from ..._threading import effective_n_threads
from .._run import _CHUNK_SECONDS, STATUS, CompiledBackend, Run, require_neighbourhood
from .._typing import Callback, ProblemLike, Seed
from .._validation import check_int
from ..result import Result

__all__ = ["iterated_local_search"]

#: Kicks without ``max_iters`` or ``time_limit``: this many per unit of size
#: (cities, spins, ...), at least _MIN_DEFAULT_ITERATIONS.
_DEFAULT_ITERATIONS_PER_UNIT = 10
_MIN_DEFAULT_ITERATIONS = 1000
#: Kicks may make up to max(this, size) moves (double bridges for a TSP).
_MIN_STRENGTH_LIMIT = 2
#: Tour partitioning (``partition``): "auto" cuts the tours of TSPs of at least
#: PARTITION_MIN_CITIES cities into this many segments (more segments split
#: more of the pairs an ILS improves: ARCHITECTURE.md, *Tour partitioning*).
PARTITION_SEGMENT_COUNT = 2
PARTITION_MIN_CITIES = 50_000
#: Kicks per city of a segment in one round.
PARTITION_KICKS_PER_CITY = 0.25


def iterated_local_search(
    problem: ProblemLike,
    *,
    strength: int | None = None,
    max_iters: int | None = None,
    num_chains: int = 1,
    initial_states: Any = None,
    target: float | None = None,
    time_limit: float | None = None,
    seed: Seed = None,
    num_threads: int | None = None,
    callback: Callback | None = None,
    backend: BackendName = "auto",
    progress: bool = False,
    partition: int | str | None = "auto",
) -> Result:
    """Iterated local search (ILS) on parallel chains.

    Each chain first descends from its initial state to a local optimum. Then
    every iteration kicks the current state (a perturbation local search
    cannot undo in one move), descends again, and keeps the new local optimum
    when its cost is **lower than or equal to** the cost before the kick;
    otherwise the chain goes back to where it was. Equal costs are accepted so
    that a chain can drift across plateaus (exact costs: TSPLIB distances,
    integer couplings; floating-point costs must be lower by more than the
    rounding tolerance, as the running sum of deltas drifts). The current
    state is therefore always the best one the chain has seen, and each kick
    perturbs the best.

    For a TSP with candidate lists (the default) this is what the strongest
    TSP heuristics do: the kick is a *segment-local double bridge* (three
    consecutive segments of at most ``kick_length`` cities reordered, four
    edges changed: a move 2-opt, Or-opt and 3-opt cannot undo), the descent is
    2-opt + Or-opt + 3-opt + the Lin–Kernighan step (the TSP's ``moves``) over
    candidate neighbours with don't-look bits starting from the kick's eight
    endpoints, and a rejected iteration is
    undone from a log of the reversals it made. So an iteration costs O(k)
    evaluations at any number of cities, not O(n). Other problems use their
    own operations when they provide them (``cython_api.pxd``: ``descend``,
    ``kick``, ``checkpoint``/``rollback``) and otherwise ``strength`` random
    moves as the kick, first-improvement descent over the enumerable
    neighbourhood, and copies of the state to go back.

    Parameters
    ----------
    problem : TSP, Ising, QUBO, MaxCut, Continuous, Problem (with ``moves``) or
        CompiledProblem
        Needs a descent of its own or an enumerable neighbourhood.
    strength : int, optional
        Double bridges per kick (TSP; default 1), or random moves per kick
        (other problems; default ``max(2, size // 50)``); at most
        ``max(2, size)`` (more is a random restart, and a kick is not
        interrupted).
    max_iters : int, optional
        Iterations per chain: the first descent, then one per kick. Default:
        unlimited with ``time_limit`` (the run lasts until the time is used or
        ``target`` is met), else ``max(1000, 10 * size)``.
    num_chains, initial_states, target, time_limit, seed, num_threads, callback, \
backend, progress
        As in :func:`simulated_annealing`. Chains are independent searches (the
        best one is returned); results are bitwise identical for any
        ``num_threads`` unless a time limit or target stopped the run.
    partition : int, "auto" or None
        TSP with coordinates and candidate lists only: *tour partitioning*.
        After the first descent, each round cuts the chain's tour into
        segments of about ``partition`` consecutive cities and runs iterated
        local search on every segment in parallel (all ``num_threads`` on one
        tour), as a path whose two ends stay fixed, then concatenates the
        segments back (:mod:`attnsearch.search.problems.tsp.partition`); the
        cut moves between rounds. A round gives each segment one kick per
        ``1 / PARTITION_KICKS_PER_CITY`` cities. ``"auto"`` (default):
        ``PARTITION_SEGMENT_COUNT`` (2) segments from ``PARTITION_MIN_CITIES``
        cities on, where it measured better, otherwise off; ``None`` or 0:
        off (each tour improved whole, one chain per thread). The partition
        never depends on ``num_threads``, so results stay bitwise identical for
        any thread count.

    Returns
    -------
    Result
        ``params["iterations"]`` (also ``"steps"``): iterations done per
        chain, the first descent included; ``params["kicks_accepted"]``: kicks
        kept per chain (of ``iterations - 1``); ``params["partition"]``:
        the segment size of tour partitioning (None: off), and
        ``params["rounds"]``: its rounds per chain;
        ``acceptance_counts``: (moves applied, moves evaluated) by the
        descents and kicks, the rolled-back ones included.

    Notes
    -----
    Why a method of its own rather than an option of :func:`hill_climb`:
    hill climbing stops at the first local optimum (``stop_reason
    "converged"``, random restarts as chains), while ILS never converges: it
    runs for a budget of kicks or time, keeps one state per chain and
    perturbs it, needs an undo (checkpoint/rollback) and has its own
    parameter (the kick strength) and counters (kicks accepted). Folding that
    into ``hill_climb`` would give one function two stopping rules.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import TSP, iterated_local_search
    >>> rng = np.random.default_rng(0)
    >>> tsp = TSP(rng.uniform(0, 1000, size=(200, 2)), metric="EUC_2D")
    >>> result = iterated_local_search(tsp, max_iters=2000, num_chains=2, seed=1)
    >>> sorted(result.best_state) == list(range(200))
    True
    >>> result.params["iterations"].tolist()
    [2000, 2000]
    """
    strength = check_int(strength, "strength", allow_none=True)
    max_iters = check_int(max_iters, "max_iters", allow_none=True)
    if partition is not None and partition != "auto":
        partition = check_int(partition, "partition", minimum=0) or None

    def prepare(run: Run) -> None:
        # Before any chain is seeded or evaluated: the kick's size, and the
        # copies that undo a kick of a problem without checkpoint/rollback.
        size = max(1, int(run.spec.size or 1))
        if strength is not None and strength > max(_MIN_STRENGTH_LIMIT, size):
            raise ValueError(
                f"strength must be at most {max(_MIN_STRENGTH_LIMIT, size)} for "
                f"{run.spec.name} (its size: a kick of more moves than the problem "
                f"has variables is a random restart), got {strength}"
            )
        core = run.spec.core
        if core is not None and run.compiled():
            if not (core.provides("checkpoint") and core.provides("rollback")):
                run.check_chain_memory(
                    core.state_size * np.dtype(core.state_dtype).itemsize
                    + core.aux_nbytes,
                    "the copies that undo kicks",
                )

    run = Run(
        "iterated_local_search",
        problem,
        num_chains=num_chains,
        initial_states=initial_states,
        seed=seed,
        num_threads=num_threads,
        time_limit=time_limit,
        target=target,
        callback=callback,
        backend=backend,
        progress=progress,
        unit="iterations",
        prepare=prepare,
    )
    own_descent = run.chain_backend.provides("descend")
    own_kick = run.chain_backend.provides("kick")
    if not own_descent:
        require_neighbourhood(run)
    size = max(1, int(run.spec.size or 1))
    if strength is None:
        strength = 1 if own_kick else max(2, size // 50)
    if max_iters is None and run.time_limit is None:
        max_iters = max(_MIN_DEFAULT_ITERATIONS, _DEFAULT_ITERATIONS_PER_UNIT * size)
    tolerance = run.improvement_tolerance()
    counters = run.chain_backend.counters

    def advance(done: int, size: int) -> int:
        # Units are iterations: the first descent (progress 1 after it), kicks.
        run.chain_backend.call(
            "iterated_local_search",
            until=done + size,
            strength=strength,
            tolerance=tolerance,
            target=run.internal_target,
            deadline=run.deadline,
            pause_at=time.monotonic() + _CHUNK_SECONDS,
        )
        return max(0, int(counters.progress.min()) - done)

    plan = _tour_partition(problem, partition, run, strength)
    if plan is not None:
        advance = _partitioned_advance(
            run, plan, advance, max_iters, tolerance, num_threads
        )
    run.loop(advance, max_iters)
    scratch: dict[str, Any] = getattr(counters, "scratch", {})
    accepted = scratch.get("ils_accepted")
    return run.result(
        {
            "strength": strength,
            "max_iters": max_iters,
            "tolerance": tolerance,
            "kick": "problem" if own_kick else "random moves",
            "descent": "problem" if own_descent else "first improvement",
            "iterations": counters.progress.copy(),
            "steps": counters.progress.copy(),
            "kicks_accepted": None if accepted is None else accepted.copy(),
            "partition": None if plan is None else plan.segment_size,
            "rounds": None if plan is None else scratch["partition_rounds"].copy(),
        }
    )


def _tour_partition(problem: Any, partition: int | str | None, run: Run, strength):
    """The TourPartition of this run, or None (off, "auto" below its size, or
    not applicable: an explicit size then raises)."""
    if partition is None:
        return None
    from ..problems.tsp.partition import MIN_SEGMENT_SIZE, TourPartition, segment_starts
    from ..problems.tsp.problem import TSP

    auto = partition == "auto"
    if not auto and not isinstance(partition, int):
        raise ValueError(f'partition must be an int, "auto" or None, got {partition!r}')
    usable = (
        isinstance(problem, TSP)
        and problem.coords is not None
        and problem.candidates is not None
        and isinstance(run.chain_backend, CompiledBackend)
        and run.chain_backend.provides("descend")
        and strength in (None, 1)
    )
    if auto:
        if not usable or problem.n < PARTITION_MIN_CITIES:
            return None
        partition = -(-problem.n // PARTITION_SEGMENT_COUNT)
    elif not usable:
        raise ValueError(
            "partition needs a TSP with coordinates and candidate lists, the "
            "compiled backend and strength 1"
        )
    assert isinstance(partition, int)
    if partition < MIN_SEGMENT_SIZE:
        raise ValueError(
            f"partition must be 0 or at least {MIN_SEGMENT_SIZE}, got {partition}"
        )
    if len(segment_starts(problem.n, partition)) < 3:
        return None  # one segment: the whole tour, as without partitioning
    return TourPartition(problem, partition, PARTITION_KICKS_PER_CITY)


def _partitioned_advance(run, plan, first_descent, max_iters, tolerance, num_threads):
    """``advance`` of a partitioned run: the engine's first descent (iteration 1),
    then one round of the partition per call and chain (its kicks are its
    iterations), all threads on one tour."""
    backend = run.chain_backend
    arrays = backend.arrays
    core = backend.core
    n_threads = effective_n_threads(num_threads, n_tasks=plan.n_segments)
    rounds = arrays.scratch.setdefault(
        "partition_rounds", np.zeros(len(arrays.cost), dtype=np.int64)
    )
    accepted = arrays.scratch.setdefault(
        "ils_accepted", np.zeros(len(arrays.cost), dtype=np.int64)
    )

    def advance(done: int, size: int) -> int:
        if np.any(arrays.progress == 0):
            return first_descent(done, min(size, 1))
        before = int(arrays.progress.min())
        for c in range(len(arrays.cost)):
            if arrays.status[c] != STATUS["running"]:
                continue
            budget = None if max_iters is None else max_iters - int(arrays.progress[c])
            if budget is not None and budget <= 0:
                continue
            if time.monotonic() + plan.overhead_s > run.deadline:
                # Cutting and merging alone would overrun the time limit.
                arrays.status[c] = STATUS["time_limit"]
                continue
            tour, counts, _ = plan.round(
                arrays.states[c],
                int(rounds[c]),
                arrays.rng[c],
                plan.kicks(budget),
                tolerance,
                run.deadline,
                n_threads,
            )
            rounds[c] += 1
            arrays.states[c] = tour
            cost = float(core.tour_lengths(tour)[0])
            arrays.cost[c] = cost
            core.aux_positions(arrays.aux[c])[tour] = np.arange(
                len(tour), dtype=np.int32
            )
            arrays.progress[c] += counts[0]
            arrays.n_evaluations[c] += counts[2]
            arrays.n_accepted[c] += counts[3]
            accepted[c] += counts[1]
            if cost <= arrays.best_cost[c]:
                arrays.best_states[c] = tour
                arrays.best_cost[c] = cost
            if cost <= run.internal_target:
                arrays.status[c] = STATUS["target"]
            elif time.monotonic() > run.deadline:
                arrays.status[c] = STATUS["time_limit"]
        return max(0, int(arrays.progress.min()) - before)

    return advance
