"""Decode for serving: compressed KV caches, the default call, a paged batch.

    python bench/decode_serving.py                       # both tables
    python bench/decode_serving.py --n-kv 4096 32768 --threads 2 --repeats 20
    python bench/decode_serving.py --paged-only --max-len 16384

Table 1 (one decode step, n_q = 1, 32 query / 8 kv heads, d 128): our
``scaled_dot_product_attention`` on float32 K/V with ``check_finite=False``
and with the default check, ``KVCache.attend`` on float32, bfloat16, float16
and int8 caches (default check), and torch's
``F.scaled_dot_product_attention(enable_gqa=True)`` in float32 and bfloat16,
all in one process with the same threads. GB/s counts the bytes of K and V as
stored (int8: with its scales); "ceiling" is a threaded streaming read
(max |x| over an array of the float32 cache's size), timed among the
variants.

Table 2 (one decode step of a batch of sequences of different lengths, seeded
lengths in [100, max_len]): ``PagedKVCache.attend`` in bfloat16 and int8
against torch bfloat16 SDPA on the batch padded to the longest sequence with a
boolean mask, and our own contiguous bfloat16 ``KVCache.attend`` on the same
padded batch.

Timings: the best of ``--repeats`` calls, the variants interleaved (this
matters on a shared machine); quote ratios from one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from attnsearch._dispatch import kernels
from attnsearch.attention import KVCache, PagedKVCache, scaled_dot_product_attention

H_Q, H_KV, D = 32, 8, 128


def _best(fns: dict, repeats: int) -> dict:
    """Best time of each callable, calls interleaved round by round."""
    best = dict.fromkeys(fns, float("inf"))
    for name, fn in fns.items():
        fn()  # warm up
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _reader(nbytes: int, threads: int):
    """A threaded streaming read of ``nbytes`` (max |x| of float32 ones): timed
    among the variants, it gives the ceiling of the same moment."""
    scans = kernels("scans")
    x = np.ones(nbytes // 4, np.float32)
    return lambda: scans.max_abs(x, threads)


def table_decode(n_kvs: list[int], threads: int, repeats: int, torch) -> None:
    import ml_dtypes

    print(
        f"\n## One decode step: n_q = 1, {H_Q} query / {H_KV} kv heads, d {D}, "
        f"{threads} threads\n"
    )
    print(
        "| n_kv | variant | ms | MB read | GB/s | % of ceiling | vs ours f32 "
        "default |\n|---|---|---|---|---|---|---|"
    )
    rng = np.random.default_rng(0)
    for n_kv in n_kvs:
        q = rng.standard_normal((1, H_Q, 1, D), dtype=np.float32)
        k = rng.standard_normal((1, H_KV, n_kv, D), dtype=np.float32)
        v = rng.standard_normal((1, H_KV, n_kv, D), dtype=np.float32)
        caches = {}
        for name, dtype in (
            ("f32", np.float32),
            ("bf16", ml_dtypes.bfloat16),
            ("f16", np.float16),
            ("int8", np.int8),
        ):
            cache = KVCache(1, H_KV, n_kv, D, dtype=dtype)
            cache.append(k, v)
            caches[name] = cache
        fns = {
            "ours f32, check_finite=False": lambda: scaled_dot_product_attention(
                q, k, v, check_finite=False, num_threads=threads
            ),
            "ours f32, default": lambda: scaled_dot_product_attention(
                q, k, v, num_threads=threads
            ),
        }
        for name, cache in caches.items():
            fns[f"KVCache {name}.attend, default"] = lambda c=cache: c.attend(
                q, num_threads=threads
            )
        if torch is not None:
            F = torch.nn.functional
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
            bq, bk, bv = (x.to(torch.bfloat16) for x in (tq, tk, tv))
            fns["torch f32"] = lambda: F.scaled_dot_product_attention(
                tq, tk, tv, enable_gqa=True
            )
            fns["torch bf16"] = lambda: F.scaled_dot_product_attention(
                bq, bk, bv, enable_gqa=True
            )
        read = _reader(k.nbytes + v.nbytes, threads)
        fns["streaming read"] = read
        times = _best(fns, repeats)
        f32_bytes = k.nbytes + v.nbytes
        ceiling = f32_bytes / times.pop("streaming read") / 1e9
        base = times["ours f32, default"]
        for name, t in times.items():
            nbytes = f32_bytes
            if name.startswith("KVCache"):
                nbytes = caches[name.split()[1].split(".")[0]].nbytes
            elif name == "torch bf16":
                nbytes = f32_bytes // 2
            gbs = nbytes / t / 1e9
            print(
                f"| {n_kv} | {name} | {t * 1e3:.3f} | {nbytes / 1e6:.1f} | "
                f"{gbs:.1f} | {100 * gbs / ceiling:.0f} % | {base / t:.2f}x |"
            )
        print(f"| {n_kv} | streaming-read ceiling | | | {ceiling:.1f} | 100 % | |")


def table_paged(
    n_seqs: int, max_len: int, threads: int, repeats: int, torch, block_size: int
) -> None:
    import ml_dtypes

    rng = np.random.default_rng(0)
    lengths = rng.integers(100, max_len + 1, n_seqs)
    print(
        f"\n## Paged batch: {n_seqs} sequences, lengths {lengths.min()}-"
        f"{lengths.max()} (seeded, mean {lengths.mean():.0f}), {H_Q}/{H_KV} heads, "
        f"d {D}, bfloat16 and int8, block_size {block_size}, {threads} threads\n"
    )
    total = int(lengths.sum())
    n_blocks = int(sum(-(-n // block_size) for n in lengths))
    paged = PagedKVCache(n_blocks, block_size, H_KV, D, dtype=ml_dtypes.bfloat16)
    paged8 = PagedKVCache(n_blocks, block_size, H_KV, D, dtype=np.int8)
    longest = int(lengths.max())
    padded = KVCache(n_seqs, H_KV, longest, D, dtype=ml_dtypes.bfloat16)
    k_pad = np.zeros((n_seqs, H_KV, longest, D), ml_dtypes.bfloat16)
    v_pad = np.zeros_like(k_pad)
    ids = []
    for s, n in enumerate(lengths):
        k = rng.standard_normal((H_KV, n, D), dtype=np.float32)
        v = rng.standard_normal((H_KV, n, D), dtype=np.float32)
        sid = paged.add_sequence()
        paged.append(sid, k, v)
        ids.append(sid)
        paged8.append(paged8.add_sequence(), k, v)  # the same ids
        k_pad[s, :, longest - n :] = k.astype(ml_dtypes.bfloat16)  # left padding
        v_pad[s, :, longest - n :] = v.astype(ml_dtypes.bfloat16)
    padded.append(k_pad, v_pad)
    mask = np.zeros((n_seqs, 1, 1, longest), bool)
    for s, n in enumerate(lengths):
        mask[s, ..., longest - n :] = True
    q = rng.standard_normal((n_seqs, H_Q, 1, D), dtype=np.float32).astype(
        ml_dtypes.bfloat16
    )
    fns = {
        "PagedKVCache.attend (bf16, default)": lambda: paged.attend(
            q, ids, num_threads=threads
        ),
        "PagedKVCache.attend (int8, default)": lambda: paged8.attend(
            q, ids, num_threads=threads
        ),
        "KVCache.attend, padded + mask (bf16)": lambda: padded.attend(
            q, mask=mask, num_threads=threads
        ),
    }
    if torch is not None:
        F = torch.nn.functional

        def as_torch(x):  # the same bfloat16 bits, no copy
            return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)

        tq, tk, tv = as_torch(q), as_torch(k_pad), as_torch(v_pad)
        tmask = torch.from_numpy(mask)
        fns["torch bf16 SDPA, padded + mask"] = lambda: F.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=tmask, enable_gqa=True
        )
    paged_bytes = total * H_KV * D * 2 * 2
    padded_bytes = n_seqs * longest * H_KV * D * 2 * 2
    fns["streaming read"] = _reader(paged_bytes, threads)
    times = _best(fns, repeats)
    ceiling = paged_bytes / times.pop("streaming read") / 1e9
    print("| variant | ms | MB read | GB/s | % of ceiling | vs torch |")
    print("|---|---|---|---|---|---|")
    torch_t = times.get("torch bf16 SDPA, padded + mask")
    for name, t in times.items():
        nbytes = padded_bytes
        if name.startswith("Paged"):
            nbytes = paged8.nbytes * total // (n_blocks * block_size)
            nbytes = paged_bytes if "bf16" in name else nbytes
        gbs = nbytes / t / 1e9
        ratio = f"{torch_t / t:.2f}x" if torch_t else "-"
        print(
            f"| {name} | {t * 1e3:.2f} | {nbytes / 1e6:.0f} | {gbs:.1f} | "
            f"{100 * gbs / ceiling:.0f} % | {ratio} |"
        )
    print(f"| streaming-read ceiling | | | {ceiling:.1f} | 100 % | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-kv", type=int, nargs="+", default=[4096, 32768])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--n-seqs", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=16384)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--paged-only", action="store_true")
    parser.add_argument("--decode-only", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    if not args.paged_only:
        table_decode(args.n_kv, args.threads, args.repeats, torch)
    if not args.decode_only:
        table_paged(
            args.n_seqs,
            args.max_len,
            args.threads,
            args.repeats,
            torch,
            args.block_size,
        )


if __name__ == "__main__":
    main()
