"""The TSP (``problems/tsp/``): exact deltas in the kernel, TSPLIB optimal tours,
compiled and Python distances to the bit, tour lengths, large instances, the
candidate moves and the don't-look-bit descent against the Python mirror, and
every bad input."""

import math

import numpy as np
import pytest
from _helpers import (
    LOCAL_SEARCH_METHODS,
    assert_exact_deltas,
    assert_same_run,
    coords_for,
    run_of,
)

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    ChainRNG,
    Ising,
    hill_climb,
    iterated_local_search,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search._run import Run
from attnsearch.search.problems.tsp._reference import (
    tour_length_reference,
    tsplib_distances,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

OPTIMA = {"berlin52": 7542, "eil51": 426, "st70": 675, "kroA100": 21282, "a280": 2579}


@pytest.mark.parametrize(
    "moves",
    [("2opt",), ("swap",), ("oropt",), ("3opt",), ("2opt", "swap", "oropt", "3opt")],
)
@pytest.mark.parametrize("metric", ["EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO"])
@pytest.mark.parametrize("candidates", ["nearest", None])
def test_tsp_deltas_are_exact(rng, moves, metric, candidates):
    if candidates is None and "3opt" in moves:
        pytest.skip("3-opt moves are built over candidate lists")
    n = int(rng.integers(4, 40))
    coords = (
        rng.uniform(-80, 80, size=(n, 2))
        if metric == "GEO"
        else rng.uniform(0, 1000, size=(n, 2))
    )
    problem = TSP(coords, metric=metric, moves=moves, candidates=candidates)
    worst = assert_exact_deltas(problem, rng)
    if metric != "EUCLIDEAN":
        assert worst == 0.0  # integer distances: exact


def test_tsp_matrix_deltas_and_tiny_instances(rng):
    n = 9
    m = rng.integers(1, 100, size=(n, n)).astype(float)
    m = np.triu(m, 1)
    m = m + m.T
    assert (
        assert_exact_deltas(TSP(distances=m, moves=("2opt", "swap", "oropt")), rng)
        == 0.0
    )
    for small in (1, 2, 3):
        tsp = TSP(rng.uniform(size=(small, 2)))
        assert tsp.tour_length(np.arange(small)) >= 0


@pytest.mark.parametrize("name", sorted(OPTIMA))
def test_tsplib_optimal_tours(name):
    problem = TSP.from_tsplib(DATA / f"{name}.tsp")
    tour = TSP.read_tour(DATA / f"{name}.opt.tour")
    assert (
        problem.n == len(tour) == int("".join(ch for ch in name if ch.isdigit())[-3:])
    )
    assert problem.tour_length(tour) == OPTIMA[name]
    assert problem.optimum == OPTIMA[name]  # read from the .opt.tour beside the file
    assert tour_length_reference(tour, problem.coords, kind="EUC_2D") == OPTIMA[name]


def test_tour_length_matches_reference_for_every_metric(rng):
    coords = rng.uniform(-80, 80, size=(50, 2))
    for metric in ["EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO"]:
        tsp = TSP(coords, metric=metric)
        tour = rng.permutation(50)
        np.testing.assert_allclose(
            tsp.tour_length(tour),
            tour_length_reference(tour, coords, kind=metric),
            rtol=1e-12,
        )
        assert tsp.tour_length(np.stack([tour, tour])).shape == (2,)


# GEO cities (DDD.MM) where the acos argument is +-1 or a few ulps from it:
# identical cities, the poles, cities 1e-6 degrees apart, antipodes (180
# degrees of longitude are TSPLIB's 3.141592 radians, not pi; the last pair
# gives exactly -1). Pairs of rows 2k, 2k+1.
GEO_NEAR = [
    [38.0, 20.0],
    [38.0, 20.0],
    [90.0, 0.0],
    [90.0, 123.45],
    [-90.0, 0.0],
    [-90.0, -77.3],
    [38.0, 20.0],
    [38.0, 20.000001],
    [38.0, 20.0],
    [38.000001, 20.0],
]
GEO_ANTIPODES = [
    [90.0, 0.0],
    [-90.0, 0.0],
    [38.0, 20.0],
    [-38.0, -160.0],
    [0.0, 0.0],
    [0.0, 180.0],
    [45.0, 90.0],
    [-45.0, -90.0],
    [89.59, 179.59],
    [-89.59, -0.01],
]


def cities_on_the_edges(metric, rng):
    """Random cities, then those where ``metric`` rounds on an edge."""
    if metric == "GEO":
        random = rng.uniform([-90, -180], [90, 180], size=(40, 2))
        return np.vstack([random, GEO_NEAR, GEO_ANTIPODES])
    edges = [
        [0.0, 0.0],
        [1.5, 2.0],  # 2.5 from the first: EUC_2D rounds half up
        [10.0, 30.0],  # ATT: sqrt(1000 / 10) = 10 exactly
        [3.0, 4.0],
        [3.0, 4.0],  # a duplicate city
        [0.0, 2.4999],
        [1e7, -1e7],
    ]
    return np.vstack([rng.uniform(-1000, 1000, size=(40, 2)), edges])


def bits(values):
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


@pytest.mark.parametrize(
    "metric", ["EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN", "MATRIX"]
)
def test_compiled_and_python_distances_are_the_same_bits(rng, metric):
    if metric == "MATRIX":
        matrix = np.triu(rng.uniform(0, 1000, size=(30, 30)), 1)
        matrix += matrix.T
        tsp = TSP(distances=matrix)
    else:
        coords = cities_on_the_edges(metric, rng)
        tsp = TSP(coords, metric=metric)
    i, j = (a.ravel() for a in np.meshgrid(np.arange(tsp.n), np.arange(tsp.n)))
    compiled = tsp._core.pair_distances(i, j)
    ops = tsp._search_spec().ops
    scalar = [ops.distance(a, b) for a, b in zip(i.tolist(), j.tolist())]
    np.testing.assert_array_equal(bits(compiled), bits(scalar))
    if metric == "MATRIX":
        np.testing.assert_array_equal(bits(compiled), bits(matrix[i, j]))
    else:
        vectorised = tsplib_distances(coords, i, j, metric)
        np.testing.assert_array_equal(bits(compiled), bits(vectorised))
    assert tsp.distance(3, 17) == compiled[3 * tsp.n + 17]
    if metric == "GEO":
        near = 40 + np.arange(0, len(GEO_NEAR), 2)
        antipodes = 40 + len(GEO_NEAR) + np.arange(0, len(GEO_ANTIPODES), 2)
        # TSPLIB95's shortest and longest GEO distances: 1 and (int)(RRR pi + 1).
        np.testing.assert_array_equal(tsp._core.pair_distances(near, near + 1), 1.0)
        np.testing.assert_array_equal(
            tsp._core.pair_distances(antipodes, antipodes + 1), 20039.0
        )
    # Tour lengths through the engine (each CPU target's inlined tsp_distance)
    # equal the Python sums, bit for bit.
    tours = np.array([rng.permutation(tsp.n) for _ in range(4)], dtype=np.int32)
    run = Run(
        "hill_climb",
        tsp,
        num_chains=4,
        initial_states=tours,
        seed=0,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="cython",
    )
    python = [ops.cost(ops.prepare(tour)) for tour in tours]
    np.testing.assert_array_equal(bits(run.backend.arrays.cost), bits(python))


def test_large_instance_needs_no_matrix(rng):
    tsp = TSP(rng.uniform(size=(100_000, 2)))
    assert tsp.distances is None
    tour = rng.permutation(100_000)
    assert 0 < tsp.tour_length(tour) < 100_000 * 1.5


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
    "moves",
    [
        ("2opt",),
        ("oropt",),
        ("2opt", "oropt"),
        ("2opt", "oropt", "3opt"),
        ("2opt", "oropt", "3opt", "lk"),
        ("swap", "lk"),
    ],
)
@pytest.mark.parametrize("instance", ["eil51", "matrix", "geo", "euclidean"])
def test_descent_equals_the_reference(rng, moves, instance):
    _assert_descent_equals_the_reference(rng, instance, moves=moves)


