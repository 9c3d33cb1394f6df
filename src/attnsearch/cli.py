"""``attnsearch solve ...``: solve a problem file from the command line.

    attnsearch solve tsp FILE.tsp [--method ils|anneal|hill|stochastic|tabu|pt] ...
    attnsearch solve maxcut FILE            (G-set format; parallel tempering)
    attnsearch solve qubo FILE              (.npz with Q, or "i j value" lines)
    attnsearch solve continuous NAME --dim D
                     [--method auto|pso|anneal|hill|stochastic|tabu|pt|ils]

``--method`` takes the short names of ``attnsearch.search.methods.METHODS``;
every method but the particle swarm (``pso``, continuous problems only) solves
every kind of problem. A continuous function's default, ``auto``, is
``minimize``'s default (``attnsearch.search._global``: generalised annealing
with L-BFGS-B descents, one search, ``2000 d + 5000`` evaluations unless
``--time-limit`` is given).

Human-readable output by default, ``--json`` for machines. Bad paths, malformed
files and bad options give one line on stderr and exit code 2.

The result is compared with a reference value when one is known: a proven
optimum (a TSPLIB ``.opt.tour`` beside the file, a benchmark function's
minimum), the user's ``--optimum`` (taken as given), or a best-known value that
is not proven (a G-set ``best_known.tsv`` beside the file). The gap is signed:
positive when the result falls short of the reference, negative when it is
better, and the result line then says so.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    import argparse

    from .search import QUBO, TSP, Continuous, MaxCut, Result
    from .search._typing import StrPath

    #: What ``attnsearch solve`` solves (the kind is ``args.kind``).
    CliProblem: TypeAlias = TSP | MaxCut | QUBO | Continuous
    _ParserT = TypeVar("_ParserT", bound=argparse.ArgumentParser)

__all__ = ["SOLVE_HELP", "add_solve_parser", "run_solve", "signed_gap"]


class UsageError(Exception):
    """A problem with the user's input: reported in one line, exit code 2."""


#: Kinds whose objective is maximised (the others are minimised).
_MAXIMISED = frozenset({"maxcut"})
#: What a reference value is: proven, the user's, or the best known so far.
OPTIMUM, GIVEN, BEST_KNOWN = "optimum", "given optimum", "best known"

#: A reference value and its kind (one of the three above).
Reference: TypeAlias = tuple[float, str]


def signed_gap(objective: float, reference: float, maximise: bool) -> float | None:
    """The gap in percent of ``objective`` to ``reference``: positive when the
    objective falls short of it, negative when it is better (None when the
    reference is 0)."""
    if reference == 0:
        return None
    shortfall = reference - objective if maximise else objective - reference
    return 100.0 * shortfall / abs(reference)


def _best_known(path: StrPath) -> float | None:
    """Best-known value of a G-set graph from a best_known.tsv beside the file."""
    table = Path(path).with_name("best_known.tsv")
    if not table.is_file():
        return None
    name = Path(path).stem
    for line in table.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if fields and fields[0] == name and len(fields) >= 4:
            try:
                return float(fields[3])
            except ValueError:
                return None
    return None


#: ``--method`` of a continuous function that runs ``minimize(method="auto")``.
AUTO = "auto"


#: The line of ``attnsearch --help`` that lists ``solve``.
SOLVE_HELP = "solve a TSP, max-cut, QUBO or continuous problem"


