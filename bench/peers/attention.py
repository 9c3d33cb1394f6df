"""Attention comparison table: attnsearch vs the NumPy reference vs PyTorch.

Everything runs in one process with the same thread count; each figure is
the median of ``repeats`` runs. GFLOP/s counts 4·B·H·n_q·n_k·d (half of it
for causal); "MiB" is the peak resident memory a call adds above its inputs
(its output included). Run ``python bench/compare.py attention --help``.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled
from attnsearch.attention import (
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
)
from attnsearch.attention._scratch import release_scratch

from .harness import (
    format_table,
    gemm_ceiling_gflops,
    median_time,
    peak_extra_mib,
    settle,
)

FULL_SIZES = (256, 1024, 4096, 8192)
QUICK_SIZES = (256, 1024)
MHA_SIZES = (1024, 4096)
BIG_N = 16384


def _try_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _available_memory_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def attention_rows(sizes, dtypes, threads, repeats, torch, notes):
    rows = []
    ratios = {}
    batch, heads, d = 1, 8, 64
    rng = np.random.default_rng(0)
    for n in sizes:
        for dtype in dtypes:
            q, k, v = (
                rng.standard_normal((batch, heads, n, d)).astype(dtype)
                for _ in range(3)
            )
            for causal in (False, True):
                flops = 4.0 * batch * heads * n * n * d / (2 if causal else 1)

                def ours():
                    return scaled_dot_product_attention(
                        q, k, v, causal=causal, num_threads=threads
                    )

                t_ours = median_time(ours, repeats)
                release_scratch()  # measure memory as a first call would use it
                m_ours = peak_extra_mib(ours)
                settle()

                t_np = m_np = None
                ref_bytes = 5 * batch * heads * n * n * np.dtype(dtype).itemsize
                if ref_bytes < 0.6 * _available_memory_bytes():

                    def numpy_ref():
                        return _reference.scaled_dot_product_attention(
                            q, k, v, causal=causal
                        )

                    t_np = median_time(numpy_ref, repeats if n <= 4096 else 3)
                    m_np = peak_extra_mib(numpy_ref)
                    settle()
                else:
                    notes.add(
                        f"NumPy reference skipped at n={n} {np.dtype(dtype).name}: "
                        f"it needs ~{ref_bytes / 2**30:.0f} GiB"
                    )

                t_torch = m_torch = None
                if torch is not None:
                    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

                    def torch_sdpa():
                        with torch.inference_mode():
                            return torch.nn.functional.scaled_dot_product_attention(
                                tq, tk, tv, is_causal=causal
                            )

                    t_torch = median_time(torch_sdpa, repeats)
                    m_torch = peak_extra_mib(torch_sdpa)
                    settle()

                key = (n, np.dtype(dtype).name, causal)
                ratios[key] = (
                    t_torch / t_ours if t_torch else None,
                    t_np / t_ours if t_np else None,
                    flops / t_ours / 1e9,
                )
                rows.append(
                    [
                        n,
                        np.dtype(dtype).name,
                        "yes" if causal else "no",
                        f"{t_ours * 1e3:.1f}",
                        f"{flops / t_ours / 1e9:.0f}",
                        _fmt(m_ours, ".1f"),
                        _fmt(t_np and t_np * 1e3, ".1f"),
                        _fmt(t_np and flops / t_np / 1e9, ".0f"),
                        _fmt(m_np, ".0f"),
                        _fmt(t_torch and t_torch * 1e3, ".1f"),
                        _fmt(t_torch and flops / t_torch / 1e9, ".0f"),
                        _fmt(m_torch, ".1f"),
                        _fmt(ratios[key][0], ".2f"),
                        _fmt(ratios[key][1], ".2f"),
                    ]
                )
    headers = [
        "n",
        "dtype",
        "causal",
        "ours ms",
        "GF/s",
        "MiB",
        "numpy ms",
        "GF/s",
        "MiB",
        "torch ms",
        "GF/s",
        "MiB",
        "x torch",
        "x numpy",
    ]
    return format_table(headers, rows), ratios


def mha_rows(sizes, threads, repeats, torch):
    rows = []
    ratios = {}
    d_model, n_heads = 512, 8
    layer = MultiHeadAttention(d_model, n_heads, seed=0)
    module = None
    if torch is not None:
        torch.manual_seed(0)
        module = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True).eval()
        layer.load_torch_state_dict(module.state_dict())
        state = module.state_dict()
        F = torch.nn.functional

        def by_hand(x):
            qkv = F.linear(x, state["in_proj_weight"], state["in_proj_bias"])
            b, n, _ = x.shape
            q, k, v = (
                t.view(b, n, n_heads, -1).transpose(1, 2)
                for t in qkv.split(d_model, -1)
            )
            o = F.scaled_dot_product_attention(q, k, v)
            return F.linear(
                o.transpose(1, 2).reshape(b, n, d_model),
                state["out_proj.weight"],
                state["out_proj.bias"],
            )

    rng = np.random.default_rng(1)
    for n in sizes:
        x = rng.standard_normal((1, n, d_model)).astype(np.float32)

        def ours():
            return layer(x, num_threads=threads)

        t_ours = median_time(ours, repeats)
        release_scratch()
        m_ours = peak_extra_mib(ours)
        settle()
        t_mod = m_mod = t_hand = m_hand = None
        if module is not None:
            tx = torch.from_numpy(x)

            def torch_module():
                with torch.inference_mode():
                    return module(tx, tx, tx, need_weights=False)[0]

            def torch_by_hand():
                with torch.inference_mode():
                    return by_hand(tx)

            t_mod = median_time(torch_module, repeats)
            m_mod = peak_extra_mib(torch_module)
            settle()
            t_hand = median_time(torch_by_hand, repeats)
            m_hand = peak_extra_mib(torch_by_hand)
            settle()
        ratios[n] = (t_mod and t_mod / t_ours, t_hand and t_hand / t_ours, m_ours)
        rows.append(
            [
                n,
                f"{t_ours * 1e3:.1f}",
                _fmt(m_ours, ".1f"),
                _fmt(t_mod and t_mod * 1e3, ".1f"),
                _fmt(m_mod, ".1f"),
                _fmt(t_hand and t_hand * 1e3, ".1f"),
                _fmt(m_hand, ".1f"),
                _fmt(ratios[n][0], ".2f"),
                _fmt(ratios[n][1], ".2f"),
            ]
        )
    headers = [
        "n",
        "ours ms",
        "MiB",
        "nn.MHA ms",
        "MiB",
        "by hand ms",
        "MiB",
        "x nn.MHA",
        "x by hand",
    ]
    return format_table(headers, rows), ratios


def big_memory_row(threads):
    rng = np.random.default_rng(2)
    shape = (1, 8, BIG_N, 64)
    q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))

    def ours():
        return scaled_dot_product_attention(q, k, v, num_threads=threads)

    seconds = median_time(ours, repeats=1, warmup=0)
    release_scratch()
    mib = peak_extra_mib(ours)
    reference_gib = 8 * BIG_N * BIG_N * 4 / 2**30
    return seconds, mib, reference_gib


def run(
    sizes=FULL_SIZES, threads=2, repeats=5, mha=True, big=True, dtypes=None, out=print
):
    """Print the attention comparison tables; return the measured ratios."""
    threads = effective_n_threads(threads)
    dtypes = dtypes or (np.float32, np.float64)
    torch = _try_torch(threads)
    notes = set()
    if torch is None:
        notes.add(
            "torch not installed: its columns are empty "
            "(pip install 'attnsearch[bench]', which pins torch==2.13.0)"
        )
    out(
        f"attnsearch attention benchmark: {threads} threads, median of {repeats} runs, "
        f"OpenMP {'on' if openmp_enabled() else 'OFF'}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
        + (f", torch {torch.__version__}" if torch is not None else "")
    )
    ceiling32 = gemm_ceiling_gflops(np.float32)
    ceiling64 = gemm_ceiling_gflops(np.float64)
    settle()
    out(
        f"GEMM ceiling (NumPy 2048x2048 matmul): float32 {ceiling32:.0f} GFLOP/s, "
        f"float64 {ceiling64:.0f} GFLOP/s"
    )
    out("")
    out("scaled_dot_product_attention, shape (1, 8, n, 64):")
    table, ratios = attention_rows(sizes, dtypes, threads, repeats, torch, notes)
    out(table)
    results = {"sdpa": ratios, "ceiling": {"float32": ceiling32, "float64": ceiling64}}
    key = (4096, "float32", False)
    if key in ratios:
        out(
            f"\nfloat32 n=4096 non-causal: {ratios[key][2] / ceiling32:.0%} of the "
            f"float32 "
            f"GEMM ceiling"
        )
    if mha:
        out(
            "\nMultiHeadAttention(512, 8) forward, x of shape (1, n, 512), float32 "
            "(by hand = torch F.linear -> SDPA -> F.linear):"
        )
        table, mha_ratios = mha_rows(MHA_SIZES, threads, repeats, torch)
        out(table)
        results["mha"] = mha_ratios
    if big:
        seconds, mib, ref_gib = big_memory_row(threads)
        out(
            f"\n(1, 8, {BIG_N}, 64) float32: {seconds:.2f} s, peak extra memory "
            f"{_fmt(mib, '.1f')} MiB (output alone: "
            f"{8 * BIG_N * 64 * 4 / 2**20:.0f} MiB; "
            f"the NumPy reference would need ~{ref_gib:.0f} GiB per score array)"
        )
        results["big"] = (seconds, mib)
    for note in sorted(notes):
        out(f"note: {note}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(FULL_SIZES))
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"n in {QUICK_SIZES}, 3 repeats, no MHA or 16k rows",
    )
    args = parser.parse_args(argv)
    if args.quick:
        run(QUICK_SIZES, threads=args.threads, repeats=3, mha=False, big=False)
    else:
        run(tuple(args.sizes), threads=args.threads, repeats=max(5, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
