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
from pathlib import Path

#: The script each (build, target) runs in its own interpreter.
WORKER = Path(__file__).with_name("_builds_worker.py")


def run_worker(path, target, threads, repeats):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    env.pop("ATTNSEARCH_CPU_TARGET", None)
    if target:
        env["ATTNSEARCH_CPU_TARGET"] = target
    done = subprocess.run(
        [sys.executable, str(WORKER), str(threads), str(repeats)],
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
    parser.add_argument(
        "--build",
        action="append",
        required=True,
        help="LABEL=PATH of a folder holding an importable attnsearch",
    )
    parser.add_argument(
        "--targets",
        default="",
        help="comma-separated CPU targets to run each build under",
    )
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
            result = run_worker(
                os.path.abspath(path), target, args.threads, args.repeats
            )
            samples[column].append(result["times"])
            reported[column] = "+".join(result["targets"])
            print(
                f"round {round_index + 1}: {label} ({reported[column]}) done",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(1)
    names = list(samples[columns[0]][0])
    heads = [
        f"{label} [{reported[(label, path, target)]}]"
        for label, path, target in columns
    ]
    print(
        f"{args.threads} threads, median over {args.rounds} alternating rounds of the "
        f"median of {args.repeats} runs; ratio = first column's time / this column's"
    )
    width = max(len(n) for n in names)
    print(f"{'workload':<{width}}  " + "  ".join(f"{h:>24}" for h in heads))
    for name in names:
        medians = [statistics.median(s[name] for s in samples[c]) for c in columns]
        cells = [f"{medians[0] * 1e3:10.2f} ms" + " " * 11]
        cells += [
            f"{m * 1e3:10.2f} ms {medians[0] / m:5.2f}x" + " " * 4 for m in medians[1:]
        ]
        print(f"{name:<{width}}  " + "  ".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
