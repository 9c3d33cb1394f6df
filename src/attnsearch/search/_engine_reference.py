"""The engine reference: every method loop of ``_engine.pyx``, in Python, step by step.

Each entry point has the name and the parameters of the compiled one, over
Python chains (``ChainsReference``) instead of arrays, and mirrors it statement
by statement, random draws included (``ChainRNG`` runs the same xoshiro256++
code as the kernels). The problem operations come from the problem's ``ops``
(``SearchSpec.ops``): the built-ins' ``_reference`` mirrors of their cores, or
``UserProblemOps`` over a user's ``Problem`` subclass.

On exact-cost problems (TSPLIB EUC_2D, integer Ising) the kernels and this
reference take identical steps; the tests assert identical trajectories. It is
also the engine of problems written in Python.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from .._dispatch import kernels
from ._chains import ChainCounters
from ._rng import ChainRNG
from .problems.base import ProblemOps

__all__ = [
    "ChainsReference",
    "anneal",
    "climb",
    "descend",
    "init_chains",
    "iterated_local_search",
    "sample_deltas",
    "stochastic_climb",
    "tabu",
    "temper",
]

if TYPE_CHECKING:
    from . import _engine
else:
    _engine = kernels("search")
# The same in every target's variant of the engine.
ACCEPT_THRESHOLD = _engine.ACCEPT_THRESHOLD
STATUS = _engine.STATUS
TIE_CAPACITY = _engine.TIE_CAPACITY
ENGINE_CLOCK_EVERY = _engine.CLOCK_EVERY
_RUNNING = STATUS["running"]
_CONVERGED = STATUS["converged"]
_TARGET = STATUS["target"]
_TIME = STATUS["time_limit"]
_BAD_TABU_ATTRIBUTE = STATUS["bad_tabu_attribute"]
_MAX_TABU_ATTRIBUTES = 4
# The compiled engine reads the clock every _engine.CLOCK_EVERY evaluations,
# between steps; this mirror reads it after every evaluation, inside a step's scan
# too (a step the deadline cuts is abandoned, the chain keeping its state), and
# initialises no further chain once the deadline has passed: a Python evaluation
# costs far more than the read (a user's objective may take a second), and a
# time limit must hold within one evaluation. Only runs stopped by a deadline
# see the difference, and those are not reproducible in either engine.
CLOCK_EVERY = 1
_INT64_MAX = 2**63 - 1
# The problems' own descents run in rounds of the engine's CLOCK_EVERY
# evaluations (a generic descent draws a new scan start per round, so the round
# length is part of the trajectory and must match the engine's).
_DESCENT_ROUND = ENGINE_CLOCK_EVERY


class ChainsReference(ChainCounters):
    """Per-chain Python states plus the counters of the compiled ChainArrays."""

    def __init__(self, ops: ProblemOps, rngs: list[ChainRNG]) -> None:
        super().__init__(len(rngs))
        self.ops = ops
        self.rngs = rngs
        self.states: list[Any] = [None] * len(rngs)
        self.best_states: list[Any] = [None] * len(rngs)
        # tabu memories (one dict per chain), cluster-move counters, ...
        self.scratch: dict[str, Any] = {}

    def copy(self) -> ChainsReference:
        """An independent copy (states deep-copied, RNG states cloned)."""
        clone = ChainsReference(self.ops, [ChainRNG(r.get_state()) for r in self.rngs])
        self.copy_counters_into(clone)
        clone.states = [self.ops.copy(s) for s in self.states]
        clone.best_states = [self.ops.copy(s) for s in self.best_states]
        clone.scratch = {
            key: _copy_scratch(value) for key, value in self.scratch.items()
        }
        return clone


def _copy_scratch(value):
    """An independent copy of one entry of ``ChainsReference.scratch``."""
    if isinstance(value, dict):  # iterated local search's paused iterations
        return copy.deepcopy(value)
    if isinstance(value, list):
        return [dict(memory) for memory in value]
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


# -- what every method shares ------------------------------------------------------


def _out_of_time(chains: ChainsReference, c: int, deadline: float) -> bool:
    """Mirror of _engine._out_of_time."""
    if time.monotonic() > deadline:
        chains.status[c] = _TIME
        return True
    return False


def _cut(chains: ChainsReference, c: int, deadline: float) -> bool:
    """After an evaluation inside a step (this mirror's clock read, see
    CLOCK_EVERY): past the deadline, the chain stops with the step unfinished."""
    return _out_of_time(chains, c, deadline)


def _should_stop(
    chains: ChainsReference,
    c: int,
    best_cost: float,
    target: float,
    deadline: float,
    unclocked: int,
) -> tuple[bool, int]:
    """Mirror of _engine._should_stop; returns (stop, unclocked)."""
    if best_cost <= target:
        chains.status[c] = _TARGET
        return True, unclocked
    if unclocked >= CLOCK_EVERY:
        return _out_of_time(chains, c, deadline), 0
    return False, unclocked


def _save_chain(
    chains: ChainsReference,
    c: int,
    state: Any,
    cost: float,
    evaluations: int,
    accepted: int,
) -> None:
    """Mirror of _engine._save_chain (Python chains keep their state object)."""
    chains.states[c] = state
    chains.cost[c] = cost
    chains.n_evaluations[c] += evaluations
    chains.n_accepted[c] += accepted


def _keep_best(chains: ChainsReference, c: int, state: Any, cost: float) -> None:
    chains.best_cost[c] = cost
    chains.best_states[c] = chains.ops.copy(state)


# -- the entry points ------------------------------------------------------------------


def init_chains(
    chains: ChainsReference,
    random_start: npt.NDArray[np.bool_],
    initial_states: Sequence[Any] | np.ndarray | None = None,
    deadline: float | Callable[[], float] = math.inf,
) -> None:
    """Mirror of _engine.init_chains (given states come as a list, one per chain).

    Once ``deadline`` has passed (a number, or a function that returns it: the
    run's moves earlier as it learns how slow the problem's cost is), the
    chains not yet initialised start from copies of the last one that was,
    without evaluating anything: the run is then over (a slow Python objective
    times the replicas of parallel tempering, or the calibration chains), and
    every chain still holds a state and its cost. The first chain is always
    initialised."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        limit = deadline() if callable(deadline) else deadline
        if c > 0 and time.monotonic() > limit:
            state = ops.copy(chains.states[c - 1])
            chains.states[c] = state
            chains.cost[c] = chains.cost[c - 1]
            _keep_best(chains, c, state, chains.cost[c])
            continue
        if random_start[c]:
            state = ops.initial(rng)
        else:
            assert initial_states is not None  # else every chain starts at random
            state = ops.prepare(initial_states[c])
        chains.states[c] = state
        chains.cost[c] = ops.cost(state)
        _keep_best(chains, c, state, chains.cost[c])


