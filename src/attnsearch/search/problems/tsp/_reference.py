"""Python and NumPy references of the TSP core (``_core.pxd``).

* ``TSPReference`` mirrors the compiled operations line by line, draws included
  (moves are tuples ``(kind, i, j, k)``, states are ``TourState``: the tour with
  the position index, the queue of active cities and the undo log the core keeps
  in ``aux``); the engine reference runs every method over it and the tests
  compare trajectories.
* The TSPLIB95 distance functions are written once each (``_FORMULAS``)
  and evaluated two ways: on Python floats by ``TSPReference.distance`` and on
  NumPy arrays by ``tsplib_distances`` and ``tour_length_reference``, the oracle
  of the compiled tour kernels' tests. They follow TSPLIB95's C code operation by
  operation (``nint(v) = (int)(v + 0.5)``, GEO with truncated degrees,
  ``GEO_PI = 3.141592`` and ``GEO_EARTH_RADIUS = 6378.388``) because the
  published optima depend on its rounding, and ``_core.pxd``'s ``tsp_distance``
  computes the same bits.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    pass

__all__ = [
    "GEO_EARTH_RADIUS",
    "GEO_PI",
    "TSPReference",
    "TourState",
    "geo_radians",
    "tour_length_reference",
    "tsplib_distances",
]

_INT64_MAX = 2**63 - 1
#: A segment's descent returns to read the clock after this many evaluations
#: (_core.pxd's SEGMENT_CLOCK_EVERY; the running length is summed per return).
_SEGMENT_CLOCK_EVERY = 4096

#: TSPLIB95's value of pi in the GEO distance (its C code, not ``math.pi``).
GEO_PI = 3.141592
#: TSPLIB95's earth radius in km in the GEO distance (the compiled core reads it
#: from here).
GEO_EARTH_RADIUS = 6378.388

_DISTANCE_KINDS = ("EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN")


# -- TSPLIB95 distances ---------------------------------------------------------------


class _ScalarMath:
    """The operations of the distance formulas on Python floats (the compiled
    core's arithmetic: the C library's sqrt, cos and acos; float results)."""

    sqrt = staticmethod(math.sqrt)
    cos = staticmethod(math.cos)
    acos = staticmethod(math.acos)

    @staticmethod
    def floor(value: float) -> float:
        return float(math.floor(value))

    @staticmethod
    def ceil(value: float) -> float:
        return float(math.ceil(value))

    @staticmethod
    def clip_unit(value: float) -> float:
        """``value`` clipped to [-1, 1] (NaN stays NaN, as with np.clip)."""
        return -1.0 if value < -1.0 else 1.0 if value > 1.0 else value

    @staticmethod
    def where(condition: bool, if_true: float, if_false: float) -> float:
        return if_true if condition else if_false


class _ArrayMath:
    """The same operations on NumPy arrays. cos and acos still come from the C
    library, element by element: NumPy's SIMD arccos differs from it in the last
    bit on AVX-512 machines, and this reference must give the compiled bits."""

    sqrt = staticmethod(np.sqrt)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    cos = staticmethod(np.vectorize(math.cos, otypes=[np.float64]))
    acos = staticmethod(np.vectorize(math.acos, otypes=[np.float64]))
    where = staticmethod(np.where)

    @staticmethod
    def clip_unit(value: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.clip(value, -1.0, 1.0)


# TSPLIB95's distance of every metric, written once over the operations of ``m``
# (``_ScalarMath`` for two cities, ``_ArrayMath`` for arrays of them) and the two
# cities' coordinates (GEO: latitude and longitude in radians, see geo_radians).


def _euclidean(m, xa, ya, xb, yb):
    dx = xa - xb
    dy = ya - yb
    return m.sqrt(dx * dx + dy * dy)


def _euc_2d(m, xa, ya, xb, yb):
    # nint(v) = (int)(v + 0.5) equals floor(v + 0.5) because v >= 0.
    return m.floor(_euclidean(m, xa, ya, xb, yb) + 0.5)


def _ceil_2d(m, xa, ya, xb, yb):
    return m.ceil(_euclidean(m, xa, ya, xb, yb))


def _att(m, xa, ya, xb, yb):
    dx = xa - xb
    dy = ya - yb
    pseudo = m.sqrt((dx * dx + dy * dy) / 10.0)
    rounded = m.floor(pseudo + 0.5)
    return m.where(rounded < pseudo, rounded + 1.0, rounded)


def _geo(m, latitude_a, longitude_a, latitude_b, longitude_b):
    q1 = m.cos(longitude_a - longitude_b)
    q2 = m.cos(latitude_a - latitude_b)
    q3 = m.cos(latitude_a + latitude_b)
    # Rounding never carries this form of the argument past +-1 (each product is
    # bounded by the rounded 1 +- q1, which add up to at most 2), but acos is
    # undefined there: every implementation clips, so none relies on it.
    cosine = m.clip_unit(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3))
    # (int)(v) equals floor(v) because v >= 1.
    return m.floor(GEO_EARTH_RADIUS * m.acos(cosine) + 1.0)


_FORMULAS = {
    "EUCLIDEAN": _euclidean,
    "EUC_2D": _euc_2d,
    "CEIL_2D": _ceil_2d,
    "ATT": _att,
    "GEO": _geo,
}
#: ``formula(x_a, y_a, x_b, y_b)`` of each metric on two cities' coordinates, and
#: on arrays of them (partials of module-level functions: problems pickle).
_SCALAR_FORMULAS = {k: functools.partial(f, _ScalarMath) for k, f in _FORMULAS.items()}
_ARRAY_FORMULAS = {k: functools.partial(f, _ArrayMath) for k, f in _FORMULAS.items()}


# Move families (a TSP's ``moves``) and move kinds, as in _core.pxd.
_FAMILY_2OPT, _FAMILY_SWAP, _FAMILY_OROPT, _FAMILY_3OPT = 0, 1, 2, 3
_FAMILY_CODES = {
    "2opt": _FAMILY_2OPT,
    "swap": _FAMILY_SWAP,
    "oropt": _FAMILY_OROPT,
    "3opt": _FAMILY_3OPT,
}
_KIND_2OPT, _KIND_SWAP, _KIND_OROPT, _KIND_OROPT_REV, _KIND_3OPT = 0, 1, 2, 3, 4
_CANDIDATE_TRIES = 8


#: Candidates the Lin-Kernighan step reads per level at most (LK_MAX_CANDIDATES).
_LK_MAX_CANDIDATES = 16


def _has_edge(edges, x, y):
    """Whether the undirected edge (x, y) is among the pairs of the flat list."""
    return any(
        (edges[e] == x and edges[e + 1] == y) or (edges[e] == y and edges[e + 1] == x)
        for e in range(0, len(edges), 2)
    )


def _wrap(i, n):
    """i mod n for i in [-n, 2n)."""
    if i < 0:
        return i + n
    if i >= n:
        return i - n
    return i


class TourState:
    """One chain's tour and the workspace the core keeps in ``aux``: the position
    index, the queue of active cities (don't-look bits off) and the undo log."""

    __slots__ = ("tour", "pos", "queue", "active", "head", "count", "log", "recording")

    def __init__(self, tour):
        n = len(tour)
        self.tour = [int(city) for city in tour]
        self.pos = [0] * n
        for i, city in enumerate(self.tour):
            self.pos[city] = i
        self.queue = list(self.tour)
        self.active = [True] * n
        self.head = 0
        self.count = n
        self.log = []
        self.recording = 0

    def copy(self):
        clone = TourState.__new__(TourState)
        clone.tour = list(self.tour)
        clone.pos = list(self.pos)
        clone.queue = list(self.queue)
        clone.active = list(self.active)
        clone.head, clone.count = self.head, self.count
        clone.log = list(self.log)
        clone.recording = self.recording
        return clone


#: A tour (int32 cities) and a move ``(kind, i, j, k)``.
_Tour: TypeAlias = npt.NDArray[np.int32]
_Move: TypeAlias = tuple[int, int, int, int]


class TSPReference:
    """TSP operations over ``TourState`` chains; mirrors _core.pxd line by line.

    Moves are tuples ``(kind, i, j, k)`` (positions, see _core.pxd). The undo
    log is unbounded here: the core's fallback on a tour copy when its log is
    full restores the same tour, which is what the tests check.
    """

    def __init__(
        self,
        n,
        metric,
        matrix,
        x,
        y,
        kinds,
        cdf,
        neighbours=None,
        start_tour=None,
        kick_length=50,
        lk_depth=0,
        lk_breadth=(),
        lk_max_flip=0,
        lk_alternate=False,
        fixed_ends=False,
    ):
        self.n = int(n)
        # A tour segment searched as a path (partition.py): the edge (0, 1)
        # between its ends has length -inf (mirror of TSPData.fixed_sum).
        self.fixed_sum = 1 if fixed_ends else -1
        self.n_tabu_keys = self.n  # tabu attributes: cities
        self.metric = metric
        self.matrix = None if matrix is None else np.asarray(matrix, dtype=np.float64)
        # Python floats: the formulas run on them far faster than on NumPy scalars.
        self.x = None if x is None else [float(v) for v in x]
        self.y = None if y is None else [float(v) for v in y]
        self._formula = None if metric == "MATRIX" else _SCALAR_FORMULAS[metric]
        self.kinds = [_FAMILY_CODES[k] for k in kinds]
        self.cdf = [float(c) for c in cdf]
        if neighbours is None:
            self.neighbours, self.n_neighbours = None, 0
        else:
            neighbours = np.asarray(neighbours)
            self.neighbours = [int(c) for c in neighbours.ravel()]
            self.n_neighbours = neighbours.shape[1]
        self.start_tour = None if start_tour is None else [int(c) for c in start_tour]
        self.kick_length = max(1, int(kick_length))
        self.descent_2opt = "2opt" in kinds
        self.descent_oropt = "oropt" in kinds
        self.lk_depth = int(lk_depth)
        self.lk_breadth = tuple(int(b) for b in lk_breadth)
        self.lk_max_flip = int(lk_max_flip)
        self.lk_alternate = bool(lk_alternate)
        self.descent_3opt = "3opt" in kinds and not (
            self.lk_alternate and self.lk_depth >= 2
        )
        self.descent_lk = self.lk_depth > 0
        if (
            self.neighbours is not None
            and self.n >= 5
            and (
                self.descent_2opt
                or self.descent_oropt
                or self.descent_3opt
                or self.descent_lk
            )
        ):
            # Only then (tsp_can_descend): otherwise the engine's fallback runs.
            self.descend = self._descend

    # -- distances, states ---------------------------------------------------

    def distance(self, a: int, b: int) -> float:
        """Distance between cities ``a`` and ``b`` (mirror of ``tsp_distance``)."""
        if a + b == self.fixed_sum:
            return -math.inf
        if self._formula is None:
            assert self.matrix is not None  # MATRIX
            return float(self.matrix[a, b])
        x, y = self.x, self.y
        assert x is not None and y is not None  # every other metric has coords
        return self._formula(x[a], y[a], x[b], y[b])

    def initial(self, rng):
        if self.start_tour is not None:
            return TourState(self.start_tour)
        tour = list(range(self.n))
        for i in range(self.n - 1, 0, -1):
            j = rng.below(i + 1)
            tour[i], tour[j] = tour[j], tour[i]
        return TourState(tour)

    def prepare(self, tour):
        return TourState(tour)

    def cost(self, state):
        tour = state.tour
        if self.n < 2:
            return 0.0
        total = 0.0
        for i in range(self.n - 1):
            total += self.distance(tour[i], tour[i + 1])
        return total + self.distance(tour[self.n - 1], tour[0])

    def copy(self, state):
        return state.copy()

    def export(self, state):
        return np.array(state.tour, dtype=np.int32)

    # -- reversals, the undo log, the queue ----------------------------------

    def _reverse_raw(self, st, first, count):
        t, pos, n = st.tour, st.pos, self.n
        i, j = first, _wrap(first + count - 1, n)
        for _ in range(count // 2):
            a, b = t[i], t[j]
            t[i], pos[b] = b, i
            t[j], pos[a] = a, j
            i = 0 if i + 1 == n else i + 1
            j = n - 1 if j == 0 else j - 1

    def _redo(self, st, a, b):
        if b >= 0:
            self._reverse_raw(st, a, b)
        else:
            t, pos = st.tour, st.pos
            t[a], t[-b - 1] = t[-b - 1], t[a]
            pos[t[a]], pos[t[-b - 1]] = a, -b - 1

    def _record(self, st, a, b):
        if st.recording != 1:
            return
        if st.log and st.log[-1] == (a, b):
            st.log.pop()  # it undid the last entry (each is its own inverse)
        else:
            st.log.append((a, b))

    def _reverse_path(self, st, i, j):
        n = self.n
        length = j - i + 1
        if length <= 0:
            length += n
        if 2 * length <= n:
            first, count = i, length
        else:
            first, count = _wrap(j + 1, n), n - length
        if count > 1:
            self._reverse_raw(st, first, count)
            self._record(st, first, count)

    def _exchange(self, st, a, b, c, d):
        pos = st.pos
        if st.tour[_wrap(pos[a] + 1, self.n)] == b:
            self._reverse_path(st, pos[b], pos[c])
        else:
            self._reverse_path(st, pos[c], pos[b])

    def _activate(self, st, city):
        if st.active[city]:
            return
        st.active[city] = True
        st.queue[_wrap(st.head + st.count, self.n)] = city
        st.count += 1

    def _clear_queue(self, st):
        while st.count > 0:
            st.active[st.queue[st.head]] = False
            st.head = _wrap(st.head + 1, self.n)
            st.count -= 1
        st.head = 0

    def _next(self, st, city):
        return st.tour[_wrap(st.pos[city] + 1, self.n)]

    def _prev(self, st, city):
        return st.tour[_wrap(st.pos[city] - 1, self.n)]

    # -- moves ---------------------------------------------------------------

    def _set_2opt(self, i, j):
        i, j = min(i, j), max(i, j)
        if j - i >= 2 and not (i == 0 and j == self.n - 1):
            return (_KIND_2OPT, i, j, 0)
        return None

    def _set_oropt(self, i, length, j, forward):
        n = self.n
        if n < length + 3 or _wrap(j - i + 1, n) <= length:
            return None
        return (_KIND_OROPT if forward else _KIND_OROPT_REV, i, j, length)

    def _edge_start(self, st, u, v):
        if st.tour[_wrap(st.pos[u] + 1, self.n)] == v:
            return st.pos[u]
        return st.pos[v]

    def _set_3opt(self, st, t1, t2, t3, t4, t5, t6):
        n, t = self.n, st.tour
        i, j, k = sorted(
            (
                self._edge_start(st, t1, t2),
                self._edge_start(st, t3, t4),
                self._edge_start(st, t5, t6),
            )
        )
        if i == j or j == k or n - (k - i) < 2:
            return None
        a, b, c, d, e, f = t[i], t[i + 1], t[j], t[j + 1], t[k], t[_wrap(k + 1, n)]
        added = {frozenset((t2, t3)), frozenset((t4, t5)), frozenset((t6, t1))}
        types = (
            ((a, c), (b, e), (d, f)),
            ((a, d), (e, b), (c, f)),
            ((a, d), (e, c), (b, f)),
            ((a, e), (d, b), (c, f)),
        )
        for kind, edges in enumerate(types):
            if all(frozenset(edge) in added for edge in edges):
                return (_KIND_3OPT + kind, i, j, k)
        return None

    def _draw_family(self, rng):
        kind = self.kinds[0]
        if len(self.kinds) > 1:
            u = rng.random()
            kind = self.kinds[-1]
            for index in range(len(self.kinds) - 1):
                if u < self.cdf[index]:
                    kind = self.kinds[index]
                    break
        return kind

    def _candidate_move(self, st, family, a, r1, direction, length, side, r2, side2):
        assert self.neighbours is not None  # callers check: candidate moves only
        n, K, t, pos = self.n, self.n_neighbours, st.tour, st.pos
        pa = pos[a]
        c = self.neighbours[a * K + r1]
        if family == _FAMILY_2OPT:
            pc = pos[c]
            if direction == 0:
                return self._set_2opt(pa, pc)
            return self._set_2opt(_wrap(pa - 1, n), _wrap(pc - 1, n))
        if family == _FAMILY_SWAP:
            return (_KIND_SWAP, min(pa, pos[c]), max(pa, pos[c]), 0)
        if family == _FAMILY_OROPT:
            i = _wrap(pa - length + 1, n) if direction == 0 else pa
            pc = pos[c]
            return self._set_oropt(
                i, length, pc if side == 0 else _wrap(pc - 1, n), direction != side
            )
        t2 = t[_wrap(pa + 1, n)] if direction == 0 else t[_wrap(pa - 1, n)]
        t3 = self.neighbours[t2 * K + r1]
        if t3 == a:
            return None
        t4 = self._next(st, t3) if side == 0 else self._prev(st, t3)
        if t4 == t2:
            return None
        t5 = self.neighbours[t4 * K + r2]
        if t5 == t3 or t5 == t2:
            return None
        t6 = self._next(st, t5) if side2 == 0 else self._prev(st, t5)
        return self._set_3opt(st, a, t2, t3, t4, t5, t6)

    def random_move(self, st, rng):
        n, K = self.n, self.n_neighbours
        if n < 4:
            return None
        kind = self._draw_family(rng)
        if self.neighbours is not None and n >= 5:
            for _ in range(_CANDIDATE_TRIES):
                a = rng.below(n)
                r1 = rng.below(K)
                direction = rng.below(2)
                length = side = side2 = r2 = 0
                if kind == _FAMILY_OROPT:
                    length = 1 + rng.below(min(3, n - 3))
                    side = rng.below(2)
                elif kind == _FAMILY_3OPT:
                    side = rng.below(2)
                    r2 = rng.below(K)
                    side2 = rng.below(2)
                move = self._candidate_move(
                    st, kind, a, r1, direction, length, side, r2, side2
                )
                if move is not None:
                    return move
            return None
        if kind == _FAMILY_3OPT:
            return None
        if kind == _FAMILY_OROPT:
            length = 1 + rng.below(min(3, n - 3))
            i = rng.below(n - length + 1)
            j = (i + length + rng.below(n - length - 1)) % n
            return (_KIND_OROPT, i, j, length)
        i = rng.below(n)
        if kind == _FAMILY_2OPT:
            j = (i + 2 + rng.below(n - 3)) % n
        else:
            j = (i + 1 + rng.below(n - 1)) % n
        return (kind, min(i, j), max(i, j), 0)

    def propose(self, st, rng, attempt):
        return self.random_move(st, rng)

    def delta(self, st, move):
        kind, a, b, length = move
        n, t = self.n, st.tour
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
        if kind in (_KIND_OROPT, _KIND_OROPT_REV):
            before, after = t[_wrap(a - 1, n)], t[_wrap(a + length, n)]
            s0, sl = t[a], t[_wrap(a + length - 1, n)]
            left, right = t[b], t[_wrap(b + 1, n)]
            first, last = (s0, sl) if kind == _KIND_OROPT else (sl, s0)
            return (
                d(before, after)
                + d(left, first)
                + d(last, right)
                - d(before, s0)
                - d(sl, after)
                - d(left, right)
            )
        ta, tb, c, dd, e = t[a], t[a + 1], t[b], t[b + 1], t[length]
        f = t[_wrap(length + 1, n)]
        removed = d(ta, tb) + d(c, dd) + d(e, f)
        if kind == _KIND_3OPT:
            return d(ta, c) + d(tb, e) + d(dd, f) - removed
        if kind == _KIND_3OPT + 1:
            return d(ta, dd) + d(e, tb) + d(c, f) - removed
        if kind == _KIND_3OPT + 2:
            return d(ta, dd) + d(e, c) + d(tb, f) - removed
        return d(ta, e) + d(dd, tb) + d(c, f) - removed

    def _move_cities(self, st, move):
        kind, i, j, k = move
        n, t = self.n, st.tour
        if kind == _KIND_2OPT:
            return [t[i], t[i + 1], t[j], t[_wrap(j + 1, n)]]
        if kind == _KIND_SWAP:
            return [
                t[i],
                t[j],
                t[_wrap(i - 1, n)],
                t[_wrap(i + 1, n)],
                t[_wrap(j - 1, n)],
                t[_wrap(j + 1, n)],
            ]
        if kind in (_KIND_OROPT, _KIND_OROPT_REV):
            return [
                t[_wrap(i - 1, n)],
                t[i],
                t[_wrap(i + k - 1, n)],
                t[_wrap(i + k, n)],
                t[j],
                t[_wrap(j + 1, n)],
            ]
        return [t[i], t[i + 1], t[j], t[j + 1], t[k], t[_wrap(k + 1, n)]]

    def _apply_move(self, st, move):
        kind, i, j, k = move
        n, t = self.n, st.tour
        ex = self._exchange
        if kind == _KIND_2OPT:
            ex(st, t[i], t[i + 1], t[j], t[_wrap(j + 1, n)])
        elif kind == _KIND_SWAP:
            t[i], t[j] = t[j], t[i]
            st.pos[t[i]], st.pos[t[j]] = i, j
            self._record(st, i, -j - 1)
        elif kind in (_KIND_OROPT, _KIND_OROPT_REV):
            before, s0 = t[_wrap(i - 1, n)], t[i]
            sl, after = t[_wrap(i + k - 1, n)], t[_wrap(i + k, n)]
            x, y = t[j], t[_wrap(j + 1, n)]
            if x == after:
                ex(st, before, s0, after, y)
            elif y == before:
                ex(st, x, before, sl, after)
            else:
                ex(st, before, s0, x, y)
                ex(st, before, x, after, sl)
            if kind == _KIND_OROPT and k > 1:
                ex(st, x, sl, s0, y)
        else:
            ta, tb, c, d = t[i], t[i + 1], t[j], t[j + 1]
            e, f = t[k], t[_wrap(k + 1, n)]
            if kind == _KIND_3OPT:
                ex(st, ta, tb, c, d)
                ex(st, tb, d, e, f)
            else:
                ex(st, ta, tb, e, f)
                if kind == _KIND_3OPT + 3:
                    ex(st, d, c, tb, f)
                else:
                    ex(st, ta, e, d, c)
                    if kind == _KIND_3OPT + 1:
                        ex(st, e, c, tb, f)

    def apply(self, st, move):
        self._apply_move(st, move)
        return st

    # -- the enumerable neighbourhood ----------------------------------------

    def _family_block(self, family):
        n, K = self.n, self.n_neighbours
        if self.neighbours is not None and n >= 5:
            return {
                _FAMILY_2OPT: n * K * 2,
                _FAMILY_SWAP: n * K,
                _FAMILY_OROPT: n * K * 12,
            }.get(family, n * K * K * 8)
        if family == _FAMILY_OROPT:
            return 3 * n * n
        if family == _FAMILY_3OPT:
            return 0
        return n * n

    def n_moves(self, st):
        return sum(self._family_block(k) for k in self.kinds)

    def move_at(self, st, index):
        n, K = self.n, self.n_neighbours
        if n < 4:
            return None
        for family in self.kinds:
            block = self._family_block(family)
            if index >= block:
                index -= block
                continue
            if self.neighbours is not None and n >= 5:
                cm = self._candidate_move
                if family == _FAMILY_2OPT:
                    return cm(
                        st,
                        family,
                        index // (2 * K),
                        (index // 2) % K,
                        index % 2,
                        0,
                        0,
                        0,
                        0,
                    )
                if family == _FAMILY_SWAP:
                    return cm(st, family, index // K, index % K, 0, 0, 0, 0, 0)
                if family == _FAMILY_OROPT:
                    r = index % 12
                    return cm(
                        st,
                        family,
                        index // (12 * K),
                        (index // 12) % K,
                        r // 6,
                        1 + (r // 2) % 3,
                        r % 2,
                        0,
                        0,
                    )
                r = index % 8
                return cm(
                    st,
                    family,
                    index // (8 * K * K),
                    (index // (8 * K)) % K,
                    r // 4,
                    0,
                    (r // 2) % 2,
                    (index // 8) % K,
                    r % 2,
                )
            if family == _FAMILY_OROPT:
                length = index // (n * n) + 1
                a = (index % (n * n)) // n
                r = index % n
                if length > min(3, n - 3) or a > n - length or r >= n - length - 1:
                    return None
                return (_KIND_OROPT, a, (a + length + r) % n, length)
            a, b = divmod(index, n)
            if b <= a or (
                family == _FAMILY_2OPT and (b - a < 2 or (a == 0 and b == n - 1))
            ):
                return None
            return (family, a, b, 0)
        return None

    def tabu_attributes(self, st, move):
        cities = self._move_cities(st, move)
        count = 2 if move[0] == _KIND_SWAP else min(len(cities), 4)
        return tuple(cities[:count])

    # -- descent with don't-look bits ----------------------------------------

    def _apply_if_improving(self, st, move, tolerance, stats):
        if move is None:
            return False
        delta = self.delta(st, move)
        if not delta < -tolerance:
            return False
        cities = self._move_cities(st, move)
        self._apply_move(st, move)
        for city in cities:
            self._activate(st, city)
        stats[0] += delta
        stats[2] += 1
        return True

    def _improve_city(self, st, a, tolerance, stats):
        assert self.neighbours is not None  # self.descend is set only with them
        n, K, t, pos = self.n, self.n_neighbours, st.tour, st.pos
        d, nb = self.distance, self.neighbours
        max_length = min(3, n - 3)
        for direction in range(2):
            pa = pos[a]
            b = t[_wrap(pa + 1, n)] if direction == 0 else t[_wrap(pa - 1, n)]
            d_ab = d(a, b)
            far, removal = [0] * 4, [0.0] * 4
            if self.descent_oropt:
                for length in range(1, max_length + 1):
                    sp = (
                        _wrap(pa - length + 1, n)
                        if direction == 0
                        else _wrap(pa + length - 1, n)
                    )
                    far[length] = t[sp]
                    e = t[_wrap(sp - 1, n)] if direction == 0 else t[_wrap(sp + 1, n)]
                    removal[length] = d_ab + d(far[length], e) - d(b, e)
            for r in range(K):
                c = nb[a * K + r]
                d_ac = d(a, c)
                g1 = d_ab - d_ac
                if g1 <= 0:
                    break
                pc = pos[c]
                if self.descent_2opt:
                    e = t[_wrap(pc + 1, n)] if direction == 0 else t[_wrap(pc - 1, n)]
                    gain = g1 + d(c, e) - d(b, e)
                    stats[1] += 1
                    if gain > 0:
                        move = self._candidate_move(
                            st, _FAMILY_2OPT, a, r, direction, 0, 0, 0, 0
                        )
                        if self._apply_if_improving(st, move, tolerance, stats):
                            return True
                if self.descent_oropt:
                    for side in range(2):
                        e = t[_wrap(pc + 1, n)] if side == 0 else t[_wrap(pc - 1, n)]
                        d_ce = d(c, e)
                        for length in range(1, max_length + 1):
                            gain = removal[length] + d_ce - d_ac - d(far[length], e)
                            stats[1] += 1
                            if gain > 0:
                                move = self._candidate_move(
                                    st,
                                    _FAMILY_OROPT,
                                    a,
                                    r,
                                    direction,
                                    length,
                                    side,
                                    0,
                                    0,
                                )
                                if self._apply_if_improving(st, move, tolerance, stats):
                                    return True
        if not self.descent_3opt:
            return self.descent_lk and self._lk_move(st, a, tolerance, stats)
        for direction in range(2):
            b = t[_wrap(pos[a] + 1, n)] if direction == 0 else t[_wrap(pos[a] - 1, n)]
            d_ab = d(a, b)
            for r in range(K):
                t3 = nb[b * K + r]
                g1 = d_ab - d(b, t3)
                if g1 <= 0:
                    break
                if t3 == a:
                    continue
                for side in range(2):
                    t4 = self._next(st, t3) if side == 0 else self._prev(st, t3)
                    if t4 == b:
                        continue
                    open1 = g1 + d(t3, t4)
                    for r5 in range(K):
                        t5 = nb[t4 * K + r5]
                        g2 = open1 - d(t4, t5)
                        if g2 <= 0:
                            break
                        if t5 == t3 or t5 == b:
                            continue
                        for side6 in range(2):
                            t6 = (
                                self._next(st, t5) if side6 == 0 else self._prev(st, t5)
                            )
                            gain = g2 + d(t5, t6) - d(t6, a)
                            stats[1] += 1
                            if gain > 0:
                                move = self._set_3opt(st, a, b, t3, t4, t5, t6)
                                if self._apply_if_improving(st, move, tolerance, stats):
                                    return True
        return self.descent_lk and self._lk_move(st, a, tolerance, stats)

    # -- the Lin-Kernighan step (mirror of _lk_move, _lk_level) --------------

    def _lk_exchange(self, st, t1, t2, t3, t4, forward, undo):
        if forward:
            if undo:
                self._exchange(st, t1, t4, t2, t3)
            else:
                self._exchange(st, t1, t2, t4, t3)
        elif undo:
            self._exchange(st, t2, t3, t1, t4)
        else:
            self._exchange(st, t2, t1, t3, t4)

    def _lk_level(self, st, search, t2, gain, level, tolerance, stats):
        """One level of the move from ``search["t1"]``: scan the candidates of
        t2 for a closing gain, else go deeper through the best ``breadth``."""
        assert self.neighbours is not None
        n, K, t, pos = self.n, self.n_neighbours, st.tour, st.pos
        d, nb = self.distance, self.neighbours
        t1 = search["t1"]
        added, removed, touched = search["added"], search["removed"], search["touched"]
        forward = t[_wrap(pos[t1] + 1, n)] == t2
        options = []
        for r in range(min(K, _LK_MAX_CANDIDATES)):
            t3 = nb[t2 * K + r]
            g1 = gain - d(t2, t3)
            if g1 <= 0:
                break
            if t3 == t1 or t3 == t2:
                continue
            t4 = t[_wrap(pos[t3] - 1, n)] if forward else t[_wrap(pos[t3] + 1, n)]
            if t4 == t2:
                continue
            if _has_edge(added[: 2 * level], t3, t4) or _has_edge(
                removed[: 2 * level + 2], t2, t3
            ):
                continue
            stats[1] += 1
            g2 = g1 + d(t3, t4)
            closed = g2 - d(t4, t1)
            if closed > tolerance:
                self._lk_exchange(st, t1, t2, t3, t4, forward, False)
                self._activate(st, t1)
                for city in touched[: 3 * level]:
                    self._activate(st, city)
                for city in (t2, t3, t4):
                    self._activate(st, city)
                stats[0] -= closed
                stats[2] += 1
                return True
            length = (pos[t4] - pos[t2]) if forward else (pos[t3] - pos[t1])
            length = (length + n) % n + 1
            if min(length, n - length) > self.lk_max_flip:
                continue
            options.append((g2, t3, t4))
        if level + 1 >= self.lk_depth:
            return False
        breadth = self.lk_breadth[level] if level < len(self.lk_breadth) else 1
        options.sort(key=lambda option: -option[0])  # stable: candidate order on ties
        for g2, t3, t4 in options[:breadth]:
            self._lk_exchange(st, t1, t2, t3, t4, forward, False)
            added[2 * level : 2 * level + 2] = [t2, t3]
            removed[2 * level + 2 : 2 * level + 4] = [t3, t4]
            touched[3 * level : 3 * level + 3] = [t2, t3, t4]
            if self._lk_level(st, search, t4, g2, level + 1, tolerance, stats):
                return True
            self._lk_exchange(st, t1, t2, t3, t4, forward, True)
        return False

    def _lk_alternate_exchange(self, st, t1, t2, t3, t4, t5, t6, after, undo):
        x = self._exchange
        if after:
            if undo:
                x(st, t3, t2, t5, t4)
                x(st, t1, t6, t3, t5)
                x(st, t1, t3, t2, t4)
            else:
                x(st, t1, t2, t3, t4)
                x(st, t1, t3, t6, t5)
                x(st, t3, t5, t2, t4)
        elif undo:
            x(st, t2, t3, t5, t4)
            x(st, t1, t6, t2, t5)
        else:
            x(st, t1, t2, t6, t5)
            x(st, t2, t5, t3, t4)

    def _lk_alternate(self, st, search, t2, gain, tolerance, stats):
        """The alternate first step (mirror of ``_lk_alternate``): t4 the other
        tour neighbour of t3, t5 a candidate of t4 on the cycle t2 .. t3, t6
        either neighbour of t5 (a sequential 3-opt move), then deeper."""
        assert self.neighbours is not None
        n, K, t, pos = self.n, self.n_neighbours, st.tour, st.pos
        d, nb = self.distance, self.neighbours
        t1 = search["t1"]
        forward = t[_wrap(pos[t1] + 1, n)] == t2
        cap = min(self.lk_breadth[0] if self.lk_breadth else 1, _LK_MAX_CANDIDATES)
        options = []
        for r in range(min(K, _LK_MAX_CANDIDATES)):
            t3 = nb[t2 * K + r]
            g1 = gain - d(t2, t3)
            if g1 <= 0:
                break
            if t3 == t1 or t3 == t2:
                continue
            t4 = t[_wrap(pos[t3] + 1, n)] if forward else t[_wrap(pos[t3] - 1, n)]
            follows = t[_wrap(pos[t2] + 1, n)] if forward else t[_wrap(pos[t2] - 1, n)]
            if t4 == t1 or t3 == follows:
                continue
            g2 = g1 + d(t3, t4)
            span = _wrap(pos[t3] - pos[t2] if forward else pos[t2] - pos[t3], n) + 1
            for r5 in range(min(K, _LK_MAX_CANDIDATES)):
                t5 = nb[t4 * K + r5]
                g3 = g2 - d(t4, t5)
                if g3 <= 0:
                    break
                if t5 == t3:
                    continue
                offset = _wrap(pos[t5] - pos[t2] if forward else pos[t2] - pos[t5], n)
                if offset >= span:
                    continue
                for side6 in range(2):
                    after = side6 == 0
                    step = 1 if after == forward else -1
                    t6 = t[_wrap(pos[t5] + step, n)]
                    if not after and (t5 == t2 or t6 == t2):
                        continue
                    stats[1] += 1
                    g4 = g3 + d(t5, t6)
                    if not g4 > 0:
                        continue
                    closed = g4 - d(t6, t1)
                    if closed > tolerance:
                        self._lk_alternate_exchange(
                            st, t1, t2, t3, t4, t5, t6, after, False
                        )
                        for city in (t1, t2, t3, t4, t5, t6):
                            self._activate(st, city)
                        stats[0] -= closed
                        stats[2] += 1
                        return True
                    lengths: tuple[int, ...] = (
                        (span, span - 1 - offset, offset + 1)
                        if after
                        else (offset, span - offset)
                    )
                    if max(min(x, n - x) for x in lengths) > self.lk_max_flip:
                        continue
                    options.append((g4, t3, t4, t5, t6, after))
        if self.lk_depth < 3:
            return False
        options.sort(key=lambda option: -option[0])  # stable: scan order on ties
        for g4, t3, t4, t5, t6, after in options[:cap]:
            self._lk_alternate_exchange(st, t1, t2, t3, t4, t5, t6, after, False)
            search["added"][0:4] = [t2, t3, t4, t5]
            search["removed"][2:6] = [t3, t4, t5, t6]
            search["touched"][0:6] = [t2, t3, t4, t5, t6, t6]
            if self._lk_level(st, search, t6, g4, 2, tolerance, stats):
                return True
            self._lk_alternate_exchange(st, t1, t2, t3, t4, t5, t6, after, True)
        return False

    def _lk_move(self, st, a, tolerance, stats):
        depth = self.lk_depth
        search = {
            "t1": a,
            "added": [0] * (2 * depth),
            "removed": [0] * (2 * depth + 2),
            "touched": [0] * (3 * depth),
        }
        for direction in range(2):
            pa = st.pos[a]
            t2 = (
                st.tour[_wrap(pa + 1, self.n)]
                if direction == 0
                else st.tour[_wrap(pa - 1, self.n)]
            )
            search["removed"][0:2] = [a, t2]
            if self._lk_level(
                st, search, t2, self.distance(a, t2), 0, tolerance, stats
            ):
                return True
            if (
                self.lk_alternate
                and depth >= 2
                and self._lk_alternate(
                    st, search, t2, self.distance(a, t2), tolerance, stats
                )
            ):
                return True
        return False

    def _descend(self, st, tolerance, max_moves, max_evaluations):
        """Mirror of tsp_descend: (done, delta, evaluations, moves)."""
        stats = [0.0, 0, 0]
        while st.count > 0:
            if stats[2] >= max_moves or stats[1] >= max_evaluations:
                return 0, stats[0], stats[1], stats[2]
            a = st.queue[st.head]
            st.head = _wrap(st.head + 1, self.n)
            st.count -= 1
            st.active[a] = False
            self._improve_city(st, a, tolerance, stats)
        st.head = 0
        return 1, stats[0], stats[1], stats[2]

    # -- iterated local search -----------------------------------------------

    def kick(self, st, rng, strength):
        """Mirror of tsp_kick (segment-local double bridges)."""
        n, t, d = self.n, st.tour, self.distance
        if n < 8:
            return 0.0
        limit = min(self.kick_length, (n - 2) // 3)
        total = 0.0
        for _ in range(strength):
            p0 = rng.below(n)
            l1 = 1 + rng.below(limit)
            l2 = 1 + rng.below(limit)
            l3 = 1 + rng.below(limit)
            a, b = t[p0], t[(p0 + 1) % n]
            c, dd = t[(p0 + l1) % n], t[(p0 + l1 + 1) % n]
            e, f = t[(p0 + l1 + l2) % n], t[(p0 + l1 + l2 + 1) % n]
            g, h = t[(p0 + l1 + l2 + l3) % n], t[(p0 + l1 + l2 + l3 + 1) % n]
            fixed = self.fixed_sum
            if fixed >= 0 and fixed in (a + b, c + dd, e + f, g + h):
                continue
            delta = (
                d(a, f)
                + d(g, dd)
                + d(e, b)
                + d(c, h)
                - d(a, b)
                - d(c, dd)
                - d(e, f)
                - d(g, h)
            )
            self._exchange(st, a, b, g, h)
            self._exchange(st, a, g, f, e)
            self._exchange(st, g, e, dd, c)
            self._exchange(st, e, c, b, h)
            for city in (a, b, c, dd, e, f, g, h):
                self._activate(st, city)
            total += delta
        return total

    def segment_search(self, tour, rng, n_kicks, tolerance, queued=None):
        """Mirror of tsp_segment_search without a deadline: ILS on a segment
        (fixed_ends) from ``tour``, its first descent from the cities with
        ``queued[city]`` set (None: all); returns the tour and (kicks,
        accepted, evaluations, moves, delta)."""
        st = TourState(tour)
        if queued is not None:
            st.queue = [city for city in st.tour if queued[city]]
            st.count = len(st.queue)
            st.queue += [0] * (self.n - st.count)
            st.active = [bool(flag) for flag in queued]
        cost = 0.0
        evaluations = moves = kicks = accepted = 0

        def descend_to_local_optimum() -> None:
            # The kernel descends in clock-checked slices until one finishes.
            nonlocal cost, evaluations, moves
            done = False
            while not done:
                done, delta, ev, mv = self._descend(
                    st, tolerance, _INT64_MAX, _SEGMENT_CLOCK_EVERY
                )
                cost += delta
                evaluations += ev
                moves += mv

        descend_to_local_optimum()
        for _ in range(n_kicks):
            before = cost
            self.checkpoint(st)
            cost += self.kick(st, rng, 1)
            descend_to_local_optimum()
            kicks += 1
            evaluations += 1
            moves += 1
            if cost <= before - tolerance:
                accepted += 1
            else:
                self.rollback(st)
                cost = before
        return st.tour, (kicks, accepted, evaluations, moves, cost)

    def checkpoint(self, st):
        st.log = []
        st.recording = 1

    def rollback(self, st):
        if st.recording == 1:
            for a, b in reversed(st.log):
                self._redo(st, a, b)
        st.log = []
        st.recording = 0
        self._clear_queue(st)


def _as_coords(coords: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``coords`` as a finite float64 ``(n, 2)`` array."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("coords must be finite")
    return coords


def _as_node_index(
    index: npt.ArrayLike, n_nodes: int, name: str
) -> npt.NDArray[np.integer[Any]]:
    """``index`` as an integer array of nodes in ``0..n_nodes-1``."""
    index = np.asarray(index)
    if index.size == 0:
        index = index.astype(np.intp)  # np.asarray([]) is float64
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {index.dtype}")
    if index.size and (index.min() < 0 or index.max() >= n_nodes):
        raise ValueError(
            f"{name} holds nodes outside 0..{n_nodes - 1}: min {index.min()}, "
            f"max {index.max()}"
        )
    return index


def _check_kind(kind: str) -> str:
    """The distance kind, checked."""
    if kind not in _DISTANCE_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(_DISTANCE_KINDS)}, got {kind!r}"
        )
    return kind


def geo_radians(ddd_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """TSPLIB95's DDD.MM (degrees.minutes) to radians, degrees truncated toward
    zero (the published optima need the truncation)."""
    degrees = np.trunc(ddd_mm)
    minutes = ddd_mm - degrees
    return GEO_PI * (degrees + 5.0 * minutes / 3.0) / 180.0


def tsplib_distances(
    coords: npt.ArrayLike, i: npt.ArrayLike, j: npt.ArrayLike, kind: str
) -> npt.NDArray[np.float64]:
    """TSPLIB95 distances between nodes ``i`` and ``j`` (NumPy reference).

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        Node coordinates (``x, y``; for ``GEO`` latitude, longitude as DDD.MM).
    i, j : array_like of int
        0-based nodes, broadcast against each other.
    kind : {"EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN"}
        The TSPLIB95 distance function, or ``"EUCLIDEAN"`` for the plain
        unrounded Euclidean distance.

    Returns
    -------
    distances : ndarray of float64
        Shape of ``broadcast(i, j)``; integer-valued for the TSPLIB95 kinds.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, ``coords`` is not a finite ``(n, 2)`` array, a
        node is outside ``0..n-1`` (negative nodes do not wrap around), or ``i``
        and ``j`` do not broadcast.
    TypeError
        If ``i`` or ``j`` are not integers.

    Notes
    -----
    With ``xd = x[i] - x[j]``, ``yd = y[i] - y[j]`` and
    ``nint(v) = (int)(v + 0.5)`` (TSPLIB95's C code):

    * ``EUC_2D``: ``nint(sqrt(xd*xd + yd*yd))``.
    * ``CEIL_2D``: ``ceil(sqrt(xd*xd + yd*yd))``.
    * ``ATT``: ``r = sqrt((xd*xd + yd*yd) / 10.0)``, ``t = nint(r)``, then
      ``t + 1`` if ``t < r`` else ``t``.
    * ``GEO``: each DDD.MM value ``v`` becomes
      ``PI * (deg + 5.0 * (v - deg) / 3.0) / 180.0`` with ``deg = (int) v``
      (truncated: the published optima need it, though TSPLIB95's text says
      nint) and ``PI = GEO_PI = 3.141592``; then ``q1 = cos(lon_i - lon_j)``,
      ``q2 = cos(lat_i - lat_j)``, ``q3 = cos(lat_i + lat_j)`` and the distance
      is ``(int)(RRR * acos(0.5*((1+q1)*q2 - (1-q1)*q3)) + 1.0)`` with
      ``RRR = GEO_EARTH_RADIUS = 6378.388``. The acos argument is clipped to
      [-1, 1] (a no-op in IEEE arithmetic, kept by every implementation). As in
      TSPLIB95, a node is at distance 1, not 0, from itself under ``GEO``.

    The sums ``xd*xd + yd*yd`` are rounded after each operation (NumPy never
    fuses them into a fused multiply-add); a compiled kernel that lets the
    compiler contract them can round a distance that lies on a .5 boundary the
    other way. ``cos`` and ``acos`` are the C library's, as in the compiled
    kernels, so every distance has their bits.

    Examples
    --------
    >>> coords = [[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]]
    >>> tsplib_distances(coords, 0, [1, 2], "EUC_2D")
    array([5., 1.])
    >>> tsplib_distances(coords, 0, [1, 2], "CEIL_2D")
    array([5., 2.])
    """
    kind = _check_kind(kind)
    coords = _as_coords(coords)
    n_nodes = coords.shape[0]
    i = _as_node_index(i, n_nodes, "i")
    j = _as_node_index(j, n_nodes, "j")
    # Indexing with 0-d arrays gives NumPy scalars: always hand back an array.
    return np.asarray(_distances(coords, i, j, kind), dtype=np.float64)


def _distances(
    coords: npt.NDArray[np.float64],
    i: npt.NDArray[np.integer[Any]],
    j: npt.NDArray[np.integer[Any]],
    kind: str,
) -> npt.NDArray[np.float64]:
    """The body of :func:`tsplib_distances`, on checked arguments."""
    x, y = coords[:, 0], coords[:, 1]
    if kind == "GEO":
        x, y = geo_radians(x), geo_radians(y)
    return _ARRAY_FORMULAS[kind](x[i], y[i], x[j], y[j])


def tour_length_reference(
    tour: npt.ArrayLike,
    coords: npt.ArrayLike | None = None,
    matrix: npt.ArrayLike | None = None,
    kind: str = "EUCLIDEAN",
) -> float:
    """Length of the closed tour ``tour`` (NumPy reference).

    Parameters
    ----------
    tour : array_like of int, shape (n,)
        A permutation of the 0-based nodes ``0..n-1``; ``tour[-1]`` connects
        back to ``tour[0]``.
    coords : array_like, shape (n, 2), optional
        Node coordinates, measured with ``kind``.
    matrix : array_like, shape (n, n), optional
        Distance matrix; ``matrix[a, b]`` is the length of the step from ``a``
        to ``b``. Exactly one of ``coords`` and ``matrix`` must be given.
    kind : {"EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO", "EXPLICIT"}
        Distance function of ``coords`` (see :func:`tsplib_distances`). With
        ``matrix`` it must be left at ``"EUCLIDEAN"`` or be ``"EXPLICIT"``.

    Returns
    -------
    length : float
        The sum of the ``n`` step lengths, correctly rounded (``math.fsum``);
        0.0 for ``n <= 1``, a tour without steps.

    Raises
    ------
    ValueError
        If both or neither of ``coords`` and ``matrix`` are given, ``kind`` does
        not fit, the shapes are wrong, or ``tour`` is not a permutation of
        ``0..n-1``.
    TypeError
        If ``tour`` does not hold integers.

    Examples
    --------
    >>> tour_length_reference([0, 1, 2], coords=[[0, 0], [3, 0], [3, 4]])
    12.0
    """
    if (coords is None) == (matrix is None):
        raise ValueError("give exactly one of coords and matrix")
    if matrix is not None:
        if kind not in ("EUCLIDEAN", "EXPLICIT"):
            raise ValueError(
                f"kind {kind!r} describes coordinates; with a matrix use "
                "kind='EXPLICIT' (or leave the default)"
            )
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square (n, n), got {matrix.shape}")
        n_nodes = matrix.shape[0]
    else:
        assert coords is not None  # exactly one of coords and matrix
        kind = _check_kind(kind)
        coords = _as_coords(coords)
        n_nodes = coords.shape[0]
    tour = _as_node_index(tour, n_nodes, "tour")
    if tour.ndim != 1 or tour.shape[0] != n_nodes:
        raise ValueError(
            f"tour must have shape ({n_nodes},) to visit every node, got {tour.shape}"
        )
    visits = np.bincount(tour, minlength=n_nodes)
    if (visits != 1).any():
        node = int(np.flatnonzero(visits != 1)[0])
        problem = "is missing" if visits[node] == 0 else "is visited twice"
        raise ValueError(
            f"tour is not a permutation of 0..{n_nodes - 1}: {node} {problem}"
        )
    if n_nodes <= 1:
        return 0.0
    successors = np.roll(tour, -1)
    if matrix is not None:
        steps = matrix[tour, successors]
    else:
        assert coords is not None
        steps = tsplib_distances(coords, tour, successors, kind)
    return math.fsum(steps.tolist())
