"""A global-optimisation test suite with known minima, and the harness that runs
``minimize`` and SciPy's global optimisers on it at equal evaluation counts.

The functions are written from their published definitions (Jamil & Yang, "A
literature survey of benchmark functions for global optimisation problems",
2013; Surjanovic & Bingham's Virtual Library of Simulation Experiments), in
NumPy over the last axis, so one definition serves a point ``(d,)`` and a batch
``(n, d)``. Each carries its box and its global minimum ``f_star``.

Success is SciPy's benchmark criterion with a relative tolerance:
``|f - f_star| <= 1e-4 (1 + |f_star|)``, judged on the best value *evaluated*
within the budget (so every method is judged on the same evaluations, whether
or not it returns that point). Every solver gets the same budget of function
evaluations; a counting wrapper stops any solver that would exceed it (SciPy's
``differential_evolution`` and ``basinhopping`` have no evaluation limit of
their own).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

__all__ = [
    "SUITE",
    "QUICK",
    "TestFunction",
    "budget_for",
    "run_suite",
    "runs_on",
    "SOLVERS",
]


@dataclass(frozen=True)
class TestFunction:
    """A benchmark function: name, dimension, box, minimum, NumPy definition."""

    name: str
    dim: int
    bounds: tuple[tuple[float, float], ...]
    f_star: float
    func: Callable[[Array], Array]
    builtin: str | None = None  # the name of attnsearch's compiled twin, if any

    def __call__(self, x: Array) -> Any:
        return self.func(np.asarray(x, dtype=np.float64))

    @property
    def label(self) -> str:
        return f"{self.name}-{self.dim}"


def _box(lo: float, hi: float, d: int) -> tuple[tuple[float, float], ...]:
    return ((lo, hi),) * d


# --------------------------------------------------------------------- n-d


def sphere(x: Array) -> Array:
    return np.sum(x * x, axis=-1)


def rastrigin(x: Array) -> Array:
    return 10.0 * x.shape[-1] + np.sum(x * x - 10.0 * np.cos(2 * np.pi * x), axis=-1)


def ackley(x: Array) -> Array:
    d = x.shape[-1]
    a = np.sqrt(np.sum(x * x, axis=-1) / d)
    b = np.sum(np.cos(2 * np.pi * x), axis=-1) / d
    return -20.0 * np.exp(-0.2 * a) - np.exp(b) + 20.0 + math.e


def griewank(x: Array) -> Array:
    i = np.sqrt(np.arange(1, x.shape[-1] + 1))
    return 1.0 + np.sum(x * x, axis=-1) / 4000.0 - np.prod(np.cos(x / i), axis=-1)


def schwefel(x: Array) -> Array:
    # Schwefel 2.26 shifted to f* = 0 (418.9828872724339 per coordinate).
    return 418.9828872724339 * x.shape[-1] - np.sum(
        x * np.sin(np.sqrt(np.abs(x))), axis=-1
    )


def rosenbrock(x: Array) -> Array:
    a, b = x[..., :-1], x[..., 1:]
    return np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, axis=-1)


def levy(x: Array) -> Array:
    w = 1.0 + (x - 1.0) / 4.0
    head = np.sin(np.pi * w[..., 0]) ** 2
    mid = np.sum(
        (w[..., :-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[..., :-1] + 1) ** 2),
        axis=-1,
    )
    last = w[..., -1]
    tail = (last - 1) ** 2 * (1 + np.sin(2 * np.pi * last) ** 2)
    return head + mid + tail


def styblinski_tang(x: Array) -> Array:
    return 0.5 * np.sum(x**4 - 16 * x * x + 5 * x, axis=-1)


def zakharov(x: Array) -> Array:
    i = np.arange(1, x.shape[-1] + 1)
    s = np.sum(0.5 * i * x, axis=-1)
    return np.sum(x * x, axis=-1) + s**2 + s**4


def dixon_price(x: Array) -> Array:
    i = np.arange(2, x.shape[-1] + 1)
    return (x[..., 0] - 1) ** 2 + np.sum(
        i * (2 * x[..., 1:] ** 2 - x[..., :-1]) ** 2, axis=-1
    )


def michalewicz(x: Array) -> Array:
    i = np.arange(1, x.shape[-1] + 1)
    return -np.sum(np.sin(x) * np.sin(i * x * x / np.pi) ** 20, axis=-1)


def alpine1(x: Array) -> Array:
    return np.sum(np.abs(x * np.sin(x) + 0.1 * x), axis=-1)


def qing(x: Array) -> Array:
    i = np.arange(1, x.shape[-1] + 1)
    return np.sum((x * x - i) ** 2, axis=-1)


def trid(x: Array) -> Array:
    return np.sum((x - 1) ** 2, axis=-1) - np.sum(x[..., 1:] * x[..., :-1], axis=-1)


def powell(x: Array) -> Array:
    y = x.reshape(x.shape[:-1] + (-1, 4))
    a, b, c, e = y[..., 0], y[..., 1], y[..., 2], y[..., 3]
    return np.sum(
        (a + 10 * b) ** 2 + 5 * (c - e) ** 2 + (b - 2 * c) ** 4 + 10 * (a - e) ** 4,
        axis=-1,
    )


def salomon(x: Array) -> Array:
    r = np.sqrt(np.sum(x * x, axis=-1))
    return 1.0 - np.cos(2 * np.pi * r) + 0.1 * r


# --------------------------------------------------------------- low-dim


def branin(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return (
        (b - 5.1 / (4 * np.pi**2) * a * a + 5 / np.pi * a - 6) ** 2
        + 10 * (1 - 1 / (8 * np.pi)) * np.cos(a)
        + 10
    )


def six_hump_camel(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return (4 - 2.1 * a * a + a**4 / 3) * a * a + a * b + (-4 + 4 * b * b) * b * b


def goldstein_price(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    p = 1 + (a + b + 1) ** 2 * (
        19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b
    )
    q = 30 + (2 * a - 3 * b) ** 2 * (
        18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b
    )
    return p * q


def shubert(x: Array) -> Array:
    j = np.arange(1, 6)
    out = np.ones(x.shape[:-1])
    for k in range(x.shape[-1]):
        xk = x[..., k, None]
        out = out * np.sum(j * np.cos((j + 1) * xk + j), axis=-1)
    return out


def eggholder(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return -(b + 47) * np.sin(np.sqrt(np.abs(b + a / 2 + 47))) - a * np.sin(
        np.sqrt(np.abs(a - (b + 47)))
    )


def holder_table(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return -np.abs(
        np.sin(a) * np.cos(b) * np.exp(np.abs(1 - np.sqrt(a * a + b * b) / np.pi))
    )


def cross_in_tray(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    inner = np.abs(
        np.sin(a) * np.sin(b) * np.exp(np.abs(100 - np.sqrt(a * a + b * b) / np.pi))
    )
    return -0.0001 * (inner + 1) ** 0.1


def drop_wave(x: Array) -> Array:
    r2 = np.sum(x * x, axis=-1)
    return -(1 + np.cos(12 * np.sqrt(r2))) / (0.5 * r2 + 2)


def easom(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return -np.cos(a) * np.cos(b) * np.exp(-((a - np.pi) ** 2) - (b - np.pi) ** 2)


def levy13(x: Array) -> Array:
    a, b = x[..., 0], x[..., 1]
    return (
        np.sin(3 * np.pi * a) ** 2
        + (a - 1) ** 2 * (1 + np.sin(3 * np.pi * b) ** 2)
        + (b - 1) ** 2 * (1 + np.sin(2 * np.pi * b) ** 2)
    )


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(a: Array, p: Array) -> Callable[[Array], Array]:
    def f(x: Array) -> Array:
        inner = np.sum(a * (x[..., None, :] - p) ** 2, axis=-1)
        return -np.sum(_H_ALPHA * np.exp(-inner), axis=-1)

    return f


_SHEKEL_A = np.array(
    [
        [4, 4, 4, 4],
        [1, 1, 1, 1],
        [8, 8, 8, 8],
        [6, 6, 6, 6],
        [3, 7, 3, 7],
        [2, 9, 2, 9],
        [5, 5, 3, 3],
        [8, 1, 8, 1],
        [6, 2, 6, 2],
        [7, 3.6, 7, 3.6],
    ],
    dtype=float,
)
_SHEKEL_C = np.array([0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.3, 0.7, 0.5, 0.5])


def _shekel(m: int) -> Callable[[Array], Array]:
    a, c = _SHEKEL_A[:m], _SHEKEL_C[:m]

    def f(x: Array) -> Array:
        return -np.sum(1.0 / (np.sum((x[..., None, :] - a) ** 2, axis=-1) + c), axis=-1)

    return f


def _suite() -> list[TestFunction]:
    t = TestFunction
    return [
        # separable / multimodal, the textbook four first
        t("rastrigin", 10, _box(-5.12, 5.12, 10), 0.0, rastrigin, "rastrigin"),
        t("ackley", 10, _box(-32.768, 32.768, 10), 0.0, ackley, "ackley"),
        t("schwefel", 10, _box(-500, 500, 10), 0.0, schwefel, "schwefel"),
        t("griewank", 10, _box(-600, 600, 10), 0.0, griewank, "griewank"),
        t("rastrigin", 30, _box(-5.12, 5.12, 30), 0.0, rastrigin, "rastrigin"),
        t("ackley", 30, _box(-32.768, 32.768, 30), 0.0, ackley, "ackley"),
        t("griewank", 30, _box(-600, 600, 30), 0.0, griewank, "griewank"),
        t("sphere", 30, _box(-5.12, 5.12, 30), 0.0, sphere, "sphere"),
        t("rosenbrock", 10, _box(-5, 10, 10), 0.0, rosenbrock, "rosenbrock"),
        t("levy", 10, _box(-10, 10, 10), 0.0, levy, "levy"),
        t(
            "styblinski_tang",
            10,
            _box(-5, 5, 10),
            -39.16616570377142 * 10,
            styblinski_tang,
            "styblinski_tang",
        ),
        t("zakharov", 10, _box(-5, 10, 10), 0.0, zakharov),
        t("dixon_price", 10, _box(-10, 10, 10), 0.0, dixon_price),
        t("michalewicz", 5, _box(0, math.pi, 5), -4.687658179088148, michalewicz),
        t("michalewicz", 10, _box(0, math.pi, 10), -9.660151715641349, michalewicz),
        t("alpine1", 10, _box(-10, 10, 10), 0.0, alpine1),
        t("qing", 10, _box(-500, 500, 10), 0.0, qing),
        t("trid", 10, _box(-100, 100, 10), -210.0, trid),
        t("powell", 12, _box(-4, 5, 12), 0.0, powell),
        t("salomon", 5, _box(-100, 100, 5), 0.0, salomon),
        # low-dimensional classics
        t("branin", 2, ((-5, 10), (0, 15)), 0.39788735772973816, branin),
        t("six_hump_camel", 2, ((-3, 3), (-2, 2)), -1.031628453489877, six_hump_camel),
        t("goldstein_price", 2, _box(-2, 2, 2), 3.0, goldstein_price),
        t("shubert", 2, _box(-10, 10, 2), -186.7309088310239, shubert),
        t("eggholder", 2, _box(-512, 512, 2), -959.6406627208506, eggholder),
        t("holder_table", 2, _box(-10, 10, 2), -19.20850256788675, holder_table),
        t("cross_in_tray", 2, _box(-10, 10, 2), -2.062611870822739, cross_in_tray),
        t("drop_wave", 2, _box(-5.12, 5.12, 2), -1.0, drop_wave),
        t("easom", 2, _box(-100, 100, 2), -1.0, easom),
        t("levy13", 2, _box(-10, 10, 2), 0.0, levy13),
        t("hartmann3", 3, _box(0, 1, 3), -3.862782147820756, _hartmann(_H3_A, _H3_P)),
        t("hartmann6", 6, _box(0, 1, 6), -3.322368011415515, _hartmann(_H6_A, _H6_P)),
        t("shekel5", 4, _box(0, 10, 4), -10.153199679058231, _shekel(5)),
        t("shekel7", 4, _box(0, 10, 4), -10.402940566818664, _shekel(7)),
        t("shekel10", 4, _box(0, 10, 4), -10.536409816692046, _shekel(10)),
    ]


SUITE: list[TestFunction] = _suite()
#: The default (quick) set of ``attnsearch bench minimize``.
QUICK = ("rastrigin-10", "ackley-10", "schwefel-10", "griewank-10", "shubert-2")


def budget_for(dim: int) -> int:
    """Evaluations every solver gets on a ``dim``-dimensional function."""
    return 2000 * dim + 5000


def is_success(f: float, f_star: float) -> bool:
    """SciPy's benchmark criterion, relative: |f - f*| <= 1e-4 (1 + |f*|)."""
    return abs(f - f_star) <= 1e-4 * (1.0 + abs(f_star))


