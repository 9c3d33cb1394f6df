"""Decode rows the serving table lacks: no-GQA shapes and a whole layer step.

    python bench/decode_layer.py [--threads 2] [--repeats 15]

Table 1: ``scaled_dot_product_attention`` (default call) on 8 query / 8 kv
heads, d 64, 4096 cached keys, n_q = 1 and n_q = 16, float32, against torch's
``F.scaled_dot_product_attention`` (is_causal bottom-right done with an explicit
mask for n_q = 16).

Table 2: one decode step (one new token per sequence, batch 1) of a
grouped-query layer, d_model 4096, 32 query / 8 kv heads (d_head 128), 4096
cached positions: our ``MultiHeadAttention`` in float32 with a float32 cache
and in bfloat16 with a bfloat16 cache, against the same step in torch (the
four projections as ``nn.Linear``, the new key/value written into a
preallocated cache, ``F.scaled_dot_product_attention(enable_gqa=True)``) in
float32 and bfloat16. Timings: the best of ``--repeats`` interleaved calls;
quote ratios of one run (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from attnsearch.attention import MultiHeadAttention, scaled_dot_product_attention


def _best(variants: dict, repeats: int) -> dict[str, float]:
    for fn in variants.values():
        fn()
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _sdpa_rows(threads: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    print("8/8 heads, d 64, 4096 keys, float32      ours       torch   torch/ours")
    for n_q in (1, 16):
        q = rng.standard_normal((1, 8, n_q, 64)).astype(np.float32)
        k = rng.standard_normal((1, 8, 4096, 64)).astype(np.float32)
        v = rng.standard_normal((1, 8, 4096, 64)).astype(np.float32)
        allowed = np.tril(np.ones((n_q, 4096), bool), k=4096 - n_q)
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        tmask = torch.from_numpy(allowed)
        times = _best(
            {
                "ours": lambda: scaled_dot_product_attention(
                    q, k, v, causal=True, num_threads=threads
                ),
                "torch": lambda: F.scaled_dot_product_attention(
                    tq, tk, tv, attn_mask=tmask
                ),
            },
            repeats,
        )
        print(
            f"  n_q = {n_q:<2} (causal)                 {times['ours'] * 1e3:7.3f} ms "
            f"{times['torch'] * 1e3:7.3f} ms   {times['torch'] / times['ours']:5.2f}x"
        )


class _TorchLayerStep:
    """One decode step of a GQA layer in torch with a preallocated cache."""

    def __init__(self, dtype: torch.dtype, n_cached: int) -> None:
        d, heads, kv, dh = 4096, 32, 8, 128
        self.heads, self.kv, self.dh = heads, kv, dh
        self.q = torch.nn.Linear(d, heads * dh).to(dtype)
        self.k = torch.nn.Linear(d, kv * dh).to(dtype)
        self.v = torch.nn.Linear(d, kv * dh).to(dtype)
        self.o = torch.nn.Linear(d, d).to(dtype)
        self.cache_k = torch.randn(1, kv, n_cached + 1, dh, dtype=dtype)
        self.cache_v = torch.randn(1, kv, n_cached + 1, dh, dtype=dtype)
        self.n = n_cached
        self.x = torch.randn(1, 1, d, dtype=dtype)

    @torch.no_grad()
    def __call__(self) -> None:
        x = self.x
        q = self.q(x).view(1, 1, self.heads, self.dh).transpose(1, 2)
        self.cache_k[:, :, self.n] = self.k(x).view(1, self.kv, self.dh)
        self.cache_v[:, :, self.n] = self.v(x).view(1, self.kv, self.dh)
        out = F.scaled_dot_product_attention(
            q, self.cache_k, self.cache_v, enable_gqa=True
        )
        self.o(out.transpose(1, 2).reshape(1, 1, -1))


def _layer_rows(threads: int, repeats: int) -> None:
    rng = np.random.default_rng(1)
    n_cached = 4096
    prompt = rng.standard_normal((1, n_cached, 4096)).astype(np.float32)
    token = rng.standard_normal((1, 1, 4096)).astype(np.float32)

    def ours(dtype: str):
        layer = MultiHeadAttention(4096, 32, n_kv_heads=8, dtype=dtype, seed=0)
        cache = layer.new_cache(1, n_cached + 1)
        layer(prompt, cache=cache, num_threads=threads)
        x = token.astype(layer.dtype)

        def step():
            # Each timed call appends the token at the same position: reset the
            # cache's position to the prompt's end afterwards (its rows stay).
            layer(x, cache=cache, num_threads=threads)
            cache._position = n_cached

        return step

    variants = {
        "ours f32": ours("float32"),
        "ours bf16": ours("bfloat16"),
        "torch f32": _TorchLayerStep(torch.float32, n_cached),
        "torch bf16": _TorchLayerStep(torch.bfloat16, n_cached),
    }
    times = _best(variants, repeats)
    print("GQA layer step, d_model 4096, 32/8 heads, 4096 cached positions")
    for name, t in times.items():
        print(f"  {name:<11} {t * 1e3:8.2f} ms")
    print(
        f"  torch bf16 / ours bf16: {times['torch bf16'] / times['ours bf16']:.2f}x; "
        f"torch f32 / ours f32: {times['torch f32'] / times['ours f32']:.2f}x; "
        f"ours f32 / ours bf16: {times['ours f32'] / times['ours bf16']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, best of {args.repeats} interleaved calls")
    _sdpa_rows(args.threads, args.repeats)
    _layer_rows(args.threads, args.repeats)


if __name__ == "__main__":
    main()
