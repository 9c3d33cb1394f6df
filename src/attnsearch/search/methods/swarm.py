"""Particle swarm optimisation on continuous problems; each chain is a swarm."""

from __future__ import annotations

import math
import numbers
import time
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..._backends import BackendName, check_backend
from ..._dispatch import kernels
from ..._memory import check_allocation
from .._chains import ChainCounters
from .._rng import ChainRNG
from .._run import Run
from .._typing import Callback, Seed
from .._validation import check_int
from ..problems.base import ProblemError
from ..problems.continuous import Continuous
from ..problems.continuous._reference import _non_finite_message
from ..result import Result

if TYPE_CHECKING:
    from . import _swarm
else:
    _swarm = kernels("swarm")

__all__ = ["particle_swarm"]

#: Clerc & Kennedy (2002) constriction: chi = 0.7298 with phi = 4.1 split evenly,
#: i.e. w = chi, c1 = c2 = chi * 2.05 = 1.49618.
CONSTRICTION = {"w": 0.7298, "c1": 1.49618, "c2": 1.49618}
_DEFAULT_PARTICLES = 40  # SPSO 2011's swarm size
_DEFAULT_ITERATIONS = 1000

#: Neighbourhoods of a particle (see :func:`particle_swarm`).
Topology: TypeAlias = Literal["global", "ring", "von_neumann"]
#: What a coordinate that leaves the box does (see :func:`particle_swarm`).
Boundary: TypeAlias = Literal["reflect", "clip", "random", "periodic"]


def _grid_columns(n_particles: int) -> int:
    """Columns of the von Neumann grid: the divisor of P nearest above sqrt(P),
    i.e. P over its largest divisor up to sqrt(P) (O(sqrt P) steps, where
    walking up from sqrt(P) took O(P) for a prime P)."""
    for rows in range(max(1, math.isqrt(n_particles)), 0, -1):
        if n_particles % rows == 0:
            return n_particles // rows
    return n_particles


class SwarmArrays(ChainCounters):
    """State of every swarm: positions, velocities, personal and swarm bests.

    The counters are a swarm's: ``best_cost`` (also ``best_f``, what the kernel
    writes) is the swarm's best value, ``n_evaluations`` counts particle
    evaluations and ``n_accepted`` the personal bests they improved.
    """

    def __init__(
        self,
        n_chains: int,
        n_particles: int,
        dim: int,
        rng_states: npt.ArrayLike,
    ) -> None:
        super().__init__(n_chains)
        self.x = np.zeros((n_chains, n_particles, dim))
        self.v = np.zeros_like(self.x)
        self.pbest = np.zeros_like(self.x)
        self.pbest_f = np.zeros((n_chains, n_particles))
        self.best = np.zeros((n_chains, dim))
        self.best_f = self.cost = self.best_cost
        self.best_of = np.zeros((n_chains, n_particles), dtype=np.int64)
        self.rng = np.ascontiguousarray(rng_states, dtype=np.uint64).copy()
        # The streams of the pulls, derived from each swarm's own state.
        self.lanes = _swarm.lane_states(self.rng)


def _copy_swarm(a: SwarmArrays, source: int, c: int) -> None:
    """Swarm ``c`` as a copy of swarm ``source``, its evaluations not counted."""
    for name in ("x", "v", "pbest", "pbest_f", "best", "best_f", "status"):
        values = getattr(a, name)
        values[c] = values[source]


