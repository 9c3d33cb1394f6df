"""Search methods on a Dask cluster: chains as tasks, merged into one Result.

``solve`` splits the chains of a search into blocks, runs each block as one task
on a ``dask.distributed`` cluster and merges the blocks into one ``Result``.
Chain ``c`` draws from child ``c`` of the seed's ``SeedSequence`` whichever block
it runs in, and every quantity the methods derive from the seed (temperatures,
tolerances) comes from calibration streams that no chain uses, so the merged
result is bitwise identical to ``method(problem, num_chains=..., seed=...)`` on
one machine (for runs that end on their budget: a time limit or a target stops
each task by its own clock and its own chains).

(The fused attention over dask arrays is ``attnsearch.attention.dask``.)

Needs the ``dask`` extra: ``pip install "attnsearch[dask]"``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ._seeding import ChainBlock, seed_sequence
from ._validation import check_int, check_time_limit
from .methods import method_function, method_name

__all__ = ["merge_results", "solve"]

# Entries of Result.params with one value per chain.
_PER_CHAIN_PARAMS = ("steps",)
# The most telling stop reason of the blocks names the merged run's.
_STOP_PRIORITY = ("converged", "max_iters", "time_limit", "target", "callback")


def _require_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "attnsearch.search.dask needs dask and distributed: "
            'pip install "attnsearch[dask]"'
        ) from None
    return distributed


def _run_block(
    method_name, problem, root, first_chain, n_chains, initial, options, deadline
):
    """One task: chains first_chain .. first_chain + n_chains - 1."""
    options = dict(options)
    if deadline is not None:  # the whole call's time limit, on the wall clock
        options["time_limit"] = max(deadline - time.time(), 1e-3)
    method = method_function(method_name)
    return method(
        problem,
        num_chains=n_chains,
        seed=ChainBlock(root, first_chain),
        initial_states=initial,
        **options,
    )


def _initial_block(method_name, problem, initial_states, num_chains, lo, hi):
    """The rows of ``initial_states`` that belong to chains lo..hi-1 (a state
    shared by every chain is passed whole, as the methods broadcast it)."""
    if initial_states is None:
        return None
    from .problems.base import search_spec

    if method_name == "particle_swarm":
        per_chain_ndim = 3
    else:
        spec = search_spec(problem)
        if spec.core is None:  # Python problem: a list of states is per chain
            if isinstance(initial_states, list) and len(initial_states) == num_chains:
                return initial_states[lo:hi]
            return initial_states
        per_chain_ndim = 2
    array = np.asarray(initial_states)
    if array.ndim == per_chain_ndim and array.shape[0] == num_chains:
        return array[lo:hi]
    return initial_states


def _concatenate_states(blocks):
    if all(isinstance(r.states, np.ndarray) for r in blocks):
        return np.concatenate([r.states for r in blocks])
    states = []
    for r in blocks:
        states.extend(list(r.states))
    return states


def _merge_history(blocks, sizes):
    """One trace from the blocks' traces, on the blocks' own clocks: at each
    recorded time, each chain's best so far and the evaluations summed over
    blocks (a block not yet started counts no evaluation and no best)."""
    times = np.unique(np.concatenate([r.history["elapsed"] for r in blocks]))
    n_chains = sum(sizes)
    best_costs = np.full((len(times), n_chains), np.inf)
    best_objectives = np.full((len(times), n_chains), np.nan)
    evaluations = np.zeros(len(times), dtype=np.int64)
    temperature = np.full(len(times), np.nan)
    column = 0
    for b, (r, size) in enumerate(zip(blocks, sizes)):
        h = r.history
        if len(h["elapsed"]):
            index = np.searchsorted(h["elapsed"], times, side="right") - 1
            seen = index >= 0
            rows = index[seen]
            best_costs[seen, column : column + size] = h["best_costs"][rows]
            best_objectives[seen, column : column + size] = h["best_objectives"][rows]
            evaluations[seen] += np.asarray(h["n_evaluations"])[rows]
            if b == 0:
                temperature[seen] = np.asarray(h["temperature"])[rows]
        column += size
    return {
        "n_evaluations": evaluations,
        "best_costs": best_costs,
        "temperature": temperature,
        "elapsed": times,
        "best_objectives": best_objectives,
    }


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _merge_params(blocks, sizes):
    params = {}
    for key, value in blocks[0].params.items():
        values = [r.params.get(key) for r in blocks]
        if key in _PER_CHAIN_PARAMS:
            params[key] = np.concatenate([np.asarray(v) for v in values])
        elif all(_same(value, other) for other in values[1:]):
            params[key] = value
        else:
            params[key] = values  # differs by block (timing-dependent choices)
    return params


def merge_results(blocks, *, seed, elapsed):
    """Merge the Results of consecutive blocks of chains into one Result, as if
    the chains had run in one call (used by :func:`solve`)."""
    from .result import Result

    sizes = [len(r.costs) for r in blocks]
    costs = np.concatenate([r.costs for r in blocks])
    best = int(np.argmin(costs))  # lowest chain index on ties, as one run does
    owner = int(np.searchsorted(np.cumsum(sizes), best, side="right"))
    winner = blocks[owner]
    evaluations = sum(int(r.n_evaluations) for r in blocks)
    accepted = sum(int(r.acceptance_counts[0]) for r in blocks)
    proposed = sum(int(r.acceptance_counts[1]) for r in blocks)
    # The method's own value for "nothing proposed" (NaN, 0 or 1) otherwise.
    acceptance = accepted / proposed if proposed else blocks[0].acceptance_rate
    reasons = [r.stop_reason for r in blocks]
    stop_reason = max(
        reasons,
        key=lambda s: _STOP_PRIORITY.index(s) if s in _STOP_PRIORITY else -1,
    )
    params = _merge_params(blocks, sizes)
    params["num_chains"] = sum(sizes)
    params["seed"] = seed
    return Result(
        best_state=winner.best_state,
        best_cost=winner.best_cost,
        objective=winner.objective,
        states=_concatenate_states(blocks),
        costs=costs,
        history=_merge_history(blocks, sizes),
        acceptance_rate=acceptance,
        n_evaluations=evaluations,
        elapsed=elapsed,
        stop_reason=stop_reason,
        method=winner.method,
        params=params,
        acceptance_counts=(accepted, proposed),
    )


def _default_chains_per_task(client, num_chains):
    try:
        n_slots = sum(client.nthreads().values())
    except Exception:  # a client that cannot tell: one task per chain
        n_slots = num_chains
    n_slots = max(1, n_slots)
    return max(1, -(-num_chains // (2 * n_slots)))  # ~2 tasks per worker thread


def solve(
    method,
    problem,
    *,
    num_chains,
    client=None,
    chains_per_task=None,
    seed=None,
    initial_states=None,
    progress=False,
    retries=0,
    **options,
):
    """Run a search method's chains as tasks on a Dask cluster; one Result.

    Parameters
    ----------
    method : str or callable
        ``"anneal"``, ``"hill"``, ``"stochastic"``, ``"tabu"``, ``"pso"`` (or the
        full names ``"simulated_annealing"``, ...), or the function itself
        (``attnsearch.search.simulated_annealing``, ...).
    problem : TSP, Ising, QUBO, MaxCut, Continuous, Problem or CompiledProblem
        Sent to every worker once (``client.scatter``); it must pickle: the
        built-in problems do, Python problems do when their attributes do
        (lambdas are fine: Dask uses cloudpickle), and a CompiledProblem does
        when it sets ``_init_args``.
    num_chains : int
        Chains of the whole run.
    client : dask.distributed.Client, optional
        Default: a ``LocalCluster`` of worker processes on this machine, started
        for the call and closed after it (a second or two: pass a client to
        reuse one).
    chains_per_task : int, optional
        Chains per task (default: about two tasks per worker thread). The
        result does not depend on it.
    seed : None, int or numpy.random.SeedSequence
        As in the methods: chain c uses child c. ``None`` draws fresh entropy
        once, here, for every task.
    initial_states : optional
        As in the method; per-chain rows are split between the tasks.
    progress : bool, default False
        A bar of finished tasks.
    retries : int, default 0
        Extra attempts of a task that raised (a worker that dies is handled by
        Dask itself: its tasks run again elsewhere).
    **options
        The method's own keywords (``num_sweeps``, ``max_iters``, ``tenure``,
        ``num_threads`` per task (default 1: the cluster's threads are the
        parallelism), ``time_limit`` for the whole call, ``target`` per task).
        ``callback`` is refused: it would run on the workers.

    Returns
    -------
    Result
        As the method returns, over all chains. ``elapsed`` is this call's wall
        time; ``history`` merges the tasks' traces on their own clocks;
        ``params["distributed"]`` records the tasks and workers.

    Examples
    --------
    A local cluster of worker processes, started for the call; the merged
    result equals the one-machine run bit for bit:

    >>> from attnsearch.data import path
    >>> from attnsearch.search import MaxCut, dask, simulated_annealing
    >>> graph = MaxCut.from_gset(path("G11.txt"))
    >>> merged = dask.solve("anneal", graph, num_chains=4, seed=0, num_sweeps=200)
    >>> local = simulated_annealing(graph, num_chains=4, seed=0, num_sweeps=200)
    >>> bool((merged.costs == local.costs).all())
    True
    """
    distributed = _require_distributed()
    name = method_name(method)
    num_chains = check_int(num_chains, "num_chains")
    chains_per_task = check_int(chains_per_task, "chains_per_task", allow_none=True)
    retries = check_int(retries, "retries", minimum=0)
    if options.get("callback") is not None:
        raise TypeError(
            "distributed.solve does not take a callback (it would run on the "
            "workers); use time_limit or target"
        )
    if options.get("progress"):
        raise TypeError("pass progress=True to distributed.solve itself")
    options.pop("callback", None)
    options.pop("progress", None)
    options.setdefault("num_threads", 1)
    time_limit = check_time_limit(options.pop("time_limit", None))
    root = seed_sequence(seed)

    start = time.perf_counter()
    deadline = None if time_limit is None else time.time() + float(time_limit)
    own_cluster = client is None
    cluster = None
    if own_cluster:
        cluster = distributed.LocalCluster(processes=True, dashboard_address=":0")
        client = distributed.Client(cluster, set_as_default=False)
    try:
        if chains_per_task is None:
            chains_per_task = _default_chains_per_task(client, num_chains)
        bounds = [
            (lo, min(lo + chains_per_task, num_chains))
            for lo in range(0, num_chains, chains_per_task)
        ]
        try:
            [problem_future] = client.scatter([problem], broadcast=True, hash=False)
        except Exception as error:  # pickling errors come in many types
            raise TypeError(
                f"the problem cannot be sent to the Dask workers: {error}"
            ) from error
        futures = [
            client.submit(
                _run_block,
                name,
                problem_future,
                root,
                lo,
                hi - lo,
                _initial_block(name, problem, initial_states, num_chains, lo, hi),
                options,
                deadline,
                pure=False,
                retries=retries,
                key=f"attnsearch-{name}-{lo}-{hi}-{time.time_ns()}",
            )
            for lo, hi in bounds
        ]
        try:
            blocks = _gather(distributed, client, futures, progress, name)
        except BaseException:
            client.cancel(futures)
            raise
        n_workers = len(client.scheduler_info().get("workers", {}))
    finally:
        if own_cluster:
            client.close()
            cluster.close()
    result = merge_results(blocks, seed=seed, elapsed=time.perf_counter() - start)
    result.params["time_limit"] = time_limit
    result.params["distributed"] = {
        "n_tasks": len(bounds),
        "chains_per_task": chains_per_task,
        "n_workers": n_workers,
    }
    return result


def _gather(distributed, client, futures, progress, method_name):
    if not progress:
        return client.gather(futures)
    from .._progress import ProgressBar

    bar = ProgressBar(len(futures), f"distributed {method_name}", unit="task")
    try:
        done = 0
        for _ in distributed.as_completed(futures):
            done += 1
            bar.update(done)
    finally:
        bar.close()
    return client.gather(futures)
