"""D-Wave Ocean samplers: attnsearch's methods behind dimod's ``Sampler`` interface.

``SimulatedAnnealingSampler``, ``ParallelTemperingSampler``, ``TabuSampler`` and
``SteepestDescentSampler`` take any ``dimod.BinaryQuadraticModel`` (SPIN or
BINARY, any hashable variable labels), run the compiled Ising kernels on
parallel chains (one chain per read) and return a ``dimod.SampleSet`` whose
energies dimod computes from the model itself. Keyword arguments follow
dwave-samplers' where they mean the same thing (``num_reads``, ``num_sweeps``,
``beta_range``, ``beta_schedule_type``, ``initial_states``, ``seed``, ...),
plus ``num_threads``.

Needs the ``dimod`` extra: ``pip install "attnsearch[dimod]"``.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt

try:
    import dimod
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'attnsearch.search.dimod needs dimod: pip install "attnsearch[dimod]"'
    ) from error

from ._typing import Progress
from ._validation import check_bool, check_int
from .methods.annealing import (
    _default_temperatures,
    _sample_deltas,
    simulated_annealing,
)
from .methods.hill_climbing import hill_climb
from .methods.tabu import tabu_search
from .problems.ising import Ising
from .result import Result

if TYPE_CHECKING:
    from dimod.typing import BQMVectors, SamplesLike

#: dimod's ``initial_states_generator`` values.
_Generator: TypeAlias = Literal["none", "tile", "random"]

__all__ = [
    "ParallelTemperingSampler",
    "SimulatedAnnealingSampler",
    "SteepestDescentSampler",
    "TabuSampler",
]


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _timing(start: float) -> dict[str, int]:
    """dimod's timing info of a call that sampled nothing."""
    return {
        "preprocessing_ns": _ns(time.perf_counter() - start),
        "sampling_ns": 0,
        "postprocessing_ns": 0,
    }


def _check_count(value: object, name: str, default: int, minimum: int = 1) -> int:
    if value is None:
        return default
    return check_int(value, name, minimum=minimum)


def _check_seed(seed: object) -> int | None:
    """dimod's seeds are 32-bit unsigned ints (they seed NumPy's RandomState)."""
    if seed is None:
        return None
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= int(seed) < 2**32
    ):
        raise ValueError(f"seed must be an int in [0, 2**32) or None, got {seed!r}")
    return int(seed)


class _Model:
    """A BQM as our Ising model over spins, with its variable order."""

    def __init__(
        self, bqm: dimod.BinaryQuadraticModel, proposal: str = "sequential"
    ) -> None:
        if not isinstance(bqm, dimod.BinaryQuadraticModel):
            raise TypeError(
                f"expected a dimod.BinaryQuadraticModel, got {type(bqm).__name__}"
            )
        self.bqm = bqm
        self.variables = list(bqm.variables)
        self.n = len(self.variables)
        spin = bqm.spin
        vectors = spin.to_numpy_vectors(variable_order=self.variables)
        biases, (rows, cols, couplings), offset = cast("BQMVectors", vectors)
        h = np.asarray(biases, dtype=np.float64)
        values = np.asarray(couplings, dtype=np.float64)
        if not (np.isfinite(h).all() and np.isfinite(values).all()):
            raise ValueError("the model has NaN or infinite biases")
        if not math.isfinite(float(offset)):
            raise ValueError("the model's offset is not finite")
        self.ising: Ising | None = None  # None for a model without variables
        if self.n:
            self.ising = Ising._from_pairs(
                h,
                np.asarray(rows, dtype=np.int64),
                np.asarray(cols, dtype=np.int64),
                values,
                float(offset),
                proposal,
            )

    def spins_of(self, sampleset: dimod.SampleSet) -> npt.NDArray[np.int8]:
        """Initial states parsed by dimod, as spins in our variable order."""
        columns = [sampleset.variables.index(v) for v in self.variables]
        states = np.asarray(sampleset.record.sample)[:, columns]
        if sampleset.vartype is dimod.BINARY:
            states = 2 * states.astype(np.int8) - 1
        return np.ascontiguousarray(states, dtype=np.int8)

    def sampleset(
        self, spins: npt.ArrayLike, info: dict[str, Any], **vectors: Any
    ) -> dimod.SampleSet:
        spins = np.asarray(spins, dtype=np.int8)
        if spins.ndim != 2:
            spins = spins.reshape(-1, self.n)
        samples = (spins + 1) // 2 if self.bqm.vartype is dimod.BINARY else spins
        return dimod.SampleSet.from_samples_bqm(
            (samples, self.variables), self.bqm, info=info, **vectors
        )


