"""attnsearch: fused CPU attention and compiled local search on NumPy arrays.

Two halves share one build (Cython kernels, OpenMP threads, a NumPy/Python
reference beside every kernel):

* :mod:`attnsearch.attention` -- ``scaled_dot_product_attention``,
  ``AttentionHead``, ``MultiHeadAttention``.
* :mod:`attnsearch.search` -- local search (hill climbing, annealing, ...).
"""

from ._threading import effective_n_threads, openmp_enabled

__version__ = "0.1.0"

__all__ = ["__version__", "effective_n_threads", "openmp_enabled"]
