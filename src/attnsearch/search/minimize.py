"""``minimize``: the search methods behind SciPy's ``minimize`` conventions."""

from __future__ import annotations

import inspect
import math
import numbers
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ._seeding import CALIBRATION_CHAINS, seed_sequence
from ._typing import Progress, Seed
from ._validation import check_bool, check_int, check_time_limit
from .methods import METHODS, method_function
from .methods.annealing import _CALIBRATION_MOVES
from .methods.tempering import default_num_replicas
from .problems.continuous import BUILTIN_FUNCTIONS, Continuous
from .problems.continuous._core import ADAPTATION
from .problems.continuous.problem import BoundsLike

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

__all__ = ["minimize", "MINIMIZE_METHODS"]

#: ``method`` of :func:`minimize` -> the attnsearch function that runs it (the
#: package's one table of method names; the ``Literal`` of ``minimize``'s
#: ``method`` and its docstring list the same names, which a test checks).
MINIMIZE_METHODS = METHODS

_MESSAGES = {
    "max_iters": "Maximum number of iterations reached.",
    "converged": "Every chain reached a local minimum of the compass neighbourhood.",
    "time_limit": "Time limit reached.",
    "target": "Target value reached.",
    "callback": "`callback` raised `StopIteration`.",
}
_STATUS = {"max_iters": 0, "converged": 0, "target": 0, "time_limit": 1, "callback": 99}
# Stream of the random particles that join x0 in a swarm (never a chain's key).
_X0_SWARM_KEY = 2**63 - 2


def _wrap_callback(
    callback: Callable[..., object] | None,
) -> tuple[Callable[[Progress], bool], dict[str, bool]] | tuple[None, None]:
    """SciPy's rule: ``callback(intermediate_result)`` when that is its only
    parameter's name, else ``callback(xk)``. Raising StopIteration stops."""
    if callback is None:
        return None, None
    if not callable(callback):
        raise TypeError("callback must be callable or None")
    from scipy.optimize import OptimizeResult

    try:
        names = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        names = set()
    new_style = names == {"intermediate_result"}
    state = {"stopped": False}

    def ours(progress: Progress) -> bool:
        x = np.array(progress["best_state"], dtype=float)
        try:
            if new_style:
                callback(
                    intermediate_result=OptimizeResult(
                        x=x,
                        fun=float(progress["best_cost"]),
                        nfev=int(progress["n_evaluations"]),
                        nit=int(progress["step"]),
                    )
                )
            else:
                callback(x)
        except StopIteration:
            state["stopped"] = True
            return True
        return False

    return ours, state


def _evaluations_per_iteration(
    method: str, problem: Continuous, options: dict[str, Any], num_chains: int
) -> int:
    dim = problem.dim
    neighbourhood = 2 * dim * int(ADAPTATION["scales"])
    if method == "pso":
        per_chain = int(options.get("n_particles", 40))
    elif method == "anneal":
        per_chain = dim  # one sweep: dim proposals
    elif method == "pt":
        per_chain = _replicas(problem, options) * dim  # one sweep of every replica
    elif method == "stochastic":
        per_chain = int(options.get("sample_size") or neighbourhood)
    elif method == "tabu":
        per_chain = int(options.get("candidate_size") or neighbourhood)
    else:
        per_chain = neighbourhood
    return per_chain * num_chains


def _calibration_evaluations(method: str, options: dict[str, Any]) -> int:
    """Function evaluations spent before the search proper: the calibration
    walks of automatic temperatures (4 walks of 500 moves from random points)
    and the random points that size the improvement tolerance."""
    walks = CALIBRATION_CHAINS * (_CALIBRATION_MOVES + 1)
    if method == "anneal":
        explicit = (
            options.get("t_start") is not None and options.get("t_end") is not None
        ) or not isinstance(options.get("schedule", "geometric"), str)
        return 0 if explicit else walks
    if method == "pt":
        explicit = (
            options.get("t_min") is not None and options.get("t_max") is not None
        ) or not isinstance(options.get("ladder", "geometric"), str)
        return 0 if explicit else walks
    if method == "stochastic":
        return 0 if options.get("temperature") is not None else walks
    if method in ("hill", "tabu"):
        return CALIBRATION_CHAINS
    return 0


def _replicas(problem: Continuous, options: dict[str, Any]) -> int:
    """Replicas of each parallel tempering chain (one start each)."""
    ladder = options.get("ladder", "geometric")
    if not isinstance(ladder, str):
        return len(ladder)
    return int(options.get("num_replicas") or default_num_replicas(problem.dim))


