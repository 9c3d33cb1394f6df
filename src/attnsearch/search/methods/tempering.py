"""Parallel tempering (replica exchange): replicas on a ladder of temperatures."""

from __future__ import annotations

import math
import time
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from ..._backends import BackendName, check_backend
from ..._memory import check_allocation
from ..._threading import effective_n_threads
from .._run import STATUS, CompiledBackend, ReferenceBackend, Run
from .._seeding import replica_rng_states
from .._typing import Callback, ProblemLike, Seed
from .._validation import (
    check_bool,
    check_int,
    check_optional_float,
    rounding_tolerance,
)
from ..problems.base import SearchSpec
from ..result import Result
from .annealing import (
    _CALIBRATION_MOVES,
    _DEFAULT_SWEEPS,
    _DESCENT_RESERVE,
    _default_temperatures,
    _descend,
    _sample_deltas,
)

__all__ = ["parallel_tempering", "geometric_ladder", "lattice_like", "LADDERS"]

#: Named ladders (see :func:`parallel_tempering`).
LADDERS = ("geometric", "adaptive")
# Adaptive ladder: rounds between two updates, and the share of the run
# (sweeps, or time with only a time limit) during which the ladder adapts.
_ADAPT_ROUNDS = 100
_ADAPT_SHARE = 0.25
_ADAPT_DAMPING = 0.5
_MIN_REPLICAS = 2
#: The longest ladder: rungs much closer than the energy fluctuations exchange
#: at rate ~1 and only multiply the work (the default is at most 32 rungs, which
#: suits problems of ~50 000 variables; 2**16 rungs suit 10^11). Every replica
#: is seeded and stored, so a longer ladder costs seconds to minutes before the
#: first round, whatever the time limit.
MAX_REPLICAS = 2**16


def geometric_ladder(
    t_min: float, t_max: float, num_replicas: int
) -> npt.NDArray[np.float64]:
    """``num_replicas`` temperatures from ``t_min`` to ``t_max`` with a constant
    ratio between neighbours (ascending).

    Parameters
    ----------
    t_min, t_max : float
        ``0 < t_min <= t_max``.
    num_replicas : int
        At least 2.

    Returns
    -------
    ndarray of float64, shape (num_replicas,)

    Examples
    --------
    >>> from attnsearch.search import geometric_ladder
    >>> geometric_ladder(0.5, 2.0, 3).tolist()
    [0.5, 1.0, 2.0]
    """
    num_replicas = check_int(
        num_replicas, "num_replicas", minimum=_MIN_REPLICAS, maximum=MAX_REPLICAS
    )
    t_min = float(t_min)
    t_max = float(t_max)
    if not (math.isfinite(t_min) and math.isfinite(t_max) and 0 < t_min <= t_max):
        raise ValueError(f"need 0 < t_min <= t_max (finite), got {t_min}, {t_max}")
    ladder = t_min * (t_max / t_min) ** (np.arange(num_replicas) / (num_replicas - 1))
    ladder[0], ladder[-1] = t_min, t_max
    return ladder


#: The automatic ladder: t_max and t_min are the mean worsening move around local
#: optima divided by these (accepted with probability e^-5 and e^-15).
T_MAX_DIVISOR = 5.0
T_MIN_DIVISOR = 15.0
_CALIBRATION_QUENCH = 20  # zero-temperature sweeps, without an enumerable neighbourhood


def _default_range(run: Run, sweep_len: int) -> tuple[float, float]:
    """(t_min, t_max) from the worsening moves around local optima: calibration
    chains (seed-only streams) descend from random states, then the deltas of
    random moves from where they stopped are sampled (none applied). Problems
    with inexact costs (continuous functions), and problems where no move
    worsens, use annealing's rule (its t_end and t_start)."""
    if not run.spec.exact:
        t_max, t_min = _default_temperatures(run, _sample_deltas(run), sweep_len)
        return t_min, t_max
    deltas = np.zeros(0)
    with run.calibrating():  # Ctrl-C or the deadline stop the run here
        probe = run.calibration_backend()
        _descend(
            run,
            run.improvement_tolerance(),
            sweep_len,
            backend=probe,
            max_sweeps=_CALIBRATION_QUENCH,
        )
        deltas = np.asarray(
            probe.call(
                "sample_deltas",
                n_samples=_CALIBRATION_MOVES,
                deadline=run.deadline,
                apply=False,
            ),
            dtype=float,
        ).ravel()
    deltas = deltas[~np.isnan(deltas)]
    scale = float(np.max(np.abs(deltas))) if deltas.size else 0.0
    positive = deltas[deltas > rounding_tolerance(scale, run.spec.exact)]
    if positive.size == 0:
        t_max, t_min = _default_temperatures(run, _sample_deltas(run), sweep_len)
        return t_min, t_max
    mean = float(np.mean(positive))
    return mean / T_MIN_DIVISOR, mean / T_MAX_DIVISOR


