"""Shared machinery of the method functions: chains, backends, the chunked run loop.

A run owns ``num_chains`` independent chains. The compiled backend keeps them
in NumPy arrays (``ChainArrays``) that the nogil kernels update in place; the
Python backend keeps Python states (``_reference.ChainsReference``). Both
expose the same calls, so a method is driven identically on either.

The loop runs the work in chunks (sweeps or steps) sized to take ~0.1 s, and
between chunks handles the time limit, the target, the user's callback and
Ctrl-C, and records the bounded history. Chunking never changes the
arithmetic: without a time limit or target, results are bitwise identical
for any chunking and any thread count.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import time

import numpy as np

from .._threading import effective_n_threads
from . import _engine, _reference
from ._rng import ChainRNG, _seed_sequence, calibration_rng_state, chain_rng_states
from .problems import _search_spec
from .result import Result

_STATUS = _engine.STATUS
_CHUNK_SECONDS = 0.1
_MAX_HISTORY = 1000
_BACKENDS = ("auto", "cython", "python")


class ChainArrays:
    """Per-chain arrays of the compiled backend (row c = chain c)."""

    def __init__(self, n_chains, state_size, state_dtype, aux_nbytes, rng_states):
        self.states = np.zeros((n_chains, state_size), dtype=state_dtype)
        self.best_states = np.zeros_like(self.states)
        self.aux = np.zeros((n_chains, aux_nbytes), dtype=np.uint8)
        self.rng = np.ascontiguousarray(rng_states, dtype=np.uint64).copy()
        self.cost = np.zeros(n_chains)
        self.best_cost = np.zeros(n_chains)
        self.n_evaluations = np.zeros(n_chains, dtype=np.int64)
        self.n_accepted = np.zeros(n_chains, dtype=np.int64)
        self.progress = np.zeros(n_chains, dtype=np.int64)
        self.status = np.zeros(n_chains, dtype=np.int32)

    def copy(self):
        clone = ChainArrays.__new__(ChainArrays)
        for name, value in vars(self).items():
            setattr(clone, name, value.copy())
        return clone


class CompiledBackend:
    """Chains in NumPy arrays, methods in _engine (nogil, OpenMP over chains)."""

    name = "cython"

    def __init__(
        self, spec, rng_states, initial, random_start, n_threads, use_vtable=False
    ):
        core = spec.core
        self.spec = spec
        self.core = core
        self.n_threads = n_threads
        self.use_vtable = use_vtable
        self.arrays = ChainArrays(
            len(rng_states),
            core.state_size,
            core.state_dtype,
            core.aux_nbytes,
            rng_states,
        )
        if initial is not None:
            self.arrays.states[:] = initial
        _engine.init_chains(core, self.arrays, random_start, n_threads, use_vtable)
        bad = np.flatnonzero(self.arrays.status == _STATUS["bad_initial_state"])
        if bad.size:
            raise ValueError(f"initial state of chain {bad[0]} is not a valid state")

    # counters shared with the Python backend
    def __getattr__(self, name):
        if name in (
            "cost",
            "best_cost",
            "n_evaluations",
            "n_accepted",
            "progress",
            "status",
        ):
            return getattr(self.arrays, name)
        raise AttributeError(name)

    def anneal(self, temperatures, sweep_len, target, deadline):
        _engine.anneal(
            self.core,
            self.arrays,
            temperatures,
            sweep_len,
            target,
            deadline,
            self.n_threads,
            self.use_vtable,
        )

    def climb(self, max_steps, best_improvement, tolerance, target, deadline):
        _engine.climb(
            self.core,
            self.arrays,
            max_steps,
            best_improvement,
            tolerance,
            target,
            deadline,
            self.n_threads,
            self.use_vtable,
        )

    def stochastic_climb(self, max_steps, temperature, sample_size, target, deadline):
        _engine.stochastic_climb(
            self.core,
            self.arrays,
            max_steps,
            temperature,
            sample_size,
            target,
            deadline,
            self.n_threads,
            self.use_vtable,
        )

    def tabu(
        self, max_steps, tenure, aspiration, candidate_size, tolerance, target, deadline
    ):
        if getattr(self, "tabu_until", None) is None:
            self.tabu_until = np.zeros(
                (len(self.arrays.cost), max(1, self.core.n_tabu_keys)), dtype=np.int64
            )
        _engine.tabu(
            self.core,
            self.arrays,
            self.tabu_until,
            max_steps,
            tenure,
            aspiration,
            candidate_size,
            tolerance,
            target,
            deadline,
            self.n_threads,
            self.use_vtable,
        )

    def has_neighbourhood(self):
        return self.core.has_neighbourhood

    def sample_deltas(self, n_samples):
        clone = self.arrays.copy()
        return _engine.sample_deltas(
            self.core, clone, n_samples, self.n_threads, self.use_vtable
        )

    def clone(self):
        """An independent copy of the chains (for throwaway measurement runs)."""
        clone = CompiledBackend.__new__(CompiledBackend)
        clone.spec, clone.core = self.spec, self.core
        clone.n_threads, clone.use_vtable = self.n_threads, self.use_vtable
        clone.arrays = self.arrays.copy()
        return clone

    def restart_from_best(self):
        """Every chain continues from its best state (annealing reheats)."""
        arrays = self.arrays
        arrays.states[:] = arrays.best_states
        _engine.init_chains(
            self.core,
            arrays,
            np.zeros(len(arrays.cost), bool),
            self.n_threads,
            self.use_vtable,
        )
        arrays.status[:] = _STATUS["running"]

    def final_costs(self):
        """Best cost of each chain recomputed from scratch (no incremental drift)."""
        return _engine.costs_of(self.core, self.arrays.best_states)

    def best_states(self):
        return [self.arrays.best_states[c].copy() for c in range(len(self.arrays.cost))]


class PythonBackend:
    """Chains as Python states, methods in _reference (the step-by-step mirror)."""

    name = "python"

    def __init__(self, spec, rng_states, initial, random_start, n_threads=1):
        self.spec = spec
        self.chains = _reference.ChainsReference(
            spec.ops, [ChainRNG(s) for s in rng_states]
        )
        _reference.init_chains(self.chains, initial, random_start)

    def __getattr__(self, name):
        if name in (
            "cost",
            "best_cost",
            "n_evaluations",
            "n_accepted",
            "progress",
            "status",
        ):
            return getattr(self.chains, name)
        raise AttributeError(name)

    def anneal(self, temperatures, sweep_len, target, deadline):
        _reference.anneal(self.chains, temperatures, sweep_len, target, deadline)

    def climb(self, max_steps, best_improvement, tolerance, target, deadline):
        _reference.climb(
            self.chains, max_steps, best_improvement, tolerance, target, deadline
        )

    def stochastic_climb(self, max_steps, temperature, sample_size, target, deadline):
        _reference.stochastic_climb(
            self.chains, max_steps, temperature, sample_size, target, deadline
        )

    def tabu(
        self, max_steps, tenure, aspiration, candidate_size, tolerance, target, deadline
    ):
        if getattr(self, "tabu_until", None) is None:
            self.tabu_until = [{} for _ in self.chains.rngs]
        _reference.tabu(
            self.chains,
            self.tabu_until,
            max_steps,
            tenure,
            aspiration,
            candidate_size,
            tolerance,
            target,
            deadline,
        )

    def has_neighbourhood(self):
        ops = self.spec.ops
        if isinstance(ops, _reference.UserProblemOps):  # a user Problem: moves()?
            return type(ops.problem).moves is not _problem_base_moves()
        return hasattr(ops, "n_moves")

    def sample_deltas(self, n_samples):
        return _reference.sample_deltas(_reference.copy_chains(self.chains), n_samples)

    def clone(self):
        clone = PythonBackend.__new__(PythonBackend)
        clone.spec = self.spec
        clone.chains = _reference.copy_chains(self.chains)
        return clone

    def restart_from_best(self):
        chains = self.chains
        ops = chains.ops
        for c in range(len(chains.rngs)):
            chains.states[c] = ops.copy(chains.best_states[c])
            chains.cost[c] = chains.best_cost[c]
        chains.status[:] = _STATUS["running"]

    def final_costs(self):
        ops = self.chains.ops
        return np.array([ops.cost(s) for s in self.chains.best_states])

    def best_states(self):
        ops = self.chains.ops
        return [ops.export(s) for s in self.chains.best_states]


def _problem_base_moves():
    from .problems import Problem

    return Problem.moves


def require_neighbourhood(run):
    """TypeError unless the problem's neighbourhood can be enumerated."""
    if not run.backend.has_neighbourhood():
        raise TypeError(
            f"{run.spec.name} has no enumerable neighbourhood (moves); "
            "this method needs one"
        )


