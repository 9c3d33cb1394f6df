"""Tabu search: walk through the best non-tabu neighbours, past local optima."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._backends import BackendName
from ..._validation import INT64_MAX
from .._run import TIE_CAPACITY, Run, require_neighbourhood
from .._typing import Callback, ProblemLike, Seed
from .._validation import check_bool, check_int
from ..problems.base import SearchSpec
from ..result import Result

__all__ = ["tabu_search", "default_tenure", "default_perturb_after"]


def default_tenure(spec: SearchSpec) -> int:
    """The default tenure for a problem (documented in :func:`tabu_search`).

    Ising models (Ising, QUBO, max-cut) with couplings of both signs (spin
    glasses): ``max(min(20, n // 4), n // 50)``; with couplings of one sign
    (max-cut with positive weights): ``max(min(20, n // 4), n // 16)``. Other
    problems with one attribute per move (coordinates, Python problems):
    ``max(min(n // 4, 10), n // 16, 1)``. TSP, whose moves touch four cities:
    ``max(1, n // 64)``.

    Measured with the same number of steps per chain: on random 3-regular ±1
    models (n = 1000) and G11 (±1 torus, n = 800) tenure 20 (dwave-samplers'
    ``min(20, n / 4)``) beat
    30, 50 and 62 (mean energy −1254.5 against −1233.1 for 62 on the 3-regular
    model); on the ±1 G-set tori with n = 7000 longer tenures win (G62: 150
    and 437 against 20); on G-set graphs with positive weights n/16 won (G1
    and G14, n = 800: 50 against 20 and 120; G22: 125 against 20 and 250;
    G60: 437 against 20-200). With the perturbations (issue 23), n/25 was
    no better on G15 (3050 on 2 of 5 seeds against 3 of 5 for n/16 at 3.6 M
    steps per chain) and worse on G1 (``bench/README.md``).
    """
    keys = int(spec.core.n_tabu_keys if spec.core is not None else (spec.size or 1))
    if spec.attributes_per_move > 1:
        return max(1, keys // (16 * spec.attributes_per_move))
    signs = _coupling_signs(spec)
    if signs is not None:
        divisor = 50 if signs == 2 else 16
        return max(min(20, keys // 4), keys // divisor, 1)
    return max(min(keys // 4, 10), keys // 16, 1)


#: The longest tenure: a step index plus the tenure must fit the engine's int64
#: memory (a longer one wrapped around and made nothing tabu).
MAX_TENURE = INT64_MAX // 2


def _check_range(given: object, name: str, minimum: int) -> tuple[int, int]:
    """``given`` (an int or a (low, high) pair, each ``>= minimum``) as a
    (low, high) range: ``tenure`` in steps, ``perturb_strength`` in moves."""
    if isinstance(given, tuple | list):
        if len(given) != 2:
            raise ValueError(
                f"{name} must be an int or a (low, high) pair, got {given!r}"
            )
        low = check_int(given[0], f"{name}[0]", minimum=minimum, maximum=MAX_TENURE)
        high = check_int(given[1], f"{name}[1]", minimum=minimum, maximum=MAX_TENURE)
        if high < low:
            raise ValueError(f"{name} range must have low <= high, got {given!r}")
        return low, high
    low = check_int(given, name, minimum=minimum, maximum=MAX_TENURE)
    return low, low


def default_perturb_after(spec: SearchSpec, tenure: int) -> int:
    """The default ``perturb_after`` (documented in :func:`tabu_search`): ten
    tenures on Ising models (Ising, QUBO, max-cut), 0 (no perturbation) on
    other problems."""
    if _coupling_signs(spec) is None:
        return 0
    return 10 * max(1, tenure)


def _coupling_signs(spec: SearchSpec) -> int | None:
    """1 or 2: how many signs an Ising model's couplings have; None otherwise."""
    from ..problems.ising._reference import IsingReference

    ops = spec.ops
    if not isinstance(ops, IsingReference):
        return None
    weights = ops.weights[ops.weights != 0]
    return int(np.any(weights > 0)) + int(np.any(weights < 0)) or 1


def tabu_search(
    problem: ProblemLike,
    *,
    tenure: int | tuple[int, int] | None = None,
    max_iters: int | None = None,
    aspiration: bool = True,
    candidate_size: int | None = None,
    perturb_after: int | None = None,
    perturb_strength: int | tuple[int, int] | None = None,
    num_chains: int = 1,
    initial_states: Any = None,
    target: float | None = None,
    time_limit: float | None = None,
    seed: Seed = None,
    num_threads: int | None = None,
    callback: Callback | None = None,
    backend: BackendName = "auto",
    progress: bool = False,
) -> Result:
    """Tabu search on parallel chains, returning the best state seen.

    Each step evaluates the candidates (the whole neighbourhood, or
    ``candidate_size`` random moves) and takes the best one that is not tabu,
    **even when it is worse**, so the walk continues past local optima. The
    attributes a move changes — a flipped spin, the cities of a TSP move, the
    coordinate of a continuous compass move (steps of ±(upper − lower)/4^s on
    one coordinate, the discretised neighbourhood) — stay tabu for ``tenure``
    steps, which keeps the walk from returning to the states it just left.
    With ``aspiration``, a tabu move is allowed when it beats the best cost so
    far. When every candidate is tabu, the best of them is taken.

    A walk left to itself settles in a region it cannot leave (on G15 the
    chains stop improving after a few seconds), so the walk is cut into
    episodes: after ``perturb_after`` steps without a better cost in the
    episode, ``strength`` random moves are applied (their attributes tabu) and
    a new episode starts from there. The strength adapts as in breakout local
    search (Benlic & Hao, 2013): it grows by one while episodes end at the cost
    the previous one ended at (the walk keeps falling back to the same local
    optimum), up to the high end of ``perturb_strength``, and restarts from
    the low end otherwise.

    Parameters
    ----------
    problem : TSP, Ising, QUBO, MaxCut, Continuous, Problem (with ``moves``) or
        CompiledProblem
    tenure : int or (int, int), optional
        Steps an attribute stays tabu (``>= 0``; 0 makes tabu search a greedy
        walk), or a ``(low, high)`` range from which every step draws its
        tenure uniformly. Default (see :func:`default_tenure`): for Ising
        models ``max(min(20, n // 4), n // 50)`` when the couplings have both
        signs (dwave-samplers' ``min(20, n / 4)`` up to n = 1000) and
        ``max(min(20, n // 4), n // 16)`` when they have one; for coordinates
        and Python problems ``max(min(n // 4, 10), n // 16, 1)`` (``n`` = their
        size); ``max(1, n // 64)`` for TSP, whose moves touch four cities.
    max_iters : int, optional
        Steps per chain (default ``100 * size``; unlimited with ``time_limit``).
    aspiration : bool, default True
    candidate_size : int, optional
        Evaluate this many random moves per step instead of the whole
        neighbourhood. Default: the whole neighbourhood, except for TSP
        (~4 n² moves), where it is ``4 n`` random moves. Ties between equally
        good moves are broken uniformly at random.
    perturb_after : int, optional
        Steps without a better cost in an episode before a perturbation
        (``>= 0``; 0: never). Default (:func:`default_perturb_after`): ten
        tenures on Ising models (Ising, QUBO, max-cut), 0 on other problems.
    perturb_strength : int or (int, int), optional
        Random moves of a perturbation, or the ``(low, high)`` range the
        adaptive strength moves in (``>= 1``). Default ``(max(1, n // 100),
        max(1, n // 10))``, breakout local search's range (``n`` = the size).
    num_chains, initial_states, target, time_limit, seed, num_threads, callback, \
    backend, progress
        As in :func:`simulated_annealing`.

    Returns
    -------
    Result
        ``best_state`` is the arg-best of each chain's walk;
        ``acceptance_rate`` is the fraction of evaluated candidates taken (one
        per step).

    Notes
    -----
    On Ising, QUBO and max-cut a step costs O(n) evaluations of O(1) each
    (cached local fields, 4 or 8 at a time on CPUs with AVX2 or AVX-512)
    plus an O(degree) update.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import MaxCut, tabu_search
    >>> cycle = MaxCut(6, [(i, (i + 1) % 6) for i in range(6)])
    >>> tabu_search(cycle, max_iters=50, seed=0).objective
    6.0
    """
    explicit = None if tenure is None else _check_range(tenure, "tenure", 0)
    perturb_after = check_int(
        perturb_after, "perturb_after", minimum=0, allow_none=True
    )
    strength_range = (
        None
        if perturb_strength is None
        else _check_range(perturb_strength, "perturb_strength", 1)
    )
    aspiration = check_bool(aspiration, "aspiration")
    candidate_size = check_int(candidate_size, "candidate_size", allow_none=True)
    max_iters = check_int(max_iters, "max_iters", allow_none=True)

    def prepare(run: Run) -> None:
        # The tabu memory of every chain (an int64 per attribute key) and its
        # buffer of tied moves, before any chain is seeded or evaluated.
        core = run.spec.core
        if core is not None and run.compiled():
            keys = max(1, int(core.n_tabu_keys))
            ties = TIE_CAPACITY if candidate_size is None else 1
            run.check_chain_memory(8 * (keys + ties), f"the tabu memory ({keys} keys)")

    run = Run(
        "tabu_search",
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
        prepare=prepare,
    )
    size = run.spec.size or 1
    tenures = (
        explicit
        if explicit is not None
        else _check_range(default_tenure(run.spec), "tenure", 0)
    )
    if candidate_size is None:
        if run.spec.large_neighbourhood:
            candidate_size = 4 * size
        else:
            require_neighbourhood(run)
    if max_iters is None and run.time_limit is None:
        max_iters = 100 * size
    tolerance = run.improvement_tolerance()
    chains = run.chain_backend
    if perturb_after is None:
        perturb_after = default_perturb_after(run.spec, tenures[0])
    strengths = (
        strength_range
        if strength_range is not None
        else (max(1, size // 100), max(1, size // 10))
    )

    def advance(done: int, size: int) -> int:
        chains.call(
            "tabu",
            max_steps=size,
            tenure=tenures[0],
            tenure_spread=tenures[1] - tenures[0],
            aspiration=aspiration,
            candidate_size=candidate_size or 0,
            tolerance=tolerance,
            target=run.internal_target,
            deadline=run.deadline,
            perturb_after=perturb_after,
            strength_low=strengths[0],
            strength_high=strengths[1],
        )
        return size

    run.loop(advance, max_iters)
    return run.result(
        {
            "tenure": tenures if tenures[0] != tenures[1] else tenures[0],
            "aspiration": aspiration,
            "candidate_size": candidate_size,
            "perturb_after": perturb_after,
            "perturb_strength": strengths[0]
            if strengths[0] == strengths[1]
            else strengths,
            "max_iters": max_iters,
            "tolerance": tolerance,
            "steps": run.backend.counters.progress.copy(),
        }
    )
