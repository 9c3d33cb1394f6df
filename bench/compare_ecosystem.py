"""Print the ecosystem table: Dask overhead per task, dimod samplers against
dwave-samplers, minimize against scipy.optimize.dual_annealing.

    python bench/compare_ecosystem.py            # the table of the closing notes
    python bench/compare_ecosystem.py --quick    # a smaller run

Same code as ``attnsearch bench ecosystem``; needs the ``dask`` and ``dimod``
extras (and ``bench`` for dwave-samplers); missing pieces are skipped.
"""

from attnsearch.benchmarks.ecosystem import main

if __name__ == "__main__":
    raise SystemExit(main())
