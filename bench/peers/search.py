"""Local search comparison: attnsearch vs dwave-samplers, simanneal, python-tsp, elkai.

All in one process; peers that are not installed are skipped with a note
(``pip install "attnsearch[bench]"`` brings them). Instances come from the
folder given with ``--data`` (``tsplib/`` and ``gset/`` inside it, or the files
themselves) and otherwise from the small instances shipped in
``attnsearch.data``, so ``python bench/compare.py search`` runs from any installed
copy. Run ``python bench/compare.py search --help``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled
from attnsearch.search import TSP, Ising, MaxCut, hill_climb, simulated_annealing

from .harness import format_table, settle

#: G-set graphs of the max-cut rows, first found first: (name, best known cut).
_MAXCUT_GRAPHS = (("G1", 11624), ("G11", 564))


def _data_dir(override=None):
    """The ``--data`` folder (or ``$ATTNSEARCH_DATA``, or the developers' data
    folder ``../shared/data`` beside the checkout when it is there), or None."""
    for candidate in (override, os.environ.get("ATTNSEARCH_DATA")):
        if candidate:
            path = Path(candidate)
            if not path.is_dir():
                raise SystemExit(f"--data {candidate}: not a folder")
            return path.resolve()
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    return shared if shared.is_dir() else None


def _instance(data, folder, filename):
    """Path of an instance file: in ``data`` (``folder/filename`` or ``filename``)
    when given, else the copy shipped in attnsearch.data, else None."""
    if data is not None:
        for candidate in (data / folder / filename, data / filename):
            if candidate.is_file():
                return candidate
    from attnsearch import data as shipped

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
    # Move throughput: the plain 2-opt + Or-opt neighbourhood (random pairs of
    # cities, as simanneal draws them) and the default candidate moves (2-opt,
    # Or-opt and 3-opt around each city's nearest cities: more work per move,
    # far fewer wasted moves).
    plain_moves = {"moves": ("2opt", "oropt"), "candidates": None}
    if first.coords is None:
        plain = TSP(distances=first.distances, **plain_moves)
    else:
        plain = TSP(first.coords, metric=first.metric, **plain_moves)
    probes = {}
    for label, problem in (
        ("SA 2-opt + or-opt, random pairs", plain),
        ("SA candidate moves (default)", first),
    ):
        probe = simulated_annealing(
            problem, num_sweeps=3000, num_chains=1, seed=0, num_threads=1
        )
        probes[label] = probe.n_evaluations / probe.elapsed
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
    for label, ours_rate in probes.items():
        rows.append(
            [
                f"attnsearch {label}, {first.name}",
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
    from attnsearch.search import Continuous, particle_swarm

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
    from attnsearch.search import stochastic_hill_climb, tabu_search

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


# -- quality sections: the results against the peers at equal time or evaluations ------


def _best_known_table(folder):
    """{name: best known cut} from best_known.tsv in ``folder``, or {}."""
    table = Path(folder) / "best_known.tsv"
    if not table.is_file():
        return {}
    best = {}
    for line in table.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 4:
            best[fields[0]] = float(fields[3])
    return best


def _dwave_same_time(graph, seconds, notes, seed=1):
    """dwave-samplers' annealer, one read, its default beta range, with the
    sweeps that fill ``seconds`` (per-sweep cost and set-up measured on reads
    of 1000 and 3000 sweeps first)."""
    try:
        from dwave.samplers import SimulatedAnnealingSampler
    except ImportError:
        notes.append("dwave-samplers not installed: no G-set baseline")
        return None
    couplings = {
        (int(i), int(j)): float(w) for (i, j), w in zip(graph.edges, graph.weights)
    }
    sampler = SimulatedAnnealingSampler()
    spent = []
    for sweeps in (1000, 3000):  # the difference: per-sweep cost without set-up
        start = time.perf_counter()
        sampler.sample_ising({}, couplings, num_reads=1, num_sweeps=sweeps, seed=seed)
        spent.append(time.perf_counter() - start)
    per_sweep = max(spent[1] - spent[0], 1e-9) / 2000
    overhead = max(0.0, spent[0] - 1000 * per_sweep)
    sweeps = max(1000, int((seconds - overhead) / per_sweep))
    start = time.perf_counter()
    sampleset = sampler.sample_ising(
        {}, couplings, num_reads=1, num_sweeps=sweeps, seed=seed
    )
    spent = time.perf_counter() - start
    cut = (graph.total_weight - sampleset.first.energy) / 2
    return cut, spent, sweeps


def gset_section(out, notes, data, seconds=10.0, graphs=None, methods=None):
    """Max-cut on every G-set graph of ``data``/gset: the command line's default
    method (parallel tempering) and our annealing with a time limit, 2 chains on
    2 threads, against dwave-samplers' annealer given the same wall time (one
    read: it runs single-threaded), as % of the best known cut."""
    from attnsearch.search import parallel_tempering, tabu_search

    folder = None
    if data is not None:
        for candidate in (data / "gset", data):
            if (candidate / "best_known.tsv").is_file():
                folder = candidate
    if folder is None:
        notes.append("no gset/best_known.tsv under --data: G-set table skipped")
        return None
    best = _best_known_table(folder)
    names = graphs or sorted(
        (name for name in best if (folder / f"{name}.txt").is_file()),
        key=lambda name: int(name[1:]) if name[1:].isdigit() else 0,
    )
    methods = methods or ("pt", "anneal", "dwave")
    runners = {
        "pt": ("parallel_tempering (CLI default)", parallel_tempering),
        "anneal": ("simulated_annealing", simulated_annealing),
        "tabu": ("tabu_search", tabu_search),
    }
    rows = []
    for name in names:
        graph = MaxCut.from_gset(folder / f"{name}.txt")
        row = [name, graph.n, f"{best[name]:.0f}"]
        for method in methods:
            if method == "dwave":
                outcome = _dwave_same_time(graph, seconds, notes)
                if outcome is None:
                    row += ["-"]
                    continue
                cut, spent, sweeps = outcome
                row += [f"{cut:.0f} ({100 * cut / best[name]:.2f} %, {spent:.1f} s)"]
            else:
                result = runners[method][1](
                    graph, time_limit=seconds, num_chains=2, num_threads=2, seed=0
                )
                cut, spent = result.objective, result.elapsed
                row += [f"{cut:.0f} ({100 * cut / best[name]:.2f} %, {spent:.1f} s)"]
            settle()
        rows.append(row)
    headers = ["graph", "n", "best known"] + [
        runners[m][0] if m in runners else "dwave-samplers SA, same time, 1 read"
        for m in methods
    ]
    out(
        f"\nMax-cut, G-set graphs of {folder}, {seconds:g} s each: ours 2 chains on "
        "2 threads, seed 0; dwave-samplers one read (single-threaded) with as many "
        "sweeps as fill the same time, its default beta range, seed 1. "
        "cut (% of best known, seconds):"
    )
    out(format_table(headers, rows))
    return rows


def annealing_defaults_section(out, notes, data, sweeps=1000, seeds=(0, 1, 2)):
    """The automatic temperatures and final descent of simulated_annealing (this
    version) against the previous defaults (cold end: the smallest worsening
    move accepted with probability 1/100 per move; no descent), same sweeps and
    seeds, on every problem type: TSP, Ising, QUBO, max-cut, continuous, a
    problem written in Python."""
    from attnsearch.search import QUBO, Continuous, Problem
    from attnsearch.search.problems.base import search_spec

    class BitString(Problem):
        """Maximise the number of adjacent equal bits plus a random field."""

        def __init__(self, n=60, seed=0):
            super().__init__()
            self.field = np.random.default_rng(seed).normal(size=n)
            self.n = n
            self.size = n

        def initial(self, rng):
            return np.array([rng.below(2) for _ in range(self.n)])

        def random_move(self, state, rng):
            return rng.below(self.n)

        def cost(self, state):
            s = 2.0 * state - 1.0
            return float(-np.sum(s[1:] * s[:-1]) - self.field @ s)

        def delta(self, state, i):
            s = 2.0 * state - 1.0
            change = -2.0 * s[i]
            around = (s[i - 1] if i > 0 else 0.0) + (
                s[i + 1] if i < self.n - 1 else 0.0
            )
            return float(-change * around - self.field[i] * change)

        def apply(self, state, i):
            state[i] = 1 - state[i]
            return state

        def moves(self, state):
            return range(self.n)

    rng = np.random.default_rng(0)
    problems = []
    tsp_path = _instance(data, "tsplib", "kroA100.tsp")
    if tsp_path is not None:
        problems.append(("TSP kroA100 (length)", TSP.from_tsplib(tsp_path), sweeps))
    problems.append(
        (
            "Ising 3-regular +-1, n=1000 (energy)",
            Ising(np.zeros(1000), _random_regular_ising(1000, 3, seed=0)),
            sweeps,
        )
    )
    q = rng.integers(-5, 6, size=(120, 120)).astype(float)
    problems.append(("QUBO 120, integer (energy)", QUBO((q + q.T) / 2), sweeps))
    for name in ("G62", "G11"):
        path = _instance(data, "gset", f"{name}.txt")
        if path is not None:
            problems.append((f"max-cut {name} (cut)", MaxCut.from_gset(path), sweeps))
            break
    problems.append(
        (
            "continuous rastrigin-10 (value)",
            Continuous.builtin("rastrigin", dim=10),
            sweeps,
        )
    )
    problems.append(("Python problem, 60 bits (cost)", BitString(), 200))
    rows = []
    for label, problem, n_sweeps in problems:
        objective = search_spec(problem).objective
        new_values, old_values = [], []
        t_new = t_old = 0.0
        for seed in seeds:
            new = simulated_annealing(
                problem, num_sweeps=n_sweeps, num_chains=8, num_threads=2, seed=seed
            )
            t_new += new.elapsed
            # The previous defaults: the same calibration walks, so the same
            # t_start and min(Δ+); t_end = min(Δ+) / ln 100 instead of
            # min(Δ+) / ln(1000 n).
            params = new.params
            old_end = min(
                params["t_end"] * np.log(1000.0 * params["sweep_len"]) / np.log(100.0),
                params["t_start"],
            )
            old = simulated_annealing(
                problem,
                num_sweeps=n_sweeps,
                num_chains=8,
                num_threads=2,
                seed=seed,
                t_start=new.params["t_start"],
                t_end=old_end,
                descent=False,
            )
            t_old += old.elapsed
            new_values.extend(objective(c) for c in new.costs)
            old_values.extend(objective(c) for c in old.costs)
            settle()
        rows.append(
            [
                label,
                n_sweeps,
                f"{np.mean(old_values):.6g}",
                f"{np.mean(new_values):.6g}",
                f"{t_old / len(seeds):.3f} / {t_new / len(seeds):.3f}",
            ]
        )
    out(
        f"\nsimulated_annealing: previous defaults (t_end = min worsening delta / "
        "ln 100, no descent) vs this version (t_end = min worsening delta / "
        f"ln(1000 n), zero-temperature descent), 8 chains x seeds {seeds}, mean "
        "objective over the 24 chains:"
    )
    out(
        format_table(
            ["problem", "sweeps", "previous", "now", "seconds prev / now"], rows
        )
    )
    return rows


def pso_quality_section(out, notes, iterations=2000, seeds=range(5)):
    """Particle swarm with its defaults but pyswarms' constants against pyswarms
    GlobalBestPSO (its defaults: periodic walls, no clamp) on four 30-d
    functions, 50 particles, the same iterations and seeds; medians."""
    from attnsearch.search import Continuous, particle_swarm

    constants = {"w": 0.729, "c1": 1.49445, "c2": 1.49445}
    try:
        import pyswarms
        from pyswarms.utils.functions import single_obj
    except ImportError:
        pyswarms = None
        notes.append("pyswarms not installed: no PSO baseline")

    def griewank(x):
        i = np.arange(1, x.shape[1] + 1)
        return 1 + np.sum(x**2, axis=1) / 4000 - np.prod(np.cos(x / np.sqrt(i)), axis=1)

    cases = [
        ("rastrigin", None),
        ("ackley", (-32.0, 32.0)),  # pyswarms' ackley accepts [-32, 32] only
        ("rosenbrock", None),
        ("griewank", None),
    ]
    seeds = list(seeds)
    rows = []
    for name, bounds in cases:
        problem = Continuous.builtin(
            name, dim=30, bounds=None if bounds is None else [bounds] * 30
        )
        row = [f"{name}-30"]
        peer_seconds = None
        if pyswarms is not None:
            function = griewank if name == "griewank" else getattr(single_obj, name)
            values, peer_seconds = [], 0.0
            for seed in seeds:
                np.random.seed(seed)  # noqa: NPY002 (pyswarms uses the global RNG)
                optimizer = pyswarms.single.GlobalBestPSO(
                    n_particles=50,
                    dimensions=30,
                    options=constants,
                    bounds=(problem.lower.copy(), problem.upper.copy()),
                )
                start = time.perf_counter()
                cost, _ = optimizer.optimize(function, iters=iterations, verbose=False)
                peer_seconds += time.perf_counter() - start
                values.append(cost)
            row += [f"{np.median(values):.3g}", f"{peer_seconds:.2f}"]
            settle()
        else:
            row += ["-", "-"]
        values, seconds = [], 0.0
        for seed in seeds:
            start = time.perf_counter()
            result = particle_swarm(
                problem,
                n_particles=50,
                max_iters=iterations,
                seed=seed,
                num_threads=1,
                **constants,
            )
            seconds += time.perf_counter() - start
            values.append(result.objective)
        row += [f"{np.median(values):.3g}", f"{seconds:.3f}"]
        settle()
        start = time.perf_counter()
        swarms = particle_swarm(
            problem,
            n_particles=50,
            max_iters=iterations,
            num_chains=len(seeds),
            seed=0,
            num_threads=2,
            **constants,
        )
        parallel = time.perf_counter() - start
        row += [f"{np.median(swarms.costs):.3g}", f"{parallel:.3f}"]
        if peer_seconds:
            row += [f"{peer_seconds / seconds:.1f}", f"{peer_seconds / parallel:.1f}"]
        else:
            row += ["-", "-"]
        rows.append(row)
        settle()
    out(
        f"\nParticle swarm, 30-d, 50 particles x {iterations} iterations, w 0.729, "
        f"c1 = c2 = 1.49445, median over {len(seeds)} runs (pyswarms: seeds "
        f"{seeds[0]}-{seeds[-1]} of NumPy's global RNG; ours: seeds "
        f"{seeds[0]}-{seeds[-1]} one run each on 1 thread, and the same number of "
        "swarms as chains of one call on 2 threads, seed 0); ours with its defaults "
        "(von Neumann topology, periodic walls, no clamp):"
    )
    out(
        format_table(
            [
                "function",
                "pyswarms median",
                "s",
                "ours 1 thread",
                "s",
                "ours chains, 2 thr",
                "s",
                "x pyswarms (1 thr)",
                "x pyswarms (2 thr)",
            ],
            rows,
        )
    )
    return rows


#: The sections of ``python bench/compare.py search`` (``--sections``).
SECTIONS = ("ising", "maxcut", "tsp", "pso", "variants", "gset", "defaults", "pso30")


def run(quick=False, data=None, out=print, sections=None, gset_seconds=10.0):
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
    wanted = set(sections or SECTIONS)
    results = {}
    if "ising" in wanted:
        results["ising"] = ising_section(out, notes, reads=20 if quick else 100)
    if not quick and "maxcut" in wanted:
        results["maxcut"] = maxcut_section(out, notes, data)
    if "tsp" in wanted:
        results["tsp"] = tsp_section(out, notes, data, quick=quick)
    if "pso" in wanted:
        pso_section(out, notes, quick=quick)
    if "variants" in wanted:
        variants_section(out, notes, data, quick=quick)
    if "gset" in wanted:
        results["gset"] = gset_section(
            out, notes, data, seconds=1.0 if quick else gset_seconds
        )
    if "defaults" in wanted:
        results["defaults"] = annealing_defaults_section(
            out, notes, data, sweeps=200 if quick else 1000
        )
    if "pso30" in wanted:
        results["pso30"] = pso_quality_section(
            out, notes, iterations=200 if quick else 2000
        )
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
    parser.add_argument(
        "--sections",
        default=None,
        help=f"comma-separated sections to run (default all): {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--gset-seconds",
        type=float,
        default=10.0,
        help="time per G-set graph and method (default 10)",
    )
    args = parser.parse_args(argv)
    sections = None
    if args.sections:
        sections = [name.strip() for name in args.sections.split(",") if name.strip()]
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    run(
        quick=args.quick,
        data=args.data,
        sections=sections,
        gset_seconds=args.gset_seconds,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
