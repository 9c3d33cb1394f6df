"""The Lin-Kernighan step against the Or-opt/3-opt descent, in iterated local search.

Each row runs ``iterated_local_search`` on one instance for one time budget with
the same seeds, chains and threads for every variant, and prints the gap to
the optimum (TSPLIB's optimal.tsv) or, for random uniform cities, to the
Beardwood–Halton–Hammersley estimate 0.7124·√(n·A) (for 100 000 cities the
estimate is itself ~0.4 % off, so compare variants, not the figure). The
problem is built once per instance (candidate lists, greedy start) outside the
clock, so the budget is the search's alone; every variant gets the same one.
By default the budget is CPU time (budget x threads seconds of this process,
checked between the run's 0.1 s chunks): on a shared machine a wall-clock
budget hands each variant whatever the other jobs leave it.

    python bench/tsp_lk.py                          # every instance
    python bench/tsp_lk.py --only pr2392 --seeds 3  # one instance, 3 seeds
    python bench/tsp_lk.py --variants oropt lk lk-d6

Variants (``--variants``): ``oropt`` = moves ("2opt", "oropt", "3opt"), the
default before the Lin-Kernighan step; ``lk`` = the default now; ``lk-d<D>``,
``lk-b<B1>.<B2>...``, ``lk-f<F>``, ``lk-k<L>``: other depths, breadths,
reversal caps and kick lengths; ``lk-no3opt``: without 3-opt; ``lk-alt``:
with the alternate first step (``lk_alternate=True``: the descent's 3-opt
stage is then left out), ``lk-noalt`` without.
Seeds are interleaved over the variants (seed 0 of every variant, then seed
1, ...), so that a change of the machine's load hits every variant alike.
The mean is printed with its standard error: one chain's gap spreads by
0.1-0.3 points between seeds at these budgets (pr2392, 10 CPU-s: 0.11-0.40 %),
so separating two variants takes about ten seeds (``--seeds 10``).

    python bench/tsp_lk.py --only rl5915 --budget 8 --seeds 4 --chains 1 \
        --threads 1 --variants lk-noalt lk-alt
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from attnsearch.search import TSP, iterated_local_search

DATA = Path(os.environ.get("ATTNSEARCH_TSPLIB", "/work/shared/data/tsplib"))
#: (instance, budgets in seconds)
INSTANCES = (
    ("rat783", (2.0, 5.0)),
    ("pr2392", (5.0, 10.0)),
    ("rl5915", (10.0, 20.0)),
    ("brd14051", (20.0, 40.0)),
    ("uniform100k", (60.0,)),
)
BHH = 0.7124
OLD_MOVES = ("2opt", "oropt", "3opt")


def _optimum(name):
    table = DATA / "optimal.tsv"
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return float(fields[1])
    return None


def _build(name, variant):
    """The TSP of one instance under one variant, and its reference length."""
    kwargs: dict = {}
    if variant == "oropt":
        kwargs["moves"] = OLD_MOVES
    elif variant.startswith("lk"):
        moves = ["2opt", "oropt", "3opt", "lk"]
        for part in variant.split("-")[1:]:
            if part == "no3opt":
                moves.remove("3opt")
            elif part in ("alt", "noalt"):
                kwargs["lk_alternate"] = part == "alt"
            elif part.startswith("d"):
                kwargs["lk_depth"] = int(part[1:])
            elif part.startswith("b"):
                kwargs["lk_breadth"] = tuple(int(b) for b in part[1:].split("."))
            elif part.startswith("k"):
                kwargs["kick_length"] = int(part[1:])
            elif part.startswith("f"):
                kwargs["lk_max_flip"] = int(part[1:])
        kwargs["moves"] = tuple(moves)
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    if name.startswith("uniform"):
        n = int(name[len("uniform") :].replace("k", "000"))
        coords = np.random.default_rng(0).uniform(size=(n, 2))
        return TSP(coords, **kwargs), BHH * np.sqrt(n), "BHH"
    path = DATA / f"{name}.tsp"
    if not path.is_file():
        return None, None, None
    return TSP.from_tsplib(path, **kwargs), _optimum(name), "opt"


def _run(tsp, budget, args, seed):
    """One ILS run: `budget` wall seconds, or budget x threads CPU seconds."""
    options = dict(num_chains=args.chains, num_threads=args.threads, seed=seed)
    if args.clock == "wall":
        start = time.perf_counter()
        result = iterated_local_search(tsp, time_limit=budget, **options)
        assert time.perf_counter() - start < 1.1 * budget + 1.0
        return result
    limit = time.process_time() + budget * args.threads

    def stop(progress):
        return time.process_time() >= limit

    return iterated_local_search(tsp, time_limit=20 * budget, callback=stop, **options)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=["oropt", "lk"])
    parser.add_argument("--scale", type=float, default=1.0, help="budget factor")
    parser.add_argument(
        "--budget", type=float, default=None, help="one budget for every instance"
    )
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu (default): stop after budget x threads CPU seconds of this "
        "process (fair on a shared machine); wall: time_limit = budget",
    )
    args = parser.parse_args(argv)
    print(
        f"# {os.cpu_count()} CPUs, {args.chains} chains, {args.threads} threads, "
        f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
        f"{args.clock} clock; gap % per seed, mean ± its standard error"
    )
    print(
        f"{'instance':<12}{'T s':>6}  {'variant':<14}{'gaps %':<28}{'mean %':>8} ± s.e."
    )
    for name, budgets in INSTANCES:
        if args.only and name not in args.only:
            continue
        problems = {}
        for variant in args.variants:
            tsp, reference, _ = _build(name, variant)
            if tsp is None:
                break
            tsp._search_spec()  # candidates and the start tour, off the clock
            problems[variant] = tsp
        if not problems:
            print(f"{name:<12}  (not in {DATA})")
            continue
        for budget in budgets if args.budget is None else (args.budget,):
            budget *= args.scale
            runs: dict = {variant: [] for variant in problems}
            kicks: dict = {variant: [] for variant in problems}
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for variant, tsp in problems.items():
                    result = _run(tsp, budget, args, seed)
                    runs[variant].append(100.0 * (result.objective / reference - 1.0))
                    kicks[variant].append(int(np.sum(result.params["iterations"])))
            for variant, gaps in runs.items():
                text = " ".join(f"{g:6.3f}" for g in gaps)
                rate = np.mean(kicks[variant]) / (budget * args.threads)
                # The standard error of the mean: seeds spread by 0.1-0.3 points
                # at these budgets, so two seeds rarely separate two variants.
                error = np.nan
                if len(gaps) > 1:
                    error = np.std(gaps, ddof=1) / np.sqrt(len(gaps))
                print(
                    f"{name:<12}{budget:>6.0f}  {variant:<14}{text:<28}"
                    f"{np.mean(gaps):>8.3f} ± {error:5.3f}  kicks/CPU s {rate:7.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
