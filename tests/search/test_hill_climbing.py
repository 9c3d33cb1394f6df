"""Hill climbing (``methods/hill_climbing.py``): kernel against the Python
reference for both strategies, local optima, quality on tiny models and its own
arguments. The TSP's don't-look-bit descent (strategy "descent") is tested in
test_tsp.py."""

import numpy as np
import pytest
from _helpers import assert_same_run, ground_energy, sparse_ising, tiny_spin_glass

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import TSP, hill_climb

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


@pytest.mark.parametrize("strategy", ["best", "first"])
def test_hill_climb_kernel_equals_reference(global_random_seed, strategy):
    tsp = TSP.from_tsplib(DATA / "eil51.tsp", moves=("2opt", "oropt"))
    kwargs = dict(
        strategy=strategy, num_chains=2, seed=global_random_seed, max_iters=25
    )
    compiled = hill_climb(tsp, backend="cython", **kwargs)
    python = hill_climb(tsp, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    assert np.array_equal(compiled.params["steps"], python.params["steps"])
    ising = sparse_ising(np.random.default_rng(global_random_seed))
    assert_same_run(
        hill_climb(ising, backend="cython", num_chains=3, strategy=strategy, seed=1),
        hill_climb(ising, backend="reference", num_chains=3, strategy=strategy, seed=1),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hill_climbing_finds_the_tiny_ising_optimum(seed):
    ising = tiny_spin_glass(seed)
    hc = hill_climb(ising, num_chains=64, seed=seed)
    assert hc.objective == pytest.approx(ground_energy(ising))


def test_hill_climbing_reaches_a_local_optimum(rng):
    tsp = TSP(rng.uniform(size=(25, 2)), moves=("2opt",))
    result = hill_climb(tsp, num_chains=3, seed=0)
    assert result.stop_reason == "converged"
    # No 2-opt move improves the returned tours.
    for tour in result.states:
        length = tsp.tour_length(tour)
        for a in range(25):
            for b in range(a + 2, 25):
                if a == 0 and b == 24:
                    continue
                new = np.concatenate(
                    [tour[: a + 1], tour[a + 1 : b + 1][::-1], tour[b + 1 :]]
                )
                assert tsp.tour_length(new) >= length - 1e-9


def test_hill_climbing_bad_arguments(rng):
    ising = sparse_ising(rng)
    with pytest.raises(ValueError, match="strategy"):
        hill_climb(ising, strategy="steepest")
    with pytest.raises(ValueError, match="max_iters"):
        hill_climb(ising, max_iters=0)
