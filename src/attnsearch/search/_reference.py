"""Python reference of the search engine: the same methods, step by step.

Two layers, both plain Python/NumPy:

* **Problem operations** of the built-in problems (``IsingReference``,
  ``TSPReference``), which mirror ``_ising.pxd`` / ``_tsp.pxd`` line by line,
  including every random draw. ``UserProblemOps`` adapts a user's
  :class:`~attnsearch.search.problems.Problem` to the same protocol.
* **Methods** (``init_chains``, ``anneal``, ``climb``, ``sample_deltas``) that
  mirror ``_engine.pyx`` over that protocol and over ``ChainRNG`` streams, which
  run the same xoshiro256++ code as the kernels.

On exact-cost problems (TSPLIB EUC_2D, integer Ising) the kernels and this
reference take identical steps; the tests assert identical trajectories. It is
also the engine of problems written in Python.

The operations protocol (``ops``): ``initial(rng)``, ``prepare(state)``,
``cost(state)``, ``random_move(state, rng)``, ``propose(state, rng, attempt)``,
``delta(state, move)``, ``apply(state, move) -> state``, ``n_moves(state)``,
``move_at(state, index) -> move or None``, ``copy(state)``, ``export(state)``.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from ._engine import ACCEPT_THRESHOLD, STATUS, fast_exp_scalar

__all__ = [
    "IsingReference",
    "TSPReference",
    "UserProblemOps",
    "ChainsReference",
    "init_chains",
    "anneal",
    "climb",
    "stochastic_climb",
    "tabu",
    "sample_deltas",
]

_RUNNING = STATUS["running"]
_CONVERGED = STATUS["converged"]
_TARGET = STATUS["target"]
_TIME = STATUS["time_limit"]
_CLOCK_EVERY = 4096


# -- problem operations ---------------------------------------------------------------


class IsingReference:
    """Ising operations over (spins int8, fields float64) states; mirrors _ising.pxd."""

    def __init__(self, h, indptr, indices, weights, random_order=False):
        self.random_order = bool(random_order)
        self.h = np.asarray(h, dtype=np.float64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n = len(self.h)

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
        return rng.below(self.n)

    def propose(self, state, rng, attempt):
        # Annealing sweeps the spins in order, unless proposal="random".
        return rng.below(self.n) if self.random_order else attempt

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


_KIND_2OPT, _KIND_SWAP, _KIND_OROPT = 0, 1, 2
_KIND_CODES = {"2opt": _KIND_2OPT, "swap": _KIND_SWAP, "oropt": _KIND_OROPT}


class TSPReference:
    """TSP operations over int32 tour arrays; mirrors _tsp.pxd.

    Moves are tuples ``(kind, i, j, k)``.
    """

    def __init__(self, n, metric, matrix, x, y, kinds, cdf):
        self.n = int(n)
        self.metric = metric
        self.matrix = None if matrix is None else np.asarray(matrix, dtype=np.float64)
        self.x = None if x is None else np.asarray(x, dtype=np.float64)
        self.y = None if y is None else np.asarray(y, dtype=np.float64)
        self.kinds = [_KIND_CODES[k] for k in kinds]
        self.cdf = [float(c) for c in cdf]

    def distance(self, a, b):
        a, b = int(a), int(b)
        if self.metric == "MATRIX":
            return float(self.matrix[a, b])
        if self.metric == "GEO":
            q1 = math.cos(self.y[a] - self.y[b])
            q2 = math.cos(self.x[a] - self.x[b])
            q3 = math.cos(self.x[a] + self.x[b])
            return math.floor(
                6378.388 * math.acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0
            )
        dx = float(self.x[a] - self.x[b])
        dy = float(self.y[a] - self.y[b])
        if self.metric == "EUC_2D":
            return math.floor(math.sqrt(dx * dx + dy * dy) + 0.5)
        if self.metric == "CEIL_2D":
            return math.ceil(math.sqrt(dx * dx + dy * dy))
        if self.metric == "ATT":
            r = math.sqrt((dx * dx + dy * dy) / 10.0)
            t = math.floor(r + 0.5)
            return t + 1.0 if t < r else t
        return math.sqrt(dx * dx + dy * dy)

    def initial(self, rng):
        tour = np.arange(self.n, dtype=np.int32)
        for i in range(self.n - 1, 0, -1):
            j = rng.below(i + 1)
            tour[i], tour[j] = tour[j], tour[i]
        return tour

    def prepare(self, tour):
        return np.array(tour, dtype=np.int32)

    def cost(self, tour):
        if self.n < 2:
            return 0.0
        total = 0.0
        for i in range(self.n - 1):
            total += self.distance(tour[i], tour[i + 1])
        return total + self.distance(tour[self.n - 1], tour[0])

    def random_move(self, tour, rng):
        n = self.n
        if n < 4:
            return None
        kind = self.kinds[0]
        if len(self.kinds) > 1:
            u = rng.random()
            kind = self.kinds[-1]
            for index in range(len(self.kinds) - 1):
                if u < self.cdf[index]:
                    kind = self.kinds[index]
                    break
        if kind == _KIND_OROPT:
            length = 1 + rng.below(min(3, n - 3))
            i = rng.below(n - length + 1)
            j = (i + length + rng.below(n - length - 1)) % n
            return (kind, i, j, length)
        i = rng.below(n)
        if kind == _KIND_2OPT:
            j = (i + 2 + rng.below(n - 3)) % n
        else:
            j = (i + 1 + rng.below(n - 1)) % n
        return (kind, min(i, j), max(i, j), 0)

    def propose(self, tour, rng, attempt):
        return self.random_move(tour, rng)

    def delta(self, t, move):
        kind, a, b, length = move
        n = self.n
        d = self.distance
        if kind == _KIND_2OPT:
            ta, tb, na, nb = t[a], t[b], t[a + 1], t[(b + 1) % n]
            return d(ta, tb) + d(na, nb) - d(ta, na) - d(tb, nb)
        if kind == _KIND_SWAP:
            if b - a == 1 or (a == 0 and b == n - 1):
                x, y = (a, b) if b - a == 1 else (b, a)
                before, after = t[(x - 1 + n) % n], t[(y + 1) % n]
                return (
                    d(before, t[y]) + d(t[x], after) - d(before, t[x]) - d(t[y], after)
                )
            ta, tb = t[a], t[b]
            pa, na, pb, nb = t[(a - 1 + n) % n], t[a + 1], t[b - 1], t[(b + 1) % n]
            return (
                d(pa, tb)
                + d(tb, na)
                + d(pb, ta)
                + d(ta, nb)
                - d(pa, ta)
                - d(ta, na)
                - d(pb, tb)
                - d(tb, nb)
            )
        e = a + length - 1
        before, after = t[(a - 1 + n) % n], t[(e + 1) % n]
        s0, sl = t[a], t[e]
        left, right = t[b], t[(b + 1) % n]
        return (
            d(before, after)
            + d(left, s0)
            + d(sl, right)
            - d(before, s0)
            - d(sl, after)
            - d(left, right)
        )

    def apply(self, t, move):
        kind, a, b, length = move
        n = self.n
        if kind == _KIND_2OPT:
            inside = b - a
            if inside <= n - inside:
                first, count = a + 1, inside
            else:
                first, count = b + 1, n - inside
            positions = [(first + k) % n for k in range(count)]
            t[positions] = t[positions[::-1]]
        elif kind == _KIND_SWAP:
            t[a], t[b] = t[b], t[a]
        else:
            e = a + length - 1
            segment = t[a : e + 1].copy()
            if b > e:
                t[a : b - length + 1] = t[e + 1 : b + 1].copy()
                t[b - length + 1 : b + 1] = segment
            else:
                t[b + 1 + length : e + 1] = t[b + 1 : a].copy()
                t[b + 1 : b + 1 + length] = segment
        return t

    def n_moves(self, tour):
        n = self.n
        return sum(3 * n * n if k == _KIND_OROPT else n * n for k in self.kinds)

    def move_at(self, tour, index):
        n = self.n
        if n < 4:
            return None
        for kind in self.kinds:
            block = 3 * n * n if kind == _KIND_OROPT else n * n
            if index >= block:
                index -= block
                continue
            if kind == _KIND_OROPT:
                length = index // (n * n) + 1
                a = (index % (n * n)) // n
                r = index % n
                if length > min(3, n - 3) or a > n - length or r >= n - length - 1:
                    return None
                return (kind, a, (a + length + r) % n, length)
            a, b = divmod(index, n)
            if b <= a or (
                kind == _KIND_2OPT and (b - a < 2 or (a == 0 and b == n - 1))
            ):
                return None
            return (kind, a, b, 0)
        return None

    def tabu_attributes(self, t, move):
        kind, a, b, length = move
        n = self.n
        if kind == _KIND_2OPT:
            return (int(t[a]), int(t[a + 1]), int(t[b]), int(t[(b + 1) % n]))
        if kind == _KIND_SWAP:
            return (int(t[a]), int(t[b]))
        return (int(t[a]), int(t[a + length - 1]), int(t[b]), int(t[(b + 1) % n]))

    def copy(self, tour):
        return tour.copy()

    def export(self, tour):
        return tour.copy()


class UserProblemOps:
    """Adapt a user's Problem (Python) to the operations protocol.

    With ``maximize=True`` the user's ``cost`` is an objective to maximise;
    the engine minimises its negative.
    """

    def __init__(self, problem):
        self.problem = problem
        self.sign = -1.0 if getattr(problem, "maximize", False) else 1.0
        self._move_lists = {}

    def initial(self, rng):
        return self.problem.initial(rng)

    def prepare(self, state):
        return self.problem.copy_state(state)

    def cost(self, state):
        return self.sign * _as_float(self.problem.cost(state), "cost", state)

    def random_move(self, state, rng):
        return self.problem.random_move(state, rng)

    def propose(self, state, rng, attempt):
        return self.problem.random_move(state, rng)

    def delta(self, state, move):
        return self.sign * _as_float(self.problem.delta(state, move), "delta", state)

    def apply(self, state, move):
        result = self.problem.apply(state, move)
        return state if result is None else result

    def _moves(self, state):
        moves = self.problem.moves(state)
        if moves is None:
            raise TypeError(
                f"{type(self.problem).__name__}.moves() returned None: this method "
                "needs an enumerable neighbourhood"
            )
        return list(moves)

    def n_moves(self, state):
        moves = self._moves(state)
        self._move_lists = {id(state): moves}  # only the current step's list is kept
        return len(moves)

    def move_at(self, state, index):
        return self._move_lists[id(state)][index]

    def tabu_attributes(self, state, move):
        return tuple(self.problem.tabu_attributes(state, move))

    def copy(self, state):
        return self.problem.copy_state(state)

    def export(self, state):
        return self.problem.copy_state(state)


class ProblemError(RuntimeError):
    """A user problem misbehaved; carries the offending state and the best so far."""

    def __init__(self, message, state=None, best_state=None, best_cost=None):
        super().__init__(message)
        self.state = state
        self.best_state = best_state
        self.best_cost = best_cost


def _as_float(value, what, state):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ProblemError(
            f"the problem's {what} returned {value!r}, not a number", state=state
        ) from None
    if math.isnan(value):
        raise ProblemError(f"the problem's {what} returned NaN", state=state)
    return value


# -- methods --------------------------------------------------------------------------


class ChainsReference:
    """Per-chain Python states plus the same counters as the compiled ChainArrays."""

    def __init__(self, ops, rngs):
        self.ops = ops
        self.rngs = rngs
        n = len(rngs)
        self.states = [None] * n
        self.best_states = [None] * n
        self.cost = np.zeros(n)
        self.best_cost = np.zeros(n)
        self.n_evaluations = np.zeros(n, dtype=np.int64)
        self.n_accepted = np.zeros(n, dtype=np.int64)
        self.progress = np.zeros(n, dtype=np.int64)
        self.status = np.zeros(n, dtype=np.int32)


def init_chains(chains, initial_states, random_start):
    """Mirror of _engine.init_chains."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if random_start[c]:
            state = ops.initial(rng)
        else:
            state = ops.prepare(initial_states[c])
        chains.states[c] = state
        chains.cost[c] = ops.cost(state)
        chains.best_cost[c] = chains.cost[c]
        chains.best_states[c] = ops.copy(state)


