"""Continuous box-constrained problems: user functions and compiled benchmarks."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._continuous import ADAPTATION, STEP_MODES, ContinuousCore
from ._reference import ProblemError
from .problems import _SearchSpec

__all__ = ["Continuous", "BUILTIN_FUNCTIONS"]

_STYBLINSKI_X = -2.903534027771178
_STYBLINSKI_VALUE = -39.16616570377142
_SCHWEFEL_X = 420.968746359982025

#: Built-in functions: (default domain per coordinate, minimiser per coordinate,
#: minimum for dimension d). Sources: Surjanovic & Bingham, Virtual Library of
#: Simulation Experiments (www.sfu.ca/~ssurjano).
BUILTIN_FUNCTIONS = {
    "sphere": ((-5.12, 5.12), 0.0, lambda d: 0.0),
    "rastrigin": ((-5.12, 5.12), 0.0, lambda d: 0.0),
    "rosenbrock": ((-5.0, 10.0), 1.0, lambda d: 0.0),
    "ackley": ((-32.768, 32.768), 0.0, lambda d: 0.0),
    "griewank": ((-600.0, 600.0), 0.0, lambda d: 0.0),
    "schwefel": ((-500.0, 500.0), _SCHWEFEL_X, lambda d: 0.0),
    "styblinski_tang": ((-5.0, 5.0), _STYBLINSKI_X, lambda d: _STYBLINSKI_VALUE * d),
    "levy": ((-10.0, 10.0), 1.0, lambda d: 0.0),
}


def builtin_value_reference(name, x):
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


def _check_bounds(bounds):
    """(lower, upper) float arrays from (lower, upper) pairs or scipy Bounds."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lower = np.atleast_1d(np.asarray(bounds.lb, dtype=np.float64))
        upper = np.atleast_1d(np.asarray(bounds.ub, dtype=np.float64))
        lower, upper = np.broadcast_arrays(lower, upper)
    else:
        try:
            array = np.asarray(bounds, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                "bounds must be a sequence of (lower, upper) pairs, a (d, 2) array or "
                "a scipy.optimize.Bounds"
            ) from None
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(
                f"bounds must have shape (d, 2) (one (lower, upper) pair per "
                f"coordinate), got {array.shape}"
            )
        lower, upper = array[:, 0], array[:, 1]
    if lower.size == 0:
        raise ValueError("bounds must describe at least one coordinate")
    bad = np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper)))
    if bad.size:
        raise ValueError(
            f"bounds of coordinate {bad[0]} are not finite: "
            f"({lower[bad[0]]}, {upper[bad[0]]})"
        )
    bad = np.flatnonzero(lower >= upper)
    if bad.size:
        raise ValueError(
            f"bounds of coordinate {bad[0]} are empty: lower "
            f"{lower[bad[0]]} >= upper {upper[bad[0]]}"
        )
    return np.ascontiguousarray(lower), np.ascontiguousarray(upper)


