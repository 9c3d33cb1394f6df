"""What the double-bridge kicks of TSP iterated local search come to (issue 22).

Two measurements:

``outcomes``: runs the reference backend (the kernel's step-for-step mirror)
for ``--kicks`` kicks on one chain and sorts every kick by what the descent
after it made of it: *rolled back* (the local optimum was longer), *kept,
same tour* (the descent undid the double bridge: the tour has the same edges
as before the kick) or *kept, new tour* (an improvement or an equal-length
different tour), with the shortest of the three segment lengths of each kind.
The reference is slow; rat783 or pr2392 with a few hundred kicks is enough.

``budget``: gap to the optimum at equal CPU time (``--budget`` CPU seconds of
this process per run, one chain, one thread; seeds interleaved over the
variants, so that the machine's load changes every variant alike), for
``kick_length`` values given with ``--kick-lengths``.

    python bench/tsp_kick.py outcomes --only rat783 --kicks 600
    python bench/tsp_kick.py budget --only pr2392 --budget 3 --seeds 6 \\
        --kick-lengths 50 25 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from attnsearch.search import TSP, iterated_local_search
from attnsearch.search.problems.tsp import _reference

try:
    from tsp_partition import DATA, _optimum
except ImportError:  # run from elsewhere
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tsp_partition import DATA, _optimum


def _edges(tour):
    n = len(tour)
    return {frozenset((tour[i], tour[(i + 1) % n])) for i in range(n)}


def outcomes(name, kicks, kick_length, seed):
    """Sort the kicks of one reference ILS chain by what the descent made of them."""
    cls = _reference.TSPReference
    kick, rollback, checkpoint = cls.kick, cls.rollback, cls.checkpoint
    current: dict = {}
    log: list = []

    def logged_kick(self, st, rng, strength):
        draws: list = []

        class Recorder:
            def below(self, m):
                value = rng.below(m)
                draws.append(value)
                return value

        before = list(st.tour)
        delta = kick(self, st, Recorder(), strength)
        current.update(before=before, lengths=[1 + d for d in draws[1:4]])
        return delta

    def logged_rollback(self, st):
        current["rolled_back"] = True
        return rollback(self, st)

    def logged_checkpoint(self, st):
        # The previous iteration is decided by the time the next one starts.
        if "before" in current:
            if current.get("rolled_back"):
                kind = "rolled back"
            elif _edges(current["before"]) == _edges(st.tour):
                kind = "kept, same tour"
            else:
                kind = "kept, new tour"
            log.append((kind, min(current["lengths"])))
        current.clear()
        return checkpoint(self, st)

    cls.kick, cls.rollback = logged_kick, logged_rollback
    cls.checkpoint = logged_checkpoint
    try:
        tsp = TSP.from_tsplib(DATA / f"{name}.tsp", kick_length=kick_length)
        iterated_local_search(
            tsp, max_iters=kicks + 1, seed=seed, num_threads=1, backend="reference"
        )
    finally:
        cls.kick, cls.rollback, cls.checkpoint = kick, rollback, checkpoint
    print(f"{name}, kick_length {kick_length}, seed {seed}: {len(log)} kicks")
    for kind in ("rolled back", "kept, same tour", "kept, new tour"):
        shortest = np.array([s for k, s in log if k == kind])
        if shortest.size == 0:
            print(f"  {kind:<16} 0")
            continue
        print(
            f"  {kind:<16}{shortest.size:>6} ({100 * shortest.size / len(log):4.1f} %)"
            f"  shortest segment: mean {shortest.mean():5.1f},"
            f" <= 2 in {100 * np.mean(shortest <= 2):4.1f} %"
        )


def budget(name, seconds, seeds, kick_lengths):
    """Gap at equal CPU time per kick_length, seeds interleaved."""
    optimum = _optimum(name)
    problems = {}
    for length in kick_lengths:
        tsp = TSP.from_tsplib(DATA / f"{name}.tsp", kick_length=length)
        tsp._search_spec()  # candidates and the start tour, off the clock
        problems[length] = tsp
    gaps: dict = {length: [] for length in kick_lengths}
    kicks: dict = {length: [] for length in kick_lengths}
    for seed in range(seeds):
        for length, tsp in problems.items():
            limit = time.process_time() + seconds
            result = iterated_local_search(
                tsp,
                time_limit=20 * seconds,
                num_threads=1,
                seed=seed,
                callback=lambda progress: time.process_time() >= limit,
            )
            gaps[length].append(100.0 * (result.objective / optimum - 1.0))
            kicks[length].append(int(result.params["iterations"][0]))
    print(f"{name}, {seconds} CPU s per run, 1 chain, seeds 0..{seeds - 1}")
    for length in kick_lengths:
        text = " ".join(f"{g:6.3f}" for g in gaps[length])
        mean = np.mean(gaps[length])
        print(
            f"  kick_length {length:>5}: gaps % {text}  mean {mean:6.3f}"
            f"  kicks/CPU s {np.mean(kicks[length]) / seconds:8.0f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("outcomes", "budget"))
    parser.add_argument("--only", nargs="*", default=["rat783"])
    parser.add_argument("--kicks", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--kick-lengths", nargs="*", type=int, default=[50])
    args = parser.parse_args(argv)
    for name in args.only:
        if args.mode == "outcomes":
            for length in args.kick_lengths:
                outcomes(name, args.kicks, length, args.seed)
        else:
            budget(name, args.budget, args.seeds, args.kick_lengths)


if __name__ == "__main__":
    main()
