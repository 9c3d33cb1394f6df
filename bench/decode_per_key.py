"""Decode cost per key: ns per key and kv head of ``KVCache.attend``, per cache dtype.

    python bench/decode_per_key.py                                # this build
    python bench/decode_per_key.py --build before=/old/src --build after=src

One thread (``num_threads=1``), n_q = 1, d 128, 8 kv heads and 1, 2, 4 or 8
query heads per kv head, ``--n-kv`` cached keys; each cache dtype
(float32, bfloat16, float16, int8) with the default ``check_finite`` and, for
int8 and float32, without it. The time of a call is the calling thread's CPU
time (the one OpenMP thread is the caller), so other processes on a shared
machine disturb it less than the wall clock; a figure is the median over
``--repeats`` calls. The fixed cost of a short call (8/8 heads, d 64, 4096
keys, ``scaled_dot_product_attention``, wall clock, µs) is reported as well.

With ``--build`` each build runs in its own interpreter, rounds alternating
between builds; a cell is the median over rounds, and the last columns give
the first build's time over each other's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

H_KV, D = 8, 128
GROUPS = (1, 2, 4, 8)
DTYPES = ("f32", "bf16", "f16", "int8")


def _median_cpu(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.thread_time_ns()
        fn()
        times.append(time.thread_time_ns() - t0)
    return statistics.median(times)


def _median_wall(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def measure(n_kv: int, repeats: int) -> dict[str, float]:
    """Name -> ns per key and kv head (``fixed``: µs of a short call)."""
    import ml_dtypes
    import numpy as np

    from attnsearch.attention import KVCache, scaled_dot_product_attention

    rng = np.random.default_rng(0)
    k = rng.standard_normal((1, H_KV, n_kv, D), dtype=np.float32)
    v = rng.standard_normal((1, H_KV, n_kv, D), dtype=np.float32)
    kinds = {
        "f32": np.float32,
        "bf16": ml_dtypes.bfloat16,
        "f16": np.float16,
        "int8": np.int8,
    }
    caches = {}
    for name, dtype in kinds.items():
        caches[name] = KVCache(1, H_KV, n_kv, D, dtype=dtype)
        caches[name].append(k, v)
    out = {}
    per = 1.0 / (n_kv * H_KV)
    for group in GROUPS:
        q = rng.standard_normal((1, H_KV * group, 1, D), dtype=np.float32)
        for name in DTYPES:
            cache = caches[name]
            out[f"{name} g{group}"] = per * _median_cpu(
                lambda c=cache: c.attend(q, num_threads=1), repeats
            )
            if name in ("f32", "int8"):
                out[f"{name} g{group} nocheck"] = per * _median_cpu(
                    lambda c=cache: c.attend(q, num_threads=1, check_finite=False),
                    repeats,
                )
    qs = rng.standard_normal((1, 8, 1, 64), dtype=np.float32)
    ks = rng.standard_normal((1, 8, 4096, 64), dtype=np.float32)
    vs = rng.standard_normal((1, 8, 4096, 64), dtype=np.float32)
    for threads in (1, 2):
        out[f"fixed 8/8 d64 4096 keys, {threads} thr (us)"] = 1e-3 * _median_wall(
            lambda t=threads: scaled_dot_product_attention(
                qs, ks, vs, causal=True, num_threads=t
            ),
            repeats,
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[])
    parser.add_argument("--n-kv", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker or not args.build:
        result = measure(args.n_kv, args.repeats)
        if args.worker:
            print(json.dumps(result))
        else:
            for name, value in result.items():
                print(f"{name:<36} {value:8.2f}")
        return 0
    builds = [b.split("=", 1) for b in args.build]
    samples: dict[str, list[dict[str, float]]] = {label: [] for label, _ in builds}
    for round_index in range(args.rounds):
        order = builds if round_index % 2 == 0 else builds[::-1]
        for label, path in order:
            env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
            done = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--worker",
                 "--n-kv", str(args.n_kv), "--repeats", str(args.repeats)],
                env=env, capture_output=True, text=True, cwd="/", check=False,
            )  # fmt: skip
            if done.returncode:
                raise SystemExit(f"{label} failed:\n{done.stderr}")
            samples[label].append(json.loads(done.stdout))
            print(f"round {round_index + 1}: {label} done", file=sys.stderr)
    labels = [label for label, _ in builds]
    names = list(samples[labels[0]][0])
    print(
        f"ns per key and kv head (fixed: µs), 1 thread, n_kv {args.n_kv}, median "
        f"of {args.rounds} rounds x {args.repeats} calls; load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<36}" + "".join(f"{lab:>10}" for lab in labels)
          + "".join(f"{labels[0] + '/' + lab:>16}" for lab in labels[1:]))  # fmt: skip
    for name in names:
        med = [statistics.median(s[name] for s in samples[lab]) for lab in labels]
        print(f"{name:<36}" + "".join(f"{m:10.2f}" for m in med)
              + "".join(f"{med[0] / m:15.2f}x" for m in med[1:]))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
