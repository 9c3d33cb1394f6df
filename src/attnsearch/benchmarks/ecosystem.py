"""Ecosystem comparison: Dask overhead, dimod samplers vs dwave-samplers, minimize
vs scipy.optimize.dual_annealing.

All in one process; what is not installed is skipped with a note
(``pip install "attnsearch[dask,dimod,bench]"``). Run
``python bench/compare_ecosystem.py --help``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .. import effective_n_threads, openmp_enabled
from ._measure import format_table, settle
from .search import _random_regular_ising


def dask_section(out, notes, quick=False):
    """Per-task overhead of search.dask.solve on a 2-worker LocalCluster."""
    try:
        import distributed as dd

        from ..search import dask as search_dask
    except ImportError:
        notes.append("dask/distributed not installed: no Dask section")
        return None
    from ..search import Ising, simulated_annealing

    couplings = _random_regular_ising(200, 3, seed=0)
    ising = Ising(np.zeros(200), couplings)
    start = time.perf_counter()
    cluster = dd.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = dd.Client(cluster, set_as_default=False)
    startup = time.perf_counter() - start
    rows = []
    try:
        # Warm the workers (imports, the scattered problem's first use).
        search_dask.solve(
            "anneal",
            ising,
            num_chains=2,
            client=client,
            chains_per_task=1,
            seed=0,
            num_sweeps=10,
        )
        cases = [(64, 1, 10), (64, 8, 10), (16, 2, 5000)]
        if quick:
            cases = [(32, 1, 10), (8, 2, 1000)]
        for chains, per_task, sweeps in cases:
            local = simulated_annealing(
                ising, num_chains=chains, seed=1, num_sweeps=sweeps, num_threads=2
            )
            settle()
            start = time.perf_counter()
            merged = search_dask.solve(
                "anneal",
                ising,
                num_chains=chains,
                client=client,
                chains_per_task=per_task,
                seed=1,
                num_sweeps=sweeps,
            )
            spent = time.perf_counter() - start
            tasks = merged.params["distributed"]["n_tasks"]
            same = bool(np.array_equal(merged.states, local.states))
            rows.append(
                [
                    chains,
                    per_task,
                    sweeps,
                    tasks,
                    f"{local.elapsed * 1e3:.1f}",
                    f"{spent * 1e3:.1f}",
                    f"{max(spent - local.elapsed, 0) / tasks * 1e3:.2f}",
                    "yes" if same else "NO",
                ]
            )
            settle()
    finally:
        client.close()
        cluster.close()
    out(
        f"\nDask: search.dask.solve on a LocalCluster of 2 worker processes x 1 "
        f"thread (start-up {startup:.2f} s, paid once per cluster), simulated "
        "annealing on a 3-regular Ising model, N=200, against the local call "
        "on 2 threads:"
    )
    out(
        format_table(
            [
                "chains",
                "per task",
                "sweeps",
                "tasks",
                "local ms",
                "dask ms",
                "overhead ms/task",
                "bitwise same",
            ],
            rows,
        )
    )
    return rows


def dimod_section(out, notes, quick=False):
    """Our dimod samplers against dwave-samplers' on the same models."""
    try:
        import dimod

        from ..search import dimod as ours
    except ImportError:
        notes.append("dimod not installed: no dimod section")
        return None
    try:
        from dwave import samplers as theirs
    except ImportError:
        theirs = None
        notes.append("dwave-samplers not installed: dimod rows have no baseline")
    n = 1000
    couplings = _random_regular_ising(n, 3, seed=0)
    bqm = dimod.BinaryQuadraticModel.from_ising({}, couplings)
    reads, sweeps = (20, 500) if quick else (100, 1000)
    rows = []

    def row(name, sampler, **kwargs):
        warm = {k: v for k, v in kwargs.items() if k != "num_reads"}
        if "num_sweeps" in warm:
            warm["num_sweeps"] = 10
        sampler.sample(bqm, num_reads=2, seed=5, **warm)  # imports, first calls
        settle()
        start = time.perf_counter()
        sampleset = sampler.sample(bqm, seed=1, **kwargs)
        spent = time.perf_counter() - start
        energies = sampleset.record.energy
        rows.append(
            [
                name,
                f"{spent:.3f}",
                f"{energies.mean():.1f}",
                f"{energies.std() / np.sqrt(len(energies)):.1f}",
                f"{energies.min():.0f}",
            ]
        )
        return spent, sampleset

    beta_range = None
    baseline = {}
    if theirs is not None:
        t, sampleset = row(
            "dwave-samplers SA",
            theirs.SimulatedAnnealingSampler(),
            num_reads=reads,
            num_sweeps=sweeps,
        )
        beta_range = sampleset.info["beta_range"]
        baseline["sa"] = t
    t_ours, _ = row(
        "attnsearch SA, its own beta range",
        ours.SimulatedAnnealingSampler(),
        num_reads=reads,
        num_sweeps=sweeps,
    )
    if beta_range is not None:
        t_same, _ = row(
            "attnsearch SA, dwave's beta range",
            ours.SimulatedAnnealingSampler(),
            num_reads=reads,
            num_sweeps=sweeps,
            beta_range=beta_range,
        )
        rows[-1].append(f"{baseline['sa'] / t_same:.2f}")
        rows[-2].append(f"{baseline['sa'] / t_ours:.2f}")
        rows[0].append("1.00")
    if theirs is not None:
        baseline["sd"], _ = row(
            "dwave-samplers steepest descent",
            theirs.SteepestDescentSampler(),
            num_reads=reads,
        )
        rows[-1].append("1.00")
    t, _ = row(
        "attnsearch steepest descent", ours.SteepestDescentSampler(), num_reads=reads
    )
    rows[-1].append(f"{baseline['sd'] / t:.2f}" if "sd" in baseline else "-")
    tabu_reads = 10
    if theirs is not None:
        baseline["tabu"], _ = row(
            "dwave-samplers tabu, 100 ms/read",
            theirs.TabuSampler(),
            num_reads=tabu_reads,
            timeout=100,
        )
        rows[-1].append("1.00")
    t, _ = row(
        "attnsearch tabu, 100 ms/read",
        ours.TabuSampler(),
        num_reads=tabu_reads,
        timeout=100,
    )
    rows[-1].append(f"{baseline['tabu'] / t:.2f}" if "tabu" in baseline else "-")
    for r in rows:
        while len(r) < 6:
            r.append("-")
    out(
        f"\ndimod samplers, random 3-regular +-1 Ising, N={n}: annealing "
        f"{reads} reads x {sweeps} sweeps, steepest descent {reads} reads, tabu "
        f"{tabu_reads} reads; attnsearch on {effective_n_threads(None)} threads, "
        "dwave-samplers on 1 (it has no threads):"
    )
    out(
        format_table(
            [
                "sampler",
                "seconds",
                "mean energy",
                "std err",
                "min energy",
                "x dwave speed",
            ],
            rows,
        )
    )
    return rows