class _OurSampler(dimod.Sampler, dimod.Initialized):
    """Shared parsing of reads, seeds and initial states."""

    def _initial(
        self,
        model: _Model,
        initial_states: SamplesLike | dimod.SampleSet | None,
        initial_states_generator: _Generator,
        num_reads: int | None,
        seed: int | None,
    ) -> tuple[npt.NDArray[np.int8] | None, int]:
        """(spins per read or None for our own random starts, num_reads)."""
        if initial_states_generator not in ("none", "tile", "random"):
            raise ValueError(
                "initial_states_generator must be 'none', 'tile' or 'random', got "
                f"{initial_states_generator!r}"
            )
        if initial_states is None and initial_states_generator == "random":
            return None, _check_count(num_reads, "num_reads", 1)
        parsed = self.parse_initial_states(
            model.bqm,
            # dimod takes a SampleSet too, though its annotation leaves it out.
            initial_states=cast("SamplesLike | None", initial_states),
            initial_states_generator=initial_states_generator,
            num_reads=num_reads,
            seed=seed,
        )
        return model.spins_of(parsed.initial_states), parsed.num_reads

    @staticmethod
    def _sample(
        model: _Model,
        info: dict[str, Any],
        start: float,
        run: Callable[[], Result],
        vectors: Callable[[Result], dict[str, np.ndarray]] | None = None,
    ) -> tuple[Result, dimod.SampleSet]:
        """Run ``run()`` (a Result), time it as dimod does, build the SampleSet
        (``vectors(result)``: extra per-read data vectors)."""
        sampling = time.perf_counter()
        result = run()
        post = time.perf_counter()
        info["timing"] = {
            "preprocessing_ns": _ns(sampling - start),
            "sampling_ns": _ns(post - sampling),
        }
        extra = vectors(result) if vectors is not None else {}
        sampleset = model.sampleset(result.states, info, **extra)
        info["timing"]["postprocessing_ns"] = _ns(time.perf_counter() - post)
        return result, sampleset

    def _empty(
        self, model: _Model, num_reads: int, info: dict[str, Any]
    ) -> dimod.SampleSet:
        return model.sampleset(np.empty((num_reads, 0), dtype=np.int8), info)


