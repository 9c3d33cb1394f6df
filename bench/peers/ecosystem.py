"""Ecosystem comparison: Dask overhead, dimod samplers vs dwave-samplers, minimize
vs scipy.optimize.dual_annealing.

All in one process; what is not installed is skipped with a note
(``pip install "attnsearch[dask,dimod,bench]"``). Run
``python bench/compare.py ecosystem --help``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled

from .harness import format_table, settle
from .search import _random_regular_ising


def dask_section(out, notes, quick=False):
    """Per-task overhead of search.dask.solve on a 2-worker LocalCluster."""
    try:
        import distributed as dd

        from attnsearch.search import dask as search_dask
    except ImportError:
        notes.append("dask/distributed not installed: no Dask section")
        return None
    from attnsearch.search import Ising, simulated_annealing

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

        from attnsearch.search import dimod as ours
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

    from attnsearch.search import BUILTIN_FUNCTIONS, minimize
    from attnsearch.search.problems.continuous import builtin_value_reference

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


# -- quality sections: the results against the peers at equal time or evaluations ------


def _torus_couplings(rows, cols, seed):
    """A rows x cols toroidal grid with +-1 couplings (rudy's G-set tori: G62 is
    70 x 100)."""
    rng = np.random.default_rng(seed)
    couplings = {}
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            for j in (r * cols + (c + 1) % cols, ((r + 1) % rows) * cols + c):
                couplings[(min(i, j), max(i, j))] = float(rng.choice([-1.0, 1.0]))
    return couplings


def _gset_couplings(data, name):
    from attnsearch.search import MaxCut

    for folder in (data / "gset", data):
        path = folder / f"{name}.txt"
        if path.is_file():
            graph = MaxCut.from_gset(path)
            return {
                (int(i), int(j)): float(w)
                for (i, j), w in zip(graph.edges, graph.weights)
            }
    return None


def dimod_quality_section(out, notes, data=None, quick=False):
    """Our dimod samplers with default arguments against dwave-samplers' at equal
    num_reads and num_sweeps (annealing), equal time per read (tabu), on a
    random 3-regular +-1 graph and a G-set torus; mean energy and speed."""
    try:
        import dimod

        from attnsearch.search import dimod as ours
    except ImportError:
        notes.append("dimod not installed: no dimod quality section")
        return None
    try:
        from dwave import samplers as theirs
    except ImportError:
        notes.append("dwave-samplers not installed: no dimod quality section")
        return None
    models = [("3-regular +-1, n=1000", _random_regular_ising(1000, 3, seed=0), 100)]
    torus = _gset_couplings(data, "G62") if data is not None else None
    if torus is not None:
        models.append(("G-set G62 torus, n=7000", torus, 10))
    else:
        notes.append("no --data with gset/G62.txt: a generated 70 x 100 torus instead")
        models.append(("70 x 100 +-1 torus, n=7000", _torus_couplings(70, 100, 0), 10))
    if quick:
        models = [(label, c, max(2, reads // 5)) for label, c, reads in models]
    rows = []
    for label, couplings, reads in models:
        bqm = dimod.BinaryQuadraticModel.from_ising({}, couplings)

        def timed(sampler, **kwargs):
            warm = dict(kwargs, num_reads=2)
            if "num_sweeps" in warm:
                warm["num_sweeps"] = 10
            if "timeout" in warm:
                warm["timeout"] = 1
            sampler.sample(bqm, seed=5, **warm)
            settle()
            start = time.perf_counter()
            sampleset = sampler.sample(bqm, seed=1, **kwargs)
            return sampleset.record.energy, time.perf_counter() - start

        sweeps = 1000
        e_theirs, t_theirs = timed(
            theirs.SimulatedAnnealingSampler(), num_reads=reads, num_sweeps=sweeps
        )
        e_ours, t_ours = timed(
            ours.SimulatedAnnealingSampler(), num_reads=reads, num_sweeps=sweeps
        )
        rows.append(
            [
                label,
                f"SA, {reads} reads x {sweeps} sweeps",
                f"{e_theirs.mean():.1f} ({t_theirs:.2f} s)",
                f"{e_ours.mean():.1f} ({t_ours:.2f} s)",
                f"{t_theirs / t_ours:.2f}",
                "yes" if e_ours.mean() <= e_theirs.mean() else "no",
            ]
        )
        tabu_reads = 10 if reads >= 10 else reads
        timeout = 100 if "3-regular" in label else 1000
        e_theirs, t_theirs = timed(
            theirs.TabuSampler(), num_reads=tabu_reads, timeout=timeout
        )
        e_ours, t_ours = timed(
            ours.TabuSampler(), num_reads=tabu_reads, timeout=timeout
        )
        rows.append(
            [
                label,
                f"tabu, {tabu_reads} reads x {timeout} ms",
                f"{e_theirs.mean():.1f} ({t_theirs:.2f} s)",
                f"{e_ours.mean():.1f} ({t_ours:.2f} s)",
                "(equal time/read)",
                "yes" if e_ours.mean() <= e_theirs.mean() else "no",
            ]
        )
        # Our tabu with one thread: each read gets a core's worth of its 100 ms,
        # as dwave-samplers' sequential reads do (a loaded machine shares cores).
        e_one, t_one = timed(
            ours.TabuSampler(), num_reads=tabu_reads, timeout=timeout, num_threads=1
        )
        rows.append(
            [
                label,
                f"tabu, {tabu_reads} reads x {timeout} ms, ours on 1 thread",
                "-",
                f"{e_one.mean():.1f} ({t_one:.2f} s)",
                "-",
                "yes" if e_one.mean() <= e_theirs.mean() else "no",
            ]
        )
        # Parallel tempering with the sweeps of work of one annealing read:
        # rounds = sweeps / replicas (two replicas per rung with cluster moves).
        from attnsearch.search.methods.tempering import (
            default_num_replicas,
            lattice_like,
        )

        ising = ours._Model(bqm).ising
        replicas = default_num_replicas(ising.n)
        if lattice_like(ising._search_spec().ops):
            replicas *= 2
        rounds = max(1, sweeps // replicas)
        e_pt, t_pt = timed(
            ours.ParallelTemperingSampler(), num_reads=reads, num_sweeps=rounds
        )
        rows.append(
            [
                label,
                f"ours PT, {reads} reads x {rounds} rounds ({replicas} replicas)",
                "-",
                f"{e_pt.mean():.1f} ({t_pt:.2f} s)",
                "-",
                "-",
            ]
        )
        settle()
    out(
        "\ndimod samplers with default arguments, seed 1: annealing at equal "
        "num_reads and num_sweeps (ours: 2 threads, chains in parallel; "
        "dwave-samplers: 1 thread, reads one after another), tabu at equal time "
        "per read; mean energy (seconds); 'x speed' = dwave time / our time:"
    )
    out(
        format_table(
            ["model", "run", "dwave-samplers", "attnsearch", "x speed", "mean <="],
            rows,
        )
    )
    return rows


def minimize_quality_section(out, notes, quick=False, seeds=(0, 1, 2)):
    """minimize with its defaults (particle swarm, polished) at exactly the
    evaluations dual_annealing used with its defaults, on the benchmark
    functions; parallel tempering (polished) alongside."""
    from scipy.optimize import dual_annealing

    from attnsearch.search import BUILTIN_FUNCTIONS, minimize
    from attnsearch.search.problems.continuous import builtin_value_reference

    cases = [
        ("sphere", 10),
        ("rastrigin", 10),
        ("rosenbrock", 5),
        ("ackley", 10),
        ("griewank", 10),
        ("schwefel", 5),
        ("levy", 10),
    ]
    if quick:
        seeds = seeds[:1]
    rows = []
    for name, dim in cases:
        bounds = [BUILTIN_FUNCTIONS[name][0]] * dim

        def fun(x, name=name):
            return float(builtin_value_reference(name, x)[0])

        for seed in seeds:
            start = time.perf_counter()
            theirs = dual_annealing(fun, bounds, seed=seed)
            t_theirs = time.perf_counter() - start
            row = [f"{name}-{dim}", seed, f"{theirs.fun:.3g}", theirs.nfev]
            row.append(f"{t_theirs:.2f}")
            for method in ("pso", "pt"):
                start = time.perf_counter()
                res = minimize(
                    name, bounds, method=method, maxfev=theirs.nfev, seed=seed
                )
                spent = time.perf_counter() - start
                ok = res.fun <= theirs.fun + 1e-6
                row += [
                    f"{res.fun:.3g}",
                    res.nfev,
                    f"{spent:.3f}",
                    "yes" if ok else "no",
                ]
            rows.append(row)
            settle()
    out(
        "\nminimize (polished with L-BFGS-B, the default) at dual_annealing's own "
        "evaluation count (its defaults; the NumPy reference of the function), "
        "ours on the compiled built-in; 'ok' = within 1e-6 of dual_annealing or "
        "better:"
    )
    out(
        format_table(
            [
                "function",
                "seed",
                "DA f",
                "DA nfev",
                "DA s",
                "pso f",
                "nfev",
                "s",
                "ok",
                "pt f",
                "nfev",
                "s",
                "ok",
            ],
            rows,
        )
    )
    return rows


#: The sections of ``python bench/compare.py ecosystem`` (``--sections``).
SECTIONS = ("dask", "dimod", "minimize", "dimod_quality", "minimize_quality")


def run(quick=False, out=print, sections=None, data=None):
    notes = []
    wanted = set(sections or SECTIONS)
    out(
        f"attnsearch ecosystem benchmark: OpenMP "
        f"{'on' if openmp_enabled() else 'OFF'}, {os.cpu_count()} CPUs"
    )
    if "dask" in wanted:
        dask_section(out, notes, quick=quick)
    if "dimod" in wanted:
        dimod_section(out, notes, quick=quick)
    if "minimize" in wanted:
        minimize_section(out, notes, quick=quick)
    if "dimod_quality" in wanted:
        dimod_quality_section(out, notes, data=data, quick=quick)
    if "minimize_quality" in wanted:
        minimize_quality_section(out, notes, quick=quick)
    for note in notes:
        out(f"note: {note}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument(
        "--sections",
        default=None,
        help=f"comma-separated sections to run (default all): {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--data", default=None, help="folder with gset/ (G62 for the dimod torus)"
    )
    args = parser.parse_args(argv)
    sections = None
    if args.sections:
        sections = [name.strip() for name in args.sections.split(",") if name.strip()]
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    data = Path(args.data).resolve() if args.data else None
    run(quick=args.quick, sections=sections, data=data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
