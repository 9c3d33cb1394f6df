"""The symmetric travelling salesman problem: validation, TSPLIB input, conversions.

``TSP`` validates its input and holds the two implementations of its moves: the
compiled core (``_core.pxd``/``_core.pyx``) that every method runs without the
GIL, and the Python mirror (``_reference.py``) the tests compare it with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..base import EXACT_LIMIT, SearchSpec
from ._core import METRICS, MOVE_KINDS, TSPCore
from ._reference import TSPReference, geo_radians
from .tsplib import read_tsplib, read_tsplib_tour

__all__ = ["TSP"]

#: Tour lengths (sums of n distances) stay finite below this, and squared
#: coordinate differences need spans below _MAX_SPAN.
_MAX_LENGTH = 1e300
_MAX_SPAN = 1e150


class TSP:
    """Symmetric travelling salesman problem.

    Parameters
    ----------
    coords : array_like, shape (n, 2), optional
        City coordinates; distances are computed on the fly (no n×n matrix).
    distances : array_like, shape (n, n), optional
        Symmetric matrix of finite, non-negative distances (float or int).
        Give exactly one of ``coords`` and ``distances``.
    metric : {"EUCLIDEAN", "EUC_2D", "CEIL_2D", "ATT", "GEO"}, default "EUCLIDEAN"
        For ``coords``: plain float Euclidean, or a TSPLIB rule (integer
        distances: ``EUC_2D`` rounds, ``CEIL_2D`` rounds up, ``ATT`` is the
        pseudo-Euclidean rule, ``GEO`` takes DDD.MM latitude/longitude).
    moves : sequence of {"2opt", "swap", "oropt"}, default ("2opt", "oropt")
        Neighbourhood: 2-opt (reverse a segment), swap (exchange two cities),
        or-opt (move a segment of 1–3 cities elsewhere). Annealing draws a kind
        at random with ``move_weights``; hill climbing enumerates them all.
    move_weights : sequence of float, optional
        Relative probabilities of the kinds (default equal).
    name : str, optional
    optimum : float, optional
        Known optimal length (reported as a gap by the command line).

    Notes
    -----
    States are ``int32`` permutations of ``range(n)``; the cost is the closed
    tour length. Every move's delta is O(1).
    """

    def __init__(
        self,
        coords=None,
        *,
        distances=None,
        metric=None,
        moves=("2opt", "oropt"),
        move_weights=None,
        name=None,
        optimum=None,
    ):
        if (coords is None) == (distances is None):
            raise ValueError("give exactly one of coords and distances")
        self.name = name
        self.optimum = None if optimum is None else float(optimum)
        self.moves = _check_moves(moves)
        weights = (
            np.ones(len(self.moves))
            if move_weights is None
            else np.asarray(move_weights, dtype=np.float64)
        )
        if (
            weights.shape != (len(self.moves),)
            or not np.all(np.isfinite(weights))
            or np.any(weights <= 0)
        ):
            raise ValueError(
                f"move_weights must be {len(self.moves)} positive finite numbers, "
                f"got {move_weights!r}"
            )
        self.move_weights = weights / weights.sum()
        matrix = x = y = None
        if distances is not None:
            if metric not in (None, "MATRIX"):
                raise ValueError("metric applies to coords, not to a distance matrix")
            self.metric = "MATRIX"
            matrix = _check_distance_matrix(distances)
            self.n = matrix.shape[0]
            exact = bool(
                np.all(matrix == np.round(matrix))
                and (matrix.size == 0 or matrix.max() * max(self.n, 1) < EXACT_LIMIT)
            )
            self.coords = None
        else:
            self.metric = "EUCLIDEAN" if metric is None else str(metric).upper()
            if self.metric not in METRICS or self.metric == "MATRIX":
                raise ValueError(
                    f"metric must be one of EUCLIDEAN, EUC_2D, CEIL_2D, ATT, GEO; "
                    f"got {metric!r}"
                )
            self.coords = _check_coords(coords)
            self.n = self.coords.shape[0]
            if self.metric == "GEO":
                x, y = geo_radians(self.coords[:, 0]), geo_radians(self.coords[:, 1])
            else:
                x, y = self.coords[:, 0].copy(), self.coords[:, 1].copy()
            exact = self.metric != "EUCLIDEAN"
        self.distances = matrix
        self.exact_costs = exact
        cdf = np.cumsum(self.move_weights)
        self._core = TSPCore(
            self.n,
            self.metric,
            matrix,
            x,
            y,
            list(self.moves),
            self.move_weights,
            exact,
        )
        self._reference = TSPReference(
            self.n, self.metric, matrix, x, y, self.moves, cdf
        )

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        return f"<TSP{label}: {self.n} cities, {self.metric}, moves={self.moves}>"

    @classmethod
    def from_tsplib(cls, path, **kwargs):
        """Read a TSPLIB ``.tsp`` file (NODE_COORD or EXPLICIT weights).

        Keyword arguments go to the constructor (``moves``, ``move_weights``,
        ``optimum``). A ``<name>.opt.tour`` beside the file sets ``optimum``.

        Raises
        ------
        ValueError
            Malformed or unsupported file, naming the line.
        """
        instance = read_tsplib(path)
        kwargs.setdefault("name", instance.name)
        if instance.matrix is not None:
            problem = cls(distances=instance.matrix, **kwargs)
        else:
            problem = cls(instance.coords, metric=instance.edge_weight_type, **kwargs)
        if problem.optimum is None:
            tour_path = Path(path).with_suffix(".opt.tour")
            if tour_path.is_file():
                tour = read_tsplib_tour(tour_path, dimension=problem.n)
                problem.optimum = float(problem.tour_length(tour))
        return problem

    @staticmethod
    def read_tour(path, dimension=None):
        """Read a TSPLIB ``.tour`` / ``.opt.tour`` file as a 0-based permutation."""
        return read_tsplib_tour(path, dimension=dimension)

    def _check_tours(self, tours, name="tour"):
        tours = np.asarray(tours)
        if tours.dtype.kind not in "iu":
            raise TypeError(
                f"{name} must hold integers (city indices), got {tours.dtype}"
            )
        rows = np.atleast_2d(tours)
        if rows.ndim != 2 or rows.shape[1] != self.n:
            raise ValueError(
                f"{name} must have {self.n} cities, got shape {tours.shape}"
            )
        expected = np.arange(self.n)
        for r, row in enumerate(rows):
            if not np.array_equal(np.sort(row), expected):
                raise ValueError(
                    f"{name}{'' if rows.shape[0] == 1 else f' {r}'} is not a "
                    f"permutation "
                    f"of 0..{self.n - 1}"
                )
        return rows.astype(np.int32)

    def tour_length(self, tour):
        """Closed length of ``tour`` (a permutation of ``range(n)``), or of each row."""
        rows = self._check_tours(tour)
        lengths = self._core.tour_lengths(rows)
        return lengths if np.ndim(tour) == 2 else float(lengths[0])

    def distance(self, a, b):
        """Distance between cities ``a`` and ``b``."""
        return self._core.distance(a, b)

    def objective(self, cost):
        """Tour length (the cost itself)."""
        return cost

    def _search_spec(self):
        return SearchSpec(
            core=self._core,
            ops=self._reference,
            exact=self.exact_costs,
            objective=self.objective,
            to_internal=lambda states: self._check_tours(states, "initial state"),
            from_internal=lambda tours: np.array(tours, dtype=np.int32),
            size=self.n,
            name="TSP",
            attributes_per_move=4,  # the cities a move reconnects
            large_neighbourhood=True,  # ~4 n^2 moves: sample instead of enumerating
        )


def _check_moves(moves):
    if isinstance(moves, str):
        moves = (moves,)
    moves = tuple(str(m).lower().replace("-", "") for m in moves)
    if (
        not moves
        or any(m not in MOVE_KINDS for m in moves)
        or len(set(moves)) != len(moves)
    ):
        raise ValueError(
            f"moves must be distinct kinds among {sorted(MOVE_KINDS)}, got {moves!r}"
        )
    return moves


def _check_coords(coords):
    coords = np.asarray(coords)
    if coords.dtype.kind not in "iuf":
        raise TypeError(f"coords must be numeric, got dtype {coords.dtype}")
    coords = coords.astype(np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if coords.shape[0] == 0:
        raise ValueError("a TSP needs at least one city")
    bad = np.argwhere(~np.isfinite(coords))
    if bad.size:
        raise ValueError(f"coords[{bad[0][0]}] is not finite: {coords[bad[0][0]]}")
    with np.errstate(over="ignore"):
        span = float(np.hypot(*(coords.max(axis=0) - coords.min(axis=0))))
    if not (span <= _MAX_SPAN and span * coords.shape[0] <= _MAX_LENGTH):
        raise ValueError(
            f"the cities span {span:.3g} (bounding-box diagonal): with "
            f"{coords.shape[0]} cities distances or tour lengths could overflow "
            f"float64 (the span must stay below {_MAX_SPAN:.0e} and span x cities "
            f"below {_MAX_LENGTH:.0e}); rescale the coordinates"
        )
    return coords


def _check_distance_matrix(distances):
    if sp.issparse(distances):
        distances = distances.toarray()
    matrix = np.asarray(distances)
    if matrix.dtype.kind not in "iuf":
        raise TypeError(f"distances must be numeric, got dtype {matrix.dtype}")
    matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"distances must be a square matrix, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError("a TSP needs at least one city")
    bad = np.argwhere(~np.isfinite(matrix))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"distances[{i}, {j}] is not finite ({matrix[i, j]})")
    if matrix.size and not float(matrix.max()) * matrix.shape[0] <= _MAX_LENGTH:
        raise ValueError(
            f"the largest distance, {float(matrix.max()):.3g}, times {matrix.shape[0]} "
            f"cities exceeds {_MAX_LENGTH:.0e}: tour lengths could overflow float64"
        )
    bad = np.argwhere(matrix < 0)
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"distances[{i}, {j}] is negative ({matrix[i, j]})")
    bad = np.argwhere(matrix != matrix.T)
    if bad.size:
        i, j = bad[0]
        raise ValueError(
            f"distances is not symmetric: [{i}, {j}] = {matrix[i, j]} but "
            f"[{j}, {i}] = {matrix[j, i]}"
        )
    return np.ascontiguousarray(matrix)