def anneal(
    chains: ChainsReference,
    *,
    temperatures: npt.NDArray[np.float64],
    sweep_len: int,
    target: float,
    deadline: float,
) -> None:
    """Mirror of _engine.anneal (Metropolis sweeps; best kept at sweep ends)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        counts = _SweepCounts()
        for temperature in temperatures:
            beta = 1.0 / temperature if temperature > 0 else math.inf
            state, cost = _metropolis_sweep(
                ops, state, rng, beta, sweep_len, cost, counts, deadline
            )
            if cost < chains.best_cost[c]:
                _keep_best(chains, c, state, cost)
            chains.progress[c] += 1
            if counts.timed_out:
                chains.status[c] = _TIME
                break
            if chains.best_cost[c] <= target:
                chains.status[c] = _TARGET
                break
        _save_chain(chains, c, state, cost, counts.evaluations, counts.accepted)


class _SweepCounts:
    """What _engine._metropolis_sweep updates through pointers: the evaluations
    and acceptances it adds, the attempts since the last clock read (carried from
    sweep to sweep) and whether the deadline passed."""

    __slots__ = ("evaluations", "accepted", "clock_count", "timed_out")

    def __init__(self) -> None:
        self.evaluations = 0
        self.accepted = 0
        self.clock_count = 0
        self.timed_out = False


def _metropolis_sweep(ops, state, rng, beta, sweep_len, cost, counts, deadline):
    """Mirror of _engine._metropolis_sweep; updates ``counts`` (a _SweepCounts) in
    place and returns (state, cost)."""
    for attempt in range(sweep_len):
        move = ops.propose(state, rng, attempt)
        if move is None:
            continue
        delta = ops.delta(state, move)
        counts.evaluations += 1
        if delta <= 0:
            accept = True
        else:
            x = delta * beta
            accept = x < ACCEPT_THRESHOLD and rng.random() < _engine.fast_exp_scalar(-x)
        if accept:
            state = ops.apply(state, move)
            cost += delta
            counts.accepted += 1
        counts.clock_count += 1
        if counts.clock_count == CLOCK_EVERY:
            counts.clock_count = 0
            if time.monotonic() > deadline:
                counts.timed_out = True
                break
    return state, cost


def climb(
    chains: ChainsReference,
    *,
    max_steps: int,
    best_improvement: bool,
    tolerance: float,
    target: float,
    deadline: float,
) -> None:
    """Mirror of _engine.climb (best or first improvement until a local optimum)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = moves_taken = unclocked = 0
        for _ in range(max_steps):
            n_moves = ops.n_moves(state)
            found = False
            chosen = None
            chosen_delta = math.inf
            scanned = evaluations
            if best_improvement:
                for index in range(n_moves):
                    move = ops.move_at(state, index)
                    if move is None:
                        continue
                    delta = ops.delta(state, move)
                    evaluations += 1
                    if _cut(chains, c, deadline):
                        break
                    if delta < chosen_delta:
                        chosen_delta, chosen = delta, move
                found = chosen_delta < -tolerance
            elif n_moves > 0:
                start = rng.below(n_moves)
                for k in range(n_moves):
                    index = start + k
                    if index >= n_moves:
                        index -= n_moves
                    move = ops.move_at(state, index)
                    if move is None:
                        continue
                    delta = ops.delta(state, move)
                    evaluations += 1
                    if _cut(chains, c, deadline):
                        break
                    if delta < -tolerance:
                        chosen_delta, chosen, found = delta, move, True
                        break
            if chains.status[c] == _TIME:
                break
            if not found:
                chains.status[c] = _CONVERGED
                break
            state = ops.apply(state, chosen)
            cost += chosen_delta
            moves_taken += 1
            chains.progress[c] += 1
            unclocked += evaluations - scanned
            stop, unclocked = _should_stop(chains, c, cost, target, deadline, unclocked)
            if stop:
                break
        _keep_best(chains, c, state, cost)
        _save_chain(chains, c, state, cost, evaluations, moves_taken)


