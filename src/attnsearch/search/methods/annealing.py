"""Simulated annealing: Metropolis moves as the temperature falls, parallel chains."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..._backends import BackendName
from .._run import STATUS, Run
from .._typing import Callback, ProblemLike, Seed
from .._validation import (
    check_bool,
    check_int,
    check_optional_float,
    rounding_tolerance,
)
from ..result import Result

__all__ = ["simulated_annealing", "temperature_schedule", "SCHEDULES"]

#: Named temperature schedules (see :func:`temperature_schedule`).
SCHEDULES = ("geometric", "linear", "exponential", "logarithmic")
#: The type of a schedule's name.
ScheduleName: TypeAlias = Literal["geometric", "linear", "exponential", "logarithmic"]
_DEFAULT_SWEEPS = 1000
_CALIBRATION_MOVES = 500
_MAX_REPORTED_TEMPERATURES = 100_000
#: The cold end's promise: the smallest worsening move is accepted about this many
#: times per sweep (per sweep, not per move: see :func:`_default_temperatures`).
COLD_ACCEPTANCES_PER_SWEEP = 1e-3
# With only a time limit, this share of it is kept for the final descent.
_DESCENT_RESERVE = 0.02


def temperature_schedule(
    kind: ScheduleName, t_start: float, t_end: float, num_sweeps: int
) -> npt.NDArray[np.float64]:
    """Temperature of each sweep of one high-to-low pass.

    Parameters
    ----------
    kind : {"geometric", "linear", "exponential", "logarithmic"}
        ``geometric``: ``T_k = t_start (t_end / t_start)^(k / (K-1))``, a constant
        cooling ratio per sweep (Kirkpatrick et al. 1983). ``exponential`` is the
        same curve under the name simanneal and others use for it
        (``t_start · exp(-λ k)``). ``linear``: equal steps from ``t_start`` to
        ``t_end``. ``logarithmic``: ``T_k = c / ln(k + k0)`` (Geman & Geman's
        shape) with ``c``, ``k0`` chosen so that it starts at ``t_start`` and ends
        at ``t_end``: fast at first, then very slow.
    t_start, t_end : float
        ``t_start >= t_end > 0``.
    num_sweeps : int
        ``K``, the length of the schedule.

    Returns
    -------
    ndarray of float64, shape (num_sweeps,)
    """
    schedule = _Schedule(kind, t_start, t_end, num_sweeps)
    return schedule(0, schedule.num_sweeps)


class _Schedule:
    """A named schedule evaluated on demand, slice by slice: a run of 10^8 sweeps
    never builds its whole temperature array, and any slice equals the same
    entries of the full array bit for bit (elementwise formulas)."""

    def __init__(
        self, kind: str, t_start: float, t_end: float, num_sweeps: int
    ) -> None:
        if kind not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES} or an array, got {kind!r}"
            )
        self.num_sweeps = check_int(num_sweeps, "num_sweeps")
        self.kind = kind
        self.t_start = t_start = float(t_start)
        self.t_end = t_end = float(t_end)
        if not (
            math.isfinite(t_start) and math.isfinite(t_end) and t_start >= t_end > 0
        ):
            raise ValueError(
                f"need t_start >= t_end > 0 (finite), got {t_start}, {t_end}"
            )
        if kind == "logarithmic" and t_start != t_end and self.num_sweeps > 1:
            # Solve ln(K - 1 + k0) / ln(k0) = t_start / t_end for k0 > 1 (bisection
            # on ln k0; the left side falls monotonically in k0).
            ratio = t_start / t_end
            last = self.num_sweeps - 1
            lo, hi = 1e-12, 700.0
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                value = math.log(last + math.exp(mid)) / mid
                lo, hi = (mid, hi) if value > ratio else (lo, mid)
            self.k0 = math.exp(0.5 * (lo + hi))
            self.c = t_start * math.log(self.k0)

    def at(self, fractions: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Temperatures at positions ``fractions`` in [0, 1] of the pass (0: the
        first sweep, 1: the last): the same curve for a pass of any length, which
        is what a schedule refitted to a time limit follows."""
        fractions = np.asarray(fractions, dtype=np.float64)
        if self.t_start == self.t_end:
            return np.full(fractions.shape, self.t_start)
        if self.kind == "logarithmic" and hasattr(self, "k0"):
            last = self.num_sweeps - 1
            temps = self.c / np.log(fractions * last + self.k0)
        elif self.kind == "linear":
            temps = self.t_start + (self.t_end - self.t_start) * fractions
        else:
            temps = self.t_start * (self.t_end / self.t_start) ** fractions
        temps = np.array(temps, dtype=np.float64)
        temps[fractions <= 0] = self.t_start
        temps[fractions >= 1] = self.t_end
        return temps

    def __call__(self, start: int, stop: int) -> npt.NDArray[np.float64]:
        """Temperatures of sweeps start..stop-1."""
        count = self.num_sweeps
        if count == 1:
            return np.full(stop - start, self.t_start)
        index = np.arange(start, stop)
        if self.t_start == self.t_end:
            return np.full(stop - start, self.t_start)
        if self.kind == "logarithmic":
            temps = self.c / np.log(index + self.k0)
        else:
            fraction = index / (count - 1)
            if self.kind in ("geometric", "exponential"):
                temps = self.t_start * (self.t_end / self.t_start) ** fraction
            else:
                temps = self.t_start + (self.t_end - self.t_start) * fraction
        temps = temps.astype(np.float64)
        temps[index == 0] = self.t_start
        temps[index == count - 1] = self.t_end
        return temps


