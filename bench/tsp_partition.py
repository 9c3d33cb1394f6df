"""Tour partitioning against one tour per thread, at equal wall time.

Each row runs ``iterated_local_search`` on one instance for one wall-clock
budget (``time_limit``) with the same seed for every variant, variants
interleaved seed by seed, and prints the gap to the optimum (TSPLIB's
optimal.tsv) or, for uniform random cities in the unit square, to the
Beardwood–Halton–Hammersley estimate 0.7124·√(n·A) (itself ~0.3 % off at
these sizes: compare variants, not the figure), with the CPU seconds the run
used (this process, all threads) and the load average when it ended: on a
shared machine a second thread gets a second core only when one is free.
The problem is built once per instance (candidate lists, greedy start) off the
clock.

    python bench/tsp_partition.py --only uniform200k --budget 60
    python bench/tsp_partition.py --variants plain-1 plain-2 seg50000-2

Variants: ``plain-<T>``: partition off, one chain, T threads (the kick/descent
loop on one core whatever T is: the old behaviour); ``chains-<T>``: off, T
chains on T threads (the best is kept); ``seg<S>-<T>``: segments of S cities
on T threads; ``half-<T>``: two segments; ``auto-<T>``: the default.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from attnsearch.search import TSP, iterated_local_search

DATA = Path(os.environ.get("ATTNSEARCH_TSPLIB", "/work/shared/data/tsplib"))
BHH = 0.7124
INSTANCES = ("uniform10k", "brd14051", "pla33810", "uniform100k", "uniform200k")


def _optimum(name):
    for line in (DATA / "optimal.tsv").read_text().splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return float(fields[1])
    return None


def _build(name, **options):
    """The TSP of one instance (``options``: TSP arguments) and its reference."""
    if name.startswith("uniform"):
        n = int(name[len("uniform") :].replace("k", "000"))
        coords = np.random.default_rng(0).uniform(size=(n, 2))
        return TSP(coords, **options), BHH * np.sqrt(n)
    path = DATA / f"{name}.tsp"
    if not path.is_file():
        return None, None
    return TSP.from_tsplib(path, **options), _optimum(name)


def _options(variant, n):
    kind, threads = variant.rsplit("-", 1)
    threads = int(threads)
    if kind == "plain":
        return dict(num_threads=threads, partition=None)
    if kind == "chains":
        return dict(num_threads=threads, num_chains=threads, partition=None)
    if kind == "half":
        return dict(num_threads=threads, partition=(n + 1) // 2)
    if kind == "auto":
        return dict(num_threads=threads)
    if kind.startswith("seg"):
        return dict(num_threads=threads, partition=int(kind[3:]))
    raise SystemExit(f"unknown variant {variant!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds (default: n/2000, 10..120)"
    )
    parser.add_argument("--variants", nargs="*", default=["plain-1", "seg50000-2"])
    args = parser.parse_args(argv)
    print(f"# {os.cpu_count()} CPUs; gap % / CPU s / load per seed")
    for name in args.only or INSTANCES:
        tsp, reference = _build(name)
        if tsp is None:
            print(f"{name:<12}  (not in {DATA})")
            continue
        tsp._search_spec()  # candidates and the start tour, off the clock
        budget = args.budget or float(min(120, max(10, tsp.n // 2000)))
        rows = {v: [] for v in args.variants}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for variant in args.variants:
                cpu, wall = time.process_time(), time.monotonic()
                trace = []  # (CPU s, best gap %) after every chunk (round)

                def note(progress, cpu=cpu):
                    gap = 100.0 * (progress["best_cost"] / reference - 1.0)
                    trace.append((time.process_time() - cpu, gap))

                result = iterated_local_search(
                    tsp,
                    time_limit=budget,
                    seed=seed,
                    callback=note,
                    **_options(variant, tsp.n),
                )
                wall = time.monotonic() - wall
                cpu = time.process_time() - cpu
                gap = 100.0 * (result.objective / reference - 1.0)
                trace.append((cpu, gap))
                rows[variant].append((gap, cpu, wall, os.getloadavg()[0], trace))
                print(
                    f"{name:<12}{budget:>5.0f}s {variant:<14} seed {seed}: "
                    f"gap {gap:6.3f} %  cpu {cpu:6.1f} s  wall {wall:6.2f} s "
                    f"({100 * (wall / budget - 1):+.1f} %)  "
                    f"load {os.getloadavg()[0]:.1f}  rounds {result.params['rounds']}",
                    flush=True,
                )
        # In CPU terms: each variant's best gap once it had used as much CPU
        # time as the variant that used least (its whole run).
        least = min(v[1] for values in rows.values() for v in values)
        for variant, values in rows.items():
            gaps = [v[0] for v in values]
            at_least = [
                min(g for c, g in v[4] if c <= least + 1e-9)
                if any(c <= least + 1e-9 for c, _ in v[4])
                else float("nan")
                for v in values
            ]
            print(
                f"{name:<12}{budget:>5.0f}s {variant:<14} "
                f"mean gap {np.mean(gaps):6.3f} %  "
                f"mean cpu {np.mean([v[1] for v in values]):6.1f} s  "
                f"gap at {least:.1f} CPU s {np.mean(at_least):6.3f} %",
                flush=True,
            )


if __name__ == "__main__":
    main()
