"""Problems: TSP, Ising, QUBO, max-cut, and the base class for Python problems.

Built-in problems validate their input here and hold two implementations of
their operations: a compiled core (``_tsp.pyx``, ``_ising.pyx``) that the
methods run in parallel without the GIL, and a Python mirror
(``_reference.py``) that the tests compare it with step by step. Everything is
minimised; each problem also reports its natural objective (tour length, cut
size, energy).
"""

from __future__ import annotations

import copy
import math
import numbers
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from . import _io
from ._ising import IsingCore
from ._reference import IsingReference, TSPReference, UserProblemOps
from ._tsp import METRICS, MOVE_KINDS, TSPCore

__all__ = ["Problem", "TSP", "Ising", "QUBO", "MaxCut"]

_EXACT_LIMIT = 2.0**50  # exact float64 sums of values below this stay exact


class Problem:
    """Base class for problems written in Python.

    Subclass it and implement ``initial``, ``random_move``, ``apply`` and
    ``cost`` (and ``delta`` when it can be computed faster than re-evaluating
    the cost; ``moves`` for hill climbing and tabu search). Every method of
    :mod:`attnsearch.search` then runs on it through the Python reference
    engine, with the same chains, seeding, stopping rules and ``Result``.

    Parameters
    ----------
    maximize : bool, default False
        ``cost`` is an objective to maximise (the engine minimises its negative;
        ``Result.objective`` reports the maximised value).

    Attributes
    ----------
    size : int
        Move attempts per annealing sweep (default 1): set it to the number
        of variables, cities, etc.

    Notes
    -----
    ``rng`` arguments are :class:`attnsearch.search.ChainRNG` streams, one per
    chain (``random()``, ``below(n)``, ``integers(lo, hi)``, ``uniform``,
    ``normal``, ``permutation``): draw from them, never from a global RNG, and
    runs are reproducible from ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.search import Problem, simulated_annealing
    >>> class OneMax(Problem):           # maximise the number of ones
    ...     def __init__(self, n):
    ...         super().__init__(maximize=True)
    ...         self.n = self.size = n
    ...     def initial(self, rng):
    ...         return np.array([rng.below(2) for _ in range(self.n)])
    ...     def random_move(self, state, rng):
    ...         return rng.below(self.n)
    ...     def delta(self, state, i):
    ...         return 1 - 2 * state[i]
    ...     def apply(self, state, i):
    ...         state[i] ^= 1
    ...     def cost(self, state):
    ...         return int(state.sum())
    >>> simulated_annealing(OneMax(20), num_sweeps=50, seed=0).objective
    20.0
    """

    #: Move attempts per annealing sweep: set it to the problem's natural size
    #: (number of variables, cities, ...).
    size = 1

    def __init__(self, maximize=False):
        self.maximize = bool(maximize)

    def initial(self, rng):
        """Return a random initial state."""
        raise NotImplementedError

    def random_move(self, state, rng):
        """Return a random move (any object ``apply`` understands)."""
        raise NotImplementedError

    def apply(self, state, move):
        """Apply ``move``; modify ``state`` in place (return None) or return it."""
        raise NotImplementedError

    def cost(self, state):
        """Cost of ``state`` (the objective when ``maximize=True``)."""
        raise NotImplementedError

    def delta(self, state, move):
        """``cost(after) - cost(before)``; the default applies ``move`` to a copy."""
        after = self.copy_state(state)
        result = self.apply(after, move)
        after = after if result is None else result
        return self.cost(after) - self.cost(state)

    def moves(self, state):
        """All moves of the neighbourhood of ``state`` (hill climbing, tabu)."""
        return None

    def tabu_attributes(self, state, move):
        """Hashable attributes a move changes (for tabu search); default: the move."""
        return (move,)

    def copy_state(self, state):
        """An independent copy of ``state`` (default: ``copy.deepcopy``)."""
        return copy.deepcopy(state)

    def objective(self, cost):
        """The natural objective of a (minimised) cost."""
        return -cost if self.maximize else cost

    # Engine plumbing ------------------------------------------------------------
    def _search_spec(self):
        return _SearchSpec(
            core=None,
            ops=UserProblemOps(self),
            exact=False,
            objective=self.objective,
            to_internal=lambda states: list(states),
            from_internal=lambda state: state,
            size=getattr(self, "size", 1),
            name=type(self).__name__,
            cost_of_objective=(lambda value: -value) if self.maximize else None,
            maximize=self.maximize,
        )


