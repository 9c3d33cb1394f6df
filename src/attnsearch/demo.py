"""``attnsearch demo``: a short tour that checks itself against the references."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import effective_n_threads, openmp_enabled
from ._dispatch import kernels
from .attention import MultiHeadAttention, _reference, scaled_dot_product_attention

_T = TypeVar("_T")


def _timed(fn: Callable[[], _T], repeats: int = 3) -> tuple[_T, float]:
    """Result of fn() and its fastest wall time over a few runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def run_demo(quick: bool = False, out: Callable[[str], object] = print) -> int:
    """Run the tour; return 0 when every self-check passes, 1 otherwise."""
    ok = True
    threads = effective_n_threads(None)
    consts: dict[str, int] = kernels("attention").kernel_constants()
    out(
        f"attnsearch demo: OpenMP {'on' if openmp_enabled() else 'OFF'}, {threads} "
        f"threads, {consts['lanes_float32']} float32 lanes per vector"
    )

    rng = np.random.default_rng(0)
    n = 1024 if quick else 4096
    q, k, v = (rng.standard_normal((1, 8, n, 64), dtype=np.float32) for _ in range(3))
    scaled_dot_product_attention(q[..., :64, :], k, v)  # warm-up
    out_fused, seconds = _timed(
        lambda: scaled_dot_product_attention(q, k, v, causal=True)
    )
    flops = 4.0 * 8 * n * n * 64 / 2
    # Check the last 64 query rows (they see every key) against the reference.
    rows = slice(n - 64, n)
    want = _reference.scaled_dot_product_attention(
        q[..., rows, :].astype(np.float64),
        k.astype(np.float64),
        v.astype(np.float64),
        causal=True,
    )
    err = float(np.abs(out_fused[..., rows, :] - want).max())
    ok &= err < 1e-4
    out(
        f"\n1. Fused causal attention, q/k/v (1, 8, {n}, 64) float32: "
        f"{seconds * 1e3:.1f} ms, "
        f"{flops / seconds / 1e9:.0f} GFLOP/s, max |diff| vs NumPy reference {err:.1e}"
    )
    score_mib = 8 * n * n * 4 / 2**20
    out(
        f"   no {n}x{n} score matrix was stored (the reference needs "
        f"{score_mib:.0f} MiB "
        "per score array)"
    )

    kv_heads = 2
    k2 = k[:, :kv_heads]
    v2 = v[:, :kv_heads]
    gqa, seconds = _timed(lambda: scaled_dot_product_attention(q, k2, v2, causal=True))
    want = _reference.scaled_dot_product_attention(
        q[..., rows, :].astype(np.float64),
        np.repeat(k2, 4, axis=1).astype(np.float64),
        np.repeat(v2, 4, axis=1).astype(np.float64),
        causal=True,
    )
    err = float(np.abs(gqa[..., rows, :] - want).max())
    ok &= err < 1e-4
    out(
        f"2. Grouped-query attention, 8 query heads on {kv_heads} key/value heads "
        f"(read in place): {seconds * 1e3:.1f} ms, max |diff| {err:.1e}"
    )

    batch, length = (2, 256) if quick else (4, 512)
    mha = MultiHeadAttention(256, 8, seed=0)
    x = rng.standard_normal((batch, length, 256), dtype=np.float32)
    padding = np.zeros((batch, length), dtype=bool)
    padding[1, length // 2 :] = True  # the second sequence is half padding
    y, seconds = _timed(lambda: mha(x, key_padding_mask=padding, causal=True))
    p = {name: a.astype(np.float64) for name, a in mha.parameters().items()}
    xq = x[1].astype(np.float64)
    qh, kh, vh = (
        (xq @ p[f"W_{c}"] + p[f"b_{c}"]).reshape(length, 8, 32).transpose(1, 0, 2)
        for c in "QKV"
    )
    allowed = ~padding[1][None, :]
    heads = _reference.scaled_dot_product_attention(
        qh, kh, vh, mask=allowed, causal=True
    )
    want = heads.transpose(1, 0, 2).reshape(length, 256) @ p["W_O"] + p["b_O"]
    err = float(np.abs(y[1] - want).max())
    ok &= err < 1e-4
    out(
        f"3. MultiHeadAttention(256, 8) on {batch} padded sequences of {length}: "
        f"{seconds * 1e3:.1f} ms, max |diff| vs a per-head NumPy loop {err:.1e}"
    )

    ok &= _search_tour(rng, quick, out)

    out("\n" + ("all self-checks passed" if ok else "SELF-CHECK FAILED"))
    out(
        "next: `attnsearch info` names the kernels chosen for this CPU, "
        "`attnsearch bench` times them against the baseline kernels and NumPy"
    )
    return 0 if ok else 1


def _search_tour(
    rng: np.random.Generator, quick: bool, out: Callable[[str], object]
) -> bool:
    """Local search part of the demo; returns whether its self-checks passed."""
    from .search import TSP, MaxCut, hill_climb, simulated_annealing

    ok = True
    n_cities = 100 if quick else 200
    tsp = TSP(rng.uniform(0, 1000, size=(n_cities, 2)), metric="EUC_2D")
    climbed = hill_climb(tsp, strategy="first", num_chains=8, seed=0)
    limit = 0.5 if quick else 2.0
    annealed = simulated_annealing(tsp, time_limit=limit, num_chains=2, seed=0)
    length = tsp.tour_length(annealed.best_state)
    # A self-check of correctness, not of quality: with a time limit the sweeps
    # depend on the machine's load, and so does how far annealing gets.
    ok &= length == annealed.objective
    rate = annealed.n_evaluations / annealed.elapsed / 1e6
    out(
        f"\n4. TSP, {n_cities} random cities (EUC_2D): hill climbing with 8 restarts "
        f"{climbed.objective:.0f} in {climbed.elapsed:.2f} s; annealing "
        f"{annealed.objective:.0f} in {annealed.elapsed:.2f} s ({rate:.0f} M moves/s, "
        f"{annealed.params['num_sweeps']} sweeps fitted to the {limit} s limit)"
    )

    n = 400 if quick else 800
    pairs = np.array(
        [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.06]
    )
    graph = MaxCut(n, pairs)
    cut = simulated_annealing(graph, num_sweeps=2000, num_chains=4, seed=0)
    ok &= graph.cut_value(cut.best_state) == cut.objective
    out(
        f"5. Max-cut, random graph ({n} vertices, {len(pairs)} edges): cut "
        f"{cut.objective:.0f} of {graph.total_weight:.0f} edges in {cut.elapsed:.2f} s "
        "(4 parallel chains, bitwise reproducible from seed=0)"
    )
    return ok
