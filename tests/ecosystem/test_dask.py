"""search.dask and attention.dask on a real LocalCluster (2 worker processes on
loopback): merged searches are bitwise identical to one-machine runs, a killed worker is
survived, and attention over dask arrays equals the NumPy call."""

import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed_lib = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from _problems import OneMax  # noqa: E402  (a Python problem)

from attnsearch import distributed  # noqa: E402  (the old name, still exported)
from attnsearch.attention import dask as attention_dask  # noqa: E402
from attnsearch.attention import scaled_dot_product_attention as sdpa  # noqa: E402
from attnsearch.data import path as data_path  # noqa: E402
from attnsearch.search import (  # noqa: E402
    TSP,
    Continuous,
    Ising,
    MaxCut,
    hill_climb,
    parallel_tempering,
    particle_swarm,
    simulated_annealing,
    stochastic_hill_climb,
    tabu_search,
)
from attnsearch.search import dask as search_dask  # noqa: E402

METHOD_FUNCTIONS = {
    "simulated_annealing": simulated_annealing,
    "hill_climb": hill_climb,
    "stochastic_hill_climb": stochastic_hill_climb,
    "tabu_search": tabu_search,
    "particle_swarm": particle_swarm,
    "parallel_tempering": parallel_tempering,
}
BUDGETS = {
    "simulated_annealing": {"num_sweeps": 60},
    "hill_climb": {"max_iters": 60},
    "stochastic_hill_climb": {"max_iters": 60},
    "tabu_search": {"max_iters": 60},
    "particle_swarm": {"max_iters": 60},
    "parallel_tempering": {"num_sweeps": 20, "num_replicas": 3},
}


@pytest.fixture(scope="module")
def client():
    cluster = distributed_lib.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    )
    with distributed_lib.Client(cluster) as client:
        yield client
    cluster.close()


def ising_model():
    rng = np.random.default_rng(4)
    J = np.triu(rng.normal(size=(40, 40)) * (rng.random((40, 40)) < 0.15), 1)
    return Ising(h=rng.normal(size=40), J=J + J.T)


def problems():
    return {
        "ising": ising_model(),
        "tsp": TSP.from_tsplib(data_path("eil51.tsp")),
        "maxcut": MaxCut.from_gset(data_path("G11.txt")),
        "rastrigin": Continuous.builtin("rastrigin", dim=4),
        "python function": Continuous(
            lambda x: float(((x - 0.25) ** 2).sum()), [(-1, 1)] * 3
        ),
        "python problem": OneMax(12),
    }


def assert_same_result(merged, local):
    assert merged.method == local.method
    assert np.array_equal(np.asarray(merged.states), np.asarray(local.states))
    assert np.array_equal(merged.costs, local.costs)
    assert np.array_equal(np.asarray(merged.best_state), np.asarray(local.best_state))
    assert merged.best_cost == local.best_cost
    assert merged.objective == local.objective
    assert merged.n_evaluations == local.n_evaluations
    assert merged.acceptance_rate == local.acceptance_rate or (
        np.isnan(merged.acceptance_rate) and np.isnan(local.acceptance_rate)
    )
    assert merged.stop_reason == local.stop_reason
    for key, value in local.params.items():
        if key in ("num_threads",):
            continue
        other = merged.params[key]
        if isinstance(value, np.ndarray):
            assert np.array_equal(other, value), key
        else:
            assert other == value or (value != value and other != other), key


CASES = [
    (problem, method)
    for problem in problems()
    for method in METHOD_FUNCTIONS
    if method != "particle_swarm" or problem in ("rastrigin", "python function")
]


@pytest.mark.parametrize("problem_name, method", CASES)
def test_merged_result_is_bitwise_identical_to_one_machine(
    client, problem_name, method
):
    problem = problems()[problem_name]
    local = METHOD_FUNCTIONS[method](problem, num_chains=5, seed=11, **BUDGETS[method])
    merged = search_dask.solve(
        method,
        problem,
        num_chains=5,
        client=client,
        chains_per_task=2,
        seed=11,
        **BUDGETS[method],
    )
    assert_same_result(merged, local)
    assert merged.params["distributed"]["n_tasks"] == 3
    assert merged.history["best_costs"].shape[1] == 5


@pytest.mark.parametrize("chains_per_task", [1, 3, 7, None])
def test_result_does_not_depend_on_the_split(client, chains_per_task):
    problem = problems()["maxcut"]
    local = simulated_annealing(problem, num_chains=7, seed=2, num_sweeps=40)
    merged = search_dask.solve(
        simulated_annealing,
        problem,
        num_chains=7,
        client=client,
        chains_per_task=chains_per_task,
        seed=2,
        num_sweeps=40,
    )
    assert_same_result(merged, local)