class _SearchSpec:
    """What the method drivers need to know about a problem."""

    def __init__(
        self,
        core,
        ops,
        exact,
        objective,
        to_internal,
        from_internal,
        size,
        name,
        cost_of_objective=None,
        maximize=False,
    ):
        self.core = core
        self.ops = ops
        self.exact = exact
        self.objective = objective
        self.to_internal = to_internal
        self.from_internal = from_internal
        self.size = size
        self.name = name
        # Inverse of `objective` (targets are given as objectives); whether the
        # natural objective is maximised (then a target means objective >= target).
        self.cost_of_objective = cost_of_objective or (lambda value: value)
        self.maximize = maximize


def _search_spec(problem):
    """The _SearchSpec of a problem object (built-in, compiled or Python)."""
    from ._core import CompiledProblem

    if hasattr(problem, "_search_spec"):
        return problem._search_spec()
    if isinstance(problem, CompiledProblem):
        problem._check_vtable()
        return _SearchSpec(
            core=problem,
            ops=None,
            exact=bool(problem.exact_costs),
            objective=lambda cost: cost,
            to_internal=lambda states: np.asarray(states, dtype=problem.state_dtype),
            from_internal=lambda state: state,
            size=problem.state_size,
            name=type(problem).__name__,
        )
    raise TypeError(
        f"expected a problem (TSP, Ising, QUBO, MaxCut, a Problem subclass or a "
        f"CompiledProblem), got {type(problem).__name__}"
    )


# -- TSP ------------------------------------------------------------------------------

_GEO_PI = 3.141592  # TSPLIB's own value of pi for GEO coordinates


def _geo_radians(values):
    """TSPLIB DDD.MM (degrees.minutes) to radians, degrees truncated toward zero."""
    degrees = np.trunc(values)
    minutes = values - degrees
    return _GEO_PI * (degrees + 5.0 * minutes / 3.0) / 180.0


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
                and (matrix.size == 0 or matrix.max() * max(self.n, 1) < _EXACT_LIMIT)
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
                x, y = _geo_radians(self.coords[:, 0]), _geo_radians(self.coords[:, 1])
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
        instance = _io.read_tsplib(path)
        kwargs.setdefault("name", instance.name)
        if instance.matrix is not None:
            problem = cls(distances=instance.matrix, **kwargs)
        else:
            problem = cls(instance.coords, metric=instance.edge_weight_type, **kwargs)
        if problem.optimum is None:
            tour_path = Path(path).with_suffix(".opt.tour")
            if tour_path.is_file():
                tour = _io.read_tsplib_tour(tour_path, dimension=problem.n)
                problem.optimum = float(problem.tour_length(tour))
        return problem

    @staticmethod
    def read_tour(path, dimension=None):
        """Read a TSPLIB ``.tour`` / ``.opt.tour`` file as a 0-based permutation."""
        return _io.read_tsplib_tour(path, dimension=dimension)

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
        spec = _SearchSpec(
            core=self._core,
            ops=self._reference,
            exact=self.exact_costs,
            objective=self.objective,
            to_internal=lambda states: self._check_tours(states, "initial state"),
            from_internal=lambda tour: np.asarray(tour, dtype=np.int32).copy(),
            size=self.n,
            name="TSP",
        )
        spec.attributes_per_move = 4  # the cities a move reconnects
        spec.large_neighbourhood = True  # ~4 n^2 moves: sample instead of enumerating
        return spec


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


# -- Ising / QUBO / max-cut -----------------------------------------------------------


