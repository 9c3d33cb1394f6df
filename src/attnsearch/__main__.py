"""Command line: ``attnsearch`` / ``python -m attnsearch``.

    attnsearch info                 CPU features and the kernels chosen for this CPU
    attnsearch demo                 a short tour (checks itself against the references)
    attnsearch solve tsp FILE.tsp   solve a problem file (tsp, maxcut, qubo, continuous)
    attnsearch bench [SECTION ...]  this machine's kernels against the baseline
                                    kernels, NumPy and torch (the peer tables: bench/)
    attnsearch bench minimize       minimize's default against SciPy's global
                                    optimisers at equal evaluations (--full: all)

Errors in the user's input (paths, files, options) are one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2, as argparse uses)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(quick=args.quick)


def _info(args: argparse.Namespace) -> int:
    from ._dispatch import show_config

    show_config()
    return 0


def _solve(args: argparse.Namespace) -> int:
    from .cli import run_solve

    return run_solve(args)


def build_parser(solve: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; with ``solve=False`` the ``solve`` subcommand is
    only listed. Its own parser takes the method names from the search package,
    whose import would make ``attnsearch --version`` or ``--help`` 4x slower."""
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
    if solve:
        from .cli import add_solve_parser

        add_solve_parser(sub).set_defaults(func=_solve)
    else:
        from .cli import SOLVE_HELP

        sub.add_parser("solve", help=SOLVE_HELP)
    # Listed for --help; main() hands `bench` and its options to _bench.main.
    sub.add_parser(
        "bench", help="this machine's kernels against baselines, NumPy, torch"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .cli import UsageError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from ._bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser(solve=argv[:1] == ["solve"])
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