def _default_temperatures(
    run: Run, deltas: npt.NDArray[np.float64], sweep_len: int
) -> tuple[float, float]:
    """The documented rule (see :func:`simulated_annealing`, Notes).

    ``t_start``: the median worsening move of a random walk is accepted with
    probability 1/2. ``t_end``: the smallest worsening move seen is accepted
    ``COLD_ACCEPTANCES_PER_SWEEP`` (1e-3) times per sweep of ``sweep_len``
    attempts, i.e. with probability ``1e-3 / sweep_len`` per attempt.
    """
    scale = float(np.max(np.abs(deltas))) if deltas.size else 0.0
    positive = deltas[deltas > rounding_tolerance(scale, run.spec.exact)]
    if positive.size == 0:
        return 1.0, 1e-3  # no worsening move seen: any temperature is as good
    t_start = float(np.median(positive)) / math.log(2.0)
    per_attempt = COLD_ACCEPTANCES_PER_SWEEP / max(1, int(sweep_len))
    t_end = float(np.min(positive)) / math.log(1.0 / per_attempt)
    return t_start, min(t_end, t_start)


def _sample_deltas(run: Run) -> npt.NDArray[np.float64]:
    """Deltas of random walks from random states on the calibration streams, which
    depend only on the seed (not on num_chains or which chains a worker runs)."""
    return run.sample_deltas(_CALIBRATION_MOVES)


def _descend(
    run: Run,
    tolerance: float,
    sweep_len: int,
    backend: Any = None,
    max_sweeps: int | None = None,
) -> None:
    """The zero-temperature descent that ends every pass: every chain continues
    from its best state and descends to a local optimum -- with the problem's own
    descent where it has one (a TSP over candidate lists: don't-look bits),
    first-improvement hill climbing over the whole neighbourhood where it is
    enumerable and small, else
    zero-temperature sweeps until a sweep improves no chain (at most
    ``max_sweeps``). Stops at the run's deadline (and does not start past it).
    After every call the run checks the running costs (:meth:`Run.check_costs`):
    a problem whose delta lies would otherwise descend forever. The sweep
    counters (``progress``) are left as they were. ``backend``: the run's by
    default."""
    backend = run.chain_backend if backend is None else backend
    counters = backend.counters
    if time.monotonic() >= run.deadline:
        return  # restarting would evaluate every chain's best state again
    backend.restart_from_best()
    progress = counters.progress.copy()
    running, converged = STATUS["running"], STATUS["converged"]
    if backend.provides("descend"):  # the problem's own (TSP: don't-look bits)
        while np.any(counters.status == running) and time.monotonic() < run.deadline:
            backend.call(
                "descend",
                max_moves=max(1024, sweep_len),
                tolerance=tolerance,
                target=run.internal_target,
                deadline=run.deadline,
            )
            run.check_costs(backend)
    elif backend.has_neighbourhood() and not run.spec.large_neighbourhood:
        while np.any(counters.status == running) and time.monotonic() < run.deadline:
            backend.call(
                "climb",
                max_steps=max(1024, sweep_len),
                best_improvement=False,
                tolerance=tolerance,
                target=run.internal_target,
                deadline=run.deadline,
            )
            run.check_costs(backend)
    else:
        zero = np.zeros(1)
        sweeps = 0
        while (
            np.any(counters.status == running)
            and time.monotonic() < run.deadline
            and (max_sweeps is None or sweeps < max_sweeps)
        ):
            before = counters.cost.copy()
            backend.call(
                "anneal",
                temperatures=zero,
                sweep_len=sweep_len,
                target=run.internal_target,
                deadline=run.deadline,
            )
            run.check_costs(backend)
            sweeps += 1
            stalled = (counters.status == running) & ~(counters.cost < before)
            counters.status[stalled] = converged
    counters.status[counters.status == converged] = running
    counters.progress[:] = progress