def minimize_section(out, notes, quick=False):
    """minimize against scipy.optimize.dual_annealing on the built-in functions."""
    from scipy.optimize import dual_annealing

    from ..search import BUILTIN_FUNCTIONS, minimize
    from ..search.problems.continuous import builtin_value_reference

    budget = 20_000 if quick else 100_000
    cases = [
        ("sphere", 10),
        ("rastrigin", 10),
        ("rosenbrock", 5),
        ("ackley", 10),
        ("griewank", 10),
        ("schwefel", 5),
        ("levy", 10),
    ]
    rows = []
    for name, dim in cases:
        bounds = [BUILTIN_FUNCTIONS[name][0]] * dim

        def fun(x, name=name):
            return float(builtin_value_reference(name, x)[0])

        start = time.perf_counter()
        theirs = dual_annealing(fun, bounds, maxfun=budget, seed=0)
        t_theirs = time.perf_counter() - start
        row = [f"{name}-{dim}", f"{theirs.fun:.3g}", theirs.nfev, f"{t_theirs:.2f}"]
        for method in ("pso", "anneal"):
            start = time.perf_counter()
            res = minimize(name, bounds, method=method, maxfev=budget, seed=0)
            row += [f"{res.fun:.3g}", res.nfev, f"{time.perf_counter() - start:.3f}"]
        # The same wall time as dual_annealing spent, in evaluations of ours.
        res = minimize(
            name, bounds, method="anneal", time_limit=max(t_theirs, 0.05), seed=0
        )
        row += [f"{res.fun:.3g}", f"{res.nfev / 1e6:.1f}M"]
        rows.append(row)
        settle()
    out(
        f"\nminimize vs scipy.optimize.dual_annealing, {budget} evaluations each "
        "(dual_annealing on the NumPy reference of the function; ours on the "
        "compiled built-in), seed 0, then our annealing for dual_annealing's time:"
    )
    out(
        format_table(
            [
                "function",
                "dual_ann f",
                "nfev",
                "s",
                "pso f",
                "nfev",
                "s",
                "anneal f",
                "nfev",
                "s",
                "anneal same-time f",
                "nfev",
            ],
            rows,
        )
    )
    return rows


def run(quick=False, out=print):
    notes = []
    out(
        f"attnsearch ecosystem benchmark: OpenMP "
        f"{'on' if openmp_enabled() else 'OFF'}, {os.cpu_count()} CPUs"
    )
    dask_section(out, notes, quick=quick)
    dimod_section(out, notes, quick=quick)
    minimize_section(out, notes, quick=quick)
    for note in notes:
        out(f"note: {note}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args(argv)
    run(quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
