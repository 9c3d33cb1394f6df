"""Compiled core of the symmetric TSP (see _core.pxd for moves and metrics)."""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

from attnsearch.search.problems.tsp._reference import GEO_EARTH_RADIUS as _GEO_EARTH_RADIUS

#: Metric names accepted by TSPCore, in the order of the METRIC_* constants.
METRICS = {"MATRIX": METRIC_MATRIX, "EUC_2D": METRIC_EUC_2D, "CEIL_2D": METRIC_CEIL_2D,
           "ATT": METRIC_ATT, "GEO": METRIC_GEO, "EUCLIDEAN": METRIC_EUCLIDEAN}
#: Move family names, as the FAMILY_* constants.
MOVE_KINDS = {"2opt": FAMILY_2OPT, "swap": FAMILY_SWAP, "oropt": FAMILY_OROPT,
              "3opt": FAMILY_3OPT}
#: The Lin-Kernighan step's defaults: exchanges per move at most, the
#: alternatives tried at its first levels (1 below them), the longest reversal
#: on the way down and the alternate first step; see _core.pxd.
LK_DEPTH = 10
LK_BREADTH = (5, 3, 2)
LK_MAX_FLIP = 1000
LK_ALTERNATE = True
#: Undo-log entries per city (plus a constant) before rollback falls back on a copy.
LOG_ENTRIES_PER_CITY = 1
LOG_ENTRIES_EXTRA = 64
cdef int64_t _LOG_PER_CITY = LOG_ENTRIES_PER_CITY, _LOG_EXTRA = LOG_ENTRIES_EXTRA


