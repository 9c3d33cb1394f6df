"""``minimize(method="auto")``: generalised annealing over basins with L-BFGS-B.

The default of :func:`attnsearch.search.minimize`. A global phase proposes
points with Tsallis' distorted Cauchy-Lorentz visiting distribution (heavy
tailed: from uniform jumps across the box at high temperature to small steps
near the end), half of them moving every coordinate and half one coordinate,
wrapped periodically into the box, accepted with the generalised Metropolis
rule of Tsallis & Stariolo -- the scheme of Xiang et al.'s generalised
simulated annealing that ``scipy.optimize.dual_annealing`` implements. Every
chain of proposals that improves the best point is followed by an L-BFGS-B
descent from it inside the box (finite-difference gradients, every evaluation
counted), and so is a long stagnation. This module adds what the measurements
on the suite of ``_global_suite`` asked for (``bench/README.md``,
*minimize defaults*): a late phase for the last part of the budget, a hot
restart in the stagnation mode (descents from the walker) interleaved with
basin hops along lines through the incumbent (``LineHops``); see
``global_search``.

Everything here is NumPy and SciPy: the evaluations and the L-BFGS-B
iterations dominate (a compiled built-in function is evaluated in batches
through ``Continuous.evaluate``; finite-difference gradients of built-ins are
one batch call of ``d + 1`` points).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

Array = npt.NDArray[np.float64]

#: Dual annealing's published defaults (Xiang et al. 1997; SciPy's defaults).
INITIAL_TEMPERATURE = 5230.0
VISIT = 2.62
ACCEPT = -5.0
RESTART_RATIO = 2e-5
#: The last share of the budget that restarts the annealing in its stagnation
#: mode, and the share of that phase spent on line hops around the incumbent
#: (measured on the suite of ``_global_suite``: bench/README.md, minimize
#: defaults).
LATE_SHARE = 0.4
HOP_SHARE = 0.5
#: The share of coordinate hops that walk over the nearest barrier instead of
#: screening a random step (``LineHops``; bench/README.md, minimize defaults).
BARRIER_SHARE = 0.25
#: The most of the hops' evaluations that barrier hops may spend: their
#: descents from a barrier's top along every other coordinate cost ~``10 d``
#: evaluations, so in 30 dimensions a quarter of the hops would take half the
#: hops' evaluations from the screened hops (bench/README.md, minimize
#: defaults).
BARRIER_CAP = 0.4
_TAIL_LIMIT = 1e8


class BudgetSpent(Exception):
    """The evaluations or the time are spent."""


@dataclass
class Evaluator:
    """Counts evaluations of ``single`` / ``batch`` and keeps the best point.

    ``batch`` (points (n, d) -> values (n,)) is used for the finite-difference
    gradients when given; otherwise they come from SciPy's own, one call per
    point. Raises ``BudgetSpent`` before an evaluation beyond ``maxfev`` or after
    ``deadline`` (monotonic seconds).
    """

    single: Callable[[Array], float]
    batch: Callable[[Array], Array] | None
    maxfev: int
    deadline: float | None = None
    nfev: int = 0
    best_x: Array | None = None
    best_f: float = math.inf
    target: float | None = None
    history: list[float] = field(default_factory=list)

    def _check(self, n: int) -> None:
        if self.nfev + n > self.maxfev:
            raise BudgetSpent
        if (
            self.deadline is not None
            and self.nfev > 0
            and time.monotonic() > self.deadline
        ):
            raise BudgetSpent

    def _seen(self, x: Array, f: float) -> None:
        if self.best_x is None:  # even a non-finite first value has a point
            self.best_x = np.array(x, dtype=np.float64)
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=np.float64)
            if self.target is not None and f <= self.target:
                raise BudgetSpent

    def __call__(self, x: Array) -> float:
        self._check(1)
        self.nfev += 1
        f = float(self.single(x))
        if math.isnan(f):
            f = math.inf
        self._seen(x, f)
        return f

    def many(self, points: Array) -> Array:
        """Values at the rows of ``points`` (a batch call when possible). A
        batch larger than the evaluations left is evaluated as far as they go
        (so every kind of function spends the whole budget, in the same steps)
        before ``BudgetSpent``."""
        n = len(points)
        left = self.maxfev - self.nfev
        if n > left:
            if left > 0:
                self.many(points[:left])
            raise BudgetSpent
        if self.batch is None:
            return np.array([self(p) for p in points])
        self._check(n)
        self.nfev += n
        values = np.asarray(self.batch(points), dtype=np.float64).reshape(n)
        values = np.where(np.isnan(values), np.inf, values)
        i = int(np.argmin(values))
        self._seen(points[i], float(values[i]))
        return values


class _Visiting:
    """Tsallis' visiting distribution (SciPy's ``VisitingDistribution`` maths)."""

    def __init__(self, qv: float, rng: np.random.Generator) -> None:
        self.qv, self.rng = qv, rng
        f2 = math.exp((4.0 - qv) * math.log(qv - 1.0))
        f3 = math.exp((2.0 - qv) * math.log(2.0) / (qv - 1.0))
        self.f4p = math.sqrt(math.pi) * f2 / (f3 * (3.0 - qv))
        f5 = 1.0 / (qv - 1.0) - 0.5
        d1 = 2.0 - f5
        self.f6 = (
            math.pi
            * (1.0 - f5)
            / math.sin(math.pi * (1.0 - f5))
            / math.exp(gammaln(d1))
        )

    def steps(self, temperature: float, n: int) -> Array:
        """``n`` visiting steps at ``temperature``, heavy tails clipped."""
        qv = self.qv
        xy = self.rng.standard_normal((n, 2))
        factor4 = self.f4p * math.exp(math.log(temperature) / (qv - 1.0))
        sigma = math.exp(-(qv - 1.0) * math.log(self.f6 / factor4) / (3.0 - qv))
        den = np.exp((qv - 1.0) * np.log(np.abs(xy[:, 1])) / (3.0 - qv))
        v = xy[:, 0] * sigma / den
        big = np.abs(v) > _TAIL_LIMIT
        if big.any():
            v[big] = np.sign(v[big]) * _TAIL_LIMIT * self.rng.random(int(big.sum()))
        return v


def _wrap(x: Array, lower: Array, width: Array) -> Array:
    """Periodic bounds, as dual annealing: back into [lower, lower + width)."""
    return np.fmod(np.fmod(x - lower, width) + width, width) + lower


class LocalSearch:
    """L-BFGS-B inside the box from a point; gradients by forward differences
    (SciPy's step, ``sqrt(eps) max(1, |x|)``, away from the nearer bound), one
    batch of ``d + 1`` points when the function takes batches, so a built-in,
    a vectorised and a plain function take the same steps."""

    def __init__(
        self,
        evaluator: Evaluator,
        lower: Array,
        upper: Array,
        maxiter: int,
    ) -> None:
        self.ev, self.lower, self.upper = evaluator, lower, upper
        self.bounds = list(zip(lower.tolist(), upper.tolist(), strict=True))
        self.maxiter = maxiter
        self.runs = 0
        self.nfev = 0  # evaluations spent in local searches

    def _value_and_grad(self, x: Array) -> tuple[float, Array]:
        d = x.size
        h = 1.4901161193847656e-08 * np.maximum(1.0, np.abs(x))  # sqrt(eps)
        # Step away from the closer bound (stays inside the box).
        step = np.where(x + h > self.upper, -h, h)
        points = np.repeat(x[None, :], d + 1, axis=0)
        points[np.arange(1, d + 1), np.arange(d)] += step
        values = self.ev.many(points)
        f0 = float(values[0])
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: no slope
            grad = (values[1:] - f0) / step
        grad = np.where(np.isfinite(grad), grad, 0.0)
        return f0, grad

    def __call__(self, x: Array, f: float) -> tuple[Array, float]:
        """Descend from ``x`` (value ``f``); the best point seen and its value."""
        self.runs += 1
        before = self.ev.nfev
        try:
            return self._descend(x, f)
        finally:
            self.nfev += self.ev.nfev - before

    def _descend(self, x: Array, f: float) -> tuple[Array, float]:
        from scipy.optimize import minimize as scipy_minimize

        best_x, best_f = np.array(x, dtype=np.float64), float(f)

        def fun_and_grad(y: Array) -> tuple[float, Array]:
            nonlocal best_x, best_f
            y = np.clip(y, self.lower, self.upper)
            value, grad = self._value_and_grad(y)
            if value < best_f:
                best_x, best_f = y, value
            return value, grad

        # BudgetSpent propagates: the evaluator keeps the best point seen.
        scipy_minimize(
            fun_and_grad,
            best_x.copy(),
            jac=True,
            method="L-BFGS-B",
            bounds=self.bounds,
            options={"maxiter": self.maxiter},
        )
        return best_x, best_f


class LineHops:
    """Basin hopping along lines through the incumbent, screened in one
    dimension: a direction ``u`` (half the time one coordinate, else a random
    direction, scaled by the box), a start ``t`` log-uniform in
    ``[smallest_step, 1]`` of the box with a random sign (no scale is
    favoured), a 1-D L-BFGS-B descent of ``f(x + t u)`` on the line's segment
    inside the box, and a full descent only when that line's minimum beats the
    incumbent. A hop into a worse basin costs the 1-D descent (two evaluations
    a gradient) rather than a full one (``d + 1``); on Griewank-10 a hop
    costs ~35 evaluations on average, its full descents included.

    ``barrier_share`` of the coordinate hops walk over the nearest barrier
    instead (``_over_barrier``): no line through a local minimum leads out of
    a basin whose coordinates are trapped together (Griewank's pairs at odd
    multiples of their periods: moving one alone makes the product of the
    cosines negative), but 1-D descents along the other coordinates from the
    top of the lower barrier along one of them do, about three times in five
    (a descent of the whole space from that top: two in five). They spend
    at most ``barrier_cap`` of the hops' evaluations, the rest staying with
    the screened hops."""

    def __init__(
        self,
        evaluator: Evaluator,
        lower: Array,
        upper: Array,
        rng: np.random.Generator,
        local: LocalSearch,
        *,
        coordinate_share: float = 0.5,
        smallest_step: float = 1e-3,
        barrier_share: float = BARRIER_SHARE,
        barrier_cap: float = BARRIER_CAP,
    ) -> None:
        self.ev, self.lower, self.upper, self.rng = evaluator, lower, upper, rng
        self.width = upper - lower
        self.local = local
        self.coordinate_share = coordinate_share
        self.barrier_share, self.barrier_cap = barrier_share, barrier_cap
        self.barrier_nfev = 0  # evaluations spent in barrier hops
        self.log_smallest = math.log10(smallest_step)
        self.hops = 0
        self.accepted = 0
        self.nfev = 0

    def _direction(self) -> Array:
        dim = self.width.size
        if dim == 1 or self.rng.random() < self.coordinate_share:
            u = np.zeros(dim)
            u[self.rng.integers(dim)] = 1.0
        else:
            u = self.rng.standard_normal(dim)
            u /= np.linalg.norm(u)
        return u * self.width

    def __call__(self, x: Array, f: float) -> tuple[Array, float]:
        """One hop from ``x`` (value ``f``); the better of the two and its value."""
        self.hops += 1
        before = self.ev.nfev
        try:
            return self._hop(x, f)
        finally:
            self.nfev += self.ev.nfev - before

    def _hop(self, x: Array, f: float) -> tuple[Array, float]:
        u = self._direction()
        # The segment of the line inside the box: t in [t_low, t_high].
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (self.lower - x) / u
            b = (self.upper - x) / u
        moving = u != 0
        line = _Line(
            self.ev,
            x,
            u,
            self.lower,
            self.upper,
            float(np.max(np.minimum(a, b)[moving])),
            float(np.min(np.maximum(a, b)[moving])),
        )
        sign = 1.0 if self.rng.random() < 0.5 else -1.0
        if (
            np.count_nonzero(u) == 1
            and self.rng.random() < self.barrier_share
            and self.barrier_nfev <= self.barrier_cap * self.nfev
        ):
            before = self.ev.nfev
            try:
                return self._over_barrier(line, f, sign)
            finally:
                self.barrier_nfev += self.ev.nfev - before
        size = 10.0 ** self.rng.uniform(self.log_smallest, 0.0)
        line.descend(sign * size)
        if not line.best_f < f:
            return x, f
        return self._accept(line, f)

    def _accept(self, line: _Line, f: float) -> tuple[Array, float]:
        y = line.point(line.best_t)
        z, g = self.local(y, line.best_f)
        self.accepted += 1
        return (z, g) if g < line.best_f else (y, line.best_f)

    def _over_barrier(self, line: _Line, f: float, sign: float) -> tuple[Array, float]:
        """Walk along the line from ``x`` over the nearest barrier
        (``_walk_over``) towards ``sign``, and from three dimensions up
        towards ``-sign`` too, descending the line beyond each; when no
        neighbouring basin is better, find the top of the (lower) barrier, a
        saddle of the line, and descend from it: from three dimensions up
        along each other coordinate first (``_descend_coordinates``), in one
        or two the whole space. Coordinates that trap the incumbent together,
        like Griewank's pairs at odd multiples of their periods, are released
        there: at the top of the lower barrier the partner sits at a maximum
        of its own line, which falls to the global basin's parity.

        (Measured, bench/README.md, minimize defaults: the coordinate descents
        release a trapped pair half again as often as the whole space's
        descent from the top (59 % against 39 %) at half its cost, and the
        lower of the two tops is the one that leads towards the global basin;
        in two dimensions the one other coordinate is a poor screen and the
        plane's descent as cheap.)"""
        from scipy.optimize import minimize_scalar

        dim = line.x.size
        passes = []
        for side in (sign,) if dim <= 2 else (sign, -sign):
            walked = self._walk_over(line, f, side)
            if walked is None:
                continue
            a, b, height = walked
            line.best_f = math.inf
            line.descend(side * b)
            if line.best_f < f:
                return self._accept(line, f)
            passes.append((height, side, a, b))
        if not passes:
            return line.x, f
        _, side, a, b = min(passes)
        top = minimize_scalar(
            lambda t: -line.value(side * t),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-9 * b, "maxiter": 40},
        )
        t_top = side * float(top.x)
        y, g = line.point(t_top), -float(top.fun)
        if dim > 2:
            axis = int(np.flatnonzero(line.u)[0])
            # The coordinates' first steps: the distance to the top, a
            # length of the landscape's own (never below the walk's first).
            first = 0.1 * 10.0**self.log_smallest
            scale = max(abs(t_top), first) * abs(float(line.u[axis]))
            y, g = self._descend_coordinates(y, axis, scale, f)
            if not g < f:
                return line.x, f
        z, g_z = self.local(y, g)
        if min(g, g_z) < f:
            self.accepted += 1
            return (z, g_z) if g_z < g else (y, g)
        return line.x, f

    def _walk_over(
        self, line: _Line, f: float, sign: float
    ) -> tuple[float, float, float] | None:
        """Walk from the line's ``x`` (value ``f``) towards ``sign`` in steps
        doubling from a tenth of the smallest hop until the values, having
        risen above ``f``, fall again (a barrier passed): ``(a, b, height)``,
        the top between ``sign a`` and ``sign b``, ``height`` the highest
        value walked; None when the box's edge comes first."""
        edge = line.t_high if sign > 0 else -line.t_low
        ts, fs = [0.0], [f]
        t = 0.1 * 10.0**self.log_smallest
        while t <= edge:
            ts.append(t)
            fs.append(line.value(sign * t))
            if fs[-1] < fs[-2] and fs[-2] > f and fs[-2] >= fs[-3]:
                return ts[-3], ts[-1], fs[-2]
            t *= 2.0
        return None

    def _descend_coordinates(
        self, y: Array, axis: int, scale: float, f: float
    ) -> tuple[Array, float]:
        """1-D descents from ``y`` along each coordinate but ``axis`` (in a
        random order, their first step ``scale`` long) until one ends below
        ``f``: that point and its value, else the best end and its value."""
        best_y, best_g = y, math.inf
        for k in self.rng.permutation(y.size):
            if k == axis:
                continue
            u = np.zeros(y.size)
            u[k] = scale
            coordinate = _Line(
                self.ev,
                y,
                u,
                self.lower,
                self.upper,
                (self.lower[k] - y[k]) / scale,
                (self.upper[k] - y[k]) / scale,
            )
            coordinate.descend(0.0)
            if coordinate.best_f < best_g:
                best_y = coordinate.point(coordinate.best_t)
                best_g = coordinate.best_f
                if best_g < f:
                    break
        return best_y, best_g


class _Line:
    """``f(x + t u)`` on the segment ``[t_low, t_high]`` inside the box,
    remembering its best ``t``."""

    def __init__(
        self,
        ev: Evaluator,
        x: Array,
        u: Array,
        lower: Array,
        upper: Array,
        t_low: float,
        t_high: float,
    ) -> None:
        self.ev, self.x, self.u, self.lower, self.upper = ev, x, u, lower, upper
        self.t_low, self.t_high = t_low, t_high
        self.best_t, self.best_f = 0.0, math.inf

    def point(self, t: float) -> Array:
        return np.clip(self.x + t * self.u, self.lower, self.upper)

    def value(self, t: float) -> float:
        f_t = self.ev(self.point(t))
        if f_t < self.best_f:
            self.best_t, self.best_f = t, f_t
        return f_t

    def descend(self, t0: float) -> None:
        """A 1-D L-BFGS-B descent from ``t0`` (LocalSearch's forward
        differences in one dimension)."""
        from scipy.optimize import minimize as scipy_minimize

        t_low, t_high = self.t_low, self.t_high
        t0 = min(max(t0, t_low), t_high)

        def value_and_slope(t: Array) -> tuple[float, Array]:
            t0 = min(max(float(t[0]), t_low), t_high)
            h = 1.4901161193847656e-08 * max(1.0, abs(t0))
            h = -h if t0 + h > t_high else h
            f0 = self.value(t0)
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf
                slope = (self.value(t0 + h) - f0) / h
            return f0, np.array([slope if math.isfinite(slope) else 0.0])

        scipy_minimize(
            value_and_slope,
            np.array([t0]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(t_low, t_high)],
            options={"maxiter": 50},
        )


def _late(evaluator: Evaluator, share: float, started: float) -> bool:
    """Whether the last ``share`` of the budget (evaluations, else time) began."""
    if share <= 0.0:
        return False
    if evaluator.maxfev < 2**62:
        return evaluator.nfev >= (1.0 - share) * evaluator.maxfev
    if evaluator.deadline is not None:
        return time.monotonic() >= started + (1.0 - share) * (
            evaluator.deadline - started
        )
    return False


def global_search(
    evaluator: Evaluator,
    lower: Array,
    upper: Array,
    rng: np.random.Generator,
    x0: Array | None = None,
    *,
    initial_temp: float = INITIAL_TEMPERATURE,
    visit: float = VISIT,
    accept: float = ACCEPT,
    restart_temp_ratio: float = RESTART_RATIO,
    local_maxiter: int | None = None,
    local_search: bool = True,
    stagnation: int = 1000,
    callback: Callable[[Array, float, int], bool] | None = None,
    late_share: float = LATE_SHARE,
    hop_share: float = HOP_SHARE,
) -> dict[str, Any]:
    """Run until ``evaluator`` raises ``BudgetSpent``; returns counters.

    Dual annealing's loop (chains of ``2 d`` proposals, a descent after every
    chain that improves the best point, and after ``stagnation`` idle chains)
    until the last ``late_share`` of the budget (evaluations, else the time
    limit; none with ``maxiter`` alone or without local search). Then the late
    phase: the annealing restarts hot from a random point in its stagnation
    mode (a descent from the walker every ``d`` chains: a multistart that dual
    annealing reaches only after 1000 idle chains, i.e. within this budget at
    d <= 4), interleaved with ``LineHops`` around the incumbent for
    ``hop_share`` of the phase's evaluations. The budget is used to its end.

    The best point and value are ``evaluator.best_x`` / ``evaluator.best_f``.
    ``callback(x_best, f_best, iteration)`` runs after every chain; True stops.
    """
    dim = lower.size
    width = upper - lower
    visiting = _Visiting(visit, rng)
    if local_maxiter is None:
        local_maxiter = min(max(6 * dim, 100), 1000)
    local = LocalSearch(evaluator, lower, upper, local_maxiter)
    stats: dict[str, Any] = {"iterations": 0, "local_searches": 0, "local_nfev": 0}
    hops = LineHops(evaluator, lower, upper, rng, local)
    started = time.monotonic()
    late_from: int | None = None  # the evaluation at which the late phase began
    t1 = math.exp((visit - 1.0) * math.log(2.0)) - 1.0
    try:
        x = lower + rng.random(dim) * width if x0 is None else np.array(x0, dtype=float)
        e = evaluator(x)
        while not math.isfinite(e):
            x = lower + rng.random(dim) * width
            e = evaluator(x)
        x_best, e_best = x.copy(), e
        not_improved, not_improved_max = 0, stagnation
        x_min, e_min = x.copy(), e
        i = 0
        while True:
            s = i + 2.0
            temperature = initial_temp * t1 / (math.exp((visit - 1) * math.log(s)) - 1)
            if temperature < initial_temp * restart_temp_ratio:
                x = lower + rng.random(dim) * width
                e = evaluator(x)
                i = 0
                continue
            t_step = temperature / (i + 1)
            not_improved += 1
            improved = i == 0 and stats["iterations"] == 0
            steps = visiting.steps(temperature, 2 * dim * dim)
            # Proposal j < dim moves every coordinate, j >= dim coordinate j - dim.
            for j in range(2 * dim):
                if j < dim:
                    y = _wrap(x + steps[j * dim : (j + 1) * dim], lower, width)
                else:
                    k = j - dim
                    y = x.copy()
                    w = width[k]
                    y[k] = math.fmod(
                        math.fmod(x[k] + steps[j * dim] - lower[k], w) + w, w
                    )
                    y[k] += lower[k]
                f = evaluator(y)
                if f < e:
                    x, e = y, f
                    if f < e_best:
                        x_best, e_best = y.copy(), f
                        improved = True
                        not_improved = 0
                else:
                    p = 1.0 - (1.0 - accept) * (f - e) / t_step
                    r = rng.random()
                    if p > 0 and r <= math.exp(math.log(p) / (1.0 - accept)):
                        x, e = y, f
                        x_min = x.copy()
                    if not_improved >= not_improved_max and (j == 0 or e < e_min):
                        x_min, e_min = x.copy(), e
            if improved and local_search:
                y, f = local(x_best, e_best)
                if f < e_best:
                    not_improved = 0
                    x_best, e_best = y.copy(), f
                    x, e = y.copy(), f
            if not_improved >= not_improved_max and local_search:
                y, f = local(x_min, e_min)
                x_min, e_min = y.copy(), f
                not_improved, not_improved_max = 0, dim
                if f < e_best:
                    x_best, e_best = y.copy(), f
                    x, e = y.copy(), f
            i += 1
            stats["iterations"] += 1
            if callback is not None and callback(x_best, e_best, stats["iterations"]):
                break
            if local_search and _late(evaluator, late_share, started):
                if late_from is None:
                    # A restart (a hot walker from a random point) in the
                    # annealing's stagnation mode: a descent from the walker
                    # every ``dim`` chains, i.e. what dual annealing reaches
                    # only after 1000 idle chains and its own restart, which
                    # the budget leaves no room for at d >= 10.
                    late_from = evaluator.nfev
                    not_improved_max = min(not_improved_max, dim)
                    not_improved = max(not_improved, not_improved_max)
                    i = 0
                    x = lower + rng.random(dim) * width
                    e = evaluator(x)
                    x_min, e_min = x.copy(), e
                # Interleaved with hops around the incumbent: ``hop_share``
                # of the late phase's evaluations.
                while hops.nfev < hop_share * (evaluator.nfev - late_from):
                    assert evaluator.best_x is not None
                    x_best, e_best = hops(evaluator.best_x, evaluator.best_f)
    except BudgetSpent:
        pass
    stats["local_searches"] = local.runs
    stats["local_nfev"] = local.nfev
    stats["hops"] = hops.hops
    stats["hop_nfev"] = hops.nfev
    return stats


#: Keywords of ``minimize(method="auto")`` besides the shared ones.
AUTO_OPTIONS = (
    "initial_temp",
    "visit",
    "accept",
    "restart_temp_ratio",
    "local_maxiter",
    "late_share",
    "hop_share",
)


def default_maxfev(dim: int) -> int:
    """``minimize(method="auto")``'s budget without maxfev, maxiter or time_limit:
    what ``dual_annealing``'s 1000 iterations of ``2 d`` proposals cost, plus
    room for its local searches (the suite's budget, ``_global_suite``)."""
    return 2000 * dim + 5000


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(AUTO_OPTIONS))
    if unknown:
        raise TypeError(
            f"minimize(method='auto') got unexpected keyword {unknown[0]!r}; its "
            f"own keywords are {', '.join(AUTO_OPTIONS)}"
        )
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name == "local_maxiter":
            from ._validation import check_int

            checked[name] = check_int(value, name)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            raise TypeError(f"{name} must be a number, got {value!r}")
        value = float(value)
        ok = {
            "initial_temp": 0.01 < value <= 5e4,
            "visit": 1.0 < value <= 3.0,
            "accept": -1e4 < value <= -5.0,
            "restart_temp_ratio": 0.0 < value < 1.0,
            "late_share": 0.0 <= value < 1.0,
            "hop_share": 0.0 <= value < 1.0,
        }[name]
        if not ok:
            ranges = {
                "initial_temp": "(0.01, 5e4]",
                "visit": "(1, 3]",
                "accept": "(-1e4, -5]",
                "restart_temp_ratio": "(0, 1)",
                "late_share": "[0, 1)",
                "hop_share": "[0, 1)",
            }
            raise ValueError(f"{name} must lie in {ranges[name]}, got {value}")
        checked[name] = value
    return checked


