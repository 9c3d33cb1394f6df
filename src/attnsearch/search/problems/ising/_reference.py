"""Python mirror of the Ising core (``_core.pxd``), line by line, draws included.

States are ``[spins int8, local fields float64]``; moves are spin indices. The
engine reference (``search/_engine_reference.py``) runs every method over these
operations, and the tests compare its trajectories with the compiled ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..._rng import ChainRNG

__all__ = ["IsingReference"]

#: ``[spins int8, local fields float64]``.
_State: TypeAlias = list[np.ndarray]


class IsingReference:
    """Ising operations over (spins int8, fields float64) states; mirrors _core.pxd."""

    def __init__(
        self,
        h: npt.ArrayLike,
        indptr: npt.ArrayLike,
        indices: npt.ArrayLike,
        weights: npt.ArrayLike,
        random_order: bool = False,
    ) -> None:
        self.random_order = bool(random_order)
        self.h = np.asarray(h, dtype=np.float64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n = len(self.h)
        self.n_tabu_keys = self.n  # tabu attributes: spin indices

    def _fields(self, spins: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
        fields = np.empty(self.n)
        for i in range(self.n):
            f = float(self.h[i])
            for e in range(self.indptr[i], self.indptr[i + 1]):
                f += float(self.weights[e]) * int(spins[self.indices[e]])
            fields[i] = f
        return fields

    def initial(self, rng: ChainRNG) -> _State:
        spins = np.empty(self.n, dtype=np.int8)
        for i in range(self.n):
            spins[i] = 1 if (rng.next_u64() >> 63) else -1
        return [spins, self._fields(spins)]

    def prepare(self, spins: npt.ArrayLike) -> _State:
        spins = np.array(spins, dtype=np.int8)
        return [spins, self._fields(spins)]

    def cost(self, state: _State) -> float:
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

    def random_move(self, state: _State, rng: ChainRNG) -> int | None:
        if self.n == 0:
            return None  # an empty model has no move (no draw either)
        return rng.below(self.n)

    def propose(self, state: _State, rng: ChainRNG, attempt: int) -> int | None:
        # Annealing sweeps the spins in order, unless proposal="random".
        if self.random_order:
            return self.random_move(state, rng)
        return attempt if attempt < self.n else None

    def delta(self, state: _State, move: int) -> float:
        return -2.0 * int(state[0][move]) * float(state[1][move])

    def apply(self, state: _State, move: int) -> _State:
        spins, fields = state
        new = -int(spins[move])
        spins[move] = new
        twice_new = 2.0 * new
        for e in range(self.indptr[move], self.indptr[move + 1]):
            fields[self.indices[e]] += twice_new * float(self.weights[e])
        return state

    def n_moves(self, state: _State) -> int:
        return self.n

    def move_at(self, state: _State, index: int) -> int:
        return index

    def tabu_attributes(self, state: _State, move: int) -> tuple[int]:
        return (move,)

    def copy(self, state: _State) -> _State:
        return [state[0].copy(), state[1].copy()]

    def export(self, state: _State) -> npt.NDArray[np.int8]:
        return state[0].copy()
