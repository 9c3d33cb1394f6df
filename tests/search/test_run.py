"""The run loop every method shares (``_run.py``): the compiled engine's vtable
path and its invariance in threads and seeds, targets, callbacks and Ctrl-C,
time limits (in calibration too), the history, initial states, Python problems
on the reference engine, memory estimates and the arguments every method
takes. The tests under the "hostile input" headings are regressions: each of
those inputs crashed, hung, ran past its time limit or answered garbage before."""

import math
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from _helpers import LOCAL_SEARCH_METHODS, assert_same_run, sparse_ising
from _isolation import assert_clean_exit, run_python
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
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)

# The compiled paths run under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


# -- the compiled engine: vtable path, threads, seeds ------------------------------


def test_vtable_path_equals_specialised_path(rng):
    # Through function pointers, the built-in problems take the same steps as with
    # their inlined operations (random proposals: the vtable has no in-order sweep).
    from attnsearch.search._run import Run

    tsp = TSP(
        rng.uniform(0, 100, size=(40, 2)),
        metric="EUC_2D",
        moves=("2opt", "swap", "oropt"),
    )
    ising = Ising(sparse_ising(rng).h, sparse_ising(rng).J, proposal="random")
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


def test_seeds_and_threads(rng):
    ising = sparse_ising(rng, n=200)
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


# -- stopping rules, history -----------------------------------------------------


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
    ising = sparse_ising(rng, n=50)
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
    ising = sparse_ising(rng)
    for kwargs, error in [
        (dict(num_chains=0), ValueError),
        (dict(time_limit=-1), ValueError),
        (dict(time_limit="1"), TypeError),
        (dict(target=float("nan")), ValueError),
        (dict(seed=-5), ValueError),
        (dict(num_threads=0), ValueError),
        (dict(callback=3), TypeError),
        (dict(backend="gpu"), ValueError),
    ]:
        with pytest.raises(error):
            simulated_annealing(ising, **kwargs)
    with pytest.raises(TypeError, match="expected a problem"):
        hill_climb(np.zeros(3))


# -- hostile input: empty models -------------------------------------------------------


def test_empty_models_do_not_crash():
    # Annealing and stochastic hill climbing read spin 0 of an empty model.
    completed = run_python(
        """
        import numpy as np
        from attnsearch.search import (QUBO, Ising, MaxCut, hill_climb,
            simulated_annealing, stochastic_hill_climb, tabu_search)
        models = [Ising(h=np.zeros(0), J=np.zeros((0, 0))), QUBO(np.zeros((0, 0))),
                  MaxCut(0, [])]
        for model in models:
            for method in (simulated_annealing, stochastic_hill_climb, hill_climb,
                           tabu_search):
                for backend in ("cython", "reference"):
                    result = method(model, seed=0, backend=backend)
                    assert result.best_state.shape == (0,), result
                    assert result.n_evaluations == 0, result
        print("ok")
        """
    )
    assert_clean_exit(completed)
    assert completed.stdout.strip() == "ok"


# -- hostile input: time limits and Ctrl-C in every phase ------------------------------


class SlowOneMax(Problem):
    """A Python problem whose every evaluation takes ``pause`` seconds."""

    def __init__(self, n=20, pause=0.005, interrupt_after=None):
        super().__init__()
        self.n = self.size = n
        self.pause = pause
        self.calls = 0
        self.interrupt_after = interrupt_after

    def initial(self, rng):
        return np.array([rng.below(2) for _ in range(self.n)])

    def random_move(self, state, rng):
        return rng.below(self.n)

    def delta(self, state, i):
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread
        time.sleep(self.pause)
        return 2 * int(state[i]) - 1

    def apply(self, state, i):
        state[i] ^= 1

    def cost(self, state):
        return -int(state.sum())

    def moves(self, state):
        return range(self.n)


@pytest.mark.parametrize("method", [simulated_annealing, stochastic_hill_climb])
def test_calibration_honours_the_time_limit(method):
    # ~2000 calibration evaluations (10 s here) ran before the first check.
    start = time.perf_counter()
    result = method(SlowOneMax(), time_limit=0.5, seed=0)
    assert time.perf_counter() - start < 3.0
    assert result.stop_reason == "time_limit"
    assert result.best_state.shape == (20,)