def default_num_replicas(size: int) -> int:
    """The default ladder length for a problem of ``size`` variables (see
    :func:`parallel_tempering`)."""
    return int(min(32, max(8, round(math.sqrt(max(1, size)) / 7))))


# Cluster moves by default on lattice-like coupling graphs: balls of this radius
# hold at most this many vertices on average (a square lattice's hold 85; a
# random 3-regular graph's ~170, a G-set random graph's thousands).
_BALL_RADIUS = 6
_BALL_LIMIT = 128
_BALL_ROOTS = 20
_MAX_DEGREE = 6


def lattice_like(ising_ops: Any, seed: int = 0) -> bool:
    """Whether an Ising model's coupling graph looks like a low-dimensional
    lattice: a mean degree of at most 6, and BFS balls of radius 6 around 20
    random vertices that hold at most 128 vertices on average (a square
    lattice's hold 85). Houdayer cluster moves pay off there; on random and
    dense graphs the clusters of differing spins percolate and a cluster move
    is little more than an exchange of replicas.
    """
    from ..problems.ising._reference import IsingReference

    if not isinstance(ising_ops, IsingReference) or ising_ops.n < 2:
        return False
    indptr, indices = ising_ops.indptr, ising_ops.indices
    nonzero = ising_ops.weights != 0
    n = ising_ops.n
    if np.count_nonzero(nonzero) > _MAX_DEGREE * n:  # denser than a cubic lattice
        return False
    rng = np.random.default_rng(seed)
    roots = rng.choice(n, size=min(_BALL_ROOTS, n), replace=False)
    budget = _BALL_LIMIT * len(roots)
    total = 0
    for root in roots:
        seen = {int(root)}
        frontier = [int(root)]
        for _ in range(_BALL_RADIUS):
            nxt = []
            for i in frontier:
                for e in range(indptr[i], indptr[i + 1]):
                    j = int(indices[e])
                    if nonzero[e] and j not in seen:
                        seen.add(j)
                        nxt.append(j)
            frontier = nxt
            if total + len(seen) > budget:
                return False
        total += len(seen)
    return total <= budget