class Continuous:
    """Minimise (or maximise) a function over a box.

    Parameters
    ----------
    func : callable
        ``func(x) -> float`` for a point ``x`` of shape ``(d,)``, or, with
        ``vectorized=True``, ``func(X) -> (n,)`` for points ``X`` of shape
        ``(n, d)`` (evaluates a whole swarm per call). Runs on the Python
        engine; the built-ins (:meth:`builtin`) run compiled.
    bounds : sequence of (lower, upper), array (d, 2) or scipy.optimize.Bounds
        Finite, with lower < upper.
    vectorized : bool, default False
    maximize : bool, default False
    step : {"coordinate", "all", "mixed"}, default "coordinate"
        Random moves of annealing and stochastic hill climbing: a Gaussian step
        of ``r · (upper − lower)`` on one random coordinate, on all of them, or
        either with probability 1/2; steps that leave the box are reflected
        back in. The relative step ``r`` starts at 0.1 and adapts per chain by
        the 1/5 success rule: every 50 proposals it is multiplied by 1.2 if
        more than a fifth were accepted, else divided by 1.2 (kept within
        [1e-12, 1]).
    name : str, optional

    Notes
    -----
    Hill climbing and tabu search use the compass neighbourhood
    ``x_i ± (upper_i − lower_i) / 4^s``, ``s = 1 … 16``, clipped to the box
    (tabu attributes: the coordinate moved). A function that returns NaN or
    raises stops the run with :class:`~attnsearch.search.ProblemError`, which
    carries the offending ``state`` and the ``best_state``/``best_cost`` found
    until then.

    Examples
    --------
    >>> from attnsearch.search import Continuous, particle_swarm
    >>> problem = Continuous.builtin("rastrigin", dim=5)
    >>> problem.evaluate([0, 0, 0, 0, 0])
    0.0
    >>> quadratic = Continuous(lambda x: ((x - 0.5) ** 2).sum(), [(-1, 1)] * 3)
    >>> round(particle_swarm(quadratic, max_iters=200, seed=0).objective, 6)
    0.0
    """

    def __init__(
        self,
        func,
        bounds,
        *,
        vectorized=False,
        maximize=False,
        step="coordinate",
        name=None,
    ):
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        if step not in STEP_MODES:
            raise ValueError(f"step must be one of {sorted(STEP_MODES)}, got {step!r}")
        self.lower, self.upper = _check_bounds(bounds)
        self.dim = self.lower.size
        self.func = func
        self.vectorized = bool(vectorized)
        self.maximize = bool(maximize)
        self.step = step
        self.name = name or getattr(func, "__name__", "function")
        self.builtin_name = None
        self.minimum = self.minimizer = None
        self._core = None
        self._check_signature()

    @classmethod
    def builtin(cls, name, dim, *, bounds=None, step="coordinate"):
        """A compiled benchmark function: sphere, rastrigin, rosenbrock, ackley,
        griewank, schwefel, styblinski_tang or levy (see ``BUILTIN_FUNCTIONS``
        for domains and minima; ``minimum``/``minimizer`` attributes too)."""
        if name not in BUILTIN_FUNCTIONS:
            raise ValueError(
                f"unknown built-in function {name!r}; choose from "
                f"{sorted(BUILTIN_FUNCTIONS)}"
            )
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if name in ("rosenbrock", "levy") and dim < 2:
            raise ValueError(f"{name} needs dim >= 2")
        domain, argmin, minimum = BUILTIN_FUNCTIONS[name]
        self = cls.__new__(cls)
        if bounds is None:
            bounds = [domain] * dim
        if step not in STEP_MODES:
            raise ValueError(f"step must be one of {sorted(STEP_MODES)}, got {step!r}")
        self.lower, self.upper = _check_bounds(bounds)
        if self.lower.size != dim:
            raise ValueError(
                f"bounds describe {self.lower.size} coordinates, not {dim}"
            )
        self.dim = int(dim)
        self.func = None
        self.vectorized = True
        self.maximize = False
        self.step = step
        self.name = f"{name}-{dim}"
        self.builtin_name = name
        self.minimum = float(minimum(dim))
        self.minimizer = np.full(dim, argmin)
        self._core = ContinuousCore(name, self.lower, self.upper, step)
        return self

    def __repr__(self):
        kind = "built-in" if self._core is not None else "Python"
        return f"<Continuous {self.name!r} ({kind}): {self.dim} dimensions>"

    def _check_signature(self):
        center = (self.lower + self.upper) / 2.0
        try:
            if self.vectorized:
                values = np.asarray(self.func(np.stack([center, center])), dtype=float)
                ok = values.shape == (2,)
            else:
                values = self.func(center.copy())
                ok = np.ndim(values) == 0
                float(values)
        except (TypeError, ValueError) as error:
            call = (
                "func(X), X of shape (n, d)," if self.vectorized else "func(x), x of "
            )
            call += "" if self.vectorized else "shape (d,),"
            returns = "(n,) values" if self.vectorized else "a number"
            raise TypeError(
                f"func could not be called as {call} returning {returns}: {error}"
            ) from error
        if not ok:
            expected = "one value per row" if self.vectorized else "a number"
            raise TypeError(f"func must return {expected}, got {np.shape(values)}")

    def evaluate(self, points):
        """Function value(s) at ``points`` ((d,) -> float, (n, d) -> (n,))."""
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1:] != (self.dim,) or points.ndim > 2:
            raise ValueError(
                f"points must have shape ({self.dim},) or (n, {self.dim}), "
                f"got {points.shape}"
            )
        rows = np.atleast_2d(points)
        if self._core is not None:
            values = self._core.values(rows)
        elif self.vectorized:
            values = np.asarray(self.func(rows), dtype=np.float64).reshape(-1)
        else:
            values = np.array([float(self.func(row.copy())) for row in rows])
        return values if points.ndim == 2 else float(values[0])

    def objective(self, cost):
        """The function value of a (minimised) cost."""
        return -cost if self.maximize else cost

    def _search_spec(self):
        sign = -1.0 if self.maximize else 1.0
        ops = ContinuousReference(self, sign)
        return _SearchSpec(
            core=self._core,
            ops=ops,
            exact=False,
            objective=self.objective,
            to_internal=lambda states: self._check_points(states, "initial state"),
            from_internal=lambda x: np.asarray(
                x[0] if isinstance(x, list) else x, dtype=np.float64
            ).copy(),
            size=self.dim,
            name=self.name,
            cost_of_objective=(lambda value: -value) if self.maximize else None,
            maximize=self.maximize,
        )

    def _check_points(self, points, name):
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1:] != (self.dim,):
            raise ValueError(
                f"{name} must have {self.dim} coordinates, got {points.shape}"
            )
        inside = (points >= self.lower) & (points <= self.upper)
        if not np.all(inside):
            raise ValueError(f"{name} lies outside the bounds")
        return points