@pytest.mark.parametrize("instance", ["eil51", "matrix", "geo", "euclidean"])
def test_descent_with_the_alternate_step_equals_the_reference(rng, instance):
    # With the alternate first step the descent leaves out its 3-opt stage.
    tsp = _assert_descent_equals_the_reference(rng, instance, lk_alternate=True)
    assert "3opt" in tsp.moves and not tsp._reference.descent_3opt
    off = TSP(np.eye(6, 2) + np.arange(6)[:, None], lk_alternate=False)
    assert off._reference.descent_3opt


def _assert_descent_equals_the_reference(rng, instance, **options):
    if instance == "eil51":
        tsp = TSP.from_tsplib(DATA / "eil51.tsp", **options)
    elif instance == "matrix":
        coords = rng.uniform(0, 100, size=(45, 2))
        full = np.round(np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1)))
        tsp = TSP(distances=full, **options)
    else:
        metric = "GEO" if instance == "geo" else "EUCLIDEAN"
        tsp = TSP(coords_for(metric, rng, 60), metric=metric, **options)
    kwargs = dict(num_chains=3, seed=4)
    compiled = hill_climb(tsp, backend="cython", **kwargs)
    python = hill_climb(tsp, backend="reference", **kwargs)
    assert compiled.params["strategy"] == python.params["strategy"] == "descent"
    assert compiled.stop_reason == "converged"
    np.testing.assert_array_equal(compiled.states, python.states)
    np.testing.assert_array_equal(compiled.params["steps"], python.params["steps"])
    assert compiled.acceptance_counts == python.acceptance_counts
    np.testing.assert_allclose(compiled.costs, python.costs, rtol=1e-12)
    return tsp


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


