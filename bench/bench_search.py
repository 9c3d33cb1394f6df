"""pytest-benchmark cases for the search engine (not part of `pytest tests/`).

    pytest bench/bench_search.py --benchmark-only

Kernel cases are parametrised over size and num_threads; the `reference` cases
run the Python reference on a small instance for the same method.
"""

import numpy as np
import pytest

from attnsearch.search import (
    TSP,
    Ising,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    simulated_annealing,
)


def _ising(n, seed=0):
    rng = np.random.default_rng(seed)
    edges = {}
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    return Ising(np.zeros(n), edges)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("n", [1000, 10000])
def test_anneal_ising(benchmark, n, num_threads):
    ising = _ising(n)
    benchmark.extra_info["flips"] = 16 * 200 * n
    benchmark(
        simulated_annealing,
        ising,
        num_sweeps=200,
        num_chains=16,
        seed=0,
        num_threads=num_threads,
        t_start=3.0,
        t_end=0.3,
    )


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("n", [100, 1000])
def test_anneal_tsp(benchmark, n, num_threads):
    tsp = TSP(np.random.default_rng(0).uniform(0, 1000, size=(n, 2)), metric="EUC_2D")
    benchmark(
        simulated_annealing,
        tsp,
        num_sweeps=200,
        num_chains=4,
        seed=0,
        num_threads=num_threads,
        t_start=50.0,
        t_end=0.5,
    )


@pytest.mark.parametrize("strategy", ["first", "best"])
def test_hill_climb_tsp(benchmark, strategy):
    tsp = TSP(np.random.default_rng(0).uniform(0, 1000, size=(150, 2)), metric="EUC_2D")
    benchmark(hill_climb, tsp, strategy=strategy, num_chains=4, seed=0)


@pytest.mark.parametrize("backend", ["cython", "python"])
def test_anneal_kernel_vs_reference(benchmark, backend):
    ising = _ising(200)
    benchmark(
        simulated_annealing,
        ising,
        num_sweeps=20,
        num_chains=2,
        seed=0,
        backend=backend,
        t_start=3.0,
        t_end=0.3,
    )


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("num_chains", [1, 4])
@pytest.mark.parametrize("clusters", [False, True])
def test_parallel_tempering_torus(benchmark, num_chains, num_threads, clusters):
    """One chain: replicas swept in parallel (synchronous rounds); four: one
    chain per thread."""
    rng = np.random.default_rng(0)
    side = 64
    edges = {}
    for r in range(side):
        for c in range(side):
            i = r * side + c
            for j in (r * side + (c + 1) % side, ((r + 1) % side) * side + c):
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    ising = Ising(np.zeros(side * side), edges)
    benchmark(
        parallel_tempering,
        ising,
        num_sweeps=20,
        num_replicas=8,
        num_chains=num_chains,
        seed=0,
        num_threads=num_threads,
        t_min=0.4,
        t_max=1.2,
        cluster_moves=clusters,
    )


def _uniform_tsp(n):
    # Nearest candidate lists, greedy start (built once, outside the timing).
    tsp = TSP(np.random.default_rng(0).uniform(size=(n, 2)), candidates="nearest")
    tsp._search_spec()
    return tsp


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_tsp_descent_from_greedy(benchmark, n):
    tsp = _uniform_tsp(n)
    benchmark(hill_climb, tsp, num_chains=1, num_threads=1, seed=0)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("n", [1000, 100_000])
def test_tsp_iterated_local_search(benchmark, n, num_threads):
    tsp = _uniform_tsp(n)
    benchmark.extra_info["iterations"] = 4 * 5000
    benchmark(
        iterated_local_search,
        tsp,
        max_iters=5000,
        num_chains=4,
        seed=0,
        num_threads=num_threads,
    )
