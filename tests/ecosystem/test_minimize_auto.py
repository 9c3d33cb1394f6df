"""``minimize(method="auto")``, the default: generalised annealing with L-BFGS-B
descents (``attnsearch.search._global``), and the suite of ``attnsearch bench
minimize`` (``attnsearch.search._global_suite``)."""

import math

import numpy as np
import pytest

from attnsearch.search import _global_suite as suite
from attnsearch.search import minimize
from attnsearch.search._global import default_maxfev

RASTRIGIN_10 = [(-5.12, 5.12)] * 10


def rastrigin(x):
    return float(10.0 * x.size + np.sum(x * x - 10.0 * np.cos(2.0 * np.pi * x)))


def shifted(x):
    return float(np.sum((x - 0.3) ** 2))


def test_auto_is_the_default_and_reaches_rastrigin_10s_minimum():
    # The headline: the default used to stop three basins off (f ~ 3).
    for seed in range(3):
        res = minimize("rastrigin", RASTRIGIN_10, seed=seed)
        assert res.method == "auto"
        assert res.fun < 1e-8, (seed, res.fun)
        assert res.nfev == default_maxfev(10)
        assert res.success and res.status == 0
        assert res.fun == pytest.approx(rastrigin(res.x), abs=1e-12)
        assert res.local_searches > 0 and 0 < res.polish_nfev < res.nfev


@pytest.mark.parametrize("maxfev", [1, 7, 300, 1234])
def test_nfev_is_exactly_the_calls_and_never_above_maxfev(maxfev):
    calls = 0

    def counted(x):
        nonlocal calls
        calls += 1
        return rastrigin(x)

    res = minimize(counted, [(-5.12, 5.12)] * 4, seed=1, maxfev=maxfev)
    assert res.nfev == calls - 1  # minus the call that checks the signature
    # A gradient's d + 1 = 5 points that do not fit are evaluated as far as
    # the budget goes: all of it is spent, none beyond.
    assert res.nfev == maxfev


def test_builtin_vectorized_and_plain_callables_take_the_same_steps():
    plain = minimize(rastrigin, [(-5.12, 5.12)] * 3, seed=2, maxfev=2000)
    batch_calls = []

    def batch(points):
        batch_calls.append(points.shape)
        return np.array([rastrigin(p) for p in points])

    vectorized = minimize(
        batch, [(-5.12, 5.12)] * 3, seed=2, maxfev=2000, vectorized=True
    )
    builtin = minimize("rastrigin", [(-5.12, 5.12)] * 3, seed=2, maxfev=2000)
    assert plain.nfev == vectorized.nfev == builtin.nfev == 2000
    np.testing.assert_array_equal(plain.x, vectorized.x)
    assert (4, 3) in batch_calls  # a finite-difference gradient in one call
    np.testing.assert_allclose(builtin.x, plain.x, atol=1e-6)


def test_same_seed_same_run_and_seeds_differ():
    a = minimize(rastrigin, [(-5.12, 5.12)] * 3, seed=5, maxfev=600)
    b = minimize(
        rastrigin, [(-5.12, 5.12)] * 3, seed=np.random.SeedSequence(5), maxfev=600
    )
    c = minimize(rastrigin, [(-5.12, 5.12)] * 3, seed=6, maxfev=600)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fun == b.fun and a.nfev == b.nfev
    assert not np.array_equal(a.x, c.x)


def test_maxiter_counts_chains():
    res = minimize(rastrigin, [(-5.12, 5.12)] * 3, seed=0, maxiter=7)
    assert res.nit == 7 and res.message == "Maximum number of iterations reached."


def test_polish_false_runs_no_local_search():
    res = minimize(shifted, [(-1.0, 1.0)] * 3, seed=0, maxfev=500, polish=False)
    assert res.local_searches == 0 and res.polish_nfev == 0 and res.nfev == 500


def test_target_time_limit_and_callback_stop():
    res = minimize("sphere", [(-5.0, 5.0)] * 4, seed=0, target=1e-6)
    assert res.fun <= 1e-6 and res.message == "Target value reached."
    assert res.nfev < default_maxfev(4)
    timed = minimize("rastrigin", [(-5.12, 5.12)] * 20, seed=0, time_limit=0.2)
    assert timed.status == 1 and timed.message == "Time limit reached."
    assert timed.nfev > 0 and math.isfinite(timed.fun)

    seen = []

    def stop(intermediate_result):
        seen.append(intermediate_result.nfev)
        raise StopIteration

    def slow(x):
        import time

        time.sleep(2e-3)
        return shifted(x)

    stopped = minimize(slow, [(-1.0, 1.0)] * 2, seed=0, callback=stop)
    assert stopped.status == 99 and not stopped.success and len(seen) == 1


