"""TSP with coincident cities: ILS with every default on cities stacked at sites.

    python bench/tsp_coincident.py [--seconds S] [--seeds K]

Two instances of uniform random sites in a 1000 x 1000 square: 50 sites with 15
cities each (750 cities: nearest lists) and 100 sites with 1 to 24 cities each,
shuffled (1266 cities: alpha lists). Prints the candidate kind and, per seed,
the gap of the tour to the best of K runs on the sites alone (every city of a
site visited in a row costs nothing, so that is the optimum to within what ILS
finds on 50-100 cities).
"""

import argparse

import numpy as np

from attnsearch.search import TSP, iterated_local_search


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    few = rng.uniform(0, 1000, (50, 2))
    many = rng.uniform(0, 1000, (100, 2))
    stacked = np.repeat(many, rng.integers(1, 25, 100), axis=0)
    instances = (
        ("50 sites x 15", few, np.repeat(few, 15, axis=0)),
        ("100 sites x 1..24", many, stacked[rng.permutation(len(stacked))]),
    )
    for name, sites, coords in instances:
        best = min(
            iterated_local_search(TSP(sites), time_limit=args.seconds, seed=s).objective
            for s in range(args.seeds)
        )
        try:
            tsp = TSP(coords)
        except ValueError as error:
            print(f"{name}: refused ({error})")
            continue
        gaps = [
            100 * (iterated_local_search(tsp, time_limit=args.seconds, seed=s).objective
                   / best - 1)
            for s in range(args.seeds)
        ]  # fmt: skip
        print(
            f"{name} ({len(coords)} cities, {tsp.candidate_kind} lists): gap % "
            + " / ".join(f"{gap:.2f}" for gap in gaps)
        )


if __name__ == "__main__":
    main()