class _PolishSpent(Exception):
    """The polish's evaluations or time are spent."""


def _polish(
    problem: Continuous,
    x0: npt.NDArray[np.float64],
    f0: float,
    budget: int | None,
    deadline: float | None,
) -> tuple[npt.NDArray[np.float64], float, int]:
    """L-BFGS-B from ``x0`` inside the bounds, at most ``budget`` evaluations
    (None: SciPy's own limits) and until ``deadline`` (monotonic seconds);
    returns (best point, its value, evaluations)."""
    from scipy.optimize import minimize as scipy_minimize

    lower, upper = problem.lower, problem.upper
    best: dict[str, Any] = {
        "x": np.array(x0, dtype=np.float64),
        "f": float(f0),
        "calls": 0,
    }

    def value(x: npt.NDArray[np.float64]) -> float:
        if budget is not None and best["calls"] >= budget:
            raise _PolishSpent
        if deadline is not None and time.monotonic() > deadline:
            raise _PolishSpent
        best["calls"] += 1
        point = np.clip(np.asarray(x, dtype=np.float64), lower, upper)
        f = float(problem.evaluate(point))
        if math.isnan(f):
            return math.inf
        if f < best["f"]:
            best["x"], best["f"] = point, f
        return f

    options: dict[str, Any] = {} if budget is None else {"maxfun": max(1, budget)}
    try:
        scipy_minimize(
            value,
            best["x"].copy(),
            method="L-BFGS-B",
            bounds=list(zip(lower, upper)),
            options=options,
        )
    except _PolishSpent:
        pass
    return best["x"], best["f"], best["calls"]


class _Counted:
    """The user's function, counting evaluations (rows, when vectorized)."""

    def __init__(
        self, fun: Callable[..., npt.ArrayLike], args: tuple[Any, ...], vectorized: bool
    ) -> None:
        self.fun, self.args, self.vectorized = fun, args, vectorized
        self.calls = 0
        self.__name__ = getattr(fun, "__name__", "function")

    def __call__(self, x: npt.NDArray[np.float64]) -> npt.ArrayLike:
        self.calls += len(x) if self.vectorized else 1
        return self.fun(x, *self.args)


def _problem(
    fun: Callable[..., npt.ArrayLike] | str,
    bounds: BoundsLike,
    args: tuple[Any, ...],
    vectorized: bool,
) -> Continuous:
    if isinstance(fun, str):
        if args:
            raise ValueError("args cannot be passed to a built-in function")
        if fun not in BUILTIN_FUNCTIONS:
            raise ValueError(
                f"unknown built-in function {fun!r}; choose from "
                f"{sorted(BUILTIN_FUNCTIONS)} or pass a callable"
            )
        from .problems.continuous.problem import _check_bounds

        lower, _ = _check_bounds(bounds)
        return Continuous.builtin(fun, dim=lower.size, bounds=bounds)
    if not callable(fun):
        raise TypeError(f"fun must be callable or a built-in name, got {fun!r}")
    if not isinstance(args, tuple):
        args = (args,)
    return Continuous(
        _Counted(fun, args, vectorized),
        bounds,
        vectorized=vectorized,
        name=getattr(fun, "__name__", None),
    )


