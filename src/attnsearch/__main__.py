"""Command line: ``attnsearch`` / ``python -m attnsearch``.

    attnsearch info                 CPU features and the kernels chosen for this CPU
    attnsearch demo                 a short tour (checks itself against the references)
    attnsearch solve tsp FILE.tsp   solve a problem file (tsp, maxcut, qubo, continuous)
    attnsearch bench attention      the attention comparison table (bench/)
    attnsearch bench decode         generation: decode attention, a GQA step, windows
    attnsearch bench search         the local search comparison table
    attnsearch bench tsp            the TSP scale table (fast-tsp, elkai)
    attnsearch bench ecosystem      Dask, dimod and SciPy comparisons
    attnsearch bench training       attention backward and a training step vs torch

Errors in the user's input (paths, files, options) are one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2, as argparse uses)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _demo(args):
    from .demo import run_demo

    return run_demo(quick=args.quick)


def _info(args):
    from ._dispatch import show_config

    show_config()
    return 0


def _bench(args):
    if args.what == "attention":
        from .benchmarks.attention import main as bench_main
    elif args.what == "decode":
        from .benchmarks.decode import main as bench_main
    elif args.what == "search":
        from .benchmarks.search import main as bench_main
    elif args.what == "training":
        from .benchmarks.training import main as bench_main
    elif args.what == "tsp":
        from .benchmarks.tsp import main as bench_main
    else:
        from .benchmarks.ecosystem import main as bench_main
    return bench_main(args.rest)


def _solve(args):
    from .cli import run_solve

    return run_solve(args)


def build_parser():
    parser = _Parser(
        prog="attnsearch",
        description="Fused CPU attention and compiled local search.",
    )
    from . import __version__

    parser.add_argument(
        "--version", action="version", version=f"attnsearch {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser(
        "info", help="CPU features and the kernels chosen for this CPU"
    )
    info.set_defaults(func=_info)
    demo = sub.add_parser("demo", help="a short tour of the package (seconds)")
    demo.add_argument("--quick", action="store_true", help="smaller sizes")
    demo.set_defaults(func=_demo)
    from .cli import add_solve_parser

    add_solve_parser(sub).set_defaults(func=_solve)
    bench = sub.add_parser("bench", help="print a comparison table against the peers")
    bench.add_argument(
        "what",
        choices=["attention", "decode", "search", "tsp", "ecosystem", "training"],
    )
    bench.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        help="options of the table (--quick, --threads N, ...)",
    )
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None):
    from .cli import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, MemoryError) as error:
        # MemoryError: a size the user asked for that cannot fit (the message
        # says what it needs); never a traceback for the user's own input.
        print(f"attnsearch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnsearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
