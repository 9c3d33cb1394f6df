"""The package's Dask entry points under their first name (kept for old imports).

Use :mod:`attnsearch.search.dask` (``solve``: chains as tasks, merged into one
Result) and :mod:`attnsearch.attention.dask` (fused attention over dask arrays).
"""

from .attention.dask import scaled_dot_product_attention
from .search.dask import merge_results, solve
from .search.methods import METHODS

__all__ = ["METHODS", "merge_results", "scaled_dot_product_attention", "solve"]