def test_seed_sequence_and_per_chain_initial_states(client):
    problem = problems()["ising"]
    rng = np.random.default_rng(0)
    starts = rng.choice(np.array([-1, 1], dtype=np.int8), size=(6, problem.n))
    root = np.random.SeedSequence(99)
    local = tabu_search(
        problem, num_chains=6, seed=root, initial_states=starts, max_iters=30
    )
    merged = search_dask.solve(
        "tabu",
        problem,
        num_chains=6,
        seed=root,
        initial_states=starts,
        client=client,
        chains_per_task=4,
        max_iters=30,
    )
    assert_same_result(merged, local)
    # One state shared by every chain is passed whole.
    local = hill_climb(problem, num_chains=3, seed=1, initial_states=starts[0])
    merged = search_dask.solve(
        "hill",
        problem,
        num_chains=3,
        seed=1,
        initial_states=starts[0],
        client=client,
        chains_per_task=1,
    )
    assert_same_result(merged, local)


def test_swarm_initial_positions_are_split(client):
    problem = Continuous.builtin("sphere", dim=3)
    rng = np.random.default_rng(1)
    positions = rng.uniform(-1, 1, size=(4, 10, 3))
    local = particle_swarm(
        problem,
        num_chains=4,
        n_particles=10,
        max_iters=20,
        seed=5,
        initial_states=positions,
    )
    merged = search_dask.solve(
        "pso",
        problem,
        num_chains=4,
        n_particles=10,
        max_iters=20,
        seed=5,
        initial_states=positions,
        client=client,
        chains_per_task=3,
    )
    assert_same_result(merged, local)


def test_seed_none_and_time_limit(client):
    problem = problems()["tsp"]
    start = time.perf_counter()
    result = search_dask.solve(
        "anneal",
        problem,
        num_chains=4,
        client=client,
        time_limit=0.5,
        chains_per_task=2,
    )
    spent = time.perf_counter() - start
    assert sorted(result.best_state) == list(range(problem.n))
    assert result.objective == pytest.approx(problem.tour_length(result.best_state))
    assert spent < 10
    assert result.params["time_limit"] == 0.5


def test_progress_bar_counts_tasks(client, capsys):
    problem = problems()["ising"]
    search_dask.solve(
        "anneal",
        problem,
        num_chains=4,
        client=client,
        chains_per_task=1,
        seed=0,
        num_sweeps=10,
        progress=True,
    )
    assert "task" in capsys.readouterr().err


def test_killed_worker_is_survived(client):
    problem = TSP.from_tsplib(data_path("a280.tsp"))
    options = {"num_sweeps": 60_000}  # about a second per task
    local = simulated_annealing(problem, num_chains=4, seed=8, **options)
    pids = client.run(os.getpid)
    outcome = {}

    def run():
        try:
            outcome["result"] = search_dask.solve(
                "anneal",
                problem,
                num_chains=4,
                client=client,
                chains_per_task=1,
                seed=8,
                **options,
            )
        except BaseException as error:  # reported below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    # Kill a worker while it is running one of our tasks.
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(key).startswith("attnsearch-") for key in keys):
                victim = pids[address]
                break
        time.sleep(0.05)
    assert victim is not None, "no task ever started"
    time.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert_same_result(outcome["result"], local)
    client.wait_for_workers(2, timeout=60)


def test_bad_arguments(client):
    problem = problems()["ising"]
    with pytest.raises(ValueError, match="method"):
        search_dask.solve("genetic", problem, num_chains=2, client=client)
    with pytest.raises(ValueError, match="num_chains"):
        search_dask.solve("anneal", problem, num_chains=0, client=client)
    with pytest.raises(TypeError, match="num_chains"):
        search_dask.solve("anneal", problem, num_chains=2.5, client=client)
    with pytest.raises(ValueError, match="chains_per_task"):
        search_dask.solve(
            "anneal", problem, num_chains=2, chains_per_task=0, client=client
        )
    with pytest.raises(TypeError, match="callback"):
        search_dask.solve(
            "anneal",
            problem,
            num_chains=2,
            client=client,
            callback=lambda progress: False,
        )
    with pytest.raises(ValueError, match="time_limit"):
        search_dask.solve("anneal", problem, num_chains=2, client=client, time_limit=-1)
    # A bad option of the method is raised from the worker, with its own type.
    with pytest.raises(ValueError, match="num_sweeps"):
        search_dask.solve("anneal", problem, num_chains=2, client=client, num_sweeps=-3)


class Unpicklable(OneMax):
    def __init__(self, n):
        super().__init__(n)
        self.lock = threading.Lock()


def test_unpicklable_problem_is_a_clear_error(client):
    with pytest.raises(TypeError, match="cannot be sent to the Dask workers"):
        search_dask.solve(
            "anneal", Unpicklable(5), num_chains=2, client=client, num_sweeps=5
        )


def test_built_in_problems_pickle_and_run_the_same():
    import pickle

    for name, problem in problems().items():
        if name.startswith("python"):  # lambdas need cloudpickle, which Dask uses
            continue
        copy = pickle.loads(pickle.dumps(problem))
        a = simulated_annealing(problem, num_chains=2, seed=3, num_sweeps=20)
        b = simulated_annealing(copy, num_chains=2, seed=3, num_sweeps=20)
        assert np.array_equal(np.asarray(a.states), np.asarray(b.states)), name


def test_own_local_cluster_when_no_client():
    problem = problems()["maxcut"]
    local = hill_climb(problem, num_chains=3, seed=4)
    merged = search_dask.solve("hill", problem, num_chains=3, seed=4)
    assert_same_result(merged, local)


