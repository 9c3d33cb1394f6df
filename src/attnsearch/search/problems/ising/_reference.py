"""Python mirror of the Ising core (``_core.pxd``), line by line, draws included.

States are ``[spins int8, local fields float64]``; moves are spin indices. The
engine reference (``search/_engine_reference.py``) runs every method over these
operations, and the tests compare its trajectories with the compiled ones.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IsingReference"]


class IsingReference:
    """Ising operations over (spins int8, fields float64) states; mirrors _core.pxd."""

    def __init__(self, h, indptr, indices, weights, random_order=False):
        self.random_order = bool(random_order)
        self.h = np.asarray(h, dtype=np.float64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n = len(self.h)
        self.n_tabu_keys = self.n  # tabu attributes: spin indices

    def _fields(self, spins):
        fields = np.empty(self.n)
        for i in range(self.n):
            f = float(self.h[i])
            for e in range(self.indptr[i], self.indptr[i + 1]):
                f += float(self.weights[e]) * int(spins[self.indices[e]])
            fields[i] = f
        return fields

    def initial(self, rng):
        spins = np.empty(self.n, dtype=np.int8)
        for i in range(self.n):
            spins[i] = 1 if (rng.next_u64() >> 63) else -1
        return [spins, self._fields(spins)]

    def prepare(self, spins):
        spins = np.array(spins, dtype=np.int8)
        return [spins, self._fields(spins)]

    def cost(self, state):
        spins = state[0]
        linear = 0.0
        pairs = 0.0
        for i in range(self.n):
            linear += float(self.h[i]) * int(spins[i])
            row = 0.0
            for e in range(self.indptr[i], self.indptr[i + 1]):
                row += float(self.weights[e]) * int(spins[self.indices[e]])
            pairs += int(spins[i]) * row
        return linear + 0.5 * pairs

    def random_move(self, state, rng):
        if self.n == 0:
            return None  # an empty model has no move (no draw either)
        return rng.below(self.n)

    def propose(self, state, rng, attempt):
        # Annealing sweeps the spins in order, unless proposal="random".
        if self.random_order:
            return self.random_move(state, rng)
        return attempt if attempt < self.n else None

    def delta(self, state, move):
        return -2.0 * int(state[0][move]) * float(state[1][move])

    def apply(self, state, move):
        spins, fields = state
        new = -int(spins[move])
        spins[move] = new
        twice_new = 2.0 * new
        for e in range(self.indptr[move], self.indptr[move + 1]):
            fields[self.indices[e]] += twice_new * float(self.weights[e])
        return state

    def n_moves(self, state):
        return self.n

    def move_at(self, state, index):
        return index

    def tabu_attributes(self, state, move):
        return (move,)

    def copy(self, state):
        return [state[0].copy(), state[1].copy()]

    def export(self, state):
        return state[0].copy()
