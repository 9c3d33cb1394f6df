"""The search layout's promises: one method-name table, one backend name, counters
defined once for every method, problems that break the tabu contract raise, and
the dispatch generated from one list of problems."""

import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
from _problems import OneMax

import attnsearch.search as search
from attnsearch.search import (
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
from attnsearch.search._run import Run
from attnsearch.search.methods import METHODS, method_function, method_name

# Templates and .pxd sources are read from the checkout: an installed (non-editable)
# package carries the compiled modules, not necessarily every build input.
SEARCH = Path(__file__).resolve().parents[2] / "src" / "attnsearch" / "search"


def ring(n=24):
    return Ising(np.zeros(n), {(i, (i + 1) % n): 1.0 for i in range(n)})


def test_one_method_table_serves_cli_dask_and_minimize():
    from attnsearch.search import dask, minimize

    assert search.MINIMIZE_METHODS is METHODS
    for short, full in METHODS.items():
        assert method_name(short) == method_name(full) == full
        assert method_function(short) is getattr(search, full)
        assert method_name(getattr(search, full)) == full
    with pytest.raises(ValueError, match="method must be one of"):
        method_name("genetic")
    assert minimize.__name__ == "minimize" and dask.solve.__module__.endswith("dask")


def test_cli_and_minimize_offer_and_document_every_method_of_the_table():
    from typing import Literal, get_args

    from attnsearch import cli
    from attnsearch.__main__ import build_parser
    from attnsearch.search import minimize

    parser = build_parser()
    for kind, operands in [
        ("tsp", ["a.tsp"]),
        ("maxcut", ["g.txt"]),
        ("qubo", ["q.npz"]),
        ("continuous", ["sphere", "--dim", "2"]),
    ]:
        for short, full in METHODS.items():
            argv = ["solve", kind, *operands, "--method", short]
            if full == "particle_swarm" and kind != "continuous":
                with pytest.raises(SystemExit):  # a swarm needs a box
                    parser.parse_args(argv)
            else:
                assert parser.parse_args(argv).method == short
    listed = [
        names.split("|") for names in re.findall(r"--method ([a-z|]+)", cli.__doc__)
    ]
    # solve continuous also offers minimize's default, "auto"
    assert set().union(*listed) == set(METHODS) | {"auto"}
    method = inspect.signature(minimize).parameters["method"].annotation
    # "auto" (the default) is minimize's own: it is no method of the table.
    assert set(get_args(eval(method, {"Literal": Literal}))) == set(METHODS) | {"auto"}
    for short, full in METHODS.items():
        assert (
            f'"{short}"' in minimize.__doc__ and f":func:`{full}`" in minimize.__doc__
        )


@pytest.mark.parametrize(
    "method", [simulated_annealing, hill_climb, stochastic_hill_climb, tabu_search]
)
def test_old_backend_name_warns_and_gives_the_same_run(method):
    kwargs = dict(num_chains=2, seed=3)
    kwargs.update(
        {"num_sweeps": 20} if method is simulated_annealing else {"max_iters": 20}
    )
    with pytest.warns(FutureWarning, match='backend="reference"'):
        old = method(ring(), backend="python", **kwargs)
    new = method(ring(), backend="reference", **kwargs)
    assert new.params["backend"] == "reference"
    np.testing.assert_array_equal(old.states, new.states)
    with pytest.raises(ValueError, match="backend must be one of"):
        method(ring(), backend="numba", **kwargs)


def _check_counts(result):
    accepted, proposed = result.acceptance_counts
    assert proposed == result.n_evaluations > 0
    assert 0 <= accepted <= proposed
    assert result.acceptance_rate == accepted / proposed


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_acceptance_is_moves_applied_over_moves_evaluated(backend):
    tsp = TSP(np.random.default_rng(0).uniform(size=(12, 2)))
    sa = simulated_annealing(tsp, num_sweeps=50, seed=0, backend=backend)
    _check_counts(sa)
    # Hill climbing and tabu apply one move per step (the rest were evaluated).
    hc = hill_climb(ring(), num_chains=3, seed=0, backend=backend)
    _check_counts(hc)
    assert hc.acceptance_counts[0] == hc.params["steps"].sum()
    tabu = tabu_search(ring(), max_iters=30, seed=0, backend=backend)
    _check_counts(tabu)
    assert tabu.acceptance_counts == (30, 30 * 24)  # not 1.0: one of 24 candidates
    assert tabu.acceptance_rate == 1 / 24
    stochastic = stochastic_hill_climb(ring(), max_iters=30, seed=0, backend=backend)
    _check_counts(stochastic)
    assert stochastic.acceptance_counts[0] <= stochastic.params["steps"].sum()


def test_counters_count_the_deltas_computed(monkeypatch):
    # Hostile-input report: the command line's "1717 M evaluations/s" for
    # iterated local search on G11 looked inflated. The counts are the deltas
    # the methods compute: on the Python mirror each proposal is one call of
    # ops.delta, and the kernels count the same; a first-improvement scan over
    # cached local fields costs about a nanosecond per candidate.
    from attnsearch.data import DATA_DIR
    from attnsearch.search import iterated_local_search
    from attnsearch.search.problems.ising._reference import IsingReference

    graph = MaxCut.from_gset(DATA_DIR / "G11.txt")
    calls = 0
    original = IsingReference.delta

    def counting_delta(self, state, move):
        nonlocal calls
        calls += 1
        return original(self, state, move)

    monkeypatch.setattr(IsingReference, "delta", counting_delta)
    runs = [
        (iterated_local_search, {"max_iters": 20}),
        (hill_climb, {}),
        (tabu_search, {"max_iters": 20}),
        (simulated_annealing, {"num_sweeps": 10, "t_start": 2.0, "t_end": 0.1}),
    ]
    for method, kwargs in runs:
        calls = 0
        mirror = method(graph, backend="reference", seed=1, **kwargs)
        assert mirror.n_evaluations == calls > 0, method.__name__
        assert method(graph, seed=1, **kwargs).n_evaluations == calls
    # Stochastic hill climbing's selection pass recomputes deltas of the scan it
    # counted already: one evaluation per candidate scanned.
    calls = 0
    steps = 10
    mirror = stochastic_hill_climb(
        graph, backend="reference", seed=1, max_iters=steps, temperature=0.5
    )
    assert mirror.n_evaluations == steps * graph.n <= calls
    compiled = stochastic_hill_climb(graph, seed=1, max_iters=steps, temperature=0.5)
    assert compiled.n_evaluations == mirror.n_evaluations


def test_particle_swarm_counts_personal_best_improvements():
    result = particle_swarm(
        Continuous.builtin("sphere", 3), n_particles=10, max_iters=20, seed=0
    )
    _check_counts(result)
    assert result.n_evaluations == 10 * 21  # the initial swarm, then 20 iterations


def test_out_of_range_tabu_attributes_raise():
    # Attributes outside [0, n_tabu_keys) have no slot in the tabu memory: they
    # used to be dropped silently, so those moves were never tabu.
    ising = ring(10)
    ising._core.n_tabu_keys = 3  # spins 3..9 now lie outside the declared range
    with pytest.raises(ProblemError, match="n_tabu_keys"):
        tabu_search(ising, max_iters=10, seed=0)
    ising = ring(10)
    ising._reference.n_tabu_keys = 3
    with pytest.raises(ProblemError, match="n_tabu_keys"):
        tabu_search(ising, max_iters=10, seed=0, backend="reference")
    # Python problems may use any hashable attribute.
    assert tabu_search(OneMax(8), max_iters=10, seed=0).objective == 8


def test_method_scratch_is_allocated_once_per_run():
    run = Run(
        "stochastic_hill_climb",
        ring(),
        num_chains=2,
        initial_states=None,
        seed=0,
        num_threads=1,
        time_limit=None,
        target=None,
        callback=None,
        backend="cython",
    )
    kwargs = dict(temperature=1.0, sample_size=5, target=-math.inf, deadline=math.inf)
    run.backend.call("stochastic_climb", max_steps=3, **kwargs)
    buffers = run.backend.arrays.scratch[("stochastic_climb", 5)]
    run.backend.call("stochastic_climb", max_steps=3, **kwargs)
    assert run.backend.arrays.scratch[("stochastic_climb", 5)] is buffers


def test_dispatch_is_generated_from_one_list_of_problems():
    template = (SEARCH / "_dispatch.pxi.tp").read_text()
    listed = re.findall(r'\("(\w+)", "(\w+)", "(\w+)", "(\w+)"\)', template)
    assert [folder for folder, *_ in listed] == ["ising", "tsp", "continuous"]
    for folder, data, core, prefix in listed:
        pxd = (SEARCH / "problems" / folder / "_core.pxd").read_text()
        assert f"ctypedef struct {data}" in pxd and f"cdef class {core}" in pxd
        for operation in (
            "init",
            "cost",
            "random_move",
            "propose",
            "delta",
            "apply",
            "n_moves",
            "move_at",
            "tabu_attributes",
        ):
            assert re.search(
                rf"cdef inline \w+ {prefix}_{operation}\(const void \*data", pxd
            ), (folder, operation)


def test_maxcut_result_states_are_one_array():
    graph = MaxCut(6, [(i, (i + 1) % 6) for i in range(6)])
    result = tabu_search(graph, max_iters=20, num_chains=3, seed=0)
    assert isinstance(result.states, np.ndarray) and result.states.shape == (3, 6)
    assert not np.shares_memory(result.best_state, result.states)
