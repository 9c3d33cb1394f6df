"""Tabu search (``methods/tabu.py``): kernel against the Python reference (fixed
and random tenures), brute-force optima, the tabu walk, default tenures and its
arguments."""

import math
import os

import numpy as np
import pytest
from _helpers import (
    assert_same_run,
    ground_energy,
    run_of,
    sparse_ising,
    tiny_spin_glass,
)

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    Ising,
    MaxCut,
    hill_climb,
    tabu_search,
)
from attnsearch.search.methods.tabu import default_perturb_after, default_tenure

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


# -- kernel vs reference -----------------------------------------------------------


@pytest.mark.parametrize("aspiration", [True, False])
@pytest.mark.parametrize("candidate_size", [None, 40])
def test_tabu_kernel_equals_reference(rng, aspiration, candidate_size):
    ising = sparse_ising(rng, n=30)
    kwargs = dict(
        num_chains=3,
        seed=2,
        max_iters=200,
        tenure=5,
        aspiration=aspiration,
        candidate_size=candidate_size,
    )
    assert_same_run(
        tabu_search(ising, backend="cython", **kwargs),
        tabu_search(ising, backend="reference", **kwargs),
    )
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    kwargs = dict(num_chains=2, seed=3, max_iters=30, aspiration=aspiration)
    assert_same_run(
        tabu_search(tsp, backend="cython", **kwargs),
        tabu_search(tsp, backend="reference", **kwargs),
    )


