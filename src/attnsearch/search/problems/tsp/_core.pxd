# Symmetric TSP over a tour array (state: int32 city per position). Distances come
# from a dense matrix or are computed on the fly from coordinates with the TSPLIB
# rules, so a 100k-city instance needs no n x n matrix.
#
# Tour representation: the array plus a position index pos[city] kept in the
# chain's workspace (aux). Every move is a sequence of "exchanges" (2-opt moves
# named by their four cities), each reversing the shorter of the two paths it
# could reverse, so a 2-opt move costs O(min(k, n - k)) for a reversal of k
# positions, never O(n) for a short one. Reversals are logged while a checkpoint
# is open, which is how iterated local search undoes a rejected kick + descent
# in the time the moves took, not in O(n).
#
# Move kinds (position form, all with O(1) deltas):
#   2-opt      (i, j), i < j: remove (t[i], t[i+1]) and (t[j], t[j+1]), reconnect
#   swap       (i, j): exchange the cities at positions i and j
#   or-opt     (i, k = length 1..3, j): move t[i .. i+k-1] between t[j] and t[j+1],
#              keeping its orientation (KIND_OROPT) or reversed (KIND_OROPT_REV)
#   3-opt      (i, j, k), i < j < k, kind KIND_3OPT + type: the four pure
#              sequential 3-opt reconnections of R S1 S2 (S1 = t[i+1..j],
#              S2 = t[j+1..k]): 0: R S1' S2', 1: R S2 S1, 2: R S2 S1', 3: R S2' S1
# With candidate lists (neighbours), random moves and the enumerable
# neighbourhood are built around each city's k nearest neighbours instead of
# uniform pairs, and `descend` is a first-improvement local search with
# don't-look bits (a queue of active cities in aux): O(n k) per pass.
#
# The operations have exactly the signatures of cython_api's ProblemVTable: the
# engine inlines them (fused-type dispatch) and TSPCore's vtable points at them.
# _reference.py mirrors every line (the tests compare trajectories).

from libc.math cimport INFINITY, acos, ceil, cos, floor, sqrt
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t
from libc.string cimport memcpy, memset

from attnsearch.search.cython_api cimport (
    MOVE_NONE,
    CompiledProblem,
    DescentStats,
    Move,
    attnsearch_rng,
    rng_below,
    rng_uniform,
)

cdef enum:
    METRIC_MATRIX = 0
    METRIC_EUC_2D = 1
    METRIC_CEIL_2D = 2
    METRIC_ATT = 3
    METRIC_GEO = 4
    METRIC_EUCLIDEAN = 5

# Move families a TSP is built with (its `moves`).
cdef enum:
    FAMILY_2OPT = 0
    FAMILY_SWAP = 1
    FAMILY_OROPT = 2
    FAMILY_3OPT = 3

# Move kinds (Move.kind).
cdef enum:
    KIND_2OPT = 0
    KIND_SWAP = 1
    KIND_OROPT = 2
    KIND_OROPT_REV = 3
    KIND_3OPT = 4           # + reconnection type 0..3

cdef extern from "attnsearch_clock.h" nogil:
    double monotonic "attnsearch_monotonic"()

# A segment's descent reads the clock after this many evaluations (as the engine's
# CLOCK_EVERY).
cdef enum:
    SEGMENT_CLOCK_EVERY = 4096

# Random candidate moves are redrawn this many times before giving up (MOVE_NONE).
cdef enum:
    CANDIDATE_TRIES = 8

# The Lin-Kernighan step: exchanges per move at most, candidates read per level
# at most, levels with their own breadth.
cdef enum:
    LK_MAX_DEPTH = 64
    LK_MAX_CANDIDATES = 16
    LK_BREADTH_LEVELS = 8

ctypedef struct TSPData:
    int64_t n
    int metric
    const double *matrix        # n x n, METRIC_MATRIX only
    const double *x             # coordinates (GEO: latitude in radians)
    const double *y             # (GEO: longitude in radians)
    double geo_earth_radius     # _reference.GEO_EARTH_RADIUS: TSPLIB95's, written once
    int n_kinds                 # move families in use, in order, with cumulative weights
    int kinds[4]
    double cdf[4]
    const int32_t *neighbours   # n x n_neighbours candidate lists, nearest first (or NULL)
    const double *neighbour_distances   # their distances (the descent reads them)
    int64_t n_neighbours
    const int32_t *start_tour   # the constructed start tour (greedy, ...), or NULL: random
    int64_t kick_length         # longest segment of a double-bridge kick
    bint descent_2opt           # move families the descent tries
    bint descent_oropt
    bint descent_3opt
    bint descent_lk             # the Lin-Kernighan step (after the moves above)
    int64_t lk_depth            # its exchanges at most (<= LK_MAX_DEPTH)
    int64_t lk_breadth[8]       # alternatives tried per level (deeper levels: 1)
    int64_t n_lk_breadth
    int64_t lk_max_flip         # deeper only through exchanges reversing <= this
    bint lk_alternate           # also the alternate first step (a 3-opt move)
    int64_t log_capacity        # undo-log entries before falling back on a tour copy
    # A tour segment improved as a path (partition.py): cities 0 and 1 are its
    # fixed endpoints, and the edge between them stands for the rest of the tour.
    # Its length is -inf, so no move gains by removing it and no kick cuts it;
    # fixed_sum = 1 there (a + b == 1 only for that pair), -1 (never) otherwise.
    int64_t fixed_sum


# The chain's workspace: this header, then pos[n], queue[n] (int32), active[n]
# (uint8, padded to 8 bytes), the undo log (2 x log_capacity int32) and a backup
# tour[n] used once the log overflows.
ctypedef struct TSPAux:
    int64_t head                # queue of active cities (don't-look bits off)
    int64_t count
    int64_t log_len             # entries in the undo log
    int64_t recording           # 0: no checkpoint, 1: logging, 2: the backup holds it


