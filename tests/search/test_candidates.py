"""TSP at scale: candidate lists, constructions, candidate moves, the don't-look-bit
descent, iterated local search; kernel against the Python mirror, threads, seeds."""

import math

import numpy as np
import pytest
from _problems import OneMax

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    ChainRNG,
    Ising,
    Problem,
    hill_climb,
    iterated_local_search,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search._run import Run
from attnsearch.search.problems.tsp._core import TSPCore
from attnsearch.search.problems.tsp._reference import tsplib_distances
from attnsearch.search.problems.tsp.construction import greedy_tour, hilbert_tour

METRICS = ["EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO"]


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


def assert_same_run(a, b):
    assert np.array_equal(np.asarray(a.states), np.asarray(b.states))
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations
    assert a.acceptance_counts == b.acceptance_counts
    np.testing.assert_array_equal(
        a.history["best_costs"][-1], b.history["best_costs"][-1]
    )


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


def test_candidate_and_construction_bad_input(rng):
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
    with pytest.raises(ValueError, match="initial must be one of"):
        TSP(coords, initial="christofides")
    with pytest.raises(ValueError, match="not a permutation"):
        TSP(coords, initial=np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="needs coordinates"):
        TSP(distances=np.ones((5, 5)) - np.eye(5), initial="spacefill")
    with pytest.raises(ValueError, match="kick_length"):
        TSP(coords, kick_length=0)
    with pytest.raises(TypeError, match="kick_length"):
        TSP(coords, kick_length=1.5)
    with pytest.raises(ValueError, match='"greedy" or "spacefill"'):
        TSP(coords).initial_tour("random")


def test_large_instance_candidates_are_n_times_k():
    rng = np.random.default_rng(0)
    tsp = TSP(rng.uniform(size=(100_000, 2)), n_candidates=8)
    assert tsp.candidates.shape == (100_000, 8) and tsp.distances is None


# -- constructions ---------------------------------------------------------------------


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


# -- candidate moves -------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["EUC_2D", "GEO"])
def test_every_enumerated_candidate_move_is_a_tour_with_an_exact_delta(rng, metric):
    tsp = TSP(
        coords_for(metric, rng, 13),
        metric=metric,
        n_candidates=4,
        moves=("2opt", "swap", "oropt", "3opt"),
    )
    ops = tsp._search_spec().ops
    state = ops.initial(ChainRNG(rng.integers(1, 2**63, 4, dtype=np.uint64)))
    valid = 0
    for index in range(ops.n_moves(state)):
        move = ops.move_at(state, index)
        if move is None:
            continue
        after = ops.apply(ops.copy(state), move)
        assert sorted(after.tour) == list(range(13))
        assert [after.pos[c] for c in after.tour] == list(range(13))
        assert ops.delta(state, move) == ops.cost(after) - ops.cost(state)
        valid += 1
    assert valid > 13 * 4 * 3


@pytest.mark.parametrize("moves", [("2opt", "oropt"), ("3opt",), ("2opt", "swap")])
def test_annealing_and_tabu_with_candidate_moves_equal_the_reference(rng, moves):
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp", moves=moves, n_candidates=7)
    kwargs = dict(num_sweeps=6, num_chains=2, seed=5)
    assert_same_run(
        simulated_annealing(tsp, backend="cython", **kwargs),
        simulated_annealing(tsp, backend="reference", **kwargs),
    )
    kwargs = dict(max_iters=15, num_chains=2, seed=5, candidate_size=40)
    assert_same_run(
        tabu_search(tsp, backend="cython", **kwargs),
        tabu_search(tsp, backend="reference", **kwargs),
    )
    kwargs = dict(max_iters=6, num_chains=1, seed=5, strategy="first")
    assert_same_run(
        hill_climb(tsp, backend="cython", **kwargs),
        hill_climb(tsp, backend="reference", **kwargs),
    )


def test_candidate_moves_are_thread_invariant():
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=("2opt", "oropt", "3opt"))
    runs = [
        simulated_annealing(tsp, num_sweeps=30, num_chains=4, seed=2, num_threads=t)
        for t in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].states, runs[1].states)
    runs = [
        stochastic_hill_climb(
            tsp, max_iters=30, sample_size=30, num_chains=4, seed=2, num_threads=t
        )
        for t in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].states, runs[1].states)
    runs = [
        tabu_search(
            tsp, max_iters=40, candidate_size=50, num_chains=4, seed=2, num_threads=t
        )
        for t in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].states, runs[1].states)


# -- the descent (hill climbing with don't-look bits) ----------------------------------


