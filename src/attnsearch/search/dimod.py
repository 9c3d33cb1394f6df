"""D-Wave Ocean samplers: attnsearch's methods behind dimod's ``Sampler`` interface.

``SimulatedAnnealingSampler``, ``TabuSampler`` and ``SteepestDescentSampler``
take any ``dimod.BinaryQuadraticModel`` (SPIN or BINARY, any hashable variable
labels), run the compiled Ising kernels on parallel chains (one chain per
read) and return a ``dimod.SampleSet`` whose energies dimod computes from the
model itself. Keyword arguments follow dwave-samplers' where they mean the
same thing (``num_reads``, ``num_sweeps``, ``beta_range``,
``beta_schedule_type``, ``initial_states``, ``seed``, ...), plus ``num_threads``.

Needs the ``dimod`` extra: ``pip install "attnsearch[dimod]"``.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np

try:
    import dimod
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'attnsearch.search.dimod needs dimod: pip install "attnsearch[dimod]"'
    ) from error

from .methods.annealing import (
    _default_temperatures,
    _sample_deltas,
    simulated_annealing,
)
from .methods.hill_climbing import hill_climb
from .methods.tabu import tabu_search
from .problems.ising import Ising

__all__ = ["SimulatedAnnealingSampler", "TabuSampler", "SteepestDescentSampler"]


def _ns(seconds):
    return int(round(seconds * 1e9))


def _timing(start):
    """dimod's timing info of a call that sampled nothing."""
    return {
        "preprocessing_ns": _ns(time.perf_counter() - start),
        "sampling_ns": 0,
        "postprocessing_ns": 0,
    }


def _check_count(value, name, default, minimum=1):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_seed(seed):
    """dimod's seeds are 32-bit unsigned ints (they seed NumPy's RandomState)."""
    if seed is None:
        return None
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= seed < 2**32
    ):
        raise ValueError(f"seed must be an int in [0, 2**32) or None, got {seed!r}")
    return int(seed)


class _Model:
    """A BQM as our Ising model over spins, with its variable order."""

    def __init__(self, bqm, proposal="sequential"):
        if not isinstance(bqm, dimod.BinaryQuadraticModel):
            raise TypeError(
                f"expected a dimod.BinaryQuadraticModel, got {type(bqm).__name__}"
            )
        self.bqm = bqm
        self.variables = list(bqm.variables)
        self.n = len(self.variables)
        spin = bqm.spin
        h, (rows, cols, values), offset = spin.to_numpy_vectors(
            variable_order=self.variables
        )
        h = np.asarray(h, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if not (np.isfinite(h).all() and np.isfinite(values).all()):
            raise ValueError("the model has NaN or infinite biases")
        if not math.isfinite(float(offset)):
            raise ValueError("the model's offset is not finite")
        self.ising = None
        if self.n:
            self.ising = Ising._from_pairs(
                h,
                np.asarray(rows, dtype=np.int64),
                np.asarray(cols, dtype=np.int64),
                values,
                float(offset),
                proposal,
            )

    def spins_of(self, sampleset):
        """Initial states parsed by dimod, as spins in our variable order."""
        columns = [sampleset.variables.index(v) for v in self.variables]
        states = np.asarray(sampleset.record.sample)[:, columns]
        if sampleset.vartype is dimod.BINARY:
            states = 2 * states.astype(np.int8) - 1
        return np.ascontiguousarray(states, dtype=np.int8)

    def sampleset(self, spins, info, **vectors):
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
        self, model, initial_states, initial_states_generator, num_reads, seed
    ):
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
            initial_states=initial_states,
            initial_states_generator=initial_states_generator,
            num_reads=num_reads,
            seed=seed,
        )
        return model.spins_of(parsed.initial_states), parsed.num_reads

    @staticmethod
    def _sample(model, info, start, run, vectors=None):
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

    def _empty(self, model, num_reads, info):
        return model.sampleset(np.empty((num_reads, 0), dtype=np.int8), info)


