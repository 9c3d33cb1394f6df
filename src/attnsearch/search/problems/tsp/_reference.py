"""Python and NumPy references of the TSP core (``_core.pxd``).

* ``TSPReference`` mirrors the compiled operations line by line, draws included
  (moves are tuples ``(kind, i, j, k)``); the engine reference runs every method
  over it and the tests compare trajectories.
* ``tsplib_distances`` and ``tour_length_reference`` are the vectorised NumPy
  reference of the TSPLIB95 distance functions, the oracle of the compiled tour
  kernels' tests. They follow TSPLIB95's C code operation by operation
  (``nint(v) = (int)(v + 0.5)``, GEO with truncated degrees, ``PI = 3.141592``
  and ``RRR = 6378.388``) because the published optima depend on its rounding.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "GEO_EARTH_RADIUS",
    "GEO_PI",
    "TSPReference",
    "geo_radians",
    "tour_length_reference",
    "tsplib_distances",
]

#: TSPLIB95's value of pi in the GEO distance (its C code, not ``math.pi``).
GEO_PI = 3.141592
#: TSPLIB95's earth radius in km in the GEO distance.
GEO_EARTH_RADIUS = 6378.388

_DISTANCE_KINDS = ("EUC_2D", "CEIL_2D", "ATT", "GEO", "EUCLIDEAN")


_KIND_2OPT, _KIND_SWAP, _KIND_OROPT = 0, 1, 2
_KIND_CODES = {"2opt": _KIND_2OPT, "swap": _KIND_SWAP, "oropt": _KIND_OROPT}


class TSPReference:
    """TSP operations over int32 tour arrays; mirrors _core.pxd.

    Moves are tuples ``(kind, i, j, k)``.
    """

    def __init__(self, n, metric, matrix, x, y, kinds, cdf):
        self.n = int(n)
        self.n_tabu_keys = self.n  # tabu attributes: cities
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


def _as_coords(coords):
    """``coords`` as a finite float64 ``(n, 2)`` array."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if not np.isfinite(coords).all():
        raise ValueError("coords must be finite")
    return coords


def _as_node_index(index, n_nodes, name):
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


def _check_kind(kind):
    """The distance kind, checked."""
    if kind not in _DISTANCE_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(_DISTANCE_KINDS)}, got {kind!r}"
        )
    return kind


def geo_radians(ddd_mm):
    """TSPLIB95's DDD.MM (degrees.minutes) to radians, degrees truncated toward
    zero (the published optima need the truncation)."""
    degrees = np.trunc(ddd_mm)
    minutes = ddd_mm - degrees
    return GEO_PI * (degrees + 5.0 * minutes / 3.0) / 180.0


def tsplib_distances(coords, i, j, kind):
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
      nint) and ``PI = 3.141592``; then ``q1 = cos(lon_i - lon_j)``,
      ``q2 = cos(lat_i - lat_j)``, ``q3 = cos(lat_i + lat_j)`` and the distance
      is ``(int)(6378.388 * acos(0.5*((1+q1)*q2 - (1-q1)*q3)) + 1.0)``. The
      acos argument is clipped to [-1, 1] against rounding. As in TSPLIB95, a
      node is at distance 1, not 0, from itself under ``GEO``.

    The sums ``xd*xd + yd*yd`` are rounded after each operation (NumPy never
    fuses them into a fused multiply-add); a compiled kernel that lets the
    compiler contract them can round a distance that lies on a .5 boundary the
    other way.

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


def _distances(coords, i, j, kind):
    """The body of :func:`tsplib_distances`, on checked arguments."""
    if kind == "GEO":
        latitude = geo_radians(coords[:, 0])
        longitude = geo_radians(coords[:, 1])
        q1 = np.cos(longitude[i] - longitude[j])
        q2 = np.cos(latitude[i] - latitude[j])
        q3 = np.cos(latitude[i] + latitude[j])
        cosine = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        return np.trunc(GEO_EARTH_RADIUS * np.arccos(cosine) + 1.0)
    dx = coords[i, 0] - coords[j, 0]
    dy = coords[i, 1] - coords[j, 1]
    squared = dx * dx + dy * dy
    if kind == "EUCLIDEAN":
        return np.sqrt(squared)
    if kind == "EUC_2D":
        # (int)(v + 0.5) equals floor(v + 0.5) because v >= 0.
        return np.floor(np.sqrt(squared) + 0.5)
    if kind == "CEIL_2D":
        return np.ceil(np.sqrt(squared))
    pseudo = np.sqrt(squared / 10.0)  # ATT
    rounded = np.floor(pseudo + 0.5)
    return np.where(rounded < pseudo, rounded + 1.0, rounded)


def tour_length_reference(tour, coords=None, matrix=None, kind="EUCLIDEAN"):
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
        steps = tsplib_distances(coords, tour, successors, kind)
    return math.fsum(steps.tolist())
