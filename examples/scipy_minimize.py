"""SciPy-style minimize with attnsearch's global methods
=====================================================

python examples/scipy_minimize.py
"""

import numpy as np
from _common import SMALL
from scipy.optimize import Bounds, rosen

from attnsearch.search import minimize

# A compiled built-in function by name: no Python in the loop.
dim = 10
res = minimize(
    "rastrigin",
    [(-5.12, 5.12)] * dim,
    method="pso",
    seed=0,
    maxiter=500 if SMALL else 5000,
    num_chains=4,
)
print(
    f"rastrigin-{dim} with 4 swarms: f = {res.fun:.3g}, {res.nfev} evaluations, "
    f"{res.message}"
)

# Your own function, SciPy's Bounds, x0 and a callback that stops the run.
trace = []


def stop_when_close(intermediate_result):
    trace.append(intermediate_result.fun)
    if intermediate_result.fun < 1e-6:
        raise StopIteration


res = minimize(
    rosen,
    Bounds([-2.0] * 4, [2.0] * 4),
    x0=np.zeros(4),
    method="anneal",
    callback=stop_when_close,
    time_limit=1 if SMALL else 5,
    seed=1,
)
print(
    f"rosenbrock-4 by annealing: f = {res.fun:.3g} at {np.round(res.x, 4)}, "
    f"status {res.status} ({res.message}), callback called {len(trace)} times"
)
