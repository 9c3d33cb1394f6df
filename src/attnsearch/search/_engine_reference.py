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

import math
import time

import numpy as np

from ._chains import ChainCounters
from ._engine import ACCEPT_THRESHOLD, CLOCK_EVERY, STATUS, fast_exp_scalar
from ._rng import ChainRNG

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
]

_RUNNING = STATUS["running"]
_CONVERGED = STATUS["converged"]
_TARGET = STATUS["target"]
_TIME = STATUS["time_limit"]
_BAD_TABU_ATTRIBUTE = STATUS["bad_tabu_attribute"]
_MAX_TABU_ATTRIBUTES = 4
_INT64_MAX = 2**63 - 1


class ChainsReference(ChainCounters):
    """Per-chain Python states plus the counters of the compiled ChainArrays."""

    def __init__(self, ops, rngs):
        super().__init__(len(rngs))
        self.ops = ops
        self.rngs = rngs
        self.states = [None] * len(rngs)
        self.best_states = [None] * len(rngs)
        self.scratch = {}

    def copy(self):
        """An independent copy (states deep-copied, RNG states cloned)."""
        clone = ChainsReference(self.ops, [ChainRNG(r.get_state()) for r in self.rngs])
        self.copy_counters_into(clone)
        clone.states = [self.ops.copy(s) for s in self.states]
        clone.best_states = [self.ops.copy(s) for s in self.best_states]
        clone.scratch = {
            key: value.copy()
            if isinstance(value, np.ndarray)
            else [dict(memory) for memory in value]
            for key, value in self.scratch.items()
        }
        return clone


# -- what every method shares ------------------------------------------------------


def _out_of_time(chains, c, deadline):
    """Mirror of _engine._out_of_time."""
    if time.monotonic() > deadline:
        chains.status[c] = _TIME
        return True
    return False


def _should_stop(chains, c, best_cost, target, deadline, unclocked):
    """Mirror of _engine._should_stop; returns (stop, unclocked)."""
    if best_cost <= target:
        chains.status[c] = _TARGET
        return True, unclocked
    if unclocked >= CLOCK_EVERY:
        return _out_of_time(chains, c, deadline), 0
    return False, unclocked


def _save_chain(chains, c, state, cost, evaluations, accepted):
    """Mirror of _engine._save_chain (Python chains keep their state object)."""
    chains.states[c] = state
    chains.cost[c] = cost
    chains.n_evaluations[c] += evaluations
    chains.n_accepted[c] += accepted


def _keep_best(chains, c, state, cost):
    chains.best_cost[c] = cost
    chains.best_states[c] = chains.ops.copy(state)


# -- the entry points ------------------------------------------------------------------


def init_chains(chains, random_start, initial_states=None):
    """Mirror of _engine.init_chains (given states come as a list, one per chain)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if random_start[c]:
            state = ops.initial(rng)
        else:
            state = ops.prepare(initial_states[c])
        chains.states[c] = state
        chains.cost[c] = ops.cost(state)
        _keep_best(chains, c, state, chains.cost[c])


def anneal(chains, *, temperatures, sweep_len, target, deadline):
    """Mirror of _engine.anneal (Metropolis sweeps; best kept at sweep ends)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = accepted = clock_count = 0
        for temperature in temperatures:
            beta = 1.0 / temperature if temperature > 0 else math.inf
            for attempt in range(sweep_len):
                move = ops.propose(state, rng, attempt)
                if move is None:
                    continue
                delta = ops.delta(state, move)
                evaluations += 1
                if delta <= 0:
                    accept = True
                else:
                    x = delta * beta
                    accept = x < ACCEPT_THRESHOLD and rng.random() < fast_exp_scalar(-x)
                if accept:
                    state = ops.apply(state, move)
                    cost += delta
                    accepted += 1
                clock_count += 1
                if clock_count == CLOCK_EVERY:
                    clock_count = 0
                    if _out_of_time(chains, c, deadline):
                        break
            if cost < chains.best_cost[c]:
                _keep_best(chains, c, state, cost)
            chains.progress[c] += 1
            if chains.status[c] == _TIME:
                break
            if chains.best_cost[c] <= target:
                chains.status[c] = _TARGET
                break
        _save_chain(chains, c, state, cost, evaluations, accepted)


def climb(chains, *, max_steps, best_improvement, tolerance, target, deadline):
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
                    if delta < -tolerance:
                        chosen_delta, chosen, found = delta, move, True
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


def _weight(gain, top, temperature):
    return fast_exp_scalar((gain - top) / temperature)


def stochastic_climb(chains, *, max_steps, temperature, sample_size, target, deadline):
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


def _checked_attributes(ops, state, move, n_keys):
    """Mirror of _engine._checked_attributes: the move's tabu attributes, or None
    when the problem's attributes break its contract (Python problems may use
    any hashable attributes: ``n_keys`` is None for them)."""
    attributes = tuple(ops.tabu_attributes(state, move))
    if n_keys is not None and (
        len(attributes) > _MAX_TABU_ATTRIBUTES
        or any(not 0 <= a < n_keys for a in attributes)
    ):
        return None
    return attributes


