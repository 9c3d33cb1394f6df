# attnsearch.search.cython_api -- the public C interface of the search engine.
#
# cimport it to add a problem in Cython or C (see examples/cython_problem/ and the
# recipe in ARCHITECTURE.md). A problem is a set of `noexcept nogil` functions over
# three pieces of memory:
#   data   the problem's own read-only description (couplings, coordinates, ...)
#   state  one chain's current solution, `state_size` elements of `state_dtype`
#   aux    one chain's workspace of `aux_nbytes` bytes (cached local fields, ...)
# and a Move, a small struct the problem fills and reads back. Every method of
# attnsearch.search (annealing, hill climbing, tabu, ...) is written once against
# these operations: the built-in problems get them inlined by fused-type
# specialisation (their operations have exactly these signatures), any other
# CompiledProblem is run through the function pointers of its ProblemVTable.
#
# Stability: names and signatures here only grow (new optional operations go at
# the end of ProblemVTable and may be left NULL).

from libc.stdint cimport int32_t, int64_t, uint64_t

cdef extern from "attnsearch_rng.h" nogil:
    ctypedef struct attnsearch_rng:
        uint64_t s[4]
    uint64_t rng_next "attnsearch_rng_next"(attnsearch_rng *rng)
    double rng_uniform "attnsearch_rng_uniform"(attnsearch_rng *rng)
    uint64_t rng_below "attnsearch_rng_below"(attnsearch_rng *rng, uint64_t n)
    double rng_normal "attnsearch_rng_normal"(attnsearch_rng *rng)

cdef enum:
    # move_at may return this kind for an index that is not a valid move; it is skipped.
    MOVE_NONE = -1
    # A move changes at most this many tabu attributes (spins, cities, coordinates).
    MAX_TABU_ATTRIBUTES = 4

ctypedef struct Move:
    int64_t i
    int64_t j
    int64_t k
    int32_t kind
    double x                    # real-valued part of a move (continuous steps)

# random_start: draw a random state into `state`; otherwise `state` already holds
# the initial state. Either way build `aux` from it. Return 0, or a nonzero code
# when the given state is invalid (the engine raises ValueError).
ctypedef int (*init_fn)(const void *data, char *state, char *aux, attnsearch_rng *rng,
                        bint random_start) noexcept nogil
# Cost of a state from scratch (the engine tracks it incrementally with delta).
ctypedef double (*cost_fn)(const void *data, const char *state,
                           const char *aux) noexcept nogil
# May update proposal statistics kept in aux (adaptive step sizes), never the state.
ctypedef void (*random_move_fn)(const void *data, const char *state, char *aux,
                                attnsearch_rng *rng, Move *move) noexcept nogil
# Exact cost(after) - cost(before); must not modify anything.
ctypedef double (*delta_fn)(const void *data, const char *state, const char *aux,
                            const Move *move) noexcept nogil
ctypedef void (*apply_fn)(const void *data, char *state, char *aux,
                          const Move *move) noexcept nogil
# Size of the enumerable neighbourhood and its index -> move map (kind may be
# MOVE_NONE for indices that are not moves).
ctypedef int64_t (*n_moves_fn)(const void *data, const char *state,
                               const char *aux) noexcept nogil
ctypedef void (*move_at_fn)(const void *data, const char *state, const char *aux,
                            int64_t index, Move *move) noexcept nogil
# Writes the move's tabu attributes (integers in [0, n_tabu_keys)); returns how many
# (at most MAX_TABU_ATTRIBUTES). An attribute outside the range stops the run with
# ProblemError.
ctypedef int (*tabu_attributes_fn)(const void *data, const char *state, const Move *move,
                                   int64_t *attributes) noexcept nogil
# Annealing's proposal for attempt `attempt` (0 .. sweep length - 1) of a sweep
# (Ising: spin `attempt`, in order, as dwave-samplers sweeps).
ctypedef void (*propose_fn)(const void *data, const char *state, char *aux,
                            attnsearch_rng *rng, int64_t attempt, Move *move) noexcept nogil

# What one call of `descend` did: the summed cost change, the deltas computed and
# the moves applied.
ctypedef struct DescentStats:
    double delta
    int64_t evaluations
    int64_t moves

# Local search to a local optimum with the problem's own neighbourhood (TSP:
# 2-opt, Or-opt and 3-opt over candidate neighbours with don't-look bits):
# improve while a move gains more than `tolerance`, stop after `max_moves`
# applied moves or once `max_evaluations` deltas are computed (checked between
# the problem's own units of work, so a call may overshoot a little). Returns 1
# at a local optimum, 0 when stopped by a budget; another call resumes exactly
# where it stopped (what remains to be examined lives in aux). Deterministic:
# no random draws. Optional: the engine falls back on first improvement over
# the enumerable neighbourhood (n_moves / move_at).
ctypedef int (*descend_fn)(const void *data, char *state, char *aux, double tolerance,
                           int64_t max_moves, int64_t max_evaluations,
                           DescentStats *stats) noexcept nogil
# Iterated local search's perturbation (TSP: `strength` segment-local double
# bridges): change the state in place, mark what changed for the next descend,
# return the cost change. Optional: `strength` random moves, applied.
ctypedef double (*kick_fn)(const void *data, char *state, char *aux, attnsearch_rng *rng,
                           int64_t strength) noexcept nogil
# Remember the current state (called at a local optimum: descend returned 1) so
# that rollback can restore it and its workspace (TSP: a log of the reversals
# applied since). Optional, in pairs: the engine copies state and aux instead.
ctypedef void (*checkpoint_fn)(const void *data, char *state, char *aux) noexcept nogil
ctypedef void (*rollback_fn)(const void *data, char *state, char *aux) noexcept nogil

ctypedef struct ProblemVTable:
    const void *data
    init_fn init
    cost_fn cost
    random_move_fn random_move
    delta_fn delta
    apply_fn apply
    n_moves_fn n_moves                  # NULL when the neighbourhood is not enumerable
    move_at_fn move_at
    tabu_attributes_fn tabu_attributes  # NULL: the move's i is its only attribute
    propose_fn propose                  # NULL: annealing proposes random_move
    # Added with iterated local search (all optional, NULL = not provided):
    descend_fn descend                  # NULL: first improvement over move_at
    kick_fn kick                        # NULL: `strength` random moves
    checkpoint_fn checkpoint            # NULL (either of the pair): copies of
    rollback_fn rollback                # state and aux


cdef class CompiledProblem:
    """Base class of problems implemented in Cython/C (fill `vtable` in __cinit__)."""
    cdef ProblemVTable vtable
    cdef public Py_ssize_t state_size
    cdef public object state_dtype
    cdef public Py_ssize_t aux_nbytes
    cdef public Py_ssize_t n_tabu_keys
    cdef public bint exact_costs
    cdef public object _keepalive
    cdef public object _init_args       # constructor arguments: pickling rebuilds from them
