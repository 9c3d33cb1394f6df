"""How closely every method honours ``time_limit`` with slow Python objectives.

    python bench/time_limits.py                      # 20 ms, 0.1 s and 0.5 s, limit 1 s
    python bench/time_limits.py --pauses 0.02 --limit 0.5 --jobs 2

Every method of ``attnsearch.search.methods.METHODS`` runs with its defaults
and ``time_limit`` on two problems whose every evaluation sleeps for the given
time: a ``Continuous`` over a Python function (5 coordinates; the only kind the
particle swarm takes) and a ``Problem`` subclass (16 bits, ``delta`` and
``cost`` each one evaluation). The table gives the elapsed wall time of the
call, its overshoot past the limit and whether it stayed within the promise
of ARCHITECTURE.md: 10 % of the limit plus one evaluation (the one running
when the limit passed). Each run has an interpreter of its own, killed after
``--timeout`` seconds (reported as ``> timeout``); runs sleep rather than
compute, so ``--jobs`` of them share the machine without disturbing each other.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import textwrap

#: The run of one (method, problem, pause), in a fresh interpreter.
WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from attnsearch.search import Continuous, Problem
    from attnsearch.search.methods import method_function

    method, kind, pause, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), \\
        float(sys.argv[4])

    def slow_sphere(x):
        time.sleep(pause)
        return float(np.sum(x * x))

    class SlowBits(Problem):
        # Minimise the number of ones; delta and cost sleep like an objective.
        def __init__(self, n=16):
            super().__init__()
            self.n = self.size = n

        def initial(self, rng):
            return np.array([rng.below(2) for _ in range(self.n)])

        def random_move(self, state, rng):
            return rng.below(self.n)

        def delta(self, state, i):
            time.sleep(pause)
            return 1 - 2 * int(state[i])

        def apply(self, state, i):
            state[i] ^= 1

        def cost(self, state):
            time.sleep(pause)
            return int(state.sum())

        def moves(self, state):
            return range(self.n)

    if kind == "continuous":
        problem = Continuous(slow_sphere, [(-5.0, 5.0)] * 5)
    else:
        problem = SlowBits()
    start = time.perf_counter()
    result = method_function(method)(problem, time_limit=limit, seed=0)
    elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed": elapsed, "stop": result.stop_reason}))
    """
)


def run_one(method, kind, pause, limit, timeout):
    """Elapsed seconds and stop reason of one run (None, None when killed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, method, kind, str(pause), str(limit)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, None
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["elapsed"], out["stop"]


def main() -> None:
    from attnsearch.search.methods import METHODS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pauses", default="0.02,0.1,0.5", help="seconds/evaluation")
    parser.add_argument("--limit", type=float, default=1.0, help="time_limit (s)")
    parser.add_argument("--jobs", type=int, default=4, help="runs at a time")
    parser.add_argument("--timeout", type=float, default=150.0, help="kill after (s)")
    args = parser.parse_args()
    pauses = [float(p) for p in args.pauses.split(",")]
    runs = [
        (method, kind, pause)
        for method in METHODS.values()
        for kind in ("continuous", "problem")
        if not (method == "particle_swarm" and kind == "problem")
        for pause in pauses
    ]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            run: pool.submit(run_one, *run, args.limit, args.timeout) for run in runs
        }
    print(
        f"time_limit={args.limit:g} s; within = elapsed <= 1.1 * limit + one evaluation"
    )
    header = f"| method | problem | {' | '.join(f'{p:g} s/eval' for p in pauses)} |"
    print(header)
    print("|---|---|" + "---|" * len(pauses))
    for method in METHODS.values():
        for kind in ("continuous", "problem"):
            if method == "particle_swarm" and kind == "problem":
                continue
            cells = []
            for pause in pauses:
                elapsed, stop = futures[(method, kind, pause)].result()
                if elapsed is None:
                    cells.append(f"> {args.timeout:g} s" if stop is None else stop)
                    continue
                over = elapsed - args.limit
                ok = elapsed <= 1.1 * args.limit + pause
                cells.append(
                    f"{elapsed:.2f} s ({over:+.2f}) {'ok' if ok else 'OVER'}"
                    + ("" if stop == "time_limit" else f" [{stop}]")
                )
            print(f"| {method} | {kind} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
