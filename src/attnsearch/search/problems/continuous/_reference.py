"""Python mirror of the continuous core (``_core.pxd``) and NumPy references of
the built-in benchmark functions.

``ContinuousReference`` is both the oracle of the compiled moves (same draws,
same adaptation of the step size) and the engine of user callables, whose errors
(NaN, exceptions) become ``ProblemError`` carrying the point.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..base import ProblemError
from ._core import ADAPTATION

if TYPE_CHECKING:
    from ..._rng import ChainRNG
    from .problem import Continuous

#: ``[x, [f, r, proposals, accepted]]``: the point, its value, the relative step
#: size and the counts of the 1/5 rule.
_State: TypeAlias = list[Any]
#: ``("coordinate", i, value)`` or ``("all", point)``.
_Move: TypeAlias = tuple[Any, ...]

__all__ = ["ContinuousReference", "builtin_value_reference"]


def builtin_value_reference(name: str, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """NumPy reference of the built-in functions (rows of ``x`` are points)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    d = x.shape[1]
    if name == "sphere":
        return (x * x).sum(axis=1)
    if name == "rastrigin":
        return 10.0 * d + (x * x - 10.0 * np.cos(2 * np.pi * x)).sum(axis=1)
    if name == "rosenbrock":
        a = x[:, 1:] - x[:, :-1] ** 2
        b = 1.0 - x[:, :-1]
        return (100.0 * a * a + b * b).sum(axis=1)
    if name == "ackley":
        return (
            -20.0 * np.exp(-0.2 * np.sqrt((x * x).sum(axis=1) / d))
            - np.exp(np.cos(2 * np.pi * x).sum(axis=1) / d)
            + 20.0
            + np.e
        )
    if name == "griewank":
        scale = np.sqrt(np.arange(1, d + 1))
        return (x * x).sum(axis=1) / 4000.0 - np.prod(np.cos(x / scale), axis=1) + 1.0
    if name == "schwefel":
        return 418.98288727243369 * d - (x * np.sin(np.sqrt(np.abs(x)))).sum(axis=1)
    if name == "styblinski_tang":
        return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x).sum(axis=1)
    if name == "levy":
        w = 1.0 + (x - 1.0) / 4.0
        head = np.sin(np.pi * w[:, 0]) ** 2
        middle = (w[:, :-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:, :-1] + 1) ** 2)
        tail = (w[:, -1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[:, -1]) ** 2)
        return head + middle.sum(axis=1) + tail
    raise ValueError(f"unknown function {name!r}")


def _non_finite_message(value: float, x: npt.NDArray[np.float64]) -> str:
    """Why a user's function value cannot be searched on (NaN, or an infinity
    whose differences are NaN), and what to return instead."""
    if math.isnan(value):
        return f"the function returned NaN at x = {x.tolist()}"
    return (
        f"the function returned {value} at x = {x.tolist()}; return a large finite "
        "value for points to avoid (an infinite cost makes every move from there NaN)"
    )


