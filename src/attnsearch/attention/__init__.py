"""Fused scaled dot-product attention on NumPy arrays.

Design overview
---------------
* ``attention.py``: the public function. It validates and converts inputs,
  resolves the broadcast batch shape, chooses the backend and the kernel
  (tiled or decode) and allocates the output.
* ``_geometry.py``: what the kernels read — ``Operand`` (an array with
  per-item element offsets and strides, so broadcast axes, grouped-query
  heads and head-split views are read in place), ``Visibility`` (causal and
  window bounds), ``AttentionShape``.
* ``_common.pxd``: the kernels' shared declarations (micro-kernels of
  ``csrc/attnsearch_tiles.h`` and their dtype dispatch, mask kinds, operand
  structs, scratch layouts); ``_scratch.py``: their per-thread scratch cache.
* ``_kernels.pyx``: the fused forward. Tasks = (batch item, block of query
  rows), spread over OpenMP threads; each task streams key blocks through an
  online softmax (float64 row sums). Scratch is per thread, O(block_q * block_k).
* ``_decode.pyx`` + ``_decode_path.py``: the decode kernel for short query
  blocks (generation): the query heads of a grouped-query group stacked into
  one row block, the keys split into chunks across threads, the chunks merged
  by their log-sum-exp in a fixed order.
* ``backward.py`` + ``_backward.pyx``: the fused backward pass
  (FlashAttention-2 style: P recomputed per tile from the saved log-sum-exp;
  one task per key/value head, so gradients are bitwise thread-invariant).
* ``_linear.pyx`` (the layers' projections and their gradients) and
  ``_scans.pyx`` (threaded finiteness and magnitude checks).
* ``_reference.py``: the NumPy reference (materialises the scores).
* ``_typing.py``: the type aliases of the signatures (``Array``, ``Window``,
  ``Seed``, ``PreparedMask``).
* The layers: ``_parameters.py`` (named weights, gradients, the interface the
  optimisers of :mod:`attnsearch.optim` use), ``_projections.py``,
  ``head.py`` (``AttentionHead``), ``multihead.py`` (``MultiHeadAttention``:
  grouped-query, sliding windows, ALiBi, incremental decoding, backward),
  ``cache.py`` (``KVCache`` and the layers' cache checks), ``paged_cache.py``
  (``PagedKVCache``: many sequences in one pool of blocks), ``_kv_formats.py``
  (bfloat16/float16/int8 storage), ``_kv_attend.py`` (the caches' ``attend``
  on the decode kernel), ``torch_weights.py``
  (PyTorch state dicts), ``torch.py`` (the kernels as a
  ``torch.autograd.Function``; imported only on demand, needs torch).

Convention: rows are queries, ``softmax(Q Kᵀ / sqrt(d_k)) V`` (PyTorch's, JAX's
and the FlashAttention papers'); texts that write ``softmax(K Qᵀ / sqrt(d))``,
with keys as rows, describe its transpose.
"""

from ..optim import SGD, Adam, AdamW
from .attention import merge_heads, scaled_dot_product_attention, split_heads
from .backward import scaled_dot_product_attention_backward
from .cache import KVCache
from .head import AttentionHead
from .multihead import MultiHeadAttention, alibi_slopes
from .paged_cache import PagedKVCache

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AttentionHead",
    "KVCache",
    "MultiHeadAttention",
    "PagedKVCache",
    "alibi_slopes",
    "merge_heads",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "split_heads",
]