cdef class TSPCore(CompiledProblem):
    """Compiled TSP (built and validated by ``TSP``).

    Parameters
    ----------
    n : int
    metric : str
        A key of METRICS.
    matrix : ndarray (n, n) float64 or None
        For metric "MATRIX".
    x, y : ndarray (n,) float64 or None
        Coordinates (for "GEO": latitude and longitude in radians).
    kinds : sequence of str
        Move families (keys of MOVE_KINDS) used by random moves and enumeration;
        the descent uses the 2-opt, or-opt and 3-opt among them.
    weights : sequence of float
        Probability of each family for random moves (normalised here).
    exact_costs : bool
    neighbours : ndarray (n, k) int32 or None
        Candidate lists, nearest first (None: uniform moves, no descent).
    start_tour : ndarray (n,) int32 or None
        The tour random starts copy (None: random permutations).
    kick_length : int
        Longest segment of a double-bridge kick.
    log_capacity : int, optional
        Undo-log entries before rollback falls back on a tour copy (default
        n + 64; the tests shrink it to exercise the fallback).
    lk_depth : int
        Exchanges of one Lin-Kernighan move at most (0: no Lin-Kernighan step in
        the descent; at most LK_MAX_DEPTH).
    lk_breadth : sequence of int
        Alternatives tried at the first levels of the step (at most 8 levels;
        deeper levels try 1).
    lk_max_flip : int
        The step goes deeper only through exchanges reversing at most this many
        cities (>= 1).
    lk_alternate : bool
        Whether the step also tries Lin & Kernighan's alternate first step (a
        sequential 3-opt move, then deeper levels from it); the descent then
        leaves out its separate 3-opt stage (3-opt random moves stay).
    """

    def __init__(self, Py_ssize_t n, str metric, matrix, x, y, kinds, weights,
                 bint exact_costs=False, neighbours=None, start_tour=None,
                 Py_ssize_t kick_length=50, log_capacity=None, Py_ssize_t lk_depth=0,
                 lk_breadth=LK_BREADTH, Py_ssize_t lk_max_flip=LK_MAX_FLIP,
                 lk_alternate=LK_ALTERNATE):
        cdef const double[:, ::1] matrix_view
        cdef const double[::1] x_view
        cdef const double[::1] y_view
        cdef const int32_t[::1] start_view
        cdef Py_ssize_t k
        self._init_args = (n, metric, matrix, x, y, list(kinds),
                           np.array(weights, dtype=np.float64), exact_costs, neighbours,
                           start_tour, kick_length, log_capacity, lk_depth,
                           tuple(lk_breadth), lk_max_flip, lk_alternate)
        self.data.n = n
        self.data.metric = METRICS[metric]
        self.data.matrix = NULL
        self.data.x = NULL
        self.data.y = NULL
        self.data.geo_earth_radius = _GEO_EARTH_RADIUS
        self.data.neighbours = NULL
        self.data.n_neighbours = 0
        self.data.start_tour = NULL
        self.data.kick_length = max(1, kick_length)
        self.data.log_capacity = (LOG_ENTRIES_PER_CITY * n + LOG_ENTRIES_EXTRA
                                  if log_capacity is None else max(1, log_capacity))
        self.data.fixed_sum = -1
        keep = []
        if self.data.metric == METRIC_MATRIX:
            matrix_view = np.ascontiguousarray(matrix, dtype=np.float64)
            keep.append(matrix_view)
            if n:
                self.data.matrix = &matrix_view[0, 0]
        else:
            x_view = np.ascontiguousarray(x, dtype=np.float64)
            y_view = np.ascontiguousarray(y, dtype=np.float64)
            keep += [x_view, y_view]
            if n:
                self.data.x = &x_view[0]
                self.data.y = &y_view[0]
        self._keepalive = keep
        self.data.neighbour_distances = NULL
        if neighbours is not None:
            self._install_neighbours(neighbours)
        if start_tour is not None:
            start_view = np.ascontiguousarray(start_tour, dtype=np.int32)
            if start_view.shape[0] != n:
                raise ValueError(f"start_tour must have {n} cities")
            keep.append(start_view)
            if n:
                self.data.start_tour = &start_view[0]
        weights = np.asarray(weights, dtype=np.float64)
        cdf = np.cumsum(weights / weights.sum())
        self.data.n_kinds = len(kinds)
        self.data.descent_2opt = "2opt" in kinds
        self.data.descent_oropt = "oropt" in kinds
        self._set_lk(lk_depth, lk_breadth, lk_max_flip, lk_alternate)
        for k in range(len(kinds)):
            self.data.kinds[k] = MOVE_KINDS[kinds[k]]
            self.data.cdf[k] = cdf[k]
        self.state_size = n
        self.state_dtype = np.dtype(np.int32)
        self.aux_nbytes = tsp_aux_nbytes(n, self.data.log_capacity)
        self.n_tabu_keys = n
        self.exact_costs = exact_costs
        self.vtable.data = &self.data
        self.vtable.init = tsp_init
        self.vtable.cost = tsp_cost
        self.vtable.random_move = tsp_random_move
        self.vtable.delta = tsp_delta
        self.vtable.apply = tsp_apply
        self.vtable.n_moves = tsp_n_moves
        self.vtable.move_at = tsp_move_at
        self.vtable.tabu_attributes = tsp_tabu_attributes
        self.vtable.propose = tsp_propose
        self.vtable.descend = NULL
        if tsp_can_descend(&self.data):
            self.vtable.descend = tsp_descend
        self.vtable.kick = tsp_kick
        self.vtable.checkpoint = tsp_checkpoint
        self.vtable.rollback = tsp_rollback

    def _install_neighbours(self, neighbours):
        """Point the data at candidate lists and their distances."""
        cdef const int32_t[:, ::1] view
        cdef double[:, ::1] lengths
        cdef Py_ssize_t n = self.data.n, i, r
        self.data.neighbours = NULL
        self.data.neighbour_distances = NULL
        self.data.n_neighbours = 0
        if neighbours is None:
            return
        view = np.ascontiguousarray(neighbours, dtype=np.int32)
        if view.shape[0] != n or view.shape[1] < 1:
            raise ValueError(f"neighbours must have shape ({n}, k >= 1)")
        if n and (np.min(view) < 0 or np.max(view) >= n):
            raise ValueError("neighbours hold cities outside 0..n-1")
        lengths = np.empty((view.shape[0], view.shape[1]))
        with nogil:
            for i in range(view.shape[0]):
                for r in range(view.shape[1]):
                    lengths[i, r] = tsp_distance(&self.data, i, view[i, r])
        self._keepalive += [view, lengths]
        if n:
            self.data.neighbours = &view[0, 0]
            self.data.neighbour_distances = &lengths[0, 0]
            self.data.n_neighbours = view.shape[1]

    def set_neighbours(self, neighbours):
        """Install candidate lists ((n, k) ints, nearest first; None: remove)."""
        self._install_neighbours(neighbours)
        args = list(self._init_args)
        args[8] = neighbours
        self._init_args = tuple(args)
        self.vtable.descend = NULL
        if tsp_can_descend(&self.data):
            self.vtable.descend = tsp_descend

    def _set_lk(self, Py_ssize_t depth, breadth, Py_ssize_t max_flip, alternate):
        """Install the Lin-Kernighan step's parameters (validated here)."""
        cdef Py_ssize_t level
        breadth = tuple(int(b) for b in breadth)
        if not 0 <= depth <= LK_MAX_DEPTH:
            raise ValueError(f"lk_depth must be in 0..{LK_MAX_DEPTH}, got {depth}")
        if len(breadth) > LK_BREADTH_LEVELS or any(b < 1 for b in breadth):
            raise ValueError(
                f"lk_breadth must be at most {LK_BREADTH_LEVELS} positive ints, "
                f"got {breadth!r}")
        if max_flip < 1:
            raise ValueError(f"lk_max_flip must be >= 1, got {max_flip}")
        if not isinstance(alternate, (bool, np.bool_)):
            raise TypeError(f"lk_alternate must be a bool, got {alternate!r}")
        self.data.lk_alternate = bool(alternate)
        # The step's first two levels and its alternate first step reach the
        # sequential 3-opt moves: with the alternate step the descent leaves
        # out its own 3-opt stage (together they measured worse, _core.pxd).
        self.data.descent_3opt = ("3opt" in self._init_args[5]
                                  and not (self.data.lk_alternate and depth >= 2))
        self.data.lk_max_flip = max_flip
        self.data.descent_lk = depth > 0
        self.data.lk_depth = depth
        self.data.n_lk_breadth = len(breadth)
        for level in range(len(breadth)):
            self.data.lk_breadth[level] = breadth[level]

    def set_lk(self, Py_ssize_t depth, breadth=LK_BREADTH,
               Py_ssize_t max_flip=LK_MAX_FLIP, alternate=LK_ALTERNATE):
        """Set the Lin-Kernighan step (depth 0: off), its breadth per level,
        its longest reversal on the way down and whether it tries the
        alternate first step."""
        self._set_lk(depth, breadth, max_flip, alternate)
        args = list(self._init_args)
        args[12] = depth
        args[13] = tuple(breadth)
        args[14] = max_flip
        args[15] = bool(alternate)
        self._init_args = tuple(args)
        self.vtable.descend = NULL
        if tsp_can_descend(&self.data):
            self.vtable.descend = tsp_descend

    def set_kick_length(self, Py_ssize_t kick_length):
        """Set the longest segment of a double-bridge kick."""
        self.data.kick_length = max(1, kick_length)
        args = list(self._init_args)
        args[10] = self.data.kick_length
        self._init_args = tuple(args)

    def set_start_tour(self, start_tour):
        """Install the tour random starts copy ((n,) ints; None: random starts)."""
        cdef const int32_t[::1] view
        self.data.start_tour = NULL
        if start_tour is not None:
            view = np.ascontiguousarray(start_tour, dtype=np.int32)
            if view.shape[0] != self.data.n:
                raise ValueError(f"start_tour must have {self.data.n} cities")
            self._keepalive.append(view)
            if self.data.n:
                self.data.start_tour = &view[0]
        args = list(self._init_args)
        args[9] = start_tour
        self._init_args = tuple(args)

    def aux_positions(self, aux):
        """The position index (pos[city], int32) inside one chain's workspace row."""
        row = np.asarray(aux).view(np.uint8).reshape(-1)
        start = sizeof(TSPAux)
        return row[start : start + 4 * self.data.n].view(np.int32)

    @property
    def n_neighbours(self):
        """Candidates per city (0 without candidate lists)."""
        return self.data.n_neighbours

    def tour_lengths(self, tours):
        """Closed length of each row of ``tours`` ((m, n) or (n,) int32 permutations)."""
        cdef int32_t[:, ::1] view = np.ascontiguousarray(np.atleast_2d(tours),
                                                         dtype=np.int32)
        cdef double[::1] out = np.empty(view.shape[0])
        cdef Py_ssize_t r
        if view.shape[1] != self.data.n:
            raise ValueError(f"tours must have {self.data.n} columns")
        with nogil:
            for r in range(view.shape[0]):
                out[r] = tsp_tour_length(&self.data, &view[r, 0]) if self.data.n else 0.0
        return np.asarray(out)

    def distance(self, Py_ssize_t a, Py_ssize_t b):
        """Distance between cities a and b under this instance's metric."""
        if not (0 <= a < self.data.n and 0 <= b < self.data.n):
            raise IndexError("city index out of range")
        return tsp_distance(&self.data, a, b)

    def pair_distances(self, a, b):
        """Distances between cities ``a[i]`` and ``b[i]`` (equal-length int arrays)."""
        cdef const int64_t[::1] a_view = np.ascontiguousarray(a, dtype=np.int64).ravel()
        cdef const int64_t[::1] b_view = np.ascontiguousarray(b, dtype=np.int64).ravel()
        cdef double[::1] out = np.empty(a_view.shape[0])
        cdef Py_ssize_t i
        if a_view.shape[0] != b_view.shape[0]:
            raise ValueError("a and b must have the same length")
        for i in range(a_view.shape[0]):
            if not (0 <= a_view[i] < self.data.n and 0 <= b_view[i] < self.data.n):
                raise IndexError("city index out of range")
        with nogil:
            for i in range(a_view.shape[0]):
                out[i] = tsp_distance(&self.data, a_view[i], b_view[i])
        return np.asarray(out)


