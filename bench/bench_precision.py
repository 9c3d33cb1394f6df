"""16-bit attention against our float32 and torch's float32/bfloat16/float16.

    python bench/bench_precision.py [--threads 2] [--rounds 7] [--quick]
                                     [--training] [--no-f16]

Prefill shapes (1, 8, n, d) of the issue that asked for bfloat16 (n 1024-8192,
d 64/128, causal and not), forward only; then forward+backward (1, 8, 4096, 64)
causal, and MultiHeadAttention(512, 8) on (8, 512, 512): a forward and a
training step (forward, backward, AdamW) against torch.nn.MultiheadAttention. One
process, a fixed thread count, median over interleaved rounds (every variant
runs once per round, so a noisy neighbour slows them all alike); GF/s count
4·n_q·n_k·d flops (halved when causal) and the ratios divide by our float32 in
the same run. Prints which kernel ran (``attnsearch info``'s target) and whether
the CPU has AVX512-BF16 and AMX: the bfloat16 tile kernel runs only on the
first, float16 always converts to float32 while packing.

Needs torch (``pip install "attnsearch[bench]"``) and ml_dtypes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

from attnsearch import _dispatch
from attnsearch.attention import (
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

SHAPES = [(1024, 64), (4096, 64), (2048, 128), (8192, 64)]


def _time_rounds(variants: dict, rounds: int) -> dict[str, float]:
    for fn in variants.values():  # warm-up: page in, thread pools started
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _forward_variants(n: int, d: int, causal: bool, threads: int) -> dict:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 8, n, d)).astype(np.float32) for _ in range(3))
    ours = {
        "ours f32": (q, k, v),
        "ours bf16": tuple(a.astype(ml_dtypes.bfloat16) for a in (q, k, v)),
        "ours f16": tuple(a.astype(np.float16) for a in (q, k, v)),
    }
    tensors = [torch.from_numpy(a) for a in (q, k, v)]
    theirs = {
        "torch f32": tensors,
        "torch bf16": [t.bfloat16() for t in tensors],
        "torch f16": [t.half() for t in tensors],
    }
    variants = {
        name: (
            lambda ops=ops: scaled_dot_product_attention(
                *ops, causal=causal, num_threads=threads
            )
        )
        for name, ops in ours.items()
    }
    variants.update(
        {
            name: (
                lambda ops=ops: F.scaled_dot_product_attention(*ops, is_causal=causal)
            )
            for name, ops in theirs.items()
        }
    )
    return variants


def _training_variants(n: int, d: int, threads: int) -> dict:
    """Forward with lse, then backward (causal): ours per dtype, torch autograd."""
    rng = np.random.default_rng(1)
    base = [rng.standard_normal((1, 8, n, d)).astype(np.float32) for _ in range(4)]

    def ours(dtype):
        q, k, v, g = (a.astype(dtype) for a in base)

        def run():
            out, lse = scaled_dot_product_attention(
                q, k, v, causal=True, return_lse=True, num_threads=threads
            )
            scaled_dot_product_attention_backward(
                g, q, k, v, out, lse, causal=True, num_threads=threads
            )

        return run

    def theirs(dtype):
        q, k, v, g = (torch.from_numpy(a).to(dtype) for a in base)
        q, k, v = (t.requires_grad_() for t in (q, k, v))

        def run():
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.autograd.grad(out, (q, k, v), g)

        return run

    return {
        "ours f32": ours(np.float32),
        "ours bf16": ours(ml_dtypes.bfloat16),
        "ours f16": ours(np.float16),
        "torch f32": theirs(torch.float32),
        "torch bf16": theirs(torch.bfloat16),
        "torch f16": theirs(torch.float16),
    }


def _layer_variants(threads: int, train: bool) -> dict:
    """MultiHeadAttention(512, 8) on (8, 512, 512), causal: a forward, or a
    training step (forward, backward, AdamW); ours per dtype against
    torch.nn.MultiheadAttention converted to the dtype with torch.optim.AdamW."""
    from attnsearch.attention import MultiHeadAttention
    from attnsearch.optim import AdamW

    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 512, 512)).astype(np.float32)
    grad = rng.standard_normal((8, 512, 512)).astype(np.float32)

    def ours(dtype):
        layer = MultiHeadAttention(512, 8, dtype=dtype, seed=0)
        opt = AdamW(layer, lr=1e-4)
        xs, gs = x.astype(dtype), grad.astype(dtype)

        def run():
            if not train:
                layer(xs, causal=True, num_threads=threads)
                return
            opt.zero_grad()
            layer(xs, causal=True, keep_for_backward=True, num_threads=threads)
            layer.backward(gs, num_threads=threads)
            opt.step()

        return run

    def theirs(dtype):
        layer = torch.nn.MultiheadAttention(512, 8, batch_first=True).to(dtype)
        opt = torch.optim.AdamW(layer.parameters(), lr=1e-4)
        xs = torch.from_numpy(x).to(dtype)
        gs = torch.from_numpy(grad).to(dtype)
        causal = torch.nn.Transformer.generate_square_subsequent_mask(512).to(dtype)

        def run():
            if not train:
                with torch.no_grad():
                    layer(xs, xs, xs, attn_mask=causal, need_weights=False)
                return
            opt.zero_grad()
            out = layer(xs, xs, xs, attn_mask=causal, need_weights=False)[0]
            out.backward(gs)
            opt.step()

        return run

    return {
        "ours f32": ours(np.float32),
        "ours bf16": ours(ml_dtypes.bfloat16),
        "ours f16": ours(np.float16),
        "torch f32": theirs(torch.float32),
        "torch bf16": theirs(torch.bfloat16),
        "torch f16": theirs(torch.float16),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="the first two shapes")
    parser.add_argument(
        "--training",
        action="store_true",
        help="only fwd+bwd and the layer rows (no forward-only prefill table)",
    )
    parser.add_argument(
        "--no-f16", action="store_true", help="skip the float16 columns"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    features = _dispatch.cpu_features()
    print(
        f"attention kernel: {_dispatch.selected_target('attention')}; "
        f"avx512_bf16={features.get('avx512_bf16', False)} "
        f"amx_bf16={features.get('amx_bf16', False)}; {args.threads} threads, "
        f"median of {args.rounds} interleaved rounds; GF/s (ratio to ours f32)"
    )
    kinds = ("f32", "bf16") if args.no_f16 else ("f32", "bf16", "f16")
    names = [f"{who} {t}" for who in ("ours", "torch") for t in kinds]
    print(f"{'workload':<28}" + "".join(f"{n:>18}" for n in names))
    shapes = SHAPES[:2] if args.quick else SHAPES
    rows = [
        (f"n {n}, d {d}{', causal' if causal else ''}", n, d, causal)
        for n, d in shapes
        for causal in (False, True)
    ]
    for label, n, d, causal in [] if args.training else rows:
        variants = _forward_variants(n, d, causal, args.threads)
        times = _time_rounds({m: variants[m] for m in names}, args.rounds)
        flops = 4.0 * n * n * d * 8 * (0.5 if causal else 1.0)
        base = times["ours f32"]
        print(
            f"{label:<28}"
            + "".join(
                f"{flops / times[m] / 1e9:10.0f} ({base / times[m]:4.2f})"
                for m in names
            )
        )
    timed_rows = [
        ("fwd+bwd n 4096, d 64, causal", _training_variants(4096, 64, args.threads)),
        ("MHA(512, 8) forward", _layer_variants(args.threads, train=False)),
        ("MHA(512, 8) AdamW step", _layer_variants(args.threads, train=True)),
    ]
    for label, variants in timed_rows:
        times = _time_rounds({m: variants[m] for m in names}, args.rounds)
        base = times["ours f32"]
        print(
            f"{label:<28}"
            + "".join(
                f"{times[m] * 1e3:7.0f} ms ({base / times[m]:4.2f})" for m in names
            )
        )


if __name__ == "__main__":
    main()