@pytest.mark.parametrize("alternate", [False, True])
def test_descent_chunks_and_threads_do_not_change_the_result(rng, alternate):
    tsp = TSP(
        rng.uniform(size=(500, 2)),
        metric="EUC_2D",
        initial="spacefill",
        lk_alternate=alternate,
    )
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


# -- the Lin-Kernighan step --------------------------------------------------------


@pytest.mark.parametrize("alternate", [False, True])
@pytest.mark.parametrize("metric", ["EUC_2D", "EUCLIDEAN"])
@pytest.mark.parametrize(
    "breadth, max_flip", [((5, 3, 2), 1000), ((1,), 5), ((8,) * 4, 9)]
)
def test_lk_moves_gain_what_they_claim(rng, metric, breadth, max_flip, alternate):
    # The descent with the Lin-Kernighan step alone ("swap" is not a descent
    # move), one move at a time in the Python mirror: the claimed gain of each
    # applied move is the tour's real change, the tour stays a permutation, and
    # the compiled descent takes the same steps.
    tsp = TSP(
        rng.uniform(0, 1000, size=(70, 2)),
        metric=metric,
        moves=("swap", "lk"),
        lk_depth=12,
        lk_breadth=breadth,
        lk_max_flip=max_flip,
        lk_alternate=alternate,
        initial="random",
    )
    ops = tsp._search_spec().ops
    state = ops.prepare(rng.permutation(tsp.n).astype(np.int32))
    length = tsp.tour_length(ops.export(state))
    moves = 0
    while True:
        done, delta, evaluations, applied = ops.descend(state, 0.0, 1, 10**9)
        tour = ops.export(state)
        assert sorted(tour) == list(range(tsp.n))
        now = tsp.tour_length(tour)
        if metric == "EUC_2D":
            assert now - length == delta
        else:
            assert now - length == pytest.approx(delta, abs=1e-7)
        assert applied <= 1 and (applied == 0 or delta < 0)
        moves += applied
        length = now
        if done:
            break
    assert moves > tsp.n // 2  # from a random tour: many moves, several deep
    compiled = hill_climb(tsp, backend="cython", num_chains=2, seed=1)
    python = hill_climb(tsp, backend="reference", num_chains=2, seed=1)
    np.testing.assert_array_equal(compiled.states, python.states)
    assert compiled.acceptance_counts == python.acceptance_counts


def test_lk_local_optimum_has_no_improving_candidate_2opt_move(rng):
    # Descend with the Lin-Kernighan step alone, restarting with every city
    # active until a whole pass finds nothing: then no 2-opt move that swaps a
    # tour edge (t1, t2) for a shorter candidate edge (t2, t3) gains (the
    # step's first level closes each one), checked here by enumeration,
    # independently of the step.
    tsp = TSP(rng.uniform(0, 1000, size=(90, 2)), metric="EUC_2D", moves=("swap", "lk"))
    ops = tsp._search_spec().ops
    tour = rng.permutation(tsp.n).astype(np.int32)
    while True:
        state = ops.prepare(tour)
        done, delta, evaluations, applied = ops.descend(state, 0.0, 10**9, 10**9)
        tour = ops.export(state)
        if applied == 0:
            break
    n, cand, d = tsp.n, tsp.candidates, tsp.distance
    pos = np.empty(n, dtype=np.int64)
    pos[tour] = np.arange(n)
    for i in range(n):
        for step in (1, -1):
            t1, t2 = tour[i], tour[(i + step) % n]
            for t3 in cand[t2]:
                t4 = tour[(pos[t3] - step) % n]
                if t3 in (t1, t2) or t4 == t2 or d(t2, t3) >= d(t1, t2):
                    continue  # (the gain criterion: (t2, t3) shorter than (t1, t2))
                gain = d(t1, t2) + d(t3, t4) - d(t2, t3) - d(t4, t1)
                assert gain <= 0, (t1, t2, t3, t4)


