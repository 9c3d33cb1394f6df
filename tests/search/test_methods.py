"""Every method of the method table (``METHODS``) against every kind of problem
it accepts -- the compiled built-ins, a Python ``Problem`` subclass, a Python
function (``Continuous``) -- under hostile input: deltas that disagree with
their costs, infinite and NaN deltas and costs, slow objectives under a time
limit, oversized count parameters and flags that are not bools. Each test is
one promise of the run loop (``search/_run.py``) held by all methods at once,
so a method added to the table is held to it too. Python problems run on the
engine reference, so these tests do not repeat per CPU target."""

import math
import time

import numpy as np
import pytest
from _problems import OneMax

from attnsearch.search import (
    QUBO,
    TSP,
    Continuous,
    Ising,
    MaxCut,
    Problem,
    ProblemError,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search.methods import METHODS, method_function

# One table of the methods (METHODS) and of the problems each accepts. Every
# method must check its problem's deltas against its costs, refuse non-finite
# deltas and costs, stop within 10 % of its time limit plus the evaluation
# running when it passes (calibration, replicas, first descents and initial
# swarms included), and check the size of every count parameter before any work.

ALL_METHODS = [method_function(name) for name in METHODS.values()]
CHAIN_METHODS = [method for method in ALL_METHODS if method is not particle_swarm]
_SWEEP_METHODS = (simulated_annealing, parallel_tempering)


def _name(method):
    return method.__name__


def _budget(method, units):
    return {"num_sweeps" if method in _SWEEP_METHODS else "max_iters": units}


def _compiled_problems():
    """One of every compiled problem kind (the swarm takes the continuous one)."""
    rng = np.random.default_rng(0)
    return {
        "tsp": TSP(rng.uniform(size=(12, 2))),
        "ising": Ising(np.zeros(6), {(i, (i + 1) % 6): 1.0 for i in range(6)}),
        "qubo": QUBO({(0, 1): -1.0, (1, 2): 2.0, (0, 0): 1.0}),
        "maxcut": MaxCut(6, [(i, (i + 1) % 6) for i in range(6)]),
        "continuous": Continuous.builtin("sphere", 3),
    }


def _python_kinds(kinds):
    """(method, kind) parameters: every method with every Python problem kind
    it accepts (the swarm takes functions only)."""
    return [
        pytest.param(method, kind, id=f"{_name(method)}-{kind}")
        for method in ALL_METHODS
        for kind in kinds
        if method is not particle_swarm or kind == "function"
    ]


def _compiled_kinds(method):
    return ["continuous"] if method is particle_swarm else list(_compiled_problems())


class SlowBits(Problem):
    """Minimise the number of ones; ``delta`` and ``cost`` each take ``pause``
    seconds (an objective); ``bad`` replaces the ``bad_after``-th delta or cost
    on, and a ``lie`` is added to every delta; ``calls`` counts evaluations."""

    def __init__(self, n=16, pause=0.0, lie=0.0, bad=None, bad_in="delta", after=3):
        super().__init__()
        self.n = self.size = n
        self.pause, self.lie, self.bad, self.bad_in, self.after = (
            pause,
            lie,
            bad,
            bad_in,
            after,
        )
        self.calls = 0

    def _evaluate(self, value, where):
        self.calls += 1
        if self.pause:
            time.sleep(self.pause)
        if self.bad is not None and where == self.bad_in and self.calls > self.after:
            return self.bad
        return value

    def initial(self, rng):
        return np.array([rng.below(2) for _ in range(self.n)])

    def random_move(self, state, rng):
        return rng.below(self.n)

    def delta(self, state, i):
        return self._evaluate(1 - 2 * int(state[i]) + self.lie, "delta")

    def apply(self, state, i):
        state[i] ^= 1

    def cost(self, state):
        return self._evaluate(int(state.sum()), "cost")

    def moves(self, state):
        return range(self.n)


def _python_problem(kind, pause=0.0, bad=None):
    """The Python problem of ``kind``: a Problem subclass, or a Continuous over
    a Python function (whose value is ``bad`` from its 4th call on)."""
    if kind == "problem":
        return SlowBits(pause=pause, bad=bad)
    calls = [0]

    def slow_sphere(x):
        calls[0] += 1
        if pause:
            time.sleep(pause)
        return bad if bad is not None and calls[0] > 4 else float(np.sum(x * x))

    return Continuous(slow_sphere, [(-5.0, 5.0)] * 3)


@pytest.mark.parametrize("units", [None, 1], ids=["default", "shortest"])
@pytest.mark.parametrize("method", CHAIN_METHODS, ids=_name)
def test_every_method_checks_deltas_against_costs(method, units):
    # Every move claims to gain 5. Parallel tempering's final descent (which
    # the shortest budget reaches in the first chunk) looped forever on it.
    # The time limit is a safety net: the check must fire long before it.
    budget = {} if units is None else _budget(method, units)
    start = time.perf_counter()
    with pytest.raises(ProblemError, match="deltas of chain .* disagrees"):
        method(SlowBits(lie=-5.0), seed=0, time_limit=20.0, **budget)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan], ids=str)