class _Exhausted(Exception):
    """The budget of evaluations is spent."""


class Counted:
    """``fun`` with a budget: counts evaluations, remembers the best value and
    the evaluation that first reached success; raises when the budget is spent.
    """

    def __init__(self, problem: TestFunction, budget: int) -> None:
        self.problem, self.budget = problem, budget
        self.calls = 0
        self.best = math.inf
        self.success_at: int | None = None
        # minimize calls the function once at the centre of the box to check
        # its signature and discards the value: not an evaluation of the search
        # (and the centre is the minimiser of half the suite).
        self.skip_next = False

    def _seen(self, f: float) -> None:
        if f < self.best:
            self.best = f
            if self.success_at is None and is_success(f, self.problem.f_star):
                self.success_at = self.calls

    def __call__(self, x: Array) -> float:
        if self.skip_next:
            self.skip_next = False
            return float(self.problem(x))
        if self.calls >= self.budget:
            raise _Exhausted
        self.calls += 1
        f = float(self.problem(x))
        self._seen(f)
        return f


def _bounds(problem: TestFunction) -> list[tuple[float, float]]:
    return [tuple(map(float, b)) for b in problem.bounds]  # type: ignore[misc]


def _x0(problem: TestFunction, seed: int) -> Array:
    lo, hi = np.array(problem.bounds, dtype=float).T
    return lo + np.random.default_rng(seed).random(problem.dim) * (hi - lo)


