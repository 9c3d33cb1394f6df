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


#: The quadrant query widens up to this many neighbours per candidate: a city at
#: the edge of the map has empty quadrants, which no window would ever fill.
QUADRANT_WINDOW = 32


def _coordinate_quadrant(points, plane, core, k):
    """Up to ceil(k/4) nearest cities per quadrant of ``plane`` (n, 2) around each
    city, then the nearest others; the KD-tree query widens until each quadrant
    is served, the whole instance is seen, or the window holds
    QUADRANT_WINDOW * k cities (quadrants empty that far out stay unserved)."""
    n = points.shape[0]
    per = -(-k // 4)
    m = min(n, 4 * k + 1)
    widest = min(n, QUADRANT_WINDOW * k + 1)
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
        if m >= widest or served.all():
            break
        m = min(widest, 2 * m)
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


# -- alpha-nearness (LKH) --------------------------------------------------------------

#: Nearest neighbours in the sparse superset the 1-trees are built on.
ALPHA_SUPERSET = 12
#: Subgradient iterations of the ascent (fewer on large instances: each is an MST).
ALPHA_ITERATIONS = 100


def _superset(core, k, points=None, plane=None, matrix=None):
    """Undirected edges (i < j) the 1-trees may use: each city's nearest
    neighbours, plus the Delaunay edges (planar metrics) or the convex hull of
    the unit-sphere points (GEO), which contain the minimum spanning tree."""
    n = core.state_size
    if matrix is not None:
        near = _matrix_nearest(matrix, k)
    else:
        near = _coordinate_nearest(points, core, k)
    a = np.repeat(np.arange(n), near.shape[1])
    b = near.ravel()
    pairs = [np.column_stack((np.minimum(a, b), np.maximum(a, b)))]
    if matrix is None and n >= 4:
        from scipy.spatial import ConvexHull, Delaunay, QhullError

        try:
            if points.shape[1] == 3:
                simplices = ConvexHull(points).simplices
            else:
                simplices = Delaunay(plane).simplices
        except QhullError:  # degenerate (collinear) input: nearest lists only
            simplices = np.zeros((0, 3), dtype=np.int64)
        for u, v in ((0, 1), (1, 2), (0, 2)):
            x, y = simplices[:, u], simplices[:, v]
            pairs.append(np.column_stack((np.minimum(x, y), np.maximum(x, y))))
    if matrix is not None:
        from scipy.sparse.csgraph import minimum_spanning_tree

        tree = minimum_spanning_tree(matrix + 1.0).tocoo()  # +1: zeros are edges
        pairs.append(np.column_stack((np.minimum(tree.row, tree.col),
                                      np.maximum(tree.row, tree.col))))  # fmt: skip
    edges = np.unique(np.concatenate(pairs).astype(np.int64), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    return edges, core.pair_distances(edges[:, 0], edges[:, 1])


class _Incidence:
    """The superset's edges grouped by city (each edge twice), for the two
    cheapest edges of every city in O(m) per 1-tree."""

    def __init__(self, n, edges):
        ends = np.concatenate((edges[:, 0], edges[:, 1]))
        ids = np.tile(np.arange(len(edges)), 2)
        order = np.argsort(ends, kind="stable")
        self.ids = ids[order]
        self.group = ends[order]
        self.starts = np.searchsorted(self.group, np.arange(n))
        self.count = np.bincount(ends, minlength=n)

    def _first_at(self, values, minima):
        """Slot of the first value equal to its group's minimum, per group."""
        hits = np.flatnonzero(values == minima[self.group])
        groups, first = np.unique(self.group[hits], return_index=True)
        slots = np.zeros(len(self.starts), dtype=np.int64)
        slots[groups] = hits[first]
        return slots

    def second_cheapest(self, weights):
        """Per city: the weight and the edge of its second-cheapest superset
        edge (-inf and -1 for a city with fewer than two)."""
        values = weights[self.ids]
        cheapest = np.minimum.reduceat(values, self.starts)
        values = values.copy()
        values[self._first_at(values, cheapest)] = np.inf
        second = np.minimum.reduceat(values, self.starts)
        edge = self.ids[self._first_at(values, second)]
        few = self.count < 2
        second[few] = -np.inf
        edge[few] = -1
        return second, edge


def _one_tree(n, edges, weights, incidence):
    """Minimum 1-tree over the superset: a minimum spanning tree plus, at the
    leaf whose second-cheapest superset edge is the dearest, that edge (LKH's
    choice of the special node). Returns (tree edge indices, special edge
    index, degrees, weight)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    shifted = weights - weights.min() + 1.0  # an MST ignores a common shift
    graph = coo_matrix((shifted, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    if tree.nnz != n - 1:
        raise ValueError("the candidate superset is disconnected: no 1-tree")
    # Edges are unique and sorted (np.unique): find each tree edge by its key.
    keys = edges[:, 0] * n + edges[:, 1]
    lo, hi = np.minimum(tree.row, tree.col), np.maximum(tree.row, tree.col)
    index = np.searchsorted(keys, lo.astype(np.int64) * n + hi)
    degree = np.bincount(edges[index].ravel(), minlength=n)
    second, second_edge = incidence.second_cheapest(weights)
    leaves = np.flatnonzero(degree == 1)
    special = leaves[np.argmax(second[leaves])]
    special_edge = int(second_edge[special])
    degree[edges[special_edge]] += 1
    return index, special_edge, degree, weights[index].sum() + weights[special_edge]


def _path_maxima(n, edges, tree_index, weights, queries):
    """Largest tree-edge weight on the tree path between the ends of each query
    edge (binary lifting over the tree rooted at city 0)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    tree_edges = edges[tree_index]
    w = weights[tree_index]
    graph = coo_matrix(
        (np.concatenate((w, w)) + 1.0,
         (np.concatenate((tree_edges[:, 0], tree_edges[:, 1])),
          np.concatenate((tree_edges[:, 1], tree_edges[:, 0])))),
        shape=(n, n),
    ).tocsr()  # fmt: skip
    order, parent = breadth_first_order(graph, 0, directed=False)
    parent = np.where(parent < 0, np.arange(n), parent)
    up_weight = np.full(n, -np.inf)
    u, v = tree_edges[:, 0], tree_edges[:, 1]
    child = np.where(parent[v] == u, v, u)  # the end whose parent is the other
    up_weight[child] = w
    depth = np.zeros(n, dtype=np.int64)
    parents = parent.tolist()
    depths = depth.tolist()
    for city in order[1:].tolist():
        depths[city] = depths[parents[city]] + 1
    depth = np.array(depths, dtype=np.int64)
    levels = max(1, int(depth.max()).bit_length())
    up = [parent]
    best = [up_weight]
    for _ in range(1, levels):
        up.append(up[-1][up[-1]])
        best.append(np.maximum(best[-1], best[-1][up[-2]]))
    u, v = queries[:, 0].copy(), queries[:, 1].copy()
    result = np.full(len(u), -np.inf)
    swap = depth[u] < depth[v]
    u[swap], v[swap] = v[swap], u[swap]
    diff = depth[u] - depth[v]
    for level in range(levels):
        step = (diff >> level) & 1 == 1
        result[step] = np.maximum(result[step], best[level][u[step]])
        u[step] = up[level][u[step]]
    for level in range(levels - 1, -1, -1):
        move = up[level][u] != up[level][v]
        result[move] = np.maximum(
            result[move], np.maximum(best[level][u[move]], best[level][v[move]])
        )
        u[move] = up[level][u[move]]
        v[move] = up[level][v[move]]
    differ = u != v
    result[differ] = np.maximum(
        result[differ], np.maximum(best[0][u[differ]], best[0][v[differ]])
    )
    return result


def _alpha_nearest(core, k, points=None, plane=None, matrix=None, upper_bound=None):
    """The k alpha-nearest cities of each city, nearest first (by distance).

    Held & Karp's subgradient ascent on node penalties pi (weights
    d(i, j) + pi_i + pi_j; minimum 1-trees over the sparse superset; Polyak
    steps towards ``upper_bound``, the greedy tour's length), then LKH's
    alpha(i, j) = w(i, j) - (largest weight on the tree path from i to j): the
    rise of the minimum 1-tree forced to contain (i, j). The k smallest alphas
    (ties: the distance) make a city's list; it is ordered by distance so that
    the descent can stop at the first candidate that cannot gain.
    """
    n = core.state_size
    edges, distances = _superset(
        core, min(ALPHA_SUPERSET, n - 1), points=points, plane=plane, matrix=matrix
    )
    incidence = _Incidence(n, edges)
    pi = np.zeros(n)
    best_pi, best_bound = pi.copy(), -np.inf
    step_scale, stalled = 2.0, 0
    iterations = ALPHA_ITERATIONS if n <= 20_000 else max(20, ALPHA_ITERATIONS // 2)
    for _ in range(iterations):
        weights = distances + pi[edges[:, 0]] + pi[edges[:, 1]]
        _, _, degree, tree_weight = _one_tree(n, edges, weights, incidence)
        bound = tree_weight - 2.0 * pi.sum()
        if bound > best_bound + 1e-9 * abs(
            best_bound if np.isfinite(best_bound) else 0
        ):
            best_bound, best_pi, stalled = bound, pi.copy(), 0
        else:
            stalled += 1
            if stalled >= 10:
                step_scale, stalled = step_scale / 2.0, 0
        direction = degree - 2.0
        norm = float(direction @ direction)
        if norm == 0.0 or upper_bound is None or step_scale < 1e-4:
            break
        pi = pi + step_scale * max(upper_bound - bound, 0.0) / norm * direction
    weights = distances + best_pi[edges[:, 0]] + best_pi[edges[:, 1]]
    tree_index, special_edge, _, _ = _one_tree(n, edges, weights, incidence)
    alpha = weights - _path_maxima(n, edges, tree_index, weights, edges)
    alpha[tree_index] = 0.0
    alpha[special_edge] = 0.0
    alpha = np.maximum(alpha, 0.0)
    # Per city: its superset edges by (alpha, distance, index), the first k.
    ends = np.concatenate((edges[:, 0], edges[:, 1]))
    others = np.concatenate((edges[:, 1], edges[:, 0]))
    keys = np.concatenate((alpha, alpha)), np.concatenate((distances, distances))
    order = np.lexsort((others, keys[1], keys[0], ends))
    ends, others = ends[order], others[order]
    first = np.searchsorted(ends, np.arange(n))
    count = np.bincount(ends, minlength=n)
    if count.min() < k:  # a city with fewer superset edges: its nearest instead
        k = int(count.min())
    rows = others[first[:, None] + np.arange(k)[None, :]]
    return _rerank(rows, core, k)


def candidate_lists(
    core, kind, k, *, points=None, plane=None, matrix=None, upper_bound=None
):
    """The ``(n, k)`` int32 candidate lists of a TSP, nearest first.

    Parameters
    ----------
    core : TSPCore
        Gives the exact distances (``pair_distances``).
    kind : {"nearest", "quadrant", "alpha"}
    k : int
        Candidates per city (at most n - 1).
    points : ndarray (n, d), optional
        What the KD-tree indexes (coordinates, or unit-sphere points for GEO).
    plane : ndarray (n, 2), optional
        The coordinates quadrants are taken in.
    matrix : ndarray (n, n), optional
        The distance matrix (EXPLICIT instances).
    upper_bound : float, optional
        A tour length (``"alpha"``: the target of the subgradient steps).

    Returns
    -------
    ndarray of int32, shape (n, k)
    """
    if kind == "alpha":
        rows = _alpha_nearest(
            core, k, points=points, plane=plane, matrix=matrix, upper_bound=upper_bound
        )
        return np.ascontiguousarray(rows, dtype=np.int32)
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
