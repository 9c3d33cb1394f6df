"""Simulated annealing: Metropolis moves as the temperature falls, parallel chains."""

from __future__ import annotations

import math
import time

import numpy as np

from .._run import Run
from .._validation import check_int, check_optional_float, rounding_tolerance

__all__ = ["simulated_annealing", "temperature_schedule", "SCHEDULES"]

#: Named temperature schedules (see :func:`temperature_schedule`).
SCHEDULES = ("geometric", "linear", "exponential", "logarithmic")
_DEFAULT_SWEEPS = 1000
_CALIBRATION_MOVES = 500
_MAX_REPORTED_TEMPERATURES = 100_000


def temperature_schedule(kind, t_start, t_end, num_sweeps):
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

    def __init__(self, kind, t_start, t_end, num_sweeps):
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

    def __call__(self, start, stop):
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


def _default_temperatures(run, deltas):
    """The documented rule: t_start accepts the median worsening move of a random
    walk with probability 1/2, t_end accepts the smallest one with probability 1/100."""
    scale = float(np.max(np.abs(deltas))) if deltas.size else 0.0
    positive = deltas[deltas > rounding_tolerance(scale, run.spec.exact)]
    if positive.size == 0:
        return 1.0, 1e-3  # no worsening move seen: any temperature is as good
    t_start = float(np.median(positive)) / math.log(2.0)
    t_end = float(np.min(positive)) / math.log(100.0)
    return t_start, min(t_end, t_start)


def _sample_deltas(run):
    """Deltas of random walks from random states on the calibration streams, which
    depend only on the seed (not on num_chains or which chains a worker runs)."""
    return run.sample_deltas(_CALIBRATION_MOVES)


def _calibrate_sweep_rate(run, schedule, t_start, t_end, sweep_len, budget):
    """Sweeps per second of the real chains over a whole (short) high-to-low pass,
    measured on a throwaway copy: hot sweeps accept more moves and run slower,
    so the rate of the full temperature range is what a stretched schedule needs."""
    sweeps, rate = 2, 1.0
    with run.calibrating():  # Ctrl-C or the deadline stop the run here
        while True:
            probe = run.backend.clone()
            temps = _Schedule(schedule, t_start, t_end, sweeps)(0, sweeps)
            start = time.perf_counter()
            probe.call(
                "anneal",
                temperatures=temps,
                sweep_len=sweep_len,
                target=-math.inf,
                deadline=run.deadline,
            )
            spent = time.perf_counter() - start
            rate = sweeps / max(spent, 1e-9)
            if spent >= budget or sweeps >= 1 << 20 or time.monotonic() > run.deadline:
                break
            sweeps *= 2
    return rate


def simulated_annealing(
    problem,
    *,
    num_sweeps=None,
    schedule="geometric",
    t_start=None,
    t_end=None,
    reheats=0,
    num_chains=1,
    initial_states=None,
    target=None,
    time_limit=None,
    seed=None,
    num_threads=None,
    callback=None,
    backend="auto",
    progress=False,
):
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
        and no ``num_sweeps``, the schedule is stretched to fill the time: the
        sweep rate is measured on a short throwaway run first.
    schedule : {"geometric", "linear", "exponential", "logarithmic"} or array_like
        Named schedule (see :func:`temperature_schedule`) or explicit
        temperatures, one per sweep.
    t_start, t_end : float, optional
        Start and end temperatures. When not given: ``t_start`` = median of the
        positive deltas of random walks from random states divided by ln 2 (the
        typical worsening move is accepted with probability 1/2), ``t_end`` =
        smallest positive delta divided by ln 100 (it is accepted with
        probability 1/100). ``Result.params`` reports the values and schedule.
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

    Returns
    -------
    Result
        ``stop_reason`` is ``"max_iters"`` when every pass completed. Ctrl-C
        returns the best so far with ``stop_reason="interrupted"``. Results are
        bitwise identical for any ``num_threads`` (and chunking) unless a
        ``time_limit`` or ``target`` stopped the run.

    Notes
    -----
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
    reheats = check_int(reheats, "reheats", minimum=0)
    passes = reheats + 1
    sweep_len = max(1, int(run.spec.size or 1))
    num_sweeps = check_int(num_sweeps, "num_sweeps", allow_none=True)
    t_start = check_optional_float(t_start, "t_start", positive=True)
    t_end = check_optional_float(t_end, "t_end", positive=True)

    if isinstance(schedule, str):
        schedule_name = schedule
        if schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES} or an array, got {schedule!r}"
            )
        if t_start is None or t_end is None:
            auto_start, auto_end = _default_temperatures(run, _sample_deltas(run))
            t_start = auto_start if t_start is None else t_start
            t_end = min(auto_end, t_start) if t_end is None else t_end
        if t_end > t_start:
            raise ValueError(f"t_end ({t_end}) must not exceed t_start ({t_start})")
        if num_sweeps is None:
            if run.time_limit is not None:
                budget = min(0.03 * run.time_limit, 0.5)
                rate = _calibrate_sweep_rate(
                    run, schedule, t_start, t_end, sweep_len, budget
                )
                remaining = max(0.0, run.deadline - time.monotonic())
                num_sweeps = max(1, int(rate * remaining * 0.95 / passes))
            else:
                num_sweeps = _DEFAULT_SWEEPS
        temperatures = _Schedule(schedule, t_start, t_end, num_sweeps)
    else:
        schedule_name = "custom"
        if t_start is not None or t_end is not None:
            raise ValueError(
                "t_start/t_end cannot be combined with an explicit schedule"
            )
        temperatures = np.asarray(schedule, dtype=np.float64)
        if temperatures.ndim != 1 or temperatures.size == 0:
            raise ValueError("an explicit schedule must be a non-empty 1-d array")
        if not np.all(np.isfinite(temperatures)) or np.any(temperatures < 0):
            raise ValueError("schedule temperatures must be finite and >= 0")
        if num_sweeps is not None and num_sweeps != temperatures.size:
            raise ValueError(
                f"num_sweeps={num_sweeps} but the schedule has "
                f"{temperatures.size} temperatures"
            )
        num_sweeps = temperatures.size
        t_start, t_end = float(temperatures[0]), float(temperatures[-1])
        explicit = temperatures
        temperatures = lambda start, stop: explicit[start:stop]  # noqa: E731

    total = passes * num_sweeps

    def advance(done, size):
        # Chunks end at pass boundaries: each pass restarts from the best states.
        pass_index, sweep = divmod(done, num_sweeps)
        if sweep == 0 and pass_index:
            run.backend.restart_from_best()
        size = min(size, num_sweeps - sweep)
        chunk = temperatures(sweep, sweep + size)
        run.backend.call(
            "anneal",
            temperatures=chunk,
            sweep_len=sweep_len,
            target=run.internal_target,
            deadline=run.deadline,
        )
        run.temperature = float(chunk[-1])
        return size

    run.temperature = float(temperatures(0, 1)[0])
    run.loop(advance, total)
    done = run.units_done
    params = {
        "schedule": schedule_name,
        "t_start": t_start,
        "t_end": t_end,
        "num_sweeps": num_sweeps,
        "reheats": reheats,
        "sweep_len": sweep_len,
        "sweeps_done": done,
        # The per-sweep temperatures of one pass, when small enough to keep
        # (temperature_schedule(schedule, t_start, t_end, num_sweeps) otherwise).
        "temperatures": temperatures(0, num_sweeps)
        if num_sweeps <= _MAX_REPORTED_TEMPERATURES
        else None,
    }
    return run.result(params)