@pytest.mark.parametrize("method, kind", _python_kinds(["problem", "cost", "function"]))
def test_every_method_refuses_non_finite_deltas_and_costs(method, kind, bad):
    # A delta of +inf: stochastic hill climbing returned silently; -inf made
    # parallel tempering stop with stop_reason="target" though no target was given.
    if kind == "cost":
        problem = SlowBits(bad=bad, bad_in="cost", after=0)
    else:
        problem = _python_problem(kind, bad=bad)
    with pytest.raises(ProblemError, match="NaN|inf"):
        method(problem, seed=0, **_budget(method, 50))


@pytest.mark.parametrize("pause, limit", [(0.02, 0.4), (0.15, 0.5)])
@pytest.mark.parametrize("method, kind", _python_kinds(["problem", "function"]))
def test_every_method_honours_the_time_limit_with_slow_objectives(
    method, kind, pause, limit
):
    # Before: iterated local search's first descent read the clock every 4096
    # evaluations (37 s for a 1 s limit at 20 ms each), hill climbing and tabu
    # search between steps of 160 evaluations, parallel tempering evaluated its
    # replicas and calibration chains first (7 s at 0.5 s each), the particle
    # swarm its whole initial swarm (40 s), and the Result recomputed costs
    # after the limit.
    problem = _python_problem(kind, pause=pause)
    start = time.perf_counter()
    result = method(problem, seed=0, time_limit=limit)
    elapsed = time.perf_counter() - start
    assert result.stop_reason == "time_limit"
    assert elapsed <= 1.1 * limit + pause, elapsed
    assert np.isfinite(result.objective)


@pytest.mark.parametrize(
    "method, kind",
    [
        pytest.param(method, kind, id=f"{_name(method)}-{kind}")
        for method in ALL_METHODS
        for kind in _compiled_kinds(method)
    ],
)
def test_every_method_honours_the_time_limit_on_compiled_problems(method, kind):
    # The kernels read the clock every 4096 evaluations (microseconds each):
    # the promise is the same 10 %, plus scheduling slack on a loaded machine.
    limit = 0.2
    start = time.perf_counter()
    result = method(_compiled_problems()[kind], seed=0, time_limit=limit)
    elapsed = time.perf_counter() - start
    # (annealing fits its schedule to the limit and ends it: "max_iters")
    assert result.stop_reason in ("time_limit", "converged", "max_iters")
    assert elapsed <= 1.1 * limit + 0.1, elapsed


