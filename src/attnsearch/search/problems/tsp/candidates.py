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

* Coincident cities (*twins*: several cities at one site, the depot of many
  parcels): from ``CROWDED_SITE`` cities at one site on, every kind is
  computed over the distinct sites, then each city lists its previous and
  next twin (in index order) and, for each candidate site, that site's first
  and last city (``_expand_sites``). Lists of the cities themselves would hold
  only twins as soon as a site has more than ``k`` cities, and the tour could
  never leave it through a candidate edge; a pair of twins only takes one slot
  of the other's list, and is left as it is.

Each list is sorted by distance (nearest first), which the descent relies on
to stop scanning a city's candidates once none can gain.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["CROWDED_SITE", "candidate_lists", "crowded", "distinct_sites", "kd_points"]

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


def _principal_order(points):
    """Edges between consecutive points along their principal axis (collinear
    points: the path along the line), or for points in 3-d (GEO: on one circle
    of the sphere) around the circle in their principal plane, closed."""
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    along = centred @ axes[0]
    if points.shape[1] == 3 and axes.shape[0] > 1:
        order = np.argsort(np.arctan2(centred @ axes[1], along), kind="stable")
        order = np.append(order, order[0])
    else:
        order = np.argsort(along, kind="stable")
    return np.column_stack((order[:-1], order[1:]))


def _spanning_edges(points, plane):
    """Edges that contain a minimum spanning tree of distinct points: Delaunay
    (planar metrics) or the convex hull of the unit-sphere points (GEO), each
    point Qhull leaves out (too close to another to resolve) tied to its
    nearest kept point; for degenerate input (fewer than 4 points, collinear
    sites, sites on one circle of the sphere: Qhull refuses), the path along
    the principal axis (or around the circle), which is the tree there. The
    superset is thereby always connected."""
    from scipy.spatial import ConvexHull, Delaunay, QhullError

    n = points.shape[0]
    if n < 4:
        return _principal_order(points)
    try:
        if points.shape[1] == 3:
            simplices = ConvexHull(points).simplices
        else:
            simplices = Delaunay(plane).simplices
    except QhullError:
        return _principal_order(points)
    edges = simplices[:, [0, 1, 1, 2, 0, 2]].reshape(-1, 2).astype(np.int64)
    kept = np.zeros(n, dtype=bool)
    kept[simplices.ravel()] = True
    if not kept.all():
        inside = np.flatnonzero(kept)
        left_out = np.flatnonzero(~kept)
        _, nearest = cKDTree(points[inside]).query(points[left_out])
        edges = np.vstack((edges, np.column_stack((left_out, inside[nearest]))))
    return edges


def _superset(core, k, points=None, plane=None, matrix=None):
    """Undirected edges (i < j) the 1-trees may use: each city's nearest
    neighbours, plus edges that contain a minimum spanning tree: the Delaunay
    edges or the hull of the unit-sphere points (``_spanning_edges``), or for a
    matrix its minimum spanning tree. Always connected."""
    n = core.state_size
    if matrix is not None:
        near = _matrix_nearest(matrix, k)
    else:
        near = _coordinate_nearest(points, core, k)
    a = np.repeat(np.arange(n), near.shape[1])
    b = near.ravel()
    pairs = [np.column_stack((np.minimum(a, b), np.maximum(a, b)))]
    if matrix is None:
        x, y = _spanning_edges(points, plane).T
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
    if tree.nnz != n - 1:  # the superset contains a spanning tree: never
        raise ValueError(
            "alpha candidates: the candidate superset is disconnected (no 1-tree); "
            'candidates="nearest" needs none'
        )
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


#: Lists are built over the distinct sites when a site holds this many cities.
CROWDED_SITE = 3


def distinct_sites(points):
    """The distinct sites of the cities: ``(first, site_of)`` with ``first`` the
    lowest city index at each site (sites numbered in that order, so that
    without coincident cities ``first`` and ``site_of`` are ``range(n)``) and
    ``site_of[i]`` the site of city ``i``."""
    n = points.shape[0]
    order = np.lexsort(points.T[::-1])  # by coordinates, equal points together
    ordered = points[order]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    if new.all():
        every = np.arange(n)
        return every, every
    first = np.minimum.reduceat(order, np.flatnonzero(new))
    by_first = np.argsort(first)
    number = np.empty(len(first), dtype=np.int64)
    number[by_first] = np.arange(len(first))
    site_of = np.empty(n, dtype=np.int64)
    site_of[order] = number[np.cumsum(new) - 1]
    return first[by_first], site_of


def crowded(site_of):
    """Whether a site holds ``CROWDED_SITE`` cities or more (lists over sites)."""
    return site_of.size > 0 and int(np.bincount(site_of).max()) >= CROWDED_SITE


