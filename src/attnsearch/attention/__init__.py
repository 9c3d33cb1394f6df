"""Fused scaled dot-product attention on NumPy arrays.

Design overview
---------------
* ``attention.py``: the public function. It validates and converts inputs,
  resolves the broadcast batch shape into per-item element offsets (so broadcast
  axes, grouped-query heads and head-split views are read in place), chooses the
  backend and allocates the output.
* ``_kernels.pyx``: the fused kernel. Tasks = (batch item, block of query rows),
  spread over OpenMP threads; each task streams key blocks through an online
  softmax (float64 row sums) and the register-blocked micro-kernels of
  ``csrc/attnsearch_tiles.h``. Scratch is per thread and O(block_q * block_k).
* ``_reference.py``: the NumPy reference (materialises the scores).
* ``backward.py`` + ``_backward.pyx``: the fused backward pass
  (FlashAttention-2 style: P recomputed per tile from the saved log-sum-exp;
  one task per key/value head, so gradients are bitwise thread-invariant).
* ``optim.py``: ``SGD``, ``Adam``, ``AdamW`` over layers and user arrays.
* ``torch.py``: the kernels as a ``torch.autograd.Function`` (imported only
  on demand: ``import attnsearch.attention.torch``; needs torch).
* ``_decode.pyx`` + ``_decode_path.py``: the decode kernel for short query
  blocks (generation): the query heads of a grouped-query group stacked into
  one row block, the keys split into chunks across threads, the chunks merged
  by their log-sum-exp in a fixed order (csrc/attnsearch_decode.h).
* ``layers.py``: ``AttentionHead`` and ``MultiHeadAttention`` (grouped-query,
  sliding windows, ALiBi, incremental decoding, and backward into
  ``layer.grads``) on top; ``cache.py``: ``KVCache``.

Convention: rows are queries, ``softmax(Q Kᵀ / sqrt(d_k)) V`` (PyTorch's, JAX's
and the FlashAttention papers'); texts that write ``softmax(K Qᵀ / sqrt(d))``,
with keys as rows, describe its transpose.
"""

from .attention import merge_heads, scaled_dot_product_attention, split_heads
from .backward import scaled_dot_product_attention_backward
from .cache import KVCache
from .layers import AttentionHead, MultiHeadAttention, alibi_slopes
from .optim import SGD, Adam, AdamW

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AttentionHead",
    "KVCache",
    "MultiHeadAttention",
    "alibi_slopes",
    "merge_heads",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "split_heads",
]