def _weight(gain: float, top: float, temperature: float) -> float:
    return _engine.fast_exp_scalar((gain - top) / temperature)


def stochastic_climb(
    chains: ChainsReference,
    *,
    max_steps: int,
    temperature: float,
    sample_size: int,
    target: float,
    deadline: float,
) -> None:
    """Mirror of _engine.stochastic_climb (softmax over gains, staying included)."""
    ops = chains.ops
    enumerate_all = sample_size == 0
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = accepted = unclocked = 0
        for _ in range(max_steps):
            top, total, best_gain = 0.0, 1.0, 0.0
            chosen, chosen_move = -1, None
            scanned = evaluations
            n_candidates = ops.n_moves(state) if enumerate_all else sample_size
            moves, deltas = [], []
            for k in range(n_candidates):
                if enumerate_all:
                    move = ops.move_at(state, k)
                else:
                    move = ops.random_move(state, rng)
                    moves.append(move)
                if move is None:
                    if not enumerate_all:
                        deltas.append(math.inf)
                    continue
                delta = ops.delta(state, move)
                evaluations += 1
                if _cut(chains, c, deadline):
                    break
                if not enumerate_all:
                    deltas.append(delta)
                gain = -delta
                if gain > best_gain:
                    best_gain, chosen, chosen_move = gain, k, move
                if temperature > 0:
                    if gain > top:
                        total = total * _weight(top, gain, temperature) + 1.0
                        top = gain
                    else:
                        total += _weight(gain, top, temperature)
            if chains.status[c] == _TIME:
                break
            if temperature > 0:
                u = rng.random() * total
                cumulative = _weight(0.0, top, temperature)
                if u >= cumulative:
                    for k in range(n_candidates):
                        if enumerate_all:
                            move = ops.move_at(state, k)
                            if move is None:
                                continue
                            gain = -ops.delta(state, move)
                            if _cut(chains, c, deadline):
                                break
                        else:
                            if deltas[k] == math.inf:
                                continue
                            move, gain = moves[k], -deltas[k]
                        cumulative += _weight(gain, top, temperature)
                        if u < cumulative:
                            chosen, chosen_move, best_gain = k, move, gain
                            break
                else:
                    chosen = -1
            if chains.status[c] == _TIME:
                break
            chains.progress[c] += 1
            if chosen < 0:
                if temperature <= 0 and enumerate_all:
                    chains.status[c] = _CONVERGED
                    break
            else:
                state = ops.apply(state, chosen_move)
                cost -= best_gain
                accepted += 1
                if cost < chains.best_cost[c]:
                    _keep_best(chains, c, state, cost)
            unclocked += evaluations - scanned
            stop, unclocked = _should_stop(
                chains, c, chains.best_cost[c], target, deadline, unclocked
            )
            if stop:
                break
        _save_chain(chains, c, state, cost, evaluations, accepted)


