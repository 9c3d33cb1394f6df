"""Simulated annealing (``methods/annealing.py``): kernel against the Python
reference, automatic temperatures, schedules (explicit, fitted to a time limit),
reheats, the final descent and quality on known optima."""

import math
import time

import numpy as np
import pytest
from _helpers import assert_same_run, ground_energy, sparse_ising, tiny_spin_glass

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    QUBO,
    TSP,
    Ising,
    MaxCut,
    simulated_annealing,
    temperature_schedule,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


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
    ising = sparse_ising(rng)
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


# -- seeds ----------------------------------------------------------------------------


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_ising_optimum_found(seed):
    ising = tiny_spin_glass(seed)
    sa = simulated_annealing(ising, num_sweeps=300, num_chains=8, seed=seed)
    assert sa.objective == pytest.approx(ground_energy(ising))
    assert ising.energy(sa.best_state) == pytest.approx(sa.objective)


def test_annealing_solves_small_tsplib_instances():
    tsp = TSP.from_tsplib(DATA / "eil51.tsp")
    result = simulated_annealing(tsp, num_sweeps=3000, num_chains=4, seed=0)
    assert result.objective <= 426 * 1.02
    assert tsp.tour_length(result.best_state) == result.objective


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
    ising = sparse_ising(rng)
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
    ising = sparse_ising(rng, n=80)
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


# -- bad arguments ----------------------------------------------------------------


def test_annealing_bad_arguments(rng):
    ising = sparse_ising(rng)
    for kwargs in [
        dict(num_sweeps=0),
        dict(reheats=-1),
        dict(t_start=-1.0),
        dict(t_start=1.0, t_end=2.0),
    ]:
        with pytest.raises(ValueError):
            simulated_annealing(ising, **kwargs)


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
        problem = sparse_ising(rng, n=60)
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
    problem = sparse_ising(rng, n=3000)  # < 100 000 sweeps in 0.3 s: all reported
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