def _ours(fun: Counted, seed: int, **options: Any) -> Any:
    from .minimize import minimize

    fun.skip_next = True  # the signature check
    res = minimize(fun, _bounds(fun.problem), seed=seed, maxfev=fun.budget, **options)
    if res.nfev != fun.calls:
        raise AssertionError(
            f"minimize reported nfev={res.nfev}, the function counted {fun.calls}"
        )
    return res


def _seeded(solver: Callable[..., Any], *args: Any, seed: int, **kwargs: Any) -> Any:
    """``solver(*args, rng=seed)`` (SciPy >= 1.15), else ``seed=seed``."""
    import inspect

    name = "rng" if "rng" in inspect.signature(solver).parameters else "seed"
    return solver(*args, **kwargs, **{name: seed})


def _dual_annealing(fun: Counted, seed: int) -> Any:
    from scipy.optimize import dual_annealing

    return _seeded(dual_annealing, fun, _bounds(fun.problem), seed=seed)


def _differential_evolution(fun: Counted, seed: int) -> Any:
    from scipy.optimize import differential_evolution

    return _seeded(differential_evolution, fun, _bounds(fun.problem), seed=seed)


def _shgo(fun: Counted, seed: int) -> Any:
    from scipy.optimize import shgo

    return shgo(fun, _bounds(fun.problem))  # deterministic (Simplicial sampling)