def _checked_attributes(
    ops: ProblemOps, state: Any, move: Any, n_keys: int | None
) -> tuple[Hashable, ...] | None:
    """Mirror of _engine._checked_attributes: the move's tabu attributes, or None
    when the problem's attributes break its contract (Python problems may use
    any hashable attributes: ``n_keys`` is None for them)."""
    attributes = tuple(ops.tabu_attributes(state, move))
    # Problems with n_tabu_keys (compiled cores) number their attributes.
    if n_keys is not None and (
        len(attributes) > _MAX_TABU_ATTRIBUTES
        or any(not 0 <= a < n_keys for a in cast("tuple[int, ...]", attributes))
    ):
        return None
    return attributes


def tabu(
    chains: ChainsReference,
    *,
    max_steps: int,
    tenure: int,
    aspiration: bool,
    candidate_size: int,
    tolerance: float,
    target: float,
    deadline: float,
    tenure_spread: int = 0,
    perturb_after: int = 0,
    strength_low: int = 0,
    strength_high: int = 0,
) -> None:
    """Mirror of _engine.tabu; the tabu memory is one dict per chain (attribute
    -> step until which it is tabu), kept in ``chains.scratch``, with the
    episodes' counters and costs (the same arrays as the engine's)."""
    ops = chains.ops
    n_keys = getattr(ops, "n_tabu_keys", None)
    memories = chains.scratch.setdefault("tabu_until", [{} for _ in chains.rngs])
    if "tabu_episode_count" not in chains.scratch:
        n_chains = len(chains.rngs)
        chains.scratch["tabu_episode_count"] = np.zeros((n_chains, 2), dtype=np.int64)
        chains.scratch["tabu_episode_cost"] = np.full((n_chains, 2), math.inf)
    counts = chains.scratch["tabu_episode_count"]
    episodes = chains.scratch["tabu_episode_cost"]
    strength_high = max(strength_low, strength_high)
    enumerate_all = candidate_size == 0
    if "tabu_tie_capacity" not in chains.scratch:
        capacity = 0
        if enumerate_all and chains.states:
            capacity = min(ops.n_moves(chains.states[0]), TIE_CAPACITY)
        chains.scratch["tabu_tie_capacity"] = capacity
    capacity = chains.scratch["tabu_tie_capacity"]
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        until = memories[c]
        evaluations = taken = unclocked = 0
        since, episode = counts[c], episodes[c]
        for _ in range(max_steps):
            step_index = chains.progress[c]
            if perturb_after > 0 and since[0] >= perturb_after:
                state, cost, perturbed = _tabu_perturb(
                    chains,
                    c,
                    rng,
                    state,
                    cost,
                    until,
                    step_index,
                    since,
                    episode,
                    tenure=tenure,
                    tolerance=tolerance,
                    strengths=(strength_low, strength_high),
                    n_keys=n_keys,
                )
                if perturbed < 0:
                    break
                evaluations += perturbed
                taken += perturbed
            best_allowed = best_any = math.inf
            allowed_move = any_move = None
            have_allowed = have_any = False
            ties = 0
            tie_index: list[int] = []
            scanned = evaluations
            n_candidates = ops.n_moves(state) if enumerate_all else candidate_size
            use_buffer = enumerate_all and n_candidates <= capacity
            for k in range(n_candidates):
                move = (
                    ops.move_at(state, k)
                    if enumerate_all
                    else ops.random_move(state, rng)
                )
                if move is None:
                    continue
                delta = ops.delta(state, move)
                evaluations += 1
                if _cut(chains, c, deadline):
                    break
                if delta < best_any:
                    best_any, any_move, have_any = delta, move, True
                if delta > best_allowed:
                    continue
                attributes = _checked_attributes(ops, state, move, n_keys)
                if attributes is None:
                    chains.status[c] = _BAD_TABU_ATTRIBUTE
                    break
                is_tabu = any(until.get(a, 0) > step_index for a in attributes)
                if is_tabu and not (
                    aspiration and cost + delta < chains.best_cost[c] - tolerance
                ):
                    continue
                # uniform among ties: indices kept (whole neighbourhoods up to
                # the capacity), else reservoir sampling
                if delta < best_allowed:
                    ties = 0
                    tie_index.clear()
                best_allowed, have_allowed = delta, True
                if use_buffer:
                    tie_index.append(k)
                    ties += 1
                else:
                    ties += 1
                    if ties > 1 and rng.below(ties) != 0:
                        continue
                    allowed_move = move
            if chains.status[c] in (_BAD_TABU_ATTRIBUTE, _TIME):
                break
            if not have_any:
                chains.status[c] = _CONVERGED
                break
            if not have_allowed:
                allowed_move, best_allowed = any_move, best_any
            elif use_buffer:
                k = tie_index[rng.below(ties) if ties > 1 else 0]
                allowed_move = ops.move_at(state, k)
            attributes = _checked_attributes(ops, state, allowed_move, n_keys)
            if attributes is None:
                chains.status[c] = _BAD_TABU_ATTRIBUTE
                break
            state = ops.apply(state, allowed_move)
            cost += best_allowed
            step_tenure = tenure
            if tenure_spread > 0:
                step_tenure += rng.below(tenure_spread + 1)
            for a in attributes:
                until[a] = step_index + 1 + step_tenure
            taken += 1
            chains.progress[c] += 1
            if cost < chains.best_cost[c] - tolerance:
                _keep_best(chains, c, state, cost)
            if cost < episode[0] - tolerance:
                episode[0] = cost
                since[0] = 0
            else:
                since[0] += 1
            unclocked += evaluations - scanned
            stop, unclocked = _should_stop(
                chains, c, chains.best_cost[c], target, deadline, unclocked
            )
            if stop:
                break
        _save_chain(chains, c, state, cost, evaluations, taken)


