"""Parallel tempering: kernel vs reference, threads, exchange rule, cluster moves,
ladders, defaults and errors."""

import itertools
import math

import numpy as np
import pytest
from _problems import OneMax

from attnsearch._dispatch import kernels
from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    Continuous,
    Ising,
    MaxCut,
    _engine_reference,
    geometric_ladder,
    parallel_tempering,
)
from attnsearch.search._rng import ChainRNG
from attnsearch.search._run import Run
from attnsearch.search.methods.tempering import (
    TemperingBackend,
    _adapted_betas,
    default_num_replicas,
    lattice_like,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

_engine = kernels("search")


def torus(rows, cols, rng, signs=True):
    """A rows x cols toroidal grid, +-1 couplings (or all +1)."""
    edges, weights = [], []
    for r, c in itertools.product(range(rows), range(cols)):
        i = r * cols + c
        for j in (r * cols + (c + 1) % cols, ((r + 1) % rows) * cols + c):
            edges.append((min(i, j), max(i, j)))
            weights.append(float(rng.choice([-1, 1])) if signs else 1.0)
    return MaxCut(rows * cols, edges, weights)


def random_regular(n, degree, rng):
    stubs = np.repeat(np.arange(n), degree)
    while True:
        rng.shuffle(stubs)
        pairs = np.sort(stubs.reshape(-1, 2), axis=1)
        if not np.any(pairs[:, 0] == pairs[:, 1]) and len(
            np.unique(pairs, axis=0)
        ) == len(pairs):
            break
    return Ising(np.zeros(n), {(int(a), int(b)): 1.0 for a, b in pairs})


def assert_same_run(a, b):
    assert np.array_equal(np.asarray(a.states), np.asarray(b.states))
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations
    assert a.acceptance_counts == b.acceptance_counts
    np.testing.assert_array_equal(a.params["swap_rates"], b.params["swap_rates"])
    np.testing.assert_array_equal(a.params["ladders"], b.params["ladders"])
    np.testing.assert_array_equal(
        a.params["cluster_counts"], b.params["cluster_counts"]
    )


# -- kernel vs reference, threads, seeds -----------------------------------------------


@pytest.mark.parametrize("clusters", [False, True])
@pytest.mark.parametrize("ladder", ["geometric", "adaptive"])
def test_kernel_equals_reference_on_spins(rng, clusters, ladder):
    problem = torus(4, 5, rng)
    kwargs = dict(
        num_sweeps=250,
        num_replicas=4,
        num_chains=3,
        seed=7,
        cluster_moves=clusters,
        ladder=ladder,
    )
    compiled = parallel_tempering(problem, **kwargs)
    python = parallel_tempering(problem, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    assert compiled.params["cluster_moves"] is clusters
    assert (compiled.params["cluster_counts"][:, 0] > 0).all() == clusters
    if ladder == "adaptive":
        assert compiled.params["adaptations"] == 0  # 250 rounds: < 100 adapting
    assert compiled.params["backend"] == "cython"
    assert python.params["backend"] == "reference"


def test_adaptive_ladder_kernel_equals_reference(rng):
    problem = torus(4, 4, rng)
    kwargs = dict(num_sweeps=800, num_replicas=5, seed=3, ladder="adaptive")
    compiled = parallel_tempering(problem, **kwargs)
    python = parallel_tempering(problem, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    assert compiled.params["adaptations"] == 2  # a quarter of 800, every 100
    ladder = compiled.params["ladders"][0]
    assert (
        ladder[0] == compiled.params["t_min"] and ladder[-1] == compiled.params["t_max"]
    )
    assert np.all(np.diff(ladder) > 0)


def test_kernel_equals_reference_on_tsp_and_continuous():
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp")
    for problem in (tsp, Continuous.builtin("rastrigin", dim=3)):
        kwargs = dict(num_sweeps=15, num_replicas=3, num_chains=2, seed=5)
        assert_same_run(
            parallel_tempering(problem, **kwargs),
            parallel_tempering(problem, backend="reference", **kwargs),
        )


def test_python_problem_runs_on_the_reference():
    result = parallel_tempering(OneMax(20), num_sweeps=100, num_replicas=3, seed=0)
    assert result.params["backend"] == "reference"
    assert result.objective == 20  # OneMax's maximum: every bit set


@pytest.mark.parametrize("num_chains", [1, 3])
@pytest.mark.parametrize("clusters", [False, True])
def test_bitwise_identical_for_any_thread_count(rng, num_chains, clusters):
    # 4096 spins x 8 rungs x 2 ladders: with one chain the replicas of a round
    # are swept in parallel (the round-synchronous scheme), with three each
    # chain runs in its own thread.
    problem = torus(64, 64, rng) if num_chains == 1 else torus(6, 6, rng)
    kwargs = dict(
        num_sweeps=4 if num_chains == 1 else 60,
        num_replicas=8 if clusters else 16,
        num_chains=num_chains,
        seed=9,
        cluster_moves=clusters,
    )
    runs = [parallel_tempering(problem, num_threads=t, **kwargs) for t in (1, 2, 4)]
    for other in runs[1:]:
        assert_same_run(runs[0], other)


def test_same_seed_same_run_other_seed_other_run(rng):
    problem = torus(5, 5, rng)
    a, b, c = (
        parallel_tempering(problem, num_sweeps=50, num_replicas=4, seed=s)
        for s in (1, 1, 2)
    )
    assert_same_run(a, b)
    assert not np.array_equal(a.params["ladders"], c.params["ladders"]) or (
        a.acceptance_counts != c.acceptance_counts
    )


def test_chain_streams_do_not_depend_on_num_chains(rng):
    problem = torus(5, 5, rng)
    two = parallel_tempering(
        problem, num_sweeps=40, num_replicas=3, num_chains=2, seed=4
    )
    five = parallel_tempering(
        problem, num_sweeps=40, num_replicas=3, num_chains=5, seed=4
    )
    np.testing.assert_array_equal(np.asarray(five.states)[:2], np.asarray(two.states))
    np.testing.assert_array_equal(five.params["ladders"][:2], two.params["ladders"])


# -- the exchange rule and the cluster move --------------------------------------------


def cold_rung_energies(problem, ladder, rounds, clusters, seed=0):
    """Energy of the replica on the coldest rung after every round."""

    def make(run, rng_states):
        return TemperingBackend(
            run, rng_states, len(ladder), 2 if clusters else 1, None
        )

    run = Run(
        "parallel_tempering",
        problem,
        num_chains=1,
        initial_states=None,
        seed=seed,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="auto",
        make_backend=make,
    )
    backend = run.backend
    backend.betas[:] = 1.0 / np.asarray(ladder)
    energies = np.empty(rounds)
    for k in range(rounds):
        backend.temper(
            n_rounds=1,
            sweep_len=run.spec.size,
            target=-math.inf,
            deadline=math.inf,
            cluster_rungs=len(ladder) if clusters else 0,
        )
        energies[k] = backend.replicas.arrays.cost[backend.replica_at[0, 0]]
    return energies, backend


@pytest.mark.parametrize("clusters", [False, True])
def test_coldest_rung_samples_the_boltzmann_distribution(clusters):
    """Sweeps, exchanges and cluster moves all keep each rung's Boltzmann
    distribution: the coldest replica's energies match exact enumeration."""
    rng = np.random.default_rng(0)
    n = 6
    couplings = {
        (i, j): float(rng.choice([-1.0, 1.0]))
        for i in range(n)
        for j in range(i + 1, n)
        if rng.random() < 0.7
    }
    ising = Ising(rng.choice([-0.5, 0.0, 0.5], n), couplings)
    ladder = [0.8, 1.6, 3.2]
    energies, backend = cold_rung_energies(ising, ladder, 20_000, clusters)
    spins = np.array(list(itertools.product([-1, 1], repeat=n)), dtype=np.int8)
    exact = np.array([ising.energy(s) for s in spins])
    weights = np.exp(-(exact - exact.min()) / ladder[0])
    levels = np.unique(exact)
    expected = np.array([weights[exact == e].sum() for e in levels]) / weights.sum()
    seen = np.array([np.mean(energies == e) for e in levels])
    # correlated samples: a generous 5-sigma band on ~4000 effective samples
    sigma = np.sqrt(expected * (1 - expected) / 4000)
    assert np.all(np.abs(seen - expected) <= 5 * sigma + 1e-3), (seen, expected)
    assert backend.swap_accepts.sum() > 0


def test_exchange_rule_is_exact(rng):
    """Two rungs with hand-set energies, the exchange step alone (the reference's,
    which the kernel matches step for step): accepted with probability
    min(1, exp((b0 - b1)(E0 - E1))), and the replicas trade rungs."""
    ops = torus(3, 3, rng)._search_spec().ops
    betas = np.array([[2.0, 1.0]])
    trials = 3000
    for e0, e1 in [(-3.0, -4.0), (-4.0, -3.0), (-6.0, -2.0)]:
        chains = _engine_reference.ChainsReference(
            ops, [ChainRNG(np.array([11, 12, 13, 14], dtype=np.uint64))]
        )
        replicas = _engine_reference.ChainsReference(
            ops, [ChainRNG(np.array([1, 2, 3, k], dtype=np.uint64)) for k in (4, 5)]
        )
        replicas.states = [ops.initial(r) for r in replicas.rngs]
        chains.best_cost[:] = -100.0  # no best-state bookkeeping in the way
        swapped = 0
        for _ in range(trials):
            at = np.array([0, 1], dtype=np.int64)
            replicas.cost[:] = [e0, e1]
            attempts = np.zeros(1, dtype=np.int64)
            accepts = np.zeros(1, dtype=np.int64)
            _engine_reference._temper_exchange(
                chains,
                0,
                replicas,
                betas,
                at,
                attempts,
                accepts,
                np.zeros(2, dtype=np.int64),
                0,
                -math.inf,
                math.inf,
            )
            assert attempts[0] == 1 and accepts[0] == (at[0] == 1)
            swapped += int(accepts[0])
        x = (betas[0, 0] - betas[0, 1]) * (e0 - e1)
        p = 1.0 if x >= 0 else math.exp(x)
        assert abs(swapped / trials - p) <= 4 * math.sqrt(p * (1 - p) / trials) + 1e-12


def test_cluster_move_conserves_the_sum_of_energies(rng):
    problem = torus(6, 6, rng)
    ops = problem._search_spec().ops
    stream = ChainRNG(np.array([5, 6, 7, 8], dtype=np.uint64))
    for _ in range(20):
        a = ops.initial(stream)
        b = ops.initial(stream)
        ca, cb = ops.cost(a), ops.cost(b)
        size, a, ca2, b, cb2 = _engine_reference._cluster_move(
            ops, a, ca, b, cb, stream
        )
        assert 0 < size <= 36
        assert ca2 == ops.cost(a) and cb2 == ops.cost(b)  # exact (integers)
        assert ca2 + cb2 == ca + cb
    same = ops.initial(stream)
    assert _engine_reference._cluster_move(ops, same, 0.0, same, 0.0, stream)[0] == 0


def test_lattice_like_tells_tori_from_random_and_dense_graphs(rng):
    def ops(problem):
        return problem._search_spec().ops

    assert lattice_like(ops(torus(30, 30, rng)))
    assert not lattice_like(ops(random_regular(900, 3, rng)))
    dense = MaxCut(40, [(i, j) for i in range(40) for j in range(i + 1, 40)])
    assert not lattice_like(ops(dense))
    assert not lattice_like(TSP.from_tsplib(DATA / "berlin52.tsp")._search_spec().ops)
    g11 = MaxCut.from_gset(DATA / "G11.txt")
    assert parallel_tempering(g11, num_sweeps=2).params["cluster_moves"] is True
    assert parallel_tempering(dense, num_sweeps=2).params["cluster_moves"] is False


# -- ladders, defaults, results --------------------------------------------------------


def test_adapted_ladder_equalises_rates():
    betas = 1.0 / geometric_ladder(0.5, 4.0, 5)
    same = _adapted_betas(betas, np.full(4, 300), np.full(4, 1000))
    np.testing.assert_allclose(same, betas, rtol=1e-12)
    # A gap that rarely exchanges gets narrower, the others wider; ends fixed.
    moved = _adapted_betas(betas, np.array([500, 500, 10, 500]), np.full(4, 1000))
    assert moved[0] == betas[0] and moved[-1] == betas[-1]
    assert np.all(np.diff(moved) < 0)
    assert moved[2] - moved[3] < betas[2] - betas[3]


def test_geometric_ladder():
    ladder = geometric_ladder(0.25, 4.0, 5)
    np.testing.assert_allclose(ladder, [0.25, 0.5, 1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="t_min <= t_max"):
        geometric_ladder(2.0, 1.0, 3)
    with pytest.raises(ValueError, match="num_replicas"):
        geometric_ladder(1.0, 2.0, 1)


def test_default_replicas_and_range():
    assert default_num_replicas(800) == 8
    assert default_num_replicas(7000) == 12
    assert default_num_replicas(10**6) == 32
    g11 = MaxCut.from_gset(DATA / "G11.txt")
    result = parallel_tempering(g11, num_sweeps=5, seed=0)
    # G11's local optima: worsening flips of 4 and 8 -> t_min ~ 5.4/15, t_max ~ /5
    assert 0.2 < result.params["t_min"] < 0.5 < result.params["t_max"] < 1.5
    assert result.params["t_max"] / result.params["t_min"] == pytest.approx(3.0)


def test_result_params_and_local_optimum(rng):
    problem = torus(6, 6, rng)
    result = parallel_tempering(
        problem, num_sweeps=120, num_replicas=5, num_chains=2, seed=1
    )
    params = result.params
    assert params["ladders"].shape == (2, 5)
    assert params["swap_rates"].shape == (2, 4)
    assert np.all((params["swap_rates"] >= 0) & (params["swap_rates"] <= 1))
    accepted, proposed = params["swap_counts"]
    assert proposed == 2 * 2 * 4 * 120  # two ladders, 4 pairs, every round
    assert params["rounds"].tolist() == [120, 120]
    assert result.stop_reason == "max_iters"
    assert result.acceptance_counts[1] >= 2 * 2 * 5 * 120 * 36
    # The descent leaves local optima: no single flip improves a returned state.
    ising = problem.to_ising()
    for state in np.asarray(result.states):
        spins = state.astype(float)
        fields = ising.J @ spins + ising.h
        assert np.all(-2 * spins * fields >= 0)


def test_time_limit_alone_runs_until_the_time_is_up(rng):
    result = parallel_tempering(torus(8, 8, rng), time_limit=0.3, seed=0)
    assert result.stop_reason == "time_limit"
    assert result.params["num_sweeps"] is None and result.params["rounds"][0] > 0


def test_target_stops(rng):
    problem = torus(4, 4, rng, signs=False)  # bipartite: every edge cut
    result = parallel_tempering(problem, num_sweeps=10**6, target=32, seed=0)
    assert result.objective == 32 and result.stop_reason == "target"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_replicas": 1}, ValueError, "num_replicas"),
        ({"ladder": "cubic"}, ValueError, "ladder must be one of"),
        ({"ladder": [1.0, 0.5]}, ValueError, "ascending"),
        ({"ladder": [1.0]}, ValueError, ">= 2"),
        ({"ladder": [0.0, 1.0]}, ValueError, "> 0"),
        ({"ladder": [1.0, 2.0], "t_min": 0.5}, ValueError, "explicit ladder"),
        ({"t_min": 2.0, "t_max": 1.0}, ValueError, "must not exceed"),
        ({"t_min": -1.0}, ValueError, "t_min"),
        ({"cluster_moves": "yes"}, ValueError, "cluster_moves"),
        ({"num_sweeps": -3}, ValueError, "num_sweeps"),
    ],
)
def test_bad_arguments(rng, kwargs, error, match):
    with pytest.raises(error, match=match):
        parallel_tempering(torus(3, 3, rng), **kwargs)


def test_cluster_moves_need_an_ising_model():
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp")
    with pytest.raises(ValueError, match="cluster moves need an Ising"):
        parallel_tempering(tsp, cluster_moves=True, num_sweeps=2)


def test_engine_refuses_cluster_moves_through_the_vtable(rng):
    problem = torus(3, 3, rng)

    def make(run, rng_states):
        return TemperingBackend(run, rng_states, 3, 2, None)

    run = Run(
        "parallel_tempering",
        problem,
        num_chains=1,
        initial_states=None,
        seed=0,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="auto",
        make_backend=make,
    )
    backend = run.backend
    with pytest.raises(ValueError, match="compiled Ising core"):
        _engine.temper(
            problem._search_spec().core,
            backend.main.arrays,
            replicas=backend.replicas.arrays,
            betas=backend.betas,
            replica_at=backend.replica_at,
            swap_attempts=backend.swap_attempts,
            swap_accepts=backend.swap_accepts,
            n_rounds=1,
            sweep_len=9,
            target=-math.inf,
            deadline=math.inf,
            num_threads=1,
            cluster_rungs=3,
            use_vtable=True,
        )
    with pytest.raises(ValueError, match="inconsistent"):
        _engine.temper(
            problem._search_spec().core,
            backend.main.arrays,
            replicas=backend.replicas.arrays,
            betas=backend.betas[:, :2].copy(),
            replica_at=backend.replica_at,
            swap_attempts=backend.swap_attempts,
            swap_accepts=backend.swap_accepts,
            n_rounds=1,
            sweep_len=9,
            target=-math.inf,
            deadline=math.inf,
            num_threads=1,
        )


def test_initial_states_start_every_replica(rng):
    problem = torus(3, 4, rng)
    start = np.ones(12, dtype=np.int8)
    result = parallel_tempering(
        problem, initial_states=start, num_sweeps=1, num_replicas=3, seed=0
    )
    assert result.params["rounds"][0] == 1
