"""Cost of progress=True: the same annealing run with and without the bar.

    python bench/progress_overhead.py

G1 from the developers' data folder (../shared/data beside the checkout: the full
G-set collection) when present, else the G11 torus shipped in attnsearch.data.
"""

import statistics
import sys
import time
from pathlib import Path

from attnsearch import data
from attnsearch.search import MaxCut, simulated_annealing

ROOT = Path(__file__).resolve().parent.parent
path = ROOT.parent / "shared" / "data" / "gset" / "G1.txt"
if not path.is_file():
    path = data.path("G11.txt")
graph = MaxCut.from_gset(path)
times = {False: [], True: []}
for _ in range(5):
    for progress in (False, True):  # alternated, so drifts hit both alike
        start = time.perf_counter()
        simulated_annealing(
            graph, num_chains=2, num_sweeps=20000, seed=0, progress=progress
        )
        times[progress].append(time.perf_counter() - start)
off, on = statistics.median(times[False]), statistics.median(times[True])
print(
    f"{path.stem}, 2 chains x 20000 sweeps, median of 5: progress=False {off:.3f} s, "
    f"progress=True {on:.3f} s, overhead {100 * (on / off - 1):+.1f} %",
    file=sys.stdout,
)