def test_x0_is_the_first_point():
    x0 = np.array([0.3, 0.3, 0.3])
    res = minimize(shifted, [(-1.0, 1.0)] * 3, x0=x0, seed=0, maxfev=1)
    np.testing.assert_array_equal(res.x, x0)
    with pytest.raises(ValueError, match=r"x0\[1\] = 2.0 is outside its bounds"):
        minimize(shifted, [(-1.0, 1.0)] * 3, x0=[0.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="x0 must have shape"):
        minimize(shifted, [(-1.0, 1.0)] * 3, x0=[0.0, 0.0])


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"n_particles": 10}, TypeError, "unexpected keyword 'n_particles'"),
        ({"visit": 3.5}, ValueError, r"visit must lie in \(1, 3\]"),
        ({"accept": 0.0}, ValueError, "accept must lie in"),
        ({"initial_temp": "hot"}, TypeError, "initial_temp must be a number"),
        ({"local_maxiter": 0}, ValueError, "local_maxiter"),
        ({"late_share": 1.0}, ValueError, r"late_share must lie in \[0, 1\)"),
        ({"hop_share": -0.5}, ValueError, "hop_share must lie in"),
        ({"num_chains": 2}, ValueError, "num_chains=1"),
        ({"maxfev": 0}, ValueError, "maxfev"),
    ],
)
def test_bad_arguments_name_the_parameter(options, error, match):
    with pytest.raises(error, match=match):
        minimize(shifted, [(-1.0, 1.0)] * 2, **options)


def test_suite_minima_are_the_functions_values_at_their_minimisers():
    # The suite's f* at the published minimisers (tests must not read
    # ../shared: these few are written here).
    at = {
        "rastrigin-10": np.zeros(10),
        "schwefel-10": np.full(10, 420.968746359982025),
        "styblinski_tang-10": np.full(10, -2.903534027771178),
        "trid-10": np.array([(i + 1) * (10 - i) for i in range(10)], dtype=float),
        "goldstein_price-2": np.array([0.0, -1.0]),
        "easom-2": np.array([np.pi, np.pi]),
    }
    by_label = {p.label: p for p in suite.SUITE}
    for label, x in at.items():
        problem = by_label[label]
        assert suite.is_success(float(problem(x)), problem.f_star), label
        batch = problem(np.stack([x, x]))
        assert batch.shape == (2,)
    assert len(suite.SUITE) >= 25
    assert {p.dim for p in suite.SUITE} >= {2, 10, 30}


def test_harness_stops_a_solver_at_the_budget():
    problem = next(p for p in suite.SUITE if p.label == "branin-2")
    out = suite.run_one(suite.SOLVERS["differential_evolution"], problem, 0, 50)
    assert out.nfev == 50 and math.isfinite(out.best)
    ours = suite.run_one(suite.SOLVERS["minimize"], problem, 0, 3000)
    assert ours.nfev == 3000 and ours.success


def test_nan_is_infeasible_and_an_all_infinite_function_ends_unsuccessful():
    def half_nan(x):
        return math.nan if x[0] > 0 else float(x[0] ** 2 + x[1] ** 2)

    res = minimize(half_nan, [(-1.0, 1.0)] * 2, seed=0, maxfev=500)
    assert res.x[0] <= 0 and res.fun < 1e-2 and res.nfev == 500
    flat = minimize(lambda x: math.inf, [(-1.0, 1.0)] * 2, seed=0, maxfev=50)
    assert flat.fun == math.inf and not flat.success and flat.nfev == 50
    assert flat.x.shape == (2,)


def test_late_phase_hops_and_restarts_within_the_budget():
    # The last LATE_SHARE of the budget: a hot restart in the stagnation mode
    # and line hops around the incumbent; the budget is spent to its end.
    from attnsearch.search._global import HOP_SHARE, LATE_SHARE

    assert 0 < LATE_SHARE < 1 and 0 < HOP_SHARE < 1
    res = minimize(rastrigin, [(-5.12, 5.12)] * 4, seed=0, maxfev=3000)
    assert res.hops > 0 and res.nfev == 3000
    plain = minimize(
        rastrigin, [(-5.12, 5.12)] * 4, seed=0, maxfev=3000, late_share=0.0
    )
    assert plain.hops == 0  # dual annealing's loop alone
    # maxiter alone has no budget to take a share of: no late phase.
    assert minimize(rastrigin, [(-5.12, 5.12)] * 3, seed=0, maxiter=50).hops == 0