def _is_integer_like(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _couplings_from(J, n, name):
    """(rows, cols, values) of the pairs i < j of J, validated; n may be None."""
    if isinstance(J, dict):
        rows, cols, values, seen = [], [], [], {}
        for key, value in J.items():
            if not (
                isinstance(key, tuple)
                and len(key) == 2
                and all(_is_integer_like(k) or isinstance(k, np.integer) for k in key)
            ):
                raise ValueError(f"{name} key {key!r} is not a pair of integer indices")
            i, j = int(key[0]), int(key[1])
            if i < 0 or j < 0 or (n is not None and (i >= n or j >= n)):
                raise ValueError(
                    f"{name}[{key}] has an index out of range 0..{n - 1}"
                    if n is not None
                    else f"{name}[{key}]: negative index"
                )
            if i == j:
                raise ValueError(f"{name}[{key}] couples a spin with itself (use h)")
            pair = (min(i, j), max(i, j))
            if pair in seen:
                raise ValueError(
                    f"{name} lists the pair {pair} twice ({seen[pair]!r} and {key!r})"
                )
            seen[pair] = key
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name}[{key}] = {value!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{name}[{key}] = {value} is not finite")
            rows.append(pair[0])
            cols.append(pair[1])
            values.append(value)
        return (
            np.array(rows, dtype=np.int64),
            np.array(cols, dtype=np.int64),
            np.array(values, dtype=np.float64),
        )
    if sp.issparse(J):
        matrix = sp.coo_matrix(J)
        matrix.sum_duplicates()
        dense_check = None
    else:
        dense_check = np.asarray(J)
        if dense_check.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be numeric, got dtype {dense_check.dtype}")
        matrix = None
    shape = J.shape if matrix is not None else dense_check.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {shape}")
    if n is not None and shape[0] != n:
        raise ValueError(f"{name} is {shape[0]}x{shape[1]} but h has {n} entries")
    if matrix is None:
        dense = dense_check.astype(np.float64)
        bad = np.argwhere(~np.isfinite(dense))
        if bad.size:
            raise ValueError(f"{name}[{bad[0][0]}, {bad[0][1]}] is not finite")
        bad = np.argwhere(dense != dense.T)
        if bad.size:
            i, j = bad[0]
            raise ValueError(
                f"{name} is not symmetric: [{i}, {j}] = {dense[i, j]} but "
                f"[{j}, {i}] = {dense[j, i]}"
            )
        diagonal = np.flatnonzero(np.diag(dense))
        if diagonal.size:
            i = diagonal[0]
            raise ValueError(
                f"{name}[{i}, {i}] = {dense[i, i]}: the diagonal must be "
                "zero (spins squared are 1: use h or the offset)"
            )
        rows, cols = np.nonzero(np.triu(dense, 1))
        return rows.astype(np.int64), cols.astype(np.int64), dense[rows, cols]
    data = matrix.data.astype(np.float64)
    if not np.all(np.isfinite(data)):
        k = np.flatnonzero(~np.isfinite(data))[0]
        raise ValueError(f"{name}[{matrix.row[k]}, {matrix.col[k]}] is not finite")
    if np.any(matrix.row == matrix.col) and np.any(data[matrix.row == matrix.col] != 0):
        k = np.flatnonzero((matrix.row == matrix.col) & (data != 0))[0]
        raise ValueError(
            f"{name}[{matrix.row[k]}, {matrix.row[k]}] is on the diagonal "
            "(use h or the offset)"
        )
    csr = sp.csr_matrix((data, (matrix.row, matrix.col)), shape=shape)
    asym = csr - csr.T
    asym.eliminate_zeros()
    if asym.nnz:
        coo = asym.tocoo()
        i, j = coo.row[0], coo.col[0]
        raise ValueError(
            f"{name} is not symmetric at [{i}, {j}]: {csr[i, j]} vs {csr[j, i]}"
        )
    upper = sp.triu(csr, 1).tocoo()
    keep = upper.data != 0
    return (
        upper.row[keep].astype(np.int64),
        upper.col[keep].astype(np.int64),
        upper.data[keep].astype(np.float64),
    )


def _symmetric_csr(n, rows, cols, values):
    """indptr, indices, weights with every pair stored in both rows (sorted)."""
    both_rows = np.concatenate([rows, cols])
    both_cols = np.concatenate([cols, rows])
    both_vals = np.concatenate([values, values])
    order = np.lexsort((both_cols, both_rows))
    both_rows, both_cols, both_vals = (
        both_rows[order],
        both_cols[order],
        both_vals[order],
    )
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, both_rows + 1, 1)
    return np.cumsum(indptr), both_cols.astype(np.int64), both_vals


