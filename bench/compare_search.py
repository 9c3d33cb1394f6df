"""Print the local-search comparison table (dwave-samplers, simanneal, python-tsp,
elkai).

    python bench/compare_search.py            # the full table of the closing notes
    python bench/compare_search.py --quick    # a smaller run

Same code as ``attnsearch bench search``; the peers come with the ``bench`` extra.
Reads ../shared/data (TSPLIB, G-set) when present, generates instances otherwise.
"""

from attnsearch.benchmarks.search import main

if __name__ == "__main__":
    raise SystemExit(main())