class ContinuousReference:
    """Python mirror of _core.pxd (states: [x, [f, r, proposals, accepted]]);
    also the engine of user functions."""

    def __init__(self, problem: Continuous, sign: float = 1.0) -> None:
        self.problem = problem
        self.sign = sign
        self.lower = problem.lower
        self.upper = problem.upper
        self.width = problem.upper - problem.lower
        self.dim = problem.dim
        self.n_tabu_keys = self.dim  # tabu attributes: coordinates
        self.mode = problem.step
        self.every = ADAPTATION["every"]
        self.factor = ADAPTATION["factor"]
        self.scales = int(ADAPTATION["scales"])
        # Values of the moves proposed from the current points, so that applying
        # a move, or weighing a neighbourhood twice (stochastic hill climbing),
        # does not call the user's function again. Coordinate moves are keyed
        # by value (move_at builds a new tuple each time), others by identity.
        self._proposed: dict[tuple[int, Any], tuple[Any, Any, float]] = {}

    def _value_after(self, x: npt.NDArray[np.float64], move: _Move) -> float:
        key = (id(x), move) if move[0] == "coordinate" else (id(x), id(move))
        hit = self._proposed.get(key)
        if (
            hit is not None
            and hit[0] is x
            and (move[0] == "coordinate" or hit[1] is move)
        ):
            return hit[2]
        value = self.value(self._moved(x, move))
        if len(self._proposed) >= 4 * self.dim * self.scales:
            self._proposed.clear()
        self._proposed[key] = (x, move, value)
        return value

    def value(self, x: npt.NDArray[np.float64]) -> float:
        """Signed function value at x; the user's errors become ProblemError."""
        problem = self.problem
        if problem._core is not None:
            return float(problem._core.values(x)[0])
        func = problem.func
        assert func is not None  # no core: a Python function
        try:
            if problem.vectorized:
                value = float(np.asarray(func(x[None, :].copy())).reshape(-1)[0])
            else:
                value = float(func(x.copy()))
        except ProblemError:
            raise
        except Exception as error:
            raise ProblemError(
                f"the function raised {type(error).__name__}: {error} "
                f"at x = {x.tolist()}",
                state=x.copy(),
            ) from error
        if not math.isfinite(value):
            raise ProblemError(_non_finite_message(value, x), state=x.copy())
        return self.sign * value

    def _reflect(self, v: float, i: int) -> float:
        lo, hi = self.lower[i], self.upper[i]
        if lo <= v <= hi:
            return v
        width = hi - lo
        t = math.fmod(v - lo, 2.0 * width)
        if t < 0:
            t += 2.0 * width
        return lo + t if t <= width else lo + 2.0 * width - t

    def initial(self, rng: ChainRNG) -> _State:
        x = np.array(
            [
                self.lower[i] + rng.random() * (self.upper[i] - self.lower[i])
                for i in range(self.dim)
            ]
        )
        return [x, [self.value(x), ADAPTATION["initial"], 0.0, 0.0]]

    def prepare(self, x: npt.ArrayLike) -> _State:
        x = np.array(x, dtype=np.float64)
        return [x, [self.value(x), ADAPTATION["initial"], 0.0, 0.0]]

    def cost(self, state: _State) -> float:
        # f at the state's point, stored when the point was set (initial,
        # prepare, apply): exact, no drift, no second call of the function.
        return state[1][0]

    def random_move(self, state: _State, rng: ChainRNG) -> _Move:
        x, a = state
        if a[2] >= self.every:
            if a[3] > 0.2 * a[2]:
                a[1] = min(1.0, a[1] * self.factor)
            else:
                a[1] = max(1e-12, a[1] / self.factor)
            a[2] = 0.0
            a[3] = 0.0
        a[2] += 1
        all_coordinates = self.mode == "all"
        if self.mode == "mixed":
            all_coordinates = rng.random() < 0.5
        if all_coordinates:
            proposal = np.array(
                [
                    self._reflect(x[i] + rng.normal() * a[1] * self.width[i], i)
                    for i in range(self.dim)
                ]
            )
            return ("all", proposal)
        i = rng.below(self.dim)
        return (
            "coordinate",
            i,
            self._reflect(x[i] + rng.normal() * a[1] * self.width[i], i),
        )

    def propose(self, state: _State, rng: ChainRNG, attempt: int) -> _Move:
        return self.random_move(state, rng)

    def _moved(
        self, x: npt.NDArray[np.float64], move: _Move
    ) -> npt.NDArray[np.float64]:
        if move[0] == "all":
            return move[1]
        moved = x.copy()
        moved[move[1]] = move[2]
        return moved

    def delta(self, state: _State, move: _Move) -> float:
        return self._value_after(state[0], move) - state[1][0]

    def apply(self, state: _State, move: _Move) -> _State:
        value = self._value_after(state[0], move)
        state[0] = self._moved(state[0], move)
        state[1][0] = value
        state[1][3] += 1
        self._proposed.clear()
        return state

    def n_moves(self, state: _State) -> int:
        return 2 * self.dim * self.scales

    def move_at(self, state: _State, index: int) -> _Move | None:
        x = state[0]
        scale, rest = divmod(index, 2 * self.dim)
        i = rest // 2
        step = self.width[i] / (4.0 ** (scale + 1))
        v = x[i] + step if rest % 2 == 0 else x[i] - step
        v = min(self.upper[i], max(self.lower[i], v))
        return None if v == x[i] else ("coordinate", i, v)

    def tabu_attributes(self, state: _State, move: _Move) -> tuple[int]:
        return (move[1] if move[0] == "coordinate" else 0,)

    def copy(self, state: _State) -> _State:
        return [state[0].copy(), list(state[1])]

    def export(self, state: _State) -> npt.NDArray[np.float64]:
        return state[0].copy()
