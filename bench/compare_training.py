"""Print the training tables (attention forward + backward, one MHA training step)
against torch.

    python bench/compare_training.py            # the full tables of the README
    python bench/compare_training.py --quick    # n = 1024, float32 only

Same code as ``attnsearch bench training``; torch comes with the ``bench`` extra.
"""

from attnsearch.benchmarks.training import main

if __name__ == "__main__":
    raise SystemExit(main())