class SimulatedAnnealingSampler(_OurSampler):
    """Simulated annealing on parallel chains, one per read (dimod ``Sampler``).

    Like dwave-samplers' sampler of the same name: a sweep visits every
    variable in order (``randomize_order=False``) or ``n`` random variables,
    Metropolis acceptance at inverse temperature ``β``, a schedule from
    ``beta_range[0]`` (hot) to ``beta_range[1]`` (cold). The default range
    comes from random walks on the model (``β_hot`` accepts the median
    uphill move with probability 1/2, ``β_cold`` the smallest one with
    probability 1/100). Each read is the best state its chain visited.

    Examples
    --------
    >>> import dimod
    >>> from attnsearch.search.dimod import SimulatedAnnealingSampler
    >>> bqm = dimod.generators.ran_r(1, 100, seed=0)
    >>> sampleset = SimulatedAnnealingSampler().sample(bqm, num_reads=16, seed=0)
    >>> len(sampleset)
    16
    """

    parameters = {
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
        "num_threads": [],
    }
    properties = {"beta_schedule_options": ("linear", "geometric", "custom")}

    def sample(
        self,
        bqm,
        beta_range=None,
        num_reads=None,
        num_sweeps=None,
        num_sweeps_per_beta=1,
        beta_schedule_type="geometric",
        seed=None,
        interrupt_function=None,
        beta_schedule=None,
        initial_states=None,
        initial_states_generator="random",
        randomize_order=False,
        proposal_acceptance_criteria="Metropolis",
        num_threads=None,
        **kwargs,
    ):
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
        info = {
            "beta_range": reported_range,
            "beta_schedule_type": beta_schedule_type,
        }
        if model.n == 0 or num_reads == 0:
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

            def callback(progress):
                return bool(interrupt_function())

        _, sampleset = self._sample(
            model,
            info,
            start,
            lambda: simulated_annealing(
                model.ising,
                num_sweeps=len(temperatures),
                schedule=temperatures,
                num_chains=num_reads,
                initial_states=initial,
                seed=seed,
                num_threads=num_threads,
                callback=callback,
            ),
        )
        return sampleset

    @staticmethod
    def _betas(model, beta_range, num_sweeps, per_beta, kind, schedule, seed):
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
            if model.n == 0:
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


def _default_beta_range(ising, seed):
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
    t_start, t_end = _default_temperatures(run, _sample_deltas(run))
    return 1.0 / t_start, 1.0 / t_end


class TabuSampler(_OurSampler):
    """Tabu search on parallel chains, one per read (dimod ``Sampler``).

    Each read walks from its initial state to the best non-tabu neighbour
    (single flips) for ``timeout`` milliseconds of that read's time, and
    returns the best state it visited. ``tenure`` defaults to
    ``max(min(n // 4, 10), n // 16, 1)``; ``energy_threshold`` stops every
    chain once one reaches it; ``max_iters`` bounds the steps instead of (or
    as well as) the time.
    """

    parameters = {
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
    properties = {}

    def sample(
        self,
        bqm,
        initial_states=None,
        initial_states_generator="random",
        num_reads=None,
        seed=None,
        tenure=None,
        timeout=20,
        max_iters=None,
        energy_threshold=None,
        num_threads=None,
        **kwargs,
    ):
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
        info = {}
        if model.n == 0 or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        from .._threading import effective_n_threads

        threads = max(1, min(effective_n_threads(num_threads), num_reads))
        time_limit = None
        if timeout is not None:  # ms per read, reads run `threads` at a time
            time_limit = timeout / 1000.0 * math.ceil(num_reads / threads)
        if tenure is not None:
            tenure = _check_count(tenure, "tenure", None, minimum=0)
            if tenure >= model.n:
                raise ValueError(f"tenure must be < the number of variables {model.n}")
        result, sampleset = self._sample(
            model,
            info,
            start,
            lambda: tabu_search(
                model.ising,
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

    parameters = {
        "num_reads": [],
        "initial_states": [],
        "initial_states_generator": [],
        "seed": [],
        "num_threads": [],
    }
    properties = {}

    def sample(
        self,
        bqm,
        num_reads=None,
        initial_states=None,
        initial_states_generator="random",
        seed=None,
        num_threads=None,
        **kwargs,
    ):
        """Sample from ``bqm``: a local minimum per read."""
        start = time.perf_counter()
        self.remove_unknown_kwargs(**kwargs)
        seed = _check_seed(seed)
        model = _Model(bqm)
        initial, num_reads = self._initial(
            model, initial_states, initial_states_generator, num_reads, seed
        )
        info = {}
        if model.n == 0 or num_reads == 0:
            info["timing"] = _timing(start)
            return self._empty(model, num_reads, info)
        _, sampleset = self._sample(
            model,
            info,
            start,
            lambda: hill_climb(
                model.ising,
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
