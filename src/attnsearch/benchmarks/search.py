"""Local search comparison: attnsearch vs dwave-samplers, simanneal, python-tsp, elkai.

All in one process; peers that are not installed are skipped with a note
(``pip install "attnsearch[bench]"`` brings them). Instances come from the
folder given with ``--data`` (``tsplib/`` and ``gset/`` inside it, or the files
themselves) and otherwise from the small instances shipped in
``attnsearch.data``, so ``attnsearch bench search`` runs from any installed
copy. Run ``python bench/compare_search.py --help``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from .. import effective_n_threads, openmp_enabled
from ..search import TSP, Ising, MaxCut, hill_climb, simulated_annealing
from ._measure import format_table, settle

#: G-set graphs of the max-cut rows, first found first: (name, best known cut).
_MAXCUT_GRAPHS = (("G1", 11624), ("G11", 564))


def _data_dir(override=None):
    """The ``--data`` folder (or ``$ATTNSEARCH_DATA``), or None."""
    for candidate in (override, os.environ.get("ATTNSEARCH_DATA")):
        if candidate:
            path = Path(candidate)
            if not path.is_dir():
                raise SystemExit(f"--data {candidate}: not a folder")
            return path.resolve()
    return None


def _instance(data, folder, filename):
    """Path of an instance file: in ``data`` (``folder/filename`` or ``filename``)
    when given, else the copy shipped in attnsearch.data, else None."""
    if data is not None:
        for candidate in (data / folder / filename, data / filename):
            if candidate.is_file():
                return candidate
    from .. import data as shipped

    try:
        return shipped.path(filename)
    except FileNotFoundError:
        return None


def _random_regular_ising(n, degree, seed):
    rng = np.random.default_rng(seed)
    stubs = np.repeat(np.arange(n), degree)
    while True:
        rng.shuffle(stubs)
        pairs = np.sort(stubs.reshape(-1, 2), axis=1)
        if not np.any(pairs[:, 0] == pairs[:, 1]) and len(
            np.unique(pairs, axis=0)
        ) == len(pairs):
            break
    weights = rng.choice([-1.0, 1.0], size=len(pairs))
    return {(int(a), int(b)): float(w) for (a, b), w in zip(pairs, weights)}


def ising_section(out, notes, reads=100, sweeps=1000, n=1000):
    """Single-flip annealing throughput on a random 3-regular +-1 Ising model."""
    couplings = _random_regular_ising(n, 3, seed=0)
    ising = Ising(np.zeros(n), couplings)
    flips = reads * sweeps * n
    rows = []
    beta_range = None
    t_dwave = None
    try:
        from dwave.samplers import SimulatedAnnealingSampler

        sampler = SimulatedAnnealingSampler()
        sampler.sample_ising({}, couplings, num_reads=2, num_sweeps=10, seed=1)
        start = time.perf_counter()
        sampleset = sampler.sample_ising(
            {}, couplings, num_reads=reads, num_sweeps=sweeps, seed=1
        )
        t_dwave = time.perf_counter() - start
        beta_range = sampleset.info["beta_range"]
        rows.append(
            [
                "dwave-samplers SA",
                1,
                f"{t_dwave:.2f}",
                f"{flips / t_dwave / 1e6:.1f}",
                f"{sampleset.first.energy:.0f}",
                "1.00",
            ]
        )
        settle()
    except ImportError:
        notes.append("dwave-samplers not installed: Ising rows have no baseline")
    # Same schedule as dwave-samplers (its default beta range, geometric in beta).
    t_start, t_end = (
        (1 / beta_range[0], 1 / beta_range[1]) if beta_range else (None, None)
    )
    ours = {}
    for threads in (1, 2):
        result = simulated_annealing(
            ising,
            num_sweeps=sweeps,
            num_chains=reads,
            seed=1,
            num_threads=threads,
            t_start=t_start,
            t_end=t_end,
        )
        ours[threads] = result.elapsed
        rows.append(
            [
                f"attnsearch SA ({threads} thr)",
                threads,
                f"{result.elapsed:.2f}",
                f"{flips / result.elapsed / 1e6:.1f}",
                f"{result.objective:.0f}",
                f"{t_dwave / result.elapsed:.2f}" if t_dwave else "-",
            ]
        )
        settle()
    out(
        f"\nIsing annealing, random 3-regular +-1, N={n}, {reads} chains x {sweeps} "
        "sweeps "
        "(in-order sweeps, the dwave-samplers schedule):"
    )
    out(
        format_table(
            [
                "implementation",
                "threads",
                "seconds",
                "M flips/s",
                "best energy",
                "x dwave",
            ],
            rows,
        )
    )
    out(f"2 threads / 1 thread: {ours[1] / ours[2]:.2f}x")
    return {"dwave_seconds": t_dwave, "ours_seconds": ours}


def maxcut_section(out, notes, data):
    for name, best_known in _MAXCUT_GRAPHS:
        path = _instance(data, "gset", f"{name}.txt")
        if path is not None:
            break
    else:
        notes.append("no G-set graph found: max-cut rows skipped")
        return {}
    graph = MaxCut.from_gset(path)
    target = int(0.998 * best_known)
    rows = []
    try:
        import dimod  # noqa: F401
        from dwave.samplers import SimulatedAnnealingSampler

        couplings = {
            (int(i), int(j)): float(w) for (i, j), w in zip(graph.edges, graph.weights)
        }
        start = time.perf_counter()
        sampleset = SimulatedAnnealingSampler().sample_ising(
            {}, couplings, num_reads=100, num_sweeps=1000, seed=1
        )
        seconds = time.perf_counter() - start
        cut = (graph.total_weight - sampleset.first.energy) / 2
        rows.append(
            [
                "dwave-samplers, 100 reads x 1000 sweeps",
                1,
                f"{seconds:.2f}",
                f"{cut:.0f}",
            ]
        )
        settle()
    except ImportError:
        notes.append("dwave-samplers not installed: no max-cut baseline")
    hit = simulated_annealing(
        graph, time_limit=2.0, target=target, num_chains=2, seed=1, num_threads=2
    )
    rows.append(
        [
            f"attnsearch, target {target}, time limit 2 s",
            2,
            f"{hit.elapsed:.2f}",
            f"{hit.objective:.0f} ({hit.stop_reason})",
        ]
    )
    settle()
    short = simulated_annealing(
        graph, num_sweeps=2000, num_chains=2, seed=1, num_threads=2
    )
    rows.append(
        [
            "attnsearch, 2 chains x 2000 sweeps",
            2,
            f"{short.elapsed:.2f}",
            f"{short.objective:.0f}",
        ]
    )
    settle()
    same = simulated_annealing(
        graph, num_sweeps=1000, num_chains=100, seed=1, num_threads=2
    )
    rows.append(
        [
            "attnsearch, 100 chains x 1000 sweeps",
            2,
            f"{same.elapsed:.2f}",
            f"{same.objective:.0f}",
        ]
    )
    settle()
    out(
        f"\nMax-cut G-set {name} ({graph.n} vertices, {len(graph.weights)} edges, "
        f"best known {best_known}):"
    )
    out(format_table(["run", "threads", "seconds", "cut"], rows))
    return {"target_seconds": hit.elapsed, "target_cut": hit.objective}


def _simanneal_moves_per_second(tsp, steps=200_000):
    from simanneal import Annealer

    n = tsp.n
    distance = np.array([[tsp.distance(a, b) for b in range(n)] for a in range(n)])

    draws = np.random.default_rng(0)

    class TwoOpt(Annealer):
        # The O(1)-delta formulation (move returns the energy change), the fastest
        # simanneal allows; its default copies the state and recomputes the energy.
        def move(self):
            i, j = sorted(draws.integers(0, n, 2))
            if j - i < 2:
                return 0.0
            t = self.state
            a, b, c, d = t[i], t[i + 1], t[j], t[(j + 1) % n]
            delta = distance[a, c] + distance[b, d] - distance[a, b] - distance[c, d]
            t[i + 1 : j + 1] = t[i + 1 : j + 1][::-1]
            return delta

        def energy(self):
            t = self.state
            return float(sum(distance[t[k], t[(k + 1) % n]] for k in range(n)))

    annealer = TwoOpt(list(np.random.default_rng(0).permutation(n)))
    annealer.steps = steps
    annealer.updates = 0
    annealer.copy_strategy = "slice"
    start = time.perf_counter()
    annealer.anneal()
    return steps / (time.perf_counter() - start)


def tsp_section(out, notes, data, quick=False):
    names = ["kroA100", "a280", "pcb442"] if not quick else ["kroA100"]
    instances = {}
    for name in names:
        path = _instance(data, "tsplib", f"{name}.tsp")
        if path is not None:
            instances[name] = TSP.from_tsplib(path)
    if not instances:
        notes.append("TSPLIB instances not found: generated 100 random cities instead")
        rng = np.random.default_rng(0)
        instances["random100"] = TSP(
            rng.uniform(0, 1000, size=(100, 2)), metric="EUC_2D"
        )
    first = next(iter(instances.values()))
    rows = []
    # Move throughput.
    probe = simulated_annealing(
        first, num_sweeps=3000, num_chains=1, seed=0, num_threads=1
    )
    ours_rate = probe.n_evaluations / probe.elapsed
    try:
        peer_rate = _simanneal_moves_per_second(first)
        rows.append(
            [
                f"simanneal 2-opt (O(1) delta), {first.name}",
                1,
                f"{peer_rate / 1e6:.3f}",
                "1",
            ]
        )
    except ImportError:
        peer_rate = None
        notes.append("simanneal not installed: no move-rate baseline")
    rows.append(
        [
            f"attnsearch SA 2-opt + or-opt, {first.name}",
            1,
            f"{ours_rate / 1e6:.1f}",
            f"{ours_rate / peer_rate:.0f}" if peer_rate else "-",
        ]
    )
    out("\nTSP move throughput (moves evaluated per second, million):")
    out(format_table(["implementation", "threads", "M moves/s", "x simanneal"], rows))
    settle()

    limits = {"kroA100": 1.0, "a280": 10.0, "pcb442": 10.0, "random100": 1.0}
    rows = []
    results = {}
    for name, tsp in instances.items():
        limit = limits[name] * (0.95 if name != "kroA100" else 0.9)
        sa = simulated_annealing(
            tsp, time_limit=limit, num_chains=2, seed=0, num_threads=2
        )
        hc = hill_climb(tsp, strategy="first", num_chains=16, seed=0, num_threads=2)

        def gap(length, tsp=tsp):
            return f"{100 * (length / tsp.optimum - 1):.2f}" if tsp.optimum else "-"

        row = [
            name,
            tsp.n,
            f"{sa.objective:.0f}",
            gap(sa.objective),
            f"{sa.elapsed:.2f}",
            f"{hc.objective:.0f}",
            gap(hc.objective),
            f"{hc.elapsed:.2f}",
        ]
        settle()
        peer = _python_tsp_local_search(tsp, notes)
        row += [f"{peer[0]:.0f}", gap(peer[0]), f"{peer[1]:.2f}"] if peer else ["-"] * 3
        ceiling = _elkai(tsp, notes)
        row += [f"{ceiling[0]:.0f}", f"{ceiling[1]:.2f}"] if ceiling else ["-"] * 2
        rows.append(row)
        results[name] = {
            "sa": sa.objective,
            "sa_seconds": sa.elapsed,
            "hc": hc.objective,
            "hc_seconds": hc.elapsed,
            "peer": peer,
            "optimum": tsp.optimum,
        }
        settle()
    out(
        "\nTSP quality (2 threads; SA: 2 chains with a time limit; HC: 16 restarts, "
        "first improvement, 2-opt + or-opt; gap % to the optimum):"
    )
    out(
        format_table(
            [
                "instance",
                "n",
                "SA length",
                "gap %",
                "s",
                "HC length",
                "gap %",
                "s",
                "python-tsp LS",
                "gap %",
                "s",
                "elkai (LKH)",
                "s",
            ],
            rows,
        )
    )
    return {"moves_per_second": ours_rate, "simanneal": peer_rate, "instances": results}


def _python_tsp_local_search(tsp, notes, cap=120.0):
    try:
        from python_tsp.heuristics import solve_tsp_local_search
    except ImportError:
        notes.append("python-tsp not installed: no local-search baseline")
        return None
    matrix = np.array(
        [[tsp.distance(a, b) for b in range(tsp.n)] for a in range(tsp.n)]
    )
    start = time.perf_counter()
    _, length = solve_tsp_local_search(matrix, max_processing_time=cap)
    seconds = time.perf_counter() - start
    if seconds >= cap:
        notes.append(
            f"python-tsp local search on {tsp.name} stopped at its {cap:.0f} s time cap"
        )
    return float(length), seconds


def _elkai(tsp, notes):
    try:
        import elkai
    except ImportError:
        notes.append("elkai not installed: no LKH quality ceiling")
        return None
    matrix = [
        [int(round(tsp.distance(a, b))) for b in range(tsp.n)] for a in range(tsp.n)
    ]
    start = time.perf_counter()
    tour = elkai.DistanceMatrix(matrix).solve_tsp(runs=10)
    seconds = time.perf_counter() - start
    tour = np.array(tour[:-1] if tour[0] == tour[-1] else tour)
    return float(tsp.tour_length(tour)), seconds


def pso_section(out, notes, quick=False):
    """PSO on Rastrigin-30 against pyswarms and SciPy's dual_annealing."""
    from ..search import Continuous, particle_swarm

    problem = Continuous.builtin("rastrigin", dim=30)
    particles, iterations = 50, (500 if quick else 2000)
    budget = particles * (iterations + 1)
    constants = {"w": 0.729, "c1": 1.49445, "c2": 1.49445}  # pyswarms' usual example
    rows = []
    peer_rate = None
    try:
        import pyswarms
        from pyswarms.utils.functions import single_obj

        bounds = (problem.lower.copy(), problem.upper.copy())
        finals = []
        elapsed = 0.0
        for seed in range(3):
            np.random.seed(seed)  # noqa: NPY002 (pyswarms draws from the global RNG)
            optimizer = pyswarms.single.GlobalBestPSO(
                n_particles=particles, dimensions=30, options=constants, bounds=bounds
            )
            start = time.perf_counter()
            cost, _ = optimizer.optimize(
                single_obj.rastrigin, iters=iterations, verbose=False
            )
            elapsed += time.perf_counter() - start
            finals.append(cost)
        peer_rate = 3 * particles * iterations / elapsed
        rows.append(
            [
                "pyswarms GlobalBestPSO (NumPy objective)",
                1,
                f"{peer_rate / 1e6:.2f}",
                "1",
                " / ".join(f"{v:.1f}" for v in finals),
            ]
        )
        settle()
    except ImportError:
        notes.append("pyswarms not installed: no PSO baseline")
    for topology in ("global", "ring"):
        finals = []
        evaluations = 0
        elapsed = 0.0
        for seed in range(3):
            result = particle_swarm(
                problem,
                n_particles=particles,
                max_iters=iterations,
                topology=topology,
                boundary="periodic",
                seed=seed,
                num_threads=1,
                **constants,
            )
            finals.append(result.objective)
            evaluations += result.n_evaluations
            elapsed += result.elapsed
        rate = evaluations / elapsed
        rows.append(
            [
                f"attnsearch particle_swarm ({topology})",
                1,
                f"{rate / 1e6:.2f}",
                f"{rate / peer_rate:.1f}" if peer_rate else "-",
                " / ".join(f"{v:.1f}" for v in finals),
            ]
        )
        settle()
    import scipy.optimize

    start = time.perf_counter()
    dual = scipy.optimize.dual_annealing(
        lambda x: float(problem.evaluate(x)),
        list(zip(problem.lower, problem.upper)),
        maxfun=budget,
        seed=0,
    )
    seconds = time.perf_counter() - start
    rows.append(
        [
            "scipy dual_annealing (same evaluation budget)",
            1,
            f"{dual.nfev / seconds / 1e6:.3f}",
            f"{dual.nfev / seconds / peer_rate:.2f}" if peer_rate else "-",
            f"{dual.fun:.2g}",
        ]
    )
    out(
        f"\nPSO on Rastrigin-30, {particles} particles x {iterations} iterations, "
        "1 thread, w=0.729 c1=c2=1.49445, periodic boundaries (pyswarms' default), "
        "seeds 0/1/2:"
    )
    out(
        format_table(
            ["optimiser", "threads", "M evals/s", "x pyswarms", "final values"], rows
        )
    )