@pytest.mark.parametrize(
    "moves", [("2opt",), ("oropt",), ("2opt", "oropt"), ("2opt", "oropt", "3opt")]
)
@pytest.mark.parametrize("instance", ["eil51", "matrix", "geo", "euclidean"])
def test_descent_equals_the_reference(rng, moves, instance):
    if instance == "eil51":
        tsp = TSP.from_tsplib(DATA / "eil51.tsp", moves=moves)
    elif instance == "matrix":
        coords = rng.uniform(0, 100, size=(45, 2))
        full = np.round(np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1)))
        tsp = TSP(distances=full, moves=moves)
    else:
        metric = "GEO" if instance == "geo" else "EUCLIDEAN"
        tsp = TSP(coords_for(metric, rng, 60), metric=metric, moves=moves)
    kwargs = dict(num_chains=3, seed=4)
    compiled = hill_climb(tsp, backend="cython", **kwargs)
    python = hill_climb(tsp, backend="reference", **kwargs)
    assert compiled.params["strategy"] == python.params["strategy"] == "descent"
    assert compiled.stop_reason == "converged"
    np.testing.assert_array_equal(compiled.states, python.states)
    np.testing.assert_array_equal(compiled.params["steps"], python.params["steps"])
    assert compiled.acceptance_counts == python.acceptance_counts
    np.testing.assert_allclose(compiled.costs, python.costs, rtol=1e-12)


def test_descent_reaches_a_local_optimum_of_its_moves(rng):
    tsp = TSP(rng.uniform(size=(300, 2)), moves=("2opt", "oropt"))
    result = hill_climb(tsp, num_chains=2, seed=0)
    ops = tsp._search_spec().ops
    for tour, cost in zip(result.states, result.costs):
        # Don't-look bits re-examine a city only when one of its own tour edges
        # changes, while some improving moves are seen only from the other ends:
        # a fresh pass over every city may still find a few (Bentley 1992).
        state = ops.prepare(tour)
        done, delta, evaluations, moves = ops.descend(state, 0.0, 10**9, 10**9)
        assert done == 1 and evaluations > 0
        assert moves <= 0.05 * tsp.n and -delta <= 0.03 * cost
    # Steps are moves applied; max_iters caps them and the run resumes exactly.
    capped = hill_climb(tsp, num_chains=2, seed=0, max_iters=7)
    assert capped.stop_reason == "max_iters" and capped.params["steps"].tolist() == [
        7,
        7,
    ]


def test_descent_chunks_and_threads_do_not_change_the_result(rng):
    tsp = TSP(rng.uniform(size=(500, 2)), metric="EUC_2D", initial="spacefill")
    runs = []
    for threads, chunk in ((1, 10**9), (2, 13)):
        run = run_of(tsp, "hill_climb", num_chains=2, num_threads=threads)
        while (run.backend.arrays.status == 0).any():
            run.backend.call(
                "descend",
                max_moves=chunk,
                tolerance=0.0,
                target=-math.inf,
                deadline=math.inf,
            )
        runs.append(run.backend.arrays.states.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="no descent of its own"):
        hill_climb(Ising(np.zeros(3), {(0, 1): 1.0}), strategy="descent")
    with pytest.raises(ValueError, match="no descent of its own"):
        hill_climb(TSP(rng.uniform(size=(9, 2)), candidates=None), strategy="descent")


# -- iterated local search -------------------------------------------------------------


@pytest.mark.parametrize(
    "moves, strength, kick_length",
    [(("2opt", "oropt"), 1, 50), (("2opt", "oropt", "3opt"), 2, 5), (("2opt",), 1, 3)],
)
def test_ils_equals_the_reference(moves, strength, kick_length):
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=moves, kick_length=kick_length)
    kwargs = dict(num_chains=3, seed=7, max_iters=150, strength=strength)
    compiled = iterated_local_search(tsp, backend="cython", **kwargs)
    python = iterated_local_search(tsp, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    np.testing.assert_array_equal(
        compiled.params["kicks_accepted"], python.params["kicks_accepted"]
    )
    assert (
        compiled.params["kick"] == "problem" and compiled.params["descent"] == "problem"
    )
    assert compiled.params["iterations"].tolist() == [150] * 3


def test_ils_generic_fallbacks_equal_the_reference(rng):
    # A TSP without candidate lists: first-improvement descent over all pairs
    # (still the double-bridge kick). Ising: random flips as kicks, copies of
    # the state and its local fields to roll back.
    tsp = TSP(rng.uniform(0, 100, size=(18, 2)), metric="EUC_2D", candidates=None)
    edges = {(i, (i + 1) % 30): float(rng.choice([-1, 1])) for i in range(30)}
    edges.update({(i, (i + 7) % 30): float(rng.choice([-1, 1])) for i in range(30)})
    ising = Ising(rng.integers(-1, 2, 30).astype(float), edges)
    for problem, kick in ((tsp, "problem"), (ising, "random moves")):
        kwargs = dict(num_chains=2, seed=1, max_iters=25)
        compiled = iterated_local_search(problem, backend="cython", **kwargs)
        python = iterated_local_search(problem, backend="reference", **kwargs)
        assert compiled.params["kick"] == kick
        assert compiled.params["descent"] == "first improvement"
        assert_same_run(compiled, python)
    # A Python problem runs on the reference engine.
    assert iterated_local_search(OneMax(12), max_iters=5, seed=0).objective == 12


def test_ils_rollback_from_an_overflowing_log_equals_the_reference():
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=("2opt", "oropt", "3opt"))
    args = list(tsp._core._init_args)
    args[11] = 3  # a 3-entry undo log: rollbacks fall back on the tour copy
    tsp._core = TSPCore(*args)
    kwargs = dict(num_chains=2, seed=9, max_iters=200, strength=3)
    assert_same_run(
        iterated_local_search(tsp, backend="cython", **kwargs),
        iterated_local_search(tsp, backend="reference", **kwargs),
    )