def test_line_hop_finds_the_next_basin_that_annealing_steps_miss():
    # From Griewank-10's local minimum one basin off along x_2 (f ~ 0.0197),
    # hops along lines reach the global basin; every evaluation is counted.
    from attnsearch.search import _global as g

    p = next(q for q in suite.SUITE if q.label == "griewank-10")
    lower, upper = np.array(p.bounds, dtype=float).T
    calls = 0

    def f(x):
        nonlocal calls
        calls += 1
        return float(p(x))

    ev = g.Evaluator(single=f, batch=None, maxfev=20000)
    local = g.LocalSearch(ev, lower, upper, 100)
    hops = g.LineHops(ev, lower, upper, np.random.default_rng(0), local)
    x = np.zeros(10)
    x[1] = 2 * np.pi * np.sqrt(2)
    x, fx = local(x, f(x))
    assert 0.019 < fx < 0.02
    before = ev.nfev
    while ev.nfev < 15000 and fx > 1e-8:
        x, fx = hops(x, fx)
    assert fx < 1e-8 and hops.accepted >= 1
    assert ev.nfev == calls - 1 and hops.nfev == ev.nfev - before


def test_barrier_hop_releases_a_pair_of_coordinates_trapped_together():
    # Griewank-10 with x_3 and x_9 at odd multiples of their periods (the two
    # cosines -1, their product +1, f ~ 0.0295): no move of one coordinate to
    # another minimum along its line improves, but at the top of the lower
    # barrier along x_3 (or x_9) the partner sits at a maximum of its own
    # line, whose 1-D descent reaches the global basin's parity.
    from attnsearch.search import _global as g

    p = next(q for q in suite.SUITE if q.label == "griewank-10")
    lower, upper = np.array(p.bounds, dtype=float).T
    ev = g.Evaluator(single=lambda x: float(p(x)), batch=None, maxfev=10**6)
    local = g.LocalSearch(ev, lower, upper, 100)
    period = np.pi * np.sqrt(np.arange(1, 11))
    x = np.zeros(10)
    x[2], x[8] = period[2], -period[8]
    x, fx = local(x, ev(x))
    assert 0.029 < fx < 0.03

    def successes(barrier_share: float) -> int:
        rng = np.random.default_rng(1)
        hops = g.LineHops(
            ev, lower, upper, rng, local, barrier_share=barrier_share, barrier_cap=1.0
        )
        hops._direction = lambda: np.eye(10)[rng.choice([2, 8])] * (upper - lower)
        return sum(hops(x, fx)[1] < 1e-8 for _ in range(30))

    assert successes(0.0) == 0  # the screened random steps along x_3 or x_9
    # (The whole space's descent from the top, the previous release, 9.)
    assert successes(1.0) >= 12


def test_barrier_hops_keep_within_their_cap_of_the_hops_evaluations():
    # Barrier hops cost ~10 d evaluations (a 1-D descent along every other
    # coordinate): they stop where they would take more than their cap of the
    # hops' evaluations from the screened hops.
    from attnsearch.search import _global as g

    dim = 30
    lower, upper = np.full(dim, -5.12), np.full(dim, 5.12)
    ev = g.Evaluator(single=rastrigin, batch=None, maxfev=10**6)
    local = g.LocalSearch(ev, lower, upper, 100)
    rng = np.random.default_rng(0)
    hops = g.LineHops(ev, lower, upper, rng, local, barrier_share=1.0)
    hops._direction = lambda: np.eye(dim)[rng.integers(dim)] * (upper - lower)
    x, fx = np.zeros(dim), 0.0
    largest = 0
    for _ in range(60):
        before = hops.barrier_nfev
        hops(x, fx)
        largest = max(largest, hops.barrier_nfev - before)
    assert 0 < hops.barrier_nfev <= g.BARRIER_CAP * hops.nfev + largest
    assert hops.barrier_nfev < hops.nfev  # the screened hops ran too


def test_walk_over_brackets_the_nearest_barrier_or_meets_the_edge():
    from attnsearch.search import _global as g

    lower, upper = np.array([-2.0]), np.array([2.0])

    def wave(x):
        return float(np.cos(2.0 * np.pi * x[0]))

    ev = g.Evaluator(single=wave, batch=None, maxfev=1000)
    local = g.LocalSearch(ev, lower, upper, 100)
    hops = g.LineHops(ev, lower, upper, np.random.default_rng(0), local)
    x = np.array([0.5])  # a minimum; the tops at 0 and 1 (t = -1/8, +1/8)
    for sign in (1.0, -1.0):
        line = g._Line(ev, x, upper - lower, lower, upper, -0.625, 0.375)
        a, b, height = hops._walk_over(line, wave(x), sign)
        assert a < 0.125 < b and height > -1.0
    # A line that only rises (from the minimum of a bowl) has no barrier.
    ev = g.Evaluator(single=lambda x: float(x[0] ** 2), batch=None, maxfev=1000)
    hops = g.LineHops(ev, lower, upper, np.random.default_rng(0), local)
    line = g._Line(ev, np.zeros(1), upper - lower, lower, upper, -0.5, 0.5)
    assert hops._walk_over(line, 0.0, 1.0) is None
