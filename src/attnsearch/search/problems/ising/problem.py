"""Ising models, QUBOs and weighted max-cut: validation, conversions, G-set input.

All three run on one compiled core (``_core.pxd``: symmetric CSR couplings,
cached local fields) and one Python mirror (``_reference.py``): a QUBO and a
max-cut are exact transforms to an Ising model, whose states and objectives are
converted back (0/1 vectors, cut sizes).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ...._memory import check_allocation
from ..._typing import StrPath
from ..base import EXACT_LIMIT, SearchSpec
from ._core import IsingCore
from ._reference import IsingReference
from .readers import read_gset

__all__ = ["Ising", "MaxCut", "QUBO"]

#: Annealing proposal orders (see :class:`Ising`).
Proposal: TypeAlias = Literal["sequential", "random"]
#: A square matrix, dense or sparse, or a dict of pair terms ``{(i, j): value}``.
Couplings: TypeAlias = (
    "npt.ArrayLike | sp.sparray | sp.spmatrix | dict[tuple[int, int], float]"
)
#: The pairs ``i < j`` of a model: ``(rows, cols, values)``.
_Pairs: TypeAlias = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]
]


def _is_integer_like(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _pair_key(key: object, name: str) -> tuple[int, int]:
    """A dict key of couplings as a pair of non-negative ints, or ValueError."""
    if not (
        isinstance(key, tuple)
        and len(key) == 2
        and all(_is_integer_like(k) or isinstance(k, np.integer) for k in key)
    ):
        raise ValueError(f"{name} key {key!r} is not a pair of integer indices")
    i, j = int(key[0]), int(key[1])
    if i < 0 or j < 0:
        raise ValueError(f"{name}[{key}] has a negative index")
    return i, j


#: Energies are sums of |h| and |J|: beyond this they could overflow float64
#: (deltas are up to twice a local field, sweeps add many of them).
MAX_ENERGY_SCALE = 1e300


class EnergyScaleError(ValueError):
    """A model whose energies could overflow float64: its terms sum past
    ``MAX_ENERGY_SCALE`` in absolute value (``part="terms"``, ``scale`` their
    sum), or its offset overflows once the constant terms of a transform are
    added (``part="offset"``). The file readers catch it to name the line."""

    def __init__(self, message: str, part: str = "terms", scale: float = math.inf):
        super().__init__(message)
        self.part = part
        self.scale = scale


def _absolute_sum(*arrays: npt.NDArray[np.float64]) -> float:
    """Sum of the absolute values of ``arrays`` (inf past float64, no warning)."""
    with np.errstate(over="ignore"):
        return float(sum(np.abs(a).sum() for a in arrays))


def _first_past_limit(values: npt.NDArray[np.float64]) -> int:
    """Index of the first value whose running sum of |values| passes
    ``MAX_ENERGY_SCALE`` (the sum must pass it)."""
    with np.errstate(over="ignore"):
        running = np.cumsum(np.abs(values))
    return int(np.argmax(~(running <= MAX_ENERGY_SCALE)))


def _check_model_size(n: int, n_pairs: int, what: str) -> None:
    """Refuse a model that cannot fit in memory, before allocating it."""
    # h, fields and spins per chain, CSR rows, and two CSR entries per pair.
    check_allocation(8 * 4 * n + 32 * n_pairs, f"{what} with {n} variables")


def _couplings_from(J: Couplings, n: int | None, name: str) -> _Pairs:
    """(rows, cols, values) of the pairs i < j of J, validated; n may be None."""
    if isinstance(J, dict):
        pair_rows: list[int] = []
        pair_cols: list[int] = []
        pair_values: list[float] = []
        seen: dict[tuple[int, int], object] = {}  # pair -> the key that gave it
        for key, value in J.items():
            i, j = _pair_key(key, name)
            if n is not None and (i >= n or j >= n):
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
            pair_rows.append(pair[0])
            pair_cols.append(pair[1])
            pair_values.append(value)
        return (
            np.array(pair_rows, dtype=np.int64),
            np.array(pair_cols, dtype=np.int64),
            np.array(pair_values, dtype=np.float64),
        )
    if sp.issparse(J):
        matrix = sp.coo_matrix(J)
        matrix.sum_duplicates()
        dense_check = None
        shape: tuple[int, ...] = matrix.shape
    else:
        dense_check = np.asarray(J)
        if dense_check.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be numeric, got dtype {dense_check.dtype}")
        matrix = None
        shape = dense_check.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {shape}")
    if n is not None and shape[0] != n:
        raise ValueError(f"{name} is {shape[0]}x{shape[1]} but h has {n} entries")
    if dense_check is not None:  # not sparse
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


def _symmetric_csr(
    n: int,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
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


def _check_spins(
    spins: npt.ArrayLike, n: int, name: str = "spins"
) -> npt.NDArray[np.int8]:
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


def _check_proposal(proposal: object) -> Proposal:
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

    n: int
    h: npt.NDArray[np.float64]
    offset: float
    proposal: Proposal
    pairs: _Pairs
    exact_costs: bool

    def __init__(
        self,
        h: npt.ArrayLike | dict[int, float] | None,
        J: Couplings,
        *,
        offset: float = 0.0,
        proposal: Proposal = "sequential",
    ) -> None:
        self.proposal = _check_proposal(proposal)
        n = None
        if isinstance(h, dict):
            if h and not all(_is_integer_like(k) and k >= 0 for k in h):
                raise ValueError("h keys must be non-negative integer indices")
            n_h = max(h) + 1 if h else 0
            n_j = 0
            if isinstance(J, dict) and J:
                n_j = max(max(_pair_key(k, "J")) for k in J) + 1
            elif not isinstance(J, dict):
                n_j = np.shape(J)[0]
            n = max(n_h, n_j)
            _check_model_size(n, len(J) if isinstance(J, dict) else 0, "an Ising model")
            h_array = np.zeros(n)
            for i, value in h.items():
                h_array[i] = value
        elif h is None:
            if isinstance(J, dict):
                n = max((max(_pair_key(k, "J")) for k in J), default=-1) + 1
            else:
                n = np.shape(J)[0]
            _check_model_size(n, len(J) if isinstance(J, dict) else 0, "an Ising model")
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

    def _setup(
        self,
        h: npt.NDArray[np.float64],
        rows: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        offset: float,
    ) -> None:
        self.proposal = getattr(self, "proposal", "sequential")
        scale = _absolute_sum(h, values)
        if not scale <= MAX_ENERGY_SCALE:
            raise EnergyScaleError(
                f"the biases and couplings sum to {scale:.3g} in absolute value: "
                f"energies could overflow float64 (the limit is "
                f"{MAX_ENERGY_SCALE:.0e}); rescale the model",
                scale=scale,
            )
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
        self.n = len(h)
        self.h = h
        self.offset = offset
        self.pairs = (rows, cols, values)
        indptr, indices, weights = _symmetric_csr(self.n, rows, cols, values)
        self.energy_scale = scale
        self.exact_costs = bool(
            np.all(h * 4 == np.round(h * 4))
            and np.all(values * 4 == np.round(values * 4))
            and scale * 4 < EXACT_LIMIT
        )
        random_order = self.proposal == "random"
        self._core = IsingCore(
            h, indptr, indices, weights, self.exact_costs, random_order
        )
        self._reference = IsingReference(h, indptr, indices, weights, random_order)

    @classmethod
    def _from_pairs(
        cls,
        h: npt.ArrayLike,
        rows: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        offset: float = 0.0,
        proposal: str = "sequential",
    ) -> Ising:
        self = cls.__new__(cls)
        self.proposal = _check_proposal(proposal)
        self._setup(np.asarray(h, dtype=np.float64), rows, cols, values, float(offset))
        return self

    def __repr__(self) -> str:
        return f"<Ising: {self.n} spins, {len(self.pairs[0])} couplings>"

    @property
    def J(self) -> sp.csr_matrix:
        """Couplings as a symmetric scipy.sparse CSR matrix."""
        rows, cols, values = self.pairs
        upper = sp.coo_matrix((values, (rows, cols)), shape=(self.n, self.n))
        return (upper + upper.T).tocsr()

    def energy(self, spins: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
        """Energy of ``spins`` ((n,) or (m, n) of ±1)."""
        spins = _check_spins(spins, self.n)
        energies = self._core.energies(spins) + self.offset
        return energies if spins.ndim == 2 else float(energies[0])

    def objective(self, cost: float) -> float:
        """Energy including the offset."""
        return cost + self.offset

    def to_qubo(self) -> QUBO:
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
    def from_qubo(cls, Q: QUBO | Couplings, offset: float = 0.0) -> Ising:
        """The Ising model of a QUBO (see :class:`QUBO`)."""
        return (Q if isinstance(Q, QUBO) else QUBO(Q, offset=offset)).to_ising()

    def _search_spec(self) -> SearchSpec:
        return SearchSpec(
            core=self._core,
            ops=self._reference,
            exact=self.exact_costs,
            objective=self.objective,
            to_internal=lambda states: _check_spins(states, self.n, "initial state"),
            from_internal=lambda spins: np.array(spins, dtype=np.int8),
            size=self.n,
            name="Ising",
            cost_of_objective=lambda value: value - self.offset,
            cost_scale=self.energy_scale,
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

    n: int
    offset: float
    linear: npt.NDArray[np.float64]
    pairs: _Pairs

    def __init__(
        self,
        Q: Couplings,
        *,
        offset: float = 0.0,
        n: int | None = None,
        proposal: Proposal = "sequential",
    ) -> None:
        self.proposal = _check_proposal(proposal)
        if isinstance(Q, dict):
            entries: dict[tuple[int, int], float] = {}
            for key, value in Q.items():
                i, j = _pair_key(key, "Q")
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
            _check_model_size(size, len(entries), "a QUBO")
            self.n = size
            diag = np.zeros(size)
            pair_rows: list[int] = []
            pair_cols: list[int] = []
            pair_values: list[float] = []
            for (i, j), v in entries.items():
                if i == j:
                    diag[i] += v
                else:
                    pair_rows.append(i)
                    pair_cols.append(j)
                    pair_values.append(v)
            rows = np.array(pair_rows, dtype=np.int64)
            cols = np.array(pair_cols, dtype=np.int64)
            values = np.array(pair_values, dtype=np.float64)
        else:
            if sp.issparse(Q):
                matrix = cast("sp.sparray | sp.spmatrix", Q).toarray()
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

    def __repr__(self) -> str:
        return f"<QUBO: {self.n} variables, {len(self.pairs[0])} quadratic terms>"

    def to_ising(self) -> Ising:
        """The equivalent Ising model in ``s = 2x - 1`` (same energies).

        Raises
        ------
        ValueError
            The Ising form's biases and couplings sum past 1e300 in absolute
            value, naming the term of Q that takes the sum of ``|Q|`` past it,
            or the offset overflows float64 with the form's constant.
        """
        rows, cols, values = self.pairs
        # x = (1 + s)/2: q x = q/2 + q s/2; w x x' = w/4 (1 + s + s' + s s').
        with np.errstate(over="ignore", invalid="ignore"):
            h = self.linear / 2.0
            np.add.at(h, rows, values / 4.0)
            np.add.at(h, cols, values / 4.0)
            scale = _absolute_sum(h, values / 4.0)
            if not scale <= MAX_ENERGY_SCALE:
                terms = np.concatenate((self.linear, values))
                k = _first_past_limit(terms)
                n = len(self.linear)
                i, j = (k, k) if k < n else (rows[k - n], cols[k - n])
                raise EnergyScaleError(
                    f"the biases and couplings of Q's Ising form sum to "
                    f"{scale:.3g} in absolute value, above {MAX_ENERGY_SCALE:.0e}: "
                    f"energies could overflow float64; rescale Q (Q[{i}, {j}] = "
                    f"{terms[k]:.6g} takes the sum of |Q| past the limit)",
                    scale=scale,
                )
            offset = self.offset + self.linear.sum() / 2.0 + values.sum() / 4.0
        if not math.isfinite(offset):
            raise EnergyScaleError(
                f"offset {self.offset:.6g} overflows float64 once the constant of "
                f"the Ising form is added; rescale the model",
                part="offset",
                scale=scale,
            )
        return Ising._from_pairs(h, rows, cols, values / 4.0, offset, self.proposal)

    def energy(self, x: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
        """Energy of the binary vector(s) ``x`` ((n,) or (m, n) of 0/1)."""
        x = _check_binary(x, self.n)
        return self._ising.energy(2 * x.astype(np.int8) - 1)

    def objective(self, cost: float) -> float:
        return self._ising.objective(cost)

    def _search_spec(self) -> SearchSpec:
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


def _check_binary(x: npt.ArrayLike, n: int, name: str = "x") -> npt.NDArray[np.int8]:
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

    n: int
    edges: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    total_weight: float
    proposal: Proposal
    _ising: Ising

    def __init__(
        self,
        n: int,
        edges: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
        *,
        proposal: Proposal = "sequential",
    ) -> None:
        self.proposal = _check_proposal(proposal)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        self.n = int(n)
        edges = np.asarray(edges)
        if edges.size == 0:  # [] or an empty array of any dtype: no edges
            edges = np.zeros((0, 2), dtype=np.int64)
        _check_model_size(self.n, len(edges), "a max-cut graph")
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
        # The Ising form's couplings are the weights: their sum bounds the cut
        # values and the energies.
        scale = _absolute_sum(weights)
        if not scale <= MAX_ENERGY_SCALE:
            k = _first_past_limit(weights)
            raise EnergyScaleError(
                f"the edge weights sum to {scale:.3g} in absolute value, above "
                f"{MAX_ENERGY_SCALE:.0e}: cut values and energies could overflow "
                f"float64; rescale the weights (edge {k} ({edges[k, 0]}, "
                f"{edges[k, 1]}) of weight {weights[k]:.6g} takes the sum past "
                f"the limit)",
                scale=scale,
            )
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

    def __repr__(self) -> str:
        return f"<MaxCut: {self.n} vertices, {len(self.weights)} edges>"

    @classmethod
    def from_gset(cls, path: StrPath, **kwargs: Any) -> MaxCut:
        """Read a G-set graph file (``n m`` then ``i j w`` lines, 1-based)."""
        n, edges, weights = read_gset(path)
        return cls(n, edges, weights, **kwargs)

    def to_ising(self) -> Ising:
        """The Ising model whose energy E gives ``cut = (W - E) / 2``."""
        return self._ising

    def cut_value(self, spins: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
        """Total weight of the edges whose endpoints have different spins."""
        spins = _check_spins(spins, self.n)
        rows = np.atleast_2d(spins)
        i, j = self.edges[:, 0], self.edges[:, 1]
        cuts = ((rows[:, i] != rows[:, j]) * self.weights).sum(axis=1)
        return cuts if spins.ndim == 2 else float(cuts[0])

    def objective(self, cost: float) -> float:
        """Cut value of an Ising energy ``cost``."""
        return (self.total_weight - cost) / 2.0

    def _search_spec(self) -> SearchSpec:
        spec = self._ising._search_spec()
        spec.objective = self.objective
        spec.cost_of_objective = lambda cut: self.total_weight - 2.0 * cut
        spec.maximize = True
        spec.name = "MaxCut"
        return spec
