"""Iterated local search (``methods/iterated.py``): kernel against the Python
reference (the TSP's kick and descent, the generic fallbacks, the undo log's
overflow), the vtable path, threads, chunks and pauses, quality, time limits and
its arguments."""

import math

import numpy as np
import pytest
from _helpers import assert_same_run, run_of
from _problems import OneMax

from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import (
    TSP,
    Ising,
    Problem,
    iterated_local_search,
)
from attnsearch.search.problems.tsp._core import TSPCore

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


@pytest.mark.parametrize(
    "moves, strength, kick_length",
    [
        (("2opt", "oropt"), 1, 50),
        (("2opt", "oropt", "3opt"), 2, 5),
        (("2opt",), 1, 3),
        (("2opt", "oropt", "lk"), 1, 10),
        (("swap", "lk"), 1, 50),
    ],
)
def test_ils_equals_the_reference(moves, strength, kick_length):
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=moves, kick_length=kick_length)
    kwargs = dict(num_chains=3, seed=7, max_iters=150, strength=strength)
    compiled = iterated_local_search(tsp, backend="cython", **kwargs)
    python = iterated_local_search(tsp, backend="reference", **kwargs)
    assert_same_run(compiled, python)
    np.testing.assert_array_equal(
        compiled.params["kicks_accepted"], python.params["kicks_accepted"]
    )
    assert (
        compiled.params["kick"] == "problem" and compiled.params["descent"] == "problem"
    )
    assert compiled.params["iterations"].tolist() == [150] * 3


def test_ils_generic_fallbacks_equal_the_reference(rng):
    # A TSP without candidate lists: first-improvement descent over all pairs
    # (still the double-bridge kick). Ising: random flips as kicks, copies of
    # the state and its local fields to roll back.
    tsp = TSP(rng.uniform(0, 100, size=(18, 2)), metric="EUC_2D", candidates=None)
    edges = {(i, (i + 1) % 30): float(rng.choice([-1, 1])) for i in range(30)}
    edges.update({(i, (i + 7) % 30): float(rng.choice([-1, 1])) for i in range(30)})
    ising = Ising(rng.integers(-1, 2, 30).astype(float), edges)
    for problem, kick in ((tsp, "problem"), (ising, "random moves")):
        kwargs = dict(num_chains=2, seed=1, max_iters=25)
        compiled = iterated_local_search(problem, backend="cython", **kwargs)
        python = iterated_local_search(problem, backend="reference", **kwargs)
        assert compiled.params["kick"] == kick
        assert compiled.params["descent"] == "first improvement"
        assert_same_run(compiled, python)
    # A Python problem runs on the reference engine.
    assert iterated_local_search(OneMax(12), max_iters=5, seed=0).objective == 12


def test_ils_reference_pauses_change_nothing(monkeypatch):
    # The reference pauses the descents after kicks at the end of a chunk and
    # resumes them in the next. A chain already at the next chunk's `until`
    # (ahead of the slowest chain) dropped its paused iteration and kicked the
    # half-descended tour: trajectories depended on timing (the comparisons
    # with the kernel failed under load).
    import attnsearch.search.methods.iterated as iterated

    monkeypatch.setattr(iterated, "_CHUNK_SECONDS", 1e-3)
    rng = np.random.default_rng(42)
    tsp = TSP(rng.uniform(0, 100, size=(18, 2)), metric="EUC_2D", candidates=None)
    kwargs = dict(num_chains=2, seed=1, max_iters=25)
    compiled = iterated_local_search(tsp, backend="cython", **kwargs)
    for _ in range(2):
        python = iterated_local_search(tsp, backend="reference", **kwargs)
        assert_same_run(compiled, python)


def test_ils_rollback_from_an_overflowing_log_equals_the_reference():
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=("2opt", "oropt", "3opt"))
    args = list(tsp._core._init_args)
    args[11] = 3  # a 3-entry undo log: rollbacks fall back on the tour copy
    tsp._core = TSPCore(*args)
    kwargs = dict(num_chains=2, seed=9, max_iters=200, strength=3)
    assert_same_run(
        iterated_local_search(tsp, backend="cython", **kwargs),
        iterated_local_search(tsp, backend="reference", **kwargs),
    )