_MESSAGES = {
    "maxfev": "Maximum number of function evaluations reached.",
    "maxiter": "Maximum number of iterations reached.",
    "time_limit": "Time limit reached.",
    "target": "Target value reached.",
    "callback": "`callback` raised `StopIteration`.",
}
_STATUS = {"maxfev": 0, "maxiter": 0, "target": 0, "time_limit": 1, "callback": 99}


def minimize_auto(
    problem: Any,
    *,
    x0: Any,
    callback: Callable[[Any], bool] | None,
    stopped: dict[str, bool] | None,
    seed: Any,
    maxiter: int | None,
    maxfev: int | None,
    num_chains: int,
    time_limit: float | None,
    target: float | None,
    polish: bool,
    options: dict[str, Any],
) -> Any:
    """The body of ``minimize(method="auto")`` (arguments checked by the caller,
    ``callback`` already wrapped by ``minimize._wrap_callback``)."""
    from scipy.optimize import OptimizeResult
    from threadpoolctl import threadpool_limits

    from ._seeding import seed_sequence

    settings = _check_options(options)
    if num_chains != 1:
        raise ValueError(
            "method='auto' runs one search (num_chains=1); pass an explicit method "
            "to run several chains"
        )
    dim = problem.dim
    lower, upper = problem.lower, problem.upper
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (dim,):
            raise ValueError(f"x0 must have shape ({dim},) like bounds, got {x0.shape}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 must be finite")
        outside = np.flatnonzero((x0 < lower) | (x0 > upper))
        if outside.size:
            i = outside[0]
            raise ValueError(
                f"x0[{i}] = {x0[i]} is outside its bounds ({lower[i]}, {upper[i]})"
            )
    if maxfev is None and maxiter is None and time_limit is None:
        maxfev = default_maxfev(dim)
    rng = np.random.default_rng(seed_sequence(seed))
    started = time.monotonic()
    core = getattr(problem, "_core", None)
    if core is not None:  # compiled built-in: batches through the core

        def single(x: Array) -> float:
            return float(core.values(x[None, :])[0])

        batch: Callable[[Array], Array] | None = core.values
    elif problem.vectorized:
        func = problem.func

        def single(x: Array) -> float:
            return float(np.asarray(func(x[None, :]), dtype=np.float64).reshape(-1)[0])

        batch = problem.evaluate
    else:
        func = problem.func

        def single(x: Array) -> float:
            return float(func(x.copy()))

        batch = None
    evaluator = Evaluator(
        single=single,
        batch=batch,
        maxfev=maxfev if maxfev is not None else 2**62,
        deadline=None if time_limit is None else started + time_limit,
        target=None if target is None else float(target),
    )
    last = [started]
    state: dict[str, str] = {"reason": "maxfev" if maxfev is not None else "time_limit"}

    def each_iteration(x: Array, f: float, iteration: int) -> bool:
        if maxiter is not None and iteration >= maxiter:
            state["reason"] = "maxiter"
            return True
        now = time.monotonic()
        if callback is not None and now - last[0] >= 0.1:
            last[0] = now
            progress = {
                "best_state": x,
                "method": "auto",
                "step": iteration,
                "total_steps": maxiter,
                "n_evaluations": evaluator.nfev,
                "best_cost": f,
                "best_costs": np.array([f]),
                "temperature": math.nan,
                "acceptance_rate": math.nan,
                "elapsed": now - started,
            }
            if callback(progress):
                state["reason"] = "callback"
                return True
        return False

    with threadpool_limits(1, user_api="blas"):  # L-BFGS-B's tiny BLAS calls
        stats = global_search(
            evaluator,
            lower,
            upper,
            rng,
            x0,
            local_search=polish,
            callback=each_iteration,
            **settings,
        )
    if stopped is not None and stopped["stopped"]:
        state["reason"] = "callback"
    elif target is not None and evaluator.best_f <= target:
        state["reason"] = "target"
    elif (
        state["reason"] != "maxiter"
        and evaluator.deadline is not None
        and time.monotonic() > evaluator.deadline
    ):
        state["reason"] = "time_limit"
    reason = state["reason"]
    x_best = evaluator.best_x
    assert x_best is not None  # at least one evaluation happened
    fun_value = float(evaluator.best_f)
    success = reason != "callback" and math.isfinite(fun_value)
    return OptimizeResult(
        x=np.array(x_best, dtype=np.float64),
        fun=fun_value,
        nfev=int(evaluator.nfev),
        nit=int(stats["iterations"]),
        success=bool(success),
        status=_STATUS[reason],
        message=_MESSAGES[reason],
        stop_reason=reason,
        method="auto",
        result=None,
        polish_nfev=int(stats["local_nfev"]),
        local_searches=int(stats["local_searches"]),
        hops=int(stats["hops"]),
    )