cdef inline int64_t tsp_aux_nbytes(int64_t n, int64_t log_capacity) noexcept nogil:
    """Bytes of one chain's workspace."""
    return sizeof(TSPAux) + 8 * n + ((n + 7) // 8) * 8 + 8 * log_capacity + 4 * n


cdef inline int32_t *tsp_pos(const TSPData *p, const char *aux) noexcept nogil:
    """The position index (pos[city])."""
    return <int32_t *>(aux + sizeof(TSPAux))


cdef inline int32_t *tsp_queue(const TSPData *p, const char *aux) noexcept nogil:
    return <int32_t *>(aux + sizeof(TSPAux)) + p.n


cdef inline uint8_t *tsp_active(const TSPData *p, const char *aux) noexcept nogil:
    return <uint8_t *>(<int32_t *>(aux + sizeof(TSPAux)) + 2 * p.n)


cdef inline int32_t *tsp_log(const TSPData *p, const char *aux) noexcept nogil:
    return <int32_t *>(aux + sizeof(TSPAux) + 8 * p.n + ((p.n + 7) // 8) * 8)


cdef inline int32_t *tsp_backup(const TSPData *p, const char *aux) noexcept nogil:
    return tsp_log(p, aux) + 2 * p.log_capacity


# -- distances ------------------------------------------------------------------------

cdef inline double tsp_distance(const TSPData *p, int64_t a, int64_t b) noexcept nogil:
    """Distance between cities a and b: TSPLIB95's rules, operation by operation
    as _reference.py's formulas (the tests compare the bits)."""
    cdef double dx, dy, r, t, q1, q2, q3, cosine
    if a + b == p.fixed_sum:
        return -INFINITY
    if p.metric == METRIC_MATRIX:
        return p.matrix[a * p.n + b]
    if p.metric == METRIC_GEO:
        q1 = cos(p.y[a] - p.y[b])
        q2 = cos(p.x[a] - p.x[b])
        q3 = cos(p.x[a] + p.x[b])
        cosine = 0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)
        # Rounding never carries this form of the argument past +-1 (each product
        # is bounded by the rounded 1 +- q1, which add up to at most 2), but acos
        # would be NaN there: every implementation clips, so none relies on it.
        if cosine > 1.0:
            cosine = 1.0
        elif cosine < -1.0:
            cosine = -1.0
        return floor(p.geo_earth_radius * acos(cosine) + 1.0)
    dx = p.x[a] - p.x[b]
    dy = p.y[a] - p.y[b]
    if p.metric == METRIC_EUC_2D:
        return floor(sqrt(dx * dx + dy * dy) + 0.5)
    if p.metric == METRIC_CEIL_2D:
        return ceil(sqrt(dx * dx + dy * dy))
    if p.metric == METRIC_ATT:
        r = sqrt((dx * dx + dy * dy) / 10.0)
        t = floor(r + 0.5)
        return t + 1.0 if t < r else t
    return sqrt(dx * dx + dy * dy)


cdef inline double tsp_tour_length(const TSPData *p, const int32_t *tour) noexcept nogil:
    cdef double total = 0
    cdef int64_t i
    if p.n < 2:
        return 0
    for i in range(p.n - 1):
        total += tsp_distance(p, tour[i], tour[i + 1])
    return total + tsp_distance(p, tour[p.n - 1], tour[0])


cdef inline double tsp_cost(const void *data, const char *state,
                            const char *aux) noexcept nogil:
    return tsp_tour_length(<const TSPData *>data, <const int32_t *>state)


# -- positions, reversals, the undo log ---------------------------------------------

cdef inline int64_t _wrap(int64_t i, int64_t n) noexcept nogil:
    """i mod n for i in [-n, 2n)."""
    if i < 0:
        return i + n
    if i >= n:
        return i - n
    return i


cdef inline int32_t _next(const TSPData *p, const int32_t *t, const int32_t *pos,
                          int32_t city) noexcept nogil:
    return t[_wrap(pos[city] + 1, p.n)]


cdef inline int32_t _prev(const TSPData *p, const int32_t *t, const int32_t *pos,
                          int32_t city) noexcept nogil:
    return t[_wrap(pos[city] - 1, p.n)]


cdef inline void _reverse_raw(int32_t *t, int32_t *pos, int64_t n, int64_t first,
                              int64_t count) noexcept nogil:
    """Reverse ``count`` positions of the cyclic tour from ``first``, keeping pos."""
    cdef int64_t i = first, j = first + count - 1, _step
    cdef int32_t a, b
    if j < n:
        while i < j:
            a = t[i]
            b = t[j]
            t[i] = b
            pos[b] = <int32_t>i
            t[j] = a
            pos[a] = <int32_t>j
            i += 1
            j -= 1
        return
    j -= n
    for _step in range(count // 2):
        a = t[i]
        b = t[j]
        t[i] = b
        pos[b] = <int32_t>i
        t[j] = a
        pos[a] = <int32_t>j
        i += 1
        if i == n:
            i = 0
        j -= 1
        if j < 0:
            j = n - 1


cdef inline void _redo(int32_t *t, int32_t *pos, int64_t n, int32_t a,
                       int32_t b) noexcept nogil:
    """Perform one undo-log entry (each is its own inverse): a reversal of b >= 0
    positions from a, or the swap of positions a and -b-1."""
    cdef int32_t city
    if b >= 0:
        _reverse_raw(t, pos, n, a, b)
    else:
        city = t[a]
        t[a] = t[-b - 1]
        pos[t[a]] = a
        t[-b - 1] = city
        pos[city] = -b - 1


cdef inline void _record(const TSPData *p, int32_t *t, int32_t *pos, char *aux, int32_t a,
                         int32_t b) noexcept nogil:
    """Log entry (a, b), just performed, while a checkpoint is open. An entry
    equal to the last one undid it (each is its own inverse: the Lin-Kernighan
    step's tentative exchanges and their undoing), so both go: rollback never
    replays the search's dead ends. When the log is full: undo everything, keep
    a copy of the checkpoint's tour, redo (the cost of the moves already made,
    plus O(n) once); rollback then copies."""
    cdef TSPAux *h = <TSPAux *>aux
    cdef int32_t *log
    cdef int64_t e
    if h.recording != 1:
        return
    log = tsp_log(p, aux)
    if h.log_len > 0 and log[2 * h.log_len - 2] == a and log[2 * h.log_len - 1] == b:
        h.log_len -= 1
        return
    if h.log_len < p.log_capacity:
        log[2 * h.log_len] = a
        log[2 * h.log_len + 1] = b
        h.log_len += 1
        return
    _redo(t, pos, p.n, a, b)
    e = h.log_len - 1
    while e >= 0:
        _redo(t, pos, p.n, log[2 * e], log[2 * e + 1])
        e -= 1
    memcpy(tsp_backup(p, aux), t, p.n * sizeof(int32_t))
    for e in range(h.log_len):
        _redo(t, pos, p.n, log[2 * e], log[2 * e + 1])
    _redo(t, pos, p.n, a, b)
    h.log_len = 0
    h.recording = 2


cdef inline void _reverse_path(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                               int64_t i, int64_t j) noexcept nogil:
    """Reverse the path at positions i..j (cyclic, inclusive) in the cycle: the
    positions themselves or the rest of the tour, whichever is shorter (the same
    cycle either way)."""
    cdef int64_t n = p.n, length = j - i + 1, first, count
    if length <= 0:
        length += n
    if 2 * length <= n:
        first = i
        count = length
    else:
        first = _wrap(j + 1, n)
        count = n - length
    if count > 1:
        _reverse_raw(t, pos, n, first, count)
        _record(p, t, pos, aux, <int32_t>first, <int32_t>count)


cdef inline void _exchange(const TSPData *p, int32_t *t, int32_t *pos, char *aux, int32_t a,
                           int32_t b, int32_t c, int32_t d) noexcept nogil:
    """The 2-opt move that removes edges (a, b), (c, d) and adds (a, c), (b, d);
    b follows a and d follows c in the same direction of the cycle."""
    if t[_wrap(pos[a] + 1, p.n)] == b:
        _reverse_path(p, t, pos, aux, pos[b], pos[c])
    else:
        _reverse_path(p, t, pos, aux, pos[c], pos[b])


cdef inline void _activate(const TSPData *p, char *aux, int32_t city) noexcept nogil:
    """Turn the city's don't-look bit off (append it to the queue)."""
    cdef TSPAux *h = <TSPAux *>aux
    cdef uint8_t *active = tsp_active(p, aux)
    if active[city]:
        return
    active[city] = 1
    tsp_queue(p, aux)[_wrap(h.head + h.count, p.n)] = city
    h.count += 1


cdef inline void _clear_queue(const TSPData *p, char *aux) noexcept nogil:
    cdef TSPAux *h = <TSPAux *>aux
    cdef uint8_t *active = tsp_active(p, aux)
    cdef int32_t *queue = tsp_queue(p, aux)
    while h.count > 0:
        active[queue[h.head]] = 0
        h.head = _wrap(h.head + 1, p.n)
        h.count -= 1
    h.head = 0


# -- init, moves ---------------------------------------------------------------------

cdef inline int tsp_init(const void *data, char *state, char *aux, attnsearch_rng *rng,
                         bint random_start) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *tour = <int32_t *>state
    cdef TSPAux *h = <TSPAux *>aux
    cdef int32_t *pos = tsp_pos(p, aux)
    cdef int32_t *queue = tsp_queue(p, aux)
    cdef int64_t i, j
    cdef int32_t tmp
    if random_start:
        if p.start_tour != NULL:
            memcpy(tour, p.start_tour, p.n * sizeof(int32_t))
        else:
            # Fisher-Yates from the identity.
            for i in range(p.n):
                tour[i] = <int32_t>i
            i = p.n - 1
            while i > 0:
                j = <int64_t>rng_below(rng, <unsigned long long>(i + 1))
                tmp = tour[i]
                tour[i] = tour[j]
                tour[j] = tmp
                i -= 1
    # (Permutation validity of a given tour is checked in Python, with the GIL.)
    h.head = 0
    h.count = p.n
    h.log_len = 0
    h.recording = 0
    for i in range(p.n):
        pos[tour[i]] = <int32_t>i
        queue[i] = tour[i]
    memset(tsp_active(p, aux), 1, p.n)
    return 0


cdef inline bint _valid_2opt(int64_t n, int64_t i, int64_t j) noexcept nogil:
    return j - i >= 2 and not (i == 0 and j == n - 1)


cdef inline void _set_2opt(Move *move, int64_t n, int64_t i, int64_t j) noexcept nogil:
    """A 2-opt move on the edges starting at positions i and j (any order)."""
    move.kind = KIND_2OPT
    move.i = min(i, j)
    move.j = max(i, j)
    move.k = 0
    if not _valid_2opt(n, move.i, move.j):
        move.kind = MOVE_NONE


cdef inline void _set_oropt(Move *move, int64_t n, int64_t i, int64_t length, int64_t j,
                            bint forward) noexcept nogil:
    """Or-opt: t[i .. i+length-1] between t[j] and t[j+1]; MOVE_NONE unless j lies
    outside i-1 .. i+length-1 and at least 3 cities stay outside the segment."""
    move.kind = KIND_OROPT if forward else KIND_OROPT_REV
    move.i = i
    move.j = j
    move.k = length
    if n < length + 3 or _wrap(j - i + 1, n) <= length:
        move.kind = MOVE_NONE


cdef inline int64_t _edge_start(const TSPData *p, const int32_t *t, const int32_t *pos,
                                int32_t u, int32_t v) noexcept nogil:
    """Position of the first city of tour edge (u, v) in array order."""
    if t[_wrap(pos[u] + 1, p.n)] == v:
        return pos[u]
    return pos[v]


cdef inline bint _pair_in(int32_t x, int32_t y, int32_t u1, int32_t v1, int32_t u2,
                          int32_t v2, int32_t u3, int32_t v3) noexcept nogil:
    """Whether the undirected edge (x, y) is one of the three."""
    return ((x == u1 and y == v1) or (x == v1 and y == u1)
            or (x == u2 and y == v2) or (x == v2 and y == u2)
            or (x == u3 and y == v3) or (x == v3 and y == u3))


cdef inline void _set_3opt(const TSPData *p, const int32_t *t, const int32_t *pos,
                           Move *move, int32_t t1, int32_t t2, int32_t t3, int32_t t4,
                           int32_t t5, int32_t t6) noexcept nogil:
    """The sequential 3-opt move removing tour edges (t1, t2), (t3, t4), (t5, t6)
    and adding (t2, t3), (t4, t5), (t6, t1), in position form; MOVE_NONE when the
    edges are not three distinct ones, the rest R has fewer than 2 cities, or the
    reconnection is not a single tour."""
    cdef int64_t n = p.n, s1, s2, s3, tmp, i, j, k
    cdef int32_t a, b, c, d, e, f
    cdef int kind
    move.kind = MOVE_NONE
    s1 = _edge_start(p, t, pos, t1, t2)
    s2 = _edge_start(p, t, pos, t3, t4)
    s3 = _edge_start(p, t, pos, t5, t6)
    if s1 > s2:
        tmp = s1
        s1 = s2
        s2 = tmp
    if s2 > s3:
        tmp = s2
        s2 = s3
        s3 = tmp
    if s1 > s2:
        tmp = s1
        s1 = s2
        s2 = tmp
    i = s1
    j = s2
    k = s3
    if i == j or j == k or n - (k - i) < 2:
        return
    a = t[i]
    b = t[i + 1]
    c = t[j]
    d = t[j + 1]
    e = t[k]
    f = t[_wrap(k + 1, n)]
    if (_pair_in(a, c, t2, t3, t4, t5, t6, t1) and _pair_in(b, e, t2, t3, t4, t5, t6, t1)
            and _pair_in(d, f, t2, t3, t4, t5, t6, t1)):
        kind = 0
    elif (_pair_in(a, d, t2, t3, t4, t5, t6, t1) and _pair_in(e, b, t2, t3, t4, t5, t6, t1)
            and _pair_in(c, f, t2, t3, t4, t5, t6, t1)):
        kind = 1
    elif (_pair_in(a, d, t2, t3, t4, t5, t6, t1) and _pair_in(e, c, t2, t3, t4, t5, t6, t1)
            and _pair_in(b, f, t2, t3, t4, t5, t6, t1)):
        kind = 2
    elif (_pair_in(a, e, t2, t3, t4, t5, t6, t1) and _pair_in(d, b, t2, t3, t4, t5, t6, t1)
            and _pair_in(c, f, t2, t3, t4, t5, t6, t1)):
        kind = 3
    else:
        return
    move.kind = KIND_3OPT + kind
    move.i = i
    move.j = j
    move.k = k


cdef inline int _draw_family(const TSPData *p, attnsearch_rng *rng) noexcept nogil:
    cdef int kind = p.kinds[0], index
    cdef double u
    if p.n_kinds > 1:
        u = rng_uniform(rng)
        kind = p.kinds[p.n_kinds - 1]
        for index in range(p.n_kinds - 1):
            if u < p.cdf[index]:
                kind = p.kinds[index]
                break
    return kind


cdef inline void _candidate_move(const TSPData *p, const int32_t *t, const int32_t *pos,
                                 int family, int32_t a, int64_t r1, int direction,
                                 int64_t length, int side, int64_t r2, int side2,
                                 Move *move) noexcept nogil:
    """The move of `family` built around city a and its candidate neighbours
    (also the layout of the enumerable neighbourhood):

    * 2-opt: new edge (a, c), c = candidate r1 of a; direction 0 removes the
      edges after a and after c, 1 the edges before them;
    * swap: a and c trade places;
    * or-opt: the segment of `length` cities that ends at a and extends away
      from b = a's neighbour on side `direction` (0: after, 1: before) moves
      next to c, between c and its neighbour after it (side 0) or before it
      (side 1), with a beside c;
    * 3-opt (Lin-Kernighan, depth 3): t1 = a, t2 = its neighbour on side
      `direction`, t3 = candidate r1 of t2, t4 = t3's neighbour on `side`,
      t5 = candidate r2 of t4, t6 = t5's neighbour on `side2`.
    """
    cdef int64_t n = p.n, K = p.n_neighbours, pa = pos[a], pc, i
    cdef int32_t c = p.neighbours[a * K + r1], t2, t3, t4, t5, t6
    move.kind = MOVE_NONE
    if family == FAMILY_2OPT:
        pc = pos[c]
        if direction == 0:
            _set_2opt(move, n, pa, pc)
        else:
            _set_2opt(move, n, _wrap(pa - 1, n), _wrap(pc - 1, n))
    elif family == FAMILY_SWAP:
        move.kind = KIND_SWAP
        move.i = min(pa, pos[c])
        move.j = max(pa, pos[c])
        move.k = 0
    elif family == FAMILY_OROPT:
        # direction 0: b after a, the segment ends at a and runs backwards;
        # direction 1: b before a, the segment starts at a.
        i = _wrap(pa - length + 1, n) if direction == 0 else pa
        pc = pos[c]
        _set_oropt(move, n, i, length, pc if side == 0 else _wrap(pc - 1, n),
                   direction != side)
    else:
        t2 = t[_wrap(pa + 1, n)] if direction == 0 else t[_wrap(pa - 1, n)]
        t3 = p.neighbours[t2 * K + r1]
        if t3 == a:
            return
        t4 = _next(p, t, pos, t3) if side == 0 else _prev(p, t, pos, t3)
        if t4 == t2:
            return
        t5 = p.neighbours[t4 * K + r2]
        if t5 == t3 or t5 == t2:
            return
        t6 = _next(p, t, pos, t5) if side2 == 0 else _prev(p, t, pos, t5)
        _set_3opt(p, t, pos, move, a, t2, t3, t4, t5, t6)


cdef inline void tsp_random_move(const void *data, const char *state, char *aux,
                                 attnsearch_rng *rng, Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef const int32_t *t = <const int32_t *>state
    cdef const int32_t *pos = tsp_pos(p, aux)
    cdef int64_t n = p.n, i, j, length, r1, r2, K = p.n_neighbours, _attempt
    cdef int kind, direction, side, side2
    cdef int32_t a
    if n < 4:
        move.kind = MOVE_NONE
        return
    kind = _draw_family(p, rng)
    if p.neighbours != NULL and n >= 5:
        # A move around a random city and its candidates, redrawn when invalid.
        for _attempt in range(CANDIDATE_TRIES):
            a = <int32_t>rng_below(rng, <unsigned long long>n)
            r1 = <int64_t>rng_below(rng, <unsigned long long>K)
            direction = <int>rng_below(rng, 2)
            length = side = side2 = r2 = 0
            if kind == FAMILY_OROPT:
                length = 1 + <int64_t>rng_below(rng, <unsigned long long>min(3, n - 3))
                side = <int>rng_below(rng, 2)
            elif kind == FAMILY_3OPT:
                side = <int>rng_below(rng, 2)
                r2 = <int64_t>rng_below(rng, <unsigned long long>K)
                side2 = <int>rng_below(rng, 2)
            _candidate_move(p, t, pos, kind, a, r1, direction, length, side, r2, side2,
                            move)
            if move.kind != MOVE_NONE:
                return
        return
    move.kind = MOVE_NONE
    if kind == FAMILY_3OPT:
        return      # 3-opt moves are built over candidate lists only
    move.kind = KIND_OROPT if kind == FAMILY_OROPT else kind
    if kind == FAMILY_OROPT:
        length = 1 + <int64_t>rng_below(rng, <unsigned long long>min(3, n - 3))
        i = <int64_t>rng_below(rng, <unsigned long long>(n - length + 1))
        move.i = i
        move.k = length
        move.j = (i + length + <int64_t>rng_below(rng, <unsigned long long>(n - length - 1))) % n
        return
    i = <int64_t>rng_below(rng, <unsigned long long>n)
    if kind == FAMILY_2OPT:
        j = (i + 2 + <int64_t>rng_below(rng, <unsigned long long>(n - 3))) % n
    else:
        j = (i + 1 + <int64_t>rng_below(rng, <unsigned long long>(n - 1))) % n
    move.i = min(i, j)
    move.j = max(i, j)
    move.k = 0


cdef inline void tsp_propose(const void *data, const char *state, char *aux,
                             attnsearch_rng *rng, int64_t attempt, Move *move) noexcept nogil:
    tsp_random_move(data, state, aux, rng, move)


cdef inline double tsp_delta(const void *data, const char *state, const char *aux,
                             const Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef const int32_t *t = <const int32_t *>state
    cdef int64_t n = p.n, a = move.i, b = move.j, x, y
    cdef int32_t ta, tb, pa, na, pb, nb, s0, sl, before, after, left, right
    cdef int32_t c, d, e, f
    cdef double removed
    if move.kind == KIND_2OPT:
        ta = t[a]
        tb = t[b]
        na = t[a + 1]
        nb = t[(b + 1) % n]
        return (tsp_distance(p, ta, tb) + tsp_distance(p, na, nb)
                - tsp_distance(p, ta, na) - tsp_distance(p, tb, nb))
    if move.kind == KIND_SWAP:
        if b - a == 1 or (a == 0 and b == n - 1):
            # Neighbours in the cycle: x comes right before y.
            x = a if b - a == 1 else b
            y = b if b - a == 1 else a
            before = t[(x - 1 + n) % n]
            after = t[(y + 1) % n]
            return (tsp_distance(p, before, t[y]) + tsp_distance(p, t[x], after)
                    - tsp_distance(p, before, t[x]) - tsp_distance(p, t[y], after))
        ta = t[a]
        tb = t[b]
        pa = t[(a - 1 + n) % n]
        na = t[a + 1]
        pb = t[b - 1]
        nb = t[(b + 1) % n]
        return (tsp_distance(p, pa, tb) + tsp_distance(p, tb, na)
                + tsp_distance(p, pb, ta) + tsp_distance(p, ta, nb)
                - tsp_distance(p, pa, ta) - tsp_distance(p, ta, na)
                - tsp_distance(p, pb, tb) - tsp_distance(p, tb, nb))
    if move.kind == KIND_OROPT or move.kind == KIND_OROPT_REV:
        before = t[_wrap(a - 1, n)]
        after = t[_wrap(a + move.k, n)]
        s0 = t[a]
        sl = t[_wrap(a + move.k - 1, n)]
        left = t[b]
        right = t[_wrap(b + 1, n)]
        # The segment's ends next to left and right after the move.
        if move.kind == KIND_OROPT:
            pa = s0
            pb = sl
        else:
            pa = sl
            pb = s0
        return (tsp_distance(p, before, after) + tsp_distance(p, left, pa)
                + tsp_distance(p, pb, right)
                - tsp_distance(p, before, s0) - tsp_distance(p, sl, after)
                - tsp_distance(p, left, right))
    if move.kind >= KIND_3OPT:
        ta = t[a]
        tb = t[a + 1]
        c = t[b]
        d = t[b + 1]
        e = t[move.k]
        f = t[_wrap(move.k + 1, n)]
        removed = tsp_distance(p, ta, tb) + tsp_distance(p, c, d) + tsp_distance(p, e, f)
        if move.kind == KIND_3OPT:
            return (tsp_distance(p, ta, c) + tsp_distance(p, tb, e)
                    + tsp_distance(p, d, f) - removed)
        if move.kind == KIND_3OPT + 1:
            return (tsp_distance(p, ta, d) + tsp_distance(p, e, tb)
                    + tsp_distance(p, c, f) - removed)
        if move.kind == KIND_3OPT + 2:
            return (tsp_distance(p, ta, d) + tsp_distance(p, e, c)
                    + tsp_distance(p, tb, f) - removed)
        return (tsp_distance(p, ta, e) + tsp_distance(p, d, tb)
                + tsp_distance(p, c, f) - removed)
    return 0


cdef inline int _move_cities(const TSPData *p, const int32_t *t, const Move *move,
                             int32_t *cities) noexcept nogil:
    """The cities whose tour neighbours the move changes (before it is applied)."""
    cdef int64_t n = p.n
    if move.kind == KIND_2OPT:
        cities[0] = t[move.i]
        cities[1] = t[move.i + 1]
        cities[2] = t[move.j]
        cities[3] = t[_wrap(move.j + 1, n)]
        return 4
    if move.kind == KIND_SWAP:
        cities[0] = t[move.i]
        cities[1] = t[move.j]
        cities[2] = t[_wrap(move.i - 1, n)]
        cities[3] = t[_wrap(move.i + 1, n)]
        cities[4] = t[_wrap(move.j - 1, n)]
        cities[5] = t[_wrap(move.j + 1, n)]
        return 6
    if move.kind == KIND_OROPT or move.kind == KIND_OROPT_REV:
        cities[0] = t[_wrap(move.i - 1, n)]
        cities[1] = t[move.i]
        cities[2] = t[_wrap(move.i + move.k - 1, n)]
        cities[3] = t[_wrap(move.i + move.k, n)]
        cities[4] = t[move.j]
        cities[5] = t[_wrap(move.j + 1, n)]
        return 6
    if move.kind >= KIND_3OPT:
        cities[0] = t[move.i]
        cities[1] = t[move.i + 1]
        cities[2] = t[move.j]
        cities[3] = t[move.j + 1]
        cities[4] = t[move.k]
        cities[5] = t[_wrap(move.k + 1, n)]
        return 6
    return 0


cdef inline void _apply_move(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                             const Move *move) noexcept nogil:
    """Perform a move as a sequence of exchanges (reversals of the shorter side)."""
    cdef int64_t n = p.n, length = move.k
    cdef int32_t ta, tb, c, d, e, f, before, after, s0, sl, x, y, tmp
    if move.kind == KIND_2OPT:
        _exchange(p, t, pos, aux, t[move.i], t[move.i + 1], t[move.j],
                  t[_wrap(move.j + 1, n)])
    elif move.kind == KIND_SWAP:
        tmp = t[move.i]
        t[move.i] = t[move.j]
        pos[t[move.i]] = <int32_t>move.i
        t[move.j] = tmp
        pos[tmp] = <int32_t>move.j
        _record(p, t, pos, aux, <int32_t>move.i, <int32_t>(-move.j - 1))
    elif move.kind == KIND_OROPT or move.kind == KIND_OROPT_REV:
        before = t[_wrap(move.i - 1, n)]
        s0 = t[move.i]
        sl = t[_wrap(move.i + length - 1, n)]
        after = t[_wrap(move.i + length, n)]
        x = t[move.j]
        y = t[_wrap(move.j + 1, n)]
        # First the reversed insertion (x, sl .. s0, y), then turn the segment.
        if x == after:
            _exchange(p, t, pos, aux, before, s0, after, y)
        elif y == before:
            _exchange(p, t, pos, aux, x, before, sl, after)
        else:
            _exchange(p, t, pos, aux, before, s0, x, y)
            _exchange(p, t, pos, aux, before, x, after, sl)
        if move.kind == KIND_OROPT and length > 1:
            _exchange(p, t, pos, aux, x, sl, s0, y)
    elif move.kind >= KIND_3OPT:
        ta = t[move.i]
        tb = t[move.i + 1]
        c = t[move.j]
        d = t[move.j + 1]
        e = t[move.k]
        f = t[_wrap(move.k + 1, n)]
        if move.kind == KIND_3OPT:
            _exchange(p, t, pos, aux, ta, tb, c, d)
            _exchange(p, t, pos, aux, tb, d, e, f)
        else:
            _exchange(p, t, pos, aux, ta, tb, e, f)
            if move.kind == KIND_3OPT + 3:
                _exchange(p, t, pos, aux, d, c, tb, f)
            else:
                _exchange(p, t, pos, aux, ta, e, d, c)
                if move.kind == KIND_3OPT + 1:
                    _exchange(p, t, pos, aux, e, c, tb, f)


cdef inline void tsp_apply(const void *data, char *state, char *aux,
                           const Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    _apply_move(p, <int32_t *>state, tsp_pos(p, aux), aux, move)


# -- the enumerable neighbourhood ------------------------------------------------------

cdef inline int64_t _family_block(const TSPData *p, int family) noexcept nogil:
    """Indices of one move family in the enumeration."""
    cdef int64_t n = p.n, K = p.n_neighbours
    if p.neighbours != NULL and n >= 5:
        if family == FAMILY_2OPT:
            return n * K * 2
        if family == FAMILY_SWAP:
            return n * K
        if family == FAMILY_OROPT:
            return n * K * 12
        return n * K * K * 8
    if family == FAMILY_OROPT:
        return 3 * n * n
    if family == FAMILY_3OPT:
        return 0
    return n * n


cdef inline int64_t tsp_n_moves(const void *data, const char *state,
                                const char *aux) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int64_t total = 0
    cdef int k
    for k in range(p.n_kinds):
        total += _family_block(p, p.kinds[k])
    return total


cdef inline void tsp_move_at(const void *data, const char *state, const char *aux,
                             int64_t index, Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    # Each family owns a block of a rectangular index space; indices that are not
    # moves (a >= b, adjacent 2-opt ends, ...) come back as MOVE_NONE.
    cdef int64_t n = p.n, K = p.n_neighbours, block, a, b, length, r, r2
    cdef int k, family
    move.kind = MOVE_NONE
    if n < 4:
        return
    for k in range(p.n_kinds):
        family = p.kinds[k]
        block = _family_block(p, family)
        if index >= block:
            index -= block
            continue
        if p.neighbours != NULL and n >= 5:
            # Candidate moves: city, then candidate(s), then the small choices.
            if family == FAMILY_2OPT:
                _candidate_move(p, <const int32_t *>state, tsp_pos(p, aux), family,
                                <int32_t>(index // (2 * K)), (index // 2) % K,
                                <int>(index % 2), 0, 0, 0, 0, move)
            elif family == FAMILY_SWAP:
                _candidate_move(p, <const int32_t *>state, tsp_pos(p, aux), family,
                                <int32_t>(index // K), index % K, 0, 0, 0, 0, 0, move)
            elif family == FAMILY_OROPT:
                r = index % 12
                _candidate_move(p, <const int32_t *>state, tsp_pos(p, aux), family,
                                <int32_t>(index // (12 * K)), (index // 12) % K,
                                <int>(r // 6), 1 + (r // 2) % 3, <int>(r % 2), 0, 0, move)
            else:
                r = index % 8
                r2 = (index // 8) % K
                _candidate_move(p, <const int32_t *>state, tsp_pos(p, aux), family,
                                <int32_t>(index // (8 * K * K)), (index // (8 * K)) % K,
                                <int>(r // 4), 0, <int>((r // 2) % 2), r2, <int>(r % 2),
                                move)
            return
        if family == FAMILY_OROPT:
            length = index // (n * n) + 1
            a = (index % (n * n)) // n
            r = index % n
            if length > min(3, n - 3) or a > n - length or r >= n - length - 1:
                return
            move.i = a
            move.k = length
            move.j = (a + length + r) % n
            move.kind = KIND_OROPT
        else:
            a = index // n
            b = index % n
            if b <= a or (family == FAMILY_2OPT and (b - a < 2 or (a == 0 and b == n - 1))):
                return
            move.i = a
            move.j = b
            move.kind = family
        return


cdef inline int tsp_tabu_attributes(const void *data, const char *state, const Move *move,
                                    int64_t *attributes) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    # The cities whose neighbours the move changes (a move is tabu if it touches
    # a recently moved city); the first four of them.
    cdef int32_t cities[6]
    cdef int count = _move_cities(p, <const int32_t *>state, move, cities), k
    if move.kind == KIND_SWAP:
        count = 2
    count = min(count, 4)
    for k in range(count):
        attributes[k] = cities[k]
    return count


# -- descent with don't-look bits -----------------------------------------------------

cdef inline bint _apply_if_improving(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                                     const Move *move, double tolerance,
                                     DescentStats *stats) noexcept nogil:
    """A move the descent found gaining: check its exact delta, and apply it
    when it gains more than the tolerance, waking the cities it touches."""
    cdef double delta
    cdef int32_t cities[6]
    cdef int count, k
    if move.kind == MOVE_NONE:
        return False
    delta = tsp_delta(p, <const char *>t, aux, move)
    if not delta < -tolerance:
        return False
    count = _move_cities(p, t, move, cities)
    _apply_move(p, t, pos, aux, move)
    for k in range(count):
        _activate(p, aux, cities[k])
    stats.delta += delta
    stats.moves += 1
    return True


# -- the Lin-Kernighan step ------------------------------------------------------------
#
# A variable-depth sequential move from t1 (Lin & Kernighan 1973, in the
# flip form of Applegate, Bixby, Chvatal & Cook's linkern): t2 is a tour
# neighbour of t1; each level adds an edge (t2, t3) to a candidate t3 of t2 and
# removes (t3, t4), t4 the neighbour of t3 that keeps a Hamiltonian path, which
# is one exchange (t1 t2 ... t4 t3 -> t1 t4 ... t2 t3); t4 becomes the next t2.
# G, the gain so far (removed minus added, the closing edge (t4, t1) left out),
# must stay positive (the gain criterion). A level first scans its candidates
# for a closing gain (G - d(t2, t3) + d(t3, t4) - d(t4, t1) above the
# tolerance): the first such one is made and the move ends (first improvement,
# as LKH's basic move). Otherwise the best lk_breadth[level] of them (largest
# G - d(t2, t3) + d(t3, t4), candidate order on ties; 1 below the listed
# levels) are made in turn and searched deeper, undone when that finds nothing.
# An edge added by the move is never removed and a removed one never added.
# On the array tour an exchange reverses the shorter side, up to n/2 cities:
# the search goes deeper only through exchanges that reverse at most
# lk_max_flip cities (closing ones, made once, may reverse any number).

ctypedef struct LKSearch:
    int32_t t1
    int32_t added[2 * LK_MAX_DEPTH]         # (t2, t3) per level
    int32_t removed[2 * LK_MAX_DEPTH + 2]   # (t1, t2), then (t3, t4) per level
    int32_t touched[3 * LK_MAX_DEPTH]       # t2, t3, t4 per level made


cdef inline bint _lk_has_edge(const int32_t *edges, int64_t count, int32_t x,
                              int32_t y) noexcept nogil:
    """Whether the undirected edge (x, y) is among the first `count` pairs."""
    cdef int64_t e
    for e in range(count):
        if ((edges[2 * e] == x and edges[2 * e + 1] == y)
                or (edges[2 * e] == y and edges[2 * e + 1] == x)):
            return True
    return False


cdef inline void _lk_exchange(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                              int32_t t1, int32_t t2, int32_t t3, int32_t t4,
                              bint forward, bint undo) noexcept nogil:
    """One level of the move: remove (t1, t2), (t3, t4), add (t2, t3), (t4, t1)
    (forward: t2 follows t1 and t3 follows t4); or undo it."""
    if forward:
        if undo:
            _exchange(p, t, pos, aux, t1, t4, t2, t3)
        else:
            _exchange(p, t, pos, aux, t1, t2, t4, t3)
    elif undo:
        _exchange(p, t, pos, aux, t2, t3, t1, t4)
    else:
        _exchange(p, t, pos, aux, t2, t1, t3, t4)


cdef inline bint _lk_level(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                           LKSearch *s, int32_t t2, double gain, int64_t level,
                           double tolerance, DescentStats *stats) noexcept nogil:
    """Level `level` of the move from s.t1 (t2: t1's tour neighbour, `gain`: G);
    True when an improving move was made (and its cities woken)."""
    cdef int64_t n = p.n, K = min(p.n_neighbours, <int64_t>LK_MAX_CANDIDATES)
    cdef int64_t r, count = 0, i, breadth, e, length
    cdef int32_t t1 = s.t1, t3, t4
    cdef int32_t c3[LK_MAX_CANDIDATES]
    cdef int32_t c4[LK_MAX_CANDIDATES]
    cdef double value[LK_MAX_CANDIDATES]
    cdef double g1, g2, closed
    cdef bint forward = t[_wrap(pos[t1] + 1, n)] == t2
    for r in range(K):
        t3 = p.neighbours[t2 * p.n_neighbours + r]
        g1 = gain - p.neighbour_distances[t2 * p.n_neighbours + r]
        if g1 <= 0:
            break
        if t3 == t1 or t3 == t2:
            continue
        t4 = t[_wrap(pos[t3] - 1, n)] if forward else t[_wrap(pos[t3] + 1, n)]
        if t4 == t2:
            continue
        if (_lk_has_edge(s.added, level, t3, t4)
                or _lk_has_edge(s.removed, level + 1, t2, t3)):
            continue
        stats.evaluations += 1
        g2 = g1 + tsp_distance(p, t3, t4)
        closed = g2 - tsp_distance(p, t4, t1)
        if closed > tolerance:
            _lk_exchange(p, t, pos, aux, t1, t2, t3, t4, forward, False)
            _activate(p, aux, t1)
            for e in range(3 * level):
                _activate(p, aux, s.touched[e])
            _activate(p, aux, t2)
            _activate(p, aux, t3)
            _activate(p, aux, t4)
            stats.delta -= closed
            stats.moves += 1
            return True
        # The cities the exchange would reverse (the shorter side).
        if forward:
            length = pos[t4] - pos[t2]
        else:
            length = pos[t3] - pos[t1]
        length = (length + n) % n + 1
        if min(length, n - length) > p.lk_max_flip:
            continue
        # Insert by g2, largest first, after equal ones.
        i = count
        while i > 0 and value[i - 1] < g2:
            value[i] = value[i - 1]
            c3[i] = c3[i - 1]
            c4[i] = c4[i - 1]
            i -= 1
        value[i] = g2
        c3[i] = t3
        c4[i] = t4
        count += 1
    if level + 1 >= p.lk_depth:
        return False
    breadth = p.lk_breadth[level] if level < p.n_lk_breadth else 1
    for i in range(min(breadth, count)):
        t3 = c3[i]
        t4 = c4[i]
        _lk_exchange(p, t, pos, aux, t1, t2, t3, t4, forward, False)
        s.added[2 * level] = t2
        s.added[2 * level + 1] = t3
        s.removed[2 * level + 2] = t3
        s.removed[2 * level + 3] = t4
        s.touched[3 * level] = t2
        s.touched[3 * level + 1] = t3
        s.touched[3 * level + 2] = t4
        if _lk_level(p, t, pos, aux, s, t4, value[i], level + 1, tolerance, stats):
            return True
        _lk_exchange(p, t, pos, aux, t1, t2, t3, t4, forward, True)
    return False


cdef inline int64_t _lk_flip(int64_t length, int64_t n) noexcept nogil:
    """Cities an exchange reversing a path of `length` cities moves (the
    shorter side)."""
    return min(length, n - length)


cdef inline void _lk_alternate_exchange(const TSPData *p, int32_t *t, int32_t *pos,
                                        char *aux, int32_t t1, int32_t t2, int32_t t3,
                                        int32_t t4, int32_t t5, int32_t t6, bint after,
                                        bint undo) noexcept nogil:
    """The alternate first step: remove (t1, t2), (t3, t4), (t5, t6), add (t2, t3),
    (t4, t5), (t6, t1), where t1 t2 .. t3 t4 run in one direction, t5 lies on
    t2 .. t3 and t6 follows it (`after`) or precedes it in that direction; or
    undo it (the inverse exchanges in reverse order reverse the same positions,
    so their undo-log entries cancel)."""
    if after:   # t1 t2 .. t5 t6 .. t3 t4 -> t1 t6 .. t3 t2 .. t5 t4
        if undo:
            _exchange(p, t, pos, aux, t3, t2, t5, t4)
            _exchange(p, t, pos, aux, t1, t6, t3, t5)
            _exchange(p, t, pos, aux, t1, t3, t2, t4)
        else:
            _exchange(p, t, pos, aux, t1, t2, t3, t4)
            _exchange(p, t, pos, aux, t1, t3, t6, t5)
            _exchange(p, t, pos, aux, t3, t5, t2, t4)
    elif undo:  # t1 t2 .. t6 t5 .. t3 t4 -> t1 t6 .. t2 t3 .. t5 t4
        _exchange(p, t, pos, aux, t2, t3, t5, t4)
        _exchange(p, t, pos, aux, t1, t6, t2, t5)
    else:
        _exchange(p, t, pos, aux, t1, t2, t6, t5)
        _exchange(p, t, pos, aux, t2, t5, t3, t4)


cdef inline bint _lk_alternate(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                               LKSearch *s, int32_t t2, double gain, double tolerance,
                               DescentStats *stats) noexcept nogil:
    """The alternate first step of Lin & Kernighan (linkern's weird second
    step), tried after the usual first level found nothing: t4 is the other
    tour neighbour of t3 (t1 t2 .. t3 t4 in one direction), so removing (t3, t4)
    would leave the cycle t2 .. t3 closed by (t2, t3); t5, a candidate of t4
    on that cycle, and t6, either tour neighbour of t5, reconnect it as a pure
    sequential 3-opt move. The first closing gain is made; otherwise the best
    lk_breadth[0] (by the gain after removing (t5, t6)) are made in turn and
    searched deeper from t6 as levels 2, 3, ..."""
    cdef int64_t n = p.n, K = min(p.n_neighbours, <int64_t>LK_MAX_CANDIDATES)
    cdef int64_t r, r5, kept = 0, cap, i, span, offset, flip
    cdef int32_t t1 = s.t1, t3, t4, t5, t6
    cdef int side6
    cdef int32_t c3[LK_MAX_CANDIDATES]
    cdef int32_t c4[LK_MAX_CANDIDATES]
    cdef int32_t c5[LK_MAX_CANDIDATES]
    cdef int32_t c6[LK_MAX_CANDIDATES]
    cdef bint c_after[LK_MAX_CANDIDATES]
    cdef double value[LK_MAX_CANDIDATES]
    cdef double g1, g2, g3, g4, closed
    cdef bint forward = t[_wrap(pos[t1] + 1, n)] == t2, after
    cap = min(p.lk_breadth[0] if p.n_lk_breadth > 0 else 1, <int64_t>LK_MAX_CANDIDATES)
    for r in range(K):
        t3 = p.neighbours[t2 * p.n_neighbours + r]
        g1 = gain - p.neighbour_distances[t2 * p.n_neighbours + r]
        if g1 <= 0:
            break
        if t3 == t1 or t3 == t2:
            continue
        t4 = t[_wrap(pos[t3] + 1, n)] if forward else t[_wrap(pos[t3] - 1, n)]
        if t4 == t1 or t3 == (t[_wrap(pos[t2] + 1, n)] if forward
                              else t[_wrap(pos[t2] - 1, n)]):
            continue
        g2 = g1 + tsp_distance(p, t3, t4)
        # Cities of the cycle t2 .. t3, in the direction of t1 -> t2.
        span = _wrap(pos[t3] - pos[t2] if forward else pos[t2] - pos[t3], n) + 1
        for r5 in range(K):
            t5 = p.neighbours[t4 * p.n_neighbours + r5]
            g3 = g2 - p.neighbour_distances[t4 * p.n_neighbours + r5]
            if g3 <= 0:
                break
            if t5 == t3:
                continue
            offset = _wrap(pos[t5] - pos[t2] if forward else pos[t2] - pos[t5], n)
            if offset >= span:
                continue    # t5 not on the cycle: no single tour
            for side6 in range(2):
                after = side6 == 0
                if after == forward:
                    t6 = t[_wrap(pos[t5] + 1, n)]
                else:
                    t6 = t[_wrap(pos[t5] - 1, n)]
                if not after and (t5 == t2 or t6 == t2):
                    continue    # t6 = t1, or (t6, t1) = (t2, t1): removed edges
                stats.evaluations += 1
                g4 = g3 + tsp_distance(p, t5, t6)
                if not g4 > 0:
                    continue    # a segment's fixed edge (-inf)
                closed = g4 - tsp_distance(p, t6, t1)
                if closed > tolerance:
                    _lk_alternate_exchange(p, t, pos, aux, t1, t2, t3, t4, t5, t6, after,
                                           False)
                    _activate(p, aux, t1)
                    _activate(p, aux, t2)
                    _activate(p, aux, t3)
                    _activate(p, aux, t4)
                    _activate(p, aux, t5)
                    _activate(p, aux, t6)
                    stats.delta -= closed
                    stats.moves += 1
                    return True
                # The exchanges' reversals: the cycle, then its two parts.
                if after:
                    flip = max(_lk_flip(span, n), max(_lk_flip(span - 1 - offset, n),
                                                      _lk_flip(offset + 1, n)))
                else:
                    flip = max(_lk_flip(offset, n), _lk_flip(span - offset, n))
                if flip > p.lk_max_flip:
                    continue
                # Keep the best `cap` by g4, largest first, after equal ones.
                if kept == cap and not g4 > value[cap - 1]:
                    continue
                i = kept if kept < cap else cap - 1
                while i > 0 and value[i - 1] < g4:
                    value[i] = value[i - 1]
                    c3[i] = c3[i - 1]
                    c4[i] = c4[i - 1]
                    c5[i] = c5[i - 1]
                    c6[i] = c6[i - 1]
                    c_after[i] = c_after[i - 1]
                    i -= 1
                value[i] = g4
                c3[i] = t3
                c4[i] = t4
                c5[i] = t5
                c6[i] = t6
                c_after[i] = after
                if kept < cap:
                    kept += 1
    if p.lk_depth < 3:
        return False
    for i in range(kept):
        _lk_alternate_exchange(p, t, pos, aux, t1, t2, c3[i], c4[i], c5[i], c6[i],
                               c_after[i], False)
        s.added[0] = t2
        s.added[1] = c3[i]
        s.added[2] = c4[i]
        s.added[3] = c5[i]
        s.removed[2] = c3[i]
        s.removed[3] = c4[i]
        s.removed[4] = c5[i]
        s.removed[5] = c6[i]
        s.touched[0] = t2
        s.touched[1] = c3[i]
        s.touched[2] = c4[i]
        s.touched[3] = c5[i]
        s.touched[4] = c6[i]
        s.touched[5] = c6[i]
        if _lk_level(p, t, pos, aux, s, c6[i], value[i], 2, tolerance, stats):
            return True
        _lk_alternate_exchange(p, t, pos, aux, t1, t2, c3[i], c4[i], c5[i], c6[i],
                               c_after[i], True)
    return False


cdef inline bint _lk_move(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                          int32_t a, double tolerance, DescentStats *stats) noexcept nogil:
    """The Lin-Kernighan step from t1 = a, t2 its successor then its predecessor:
    the usual first level, then (lk_alternate) the alternate first step."""
    cdef LKSearch s
    cdef int direction
    cdef int32_t t2
    s.t1 = a
    for direction in range(2):
        t2 = t[_wrap(pos[a] + 1, p.n)] if direction == 0 else t[_wrap(pos[a] - 1, p.n)]
        s.removed[0] = a
        s.removed[1] = t2
        if _lk_level(p, t, pos, aux, &s, t2, tsp_distance(p, a, t2), 0, tolerance, stats):
            return True
        if (p.lk_alternate and p.lk_depth >= 2
                and _lk_alternate(p, t, pos, aux, &s, t2, tsp_distance(p, a, t2), tolerance,
                                  stats)):
            return True
    return False


cdef inline bint _improve_city(const TSPData *p, int32_t *t, int32_t *pos, char *aux,
                               int32_t a, double tolerance,
                               DescentStats *stats) noexcept nogil:
    """First improvement among the candidate moves around city a, for each side
    b of a (after it, then before it): 2-opt and or-opt adding the edge (a, c)
    for each candidate c closer to a than b, then the 3-opt moves (depth-3
    Lin-Kernighan) that start by removing (a, b). Each move's gain is computed
    from cached candidate distances first; only a gaining move is built, its
    exact delta checked and applied."""
    cdef int64_t n = p.n, K = p.n_neighbours, r, r5, length, max_length, pa, pc, sp
    cdef int direction, side, side6
    cdef int32_t b, c, e, t3, t4, t5, t6
    cdef int32_t far[4]
    cdef double d_ab, d_ac, d_ce, g1, open1, g2, gain
    cdef double removal[4]
    cdef Move move
    max_length = min(3, n - 3)
    for direction in range(2):
        pa = pos[a]
        b = t[_wrap(pa + 1, n)] if direction == 0 else t[_wrap(pa - 1, n)]
        d_ab = tsp_distance(p, a, b)
        if p.descent_oropt:
            # The segments of 1..3 cities ending at a, away from b: far end and
            # the gain of cutting each out (b joins the city q beyond it).
            for length in range(1, max_length + 1):
                sp = _wrap(pa - length + 1, n) if direction == 0 else _wrap(pa + length - 1, n)
                far[length] = t[sp]
                e = t[_wrap(sp - 1, n)] if direction == 0 else t[_wrap(sp + 1, n)]
                removal[length] = (d_ab + tsp_distance(p, far[length], e)
                                   - tsp_distance(p, b, e))
        for r in range(K):
            c = p.neighbours[a * K + r]
            d_ac = p.neighbour_distances[a * K + r]
            g1 = d_ab - d_ac
            if g1 <= 0:
                break
            pc = pos[c]
            if p.descent_2opt:
                e = t[_wrap(pc + 1, n)] if direction == 0 else t[_wrap(pc - 1, n)]
                gain = g1 + tsp_distance(p, c, e) - tsp_distance(p, b, e)
                stats.evaluations += 1
                if gain > 0:
                    _candidate_move(p, t, pos, FAMILY_2OPT, a, r, direction, 0, 0, 0, 0,
                                    &move)
                    if _apply_if_improving(p, t, pos, aux, &move, tolerance, stats):
                        return True
            if p.descent_oropt:
                for side in range(2):
                    e = t[_wrap(pc + 1, n)] if side == 0 else t[_wrap(pc - 1, n)]
                    d_ce = tsp_distance(p, c, e)
                    for length in range(1, max_length + 1):
                        gain = removal[length] + d_ce - d_ac - tsp_distance(p, far[length], e)
                        stats.evaluations += 1
                        if gain > 0:
                            _candidate_move(p, t, pos, FAMILY_OROPT, a, r, direction,
                                            length, side, 0, 0, &move)
                            if _apply_if_improving(p, t, pos, aux, &move, tolerance,
                                                   stats):
                                return True
    if not p.descent_3opt:
        return p.descent_lk and _lk_move(p, t, pos, aux, a, tolerance, stats)
    for direction in range(2):
        b = t[_wrap(pos[a] + 1, n)] if direction == 0 else t[_wrap(pos[a] - 1, n)]
        d_ab = tsp_distance(p, a, b)
        for r in range(K):
            t3 = p.neighbours[b * K + r]
            g1 = d_ab - p.neighbour_distances[b * K + r]
            if g1 <= 0:
                break
            if t3 == a:
                continue
            for side in range(2):
                t4 = _next(p, t, pos, t3) if side == 0 else _prev(p, t, pos, t3)
                if t4 == b:
                    continue
                open1 = g1 + tsp_distance(p, t3, t4)
                for r5 in range(K):
                    t5 = p.neighbours[t4 * K + r5]
                    g2 = open1 - p.neighbour_distances[t4 * K + r5]
                    if g2 <= 0:
                        break
                    if t5 == t3 or t5 == b:
                        continue
                    for side6 in range(2):
                        t6 = _next(p, t, pos, t5) if side6 == 0 else _prev(p, t, pos, t5)
                        gain = g2 + tsp_distance(p, t5, t6) - tsp_distance(p, t6, a)
                        stats.evaluations += 1
                        if gain > 0:
                            _set_3opt(p, t, pos, &move, a, b, t3, t4, t5, t6)
                            if _apply_if_improving(p, t, pos, aux, &move, tolerance,
                                                   stats):
                                return True
    return p.descent_lk and _lk_move(p, t, pos, aux, a, tolerance, stats)


cdef inline bint tsp_can_descend(const void *data) noexcept nogil:
    """Whether `descend` has moves to try (candidate lists and a descent family)."""
    cdef const TSPData *p = <const TSPData *>data
    return (p.neighbours != NULL and p.n >= 5
            and (p.descent_2opt or p.descent_oropt or p.descent_3opt or p.descent_lk))


cdef inline int tsp_descend(const void *data, char *state, char *aux, double tolerance,
                            int64_t max_moves, int64_t max_evaluations,
                            DescentStats *stats) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *t = <int32_t *>state
    cdef int32_t *pos = tsp_pos(p, aux)
    cdef TSPAux *h = <TSPAux *>aux
    cdef int32_t *queue = tsp_queue(p, aux)
    cdef uint8_t *active = tsp_active(p, aux)
    cdef int32_t a
    stats.delta = 0
    stats.evaluations = 0
    stats.moves = 0
    if p.neighbours == NULL or p.n < 5:
        _clear_queue(p, aux)
        return 1
    while h.count > 0:
        if stats.moves >= max_moves or stats.evaluations >= max_evaluations:
            return 0
        a = queue[h.head]
        h.head = _wrap(h.head + 1, p.n)
        h.count -= 1
        active[a] = 0
        _improve_city(p, t, pos, aux, a, tolerance, stats)
    h.head = 0
    return 1


# -- iterated local search: kick, checkpoint, rollback ----------------------------------

cdef inline double tsp_kick(const void *data, char *state, char *aux, attnsearch_rng *rng,
                            int64_t strength) noexcept nogil:
    """`strength` segment-local double bridges: positions p0 and three segments of
    1..kick_length cities after it, S2 S3 S4 -> S4 S3 S2 (four edges change)."""
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *t = <int32_t *>state
    cdef int32_t *pos = tsp_pos(p, aux)
    cdef int64_t n = p.n, limit, p0, l1, l2, l3, _bridge
    cdef int32_t a, b, c, d, e, f, g, h
    cdef double total = 0.0, delta
    if n < 8:
        return 0.0
    limit = min(p.kick_length, (n - 2) // 3)
    for _bridge in range(strength):
        p0 = <int64_t>rng_below(rng, <unsigned long long>n)
        l1 = 1 + <int64_t>rng_below(rng, <unsigned long long>limit)
        l2 = 1 + <int64_t>rng_below(rng, <unsigned long long>limit)
        l3 = 1 + <int64_t>rng_below(rng, <unsigned long long>limit)
        a = t[p0]
        b = t[(p0 + 1) % n]
        c = t[(p0 + l1) % n]
        d = t[(p0 + l1 + 1) % n]
        e = t[(p0 + l1 + l2) % n]
        f = t[(p0 + l1 + l2 + 1) % n]
        g = t[(p0 + l1 + l2 + l3) % n]
        h = t[(p0 + l1 + l2 + l3 + 1) % n]
        if p.fixed_sum >= 0 and (a + b == p.fixed_sum or c + d == p.fixed_sum
                                 or e + f == p.fixed_sum or g + h == p.fixed_sum):
            continue  # a segment's fixed edge stays (the bridge is skipped)
        delta = (tsp_distance(p, a, f) + tsp_distance(p, g, d) + tsp_distance(p, e, b)
                 + tsp_distance(p, c, h) - tsp_distance(p, a, b) - tsp_distance(p, c, d)
                 - tsp_distance(p, e, f) - tsp_distance(p, g, h))
        _exchange(p, t, pos, aux, a, b, g, h)
        _exchange(p, t, pos, aux, a, g, f, e)
        _exchange(p, t, pos, aux, g, e, d, c)
        _exchange(p, t, pos, aux, e, c, b, h)
        _activate(p, aux, a)
        _activate(p, aux, b)
        _activate(p, aux, c)
        _activate(p, aux, d)
        _activate(p, aux, e)
        _activate(p, aux, f)
        _activate(p, aux, g)
        _activate(p, aux, h)
        total += delta
    return total


cdef inline void tsp_checkpoint(const void *data, char *state, char *aux) noexcept nogil:
    cdef TSPAux *h = <TSPAux *>aux
    h.log_len = 0
    h.recording = 1


cdef inline void tsp_rollback(const void *data, char *state, char *aux) noexcept nogil:
    """Undo the logged reversals newest first (or copy the backup tour when the
    log overflowed); the restored tour is a local optimum: no city stays active."""
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *t = <int32_t *>state
    cdef int32_t *pos = tsp_pos(p, aux)
    cdef int32_t *log = tsp_log(p, aux)
    cdef TSPAux *h = <TSPAux *>aux
    cdef int64_t e, i
    if h.recording == 1:
        e = h.log_len - 1
        while e >= 0:
            _redo(t, pos, p.n, log[2 * e], log[2 * e + 1])
            e -= 1
    elif h.recording == 2:
        memcpy(t, tsp_backup(p, aux), p.n * sizeof(int32_t))
        for i in range(p.n):
            pos[t[i]] = <int32_t>i
    h.log_len = 0
    h.recording = 0
    _clear_queue(p, aux)


# -- one tour segment, improved as a path (partition.py) ---------------------------------

ctypedef struct SegmentStats:
    int64_t kicks               # kicks made (the budget, unless the deadline came)
    int64_t accepted            # kicks kept
    int64_t evaluations
    int64_t moves
    double delta                # change of the segment's length (exact costs: exact)


cdef inline void tsp_segment_search(const TSPData *p, int32_t *t, char *aux,
                                    const uint8_t *queued, attnsearch_rng *rng,
                                    int64_t n_kicks, double tolerance, double deadline,
                                    SegmentStats *out) noexcept nogil:
    """Iterated local search on one segment (p.fixed_sum = 1: cities 0 and 1 are
    its ends): the cities with queued[city] set queued in tour order (every city
    when queued is NULL), a descent, then up to n_kicks iterations of
    checkpoint, kick, descent, kept when not longer (by the tolerance) else
    rolled back: _engine's _ils_chain on this data. The clock is read every 16
    kicks and during long descents; past the deadline the segment stops with
    what it has (a valid path: rolled-back or kept iterations only)."""
    cdef int32_t *pos = tsp_pos(p, aux)
    cdef TSPAux *h = <TSPAux *>aux
    cdef uint8_t *active = tsp_active(p, aux)
    cdef int32_t *queue = tsp_queue(p, aux)
    cdef DescentStats stats
    cdef int64_t i, kick
    cdef double cost = 0.0, before
    cdef int done
    memset(out, 0, sizeof(SegmentStats))
    h.head = 0
    h.count = 0
    for i in range(p.n):
        pos[t[i]] = <int32_t>i
        active[t[i]] = queued == NULL or queued[t[i]] != 0
        if active[t[i]]:
            queue[h.count] = t[i]
            h.count += 1
    h.log_len = 0
    h.recording = 0
    while True:
        done = tsp_descend(p, <char *>t, aux, tolerance, INT64_MAX, SEGMENT_CLOCK_EVERY,
                           &stats)
        cost += stats.delta
        out.evaluations += stats.evaluations
        out.moves += stats.moves
        if done:
            break
        if monotonic() > deadline:
            # Stopped inside the first descent: a valid tour, only not a local
            # optimum; forget the queue so that aux stays consistent.
            _clear_queue(p, aux)
            out.delta = cost
            return
    for kick in range(n_kicks):
        if kick % 16 == 0 and kick > 0 and monotonic() > deadline:
            break
        before = cost
        tsp_checkpoint(p, <char *>t, aux)
        cost += tsp_kick(p, <char *>t, aux, rng, 1)
        while True:
            done = tsp_descend(p, <char *>t, aux, tolerance, INT64_MAX,
                               SEGMENT_CLOCK_EVERY, &stats)
            cost += stats.delta
            out.evaluations += stats.evaluations
            out.moves += stats.moves
            if done or monotonic() > deadline:
                break
        out.kicks += 1
        out.evaluations += 1
        out.moves += 1
        if done and cost <= before - tolerance:
            out.accepted += 1
        else:
            tsp_rollback(p, <char *>t, aux)
            cost = before
        if not done:
            break
    out.delta = cost


cdef class TSPCore(CompiledProblem):
    cdef TSPData data
