"""Training benchmark: attention forward + backward and one MHA training step vs torch.

Everything runs in one process with the same thread count; each figure is the
median of ``repeats`` runs. GFLOP/s count the forward as 4·B·H·n²·d (half of
it causal) and the backward as 2.5 times that (its five products against the
forward's two). "MiB" is the peak resident memory a call adds above its
inputs. Run ``python bench/compare.py training --help``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled
from attnsearch.attention import (
    Adam,
    MultiHeadAttention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from attnsearch.attention._scratch import release_scratch

from .harness import format_table, median_time, peak_extra_mib, settle

FULL_SIZES = (1024, 4096, 8192)
QUICK_SIZES = (1024,)
BIG_N = 16384


def _try_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def sdpa_rows(sizes, dtypes, threads, repeats, torch, clock=None):
    """Forward, backward and forward + backward of (1, 8, n, 64) against torch."""
    rows, ratios = [], {}
    rng = np.random.default_rng(0)
    for n in sizes:
        reps = repeats if n <= 4096 else max(3, repeats // 2)
        for dtype in dtypes:
            q, k, v = (
                rng.standard_normal((1, 8, n, 64)).astype(dtype) for _ in range(3)
            )
            grad_out = rng.standard_normal((1, 8, n, 64)).astype(dtype)
            for causal in (False, True):
                flops = 4.0 * 8 * n * n * 64 / (2 if causal else 1)

                def forward():
                    return scaled_dot_product_attention(
                        q, k, v, causal=causal, num_threads=threads, return_lse=True
                    )

                out, lse = forward()

                def backward():
                    return scaled_dot_product_attention_backward(
                        grad_out, q, k, v, out, lse, causal=causal, num_threads=threads
                    )

                t_fwd = median_time(forward, reps, clock=clock)
                t_bwd = median_time(backward, reps, clock=clock)
                settle()
                t_torch = None
                if torch is not None:
                    tq, tk, tv = (
                        torch.from_numpy(x).requires_grad_() for x in (q, k, v)
                    )
                    t_grad = torch.from_numpy(grad_out)

                    def torch_step():
                        for t in (tq, tk, tv):
                            t.grad = None
                        o = torch.nn.functional.scaled_dot_product_attention(
                            tq, tk, tv, is_causal=causal
                        )
                        o.backward(t_grad)

                    t_torch = median_time(torch_step, reps, clock=clock)
                    settle()
                ours = t_fwd + t_bwd
                fwd_rate = flops / t_fwd / 1e9
                bwd_rate = 2.5 * flops / t_bwd / 1e9
                key = (n, np.dtype(dtype).name, causal)
                ratios[key] = {
                    "x_torch": t_torch / ours if t_torch else None,
                    "bwd_over_fwd": bwd_rate / fwd_rate,
                }
                rows.append(
                    [
                        n,
                        np.dtype(dtype).name,
                        "yes" if causal else "no",
                        f"{t_fwd * 1e3:.1f}",
                        f"{fwd_rate:.0f}",
                        f"{t_bwd * 1e3:.1f}",
                        f"{bwd_rate:.0f}",
                        f"{bwd_rate / fwd_rate:.0%}",
                        f"{ours * 1e3:.1f}",
                        _fmt(t_torch and t_torch * 1e3, ".1f"),
                        _fmt(t_torch and 3.5 * flops / t_torch / 1e9, ".0f"),
                        _fmt(ratios[key]["x_torch"], ".2f"),
                    ]
                )
    headers = [
        "n",
        "dtype",
        "causal",
        "fwd ms",
        "GF/s",
        "bwd ms",
        "GF/s",
        "bwd/fwd",
        "f+b ms",
        "torch f+b ms",
        "GF/s",
        "x torch",
    ]
    return format_table(headers, rows), ratios


def big_memory(threads, n=BIG_N):
    """Extra memory of forward + backward at (1, 8, n, 64) float32, beyond the
    inputs, the output, the log-sum-exp and the three gradients."""
    rng = np.random.default_rng(2)
    shape = (1, 8, n, 64)
    q, k, v, grad_out = (rng.standard_normal(shape, dtype=np.float32) for _ in range(4))
    kept = {}

    def both():
        out, lse = scaled_dot_product_attention(
            q, k, v, num_threads=threads, return_lse=True
        )
        grads = scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, num_threads=threads
        )
        kept["bytes"] = out.nbytes + lse.nbytes + sum(g.nbytes for g in grads)
        return out, lse, grads

    release_scratch()
    mib = peak_extra_mib(both)
    results_mib = kept["bytes"] / 2**20
    return mib, results_mib


def training_step_rows(
    threads, repeats, torch, batch=8, n=512, d_model=512, heads=8, clock=None
):
    """One step of MultiHeadAttention(d_model, heads) on (batch, n, d_model) f32:
    forward, mean-squared-error gradient, backward, Adam."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch, n, d_model)).astype(np.float32)
    target = rng.standard_normal((batch, n, d_model)).astype(np.float32)
    layer = MultiHeadAttention(d_model, heads, seed=0)
    module = None
    if torch is not None:
        torch.manual_seed(0)
        module = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)
        layer.load_torch_state_dict(module.state_dict())
    optimiser = Adam(layer, lr=1e-4)

    def ours():
        optimiser.zero_grad()
        out = layer(x, keep_for_backward=True, num_threads=threads)
        grad = (2.0 / out.size) * (out - target)
        layer.backward(grad, num_threads=threads)
        optimiser.step()

    t_ours = median_time(ours, repeats, clock=clock)
    settle()
    t_torch = None
    if module is not None:
        t_opt = torch.optim.Adam(module.parameters(), lr=1e-4)
        tx, t_target = torch.from_numpy(x), torch.from_numpy(target)

        def torch_step():
            t_opt.zero_grad()
            out = module(tx, tx, tx, need_weights=False)[0]
            loss = torch.nn.functional.mse_loss(out, t_target)
            loss.backward()
            t_opt.step()

        t_torch = median_time(torch_step, repeats, clock=clock)
        settle()
    ratio = t_torch / t_ours if t_torch else None
    table = format_table(
        ["shape", "ours ms", "torch ms", "x torch"],
        [
            [
                f"({batch}, {n}, {d_model})",
                f"{t_ours * 1e3:.1f}",
                _fmt(t_torch and t_torch * 1e3, ".1f"),
                _fmt(ratio, ".2f"),
            ]
        ],
    )
    return table, ratio