def minimize(
    fun: Callable[..., npt.ArrayLike] | str,
    bounds: BoundsLike,
    *,
    x0: npt.ArrayLike | None = None,
    args: tuple[Any, ...] = (),
    method: Literal[
        "auto", "pso", "anneal", "pt", "hill", "stochastic", "tabu", "ils"
    ] = "auto",
    callback: Callable[..., object] | None = None,
    seed: Seed = None,
    maxiter: int | None = None,
    maxfev: int | None = None,
    vectorized: bool = False,
    num_chains: int = 1,
    num_threads: int | None = None,
    time_limit: float | None = None,
    target: float | None = None,
    polish: bool = True,
    **options: Any,
) -> OptimizeResult:
    """Minimise ``fun`` over a box with a global search method, SciPy-style.

    Parameters
    ----------
    fun : callable or str
        ``fun(x, *args) -> float`` for ``x`` of shape ``(d,)`` (or, with
        ``vectorized=True``, ``fun(X, *args) -> (n,)`` for ``X`` of shape
        ``(n, d)``), or the name of a compiled built-in function
        (``"rastrigin"``, ... see ``BUILTIN_FUNCTIONS``), which runs without
        Python in the loop.
    bounds : sequence of (min, max) pairs or scipy.optimize.Bounds
        Finite, ``min < max``: the search space (``d`` = its length).
    x0 : array_like (d,), optional
        Start of every chain (for ``"pso"``: one particle of every swarm, the
        others uniform in the box). Must lie within ``bounds``.
    args : tuple
        Extra arguments of ``fun``.
    method : {"auto", "pso", "anneal", "pt", "hill", "stochastic", "tabu", "ils"}
        ``"auto"`` (default): generalised simulated annealing over basins
        (Tsallis' heavy-tailed visiting distribution, periodic bounds) with an
        L-BFGS-B descent inside the bounds after every chain of proposals that
        improves the best point, and for the last ``late_share`` of the
        budget a hot restart that descends from the walker every ``d``
        chains, interleaved with basin hops along lines through the best
        point (a 1-D descent screens each hop; ``hop_share`` of that phase's
        evaluations); every evaluation counted in ``nfev``, the whole budget
        used; chosen by measurement on a suite of 35 standard functions
        against SciPy's global optimisers at equal evaluations (``attnsearch
        bench minimize``; ``bench/README.md``). Without ``maxfev``,
        ``maxiter`` or ``time_limit`` it spends ``2000 d + 5000``
        evaluations (with ``time_limit`` alone the late phase is the last
        share of the time; with ``maxiter`` alone there is none); ``maxiter``
        counts its chains of ``2 d`` proposals; ``polish=False`` turns its
        descents and hops off; its keywords are ``initial_temp`` (5230),
        ``visit`` (2.62), ``accept`` (-5), ``restart_temp_ratio`` (2e-5),
        ``local_maxiter`` (``min(max(6 d, 100), 1000)``), ``late_share``
        (0.4; 0 runs dual annealing's loop alone) and ``hop_share`` (0.5);
        ``num_chains`` must be 1 and ``result`` is None; a NaN value counts
        as +inf (an infeasible point), an exception from ``fun`` propagates.
        Pick another method for what it does
        better: ``"pso"`` for a cheap vectorised function and a large budget
        (the compiled swarm evaluates a whole swarm per block), several chains
        or threads; ``"anneal"``/``"pt"`` for the compiled engine's moves.
        Otherwise a short name of ``MINIMIZE_METHODS``: :func:`particle_swarm`,
        :func:`simulated_annealing`, :func:`parallel_tempering`,
        :func:`hill_climb`, :func:`stochastic_hill_climb`, :func:`tabu_search`
        or :func:`iterated_local_search`.
    callback : callable, optional
        Called about every 0.1 s, as SciPy does: ``callback(intermediate_result)``
        (an ``OptimizeResult`` with ``x``, ``fun``, ``nfev``, ``nit``) when its
        only parameter is named ``intermediate_result``, else ``callback(xk)``.
        Raising ``StopIteration`` stops the run (``status`` 99, ``success``
        False, as in SciPy).
    seed : None, int or numpy.random.SeedSequence
    maxiter : int, optional
        Iterations: swarm iterations, annealing sweeps (``d`` proposals each),
        tempering rounds (a sweep of every replica), climbing / tabu steps (one
        neighbourhood each), or iterated local search's kicks (each followed by
        a descent).
    maxfev : int, optional
        Function evaluations instead: the starting points and any calibration
        (automatic temperatures of ``"anneal"`` and ``"stochastic"``: 4 random
        walks of 500 moves, 2004 evaluations) come first, the rest becomes
        iterations of the method. ``nfev`` then stays within one iteration of
        it. (Not with ``method="hill", strategy="first"``, whose steps have no
        fixed cost, nor with ``"ils"``, whose iterations are whole descents.)
    vectorized : bool
    num_chains : int, default 1
        Independent chains (swarms), run in parallel.
    num_threads, time_limit, target
        As in the methods.
    polish : bool, default True
        Finish with ``scipy.optimize.minimize(method="L-BFGS-B")`` from the
        best point found, inside the bounds (finite-difference gradients), as
        ``scipy.optimize.differential_evolution(polish=True)`` does; ``x`` and
        ``fun`` are the polished point when it is better, and its evaluations
        count in ``nfev``. With ``maxfev`` the polish gets
        ``min(maxfev // 10, 100 (d + 1))`` of the evaluations (the search the
        rest) and is cut when they are spent; with ``time_limit`` the search
        gets 90 % of the time and the polish is cut at the limit. Not run when
        the callback stopped the search or the target was reached.
    **options
        The method's own keywords (``n_particles``, ``topology``, ``schedule``,
        ``tenure``, ...).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``nfev`` (every evaluation, the polish's included: for a
        callable, exactly its calls after the one that checks its signature;
        the search caches the value of each proposed point, so applying a move
        costs nothing and a point the neighbourhood repeats is not evaluated
        again — ``nfev`` can be below ``result.n_evaluations``), ``nit``,
        ``success``, ``status`` (0: budget used or converged or target
        reached, 1: time limit, 99: the callback stopped it), ``message``,
        ``result`` (the attnsearch ``Result`` of the search, before the
        polish) and ``polish_nfev`` (the polish's evaluations, 0 without).
        ``method="auto"`` returns ``result=None``; its ``polish_nfev`` counts
        the evaluations of its descents, ``local_searches`` and ``hops`` how
        many there were, and ``stop_reason`` is ``"maxfev"``, ``"maxiter"``,
        ``"time_limit"``, ``"target"`` or ``"callback"``.

    Examples
    --------
    >>> from attnsearch.search import minimize
    >>> res = minimize("rastrigin", [(-5.12, 5.12)] * 10, method="pso", seed=0,
    ...                maxiter=2000, n_particles=40)
    >>> bool(res.success), res.fun < 10
    (True, True)
    """
    # The time limit covers the whole call: importing SciPy, building the
    # problem (one evaluation checks the function's signature), the polish.
    started = time.monotonic()
    from scipy.optimize import OptimizeResult

    if method != "auto" and method not in MINIMIZE_METHODS:
        raise ValueError(
            f"method must be 'auto' or one of {sorted(MINIMIZE_METHODS)}, "
            f"got {method!r}"
        )
    polish = check_bool(polish, "polish")
    limit = check_time_limit(time_limit)
    problem = _problem(fun, bounds, args, vectorized)
    # The user's callable, counting its calls (None for a built-in name).
    counted = problem.func if isinstance(problem.func, _Counted) else None
    if counted is not None:
        counted.calls = 0  # not the call that checked the signature
    num_chains = check_int(num_chains, "num_chains")
    maxiter = check_int(maxiter, "maxiter", allow_none=True)
    maxfev = check_int(maxfev, "maxfev", allow_none=True)
    if maxiter is not None and maxfev is not None:
        raise ValueError("give maxiter or maxfev, not both")
    if method == "auto":
        from ._global import minimize_auto

        if isinstance(target, bool) or not (
            target is None or isinstance(target, numbers.Real)
        ):
            raise TypeError(f"target must be a number or None, got {target!r}")
        ours, stopped = _wrap_callback(callback)
        return minimize_auto(
            problem,
            x0=x0,
            callback=ours,
            stopped=stopped,
            seed=seed,
            maxiter=maxiter,
            maxfev=maxfev,
            num_chains=num_chains,
            time_limit=check_time_limit(time_limit),
            target=target,
            polish=polish,
            options=options,
        )
    budget = {"anneal": "num_sweeps", "pt": "num_sweeps"}.get(method, "max_iters")
    if method in ("anneal", "pt"):
        # The zero-temperature descent has no fixed cost: off unless asked for.
        options.setdefault("descent", False)
        if options["descent"] and maxfev is not None:
            raise ValueError(
                "maxfev needs descent=False (the descent's cost is not known in "
                "advance); use maxiter"
            )
    if (maxiter is not None or maxfev is not None) and budget in options:
        given = "maxiter" if maxiter is not None else "maxfev"
        raise ValueError(f"give {given} or {budget}, not both")
    if maxfev is not None:
        if method == "ils":
            raise ValueError(
                "maxfev cannot budget iterated local search (an iteration is a "
                "whole descent, of unknown length); use maxiter or time_limit"
            )
        if method == "hill" and options.get("strategy", "best") != "best":
            raise ValueError(
                "maxfev needs strategy='best' for hill climbing (a first-improvement "
                "step evaluates an unknown part of the neighbourhood); use maxiter"
            )
        per_iteration = _evaluations_per_iteration(method, problem, options, num_chains)
        polish_budget = 0
        if polish:
            polish_budget = min(maxfev // 10, 100 * (problem.dim + 1))
        # Evaluations before the first iteration: the starting points (a whole
        # swarm for pso) and any calibration.
        starts = {"pso": per_iteration}.get(method, num_chains)
        if method == "pt":  # every replica, then each chain's best replica
            starts = num_chains * (_replicas(problem, options) + 1)
        upfront = _calibration_evaluations(method, options) + starts
        if polish:  # what the search cannot use goes to the polish
            polish_budget = max(0, min(polish_budget, maxfev - upfront - per_iteration))
        search_fev = maxfev - polish_budget
        if search_fev < upfront + per_iteration:
            raise ValueError(
                f"maxfev={maxfev} is too small for method {method!r}: the starting "
                f"points and calibration take {upfront} evaluations and one "
                f"iteration {per_iteration}"
                + (
                    " (pass t_start and t_end, or temperature, to skip calibration)"
                    if method in ("anneal", "stochastic")
                    else ""
                )
            )
        maxiter = (search_fev - upfront) // per_iteration

    root = seed_sequence(seed)

    initial_states = None
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (problem.dim,):
            raise ValueError(
                f"x0 must have shape ({problem.dim},) like bounds, got {x0.shape}"
            )
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 must be finite")
        outside = np.flatnonzero((x0 < problem.lower) | (x0 > problem.upper))
        if outside.size:
            i = outside[0]
            raise ValueError(
                f"x0[{i}] = {x0[i]} is outside its bounds "
                f"({problem.lower[i]}, {problem.upper[i]})"
            )
        if method == "pso":
            n_particles = check_int(options.get("n_particles", 40), "n_particles")
            swarm_seed = np.random.SeedSequence(
                root.entropy, spawn_key=root.spawn_key + (_X0_SWARM_KEY,)
            )
            generator = np.random.default_rng(swarm_seed)
            swarms = problem.lower + generator.random(
                (num_chains, n_particles, problem.dim)
            ) * (problem.upper - problem.lower)
            swarms[:, 0] = x0
            initial_states = swarms
        else:
            initial_states = x0

    ours, stopped = _wrap_callback(callback)
    runner = method_function(method)
    if maxiter is not None:
        if method == "anneal":  # maxiter counts the sweeps of all the passes
            passes = 1 + int(options.get("reheats", 0) or 0)
            if maxiter < passes:
                raise ValueError(
                    f"maxiter={maxiter} cannot hold {passes} annealing passes"
                )
            maxiter //= passes
        options[budget] = maxiter
    if isinstance(target, bool) or not (
        target is None or isinstance(target, numbers.Real)
    ):
        raise TypeError(f"target must be a number or None, got {target!r}")
    search_time = limit
    if limit is not None:
        share = 0.9 * limit if polish else limit
        # (a positive limit even when the time is spent: the search then
        # stops after its first evaluation)
        search_time = max(share - (time.monotonic() - started), 1e-9)
    result = runner(
        problem,
        num_chains=num_chains,
        initial_states=initial_states,
        seed=seed if seed is not None else root,
        num_threads=num_threads,
        time_limit=search_time,
        target=target,
        callback=ours,
        **options,
    )
    reason = result.stop_reason
    if stopped is not None and stopped["stopped"]:
        reason = "callback"
    params = result.params
    if counted is None:  # compiled: the evaluations are counted by the method
        nfev = int(result.n_evaluations) + _calibration_evaluations(method, options)
        if method == "pt":
            nfev += num_chains * (_replicas(problem, options) + 1)
        elif method != "pso":  # the swarm's first evaluation is in n_evaluations
            nfev += num_chains
    else:
        nfev = counted.calls
    if method == "anneal":
        nit = int(params.get("sweeps_done", 0))
    elif method == "pt":
        nit = int(np.max(params["rounds"]))
    else:
        steps = np.asarray(params.get("steps", [0]))
        nit = int(steps.max()) if steps.size else 0
    fun_value = float(result.objective)
    x = np.array(result.best_state, dtype=np.float64)
    polish_nfev = 0
    if polish and reason not in ("callback", "target", "interrupted"):
        polish_left = None if maxfev is None else maxfev - nfev
        deadline = None if limit is None else started + limit
        out_of_time = deadline is not None and time.monotonic() > deadline
        if (polish_left is None or polish_left > 0) and not out_of_time:
            x_polished, f_polished, polish_nfev = _polish(
                problem, x, fun_value, polish_left, deadline
            )
            if counted is None:  # compiled: count here (a callable counts itself)
                nfev += polish_nfev
            else:
                nfev = counted.calls
            if f_polished < fun_value:
                x, fun_value = x_polished, f_polished
    success = reason != "callback" and math.isfinite(fun_value)
    message = _MESSAGES.get(reason, reason)
    if reason == "interrupted":
        success, message = False, "Interrupted (Ctrl-C): the best point so far."
    return OptimizeResult(
        x=x,
        fun=fun_value,
        nfev=nfev,
        nit=nit,
        success=bool(success),
        status=_STATUS.get(reason, 2),
        message=message,
        method=method,
        result=result,
        polish_nfev=int(polish_nfev),
    )