def _tabu_perturb(
    chains: ChainsReference,
    c: int,
    rng: ChainRNG,
    state: Any,
    cost: float,
    until: dict[Hashable, int],
    step_index: int,
    since: npt.NDArray[np.int64],
    episode: npt.NDArray[np.float64],
    *,
    tenure: int,
    tolerance: float,
    strengths: tuple[int, int],
    n_keys: int | None,
) -> tuple[Any, float, int]:
    """Mirror of _engine._tabu_perturb; returns (state, cost, moves applied or
    -1 on a bad tabu attribute)."""
    ops = chains.ops
    strength = int(since[1])
    if episode[1] - tolerance <= episode[0] <= episode[1] + tolerance:
        strength = strength + 1 if strength < strengths[1] else strengths[0]
    else:
        strength = strengths[0]
    since[1] = strength
    episode[1] = episode[0]
    applied = 0
    for _ in range(strength):
        move = ops.random_move(state, rng)
        if move is None:
            continue
        attributes = _checked_attributes(ops, state, move, n_keys)
        if attributes is None:
            chains.status[c] = _BAD_TABU_ATTRIBUTE
            return state, cost, -1
        delta = ops.delta(state, move)
        state = ops.apply(state, move)
        cost += delta
        applied += 1
        for a in attributes:
            until[a] = step_index + 1 + tenure
    if cost < chains.best_cost[c] - tolerance:
        _keep_best(chains, c, state, cost)
    episode[0] = cost
    since[0] = 0
    return state, cost, applied


# -- descent to a local optimum --------------------------------------------------------


def _generic_descend(
    ops,
    state,
    rng,
    tolerance,
    max_moves,
    max_evaluations,
    deadline=math.inf,
    pause_at=math.inf,
):
    """Mirror of _engine._generic_descend; returns (done, state, delta, evaluations,
    moves). This mirror also stops (0) after an evaluation past ``deadline``
    (abandoning the step: see CLOCK_EVERY) and between steps past ``pause_at``
    (a chunk of a slow Python problem's first descent ends on time; the next
    call resumes with the next step, so pausing changes nothing)."""
    total = 0.0
    evaluations = moves = 0
    while True:
        if moves >= max_moves or evaluations >= max_evaluations:
            return 0, state, total, evaluations, moves
        if evaluations and time.monotonic() > pause_at:
            return 0, state, total, evaluations, moves
        n_moves = ops.n_moves(state)
        found = False
        if n_moves > 0:
            start = rng.below(n_moves)
            for k in range(n_moves):
                index = start + k
                if index >= n_moves:
                    index -= n_moves
                move = ops.move_at(state, index)
                if move is None:
                    continue
                delta = ops.delta(state, move)
                evaluations += 1
                if time.monotonic() > deadline:
                    return 0, state, total, evaluations, moves
                if delta < -tolerance:
                    state = ops.apply(state, move)
                    total += delta
                    moves += 1
                    found = True
                    break
        if not found:
            return 1, state, total, evaluations, moves