def _check_spins(spins, n, name="spins"):
    spins = np.asarray(spins)
    if spins.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numeric +1/-1, got dtype {spins.dtype}")
    if spins.shape[-1:] != (n,) or spins.ndim > 2:
        raise ValueError(
            f"{name} must have shape ({n},) or (m, {n}), got {spins.shape}"
        )
    if not np.all((spins == 1) | (spins == -1)):
        raise ValueError(f"{name} must contain only +1 and -1")
    return spins.astype(np.int8)


def _check_proposal(proposal):
    if proposal not in ("sequential", "random"):
        raise ValueError(f"proposal must be 'sequential' or 'random', got {proposal!r}")
    return proposal


class Ising:
    """Ising model ``E(s) = Σ h_i s_i + Σ_{i<j} J_ij s_i s_j + offset``, s ∈ {−1, +1}ⁿ.

    Parameters
    ----------
    h : array_like (n,) or dict {i: h_i} or None
        Linear biases (None: zeros).
    J : array_like (n, n), scipy.sparse matrix or dict {(i, j): J_ij}
        Couplings. A matrix must be symmetric with a zero diagonal (each pair
        counts once); a dict lists each pair once (``(i, j)`` and ``(j, i)``
        together are an error).
    offset : float, default 0
    proposal : {"sequential", "random"}, default "sequential"
        Order of the single-flip proposals in annealing: every spin in turn
        (one sweep visits each spin once, as dwave-samplers does; the faster
        and, on the G-set, the better choice) or a random spin per attempt.
        Use ``"random"`` for chain-like models with many zero-cost moves: on a
        1-d ring, in-order sweeps carry zero-cost domain walls along with the
        sweep so that they never meet and annihilate.

    Notes
    -----
    Stored as symmetric CSR; a single flip costs O(1) to evaluate and
    O(degree) to apply through cached local fields. States are int8 spins.
    """

    def __init__(self, h, J, *, offset=0.0, proposal="sequential"):
        self.proposal = _check_proposal(proposal)
        n = None
        if isinstance(h, dict):
            if h and not all(_is_integer_like(k) and k >= 0 for k in h):
                raise ValueError("h keys must be non-negative integer indices")
            n_h = max(h) + 1 if h else 0
            n_j = 0
            if isinstance(J, dict) and J:
                n_j = (
                    max(max(int(k[0]), int(k[1])) for k in J if isinstance(k, tuple))
                    + 1
                )
            elif not isinstance(J, dict):
                n_j = np.shape(J)[0]
            n = max(n_h, n_j)
            h_array = np.zeros(n)
            for i, value in h.items():
                h_array[i] = value
        elif h is None:
            if isinstance(J, dict):
                n = max((max(int(k[0]), int(k[1])) for k in J), default=-1) + 1
            else:
                n = np.shape(J)[0]
            h_array = np.zeros(n)
        else:
            h_array = np.asarray(h)
            if h_array.dtype.kind not in "iuf" or h_array.ndim != 1:
                raise ValueError(
                    f"h must be a 1-d numeric array, got {h_array.shape} "
                    f"{h_array.dtype}"
                )
            h_array = h_array.astype(np.float64)
            n = h_array.shape[0]
        if not np.all(np.isfinite(h_array)):
            raise ValueError(
                f"h[{np.flatnonzero(~np.isfinite(h_array))[0]}] is not finite"
            )
        rows, cols, values = _couplings_from(J, n, "J")
        self._setup(h_array, rows, cols, values, float(offset))

    def _setup(self, h, rows, cols, values, offset):
        self.proposal = getattr(self, "proposal", "sequential")
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
        self.n = len(h)
        self.h = h
        self.offset = offset
        self.pairs = (rows, cols, values)
        indptr, indices, weights = _symmetric_csr(self.n, rows, cols, values)
        scale = np.abs(h).sum() + np.abs(values).sum()
        self.exact_costs = bool(
            np.all(h * 4 == np.round(h * 4))
            and np.all(values * 4 == np.round(values * 4))
            and scale * 4 < _EXACT_LIMIT
        )
        random_order = self.proposal == "random"
        self._core = IsingCore(
            h, indptr, indices, weights, self.exact_costs, random_order
        )
        self._reference = IsingReference(h, indptr, indices, weights, random_order)

    @classmethod
    def _from_pairs(cls, h, rows, cols, values, offset=0.0, proposal="sequential"):
        self = cls.__new__(cls)
        self.proposal = _check_proposal(proposal)
        self._setup(np.asarray(h, dtype=np.float64), rows, cols, values, float(offset))
        return self

    def __repr__(self):
        return f"<Ising: {self.n} spins, {len(self.pairs[0])} couplings>"

    @property
    def J(self):
        """Couplings as a symmetric scipy.sparse CSR matrix."""
        rows, cols, values = self.pairs
        upper = sp.coo_matrix((values, (rows, cols)), shape=(self.n, self.n))
        return (upper + upper.T).tocsr()

    def energy(self, spins):
        """Energy of ``spins`` ((n,) or (m, n) of ±1)."""
        spins = _check_spins(spins, self.n)
        energies = self._core.energies(spins) + self.offset
        return energies if spins.ndim == 2 else float(energies[0])

    def objective(self, cost):
        """Energy including the offset."""
        return cost + self.offset

    def to_qubo(self):
        """The equivalent QUBO in ``x = (1 + s) / 2`` (same energies)."""
        rows, cols, values = self.pairs
        # s = 2x - 1: h s = 2 h x - h; J s s' = 4 J x x' - 2 J x - 2 J x' + J.
        linear = 2 * self.h.copy()
        np.add.at(linear, rows, -2 * values)
        np.add.at(linear, cols, -2 * values)
        offset = self.offset - self.h.sum() + values.sum()
        q = {(i, i): v for i, v in enumerate(linear) if v != 0}
        for i, j, v in zip(rows.tolist(), cols.tolist(), (4 * values).tolist()):
            q[(i, j)] = v
        return QUBO(q, offset=offset, n=self.n, proposal=self.proposal)

    @classmethod
    def from_qubo(cls, Q, offset=0.0):
        """The Ising model of a QUBO (see :class:`QUBO`)."""
        return (Q if isinstance(Q, QUBO) else QUBO(Q, offset=offset)).to_ising()

    def _search_spec(self):
        return _SearchSpec(
            core=self._core,
            ops=self._reference,
            exact=self.exact_costs,
            objective=self.objective,
            to_internal=lambda states: _check_spins(states, self.n, "initial state"),
            from_internal=lambda spins: np.asarray(spins, dtype=np.int8).copy(),
            size=self.n,
            name="Ising",
            cost_of_objective=lambda value: value - self.offset,
        )


