"""Solve a random number-partitioning instance with the compiled example problem.

cd examples/cython_problem && python setup.py build_ext --inplace && python run.py
"""

import numpy as np
from number_partitioning import NumberPartitioning

from attnsearch.search import hill_climb, simulated_annealing

rng = np.random.default_rng(0)
values = rng.integers(1, 10**6, size=200)
problem = NumberPartitioning(values)
annealed = simulated_annealing(problem, num_sweeps=2000, num_chains=8, seed=0)
climbed = hill_climb(problem, num_chains=8, seed=0)
print(f"sum of the numbers:          {values.sum()}")
print(f"annealing: difference {annealed.best_cost:.0f} in {annealed.elapsed:.2f} s")
print(f"hill climbing: difference {climbed.best_cost:.0f} in {climbed.elapsed:.2f} s")