def descend(chains, *, max_moves, tolerance, target, deadline):
    """Mirror of _engine.descend (the problem's own descent, ``ops.descend``)."""
    ops = chains.ops
    for c in range(len(chains.rngs)):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = moves = 0
        left = max_moves
        while True:
            done, delta, evals, applied = ops.descend(
                state, tolerance, left, _DESCENT_ROUND
            )
            cost += delta
            evaluations += evals
            moves += applied
            left -= applied
            chains.progress[c] += applied
            if done:
                chains.status[c] = _CONVERGED
                break
            if cost <= target:
                chains.status[c] = _TARGET
                break
            if left <= 0 or _out_of_time(chains, c, deadline):
                break
        _keep_best(chains, c, state, cost)
        _save_chain(chains, c, state, cost, evaluations, moves)


# -- iterated local search -------------------------------------------------------------


class _Tally:
    """The running numbers of one chain's chunk (the kernel's locals)."""

    def __init__(self, state, cost):
        self.state = state
        self.cost = cost
        self.evaluations = 0
        self.applied = 0
        self.unclocked = 0


def _ils_descend(chains, c, ops, rng, tally, tolerance, deadline, pause_at, pausable):
    """Mirror of _engine._ils_descend: 1 at a local optimum, 0 when stopped. The
    generic descent reads the clock after every evaluation here (CLOCK_EVERY)
    and returns early at the deadline or, pausable, between steps at pause_at."""
    own = hasattr(ops, "descend")
    while True:
        if own:
            done, delta, evaluations, moves = ops.descend(
                tally.state, tolerance, _INT64_MAX, _DESCENT_ROUND
            )
        else:
            done, tally.state, delta, evaluations, moves = _generic_descend(
                ops,
                tally.state,
                rng,
                tolerance,
                _INT64_MAX,
                _DESCENT_ROUND,
                deadline,
                pause_at if pausable else math.inf,
            )
        tally.cost += delta
        tally.evaluations += evaluations
        tally.applied += moves
        tally.unclocked += evaluations
        if done:
            return 1
        if not own or tally.unclocked >= _DESCENT_ROUND:
            tally.unclocked = 0
            if _out_of_time(chains, c, deadline):
                return 0
            if pausable and time.monotonic() > pause_at:
                return 0


def iterated_local_search(
    chains, *, until, strength, tolerance, target, deadline, pause_at
):
    """Mirror of _engine.iterated_local_search (kick, descend, keep if not worse).

    Unlike the engine's, the descents after a kick may pause here too (at
    ``pause_at``, between steps): the iteration is kept in
    ``chains.scratch["ils_paused"]`` and resumes exactly where it stopped at the
    next call, so the trajectory is the same, but a slow Python problem (or one
    whose delta lies, which would descend forever) returns to the run loop,
    its checks and its callback every chunk."""
    ops = chains.ops
    own_kick = hasattr(ops, "kick")
    own_undo = hasattr(ops, "checkpoint") and hasattr(ops, "rollback")
    accepted = chains.scratch.setdefault(
        "ils_accepted", np.zeros(len(chains.rngs), dtype=np.int64)
    )
    paused = chains.scratch.setdefault("ils_paused", {})
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        tally = _Tally(chains.states[c], chains.cost[c])
        args = (chains, c, ops, rng, tally, tolerance, deadline, pause_at)
        if chains.progress[c] == 0:
            if _ils_descend(*args, True):
                chains.progress[c] = 1
                if tally.cost <= target:
                    chains.status[c] = _TARGET
        resume = paused.pop(c, None)
        saved = None
        while (
            chains.status[c] == _RUNNING
            and chains.progress[c] >= 1
            and chains.progress[c] < until
        ):
            if resume is not None:  # an iteration paused in its descent
                before, saved = resume
                resume = None
            else:
                before = tally.cost
                if own_undo:
                    ops.checkpoint(tally.state)
                else:
                    saved = ops.copy(tally.state)
                if own_kick:
                    tally.cost += ops.kick(tally.state, rng, strength)
                    tally.evaluations += strength
                    tally.applied += strength
                else:
                    for _ in range(strength):
                        move = ops.random_move(tally.state, rng)
                        if move is None:
                            continue
                        delta = ops.delta(tally.state, move)
                        tally.state = ops.apply(tally.state, move)
                        tally.cost += delta
                        tally.evaluations += 1
                        tally.applied += 1
                        if _cut(chains, c, deadline):
                            break
                if chains.status[c] == _TIME:  # the kick was cut (CLOCK_EVERY)
                    if own_undo:
                        ops.rollback(tally.state)
                    else:
                        tally.state = saved
                    tally.cost = before
                    break
            done = _ils_descend(*args, True)
            if not done and chains.status[c] == _RUNNING:  # paused: resumes later
                paused[c] = (before, saved)
                break
            if tally.cost <= before - tolerance:
                accepted[c] += 1
            else:
                if own_undo:
                    ops.rollback(tally.state)
                else:
                    tally.state = saved
                tally.cost = before
            chains.progress[c] += 1
            if not done:
                break
            if tally.cost <= target:
                chains.status[c] = _TARGET
                break
        if resume is not None:  # not resumed (already at `until`): later, then
            paused[c] = resume
        # Between iterations only (as the engine's chunks end): a paused
        # iteration's state is no candidate yet.
        if c not in paused and tally.cost <= chains.best_cost[c]:
            _keep_best(chains, c, tally.state, tally.cost)
        _save_chain(
            chains, c, tally.state, tally.cost, tally.evaluations, tally.applied
        )


