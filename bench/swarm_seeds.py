"""Final values of the particle swarm against pyswarms over many seeds (issue 23).

    PYTHONPATH=src python bench/swarm_seeds.py --functions rosenbrock \\
        --seeds 600 --pyswarms-seeds 300 --topology von_neumann global ring

The workloads of bench/swarm_pyswarms.py (30-d, 50 particles x 2000
iterations, 1 thread, pyswarms' constants), timed nowhere: per function and
setting, the median final value with a bootstrap 95 % interval, the mean, the
quartiles and the medians of consecutive blocks of 60 seeds, which show how far
a median over 60 seeds moves with the seeds alone.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from swarm_pyswarms import CASES, CONSTANTS, griewank

BLOCK = 60


def ours(name, bounds, seeds, iters, topology):
    from attnsearch.search import Continuous, particle_swarm

    problem = Continuous.builtin(name, dim=30, bounds=[bounds] * 30)
    return [
        particle_swarm(
            problem,
            n_particles=50,
            max_iters=iters,
            seed=seed,
            num_threads=1,
            topology=topology,
            **CONSTANTS,
        ).objective
        for seed in seeds
    ]


def pyswarms_values(name, bounds, seeds, iters):
    import pyswarms
    from pyswarms.utils.functions import single_obj

    logging.disable(logging.CRITICAL)
    function = griewank if name == "griewank" else getattr(single_obj, name)
    values = []
    for seed in seeds:
        np.random.seed(seed)  # noqa: NPY002 (pyswarms draws from the global RNG)
        optimizer = pyswarms.single.GlobalBestPSO(
            n_particles=50,
            dimensions=30,
            options=CONSTANTS,
            bounds=(np.full(30, bounds[0]), np.full(30, bounds[1])),
        )
        cost, _ = optimizer.optimize(function, iters=iters, verbose=False)
        values.append(float(cost))
    return values


def summary(label, values):
    values = np.asarray(values)
    resampled = np.random.default_rng(0).choice(values, (2000, values.size))
    low, high = np.quantile(np.median(resampled, axis=1), [0.025, 0.975])
    q1, q3 = np.quantile(values, [0.25, 0.75])
    blocks = [
        f"{np.median(values[i : i + BLOCK]):.3g}"
        for i in range(0, values.size - BLOCK + 1, BLOCK)
    ]
    print(
        f"  {label:>12} seeds {values.size:4d}  median {np.median(values):9.3g} "
        f"[{low:.3g}, {high:.3g}]  mean {values.mean():9.3g}  "
        f"quartiles {q1:.3g} / {q3:.3g}  medians of {BLOCK}: {' '.join(blocks)}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", nargs="+", default=[n for n, _ in CASES])
    parser.add_argument("--seeds", type=int, default=600)
    parser.add_argument("--pyswarms-seeds", type=int, default=0)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--topology", nargs="+", default=["von_neumann", "global"])
    args = parser.parse_args(argv)
    print(
        f"30-d, 50 particles x {args.iters} iterations, 1 thread, w 0.729, "
        "c1 = c2 = 1.49445; final values, seeds from 0"
    )
    for name, bounds in CASES:
        if name not in args.functions:
            continue
        print(name)
        if args.pyswarms_seeds:
            seeds = range(args.pyswarms_seeds)
            summary("pyswarms", pyswarms_values(name, bounds, seeds, args.iters))
        for topology in args.topology:
            values = ours(name, bounds, range(args.seeds), args.iters, topology)
            summary(topology, values)


if __name__ == "__main__":
    main()