@pytest.mark.parametrize("method", [simulated_annealing, stochastic_hill_climb])
def test_ctrl_c_while_calibrating_returns_the_best_so_far(method):
    result = method(SlowOneMax(pause=0, interrupt_after=50), seed=0)
    assert result.stop_reason == "interrupted"
    assert result.best_state.shape == (20,)


def test_many_chains_honour_the_time_limit():
    tsp = TSP(np.random.default_rng(0).uniform(size=(200, 2)))
    for method in (hill_climb, tabu_search):
        start = time.perf_counter()
        result = method(tsp, num_chains=10_000, time_limit=1.0, seed=0)
        assert time.perf_counter() - start < 4.0, method  # 26 s before
        assert result.stop_reason == "time_limit"


def test_ctrl_c_with_many_chains_acts_at_once(tmp_path):
    script = tmp_path / "many.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal
            signal.signal(signal.SIGINT, signal.default_int_handler)
            import numpy as np
            from attnsearch.search import TSP, hill_climb
            tsp = TSP(np.random.default_rng(0).uniform(size=(200, 2)))
            print("start", flush=True)
            result = hill_climb(tsp, num_chains=20_000, seed=0)
            print(result.stop_reason, flush=True)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "start"
    time.sleep(1.5)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert time.perf_counter() - sent < 10  # 52 s before
    assert process.returncode == 0 and out.strip() == "interrupted"


@pytest.mark.parametrize("method", LOCAL_SEARCH_METHODS + [particle_swarm])
def test_infinite_time_limit_is_refused(method):
    problem = Continuous.builtin("sphere", 2)
    with pytest.raises(ValueError, match="time_limit must be finite"):
        method(problem, time_limit=math.inf, seed=0)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        method(problem, time_limit=-1.0, seed=0)


# -- hostile input: deltas that disagree with costs ------------------------------------


class LyingDelta(Problem):
    """Every move claims to gain 5, whatever it does."""

    def __init__(self, n=10):
        super().__init__()
        self.n = self.size = n

    def initial(self, rng):
        return np.zeros(self.n, dtype=int)

    def random_move(self, state, rng):
        return rng.below(self.n)

    def delta(self, state, i):
        return -5.0

    def apply(self, state, i):
        state[i] ^= 1

    def cost(self, state):
        return float(state.sum())

    def moves(self, state):
        return range(self.n)


@pytest.mark.parametrize("method", LOCAL_SEARCH_METHODS)
def test_inconsistent_deltas_are_detected(method):
    # hill_climb looped forever on this problem.
    completed_in_time = time.perf_counter()
    with pytest.raises(ProblemError, match="delta"):
        method(LyingDelta(), seed=0)
    assert time.perf_counter() - completed_in_time < 30


# -- hostile input: initial states, memory ---------------------------------------------


def test_python_initial_states_list_versus_shared_state():
    problem = OneMax(4)
    state = np.array([1, 0, 1, 0])
    shared = hill_climb(problem, num_chains=3, initial_states=state, max_iters=1)
    assert shared.params["steps"].tolist() == [1, 1, 1]
    per_chain = [np.array([1, 1, 1, 0]), np.array([0, 0, 0, 0]), state]
    each = hill_climb(problem, num_chains=3, initial_states=per_chain, max_iters=1)
    assert each.costs.tolist() == [-4.0, -1.0, -3.0]
    with pytest.raises(ValueError, match="one state per chain"):
        hill_climb(problem, num_chains=3, initial_states=[state, state])


def test_huge_chain_counts_are_refused_before_allocating():
    tsp = TSP(np.random.default_rng(0).uniform(size=(50, 2)))
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="chains of TSP needs about"):
        simulated_annealing(tsp, num_chains=10**11, seed=0)
    with pytest.raises(MemoryError, match="variables needs about"):
        MaxCut(10**13, [])
    with pytest.raises(MemoryError, match="variables needs about"):
        QUBO({(0, 10**13): 1.0})
    with pytest.raises(MemoryError, match="-dimensional sphere needs about"):
        Continuous.builtin("sphere", 10**13)
    assert time.perf_counter() - start < 5
