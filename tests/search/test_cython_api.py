"""A third-party problem written in Cython against cython_api.pxd, built by this test.

It proves the C-level interface is usable from outside: the example in
examples/cython_problem/ is compiled in a temporary directory, then run by the
engine and compared step by step with the same problem written in Python.
"""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import attnsearch
from attnsearch.search import CompiledProblem, Problem, hill_climb, simulated_annealing

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cython_problem"


@pytest.fixture(scope="module")
def number_partitioning(tmp_path_factory):
    build = tmp_path_factory.mktemp("cython_problem")
    for name in ("number_partitioning.pyx", "setup.py"):
        shutil.copy(EXAMPLE / name, build / name)
    env = dict(os.environ)
    package_parent = str(Path(attnsearch.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
    completed = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=build,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    sys.path.insert(0, str(build))
    try:
        yield importlib.import_module("number_partitioning")
    finally:
        sys.path.remove(str(build))


class PythonPartitioning(Problem):
    """The same problem in Python, drawing from the streams in the same order."""

    def __init__(self, values):
        super().__init__()
        self.values = np.asarray(values, dtype=float)
        self.size = len(values)

    def initial(self, rng):
        spins = np.array(
            [1 if rng.next_u64() >> 63 else -1 for _ in self.values], dtype=np.int8
        )
        return [spins, float(np.dot(self.values, spins))]

    def random_move(self, state, rng):
        return rng.below(self.size)

    def delta(self, state, i):
        change = 2.0 * self.values[i] * state[0][i]
        return abs(state[1] - change) - abs(state[1])

    def apply(self, state, i):
        state[1] -= 2.0 * self.values[i] * state[0][i]
        state[0][i] = -state[0][i]

    def cost(self, state):
        return abs(state[1])

    def moves(self, state):
        return range(self.size)


def test_compiled_problem_matches_python_twin(number_partitioning):
    values = np.random.default_rng(0).integers(1, 1000, size=60)
    compiled = number_partitioning.NumberPartitioning(values)
    assert isinstance(compiled, CompiledProblem) and compiled.exact_costs
    twin = PythonPartitioning(values)
    kwargs = dict(num_sweeps=50, num_chains=3, seed=4)
    a = simulated_annealing(compiled, **kwargs)
    b = simulated_annealing(twin, **kwargs)
    assert a.params["backend"] == "cython" and b.params["backend"] == "reference"
    assert np.array_equal(a.costs, b.costs)
    assert a.n_evaluations == b.n_evaluations
    for state, (spins, _) in zip(a.states, b.states):
        assert np.array_equal(state, spins)
    for strategy in ("best", "first"):
        c = hill_climb(compiled, strategy=strategy, num_chains=3, seed=2)
        d = hill_climb(twin, strategy=strategy, num_chains=3, seed=2)
        assert np.array_equal(c.costs, d.costs) and c.n_evaluations == d.n_evaluations


def test_compiled_problem_quality_threads_and_checks(number_partitioning):
    values = np.random.default_rng(1).integers(1, 10**6, size=300)
    problem = number_partitioning.NumberPartitioning(values)
    one = simulated_annealing(
        problem, num_sweeps=500, num_chains=4, seed=0, num_threads=1
    )
    two = simulated_annealing(
        problem, num_sweeps=500, num_chains=4, seed=0, num_threads=2
    )
    assert np.array_equal(one.states, two.states)
    assert one.best_cost < 0.001 * values.sum()
    assert one.best_cost == abs(np.dot(values, one.best_state))
    with pytest.raises(ValueError, match="not a valid state"):
        hill_climb(problem, initial_states=np.zeros(300, dtype=np.int8))
    with pytest.raises(ValueError, match="values"):
        number_partitioning.NumberPartitioning([])


def test_incomplete_vtable_is_rejected():
    with pytest.raises(TypeError, match="vtable.init"):
        simulated_annealing(CompiledProblem())