def run_steps(run, step, max_iters, params, acceptance=True):
    """The chunked loop of step-based methods (hill climbing and its variants):
    ``step(size)`` runs up to ``size`` steps on every running chain."""
    budget = max_iters if max_iters is not None else np.iinfo(np.int64).max
    done = 0
    per_step = 0.0
    run.record()
    try:
        while True:
            remaining = budget - done
            if remaining <= 0:
                run.stop_reason = "max_iters"
                break
            size = run.chunk_size(done, per_step, remaining)
            start = time.perf_counter()
            with run.guard():
                step(size)
            per_step = (time.perf_counter() - start) / size
            done += size
            reason = run.between_chunks(int(np.max(run.backend.progress)), max_iters)
            if reason:
                run.stop_reason = reason
                break
            if np.all(run.backend.status != _STATUS["running"]):
                run.stop_reason = "converged"
                break
    except KeyboardInterrupt:
        run.stop_reason = "interrupted"
    params = dict(params, steps=run.backend.progress.copy())
    return run.result(params, acceptance=acceptance)


def check_positive_int(value, name, allow_none=False, minimum=1):
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_optional_float(value, name, positive=False):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number or None, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (positive and not value > 0):
        raise ValueError(
            f"{name} must be {'positive' if positive else 'a number'}, got {value}"
        )
    return value


