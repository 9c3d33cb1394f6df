"""``minimize(method="auto")`` alone on the suite of ``attnsearch bench minimize``,
for settings of its late phase: which shares of the budget to give it.

    python bench/minimize_shares.py                          # the defaults
    python bench/minimize_shares.py --late-share 0.3 --hop-share 0.7 --jobs 2
    python bench/minimize_shares.py --late-share 0 --functions griewank-10

Same harness as ``attnsearch bench minimize --full`` (``_global_suite``: the
same Python functions, budget ``2000 d + 5000``, success criterion and seeds
0..4), without SciPy's optimisers, the runs spread over ``--jobs`` processes.
Prints successes per function (and the best values) and the total.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time
from typing import Any


def _one(job: tuple[str, int, dict[str, Any]]) -> tuple[str, int, bool, float]:
    from threadpoolctl import threadpool_limits

    from attnsearch.search import _global_suite as suite

    label, seed, options = job
    problem = next(p for p in suite.SUITE if p.label == label)

    def ours(fun: Any, seed: int) -> Any:
        return suite.SOLVERS["minimize"](fun, seed, **options)

    with threadpool_limits(1, user_api="blas"):
        out = suite.run_one(ours, problem, seed, suite.budget_for(problem.dim))
    return label, seed, out.success, out.best


def main() -> None:
    from attnsearch.search import _global_suite as suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--late-share", type=float, default=None)
    parser.add_argument("--hop-share", type=float, default=None)
    parser.add_argument("--functions", default=None, help="comma-separated labels")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    options = {
        name: value
        for name, value in (
            ("late_share", args.late_share),
            ("hop_share", args.hop_share),
        )
        if value is not None
    }
    labels = (
        args.functions.split(",") if args.functions else [p.label for p in suite.SUITE]
    )
    jobs = [(label, seed, options) for label in labels for seed in range(args.seeds)]
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_one, jobs))
    total = 0
    print(f"minimize(method='auto', {options or 'defaults'}), seeds 0-{args.seeds - 1}")
    for label in labels:
        runs = [r for r in results if r[0] == label]
        wins = sum(r[2] for r in runs)
        total += wins
        values = " ".join(f"{r[3]:.3g}" for r in runs)
        print(f"{label:>18}  {wins}/{len(runs)}  {values}")
    seconds = time.perf_counter() - start
    print(f"{'successes':>18}  {total}/{len(results)}  ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
