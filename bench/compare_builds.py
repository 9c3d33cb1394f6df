"""Two builds of attnsearch (or two CPU targets of one) on the same workloads.

    python bench/compare_builds.py --build before=/path/to/old/src --build after=src
    python bench/compare_builds.py --build after=src --targets baseline,avx2,avx512

Each build is a folder that holds an importable ``attnsearch`` (a source tree
built in place, or a site-packages); each (build, target) runs in its own
interpreter, since two builds of the same modules cannot share one. Rounds
alternate between the builds so that drift of a noisy machine hits all alike;
the figure of a workload is the median over rounds of the median of its
repeats in a round, and each column is quoted as a ratio to the first one.
Workloads: the prefill, decode and backward tables of the attention half and a
row of each search method family, at the sizes of the README's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORKER = r"""
import json, sys, time
import numpy as np

def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]

def workloads(threads):
    from attnsearch.attention import (MultiHeadAttention, AdamW,
        scaled_dot_product_attention as sdpa, scaled_dot_product_attention_backward)
    from attnsearch.search import (TSP, Continuous, Ising, iterated_local_search,
        particle_swarm, simulated_annealing, tabu_search)
    rng = np.random.default_rng(0)
    out = {}
    for n, dtype in [(1024, np.float32), (4096, np.float32), (1024, np.float64)]:
        q, k, v = (rng.standard_normal((1, 8, n, 64)).astype(dtype) for _ in range(3))
        for causal in (False, True):
            name = f"prefill n={n} {np.dtype(dtype).name}{' causal' if causal else ''}"
            out[name] = lambda q=q, k=k, v=v, c=causal: sdpa(q, k, v, causal=c, num_threads=threads)
    for n_kv in (4096, 32768):
        q = rng.standard_normal((1, 32, 1, 128)).astype(np.float32)
        k, v = (rng.standard_normal((1, 8, n_kv, 128)).astype(np.float32) for _ in range(2))
        out[f"decode 32/8 heads d128 n_kv={n_kv}"] = lambda q=q, k=k, v=v: sdpa(q, k, v, num_threads=threads)
    q = rng.standard_normal((1, 8, 16, 64)).astype(np.float32)
    k, v = (rng.standard_normal((1, 8, 4096, 64)).astype(np.float32) for _ in range(2))
    out["decode 8/8 heads d64 n_q=16 n_kv=4096"] = lambda: sdpa(q, k, v, num_threads=threads)
    q, k, v = (rng.standard_normal((1, 8, 1024, 64)).astype(np.float32) for _ in range(3))
    g = rng.standard_normal((1, 8, 1024, 64)).astype(np.float32)
    def fwd_bwd():
        o, lse = sdpa(q, k, v, causal=True, return_lse=True, num_threads=threads)
        scaled_dot_product_attention_backward(g, q, k, v, o, lse, causal=True, num_threads=threads)
    out["forward+backward n=1024 f32 causal"] = fwd_bwd
    layer = MultiHeadAttention(512, 8, seed=0)
    opt = AdamW(layer, lr=1e-4)
    x = rng.standard_normal((8, 512, 512)).astype(np.float32)
    def step():
        y = layer(x, keep_for_backward=True, num_threads=threads)
        layer.backward(y, num_threads=threads); opt.step(); opt.zero_grad()
    out["MHA(512, 8) training step (8, 512, 512)"] = step
    edges = {}
    for i in range(1000):
        for j in rng.choice(1000, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    ising = Ising(np.zeros(1000), edges)
    tsp = TSP(np.random.default_rng(0).uniform(size=(2000, 2)), candidates="nearest")
    tsp._search_spec()
    rastrigin = Continuous.builtin("rastrigin", dim=30)
    out["anneal Ising n=1000 (4 chains)"] = lambda: simulated_annealing(
        ising, num_sweeps=200, num_chains=4, seed=0, num_threads=threads, t_start=3.0, t_end=0.3)
    out["tabu Ising n=1000"] = lambda: tabu_search(ising, max_iters=20000, seed=0, num_threads=1)
    out["ILS TSP n=2000 (3000 kicks)"] = lambda: iterated_local_search(
        tsp, max_iters=3000, seed=0, num_threads=1)
    out["swarm Rastrigin-30 (50 x 2000)"] = lambda: particle_swarm(
        rastrigin, n_particles=50, max_iters=2000, seed=0, num_threads=1)
    out["anneal Rastrigin-30"] = lambda: simulated_annealing(
        rastrigin, num_sweeps=2000, num_chains=2, seed=0, num_threads=threads)
    return out

threads, repeats = int(sys.argv[1]), int(sys.argv[2])
try:
    from attnsearch import _dispatch
except ImportError:  # a build from before the runtime dispatch
    targets = ["no dispatch"]
else:
    targets = sorted({_dispatch.selected_target(f) for f in _dispatch.config()["families"]})
result = {"targets": targets, "times": {}}
for name, fn in workloads(threads).items():
    time.sleep(0.2)  # let BLAS/OpenMP workers of the previous workload go idle
    result["times"][name] = median_time(fn, repeats)
print(json.dumps(result))
"""


def run_worker(path, target, threads, repeats):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    env.pop("ATTNSEARCH_CPU_TARGET", None)
    if target:
        env["ATTNSEARCH_CPU_TARGET"] = target
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(threads), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    if done.returncode:
        raise SystemExit(f"worker for {path} ({target}) failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", required=True,
                        help="LABEL=PATH of a folder holding an importable attnsearch")
    parser.add_argument("--targets", default="",
                        help="comma-separated CPU targets to run each build under")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    builds = [b.split("=", 1) for b in args.build]
    targets = [t for t in args.targets.split(",") if t] or [None]
    columns = [(label, path, target) for label, path in builds for target in targets]
    samples = {column: [] for column in columns}
    reported = {}
    for round_index in range(args.rounds):
        order = columns if round_index % 2 == 0 else columns[::-1]
        for column in order:
            label, path, target = column
            result = run_worker(os.path.abspath(path), target, args.threads, args.repeats)
            samples[column].append(result["times"])
            reported[column] = "+".join(result["targets"])
            print(f"round {round_index + 1}: {label} ({reported[column]}) done",
                  file=sys.stderr, flush=True)
            time.sleep(1)
    names = list(samples[columns[0]][0])
    heads = [f"{label} [{reported[(label, path, target)]}]"
             for label, path, target in columns]
    print(f"{args.threads} threads, median over {args.rounds} alternating rounds of the "
          f"median of {args.repeats} runs; ratio = first column's time / this column's")
    width = max(len(n) for n in names)
    print(f"{'workload':<{width}}  " + "  ".join(f"{h:>24}" for h in heads))
    for name in names:
        medians = [statistics.median(s[name] for s in samples[c]) for c in columns]
        cells = [f"{medians[0] * 1e3:10.2f} ms" + " " * 11]
        cells += [f"{m * 1e3:10.2f} ms {medians[0] / m:5.2f}x" + " " * 4 for m in medians[1:]]
        print(f"{name:<{width}}  " + "  ".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
