"""Particle swarm builds against pyswarms, per run, interleaved (issue 23).

    python bench/swarm_pyswarms.py --build before=/path/to/old/src --build after=src

30-d Rastrigin, Ackley ([-32, 32], pyswarms' domain), Rosenbrock and Griewank,
50 particles x 2000 iterations, 1 thread, pyswarms' constants (w 0.729,
c1 = c2 = 1.49445). Each round times pyswarms' GlobalBestPSO here and every
build in its own interpreter (two builds of one package cannot share one), in
alternating order; a run's time is its wall time and its thread CPU time (the
steadier figure on a shared machine). Reported: the median over rounds and
seeds per function, the ratio pyswarms / build (its evaluation rate per thread
relative to pyswarms', same evaluations), and the median final value over the
seeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time

import numpy as np

CONSTANTS = {"w": 0.729, "c1": 1.49445, "c2": 1.49445}
CASES = [
    ("rastrigin", (-5.12, 5.12)),
    ("ackley", (-32.0, 32.0)),
    ("rosenbrock", (-5.0, 10.0)),
    ("griewank", (-600.0, 600.0)),
]

WORKER = """
import json, sys, time
from attnsearch.search import Continuous, particle_swarm
cases, seeds, iters, constants = json.loads(sys.argv[1])
out = {}
for name, (lo, hi) in cases:
    problem = Continuous.builtin(name, dim=30, bounds=[(lo, hi)] * 30)
    rows = []
    for seed in seeds:
        cpu, wall = time.thread_time(), time.perf_counter()
        result = particle_swarm(problem, n_particles=50, max_iters=iters, seed=seed,
                                num_threads=1, **constants)
        rows.append((time.perf_counter() - wall, time.thread_time() - cpu,
                     result.objective))
    out[name] = rows
print(json.dumps(out))
"""


def griewank(x):
    i = np.arange(1, x.shape[1] + 1)
    return 1 + np.sum(x**2, axis=1) / 4000 - np.prod(np.cos(x / np.sqrt(i)), axis=1)


def run_pyswarms(seeds, iters):
    import pyswarms
    from pyswarms.utils.functions import single_obj

    logging.disable(logging.CRITICAL)
    out = {}
    for name, (lo, hi) in CASES:
        function = griewank if name == "griewank" else getattr(single_obj, name)
        rows = []
        for seed in seeds:
            np.random.seed(seed)  # noqa: NPY002 (pyswarms draws from the global RNG)
            optimizer = pyswarms.single.GlobalBestPSO(
                n_particles=50,
                dimensions=30,
                options=CONSTANTS,
                bounds=(np.full(30, lo), np.full(30, hi)),
            )
            cpu, wall = time.thread_time(), time.perf_counter()
            cost, _ = optimizer.optimize(function, iters=iters, verbose=False)
            rows.append(
                (time.perf_counter() - wall, time.thread_time() - cpu, float(cost))
            )
        out[name] = rows
    return out


def run_build(path, seeds, iters):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps([CASES, seeds, iters, CONSTANTS])],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    if done.returncode:
        raise SystemExit(f"worker for {path} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", required=True, help="LABEL=PATH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2000)
    args = parser.parse_args(argv)
    builds = [b.split("=", 1) for b in args.build]
    seeds = list(range(args.seeds))
    columns = ["pyswarms"] + [label for label, _ in builds]
    samples = {column: {name: [] for name, _ in CASES} for column in columns}
    for round_index in range(args.rounds):
        order = columns if round_index % 2 == 0 else columns[::-1]
        for column in order:
            if column == "pyswarms":
                result = run_pyswarms(seeds, args.iters)
            else:
                result = run_build(dict(builds)[column], seeds, args.iters)
            for name, rows in result.items():
                samples[column][name].extend(rows)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    print(
        f"30-d, 50 particles x {args.iters} iterations, 1 thread, seeds 0-"
        f"{args.seeds - 1}, {args.rounds} rounds; ms per run (median), "
        "x pyswarms = pyswarms' time / ours, final value = median over the seeds"
    )
    header = f"{'function':>10}  {'build':>9}  {'wall ms':>8}  {'cpu ms':>7}"
    print(header + f"  {'x wall':>7}  {'x cpu':>6}  {'final value':>11}")
    for name, _ in CASES:
        peer = samples["pyswarms"][name]
        peer_wall = statistics.median(r[0] for r in peer)
        peer_cpu = statistics.median(r[1] for r in peer)
        for column in columns:
            rows = samples[column][name]
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            final = statistics.median(r[2] for r in rows[: len(seeds)])
            print(
                f"{name:>10}  {column:>9}  {1e3 * wall:8.1f}  {1e3 * cpu:7.1f}  "
                f"{peer_wall / wall:7.1f}  {peer_cpu / cpu:6.1f}  {final:11.3g}"
            )


if __name__ == "__main__":
    main()
