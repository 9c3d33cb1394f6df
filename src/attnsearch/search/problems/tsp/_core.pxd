# Symmetric TSP over a tour array (state: int32 city per position). Distances come
# from a dense matrix or are computed on the fly from coordinates with the TSPLIB
# rules, so a 100k-city instance needs no n x n matrix. Moves, each with an O(1)
# delta: 2-opt (reverse a segment), swap (two cities), or-opt (move a segment of
# 1-3 cities elsewhere, keeping its orientation).
#
# The operations have exactly the signatures of cython_api's ProblemVTable: the
# engine inlines them (fused-type dispatch) and TSPCore's vtable points at them.

from libc.math cimport acos, ceil, cos, floor, sqrt
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memmove

from attnsearch.search.cython_api cimport (
    MOVE_NONE,
    CompiledProblem,
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

cdef enum:
    KIND_2OPT = 0
    KIND_SWAP = 1
    KIND_OROPT = 2

ctypedef struct TSPData:
    int64_t n
    int metric
    const double *matrix        # n x n, METRIC_MATRIX only
    const double *x             # coordinates (GEO: latitude in radians)
    const double *y             # (GEO: longitude in radians)
    int n_kinds                 # move kinds in use, in order, with cumulative weights
    int kinds[3]
    double cdf[3]


cdef inline double tsp_distance(const TSPData *p, int64_t a, int64_t b) noexcept nogil:
    cdef double dx, dy, r, t, q1, q2, q3
    if p.metric == METRIC_MATRIX:
        return p.matrix[a * p.n + b]
    if p.metric == METRIC_GEO:
        q1 = cos(p.y[a] - p.y[b])
        q2 = cos(p.x[a] - p.x[b])
        q3 = cos(p.x[a] + p.x[b])
        return floor(6378.388 * acos(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3)) + 1.0)
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


cdef inline int tsp_init(const void *data, char *state, char *aux, attnsearch_rng *rng,
                         bint random_start) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *tour = <int32_t *>state
    cdef int64_t i, j
    cdef int32_t tmp
    if random_start:
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
    return 0


