"""Continuous box-constrained problems: user functions and compiled benchmarks.

``Continuous`` validates bounds and functions; built-in benchmark functions run
on the compiled core (``_core.pxd``, the C functions of
``csrc/attnsearch_testfuncs.h``), user callables on the Python mirror
(``_reference.py``), which is also the tests' oracle for the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ...._memory import check_allocation
from ...._validation import check_bool, check_int
from ..base import SearchSpec, _negated, _unchanged
from ._core import STEP_MODES, ContinuousCore
from ._reference import ContinuousReference

if TYPE_CHECKING:
    from scipy.optimize import Bounds

__all__ = ["Continuous", "BUILTIN_FUNCTIONS"]

#: Widest coordinate range: the searches add steps of up to a few widths.
_MAX_WIDTH = 1e300
#: The random moves of annealing and stochastic hill climbing (see ``Continuous``).
StepMode: TypeAlias = Literal["coordinate", "all", "mixed"]
#: ``(lower, upper)`` pairs, a ``(d, 2)`` array or a ``scipy.optimize.Bounds``.
BoundsLike: TypeAlias = "npt.ArrayLike | Bounds"

_STYBLINSKI_X = -2.903534027771178
_STYBLINSKI_VALUE = -39.16616570377142
_SCHWEFEL_X = 420.968746359982025

#: Built-in functions: (default domain per coordinate, minimiser per coordinate,
#: minimum for dimension d). Sources: Surjanovic & Bingham, Virtual Library of
#: Simulation Experiments (www.sfu.ca/~ssurjano).
BUILTIN_FUNCTIONS: dict[
    str, tuple[tuple[float, float], float, Callable[[int], float]]
] = {
    "sphere": ((-5.12, 5.12), 0.0, lambda d: 0.0),
    "rastrigin": ((-5.12, 5.12), 0.0, lambda d: 0.0),
    "rosenbrock": ((-5.0, 10.0), 1.0, lambda d: 0.0),
    "ackley": ((-32.768, 32.768), 0.0, lambda d: 0.0),
    "griewank": ((-600.0, 600.0), 0.0, lambda d: 0.0),
    "schwefel": ((-500.0, 500.0), _SCHWEFEL_X, lambda d: 0.0),
    "styblinski_tang": ((-5.0, 5.0), _STYBLINSKI_X, lambda d: _STYBLINSKI_VALUE * d),
    "levy": ((-10.0, 10.0), 1.0, lambda d: 0.0),
}


def _check_bounds(
    bounds: BoundsLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
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
    with np.errstate(over="ignore"):
        width = upper - lower
    bad = np.flatnonzero(~(np.abs(width) <= _MAX_WIDTH))
    if bad.size:
        raise ValueError(
            f"bounds of coordinate {bad[0]} are ({lower[bad[0]]}, {upper[bad[0]]}): "
            f"their width must stay below {_MAX_WIDTH:.0e} so that the points the "
            "search generates (and their steps) are finite"
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
        Flags: only ``True``/``False`` are accepted (``maximize="no"`` raises
        ``TypeError`` rather than maximising).
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
    an infinity, or raises, stops the run with
    :class:`~attnsearch.search.ProblemError`, which carries the offending
    ``state`` and the ``best_state``/``best_cost`` found until then.

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

    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    dim: int
    # A number per point, or (vectorized) a value per row: Any, as the return
    # type depends on ``vectorized``. None for the built-ins (``_core``).
    func: Callable[[npt.NDArray[np.float64]], Any] | None
    vectorized: bool
    maximize: bool
    step: StepMode
    name: str
    builtin_name: str | None
    minimum: float | None
    minimizer: npt.NDArray[np.float64] | None
    _core: ContinuousCore | None

    def __init__(
        self,
        func: Callable[[npt.NDArray[np.float64]], npt.ArrayLike],
        bounds: BoundsLike,
        *,
        vectorized: bool = False,
        maximize: bool = False,
        step: StepMode = "coordinate",
        name: str | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        if step not in STEP_MODES:
            raise ValueError(f"step must be one of {sorted(STEP_MODES)}, got {step!r}")
        self.lower, self.upper = _check_bounds(bounds)
        self.dim = self.lower.size
        self.func = func
        self.vectorized = check_bool(vectorized, "vectorized")
        self.maximize = check_bool(maximize, "maximize")
        self.step = step
        default_name: str = getattr(func, "__name__", "function")
        self.name = name or default_name
        self.builtin_name = None
        self.minimum = self.minimizer = None
        self._core = None
        self._check_signature()

    @classmethod
    def builtin(
        cls,
        name: str,
        dim: int,
        *,
        bounds: BoundsLike | None = None,
        step: StepMode = "coordinate",
    ) -> Continuous:
        """A compiled benchmark function: sphere, rastrigin, rosenbrock, ackley,
        griewank, schwefel, styblinski_tang or levy (see ``BUILTIN_FUNCTIONS``
        for domains and minima; ``minimum``/``minimizer`` attributes too)."""
        if name not in BUILTIN_FUNCTIONS:
            raise ValueError(
                f"unknown built-in function {name!r}; choose from "
                f"{sorted(BUILTIN_FUNCTIONS)}"
            )
        dim = check_int(dim, "dim")
        # bounds, a point per chain and its workspace: refuse what cannot fit.
        check_allocation(8 * 8 * int(dim), f"a {dim}-dimensional {name}")
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
        corners = np.stack(
            [
                self.lower,
                self.upper,
                np.where(np.arange(dim) % 2, self.lower, self.upper),
                np.where(np.arange(dim) % 2, self.upper, self.lower),
            ]
        )
        with np.errstate(all="ignore"):
            values = self._core.values(corners)
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"{name} is not finite at the corners of these bounds (|x| up to "
                f"{np.max(np.abs(corners)):.3g}): it would overflow float64 there; "
                "narrow the bounds"
            )
        return self

    def __repr__(self) -> str:
        kind = "built-in" if self._core is not None else "Python"
        return f"<Continuous {self.name!r} ({kind}): {self.dim} dimensions>"

    def _check_signature(self) -> None:
        func = self.func
        assert func is not None  # a Python function (not a built-in)
        center = (self.lower + self.upper) / 2.0
        try:
            if self.vectorized:
                values = np.asarray(func(np.stack([center, center])), dtype=float)
                ok = values.shape == (2,)
            else:
                values = func(center.copy())
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

    def evaluate(self, points: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
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
        else:
            func = self.func
            assert func is not None  # no core: a Python function
            if self.vectorized:
                values = np.asarray(func(rows), dtype=np.float64).reshape(-1)
            else:
                values = np.array([float(func(row.copy())) for row in rows])
        return values if points.ndim == 2 else float(values[0])

    def objective(self, cost: float) -> float:
        """The function value of a (minimised) cost."""
        return -cost if self.maximize else cost

    def _search_spec(self) -> SearchSpec:
        sign = -1.0 if self.maximize else 1.0
        ops = ContinuousReference(self, sign)
        return SearchSpec(
            core=self._core,
            ops=ops,
            exact=False,
            objective=self.objective,
            to_internal=lambda states: self._check_points(states, "initial state"),
            from_internal=lambda x: np.array(
                x[0] if isinstance(x, list) else x, dtype=np.float64
            ),
            size=self.dim,
            name=self.name,
            cost_of_objective=_negated if self.maximize else _unchanged,
            maximize=self.maximize,
        )

    def _check_points(
        self, points: npt.ArrayLike, name: str
    ) -> npt.NDArray[np.float64]:
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1:] != (self.dim,):
            raise ValueError(
                f"{name} must have {self.dim} coordinates, got {points.shape}"
            )
        inside = (points >= self.lower) & (points <= self.upper)
        if not np.all(inside):
            raise ValueError(f"{name} lies outside the bounds")
        return points
