"""TSP at scale: attnsearch's methods against fast-tsp and elkai (LKH-3).

One table, one row per instance and solver: gap to the optimum (or, for random
uniform instances, to the Beardwood–Halton–Hammersley estimate 0.7124·√(n·A)),
seconds, peak resident memory above the process's level before the run, and
the command that reproduces the row. Our rows run exactly what the command
line runs (``attnsearch solve tsp FILE --time-limit T --threads 2``: 2 chains,
seed 0, the TSP's defaults) and are timed from reading the file. fast-tsp then
gets the same wall time and threads (its 16-bit distance matrix is built
outside its clock); it needs a dense n×n uint16 matrix, so it runs only where
that fits (n ≤ 15 000 and distances ≤ 65 535). elkai runs LKH-3 with
``TIME_LIMIT`` set to the budget, which LKH applies after its preprocessing
(the subgradient ascent of the alpha-nearness candidates), so its seconds are
reported as measured; it is skipped above 6 000 cities, where the
preprocessing alone takes minutes. Empty cells: the peer was not run.

    python bench/compare.py tsp                # every instance (~15 minutes)
    python bench/compare.py tsp --only pr2392  # one row group
    python bench/compare.py tsp --quick        # pcb442 and pr2392, short budgets
    python bench/compare.py tsp --representation   # applied-move cost against n
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled
from attnsearch.search import (
    TSP,
    hill_climb,
    iterated_local_search,
    simulated_annealing,
)

from .harness import format_table, peak_extra_mib, settle
from .search import _data_dir, _instance

#: (name, seconds, cities): TSPLIB instances read from --data, then random
#: uniform cities in the unit square (generated, seed 0).
INSTANCES = (
    ("pcb442", 5.0, 442),
    ("pr2392", 10.0, 2392),
    ("rl5915", 30.0, 5915),
    ("brd14051", 60.0, 14051),
    ("pla33810", 120.0, 33810),
    ("uniform200k", 120.0, 200_000),
)
QUICK = (("pcb442", 2.0, 442), ("pr2392", 3.0, 2392))
#: Beardwood–Halton–Hammersley: the optimal tour of n uniform cities in area A
#: approaches this constant times sqrt(n A) (Percus & Martin; Johnson et al.).
BHH = 0.7124
_FAST_TSP_MAX_CITIES = 15_000
_ELKAI_MAX_CITIES = 6_000
_THREADS = 2
_CHAINS = 2


def _optimum(path, name):
    """The optimum from optimal.tsv beside the file (the TSPLIB folder's table)."""
    table = Path(path).with_name("optimal.tsv")
    if table.is_file():
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == name:
                return float(fields[1])
    return None


def _load(data, name):
    """(builder of the TSP, reference length, label of the reference, path)."""
    if name.startswith("uniform"):
        n = int(name[len("uniform") :].replace("k", "000"))
        coords = np.random.default_rng(0).uniform(size=(n, 2))
        return (lambda: TSP(coords)), BHH * np.sqrt(n), "BHH", None
    path = _instance(data, "tsplib", f"{name}.tsp")
    if path is None:
        return None, None, None, None
    optimum = _optimum(path, name)

    def build():
        tsp = TSP.from_tsplib(path)
        if optimum is not None:
            tsp.optimum = optimum
        return tsp

    probe = TSP.from_tsplib(path, candidates=None)
    return build, optimum or probe.optimum, "optimum", path


def _ours(method, build, budget):
    """Run one of our methods as the command line does; (length, seconds, MiB)."""
    box = {}

    def run():
        start = time.perf_counter()
        tsp = build()
        options = dict(num_chains=_CHAINS, num_threads=_THREADS, seed=0)
        if method is not hill_climb:
            options["time_limit"] = budget
        result = method(tsp, **options)
        box.update(
            length=float(result.objective),
            seconds=time.perf_counter() - start,
            tsp=tsp,
        )

    mib = peak_extra_mib(run)
    return box["length"], box["seconds"], mib, box["tsp"]


def _uint16_matrix(tsp, block=256):
    """The n x n distance matrix as uint16, built in row blocks (None if a
    distance does not fit)."""
    n = tsp.n
    out = np.empty((n, n), dtype=np.uint16)
    columns = np.arange(n)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        values = tsp._core.pair_distances(
            np.repeat(rows, n), np.tile(columns, rows.size)
        ).reshape(rows.size, n)
        if values.max() > np.iinfo(np.uint16).max:
            return None
        out[rows] = values
    return out


def _fast_tsp(tsp, seconds, notes):
    try:
        import fast_tsp
    except ImportError:
        notes.append("fast-tsp not installed (pip install fast-tsp): no fast-tsp rows")
        return None
    if tsp.n > _FAST_TSP_MAX_CITIES:
        return None
    matrix = _uint16_matrix(tsp)
    if matrix is None:
        notes.append(f"{tsp.name}: a distance exceeds 65535, fast-tsp cannot run it")
        return None
    box = {}

    def run():
        start = time.perf_counter()
        tour = fast_tsp.find_tour(matrix, seconds, max_threads=_THREADS)
        box["seconds"] = time.perf_counter() - start
        box["tour"] = np.asarray(tour)

    mib = peak_extra_mib(run)
    version = getattr(fast_tsp, "__version__", "?")
    return float(tsp.tour_length(box["tour"])), box["seconds"], mib, version


def _elkai(tsp, seconds, notes):
    try:
        from elkai import _elkai
    except ImportError:
        notes.append("elkai not installed (pip install elkai): no LKH rows")
        return None
    if tsp.n > _ELKAI_MAX_CITIES or tsp.coords is None:
        return None
    kind = tsp.metric if tsp.metric in ("EUC_2D", "CEIL_2D", "ATT", "GEO") else None
    if kind is None:
        return None
    lines = [
        f"{i + 1} {float(x)!r} {float(y)!r}" for i, (x, y) in enumerate(tsp.coords)
    ]
    problem = (
        f"TYPE : TSP\nDIMENSION : {tsp.n}\nEDGE_WEIGHT_TYPE : {kind}\n"
        "NODE_COORD_SECTION\n" + "\n".join(lines) + "\nEOF\n"
    )
    params = f"RUNS = 1\nTIME_LIMIT = {seconds}\nPROBLEM_FILE = :stdin:\n"
    box = {}

    def run():
        start = time.perf_counter()
        tour = _elkai.solve_problem(params, problem)
        box["seconds"] = time.perf_counter() - start
        box["tour"] = np.asarray(tour) - 1

    mib = peak_extra_mib(run)
    return float(tsp.tour_length(box["tour"])), box["seconds"], mib


def representation_table(sizes=(1000, 10_000, 100_000, 1_000_000), out=print):
    """Applied-move cost against n: random uniform cities, greedy start, one
    thread; the first descent (2-opt + Or-opt) and 20 000 ILS iterations."""
    rows = []
    for n in sizes:
        tsp = TSP(
            np.random.default_rng(0).uniform(size=(n, 2)),
            moves=("2opt", "oropt"),
            candidates="nearest",
            initial="greedy",
        )
        start = time.perf_counter()
        tsp.initial_tour("greedy")
        greedy = time.perf_counter() - start
        options = dict(num_chains=1, num_threads=1, seed=0)
        descent = hill_climb(tsp, **options)
        moves = int(descent.params["steps"][0])
        first = iterated_local_search(tsp, max_iters=1, **options)
        iterations = 20_000
        ils = iterated_local_search(tsp, max_iters=iterations + 1, **options)
        seconds = ils.elapsed - first.elapsed
        applied = ils.acceptance_counts[0] - first.acceptance_counts[0]
        rows.append(
            [
                n,
                f"{greedy:.2f}",
                f"{descent.elapsed:.2f}",
                moves,
                f"{1e6 * descent.elapsed / max(moves, 1):.2f}",
                f"{1e6 * seconds / iterations:.1f}",
                f"{applied / iterations:.1f}",
                f"{1e6 * seconds / max(applied, 1):.2f}",
            ]
        )
        settle()
    out(
        "\nApplied-move cost of the tour representation (array + position index, "
        "shorter-side reversals), 1 thread:"
    )
    out(
        format_table(
            [
                "n",
                "greedy s",
                "descent s",
                "moves",
                "us/move",
                "ILS us/iter",
                "moves/iter",
                "us/move",
            ],
            rows,
        )
    )


def run(quick=False, data=None, only=None, out=print):
    data = _data_dir(data)
    notes = []
    out(
        f"attnsearch TSP scale table: {_THREADS} threads, {_CHAINS} chains, OpenMP "
        f"{'on' if openmp_enabled() else 'OFF'}, {os.cpu_count()} CPUs, "
        f"{effective_n_threads(None)} threads available, data "
        f"{data or 'the instances shipped in attnsearch.data'}"
    )
    instances = QUICK if quick else INSTANCES
    if only:
        instances = [row for row in INSTANCES if row[0] in only]
    data_arg = f" --data {data}" if data else ""
    rows, results = [], {}
    for name, budget, _ in instances:
        build, reference, label, path = _load(data, name)
        if build is None:
            notes.append(f"{name}.tsp not found (give --data): rows skipped")
            continue
        solve = f"attnsearch solve tsp {path} --threads {_THREADS}" if path else None
        bench = f"python bench/compare.py tsp --only {name}{data_arg}"
        entries = []
        for title, method, flags in (
            ("attnsearch default: iterated_local_search", iterated_local_search, ""),
            ("attnsearch simulated_annealing", simulated_annealing, " --method anneal"),
            ("attnsearch hill_climb (descent)", hill_climb, " --method hill"),
        ):
            length, seconds, mib, tsp = _ours(method, build, budget)
            limit = "" if method is hill_climb else f" --time-limit {budget:g}"
            command = (solve + flags + limit) if solve else bench
            entries.append((title, length, seconds, mib, command))
            settle()
        wall = entries[0][2]  # our default's wall time: the peers get the same
        peer = _fast_tsp(tsp, wall, notes)
        if peer is not None:
            length, seconds, mib, version = peer
            entries.append((f"fast-tsp {version}", length, seconds, mib, bench))
            settle()
        else:
            entries.append(("fast-tsp", None, None, None, ""))
        lkh = _elkai(tsp, budget, notes)
        if lkh is not None:
            entries.append(("elkai (LKH-3, TIME_LIMIT)", *lkh, bench))
            settle()
        else:
            entries.append(("elkai (LKH-3)", None, None, None, ""))
        results[name] = {}
        for title, length, seconds, mib, command in entries:
            gap = None if length is None else 100.0 * (length / reference - 1.0)
            results[name][title] = {"gap": gap, "seconds": seconds, "mib": mib}
            rows.append(
                [
                    name,
                    f"{tsp.n}",
                    f"{budget:g}",
                    title,
                    "" if gap is None else f"{gap:.2f}",
                    "" if seconds is None else f"{seconds:.1f}",
                    "" if mib is None else f"{mib:.0f}",
                    command,
                ]
            )
    out(
        "\nTSP at scale (gap % to the optimum, or to 0.7124 sqrt(n A) for uniform "
        "cities; budget s; peak MiB above the level before the run):"
    )
    out(
        format_table(
            ["instance", "n", "budget", "solver", "gap %", "s", "MiB", "command"],
            rows,
        )
    )
    for note in notes:
        out(f"note: {note}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pcb442, pr2392; short")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this instance (repeatable): "
        + ", ".join(name for name, _, _ in INSTANCES),
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="folder with tsplib/ (default: $ATTNSEARCH_DATA, else the shipped data)",
    )
    parser.add_argument(
        "--representation",
        action="store_true",
        help="only the applied-move cost against n (10^3 .. 10^6 cities)",
    )
    args = parser.parse_args(argv)
    if args.representation:
        representation_table()
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {name for name, _, _ in INSTANCES})
        if unknown:
            parser.error(f"unknown instance(s): {', '.join(unknown)}")
    run(quick=args.quick, data=args.data, only=args.only)
    return 0
