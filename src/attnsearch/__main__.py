"""Command line: ``attnsearch`` / ``python -m attnsearch``.

attnsearch demo                   a short tour (checks itself against the references)
attnsearch bench attention        the attention comparison table (bench/)
"""

from __future__ import annotations

import argparse
import sys


def _demo(args):
    from .demo import run_demo

    return run_demo(quick=args.quick)


def _bench(args):
    if args.what == "attention":
        from .benchmarks.attention import main as bench_main

        return bench_main(args.rest)
    if args.what == "search":
        from .benchmarks.search import main as bench_main

        return bench_main(args.rest)
    print(f"attnsearch: unknown benchmark {args.what!r}", file=sys.stderr)
    return 2


def build_parser():
    parser = argparse.ArgumentParser(
        prog="attnsearch",
        description="Fused CPU attention and compiled local search.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short tour of the package (seconds)")
    demo.add_argument("--quick", action="store_true", help="smaller sizes")
    demo.set_defaults(func=_demo)
    bench = sub.add_parser("bench", help="print a comparison table against the peers")
    bench.add_argument("what", choices=["attention", "search"])
    bench.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        help="options of the table (--quick, --threads N, ...)",
    )
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("attnsearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
