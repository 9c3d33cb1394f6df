"""Small Python problems shared by several test modules (importable by Dask
workers too: pytest puts this folder on sys.path)."""

import numpy as np

from attnsearch.search import Problem


class OneMax(Problem):
    def __init__(self, n, maximize=True):
        super().__init__(maximize=maximize)
        self.n = self.size = n

    def initial(self, rng):
        return np.array([rng.below(2) for _ in range(self.n)])

    def random_move(self, state, rng):
        return rng.below(self.n)

    def delta(self, state, i):
        return 1 - 2 * int(state[i])

    def apply(self, state, i):
        state[i] ^= 1

    def cost(self, state):
        return int(state.sum())

    def moves(self, state):
        return range(self.n)