@pytest.mark.parametrize("capacity", [1, 2, 5, 40])
def test_ils_with_lk_and_a_short_log_equals_the_reference(capacity):
    # The Lin-Kernighan step's tentative exchanges and their undoing cancel in
    # the log (an entry equal to the last one pops it), also at a full log and
    # after the fall back on the tour copy.
    tsp = TSP.from_tsplib(DATA / "st70.tsp", moves=("2opt", "oropt", "3opt", "lk"))
    args = list(tsp._core._init_args)
    args[11] = capacity
    tsp._core = TSPCore(*args)
    kwargs = dict(num_chains=2, seed=4, max_iters=150)
    assert_same_run(
        iterated_local_search(tsp, backend="cython", **kwargs),
        iterated_local_search(tsp, backend="reference", **kwargs),
    )


def test_ils_vtable_path_equals_the_inlined_path():
    tsp = TSP.from_tsplib(DATA / "eil51.tsp", moves=("2opt", "oropt", "3opt"))
    states = []
    for use_vtable in (False, True):
        run = run_of(tsp, num_chains=2, use_vtable=use_vtable)
        run.backend.call(
            "iterated_local_search",
            until=60,
            strength=1,
            tolerance=0.0,
            target=-math.inf,
            deadline=math.inf,
            pause_at=math.inf,
        )
        run.backend.call(
            "descend",
            max_moves=5,
            tolerance=0.0,
            target=-math.inf,
            deadline=math.inf,
        )
        states.append(run.backend.arrays.states.copy())
    np.testing.assert_array_equal(states[0], states[1])


def test_ils_threads_chunks_and_pauses_do_not_change_the_run():
    tsp = TSP(np.random.default_rng(5).uniform(size=(1500, 2)), metric="EUCLIDEAN")
    whole = iterated_local_search(tsp, num_chains=4, seed=2, max_iters=300)
    runs = [whole]
    for threads in (1, 2):
        run = run_of(tsp, num_chains=4, seed=2, num_threads=threads)
        done = 0
        while done < 300:  # ragged chunks, pausing the first descent at once
            run.backend.call(
                "iterated_local_search",
                until=min(300, done + 37),
                strength=1,
                tolerance=run.improvement_tolerance(),
                target=-math.inf,
                deadline=math.inf,
                pause_at=-math.inf,
            )
            done = int(run.backend.arrays.progress.min())
        run.stop_reason = "max_iters"  # what Run.loop would have set
        runs.append(run.result({}))
    for other in runs[1:]:
        np.testing.assert_array_equal(whole.states, other.states)
        assert whole.acceptance_counts == other.acceptance_counts


def test_ils_never_gets_worse_and_finds_optima():
    tsp = TSP.from_tsplib(DATA / "kroA100.tsp")
    result = iterated_local_search(tsp, num_chains=2, seed=0, max_iters=3000)
    best = result.history["best_costs"]
    assert np.all(np.diff(best, axis=0) <= 0)
    assert result.objective <= 1.005 * tsp.optimum
    accepted, evaluated = result.acceptance_counts
    assert 0 < accepted <= evaluated == result.n_evaluations
    assert np.all(result.params["kicks_accepted"] <= result.params["iterations"] - 1)
    hit = iterated_local_search(tsp, num_chains=2, seed=0, target=1.02 * tsp.optimum)
    assert hit.stop_reason == "target" and hit.objective <= 1.02 * tsp.optimum


def test_ils_time_limit_alone_uses_the_time():
    tsp = TSP(np.random.default_rng(1).uniform(size=(300, 2)))
    result = iterated_local_search(tsp, time_limit=0.3, num_chains=2, seed=0)
    assert result.stop_reason == "time_limit"
    assert result.elapsed >= 0.95 * 0.3
    assert result.params["max_iters"] is None


def test_ils_bad_arguments():
    tsp = TSP(np.random.default_rng(1).uniform(size=(20, 2)))
    with pytest.raises(ValueError, match="strength"):
        iterated_local_search(tsp, strength=0)
    with pytest.raises(TypeError, match="max_iters"):
        iterated_local_search(tsp, max_iters=2.5)

    class Walk(OneMax):  # a Python problem without a neighbourhood
        moves = Problem.moves

    with pytest.raises(TypeError, match="neighbourhood"):
        iterated_local_search(Walk(5))