def test_tabu_random_tenure_kernel_equals_reference(rng):
    ising = sparse_ising(rng, n=30)
    kwargs = dict(max_iters=300, num_chains=3, seed=4, tenure=(2, 9))
    compiled = tabu_search(ising, **kwargs)
    python = tabu_search(ising, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    assert compiled.params["tenure"] == (2, 9)
    fixed = tabu_search(ising, max_iters=300, num_chains=3, seed=4, tenure=(5, 5))
    assert fixed.params["tenure"] == 5


@pytest.mark.parametrize("n", [5, 8, 13, 30])
@pytest.mark.parametrize("aspiration", [True, False])
def test_tabu_spin_scan_kernel_equals_reference(rng, n, aspiration):
    # The kernel scans Ising neighbourhoods 8 spins at a time where compiled
    # with AVX-512: a tail of fewer than 8, no full block, many ties (+-1
    # weights, isolated spins whose flips cost +-0), tenures that make every
    # flip tabu (then the best tabu flip is taken) and aspiration.
    edges = {}
    for i in range(n - 2):  # the last two spins are isolated: deltas of +-0
        for j in rng.choice(n - 2, 2, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    ising = Ising(rng.integers(-1, 2, n).astype(float) * (np.arange(n) < n - 2), edges)
    for tenure in (1, n // 2, 2 * n):
        kwargs = dict(
            num_chains=2, seed=6, max_iters=150, tenure=tenure, aspiration=aspiration
        )
        assert_same_run(
            tabu_search(ising, backend="cython", **kwargs),
            tabu_search(ising, backend="reference", **kwargs),
        )


@pytest.mark.parametrize("candidate_size", [None, 40])
def test_tabu_perturbations_kernel_equals_reference(rng, candidate_size):
    ising = sparse_ising(rng, n=30)
    kwargs = dict(
        num_chains=3,
        seed=5,
        max_iters=400,
        tenure=5,
        perturb_after=10,
        perturb_strength=(2, 5),
        candidate_size=candidate_size,
    )
    compiled = tabu_search(ising, **kwargs)
    assert_same_run(compiled, tabu_search(ising, backend="reference", **kwargs))
    # The perturbations' moves are applied (counted) but are not steps.
    unperturbed = tabu_search(ising, **{**kwargs, "perturb_after": 0})
    assert compiled.acceptance_counts[0] > unperturbed.acceptance_counts[0]
    assert list(compiled.params["steps"]) == [400] * 3
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    kwargs = dict(
        num_chains=2, seed=3, max_iters=60, perturb_after=5, perturb_strength=3
    )
    assert_same_run(
        tabu_search(tsp, backend="cython", **kwargs),
        tabu_search(tsp, backend="reference", **kwargs),
    )


def test_tabu_perturbations_in_chunks_and_threads_equal_one_run(rng):
    # The episodes' counters persist between the run loop's chunks; chains are
    # the parallel unit.
    ising = sparse_ising(rng, n=30)
    whole = tabu_search(
        ising, num_chains=3, seed=1, tenure=4, perturb_after=7, max_iters=500
    )
    for threads in (1, 2):
        run = run_of(ising, "tabu_search", num_chains=3, seed=1, num_threads=threads)
        done = 0
        while done < 500:  # ragged chunks
            step = min(37, 500 - done)
            run.backend.call(
                "tabu",
                max_steps=step,
                tenure=4,
                aspiration=True,
                candidate_size=0,
                tolerance=run.improvement_tolerance(),
                target=-math.inf,
                deadline=math.inf,
                perturb_after=7,
                strength_low=1,
                strength_high=3,
            )
            done += step
        np.testing.assert_array_equal(whole.states, run.backend.arrays.best_states)
        np.testing.assert_array_equal(whole.costs, run.backend.arrays.best_cost)
        assert whole.acceptance_counts == (
            int(run.backend.arrays.n_accepted.sum()),
            int(run.backend.arrays.n_evaluations.sum()),
        )


# -- behaviour ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tabu_finds_brute_force_optimum(seed):
    ising = tiny_spin_glass(seed)
    result = tabu_search(ising, max_iters=400, num_chains=2, seed=seed)
    assert result.objective == pytest.approx(ground_energy(ising))
    assert ising.energy(result.best_state) == pytest.approx(result.objective)


def test_tabu_never_returns_to_a_recent_state(rng):
    ising = sparse_ising(rng, n=16)
    tenure = 6
    problem_states = []

    # Record the walk with a callback-free Python twin: the reference engine with
    # its states inspected step by step.
    from attnsearch.search._run import Run

    run = Run(
        "tabu_search",
        ising,
        num_chains=1,
        initial_states=None,
        seed=3,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="reference",
    )
    for _ in range(120):
        run.backend.call(
            "tabu",
            max_steps=1,
            tenure=tenure,
            aspiration=False,
            candidate_size=0,
            tolerance=0.0,
            target=-math.inf,
            deadline=math.inf,
        )
        problem_states.append(run.backend.chains.states[0][0].copy())
    for t in range(len(problem_states)):
        for back in range(1, tenure + 1):
            if t - back >= 0:
                assert not np.array_equal(problem_states[t], problem_states[t - back])


def test_tabu_walks_past_local_optima_and_keeps_the_argbest(rng):
    ising = sparse_ising(rng, n=40)
    climbed = hill_climb(ising, seed=0)
    walked = tabu_search(
        ising, max_iters=2000, seed=0, initial_states=climbed.best_state
    )
    assert walked.objective <= climbed.objective
    assert ising.energy(walked.best_state) == walked.objective
    assert walked.params["steps"][0] == 2000  # it kept going past the optimum


def test_default_tenures():
    ising = Ising(np.zeros(160), {(0, 1): 1.0})
    tsp = TSP(np.random.default_rng(0).uniform(size=(640, 2)))
    assert default_tenure(ising._search_spec()) == 20  # min(20, n/4) at least
    assert default_tenure(Ising(np.zeros(2000), {})._search_spec()) == 125
    # Couplings of both signs (spin glasses): n/50 above n = 1000.
    glass = Ising(np.zeros(7000), {(0, 1): 1.0, (1, 2): -1.0})
    assert default_tenure(glass._search_spec()) == 140
    assert (
        default_tenure(
            Ising(np.zeros(1000), {(0, 1): -1.0, (1, 2): 1.0})._search_spec()
        )
        == 20
    )
    assert default_tenure(Ising(np.zeros(12), {})._search_spec()) == 3
    assert default_tenure(tsp._search_spec()) == 10
    assert default_tenure(Ising(np.zeros(3), {})._search_spec()) == 1


def test_default_perturbations():
    glass = Ising(np.zeros(800), {(0, 1): 1.0, (1, 2): -1.0})
    result = tabu_search(glass, max_iters=10, seed=0)
    assert result.params["perturb_after"] == 10 * default_tenure(glass._search_spec())
    assert result.params["perturb_strength"] == (8, 80)
    tsp = TSP(np.random.default_rng(0).uniform(size=(20, 2)))
    assert default_perturb_after(tsp._search_spec(), 5) == 0
    off = tabu_search(glass, max_iters=10, seed=0, perturb_after=0, perturb_strength=3)
    assert (off.params["perturb_after"], off.params["perturb_strength"]) == (0, 3)


def test_tabu_on_gset_grid():
    g = MaxCut.from_gset(DATA / "G11.txt")
    result = tabu_search(g, time_limit=3, num_chains=2, seed=0, target=552)
    assert result.objective >= 552
    assert g.cut_value(result.best_state) == result.objective


# Hostile input: a third-party problem's huge n_tabu_keys was allocated without
# an estimate before.
@pytest.mark.skipif(os.cpu_count() is None, reason="needs a CPU count")
def test_tabu_memory_is_estimated():
    ising = Ising(np.zeros(10), {(0, 1): 1.0})
    ising._core.n_tabu_keys = 10**12  # a third-party problem's claim
    with pytest.raises(MemoryError, match="tabu memory"):
        tabu_search(ising, max_iters=1, seed=0)


# -- bad arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tenure, match", [((1, 2, 3), "pair"), ((5, 2), "low <= high"), ((-1, 2), "tenure")]
)
def test_tabu_bad_tenure_range(rng, tenure, match):
    with pytest.raises(ValueError, match=match):
        tabu_search(sparse_ising(rng, n=30), tenure=tenure, max_iters=5)


def test_tabu_bad_arguments(rng):
    ising = sparse_ising(rng, n=30)
    with pytest.raises(ValueError, match="tenure"):
        tabu_search(ising, tenure=-1)
    with pytest.raises(ValueError, match="candidate_size"):
        tabu_search(ising, candidate_size=0)
    with pytest.raises(ValueError, match="perturb_after"):
        tabu_search(ising, perturb_after=-1)
    with pytest.raises(ValueError, match="perturb_strength"):
        tabu_search(ising, perturb_strength=0)
    with pytest.raises(ValueError, match="low <= high"):
        tabu_search(ising, perturb_strength=(5, 2))
    with pytest.raises(ValueError, match="pair"):
        tabu_search(ising, perturb_strength=(1, 2, 3))