class QUBO:
    """Quadratic unconstrained binary optimisation, ``E(x) = Σ Q_ij x_i x_j + offset``.

    Parameters
    ----------
    Q : array_like (n, n), scipy.sparse matrix or dict {(i, j): Q_ij}
        Any square matrix (upper-triangular is customary; ``Q_ij`` and
        ``Q_ji`` add up); a dict may list ``(i, i)`` linear terms and each pair
        once or in both orders (they add, as in dimod).
    offset : float, default 0
    n : int, optional
        Number of variables when a dict does not mention them all.
    proposal : {"sequential", "random"}, default "sequential"
        Annealing proposal order (see :class:`Ising`).

    Notes
    -----
    Solved as the equivalent Ising model (``x = (1 + s)/2``); states and
    results are int8 vectors of 0/1.
    """

    def __init__(self, Q, *, offset=0.0, n=None, proposal="sequential"):
        self.proposal = _check_proposal(proposal)
        if isinstance(Q, dict):
            entries = {}
            for key, value in Q.items():
                if not (
                    isinstance(key, tuple)
                    and len(key) == 2
                    and all(
                        _is_integer_like(k) or isinstance(k, np.integer) for k in key
                    )
                ):
                    raise ValueError(f"Q key {key!r} is not a pair of integer indices")
                i, j = int(key[0]), int(key[1])
                if i < 0 or j < 0:
                    raise ValueError(f"Q[{key}] has a negative index")
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(f"Q[{key}] = {value!r} is not a number") from None
                if not math.isfinite(value):
                    raise ValueError(f"Q[{key}] = {value} is not finite")
                pair = (min(i, j), max(i, j))
                entries[pair] = entries.get(pair, 0.0) + value
            size = max((max(p) for p in entries), default=-1) + 1
            if n is not None:
                if n < size:
                    raise ValueError(f"Q mentions variable {size - 1} but n={n}")
                size = n
            self.n = size
            diag = np.zeros(size)
            rows, cols, values = [], [], []
            for (i, j), v in entries.items():
                if i == j:
                    diag[i] += v
                else:
                    rows.append(i)
                    cols.append(j)
                    values.append(v)
            rows = np.array(rows, dtype=np.int64)
            cols = np.array(cols, dtype=np.int64)
            values = np.array(values, dtype=np.float64)
        else:
            if sp.issparse(Q):
                matrix = Q.toarray()
            else:
                matrix = np.asarray(Q)
                if matrix.dtype.kind not in "iuf":
                    raise TypeError(f"Q must be numeric, got dtype {matrix.dtype}")
            matrix = matrix.astype(np.float64)
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
                raise ValueError(f"Q must be a square matrix, got shape {matrix.shape}")
            bad = np.argwhere(~np.isfinite(matrix))
            if bad.size:
                raise ValueError(f"Q[{bad[0][0]}, {bad[0][1]}] is not finite")
            self.n = matrix.shape[0]
            diag = np.diag(matrix).copy()
            sym = np.triu(matrix, 1) + np.tril(matrix, -1).T
            rows, cols = np.nonzero(sym)
            values = sym[rows, cols]
        offset = float(offset)
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
        self.offset = offset
        self.linear = diag
        self.pairs = (
            np.asarray(rows, np.int64),
            np.asarray(cols, np.int64),
            np.asarray(values, np.float64),
        )
        self._ising = self.to_ising()

    def __repr__(self):
        return f"<QUBO: {self.n} variables, {len(self.pairs[0])} quadratic terms>"

    def to_ising(self):
        """The equivalent Ising model in ``s = 2x - 1`` (same energies)."""
        rows, cols, values = self.pairs
        # x = (1 + s)/2: q x = q/2 + q s/2; w x x' = w/4 (1 + s + s' + s s').
        h = self.linear / 2.0
        np.add.at(h, rows, values / 4.0)
        np.add.at(h, cols, values / 4.0)
        offset = self.offset + self.linear.sum() / 2.0 + values.sum() / 4.0
        return Ising._from_pairs(h, rows, cols, values / 4.0, offset, self.proposal)

    def energy(self, x):
        """Energy of the binary vector(s) ``x`` ((n,) or (m, n) of 0/1)."""
        x = _check_binary(x, self.n)
        return self._ising.energy(2 * x.astype(np.int8) - 1)

    def objective(self, cost):
        return self._ising.objective(cost)

    def _search_spec(self):
        spec = self._ising._search_spec()
        spec.objective = self.objective
        spec.cost_of_objective = lambda value: value - self._ising.offset
        spec.to_internal = lambda states: (
            2 * _check_binary(states, self.n, "initial state").astype(np.int8) - 1
        )
        spec.from_internal = lambda spins: ((np.asarray(spins) + 1) // 2).astype(
            np.int8
        )
        spec.name = "QUBO"
        return spec