def _adapted_betas(
    betas: npt.NDArray[np.float64],
    accepts: npt.NDArray[np.int64],
    attempts: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """One update of an adaptive ladder (one chain): the inverse temperatures
    are moved so that the measured exchange rates become equal. The exchange
    rate of a gap falls like exp(-c Δβ²) for Gaussian energy distributions, so
    sqrt(-ln rate) is a length proportional to Δβ in a metric where equal gaps
    mean equal rates: the new rungs split that length evenly (ends fixed), and
    the update is damped (half way, in log β) to stay stable."""
    rates = np.clip(accepts / np.maximum(attempts, 1), 1e-4, 0.999)
    lengths = np.sqrt(-np.log(rates))
    cumulative = np.concatenate(([0.0], np.cumsum(lengths)))
    targets = np.linspace(0.0, cumulative[-1], betas.size)
    # betas fall along the ladder: interpolate log beta over the cumulative length
    log_b = np.log(betas)
    proposed = np.interp(targets, cumulative, log_b)
    mixed = np.exp((1.0 - _ADAPT_DAMPING) * log_b + _ADAPT_DAMPING * proposed)
    mixed[0], mixed[-1] = betas[0], betas[-1]
    return mixed


def _ising_ops(spec: SearchSpec) -> Any:
    """The Python mirror of an Ising model's core (Ising, QUBO, MaxCut), or None."""
    from ..problems.ising._reference import IsingReference

    return spec.ops if isinstance(spec.ops, IsingReference) else None


class TemperingBackend:
    """The chains of a parallel tempering run: ``main`` holds one row per chain
    (its best state, counters, status and the stream of its exchanges: the run
    loop and ``Result`` read only these) and ``replicas`` the R replicas of
    every chain (rows ``c * R .. c * R + R - 1``, each with its own stream).
    Other methods (the final descent) run on ``main``."""

    def __init__(
        self,
        run: Run,
        rng_states: npt.NDArray[np.uint64],
        n_rungs: int,
        n_ladders: int,
        initial: Any,
        requested: str = "auto",
        num_threads: int | None = None,
    ) -> None:
        spec = run.spec
        n_chains = len(rng_states)
        # A chain's replicas are swept in parallel: threads up to all replicas.
        n_threads = effective_n_threads(
            num_threads, n_tasks=n_chains * n_rungs * n_ladders
        )
        self.n_threads = n_threads
        self.n_rungs = n_rungs
        self.n_ladders = n_ladders
        n_replicas = n_rungs * n_ladders
        replica_states = replica_rng_states(
            run.seed, n_chains, n_replicas, run.first_chain, run.deadline
        )
        compiled = spec.core is not None and requested != "reference"
        self.replicas: Any
        self.main: Any
        replica_initial: Any
        if compiled:
            replica_initial = None
            if initial is not None:
                replica_initial = np.repeat(initial, n_replicas, axis=0)
            # Past the deadline, the replicas left start from copies (a long
            # ladder of a large problem takes seconds to initialise).
            self.replicas = CompiledBackend(
                spec, replica_states, replica_initial, n_threads, deadline=run.deadline
            )
            costs = self.replicas.arrays.cost.reshape(n_chains, n_replicas)
            best = np.arange(n_chains) * n_replicas + np.argmin(costs, axis=1)
            start = self.replicas.arrays.states[best]
            self.main = CompiledBackend(spec, rng_states, start, n_threads)
        else:
            if spec.ops is None:
                raise ValueError(f"{spec.name} has no Python implementation")
            replica_initial = None
            if initial is not None:
                replica_initial = [s for s in initial for _ in range(n_replicas)]
            # A slow Python objective: no replica is evaluated past the
            # deadline (see _engine_reference.init_chains).
            self.replicas = ReferenceBackend(
                spec, replica_states, replica_initial, lambda: run.deadline
            )
            chains = self.replicas.chains
            costs = np.asarray(chains.cost).reshape(n_chains, n_replicas)
            best = np.arange(n_chains) * n_replicas + np.argmin(costs, axis=1)
            # Each chain starts from its best replica, whose cost is known: no
            # evaluation of the (possibly slow) Python problem again.
            self.main = ReferenceBackend.from_states(
                spec,
                rng_states,
                [chains.states[row] for row in best],
                [float(chains.cost[row]) for row in best],
            )
        self.name = self.main.name
        # Until the final descent restarts the main chains from their best
        # states, their running costs are the coldest replicas' (see
        # checked_chains).
        self.descending = False
        self.counters = self.main.counters
        self.spec = spec
        self.replica_at = np.tile(np.arange(n_replicas, dtype=np.int64), (n_chains, 1))
        self.swap_attempts = np.zeros((n_chains, n_rungs - 1), dtype=np.int64)
        self.swap_accepts = np.zeros_like(self.swap_attempts)
        self.betas = np.ones((n_chains, n_rungs))

    def temper(self, **params: Any) -> None:
        """Rounds of parallel tempering on every running chain."""
        arrays = {
            "replicas": (
                self.replicas.arrays if self.name == "cython" else self.replicas.chains
            ),
            "betas": self.betas,
            "replica_at": self.replica_at,
            "swap_attempts": self.swap_attempts,
            "swap_accepts": self.swap_accepts,
        }
        return self.main.call("temper", **arrays, **params)

    def cluster_stats(self) -> npt.NDArray[np.int64]:
        """Per chain: (cluster moves made, spins flipped in each replica)."""
        n_chains = len(self.counters.cost)
        if self.name == "cython":
            clusters = self.main.arrays.scratch.get("clusters")
            stats = clusters[2] if clusters is not None else None
        else:
            stats = self.main.chains.scratch.get("clusters")
        if stats is None:
            stats = np.zeros((n_chains, 2), dtype=np.int64)
        return np.array(stats, dtype=np.int64)

    # Everything else is the main chains' (the Backend protocol, the descent).
    def call(self, method: str, **params: Any) -> Any:
        return self.main.call(method, **params)

    def has_neighbourhood(self) -> bool:
        return self.main.has_neighbourhood()

    def provides(self, operation: str) -> bool:
        return self.main.provides(operation)

    def restart_from_best(self) -> None:
        self.main.restart_from_best()
        self.descending = True  # only the final descent restarts the chains

    def checked_chains(self) -> tuple[CompiledBackend | ReferenceBackend]:
        """The replicas while they temper (a main chain's running cost is then
        its coldest replica's, not its own state's), the main chains once the
        final descent runs on them."""
        return (self.main,) if self.descending else (self.replicas,)

    def best_states(self) -> Any:
        return self.main.best_states()

    def best_state(self, chain: int) -> Any:
        return self.main.best_state(chain)

    def final_costs(self) -> npt.NDArray[np.float64]:
        return self.main.final_costs()

    def final_cost(self, chain: int) -> float:
        return self.main.final_cost(chain)


def parallel_tempering(
    problem: ProblemLike,
    *,
    num_sweeps: int | None = None,
    num_replicas: int | None = None,
    t_min: float | None = None,
    t_max: float | None = None,
    ladder: Literal["geometric", "adaptive"] | npt.ArrayLike = "geometric",
    num_chains: int = 1,
    initial_states: Any = None,
    target: float | None = None,
    time_limit: float | None = None,
    seed: Seed = None,
    num_threads: int | None = None,
    callback: Callback | None = None,
    backend: BackendName = "auto",
    progress: bool = False,
    descent: bool = True,
    cluster_moves: Literal["auto"] | bool = "auto",
) -> Result:
    """Parallel tempering (replica exchange Monte Carlo) on parallel chains.

    Every chain keeps ``R`` replicas of the problem, one on each rung of a
    temperature ladder ``T_0 < T_1 < ... < T_{R-1}``. A *round* sweeps every
    replica once with Metropolis moves at its rung's temperature (the moves
    and acceptance rule of :func:`simulated_annealing`), then proposes to
    exchange the replicas of each pair of neighbouring rungs ``k, k+1`` in
    turn, accepted with the exact exchange probability

        min(1, exp((β_k − β_{k+1}) (E_k − E_{k+1}))),   β = 1 / T,

    which keeps every replica's Boltzmann distribution at its temperature. Hot
    replicas cross barriers; exchanges carry what they find down to the cold
    rungs, which refine it. Unlike annealing there is no schedule to get
    right: the run can go on for any time. Chains (independent ladders) run
    in parallel with OpenMP; each replica draws from its own stream and each
    chain's exchanges from the chain's, so results are bitwise identical for
    any ``num_threads``.

    Parameters
    ----------
    problem : TSP, Ising, QUBO, MaxCut, Continuous, Problem or CompiledProblem
    num_sweeps : int, optional
        Rounds (each one sweep of every replica, so ``R`` sweeps of work).
        Default 1000; unlimited with ``time_limit``.
    num_replicas : int, optional
        ``R >= 2`` rungs. Default: ``min(32, max(8, round(sqrt(n) / 7)))`` for a
        problem of ``n`` variables (energy fluctuations grow like ``sqrt(n)``,
        so neighbouring rungs must be closer on larger problems). With cluster
        moves every rung holds two replicas.
    t_min, t_max : float, optional
        The coldest and hottest rungs. Default, for problems with exact costs
        (Ising, QUBO, max-cut, TSPLIB's integer distances): calibration chains
        (on streams that depend on the seed only) descend from random states
        to local optima, the deltas of 2000 random moves from there are
        sampled, and with ``d`` the mean worsening delta ``t_min = d / 15``
        and ``t_max = d / 5``: the typical uphill move is accepted with
        probability e⁻¹⁵ on the coldest rung and e⁻⁵ on the hottest. The
        range is about the landscape near good states, not random ones (on
        G-set graphs it is 0.36-1.1 on ±1 tori and 1.2-3.6 on dense random
        graphs). Other problems: the automatic ``t_end`` and ``t_start`` of
        :func:`simulated_annealing`.
    ladder : {"geometric", "adaptive"} or array_like
        ``"geometric"``: a constant ratio between neighbouring temperatures
        (:func:`geometric_ladder`). ``"adaptive"``: start geometric, then
        during the first quarter of the run (of the sweeps, or of the time
        with only ``time_limit``) move the inner rungs every 100 rounds so
        that every pair of neighbours exchanges at the same rate (each chain
        adapts its own ladder from its own exchanges). An array: the ``R``
        temperatures, ascending (``num_replicas``, ``t_min``, ``t_max`` must
        then be left out).
    num_chains, initial_states, target, time_limit, seed, num_threads, callback, \
    backend, progress
        As in :func:`simulated_annealing`; an initial state starts every
        replica of its chain.
    descent : bool, default True
        Finish with a zero-temperature descent from each chain's best state
        (as :func:`simulated_annealing` does after each pass).
    cluster_moves : {"auto", True, False}
        Houdayer cluster moves (Ising models only): every rung holds two
        replicas (two ladders); after each round, on every rung, the connected
        cluster (along non-zero couplings) of spins where the two replicas
        differ, grown from a random such spin, is flipped in both. The sum of
        their energies is unchanged, so the move needs no acceptance test, and
        it rearranges whole domains that single flips and exchanges barely
        move. ``"auto"``: on when the coupling graph is lattice-like (mean
        degree at most 6 and BFS balls of radius 6 holding at most 128
        vertices on average, see :func:`lattice_like`), where it pays (G-set
        torus G62, 10 s, 2 threads: 99.3-99.5 % of the best known cut without,
        99.9 % with); on random and
        dense graphs the clusters percolate and cost time for nothing.

    Returns
    -------
    Result
        ``best_state`` is the best state any replica visited (replicas are
        checked at the end of each of their sweeps). ``acceptance_counts``
        counts Metropolis moves (accepted, proposed) over all replicas, plus
        the descent's. ``params`` holds the ladders: ``ladders``
        ``(num_chains, R)`` (each chain's final temperatures, ascending),
        ``swap_rates`` ``(num_chains, R - 1)`` (accepted / proposed exchanges
        of each pair of neighbouring rungs over the whole run), ``swap_counts``
        (accepted, proposed) over all chains, ``rounds`` per chain,
        ``cluster_counts`` ``(num_chains, 2)`` (cluster moves, spins they
        flipped in each replica).

    Notes
    -----
    Exchanges are proposed for every neighbouring pair after every round,
    from the cold end up, so a good state can fall several rungs in one
    round. The state of a replica at its rung is kept in place; exchanges
    swap which replica sits on which rung. With ``time_limit`` and no
    ``num_sweeps``, 2 % of the time is kept for the final descent and the
    run ends with ``stop_reason="time_limit"``.

    Examples
    --------
    >>> from attnsearch.search import MaxCut, parallel_tempering
    >>> torus = MaxCut(16, [(4 * r + c, 4 * r + (c + 1) % 4) for r in range(4)
    ...                     for c in range(4)]
    ...                 + [(4 * r + c, 4 * ((r + 1) % 4) + c) for r in range(4)
    ...                    for c in range(4)])
    >>> result = parallel_tempering(torus, num_sweeps=200, num_replicas=4, seed=0)
    >>> result.objective  # a 4 x 4 torus is bipartite: every edge is cut
    32.0
    >>> result.params["swap_rates"].shape
    (1, 3)
    """
    explicit_ladder = None
    if isinstance(ladder, str):
        if ladder not in LADDERS:
            raise ValueError(
                f"ladder must be one of {LADDERS} or an array, got {ladder!r}"
            )
    else:
        explicit_ladder = np.asarray(ladder, dtype=np.float64)
        if explicit_ladder.ndim != 1 or explicit_ladder.size < _MIN_REPLICAS:
            raise ValueError(
                "an explicit ladder must be a 1-d array of >= 2 temperatures"
            )
        if explicit_ladder.size > MAX_REPLICAS:
            raise ValueError(
                f"an explicit ladder may have at most {MAX_REPLICAS} temperatures "
                f"(num_replicas), got {explicit_ladder.size}"
            )
        if not np.all(np.isfinite(explicit_ladder)) or np.any(explicit_ladder <= 0):
            raise ValueError("ladder temperatures must be finite and > 0")
        if np.any(np.diff(explicit_ladder) < 0):
            raise ValueError("ladder temperatures must be ascending (coldest first)")
        if num_replicas is not None or t_min is not None or t_max is not None:
            raise ValueError(
                "num_replicas, t_min and t_max cannot be combined with an explicit "
                "ladder"
            )
    num_replicas = check_int(
        num_replicas,
        "num_replicas",
        allow_none=True,
        minimum=_MIN_REPLICAS,
        maximum=MAX_REPLICAS,
    )
    t_min = check_optional_float(t_min, "t_min", positive=True)
    t_max = check_optional_float(t_max, "t_max", positive=True)
    num_sweeps = check_int(num_sweeps, "num_sweeps", allow_none=True)
    descent = check_bool(descent, "descent")
    if not (isinstance(cluster_moves, str) and cluster_moves == "auto"):
        try:
            cluster_moves = check_bool(cluster_moves, "cluster_moves")
        except TypeError:
            raise ValueError(
                f"cluster_moves must be 'auto', True or False, got {cluster_moves!r}"
            ) from None
    settings = {}

    def prepare(run):
        # Before any replica is seeded or evaluated: the ladder's length and
        # the memory of num_chains x num_replicas (x 2 with cluster moves).
        size = max(1, int(run.spec.size or 1))
        if explicit_ladder is not None:
            settings["n_replicas"] = explicit_ladder.size
        else:
            settings["n_replicas"] = num_replicas or default_num_replicas(size)
        ising = _ising_ops(run.spec)
        if cluster_moves is True and ising is None:
            raise ValueError(
                f"cluster moves need an Ising model (Ising, QUBO, MaxCut), got "
                f"{run.spec.name}"
            )
        if cluster_moves == "auto":
            settings["clusters"] = ising is not None and lattice_like(ising)
        else:
            settings["clusters"] = bool(cluster_moves)
        n_replicas = settings["n_replicas"] * (2 if settings["clusters"] else 1)
        # Per replica: a chain's arrays, its rung, the seeding; per chain its ladder.
        replica_bytes = run.chain_bytes() + 8 + 16 * settings["n_replicas"] / n_replicas
        check_allocation(
            run.num_chains * n_replicas * replica_bytes,
            f"num_replicas={settings['n_replicas']}: {run.num_chains} x {n_replicas} "
            f"replicas of {run.spec.name}",
        )

    def make_backend(run, rng_states):
        initial = run._initial_states(initial_states)
        if backend == "cython" and run.spec.core is None:
            raise ValueError(
                f"{run.spec.name} is written in Python: use backend='auto' or "
                "'reference'"
            )
        return TemperingBackend(
            run,
            rng_states,
            settings["n_replicas"],
            2 if settings["clusters"] else 1,
            initial,
            check_backend(backend),
            num_threads,
        )

    run = Run(
        "parallel_tempering",
        problem,
        num_chains=num_chains,
        initial_states=None,
        seed=seed,
        num_threads=num_threads,
        time_limit=time_limit,
        target=target,
        callback=callback,
        backend=backend,
        progress=progress,
        make_backend=make_backend,
        unit="rounds",
        prepare=prepare,
    )
    tempering = cast(TemperingBackend, run.backend)
    # Cluster moves, when on, on every rung (they never cost an exchange).
    cluster_rungs = settings["n_replicas"] if settings["clusters"] else 0
    run.n_threads = tempering.n_threads  # replicas, not chains, bound the threads
    n_replicas = settings["n_replicas"]
    sweep_len = max(1, int(run.spec.size or 1))
    ladder_name: str
    if explicit_ladder is not None:
        temperatures = explicit_ladder
        ladder_name = "custom"
    else:
        if t_min is None or t_max is None:
            auto_min, auto_max = _default_range(run, sweep_len)
            t_max = auto_max if t_max is None else t_max
            t_min = min(auto_min, t_max) if t_min is None else t_min
        if t_min > t_max:
            raise ValueError(f"t_min ({t_min}) must not exceed t_max ({t_max})")
        temperatures = geometric_ladder(t_min, t_max, n_replicas)
        ladder_name = str(ladder)
    tempering.betas[:] = 1.0 / temperatures
    adaptive = ladder_name == "adaptive"

    limit = run.time_limit
    timed = num_sweeps is None and limit is not None
    if num_sweeps is None and not timed:
        num_sweeps = _DEFAULT_SWEEPS
    # Only with a time limit alone: the sweeps stop early enough for the descent.
    sweep_deadline = run.deadline
    if timed and limit is not None:
        sweep_deadline -= _DESCENT_RESERVE * limit
    adapt_until_rounds = 0
    if num_sweeps is not None:
        adapt_until_rounds = (
            int(_ADAPT_SHARE * num_sweeps) // _ADAPT_ROUNDS * _ADAPT_ROUNDS
        )
    adapt_until_time = time.monotonic() + _ADAPT_SHARE * (
        sweep_deadline - time.monotonic()
    )
    state: dict[str, Any] = {"finished": False, "window": (0, 0), "adaptations": 0}
    window_attempts = tempering.swap_attempts.copy()
    window_accepts = tempering.swap_accepts.copy()

    def adapting(done):
        if not adaptive:
            return False
        if timed:
            return time.monotonic() < adapt_until_time
        return done < adapt_until_rounds

    def finish() -> None:
        if descent:
            _descend(run, run.improvement_tolerance(), sweep_len, backend=tempering)
        state["finished"] = True
        if timed:  # a time-only run ends because its time is up
            statuses = tempering.counters.status
            statuses[statuses == STATUS["running"]] = STATUS["time_limit"]

    def advance(done, size):
        nonlocal window_attempts, window_accepts
        if state["finished"]:
            return None
        if timed and time.monotonic() >= sweep_deadline:
            finish()
            return None
        if num_sweeps is not None:
            size = min(size, num_sweeps - done)
        if adapting(done):  # chunks end where the ladder is updated
            size = min(size, _ADAPT_ROUNDS - done % _ADAPT_ROUNDS)
        tempering.temper(
            cluster_rungs=cluster_rungs,
            n_rounds=size,
            sweep_len=sweep_len,
            target=run.internal_target,
            deadline=sweep_deadline,
        )
        if adapting(done) and (done + size) % _ADAPT_ROUNDS == 0:
            attempts = tempering.swap_attempts - window_attempts
            accepts = tempering.swap_accepts - window_accepts
            for c in range(tempering.betas.shape[0]):
                tempering.betas[c] = _adapted_betas(
                    tempering.betas[c], accepts[c], attempts[c]
                )
            window_attempts = tempering.swap_attempts.copy()
            window_accepts = tempering.swap_accepts.copy()
            state["adaptations"] += 1
        statuses = tempering.counters.status
        out_of_time = np.any(statuses == STATUS["time_limit"])
        if out_of_time and timed:
            statuses[statuses == STATUS["time_limit"]] = STATUS["running"]
            finish()
        elif (num_sweeps is not None and done + size >= num_sweeps) or np.all(
            statuses != STATUS["running"]
        ):
            if not out_of_time and not np.any(statuses == STATUS["target"]):
                finish()
        return size

    run.temperature = float(temperatures[0])
    run.loop(advance, None if timed else num_sweeps)
    attempts = tempering.swap_attempts
    accepts = tempering.swap_accepts
    params = {
        "ladder": ladder_name,
        "num_replicas": n_replicas,
        "t_min": float(temperatures[0]),
        "t_max": float(temperatures[-1]),
        "num_sweeps": num_sweeps,
        "sweep_len": sweep_len,
        "rounds": tempering.counters.progress.copy(),
        "ladders": 1.0 / tempering.betas,
        "swap_rates": accepts / np.maximum(attempts, 1),
        "swap_counts": (int(accepts.sum()), int(attempts.sum())),
        "adaptations": state["adaptations"],
        "cluster_moves": settings["clusters"],
        "cluster_counts": tempering.cluster_stats(),  # (n_chains, 2)
        "descent": descent,
    }
    return run.result(params)