_CALIBRATION_CHAINS = 4
_CALIBRATION_KEY = 2**63 - 1  # spawn key of the calibration streams (never a chain's)


def calibration_states(seed):
    """xoshiro states of the calibration streams: children of ``seed``'s spawn
    key ``2**63 - 1``, which no chain ever uses."""
    root = _seed_sequence(seed)
    calibration = np.random.SeedSequence(
        root.entropy,
        spawn_key=root.spawn_key + (_CALIBRATION_KEY,),
        pool_size=root.pool_size,
    )
    return chain_rng_states(calibration, _CALIBRATION_CHAINS)


class ChainBlock:
    """Seed of chains ``first_chain .. first_chain + num_chains - 1`` of a run
    seeded with ``root``: a block of chains run as one task elsewhere (see
    attnsearch.distributed) draws exactly the streams, calibration included,
    that those chains draw in the whole run."""

    __slots__ = ("root", "first_chain")

    def __init__(self, root, first_chain):
        if not isinstance(root, np.random.SeedSequence):
            raise TypeError("ChainBlock needs a numpy.random.SeedSequence root")
        self.root = root
        self.first_chain = check_positive_int(first_chain, "first_chain", minimum=0)

    def __repr__(self):
        return f"ChainBlock(first_chain={self.first_chain}, root={self.root!r})"


