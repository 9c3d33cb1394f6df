"""Stochastic hill climbing, tabu search, particle swarm and continuous problems."""

import itertools
import math

import numpy as np
import pytest
import scipy.optimize

from attnsearch._dispatch import kernels
from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    BUILTIN_FUNCTIONS,
    TSP,
    Continuous,
    Ising,
    MaxCut,
    ProblemError,
    hill_climb,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search.methods.tabu import default_tenure
from attnsearch.search.problems.continuous import builtin_value_reference

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def small_ising(rng, n=30):
    edges = {}
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    return Ising(rng.integers(-1, 2, n).astype(float), edges)


def assert_same(a, b):
    assert np.array_equal(np.asarray(a.states), np.asarray(b.states))
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations


# -- kernel vs reference ---------------------------------------------------------------


@pytest.mark.parametrize("sample_size", [None, 25])
@pytest.mark.parametrize("temperature", [0.0, 0.7, 3.0])
def test_stochastic_hill_climb_kernel_equals_reference(rng, sample_size, temperature):
    ising = small_ising(rng)
    kwargs = dict(
        num_chains=3,
        seed=5,
        max_iters=150,
        sample_size=sample_size,
        temperature=temperature,
    )
    a = stochastic_hill_climb(ising, backend="cython", **kwargs)
    b = stochastic_hill_climb(ising, backend="reference", **kwargs)
    assert_same(a, b)
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp", moves=("2opt", "oropt"))
    kwargs = dict(num_chains=2, seed=1, max_iters=40, temperature=temperature)
    assert_same(
        stochastic_hill_climb(tsp, backend="cython", **kwargs),
        stochastic_hill_climb(tsp, backend="reference", **kwargs),
    )


@pytest.mark.parametrize("aspiration", [True, False])
@pytest.mark.parametrize("candidate_size", [None, 40])
def test_tabu_kernel_equals_reference(rng, aspiration, candidate_size):
    ising = small_ising(rng)
    kwargs = dict(
        num_chains=3,
        seed=2,
        max_iters=200,
        tenure=5,
        aspiration=aspiration,
        candidate_size=candidate_size,
    )
    assert_same(
        tabu_search(ising, backend="cython", **kwargs),
        tabu_search(ising, backend="reference", **kwargs),
    )
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    kwargs = dict(num_chains=2, seed=3, max_iters=30, aspiration=aspiration)
    assert_same(
        tabu_search(tsp, backend="cython", **kwargs),
        tabu_search(tsp, backend="reference", **kwargs),
    )


@pytest.mark.parametrize(
    "method", [simulated_annealing, hill_climb, stochastic_hill_climb, tabu_search]
)
@pytest.mark.parametrize("step", ["coordinate", "all", "mixed"])
def test_continuous_local_search_kernel_equals_reference(method, step):
    # Polynomial functions: the kernel and the reference evaluate them identically.
    problem = Continuous.builtin("styblinski_tang", dim=4, step=step)
    kwargs = dict(num_chains=2, seed=7)
    if method is simulated_annealing:
        kwargs["num_sweeps"] = 60
    elif method is not hill_climb:
        kwargs["max_iters"] = 40
    assert_same(
        method(problem, backend="cython", **kwargs),
        method(problem, backend="reference", **kwargs),
    )


@pytest.mark.parametrize("topology", ["global", "ring", "von_neumann"])
@pytest.mark.parametrize("boundary", ["reflect", "clip", "random", "periodic"])
def test_particle_swarm_kernel_equals_reference(topology, boundary):
    for name in ("rastrigin", "rosenbrock"):
        problem = Continuous.builtin(name, dim=6)
        kwargs = dict(
            n_particles=12,
            max_iters=25,
            num_chains=2,
            seed=4,
            topology=topology,
            boundary=boundary,
            velocity_clamp=0.2 if boundary == "clip" else None,
        )
        a = particle_swarm(problem, backend="cython", **kwargs)
        b = particle_swarm(problem, backend="reference", **kwargs)
        np.testing.assert_allclose(a.states, b.states, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.costs, b.costs, rtol=1e-12, atol=1e-12)
        assert a.n_evaluations == b.n_evaluations == 2 * 12 * 26


# -- behaviour -----------------------------------------------------------------