def _count_cases():
    """(method, keyword arguments, error, text the message names) for every
    count parameter of every method; each must be refused before any work."""
    cases = []
    for method in ALL_METHODS:
        budget = "num_sweeps" if method in _SWEEP_METHODS else "max_iters"
        cases += [
            (method, {"num_chains": 10**12}, MemoryError, "num_chains="),
            (method, {"num_chains": 2**64}, ValueError, "num_chains"),
            (method, {budget: 2**64}, ValueError, budget),
        ]
    cases += [
        (simulated_annealing, {"reheats": 2**64}, ValueError, "reheats"),
        (parallel_tempering, {"num_replicas": 10**8}, ValueError, "num_replicas"),
        (
            parallel_tempering,
            {"num_replicas": 2**16, "num_chains": 10**6},
            MemoryError,
            "num_replicas=65536",
        ),
        (
            parallel_tempering,
            {"ladder": np.geomspace(1, 2, 2**16 + 1)},
            ValueError,
            "num_replicas",
        ),
        (particle_swarm, {"n_particles": 10**12}, MemoryError, "n_particles="),
        (particle_swarm, {"n_particles": 2**64}, ValueError, "n_particles"),
        (stochastic_hill_climb, {"sample_size": 10**12}, MemoryError, "sample_size="),
        (stochastic_hill_climb, {"sample_size": 2**64}, ValueError, "sample_size"),
        (tabu_search, {"tenure": 2**63 - 1}, ValueError, "tenure"),
        (tabu_search, {"tenure": (0, 2**62)}, ValueError, r"tenure\[1\]"),
        (tabu_search, {"candidate_size": 2**64}, ValueError, "candidate_size"),
        (iterated_local_search, {"strength": 10**6}, ValueError, "strength"),
        (iterated_local_search, {"strength": 2**64}, ValueError, "strength"),
    ]
    return [
        pytest.param(m, kw, e, t, id=f"{_name(m)}-{next(iter(kw))}={e.__name__}")
        for m, kw, e, t in cases
    ]


@pytest.mark.parametrize("method, kwargs, error, names", _count_cases())
def test_every_count_parameter_is_checked_before_any_work(method, kwargs, error, names):
    # num_replicas escaped the memory check: 10**6 replicas of a 2000-city TSP
    # ran 13-37 s before NumPy's bare MemoryError, 10**8 of a 16-spin ring for
    # minutes. Python problems count their evaluations: none may run.
    python = _python_problem("function") if method is particle_swarm else SlowBits()
    compiled = _compiled_problems()
    for problem in [python] + [compiled[kind] for kind in _compiled_kinds(method)]:
        start = time.perf_counter()
        with pytest.raises(error, match=names):
            method(problem, seed=0, **kwargs)
        assert time.perf_counter() - start < 2.0
    if isinstance(python, SlowBits):
        assert python.calls == 0


def test_a_python_problem_size_is_checked():
    for size, error in [(2**64, ValueError), (2.5, TypeError), (-1, ValueError)]:
        problem = SlowBits()
        problem.size = size
        with pytest.raises(error, match="SlowBits.size"):
            hill_climb(problem, seed=0)
        assert problem.calls == 0


@pytest.mark.parametrize("method", ALL_METHODS, ids=_name)
def test_every_flag_of_every_method_refuses_non_bools(method):
    # Flags accepted any truthy value: descent="no" descended, maximize="no"
    # maximised.
    problem = Continuous.builtin("sphere", 2)
    flags = ["progress"]
    flags += {
        simulated_annealing: ["descent"],
        parallel_tempering: ["descent"],
        tabu_search: ["aspiration"],
    }.get(method, [])
    for flag in flags:
        for value in ("no", 0, 1, None):
            with pytest.raises(TypeError, match=f"{flag} must be a bool"):
                method(problem, seed=0, **{flag: value})
        method(problem, seed=0, **_budget(method, 2), **{flag: np.False_})


def test_problem_flags_refuse_non_bools():
    with pytest.raises(TypeError, match="maximize must be a bool"):
        Continuous(lambda x: float(x.sum()), [(0, 1)], maximize="no")
    with pytest.raises(TypeError, match="vectorized must be a bool"):
        Continuous(lambda x: x.sum(axis=1), [(0, 1)], vectorized=1)
    with pytest.raises(TypeError, match="maximize must be a bool"):
        OneMax(3, maximize="no")
    with pytest.raises(ValueError, match="cluster_moves"):
        parallel_tempering(Ising(np.zeros(4), {}), cluster_moves="no")

    class Careless(OneMax):
        def __init__(self, n):  # skips Problem.__init__, sets its own flag
            self.n = self.size = n
            self.maximize = "yes"

    with pytest.raises(TypeError, match="Careless.maximize must be a bool"):
        hill_climb(Careless(3), seed=0)
    assert Continuous(lambda x: -float(x.sum()), [(0, 1)], maximize=np.True_).maximize