def add_solve_parser(
    subparsers: argparse._SubParsersAction[_ParserT],
) -> _ParserT:
    solve = subparsers.add_parser("solve", help=SOLVE_HELP)
    kinds = solve.add_subparsers(dest="kind", required=True)

    def common(
        parser: argparse.ArgumentParser, methods: list[str], default: str
    ) -> None:
        parser.add_argument("--method", choices=methods, default=default)
        parser.add_argument(
            "--time-limit",
            type=float,
            default=None,
            metavar="S",
            help="seconds (default: the method's own budget)",
        )
        parser.add_argument(
            "--chains",
            type=int,
            default=None,
            metavar="N",
            help="independent chains / swarms (default 2; auto runs one search)",
        )
        parser.add_argument("--threads", type=int, default=None, metavar="T")
        parser.add_argument("--seed", type=int, default=0, metavar="S")
        parser.add_argument(
            "--optimum",
            type=float,
            default=None,
            help="known optimum, to report the gap (taken as given)",
        )
        parser.add_argument(
            "--out",
            default=None,
            metavar="FILE",
            help="write the best solution to FILE",
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object instead of text"
        )
        bar = parser.add_mutually_exclusive_group()
        bar.add_argument(
            "--progress",
            dest="progress",
            action="store_true",
            default=None,
            help="show a progress bar",
        )
        bar.add_argument("--no-progress", dest="progress", action="store_false")

    from .search.methods import METHODS

    # The particle swarm moves points through a box: continuous problems only.
    swarm = [short for short, full in METHODS.items() if full == "particle_swarm"]
    local = [short for short in METHODS if short not in swarm]
    tsp = kinds.add_parser("tsp", help="a TSPLIB .tsp file")
    tsp.add_argument("file")
    # Iterated local search over candidate lists: what the strongest TSP
    # heuristics do (2-opt + Or-opt + 3-opt + the Lin-Kernighan step,
    # segment-local double bridges).
    common(tsp, ["ils"] + [short for short in local if short != "ils"], "ils")
    tsp.add_argument(
        "--moves",
        default=None,
        metavar="KINDS",
        help="comma-separated move kinds (default 2opt,oropt,3opt,lk; "
        "2opt,oropt,3opt: the descent without the Lin-Kernighan step)",
    )
    tsp.add_argument(
        "--partition",
        default="auto",
        metavar="CITIES",
        help="ils: tour partitioning, segments of CITIES cities searched in "
        "parallel ('auto', the default: on for large instances; 'off')",
    )
    tsp.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="draw the tour into PNG (needs matplotlib)",
    )
    maxcut = kinds.add_parser("maxcut", help="a G-set graph file")
    maxcut.add_argument("file")
    # Parallel tempering (cluster moves on lattice-like graphs): the only method
    # at >= 99.8 % of the best known cut on every G-set graph shipped in 10 s.
    common(maxcut, local, "pt")
    maxcut.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="draw the cut (small graphs; needs matplotlib)",
    )
    qubo = kinds.add_parser(
        "qubo", help=".npz with Q (and offset), or 'i j value' lines"
    )
    qubo.add_argument("file")
    common(qubo, local, "tabu")
    continuous = kinds.add_parser("continuous", help="a built-in benchmark function")
    continuous.add_argument("name")
    continuous.add_argument("--dim", type=int, required=True)
    # minimize's default: the method measured best on a suite of 35 standard
    # functions at equal evaluations (bench/README.md, minimize defaults).
    common(continuous, [AUTO] + swarm + local, AUTO)
    return solve


def _load(args: argparse.Namespace) -> tuple[CliProblem, str, Reference | None]:
    """``(problem, label, reference)``: ``reference`` is ``(value, kind)`` with
    kind OPTIMUM (a TSPLIB optimal tour, a benchmark function's minimum) or
    BEST_KNOWN (a G-set table), or None."""
    from .search import TSP, Continuous, MaxCut
    from .search.problems.ising import read_qubo

    problem: CliProblem

    if args.kind == "continuous":
        try:
            problem = Continuous.builtin(args.name, dim=args.dim)
        except (ValueError, MemoryError) as error:
            raise UsageError(str(error)) from None
        label = f"{args.name} in {args.dim} dimensions"
        return problem, label, _reference(problem.minimum, OPTIMUM)
    path = Path(args.file)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    try:
        if args.kind == "tsp":
            moves = None if args.moves is None else args.moves.split(",")
            problem = TSP.from_tsplib(path, moves=moves)
            label = f"{problem.name} ({problem.n} cities, {problem.metric})"
            # The length of the .opt.tour beside the file: a proven optimum.
            return problem, label, _reference(problem.optimum, OPTIMUM)
        if args.kind == "maxcut":
            problem = MaxCut.from_gset(path)
            label = f"{path.stem} ({problem.n} vertices, {len(problem.weights)} edges)"
            # Published best cuts (Benlic & Hao's table): not proven optimal.
            return problem, label, _reference(_best_known(path), BEST_KNOWN)
        problem = read_qubo(path)
        return problem, f"{path.name} ({problem.n} variables)", None
    except (ValueError, OSError, KeyError, MemoryError) as error:
        raise UsageError(str(error)) from None


def _reference(value: float | None, kind: str) -> Reference | None:
    return None if value is None else (float(value), kind)


def _reference_text(
    objective: float, reference: Reference, gap: float | None, maximise: bool
) -> str:
    """The parenthesis of the result line: the reference, the signed gap, and
    whether the result is better than the reference."""
    value, kind = reference
    text = f"   ({BEST_KNOWN if kind == BEST_KNOWN else OPTIMUM} {value:.10g}"
    if gap is not None:
        text += f", gap {gap:+.2f} %" if objective != value else ", gap 0.00 %"
    better = objective > value if maximise else objective < value
    if better:
        text += {
            BEST_KNOWN: ": better than the best known",
            GIVEN: ": better than the given optimum",
            OPTIMUM: ": better than the stated optimum",
        }[kind]
    return text + ")"