def _flip_cluster_spin(ops, state, i, cost):
    """Mirror of _engine._flip_cluster_spin; returns (state, cost)."""
    cost += ops.delta(state, i)
    return ops.apply(state, i), cost


def _cluster_move(ops, state_a, cost_a, state_b, cost_b, rng):
    """Mirror of _engine._cluster_move (Ising mirrors only; elsewhere nothing);
    returns (cluster size, state_a, cost_a, state_b, cost_b)."""
    from .problems.ising._reference import IsingReference

    if not isinstance(ops, IsingReference):
        return 0, state_a, cost_a, state_b, cost_b
    sa, sb = state_a[0], state_b[0]
    differing = np.flatnonzero(sa != sb)
    if differing.size == 0 or differing.size == ops.n:
        return 0, state_a, cost_a, state_b, cost_b
    queue = [int(differing[rng.below(differing.size)])]
    mark = np.zeros(ops.n, dtype=bool)
    mark[queue[0]] = True
    head = 0
    while head < len(queue):
        i = queue[head]
        head += 1
        for e in range(ops.indptr[i], ops.indptr[i + 1]):
            j = int(ops.indices[e])
            if not mark[j] and ops.weights[e] != 0 and sa[j] != sb[j]:
                mark[j] = True
                queue.append(j)
    for i in queue:
        state_a, cost_a = _flip_cluster_spin(ops, state_a, i, cost_a)
        state_b, cost_b = _flip_cluster_spin(ops, state_b, i, cost_b)
    return len(queue), state_a, cost_a, state_b, cost_b


def temper(
    chains,
    *,
    replicas,
    betas,
    replica_at,
    swap_attempts,
    swap_accepts,
    n_rounds,
    sweep_len,
    target,
    deadline,
    cluster_rungs=0,
):
    """Mirror of _engine.temper (_temper_all: a round sweeps every replica, then
    each chain keeps its best, makes its cluster moves and exchanges): chain c's
    L * R replicas are ``replicas`` entries ``c * L * R ..``; the ladder arrays
    are NumPy arrays updated in place."""
    ops = chains.ops
    n_rungs = betas.shape[1]
    n_ladders = replica_at.shape[1] // n_rungs
    per_chain = n_rungs * n_ladders
    n_chains = len(chains.rngs)
    stats = chains.scratch.setdefault(
        "clusters", np.zeros((n_chains, 2), dtype=np.int64)
    )
    for _ in range(n_rounds):
        running = [c for c in range(n_chains) if chains.status[c] == _RUNNING]
        if not running:
            break
        for c in running:  # _temper_sweep, one task per replica
            for slot in range(per_chain):
                row = c * per_chain + int(replica_at[c, slot])
                if time.monotonic() > deadline:  # see CLOCK_EVERY: no sweep starts
                    replicas.n_evaluations[row] = replicas.n_accepted[row] = 0
                    replicas.status[row] = _TIME
                    continue
                counts = _SweepCounts()
                state, cost = _metropolis_sweep(
                    ops,
                    replicas.states[row],
                    replicas.rngs[row],
                    float(betas[c, slot % n_rungs]),
                    sweep_len,
                    replicas.cost[row],
                    counts,
                    deadline,
                )
                replicas.states[row] = state
                replicas.cost[row] = cost
                replicas.n_evaluations[row] = counts.evaluations
                replicas.n_accepted[row] = counts.accepted
                if counts.timed_out:
                    replicas.status[row] = _TIME
        for c in running:  # _temper_exchange, one task per chain
            _temper_exchange(
                chains,
                c,
                replicas,
                betas,
                replica_at[c],
                swap_attempts[c],
                swap_accepts[c],
                stats[c],
                cluster_rungs,
                target,
                deadline,
            )