def bridge_row(threads, repeats, torch, n, clock=None):
    """Forward + backward through attnsearch.attention.torch against torch's SDPA."""
    from attnsearch.attention.torch import scaled_dot_product_attention as bridge

    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 8, n, 64, requires_grad=True) for _ in range(3))
    grad = torch.randn(1, 8, n, 64)
    timings = []
    for fn in (bridge, torch.nn.functional.scaled_dot_product_attention):

        def step(fn=fn):
            for t in (q, k, v):
                t.grad = None
            fn(q, k, v, is_causal=True).backward(grad)

        timings.append(median_time(step, repeats, clock=clock))
        settle()
    return timings


def run(
    sizes=FULL_SIZES,
    threads=2,
    repeats=5,
    big=True,
    step=True,
    dtypes=None,
    out=print,
    per_core=False,
):
    """Print the training tables; return the measured ratios.

    ``per_core``: one thread for both libraries, timed by the calling thread's
    CPU time -- a measure of work per core that other load on the machine does
    not inflate (the wall-clock tables need a quiet machine)."""
    clock = None
    if per_core:
        threads, clock = 1, time.thread_time
    threads = effective_n_threads(threads)
    dtypes = dtypes or (np.float32, np.float64)
    torch = _try_torch(threads)
    out(
        f"attnsearch training benchmark: {threads} threads, "
        f"{'thread CPU time' if per_core else 'wall time'}, median of {repeats} runs "
        f"(n=8192: half), OpenMP {'on' if openmp_enabled() else 'OFF'}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
        + (f", torch {torch.__version__}" if torch is not None else ", no torch")
    )
    out("")
    out(
        "scaled_dot_product_attention forward + backward, (1, 8, n, 64) "
        "(torch: F.scaled_dot_product_attention + .backward):"
    )
    table, ratios = sdpa_rows(sizes, dtypes, threads, repeats, torch, clock)
    out(table)
    results = {"sdpa": ratios}
    if torch is not None:
        n = min(4096, max(sizes))
        t_bridge, t_torch = bridge_row(threads, repeats, torch, n, clock)
        out(
            f"\ntorch bridge (attnsearch.attention.torch), (1, 8, {n}, 64) float32 "
            f"causal, forward + backward through torch autograd: {t_bridge * 1e3:.1f} "
            f"ms vs torch SDPA {t_torch * 1e3:.1f} ms: {t_torch / t_bridge:.2f}x"
        )
        results["bridge"] = t_torch / t_bridge
    if big:
        mib, results_mib = big_memory(threads)
        out(
            f"\nforward + backward at (1, 8, {BIG_N}, 64) float32: peak extra memory "
            f"{_fmt(mib, '.1f')} MiB, of which output, lse and gradients "
            f"{results_mib:.1f} MiB: {_fmt(mib and mib - results_mib, '.1f')} MiB "
            f"beyond them"
        )
        results["big_extra_mib"] = mib and mib - results_mib
    if step:
        out(
            "\none training step of MultiHeadAttention(512, 8), float32 (forward, "
            "MSE gradient, backward, Adam; torch: nn.MultiheadAttention("
            "need_weights=False) + torch.optim.Adam):"
        )
        table, ratio = training_step_rows(threads, repeats, torch, clock=clock)
        out(table)
        results["step"] = ratio
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(FULL_SIZES))
    parser.add_argument(
        "--per-core",
        action="store_true",
        help="1 thread for both libraries, timed by thread CPU time (robust to "
        "other load on the machine)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"n in {QUICK_SIZES}, float32, 3 repeats, no 16k memory row",
    )
    args = parser.parse_args(argv)
    if args.quick:
        run(
            QUICK_SIZES,
            threads=args.threads,
            repeats=3,
            big=False,
            dtypes=(np.float32,),
            per_core=args.per_core,
        )
    else:
        run(
            tuple(args.sizes),
            threads=args.threads,
            repeats=max(3, args.repeats),
            per_core=args.per_core,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