def tabu(
    chains,
    *,
    max_steps,
    tenure,
    aspiration,
    candidate_size,
    tolerance,
    target,
    deadline,
):
    """Mirror of _engine.tabu; the tabu memory is one dict per chain (attribute
    -> step until which it is tabu), kept in ``chains.scratch``."""
    ops = chains.ops
    n_keys = getattr(ops, "n_tabu_keys", None)
    memories = chains.scratch.setdefault("tabu_until", [{} for _ in chains.rngs])
    enumerate_all = candidate_size == 0
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        if _out_of_time(chains, c, deadline):
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        until = memories[c]
        evaluations = taken = unclocked = 0
        for _ in range(max_steps):
            step_index = chains.progress[c]
            best_allowed = best_any = math.inf
            allowed_move = any_move = None
            have_allowed = have_any = False
            ties = 0
            scanned = evaluations
            n_candidates = ops.n_moves(state) if enumerate_all else candidate_size
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
                if delta == best_allowed:
                    ties += 1  # uniform among ties (reservoir sampling)
                    if rng.below(ties) != 0:
                        continue
                else:
                    ties = 1
                best_allowed, allowed_move, have_allowed = delta, move, True
            if chains.status[c] == _BAD_TABU_ATTRIBUTE:
                break
            if not have_any:
                chains.status[c] = _CONVERGED
                break
            if not have_allowed:
                allowed_move, best_allowed = any_move, best_any
            attributes = _checked_attributes(ops, state, allowed_move, n_keys)
            if attributes is None:
                chains.status[c] = _BAD_TABU_ATTRIBUTE
                break
            state = ops.apply(state, allowed_move)
            cost += best_allowed
            for a in attributes:
                until[a] = step_index + 1 + tenure
            taken += 1
            chains.progress[c] += 1
            if cost < chains.best_cost[c] - tolerance:
                _keep_best(chains, c, state, cost)
            unclocked += evaluations - scanned
            stop, unclocked = _should_stop(
                chains, c, chains.best_cost[c], target, deadline, unclocked
            )
            if stop:
                break
        _save_chain(chains, c, state, cost, evaluations, taken)


# -- descent to a local optimum --------------------------------------------------------


def _generic_descend(ops, state, rng, tolerance, max_moves, max_evaluations):
    """Mirror of _engine._generic_descend; returns (done, state, delta, evaluations,
    moves)."""
    total = 0.0
    evaluations = moves = 0
    while True:
        if moves >= max_moves or evaluations >= max_evaluations:
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
                state, tolerance, left, CLOCK_EVERY
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
    """Mirror of _engine._ils_descend: 1 at a local optimum, 0 when stopped."""
    own = hasattr(ops, "descend")
    while True:
        if own:
            done, delta, evaluations, moves = ops.descend(
                tally.state, tolerance, _INT64_MAX, CLOCK_EVERY
            )
        else:
            done, tally.state, delta, evaluations, moves = _generic_descend(
                ops, tally.state, rng, tolerance, _INT64_MAX, CLOCK_EVERY
            )
        tally.cost += delta
        tally.evaluations += evaluations
        tally.applied += moves
        tally.unclocked += evaluations
        if done:
            return 1
        if tally.unclocked >= CLOCK_EVERY:
            tally.unclocked = 0
            if _out_of_time(chains, c, deadline):
                return 0
            if pausable and time.monotonic() > pause_at:
                return 0


def iterated_local_search(
    chains, *, until, strength, tolerance, target, deadline, pause_at
):
    """Mirror of _engine.iterated_local_search (kick, descend, keep if not worse)."""
    ops = chains.ops
    own_kick = hasattr(ops, "kick")
    own_undo = hasattr(ops, "checkpoint") and hasattr(ops, "rollback")
    accepted = chains.scratch.setdefault(
        "ils_accepted", np.zeros(len(chains.rngs), dtype=np.int64)
    )
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
        while (
            chains.status[c] == _RUNNING
            and chains.progress[c] >= 1
            and chains.progress[c] < until
        ):
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
            done = _ils_descend(*args, False)
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
        if tally.cost <= chains.best_cost[c]:
            _keep_best(chains, c, tally.state, tally.cost)
        _save_chain(
            chains, c, tally.state, tally.cost, tally.evaluations, tally.applied
        )


def sample_deltas(chains, *, n_samples):
    """Mirror of _engine.sample_deltas (random walk, every move applied)."""
    ops = chains.ops
    out = np.zeros((len(chains.rngs), n_samples))
    for c, rng in enumerate(chains.rngs):
        state = chains.states[c]
        for m in range(n_samples):
            move = ops.random_move(state, rng)
            if move is None:
                continue
            out[c, m] = ops.delta(state, move)
            state = ops.apply(state, move)
        chains.states[c] = state
    return out
