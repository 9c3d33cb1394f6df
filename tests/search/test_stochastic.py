"""Stochastic hill climbing (``methods/stochastic.py``): kernel against the Python
reference, the zero-temperature limit, the softmax over gains, its arguments."""

import math

import numpy as np
import pytest
from _helpers import assert_same_run, sparse_ising

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    Ising,
    hill_climb,
    stochastic_hill_climb,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


@pytest.mark.parametrize("sample_size", [None, 25])
@pytest.mark.parametrize("temperature", [0.0, 0.7, 3.0])
def test_stochastic_hill_climb_kernel_equals_reference(rng, sample_size, temperature):
    ising = sparse_ising(rng, n=30)
    kwargs = dict(
        num_chains=3,
        seed=5,
        max_iters=150,
        sample_size=sample_size,
        temperature=temperature,
    )
    a = stochastic_hill_climb(ising, backend="cython", **kwargs)
    b = stochastic_hill_climb(ising, backend="reference", **kwargs)
    assert_same_run(a, b)
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp", moves=("2opt", "oropt"))
    kwargs = dict(num_chains=2, seed=1, max_iters=40, temperature=temperature)
    assert_same_run(
        stochastic_hill_climb(tsp, backend="cython", **kwargs),
        stochastic_hill_climb(tsp, backend="reference", **kwargs),
    )


def test_stochastic_hill_climb_zero_temperature_is_hill_climbing(rng):
    ising = sparse_ising(rng, n=40)
    greedy = stochastic_hill_climb(
        ising, temperature=0.0, num_chains=3, seed=1, max_iters=10_000
    )
    climbed = hill_climb(ising, num_chains=3, seed=1)
    assert greedy.stop_reason == "converged"
    assert np.array_equal(greedy.costs, climbed.costs)
    hot = stochastic_hill_climb(
        ising, temperature=50.0, num_chains=1, seed=1, max_iters=300
    )
    # Near-uniform choices: it moves at almost every step (the rate itself is
    # moves taken / candidates evaluated, 40 candidates per step here).
    moved, proposed = hot.acceptance_counts
    assert moved / hot.params["steps"].sum() > 0.5
    assert proposed == hot.n_evaluations == 40 * 300
    assert hot.acceptance_rate == moved / proposed


def test_stochastic_hill_climb_prefers_larger_gains():
    # A single step from a fixed state, many seeds: the frequency of each move
    # follows the softmax of the gains, staying included.
    ising = Ising(np.array([3.0, 1.0, -1.0]), {})
    start = np.array([1, 1, 1])  # flipping spin i gains 2 * h_i: 6, 2, -2
    gains = np.array([0.0, 6.0, 2.0, -2.0])  # stay, flip 0, flip 1, flip 2
    temperature = 2.0
    expected = np.exp(gains / temperature) / np.exp(gains / temperature).sum()
    from attnsearch.search._run import Run

    run = Run(
        "stochastic_hill_climb",
        ising,
        num_chains=3000,
        initial_states=start,
        seed=0,
        num_threads=2,
        time_limit=None,
        target=None,
        callback=None,
        backend="cython",
    )
    run.backend.call(
        "stochastic_climb",
        max_steps=1,
        temperature=temperature,
        sample_size=0,
        target=-math.inf,
        deadline=math.inf,
    )
    counts = np.zeros(4)
    for state in run.backend.arrays.states:  # the current states, not the best ones
        flipped = np.flatnonzero(state != start)
        counts[0 if flipped.size == 0 else flipped[0] + 1] += 1
    observed = counts / counts.sum()
    sigma = np.sqrt(expected * (1 - expected) / counts.sum())
    assert np.all(np.abs(observed - expected) < 5 * sigma + 1e-3)


def test_stochastic_hill_climb_bad_arguments(rng):
    ising = sparse_ising(rng, n=30)
    with pytest.raises(ValueError, match="temperature"):
        stochastic_hill_climb(ising, temperature=-1.0)
    with pytest.raises(ValueError, match="sample_size"):
        stochastic_hill_climb(ising, sample_size=0)
