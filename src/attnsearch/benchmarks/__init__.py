"""Benchmark tables printed by ``attnsearch bench`` and the scripts in ``bench/``.

They live in the package (not only in ``bench/``) so that an installed
attnsearch can print them; peers (torch, ...) are optional and skipped with a
note when missing. Timings are medians of repeated runs in one process, and
every figure is quoted next to a baseline measured in the same run.
"""