cdef inline void tsp_random_move(const void *data, const char *state, char *aux,
                                 attnsearch_rng *rng, Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int64_t n = p.n, i, j, length
    cdef int kind = p.kinds[0]
    cdef double u
    if n < 4:
        move.kind = MOVE_NONE
        return
    if p.n_kinds > 1:
        u = rng_uniform(rng)
        kind = p.kinds[p.n_kinds - 1]
        for i in range(p.n_kinds - 1):
            if u < p.cdf[i]:
                kind = p.kinds[i]
                break
    move.kind = kind
    if kind == KIND_OROPT:
        length = 1 + <int64_t>rng_below(rng, <unsigned long long>min(3, n - 3))
        i = <int64_t>rng_below(rng, <unsigned long long>(n - length + 1))
        move.i = i
        move.k = length
        move.j = (i + length + <int64_t>rng_below(rng, <unsigned long long>(n - length - 1))) % n
        return
    i = <int64_t>rng_below(rng, <unsigned long long>n)
    if kind == KIND_2OPT:
        j = (i + 2 + <int64_t>rng_below(rng, <unsigned long long>(n - 3))) % n
    else:
        j = (i + 1 + <int64_t>rng_below(rng, <unsigned long long>(n - 1))) % n
    move.i = min(i, j)
    move.j = max(i, j)


cdef inline void tsp_propose(const void *data, const char *state, char *aux,
                             attnsearch_rng *rng, int64_t attempt, Move *move) noexcept nogil:
    tsp_random_move(data, state, aux, rng, move)


cdef inline double tsp_delta(const void *data, const char *state, const char *aux,
                             const Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef const int32_t *t = <const int32_t *>state
    cdef int64_t n = p.n, a = move.i, b = move.j, e, x, y
    cdef int32_t ta, tb, pa, na, pb, nb, s0, sl, before, after, left, right
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
    if move.kind == KIND_OROPT:
        e = a + move.k - 1
        before = t[(a - 1 + n) % n]
        after = t[(e + 1) % n]
        s0 = t[a]
        sl = t[e]
        left = t[b]
        right = t[(b + 1) % n]
        return (tsp_distance(p, before, after) + tsp_distance(p, left, s0)
                + tsp_distance(p, sl, right)
                - tsp_distance(p, before, s0) - tsp_distance(p, sl, after)
                - tsp_distance(p, left, right))
    return 0


cdef inline void tsp_reverse(int32_t *t, int64_t n, int64_t first, int64_t count) noexcept nogil:
    """Reverse `count` positions of the cyclic tour starting at `first`."""
    cdef int64_t lo = first, hi = first + count - 1, k
    cdef int32_t tmp
    for k in range(count // 2):
        tmp = t[(lo + k) % n]
        t[(lo + k) % n] = t[(hi - k) % n]
        t[(hi - k) % n] = tmp


cdef inline void tsp_apply(const void *data, char *state, char *aux,
                           const Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int32_t *t = <int32_t *>state
    cdef int64_t n = p.n, a = move.i, b = move.j, length = move.k, e, inside
    cdef int32_t segment[3]
    cdef int32_t tmp
    if move.kind == KIND_2OPT:
        # Reverse a+1..b, or equivalently the rest of the cycle when that is shorter.
        inside = b - a
        if inside <= n - inside:
            tsp_reverse(t, n, a + 1, inside)
        else:
            tsp_reverse(t, n, b + 1, n - inside)
    elif move.kind == KIND_SWAP:
        tmp = t[a]
        t[a] = t[b]
        t[b] = tmp
    elif move.kind == KIND_OROPT:
        e = a + length - 1
        segment[0] = t[a]
        segment[1] = t[a + 1] if length > 1 else 0
        segment[2] = t[a + 2] if length > 2 else 0
        if b > e:
            # t[e+1..b] moves left by `length`, the segment lands after it.
            memmove(&t[a], &t[e + 1], (b - e) * sizeof(int32_t))
            t[b - length + 1] = segment[0]
            if length > 1:
                t[b - length + 2] = segment[1]
            if length > 2:
                t[b - length + 3] = segment[2]
        else:
            # t[b+1..a-1] moves right by `length`, the segment lands at b+1.
            memmove(&t[b + 1 + length], &t[b + 1], (a - b - 1) * sizeof(int32_t))
            t[b + 1] = segment[0]
            if length > 1:
                t[b + 2] = segment[1]
            if length > 2:
                t[b + 3] = segment[2]


cdef inline int64_t tsp_n_moves(const void *data, const char *state,
                                const char *aux) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    cdef int64_t total = 0, n = p.n
    cdef int k
    for k in range(p.n_kinds):
        total += 3 * n * n if p.kinds[k] == KIND_OROPT else n * n
    return total


cdef inline void tsp_move_at(const void *data, const char *state, const char *aux,
                             int64_t index, Move *move) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    # Each kind owns a block of a rectangular index space; indices that are not
    # moves (a >= b, adjacent 2-opt ends, ...) come back as MOVE_NONE.
    cdef int64_t n = p.n, block, a, b, length, r
    cdef int k, kind
    move.kind = MOVE_NONE
    if n < 4:
        return
    for k in range(p.n_kinds):
        kind = p.kinds[k]
        block = 3 * n * n if kind == KIND_OROPT else n * n
        if index >= block:
            index -= block
            continue
        if kind == KIND_OROPT:
            length = index // (n * n) + 1
            a = (index % (n * n)) // n
            r = index % n
            if length > min(3, n - 3) or a > n - length or r >= n - length - 1:
                return
            move.i = a
            move.k = length
            move.j = (a + length + r) % n
        else:
            a = index // n
            b = index % n
            if b <= a or (kind == KIND_2OPT and (b - a < 2 or (a == 0 and b == n - 1))):
                return
            move.i = a
            move.j = b
        move.kind = kind
        return


cdef inline int tsp_tabu_attributes(const void *data, const char *state, const Move *move,
                                    int64_t *attributes) noexcept nogil:
    cdef const TSPData *p = <const TSPData *>data
    # The cities whose neighbours the move changes (a move is tabu if it touches
    # a recently moved city).
    cdef const int32_t *t = <const int32_t *>state
    cdef int64_t n = p.n
    if move.kind == KIND_2OPT:
        attributes[0] = t[move.i]
        attributes[1] = t[move.i + 1]
        attributes[2] = t[move.j]
        attributes[3] = t[(move.j + 1) % n]
        return 4
    if move.kind == KIND_SWAP:
        attributes[0] = t[move.i]
        attributes[1] = t[move.j]
        return 2
    if move.kind == KIND_OROPT:
        attributes[0] = t[move.i]
        attributes[1] = t[move.i + move.k - 1]
        attributes[2] = t[move.j]
        attributes[3] = t[(move.j + 1) % n]
        return 4
    return 0


cdef class TSPCore(CompiledProblem):
    cdef TSPData data
