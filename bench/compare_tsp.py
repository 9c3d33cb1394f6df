"""Print the TSP scale table: attnsearch (iterated local search, annealing, hill
climbing) against fast-tsp and elkai (LKH-3) on TSPLIB instances up to 33 810
cities and 200 000 random uniform cities.

    python bench/compare_tsp.py                  # the full table (~15 minutes)
    python bench/compare_tsp.py --only pr2392    # one instance
    python bench/compare_tsp.py --quick          # pcb442 and pr2392, short budgets

Same code as ``attnsearch bench tsp``; the peers come with the ``bench`` extra.
Reads ../shared/data (TSPLIB) when present, else the shipped instances.
"""

import sys
from pathlib import Path

from attnsearch.benchmarks.tsp import main

# In the developers' tree the full instances lie in ../shared/data; an installed
# copy (`attnsearch bench tsp`) uses --data or the shipped small instances.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--data" not in argv and SHARED.is_dir():
        argv += ["--data", str(SHARED)]
    raise SystemExit(main(argv))
