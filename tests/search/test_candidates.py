"""Candidate lists of the TSP (``problems/tsp/candidates.py``): nearest (by the
exact metric), quadrant, alpha-nearness and given lists, for every kind of
instance and size, and their bad input."""

import itertools

import numpy as np
import pytest
from _helpers import brute_distances, coords_for
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search.problems.tsp.candidates import _SiteDistances, _superset

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
        with pytest.raises(ValueError, match="n_candidates must be an int >= 1"):
            TSP(coords, n_candidates=bad)
    with pytest.raises(ValueError, match="n_candidates must be an int that fits"):
        TSP(coords, n_candidates=2**64)
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


# -- degenerate geometry: coincident, collinear and equal sites ----------------------


def _road(stops, per_stop, step=(1.0, 1.0)):
    """``stops`` sites along a straight road, ``per_stop`` cities at each."""
    t = np.arange(float(stops))
    return np.repeat(np.column_stack((t * step[0], t * step[1])), per_stop, axis=0)


def _site_optimum(sites):
    """Shortest closed tour over a few distinct sites (brute force): the optimum
    of any instance whose cities sit at these sites (Euclidean: a site's twins
    are visited in a row at no cost)."""
    best = np.inf
    for perm in itertools.permutations(range(1, len(sites))):
        order = (0, *perm)
        best = min(
            best,
            sum(
                np.hypot(*(sites[a] - sites[b]))
                for a, b in zip(order, np.roll(order, 1))
            ),
        )
    return best


_SIX = np.array([[3.0, 91.0], [40.0, 12.0], [77.0, 60.0], [15.0, 40.0], [90.0, 5.0],
                 [55.0, 88.0]])  # fmt: skip

#: Degenerate layouts and their optimal tour lengths. The first two are the
#: hostile-input report's: default candidates refused them (a site with more
#: twins than the alpha superset's 12 nearest cut it off: "no 1-tree").
DEGENERATE_LAYOUTS = {
    # 100 stops on a diagonal road, each stop and its 12 customers at one site.
    "road of 100 stops x 13": (_road(100, 13), 2 * 99 * np.sqrt(2)),
    "two depots x 500 parcels": (np.repeat([[0.0, 0.0], [3.0, 4.0]], 500, 0), 10.0),
    "all 1200 cities at one site": (np.full((1200, 2), 7.5), 0.0),
    "one city and 1199 at another site": (
        np.vstack(([[6.0, 8.0]], np.zeros((1199, 2)))),
        20.0,
    ),
    # Distinct but collinear, in clusters of 15 further apart than 12 nearest.
    "collinear clusters, no twins": (
        _road(100, 1, (10.0, 20.0)).repeat(15, 0)
        + np.repeat(np.arange(15)[None, :] * 1e-3, 100, 0).reshape(-1, 1) * [1, 2],
        2 * np.hypot(990.014, 1980.028),
    ),
    "vertical road x 12": (_road(100, 12, (0.0, 1.0)), 198.0),
}


