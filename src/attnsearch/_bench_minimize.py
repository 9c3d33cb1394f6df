"""``attnsearch bench minimize``: ``minimize``'s default against SciPy's global
optimisers with their default arguments, at equal evaluation counts.

The suite and the harness are ``attnsearch.search._global_suite``: every solver
gets ``2000 d + 5000`` evaluations of the same Python function (a counting
wrapper stops it there), and a run succeeds when the best value it evaluated is
within ``1e-4 (1 + |f*|)`` of the known minimum. BLAS is limited to one thread
for every solver alike (L-BFGS-B's small BLAS calls are slower threaded on a
busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from ._bench import format_table


def _cell(runs: Sequence[object]) -> str:
    ok = [r for r in runs if r.success]  # type: ignore[attr-defined]
    text = f"{len(ok)}/{len(runs)}"
    if ok:
        text += f" {statistics.median(r.success_at for r in ok):>6.0f}"  # type: ignore[attr-defined]
    else:
        text += "      -"
    return text


def run(
    labels: Sequence[str] | None, seeds: Sequence[int], solvers: Sequence[str]
) -> str:
    """The table: per function, per solver, successes / runs, the median
    evaluations to success; the totals and the median seconds per run."""
    from threadpoolctl import threadpool_limits

    from .search import _global_suite as suite

    problems = [p for p in suite.SUITE if labels is None or p.label in labels]
    chosen = {name: suite.SOLVERS[name] for name in solvers}
    rows: list[list[object]] = []
    totals = dict.fromkeys(chosen, 0)
    counted = dict.fromkeys(chosen, 0)
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    started = time.perf_counter()
    with threadpool_limits(1, user_api="blas"):
        for problem in problems:
            row: list[object] = [problem.label, suite.budget_for(problem.dim)]
            for name, solver in chosen.items():
                if not suite.runs_on(name, problem):
                    row.append("n/a")
                    continue
                runs = [
                    suite.run_one(solver, problem, seed, suite.budget_for(problem.dim))
                    for seed in seeds
                ]
                totals[name] += sum(r.success for r in runs)
                counted[name] += len(runs)
                seconds[name] += [r.seconds for r in runs]
                row.append(_cell(runs))
            rows.append(row)
    total_row: list[object] = ["successes", ""]
    total_row += [f"{totals[n]}/{counted[n]}" for n in chosen]
    time_row: list[object] = ["median s/run", ""]
    time_row += [
        f"{statistics.median(seconds[n]):.2f}" if seconds[n] else "-" for n in chosen
    ]
    rows += [total_row, time_row]
    headers = ["function-d", "budget"] + list(chosen)
    return (
        f"minimize (method='auto', defaults) against SciPy at equal evaluations: "
        f"successes / {len(seeds)} seeds and median evaluations to success "
        f"(|f - f*| <= 1e-4 (1 + |f*|)); {time.perf_counter() - started:.0f} s\n"
        + format_table(headers, rows)
        + f"\n(n/a: shgo's simplicial sampling above {suite.SHGO_MAX_DIM} dimensions "
        "needs more memory than this machine has)"
    )


def main(argv: Sequence[str]) -> int:
    """Entry point of ``attnsearch bench minimize``."""
    from .search import _global_suite as suite

    parser = argparse.ArgumentParser(
        prog="attnsearch bench minimize",
        description="minimize's default against SciPy's dual_annealing, "
        "differential_evolution, shgo and basinhopping at equal evaluations.",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"all {len(suite.SUITE)} functions and 5 seeds (default: "
        f"{', '.join(suite.QUICK)}, 3 seeds; about a minute)",
    )
    parser.add_argument(
        "--functions", default=None, help="comma-separated labels, e.g. rastrigin-10"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1")
    parser.add_argument(
        "--solvers",
        default=",".join(suite.SOLVERS),
        help=f"comma-separated, from {', '.join(suite.SOLVERS)}",
    )
    args = parser.parse_args(argv)
    known = {p.label for p in suite.SUITE}
    if args.functions is not None:
        labels: list[str] | None = args.functions.split(",")
        unknown = sorted(set(labels or ()) - known)
        if unknown:
            choices = ", ".join(sorted(known))
            parser.error(f"unknown function {unknown[0]!r}; choose from {choices}")
    else:
        labels = None if args.full else list(suite.QUICK)
    solvers = args.solvers.split(",")
    bad = [s for s in solvers if s not in suite.SOLVERS]
    if bad:
        parser.error(
            f"unknown solver {bad[0]!r}; choose from {', '.join(suite.SOLVERS)}"
        )
    n_seeds = args.seeds if args.seeds is not None else (5 if args.full else 3)
    if n_seeds < 1:
        parser.error("--seeds must be at least 1")
    print(run(labels, range(n_seeds), solvers), flush=True)
    return 0
