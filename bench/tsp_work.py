"""Gap and CPU seconds of iterated local search at equal work or CPU time.

On a shared machine wall-clock budgets hand each run what the other jobs
leave it; a fixed number of kicks (``max_iters``) is the same work for two
builds or variants, so the CPU seconds of this process say which is cheaper
and the gaps which searched better. Compare two builds by running this script
under each, interleaved (the problem, candidate lists and greedy start are
built off the clock; gap to TSPLIB's optimal.tsv or, for uniform cities in
the unit square, to 0.7124·√(n·A)); ``--moves`` and ``--lk-alternate``
run a variant of the TSP's options under one build the same way.

``--cpu S`` stops each run instead once this process has used S CPU
seconds (checked between the run's chunks, a partitioned round at most) and
prints the best gap reached within S.

    for i in 1 2 3; do
      PYTHONPATH=/path/to/old/src python bench/tsp_work.py --only uniform200k
      PYTHONPATH=src python bench/tsp_work.py --only uniform200k
    done
    python bench/tsp_work.py --only uniform200k --moves 2opt,oropt,lk \\
        --lk-alternate on
"""

from __future__ import annotations

import argparse
import os
import time

from attnsearch.search import iterated_local_search

try:
    from tsp_partition import _build
except ImportError:  # run from elsewhere
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tsp_partition import _build

#: (instance, kicks): about 30 CPU-seconds each on a 2-core AMD EPYC.
WORK = {"pla33810": 200_000, "uniform200k": 400_001, "uniform100k": 200_001}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kicks", type=int, default=None)
    parser.add_argument("--cpu", type=float, default=None, help="CPU-second budget")
    parser.add_argument(
        "--moves", default=None, help="TSP moves, comma-separated (default: TSP's)"
    )
    parser.add_argument(
        "--lk-alternate",
        choices=("on", "off"),
        default=None,
        help="the Lin-Kernighan step's alternate first step (default: TSP's)",
    )
    args = parser.parse_args(argv)
    options: dict = {}
    if args.moves is not None:
        options["moves"] = tuple(args.moves.split(","))
    if args.lk_alternate is not None:
        options["lk_alternate"] = args.lk_alternate == "on"
    import attnsearch

    source = os.path.dirname(os.path.dirname(attnsearch.__file__))
    for name in args.only or WORK:
        tsp, reference = _build(name, **options)
        if tsp is None:
            print(f"{name:<12}  (no data)")
            continue
        tsp._search_spec()  # candidates and the start tour, off the clock
        kicks = args.kicks or WORK[name]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.process_time()
            trace = []  # (CPU s, best length) after every chunk

            def note(progress, start=start, trace=trace):
                trace.append((time.process_time() - start, progress["best_cost"]))
                return args.cpu is not None and trace[-1][0] >= args.cpu

            result = iterated_local_search(
                tsp,
                max_iters=None if args.cpu else kicks,
                time_limit=20 * args.cpu if args.cpu else None,
                seed=seed,
                num_threads=args.threads,
                callback=note,
            )
            cpu = time.process_time() - start
            best = result.objective
            if args.cpu:
                within = [length for used, length in trace if used <= args.cpu]
                best = min(within) if within else float("nan")
            gap = 100.0 * (best / reference - 1.0)
            work = f"cpu<={args.cpu:g}" if args.cpu else f"kicks {kicks}"
            print(
                f"{name:<12} {work} seed {seed}: gap {gap:6.3f} %  "
                f"cpu {cpu:6.1f} s  kicks {int(result.params['iterations'][0])}  "
                f"load {os.getloadavg()[0]:4.1f}  "
                f"partition {result.params['partition']}  {options or ''} ({source})",
                flush=True,
            )


if __name__ == "__main__":
    main()
