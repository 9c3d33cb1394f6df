"""Candidate lists of the TSP (``problems/tsp/candidates.py``): nearest (by the
exact metric), quadrant, alpha-nearness and given lists, for every kind of
instance and size, and their bad input."""

import numpy as np
import pytest
from _helpers import brute_distances, coords_for

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    iterated_local_search,
)

METRICS = ["EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO"]


# -- candidate lists -------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_nearest_candidates_are_the_k_nearest_by_the_exact_metric(rng, metric):
    coords = coords_for(metric, rng, 120)
    coords[7] = coords[3]  # a duplicate city
    tsp = TSP(coords, metric=metric, n_candidates=9)
    lists = tsp.candidates
    assert lists.shape == (120, 9) and lists.dtype == np.int32
    full = brute_distances(tsp, coords)
    np.fill_diagonal(full, np.inf)
    mine = np.take_along_axis(full, lists.astype(np.int64), axis=1)
    # Nearest first, and the k smallest distances (ties may pick either city).
    assert np.all(np.diff(mine, axis=1) >= 0)
    np.testing.assert_array_equal(mine, np.sort(full, axis=1)[:, :9])
    assert not np.any(lists == np.arange(120)[:, None])
    assert all(len(set(row)) == 9 for row in lists.tolist())


def test_matrix_candidates_come_from_argpartition(rng):
    n = 70
    m = rng.integers(1, 50, size=(n, n)).astype(float)
    m = np.triu(m, 1)
    m = m + m.T
    tsp = TSP(distances=m, n_candidates=6)
    full = m.copy()
    np.fill_diagonal(full, np.inf)
    mine = np.take_along_axis(full, tsp.candidates.astype(np.int64), axis=1)
    np.testing.assert_array_equal(mine, np.sort(full, axis=1)[:, :6])
    with pytest.raises(ValueError, match="needs coordinates"):
        TSP(distances=m, candidates="quadrant")


def test_quadrant_candidates_serve_every_quadrant(rng):
    # Two far clusters: nearest lists never leave a cluster, quadrant lists do.
    coords = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(100, 1, (60, 2))])
    nearest = TSP(coords, n_candidates=8)
    quadrant = TSP(coords, candidates="quadrant", n_candidates=8)
    cluster = np.arange(120) // 60
    assert np.all(cluster[nearest.candidates] == cluster[:, None])
    assert np.any(cluster[quadrant.candidates] != cluster[:, None])
    for city in range(120):
        row = quadrant.candidates[city]
        d = np.hypot(*(coords[row] - coords[city]).T)
        assert np.all(np.diff(d) >= -1e-12)  # nearest first
        delta = coords - coords[city]
        for sx, sy in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
            inside = np.flatnonzero(
                ((delta[:, 0] >= 0) == (sx > 0))
                & ((delta[:, 1] >= 0) == (sy > 0))
                & (np.arange(120) != city)
            )
            if inside.size:
                closest = inside[np.argmin(np.hypot(*delta[inside].T))]
                assert closest in row


@pytest.mark.parametrize("name", ["kroA100", "a280"])
def test_alpha_candidates_hold_the_optimal_tour(name):
    # LKH's observation: the optimal tour's edges are among the few
    # alpha-nearest cities (here all of them for 5 candidates).
    tsp = TSP.from_tsplib(DATA / f"{name}.tsp", candidates="alpha", n_candidates=5)
    tour = TSP.read_tour(DATA / f"{name}.opt.tour")
    lists = tsp.candidates
    nxt = np.roll(tour, -1)
    covered = [
        nxt[i] in lists[tour[i]] or tour[i] in lists[nxt[i]] for i in range(tsp.n)
    ]
    assert np.mean(covered) >= 0.99
    nearest = TSP.from_tsplib(DATA / f"{name}.tsp", n_candidates=5).candidates
    covered_nearest = [
        nxt[i] in nearest[tour[i]] or tour[i] in nearest[nxt[i]] for i in range(tsp.n)
    ]
    assert np.mean(covered) >= np.mean(covered_nearest)
    # Lists are ordered by distance (the descent stops at the first that cannot gain).
    d = tsp._core.pair_distances(np.repeat(np.arange(tsp.n), 5), lists.ravel())
    assert np.all(np.diff(d.reshape(-1, 5), axis=1) >= 0)


