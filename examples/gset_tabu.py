"""Max-cut on a G-set graph with tabu search, against annealing
============================================================

    python examples/gset_tabu.py [GRAPH.txt] [SECONDS]

Defaults to G22 from the developers' full G-set folder (../shared/data/gset beside
the checkout) when it is there, else (and with small sizes,
ATTNSEARCH_EXAMPLES_SMALL=1, as CI and the documentation run it) the G11 torus
shipped in attnsearch.data.
"""

import sys

from _common import SMALL, data_file

from attnsearch.search import MaxCut, simulated_annealing, tabu_search

if len(sys.argv) > 1:
    path = sys.argv[1]
else:
    try:  # G22 is not shipped: without the developers' folder, the G11 torus
        path = data_file("gset", "G11.txt" if SMALL else "G22.txt")
    except FileNotFoundError:
        path = data_file("gset", "G11.txt")
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else (0.5 if SMALL else 5.0)
graph = MaxCut.from_gset(path)
print(
    f"{path.name if hasattr(path, 'name') else path}: {graph.n} vertices, "
    f"{len(graph.weights)} edges"
)
for method in (tabu_search, simulated_annealing):
    result = method(graph, time_limit=seconds, num_chains=2, seed=0)
    assert graph.cut_value(result.best_state) == result.objective
    extra = (
        f"tenure {result.params['tenure']}"
        if method is tabu_search
        else f"{result.params['num_sweeps']} sweeps"
    )
    print(
        f"{method.__name__:>20}: cut {result.objective:.0f} in {result.elapsed:.2f} s "
        f"({extra})"
    )
