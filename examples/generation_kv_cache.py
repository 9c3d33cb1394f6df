"""Token-by-token generation with a grouped-query layer and a KV cache
===================================================================

A Llama-shaped attention layer (32 query heads sharing 8 key/value heads) is fed
a prompt, then one position at a time through ``layer(x, cache=cache)``. Each
step projects the new position, appends its keys and values to the cache and
attends to everything cached; the outputs equal the rows of one causal forward
over the whole sequence. Then a sliding-window layer does the same with a ring
cache that only ever holds the window.

    python examples/generation_kv_cache.py
"""

import time

import numpy as np
from _common import SMALL

from attnsearch.attention import MultiHeadAttention

rng = np.random.default_rng(0)
d_model, heads, kv_heads = (256, 8, 2) if SMALL else (4096, 32, 8)
n_prompt, n_new = (48, 16) if SMALL else (2000, 64)

layer = MultiHeadAttention(d_model, heads, n_kv_heads=kv_heads, bias=False, seed=0)
sequence = rng.standard_normal((1, n_prompt + n_new, d_model), dtype=np.float32)
cache = layer.new_cache(batch=1, capacity=n_prompt + n_new)
print(f"{layer}\n{cache}  ({cache.nbytes / 2**20:.1f} MiB preallocated)")

start = time.perf_counter()
outputs = [layer(sequence[:, :n_prompt], cache=cache)]  # prefill
prefill = time.perf_counter() - start
start = time.perf_counter()
for i in range(n_prompt, n_prompt + n_new):  # decode: one position per call
    outputs.append(layer(sequence[:, i : i + 1], cache=cache))
per_step = (time.perf_counter() - start) / n_new
print(
    f"prefill of {n_prompt} positions: {prefill * 1e3:.1f} ms; "
    f"{n_new} decode steps: {per_step * 1e3:.2f} ms each (cache of {cache.length})"
)

full = layer(sequence, causal=True)
difference = np.abs(np.concatenate(outputs, axis=1) - full).max()
print(f"cached steps vs one causal forward: max |diff| {difference:.1e}")
assert difference < 1e-5

# A sliding window of 16 positions with a ring cache of 24: the cache never grows.
window = MultiHeadAttention(d_model, heads, n_kv_heads=kv_heads, window=16, seed=1)
ring = window.new_cache(batch=1, capacity=24, ring=True)
steps = [window(sequence[:, i : i + 1], cache=ring) for i in range(n_prompt)]
want = window(sequence[:, :n_prompt], causal=True)
difference = np.abs(np.concatenate(steps, axis=1) - want).max()
print(
    f"window 16, ring cache of {ring.capacity} after {ring.position} positions: "
    f"holds {ring.length}; max |diff| vs the full forward {difference:.1e}"
)
assert difference < 1e-5
