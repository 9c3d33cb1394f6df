"""A problem written in Python: N queens by min-conflicts local search
===================================================================

Place N queens, one per column, so that none attack each other. The state is
the row of each column's queen; a move puts one queen on another row; the cost
is the number of attacking pairs. Every method of attnsearch.search runs on it
through the Python engine, with the same chains, seeds and Result.

    python examples/python_problem.py [N]
"""

import sys

import numpy as np
from _common import SMALL

from attnsearch.search import Problem, simulated_annealing, tabu_search


class Queens(Problem):
    def __init__(self, n):
        super().__init__()
        self.n = self.size = n

    def initial(self, rng):
        return np.array([rng.below(self.n) for _ in range(self.n)])

    def _conflicts(self, rows, column, row):
        others = np.delete(np.arange(self.n), column)
        other_rows = np.delete(rows, column)
        return int(
            np.sum(
                (other_rows == row)
                | (np.abs(other_rows - row) == np.abs(others - column))
            )
        )

    def random_move(self, rows, rng):
        column = rng.below(self.n)
        row = (rows[column] + 1 + rng.below(self.n - 1)) % self.n  # a different row
        return column, row

    def delta(self, rows, move):
        column, row = move
        return self._conflicts(rows, column, row) - self._conflicts(
            rows, column, rows[column]
        )

    def apply(self, rows, move):
        column, row = move
        rows[column] = row

    def cost(self, rows):
        return sum(self._conflicts(rows, c, rows[c]) for c in range(self.n)) // 2

    def moves(self, rows):
        return [(c, r) for c in range(self.n) for r in range(self.n) if r != rows[c]]

    def tabu_attributes(self, rows, move):
        return (move[0],)  # a column moved recently stays put for a while


n = int(sys.argv[1]) if len(sys.argv) > 1 else (8 if SMALL else 24)
queens = Queens(n)
annealed = simulated_annealing(queens, num_sweeps=300, num_chains=2, seed=0, target=0)
print(
    f"{n} queens, annealing: {annealed.objective:.0f} attacking pairs "
    f"({annealed.stop_reason}, {annealed.elapsed:.2f} s)"
)
walked = tabu_search(queens, max_iters=20 * n, seed=0, target=0)
print(
    f"{n} queens, tabu search: {walked.objective:.0f} attacking pairs "
    f"({walked.stop_reason}, {walked.elapsed:.2f} s)"
)
board = walked.best_state
for row in range(min(n, 12)):
    print(" ".join("Q" if board[c] == row else "." for c in range(min(n, 12))))
