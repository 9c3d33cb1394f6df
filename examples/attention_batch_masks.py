"""Attention over a batch of sequences of different lengths, with padding masks
============================================================================

Shows the fused kernel on (batch, heads, n, d) arrays: a per-key padding mask
(True = may attend) combined with causal masking, grouped-query heads, and a
check of every output against the NumPy reference.

    python examples/attention_batch_masks.py
"""

import time

import numpy as np
from _common import SMALL

from attnsearch.attention import scaled_dot_product_attention
from attnsearch.attention._reference import scaled_dot_product_attention as reference

rng = np.random.default_rng(0)
batch, query_heads, kv_heads, n, d = (
    (4, 8, 2, 256, 64) if SMALL else (8, 8, 2, 2048, 64)
)
lengths = rng.integers(n // 2, n + 1, size=batch)  # real tokens per sequence
q = rng.standard_normal((batch, query_heads, n, d), dtype=np.float32)
k = rng.standard_normal((batch, kv_heads, n, d), dtype=np.float32)
v = rng.standard_normal((batch, kv_heads, n, d), dtype=np.float32)

# (batch, 1, 1, n): broadcast over heads and queries without a copy.
may_attend = (np.arange(n)[None, :] < lengths[:, None])[:, None, None, :]

start = time.perf_counter()
out = scaled_dot_product_attention(q, k, v, mask=may_attend, causal=True)
seconds = time.perf_counter() - start
print(
    f"{batch} sequences of up to {n} tokens, {query_heads} query heads on {kv_heads} "
    f"key/value heads: {seconds * 1e3:.1f} ms"
)

# The reference materialises the scores; repeat the shared key/value heads for it.
group = query_heads // kv_heads
want = reference(
    q,
    np.repeat(k, group, axis=1),
    np.repeat(v, group, axis=1),
    mask=may_attend,
    causal=True,
)
error = float(np.abs(out - want).max())
print(f"max |fused - reference| = {error:.2e}")
assert error < 1e-4