cdef int _improve_segment(const TSPData *template, int32_t *tour, const double *x,
                          const double *y, const int32_t *neighbours, int64_t m,
                          const uint8_t *queued, uint64_t *rng_state, int64_t n_kicks,
                          double tolerance, double deadline,
                          SegmentStats *out) noexcept nogil:
    """One segment of m cities (local numbering, ends 0 and 1) under the instance's
    metric and moves: its own data, candidate distances and workspace, then
    tsp_segment_search. Returns -1 when memory ran out (nothing changed)."""
    cdef TSPData d = template[0]
    cdef int64_t K = template.n_neighbours, i
    cdef double *lengths
    cdef char *aux
    cdef attnsearch_rng rng
    d.n = m
    d.x = x
    d.y = y
    d.neighbours = neighbours
    d.start_tour = NULL
    d.log_capacity = _LOG_PER_CITY * m + _LOG_EXTRA
    d.fixed_sum = 1
    lengths = <double *>malloc(m * K * sizeof(double))
    aux = <char *>malloc(tsp_aux_nbytes(m, d.log_capacity))
    if lengths == NULL or aux == NULL:
        free(lengths)
        free(aux)
        return -1
    for i in range(m * K):
        lengths[i] = tsp_distance(&d, i // K, neighbours[i])
    d.neighbour_distances = lengths
    for i in range(4):
        rng.s[i] = rng_state[i]
    tsp_segment_search(&d, tour, aux, queued, &rng, n_kicks, tolerance, deadline, out)
    free(lengths)
    free(aux)
    return 0


def improve_segments(TSPCore core, tours, xs, ys, neighbours, starts, rng_states,
                     kicks, double tolerance, double deadline, int num_threads,
                     queued=None):
    """Iterated local search on every segment of a partitioned tour, in parallel
    (partition.py cuts and merges; _reference.segment_search is the mirror).

    Segment s holds the cities starts[s]..starts[s+1]-1 of the concatenated
    arrays, numbered locally (0 and 1: its fixed ends): ``tours`` (int32, its
    tour as a cycle through the edge (0, 1), improved in place), ``xs``/``ys``
    (coordinates), ``neighbours`` ((n, k) int32, local candidate lists without
    the pair (0, 1)), ``rng_states[s]`` (its xoshiro256++ state) and
    ``kicks[s]`` (its budget), and ``queued`` (uint8 per local city, or None:
    all) the cities its first descent starts from (don't-look bits off; the
    others were a local optimum already). What a segment does depends on its own inputs
    only, so neither the thread count nor the order of the segments changes
    a result (unless the deadline stops them).

    Returns
    -------
    counts : ndarray (segments, 4) int64
        Kicks made, kicks kept, evaluations, moves applied per segment.
    deltas : ndarray (segments,) float64
        Change of each segment's length.
    """
    cdef int32_t[::1] tour_view = tours
    cdef const double[::1] x_view = np.ascontiguousarray(xs, dtype=np.float64)
    cdef const double[::1] y_view = np.ascontiguousarray(ys, dtype=np.float64)
    cdef const int32_t[:, ::1] nb_view = np.ascontiguousarray(neighbours, dtype=np.int32)
    cdef const int64_t[::1] start_view = np.ascontiguousarray(starts, dtype=np.int64)
    cdef uint64_t[:, ::1] rng_view = np.ascontiguousarray(rng_states, dtype=np.uint64)
    cdef const int64_t[::1] kick_view = np.ascontiguousarray(kicks, dtype=np.int64)
    cdef const uint8_t[::1] queued_view
    cdef const uint8_t *queued_cities = NULL
    cdef Py_ssize_t n_segments = start_view.shape[0] - 1, s
    cdef int64_t n = tour_view.shape[0], K = nb_view.shape[1], first, m
    counts_array = np.zeros((max(n_segments, 0), 4), dtype=np.int64)
    deltas_array = np.zeros(max(n_segments, 0))
    failed_array = np.zeros(max(n_segments, 0), dtype=np.int32)
    cdef int64_t[:, ::1] counts = counts_array
    cdef double[::1] deltas = deltas_array
    cdef int32_t[::1] failed = failed_array
    cdef SegmentStats *stats
    if core.data.metric == METRIC_MATRIX:
        raise ValueError("tour partitioning needs coordinates (not a distance matrix)")
    if K != core.data.n_neighbours or K < 1:
        raise ValueError(f"neighbours must have {core.data.n_neighbours} columns")
    if (x_view.shape[0] != n or y_view.shape[0] != n or nb_view.shape[0] != n
            or rng_view.shape[0] != n_segments or kick_view.shape[0] != n_segments
            or n_segments < 1 or start_view[0] != 0 or start_view[n_segments] != n):
        raise ValueError("the segment arrays do not match")
    sizes = np.diff(np.asarray(start_view))
    if sizes.min() < 8:
        raise ValueError("segments must have at least 8 cities")
    # Local ids must stay inside their segment (pos[] is indexed by them).
    row_size = np.repeat(sizes, sizes)
    local_tours = np.asarray(tour_view)
    nb = np.asarray(nb_view)
    offsets = np.repeat(np.asarray(start_view)[:n_segments], sizes)
    if (local_tours.min() < 0 or np.any(local_tours >= row_size)
            or np.any(np.bincount(local_tours + offsets, minlength=n) != 1)):
        raise ValueError("each segment's tour must be a permutation of its cities")
    if nb.min() < 0 or np.any(nb >= row_size[:, None]):
        raise ValueError("neighbours hold cities outside their segment")
    if queued is not None:
        queued = np.asarray(queued)
        if queued.shape != (n,) or not np.isin(queued, (0, 1)).all():
            raise ValueError(f"queued must hold {n} flags (0 or 1)")
        queued_view = np.ascontiguousarray(queued, dtype=np.uint8)
        queued_cities = &queued_view[0]
    heads = np.asarray(start_view)[:n_segments]
    if np.any(nb[heads] == 1) or np.any(nb[heads + 1] == 0):
        raise ValueError("a segment's ends (0, 1) must not be each other's candidates")
    stats = <SegmentStats *>malloc(n_segments * sizeof(SegmentStats))
    if stats == NULL:
        raise MemoryError("out of memory for the segments' counters")
    with nogil:
        for s in prange(n_segments, schedule="dynamic", num_threads=num_threads):
            first = start_view[s]
            m = start_view[s + 1] - first
            failed[s] = _improve_segment(
                &core.data, &tour_view[first], &x_view[first], &y_view[first],
                &nb_view[first, 0], m,
                NULL if queued_cities == NULL else queued_cities + first,
                &rng_view[s, 0], kick_view[s], tolerance, deadline, &stats[s])
    for s in range(n_segments):
        counts[s, 0] = stats[s].kicks
        counts[s, 1] = stats[s].accepted
        counts[s, 2] = stats[s].evaluations
        counts[s, 3] = stats[s].moves
        deltas[s] = stats[s].delta
    free(stats)
    if failed_array.any():
        raise MemoryError("out of memory for a segment's workspace")
    return counts_array, deltas_array


def greedy_matching(Py_ssize_t n, edges_a, edges_b):
    """The greedy-edge fragments: scan the edges in the given order (shortest
    first) and keep each one whose ends both have degree < 2 and lie in different
    fragments (union-find with path halving).

    Returns
    -------
    links : ndarray (n, 2) int32
        The (up to two) kept neighbours of each city, -1 where none.
    """
    cdef const int64_t[::1] a_view = np.ascontiguousarray(edges_a, dtype=np.int64)
    cdef const int64_t[::1] b_view = np.ascontiguousarray(edges_b, dtype=np.int64)
    links_array = np.full((n, 2), -1, dtype=np.int32)
    cdef int32_t[:, ::1] links = links_array
    cdef int64_t[::1] parent = np.arange(n, dtype=np.int64)
    cdef uint8_t[::1] degree = np.zeros(n, dtype=np.uint8)
    cdef Py_ssize_t e, m = a_view.shape[0]
    cdef int64_t a, b, ra, rb
    if b_view.shape[0] != m:
        raise ValueError("edges_a and edges_b must have the same length")
    for e in range(m):
        if not (0 <= a_view[e] < n and 0 <= b_view[e] < n):
            raise IndexError("city index out of range")
    with nogil:
        for e in range(m):
            a = a_view[e]
            b = b_view[e]
            if a == b or degree[a] >= 2 or degree[b] >= 2:
                continue
            ra = a
            while parent[ra] != ra:
                parent[ra] = parent[parent[ra]]
                ra = parent[ra]
            rb = b
            while parent[rb] != rb:
                parent[rb] = parent[parent[rb]]
                rb = parent[rb]
            if ra == rb:
                continue
            parent[ra] = rb
            links[a, degree[a]] = <int32_t>b
            links[b, degree[b]] = <int32_t>a
            degree[a] += 1
            degree[b] += 1
    return links_array