@dataclass
class _Minimized:
    """What ``attnsearch solve`` reports of ``minimize(method="auto")``: the
    fields of a ``Result`` that the output reads."""

    objective: float
    best_state: np.ndarray
    elapsed: float
    n_evaluations: int
    stop_reason: str
    params: dict[str, Any]


def _minimize_auto(
    problem: Continuous, args: argparse.Namespace, progress: bool
) -> _Minimized:
    """``minimize(NAME, bounds, method="auto")`` on the built-in function; a
    Ctrl-C ends it with the best point that the callback last saw."""
    import time

    from .search import minimize
    from .search._global import default_maxfev

    name = getattr(problem, "builtin_name", None) or args.name
    bounds = list(zip(problem.lower.tolist(), problem.upper.tolist(), strict=True))
    total = None if args.time_limit is not None else default_maxfev(problem.dim)
    seen: dict[str, Any] = {}
    bar = None
    if progress:
        from ._progress import ProgressBar

        bar = ProgressBar(total, "minimize", unit="evaluations")

    def watch(intermediate_result: Any) -> None:
        seen["x"] = np.array(intermediate_result.x, dtype=np.float64)
        seen["fun"] = float(intermediate_result.fun)
        seen["nfev"] = int(intermediate_result.nfev)
        if bar is not None:
            bar.update(seen["nfev"], best=seen["fun"])

    start = time.perf_counter()
    try:
        res = minimize(
            name,
            bounds,
            method="auto",
            seed=args.seed,
            time_limit=args.time_limit,
            callback=watch,
        )
    except KeyboardInterrupt:
        if "x" not in seen:
            raise
        return _Minimized(
            seen["fun"],
            seen["x"],
            time.perf_counter() - start,
            seen["nfev"],
            "interrupted",
            {"num_threads": 1},
        )
    finally:
        if bar is not None:
            bar.close()
    return _Minimized(
        float(res.fun),
        np.asarray(res.x, dtype=np.float64),
        time.perf_counter() - start,
        int(res.nfev),
        str(res.stop_reason),
        {"num_threads": 1},
    )


def _write_solution(
    args: argparse.Namespace, problem: CliProblem, result: Result | _Minimized
) -> None:
    state = np.asarray(result.best_state)
    path = Path(args.out)
    if args.kind == "tsp":
        name = getattr(problem, "name", None) or "tour"
        lines = [
            f"NAME : {name}.tour",
            "TYPE : TOUR",
            f"COMMENT : length {result.objective:.12g} (attnsearch)",
            f"DIMENSION : {len(state)}",
            "TOUR_SECTION",
        ]
        lines += [str(int(city) + 1) for city in state] + ["-1", "EOF"]
        path.write_text("\n".join(lines) + "\n")
    elif args.kind == "maxcut":
        path.write_text(",".join(str(int(s)) for s in state) + "\n")
    else:
        np.savetxt(
            path,
            state.reshape(1, -1),
            fmt="%.17g" if state.dtype.kind == "f" else "%d",
            delimiter=" ",
        )


def _rate_text(rate: float, auto: bool) -> str:
    """Millions a second for the compiled methods, thousands for minimize's
    default (a Python loop around the function: ~10^4 a second)."""
    if auto:
        return f"{rate / 1e3:.1f} k"
    return f"{rate / 1e6:.1f} M"