def test_undo_log_keeps_no_dead_ends_and_rollback_restores(rng, monkeypatch):
    # The step's tentative exchanges are undone when they find nothing: the
    # pair cancels in the log, so a rollback replays only what stayed made.
    tsp = TSP(rng.uniform(0, 100, size=(300, 2)), metric="EUC_2D")
    reference = tsp._reference
    made = []
    reverse = type(reference)._reverse_raw

    def counting(self, state, first, count):
        made.append((first, count))
        reverse(self, state, first, count)

    monkeypatch.setattr(type(reference), "_reverse_raw", counting)
    st = reference.prepare([int(c) for c in rng.permutation(300)])
    reference._descend(st, 0.0, 2**62, 2**62)
    chain = ChainRNG(np.array([1, 2, 3, 4], dtype=np.uint64))
    logged = 0
    made.clear()
    for _ in range(20):
        start = list(st.tour)
        reference.checkpoint(st)
        reference.kick(st, chain, 1)
        reference._descend(st, 0.0, 2**62, 2**62)
        logged += len(st.log)
        assert all(a != b for a, b in zip(st.log, st.log[1:]))
        reference.rollback(st)
        assert list(st.tour) == start
        assert all(st.pos[city] == i for i, city in enumerate(st.tour))
    assert 0 < logged < len(made) // 3


def _tour_edges(tour):
    n = len(tour)
    return {frozenset((tour[i], tour[(i + 1) % n])) for i in range(n)}


def _alternate_step_edges(tour, t1, t2, t3, t5, after):
    """The tour's edges with the alternate first step made by hand: t1 t2 ..
    t3 t4 run in one direction, t5 on t2 .. t3, t6 after or before it."""
    n = len(tour)
    pos = {city: i for i, city in enumerate(tour)}
    step = 1 if tour[(pos[t1] + 1) % n] == t2 else -1
    t4 = tour[(pos[t3] + step) % n]
    t6 = tour[(pos[t5] + (step if after else -step)) % n]
    edges = _tour_edges(tour)
    edges -= {frozenset(e) for e in ((t1, t2), (t3, t4), (t5, t6))}
    edges |= {frozenset(e) for e in ((t2, t3), (t4, t5), (t6, t1))}
    return edges, t4, t6


@pytest.mark.parametrize("forward", [True, False])
def test_lk_alternate_exchanges_make_the_3opt_move_and_undo_it(rng, forward):
    # Every configuration of the alternate first step on a small tour, both
    # directions and both t6: the exchanges leave a single tour with exactly
    # the move's edges, and undoing them restores the array itself and
    # cancels their entries in the undo log.
    n = 12
    tsp = TSP(rng.uniform(0, 100, size=(n, 2)), metric="EUC_2D", lk_alternate=True)
    reference = tsp._reference
    tour = [int(c) for c in rng.permutation(n)]
    made = 0
    for i1 in range(n):
        t1 = tour[i1]
        step = 1 if forward else -1
        t2 = tour[(i1 + step) % n]
        for k in range(2, n - 1):  # t3 at k steps from t2, t4 = the one after
            t3 = tour[(i1 + step * (1 + k)) % n]
            if tour[(i1 + step * (2 + k)) % n] == t1:
                continue
            for j in range(k + 1):  # t5 on t2 .. t3
                t5 = tour[(i1 + step * (1 + j)) % n]
                for after in (True, False):
                    if (after and t5 == t3) or (not after and j <= 1):
                        continue  # (t3, t4) or (t1, t2) again, as the step skips
                    edges, t4, t6 = _alternate_step_edges(tour, t1, t2, t3, t5, after)
                    st = reference.prepare(tour)
                    reference.checkpoint(st)
                    args = (st, t1, t2, t3, t4, t5, t6, after)
                    reference._lk_alternate_exchange(*args, False)
                    now = list(st.tour)
                    assert sorted(now) == list(range(n))
                    assert all(st.pos[c] == i for i, c in enumerate(now))
                    assert _tour_edges(now) == edges
                    assert st.tour[(st.pos[t1] + 1) % n] == t6 or (
                        st.tour[(st.pos[t1] - 1) % n] == t6
                    )
                    reference._lk_alternate_exchange(*args, True)
                    assert list(st.tour) == tour and st.log == []
                    made += 1
    assert made > 300


