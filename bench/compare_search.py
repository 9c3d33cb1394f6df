"""Print the local-search comparison table (dwave-samplers, simanneal, python-tsp,
elkai).

    python bench/compare_search.py            # the full table of the closing notes
    python bench/compare_search.py --quick    # a smaller run

Same code as ``attnsearch bench search``; the peers come with the ``bench`` extra.
Reads ../shared/data (TSPLIB, G-set) when present, else the shipped instances.
"""

import sys
from pathlib import Path

from attnsearch.benchmarks.search import main

# In the developers' tree the full instances lie in ../shared/data; an installed
# copy (`attnsearch bench search`) uses --data or the shipped small instances.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--data" not in argv and SHARED.is_dir():
        argv += ["--data", str(SHARED)]
    raise SystemExit(main(argv))