class SimulatedAnnealingSampler(_OurSampler):
    """Simulated annealing on parallel chains, one per read (dimod ``Sampler``).

    Like dwave-samplers' sampler of the same name: a sweep visits every
    variable in order (``randomize_order=False``) or ``n`` random variables,
    Metropolis acceptance at inverse temperature ``β``, a schedule from
    ``beta_range[0]`` (hot) to ``beta_range[1]`` (cold). The default range
    comes from random walks on the model (``β_hot`` accepts the median
    uphill move with probability 1/2, ``β_cold`` the smallest one about once
    per thousand sweeps, as :func:`attnsearch.search.simulated_annealing`).
    Each read is the best state its chain visited, after a zero-temperature
    descent (``descent=False``: the best state of the anneal itself).

    Examples
    --------
    >>> import dimod
    >>> from attnsearch.search.dimod import SimulatedAnnealingSampler
    >>> bqm = dimod.generators.ran_r(1, 100, seed=0)
    >>> sampleset = SimulatedAnnealingSampler().sample(bqm, num_reads=16, seed=0)
    >>> len(sampleset)
    16
    """

    parameters: dict[str, list[str]] = {
        "beta_range": [],
        "num_reads": [],
        "num_sweeps": [],
        "num_sweeps_per_beta": [],
        "beta_schedule_type": ["beta_schedule_options"],
        "beta_schedule": [],
        "seed": [],
        "interrupt_function": [],
        "initial_states": [],
        "initial_states_generator": [],
        "randomize_order": [],
        "proposal_acceptance_criteria": [],
        "descent": [],
        "num_threads": [],
    }
    properties: dict[str, Any] = {
        "beta_schedule_options": ("linear", "geometric", "custom")
    }

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        beta_range: Sequence[float] | None = None,
        num_reads: int | None = None,
        num_sweeps: int | None = None,
        num_sweeps_per_beta: int = 1,
        beta_schedule_type: Literal["linear", "geometric", "custom"] = "geometric",
        seed: int | None = None,
        interrupt_function: Callable[[], bool] | None = None,
        beta_schedule: npt.ArrayLike | None = None,
        initial_states: SamplesLike | dimod.SampleSet | None = None,
        initial_states_generator: _Generator = "random",
        randomize_order: bool = False,
        proposal_acceptance_criteria: str = "Metropolis",
        descent: bool = True,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        """Sample from ``bqm``; see the class docstring and dwave-samplers'."""
        start = time.perf_counter()
        self.remove_unknown_kwargs(**kwargs)
        seed = _check_seed(seed)
        if proposal_acceptance_criteria != "Metropolis":
            raise ValueError(
                "proposal_acceptance_criteria must be 'Metropolis' (Gibbs is not "
                f"implemented), got {proposal_acceptance_criteria!r}"
            )
        if beta_schedule_type not in self.properties["beta_schedule_options"]:
            raise ValueError(
                "beta_schedule_type must be 'linear', 'geometric' or 'custom', got "
                f"{beta_schedule_type!r}"
            )
        if interrupt_function is not None and not callable(interrupt_function):
            raise TypeError("interrupt_function must be callable")
        per_beta = _check_count(num_sweeps_per_beta, "num_sweeps_per_beta", 1)
        randomize_order = check_bool(randomize_order, "randomize_order")
        descent = check_bool(descent, "descent")
        model = _Model(bqm, "random" if randomize_order else "sequential")
        initial, num_reads = self._initial(
            model, initial_states, initial_states_generator, num_reads, seed
        )
        reported_range, betas = self._betas(
            model,
            beta_range,
            num_sweeps,
            per_beta,
            beta_schedule_type,
            beta_schedule,
            seed,
        )
        info: dict[str, Any] = {
            "beta_range": reported_range,
            "beta_schedule_type": beta_schedule_type,
        }
        ising = model.ising  # None when the model has no variables
        if ising is None or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        if betas.size == 0:  # no sweep: the initial states, as dwave-samplers does
            if initial is None:
                parsed = self.parse_initial_states(
                    model.bqm,
                    initial_states_generator="random",
                    num_reads=num_reads,
                    seed=seed,
                )
                initial = model.spins_of(parsed.initial_states)
            info["timing"] = _timing(start)
            return model.sampleset(initial, info)
        temperatures = np.repeat(1.0 / betas, per_beta)
        callback = None
        if interrupt_function is not None:

            def callback(progress: Progress) -> bool:
                return bool(interrupt_function())

        _, sampleset = self._sample(
            model,
            info,
            start,
            lambda: simulated_annealing(
                ising,
                num_sweeps=len(temperatures),
                schedule=temperatures,
                num_chains=num_reads,
                initial_states=initial,
                seed=seed,
                num_threads=num_threads,
                callback=callback,
                descent=descent,
            ),
        )
        return sampleset

    @staticmethod
    def _betas(
        model: _Model,
        beta_range: Sequence[float] | None,
        num_sweeps: int | None,
        per_beta: int,
        kind: str,
        schedule: npt.ArrayLike | None,
        seed: int | None,
    ) -> tuple[list[float], npt.NDArray[np.float64]]:
        """(the beta range to report, the schedule of betas)."""
        if kind == "custom":
            if schedule is None:
                raise ValueError("beta_schedule_type='custom' needs beta_schedule")
            if beta_range is not None:
                raise ValueError("give beta_schedule or beta_range, not both")
            betas = np.asarray(schedule, dtype=np.float64).ravel()
            if betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(betas < 0):
                raise ValueError("beta_schedule must be non-empty, finite and >= 0")
            if np.any(betas == 0):
                raise ValueError("beta_schedule must be > 0 (beta 0 is T = inf)")
            if num_sweeps is not None and num_sweeps != betas.size * per_beta:
                raise ValueError(
                    "num_sweeps must equal len(beta_schedule) * num_sweeps_per_beta"
                )
            return [float(betas[0]), float(betas[-1])], betas
        if schedule is not None:
            raise ValueError("beta_schedule needs beta_schedule_type='custom'")
        num_sweeps = _check_count(num_sweeps, "num_sweeps", 1000, minimum=0)
        if num_sweeps % per_beta:
            raise ValueError("num_sweeps must be a multiple of num_sweeps_per_beta")
        num_betas = num_sweeps // per_beta
        if beta_range is None:
            if model.ising is None:  # no variables
                hot, cold = 0.1, 1.0
            else:
                hot, cold = _default_beta_range(model.ising, seed)
        else:
            try:
                hot, cold = (float(b) for b in beta_range)
            except (TypeError, ValueError):
                raise ValueError(
                    f"beta_range must be two numbers, got {beta_range!r}"
                ) from None
            if not (math.isfinite(hot) and math.isfinite(cold) and 0 < hot <= cold):
                raise ValueError(
                    f"beta_range must satisfy 0 < hot <= cold (finite), got "
                    f"{beta_range!r}"
                )
        reported = [hot, cold]
        if num_betas == 0:
            return reported, np.empty(0)
        if num_betas == 1:  # one sweep is spent in the target model, as dwave does
            return reported, np.array([cold])
        if kind == "linear":
            return reported, np.linspace(hot, cold, num_betas)
        return reported, np.geomspace(hot, cold, num_betas)


