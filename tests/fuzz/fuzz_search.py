"""Fuzz targets of the search half: problem constructors and every method."""

import math

import numpy as np
import scipy.sparse as sp
from _fuzz_settings import watchdog  # noqa: F401  (autouse fixture)
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attnsearch.search import (
    QUBO,
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

DOCUMENTED = (TypeError, ValueError, MemoryError, ProblemError)
METHODS = [simulated_annealing, hill_climb, stochastic_hill_climb, tabu_search]

# Floats from the whole range, the special values included.
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _budget(method):
    return {"num_sweeps": 8} if method is simulated_annealing else {"max_iters": 8}


def _check_result(problem, result):
    assert np.isfinite(result.objective), result
    assert np.all(np.isfinite(result.costs))
    assert 0 <= result.acceptance_counts[0] <= max(result.acceptance_counts[1], 0)


@given(
    coords=hnp.arrays(
        np.float64, hnp.array_shapes(max_dims=3, max_side=8), elements=any_float
    ),
    metric=st.sampled_from([None, "EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN", "x"]),
)
def test_tsp_from_coordinates(coords, metric):
    try:
        tsp = TSP(coords, metric=metric)
    except DOCUMENTED:
        return
    assert np.all(np.isfinite(coords))
    result = simulated_annealing(tsp, num_sweeps=5, num_chains=2, seed=0)
    _check_result(tsp, result)
    assert tsp.tour_length(result.best_state) == result.objective


@given(
    matrix=hnp.arrays(
        np.float64, st.tuples(st.integers(0, 9), st.integers(0, 9)), elements=any_float
    ),
    symmetrise=st.booleans(),
)
def test_tsp_from_a_matrix(matrix, symmetrise):
    matrix = np.abs(matrix)
    if symmetrise and matrix.shape[0] == matrix.shape[1]:
        with np.errstate(all="ignore"):
            matrix = matrix + matrix.T
    try:
        tsp = TSP(distances=matrix)
    except DOCUMENTED:
        return
    result = hill_climb(tsp, num_chains=2, seed=0, max_iters=5)
    _check_result(tsp, result)


@given(
    n=st.integers(0, 10),
    entries=st.dictionaries(
        st.tuples(st.integers(-2, 12), st.integers(-2, 12)), any_float, max_size=12
    ),
    h_scale=any_float,
    form=st.sampled_from(["dict", "dense", "sparse"]),
)
def test_ising_constructor_and_methods(n, entries, h_scale, form):
    J = entries
    if form != "dict":
        dense = np.zeros((n, n))
        for (i, j), w in entries.items():
            if 0 <= i < n and 0 <= j < n:
                dense[i, j] = w
        J = sp.csr_matrix(dense) if form == "sparse" else dense
    try:
        ising = Ising(np.full(n, h_scale), J)
    except DOCUMENTED:
        return
    for method in METHODS:
        result = method(ising, num_chains=2, seed=1, **_budget(method))
        _check_result(ising, result)
        assert ising.energy(result.best_state) == result.objective


@given(
    entries=st.dictionaries(
        st.tuples(st.integers(-1, 9), st.integers(-1, 9)), finite, max_size=10
    ),
    offset=any_float,
)
def test_qubo(entries, offset):
    try:
        qubo = QUBO(entries, offset=offset)
    except DOCUMENTED:
        return
    result = tabu_search(qubo, max_iters=10, seed=0)
    _check_result(qubo, result)


@given(
    n=st.integers(-2, 12),
    edges=hnp.arrays(
        np.int64,
        st.tuples(st.integers(0, 8), st.integers(0, 3)),
        elements=st.integers(-2, 14),
    ),
    weights=st.none() | st.lists(any_float, max_size=8),
)
def test_maxcut(n, edges, weights):
    try:
        graph = MaxCut(n, edges, weights)
    except DOCUMENTED:
        return
    for method in METHODS:
        result = method(graph, num_chains=2, seed=2, **_budget(method))
        _check_result(graph, result)
        assert graph.cut_value(result.best_state) == result.objective


@given(
    bounds=hnp.arrays(
        np.float64, st.tuples(st.integers(0, 4), st.integers(1, 3)), elements=any_float
    ),
    name=st.sampled_from(
        [
            "sphere",
            "rastrigin",
            "rosenbrock",
            "ackley",
            "griewank",
            "schwefel",
            "styblinski_tang",
            "levy",
        ]
    ),
    builtin=st.booleans(),
)
def test_continuous(bounds, name, builtin):
    try:
        if builtin:
            problem = Continuous.builtin(name, bounds.shape[0], bounds=bounds)
        else:
            problem = Continuous(lambda x: float(np.sum(x * x)), bounds)
    except DOCUMENTED:
        return
    for method in METHODS + [particle_swarm]:
        kwargs = (
            {"num_sweeps": 5} if method is simulated_annealing else {"max_iters": 5}
        )
        try:
            result = method(problem, num_chains=2, seed=3, **kwargs)
        except ProblemError as error:
            # A user's function may overflow inside its bounds (x * x at 1e154):
            # named, not searched on. The built-ins never do.
            assert not builtin and "the function returned" in str(error), error
            continue
        _check_result(problem, result)
        assert np.all(result.best_state >= problem.lower)
        assert np.all(result.best_state <= problem.upper)


@given(
    method=st.sampled_from(METHODS + [particle_swarm]),
    num_chains=st.one_of(st.integers(-2, 6), st.just(2.5), st.just("3"), st.none()),
    seed=st.one_of(st.integers(-5, 2**70), st.just(1.5), st.none()),
    num_threads=st.one_of(st.integers(-(2**40), 2**40), st.just(True)),
    time_limit=st.one_of(st.none(), any_float, st.just("1")),
    target=st.one_of(st.none(), any_float),
    max_iters=st.one_of(st.none(), st.integers(-3, 6), st.just(2.0)),
)
def test_method_arguments(
    method, num_chains, seed, num_threads, time_limit, target, max_iters
):
    assume(
        time_limit is None
        or not isinstance(time_limit, float)
        or not math.isfinite(time_limit)
        or time_limit <= 0.2
    )
    problem = Continuous.builtin("sphere", 3)
    budget = "num_sweeps" if method is simulated_annealing else "max_iters"
    kwargs = {budget: max_iters if max_iters is not None else 4}
    try:
        result = method(
            problem,
            num_chains=num_chains,
            seed=seed,
            num_threads=num_threads,
            time_limit=time_limit,
            target=target,
            **kwargs,
        )
    except DOCUMENTED:
        return
    _check_result(problem, result)


@given(
    states=hnp.arrays(
        np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=any_float
    ),
    method=st.sampled_from(METHODS),
)
def test_initial_states(states, method):
    ising = Ising(np.zeros(4), {(0, 1): 1.0, (2, 3): -1.0})
    try:
        result = method(
            ising, num_chains=2, initial_states=states, seed=0, **_budget(method)
        )
    except DOCUMENTED:
        return
    _check_result(ising, result)