class ContinuousReference:
    """Python mirror of _continuous.pxd (states: [x, [f, r, proposals, accepted]]);
    also the engine of user functions."""

    def __init__(self, problem, sign=1.0):
        self.problem = problem
        self.sign = sign
        self.lower = problem.lower
        self.upper = problem.upper
        self.width = problem.upper - problem.lower
        self.dim = problem.dim
        self.mode = problem.step
        self.every = ADAPTATION["every"]
        self.factor = ADAPTATION["factor"]
        self.scales = int(ADAPTATION["scales"])
        # Values of the moves proposed from the current points, so that applying
        # a move, or weighing a neighbourhood twice (stochastic hill climbing),
        # does not call the user's function again. Coordinate moves are keyed
        # by value (move_at builds a new tuple each time), others by identity.
        self._proposed = {}

    def _value_after(self, x, move):
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

    def value(self, x):
        """Signed function value at x; the user's errors become ProblemError."""
        problem = self.problem
        if problem._core is not None:
            return float(problem._core.values(x)[0])
        try:
            if problem.vectorized:
                value = float(
                    np.asarray(problem.func(x[None, :].copy())).reshape(-1)[0]
                )
            else:
                value = float(problem.func(x.copy()))
        except ProblemError:
            raise
        except Exception as error:
            raise ProblemError(
                f"the function raised {type(error).__name__}: {error} "
                f"at x = {x.tolist()}",
                state=x.copy(),
            ) from error
        if math.isnan(value):
            raise ProblemError(
                f"the function returned NaN at x = {x.tolist()}", state=x.copy()
            )
        return self.sign * value

    def _reflect(self, v, i):
        lo, hi = self.lower[i], self.upper[i]
        if lo <= v <= hi:
            return v
        width = hi - lo
        t = math.fmod(v - lo, 2.0 * width)
        if t < 0:
            t += 2.0 * width
        return lo + t if t <= width else lo + 2.0 * width - t

    def initial(self, rng):
        x = np.array(
            [
                self.lower[i] + rng.random() * (self.upper[i] - self.lower[i])
                for i in range(self.dim)
            ]
        )
        return [x, [self.value(x), ADAPTATION["initial"], 0.0, 0.0]]

    def prepare(self, x):
        x = np.array(x, dtype=np.float64)
        return [x, [self.value(x), ADAPTATION["initial"], 0.0, 0.0]]

    def cost(self, state):
        # f at the state's point, stored when the point was set (initial,
        # prepare, apply): exact, no drift, no second call of the function.
        return state[1][0]

    def random_move(self, state, rng):
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

    def propose(self, state, rng, attempt):
        return self.random_move(state, rng)

    def _moved(self, x, move):
        if move[0] == "all":
            return move[1]
        moved = x.copy()
        moved[move[1]] = move[2]
        return moved

    def delta(self, state, move):
        return self._value_after(state[0], move) - state[1][0]

    def apply(self, state, move):
        value = self._value_after(state[0], move)
        state[0] = self._moved(state[0], move)
        state[1][0] = value
        state[1][3] += 1
        self._proposed.clear()
        return state

    def n_moves(self, state):
        return 2 * self.dim * self.scales

    def move_at(self, state, index):
        x = state[0]
        scale, rest = divmod(index, 2 * self.dim)
        i = rest // 2
        step = self.width[i] / (4.0 ** (scale + 1))
        v = x[i] + step if rest % 2 == 0 else x[i] - step
        v = min(self.upper[i], max(self.lower[i], v))
        return None if v == x[i] else ("coordinate", i, v)

    def tabu_attributes(self, state, move):
        return (move[1] if move[0] == "coordinate" else 0,)

    def copy(self, state):
        return [state[0].copy(), list(state[1])]

    def export(self, state):
        return state[0].copy()