class Run:
    """One call of a method: problem spec, backend, timing, history, Result."""

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
    ):
        self.start = time.perf_counter()
        self.show_progress = bool(progress)
        self.progress_bar = None
        self.method = method
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self.spec = spec = _search_spec(problem)
        self.problem = problem
        self.num_chains = check_positive_int(num_chains, "num_chains")
        self.time_limit = check_optional_float(time_limit, "time_limit", positive=True)
        self.deadline = (
            time.monotonic() + self.time_limit
            if self.time_limit is not None
            else math.inf
        )
        self.target = check_optional_float(target, "target")
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        self.callback = callback
        self.n_threads = effective_n_threads(num_threads)
        first_chain = 0
        if isinstance(seed, ChainBlock):  # one task of attnsearch.distributed
            seed, first_chain = seed.root, seed.first_chain
        self.seed = seed
        rng_states = chain_rng_states(seed, self.num_chains, first_chain)
        self.calibration_rng = ChainRNG(calibration_rng_state(seed))
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
        self.stop_reason = None
        if make_backend is not None:  # a method with chains of its own (swarms)
            self.backend = make_backend(self, rng_states)
            return
        initial, random_start = self._initial_states(initial_states)
        if backend == "cython" and spec.core is None:
            raise ValueError(
                f"{spec.name} is written in Python: use backend='auto' or 'python'"
            )
        if spec.core is not None and backend != "python":
            self.backend = CompiledBackend(
                spec, rng_states, initial, random_start, self.n_threads, use_vtable
            )
        else:
            if spec.ops is None:
                raise ValueError(f"{spec.name} has no Python implementation")
            self.backend = PythonBackend(spec, rng_states, initial, random_start)

    def _initial_states(self, initial_states):
        n = self.num_chains
        if initial_states is None:
            return None, np.ones(n, dtype=bool)
        spec = self.spec
        if spec.core is None:  # Python problem: a state or a list of states
            states = list(initial_states) if isinstance(initial_states, list) else None
            if states is None or len(states) != n:
                states = [initial_states] * n
            return states, np.zeros(n, dtype=bool)
        array = np.asarray(spec.to_internal(initial_states))
        if np.ndim(initial_states) == 1:  # one state for every chain
            array = np.broadcast_to(array.reshape(-1), (n, array.size))
        if array.shape != (n, spec.size):
            raise ValueError(
                f"initial_states must have shape ({spec.size},) or ({n}, {spec.size}), "
                f"got {np.shape(initial_states)}"
            )
        return np.ascontiguousarray(array), np.zeros(n, dtype=bool)

    @property
    def exact(self):
        return self.spec.exact

    @contextlib.contextmanager
    def guard(self):
        """Re-raise a user problem's error with the best state found so far (and
        close the progress bar on any error)."""
        try:
            yield
        except _reference.ProblemError as error:
            self.close_progress()
            backend = self.backend
            costs = np.asarray(backend.best_cost, dtype=float)
            if costs.size and np.isfinite(costs).any():
                best = int(np.nanargmin(costs))
                error.best_cost = float(self.spec.objective(costs[best]))
                error.best_state = self.spec.from_internal(backend.best_states()[best])
            raise
        except Exception:
            self.close_progress()
            raise

    def calibration_backend(self):
        """A backend of a few chains from random states on the calibration streams,
        for measurements (temperatures, tolerances) that must depend on the seed
        only, never on num_chains or on which block of chains a worker runs."""
        rng_states = calibration_states(self.seed)
        random_start = np.ones(len(rng_states), dtype=bool)
        if isinstance(self.backend, CompiledBackend):
            return CompiledBackend(
                self.spec,
                rng_states,
                None,
                random_start,
                self.n_threads,
                self.backend.use_vtable,
            )
        return PythonBackend(self.spec, rng_states, None, random_start)

    def improvement_tolerance(self):
        """Deltas must be below -tolerance to count as improvements: rounding
        noise relative to the size of the costs (those of random states)."""
        if self.exact:
            return 0.0
        costs = np.abs(np.asarray(self.calibration_backend().cost, dtype=float))
        scale = float(np.max(costs[np.isfinite(costs)], initial=0.0))
        return 1e-12 * (1.0 + scale)

    def elapsed(self):
        return time.perf_counter() - self.start

    def record(self, temperature=math.nan):
        history = self.history
        history["n_evaluations"].append(int(self.backend.n_evaluations.sum()))
        history["best_costs"].append(np.array(self.backend.best_cost, dtype=float))
        history["temperature"].append(float(temperature))
        history["elapsed"].append(self.elapsed())
        if len(history["elapsed"]) > 2 * _MAX_HISTORY:
            for key in history:  # keep every other point, the last one included
                history[key] = history[key][::-1][::2][::-1]

    def progress(self, step, total, temperature=math.nan):
        b = self.backend
        evaluations = int(b.n_evaluations.sum())
        # Recomputed, not the running sums of deltas: the state and its cost
        # must agree exactly for the caller.
        best_costs = np.asarray(b.final_costs(), dtype=float)
        best_chain = int(np.argmin(best_costs))
        return {
            "best_state": self.spec.from_internal(b.best_states()[best_chain]),
            "method": self.method,
            "step": int(step),
            "total_steps": None if total is None else int(total),
            "n_evaluations": evaluations,
            "best_cost": float(best_costs[best_chain]),
            "best_costs": best_costs,
            "temperature": float(temperature),
            "acceptance_rate": float(b.n_accepted.sum() / evaluations)
            if evaluations
            else float("nan"),
            "elapsed": self.elapsed(),
        }

    def between_chunks(self, step, total, temperature=math.nan):
        """Bookkeeping after a chunk; returns a stop reason or None."""
        self.record(temperature)
        if self.show_progress:
            self._update_progress(step, total, temperature)
        status = self.backend.status
        if np.any(status == _STATUS["target"]) or (
            np.min(self.backend.best_cost) <= self.internal_target
        ):
            return "target"
        if np.any(status == _STATUS["time_limit"]) or time.monotonic() > self.deadline:
            return "time_limit"
        if self.callback is not None:
            if self.callback(self.progress(step, total, temperature)):
                return "callback"
        return None

    def _update_progress(self, step, total, temperature):
        from .._progress import ProgressBar

        if self.progress_bar is None:
            unit = "sweeps" if self.method == "simulated_annealing" else "steps"
            self.progress_bar = ProgressBar(total, self.method, unit=unit)
        backend = self.backend
        evaluations = int(backend.n_evaluations.sum())
        fields = {"best": float(self.spec.objective(np.min(backend.best_cost)))}
        if not math.isnan(temperature):
            fields["T"] = float(temperature)
        if evaluations and self.method in (
            "simulated_annealing",
            "stochastic_hill_climb",
        ):
            fields["accept"] = float(backend.n_accepted.sum() / evaluations)
        self.progress_bar.update(step, **fields)

    def close_progress(self):
        if self.progress_bar is not None:
            self.progress_bar.close()
            self.progress_bar = None

    def chunk_size(self, done, elapsed_per_unit, remaining):
        """Units for the next chunk: ~0.1 s of work, at least 1, at most remaining."""
        if elapsed_per_unit <= 0:
            size = max(1, done)
        else:
            size = int(_CHUNK_SECONDS / elapsed_per_unit)
        if self.deadline != math.inf:
            left = self.deadline - time.monotonic()
            if elapsed_per_unit > 0:
                size = min(size, max(1, int(left / elapsed_per_unit) + 1))
        return max(1, min(size, remaining))

    def result(self, params, acceptance=True):
        self.close_progress()
        backend = self.backend
        costs = np.asarray(backend.final_costs(), dtype=float)
        states_internal = backend.best_states()
        states = [self.spec.from_internal(s) for s in states_internal]
        best = int(np.argmin(costs))
        best_cost = float(costs[best])
        evaluations = int(backend.n_evaluations.sum())
        accepted = int(backend.n_accepted.sum())
        if self.spec.core is not None:
            states_out = np.asarray(states)
        else:
            states_out = states
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
        return Result(
            best_state=states[best],
            best_cost=best_cost,
            objective=float(self.spec.objective(best_cost)),
            states=states_out,
            costs=costs,
            history=history,
            acceptance_rate=(accepted / evaluations if evaluations else float("nan"))
            if acceptance
            else 1.0,
            n_evaluations=evaluations,
            elapsed=self.elapsed(),
            stop_reason=self.stop_reason,
            method=self.method,
            params=params,
            acceptance_counts=(accepted, evaluations) if acceptance else (0, 0),
        )