def _default_beta_range(ising: Ising, seed: int | None) -> tuple[float, float]:
    """(β_hot, β_cold) from the calibration walks simulated_annealing uses."""
    from ._run import Run

    run = Run(
        "simulated_annealing",
        ising,
        num_chains=1,
        initial_states=None,
        seed=seed,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="auto",
    )
    t_start, t_end = _default_temperatures(run, _sample_deltas(run), ising.n)
    return 1.0 / t_start, 1.0 / t_end


class ParallelTemperingSampler(_OurSampler):
    """Parallel tempering (replica exchange) on parallel chains, one per read
    (dimod ``Sampler``).

    Each read is one ladder of ``num_replicas`` temperatures whose replicas
    make Metropolis sweeps (variables in order) and exchange states between
    neighbouring temperatures with the exact rule ``min(1, exp((β_i − β_j)
    (E_i − E_j)))``; on lattice-like models (a G-set torus, a square
    lattice) pairs of replicas also make Houdayer cluster moves (see
    :func:`attnsearch.search.parallel_tempering`). A read returns the best
    state its replicas visited, after a final zero-temperature descent.
    ``num_sweeps`` counts rounds: one sweep of every replica. ``beta_range``
    is (hottest, coldest); the default comes from local optima of the model
    (see :func:`attnsearch.search.parallel_tempering`). ``info`` reports the
    final ladders (``temperatures``) and the exchange rates of neighbouring
    rungs (``swap_rates``), one row per read.

    Examples
    --------
    >>> import dimod
    >>> from attnsearch.search.dimod import ParallelTemperingSampler
    >>> bqm = dimod.generators.ran_r(1, 60, seed=0)
    >>> sampleset = ParallelTemperingSampler().sample(bqm, num_reads=2,
    ...                                               num_sweeps=100, seed=0)
    >>> len(sampleset), sampleset.info["swap_rates"].shape[0]
    (2, 2)
    """

    parameters: dict[str, list[str]] = {
        "beta_range": [],
        "num_reads": [],
        "num_sweeps": [],
        "num_replicas": [],
        "seed": [],
        "interrupt_function": [],
        "initial_states": [],
        "initial_states_generator": [],
        "cluster_moves": [],
        "num_threads": [],
    }
    properties: dict[str, Any] = {}

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        beta_range: Sequence[float] | None = None,
        num_reads: int | None = None,
        num_sweeps: int | None = None,
        num_replicas: int | None = None,
        seed: int | None = None,
        interrupt_function: Callable[[], bool] | None = None,
        initial_states: SamplesLike | dimod.SampleSet | None = None,
        initial_states_generator: _Generator = "random",
        cluster_moves: Literal["auto"] | bool = "auto",
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        """Sample from ``bqm``; see the class docstring."""
        from .methods.tempering import parallel_tempering

        start = time.perf_counter()
        self.remove_unknown_kwargs(**kwargs)
        seed = _check_seed(seed)
        if interrupt_function is not None and not callable(interrupt_function):
            raise TypeError("interrupt_function must be callable")
        num_sweeps = _check_count(num_sweeps, "num_sweeps", 1000)
        t_min = t_max = None
        if beta_range is not None:
            try:
                hot, cold = (float(b) for b in beta_range)
            except (TypeError, ValueError):
                raise ValueError(
                    f"beta_range must be two numbers, got {beta_range!r}"
                ) from None
            if not (math.isfinite(hot) and math.isfinite(cold) and 0 < hot <= cold):
                raise ValueError(
                    f"beta_range must satisfy 0 < hot <= cold (finite), got "
                    f"{beta_range!r}"
                )
            t_min, t_max = 1.0 / cold, 1.0 / hot
        model = _Model(bqm)
        initial, num_reads = self._initial(
            model, initial_states, initial_states_generator, num_reads, seed
        )
        info: dict[str, Any] = {}
        ising = model.ising  # None when the model has no variables
        if ising is None or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        callback = None
        if interrupt_function is not None:
            interrupt = interrupt_function

            def callback(progress: Progress) -> bool:
                return bool(interrupt())

        result, sampleset = self._sample(
            model,
            info,
            start,
            lambda: parallel_tempering(
                ising,
                num_sweeps=num_sweeps,
                num_replicas=num_replicas,
                t_min=t_min,
                t_max=t_max,
                num_chains=num_reads,
                initial_states=initial,
                seed=seed,
                num_threads=num_threads,
                callback=callback,
                cluster_moves=cluster_moves,
            ),
        )
        params = result.params
        sampleset.info["beta_range"] = [1.0 / params["t_max"], 1.0 / params["t_min"]]
        sampleset.info["temperatures"] = params["ladders"]
        sampleset.info["swap_rates"] = params["swap_rates"]
        sampleset.info["cluster_moves"] = params["cluster_moves"]
        return sampleset