def _check_binary(x, n, name="x"):
    x = np.asarray(x)
    if x.dtype.kind not in "iufb":
        raise TypeError(f"{name} must be 0/1 numbers, got dtype {x.dtype}")
    if x.shape[-1:] != (n,) or x.ndim > 2:
        raise ValueError(f"{name} must have shape ({n},) or (m, {n}), got {x.shape}")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must contain only 0 and 1")
    return x.astype(np.int8)


class MaxCut:
    """Weighted max-cut: split the vertices in two to maximise the weight of cut edges.

    Parameters
    ----------
    n : int
        Number of vertices (0-based).
    edges : array_like, shape (m, 2)
        Each undirected edge once (``(i, j)`` and ``(j, i)`` together are an error).
    weights : array_like (m,), optional
        Edge weights (default 1).
    proposal : {"sequential", "random"}, default "sequential"
        Annealing proposal order (see :class:`Ising`).

    Notes
    -----
    Solved as the Ising model ``h = 0``, ``J_ij = w_ij``: ``cut = (W − E)/2`` with
    ``W = Σ w``. States are int8 spins (the side of each vertex);
    ``Result.objective`` is the cut value.
    """

    def __init__(self, n, edges, weights=None, *, proposal="sequential"):
        self.proposal = _check_proposal(proposal)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        self.n = int(n)
        edges = np.asarray(edges)
        if edges.size == 0:
            edges = edges.reshape(0, 2)
        if edges.dtype.kind not in "iu" or edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(
                f"edges must be an (m, 2) integer array, got {edges.shape} "
                f"{edges.dtype}"
            )
        m = edges.shape[0]
        weights = (
            np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
        )
        if weights.shape != (m,):
            raise ValueError(f"weights must have shape ({m},), got {weights.shape}")
        for k in range(m):
            i, j = int(edges[k, 0]), int(edges[k, 1])
            if not (0 <= i < self.n and 0 <= j < self.n):
                raise ValueError(
                    f"edge {k} ({i}, {j}) has a vertex outside 0..{self.n - 1}"
                )
            if i == j:
                raise ValueError(f"edge {k} ({i}, {j}) is a self-loop")
        if not np.all(np.isfinite(weights)):
            k = np.flatnonzero(~np.isfinite(weights))[0]
            raise ValueError(f"weight of edge {k} is not finite ({weights[k]})")
        lo = np.minimum(edges[:, 0], edges[:, 1]).astype(np.int64)
        hi = np.maximum(edges[:, 0], edges[:, 1]).astype(np.int64)
        keys = lo * max(self.n, 1) + hi
        order = np.argsort(keys, kind="stable")
        dup = np.flatnonzero(np.diff(keys[order]) == 0)
        if dup.size:
            a, b = order[dup[0]], order[dup[0] + 1]
            raise ValueError(
                f"edges {a} and {b} both join vertices {lo[a]} and {hi[a]} "
                "(duplicate edge)"
            )
        self.edges = np.stack([lo, hi], axis=1)
        self.weights = weights
        self.total_weight = float(weights.sum())
        self._ising = Ising._from_pairs(
            np.zeros(self.n), lo, hi, weights, 0.0, self.proposal
        )

    def __repr__(self):
        return f"<MaxCut: {self.n} vertices, {len(self.weights)} edges>"

    @classmethod
    def from_gset(cls, path, **kwargs):
        """Read a G-set graph file (``n m`` then ``i j w`` lines, 1-based)."""
        n, edges, weights = _io.read_gset(path)
        return cls(n, edges, weights, **kwargs)

    def to_ising(self):
        """The Ising model whose energy E gives ``cut = (W - E) / 2``."""
        return self._ising

    def cut_value(self, spins):
        """Total weight of the edges whose endpoints have different spins."""
        spins = _check_spins(spins, self.n)
        rows = np.atleast_2d(spins)
        i, j = self.edges[:, 0], self.edges[:, 1]
        cuts = ((rows[:, i] != rows[:, j]) * self.weights).sum(axis=1)
        return cuts if spins.ndim == 2 else float(cuts[0])

    def objective(self, cost):
        """Cut value of an Ising energy ``cost``."""
        return (self.total_weight - cost) / 2.0

    def _search_spec(self):
        spec = self._ising._search_spec()
        spec.objective = self.objective
        spec.cost_of_objective = lambda cut: self.total_weight - 2.0 * cut
        spec.maximize = True
        spec.name = "MaxCut"
        return spec
