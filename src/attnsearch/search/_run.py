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
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from .._backends import check_backend
from .._dispatch import kernels
from .._memory import check_allocation
from .._threading import effective_n_threads
from . import _engine_reference
from ._chains import ChainArrays, ChainCounters
from ._rng import ChainRNG
from ._seeding import ChainBlock, calibration_states, chain_rng_states
from ._typing import Callback, Progress, Seed
from ._validation import (
    check_bool,
    check_int,
    check_optional_float,
    check_time_limit,
    rounding_tolerance,
)
from .problems.base import (
    Problem,
    ProblemError,
    SearchSpec,
    UserProblemOps,
    search_spec,
)
from .result import Result

if TYPE_CHECKING:
    from .._progress import ProgressBar
    from . import _engine
else:
    _engine = kernels("search")

__all__ = [
    "Backend",
    "ChainBackend",
    "CompiledBackend",
    "ReferenceBackend",
    "Run",
    "require_neighbourhood",
]

STATUS = _engine.STATUS
TIE_CAPACITY = _engine.TIE_CAPACITY
_CHUNK_SECONDS = 0.1
_MAX_HISTORY = 1000


class Backend(Protocol):
    """What the run loop needs from the chains of any method."""

    name: str  # "cython" or "reference"

    @property
    def counters(self) -> ChainCounters: ...  # read-only: may be a subclass

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

    def checked_chains(self) -> Sequence[CompiledBackend | ReferenceBackend]:
        """The chains whose running costs are sums of the deltas they applied:
        what :meth:`Run.check_costs` compares with costs recomputed from scratch."""