class TabuSampler(_OurSampler):
    """Tabu search on parallel chains, one per read (dimod ``Sampler``).

    Each read walks from its initial state to the best non-tabu neighbour
    (single flips) for ``timeout`` milliseconds of that read's time, and
    returns the best state it visited. ``tenure`` defaults to
    :func:`attnsearch.search.methods.tabu.default_tenure` (dwave-samplers'
    ``min(20, n // 4)`` for spin glasses up to n = 1000, longer on larger or
    one-signed models); the walk is cut into episodes ended by random
    perturbations as in :func:`attnsearch.search.tabu_search`'s defaults;
    ``energy_threshold`` stops every chain once one reaches it; ``max_iters``
    bounds the steps instead of (or as well as) the time.
    """

    parameters: dict[str, list[str]] = {
        "initial_states": [],
        "initial_states_generator": [],
        "num_reads": [],
        "seed": [],
        "tenure": [],
        "timeout": [],
        "max_iters": [],
        "energy_threshold": [],
        "num_threads": [],
    }
    properties: dict[str, Any] = {}

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        initial_states: SamplesLike | dimod.SampleSet | None = None,
        initial_states_generator: _Generator = "random",
        num_reads: int | None = None,
        seed: int | None = None,
        tenure: int | None = None,
        timeout: float | None = 20,
        max_iters: int | None = None,
        energy_threshold: float | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        """Sample from ``bqm``; ``timeout`` is in milliseconds per read."""
        start = time.perf_counter()
        self.remove_unknown_kwargs(**kwargs)
        seed = _check_seed(seed)
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, numbers.Real)
            or not timeout > 0
        ):
            raise ValueError(
                f"timeout must be a positive number of ms, got {timeout!r}"
            )
        if timeout is None and max_iters is None:
            raise ValueError("give timeout or max_iters")
        model = _Model(bqm)
        initial, num_reads = self._initial(
            model, initial_states, initial_states_generator, num_reads, seed
        )
        info: dict[str, Any] = {}
        ising = model.ising  # None when the model has no variables
        if ising is None or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        from .._threading import effective_n_threads

        threads = max(1, min(effective_n_threads(num_threads), num_reads))
        time_limit = None
        if timeout is not None:  # ms per read, reads run `threads` at a time
            time_limit = timeout / 1000.0 * math.ceil(num_reads / threads)
        if tenure is not None:
            tenure = _check_count(tenure, "tenure", 0, minimum=0)  # not None here
            if tenure >= model.n:
                raise ValueError(f"tenure must be < the number of variables {model.n}")
        result, sampleset = self._sample(
            model,
            info,
            start,
            lambda: tabu_search(
                ising,
                tenure=tenure,
                max_iters=max_iters,
                num_chains=num_reads,
                initial_states=initial,
                target=energy_threshold,
                time_limit=time_limit,
                seed=seed,
                num_threads=num_threads,
            ),
            lambda result: {"num_steps": np.asarray(result.params["steps"])},
        )
        sampleset.info["stop_reason"] = result.stop_reason
        return sampleset


