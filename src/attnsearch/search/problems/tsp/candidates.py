"""Candidate neighbour lists of a TSP: a few near cities per city, O(n k) memory.

Every strong TSP heuristic (LKH, Concorde's linkern, Johnson & McGeoch's codes,
fast-tsp) restricts its moves to candidate neighbours: an improving 2-opt or
Or-opt move almost always adds an edge between near cities, so the moves around
a city's k nearest neighbours are the ones worth evaluating.

* Coordinates: ``scipy.spatial.cKDTree`` over the points (GEO: the unit-sphere
  points of latitude/longitude, whose chord length orders pairs as the
  great-circle distance does), a few more than ``k`` neighbours queried, then
  re-ranked by the instance's exact metric (TSPLIB rounding makes ties) with
  ties broken by the unrounded distance and the index. Nothing n x n is built.
* Matrices (EXPLICIT, ``distances=``): ``argpartition`` over blocks of rows.
* ``"quadrant"``: up to ``ceil(k / 4)`` nearest cities in each quadrant around
  the city, topped up with the nearest others: on clustered instances the
  plain nearest neighbours of a city at a cluster's edge all lie inside the
  cluster, and the tour could never leave it through a candidate edge.

Each list is sorted by distance (nearest first), which the descent relies on
to stop scanning a city's candidates once none can gain.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["candidate_lists", "kd_points"]

#: Rows of the matrix handled at a time by the argpartition path.
_MATRIX_BLOCK = 1024


def kd_points(coords, metric):
    """The points a KD-tree orders like ``metric``: the coordinates, or for GEO
    (latitude, longitude in radians) the points on the unit sphere."""
    if metric == "GEO":
        latitude, longitude = coords[:, 0], coords[:, 1]
        return np.column_stack(
            (
                np.cos(latitude) * np.cos(longitude),
                np.cos(latitude) * np.sin(longitude),
                np.sin(latitude),
            )
        )
    return np.ascontiguousarray(coords, dtype=np.float64)


def _rerank(rows, core, k, approximate=None):
    """Sort each row of ``rows`` (n, m) by the exact distance from its city (ties:
    the approximate distance, then the index) and keep the first k."""
    n, m = rows.shape
    cities = np.repeat(np.arange(n), m)
    exact = core.pair_distances(cities, rows.ravel()).reshape(n, m)
    keys = [rows, exact] if approximate is None else [rows, approximate, exact]
    order = np.lexsort(keys, axis=1)  # last key first: exact, approximate, index
    return np.take_along_axis(rows, order, axis=1)[:, :k]


def _without_self(indices, distances):
    """Drop each row's own index (or its last column when absent, as a KD query
    with duplicates may rank a twin first): (n, m - 1) arrays."""
    n, m = indices.shape
    own = indices == np.arange(n)[:, None]
    missing = ~own.any(axis=1)
    own[missing, m - 1] = True
    keep = ~own
    return (
        indices[keep].reshape(n, m - 1),
        distances[keep].reshape(n, m - 1),
    )


def _coordinate_nearest(points, core, k):
    n = points.shape[0]
    extra = max(2, k // 4)
    m = min(n, k + 1 + extra)
    distances, indices = cKDTree(points).query(points, k=m)
    indices, distances = _without_self(
        np.asarray(indices, dtype=np.int64).reshape(n, m),
        np.asarray(distances).reshape(n, m),
    )
    return _rerank(indices, core, k, approximate=distances)


def _coordinate_quadrant(points, plane, core, k):
    """Up to ceil(k/4) nearest cities per quadrant of ``plane`` (n, 2) around each
    city, then the nearest others; the KD-tree query widens until each quadrant
    is served or the whole instance is seen."""
    n = points.shape[0]
    per = -(-k // 4)
    m = min(n, 4 * k + 1)
    tree = cKDTree(points)
    while True:
        distances, indices = tree.query(points, k=m)
        indices = np.asarray(indices, dtype=np.int64).reshape(n, m)
        distances = np.asarray(distances).reshape(n, m)
        indices, distances = _without_self(indices, distances)
        dx = plane[indices, 0] - plane[:, None, 0]
        dy = plane[indices, 1] - plane[:, None, 1]
        quadrant = np.where(dx >= 0, np.where(dy >= 0, 0, 3), np.where(dy >= 0, 1, 2))
        chosen = np.zeros(indices.shape, dtype=bool)
        served = np.ones(n, dtype=bool)
        for q in range(4):
            mask = quadrant == q
            rank = np.cumsum(mask, axis=1)
            chosen |= mask & (rank <= per)
            # A quadrant with fewer than `per` cities in the window may hold more
            # beyond it, unless the window is the whole instance.
            served &= rank[:, -1] >= per
        if m >= n or served.all():
            break
        m = min(n, 2 * m)
    count = chosen.sum(axis=1)
    fill = ~chosen & (np.cumsum(~chosen, axis=1) <= (k - count)[:, None])
    chosen |= fill
    order = np.argsort(~chosen, axis=1, kind="stable")[:, :k]
    rows = np.take_along_axis(indices, order, axis=1)
    approximate = np.take_along_axis(distances, order, axis=1)
    return _rerank(rows, core, k, approximate=approximate)


def _matrix_nearest(matrix, k):
    n = matrix.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, _MATRIX_BLOCK):
        block = matrix[start : start + _MATRIX_BLOCK].copy()
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = np.inf
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(block, part, axis=1)
        order = np.lexsort([part, values], axis=1)
        out[start : start + block.shape[0]] = np.take_along_axis(part, order, axis=1)
    return out


def candidate_lists(core, kind, k, *, points=None, plane=None, matrix=None):
    """The ``(n, k)`` int32 candidate lists of a TSP, nearest first.

    Parameters
    ----------
    core : TSPCore
        Gives the exact distances (``pair_distances``).
    kind : {"nearest", "quadrant"}
    k : int
        Candidates per city (at most n - 1).
    points : ndarray (n, d), optional
        What the KD-tree indexes (coordinates, or unit-sphere points for GEO).
    plane : ndarray (n, 2), optional
        The coordinates quadrants are taken in.
    matrix : ndarray (n, n), optional
        The distance matrix (EXPLICIT instances).

    Returns
    -------
    ndarray of int32, shape (n, k)
    """
    if matrix is not None:
        if kind != "nearest":
            raise ValueError(
                f'candidates="{kind}" needs coordinates; a distance matrix has '
                'only "nearest"'
            )
        rows = _matrix_nearest(matrix, k)
        return _rerank(rows, core, k).astype(np.int32)
    if kind == "quadrant":
        rows = _coordinate_quadrant(points, plane, core, k)
    else:
        rows = _coordinate_nearest(points, core, k)
    return np.ascontiguousarray(rows, dtype=np.int32)
