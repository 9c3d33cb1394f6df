"""Helpers shared by the search test modules (pytest puts this folder on
sys.path, as it does the folder of tests/_problems.py)."""

import itertools
import math

import numpy as np

from attnsearch._dispatch import kernels
from attnsearch.search import (
    ChainRNG,
    Ising,
    hill_climb,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search._run import Run
from attnsearch.search._seeding import chain_rng_states
from attnsearch.search.problems.tsp._core import TSPCore
from attnsearch.search.problems.tsp._reference import tsplib_distances

#: The methods that run one state per chain on any problem with moves.
LOCAL_SEARCH_METHODS = [
    simulated_annealing,
    hill_climb,
    stochastic_hill_climb,
    tabu_search,
]


def sparse_ising(rng, n=40, degree=3):
    """A random Ising model: each spin coupled to ``degree`` random others with
    weights +-1 (fewer where a draw repeats), fields in {-1, 0, 1}."""
    edges = {}
    for i in range(n):
        for j in rng.choice(n, degree, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    return Ising(rng.integers(-1, 2, n).astype(float), edges)


def tiny_spin_glass(seed, n=12):
    """A dense Gaussian spin glass small enough for brute force."""
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(size=(n, n)), 1)
    return Ising(rng.normal(size=n), J + J.T)


def ground_energy(ising):
    """The lowest energy of ``ising``, by brute force over every spin vector."""
    best = math.inf
    for bits in itertools.product([-1, 1], repeat=ising.n):
        best = min(best, ising.energy(np.array(bits)))
    return best


def assert_same_run(a, b):
    """Identical trajectories: same final states, costs, counters and best costs."""
    assert np.array_equal(np.asarray(a.states), np.asarray(b.states))
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations
    assert a.acceptance_counts == b.acceptance_counts
    assert a.acceptance_rate == b.acceptance_rate
    np.testing.assert_array_equal(
        a.history["best_costs"][-1], b.history["best_costs"][-1]
    )


def assert_exact_deltas(problem, rng, samples=3000):
    """delta == cost(after) - cost(before) along a random walk, in the kernel."""
    spec = problem._search_spec()
    state = spec.ops.export(spec.ops.initial(_rng_of(rng)))
    worst, checked, state, aux, rebuilt = kernels("search").check_deltas(
        spec.core, state, samples, chain_rng_states(1, 1)[0]
    )
    assert checked > samples // 2 or spec.core.state_size < 4
    assert worst <= 1e-9 * (1 + spec.core.state_size)
    if isinstance(spec.core, TSPCore):
        # The position index kept by apply equals one rebuilt from the tour (the
        # rest of the TSP workspace is the descent's queue and the undo log).
        positions = spec.core.aux_positions(aux)
        np.testing.assert_array_equal(positions, spec.core.aux_positions(rebuilt))
        np.testing.assert_array_equal(positions[state], np.arange(len(state)))
    elif spec.core.aux_nbytes:
        # The cached workspace (Ising local fields) equals one rebuilt from scratch.
        np.testing.assert_allclose(
            aux.view(np.float64), rebuilt.view(np.float64), rtol=1e-12, atol=1e-9
        )
    return worst


def _rng_of(rng):
    return ChainRNG(rng.integers(1, 2**63, size=4, dtype=np.uint64))


def coords_for(metric, rng, n):
    if metric == "GEO":
        return rng.uniform(-60, 60, size=(n, 2))
    return rng.uniform(0, 1000, size=(n, 2))


def brute_distances(tsp, coords):
    n = tsp.n
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    if tsp.metric == "MATRIX":
        return tsp.distances
    return tsplib_distances(coords, i, j, tsp.metric)


def run_of(problem, method="iterated_local_search", **kwargs):
    options = dict(
        num_chains=2,
        initial_states=None,
        seed=3,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="cython",
    )
    options.update(kwargs)
    return Run(method, problem, **options)
