"""Annealing and hill climbing: kernel vs Python reference, seeds, threads, stops."""

import itertools
import math
import time

import numpy as np
import pytest
from _problems import OneMax

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    QUBO,
    TSP,
    Ising,
    MaxCut,
    Problem,
    ProblemError,
    hill_climb,
    simulated_annealing,
    temperature_schedule,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def ring_ising(rng, n=40, degree=3):
    edges = {}
    for i in range(n):
        for j in rng.choice(n, degree, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    return Ising(rng.integers(-1, 2, n).astype(float), edges)


def assert_same_run(a, b):
    """Identical trajectories: same final states, costs and evaluation counts."""
    assert np.array_equal(np.asarray(a.states), np.asarray(b.states))
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations
    assert a.acceptance_rate == b.acceptance_rate
    np.testing.assert_array_equal(
        a.history["best_costs"][-1], b.history["best_costs"][-1]
    )


# -- kernel vs reference -------------------------------------------------------------


@pytest.mark.parametrize(
    "moves", [("2opt",), ("swap",), ("oropt",), ("2opt", "swap", "oropt")]
)
def test_annealing_tsp_kernel_equals_reference(global_random_seed, moves):
    tsp = TSP.from_tsplib(DATA / "berlin52.tsp", moves=moves)
    kwargs = dict(num_sweeps=8, num_chains=3, seed=global_random_seed)
    compiled = simulated_annealing(tsp, backend="cython", **kwargs)
    python = simulated_annealing(tsp, backend="reference", **kwargs)
    # 8 sweeps of 52 attempts, then the tour's own don't-look-bit descent.
    assert compiled.params["descent"]
    assert compiled.n_evaluations > 8 * 52 * 3 and compiled.params["t_start"] > 0
    assert_same_run(compiled, python)
    assert compiled.params["t_start"] == python.params["t_start"]


@pytest.mark.parametrize("proposal", ["sequential", "random"])
@pytest.mark.parametrize("problem_kind", ["ising", "qubo", "maxcut"])
def test_annealing_spin_problems_kernel_equals_reference(rng, problem_kind, proposal):
    ising = ring_ising(rng)
    if proposal == "random":
        ising = Ising(ising.h, ising.J, proposal="random")
    problem = {
        "ising": ising,
        "qubo": QUBO(rng.integers(-3, 4, size=(25, 25)), proposal=proposal),
        "maxcut": MaxCut(
            30,
            [(i, (i + 1) % 30) for i in range(30)]
            + [(i, (i + 7) % 30) for i in range(30)],
            proposal=proposal,
        ),
    }[problem_kind]
    kwargs = dict(num_sweeps=40, num_chains=3, seed=11, reheats=1)
    compiled = simulated_annealing(problem, backend="cython", **kwargs)
    python = simulated_annealing(problem, backend="reference", **kwargs)
    assert_same_run(compiled, python)


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
    ising = ring_ising(np.random.default_rng(global_random_seed))
    assert_same_run(
        hill_climb(ising, backend="cython", num_chains=3, strategy=strategy, seed=1),
        hill_climb(ising, backend="reference", num_chains=3, strategy=strategy, seed=1),
    )


def test_vtable_path_equals_specialised_path(rng):
    # Through function pointers, the built-in problems take the same steps as with
    # their inlined operations (random proposals: the vtable has no in-order sweep).
    from attnsearch.search._run import Run

    tsp = TSP(
        rng.uniform(0, 100, size=(40, 2)),
        metric="EUC_2D",
        moves=("2opt", "swap", "oropt"),
    )
    ising = Ising(ring_ising(rng).h, ring_ising(rng).J, proposal="random")
    for problem in (tsp, ising):
        results = []
        for use_vtable in (False, True):
            run = Run(
                "simulated_annealing",
                problem,
                num_chains=2,
                initial_states=None,
                seed=5,
                num_threads=2,
                time_limit=None,
                target=None,
                callback=None,
                backend="cython",
                use_vtable=use_vtable,
            )
            run.backend.call(
                "anneal",
                temperatures=np.geomspace(50, 1, 30),
                sweep_len=problem.n,
                target=-math.inf,
                deadline=math.inf,
            )
            run.backend.call(
                "climb",
                max_steps=20,
                best_improvement=True,
                tolerance=0.0,
                target=-math.inf,
                deadline=math.inf,
            )
            results.append(run.backend.arrays)
        for name in ("states", "best_states", "cost", "n_evaluations", "rng"):
            assert np.array_equal(getattr(results[0], name), getattr(results[1], name))


# -- seeds, threads, chunking ----------------------------------------------------------


def test_seeds_and_threads(rng):
    ising = ring_ising(rng, n=200)
    base = dict(num_sweeps=200, num_chains=6)
    one = simulated_annealing(ising, seed=3, num_threads=1, **base)
    two = simulated_annealing(ising, seed=3, num_threads=2, **base)
    four = simulated_annealing(ising, seed=3, num_threads=4, **base)
    assert_same_run(one, two)
    assert_same_run(one, four)
    other = simulated_annealing(ising, seed=4, num_threads=2, **base)
    assert not np.array_equal(one.states, other.states)
    seq = simulated_annealing(ising, seed=np.random.SeedSequence(3), **base)
    assert_same_run(one, seq)
    tsp = TSP(rng.uniform(size=(60, 2)))
    a = hill_climb(tsp, num_chains=4, seed=9, num_threads=1, strategy="first")
    b = hill_climb(tsp, num_chains=4, seed=9, num_threads=2, strategy="first")
    assert_same_run(a, b)


def test_chain_results_do_not_depend_on_num_chains(rng):
    tsp = TSP(rng.uniform(size=(30, 2)), metric="EUCLIDEAN")
    few = simulated_annealing(
        tsp, num_sweeps=50, num_chains=2, seed=21, t_start=1.0, t_end=0.01
    )
    many = simulated_annealing(
        tsp, num_sweeps=50, num_chains=5, seed=21, t_start=1.0, t_end=0.01
    )
    assert np.array_equal(few.states, many.states[:2])
    # The automatic temperatures come from streams of their own, not the chains'.
    auto_few = simulated_annealing(tsp, num_sweeps=5, num_chains=1, seed=21)
    auto_many = simulated_annealing(tsp, num_sweeps=5, num_chains=3, seed=21)
    assert auto_few.params["t_start"] == auto_many.params["t_start"]


# -- quality --------------------------------------------------------------------------


def brute_force_ground_energy(ising):
    best = math.inf
    for bits in itertools.product([-1, 1], repeat=ising.n):
        best = min(best, ising.energy(np.array(bits)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_ising_optimum_found(seed):
    rng = np.random.default_rng(seed)
    n = 12
    J = np.triu(rng.normal(size=(n, n)), 1)
    ising = Ising(rng.normal(size=n), J + J.T)
    ground = brute_force_ground_energy(ising)
    sa = simulated_annealing(ising, num_sweeps=300, num_chains=8, seed=seed)
    hc = hill_climb(ising, num_chains=64, seed=seed)
    assert sa.objective == pytest.approx(ground)
    assert hc.objective == pytest.approx(ground)
    assert ising.energy(sa.best_state) == pytest.approx(sa.objective)


def test_annealing_solves_small_tsplib_instances():
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    result = simulated_annealing(tsp, num_sweeps=3000, num_chains=4, seed=0)
    assert result.objective <= 426 * 1.02
    assert tsp.tour_length(result.best_state) == result.objective


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


# -- schedules -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["geometric", "linear", "exponential", "logarithmic"])
def test_schedules(kind):
    temps = temperature_schedule(kind, 10.0, 0.1, 200)
    assert temps[0] == pytest.approx(10.0) and temps[-1] == pytest.approx(0.1)
    assert np.all(np.diff(temps) <= 1e-12) and temps.shape == (200,)
    assert temperature_schedule(kind, 5.0, 5.0, 3) == pytest.approx([5.0] * 3)
    assert temperature_schedule(kind, 5.0, 1.0, 1) == pytest.approx([5.0])
    with pytest.raises(ValueError):
        temperature_schedule(kind, 1.0, 2.0, 10)
    with pytest.raises(ValueError):
        temperature_schedule(kind, 1.0, 0.0, 10)
    np.testing.assert_allclose(
        temperature_schedule("exponential", 10, 0.1, 50),
        temperature_schedule("geometric", 10, 0.1, 50),
    )


def test_explicit_schedule_and_reported_parameters(rng):
    ising = ring_ising(rng)
    temps = np.linspace(3.0, 0.0, 50)
    result = simulated_annealing(ising, schedule=temps, seed=0)
    assert result.params["num_sweeps"] == 50 and result.params["schedule"] == "custom"
    np.testing.assert_array_equal(result.params["temperatures"], temps)
    auto = simulated_annealing(ising, num_sweeps=20, seed=0, schedule="linear")
    assert auto.params["t_start"] > auto.params["t_end"] > 0
    with pytest.raises(ValueError, match="explicit schedule"):
        simulated_annealing(ising, schedule=temps, t_start=1.0)
    with pytest.raises(ValueError, match="num_sweeps"):
        simulated_annealing(ising, schedule=temps, num_sweeps=10)
    with pytest.raises(ValueError, match="finite"):
        simulated_annealing(ising, schedule=[1.0, np.nan])
    with pytest.raises(ValueError, match="schedule"):
        simulated_annealing(ising, schedule="cosine")


def test_reheats_start_from_the_best_state(rng):
    ising = ring_ising(rng, n=80)
    single = simulated_annealing(ising, num_sweeps=30, seed=2)
    reheated = simulated_annealing(ising, num_sweeps=30, seed=2, reheats=2)
    assert reheated.params["sweeps_done"] == 90
    assert reheated.objective <= single.objective


# -- stopping rules ---------------------------------------------------------------


def test_time_limit_stretches_the_schedule_and_is_honoured(rng):
    tsp = TSP(rng.uniform(size=(300, 2)))
    start = time.perf_counter()
    result = simulated_annealing(tsp, time_limit=0.6, num_chains=2, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.6 + 0.5
    assert result.params["num_sweeps"] > 10
    assert result.stop_reason in ("max_iters", "time_limit")
    capped = simulated_annealing(tsp, time_limit=0.2, num_sweeps=10**7, seed=0)
    assert capped.stop_reason == "time_limit" and capped.elapsed < 0.2 + 0.5


def test_target_callback_and_interrupt(rng):
    edges = [(i, (i + 1) % 60) for i in range(60)]  # an even cycle: max cut 60
    g = MaxCut(60, edges, proposal="random")
    hit = simulated_annealing(g, num_sweeps=10**6, target=60, seed=0)
    assert hit.stop_reason == "target" and hit.objective == 60
    seen = []

    def stop_after_three(progress):
        seen.append(progress)
        return len(seen) >= 3

    stopped = simulated_annealing(
        g, num_sweeps=10**6, seed=0, callback=stop_after_three, t_start=5.0, t_end=4.0
    )
    assert stopped.stop_reason == "callback" and len(seen) == 3
    assert {
        "step",
        "n_evaluations",
        "best_cost",
        "temperature",
        "acceptance_rate",
        "elapsed",
    } <= set(seen[0])

    def interrupt(progress):
        raise KeyboardInterrupt

    interrupted = simulated_annealing(g, num_sweeps=10**6, seed=0, callback=interrupt)
    assert interrupted.stop_reason == "interrupted"
    assert np.all(np.isin(interrupted.best_state, [-1, 1]))
    climbed = hill_climb(g, num_chains=2, seed=0, callback=interrupt)
    assert climbed.stop_reason in ("interrupted", "converged")


def test_history_is_bounded_and_consistent(rng):
    ising = ring_ising(rng, n=50)
    result = simulated_annealing(ising, num_sweeps=20000, num_chains=2, seed=0)
    history = result.history
    assert 2 <= len(history["n_evaluations"]) <= 2000
    assert history["best_costs"].shape == (len(history["n_evaluations"]), 2)
    assert np.all(np.diff(history["n_evaluations"]) >= 0)
    assert history["n_evaluations"][-1] == result.n_evaluations
    assert 0 < result.acceptance_rate < 1
    assert result.best_chain == int(np.argmin(result.costs))


# -- initial states -------------------------------------------------------------------


def test_initial_states(rng):
    tsp = TSP(rng.uniform(size=(20, 2)))
    start = np.arange(20)
    result = hill_climb(tsp, initial_states=start, num_chains=2, max_iters=1, seed=0)
    assert result.params["steps"].tolist() == [1, 1]
    per_chain = np.stack([np.arange(20), np.arange(20)[::-1]])
    simulated_annealing(tsp, initial_states=per_chain, num_chains=2, num_sweeps=2)
    with pytest.raises(ValueError, match="not a permutation"):
        hill_climb(tsp, initial_states=np.zeros(20, int))
    with pytest.raises(ValueError, match="initial_states must have shape"):
        hill_climb(tsp, initial_states=np.stack([start] * 3), num_chains=2)
    qubo = QUBO(np.eye(3))
    out = hill_climb(qubo, initial_states=[1, 1, 1])
    assert out.objective == 0 and set(out.best_state.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="0 and 1"):
        hill_climb(qubo, initial_states=[2, 0, 0])


# -- Python problems --------------------------------------------------------------


def test_python_problem_runs_every_method():
    problem = OneMax(30)
    sa = simulated_annealing(problem, num_sweeps=60, num_chains=2, seed=0)
    assert (
        sa.objective == 30
        and sa.best_cost == -30
        and sa.params["backend"] == "reference"
    )
    hc = hill_climb(problem, num_chains=2, seed=0)
    assert hc.objective == 30 and hc.stop_reason == "converged"
    assert hill_climb(OneMax(10, maximize=False), seed=0).objective == 0
    hit = simulated_annealing(problem, num_sweeps=2000, target=30, seed=1)
    assert hit.stop_reason == "target"
    with pytest.raises(ValueError, match="written in Python"):
        hill_climb(problem, backend="cython")


def test_python_problem_default_delta_and_errors():
    class NoDelta(OneMax):
        delta = Problem.delta

    assert hill_climb(NoDelta(8), seed=0).objective == 8

    class Broken(OneMax):
        def cost(self, state):
            return float("nan") if state.sum() > 3 else int(state.sum())

    with pytest.raises(ProblemError, match="NaN") as info:
        simulated_annealing(Broken(10), num_sweeps=20, seed=0, t_start=100.0, t_end=1.0)
    assert info.value.state is not None

    class NoMoves(OneMax):
        def moves(self, state):
            return None

    with pytest.raises(TypeError, match="enumerable"):
        hill_climb(NoMoves(5))


# -- bad arguments ----------------------------------------------------------------


def test_bad_arguments(rng):
    ising = ring_ising(rng)
    for kwargs, error in [
        (dict(num_chains=0), ValueError),
        (dict(num_sweeps=0), ValueError),
        (dict(time_limit=-1), ValueError),
        (dict(time_limit="1"), TypeError),
        (dict(target=float("nan")), ValueError),
        (dict(reheats=-1), ValueError),
        (dict(t_start=-1.0), ValueError),
        (dict(t_start=1.0, t_end=2.0), ValueError),
        (dict(seed=-5), ValueError),
        (dict(num_threads=0), ValueError),
        (dict(callback=3), TypeError),
        (dict(backend="gpu"), ValueError),
    ]:
        with pytest.raises(error):
            simulated_annealing(ising, **kwargs)
    with pytest.raises(ValueError, match="strategy"):
        hill_climb(ising, strategy="steepest")
    with pytest.raises(ValueError, match="max_iters"):
        hill_climb(ising, max_iters=0)
    with pytest.raises(TypeError, match="expected a problem"):
        hill_climb(np.zeros(3))


# -- automatic temperatures, the final descent, schedules fitted to a time limit ----


def test_cold_end_freezes_per_sweep():
    """t_end accepts the smallest worsening move ~1e-3 times per sweep: its
    probability per attempt is 1e-3 / n, whatever n."""
    for n in (50, 5000):
        ring = MaxCut(n, [(i, (i + 1) % n) for i in range(n)])  # deltas 0, +-4
        result = simulated_annealing(ring, num_sweeps=2, seed=0)
        t_end = result.params["t_end"]
        assert math.exp(-4.0 / t_end) == pytest.approx(1e-3 / n, rel=1e-9)


@pytest.mark.parametrize("problem_kind", ["ising", "tsp"])
def test_descent_leaves_local_optima(rng, problem_kind):
    if problem_kind == "ising":
        problem = ring_ising(rng, n=60)
        result = simulated_annealing(problem, num_sweeps=5, num_chains=4, seed=1)
        # No single flip improves any returned state.
        for state in np.asarray(result.states):
            spins = state.astype(float)
            fields = problem.J @ spins + problem.h
            assert np.all(-2 * spins * fields >= 0)
        raw = simulated_annealing(
            problem, num_sweeps=5, num_chains=4, seed=1, descent=False
        )
        assert raw.n_evaluations == 5 * 60 * 4 < result.n_evaluations
        assert np.all(result.costs <= raw.costs)
        assert result.params["descent"] and not raw.params["descent"]
    else:
        # TSP's ~4 n^2 moves: zero-temperature sweeps until one improves nothing.
        tsp = TSP.from_tsplib(DATA / "berlin52.tsp")
        result = simulated_annealing(tsp, num_sweeps=3, num_chains=2, seed=2)
        raw = simulated_annealing(
            tsp, num_sweeps=3, num_chains=2, seed=2, descent=False
        )
        assert np.all(result.costs <= raw.costs)
        assert result.params["sweeps_done"] == raw.params["sweeps_done"] == 3


def test_schedule_fitted_to_a_time_limit_ends_at_t_end(rng):
    problem = ring_ising(rng, n=3000)  # < 100 000 sweeps in 0.3 s: all reported
    result = simulated_annealing(problem, time_limit=0.3, num_chains=2, seed=0)
    params = result.params
    assert params["time_fitted"] and result.stop_reason in ("max_iters", "time_limit")
    temps = params["temperatures"]
    assert temps[0] == params["t_start"] and np.all(np.diff(temps) <= 0)
    if result.stop_reason == "max_iters":  # the pass completed before the limit
        assert temps[-1] == params["t_end"]
    assert params["sweeps_done"] == params["num_sweeps"] == temps.size
    # With num_sweeps given the schedule is fixed, the limit only stops it.
    fixed = simulated_annealing(problem, num_sweeps=50, time_limit=5.0, seed=0)
    assert not fixed.params["time_fitted"] and fixed.params["sweeps_done"] == 50


def test_schedule_curve_at_fractions_matches_the_sweeps():
    from attnsearch.search.methods.annealing import _Schedule

    for kind in ("geometric", "linear", "logarithmic"):
        schedule = _Schedule(kind, 5.0, 0.1, 101)
        np.testing.assert_allclose(
            schedule.at(np.arange(101) / 100), schedule(0, 101), rtol=1e-12
        )
        assert schedule.at(np.array([0.0, 1.0])).tolist() == [5.0, 0.1]
