"""Stochastic hill climbing: move to a neighbour with probability growing with gain."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._backends import BackendName
from ..._memory import check_allocation
from .._run import Run
from .._typing import Callback, ProblemLike, Seed
from .._validation import check_int, check_optional_float, rounding_tolerance
from ..result import Result
from .annealing import _sample_deltas

__all__ = ["stochastic_hill_climb"]

_DEFAULT_SAMPLE = 32
#: Memory of one sampled candidate: a Move (40 bytes) and its delta in the
#: compiled engine's per-chain buffers; a move object and list slots in Python.
_CANDIDATE_BYTES = 48
_PYTHON_CANDIDATE_BYTES = 100


def _default_temperature(run: Run) -> float:
    """Smallest worsening delta of random walks / ln 2: the smallest worsening
    move is half as likely as staying put, larger ones exponentially less."""
    deltas = _sample_deltas(run)
    scale = float(np.max(np.abs(deltas))) if deltas.size else 0.0
    positive = deltas[deltas > rounding_tolerance(scale, run.spec.exact)]
    if positive.size == 0:
        return 1.0
    return float(np.min(positive)) / math.log(2.0)


def stochastic_hill_climb(
    problem: ProblemLike,
    *,
    temperature: float | None = None,
    sample_size: int | None = None,
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
) -> Result:
    """Stochastic hill climbing on parallel chains.

    Instead of always taking the best neighbour, each step draws one of the
    candidate neighbours **or staying put** with probability

        P(i) ∝ exp(g_i / T),   g_i = −Δ_i (the gain),   g_stay = 0,

    over the candidates: ``sample_size`` random moves, or the whole
    neighbourhood when ``sample_size`` is None and the problem can enumerate
    it. Larger gains are likelier; worsening moves (g < 0) get the smallest
    weights, below the weight of staying. As ``T → 0`` this becomes hill
    climbing: the best candidate if it improves, else stay (with the whole
    neighbourhood, a chain then stops at its local optimum); a large ``T``
    moves almost at random. The weights are computed relative to the largest
    gain (a log-sum-exp), so no exponent overflows.

    Parameters
    ----------
    problem : TSP, Ising, QUBO, MaxCut, Continuous, Problem or CompiledProblem
    temperature : float, optional
        ``T >= 0``. Default: the smallest worsening delta of random walks from
        random states divided by ln 2 (the smallest worsening move is half as
        likely as staying, larger ones exponentially less).
    sample_size : int, optional
        Random candidates per step. Default: the whole neighbourhood when it
        is enumerable and small (spins, coordinates, ``Problem.moves``), else
        ``max(32, size)`` random moves (TSP's neighbourhood has ~4 n² moves).
    max_iters : int, optional
        Steps per chain (default ``10 * size``: cities, spins, dimensions).
    num_chains, initial_states, target, time_limit, seed, num_threads, callback, \
    backend, progress
        As in :func:`simulated_annealing`.

    Returns
    -------
    Result
        ``params`` reports the temperature and sample size used;
        ``acceptance_rate`` is the fraction of evaluated candidates taken.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import TSP, stochastic_hill_climb
    >>> tsp = TSP(np.random.default_rng(0).uniform(size=(20, 2)))
    >>> result = stochastic_hill_climb(tsp, temperature=0.01, num_chains=2, seed=0)
    >>> result.stop_reason
    'max_iters'
    """
    temperature = check_optional_float(temperature, "temperature")
    if temperature is not None and temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    sample_size = check_int(sample_size, "sample_size", allow_none=True)
    max_iters = check_int(max_iters, "max_iters", allow_none=True)

    def prepare(run: Run) -> None:
        # The candidate buffers a given sample_size implies, before any work:
        # per chain on the compiled engine, per step on the Python one.
        if sample_size is None:
            return
        if run.compiled():
            run.check_chain_memory(
                _CANDIDATE_BYTES * sample_size,
                f"candidate buffers of sample_size={sample_size}",
            )
        else:
            check_allocation(
                _PYTHON_CANDIDATE_BYTES * sample_size,
                f"sample_size={sample_size}: the candidates of one step",
            )

    run = Run(
        "stochastic_hill_climb",
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
    chains = run.chain_backend
    size = run.spec.size or 1
    if sample_size is None:
        small = chains.has_neighbourhood() and not run.spec.large_neighbourhood
        sample_size = 0 if small else max(_DEFAULT_SAMPLE, size)
    if max_iters is None and run.time_limit is None:
        max_iters = 10 * size
    if temperature is None:
        temperature = _default_temperature(run)

    def advance(done: int, size: int) -> int:
        chains.call(
            "stochastic_climb",
            max_steps=size,
            temperature=temperature,
            sample_size=sample_size,
            target=run.internal_target,
            deadline=run.deadline,
        )
        return size

    run.loop(advance, max_iters)
    return run.result(
        {
            "temperature": temperature,
            "sample_size": sample_size or None,
            "max_iters": max_iters,
            "steps": run.backend.counters.progress.copy(),
        }
    )
