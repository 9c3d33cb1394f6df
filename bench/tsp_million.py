"""A million uniform random cities: build, TSPLIB read, and iterated local search.

Issue 22's scale target: 1 000 000 cities uniform in the unit square, defaults,
2 threads, ``time_limit`` 600 s: the gap to the Beardwood–Halton–Hammersley
estimate 0.7124·√(n·A) at checkpoints, the time to build the problem
(candidate lists) and to read the same cities from a TSPLIB file, and the
process's peak resident memory (``ru_maxrss``) above its level before the
problem was built (the TSPLIB read comes after the search, so it does not count).

    python bench/tsp_million.py --n 1000000 --budget 600 --threads 2
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from attnsearch.search import TSP, iterated_local_search

BHH = 0.7124


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoints", type=float, nargs="*", default=[60, 120, 300])
    args = parser.parse_args(argv)
    n = args.n
    coords = np.random.default_rng(args.seed).uniform(size=(n, 2))
    reference = BHH * np.sqrt(n)
    base = _rss_mib()
    print(
        f"# {n} uniform cities, seed {args.seed}, {args.threads} threads, "
        f"budget {args.budget:.0f} s, {os.cpu_count()} CPUs"
    )

    start = time.perf_counter()
    tsp = TSP(coords)
    tsp._search_spec()  # candidate lists and the greedy start tour
    build_s = time.perf_counter() - start
    start_gap = 100 * (tsp.tour_length(tsp.initial_tour()) / reference - 1)
    print(
        f"build (candidates + greedy start): {build_s:.1f} s, "
        f"start gap {start_gap:.2f} %"
    )

    marks = sorted(c for c in args.checkpoints if c < args.budget)
    begun = time.monotonic()

    def note(progress):
        if marks and time.monotonic() - begun >= marks[0]:
            gap = 100.0 * (progress["best_cost"] / reference - 1.0)
            print(
                f"  {time.monotonic() - begun:6.1f} s: gap {gap:.3f} %  "
                f"peak {_rss_mib() - base:.0f} MiB",
                flush=True,
            )
            while marks and time.monotonic() - begun >= marks[0]:
                marks.pop(0)

    cpu = time.process_time()
    result = iterated_local_search(
        tsp,
        time_limit=args.budget,
        seed=args.seed,
        num_threads=args.threads,
        callback=note,
    )
    wall = time.monotonic() - begun
    gap = 100.0 * (result.objective / reference - 1.0)
    cpu = time.process_time() - cpu
    late = 100 * (wall / args.budget - 1)
    print(
        f"ILS defaults: gap {gap:.3f} % above 0.7124 sqrt(n A) after {wall:.1f} s "
        f"wall ({late:+.1f} %), {cpu:.0f} CPU s, rounds {result.params.get('rounds')}; "
        f"peak {_rss_mib() - base:.0f} MiB above the {base:.0f} MiB before the build"
    )
    del tsp, result

    # The TSPLIB path a user with a file takes (EUC_2D on coordinates x 1e6).
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"uniform{n}.tsp"
        lines = [
            f"NAME : uniform{n}",
            "TYPE : TSP",
            f"DIMENSION : {n}",
            "EDGE_WEIGHT_TYPE : EUC_2D",
            "NODE_COORD_SECTION",
        ]
        body = "\n".join(
            f"{i + 1} {x:.0f} {y:.0f}" for i, (x, y) in enumerate(coords * 1e6)
        )
        path.write_text("\n".join(lines) + "\n" + body + "\nEOF\n")
        start = time.perf_counter()
        from_file = TSP.from_tsplib(path)
        read_s = time.perf_counter() - start
        del from_file
    print(f"TSPLIB read ({path.name}, {n} cities): {read_s:.1f} s")


if __name__ == "__main__":
    main()