class _SwarmBackend:
    """Swarms updated by the compiled kernel (built-ins) or the Python reference."""

    def __init__(
        self,
        run: Run,
        problem: Continuous,
        settings: dict[str, Any],
        rng_states: npt.NDArray[np.uint64],
        initial: npt.NDArray[np.float64] | None,
    ) -> None:
        self.run = run
        self.problem = problem
        self.settings = settings
        n_chains = len(rng_states)
        self.arrays = self.counters = SwarmArrays(
            n_chains, settings["n_particles"], problem.dim, rng_states
        )
        random_start = np.ones(n_chains, dtype=bool)
        if initial is not None:
            self.arrays.x[:] = initial
            random_start[:] = False
        self.compiled = problem._core is not None and settings["backend"] != "reference"
        self.name = "cython" if self.compiled else "reference"
        if self.compiled:
            self._kernel(0, initialise=True, random_start=random_start)
        else:
            self.rngs = [ChainRNG(state) for state in self.arrays.rng]
            self.reference = _SwarmReference(problem, settings)
            for c, rng in enumerate(self.rngs):
                if c > 0 and time.monotonic() > run.deadline:
                    # The run is over: the swarms left are copies, evaluated
                    # nowhere (as the chains of _engine_reference.init_chains).
                    _copy_swarm(self.arrays, c - 1, c)
                    continue
                self.reference.initialise(
                    self.arrays, c, rng, random_start[c], run.deadline
                )

    def _kernel(
        self,
        n_iters: int,
        initialise: bool = False,
        random_start: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        s = self.settings
        core = self.problem._core
        assert core is not None  # self.compiled
        _swarm.swarm_run(
            core,
            self.arrays,
            n_iters,
            s["w"],
            s["c1"],
            s["c2"],
            s["vmax"],
            s["topology"],
            s["boundary"],
            s["grid_cols"],
            self.run.internal_target,
            self.run.deadline,
            self.run.n_threads,
            initialise,
            random_start,
            s["vinit"],
        )

    def step(self, n_iters: int) -> None:
        if self.compiled:
            self._kernel(n_iters)
        else:
            for c, rng in enumerate(self.rngs):
                if self.arrays.status[c] == 0:
                    self.reference.iterate(
                        self.arrays,
                        c,
                        rng,
                        n_iters,
                        self.run.internal_target,
                        self.run.deadline,
                    )

    # What the run loop and Result read (the Backend protocol of _run.py).
    def best_states(self) -> npt.NDArray[np.float64]:
        return self.arrays.best

    def best_state(self, chain: int) -> npt.NDArray[np.float64]:
        return self.arrays.best[chain]

    def final_costs(self) -> npt.NDArray[np.float64]:
        return np.array(self.arrays.best_f, dtype=float)

    def final_cost(self, chain: int) -> float:
        return float(self.arrays.best_f[chain])


class _SwarmReference:
    """Python mirror of _swarm.pyx (same draws, same order); the engine of user
    functions, evaluated a whole swarm per call when vectorised."""

    def __init__(self, problem: Continuous, settings: dict[str, Any]) -> None:
        self.problem = problem
        self.s = settings
        self.sign = -1.0 if problem.maximize else 1.0

    def values(
        self, points: npt.NDArray[np.float64], deadline: float = math.inf
    ) -> npt.NDArray[np.float64]:
        """Signed values at ``points``; a Python function that is not
        vectorised is called point by point and, once ``deadline`` has passed,
        no further point is evaluated (at least one is): the values not
        computed are NaN."""
        problem = self.problem
        if problem._core is not None:
            return problem._core.values(points)
        func = problem.func
        assert func is not None  # no core: a Python function
        try:
            if problem.vectorized:
                values = np.asarray(func(points.copy()), dtype=np.float64)
                values = values.reshape(-1)
            else:
                values = np.full(len(points), np.nan)
                for i, point in enumerate(points):
                    if i and time.monotonic() > deadline:
                        return self.sign * values
                    values[i] = float(func(point.copy()))
                    bad = np.flatnonzero(~np.isfinite(values[i : i + 1]))
                    if bad.size:
                        raise ProblemError(
                            _non_finite_message(float(values[i]), point),
                            state=point.copy(),
                        )
        except ProblemError:
            raise
        except Exception as error:
            raise ProblemError(
                f"the function raised {type(error).__name__}: {error}",
                state=points.copy(),
            ) from error
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            point = points[bad[0]]
            raise ProblemError(
                _non_finite_message(float(values[bad[0]]), point), state=point.copy()
            )
        return self.sign * values

    def initialise(
        self,
        a: SwarmArrays,
        c: int,
        rng: ChainRNG,
        random_start: bool,
        deadline: float = math.inf,
    ) -> None:
        """The swarm's first positions, velocities and values. A slow Python
        function is evaluated particle by particle until ``deadline`` (at least
        one): the particles left have no value (personal best +inf) and the
        swarm stops there ("time_limit")."""
        lower, upper = self.problem.lower, self.problem.upper
        n, d = a.x.shape[1:]
        vinit = self.s["vinit"]
        for i in range(n):
            for j in range(d):
                if random_start:
                    a.x[c, i, j] = lower[j] + rng.random() * (upper[j] - lower[j])
                a.v[c, i, j] = (2.0 * rng.random() - 1.0) * vinit[j]
        values = self.values(a.x[c], deadline)
        a.best_f[c] = math.inf
        for i in range(n):
            a.pbest_f[c, i] = math.inf if math.isnan(values[i]) else values[i]
            a.pbest[c, i] = a.x[c, i]
            if values[i] < a.best_f[c]:
                a.best_f[c] = values[i]
                a.best[c] = a.x[c, i]
        evaluated = int(np.count_nonzero(~np.isnan(values)))
        a.n_evaluations[c] += evaluated
        if evaluated < n:
            a.status[c] = 3

    def _neighbourhood_bests(self, f: npt.NDArray[np.float64]) -> list[int]:
        n = f.size
        topology = self.s["topology"]

        def better(a: int, b: int) -> int:
            return b if f[b] < f[a] else a

        if topology == "global":
            g = 0
            for i in range(1, n):
                if f[i] < f[g]:
                    g = i
            return [g] * n
        if topology == "ring":
            return [better(better(i, (i - 1) % n), (i + 1) % n) for i in range(n)]
        cols = self.s["grid_cols"]
        rows = n // cols
        out = []
        for i in range(n):
            row, col = divmod(i, cols)
            g = better(i, ((row - 1) % rows) * cols + col)
            g = better(g, ((row + 1) % rows) * cols + col)
            g = better(g, row * cols + (col - 1) % cols)
            out.append(better(g, row * cols + (col + 1) % cols))
        return out

    def iterate(
        self,
        a: SwarmArrays,
        c: int,
        rng: ChainRNG,
        n_iters: int,
        target: float,
        deadline: float,
    ) -> None:
        s = self.s
        lower, upper = self.problem.lower, self.problem.upper
        vmax = s["vmax"]
        n, d = a.x.shape[1:]
        x, v, pbest = a.x[c], a.v[c], a.pbest[c]
        n_lanes = _swarm.LANES
        # A lane's state: words a.lanes[c, w * LANES + lane], w = 0..3.
        lanes = [ChainRNG(a.lanes[c, lane::n_lanes]) for lane in range(n_lanes)]
        n_steps = -(-n * d // n_lanes)
        try:
            self._iterate(
                a,
                c,
                rng,
                lanes,
                n_steps,
                n_iters,
                target,
                deadline,
                x,
                v,
                pbest,
                lower,
                upper,
                vmax,
            )
        finally:
            for index, lane in enumerate(lanes):
                a.lanes[c, index::n_lanes] = lane.get_state()

    def _iterate(
        self,
        a: SwarmArrays,
        c: int,
        rng: ChainRNG,
        lanes: list[ChainRNG],
        n_steps: int,
        n_iters: int,
        target: float,
        deadline: float,
        x: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
        pbest: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
        vmax: npt.NDArray[np.float64] | None,
    ) -> None:
        s = self.s
        n, d = x.shape
        draws = np.empty((n_steps, len(lanes)), dtype=np.uint64)
        for _ in range(n_iters):
            best_of = self._neighbourhood_bests(a.pbest_f[c])
            # Draw k = step * LANES + index is lane index's output at that
            # step; the block's coordinate k (particle k // d, coordinate
            # k % d) uses it.
            for index, lane in enumerate(lanes):
                draws[:, index] = [lane.next_u64() for _ in range(n_steps)]
            bits = draws.reshape(-1)[: n * d].reshape(n, d)
            r1 = (bits >> np.uint64(32)).astype(np.float64) * 2.0**-32
            r2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
            v[:] = (
                s["w"] * v
                + s["c1"] * r1 * (pbest - x)
                + s["c2"] * r2 * (pbest[best_of] - x)
            )
            if vmax is not None:
                v[:] = np.minimum(vmax, np.maximum(-vmax, v))
            x += v
            for i, j in np.argwhere((x < lower) | (x > upper)):
                position, velocity = x[i, j], v[i, j]
                lo, hi = lower[j], upper[j]
                if s["boundary"] == "reflect":
                    position = (
                        lo + (lo - position) if position < lo else hi - (position - hi)
                    )
                    position = min(hi, max(lo, position))
                    velocity = -velocity
                elif s["boundary"] == "clip":
                    position = min(hi, max(lo, position))
                    velocity = 0.0
                elif s["boundary"] == "periodic":
                    position = (
                        hi - math.fmod(lo - position, hi - lo)
                        if position < lo
                        else lo + math.fmod(position - hi, hi - lo)
                    )
                else:
                    position = lo + rng.random() * (hi - lo)
                x[i, j] = position
                v[i, j] = velocity
            values = self.values(x, deadline)
            evaluated = int(np.count_nonzero(~np.isnan(values)))
            for i in range(n):
                if values[i] < a.pbest_f[c, i]:
                    a.pbest_f[c, i] = values[i]
                    pbest[i] = x[i]
                    a.n_accepted[c] += 1
                    if values[i] < a.best_f[c]:
                        a.best_f[c] = values[i]
                        a.best[c] = x[i]
            a.n_evaluations[c] += evaluated
            if evaluated < n:  # cut by the deadline: no iteration completed
                a.status[c] = 3
                break
            a.progress[c] += 1
            if a.best_f[c] <= target:
                a.status[c] = 2
                break
            if time.monotonic() > deadline:
                a.status[c] = 3
                break


def _check_real(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def particle_swarm(
    problem: Continuous,
    *,
    n_particles: int = _DEFAULT_PARTICLES,
    w: float = CONSTRICTION["w"],
    c1: float = CONSTRICTION["c1"],
    c2: float = CONSTRICTION["c2"],
    topology: Topology = "von_neumann",
    velocity_clamp: float | None = None,
    boundary: Boundary = "periodic",
    max_iters: int | None = None,
    num_chains: int = 1,
    initial_states: npt.ArrayLike | None = None,
    target: float | None = None,
    time_limit: float | None = None,
    seed: Seed = None,
    num_threads: int | None = None,
    callback: Callback | None = None,
    backend: BackendName = "auto",
    progress: bool = False,
) -> Result:
    """Particle swarm optimisation: parallel searchers that share their results.

    Every particle moves by its inertia plus pulls towards its own best point
    and the best point of its neighbourhood:

        v ← w·v + c1·r1·(p_best − x) + c2·r2·(l_best − x),    x ← x + v,

    with fresh uniforms ``r1, r2`` per coordinate. The neighbourhood is the
    whole swarm (``"global"``: ``l_best`` is the swarm's best), the two
    neighbours on a ring of indices (``"ring"``), or the four neighbours on a
    torus grid (``"von_neumann"``). Updates are synchronous. Independent swarms
    (chains) run in parallel; built-in functions evaluate whole swarms in
    compiled code.

    Parameters
    ----------
    problem : Continuous
    n_particles : int, default 40
        Swarm size (SPSO 2011's default).
    w, c1, c2 : float, default 0.7298, 1.49618, 1.49618
        Inertia and acceleration coefficients: the Clerc–Kennedy (2002)
        constriction ``χ = 0.7298`` for ``φ = 4.1`` (``c = χ · 2.05``), which
        converges without velocity clamping.
    topology : {"von_neumann", "global", "ring"}
        Default ``"von_neumann"``: each particle follows the best of itself
        and its four neighbours on a torus grid of particles, which spreads a
        good point through the swarm slowly enough to keep exploring.
    velocity_clamp : float, optional
        Limit ``|v_j|`` to this fraction of the coordinate's range (default:
        no clamp). Initial velocities are uniform in ``±vmax`` (``±0.1`` of the
        range without a clamp).
    boundary : {"periodic", "reflect", "clip", "random"}
        A coordinate that leaves the box is wrapped around to the opposite
        wall (the default, as pyswarms' ``"periodic"``), mirrored back in (its
        velocity reversed), clipped to the wall (velocity zeroed), or redrawn
        uniformly.
    max_iters : int, optional
        Iterations (default 1000; unlimited with ``time_limit``). Each
        evaluates every particle once.
    num_chains : int, default 1
        Independent swarms, run in parallel.
    initial_states : array_like, optional
        Initial positions, ``(n_particles, d)`` or ``(num_chains, n_particles, d)``.
    target, time_limit, seed, num_threads, callback, backend, progress
        As in :func:`simulated_annealing`.

    Returns
    -------
    Result
        ``best_state`` is the best point over all swarms; ``acceptance_rate``
        is the fraction of particle evaluations that improved a personal best.

    Notes
    -----
    The defaults were chosen by measurement, with pyswarms' constants (w
    0.729, c1 = c2 = 1.49445), 50 particles × 2000 iterations, median of seeds
    0-4, 30 dimensions: von Neumann + periodic walls gave Rastrigin 21.9,
    Ackley 4e-12, Rosenbrock 0.17, Griewank 0 (pyswarms ``GlobalBestPSO``:
    22.9, 2.1, 2.6, 0); global + periodic 23.9, 1.9, 0.036, 0.0074; ring +
    periodic 23.1, 2e-8, 0.74, 3e-14; von Neumann with reflecting, random or
    clipping walls 34-64 on Rastrigin; a velocity clamp of 0.2 or 0.5 of the
    range made Rastrigin worse (27.9). These were measured with the earlier
    single random stream per swarm; the 16 streams per swarm of now give
    other runs from the same distribution (medians over seeds 0-59 in
    ``bench/README.md``).

    Random numbers: the pulls come from 16 xoshiro256++ streams per swarm,
    started from the swarm's own stream (child ``c`` of the seed's
    ``SeedSequence``) advanced by 1, 2, ..., 16 jumps of 2^128 draws; the
    swarm's own stream draws the initial positions and velocities and the
    ``"random"`` walls' redraws. A seed gives the same result for any
    ``num_threads``.

    Examples
    --------
    >>> from attnsearch.search import Continuous, particle_swarm
    >>> sphere = Continuous.builtin("sphere", dim=10)
    >>> particle_swarm(sphere, max_iters=1000, seed=0).objective < 1e-8
    True
    """
    if not isinstance(problem, Continuous):
        raise TypeError(
            f"particle_swarm needs a Continuous problem, got {type(problem).__name__}"
        )
    n_particles = check_int(n_particles, "n_particles")
    n_swarms = check_int(num_chains, "num_chains")
    # Before anything is seeded or evaluated: positions, velocities and
    # personal bests (3 x d floats), a value and a neighbourhood best per
    # particle; a best point, the lanes and the chain's bookkeeping per swarm;
    # the compiled kernel's scratch (draws, leaders' rows, the functions' two
    # blocks: 4 x d words and 2 values per particle, d words per swarm).
    check_allocation(
        n_swarms * (n_particles * (56 * problem.dim + 32) + 16 * problem.dim + 640),
        f"num_chains={n_swarms}, n_particles={n_particles}: {n_swarms} swarm(s) "
        f"of {n_particles} particles in {problem.dim} dimensions",
    )
    backend = check_backend(backend)
    if topology not in _swarm.TOPOLOGIES:
        raise ValueError(
            f"topology must be one of {sorted(_swarm.TOPOLOGIES)}, got {topology!r}"
        )
    if boundary not in _swarm.BOUNDARIES:
        raise ValueError(
            f"boundary must be one of {sorted(_swarm.BOUNDARIES)}, got {boundary!r}"
        )
    width = problem.upper - problem.lower
    if velocity_clamp is not None:
        velocity_clamp = _check_real(velocity_clamp, "velocity_clamp")
        if velocity_clamp <= 0:
            raise ValueError(f"velocity_clamp must be positive, got {velocity_clamp}")
    settings = {
        "n_particles": n_particles,
        "w": _check_real(w, "w"),
        "c1": _check_real(c1, "c1"),
        "c2": _check_real(c2, "c2"),
        "topology": topology,
        "boundary": boundary,
        "vmax": None if velocity_clamp is None else velocity_clamp * width,
        "vinit": (0.1 if velocity_clamp is None else velocity_clamp) * width,
        "grid_cols": _grid_columns(n_particles),
        "backend": backend,
    }
    max_iters = check_int(max_iters, "max_iters", allow_none=True)
    if max_iters is None and time_limit is None:
        max_iters = _DEFAULT_ITERATIONS

    def make_backend(run: Run, rng_states: npt.NDArray[np.uint64]) -> _SwarmBackend:
        initial = None
        if initial_states is not None:
            initial = np.asarray(initial_states, dtype=np.float64)
            shape = (n_particles, problem.dim)
            if initial.shape == shape:
                initial = np.broadcast_to(initial, (len(rng_states),) + shape)
            if initial.shape != (len(rng_states),) + shape:
                raise ValueError(
                    f"initial_states must have shape {shape} or "
                    f"({len(rng_states)}, {n_particles}, {problem.dim}), "
                    f"got {np.shape(initial_states)}"
                )
            problem._check_points(initial, "initial_states")
        if backend == "cython" and problem._core is None:
            raise ValueError(
                f"{problem.name} is written in Python: use backend='auto' or "
                "'reference'"
            )
        return _SwarmBackend(run, problem, settings, rng_states, initial)

    run = Run(
        "particle_swarm",
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
        unit="iterations",
    )
    params: dict[str, Any] = {
        key: settings[key]
        for key in ("n_particles", "w", "c1", "c2", "topology", "boundary")
    }
    params.update(
        velocity_clamp=velocity_clamp,
        max_iters=max_iters,
        grid_columns=settings["grid_cols"] if topology == "von_neumann" else None,
    )

    swarms = run.backend
    assert isinstance(swarms, _SwarmBackend)  # make_backend built it

    def advance(done: int, size: int) -> int:
        swarms.step(size)
        return size

    run.loop(advance, max_iters)
    params["steps"] = run.backend.counters.progress.copy()
    return run.result(params)
