"""The peer-comparison tables: attnsearch against torch, NumPy, dwave-samplers,
simanneal, pyswarms, SciPy, fast-tsp and elkai (LKH-3) on this machine.

Not part of the package: they need the peers (``pip install -e ".[bench]"``)
and, for the large instances, a folder with the full TSPLIB and G-set
collections (``--data``/``$ATTNSEARCH_DATA``, else the developers' data folder,
``../shared/data`` beside the checkout, when it is there; bench/README.md).
Run them through ``bench/compare.py``, which prints the CPU and the kernel
variants the dispatch chose before each table.
Timings are medians of repeated runs in one process, and every figure is
quoted next to a baseline measured in the same run.
"""