@pytest.mark.parametrize("name", list(DEGENERATE_LAYOUTS))
def test_default_candidates_solve_degenerate_layouts(name):
    coords, optimum = DEGENERATE_LAYOUTS[name]
    n = len(coords)
    tsp = TSP(coords)  # every default: alpha candidates from 1000 cities on
    lists = tsp.candidates
    k = lists.shape[1]
    assert lists.shape == (n, k) and k >= 1
    assert not np.any(lists == np.arange(n)[:, None])
    assert all(len(set(row)) == k for row in lists.tolist())
    n_sites = len(np.unique(coords, axis=0))
    assert tsp.n_sites == n_sites
    if n_sites < n:
        assert f"{n} cities at {n_sites} sites" in repr(tsp)
    result = iterated_local_search(tsp, seed=0, time_limit=5, target=optimum + 1e-9)
    tour = result.best_state
    assert sorted(tour.tolist()) == list(range(n))
    assert result.objective == pytest.approx(tsp.tour_length(tour), abs=1e-9)
    assert result.objective == pytest.approx(optimum, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", [*DEGENERATE_LAYOUTS, "geo circle"])
def test_alpha_superset_spans_degenerate_layouts(name):
    # The 1-trees' sparse superset is connected by construction: Delaunay (or the
    # hull on the sphere) over the distinct sites, points Qhull leaves out tied
    # to their nearest, the path along the line where Qhull refuses.
    if name == "geo circle":  # 200 sites on the equator, 13 cities at each
        lon = np.linspace(-170.0, 170.0, 200)
        coords = np.repeat(np.column_stack((np.zeros(200), lon)), 13, 0)
        tsp = TSP(coords, metric="GEO", candidates="alpha")
    else:
        tsp = TSP(DEGENERATE_LAYOUTS[name][0], candidates="alpha")
    first, _ = tsp._sites
    n = len(first)
    if n >= 5:
        assert tsp.candidate_kind == "alpha"
    edges, lengths = _superset(
        _SiteDistances(tsp._core, first),
        min(12, n - 1),
        points=tsp._points[first],
        plane=tsp._plane[first],
    )
    assert np.all(np.isfinite(lengths))
    graph = coo_matrix((np.ones(len(edges)), tuple(edges.T)), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1


def test_crowded_sites_list_their_twins_in_order_and_other_sites():
    # 30 sites with 1 to 20 cities each, shuffled: each city lists its previous
    # and next twin (index order) and cities of other sites.
    rng = np.random.default_rng(4)
    sites = rng.uniform(0, 100, (30, 2))
    coords = np.repeat(sites, np.arange(30) % 20 + 1, axis=0)
    coords = coords[rng.permutation(len(coords))]
    tsp = TSP(coords, n_candidates=8)
    first, site_of = tsp._sites
    for city, row in enumerate(tsp.candidates.tolist()):
        twins = np.flatnonzero(site_of == site_of[city])
        at = int(np.searchsorted(twins, city))
        neighbours = set(twins[max(at - 1, 0) : at + 2].tolist()) - {city}
        assert neighbours <= set(row)
        assert any(site_of[c] != site_of[city] for c in row)
        d = tsp._core.pair_distances(np.full(8, city), np.array(row))
        assert np.all(np.diff(d) >= 0)  # nearest first


def test_a_pair_of_twins_keeps_the_lists_of_the_cities():
    # Two cities at one site are left as they are: the nearest lists are the k
    # nearest cities (a280 has such a pair), the kind does not change.
    tsp = TSP.from_tsplib(DATA / "a280.tsp")
    assert (tsp.n, tsp.n_sites) == (280, 279)
    full = brute_distances(tsp, tsp.coords)
    np.fill_diagonal(full, np.inf)
    mine = np.take_along_axis(full, tsp.candidates.astype(np.int64), axis=1)
    np.testing.assert_array_equal(mine, np.sort(full, axis=1)[:, :8])


_SMALL_LAYOUTS = {
    "road of 10 stops x 13": (_road(10, 13), 2 * 9 * np.sqrt(2)),
    "two depots x 20": (np.repeat([[0.0, 0.0], [3.0, 4.0]], 20, 0), 10.0),
    "one city and 29 at another site": (
        np.vstack(([[7.0, 7.0]], np.zeros((29, 2)))),
        2 * np.hypot(7, 7),
    ),
    "all 25 at one site": (np.full((25, 2), 5.0), 0.0),
    "six sites x 4, shuffled": (
        np.repeat(_SIX, 4, 0)[np.random.default_rng(3).permutation(24)],
        _site_optimum(_SIX),
    ),
    "40 collinear, shuffled": (
        _road(40, 1)[np.random.default_rng(3).permutation(40)],
        2 * 39 * np.sqrt(2),
    ),
}


@pytest.mark.parametrize(
    "method",
    [
        simulated_annealing,
        hill_climb,
        stochastic_hill_climb,
        tabu_search,
        parallel_tempering,
        iterated_local_search,
    ],
)
@pytest.mark.parametrize("name", list(_SMALL_LAYOUTS))
def test_every_method_solves_small_degenerate_layouts(method, name):
    coords, optimum = _SMALL_LAYOUTS[name]
    tsp = TSP(coords)
    result = method(tsp, seed=0)  # every default
    tour = result.best_state
    assert sorted(tour.tolist()) == list(range(len(coords)))
    assert result.objective == pytest.approx(tsp.tour_length(tour), abs=1e-9)
    assert result.objective >= optimum - 1e-9
    if method in (hill_climb, stochastic_hill_climb):
        return  # a descent stops at a local optimum; stochastic climbs wander
    assert result.objective == pytest.approx(optimum, rel=1e-12, abs=1e-12)