class SteepestDescentSampler(_OurSampler):
    """Steepest descent (best single flip until none improves), one chain per
    read, from random or given states (dimod ``Sampler``): every read is a
    local minimum. ``num_steps`` in the sample set counts the flips."""

    parameters: dict[str, list[str]] = {
        "num_reads": [],
        "initial_states": [],
        "initial_states_generator": [],
        "seed": [],
        "num_threads": [],
    }
    properties: dict[str, Any] = {}

    def sample(
        self,
        bqm: dimod.BinaryQuadraticModel,
        num_reads: int | None = None,
        initial_states: SamplesLike | dimod.SampleSet | None = None,
        initial_states_generator: _Generator = "random",
        seed: int | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> dimod.SampleSet:
        """Sample from ``bqm``: a local minimum per read."""
        start = time.perf_counter()
        self.remove_unknown_kwargs(**kwargs)
        seed = _check_seed(seed)
        model = _Model(bqm)
        initial, num_reads = self._initial(
            model, initial_states, initial_states_generator, num_reads, seed
        )
        info: dict[str, Any] = {}
        ising = model.ising  # None when the model has no variables
        if ising is None or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        _, sampleset = self._sample(
            model,
            info,
            start,
            lambda: hill_climb(
                ising,
                strategy="best",
                num_chains=num_reads,
                initial_states=initial,
                seed=seed,
                num_threads=num_threads,
            ),
            lambda result: {
                "num_steps": np.asarray(result.params["steps"], dtype=np.uint32)
            },
        )
        return sampleset