def simulated_annealing(
    problem: ProblemLike,
    *,
    num_sweeps: int | None = None,
    schedule: ScheduleName | npt.ArrayLike = "geometric",
    t_start: float | None = None,
    t_end: float | None = None,
    reheats: int = 0,
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
) -> Result:
    """Simulated annealing with Metropolis acceptance on independent parallel chains.

    Each chain proposes moves (Ising: every spin in turn; other problems: a
    random move) and accepts a move of cost change ``Δ`` always when
    ``Δ <= 0`` and otherwise with probability ``exp(-Δ / T)``. A high ``T``
    evens the acceptance probabilities out (a random walk), a low ``T``
    sharpens them (greedy descent); the temperature falls sweep by sweep.

    Parameters
    ----------
    problem : TSP, Ising, QUBO, MaxCut, Problem or CompiledProblem
    num_sweeps : int, optional
        Sweeps per high-to-low pass (default 1000); a sweep is ``n`` move
        attempts (``n`` = cities, spins, ``Problem.size``). With ``time_limit``
        and no ``num_sweeps``, the passes fill the time instead: after every
        chunk of sweeps (~0.1 s) the remaining sweeps of the pass are
        re-estimated from the measured sweep rate and the rest of the schedule
        is respaced along the same curve, so the pass reaches ``t_end`` just
        before the time is up (2 % of it is kept for the final descent).
    schedule : {"geometric", "linear", "exponential", "logarithmic"} or array_like
        Named schedule (see :func:`temperature_schedule`) or explicit
        temperatures, one per sweep.
    t_start, t_end : float, optional
        Start and end temperatures. When not given they come from random walks
        from random states (see Notes): ``t_start`` accepts the median
        worsening move with probability 1/2, ``t_end`` accepts the smallest
        worsening move about once per 1000 sweeps. ``Result.params`` reports
        the values and schedule.
    reheats : int, default 0
        Extra passes: ``reheats + 1`` passes from ``t_start`` down to ``t_end``,
        each starting from the chain's best state so far.
    num_chains : int, default 1
        Independent chains (restarts), run in parallel with OpenMP.
    initial_states : array_like, optional
        One state for all chains or one per chain (default: random). Built-in
        problems: an array of shape ``(n,)`` or ``(num_chains, n)``. Python
        problems: a ``list`` of ``num_chains`` states, or any other object as
        the one state of every chain.
    target : float, optional
        Stop once a chain's objective reaches it (≤ for minimised objectives,
        ≥ for cut sizes and ``maximize=True`` problems).
    time_limit : float, optional
        Seconds; checked inside the kernels every few thousand moves.
    seed : None, int or numpy.random.SeedSequence
        Chain ``c`` draws from child ``c`` of ``SeedSequence(seed)``.
    num_threads : int, optional
        OpenMP threads (see :func:`attnsearch.effective_n_threads`).
    callback : callable, optional
        ``callback(progress)`` between chunks of work (~0.1 s) with a dict
        (``step``, ``total_steps``, ``n_evaluations``, ``best_cost``,
        ``best_costs``, ``best_state``, ``temperature``, ``acceptance_rate``,
        ``elapsed``);
        returning True stops the run.
    backend : {"auto", "cython", "reference"}
        ``"reference"`` runs the step-by-step Python reference, the engine
        reference (problems written in Python always do; ``"python"``, its old
        name, is accepted with a FutureWarning).
    progress : bool, default False
        Show a progress bar (tqdm when installed, else a line on stderr) with
        the sweeps done, the best objective, the temperature and the
        acceptance rate, refreshed between chunks of compiled work.
    descent : bool, default True
        End every pass with a zero-temperature descent from the chain's best
        state, so that the states returned are local optima: first-improvement
        hill climbing over the whole neighbourhood when the problem can
        enumerate it and it is small (Ising, QUBO, max-cut, continuous
        compass moves, Python problems with ``moves``), otherwise (TSP's ~4 n²
        moves, Python problems without ``moves``) zero-temperature sweeps until
        a sweep improves nothing. Its moves count in ``acceptance_counts``,
        not in the sweeps.

    Returns
    -------
    Result
        ``stop_reason`` is ``"max_iters"`` when every pass completed. Ctrl-C
        returns the best so far with ``stop_reason="interrupted"``. Results are
        bitwise identical for any ``num_threads`` (and chunking) unless a
        ``time_limit`` or ``target`` stopped the run.

    Notes
    -----
    **Automatic temperatures.** ``4 × 500`` moves of random walks from random
    states, on calibration streams that depend on the seed only, give the
    positive deltas ``Δ⁺``. ``t_start = median(Δ⁺) / ln 2``: hot enough that
    the typical worsening move is accepted half the time. ``t_end =
    min(Δ⁺) / ln(1000 n)`` for sweeps of ``n`` attempts: the smallest
    worsening move is accepted with probability ``1e-3 / n`` per attempt,
    about once per thousand sweeps, so the chain is frozen at the end of the
    pass whatever the size of the problem. A rule per *move* (the previous
    ``min(Δ⁺) / ln 100``) leaves ``n / 100`` uphill moves accepted in every
    cold sweep, which on a 7000-spin toroidal grid (G-set G62) ended the
    pass far from any optimum (93-95 % of the best known cut against 99.5 %
    with this rule in 10 s). dwave-samplers' ``_default_ising_beta_range``
    follows the same idea from the couplings (excitations over the whole
    model at rate 0.01 per sweep) but needs them; this rule needs only
    deltas, so it serves every problem, TSP and Python problems included.
    The final descent then removes what excitations remain.

    The best state of a chain is recorded at the end of each sweep. Moves whose
    acceptance probability is below 2⁻⁵³ (``Δ/T > 36.7``) are rejected without
    a random draw, as in dwave-samplers.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import TSP, simulated_annealing
    >>> rng = np.random.default_rng(0)
    >>> tsp = TSP(rng.uniform(0, 100, size=(30, 2)))
    >>> result = simulated_annealing(tsp, num_sweeps=300, num_chains=4, seed=1)
    >>> sorted(result.best_state) == list(range(30))
    True
    """
    # The method's own arguments, before the run seeds or evaluates anything.
    reheats = check_int(reheats, "reheats", minimum=0)
    descent = check_bool(descent, "descent")
    num_sweeps = check_int(num_sweeps, "num_sweeps", allow_none=True)
    t_start = check_optional_float(t_start, "t_start", positive=True)
    t_end = check_optional_float(t_end, "t_end", positive=True)
    if isinstance(schedule, str) and schedule not in SCHEDULES:
        raise ValueError(
            f"schedule must be one of {SCHEDULES} or an array, got {schedule!r}"
        )
    run = Run(
        "simulated_annealing",
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
        unit="sweeps",
    )
    passes = reheats + 1
    sweep_len = max(1, int(run.spec.size or 1))
    chains = run.chain_backend

    temperatures: Any
    if isinstance(schedule, str):
        schedule_name = schedule
        if schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES} or an array, got {schedule!r}"
            )
        if t_start is None or t_end is None:
            auto_start, auto_end = _default_temperatures(
                run, _sample_deltas(run), sweep_len
            )
            t_start = auto_start if t_start is None else t_start
            t_end = min(auto_end, t_start) if t_end is None else t_end
        if t_end > t_start:
            raise ValueError(f"t_end ({t_end}) must not exceed t_start ({t_start})")
        # With only a time limit the schedule is fitted to the time (refitted after
        # every chunk); the nominal length only shapes the logarithmic curve.
        timed = num_sweeps is None and run.time_limit is not None
        if num_sweeps is None:
            num_sweeps = _DEFAULT_SWEEPS
        temperatures = _Schedule(schedule, t_start, t_end, num_sweeps)
    else:
        schedule_name = "custom"
        timed = False
        if t_start is not None or t_end is not None:
            raise ValueError(
                "t_start/t_end cannot be combined with an explicit schedule"
            )
        explicit = np.asarray(schedule, dtype=np.float64)
        if explicit.ndim != 1 or explicit.size == 0:
            raise ValueError("an explicit schedule must be a non-empty 1-d array")
        if not np.all(np.isfinite(explicit)) or np.any(explicit < 0):
            raise ValueError("schedule temperatures must be finite and >= 0")
        if num_sweeps is not None and num_sweeps != explicit.size:
            raise ValueError(
                f"num_sweeps={num_sweeps} but the schedule has "
                f"{explicit.size} temperatures"
            )
        num_sweeps = explicit.size
        t_start, t_end = float(explicit[0]), float(explicit[-1])
        temperatures = lambda start, stop: explicit[start:stop]  # noqa: E731

    tolerance: list[float] = []  # measured at the first descent, in the loop's guard

    def anneal(temps: npt.NDArray[np.float64]) -> None:
        chains.call(
            "anneal",
            temperatures=temps,
            sweep_len=sweep_len,
            target=run.internal_target,
            deadline=run.deadline,
        )
        run.temperature = float(temps[-1])

    def end_pass() -> None:
        if descent:
            if not tolerance:
                tolerance.append(run.improvement_tolerance())
            _descend(run, tolerance[0], sweep_len)

    assert num_sweeps is not None  # set on every path above
    per_pass: int = num_sweeps
    total: int | None
    if timed:
        plan = _TimedPasses(run, temperatures, passes)
        advance, total = plan.advance(anneal, end_pass), None
    else:
        total = passes * per_pass

        def advance(done: int, size: int) -> int:
            # Chunks end at pass boundaries: each pass restarts from the best states.
            pass_index, sweep = divmod(done, per_pass)
            if sweep == 0 and pass_index:
                chains.restart_from_best()
            size = min(size, per_pass - sweep)
            anneal(temperatures(sweep, sweep + size))
            if sweep + size == per_pass:
                end_pass()
            return size

    run.temperature = t_start
    run.loop(advance, total)
    done = run.units_done
    if timed:
        num_sweeps = plan.first_pass_sweeps or done
        reported = plan.first_pass_temperatures()
    else:
        reported = (
            temperatures(0, num_sweeps)
            if num_sweeps <= _MAX_REPORTED_TEMPERATURES
            else None
        )
    params = {
        "schedule": schedule_name,
        "t_start": t_start,
        "t_end": t_end,
        "num_sweeps": num_sweeps,
        "reheats": reheats,
        "sweep_len": sweep_len,
        "sweeps_done": done,
        "time_fitted": timed,
        "descent": descent,
        # The per-sweep temperatures of the first pass, when small enough to keep
        # (temperature_schedule(schedule, t_start, t_end, num_sweeps) otherwise).
        "temperatures": reported,
    }
    return run.result(params)


