"""Worker of bench/compare_builds.py: times the workloads with whichever
attnsearch is importable and prints one JSON object.

    python bench/_builds_worker.py THREADS REPEATS
"""

import json
import sys
import time

import numpy as np


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def workloads(threads):
    from attnsearch.attention import (
        AdamW,
        MultiHeadAttention,
        scaled_dot_product_attention_backward,
    )
    from attnsearch.attention import (
        scaled_dot_product_attention as sdpa,
    )
    from attnsearch.search import (
        TSP,
        Continuous,
        Ising,
        iterated_local_search,
        particle_swarm,
        simulated_annealing,
        tabu_search,
    )

    rng = np.random.default_rng(0)
    out = {}
    for n, dtype in [(1024, np.float32), (4096, np.float32), (1024, np.float64)]:
        q, k, v = (rng.standard_normal((1, 8, n, 64)).astype(dtype) for _ in range(3))
        for causal in (False, True):
            name = f"prefill n={n} {np.dtype(dtype).name}{' causal' if causal else ''}"
            out[name] = lambda q=q, k=k, v=v, c=causal: sdpa(
                q, k, v, causal=c, num_threads=threads
            )
    for n_kv in (4096, 32768):
        q = rng.standard_normal((1, 32, 1, 128)).astype(np.float32)
        k, v = (
            rng.standard_normal((1, 8, n_kv, 128)).astype(np.float32) for _ in range(2)
        )
        out[f"decode 32/8 heads d128 n_kv={n_kv}"] = lambda q=q, k=k, v=v: sdpa(
            q, k, v, num_threads=threads
        )
    q1 = rng.standard_normal((1, 8, 1, 64)).astype(np.float32)
    k1, v1 = (
        rng.standard_normal((1, 8, 4096, 64)).astype(np.float32) for _ in range(2)
    )
    out["decode 8/8 heads d64 n_q=1 n_kv=4096"] = lambda: sdpa(
        q1, k1, v1, num_threads=threads
    )
    q = rng.standard_normal((1, 8, 16, 64)).astype(np.float32)
    k, v = (rng.standard_normal((1, 8, 4096, 64)).astype(np.float32) for _ in range(2))
    out["decode 8/8 heads d64 n_q=16 n_kv=4096"] = lambda: sdpa(
        q, k, v, num_threads=threads
    )
    q, k, v = (
        rng.standard_normal((1, 8, 1024, 64)).astype(np.float32) for _ in range(3)
    )
    g = rng.standard_normal((1, 8, 1024, 64)).astype(np.float32)

    def fwd_bwd():
        o, lse = sdpa(q, k, v, causal=True, return_lse=True, num_threads=threads)
        scaled_dot_product_attention_backward(
            g, q, k, v, o, lse, causal=True, num_threads=threads
        )

    out["forward+backward n=1024 f32 causal"] = fwd_bwd
    layer = MultiHeadAttention(512, 8, seed=0)
    opt = AdamW(layer, lr=1e-4)
    x = rng.standard_normal((8, 512, 512)).astype(np.float32)

    def step():
        y = layer(x, keep_for_backward=True, num_threads=threads)
        layer.backward(y, num_threads=threads)
        opt.step()
        opt.zero_grad()

    out["MHA(512, 8) training step (8, 512, 512)"] = step
    edges = {}
    for i in range(1000):
        for j in rng.choice(1000, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1, 1]))
    ising = Ising(np.zeros(1000), edges)
    # The moves pinned: the same work per kick in every build (the default
    # gained the Lin-Kernighan step, more work per kick for a better tour).
    tsp = TSP(
        np.random.default_rng(0).uniform(size=(2000, 2)),
        candidates="nearest",
        moves=("2opt", "oropt", "3opt"),
    )
    tsp._search_spec()
    rastrigin = Continuous.builtin("rastrigin", dim=30)
    out["anneal Ising n=1000 (4 chains)"] = lambda: simulated_annealing(
        ising,
        num_sweeps=200,
        num_chains=4,
        seed=0,
        num_threads=threads,
        t_start=3.0,
        t_end=0.3,
    )
    out["tabu Ising n=1000"] = lambda: tabu_search(
        ising, max_iters=20000, seed=0, num_threads=1
    )
    out["ILS TSP n=2000 (3000 kicks)"] = lambda: iterated_local_search(
        tsp, max_iters=3000, seed=0, num_threads=1
    )
    out["swarm Rastrigin-30 (50 x 2000)"] = lambda: particle_swarm(
        rastrigin, n_particles=50, max_iters=2000, seed=0, num_threads=1
    )
    out["anneal Rastrigin-30"] = lambda: simulated_annealing(
        rastrigin, num_sweeps=2000, num_chains=2, seed=0, num_threads=threads
    )
    return out


threads, repeats = int(sys.argv[1]), int(sys.argv[2])
try:
    from attnsearch import _dispatch
except ImportError:  # a build from before the runtime dispatch
    targets = ["no dispatch"]
else:
    targets = sorted(
        {_dispatch.selected_target(f) for f in _dispatch.config()["families"]}
    )
result = {"targets": targets, "times": {}}
for name, fn in workloads(threads).items():
    time.sleep(0.2)  # let BLAS/OpenMP workers of the previous workload go idle
    result["times"][name] = median_time(fn, repeats)
print(json.dumps(result))