def _finite_or_none(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def _strict_json(record: dict[str, Any]) -> str:
    """Standard JSON (no NaN/Infinity tokens): non-finite numbers become null."""
    return json.dumps(_finite_or_none(record), allow_nan=False)


def run_solve(args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    """Run ``attnsearch solve`` for parsed ``args``; return the exit code."""
    from . import search
    from ._validation import INT64_MAX, check_bool, check_int
    from .search.methods import METHODS

    auto = args.method == AUTO
    if args.chains is None:
        args.chains = 1 if auto else 2
    try:
        check_int(args.chains, "--chains")
        check_int(args.threads, "--threads", minimum=-INT64_MAX, allow_none=True)
        check_bool(args.json, "--json")
        if args.progress is not None:
            check_bool(args.progress, "--progress")
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    if args.time_limit is not None and not (
        math.isfinite(args.time_limit) and args.time_limit > 0
    ):
        raise UsageError("--time-limit must be a positive number of seconds")
    if args.threads == 0:
        raise UsageError("--threads must not be 0")
    if args.optimum is not None and not math.isfinite(args.optimum):
        raise UsageError("--optimum must be a finite number")
    if auto and args.chains != 1:
        raise UsageError(
            "--method auto runs one search (--chains 1); pick another method "
            "for several chains"
        )
    problem, label, reference = _load(args)
    if args.optimum is not None:
        reference = (float(args.optimum), GIVEN)
    method_name = "minimize" if auto else METHODS[args.method]
    progress = args.progress
    if progress is None:
        progress = sys.stderr.isatty() and not args.json
    options: dict[str, Any] = {}
    partition = getattr(args, "partition", "auto")
    if partition != "auto":
        if method_name != "iterated_local_search":
            raise UsageError("--partition applies to --method ils")
        if partition == "off":
            options["partition"] = None
        else:
            try:
                options["partition"] = int(partition)
            except ValueError:
                raise UsageError(
                    "--partition must be 'auto', 'off' or a number of cities, "
                    f"got {partition!r}"
                ) from None
    result: Result | _Minimized
    try:
        if auto:
            result = _minimize_auto(cast("Continuous", problem), args, progress)
        else:
            method = getattr(search, method_name)
            result = method(
                problem,
                num_chains=args.chains,
                time_limit=args.time_limit,
                seed=args.seed,
                num_threads=args.threads,
                progress=progress,
                **options,
            )
    except (ValueError, TypeError, MemoryError) as error:
        raise UsageError(str(error)) from None
    objective = float(result.objective)
    maximise = args.kind in _MAXIMISED
    gap = None
    if reference is not None:
        gap = signed_gap(objective, reference[0], maximise)
    rate = result.n_evaluations / result.elapsed if result.elapsed > 0 else float("nan")
    if args.out:
        try:
            _write_solution(args, problem, result)
        except OSError as error:
            raise UsageError(f"cannot write {args.out}: {error}") from None
    if getattr(args, "plot", None):
        from . import plot

        try:
            import matplotlib

            matplotlib.use("Agg")
            figure = (
                plot.tour(cast("TSP", problem), result.best_state)
                if args.kind == "tsp"
                else plot.cut(cast("MaxCut", problem), result.best_state)
            )
            figure.savefig(args.plot)
        except ImportError as error:
            raise UsageError(str(error)) from None
        except (ValueError, OSError) as error:
            raise UsageError(f"cannot draw {args.plot}: {error}") from None
    names = {
        "tsp": "tour length",
        "maxcut": "cut",
        "qubo": "energy",
        "continuous": "value",
    }
    if args.json:
        out(
            _strict_json(
                {
                    "problem": label,
                    "kind": args.kind,
                    "method": method_name,
                    "objective": objective,
                    # A proven optimum or the user's; a best-known value is
                    # not one. The gap is signed: < 0 is better than it.
                    "optimum": (
                        None
                        if reference is None or reference[1] == BEST_KNOWN
                        else reference[0]
                    ),
                    "best_known": (
                        reference[0]
                        if reference is not None and reference[1] == BEST_KNOWN
                        else None
                    ),
                    "reference": None if reference is None else reference[1],
                    "gap_percent": gap,
                    "best_state": np.asarray(result.best_state).tolist(),
                    "seconds": result.elapsed,
                    "n_evaluations": result.n_evaluations,
                    "evaluations_per_second": rate,
                    "stop_reason": result.stop_reason,
                    "chains": args.chains,
                    "threads": result.params.get("num_threads"),
                    "seed": args.seed,
                }
            )
        )
        return 0
    out(f"{'problem':<12}{label}")
    if auto:
        out(
            f"{'method':<12}minimize(method='auto') (generalised annealing + "
            f"L-BFGS-B, one search, seed {args.seed})"
        )
    else:
        out(
            f"{'method':<12}{method_name} ({args.chains} chains, "
            f"{result.params.get('num_threads')} threads, seed {args.seed})"
        )
    line = f"{names[args.kind]:<12}{objective:.10g}"
    if reference is not None:
        line += _reference_text(objective, reference, gap, maximise)
    out(line)
    out(
        f"{'time':<12}{result.elapsed:.2f} s, {_rate_text(rate, auto)} evaluations/s, "
        f"stopped by {result.stop_reason}"
    )
    if args.out:
        out(f"{'solution':<12}written to {args.out}")
    if getattr(args, "plot", None):
        out(f"{'picture':<12}written to {args.plot}")
    return 0