class _TimedPasses:
    """``reheats + 1`` passes that fill the time limit: before every chunk the
    remaining sweeps of the current pass are re-estimated from the sweep rate of
    the previous chunk (hot sweeps, which accept more moves, run slower than
    cold ones), and the chunk's sweeps are spaced along the schedule's curve so
    that the pass reaches ``t_end`` when its share of the time is spent, minus a
    small reserve for the final descent."""

    def __init__(self, run: Run, schedule: _Schedule, passes: int) -> None:
        self.run = run
        self.schedule = schedule
        self.passes = passes
        self.pass_index = 0
        self.fraction = 0.0  # position of the next sweep on the curve, in [0, 1]
        self.rate: float | None = None  # sweeps per second, measured
        assert run.time_limit is not None  # a timed run
        self.reserve = _DESCENT_RESERVE * run.time_limit
        self.first_pass_sweeps = 0
        self._first: list[npt.NDArray[np.float64]] = []

    def first_pass_temperatures(self) -> npt.NDArray[np.float64] | None:
        if not self._first or self.first_pass_sweeps > _MAX_REPORTED_TEMPERATURES:
            return None
        return np.concatenate(self._first)

    def advance(
        self,
        anneal: Callable[[npt.NDArray[np.float64]], None],
        end_pass: Callable[[], None],
    ) -> Callable[[int, int], int | None]:
        def advance(done: int, size: int) -> int | None:
            if self.pass_index == self.passes:
                return None  # every pass done: the run loop stops ("max_iters")
            if self.fraction == 0.0 and self.pass_index:
                self.run.chain_backend.restart_from_best()
            left: float
            if self.rate is None:
                left = math.inf  # no rate yet: one sweep at t_start measures it
                size = 1
            else:
                seconds = self.run.deadline - self.reserve - time.monotonic()
                share = seconds / (self.passes - self.pass_index)
                left = max(1, int(self.rate * share))
            count = int(min(size, left))
            if left == math.inf or left <= 1:
                step = 0.0 if left == math.inf else 1.0
            else:
                step = (1.0 - self.fraction) / (left - 1)
            fractions = np.minimum(self.fraction + step * np.arange(count), 1.0)
            if count == left:
                fractions[-1] = 1.0
            temps = self.schedule.at(fractions)
            start = time.perf_counter()
            anneal(temps)
            self.rate = count / max(time.perf_counter() - start, 1e-9)
            if self.pass_index == 0:
                self.first_pass_sweeps += count
                if self.first_pass_sweeps <= _MAX_REPORTED_TEMPERATURES:
                    self._first.append(temps)
            self.fraction = min(1.0, self.fraction + step * count)
            if count == left:
                end_pass()
                self.pass_index += 1
                self.fraction = 0.0
            return count

        return advance