def _stop_at_target_or_time(chains, c, best_cost, target, deadline):
    """Mirror of _engine._stop_at_target_or_time."""
    if best_cost <= target:
        chains.status[c] = _TARGET
        return True
    if time.monotonic() > deadline:
        chains.status[c] = _TIME
        return True
    return False


def _save_chain(chains, c, state, cost, evaluations, accepted):
    """Mirror of _engine._save_chain (Python chains keep their state object)."""
    chains.states[c] = state
    chains.cost[c] = cost
    chains.n_evaluations[c] += evaluations
    chains.n_accepted[c] += accepted


def anneal(chains, temperatures, sweep_len, target, deadline):
    """Mirror of _engine.anneal (Metropolis sweeps; best kept at sweep ends)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
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
                if clock_count == _CLOCK_EVERY:
                    clock_count = 0
                    if time.monotonic() > deadline:
                        chains.status[c] = _TIME
                        break
            if cost < chains.best_cost[c]:
                chains.best_cost[c] = cost
                chains.best_states[c] = ops.copy(state)
            chains.progress[c] += 1
            if chains.status[c] == _TIME:
                break
            if _stop_at_target_or_time(
                chains, c, chains.best_cost[c], target, deadline
            ):
                break
        _save_chain(chains, c, state, cost, evaluations, accepted)


def climb(chains, max_steps, best_improvement, tolerance, target, deadline):
    """Mirror of _engine.climb (best or first improvement until a local optimum)."""
    ops = chains.ops
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = 0
        for _ in range(max_steps):
            n_moves = ops.n_moves(state)
            found = False
            chosen = None
            chosen_delta = math.inf
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
            chains.progress[c] += 1
            if _stop_at_target_or_time(chains, c, cost, target, deadline):
                break
        chains.best_cost[c] = cost
        chains.best_states[c] = ops.copy(state)
        _save_chain(chains, c, state, cost, evaluations, 0)


def _weight(gain, top, temperature):
    return fast_exp_scalar((gain - top) / temperature)


def stochastic_climb(chains, max_steps, temperature, sample_size, target, deadline):
    """Mirror of _engine.stochastic_climb (softmax over gains, staying included)."""
    ops = chains.ops
    enumerate_all = sample_size == 0
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        evaluations = accepted = 0
        for _ in range(max_steps):
            top, total, best_gain = 0.0, 1.0, 0.0
            chosen, chosen_move = -1, None
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
                    chains.best_cost[c] = cost
                    chains.best_states[c] = ops.copy(state)
            if _stop_at_target_or_time(
                chains, c, chains.best_cost[c], target, deadline
            ):
                break
        _save_chain(chains, c, state, cost, evaluations, accepted)


def tabu(
    chains,
    tabu_until,
    max_steps,
    tenure,
    aspiration,
    candidate_size,
    tolerance,
    target,
    deadline,
):
    """Mirror of _engine.tabu; ``tabu_until`` is one dict per chain (key -> step)."""
    ops = chains.ops
    enumerate_all = candidate_size == 0
    for c, rng in enumerate(chains.rngs):
        if chains.status[c] != _RUNNING:
            continue
        state = chains.states[c]
        cost = chains.cost[c]
        until = tabu_until[c]
        evaluations = taken = 0
        for _ in range(max_steps):
            step_index = chains.progress[c]
            best_allowed = best_any = math.inf
            allowed_move = any_move = None
            have_allowed = have_any = False
            ties = 0
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
                is_tabu = any(
                    until.get(a, 0) > step_index
                    for a in ops.tabu_attributes(state, move)
                )
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
            if not have_any:
                chains.status[c] = _CONVERGED
                break
            if not have_allowed:
                allowed_move, best_allowed = any_move, best_any
            attributes = ops.tabu_attributes(state, allowed_move)
            state = ops.apply(state, allowed_move)
            cost += best_allowed
            for a in attributes:
                until[a] = step_index + 1 + tenure
            taken += 1
            chains.progress[c] += 1
            if cost < chains.best_cost[c] - tolerance:
                chains.best_cost[c] = cost
                chains.best_states[c] = ops.copy(state)
            if _stop_at_target_or_time(
                chains, c, chains.best_cost[c], target, deadline
            ):
                break
        _save_chain(chains, c, state, cost, evaluations, taken)


def sample_deltas(chains, n_samples):
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


def copy_chains(chains):
    """An independent copy (states deep-copied, RNG states cloned)."""
    from ._rng import ChainRNG

    clone = ChainsReference(chains.ops, [ChainRNG(r.get_state()) for r in chains.rngs])
    clone.states = [chains.ops.copy(s) for s in chains.states]
    clone.best_states = [chains.ops.copy(s) for s in chains.best_states]
    for name in (
        "cost",
        "best_cost",
        "n_evaluations",
        "n_accepted",
        "progress",
        "status",
    ):
        setattr(clone, name, getattr(chains, name).copy())
    return clone


def deepcopy_state(state):
    return copy.deepcopy(state)
