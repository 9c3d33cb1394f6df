"""Continuous problems (``problems/continuous/``): kernel against the Python
reference under every local-search method, the built-in functions and their fast
cos, user functions (scalar, vectorised, failing) and bad input."""

import numpy as np
import pytest
import scipy.optimize
from _helpers import LOCAL_SEARCH_METHODS, assert_same_run

from attnsearch._dispatch import kernels
from attnsearch.search import (
    BUILTIN_FUNCTIONS,
    Continuous,
    ProblemError,
    hill_climb,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search.problems.continuous import builtin_value_reference
from attnsearch.search.problems.continuous._core import FUNCTION_IDS

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


# -- kernel vs reference ---------------------------------------------------------------


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
    assert_same_run(
        method(problem, backend="cython", **kwargs),
        method(problem, backend="reference", **kwargs),
    )


# -- built-in and user functions ------------------------------------------------


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


@pytest.mark.parametrize("name", sorted(FUNCTION_IDS))
def test_block_values_equal_pointwise_values(name, cpu_target):
    # The swarm evaluates a whole swarm's block at once: the same bits as one
    # point at a time, at ordinary points and at cosines beyond the reduction.
    functions = kernels("functions")
    rng = np.random.default_rng(0)
    for n_points, dim in [(1, 1), (7, 2), (50, 30), (3, 70)]:
        points = rng.uniform(-30, 30, size=(n_points, dim))
        points[0, 0] = 3e9
        out = np.empty(n_points)
        functions._values_block_memview(FUNCTION_IDS[name], points, out)
        expected = functions.values(FUNCTION_IDS[name], points)
        np.testing.assert_array_equal(out, expected)


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


# Hostile input: these were accepted before, and points or values overflowed.
def test_bounds_that_would_overflow_are_refused():
    with pytest.raises(ValueError, match="width"):
        Continuous(lambda x: float(x.sum()), [(-1e308, 1e308)] * 2)
    with pytest.raises(ValueError, match="width"):
        Continuous.builtin("sphere", 2, bounds=[(-1e308, 1e308)] * 2)
    with pytest.raises(ValueError, match="not finite at the corners"):
        Continuous.builtin("rosenbrock", 3, bounds=[(-1e100, 1e100)] * 3)


@pytest.mark.parametrize("method", LOCAL_SEARCH_METHODS + [particle_swarm])
def test_user_function_overflowing_inside_its_bounds_is_named(method):
    # x * x reaches inf inside these bounds: the running costs became NaN and
    # the run failed with a confusing delta-vs-cost error (or returned inf).
    problem = Continuous(lambda x: float(np.sum(x * x)), [(0.0, 1.43e154)])
    kwargs = {"num_sweeps": 5} if method is simulated_annealing else {"max_iters": 5}
    with np.errstate(over="ignore"):
        try:
            result = method(problem, num_chains=2, seed=3, **kwargs)
        except ProblemError as error:
            assert "the function returned inf at x = [" in str(error)
            return
    assert np.isfinite(result.objective)
