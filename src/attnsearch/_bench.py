"""``attnsearch bench``: this machine's kernels against the package's own baselines.

Needs nothing but the installed package: the attention and decode kernels the
dispatch chose are timed against the same calls on the baseline kernels (what
the runtime dispatch gains here) and against the NumPy reference; torch joins
when it is installed. The search section runs the shipped instances with
default settings and a time limit. The comparisons with the peer libraries
(dwave-samplers, fast-tsp, LKH, ...) live in the repository's ``bench/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from . import _dispatch
from ._threading import effective_n_threads

SECTIONS = ("attention", "decode", "search")


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up.

    Starts with a pause: BLAS and OpenMP workers of the previous measurement
    keep spinning for ~0.2 s and would slow this one down.
    """
    time.sleep(0.3)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _torch(threads: int) -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _torch_seconds(
    torch: Any, qkv: Sequence[Any], repeats: int, **options: Any
) -> float:
    """Median time of torch's SDPA on the same arrays (shared, not copied)."""
    tq, tk, tv = (torch.from_numpy(a) for a in qkv)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    return median_seconds(partial(sdpa, tq, tk, tv, **options), repeats)


def _timed_on(target: str, fn: Callable[[], Any], repeats: int) -> float:
    with _dispatch.use_target(target):
        return median_seconds(fn, repeats)


