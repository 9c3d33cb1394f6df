"""Print the generation tables (decode attention, a GQA decode step, sliding windows).

    python bench/compare_decode.py              # the full tables of the README
    python bench/compare_decode.py --quick      # two decode rows only
    python bench/compare_decode.py --threshold  # also the decode/tiled crossover

Same code as ``attnsearch bench decode``; torch comes with the ``bench`` extra.
"""

from attnsearch.benchmarks.decode import main

if __name__ == "__main__":
    raise SystemExit(main())