def _basinhopping(fun: Counted, seed: int) -> Any:
    from scipy.optimize import basinhopping

    bounds = _bounds(fun.problem)
    return _seeded(
        basinhopping,
        fun,
        _x0(fun.problem, seed),
        minimizer_kwargs={"method": "L-BFGS-B", "bounds": bounds},
        seed=seed,
    )


#: shgo's default (simplicial) sampling triangulates the box: 2^d vertices and
#: more; at d = 12 it exhausts the memory of a 24 GB machine. Not run above this.
SHGO_MAX_DIM = 10


def runs_on(solver: str, problem: TestFunction) -> bool:
    """Whether the suite runs ``solver`` on ``problem`` (see SHGO_MAX_DIM)."""
    return solver != "shgo" or problem.dim <= SHGO_MAX_DIM


#: name -> solver(counted function, seed): SciPy's global optimisers with their
#: default arguments (basinhopping with L-BFGS-B inside the bounds, as SciPy's
#: own benchmarks run it, from a uniform random start).
SOLVERS: dict[str, Callable[[Counted, int], Any]] = {
    "minimize": _ours,
    "dual_annealing": _dual_annealing,
    "differential_evolution": _differential_evolution,
    "shgo": _shgo,
    "basinhopping": _basinhopping,
}


@dataclass
class Outcome:
    """One run: best value evaluated, evaluations used, success, its evaluation."""

    best: float
    nfev: int
    success: bool
    success_at: int | None
    seconds: float


def run_one(
    solver: Callable[..., Any], problem: TestFunction, seed: int, budget: int
) -> Outcome:
    """Run ``solver`` on ``problem`` with ``budget`` evaluations."""
    fun = Counted(problem, budget)
    start = time.perf_counter()
    try:
        solver(fun, seed)
    except _Exhausted:
        pass
    except Exception as error:  # noqa: BLE001 - one line in the table, not a crash
        if not isinstance(error.__cause__, _Exhausted) and not isinstance(
            error.__context__, _Exhausted
        ):
            raise
    seconds = time.perf_counter() - start
    return Outcome(
        fun.best,
        fun.calls,
        fun.success_at is not None,
        fun.success_at,
        seconds,
    )


def run_suite(
    problems: Sequence[TestFunction],
    solvers: dict[str, Callable[..., Any]],
    seeds: Sequence[int],
    budget: Callable[[int], int] = budget_for,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], list[Outcome]]:
    """Every solver on every problem and seed: {(problem label, solver): runs}."""
    out: dict[tuple[str, str], list[Outcome]] = {}
    for problem in problems:
        for name, solver in solvers.items():
            if not runs_on(name, problem):
                continue
            runs = [run_one(solver, problem, s, budget(problem.dim)) for s in seeds]
            out[problem.label, name] = runs
            if progress is not None:
                progress(f"{problem.label} {name} {sum(r.success for r in runs)}")
    return out