class _SiteDistances:
    """A core's distances between sites (their first cities), for the lists of
    the distinct sites."""

    def __init__(self, core, first):
        self.state_size = len(first)
        self._core = core
        self._first = first

    def pair_distances(self, a, b):
        return self._core.pair_distances(self._first[a], self._first[b])


def _first_occurrences(rows, k):
    """Per row, the first k distinct values >= 0 of ``rows`` in column order,
    and how many there are (at most k)."""
    n, width = rows.shape
    position = np.broadcast_to(np.arange(width), rows.shape)
    order = np.lexsort((position, rows), axis=1)  # by value, then position
    values = np.take_along_axis(rows, order, axis=1)
    drop = values < 0
    drop[:, 1:] |= values[:, 1:] == values[:, :-1]
    dropped = np.empty_like(drop)
    np.put_along_axis(dropped, order, drop, axis=1)
    keep = ~dropped & (np.cumsum(~dropped, axis=1) <= k)
    chosen = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(rows, chosen, axis=1)
    count = keep.sum(axis=1)
    picked[np.arange(k)[None, :] >= count[:, None]] = -1
    return picked, count


def _expand_sites(site_rows, site_of, k, points, core):
    """City lists from the lists of the distinct sites: per city, its next and
    previous twin (cities of its site, cyclically in index order), then for
    each candidate site (in list order) its first and last city, then further
    twins; a row still short (a small site among few) is completed with the
    city's nearest cities. Sorted by distance (stable: twins, then the sites'
    order)."""
    n = site_of.shape[0]
    n_sites = int(site_of.max()) + 1
    by_site = np.argsort(site_of, kind="stable")  # cities by (site, index)
    sizes = np.bincount(site_of, minlength=n_sites)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[by_site] = np.arange(n) - starts[site_of[by_site]]
    own_start, own_size = starts[site_of], sizes[site_of]

    def twin(offset):
        other = rank + offset
        inside = (other >= 0) & (other < own_size)
        return np.where(inside, by_site[own_start + np.where(inside, other, 0)], -1)

    columns = [twin(1), twin(-1)]
    if site_rows is not None:
        listed = site_rows[site_of]  # (n, k_sites) candidate sites of each city
        first = by_site[starts[listed]]
        last = by_site[starts[listed] + sizes[listed] - 1]
        for j in range(listed.shape[1]):
            columns += [first[:, j], last[:, j]]
    for offset in range(2, k + 1):
        columns += [twin(offset), twin(-offset)]
    rows = np.column_stack(columns)
    rows[rows == np.arange(n)[:, None]] = -1
    rows, count = _first_occurrences(rows, k)
    short = np.flatnonzero(count < k)
    if short.size:
        m = min(n, 2 * k + 1)
        _, near = cKDTree(points).query(points[short], k=m)
        near = np.asarray(near, dtype=np.int64).reshape(short.size, m)
        near[near == short[:, None]] = -1
        rows[short], _ = _first_occurrences(np.hstack((rows[short], near)), k)
    lengths = core.pair_distances(np.repeat(np.arange(n), k), rows.ravel())
    order = np.argsort(lengths.reshape(n, k), axis=1, kind="stable")
    return np.take_along_axis(rows, order, axis=1)


def candidate_lists(
    core,
    kind,
    k,
    *,
    points=None,
    plane=None,
    matrix=None,
    upper_bound=None,
    sites=None,
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
    sites : tuple of ndarray, optional
        ``distinct_sites(points)``, when already known (computed otherwise).
        When a site holds ``CROWDED_SITE`` cities or more, the lists are built
        over the distinct sites (``"alpha"`` over fewer than 5 sites:
        ``"nearest"``) and expanded.

    Returns
    -------
    ndarray of int32, shape (n, k)
    """
    if matrix is None:
        first, site_of = distinct_sites(points) if sites is None else sites
        if crowded(site_of):
            k_sites = min(k, len(first) - 1)
            site_rows = None
            if k_sites >= 1:
                site_kind = "nearest" if kind == "alpha" and len(first) < 5 else kind
                site_rows = _lists(
                    _SiteDistances(core, first),
                    site_kind,
                    k_sites,
                    points=points[first],
                    plane=plane[first],
                    upper_bound=upper_bound,
                ).astype(np.int64)
            rows = _expand_sites(site_rows, site_of, k, points, core)
            return np.ascontiguousarray(rows, dtype=np.int32)
    return _lists(
        core,
        kind,
        k,
        points=points,
        plane=plane,
        matrix=matrix,
        upper_bound=upper_bound,
    )


def _lists(core, kind, k, *, points=None, plane=None, matrix=None, upper_bound=None):
    """``candidate_lists`` of distinct points (or a matrix)."""
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