def _temper_exchange(
    chains,
    c,
    replicas,
    betas,
    at,
    attempts,
    accepts,
    stats,
    cluster_rungs,
    target,
    deadline,
):
    """Mirror of _engine._temper_exchange."""
    ops = chains.ops
    rng = chains.rngs[c]
    n_rungs = betas.shape[1]
    n_ladders = at.size // n_rungs
    first = c * n_rungs * n_ladders
    evaluations = accepted = 0
    timed_out = False
    for k in range(n_rungs):
        for ladder in range(n_ladders):
            row = first + int(at[ladder * n_rungs + k])
            evaluations += int(replicas.n_evaluations[row])
            accepted += int(replicas.n_accepted[row])
            replicas.n_evaluations[row] = 0
            replicas.n_accepted[row] = 0
            if replicas.status[row] == _TIME:
                replicas.status[row] = _RUNNING
                timed_out = True
            if replicas.cost[row] < chains.best_cost[c]:
                _keep_best(chains, c, replicas.states[row], replicas.cost[row])
    if timed_out or time.monotonic() > deadline:
        chains.status[c] = _TIME
    else:
        if n_ladders == 2:
            for k in range(cluster_rungs):
                a = first + int(at[k])
                b = first + int(at[n_rungs + k])
                flipped, sa, ca, sb, cb = _cluster_move(
                    ops,
                    replicas.states[a],
                    replicas.cost[a],
                    replicas.states[b],
                    replicas.cost[b],
                    rng,
                )
                replicas.states[a], replicas.cost[a] = sa, ca
                replicas.states[b], replicas.cost[b] = sb, cb
                stats[0] += 1
                stats[1] += flipped
                if ca < chains.best_cost[c]:
                    _keep_best(chains, c, sa, ca)
                if cb < chains.best_cost[c]:
                    _keep_best(chains, c, sb, cb)
        for ladder in range(n_ladders):
            for k in range(n_rungs - 1):
                a = first + int(at[ladder * n_rungs + k])
                b = first + int(at[ladder * n_rungs + k + 1])
                x = (betas[c, k] - betas[c, k + 1]) * (
                    replicas.cost[a] - replicas.cost[b]
                )
                attempts[k] += 1
                if x >= 0:
                    accept = True
                elif x > -ACCEPT_THRESHOLD:
                    accept = rng.random() < _engine.fast_exp_scalar(x)
                else:
                    accept = False
                if accept:
                    a = ladder * n_rungs + k
                    at[a], at[a + 1] = at[a + 1], at[a]
                    accepts[k] += 1
        chains.progress[c] += 1
        if chains.best_cost[c] <= target:
            chains.status[c] = _TARGET
    chains.cost[c] = replicas.cost[first + int(at[0])]
    chains.n_evaluations[c] += evaluations
    chains.n_accepted[c] += accepted


def sample_deltas(
    chains: ChainsReference,
    *,
    n_samples: int,
    deadline: float = math.inf,
    apply: bool = True,
) -> npt.NDArray[np.float64]:
    """Mirror of _engine.sample_deltas (random walk, every move applied, or
    random moves around the state with ``apply=False``; NaN for the samples the
    deadline cut off)."""
    ops = chains.ops
    out = np.zeros((len(chains.rngs), n_samples))
    for c, rng in enumerate(chains.rngs):
        state = chains.states[c]
        for m in range(n_samples):
            if m % CLOCK_EVERY == 0 and time.monotonic() > deadline:
                out[c, m:] = np.nan
                break
            move = ops.random_move(state, rng)
            if move is None:
                continue
            out[c, m] = ops.delta(state, move)
            if apply:
                state = ops.apply(state, move)
        chains.states[c] = state
    return out
