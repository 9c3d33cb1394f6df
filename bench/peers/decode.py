"""Generation benchmark: decode attention, a grouped-query decode step, sliding windows.

Everything runs in one process with the same thread count. The contenders of a
row are timed in *interleaved rounds* (round r times each of them once), so a
burst of load from another process slows all of them alike; each figure is the
median over the rounds and every ratio compares medians of the same rounds.

* **decode**: ``scaled_dot_product_attention`` with n_q query rows against n_kv
  cached keys (torch: ``F.scaled_dot_product_attention(..., enable_gqa=True)``).
  The *ceiling* is the time to read the same K and V once with the same number
  of OpenMP threads (``_decode.stream_read_sum``, a vectorised sum in fixed
  blocks); "% ceil" is ceiling time / kernel time. Ours runs with
  ``check_finite=False`` (torch checks nothing); the "checked" column is the
  default call, whose finiteness scan reads K and V once more.
* **step**: one token through a grouped-query ``MultiHeadAttention`` with a
  ``KVCache``, against the same step written by hand in torch (one fused
  F.linear for q/k/v, the cache updated in a preallocated tensor or by
  ``torch.cat``, SDPA with ``enable_gqa``, F.linear).
* **window**: causal sliding-window prefill against torch SDPA given the
  equivalent explicit band mask (torch has no window argument on CPU).
* ``--threshold``: the decode/tiled crossover in n_q that sets
  ``DECODE_MAX_QUERIES``.
* ``--wait-idle``: on a shared machine, start each row only once the cores are
  idle, and measure it again (up to 3 times, keeping the least disturbed try)
  when other processes took more than 5 % of the CPU time while it ran; the
  decode table prints that share ("others %"). OpenMP threads spin at
  barriers, so a busy core turns a 50 µs call into milliseconds (for torch's
  bundled libgomp as for ours).

Run ``python bench/compare.py decode --help``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from attnsearch import effective_n_threads, openmp_enabled
from attnsearch._dispatch import kernels
from attnsearch.attention import MultiHeadAttention
from attnsearch.attention.attention import _sdpa

from .harness import format_table, settle

DECODE_CASES = [
    # (query heads, kv heads, d), n_q, n_kv
    ((32, 8, 128), 1, 4096),
    ((32, 8, 128), 1, 32768),
    ((32, 8, 128), 1, 131072),
    ((8, 8, 64), 1, 4096),
    ((8, 8, 64), 1, 32768),
    ((8, 8, 64), 1, 131072),
    ((32, 8, 128), 16, 4096),
    ((8, 8, 64), 16, 4096),
]
QUICK_CASES = [((32, 8, 128), 1, 4096), ((8, 8, 64), 1, 4096)]


def _try_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


#: Pause before each timed call: OpenMP workers (ours, and torch's own libgomp)
#: keep spinning for a moment after a parallel region, and would compete with
#: the next contender for the cores.
GAP_SECONDS = 0.005
#: With --wait-idle, a row starts only after this many consecutive 1-second
#: samples of /proc/stat with at least this idle fraction (shared machines).
IDLE_FRACTION = 0.8
IDLE_SAMPLES = 2
_WAIT_IDLE = {"enabled": False, "limit": 180.0}


def _cpu_idle_fraction(seconds=1.0):
    def snapshot():
        with open("/proc/stat") as fh:
            values = [int(x) for x in fh.readline().split()[1:]]
        return values[3] + values[4], sum(values)

    idle0, total0 = snapshot()
    time.sleep(seconds)
    idle1, total1 = snapshot()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_idle_machine():
    """With --wait-idle: block until the other processes leave the cores free
    (at most ``_WAIT_IDLE["limit"]`` seconds; then measure anyway)."""
    if not _WAIT_IDLE["enabled"]:
        return
    start, streak = time.perf_counter(), 0
    try:
        while time.perf_counter() - start < _WAIT_IDLE["limit"]:
            streak = streak + 1 if _cpu_idle_fraction() >= IDLE_FRACTION else 0
            if streak >= IDLE_SAMPLES:
                return
    except OSError:
        return


#: With --wait-idle, a row is measured again (up to this many times) when other
#: processes used more than DISTURBED of the machine's CPU time while it ran.
MAX_TRIES = 3
DISTURBED = 0.05
#: CPU share of other processes during the last interleaved() call (None when
#: /proc/stat is unavailable).
last_disturbance = {"value": None}


def _busy_seconds():
    """(CPU seconds of every process, CPU seconds of this one) so far."""
    with open("/proc/stat") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    busy = sum(values) - values[3] - values[4]
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def _timed_rounds(functions, rounds, warmup):
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            time.sleep(GAP_SECONDS)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def interleaved(functions, rounds, warmup=2):
    """Median seconds of each function, timed round-robin over ``rounds`` rounds.

    With --wait-idle, the row starts on idle cores and is repeated when other
    processes took more than ``DISTURBED`` of the CPU time meanwhile; the least
    disturbed attempt is kept and its disturbance is in ``last_disturbance``.
    """
    best = None
    for _ in range(MAX_TRIES if _WAIT_IDLE["enabled"] else 1):
        wait_for_idle_machine()
        try:
            busy0, own0 = _busy_seconds()
        except (OSError, ValueError):
            busy0 = None
        start = time.perf_counter()
        result = _timed_rounds(functions, rounds, warmup)
        disturbance = None
        if busy0 is not None:
            busy1, own1 = _busy_seconds()
            wall = (time.perf_counter() - start) * (os.cpu_count() or 1)
            disturbance = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
        if best is None or (disturbance is not None and disturbance < best[1]):
            best = (result, disturbance)
        if disturbance is None or disturbance <= DISTURBED:
            break
    last_disturbance["value"] = best[1]
    return best[0]


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def decode_rows(cases, threads, rounds, torch, dtype=np.float32):
    rows, results = [], {}
    rng = np.random.default_rng(0)
    for (h_q, h_kv, d), n_q, n_kv in cases:
        q = rng.standard_normal((1, h_q, n_q, d), dtype=np.float32).astype(dtype)
        k = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32).astype(dtype)
        v = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32).astype(dtype)
        gigabytes = (k.nbytes + v.nbytes) / 1e9
        functions = {
            "ours": lambda: _sdpa(q, k, v, num_threads=threads, check_finite=False),
            "checked": lambda: _sdpa(q, k, v, num_threads=threads),
            "ceiling": lambda: kernels("scans").stream_read_sum([k, v], threads),
        }
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
            sdpa = torch.nn.functional.scaled_dot_product_attention

            def torch_sdpa():
                with torch.inference_mode():
                    return sdpa(tq, tk, tv, enable_gqa=h_q != h_kv)

            functions["torch"] = torch_sdpa
        t = interleaved(functions, rounds)
        others = last_disturbance["value"]
        print(
            f"  [{h_q}/{h_kv}, {d}, n_q {n_q}, n_kv {n_kv}: done]",
            file=sys.stderr,
            flush=True,
        )
        settle()
        ratio = t["torch"] / t["ours"] if "torch" in t else None
        results[(h_q, h_kv, d, n_q, n_kv)] = {
            "x_torch": ratio,
            "of_ceiling": t["ceiling"] / t["ours"],
            "times": t,
        }
        rows.append(
            [
                f"{h_q}/{h_kv}, {d}",
                n_q,
                n_kv,
                _fmt(t.get("torch") and t["torch"] * 1e3, ".2f"),
                f"{t['ours'] * 1e3:.2f}",
                f"{t['checked'] * 1e3:.2f}",
                f"{t['ceiling'] * 1e3:.2f}",
                _fmt(t.get("torch") and gigabytes / t["torch"], ".1f"),
                f"{gigabytes / t['ours']:.1f}",
                f"{gigabytes / t['ceiling']:.1f}",
                _fmt(ratio, ".2f"),
                f"{t['ceiling'] / t['ours']:.0%}",
                _fmt(others and 100 * others, ".0f"),
            ]
        )
    headers = [
        "heads/kv, d",
        "n_q",
        "n_kv",
        "torch ms",
        "ours ms",
        "checked ms",
        "ceil ms",
        "torch GB/s",
        "ours GB/s",
        "ceil GB/s",
        "x torch",
        "% ceil",
        "others %",
    ]
    return format_table(headers, rows), results


def prefill_rows(threads, rounds, torch):
    """A prefill point, (1, 8, 2048, 128): the tiled kernel, which decoding leaves
    unchanged."""
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 8, 2048, 128), dtype=np.float32) for _ in "qkv")
    results = {}
    for causal in (False, True):
        functions = {
            "ours": lambda causal=causal: _sdpa(
                q, k, v, causal=causal, num_threads=threads
            )
        }
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

            def torch_sdpa(causal=causal):
                with torch.inference_mode():
                    return torch.nn.functional.scaled_dot_product_attention(
                        tq, tk, tv, is_causal=causal
                    )

            functions["torch"] = torch_sdpa
        t = interleaved(functions, max(3, rounds // 2), warmup=1)
        settle()
        results[causal] = (t, t["torch"] / t["ours"] if "torch" in t else None)
    return results


def step_rows(
    threads, rounds, torch, d_model=4096, n_heads=32, n_kv_heads=8, n_cache=4096
):
    """One decode step of a grouped-query layer against the hand-written torch step."""
    rng = np.random.default_rng(2)
    d_head = d_model // n_heads
    kv_width = n_kv_heads * d_head
    layer = MultiHeadAttention(
        d_model, n_heads, n_kv_heads=n_kv_heads, bias=False, seed=0
    )
    steps = 2 * (rounds + 4)
    cache = layer.new_cache(1, n_cache + steps)
    prompt_k = rng.standard_normal((1, n_kv_heads, n_cache, d_head), dtype=np.float32)
    cache.append(prompt_k, prompt_k * 0.5)
    x = rng.standard_normal((1, 1, d_model), dtype=np.float32) * 0.1
    functions = {"ours": lambda: layer(x, cache=cache, num_threads=threads)}
    if torch is not None:
        F = torch.nn.functional
        w_qkv = torch.from_numpy(
            np.ascontiguousarray(np.concatenate([layer.W_Q, layer.W_K, layer.W_V], 1).T)
        )
        w_o = torch.from_numpy(np.ascontiguousarray(layer.W_O.T))
        tx = torch.from_numpy(x)
        shape = (1, n_kv_heads, n_cache + steps, d_head)
        k_pre = torch.zeros(shape)
        v_pre = torch.zeros(shape)
        k_pre[:, :, :n_cache] = torch.from_numpy(prompt_k)
        v_pre[:, :, :n_cache] = torch.from_numpy(prompt_k * 0.5)
        state = {"pre": n_cache, "k": k_pre[:, :, :n_cache].clone()}
        state["v"] = v_pre[:, :, :n_cache].clone()

        def project(x_new):
            qkv = F.linear(x_new, w_qkv)
            q = qkv[..., :d_model].view(1, 1, n_heads, d_head).transpose(1, 2)
            k = qkv[..., d_model : d_model + kv_width]
            v = qkv[..., d_model + kv_width :]
            k = k.view(1, 1, n_kv_heads, d_head).transpose(1, 2)
            v = v.view(1, 1, n_kv_heads, d_head).transpose(1, 2)
            return q, k, v

        def finish(o):
            return F.linear(o.transpose(1, 2).reshape(1, 1, d_model), w_o)

        def torch_preallocated():
            with torch.inference_mode():
                q, k, v = project(tx)
                n = state["pre"]
                k_pre[:, :, n : n + 1] = k
                v_pre[:, :, n : n + 1] = v
                state["pre"] = n + 1
                o = F.scaled_dot_product_attention(
                    q, k_pre[:, :, : n + 1], v_pre[:, :, : n + 1], enable_gqa=True
                )
                return finish(o)

        def torch_cat():
            with torch.inference_mode():
                q, k, v = project(tx)
                state["k"] = torch.cat([state["k"], k], dim=2)
                state["v"] = torch.cat([state["v"], v], dim=2)
                o = F.scaled_dot_product_attention(
                    q, state["k"], state["v"], enable_gqa=True
                )
                return finish(o)

        functions["torch (preallocated)"] = torch_preallocated
        functions["torch (cat)"] = torch_cat
    t = interleaved(functions, rounds)
    settle()
    weights_mb = (layer.W_Q.nbytes + layer.W_K.nbytes * 2 + layer.W_O.nbytes) / 1e6
    cache_mb = 2 * n_kv_heads * n_cache * d_head * 4 / 1e6
    rows = []
    for name, seconds in t.items():
        rows.append(
            [
                name,
                f"{seconds * 1e3:.2f}",
                f"{(weights_mb + cache_mb) / 1e3 / seconds:.1f}",
                f"{t[name] / t['ours']:.2f}",
            ]
        )
    table = format_table(["step", "ms", "GB/s (weights+cache)", "÷ ours"], rows)
    note = (
        f"d_model {d_model}, {n_heads}/{n_kv_heads} heads, cache {n_cache}, float32, "
        f"no biases: weights {weights_mb:.0f} MB and cache {cache_mb:.0f} MB read "
        "per step"
    )
    return table, note, t


def window_rows(
    threads, torch, n_sizes=(8192, 16384, 32768), windows=(1024, 2048, 4096)
):
    """Causal sliding-window prefill: ours (no mask array) against torch + band mask."""
    rng = np.random.default_rng(3)
    heads, d = 8, 64
    n_max = max(n_sizes)
    q_all, k_all, v_all = (
        rng.standard_normal((1, heads, n_max, d), dtype=np.float32) for _ in "qkv"
    )
    rows, results = [], {}
    cases = [(n, max(windows)) for n in n_sizes] + [
        (n_max, w) for w in windows if w != max(windows)
    ]
    available = _available_memory_bytes()
    for n, w in cases:
        q, k, v = (np.ascontiguousarray(x[:, :, :n]) for x in (q_all, k_all, v_all))

        def ours():
            return _sdpa(q, k, v, causal=True, window=w, num_threads=threads)

        t_ours = interleaved({"ours": ours}, 3, warmup=1)["ours"]
        settle()
        t_full = interleaved(
            {"full": lambda: _sdpa(q, k, v, causal=True, num_threads=threads)},
            1,
            warmup=0,
        )["full"]
        settle()
        t_torch = None
        # torch turns a boolean mask into a float one: ~5 bytes per score.
        if torch is not None and w == max(windows) and 5 * n * n < 0.5 * available:
            idx = torch.arange(n)
            band = (idx[None, :] <= idx[:, None]) & (idx[None, :] > idx[:, None] - w)
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

            def torch_band():
                with torch.inference_mode():
                    return torch.nn.functional.scaled_dot_product_attention(
                        tq, tk, tv, attn_mask=band
                    )

            t_torch = interleaved({"torch": torch_band}, 1, warmup=0)["torch"]
            del band
            settle()
        per_nw = t_ours / (n * w) * 1e9
        results[(n, w)] = {"ours": t_ours, "torch": t_torch, "full": t_full}
        rows.append(
            [
                n,
                w,
                f"{t_ours * 1e3:.0f}",
                f"{per_nw:.2f}",
                f"{t_full * 1e3:.0f}",
                _fmt(t_torch and t_torch * 1e3, ".0f"),
                _fmt(t_torch and t_torch / t_ours, ".1f"),
            ]
        )
    headers = [
        "n",
        "W",
        "ours ms",
        "ours ns/(n·W)",
        "ours causal, no window ms",
        "torch + band mask ms",
        "x torch",
    ]
    return format_table(headers, rows), results


def threshold_rows(threads, rounds, n_qs=(1, 2, 4, 8, 12, 16, 20, 24, 32, 48, 64)):
    """Decode kernel against the tiled kernel over n_q (sets DECODE_MAX_QUERIES)."""
    rng = np.random.default_rng(4)
    rows = []
    for (h_q, h_kv, d), n_kv in [
        ((32, 8, 128), 4096),
        ((8, 8, 64), 4096),
        ((8, 8, 64), 32768),
    ]:
        k = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32)
        v = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32)
        for n_q in n_qs:
            q = rng.standard_normal((1, h_q, n_q, d), dtype=np.float32)
            t = interleaved(
                {
                    path: (
                        lambda path=path: _sdpa(
                            q,
                            k,
                            v,
                            causal=True,
                            num_threads=threads,
                            check_finite=False,
                            path=path,
                        )
                    )
                    for path in ("decode", "prefill")
                },
                rounds,
            )
            rows.append(
                [
                    f"{h_q}/{h_kv}, {d}",
                    n_kv,
                    n_q,
                    f"{t['decode'] * 1e3:.2f}",
                    f"{t['prefill'] * 1e3:.2f}",
                    f"{t['prefill'] / t['decode']:.2f}",
                ]
            )
        settle()
    headers = ["heads/kv, d", "n_kv", "n_q", "decode ms", "tiled ms", "tiled ÷ decode"]
    return format_table(headers, rows)


def _available_memory_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def run(
    threads=2,
    rounds=15,
    cases=DECODE_CASES,
    step=True,
    window=True,
    threshold=False,
    out=print,
):
    """Print the generation tables; return the measured figures."""
    threads = effective_n_threads(threads)
    torch = _try_torch(threads)
    out(
        f"attnsearch decode benchmark: {threads} threads, median of {rounds} "
        f"interleaved rounds, OpenMP {'on' if openmp_enabled() else 'OFF'}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
        + (f", torch {torch.__version__}" if torch is not None else ", no torch")
    )
    results = {}
    out("\nDecode attention, batch 1, float32 (ceiling: read K and V once):")
    table, results["decode"] = decode_rows(cases, threads, rounds, torch)
    out(table)
    results["prefill"] = prefill_rows(threads, rounds, torch)
    out("")
    for causal, (t, ratio) in results["prefill"].items():
        out(
            f"Prefill (1, 8, 2048, 128){' causal' if causal else ''}, tiled kernel: "
            f"ours {t['ours'] * 1e3:.1f} ms"
            + (
                f", torch {t['torch'] * 1e3:.1f} ms, x torch {ratio:.2f}"
                if ratio is not None
                else ""
            )
        )
    if step:
        table, note, results["step"] = step_rows(threads, rounds, torch)
        out(f"\nOne decode step of a grouped-query layer ({note}):")
        out(table)
    if window:
        out("\nCausal sliding-window prefill, (1, 8, n, 64) float32:")
        table, results["window"] = window_rows(threads, torch)
        out(table)
    if threshold:
        out("\nDecode kernel vs tiled kernel by n_q (causal, float32):")
        out(threshold_rows(threads, rounds))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--quick", action="store_true", help="two decode rows, no step/window tables"
    )
    parser.add_argument("--no-step", action="store_true")
    parser.add_argument("--no-window", action="store_true")
    parser.add_argument(
        "--threshold", action="store_true", help="also the decode/tiled crossover"
    )
    parser.add_argument(
        "--only-threshold", action="store_true", help="only the crossover table"
    )
    parser.add_argument(
        "--wait-idle",
        action="store_true",
        help="start each row only when /proc/stat shows the cores idle, repeat "
        "disturbed rows (shared machines; at most 3 tries of 3 minutes' wait)",
    )
    args = parser.parse_args(argv)
    _WAIT_IDLE["enabled"] = args.wait_idle
    if args.only_threshold:
        print(threshold_rows(effective_n_threads(args.threads), args.rounds))
        return 0
    if args.quick:
        run(args.threads, rounds=5, cases=QUICK_CASES, step=False, window=False)
    else:
        run(
            args.threads,
            rounds=args.rounds,
            step=not args.no_step,
            window=not args.no_window,
            threshold=args.threshold,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
