"""Particle swarms on Rastrigin: topologies, and a user-defined function
=====================================================================

python examples/pso_rastrigin.py
"""

import numpy as np
from _common import SMALL

from attnsearch.search import Continuous, particle_swarm

dim, iterations = (10, 300) if SMALL else (30, 2000)
rastrigin = Continuous.builtin("rastrigin", dim=dim)
print(f"Rastrigin-{dim}: minimum {rastrigin.minimum} at the origin")
for topology in ("global", "ring", "von_neumann"):
    result = particle_swarm(
        rastrigin,
        n_particles=50,
        topology=topology,
        boundary="periodic",
        max_iters=iterations,
        num_chains=4,
        seed=0,
    )
    print(
        f"{topology:>12}: best {result.objective:8.3f} over 4 swarms, "
        f"{result.n_evaluations / result.elapsed / 1e6:.1f} M evaluations/s"
    )


# Your own function (vectorised: one call evaluates the whole swarm).
def shifted_bowl(points):
    return ((points - 0.3) ** 2).sum(axis=1) + 1.0


mine = Continuous(shifted_bowl, bounds=[(-1, 1)] * 5, vectorized=True)
result = particle_swarm(mine, max_iters=200, seed=0)
print(
    f"user function: minimum {result.objective:.6f} at {np.round(result.best_state, 4)}"
)
assert abs(result.objective - 1.0) < 1e-6
