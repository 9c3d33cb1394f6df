"""Print the attention comparison table (attnsearch vs NumPy reference vs torch).

    python bench/compare_attention.py            # the full table of the README
    python bench/compare_attention.py --quick    # n in (256, 1024) only

Same code as ``attnsearch bench attention``; torch comes with the ``bench`` extra.
"""

from attnsearch.benchmarks.attention import main

if __name__ == "__main__":
    raise SystemExit(main())