def test_lk_alternate_step_is_taken_and_matches_the_kernel(rng, monkeypatch):
    # ILS with the default moves and the alternate first step: the step is
    # made (closing and as the start of deeper moves), every run stays equal
    # to the compiled one, and a rollback restores the tour exactly.
    tsp = TSP(rng.uniform(0, 1000, size=(400, 2)), metric="EUC_2D", lk_alternate=True)
    reference = tsp._reference
    calls = {False: 0, True: 0}
    exchange = type(reference)._lk_alternate_exchange

    def counting(self, st, t1, t2, t3, t4, t5, t6, after, undo):
        calls[undo] += 1
        exchange(self, st, t1, t2, t3, t4, t5, t6, after, undo)

    monkeypatch.setattr(type(reference), "_lk_alternate_exchange", counting)
    st = reference.prepare([int(c) for c in rng.permutation(tsp.n)])
    reference._descend(st, 0.0, 2**62, 2**62)
    chain = ChainRNG(np.array([5, 6, 7, 8], dtype=np.uint64))
    for _ in range(30):
        start = list(st.tour)
        reference.checkpoint(st)
        reference.kick(st, chain, 1)
        reference._descend(st, 0.0, 2**62, 2**62)
        reference.rollback(st)
        assert list(st.tour) == start
        assert all(st.pos[city] == i for i, city in enumerate(st.tour))
    assert calls[True] > 0 and calls[False] > calls[True]
    kwargs = dict(num_chains=2, seed=2, max_iters=60)
    compiled = iterated_local_search(tsp, backend="cython", **kwargs)
    python = iterated_local_search(tsp, backend="reference", **kwargs)
    np.testing.assert_array_equal(compiled.states, python.states)
    assert compiled.acceptance_counts == python.acceptance_counts
    assert compiled.best_cost == tsp.tour_length(compiled.best_state)


def test_lk_bad_input(rng):
    coords = rng.uniform(size=(30, 2))
    with pytest.raises(ValueError, match="descent step"):
        TSP(coords, moves=("lk",))
    with pytest.raises(ValueError, match="candidate lists"):
        TSP(coords, moves=("2opt", "lk"), candidates=None)
    with pytest.raises(ValueError, match="lk_depth"):
        TSP(coords, lk_depth=0)
    with pytest.raises(ValueError, match="lk_depth"):
        TSP(coords, lk_depth=65)
    with pytest.raises(TypeError, match="lk_depth"):
        TSP(coords, lk_depth=2.5)
    with pytest.raises(ValueError, match="lk_breadth"):
        TSP(coords, lk_breadth=(3, 0))
    with pytest.raises(ValueError, match="lk_breadth"):
        TSP(coords, lk_breadth=(1,) * 9)
    with pytest.raises(TypeError, match="lk_breadth"):
        TSP(coords, lk_breadth=3)
    with pytest.raises(ValueError, match="lk_max_flip"):
        TSP(coords, lk_max_flip=0)
    for bad in (1, "yes", 0.5):
        with pytest.raises(TypeError, match="lk_alternate"):
            TSP(coords, lk_alternate=bad)
    assert TSP(coords, lk_alternate=np.bool_(True)).lk_alternate is True
    with pytest.raises(ValueError, match="move_weights"):
        TSP(coords, moves=("2opt", "swap", "lk"), move_weights=[1, 1, 1])
    tsp = TSP(coords, moves=("2opt", "swap", "lk"), move_weights=[1, 3])
    np.testing.assert_allclose(tsp.move_weights, [0.25, 0.75])


# -- bad input ---------------------------------------------------------------------