def brute_force(ising):
    return min(
        ising.energy(np.array(bits))
        for bits in itertools.product([-1, 1], repeat=ising.n)
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tabu_finds_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n = 12
    J = np.triu(rng.normal(size=(n, n)), 1)
    ising = Ising(rng.normal(size=n), J + J.T)
    result = tabu_search(ising, max_iters=400, num_chains=2, seed=seed)
    assert result.objective == pytest.approx(brute_force(ising))
    assert ising.energy(result.best_state) == pytest.approx(result.objective)


def test_tabu_never_returns_to_a_recent_state(rng):
    ising = small_ising(rng, n=16)
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
    ising = small_ising(rng, n=40)
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


def test_tabu_on_gset_grid():
    g = MaxCut.from_gset(DATA / "G11.txt")
    result = tabu_search(g, time_limit=3, num_chains=2, seed=0, target=552)
    assert result.objective >= 552
    assert g.cut_value(result.best_state) == result.objective


def test_stochastic_hill_climb_zero_temperature_is_hill_climbing(rng):
    ising = small_ising(rng, n=40)
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


def test_particle_swarm_sphere_and_quality():
    sphere = Continuous.builtin("sphere", dim=10)
    result = particle_swarm(sphere, max_iters=1500, seed=0)
    assert result.objective < 1e-8
    assert sphere.evaluate(result.best_state) == pytest.approx(result.objective)
    ras = Continuous.builtin("rastrigin", dim=10)
    ring = particle_swarm(
        ras, topology="ring", boundary="periodic", max_iters=1500, num_chains=2, seed=0
    )
    assert ring.objective < 15
    one = particle_swarm(ras, num_chains=3, max_iters=200, seed=9, num_threads=1)
    two = particle_swarm(ras, num_chains=3, max_iters=200, seed=9, num_threads=2)
    assert np.array_equal(one.states, two.states)


# -- continuous problems ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_FUNCTIONS))
@pytest.mark.parametrize("dim", [2, 7, 30])
def test_builtin_functions(rng, name, dim):
    problem = Continuous.builtin(name, dim=dim)
    assert problem.evaluate(problem.minimizer) == pytest.approx(
        problem.minimum, abs=1e-9 * dim
    )
    points = problem.lower + rng.random((200, dim)) * (problem.upper - problem.lower)
    np.testing.assert_allclose(
        problem.evaluate(points),
        builtin_value_reference(name, points),
        rtol=1e-12,
        atol=1e-9,
    )
    # The minimum is a minimum: random points nearby are not lower.
    near = problem.minimizer + rng.normal(scale=1e-3, size=(50, dim))
    near = np.clip(near, problem.lower, problem.upper)
    assert np.all(problem.evaluate(near) >= problem.minimum - 1e-9 * dim)


def test_fast_cos_accuracy():
    x = np.linspace(-1e5, 1e5, 1_000_001)
    out = np.empty_like(x)
    kernels("functions")._cos_memview(x, out)
    assert np.max(np.abs(out - np.cos(x))) < 2e-15


def test_fast_cos_beyond_its_reduction_range():
    # The fast reduction's k is exact below 3.3e9; beyond, libm answers (it
    # returned a polynomial of a garbage remainder, e.g. 1e30, before).
    x = np.concatenate(
        [np.geomspace(1e6, 1e300, 2000), -np.geomspace(1e9, 1e16, 50), [np.inf]]
    )
    out = np.empty_like(x)
    kernels("functions")._cos_memview(x, out)
    assert np.max(np.abs(out[:-1] - np.cos(x[:-1]))) < 2e-15
    assert np.isnan(out[-1])


@pytest.mark.parametrize("name", ["rastrigin", "ackley", "griewank"])
def test_builtins_with_huge_bounds_match_numpy(name):
    # Found by the long fuzz profile: Ackley on bounds up to 6e16 cost -inf.
    bounds = [(-1.0, 0.0), (0.0, 6.07622932e16)] * 40  # blocked and scalar paths
    problem = Continuous.builtin(name, len(bounds), bounds=bounds)
    points = np.random.default_rng(0).uniform(
        problem.lower, problem.upper, size=(20, len(bounds))
    )
    fast = problem.evaluate(points)
    assert np.all(np.isfinite(fast))
    reference = builtin_value_reference(name, points)
    np.testing.assert_allclose(fast, reference, rtol=1e-12)
    result = simulated_annealing(problem, num_sweeps=5, num_chains=2, seed=3)
    assert np.isfinite(result.objective)


def test_user_functions_scalar_vectorized_and_maximize():
    def bowl(x):
        return float(((x - 0.25) ** 2).sum())

    scalar = Continuous(bowl, [(-1, 1)] * 3)
    vector = Continuous(
        lambda X: ((X - 0.25) ** 2).sum(axis=1), [(-1, 1)] * 3, vectorized=True
    )
    for problem in (scalar, vector):
        assert particle_swarm(problem, max_iters=300, seed=0).objective < 1e-10
        assert hill_climb(problem, seed=0).objective < 1e-10
        assert simulated_annealing(problem, num_sweeps=400, seed=0).objective < 1e-3
    hump = Continuous(
        lambda x: -float((x**2).sum()) + 2.0, [(-2, 2)] * 2, maximize=True
    )
    result = particle_swarm(hump, max_iters=200, seed=0)
    assert result.objective == pytest.approx(2.0) and result.best_cost == pytest.approx(
        -2
    )
    bounds = scipy.optimize.Bounds([-1, -1], [1, 2])
    assert Continuous(lambda x: float(x.sum()), bounds).dim == 2


def test_user_function_errors_keep_the_best_so_far():
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > 150:
            raise RuntimeError("sensor failure")
        return float((x**2).sum())

    problem = Continuous(flaky, [(-1, 1)] * 2)
    with pytest.raises(ProblemError, match="sensor failure") as info:
        particle_swarm(problem, n_particles=10, max_iters=100, seed=0)
    assert info.value.state is not None
    assert info.value.best_state is not None and info.value.best_cost >= 0

    def nan_far_out(x):
        return float("nan") if abs(x[0]) > 0.9 else float(x[0] ** 2)

    with pytest.raises(ProblemError, match="NaN at x") as info:
        simulated_annealing(
            Continuous(nan_far_out, [(-1, 1)]),
            num_sweeps=2000,
            t_start=10.0,
            t_end=1.0,
            seed=0,
        )
    assert abs(info.value.state[0]) > 0.9 and abs(info.value.best_state[0]) <= 0.9


def test_continuous_bad_input():
    with pytest.raises(ValueError, match="not finite"):
        Continuous(lambda x: 0.0, [(0, np.inf)])
    with pytest.raises(ValueError, match="empty"):
        Continuous(lambda x: 0.0, [(1, 1)])
    with pytest.raises(ValueError, match="shape"):
        Continuous(lambda x: 0.0, [0, 1])
    with pytest.raises(TypeError, match="callable"):
        Continuous(3, [(0, 1)])
    with pytest.raises(TypeError, match="could not be called"):
        Continuous(lambda x, y: 0.0, [(0, 1)])
    with pytest.raises(TypeError, match="one value per row"):
        Continuous(lambda X: 0.0, [(0, 1)], vectorized=True)
    with pytest.raises(ValueError, match="unknown built-in"):
        Continuous.builtin("himmelblau", dim=2)
    with pytest.raises(ValueError, match="dim"):
        Continuous.builtin("sphere", dim=0)
    with pytest.raises(ValueError, match="step"):
        Continuous.builtin("sphere", dim=2, step="diagonal")
    sphere = Continuous.builtin("sphere", dim=2)
    with pytest.raises(ValueError, match="outside the bounds"):
        hill_climb(sphere, initial_states=[10.0, 0.0])


def test_method_bad_arguments(rng):
    ising = small_ising(rng)
    sphere = Continuous.builtin("sphere", dim=3)
    with pytest.raises(ValueError, match="tenure"):
        tabu_search(ising, tenure=-1)
    with pytest.raises(ValueError, match="candidate_size"):
        tabu_search(ising, candidate_size=0)
    with pytest.raises(ValueError, match="temperature"):
        stochastic_hill_climb(ising, temperature=-1.0)
    with pytest.raises(ValueError, match="sample_size"):
        stochastic_hill_climb(ising, sample_size=0)
    with pytest.raises(ValueError, match="n_particles"):
        particle_swarm(sphere, n_particles=0)
    with pytest.raises(ValueError, match="topology"):
        particle_swarm(sphere, topology="star")
    with pytest.raises(ValueError, match="boundary"):
        particle_swarm(sphere, boundary="bounce")
    with pytest.raises(ValueError, match="velocity_clamp"):
        particle_swarm(sphere, velocity_clamp=-0.1)
    with pytest.raises(ValueError, match="w must be"):
        particle_swarm(sphere, w=float("nan"))
    with pytest.raises(TypeError, match="Continuous"):
        particle_swarm(ising)
    with pytest.raises(ValueError, match="initial_states"):
        particle_swarm(sphere, n_particles=4, initial_states=np.zeros((3, 3)))


def test_tabu_random_tenure_kernel_equals_reference(rng):
    ising = small_ising(rng, n=30)
    kwargs = dict(max_iters=300, num_chains=3, seed=4, tenure=(2, 9))
    compiled = tabu_search(ising, **kwargs)
    python = tabu_search(ising, backend="reference", **kwargs)
    assert_same(compiled, python)
    assert compiled.params["tenure"] == (2, 9)
    fixed = tabu_search(ising, max_iters=300, num_chains=3, seed=4, tenure=(5, 5))
    assert fixed.params["tenure"] == 5


@pytest.mark.parametrize(
    "tenure, match", [((1, 2, 3), "pair"), ((5, 2), "low <= high"), ((-1, 2), "tenure")]
)
def test_tabu_bad_tenure_range(rng, tenure, match):
    with pytest.raises(ValueError, match=match):
        tabu_search(small_ising(rng), tenure=tenure, max_iters=5)


def test_particle_swarm_defaults():
    params = particle_swarm(Continuous.builtin("sphere", dim=4), max_iters=5).params
    assert params["topology"] == "von_neumann" and params["boundary"] == "periodic"
    assert params["grid_columns"] == 8  # 40 particles: a 5 x 8 torus