def attention_section(quick: bool, threads: int, repeats: int) -> str:
    """Forward attention (1, 8, n, 64) float32: ours, baseline kernels, NumPy, torch."""
    from .attention import _reference, scaled_dot_product_attention

    torch = _torch(threads)
    rng = np.random.default_rng(0)
    rows = []
    for n in (1024,) if quick else (1024, 4096):
        q, k, v = (
            rng.standard_normal((1, 8, n, 64), dtype=np.float32) for _ in range(3)
        )
        for causal in (False, True):
            flops = 4.0 * 8 * n * n * 64 / (2 if causal else 1)

            ours = partial(
                scaled_dot_product_attention,
                q,
                k,
                v,
                causal=causal,
                num_threads=threads,
            )

            t_ours = median_seconds(ours, repeats)
            t_base = _timed_on("baseline", ours, repeats)
            row = [
                n,
                "yes" if causal else "no",
                f"{t_ours * 1e3:.1f}",
                f"{flops / t_ours / 1e9:.0f}",
                f"{t_base / t_ours:.1f}x",
            ]
            if n <= 1024:
                reference = partial(
                    _reference.scaled_dot_product_attention, q, k, v, causal=causal
                )
                t_ref = median_seconds(reference, max(1, repeats // 2))
                row.append(f"{t_ref / t_ours:.1f}x")
            else:
                row.append("-")  # the reference would hold 8 n x n float64 scores
            if torch is not None:
                t_torch = _torch_seconds(torch, (q, k, v), repeats, is_causal=causal)
                row.append(f"{t_torch / t_ours:.2f}x")
            rows.append(row)
    headers = ["n", "causal", "ms", "GF/s", "x baseline kernels", "x NumPy reference"]
    headers += ["x torch"] if torch is not None else []
    return "attention forward, (1, 8, n, 64) float32\n" + format_table(headers, rows)


def decode_section(quick: bool, threads: int, repeats: int) -> str:
    """One query over a long cache: 32 query / 8 key-value heads, d 128, float32."""
    from .attention import _reference, scaled_dot_product_attention

    torch = _torch(threads)
    rng = np.random.default_rng(1)
    rows = []
    for n_kv in (4096,) if quick else (4096, 32768):
        q = rng.standard_normal((1, 32, 1, 128), dtype=np.float32)
        k, v = (
            rng.standard_normal((1, 8, n_kv, 128), dtype=np.float32) for _ in range(2)
        )
        gigabytes = (k.nbytes + v.nbytes) / 1e9

        ours = partial(scaled_dot_product_attention, q, k, v, num_threads=threads)

        t_ours = median_seconds(ours, repeats)
        t_base = _timed_on("baseline", ours, repeats)
        kk, vv = (np.repeat(a, 4, axis=1) for a in (k, v))
        reference = partial(_reference.scaled_dot_product_attention, q, kk, vv)
        t_ref = median_seconds(reference, max(1, repeats // 2))
        row = [
            n_kv,
            f"{t_ours * 1e3:.2f}",
            f"{gigabytes / t_ours:.1f}",
            f"{t_base / t_ours:.1f}x",
            f"{t_ref / t_ours:.1f}x",
        ]
        if torch is not None:
            t_torch = _torch_seconds(torch, (q, k, v), repeats, enable_gqa=True)
            row.append(f"{t_torch / t_ours:.2f}x")
        rows.append(row)
    headers = ["n_kv", "ms", "GB/s", "x baseline kernels", "x NumPy reference"]
    headers += ["x torch"] if torch is not None else []
    return (
        "decode, one query, 32 query / 8 key-value heads, d 128, float32\n"
        + format_table(headers, rows)
    )


def search_section(quick: bool, threads: int, repeats: int) -> str:
    """The shipped instances, default settings, a time limit each."""
    from .data import DATA_DIR
    from .search import TSP, MaxCut, iterated_local_search, minimize, tabu_search

    seconds = 1.0 if quick else 3.0
    rows = []
    tsp = TSP.from_tsplib(DATA_DIR / "a280.tsp")
    tour = iterated_local_search(tsp, time_limit=seconds, seed=0)
    optimum = tsp.optimum  # from the shipped optimal tour
    assert optimum is not None
    rows.append(
        [
            "TSP a280 (TSPLIB)",
            "iterated local search",
            f"{seconds:.0f} s",
            f"{tour.objective:.0f}",
            f"optimum {optimum}",
            f"{100 * (tour.objective - optimum) / optimum:+.2f} %",
        ]
    )
    graph = MaxCut.from_gset(DATA_DIR / "G11.txt")
    cut = tabu_search(graph, time_limit=seconds, seed=0)
    best_known = 564  # Benlic & Hao's table (data/README.md)
    rows.append(
        [
            "max-cut G11 (G-set)",
            "tabu search",
            f"{seconds:.0f} s",
            f"{cut.objective:.0f}",
            f"best known {best_known}",
            f"{cut.objective - best_known:+.0f}",
        ]
    )
    start = time.perf_counter()
    found = minimize("rastrigin", [(-5.12, 5.12)] * 10, seed=0)
    rows.append(
        [
            "Rastrigin, 10 dimensions",
            f"minimize ({found.nfev} evaluations)",
            f"{time.perf_counter() - start:.1f} s",
            f"{found.fun:.3g}",
            "minimum 0",
            f"{found.fun:+.3g}",
        ]
    )
    headers = ["problem", "method, defaults", "time", "found", "reference", "gap"]
    return "local search on the shipped instances\n" + format_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``attnsearch bench``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["minimize"]:  # its own options (--full, --functions, ...)
        from ._bench_minimize import main as minimize_main

        return minimize_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="attnsearch bench",
        description="This machine's kernels against the baseline kernels, the NumPy "
        "reference and torch (when installed); search on the shipped instances.",
    )
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"any of {', '.join(SECTIONS)} (default: all); "
        "'attnsearch bench minimize [--full]' compares minimize with SciPy",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes, shorter runs"
    )
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(
            f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}"
        )
    threads = effective_n_threads(args.threads)
    repeats = 3 if args.quick else 5
    info = _dispatch.config()
    chosen = ", ".join(sorted({e["selected"] for e in info["families"].values()}))
    print(
        f"attnsearch {info['version']} on {info['cpu']}: kernels {chosen} "
        f"(this CPU runs {', '.join(info['supported_targets'])}), {threads} threads\n",
        flush=True,
    )
    builders = {
        "attention": attention_section,
        "decode": decode_section,
        "search": search_section,
    }
    for section in args.sections or SECTIONS:
        print(builders[section](args.quick, threads, repeats) + "\n", flush=True)
    return 0
