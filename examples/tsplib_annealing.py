"""Solve a TSPLIB instance with simulated annealing and draw the tour
==================================================================

    python examples/tsplib_annealing.py [FILE.tsp] [SECONDS]

Defaults to a280 (the developers' full TSPLIB folder, ../shared/data/tsplib beside
the checkout, when it is there, else the copy shipped in attnsearch.data); with
small sizes (ATTNSEARCH_EXAMPLES_SMALL=1), berlin52. With matplotlib, the tour
and the convergence trace are saved as PNG files in the current directory.
"""

import sys

from _common import SMALL, data_file, save_figure

from attnsearch.search import TSP, hill_climb, simulated_annealing

path = (
    sys.argv[1]
    if len(sys.argv) > 1
    else data_file("tsplib", "berlin52.tsp" if SMALL else "a280.tsp")
)
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else (0.5 if SMALL else 5.0)
tsp = TSP.from_tsplib(path)
print(f"{tsp.name}: {tsp.n} cities ({tsp.metric}), optimum {tsp.optimum}")

climbed = hill_climb(tsp, strategy="first", num_chains=8, seed=0)
annealed = simulated_annealing(tsp, time_limit=seconds, num_chains=2, seed=0)
for label, result in (
    ("hill climbing, 8 restarts", climbed),
    (f"annealing, {seconds:g} s", annealed),
):
    gap = 100 * (result.objective / tsp.optimum - 1) if tsp.optimum else float("nan")
    print(
        f"{label:>26}: {result.objective:.0f} (gap {gap:.2f} %, {result.elapsed:.2f} s)"
    )
print(
    f"schedule: T from {annealed.params['t_start']:.3g} to "
    f"{annealed.params['t_end']:.3g} over {annealed.params['num_sweeps']} sweeps"
)

try:
    from attnsearch import plot
except ImportError:
    plot = None
try:
    save_figure(plot.tour(tsp, annealed.best_state), f"{tsp.name}_tour.png")
    save_figure(annealed.plot(), f"{tsp.name}_history.png")
except ImportError:
    print("matplotlib is not installed: no pictures (pip install 'attnsearch[plot]')")