def test_tsp_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        TSP()
    with pytest.raises(ValueError, match="exactly one"):
        TSP(np.ones((3, 2)), distances=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        TSP(np.ones((3, 3)))
    with pytest.raises(ValueError, match="at least one city"):
        TSP(np.ones((0, 2)))
    with pytest.raises(ValueError, match="not finite"):
        TSP(np.array([[0, 0], [np.nan, 1]]))
    with pytest.raises(ValueError, match="metric"):
        TSP(np.ones((3, 2)), metric="MANHATTAN")
    with pytest.raises(ValueError, match="not symmetric"):
        TSP(distances=np.array([[0, 1], [2, 0]]))
    with pytest.raises(ValueError, match="negative"):
        TSP(distances=np.array([[0, -1], [-1, 0]]))
    with pytest.raises(ValueError, match="not finite"):
        TSP(distances=np.array([[0, np.inf], [np.inf, 0]]))
    with pytest.raises(ValueError, match="square"):
        TSP(distances=np.ones((2, 3)))
    with pytest.raises(ValueError, match="moves"):
        TSP(np.ones((5, 2)), moves=("4opt",))
    with pytest.raises(ValueError, match="moves"):
        TSP(np.ones((5, 2)), moves=("2opt", "2opt"))
    with pytest.raises(ValueError, match="move_weights"):
        TSP(np.ones((5, 2)), moves=("2opt", "swap"), move_weights=[1, -1])
    tsp = TSP(np.random.default_rng(0).uniform(size=(5, 2)))
    with pytest.raises(ValueError, match="not a permutation"):
        tsp.tour_length([0, 1, 2, 3, 3])
    with pytest.raises(ValueError, match="5 cities"):
        tsp.tour_length([0, 1, 2])
    with pytest.raises(TypeError, match="integers"):
        tsp.tour_length([0.0, 1, 2, 3, 4])


# Hostile input: these were accepted before, and tour lengths overflowed.
def test_tsp_values_that_would_overflow_are_refused():
    with pytest.raises(ValueError, match="overflow"):
        TSP([[0, 0], [1e300, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="overflow"):
        TSP(distances=np.full((4, 4), 1e300) - np.diag(np.full(4, 1e300)))
    # Large but representable inputs still work and stay finite.
    big = TSP(np.random.default_rng(0).uniform(0, 1e100, size=(30, 2)))
    assert np.isfinite(simulated_annealing(big, num_sweeps=20, seed=0).objective)


def test_integer_metric_tours_beyond_exact_float_sums_are_inexact():
    # ATT distances of ~1e16 are integers float64 cannot add exactly: the
    # problem was declared exact and the delta-vs-cost check fired on rounding.
    coords = np.array(
        [[-3.0172e16, 1.3496e16], [1.3496e16, 1.3496e16], [-7.1475e16, 1.3496e16]]
        + [[1e16 * k, -1e16 * k] for k in range(4)]
    )
    tsp = TSP(coords, metric="ATT")
    assert not tsp._search_spec().exact
    assert TSP(coords / 1e12, metric="ATT")._search_spec().exact
    for method in LOCAL_SEARCH_METHODS:
        budget = "num_sweeps" if method is simulated_annealing else "max_iters"
        result = method(tsp, num_chains=2, seed=0, **{budget: 50})
        assert np.isfinite(result.objective)


def test_default_kick_length_and_lk_alternate_by_size():
    from attnsearch.search.problems.tsp.problem import LARGE_KICK_CITIES

    coords = np.random.default_rng(0).uniform(size=(LARGE_KICK_CITIES, 2))
    large = TSP(coords)
    assert large.kick_length == 100  # nearest lists, a large instance
    assert large.lk_alternate is False  # measured no better at 200 000 cities
    small = TSP(coords[:999])
    assert small.kick_length == 50  # nearest lists below 1000
    assert small.lk_alternate is True
    given = TSP(coords, kick_length=50, lk_alternate=True)  # as given
    assert (given.kick_length, given.lk_alternate) == (50, True)
    assert TSP(coords[:2000]).kick_length == 100  # alpha lists
    assert TSP(coords[:300], lk_alternate=False).lk_alternate is False


def test_kick_length_bad_input(rng):
    coords = rng.uniform(size=(30, 2))
    with pytest.raises(ValueError, match="kick_length"):
        TSP(coords, kick_length=0)
    with pytest.raises(TypeError, match="kick_length"):
        TSP(coords, kick_length=1.5)
    with pytest.raises(TypeError, match="kick_length"):
        TSP(coords, kick_length=True)
    # Beyond 64 bits: refused by name, not an OverflowError from the core.
    with pytest.raises(ValueError, match="kick_length must be an int that fits"):
        TSP(coords, kick_length=2**70)
