"""Problems: exact deltas, TSPLIB optima, conversions, and every bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from attnsearch._dispatch import kernels
from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import QUBO, TSP, Ising, MaxCut
from attnsearch.search._run import Run
from attnsearch.search._seeding import chain_rng_states
from attnsearch.search.problems.ising import read_cut
from attnsearch.search.problems.tsp._core import TSPCore
from attnsearch.search.problems.tsp._reference import (
    tour_length_reference,
    tsplib_distances,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

OPTIMA = {"berlin52": 7542, "eil51": 426, "st70": 675, "kroA100": 21282, "a280": 2579}


def random_ising(rng, n, degree=3, integer=True):
    edges = {}
    for i in range(n):
        for j in rng.choice(n, degree, replace=False):
            if i != j:
                w = float(rng.choice([-1, 1])) if integer else float(rng.normal())
                edges[(min(i, j), max(i, j))] = w
    h = rng.integers(-2, 3, n).astype(float) if integer else rng.normal(size=n)
    return Ising(h, edges)


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
    from attnsearch.search import ChainRNG

    return ChainRNG(rng.integers(1, 2**63, size=4, dtype=np.uint64))


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


@pytest.mark.parametrize("integer", [True, False])
def test_ising_deltas_and_fields(rng, integer):
    problem = random_ising(rng, 40, integer=integer)
    worst = assert_exact_deltas(problem, rng)
    if integer:
        assert worst == 0.0


def test_ising_energy_formula(rng):
    n = 12
    J = np.triu(rng.normal(size=(n, n)), 1)
    J = J + J.T
    h = rng.normal(size=n)
    ising = Ising(h, J, offset=0.5)
    spins = rng.choice([-1, 1], size=(5, n))
    want = spins @ h + 0.5 * np.einsum("ki,ij,kj->k", spins, J, spins) + 0.5
    np.testing.assert_allclose(ising.energy(spins), want)
    # Same model from a sparse matrix and from a dict of pairs.
    pairs = {(i, j): J[i, j] for i in range(n) for j in range(i + 1, n)}
    for other in (Ising(h, sp.csr_matrix(J), offset=0.5), Ising(h, pairs, offset=0.5)):
        np.testing.assert_allclose(other.energy(spins), want)
    np.testing.assert_allclose(ising.J.toarray(), J)


def test_qubo_ising_round_trip(rng):
    n = 10
    Q = rng.integers(-5, 6, size=(n, n)).astype(float)
    qubo = QUBO(Q, offset=3)
    x = rng.integers(0, 2, size=(20, n))
    want = np.einsum("ki,ij,kj->k", x, Q, x) + 3
    np.testing.assert_allclose(qubo.energy(x), want)
    ising = qubo.to_ising()
    np.testing.assert_allclose(ising.energy(2 * x - 1), want)
    back = ising.to_qubo()
    np.testing.assert_allclose(back.energy(x), want)
    assert Ising.from_qubo(Q, offset=3).energy(2 * x[0] - 1) == pytest.approx(want[0])
    # dict form, with (i, j) and (j, i) adding up as in dimod
    q_dict = {(i, j): Q[i, j] for i in range(n) for j in range(n) if Q[i, j]}
    np.testing.assert_allclose(QUBO(q_dict, offset=3, n=n).energy(x), want)
    assert qubo._search_spec().exact  # integer Q: quarter-integer Ising, exact


def test_maxcut_cut_value_and_ising(rng):
    n = 30
    edges = np.array(
        [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.2]
    )
    weights = rng.integers(-3, 4, size=len(edges)).astype(float)
    g = MaxCut(n, edges, weights)
    spins = rng.choice([-1, 1], size=(8, n))
    cut = np.array(
        [sum(w for (i, j), w in zip(edges, weights) if s[i] != s[j]) for s in spins]
    )
    np.testing.assert_allclose(g.cut_value(spins), cut)
    energy = g.to_ising().energy(spins)
    np.testing.assert_allclose((g.total_weight - energy) / 2, cut)
    assert g.objective(energy[0]) == pytest.approx(cut[0])


def test_gset_witness_cut():
    g = MaxCut.from_gset(DATA / "G11.txt")
    spins = read_cut(DATA / "G11.cut", n=g.n)
    assert g.cut_value(spins) == 562
    energy = g.to_ising().energy(spins)
    assert (g.total_weight - energy) / 2 == 562


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


def test_ising_bad_input():
    with pytest.raises(ValueError, match="not symmetric"):
        Ising(np.zeros(2), np.array([[0, 1], [2, 0]]))
    with pytest.raises(ValueError, match="diagonal"):
        Ising(np.zeros(2), np.array([[1, 0], [0, 0]]))
    with pytest.raises(ValueError, match="not finite"):
        Ising(np.zeros(2), np.array([[0, np.nan], [np.nan, 0]]))
    with pytest.raises(ValueError, match="twice"):
        Ising(np.zeros(3), {(0, 1): 1, (1, 0): 1})
    with pytest.raises(ValueError, match="out of range"):
        Ising(np.zeros(3), {(0, 5): 1})
    with pytest.raises(ValueError, match="itself"):
        Ising(np.zeros(3), {(1, 1): 1})
    with pytest.raises(ValueError, match="not a pair"):
        Ising(np.zeros(3), {(0, 1, 2): 1})
    with pytest.raises(ValueError, match="h has 3 entries"):
        Ising(np.zeros(3), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="not finite"):
        Ising(np.array([0.0, np.inf]), {})
    with pytest.raises(ValueError, match="not symmetric"):
        Ising(np.zeros(2), sp.csr_matrix(np.array([[0, 1.0], [0, 0]])))
    ising = Ising(np.zeros(3), {(0, 1): 1})
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        ising.energy([1, 0, 1])


def test_qubo_and_maxcut_bad_input():
    with pytest.raises(ValueError, match="square"):
        QUBO(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not finite"):
        QUBO(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="n=1"):
        QUBO({(0, 3): 1.0}, n=1)
    with pytest.raises(ValueError, match="0 and 1"):
        QUBO(np.eye(2)).energy([0, 2])
    with pytest.raises(ValueError, match="non-negative"):
        MaxCut(-1, [])
    with pytest.raises(ValueError, match="outside"):
        MaxCut(3, [(0, 3)])
    with pytest.raises(ValueError, match="self-loop"):
        MaxCut(3, [(1, 1)])
    with pytest.raises(ValueError, match="duplicate edge"):
        MaxCut(3, [(0, 1), (1, 2), (1, 0)])
    with pytest.raises(ValueError, match="not finite"):
        MaxCut(3, [(0, 1)], [np.nan])
    with pytest.raises(ValueError, match="weights must have shape"):
        MaxCut(3, [(0, 1)], [1, 2])
