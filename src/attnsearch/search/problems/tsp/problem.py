"""The symmetric travelling salesman problem: validation, TSPLIB input, conversions.

``TSP`` validates its input and holds the two implementations of its moves: the
compiled core (``_core.pxd``/``_core.pyx``) that every method runs without the
GIL, and the Python mirror (``_reference.py``) the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ..._typing import StrPath
from ..._validation import check_bool, check_int
from ..base import EXACT_LIMIT, SearchSpec
from ._core import (
    LK_ALTERNATE,
    LK_BREADTH,
    LK_DEPTH,
    LK_MAX_FLIP,
    METRICS,
    MOVE_KINDS,
    TSPCore,
)
from ._reference import TSPReference, geo_radians
from .candidates import candidate_lists, crowded, distinct_sites, kd_points
from .construction import greedy_tour, hilbert_tour
from .tsplib import read_tsplib, read_tsplib_tour

__all__ = ["TSP"]

#: Tour lengths (sums of n distances) stay finite below this, and squared
#: coordinate differences need spans below _MAX_SPAN.
_MAX_LENGTH = 1e300
_MAX_SPAN = 1e150
#: Candidates per city by default (see the ``n_candidates`` parameter): 8 gave the
#: shortest tours of 8 and 6/7/9/10/12 in iterated local search on pr2392 (10 s,
#: 3 seeds; see ARCHITECTURE.md), and is the usual neighbour-list size.
DEFAULT_CANDIDATES = 8
#: With alpha lists: 6 candidates and kicks of up to 100 cities (pr2392 10 s:
#: 0.29 % against 0.41 % for 8 and 50; rl5915 30 s: 0.28 % against 0.29 %).
ALPHA_CANDIDATES = 6
ALPHA_KICK = 100
#: Longest kick segment with nearest lists (pr2392: 0.21 % against 0.47 % for 30
#: and 0.29 % for 100).
DEFAULT_KICK = 50
#: ... and from LARGE_KICK_CITIES cities (nearest lists, partitioned): uniform
#: 200 000 cities, 120 s, 2 threads, seeds 0-2: 0.532/0.527/0.541 % above BHH
#: against 0.560/0.555/0.575 % for 50 (bench/README.md).
LARGE_KICK = 100
#: From this many cities: kicks of LARGE_KICK with nearest lists (above), and
#: the Lin-Kernighan step without its alternate first step (``lk_alternate``):
#: 200 000 cities, 120 s, seeds 0 / 1: 0.552 / 0.544 % with it, 0.538 / 0.536 %
#: without (its kicks cost ~20 % more; bench/README.md).
LARGE_KICK_CITIES = 50_000
#: Nearest neighbours whose edges the greedy construction scans (at least).
GREEDY_CANDIDATES = 10
#: Moves with candidate lists (3-opt and lk need them), and without. With the
#: Lin-Kernighan step ILS ended at 0.145 % against 0.290 % on brd14051, 0.225 %
#: against 0.281 % on rl5915 and 0.668 % against 0.808 % above BHH on 100 000
#: uniform cities (bench/tsp_lk.py, same budgets and seeds; bench/README.md).
DEFAULT_MOVES = ("2opt", "oropt", "3opt", "lk")
DEFAULT_MOVES_WITHOUT_CANDIDATES = ("2opt", "oropt")
#: ``initial="auto"`` builds a greedy start tour from this many cities on.
AUTO_GREEDY_CITIES = 1000
_CANDIDATE_KINDS = ("auto", "nearest", "quadrant", "alpha")
#: ``candidates="auto"`` computes alpha-nearness for this many cities (below:
#: nearest lists already serve; above: the ascent costs more than it saves).
AUTO_ALPHA_CITIES = (1000, 50_000)
_INITIAL_KINDS = ("auto", "greedy", "spacefill", "random")


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
    moves : sequence of {"2opt", "swap", "oropt", "3opt", "lk"}, optional
        Neighbourhood: 2-opt (reverse a segment), swap (exchange two cities),
        or-opt (move a segment of 1–3 cities elsewhere, either way round),
        3-opt (the sequential 3-opt moves of a depth-3 Lin–Kernighan step:
        segment reversals and exchanges; needs candidate lists), lk (the
        variable-depth Lin–Kernighan step: up to ``lk_depth`` exchanges
        chained by the gain criterion, ``lk_breadth`` alternatives at its
        first levels; a descent step only, tried at a city after the other
        kinds found nothing there; needs candidate lists and another kind).
        Annealing and tabu search draw a kind at random with
        ``move_weights`` (never "lk"); hill climbing and iterated local search
        descend with all of them. Default: ``("2opt", "oropt", "3opt",
        "lk")`` with candidate lists, ``("2opt", "oropt")`` without;
        ``("2opt", "oropt", "3opt")`` is the Or-opt/3-opt descent without
        the Lin–Kernighan step.
    move_weights : sequence of float, optional
        Relative probabilities of the kinds other than "lk" (default equal).
    candidates : {"auto", "nearest", "quadrant", "alpha"}, array_like of int, \
or None, default "auto"
        Candidate neighbour lists: moves are built around each city's
        ``n_candidates`` candidates, O(n k) memory, never n × n. ``"nearest"``:
        the nearest cities, found with a KD-tree on the coordinates (GEO: on
        the unit sphere) or with ``argpartition`` over the rows of a matrix,
        ranked by the exact metric. ``"quadrant"``: up to a quarter of them
        in each quadrant around the city. ``"alpha"``: LKH's alpha-nearness
        (Helsgaun 2000) — the cities whose edge raises a minimum 1-tree the
        least, after a subgradient ascent on node penalties — computed on a
        sparse superset (12 nearest + Delaunay edges), seconds up to ~50 000
        cities; on clustered instances it finds much better tours than
        nearest lists. ``"auto"``: alpha from 1 000 to 50 000 cities, nearest
        otherwise. When three or more cities share a site (a depot and its
        parcels), the lists are built over the distinct sites: each city
        lists its neighbouring twins and the cities of its site's candidate
        sites (``n_sites`` and the ``repr`` give the number of sites; alpha
        over fewer than 5 sites is nearest). Collinear sites, sites on one
        circle and equal sites are all solved with every kind. An ``(n, k)``
        integer array gives the lists directly.
        ``None``: moves between uniformly random positions (the neighbourhood
        is all ~n² pairs), and no descent of its own.
    n_candidates : int, optional
        Candidates per city (default 8; 6 for alpha lists; at most n − 1).
    initial : {"auto", "greedy", "spacefill", "random"} or array_like, default "auto"
        Where chains start when no ``initial_states`` are given: the
        greedy-edge tour (over the candidate edges, fragments joined nearest
        end first), the order of a Hilbert curve, a random permutation per
        chain, or the given tour. ``"auto"``: greedy from 1000 cities on,
        random below. Constructed once, when a method first runs.
    kick_length : int, optional
        Longest of the three segments of the double-bridge kick iterated local
        search applies (segment-local kicks keep each iteration O(k) at any n);
        default 50, 100 with alpha lists and from 50 000 cities.
    lk_depth : int, optional
        Exchanges of one Lin–Kernighan move at most (1..64; default 10).
    lk_breadth : sequence of int, optional
        Alternatives the Lin–Kernighan step tries at each of its first levels
        (at most 8 levels; deeper ones try 1); default (5, 3, 2).
    lk_max_flip : int, optional
        The Lin–Kernighan step goes deeper only through exchanges that reverse
        at most this many cities of the array tour (the move that closes an
        improvement may reverse any number); default 1000.
    lk_alternate : bool, optional
        Whether the Lin–Kernighan step also tries Lin & Kernighan's alternate
        first step when its first level finds nothing: t4 the other tour
        neighbour of t3, repaired into a sequential 3-opt move by t5 (a
        candidate of t4) and t6, then searched deeper like the usual levels.
        Its first two levels and the alternate step then reach both kinds of
        sequential 3-opt move (within their breadth), so the descent leaves
        out its own 3-opt stage, which measured worse alongside ("3opt" still
        gives annealing and tabu their 3-opt moves). Default True below
        50 000 cities, False from there (measured no better on 200 000
        cities in 120 s); False gives the previous descent (3-opt stage, then
        the usual step).
    name : str, optional
    optimum : float, optional
        Known optimal length (reported as a gap by the command line).

    Attributes
    ----------
    n : int
        Number of cities.
    n_sites : int
        Number of distinct sites (coordinates; ``n`` for a matrix).
    candidate_kind : str or None
        The kind of lists built (``"alpha"``, ``"nearest"``, ``"quadrant"``,
        ``"given"``), after ``"auto"`` and the small-instance rule.

    Notes
    -----
    States are ``int32`` permutations of ``range(n)``; the cost is the closed
    tour length. Every move's delta is O(1); applying a 2-opt move reverses
    the shorter side of the tour (an array plus a position index per chain).
    """

    coords: npt.NDArray[np.float64] | None
    distances: npt.NDArray[np.float64] | None

    def __init__(
        self,
        coords: npt.ArrayLike | None = None,
        *,
        distances: npt.ArrayLike | sp.sparray | sp.spmatrix | None = None,
        metric: str | None = None,
        moves: str | Sequence[str] | None = None,
        move_weights: npt.ArrayLike | None = None,
        candidates: str | npt.ArrayLike | None = "auto",
        n_candidates: int | None = None,
        initial: str | npt.ArrayLike = "auto",
        kick_length: int | None = None,
        lk_depth: int | None = None,
        lk_breadth: Sequence[int] | None = None,
        lk_max_flip: int | None = None,
        lk_alternate: bool | None = None,
        name: str | None = None,
        optimum: float | None = None,
    ) -> None:
        if (coords is None) == (distances is None):
            raise ValueError("give exactly one of coords and distances")
        self.name = name
        self.optimum = None if optimum is None else float(optimum)
        if moves is None:
            moves = (
                DEFAULT_MOVES_WITHOUT_CANDIDATES
                if candidates is None
                else DEFAULT_MOVES
            )
        self.moves = _check_moves(moves)
        # "lk" is a descent step: random moves draw among the other kinds.
        random_kinds = [m for m in self.moves if m != "lk"]
        if not random_kinds:
            raise ValueError(
                'moves "lk" is a descent step: give it with at least one other '
                'kind (e.g. moves=("2opt", "oropt", "3opt", "lk"))'
            )
        self.lk_depth, self.lk_breadth = _check_lk(lk_depth, lk_breadth)
        self.lk_max_flip = (
            LK_MAX_FLIP
            if lk_max_flip is None
            else check_int(lk_max_flip, "lk_max_flip")
        )
        self.lk_alternate = (
            None if lk_alternate is None else check_bool(lk_alternate, "lk_alternate")
        )
        weights = (
            np.ones(len(random_kinds))
            if move_weights is None
            else np.asarray(move_weights, dtype=np.float64)
        )
        if (
            weights.shape != (len(random_kinds),)
            or not np.all(np.isfinite(weights))
            or np.any(weights <= 0)
        ):
            raise ValueError(
                f"move_weights must be {len(random_kinds)} positive finite numbers "
                f"(one per kind other than lk), "
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
            # Integer metrics add exactly while a tour's length stays far below
            # 2^53 (GEO distances are at most ~20 000 km).
            span = float(np.hypot(*np.ptp(self.coords, axis=0)))
            exact = self.metric == "GEO" or (
                self.metric != "EUCLIDEAN" and (span + 1.0) * self.n < EXACT_LIMIT
            )
        self.distances = matrix
        self.exact_costs = exact
        kick_length = check_int(kick_length, "kick_length", allow_none=True)
        self.kick_length = DEFAULT_KICK if kick_length is None else kick_length
        self._plane = None if x is None or y is None else np.column_stack((x, y))
        self._points = (
            None if self._plane is None else kd_points(self._plane, self.metric)
        )
        # Coincident cities (a depot and its parcels): candidate lists are built
        # over the distinct sites.
        self._sites = None if self._points is None else distinct_sites(self._points)
        self.n_sites = self.n if self._sites is None else len(self._sites[0])
        if self.lk_alternate is None:
            self.lk_alternate = LK_ALTERNATE and self.n < LARGE_KICK_CITIES
        self._core = TSPCore(
            self.n,
            self.metric,
            matrix,
            x,
            y,
            random_kinds,
            self.move_weights,
            exact,
            kick_length=self.kick_length,
            lk_depth=self.lk_depth if "lk" in self.moves else 0,
            lk_breadth=self.lk_breadth,
            lk_max_flip=self.lk_max_flip,
            lk_alternate=self.lk_alternate,
        )
        self.candidates = None  # (the greedy tour of "alpha" reads it)
        self.candidate_kind = None if candidates is None else "given"
        self.candidates = self._candidate_lists(candidates, n_candidates)
        alpha = self.candidate_kind == "alpha"
        if kick_length is None and (alpha or self.n >= LARGE_KICK_CITIES):
            self.kick_length = ALPHA_KICK if alpha else LARGE_KICK
            self._core.set_kick_length(self.kick_length)
        for kind in ("3opt", "lk"):
            if kind in self.moves and self.candidates is None and self.n > 1:
                raise ValueError(
                    f'moves "{kind}" are built over candidate lists: give candidates'
                )
        self._core.set_neighbours(self.candidates)
        self.initial = self._check_initial(initial)
        # The constructed start tour, built on first use.
        self._start: npt.NDArray[np.int32] | None = None
        self._reference = TSPReference(
            self.n,
            self.metric,
            matrix,
            x,
            y,
            random_kinds,
            np.cumsum(self.move_weights),
            neighbours=self.candidates,
            kick_length=self.kick_length,
            lk_depth=self.lk_depth if "lk" in self.moves else 0,
            lk_breadth=self.lk_breadth,
            lk_max_flip=self.lk_max_flip,
            lk_alternate=self.lk_alternate,
        )

    def _candidate_lists(self, candidates, n_candidates):
        """The (n, k) int32 candidate lists (validated), or None."""
        if candidates is None:
            if n_candidates is not None:
                raise ValueError("n_candidates needs candidates (not None)")
            return None
        if isinstance(candidates, str):
            if candidates not in _CANDIDATE_KINDS:
                raise ValueError(
                    f"candidates must be one of {_CANDIDATE_KINDS}, an (n, k) array "
                    f"or None, got {candidates!r}"
                )
            if candidates == "auto":
                low, high = AUTO_ALPHA_CITIES
                candidates = "alpha" if low <= self.n <= high else "nearest"
            k = n_candidates
            if k is None:
                k = ALPHA_CANDIDATES if candidates == "alpha" else DEFAULT_CANDIDATES
            k = min(check_int(k, "n_candidates"), self.n - 1)
            if k == 0:
                return None
            upper_bound = None
            if candidates == "alpha":
                # Over fewer than 5 cities (or sites, when the lists are built
                # over sites): no 1-tree worth the name, nearest cities instead.
                over = self.n
                if self._sites is not None and crowded(self._sites[1]):
                    over = self.n_sites
                if over < 5:
                    candidates = "nearest"
                else:
                    upper_bound = float(
                        self._core.tour_lengths(self.initial_tour("greedy"))[0]
                    )
            self.candidate_kind = candidates
            return candidate_lists(
                self._core,
                candidates,
                k,
                points=self._points,
                plane=self._plane,
                matrix=self.distances,
                upper_bound=upper_bound,
                sites=self._sites,
            )
        if n_candidates is not None:
            raise ValueError("n_candidates applies to a named kind of candidates")
        lists = np.asarray(candidates)
        if lists.dtype.kind not in "iu":
            raise TypeError(f"candidates must hold integers, got dtype {lists.dtype}")
        if lists.ndim != 2 or lists.shape[0] != self.n or lists.shape[1] < 1:
            raise ValueError(
                f"candidates must have shape ({self.n}, k) with k >= 1, got "
                f"{lists.shape}"
            )
        if lists.min() < 0 or lists.max() >= self.n:
            raise ValueError(f"candidates hold cities outside 0..{self.n - 1}")
        if np.any(lists == np.arange(self.n)[:, None]):
            row = int(np.flatnonzero(np.any(lists == np.arange(self.n)[:, None], 1))[0])
            raise ValueError(f"candidates[{row}] lists city {row} itself")
        # Nearest first: the descent stops scanning a list at the first
        # candidate that cannot gain.
        lengths = self._core.pair_distances(
            np.repeat(np.arange(self.n), lists.shape[1]), lists.ravel()
        ).reshape(lists.shape)
        order = np.argsort(lengths, axis=1, kind="stable")
        return np.ascontiguousarray(np.take_along_axis(lists, order, 1), np.int32)

    def _check_initial(self, initial):
        if isinstance(initial, str):
            if initial not in _INITIAL_KINDS:
                raise ValueError(
                    f"initial must be one of {_INITIAL_KINDS} or a tour, got "
                    f"{initial!r}"
                )
            if initial == "auto":
                initial = "greedy" if self.n >= AUTO_GREEDY_CITIES else "random"
            if initial == "spacefill" and self.distances is not None:
                raise ValueError(
                    'initial="spacefill" needs coordinates, not a distance matrix'
                )
            return initial
        self._given_start = self._check_tours(initial, "initial")[0]
        return "given"

    def initial_tour(self, kind: str = "greedy") -> npt.NDArray[np.int32]:
        """A constructed tour (``"greedy"``, ``"spacefill"``) as an int32 array.

        Raises
        ------
        ValueError
            Unknown kind, or a space-filling curve without coordinates.
        """
        if kind not in ("greedy", "spacefill"):
            raise ValueError(f'kind must be "greedy" or "spacefill", got {kind!r}')
        if kind == "spacefill":
            if self._plane is None:
                raise ValueError('"spacefill" needs coordinates, not a distance matrix')
            return hilbert_tour(self._plane)
        neighbours = self.candidates
        if neighbours is None or neighbours.shape[1] < min(
            GREEDY_CANDIDATES, self.n - 1
        ):
            k = min(GREEDY_CANDIDATES, self.n - 1)
            if k < 1:
                return np.arange(self.n, dtype=np.int32)
            neighbours = candidate_lists(
                self._core,
                "nearest",
                k,
                points=self._points,
                plane=self._plane,
                matrix=self.distances,
                sites=self._sites,
            )
        return greedy_tour(
            self._core, neighbours, points=self._points, matrix=self.distances
        )

    def _ensure_start(self):
        """Build the start tour of ``initial`` once and install it in both cores."""
        if self._start is not None or self.initial == "random":
            return
        if self.initial == "given":
            start = self._given_start
        else:
            start = self.initial_tour(self.initial)
        self._start = np.ascontiguousarray(start, dtype=np.int32)
        self._core.set_start_tour(self._start)
        self._reference.start_tour = [int(c) for c in self._start]

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        k = 0 if self.candidates is None else self.candidates.shape[1]
        sites = f" at {self.n_sites} sites" if self.n_sites < self.n else ""
        return (
            f"<TSP{label}: {self.n} cities{sites}, {self.metric}, "
            f"moves={self.moves}, {k} {self.candidate_kind or 'no'} candidates>"
        )

    @classmethod
    def from_tsplib(cls, path: StrPath, **kwargs: Any) -> TSP:
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
    def read_tour(path: StrPath, dimension: int | None = None) -> npt.NDArray[np.int64]:
        """Read a TSPLIB ``.tour`` / ``.opt.tour`` file as a 0-based permutation."""
        return read_tsplib_tour(path, dimension=dimension)

    def _check_tours(
        self, tours: npt.ArrayLike, name: str = "tour"
    ) -> npt.NDArray[np.int32]:
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

    def tour_length(self, tour: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
        """Closed length of ``tour`` (a permutation of ``range(n)``), or of each row."""
        rows = self._check_tours(tour)
        lengths = self._core.tour_lengths(rows)
        return lengths if np.ndim(tour) == 2 else float(lengths[0])

    def distance(self, a: int, b: int) -> float:
        """Distance between cities ``a`` and ``b``."""
        return self._core.distance(a, b)

    def objective(self, cost: float) -> float:
        """Tour length (the cost itself)."""
        return cost

    def _search_spec(self) -> SearchSpec:
        self._ensure_start()
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
            # ~4 n^2 moves, or ~14 n k over candidates: sample, don't enumerate
            large_neighbourhood=True,
        )


def _check_moves(moves: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(moves, str):
        moves = (moves,)
    moves = tuple(str(m).lower().replace("-", "") for m in moves)
    if (
        not moves
        or any(m not in MOVE_KINDS and m != "lk" for m in moves)
        or len(set(moves)) != len(moves)
    ):
        raise ValueError(
            f"moves must be distinct kinds among {sorted([*MOVE_KINDS, 'lk'])}, "
            f"got {moves!r}"
        )
    return moves


def _check_lk(
    depth: int | None, breadth: Sequence[int] | None
) -> tuple[int, tuple[int, ...]]:
    """The Lin-Kernighan step's depth (1..64) and breadths (<= 8 positive ints)."""
    depth = LK_DEPTH if depth is None else check_int(depth, "lk_depth")
    if not 1 <= depth <= 64:
        raise ValueError(f"lk_depth must be in 1..64, got {depth}")
    if breadth is None:
        return depth, tuple(LK_BREADTH)
    if isinstance(breadth, (str, bytes)) or not isinstance(breadth, Sequence):
        raise TypeError(f"lk_breadth must be a sequence of ints, got {breadth!r}")
    values = tuple(check_int(b, "lk_breadth") for b in breadth)
    if len(values) > 8 or any(b < 1 for b in values):
        raise ValueError(
            f"lk_breadth must be at most 8 positive ints, got {tuple(breadth)!r}"
        )
    return depth, values


def _check_coords(coords: object) -> npt.NDArray[np.float64]:
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


def _check_distance_matrix(distances: object) -> npt.NDArray[np.float64]:
    if sp.issparse(distances):
        distances = cast("sp.sparray | sp.spmatrix", distances).toarray()
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