def test_the_kick_length_is_checked():
    # TSP's kick length (the segments of iterated local search's kick): an int
    # the core can hold, named; a long one is clamped to the tour, not a leak.
    coords = np.random.default_rng(0).uniform(size=(12, 2))
    with pytest.raises(ValueError, match="kick_length"):
        TSP(coords, kick_length=2**64)
    with pytest.raises(TypeError, match="kick_length"):
        TSP(coords, kick_length="50")
    tsp = TSP(coords, kick_length=2**62)
    result = iterated_local_search(tsp, seed=0, max_iters=20)
    assert result.stop_reason == "max_iters"


@pytest.mark.parametrize("method", CHAIN_METHODS, ids=_name)
def test_rounding_through_huge_costs_is_no_lie(method):
    # One edge of 1.8e16 (past 2**53): tempering's hot replicas cross it and
    # come back, their running costs rounded relative to the costs they went
    # through. The check of deltas against costs allows for that (it took the
    # rounding for a lying delta once it checked the replicas).
    matrix = np.ones((5, 5))
    matrix[0, 1] = matrix[1, 0] = 1.8014398509481978e16 + 1.0
    result = method(TSP(distances=matrix), num_chains=2, seed=0, **_budget(method, 5))
    assert result.objective == 5.0


@pytest.mark.parametrize(
    "method, kwargs",
    [
        (simulated_annealing, {"num_chains": 300_000}),
        (hill_climb, {"num_chains": 300_000}),
        (parallel_tempering, {"num_replicas": 2**14, "num_chains": 8}),
    ],
    ids=["annealing-chains", "hill-chains", "tempering-replicas"],
)
def test_many_chains_or_replicas_honour_the_time_limit(method, kwargs):
    # Seeding (~20 us a stream) and initialising every chain or replica ran
    # before the first clock read: a million chains of a 16-spin ring took
    # 17.9 s for time_limit=1, 2**16 replicas 2.3 s. Past the deadline the
    # streams and chains left are copies (the run is over).
    ring = Ising(np.zeros(16), {(i, (i + 1) % 16): 1.0 for i in range(16)})
    start = time.perf_counter()
    result = method(ring, seed=0, time_limit=0.3, **kwargs)
    assert time.perf_counter() - start < 1.5
    assert result.stop_reason == "time_limit"
    assert np.all(np.isfinite(result.costs))
    assert ring.energy(result.best_state) == result.objective


def test_seeding_stops_at_the_deadline():
    from attnsearch.search._seeding import chain_rng_states, replica_rng_states

    full = chain_rng_states(7, 3000)
    assert np.array_equal(chain_rng_states(7, 3000, deadline=math.inf), full)
    cut = chain_rng_states(7, 3000, deadline=-math.inf)
    assert np.array_equal(cut[:1024], full[:1024])  # a clock read per 1024
    assert (cut[1024:] == full[1023]).all()
    cut = replica_rng_states(7, 3, 1000, deadline=-math.inf)
    assert np.array_equal(cut[:1024], replica_rng_states(7, 3, 1000)[:1024])
    assert (cut[1024:] == cut[1023]).all()


@pytest.mark.parametrize("method, kind", _python_kinds(["problem", "function"]))
def test_many_chains_of_a_slow_objective_honour_the_time_limit(method, kind):
    # Eight chains (swarms) at 0.1 s an evaluation, 0.5 s: every swarm
    # evaluated its first particle and the Result recomputed every chain's
    # final cost after the limit (0.9-1.2 s).
    pause, limit = 0.1, 0.5
    problem = _python_problem(kind, pause=pause)
    start = time.perf_counter()
    result = method(problem, seed=0, time_limit=limit, num_chains=8)
    elapsed = time.perf_counter() - start
    assert result.stop_reason == "time_limit"
    assert elapsed <= 1.1 * limit + pause, elapsed
    assert np.all(np.isfinite(result.costs))