# ---------------------------------------------------------------------------
# Attention over dask arrays


def random(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_blocks_equal_the_numpy_call(client, causal):
    rng = np.random.default_rng(0)
    q = random(rng, (4, 6, 33, 16))
    k = random(rng, (4, 6, 40, 16))
    v = random(rng, (4, 6, 40, 8))
    out = attention_dask.scaled_dot_product_attention(
        da.from_array(q, chunks=(1, 4, 33, 16)),
        da.from_array(k, chunks=(2, 3, 40, 16)),
        da.from_array(v, chunks=(4, 6, 40, 8)),
        causal=causal,
    )
    assert isinstance(out, da.Array)
    assert out.shape == (4, 6, 33, 8) and out.dtype == np.float32
    assert out.chunks[:2] == ((1, 1, 1, 1), (4, 2))
    expected = sdpa(q, k, v, causal=causal)
    np.testing.assert_array_equal(out.compute(), expected)


def test_attention_grouped_heads_broadcast_and_masks(client):
    rng = np.random.default_rng(1)
    q = random(rng, (3, 8, 20, 16), np.float64)
    k = random(rng, (3, 2, 24, 16), np.float64)  # 4 query heads per kv head
    v = random(rng, (1, 2, 24, 12), np.float64)  # broadcast over the batch
    mask = rng.random((3, 1, 20, 24)) > 0.3
    mask[..., 0] = True
    out = attention_dask.scaled_dot_product_attention(
        da.from_array(q, chunks=(2, 3, 20, 16)),  # 3 is not a multiple of 4
        da.from_array(k, chunks=(1, 1, 24, 16)),
        v,
        mask=da.from_array(mask, chunks=(1, 1, 20, 24)),
    )
    expected = sdpa(q, k, v, mask=mask)
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-13, atol=1e-13)
    assert all(c % 4 == 0 for c in out.chunks[1])
    # A per-key boolean mask as a NumPy array, and an additive float mask.
    keep = rng.random(24) > 0.2
    keep[0] = True
    out = attention_dask.scaled_dot_product_attention(
        da.from_array(q, chunks=(1, 8, 20, 16)), k, v, mask=keep
    )
    np.testing.assert_allclose(
        out.compute(), sdpa(q, k, v, mask=keep), rtol=1e-13, atol=1e-13
    )


def test_attention_runs_on_the_cluster(client):
    rng = np.random.default_rng(2)
    q = da.from_array(random(rng, (8, 64, 32)), chunks=(2, 64, 32))
    out = attention_dask.scaled_dot_product_attention(q, q, q)
    future = client.compute(out)
    np.testing.assert_array_equal(future.result(), sdpa(*(q.compute(),) * 3))


def test_attention_refuses_chunked_sequence_or_feature_axes():
    rng = np.random.default_rng(3)
    x = random(rng, (2, 16, 8))
    with pytest.raises(ValueError, match="q is chunked along axis -2"):
        attention_dask.scaled_dot_product_attention(
            da.from_array(x, chunks=(1, 8, 8)), x, x
        )
    with pytest.raises(ValueError, match="v is chunked along axis -1"):
        attention_dask.scaled_dot_product_attention(
            x, x, da.from_array(x, chunks=(1, 16, 4))
        )
    mask = da.from_array(np.ones((16, 16), bool), chunks=(8, 16))
    with pytest.raises(ValueError, match="mask is chunked"):
        attention_dask.scaled_dot_product_attention(x, x, x, mask=mask)


def test_attention_bad_shapes_and_dtypes_are_reported_before_computing():
    rng = np.random.default_rng(4)
    x = random(rng, (2, 16, 8))
    with pytest.raises(ValueError):
        attention_dask.scaled_dot_product_attention(x, random(rng, (2, 16, 4)), x)
    with pytest.raises(ValueError):
        attention_dask.scaled_dot_product_attention(x, random(rng, (3, 16, 8)), x)
    with pytest.raises(TypeError):
        attention_dask.scaled_dot_product_attention(
            x, np.ones((2, 16, 8), dtype=np.int64), x
        )
    with pytest.raises(ValueError, match="at least 2"):
        attention_dask.scaled_dot_product_attention(np.ones(3), x, x)
    # Regression: a truthy string is not a bool (raised before any block).
    with pytest.raises(TypeError, match="causal must be a bool"):
        attention_dask.scaled_dot_product_attention(x, x, x, causal="no")


def test_attention_non_finite_input_raises_when_computed():
    rng = np.random.default_rng(5)
    x = random(rng, (2, 16, 8))
    x[1, 3, 2] = np.nan
    out = attention_dask.scaled_dot_product_attention(
        da.from_array(x, chunks=(1, 16, 8)), x, x
    )
    with pytest.raises(ValueError):
        out.compute(scheduler="threads")


def test_old_module_name_exports_both_halves():
    assert distributed.solve is search_dask.solve
    assert (
        distributed.scaled_dot_product_attention
        is attention_dask.scaled_dot_product_attention
    )
    assert distributed.METHODS["anneal"] == "simulated_annealing"
