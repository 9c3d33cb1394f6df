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
* ``layers.py``: ``AttentionHead`` and ``MultiHeadAttention`` on top (forward,
  and backward into ``layer.grads``).
* ``optim.py``: ``SGD``, ``Adam``, ``AdamW`` over layers and user arrays.
* ``torch.py``: the kernels as a ``torch.autograd.Function`` (imported only
  on demand: ``import attnsearch.attention.torch``; needs torch).

Convention: rows are queries, ``softmax(Q Kᵀ / sqrt(d_k)) V``; the source notes'
``softmax(K Qᵀ / sqrt(d))`` is its transpose.
"""

from .attention import merge_heads, scaled_dot_product_attention, split_heads
from .backward import scaled_dot_product_attention_backward
from .layers import AttentionHead, MultiHeadAttention
from .optim import SGD, Adam, AdamW

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AttentionHead",
    "MultiHeadAttention",
    "merge_heads",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "split_heads",
]