def test_ils_vtable_path_equals_the_inlined_path():
    tsp = TSP.from_tsplib(DATA / "eil51.tsp", moves=("2opt", "oropt", "3opt"))
    states = []
    for use_vtable in (False, True):
        run = run_of(tsp, num_chains=2, use_vtable=use_vtable)
        run.backend.call(
            "iterated_local_search",
            until=60,
            strength=1,
            tolerance=0.0,
            target=-math.inf,
            deadline=math.inf,
            pause_at=math.inf,
        )
        run.backend.call(
            "descend",
            max_moves=5,
            tolerance=0.0,
            target=-math.inf,
            deadline=math.inf,
        )
        states.append(run.backend.arrays.states.copy())
    np.testing.assert_array_equal(states[0], states[1])


def test_ils_threads_chunks_and_pauses_do_not_change_the_run():
    tsp = TSP(np.random.default_rng(5).uniform(size=(1500, 2)), metric="EUCLIDEAN")
    whole = iterated_local_search(tsp, num_chains=4, seed=2, max_iters=300)
    runs = [whole]
    for threads in (1, 2):
        run = run_of(tsp, num_chains=4, seed=2, num_threads=threads)
        done = 0
        while done < 300:  # ragged chunks, pausing the first descent at once
            run.backend.call(
                "iterated_local_search",
                until=min(300, done + 37),
                strength=1,
                tolerance=run.improvement_tolerance(),
                target=-math.inf,
                deadline=math.inf,
                pause_at=-math.inf,
            )
            done = int(run.backend.arrays.progress.min())
        run.stop_reason = "max_iters"  # what Run.loop would have set
        runs.append(run.result({}))
    for other in runs[1:]:
        np.testing.assert_array_equal(whole.states, other.states)
        assert whole.acceptance_counts == other.acceptance_counts


def test_ils_never_gets_worse_and_finds_optima():
    tsp = TSP.from_tsplib(DATA / "kroA100.tsp")
    result = iterated_local_search(tsp, num_chains=2, seed=0, max_iters=3000)
    best = result.history["best_costs"]
    assert np.all(np.diff(best, axis=0) <= 0)
    assert result.objective <= 1.005 * tsp.optimum
    accepted, evaluated = result.acceptance_counts
    assert 0 < accepted <= evaluated == result.n_evaluations
    assert np.all(result.params["kicks_accepted"] <= result.params["iterations"] - 1)
    hit = iterated_local_search(tsp, num_chains=2, seed=0, target=1.02 * tsp.optimum)
    assert hit.stop_reason == "target" and hit.objective <= 1.02 * tsp.optimum


def test_ils_time_limit_alone_uses_the_time():
    tsp = TSP(np.random.default_rng(1).uniform(size=(300, 2)))
    result = iterated_local_search(tsp, time_limit=0.3, num_chains=2, seed=0)
    assert result.stop_reason == "time_limit"
    assert result.elapsed >= 0.95 * 0.3
    assert result.params["max_iters"] is None


def test_ils_bad_arguments():
    tsp = TSP(np.random.default_rng(1).uniform(size=(20, 2)))
    with pytest.raises(ValueError, match="strength"):
        iterated_local_search(tsp, strength=0)
    with pytest.raises(TypeError, match="max_iters"):
        iterated_local_search(tsp, max_iters=2.5)

    class Walk(OneMax):  # a Python problem without a neighbourhood
        moves = Problem.moves

    with pytest.raises(TypeError, match="neighbourhood"):
        iterated_local_search(Walk(5))