class CompiledBackend:
    """Chains in NumPy arrays, methods in ``_engine`` (nogil, OpenMP over chains)."""

    name = "cython"

    def __init__(
        self,
        spec: SearchSpec,
        rng_states: npt.NDArray[np.uint64],
        initial: npt.ArrayLike | None,
        n_threads: int,
        use_vtable: bool = False,
        deadline: float = math.inf,
    ) -> None:
        core = spec.core
        assert core is not None  # the caller checked: compiled problems only
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
        self._min_slice = self._slice = 4 * n_threads
        random_start = np.ones(len(rng_states), dtype=bool)
        if initial is not None:
            self.arrays.states[:] = initial
            random_start[:] = False
        self._init_chains(random_start, deadline)
        bad = np.flatnonzero(self.arrays.status == STATUS["bad_initial_state"])
        if bad.size:
            raise ValueError(f"initial state of chain {bad[0]} is not a valid state")

    def _init_chains(
        self, random_start: npt.NDArray[np.bool_], deadline: float
    ) -> None:
        """``init_chains`` on every chain, in slices of ~0.1 s when there is a
        deadline (a million chains, or the replicas of a long ladder, take
        seconds): once it has passed, the chains left start from copies of the
        last one initialised, as in the engine reference (the run is over)."""
        if deadline == math.inf:
            self.call("init_chains", random_start=random_start)
            return
        arrays = self.arrays
        n_chains = len(arrays.cost)
        first, size = 0, self._slice
        try:
            while first < n_chains:
                if first > 0 and time.monotonic() > deadline:
                    for name in ("states", "best_states", "aux", "cost", "best_cost"):
                        values = getattr(arrays, name)
                        values[first:] = values[first - 1]
                    break
                last = min(n_chains, first + size)
                arrays.active_chains = (first, last)
                start = time.perf_counter()
                self.call("init_chains", random_start=random_start)
                if time.perf_counter() - start < 0.5 * _CHUNK_SECONDS:
                    size *= 2
                first = last
        finally:
            arrays.active_chains = None

    def call(self, method: str, **params: Any) -> Any:
        entry = getattr(_engine, method)
        if method == "init_chains":
            return entry(
                self.core,
                self.arrays,
                params["random_start"],
                num_threads=self.n_threads,
                use_vtable=self.use_vtable,
            )
        if method == "sample_deltas":
            return entry(
                self.core,
                self.arrays,
                num_threads=self.n_threads,
                use_vtable=self.use_vtable,
                **params,
            )
        return self._call_in_slices(entry, params)

    def _call_in_slices(self, entry, params):
        """Run a method on slices of the chains, each slice one kernel call of
        at most ~0.1 s: Python sees Ctrl-C (and the run loop the deadline)
        between slices, however many chains there are. Slices start at a few
        chains per thread and grow while calls stay short; chains are
        independent, so slicing never changes a result."""
        n_chains = len(self.arrays.cost)
        first = 0
        try:
            while first < n_chains:
                last = min(n_chains, first + self._slice)
                self.arrays.active_chains = (first, last)
                start = time.perf_counter()
                entry(
                    self.core,
                    self.arrays,
                    num_threads=self.n_threads,
                    use_vtable=self.use_vtable,
                    **params,
                )
                spent = time.perf_counter() - start
                first = last
                if spent < 0.5 * _CHUNK_SECONDS:
                    self._slice = min(2 * self._slice, n_chains)
                elif spent > 2 * _CHUNK_SECONDS:
                    self._slice = max(self._min_slice, self._slice // 2)
        finally:
            self.arrays.active_chains = None

    def has_neighbourhood(self) -> bool:
        return self.core.has_neighbourhood

    def provides(self, operation: str) -> bool:
        return bool(self.core.provides(operation))

    def clone(self) -> CompiledBackend:
        clone = CompiledBackend.__new__(CompiledBackend)
        clone.spec, clone.core = self.spec, self.core
        clone.n_threads, clone.use_vtable = self.n_threads, self.use_vtable
        clone._min_slice, clone._slice = self._min_slice, self._slice
        clone.arrays = clone.counters = self.arrays.copy()
        return clone

    def restart_from_best(self) -> None:
        arrays = self.arrays
        arrays.states[:] = arrays.best_states
        self.call("init_chains", random_start=np.zeros(len(arrays.cost), bool))
        arrays.status[:] = STATUS["running"]

    def best_states(self) -> np.ndarray:
        return self.arrays.best_states

    def best_state(self, chain: int) -> np.ndarray:
        return self.arrays.best_states[chain]

    def final_costs(self) -> npt.NDArray[np.float64]:
        return _engine.costs_of(self.core, self.arrays.best_states)

    def final_cost(self, chain: int) -> float:
        rows = self.arrays.best_states[chain : chain + 1]
        return float(_engine.costs_of(self.core, rows)[0])

    def current_cost(self, chain: int) -> float:
        rows = self.arrays.states[chain : chain + 1]
        return float(_engine.costs_of(self.core, rows)[0])

    def checked_chains(self) -> tuple[CompiledBackend]:
        return (self,)


class ReferenceBackend:
    """Chains as Python states, methods in ``_engine_reference`` (the mirror)."""

    name = "reference"

    def __init__(
        self,
        spec: SearchSpec,
        rng_states: npt.NDArray[np.uint64],
        initial: Sequence[Any] | np.ndarray | None,
        deadline: float | Callable[[], float] = math.inf,
    ) -> None:
        assert spec.ops is not None  # the caller checked: Python operations only
        self.spec = spec
        self.chains = self.counters = _engine_reference.ChainsReference(
            spec.ops, [ChainRNG(s) for s in rng_states]
        )
        random_start = np.full(len(rng_states), initial is None)
        # Past the deadline, the chains left start from copies (see init_chains):
        # a slow Python objective must not evaluate states a stopped run never uses.
        _engine_reference.init_chains(self.chains, random_start, initial, deadline)

    @classmethod
    def from_states(
        cls,
        spec: SearchSpec,
        rng_states: npt.NDArray[np.uint64],
        states: Sequence[Any],
        costs: Sequence[float],
    ) -> ReferenceBackend:
        """Chains starting from copies of internal ``states`` (just initialised
        elsewhere) whose ``costs`` are known: nothing is evaluated again."""
        assert spec.ops is not None  # Python operations only
        backend = cls.__new__(cls)
        backend.spec = spec
        chains = _engine_reference.ChainsReference(
            spec.ops, [ChainRNG(s) for s in rng_states]
        )
        for c, (state, cost) in enumerate(zip(states, costs, strict=True)):
            chains.states[c] = spec.ops.copy(state)
            chains.cost[c] = chains.best_cost[c] = cost
            chains.best_states[c] = spec.ops.copy(state)
        backend.chains = backend.counters = chains
        return backend

    def call(self, method: str, **params: Any) -> Any:
        return getattr(_engine_reference, method)(self.chains, **params)

    def has_neighbourhood(self) -> bool:
        ops = self.spec.ops
        if isinstance(ops, UserProblemOps):  # a user Problem: does it define moves()?
            return type(ops.problem).moves is not Problem.moves
        return hasattr(ops, "n_moves")

    def provides(self, operation: str) -> bool:
        return hasattr(self.spec.ops, operation)

    def clone(self) -> ReferenceBackend:
        clone = ReferenceBackend.__new__(ReferenceBackend)
        clone.spec = self.spec
        clone.chains = clone.counters = self.chains.copy()
        return clone

    def restart_from_best(self) -> None:
        # As the compiled backend: through init_chains, so that a state's
        # workspace (a tour's don't-look queue) is rebuilt exactly as there.
        chains = self.chains
        export = chains.ops.export
        _engine_reference.init_chains(
            chains,
            np.zeros(len(chains.rngs), dtype=bool),
            [export(state) for state in chains.best_states],
        )
        chains.status[:] = STATUS["running"]

    def best_states(self) -> list[Any]:
        export = self.chains.ops.export
        return [export(state) for state in self.chains.best_states]

    def best_state(self, chain: int) -> Any:
        return self.chains.ops.export(self.chains.best_states[chain])

    def final_costs(self, until: float = math.inf) -> npt.NDArray[np.float64]:
        """The chains' best costs recomputed from their states, the best chain
        first; past ``until`` (the end of a time limit: a slow Python cost
        times many chains), the others keep their running best costs, which
        the run checked against recomputed ones as it went."""
        ops = self.chains.ops
        costs = np.array(self.chains.best_cost, dtype=float)
        for k, c in enumerate(np.argsort(costs, kind="stable")):
            if k and time.monotonic() > until:
                break
            costs[c] = ops.cost(self.chains.best_states[c])
        return costs

    def final_cost(self, chain: int) -> float:
        return float(self.chains.ops.cost(self.chains.best_states[chain]))

    def current_cost(self, chain: int) -> float:
        return float(self.chains.ops.cost(self.chains.states[chain]))

    def checked_chains(self) -> tuple[ReferenceBackend]:
        return (self,)


def require_neighbourhood(run: Run) -> None:
    """TypeError unless the problem's neighbourhood can be enumerated."""
    if not run.chain_backend.has_neighbourhood():
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
    prepare : callable, optional
        ``prepare(run)``: the method's checks that need the problem (the sizes
        its count parameters imply, their memory), run once the problem and the
        common arguments are validated and before any chain is seeded or any
        state evaluated.
    """

    backend: Backend

    def __init__(
        self,
        method: str,
        problem: object,
        *,
        num_chains: int,
        initial_states: Any,
        seed: Seed | ChainBlock,
        num_threads: int | None,
        time_limit: float | None,
        target: float | None,
        callback: Callback | None,
        backend: str,
        use_vtable: bool = False,
        make_backend: Callable[[Run, npt.NDArray[np.uint64]], Backend] | None = None,
        progress: bool = False,
        unit: str = "steps",
        prepare: Callable[[Run], None] | None = None,
    ) -> None:
        self.start = time.perf_counter()
        self.method = method
        self.unit = unit
        self.show_progress = check_bool(progress, "progress")
        self.progress_bar: ProgressBar | None = None
        backend = check_backend(backend)
        self.requested_backend = backend
        # The clock starts before the problem prepares itself (a TSP builds its
        # greedy start tour here): the time limit covers the whole call.
        self.time_limit = check_time_limit(time_limit)
        self._deadline = (
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
        self.check_chain_memory()
        self._calibration_costs: np.ndarray | None = None
        if prepare is not None:
            prepare(self)
        first_chain = 0
        if isinstance(seed, ChainBlock):  # one task of attnsearch.search.dask
            first_chain = seed.first_chain
            seed = seed.root
        self.seed = seed
        self.first_chain = first_chain
        # (a million chains take ~20 s to seed: not past the time limit)
        rng_states = chain_rng_states(
            seed, self.num_chains, first_chain, self._deadline
        )
        # Targets are objectives (cut size, tour length, the user's value); the
        # engine compares minimised costs.
        self.internal_target = (
            -math.inf
            if self.target is None
            else float(spec.cost_of_objective(self.target))
        )
        self.history: dict[str, list[Any]] = {
            "n_evaluations": [],
            "best_costs": [],
            "temperature": [],
            "elapsed": [],
        }
        self.temperature = math.nan  # reported in the history and the callback
        self.stop_reason: str | None = None
        self.units_done = 0
        self._next_cost_check = -math.inf
        self._cost_check_chain = 0
        self._cost_magnitude = 0.0
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
                spec, rng_states, initial, self.n_threads, use_vtable, self.deadline
            )
        else:
            if spec.ops is None:
                raise ValueError(f"{spec.name} has no Python implementation")
            self.backend = ReferenceBackend(
                spec, rng_states, initial, lambda: self.deadline
            )

    @property
    def deadline(self) -> float:
        """When the search must stop (``time.monotonic()`` seconds; inf without a
        time limit): the end of the time limit, less the time ``result`` will
        take to recompute the best chain's final cost of a slow Python problem
        (the other chains' are recomputed while time is left:
        ``ReferenceBackend.final_costs``), so that the whole call, result
        included, ends within the limit (plus the evaluation running when it
        passes)."""
        return self._deadline - self._cost_seconds()

    def _cost_seconds(self) -> float:
        """The mean time of one cost evaluation from scratch of a Python
        problem (``UserProblemOps`` times them), 0 for every other problem: the
        built-ins are fast, and a ``Continuous`` keeps its values."""
        ops = self.spec.ops
        if not isinstance(ops, UserProblemOps) or self._deadline == math.inf:
            return 0.0
        return ops.mean_cost_seconds()

    def compiled(self) -> bool:
        """Whether the chains will run on the compiled engine (known before the
        backend exists, for the checks of ``prepare``)."""
        return self.spec.core is not None and self.requested_backend != "reference"

    def chain_bytes(self) -> int:
        """The memory of one chain of the compiled engine (``ChainArrays``: its
        streams, counters, state, best state and workspace), or an estimate of
        the bookkeeping of one Python chain."""
        core = self.spec.core
        per_chain = 120  # streams, counters, seeding
        if core is not None:
            per_chain += (
                2 * core.state_size * np.dtype(core.state_dtype).itemsize
                + core.aux_nbytes
            )
        return per_chain

    def check_chain_memory(self, extra_per_chain: float = 0.0, what: str = "") -> None:
        """Refuse a number of chains whose arrays cannot fit, before seeding them
        (a typo such as num_chains=10**9 must not take minutes to fail).
        ``extra_per_chain``: the bytes a method adds to every chain, which
        ``what`` names (``"the tabu memory"``, ...)."""
        nbytes = self.num_chains * (self.chain_bytes() + extra_per_chain)
        check_allocation(
            nbytes,
            f"num_chains={self.num_chains}: {self.num_chains} chains of "
            f"{self.spec.name}" + (f" with {what}" if what else ""),
        )

    def _initial_states(self, initial_states: Any) -> list[Any] | np.ndarray | None:
        """None (random starts), or one internal state per chain."""
        n = self.num_chains
        if initial_states is None:
            return None
        spec = self.spec
        if spec.core is None:
            # Python problems: a list holds one state per chain; anything else
            # (an array, a tuple, any object) is one state for every chain. A
            # list of the wrong length is an error, never silently one state.
            if isinstance(initial_states, list):
                if len(initial_states) != n:
                    raise ValueError(
                        f"initial_states is a list of {len(initial_states)} states "
                        f"but there are {n} chains: give one state per chain, or "
                        "pass a state shared by every chain as a tuple or an array"
                    )
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

    @property
    def chain_backend(self) -> ChainBackend:
        """The backend of a method whose chains are single states (all but the
        particle swarm, whose ``make_backend`` builds its own)."""
        backend = self.backend
        if not isinstance(backend, CompiledBackend | ReferenceBackend):
            raise TypeError(f"{self.method} does not run chains of single states")
        return backend

    # -- measurements that depend on the seed only ---------------------------

    def calibration_backend(self) -> ChainBackend:
        """A backend of a few chains from random states on the calibration streams,
        for measurements (temperatures, tolerances) that must depend on the seed
        only, never on num_chains or on which block of chains a worker runs."""
        rng_states = calibration_states(self.seed)
        probe: ChainBackend
        if self.backend.name == "cython" and self.spec.core is not None:
            probe = CompiledBackend(
                self.spec,
                rng_states,
                None,
                self.n_threads,
                getattr(self.backend, "use_vtable", False),
            )
        else:
            probe = ReferenceBackend(self.spec, rng_states, None, lambda: self.deadline)
        if self._calibration_costs is None:  # the same for every probe of a run
            self._calibration_costs = np.array(probe.counters.cost, dtype=float)
        return probe

    @contextlib.contextmanager
    def calibrating(self) -> Iterator[None]:
        """Around measurements made before the search (temperatures, rates): Ctrl-C
        ends the run with ``"interrupted"`` and the deadline with ``"time_limit"``
        (the result then holds the initial states), instead of raising to the
        caller or running past the time limit."""
        try:
            with self.guard():
                yield
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
        if self.stop_reason is None and time.monotonic() > self.deadline:
            self.stop_reason = "time_limit"

    def sample_deltas(self, n_samples: int) -> np.ndarray:
        """Deltas of ``n_samples`` random moves along random walks from random
        states, on the calibration streams (they depend on the seed only), as a
        flat array; walks stop at the deadline and on Ctrl-C (see
        :meth:`calibrating`), returning what they sampled."""
        deltas = np.zeros(0)
        with self.calibrating():
            if time.monotonic() <= self.deadline:
                probe = self.calibration_backend()
                deltas = probe.call(
                    "sample_deltas", n_samples=n_samples, deadline=self.deadline
                )
        deltas = np.asarray(deltas, dtype=float).ravel()
        return deltas[~np.isnan(deltas)]

    def improvement_tolerance(self) -> float:
        """Deltas must be below -tolerance to count as improvements: rounding
        noise relative to the size of the costs (those of random states)."""
        if self.spec.exact:
            return 0.0
        if self._calibration_costs is None:
            if time.monotonic() > self.deadline:
                # The run is over: no evaluation of a slow problem for nothing.
                return rounding_tolerance(0.0, False)
            self.calibration_backend()  # records the costs of its random states
        assert self._calibration_costs is not None
        costs = np.abs(self._calibration_costs)
        return rounding_tolerance(np.max(costs[np.isfinite(costs)], initial=0.0), False)

    # -- the chunk loop ------------------------------------------------------

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
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

    def loop(
        self, advance: Callable[[int, int], int | None], budget: int | None
    ) -> None:
        """Advance every running chain in ~0.1 s chunks until ``budget`` units
        are done (None: no unit budget), a stop rule fires, or every chain
        stops. ``advance(done, size)`` runs at most ``size`` more units after
        ``done`` and returns how many it ran (annealing ends a chunk at the end
        of a pass; 0 when a chunk ended inside one unit, as iterated local
        search's first descent of a large problem), or None when it has nothing
        left to run ("max_iters", or "time_limit" when a chain's status says
        so). Sets
        ``stop_reason`` and ``units_done``; Ctrl-C ends the run with
        ``"interrupted"``."""
        done = 0
        per_unit = 0.0
        counters = self.backend.counters
        self.record()
        if self.stop_reason is not None:  # stopped while calibrating
            self.units_done = 0
            return
        costs = np.abs(np.asarray(counters.cost, dtype=float))
        self._cost_magnitude = float(np.max(costs[np.isfinite(costs)], initial=0.0))
        checked = getattr(self.backend, "checked_chains", None)
        for chains in checked() if checked is not None else ():
            self._note_cost_magnitude(chains)  # parallel tempering's replicas
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
                if ran is None:  # the method has nothing left to run
                    timed_out = np.any(counters.status == STATUS["time_limit"])
                    self.stop_reason = "time_limit" if timed_out else "max_iters"
                    break
                per_unit = (time.perf_counter() - start) / max(ran, 1)
                done += ran
                self._raise_for_problem_bugs()
                with self.guard():
                    self.check_costs(self.backend)
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

    def check_costs(self, backend: Backend) -> None:
        """The documented consistency check of deltas, for every method: the
        running costs (sums of the deltas applied) must be finite, and one
        chain's running cost, chains in turn, must equal its cost recomputed
        from its state (Python problems at most once a second, as their costs
        may be slow; never when no time is left before the deadline). The run
        loop calls it after every chunk and the zero-temperature descents after
        every call, so that a problem whose delta lies, or is infinite or NaN,
        raises ProblemError instead of searching on wrong numbers, or forever.
        ``backend``: any backend; its ``checked_chains()`` are checked
        (parallel tempering's replicas while they temper, none for swarms)."""
        checked = getattr(backend, "checked_chains", None)
        for chains in checked() if checked is not None else ():
            self._check_finite_costs(chains)
            now = time.monotonic()
            if isinstance(chains, ReferenceBackend):
                if now < self._next_cost_check:
                    continue
                self._next_cost_check = now + 1.0
            if now + self._cost_seconds() > self.deadline:
                continue  # no time for a recomputation: result() makes its own
            self._check_one_chain(chains)

    def _check_finite_costs(self, chains: CompiledBackend | ReferenceBackend) -> None:
        counters = chains.counters
        for name in ("cost", "best_cost"):
            values = np.asarray(getattr(counters, name), dtype=float)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ProblemError(
                    f"{self.spec.name}: the running cost of chain {bad[0]} became "
                    f"{values[bad[0]]!r}: the problem's delta (or cost) gave a "
                    "non-finite value"
                )
        self._note_cost_magnitude(chains)

    def _note_cost_magnitude(self, chains: CompiledBackend | ReferenceBackend) -> None:
        """Keep the largest running cost seen: a running sum rounds relative to
        the costs it went through, not to the one it is back to (a replica of
        parallel tempering that crossed an edge of 1e16 and came back)."""
        costs = np.abs(np.asarray(chains.counters.cost, dtype=float))
        largest = float(np.max(costs[np.isfinite(costs)], initial=0.0))
        self._cost_magnitude = max(self._cost_magnitude, largest)

    def _check_one_chain(self, chains: CompiledBackend | ReferenceBackend) -> None:
        counters = chains.counters
        chain = self._cost_check_chain % len(counters.cost)
        self._cost_check_chain += 1
        running = float(counters.cost[chain])
        actual = chains.current_cost(chain)
        if self.spec.exact:
            consistent = running == actual
        else:
            # Rounding of a running sum: relative to the size of the costs and of
            # the terms they sum (1e-6 of it allows ~10^9 applied moves).
            magnitude = max(abs(actual), self._cost_magnitude, self.spec.cost_scale)
            consistent = abs(running - actual) <= 1e-6 * (1.0 + magnitude)
        if not consistent:
            raise ProblemError(
                f"{self.spec.name}: the deltas of chain {chain} add up to a cost of "
                f"{running!r}, but its state's cost is {actual!r}: the problem's "
                "delta (or apply) disagrees with its cost"
            )

    def _raise_for_problem_bugs(self) -> None:
        status = self.backend.counters.status
        if np.any(status == STATUS["bad_tabu_attribute"]):
            self.close_progress()
            raise ProblemError(
                f"{self.spec.name}: tabu_attributes gave an attribute outside "
                "[0, n_tabu_keys) or more than MAX_TABU_ATTRIBUTES (4) of them"
            )

    def chunk_size(self, done: int, per_unit: float, remaining: int | None) -> int:
        """Units for the next chunk: ~0.1 s of work, at least 1, at most remaining."""
        size = max(1, done) if per_unit <= 0 else int(_CHUNK_SECONDS / per_unit)
        if self.deadline != math.inf and per_unit > 0:
            left = self.deadline - time.monotonic()
            size = min(size, max(1, int(left / per_unit) + 1))
        size = max(1, size)
        return size if remaining is None else min(size, remaining)

    def between_chunks(self, done: int, total: int | None) -> str | None:
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

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def record(self) -> None:
        history = self.history
        counters = self.backend.counters
        history["n_evaluations"].append(int(counters.n_evaluations.sum()))
        history["best_costs"].append(np.array(counters.best_cost, dtype=float))
        history["temperature"].append(float(self.temperature))
        history["elapsed"].append(self.elapsed())
        if len(history["elapsed"]) > 2 * _MAX_HISTORY:
            for key in history:  # keep every other point, the last one included
                history[key] = history[key][::-1][::2][::-1]

    def progress(self, step: int, total: int | None) -> Progress:
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

    def _update_progress(self, step: int, total: int | None) -> None:
        from .._progress import ProgressBar

        if self.progress_bar is None:
            self.progress_bar = ProgressBar(total, self.method, unit=self.unit)
        counters = self.backend.counters
        fields = {"best": float(self.spec.objective(float(np.min(counters.best_cost))))}
        if not math.isnan(self.temperature):
            fields["T"] = float(self.temperature)
        if counters.n_evaluations.sum():
            fields["accept"] = _rate(counters)
        self.progress_bar.update(step, **fields)

    def close_progress(self) -> None:
        if self.progress_bar is not None:
            self.progress_bar.close()
            self.progress_bar = None

    # -- the Result ----------------------------------------------------------

    def result(self, params: dict[str, Any]) -> Result:
        """The Result of the run; ``params`` are the method's own."""
        assert self.stop_reason is not None  # set by loop()
        self.close_progress()
        backend = self.backend
        counters = backend.counters
        main = getattr(backend, "main", backend)  # parallel tempering's chains
        if isinstance(main, ReferenceBackend):
            costs = main.final_costs(until=self._deadline)
        else:
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


def _rate(counters: ChainCounters) -> float:
    """Accepted / proposed over all chains (NaN before any proposal)."""
    proposed = int(counters.n_evaluations.sum())
    return float(counters.n_accepted.sum() / proposed) if proposed else math.nan
