"""Start tours of the TSP (``problems/tsp/construction.py``): greedy edge and the
Hilbert curve, their quality, tiny and degenerate instances, the choice of every
chain's start, and bad input."""

import numpy as np
import pytest
from _helpers import brute_distances, coords_for, run_of

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    iterated_local_search,
)
from attnsearch.search.problems.tsp.construction import greedy_tour, hilbert_tour


@pytest.mark.parametrize("metric", ["EUC_2D", "GEO"])
def test_greedy_and_space_filling_tours(rng, metric):
    coords = coords_for(metric, rng, 400)
    tsp = TSP(coords, metric=metric)
    greedy = tsp.initial_tour("greedy")
    curve = tsp.initial_tour("spacefill")
    random = rng.permutation(400)
    for tour in (greedy, curve):
        assert tour.dtype == np.int32 and sorted(tour) == list(range(400))
    lengths = [tsp.tour_length(t) for t in (greedy, curve, random)]
    assert lengths[0] < lengths[1] < lengths[2]
    np.testing.assert_array_equal(greedy, tsp.initial_tour("greedy"))  # deterministic


def test_greedy_tour_quality_on_tsplib():
    tsp = TSP.from_tsplib(DATA / "kroA100.tsp")
    assert tsp.tour_length(tsp.initial_tour("greedy")) < 1.3 * tsp.optimum
    matrix = TSP(distances=brute_distances(tsp, tsp.coords))
    tour = matrix.initial_tour("greedy")
    assert sorted(tour) == list(range(100))
    assert matrix.tour_length(tour) < 1.3 * tsp.optimum


def test_constructions_of_tiny_and_degenerate_instances():
    for n in (1, 2, 3, 4, 6):
        tsp = TSP(np.arange(2 * n, dtype=float).reshape(n, 2), initial="greedy")
        result = iterated_local_search(tsp, max_iters=3, seed=0)
        assert sorted(result.best_state) == list(range(n))
    assert hilbert_tour(np.zeros((5, 2))).tolist() == [0, 1, 2, 3, 4]
    core = TSP(np.ones((6, 2)))._core
    assert sorted(greedy_tour(core, np.array([[1], [0], [3], [2], [5], [4]]))) == list(
        range(6)
    )


def test_initial_chooses_the_start_of_every_chain(rng):
    coords = rng.uniform(size=(40, 2))
    given = rng.permutation(40)
    for initial, expected in (
        ("greedy", TSP(coords).initial_tour("greedy")),
        ("spacefill", TSP(coords).initial_tour("spacefill")),
        (given, given),
    ):
        run = run_of(TSP(coords, initial=initial), num_chains=3)
        for row in run.backend.arrays.states:
            np.testing.assert_array_equal(row, expected)
    rows = run_of(TSP(coords, initial="random"), num_chains=3).backend.arrays.states
    assert not np.array_equal(rows[0], rows[1])
    assert TSP(rng.uniform(size=(1000, 2))).initial == "greedy"  # auto, large
    assert TSP(coords).initial == "random"  # auto, small


def test_construction_bad_input(rng):
    coords = rng.uniform(size=(30, 2))
    with pytest.raises(ValueError, match="initial must be one of"):
        TSP(coords, initial="christofides")
    with pytest.raises(ValueError, match="not a permutation"):
        TSP(coords, initial=np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="needs coordinates"):
        TSP(distances=np.ones((5, 5)) - np.eye(5), initial="spacefill")
    with pytest.raises(ValueError, match='"greedy" or "spacefill"'):
        TSP(coords).initial_tour("random")
