"""The peer-comparison tables, one entry point:

    python bench/compare.py attention [--quick] [--threads N] ...
    python bench/compare.py decode | search | tsp | ecosystem | training [options]
    python bench/compare.py TABLE --help

Each table compares attnsearch with its peers in the same process and prints
ratios against them; the peers come with ``pip install -e ".[bench]"``. The
first line names the CPU and the kernel variants the dispatch chose
(``ATTNSEARCH_CPU_TARGET=avx2`` compares a lower target on the same machine).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

TABLES = ("attention", "decode", "search", "tsp", "ecosystem", "training")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TABLES:
        print(__doc__.strip(), file=sys.stderr)
        print(f"\ntables: {', '.join(TABLES)}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers.harness import machine_line

    table = importlib.import_module(f"peers.{argv[0]}")
    print(machine_line(), flush=True)
    return table.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