def variants_section(out, notes, data, quick=False):
    """Tabu search on G-set max-cut; stochastic HC and tabu vs annealing on TSP."""
    from ..search import stochastic_hill_climb, tabu_search

    rows = []
    for name, target in (("G1", 11620), ("G22", 13340)):
        path = _instance(data, "gset", f"{name}.txt")
        if path is None:
            notes.append(f"G-set {name} not found (give --data): tabu row skipped")
            continue
        graph = MaxCut.from_gset(path)
        result = tabu_search(
            graph, time_limit=10.0, target=target, num_chains=2, seed=0, num_threads=2
        )
        rows.append(
            [
                f"tabu_search {name} (target {target})",
                f"{result.objective:.0f}",
                f"{result.elapsed:.2f}",
                result.stop_reason,
            ]
        )
        settle()
    if rows:
        out("\nTabu search on G-set max-cut, 2 chains, 2 threads, time limit 10 s:")
        out(format_table(["run", "cut", "seconds", "stop"], rows))
    rows = []
    budget = 2.0 if quick else 5.0
    for name in ["kroA100"] if quick else ["kroA100", "a280"]:
        path = _instance(data, "tsplib", f"{name}.tsp")
        if path is None:
            continue
        tsp = TSP.from_tsplib(path)
        row = [name]
        for method in (simulated_annealing, tabu_search, stochastic_hill_climb):
            result = method(tsp, time_limit=budget, num_chains=2, seed=0, num_threads=2)
            row += [
                f"{result.objective:.0f}",
                f"{100 * (result.objective / tsp.optimum - 1):.2f}",
            ]
            settle()
        rows.append(row)
    if rows:
        out(
            f"\nTSP, the same {budget:.0f} s budget, 2 chains, 2 threads (gap % to the "
            "optimum):"
        )
        out(
            format_table(
                [
                    "instance",
                    "annealing",
                    "gap %",
                    "tabu",
                    "gap %",
                    "stochastic HC",
                    "gap %",
                ],
                rows,
            )
        )


def run(quick=False, data=None, out=print):
    threads = effective_n_threads(None)
    notes = []
    data = _data_dir(data)
    out(
        f"attnsearch search benchmark: up to 2 threads, OpenMP "
        f"{'on' if openmp_enabled() else 'OFF'}, {os.cpu_count()} CPUs, data "
        f"{data or 'the instances shipped in attnsearch.data'}"
    )
    if threads < 2:
        notes.append("fewer than 2 threads available: 2-thread rows run on 1")
    results = {"ising": ising_section(out, notes, reads=20 if quick else 100)}
    if not quick:
        results["maxcut"] = maxcut_section(out, notes, data)
    results["tsp"] = tsp_section(out, notes, data, quick=quick)
    pso_section(out, notes, quick=quick)
    variants_section(out, notes, data, quick=quick)
    for note in notes:
        out(f"note: {note}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer chains, kroA100 only, no max-cut section",
    )
    parser.add_argument(
        "--data",
        help="folder with tsplib/ and gset/ (default: the small instances shipped "
        "in attnsearch.data)",
    )
    args = parser.parse_args(argv)
    run(quick=args.quick, data=args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
