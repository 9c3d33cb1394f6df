"""Tabu search on G-set max-cut, without and with the episodes' perturbations.

    PYTHONPATH=src python bench/tabu_gset.py --data DIR [--graphs G15,G43]
        [--seeds 0,1,2,3,4] [--time-limit 5 | --steps 1500000]

For every graph and seed: ``tabu_search`` with 2 chains on 2 threads and its
defaults, once with ``perturb_after=0`` (the walk alone, as before issue 23)
and once with the default perturbations; the best cut of each. ``--time-limit``
gives each run that many wall-clock seconds (on a shared machine the load
decides how many steps that is: the steps per chain are printed); ``--steps``
gives every chain of a graph with n vertices ``steps * 800 / n`` steps (about
the same CPU time per graph), which does not depend on the load. ``DIR`` holds
``G<k>.txt`` files, or a ``gset/`` folder of them; ``QUBO`` in ``--graphs`` is a
random QUBO with fields (600 variables, integer weights, seed 7).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from attnsearch.search import QUBO, MaxCut, tabu_search


def _problem(name: str, folders: list[Path]):
    if name == "QUBO":
        rng = np.random.default_rng(7)
        n = 600
        q = np.zeros((n, n))
        for i, j in rng.integers(0, n, size=(6000, 2)):
            if i != j:
                q[min(i, j), max(i, j)] += rng.integers(-10, 11)
        q[np.diag_indices(n)] = rng.integers(-20, 21, size=n)
        return QUBO(q), n
    for folder in folders:
        path = folder / f"{name}.txt"
        if path.is_file():
            graph = MaxCut.from_gset(path)
            return graph, graph.n
    raise SystemExit(f"{name}.txt not found in {', '.join(map(str, folders))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", action="append", default=[], type=Path)
    parser.add_argument("--graphs", default="G15,G43")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--time-limit", type=float, default=None)
    budget.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    folders = [f for d in args.data for f in (d, d / "gset")]
    seeds = [int(s) for s in args.seeds.split(",")]
    limit = args.time_limit if args.steps is None else None
    if limit is None and args.steps is None:
        limit = 5.0
    for name in args.graphs.split(","):
        problem, n = _problem(name, folders)
        iters = None if args.steps is None else max(1, args.steps * 800 // n)
        print(
            f"{name} (n = {n}), "
            + (f"{limit:g} s" if iters is None else f"{iters} steps per chain")
        )
        for label, options in (("before", {"perturb_after": 0}), ("after", {})):
            cuts, steps = [], []
            start = time.process_time()
            for seed in seeds:
                result = tabu_search(
                    problem,
                    time_limit=limit,
                    max_iters=iters,
                    num_chains=2,
                    num_threads=2,
                    seed=seed,
                    **options,
                )
                cuts.append(f"{result.objective:g}")
                steps.append(int(min(result.params["steps"])))
            cpu = time.process_time() - start
            print(
                f"  {label:6s} cuts {', '.join(cuts)}  (steps per chain "
                f"{min(steps)}-{max(steps)}, CPU {cpu:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