@pytest.mark.parametrize("metric", ["GEO", "CEIL_2D", "matrix"])
def test_alpha_candidates_for_every_kind_of_instance(rng, metric):
    coords = coords_for(metric, rng, 150)
    if metric == "matrix":
        full = brute_distances(TSP(coords, metric="EUC_2D"), coords)
        tsp = TSP(distances=full, candidates="alpha", n_candidates=6)
    else:
        tsp = TSP(coords, metric=metric, candidates="alpha", n_candidates=6)
    lists = tsp.candidates
    assert lists.shape == (150, 6) and not np.any(lists == np.arange(150)[:, None])
    assert all(len(set(row)) == 6 for row in lists.tolist())
    result = iterated_local_search(tsp, max_iters=300, seed=0)
    assert sorted(result.best_state) == list(range(150))
    # Degenerate inputs fall back gracefully: all cities on a line, tiny n.
    line = np.column_stack((np.arange(40.0), np.zeros(40)))
    assert TSP(line, candidates="alpha", n_candidates=4).candidates.shape == (40, 4)
    assert TSP(line[:4], candidates="alpha").candidate_kind == "nearest"


def test_auto_candidates_are_alpha_in_the_middle_sizes(rng):
    assert TSP(rng.uniform(size=(200, 2))).candidate_kind == "nearest"
    assert TSP(rng.uniform(size=(1200, 2))).candidate_kind == "alpha"
    assert TSP(rng.uniform(size=(50, 2)), candidates=None).candidate_kind is None


def test_given_candidate_lists_are_sorted_and_checked(rng):
    coords = rng.uniform(size=(20, 2))
    lists = np.array([[(i + 1) % 20, (i + 7) % 20, (i + 3) % 20] for i in range(20)])
    tsp = TSP(coords, candidates=lists)
    d = np.hypot(*(coords[tsp.candidates] - coords[:, None]).transpose(2, 0, 1))
    assert np.all(np.diff(d, axis=1) >= 0)
    assert {tuple(sorted(r)) for r in tsp.candidates.tolist()} == {
        tuple(sorted(r)) for r in lists.tolist()
    }
    with pytest.raises(ValueError, match="itself"):
        TSP(coords, candidates=np.arange(20)[:, None])
    with pytest.raises(ValueError, match="outside"):
        TSP(coords, candidates=np.full((20, 2), 20))
    with pytest.raises(ValueError, match="shape"):
        TSP(coords, candidates=np.ones((19, 2), dtype=int))
    with pytest.raises(TypeError, match="integers"):
        TSP(coords, candidates=np.ones((20, 2)))


def test_candidate_bad_input(rng):
    coords = rng.uniform(size=(30, 2))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="n_candidates must be positive"):
            TSP(coords, n_candidates=bad)
    for bad in (2.5, True, "8"):
        with pytest.raises(TypeError, match="n_candidates"):
            TSP(coords, n_candidates=bad)
    with pytest.raises(ValueError, match="candidates must be one of"):
        TSP(coords, candidates="voronoi")
    with pytest.raises(ValueError, match="n_candidates needs"):
        TSP(coords, candidates=None, n_candidates=5)
    with pytest.raises(ValueError, match="3opt"):
        TSP(coords, candidates=None, moves=("2opt", "3opt"))


def test_large_instance_candidates_are_n_times_k():
    rng = np.random.default_rng(0)
    tsp = TSP(rng.uniform(size=(100_000, 2)), n_candidates=8)
    assert tsp.candidates.shape == (100_000, 8) and tsp.distances is None
