"""The search engine: the loop of every method, written once against the problem interface.

Methods are `nogil` functions of one chain, fused over the problem type (the
per-problem dispatch is generated from ``_dispatch.pxi.tp``): the built-in
problems get their operations inlined, any other CompiledProblem -- built in or
third-party -- is reached through the function pointers of its ProblemVTable.
Chains run in parallel with OpenMP (`prange` over chains, dynamic schedule);
chain c only touches its own state, workspace, counters and xoshiro256++ stream,
so results are bitwise identical for any number of threads.

Every entry point has the same shape, ``method(core, chains, *, <parameters>,
num_threads, use_vtable=False)``, and ``_engine_reference`` defines the same
names with the same parameters over Python chains, statement by statement: the
run loop (``_run.py``) calls either through one ``Backend.call``. The loop calls
these in chunks of sweeps or steps, which is where time limits, callbacks,
targets and Ctrl-C are handled; chunk boundaries never change the arithmetic.

Counters: every method counts ``n_evaluations`` (moves whose delta it computed:
the proposals) and ``n_accepted`` (moves it applied), so the acceptance rate of
every method is ``n_accepted / n_evaluations``.
"""

from cython.parallel cimport prange
from libc.math cimport INFINITY, NAN
from libc.stdint cimport INT64_MAX, int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memset

from attnsearch.search.cython_api cimport (
    MAX_TABU_ATTRIBUTES,
    MOVE_NONE,
    CompiledProblem,
    DescentStats,
    Move,
    ProblemVTable,
    attnsearch_rng,
    rng_below,
    rng_uniform,
)

import numpy as np

from attnsearch._memory import check_allocation

include "attnsearch/_compiled_target.pxi"

cdef extern from "attnsearch_exp.h" nogil:
    double fast_exp "attnsearch_exp"(double x)

cdef extern from "attnsearch_clock.h" nogil:
    double monotonic "attnsearch_monotonic"()

cdef extern from "attnsearch_tabu_scan.h" nogil:
    const int TABU_SCAN_VECTOR "ATTNSEARCH_TABU_SCAN"  # 1 where compiled with AVX2 or up
    int64_t ising_tabu_scan "attnsearch_ising_tabu_scan"(
        int64_t n, const int8_t *spins, const double *fields, const int64_t *tabu_until,
        int64_t step_index, int aspiration, double cost, double threshold, int64_t *ties,
        double *last_delta, int64_t *first_any, double *any_delta)

# Chain status codes (the run loop reads them as ints).
cdef enum:
    STATUS_RUNNING = 0
    STATUS_CONVERGED = 1
    STATUS_TARGET = 2
    STATUS_TIME = 3
    STATUS_BAD_INITIAL_STATE = -1
    STATUS_BAD_TABU_ATTRIBUTE = -2

STATUS = {"running": STATUS_RUNNING, "converged": STATUS_CONVERGED,
          "target": STATUS_TARGET, "time_limit": STATUS_TIME,
          "bad_initial_state": STATUS_BAD_INITIAL_STATE,
          "bad_tabu_attribute": STATUS_BAD_TABU_ATTRIBUTE}

# Metropolis skips the random draw when delta / T exceeds this: exp(-x) is then
# below 2**-53, the resolution of the uniform draw (53 * ln 2 = 36.74).
ACCEPT_THRESHOLD = 36.7368005696771
cdef double _ACCEPT_THRESHOLD = ACCEPT_THRESHOLD
# Move evaluations between two reads of the clock (a read costs ~20 ns, a move a
# few ns: reading it after every step slowed small tabu/hill-climbing steps).
CLOCK_EVERY = 4096
cdef int64_t _CLOCK_EVERY = CLOCK_EVERY
# Parallel tempering sweeps the replicas of a chain in parallel only when a round
# makes at least this many move attempts.
cdef int64_t _PARALLEL_ROUND_ATTEMPTS = 1 << 16
# Tabu search keeps the indices of tied moves of neighbourhoods up to this size.
TIE_CAPACITY = 1 << 16


cdef struct Chains:
    # Per-chain arrays of one run, row c belongs to chain c.
    char *states
    char *aux
    char *best_states
    Py_ssize_t state_nbytes
    Py_ssize_t aux_nbytes
    uint64_t *rng
    double *cost
    double *best_cost
    int64_t *n_evaluations
    int64_t *n_accepted
    int64_t *progress
    int32_t *status


cdef enum:
    METHOD_INIT = 0
    METHOD_ANNEAL = 1
    METHOD_CLIMB = 2
    METHOD_STOCHASTIC = 3
    METHOD_TABU = 4
    METHOD_SAMPLE = 5
    METHOD_TEMPER = 6
    METHOD_ILS = 7
    METHOD_DESCEND = 8


cdef struct MethodParams:
    # Everything a method needs besides the problem and the chains.
    int method
    const double *temperatures  # annealing: one per sweep of this chunk
    int64_t n_units             # sweeps, steps or samples in this chunk
    int64_t sweep_len
    bint best_improvement
    double tolerance
    double target
    double deadline
    double temperature          # stochastic hill climbing
    int64_t sample_size         # stochastic HC / tabu candidates (0: enumerate all)
    int64_t tenure
    int64_t tenure_spread       # tabu: tenure drawn uniformly in [tenure, tenure + spread]
    int64_t *tie_index          # tabu: per-chain tie_capacity indices of tied moves
    int64_t tie_capacity
    bint aspiration
    int64_t perturb_after       # tabu: steps without a better cost in the episode (0: never)
    int64_t strength_low        # tabu: random moves of a perturbation (adaptive) ...
    int64_t strength_high       # ... from strength_low to strength_high
    int64_t *episode_count      # tabu, per chain: steps since the episode improved, strength
    double *episode_cost        # tabu, per chain: the episode's best, the previous one's
    const uint8_t *random_start
    Move *moves                 # per-chain scratch: sample_size moves ...
    double *deltas              # ... and their deltas (or the calibration samples)
    int64_t *tabu_until         # per-chain n_tabu_keys: step until which a key is tabu
    Py_ssize_t n_tabu_keys
    # parallel tempering: the run's chains (`c` then holds the replicas, R per chain)
    Chains *groups
    int64_t n_replicas
    const double *betas         # (n_chains, R): inverse temperature of each rung, coldest first
    int64_t *replica_at         # (n_chains, R): the replica on each rung
    int64_t *swap_attempts      # (n_chains, R - 1): per pair of neighbouring rungs
    int64_t *swap_accepts
    int64_t n_ladders           # 1, or 2 with cluster moves (replicas paired per rung)
    int64_t cluster_rungs       # cluster moves on the coldest rungs 0 .. cluster_rungs - 1
    int64_t *cluster_queue      # (n_chains, n) scratch of the cluster moves
    uint8_t *cluster_mark       # (n_chains, n) scratch, all zero between moves
    int64_t *cluster_stats      # (n_chains, 2): moves made, spins flipped (per replica)
    int64_t cluster_stride      # row length of the cluster scratch
    bint apply_moves            # sample_deltas: walk (apply each move) or stay
    # iterated local search
    int64_t strength            # kicks (or random moves) per perturbation
    double pause_at             # the first descent returns to Python after this time
    int64_t *kicks_accepted     # per chain, across chunks
    char *saved                 # per chain: state + aux copies (no checkpoint/rollback)


include "_dispatch.pxi"


# -- what every method shares ---------------------------------------------------------

cdef inline bint _out_of_time(Chains *c, Py_ssize_t chain, double deadline) noexcept nogil:
    """Mark the chain stopped by the deadline (read now) and say so."""
    if monotonic() > deadline:
        c.status[chain] = STATUS_TIME
        return True
    return False


cdef inline bint _should_stop(Chains *c, Py_ssize_t chain, double best_cost,
                              const MethodParams *m, int64_t *unclocked) noexcept nogil:
    """After a step or sweep: stop at the target (checked every time), or at the
    deadline, read once ``unclocked`` evaluations have accumulated since the last
    read (then ``unclocked`` restarts from 0)."""
    if best_cost <= m.target:
        c.status[chain] = STATUS_TARGET
        return True
    if unclocked[0] >= _CLOCK_EVERY:
        unclocked[0] = 0
        return _out_of_time(c, chain, m.deadline)
    return False


cdef inline void _save_chain(Chains *c, Py_ssize_t chain, double cost, int64_t evaluations,
                             int64_t accepted, const attnsearch_rng *local_rng) noexcept nogil:
    """Write a chain's running values back at the end of a chunk."""
    c.cost[chain] = cost
    c.n_evaluations[chain] += evaluations
    c.n_accepted[chain] += accepted
    (<attnsearch_rng *>&c.rng[4 * chain])[0] = local_rng[0]


cdef inline void _keep_best(Chains *c, Py_ssize_t chain, const char *state,
                            double cost) noexcept nogil:
    c.best_cost[chain] = cost
    memcpy(c.best_states + chain * c.state_nbytes, state, c.state_nbytes)


# -- initialisation ---------------------------------------------------------------

cdef void _init_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                      const MethodParams *m) noexcept nogil:
    cdef char *state = c.states + chain * c.state_nbytes
    cdef char *aux = c.aux + chain * c.aux_nbytes
    if _init(p, state, aux, <attnsearch_rng *>&c.rng[4 * chain],
             m.random_start[chain]) != 0:
        c.status[chain] = STATUS_BAD_INITIAL_STATE
        return
    c.cost[chain] = _cost(p, state, aux)
    _keep_best(c, chain, state, c.cost[chain])


# -- simulated annealing ----------------------------------------------------------

cdef inline int64_t _cache_slot(double delta) noexcept nogil:
    """Slot of a delta in the 8-entry acceptance cache: exponent and top mantissa
    bits, so 2, 4 and 6 (a 3-regular +-1 Ising) land in different slots."""
    cdef uint64_t bits
    memcpy(&bits, &delta, sizeof(double))
    return <int64_t>((bits >> 50) & 7)


cdef inline double _metropolis_sweep(const Problem *p, char *state, char *aux,
                                     attnsearch_rng *rng, double beta, int64_t sweep_len,
                                     double cost, int64_t *evaluations, int64_t *accepted,
                                     int64_t *clock_count, double deadline,
                                     bint *timed_out) noexcept nogil:
    """One Metropolis sweep at inverse temperature beta: accept delta <= 0 always,
    else with probability exp(-delta * beta); returns the new cost. Reads the clock
    every CLOCK_EVERY attempts (``clock_count`` carries over from sweep to sweep)
    and stops the sweep when the deadline has passed. Annealing and every replica
    of parallel tempering sweep with it."""
    cdef:
        double delta, x, probability
        # exp(-delta * beta) of recent deltas, per sweep (delta -> slot by its top
        # bits): discrete-cost problems (Ising: a handful of distinct deltas) skip
        # nearly every exp. The cached value is the same number exp would return,
        # so decisions are unchanged.
        double cached_delta[8]
        double cached_probability[8]
        int64_t attempt, slot
        Move move
        bint accept
    for slot in range(8):
        cached_delta[slot] = NAN
    for attempt in range(sweep_len):
        _propose(p, state, aux, rng, attempt, &move)
        if move.kind == MOVE_NONE:
            continue
        delta = _delta(p, state, aux, &move)
        evaluations[0] += 1
        if delta <= 0:
            accept = True
        else:
            x = delta * beta
            if x < _ACCEPT_THRESHOLD:
                slot = _cache_slot(delta)
                if cached_delta[slot] == delta:
                    probability = cached_probability[slot]
                else:
                    probability = fast_exp(-x)
                    cached_delta[slot] = delta
                    cached_probability[slot] = probability
                accept = rng_uniform(rng) < probability
            else:
                accept = False
        if accept:
            _apply(p, state, aux, &move)
            cost += delta
            accepted[0] += 1
        clock_count[0] += 1
        if clock_count[0] == _CLOCK_EVERY:
            clock_count[0] = 0
            if monotonic() > deadline:
                timed_out[0] = True
                break
    return cost


cdef void _anneal_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                        const MethodParams *m) noexcept nogil:
    """Metropolis sweeps for one chain, one per temperature of the chunk; the best
    state is kept at sweep ends."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        # A private copy of the stream: two chains' states share a cache line, and
        # writing them in place on every draw made threads fight over it.
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        double cost = c.cost[chain], temperature, beta
        int64_t evaluations = 0, accepted = 0, sweep, clock_count = 0
        bint timed_out = False
    if _out_of_time(c, chain, m.deadline):
        return
    for sweep in range(m.n_units):
        temperature = m.temperatures[sweep]
        beta = 1.0 / temperature if temperature > 0 else INFINITY
        cost = _metropolis_sweep(p, state, aux, &local_rng, beta, m.sweep_len, cost,
                                 &evaluations, &accepted, &clock_count, m.deadline,
                                 &timed_out)
        if cost < c.best_cost[chain]:
            _keep_best(c, chain, state, cost)
        c.progress[chain] += 1
        if timed_out:
            c.status[chain] = STATUS_TIME
            break
        if c.best_cost[chain] <= m.target:
            c.status[chain] = STATUS_TARGET
            break
    _save_chain(c, chain, cost, evaluations, accepted, &local_rng)


# -- hill climbing ----------------------------------------------------------------

cdef void _climb_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                       const MethodParams *m) noexcept nogil:
    """Greedy descent: apply the best (or the first, scanning from a random
    index) improving neighbour; stop at a local optimum."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        attnsearch_rng *rng = &local_rng
        double cost = c.cost[chain], delta, best_delta
        int64_t evaluations = 0, moves_taken = 0, unclocked = 0
        int64_t _step, n_moves, index, start, k, scanned
        Move move, best_move
        bint found
        bint best_improvement = m.best_improvement
        double tolerance = m.tolerance
    if _out_of_time(c, chain, m.deadline):
        return
    for _step in range(m.n_units):
        n_moves = _n_moves(p, state, aux)
        found = False
        scanned = evaluations
        if best_improvement:
            best_delta = INFINITY
            for index in range(n_moves):
                _move_at(p, state, aux, index, &move)
                if move.kind == MOVE_NONE:
                    continue
                delta = _delta(p, state, aux, &move)
                evaluations += 1
                if delta < best_delta:
                    best_delta = delta
                    best_move = move
            found = best_delta < -tolerance
        elif n_moves > 0:
            start = <int64_t>rng_below(rng, <uint64_t>n_moves)
            for k in range(n_moves):
                index = start + k
                if index >= n_moves:
                    index -= n_moves
                _move_at(p, state, aux, index, &move)
                if move.kind == MOVE_NONE:
                    continue
                delta = _delta(p, state, aux, &move)
                evaluations += 1
                if delta < -tolerance:
                    best_delta = delta
                    best_move = move
                    found = True
                    break
        if not found:
            c.status[chain] = STATUS_CONVERGED
            break
        _apply(p, state, aux, &best_move)
        cost += best_delta
        moves_taken += 1
        c.progress[chain] += 1
        unclocked += evaluations - scanned
        if _should_stop(c, chain, cost, m, &unclocked):
            break
    _keep_best(c, chain, state, cost)
    _save_chain(c, chain, cost, evaluations, moves_taken, &local_rng)


# -- stochastic hill climbing ------------------------------------------------------

cdef inline double _weight(double gain, double top, double temperature) noexcept nogil:
    """Softmax weight of a gain relative to the largest one seen (<= 1)."""
    return fast_exp((gain - top) / temperature)


cdef void _stochastic_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                            const MethodParams *m) noexcept nogil:
    """Each step draws one of the candidates (sampled, or the whole neighbourhood)
    or staying put, with probability proportional to exp(gain / T), gain = -delta
    (staying has gain 0). T = 0: the best candidate if it improves, else stay."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        attnsearch_rng *rng = &local_rng
        Move *moves = m.moves + chain * m.sample_size
        double *deltas = m.deltas + chain * m.sample_size
        double cost = c.cost[chain], delta, gain, top, total, u, cumulative, temperature
        double best_gain
        int64_t evaluations = 0, accepted = 0, unclocked = 0, scanned
        int64_t _step, k, n_candidates, chosen
        Move move, chosen_move
        bint enumerate_all = m.sample_size == 0
    temperature = m.temperature
    if _out_of_time(c, chain, m.deadline):
        return
    for _step in range(m.n_units):
        # Pass 1: the largest gain (at least 0, the gain of staying) and the total
        # weight, rescaled online whenever the largest gain grows.
        top = 0.0
        total = 1.0
        best_gain = 0.0
        chosen = -1
        scanned = evaluations
        n_candidates = _n_moves(p, state, aux) if enumerate_all else m.sample_size
        for k in range(n_candidates):
            if enumerate_all:
                _move_at(p, state, aux, k, &move)
            else:
                _random_move(p, state, aux, rng, &moves[k])
                move = moves[k]
            if move.kind == MOVE_NONE:
                if not enumerate_all:
                    deltas[k] = INFINITY
                continue
            delta = _delta(p, state, aux, &move)
            evaluations += 1
            if not enumerate_all:
                deltas[k] = delta
            gain = -delta
            if gain > best_gain:
                best_gain = gain
                chosen = k
                chosen_move = move
            if temperature > 0:
                if gain > top:
                    total = total * _weight(top, gain, temperature) + 1.0
                    top = gain
                else:
                    total += _weight(gain, top, temperature)
        if temperature > 0:
            # Pass 2: draw in the same order (staying first).
            u = rng_uniform(rng) * total
            cumulative = _weight(0.0, top, temperature)
            if u >= cumulative:
                for k in range(n_candidates):
                    if enumerate_all:
                        _move_at(p, state, aux, k, &move)
                        if move.kind == MOVE_NONE:
                            continue
                        gain = -_delta(p, state, aux, &move)
                    else:
                        if deltas[k] == INFINITY:
                            continue
                        move = moves[k]
                        gain = -deltas[k]
                    cumulative += _weight(gain, top, temperature)
                    if u < cumulative:
                        chosen = k
                        chosen_move = move
                        best_gain = gain
                        break
                # (If rounding left u beyond the last sum, the best candidate stands.)
            else:
                chosen = -1
        c.progress[chain] += 1
        if chosen < 0:
            if temperature <= 0 and enumerate_all:
                c.status[chain] = STATUS_CONVERGED
                break
        else:
            _apply(p, state, aux, &chosen_move)
            cost -= best_gain
            accepted += 1
            if cost < c.best_cost[chain]:
                _keep_best(c, chain, state, cost)
        unclocked += evaluations - scanned
        if _should_stop(c, chain, c.best_cost[chain], m, &unclocked):
            break
    _save_chain(c, chain, cost, evaluations, accepted, &local_rng)


# -- tabu search --------------------------------------------------------------------

cdef inline int _checked_attributes(const Problem *p, const char *state, const Move *move,
                                    int64_t *attributes, Py_ssize_t n_keys) noexcept nogil:
    """The move's tabu attributes, or -1 when the problem wrote one outside
    [0, n_keys) (or more than MAX_TABU_ATTRIBUTES): a bug of the problem."""
    cdef int n = _tabu_attributes(p, state, move, attributes), a
    if n < 0 or n > MAX_TABU_ATTRIBUTES:
        return -1
    for a in range(n):
        if not 0 <= attributes[a] < n_keys:
            return -1
    return n


cdef int _tabu_perturb(const Problem *p, Chains *c, Py_ssize_t chain,
                       const MethodParams *m, char *state, char *aux, attnsearch_rng *rng,
                       double *cost, int64_t *tabu_until, int64_t step_index,
                       int64_t *since, double *episode) noexcept nogil:
    """End an episode that went m.perturb_after steps without a better cost: apply
    `strength` random moves to the current state, their attributes tabu (jumping
    from the chain's best instead kept the chains near one basin: worse on G15).
    The strength grows by one while episodes end at the cost the previous one
    ended at (the walk keeps falling back into the same basin) and returns to
    strength_low otherwise (breakout local search's adaptive jump). Returns the
    moves applied, or -1 on a bad tabu attribute (status set)."""
    cdef:
        int64_t strength = since[1], _move, a, n_attributes, applied = 0
        int64_t attributes[MAX_TABU_ATTRIBUTES]
        Move move
        double delta
    if episode[0] <= episode[1] + m.tolerance and episode[0] >= episode[1] - m.tolerance:
        strength = strength + 1 if strength < m.strength_high else m.strength_low
    else:
        strength = m.strength_low
    since[1] = strength
    episode[1] = episode[0]
    for _move in range(strength):
        _random_move(p, state, aux, rng, &move)
        if move.kind == MOVE_NONE:
            continue
        n_attributes = _checked_attributes(p, state, &move, attributes, m.n_tabu_keys)
        if n_attributes < 0:
            c.status[chain] = STATUS_BAD_TABU_ATTRIBUTE
            return -1
        delta = _delta(p, state, aux, &move)
        _apply(p, state, aux, &move)
        cost[0] += delta
        applied += 1
        for a in range(n_attributes):
            tabu_until[attributes[a]] = step_index + 1 + m.tenure
    if cost[0] < c.best_cost[chain] - m.tolerance:
        _keep_best(c, chain, state, cost[0])
    episode[0] = cost[0]
    since[0] = 0
    return applied


cdef void _tabu_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                      const MethodParams *m) noexcept nogil:
    """Each step takes the best admissible candidate, even a worsening one; the
    attributes of the move taken stay tabu for `tenure` steps; a tabu move is
    admissible when it beats the best cost so far (aspiration). When every
    candidate is tabu, the best of them is taken. The best state is kept. With
    m.perturb_after, an episode without a better cost for that many steps ends
    with a perturbation (_tabu_perturb); the episodes' counters persist between
    chunks in m.episode_count / m.episode_cost."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        attnsearch_rng *rng = &local_rng
        int64_t *tabu_until = m.tabu_until + chain * m.n_tabu_keys
        double cost = c.cost[chain], delta, best_allowed, best_any
        int64_t evaluations = 0, taken = 0, unclocked = 0, scanned
        int64_t _step, k, n_candidates, step_index, a
        int64_t n_attributes, ties = 0, tenure, perturbed
        int64_t attributes[MAX_TABU_ATTRIBUTES]
        Move move, allowed_move, any_move
        bint enumerate_all = m.sample_size == 0, tabu, have_allowed, have_any
        bint use_buffer
        int64_t *tie_index = m.tie_index + chain * m.tie_capacity
        int64_t *since = m.episode_count + 2 * chain
        double *episode = m.episode_cost + 2 * chain
    if _out_of_time(c, chain, m.deadline):
        return
    for _step in range(m.n_units):
        step_index = c.progress[chain]
        if m.perturb_after > 0 and since[0] >= m.perturb_after:
            perturbed = _tabu_perturb(p, c, chain, m, state, aux, rng, &cost, tabu_until,
                                      step_index, since, episode)
            if perturbed < 0:
                break
            evaluations += perturbed
            taken += perturbed
        best_allowed = INFINITY
        best_any = INFINITY
        have_allowed = False
        have_any = False
        ties = 0
        scanned = evaluations
        n_candidates = _n_moves(p, state, aux) if enumerate_all else m.sample_size
        use_buffer = enumerate_all and n_candidates <= m.tie_capacity
        if Problem is IsingData:
            # The same scan a vector of spins at a time (the same tied moves in
            # the same order): the generic one was nearly all of a G-set step.
            if TABU_SCAN_VECTOR and use_buffer and n_candidates > 0:
                ties = ising_tabu_scan(n_candidates, <const int8_t *>state,
                                       <const double *>aux, tabu_until, step_index,
                                       m.aspiration, cost, c.best_cost[chain] - m.tolerance,
                                       tie_index, &best_allowed, &k, &best_any)
                evaluations += n_candidates
                have_any = True
                have_allowed = ties > 0
                if not have_allowed:
                    _move_at(p, state, aux, k, &any_move)
                n_candidates = 0  # scanned
        for k in range(n_candidates):
            if enumerate_all:
                _move_at(p, state, aux, k, &move)
            else:
                _random_move(p, state, aux, rng, &move)
            if move.kind == MOVE_NONE:
                continue
            delta = _delta(p, state, aux, &move)
            evaluations += 1
            if delta < best_any:
                best_any = delta
                any_move = move
                have_any = True
            if delta > best_allowed:
                continue  # cannot be chosen: skip the tabu check
            n_attributes = _checked_attributes(p, state, &move, attributes, m.n_tabu_keys)
            if n_attributes < 0:
                c.status[chain] = STATUS_BAD_TABU_ATTRIBUTE
                break
            tabu = False
            for a in range(n_attributes):
                if tabu_until[attributes[a]] > step_index:
                    tabu = True
                    break
            if tabu and not (m.aspiration and cost + delta < c.best_cost[chain] - m.tolerance):
                continue
            # Ties are broken uniformly at random (always taking the first one
            # walks the same few moves over and over): the indices of the tied
            # moves are kept and one is drawn after the scan; sampled
            # candidates use reservoir sampling instead.
            if delta < best_allowed:
                ties = 0
            best_allowed = delta
            have_allowed = True
            if use_buffer:
                tie_index[ties] = k
                ties += 1
            else:
                ties += 1
                if ties > 1 and rng_below(rng, <uint64_t>ties) != 0:
                    continue
                allowed_move = move
        if c.status[chain] == STATUS_BAD_TABU_ATTRIBUTE:
            break
        if not have_any:
            c.status[chain] = STATUS_CONVERGED  # no move at all
            break
        if not have_allowed:
            allowed_move = any_move
            best_allowed = best_any
        elif use_buffer:
            k = tie_index[rng_below(rng, <uint64_t>ties) if ties > 1 else 0]
            _move_at(p, state, aux, k, &allowed_move)
        n_attributes = _checked_attributes(p, state, &allowed_move, attributes,
                                           m.n_tabu_keys)
        if n_attributes < 0:
            c.status[chain] = STATUS_BAD_TABU_ATTRIBUTE
            break
        _apply(p, state, aux, &allowed_move)
        cost += best_allowed
        tenure = m.tenure
        if m.tenure_spread > 0:  # a random tenure in [tenure, tenure + spread]
            tenure += <int64_t>rng_below(rng, <uint64_t>(m.tenure_spread + 1))
        for a in range(n_attributes):
            tabu_until[attributes[a]] = step_index + 1 + tenure
        taken += 1
        c.progress[chain] += 1
        if cost < c.best_cost[chain] - m.tolerance:
            _keep_best(c, chain, state, cost)
        if cost < episode[0] - m.tolerance:
            episode[0] = cost
            since[0] = 0
        else:
            since[0] += 1
        unclocked += evaluations - scanned
        if _should_stop(c, chain, c.best_cost[chain], m, &unclocked):
            break
    _save_chain(c, chain, cost, evaluations, taken, &local_rng)


# -- parallel tempering ------------------------------------------------------------

cdef inline double _flip_cluster_spin(const Problem *p, char *state, char *aux,
                                      int64_t i, double cost) noexcept nogil:
    """Flip one spin of a cluster move in one replica; returns the new cost."""
    cdef Move move
    move.i = i
    move.j = 0
    move.k = 0
    move.kind = 0
    move.x = 0.0
    cost += _delta(p, state, aux, &move)
    _apply(p, state, aux, &move)
    return cost


cdef int64_t _cluster_move(const Problem *p, char *state_a, char *aux_a, double *cost_a,
                           char *state_b, char *aux_b, double *cost_b,
                           attnsearch_rng *rng, int64_t *queue,
                           uint8_t *mark) noexcept nogil:
    """Houdayer's cluster move between two replicas at the same temperature (Ising
    problems only; 0 elsewhere): pick a uniformly random spin where the replicas
    differ, grow the connected cluster of differing spins along non-zero
    couplings, flip it in both. The sum of the two energies is unchanged, so the
    move is accepted without a draw. Returns the cluster size."""
    cdef int64_t n, i, j, e, differ, pick, head, tail
    cdef const int8_t *sa = <const int8_t *>state_a
    cdef const int8_t *sb = <const int8_t *>state_b
    if Problem is IsingData:
        n = p.n
        differ = 0
        for i in range(n):
            differ += sa[i] != sb[i]
        if differ == 0 or differ == n:
            return 0  # identical, or opposite: flipping the cluster changes nothing
        pick = <int64_t>rng_below(rng, <uint64_t>differ)
        i = 0
        while True:
            if sa[i] != sb[i]:
                if pick == 0:
                    break
                pick -= 1
            i += 1
        queue[0] = i
        mark[i] = 1
        head = 0
        tail = 1
        while head < tail:
            i = queue[head]
            head += 1
            for e in range(p.indptr[i], p.indptr[i + 1]):
                j = p.indices[e]
                if mark[j] == 0 and p.weights[e] != 0 and sa[j] != sb[j]:
                    mark[j] = 1
                    queue[tail] = j
                    tail += 1
        for head in range(tail):
            i = queue[head]
            mark[i] = 0
            cost_a[0] = _flip_cluster_spin(p, state_a, aux_a, i, cost_a[0])
            cost_b[0] = _flip_cluster_spin(p, state_b, aux_b, i, cost_b[0])
        return tail
    else:
        return 0


cdef void _temper_sweep(const Problem *p, Chains *c, Py_ssize_t task,
                        const MethodParams *m) noexcept nogil:
    """Phase 1 of a round, one task per (chain, ladder, rung): one Metropolis
    sweep of the replica on that rung at its temperature, with the replica's own
    stream. Writes the round's counts into the replica's counters (n_evaluations,
    n_accepted: overwritten) and STATUS_TIME into its status if the deadline
    passed during the sweep."""
    cdef:
        int64_t per_chain = m.n_replicas * m.n_ladders
        int64_t chain = task // per_chain, slot = task % per_chain
        int64_t row = chain * per_chain + m.replica_at[task]
        int64_t evaluations = 0, accepted = 0, clock_count = 0
        char *state = c.states + row * c.state_nbytes
        char *aux = c.aux + row * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * row])[0]
        bint timed_out = False
    if m.groups.status[chain] != STATUS_RUNNING:
        return
    c.cost[row] = _metropolis_sweep(
        p, state, aux, &local_rng, m.betas[chain * m.n_replicas + slot % m.n_replicas],
        m.sweep_len, c.cost[row], &evaluations, &accepted, &clock_count, m.deadline,
        &timed_out)
    (<attnsearch_rng *>&c.rng[4 * row])[0] = local_rng
    c.n_evaluations[row] = evaluations
    c.n_accepted[row] = accepted
    if timed_out:
        c.status[row] = STATUS_TIME


cdef void _temper_exchange(const Problem *p, Chains *c, Py_ssize_t chain,
                           const MethodParams *m) noexcept nogil:
    """Phase 2 of a round, one task per chain: add up the sweeps' counts, keep the
    chain's best state (replicas checked rung by rung from the coldest, ladder by
    ladder), make a cluster move between the two replicas of each of the coldest
    `cluster_rungs` rungs, then in each ladder propose to exchange the replicas
    of every pair of neighbouring rungs k, k+1 in turn, accepted with
    probability min(1, exp((beta_k - beta_k+1) (E_k - E_k+1))). Cluster moves
    and exchanges draw from the chain's stream."""
    cdef:
        Chains *g = m.groups
        int64_t n_rungs = m.n_replicas, n_ladders = m.n_ladders
        int64_t per_chain = n_rungs * n_ladders, first = chain * per_chain
        const double *betas = m.betas + chain * n_rungs
        int64_t *replica_at = m.replica_at + chain * per_chain
        int64_t *attempts = m.swap_attempts + chain * (n_rungs - 1)
        int64_t *accepts = m.swap_accepts + chain * (n_rungs - 1)
        attnsearch_rng local_rng = (<attnsearch_rng *>&g.rng[4 * chain])[0]
        int64_t k, ladder, row, a, b, flipped, evaluations = 0, accepted = 0
        double x
        bint timed_out = False, accept
    if g.status[chain] != STATUS_RUNNING:
        return
    for k in range(n_rungs):
        for ladder in range(n_ladders):
            row = first + replica_at[ladder * n_rungs + k]
            evaluations += c.n_evaluations[row]
            accepted += c.n_accepted[row]
            c.n_evaluations[row] = 0
            c.n_accepted[row] = 0
            if c.status[row] == STATUS_TIME:
                c.status[row] = STATUS_RUNNING
                timed_out = True
            if c.cost[row] < g.best_cost[chain]:
                _keep_best(g, chain, c.states + row * c.state_nbytes, c.cost[row])
    if timed_out or monotonic() > m.deadline:
        g.status[chain] = STATUS_TIME
    else:
        if n_ladders == 2:
            for k in range(m.cluster_rungs):
                a = first + replica_at[k]
                b = first + replica_at[n_rungs + k]
                flipped = _cluster_move(
                    p, c.states + a * c.state_nbytes, c.aux + a * c.aux_nbytes, &c.cost[a],
                    c.states + b * c.state_nbytes, c.aux + b * c.aux_nbytes, &c.cost[b],
                    &local_rng, m.cluster_queue + chain * m.cluster_stride,
                    m.cluster_mark + chain * m.cluster_stride)
                m.cluster_stats[2 * chain] += 1
                m.cluster_stats[2 * chain + 1] += flipped
                if c.cost[a] < g.best_cost[chain]:
                    _keep_best(g, chain, c.states + a * c.state_nbytes, c.cost[a])
                if c.cost[b] < g.best_cost[chain]:
                    _keep_best(g, chain, c.states + b * c.state_nbytes, c.cost[b])
        for ladder in range(n_ladders):
            for k in range(n_rungs - 1):
                a = first + replica_at[ladder * n_rungs + k]
                b = first + replica_at[ladder * n_rungs + k + 1]
                x = (betas[k] - betas[k + 1]) * (c.cost[a] - c.cost[b])
                attempts[k] += 1
                if x >= 0:
                    accept = True
                elif x > -_ACCEPT_THRESHOLD:
                    accept = rng_uniform(&local_rng) < fast_exp(x)
                else:
                    accept = False
                if accept:
                    a = ladder * n_rungs + k
                    replica_at[a], replica_at[a + 1] = replica_at[a + 1], replica_at[a]
                    accepts[k] += 1
        g.progress[chain] += 1
        if g.best_cost[chain] <= m.target:
            g.status[chain] = STATUS_TARGET
    g.cost[chain] = c.cost[first + replica_at[0]]
    _save_chain(g, chain, g.cost[chain], evaluations, accepted, &local_rng)


cdef void _temper_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                        const MethodParams *m) noexcept nogil:
    """All the rounds of one chain in one thread (both phases, in order)."""
    cdef int64_t _round, slot, per_chain = m.n_replicas * m.n_ladders
    for _round in range(m.n_units):
        if m.groups.status[chain] != STATUS_RUNNING:
            break
        for slot in range(per_chain):
            _temper_sweep(p, c, chain * per_chain + slot, m)
        _temper_exchange(p, c, chain, m)


cdef void _temper_all(const Problem *p, Chains *c, Py_ssize_t first, Py_ssize_t last,
                      const MethodParams *m, int n_threads) noexcept nogil:
    """Parallel tempering on chains first..last-1. With at least as many chains
    as threads, each chain runs all its rounds in one thread (no
    synchronisation). With fewer, round by round: the sweeps of every replica
    in parallel (one task per replica), then the exchanges of every chain (one
    task per chain), so a single chain still uses every thread. Every task uses
    its own stream and memory: the two schemes, and any number of threads, give
    the same results."""
    cdef int64_t per_chain = m.n_replicas * m.n_ladders
    cdef Py_ssize_t task, chain, n_chains = last - first
    cdef Py_ssize_t first_task = first * per_chain, last_task = last * per_chain
    cdef int64_t _round, running
    # Rounds synchronise the threads twice: only worth it when a round's sweeps
    # are long (a barrier costs microseconds, far more on a busy machine).
    if (n_chains >= n_threads
            or n_chains * per_chain * m.sweep_len < _PARALLEL_ROUND_ATTEMPTS):
        for chain in prange(first, last, schedule="dynamic", num_threads=n_threads):
            _temper_chain(p, c, chain, m)
        return
    for _round in range(m.n_units):
        running = 0
        for chain in range(first, last):
            running += m.groups.status[chain] == STATUS_RUNNING
        if running == 0:
            break
        for task in prange(first_task, last_task, schedule="dynamic",
                           num_threads=n_threads):
            _temper_sweep(p, c, task, m)
        for chain in prange(first, last, schedule="dynamic", num_threads=n_threads):
            _temper_exchange(p, c, chain, m)


# -- temperature calibration --------------------------------------------------------

cdef void _sample_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                        const MethodParams *m) noexcept nogil:
    """Deltas of n_samples random moves along a random walk (every move applied),
    or around the chain's state (none applied); samples not taken because the
    deadline passed are NaN."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        attnsearch_rng *rng = &local_rng
        int64_t n_samples = m.n_units
        double *deltas = m.deltas + chain * m.n_units
        int64_t sample, rest
        Move move
    for sample in range(n_samples):
        if sample % _CLOCK_EVERY == 0 and monotonic() > m.deadline:
            for rest in range(sample, n_samples):
                deltas[rest] = NAN
            break
        _random_move(p, state, aux, rng, &move)
        if move.kind == MOVE_NONE:
            deltas[sample] = 0.0
            continue
        deltas[sample] = _delta(p, state, aux, &move)
        if m.apply_moves:
            _apply(p, state, aux, &move)
    (<attnsearch_rng *>&c.rng[4 * chain])[0] = local_rng


# -- descent to a local optimum (the problem's own, or first improvement) ----------------

cdef int _generic_descend(const Problem *p, char *state, char *aux, attnsearch_rng *rng,
                          double tolerance, int64_t max_moves, int64_t max_evaluations,
                          DescentStats *stats) noexcept nogil:
    """The fallback of a problem without `descend`: first-improvement steps over
    the enumerable neighbourhood, each scan from a random index; 1 at a local
    optimum, 0 at a budget (checked between steps)."""
    cdef int64_t n_moves, start, k, index
    cdef double delta
    cdef Move move
    cdef bint found
    stats.delta = 0
    stats.evaluations = 0
    stats.moves = 0
    while True:
        if stats.moves >= max_moves or stats.evaluations >= max_evaluations:
            return 0
        n_moves = _n_moves(p, state, aux)
        found = False
        if n_moves > 0:
            start = <int64_t>rng_below(rng, <uint64_t>n_moves)
            for k in range(n_moves):
                index = start + k
                if index >= n_moves:
                    index -= n_moves
                _move_at(p, state, aux, index, &move)
                if move.kind == MOVE_NONE:
                    continue
                delta = _delta(p, state, aux, &move)
                stats.evaluations += 1
                if delta < -tolerance:
                    _apply(p, state, aux, &move)
                    stats.delta += delta
                    stats.moves += 1
                    found = True
                    break
        if not found:
            return 1


cdef void _descend_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                         const MethodParams *m) noexcept nogil:
    """Hill climbing with the problem's own descent (TSP: don't-look bits over
    candidate lists) for up to n_units applied moves."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        double cost = c.cost[chain]
        int64_t evaluations = 0, moves = 0, left = m.n_units
        DescentStats stats
        int done
    if not _has_descend(p):
        c.status[chain] = STATUS_CONVERGED
        return
    if _out_of_time(c, chain, m.deadline):
        return
    while True:
        done = _descend(p, state, aux, m.tolerance, left, _CLOCK_EVERY, &stats)
        cost += stats.delta
        evaluations += stats.evaluations
        moves += stats.moves
        left -= stats.moves
        c.progress[chain] += stats.moves
        if done:
            c.status[chain] = STATUS_CONVERGED
            break
        if cost <= m.target:
            c.status[chain] = STATUS_TARGET
            break
        if left <= 0 or _out_of_time(c, chain, m.deadline):
            break
    _keep_best(c, chain, state, cost)
    _save_chain(c, chain, cost, evaluations, moves, &local_rng)


# -- iterated local search ----------------------------------------------------------------

cdef int _ils_descend(const Problem *p, Chains *c, Py_ssize_t chain, const MethodParams *m,
                      char *state, char *aux, attnsearch_rng *rng, double *cost,
                      int64_t *evaluations, int64_t *applied, int64_t *unclocked,
                      bint pausable) noexcept nogil:
    """Descend to a local optimum (1), in rounds of _CLOCK_EVERY evaluations; stop
    early (0) at the deadline (status TIME) or, when pausable, at m.pause_at
    (the next call resumes: what remains lives in aux)."""
    cdef DescentStats stats
    cdef int done
    cdef bint own = _has_descend(p)
    while True:
        if own:
            done = _descend(p, state, aux, m.tolerance, INT64_MAX, _CLOCK_EVERY, &stats)
        else:
            done = _generic_descend(p, state, aux, rng, m.tolerance, INT64_MAX,
                                    _CLOCK_EVERY, &stats)
        cost[0] += stats.delta
        evaluations[0] += stats.evaluations
        applied[0] += stats.moves
        unclocked[0] += stats.evaluations
        if done:
            return 1
        if unclocked[0] >= _CLOCK_EVERY:
            unclocked[0] = 0
            if _out_of_time(c, chain, m.deadline):
                return 0
            if pausable and monotonic() > m.pause_at:
                return 0


cdef void _ils_chain(const Problem *p, Chains *c, Py_ssize_t chain,
                     const MethodParams *m) noexcept nogil:
    """Iterated local search: iteration 0 descends from the initial state; each
    further one checkpoints the (local optimum) state, kicks it, descends, and
    keeps the result when its cost is <= the cost before the kick (minus the
    tolerance: 0 for exact costs), else rolls back. The current state is then always a best one, so the best state is
    copied once per chunk, not per improvement. Runs until progress (iterations
    done) reaches m.n_units."""
    cdef:
        char *state = c.states + chain * c.state_nbytes
        char *aux = c.aux + chain * c.aux_nbytes
        attnsearch_rng local_rng = (<attnsearch_rng *>&c.rng[4 * chain])[0]
        attnsearch_rng *rng = &local_rng
        double cost = c.cost[chain], before, delta
        int64_t evaluations = 0, applied = 0, unclocked = 0, _kick_move
        bint own_kick = _has_kick(p)
        bint own_undo = _has_checkpoint(p) and _has_rollback(p)
        char *saved = NULL
        Move move
        int done = 1
    if not own_undo:
        saved = m.saved + chain * (c.state_nbytes + c.aux_nbytes)
    if _out_of_time(c, chain, m.deadline):
        return
    if c.progress[chain] == 0:
        if _ils_descend(p, c, chain, m, state, aux, rng, &cost, &evaluations, &applied,
                        &unclocked, True):
            c.progress[chain] = 1
            if cost <= m.target:
                c.status[chain] = STATUS_TARGET
    while (c.status[chain] == STATUS_RUNNING and c.progress[chain] >= 1
           and c.progress[chain] < m.n_units):
        before = cost
        if own_undo:
            _checkpoint(p, state, aux)
        else:
            memcpy(saved, state, c.state_nbytes)
            memcpy(saved + c.state_nbytes, aux, c.aux_nbytes)
        if own_kick:
            cost += _kick(p, state, aux, rng, m.strength)
            evaluations += m.strength
            applied += m.strength
        else:
            for _kick_move in range(m.strength):
                _random_move(p, state, aux, rng, &move)
                if move.kind == MOVE_NONE:
                    continue
                delta = _delta(p, state, aux, &move)
                _apply(p, state, aux, &move)
                cost += delta
                evaluations += 1
                applied += 1
        done = _ils_descend(p, c, chain, m, state, aux, rng, &cost, &evaluations, &applied,
                            &unclocked, False)
        # Not worse (exact costs), or better by more than the rounding tolerance
        # (floating-point costs, whose running sum drifts).
        if cost <= before - m.tolerance:
            m.kicks_accepted[chain] += 1
        else:
            if own_undo:
                _rollback(p, state, aux)
            else:
                memcpy(state, saved, c.state_nbytes)
                memcpy(aux, saved + c.state_nbytes, c.aux_nbytes)
            cost = before
        c.progress[chain] += 1
        if not done:
            break
        if cost <= m.target:
            c.status[chain] = STATUS_TARGET
            break
    # <=: the state kept is the chain's current one at the end of the run, not
    # the first of equal cost seen at a chunk's end (chunking changes nothing).
    if cost <= c.best_cost[chain]:
        _keep_best(c, chain, state, cost)
    _save_chain(c, chain, cost, evaluations, applied, &local_rng)


# -- every method, over all chains ----------------------------------------------------

cdef void _run_all(const Problem *p, Chains *c, Py_ssize_t first, Py_ssize_t last,
                   const MethodParams *m, int n_threads) noexcept nogil:
    """prange over chains first..last-1: each chain runs the method on its own
    memory and stream."""
    cdef Py_ssize_t chain
    if m.method == METHOD_TEMPER:  # chains of m.groups; `c` holds their replicas
        _temper_all(p, c, first, last, m, n_threads)
        return
    for chain in prange(first, last, schedule="dynamic", num_threads=n_threads):
        if m.method == METHOD_INIT:
            _init_chain(p, c, chain, m)
        elif m.method == METHOD_SAMPLE:
            _sample_chain(p, c, chain, m)
        elif c.status[chain] != STATUS_RUNNING:
            continue
        elif m.method == METHOD_ANNEAL:
            _anneal_chain(p, c, chain, m)
        elif m.method == METHOD_CLIMB:
            _climb_chain(p, c, chain, m)
        elif m.method == METHOD_STOCHASTIC:
            _stochastic_chain(p, c, chain, m)
        elif m.method == METHOD_TABU:
            _tabu_chain(p, c, chain, m)
        elif m.method == METHOD_ILS:
            _ils_chain(p, c, chain, m)
        elif m.method == METHOD_DESCEND:
            _descend_chain(p, c, chain, m)


# -- Python entry points ----------------------------------------------------------
# Each is ``name(core, chains, *, <the method's parameters>, num_threads,
# use_vtable=False)``; _engine_reference mirrors each one over Python chains.

cdef Chains _chains_of(object arrays) except *:
    """Fill a Chains struct from a ChainArrays (pointers into its NumPy arrays)."""
    cdef Chains c
    cdef uint8_t[:, ::1] states = arrays.states.view(np.uint8)
    cdef uint8_t[:, ::1] best = arrays.best_states.view(np.uint8)
    cdef uint8_t[:, ::1] aux = arrays.aux
    cdef uint64_t[:, ::1] rng = arrays.rng
    cdef double[::1] cost = arrays.cost
    cdef double[::1] best_cost = arrays.best_cost
    cdef int64_t[::1] evaluations = arrays.n_evaluations
    cdef int64_t[::1] accepted = arrays.n_accepted
    cdef int64_t[::1] progress = arrays.progress
    cdef int32_t[::1] status = arrays.status
    c.state_nbytes = states.shape[1]
    c.aux_nbytes = aux.shape[1]
    # Zero-width rows (no aux) still need a valid pointer; nothing is read there.
    c.states = <char *>&states[0, 0] if states.shape[1] else <char *>&cost[0]
    c.best_states = <char *>&best[0, 0] if best.shape[1] else <char *>&cost[0]
    c.aux = <char *>&aux[0, 0] if aux.shape[1] else <char *>&cost[0]
    c.rng = &rng[0, 0]
    c.cost = &cost[0]
    c.best_cost = &best_cost[0]
    c.n_evaluations = &evaluations[0]
    c.n_accepted = &accepted[0]
    c.progress = &progress[0]
    c.status = &status[0]
    return c


cdef int _dispatch(object core, object arrays, MethodParams *m, int num_threads,
                   bint use_vtable, object groups=None) except -1:
    """Run method ``m`` on every chain of ``arrays``: with the problem's inlined
    operations (built-ins), or through its vtable (all others, or on request:
    the tests compare both paths). With ``groups`` (parallel tempering) the
    chains are those of ``groups`` and ``arrays`` holds their replicas."""
    cdef CompiledProblem compiled
    cdef Chains c
    chains = arrays if groups is None else groups
    cdef Py_ssize_t first = 0, last = chains.cost.shape[0]
    if not isinstance(core, CompiledProblem):
        raise TypeError(f"expected a CompiledProblem, got {type(core).__name__}")
    compiled = core
    compiled._check_vtable()
    # The backend may run a method on a slice of the chains at a time (so that
    # Ctrl-C and the deadline are seen between slices with many chains).
    if chains.active_chains is not None:
        first, last = chains.active_chains
    if last <= first:
        return 0
    c = _chains_of(arrays)
    if use_vtable:
        with nogil:
            _run_all(&compiled.vtable, &c, first, last, m, num_threads)
        return 0
    return _run_all_dispatched(core, &c, first, last, m, num_threads)


cdef MethodParams _params(int method, int64_t n_units, double target, double deadline):
    cdef MethodParams m
    memset(&m, 0, sizeof(MethodParams))
    m.method = method
    m.n_units = n_units
    m.target = target
    m.deadline = deadline
    return m


def _require_neighbourhood(core):
    if not core.has_neighbourhood:
        raise TypeError(f"{type(core).__name__} has no enumerable neighbourhood "
                        "(vtable.n_moves / move_at)")


def init_chains(core, arrays, random_start, *, int num_threads, bint use_vtable=False):
    """Random (or given) initial states, their workspaces and costs, for all chains.

    Parameters
    ----------
    core : CompiledProblem
    arrays : ChainArrays
        Its ``states`` rows hold the given initial states where not random.
    random_start : ndarray of bool, (n_chains,)
    num_threads : int
    use_vtable : bool
        Run built-in problems through their vtable (tests compare both paths).
    """
    cdef const uint8_t[::1] random_view = np.ascontiguousarray(random_start, dtype=np.uint8)
    cdef MethodParams m = _params(METHOD_INIT, 0, -INFINITY, INFINITY)
    if random_view.shape[0] != arrays.cost.shape[0]:
        raise ValueError("random_start must have one entry per chain")
    if random_view.shape[0]:
        m.random_start = &random_view[0]
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def anneal(core, arrays, *, temperatures, Py_ssize_t sweep_len, double target,
           double deadline, int num_threads, bint use_vtable=False):
    """Run ``len(temperatures)`` Metropolis sweeps of ``sweep_len`` attempts on every
    running chain (status 0), updating ``arrays`` in place."""
    cdef const double[::1] temps = np.ascontiguousarray(temperatures, dtype=np.float64)
    cdef MethodParams m = _params(METHOD_ANNEAL, temps.shape[0], target, deadline)
    if temps.shape[0] == 0:
        return
    m.temperatures = &temps[0]
    m.sweep_len = sweep_len
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def climb(core, arrays, *, int64_t max_steps, bint best_improvement, double tolerance,
          double target, double deadline, int num_threads, bint use_vtable=False):
    """Up to ``max_steps`` hill-climbing steps on every running chain (in place)."""
    cdef MethodParams m = _params(METHOD_CLIMB, max_steps, target, deadline)
    _require_neighbourhood(core)
    if max_steps <= 0:
        return
    m.best_improvement = best_improvement
    m.tolerance = tolerance
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def stochastic_climb(core, arrays, *, int64_t max_steps, double temperature,
                     Py_ssize_t sample_size, double target, double deadline,
                     int num_threads, bint use_vtable=False):
    """Up to ``max_steps`` stochastic hill-climbing steps on every running chain;
    ``sample_size`` 0 enumerates the whole neighbourhood. The candidate buffers
    live in ``arrays.scratch`` (allocated once per run)."""
    cdef MethodParams m = _params(METHOD_STOCHASTIC, max_steps, target, deadline)
    cdef Py_ssize_t n_chains = arrays.cost.shape[0]
    cdef uint8_t[:, ::1] moves_view
    cdef double[:, ::1] deltas_view
    if sample_size == 0:
        _require_neighbourhood(core)
    if max_steps <= 0 or n_chains == 0:
        return
    key = ("stochastic_climb", sample_size)
    if key not in arrays.scratch:
        check_allocation(n_chains * max(1, sample_size) * (sizeof(Move) + 8),
                         f"the candidate buffers of {n_chains} chains")
        arrays.scratch[key] = (
            np.zeros((n_chains, max(1, sample_size) * sizeof(Move)), dtype=np.uint8),
            np.zeros((n_chains, max(1, sample_size))),
        )
    moves_view, deltas_view = arrays.scratch[key]
    m.temperature = temperature
    m.sample_size = sample_size
    m.moves = <Move *>&moves_view[0, 0]
    m.deltas = &deltas_view[0, 0]
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def tabu(core, arrays, *, int64_t max_steps, Py_ssize_t tenure, bint aspiration,
         Py_ssize_t candidate_size, double tolerance, double target, double deadline,
         int num_threads, Py_ssize_t tenure_spread=0, int64_t perturb_after=0,
         int64_t strength_low=0, int64_t strength_high=0,
         bint use_vtable=False):
    """Up to ``max_steps`` tabu-search steps on every running chain; the tabu
    memory (``(n_chains, n_tabu_keys)`` int64, the step until which each key is
    tabu) persists between calls in ``arrays.scratch``, as do the episodes'
    counters (``tabu_episode_count``: steps since the episode's cost improved and
    the strength; ``tabu_episode_cost``: the episode's best cost and the previous
    episode's). With ``tenure_spread`` > 0 each step draws its tenure uniformly in
    [tenure, tenure + spread]. With ``perturb_after`` > 0, ``strength_low`` ..
    ``strength_high`` random moves end an episode that many steps without a
    better cost."""
    cdef MethodParams m = _params(METHOD_TABU, max_steps, target, deadline)
    cdef Py_ssize_t n_chains = arrays.cost.shape[0]
    cdef int64_t[:, ::1] tabu_view
    cdef int64_t[:, ::1] ties_view
    cdef int64_t[:, ::1] count_view
    cdef double[:, ::1] episode_view
    if candidate_size == 0:
        _require_neighbourhood(core)
    if max_steps <= 0 or n_chains == 0:
        return
    if "tabu_until" not in arrays.scratch:
        check_allocation(8 * n_chains * max(1, core.n_tabu_keys),
                         f"the tabu memory of {n_chains} chains")
        arrays.scratch["tabu_until"] = np.zeros((n_chains, max(1, core.n_tabu_keys)),
                                                dtype=np.int64)
        # Room for the tied moves of a whole neighbourhood, up to TIE_CAPACITY
        # (larger neighbourhoods break ties by reservoir sampling).
        capacity = 0
        if candidate_size == 0:
            capacity = min(_neighbourhood_size(core, arrays), TIE_CAPACITY)
        arrays.scratch["tabu_ties"] = np.zeros((n_chains, max(1, capacity)),
                                               dtype=np.int64)
        arrays.scratch["tabu_tie_capacity"] = np.array(capacity)
    if "tabu_episode_count" not in arrays.scratch:
        arrays.scratch["tabu_episode_count"] = np.zeros((n_chains, 2), dtype=np.int64)
        arrays.scratch["tabu_episode_cost"] = np.full((n_chains, 2), INFINITY)
    count_view = arrays.scratch["tabu_episode_count"]
    episode_view = arrays.scratch["tabu_episode_cost"]
    m.episode_count = &count_view[0, 0]
    m.episode_cost = &episode_view[0, 0]
    m.perturb_after = perturb_after
    m.strength_low = strength_low
    m.strength_high = max(strength_low, strength_high)
    tabu_view = arrays.scratch["tabu_until"]
    ties_view = arrays.scratch["tabu_ties"]
    m.tie_index = &ties_view[0, 0]
    m.tie_capacity = int(arrays.scratch["tabu_tie_capacity"])
    m.tenure = tenure
    m.tenure_spread = tenure_spread
    m.aspiration = aspiration
    m.sample_size = candidate_size
    m.tolerance = tolerance
    m.tabu_until = &tabu_view[0, 0]
    m.n_tabu_keys = core.n_tabu_keys
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def temper(core, arrays, *, replicas, betas, replica_at, swap_attempts, swap_accepts,
           int64_t n_rounds, Py_ssize_t sweep_len, double target, double deadline,
           int num_threads, int64_t cluster_rungs=0, bint use_vtable=False):
    """Up to ``n_rounds`` rounds of parallel tempering on every running chain of
    ``arrays`` (its best state, counters, status and exchange stream), whose
    L * R replicas are rows ``chain * L * R ..`` of ``replicas`` (a ChainArrays).

    Parameters
    ----------
    betas : ndarray of float64, (n_chains, R)
        Inverse temperature of each rung, coldest first.
    replica_at : ndarray of int64, (n_chains, L * R)
        The replica on each rung of each ladder (updated by the exchanges);
        L = 2 with cluster moves (two replicas per rung), else 1.
    swap_attempts, swap_accepts : ndarray of int64, (n_chains, R - 1)
        Exchange counters of each pair of neighbouring rungs (incremented; both
        ladders count in the same pair).
    cluster_rungs : int
        Houdayer cluster moves between the two replicas of the coldest
        ``cluster_rungs`` rungs (needs L = 2; Ising problems only). Their
        scratch and counters (moves, spins flipped) live in
        ``arrays.scratch["clusters"]``.
    """
    cdef Py_ssize_t n_chains = arrays.cost.shape[0]
    cdef const double[:, ::1] betas_view = betas
    cdef int64_t[:, ::1] at_view = replica_at
    cdef int64_t[:, ::1] attempts_view = swap_attempts
    cdef int64_t[:, ::1] accepts_view = swap_accepts
    cdef int64_t[:, ::1] queue_view
    cdef uint8_t[:, ::1] mark_view
    cdef int64_t[:, ::1] stats_view
    cdef MethodParams m = _params(METHOD_TEMPER, n_rounds, target, deadline)
    cdef Chains groups
    cdef Py_ssize_t n_replicas = betas_view.shape[1], n_ladders
    if n_chains == 0 or n_rounds <= 0:
        return
    n_ladders = at_view.shape[1] // n_replicas if n_replicas else 0
    if (betas_view.shape[0] != n_chains or at_view.shape[0] != n_chains
            or n_replicas < 2 or n_ladders not in (1, 2)
            or at_view.shape[1] != n_ladders * n_replicas
            or attempts_view.shape[0] != n_chains
            or attempts_view.shape[1] != n_replicas - 1
            or accepts_view.shape[0] != n_chains
            or accepts_view.shape[1] != n_replicas - 1
            or replicas.cost.shape[0] != n_chains * n_ladders * n_replicas):
        raise ValueError("inconsistent parallel tempering arrays")
    if replicas.states.shape[1] != arrays.states.shape[1]:
        raise ValueError("replicas and chains have different state sizes")
    if not 0 <= cluster_rungs <= n_replicas or (cluster_rungs and n_ladders != 2):
        raise ValueError("cluster moves need two ladders and 0 <= cluster_rungs <= R")
    if cluster_rungs and (use_vtable or type(core) is not IsingCore):
        raise ValueError("cluster moves need the compiled Ising core (inlined)")
    groups = _chains_of(arrays)
    m.groups = &groups
    m.n_replicas = n_replicas
    m.n_ladders = n_ladders
    m.sweep_len = sweep_len
    m.betas = &betas_view[0, 0]
    m.replica_at = &at_view[0, 0]
    m.swap_attempts = &attempts_view[0, 0]
    m.swap_accepts = &accepts_view[0, 0]
    if "clusters" not in arrays.scratch:
        size = max(1, arrays.states.shape[1])
        arrays.scratch["clusters"] = (
            np.zeros((n_chains, size), dtype=np.int64),
            np.zeros((n_chains, size), dtype=np.uint8),
            np.zeros((n_chains, 2), dtype=np.int64),
        )
    queue_view, mark_view, stats_view = arrays.scratch["clusters"]
    m.cluster_stride = queue_view.shape[1]
    m.cluster_rungs = cluster_rungs
    m.cluster_queue = &queue_view[0, 0]
    m.cluster_mark = &mark_view[0, 0]
    m.cluster_stats = &stats_view[0, 0]
    _dispatch(core, replicas, &m, num_threads, use_vtable, groups=arrays)


def descend(core, arrays, *, int64_t max_moves, double tolerance, double target,
            double deadline, int num_threads, bint use_vtable=False):
    """Up to ``max_moves`` moves of the problem's own descent (``vtable.descend``)
    on every running chain, in place; a chain at a local optimum gets status
    "converged"."""
    cdef MethodParams m = _params(METHOD_DESCEND, max_moves, target, deadline)
    if not core.provides("descend"):
        raise TypeError(f"{type(core).__name__} has no descend operation")
    if max_moves <= 0:
        return
    m.tolerance = tolerance
    _dispatch(core, arrays, &m, num_threads, use_vtable)


def iterated_local_search(core, arrays, *, int64_t until, int64_t strength,
                          double tolerance, double target, double deadline,
                          double pause_at, int num_threads, bint use_vtable=False):
    """Iterated local search on every running chain until it has done ``until``
    iterations (iteration 0 is the first descent; a chain still in it returns
    after ``pause_at``, resuming on the next call). Kicks accepted per chain
    accumulate in ``arrays.scratch["ils_accepted"]``; problems without
    checkpoint/rollback get per-chain copies in ``arrays.scratch["ils_saved"]``."""
    cdef MethodParams m = _params(METHOD_ILS, until, target, deadline)
    cdef Py_ssize_t n_chains = arrays.cost.shape[0]
    cdef int64_t[::1] accepted_view
    cdef uint8_t[:, ::1] saved_view
    if not core.provides("descend"):
        _require_neighbourhood(core)
    if n_chains == 0:
        return
    if "ils_accepted" not in arrays.scratch:
        arrays.scratch["ils_accepted"] = np.zeros(n_chains, dtype=np.int64)
    accepted_view = arrays.scratch["ils_accepted"]
    m.kicks_accepted = &accepted_view[0]
    if not (core.provides("checkpoint") and core.provides("rollback")):
        if "ils_saved" not in arrays.scratch:
            arrays.scratch["ils_saved"] = np.zeros(
                (n_chains, max(1, arrays.states.view(np.uint8).shape[1]
                               + arrays.aux.shape[1])), dtype=np.uint8)
        saved_view = arrays.scratch["ils_saved"]
        m.saved = <char *>&saved_view[0, 0]
    m.strength = strength
    m.tolerance = tolerance
    m.pause_at = pause_at
    _dispatch(core, arrays, &m, num_threads, use_vtable)


cdef int64_t _neighbourhood_size(object core, object arrays) except -1:
    """The size of chain 0's enumerable neighbourhood (n_moves)."""
    cdef CompiledProblem compiled = core
    cdef Chains c = _chains_of(arrays)
    return compiled.vtable.n_moves(compiled.vtable.data, c.states, c.aux)


def sample_deltas(core, arrays, *, Py_ssize_t n_samples, double deadline=INFINITY,
                  int num_threads, bint apply=True, bint use_vtable=False):
    """Deltas of ``n_samples`` random moves per chain along random walks
    (modifies the chains: run it on a throwaway copy), or, with ``apply=False``,
    of random moves from each chain's current state; shape (n_chains, n_samples);
    NaN for the samples the deadline cut off."""
    cdef Py_ssize_t n_chains = arrays.cost.shape[0]
    cdef double[:, ::1] deltas = np.zeros((n_chains, max(1, n_samples)))
    cdef MethodParams m = _params(METHOD_SAMPLE, n_samples, -INFINITY, deadline)
    m.apply_moves = apply
    if n_samples > 0:
        m.deltas = &deltas[0, 0]
        _dispatch(core, arrays, &m, num_threads, use_vtable)
    return np.asarray(deltas)[:, :n_samples]


def check_deltas(core, state, Py_ssize_t n_samples, rng_state):
    """Test helper: along a random walk from ``state``, the largest
    |delta - (cost(after) - cost(before))| with costs recomputed from scratch,
    and the number of moves checked. Runs through the vtable of ``core``."""
    cdef CompiledProblem compiled = core
    cdef ProblemVTable *vt = &compiled.vtable
    compiled._check_vtable()
    state_array = np.array(state, dtype=compiled.state_dtype).reshape(-1).copy()
    cdef uint8_t[::1] view = state_array.view(np.uint8)
    cdef uint8_t[::1] aux = np.zeros(max(1, compiled.aux_nbytes), dtype=np.uint8)
    cdef uint64_t[::1] rng_view = np.array(rng_state, dtype=np.uint64).copy()
    cdef char *s = <char *>&view[0] if view.shape[0] else NULL
    cdef char *a = <char *>&aux[0]
    cdef attnsearch_rng *rng = <attnsearch_rng *>&rng_view[0]
    cdef double worst = 0.0, before, after, delta
    cdef Py_ssize_t _sample, checked = 0
    cdef Move move
    if vt.init(vt.data, s, a, rng, False) != 0:
        raise ValueError("invalid state")
    for _sample in range(n_samples):
        vt.random_move(vt.data, s, a, rng, &move)
        if move.kind == MOVE_NONE:
            continue
        before = vt.cost(vt.data, s, a)
        delta = vt.delta(vt.data, s, a, &move)
        vt.apply(vt.data, s, a, &move)
        after = vt.cost(vt.data, s, a)
        worst = max(worst, abs(delta - (after - before)))
        checked += 1
    # The workspace maintained by apply must equal one rebuilt from the state.
    rebuilt = np.zeros(max(1, compiled.aux_nbytes), dtype=np.uint8)
    cdef uint8_t[::1] rebuilt_view = rebuilt
    vt.init(vt.data, s, <char *>&rebuilt_view[0], rng, False)
    return worst, checked, state_array, np.asarray(aux).copy(), rebuilt


def costs_of(core, states):
    """Cost of each row of ``states`` computed from scratch (exact recheck)."""
    cdef CompiledProblem compiled = core
    states = np.ascontiguousarray(states, dtype=compiled.state_dtype)
    cdef uint8_t[:, ::1] view = states.reshape(states.shape[0], -1).view(np.uint8)
    cdef uint8_t[:, ::1] aux = np.zeros((view.shape[0], max(1, compiled.aux_nbytes)),
                                        dtype=np.uint8)
    cdef double[::1] out = np.empty(view.shape[0])
    cdef uint64_t[4] dummy_rng = [1, 2, 3, 4]
    cdef Py_ssize_t r
    cdef char *state
    for r in range(view.shape[0]):
        state = <char *>&view[r, 0] if view.shape[1] else NULL
        if compiled.vtable.init(compiled.vtable.data, state, <char *>&aux[r, 0],
                                <attnsearch_rng *>dummy_rng, False) != 0:
            raise ValueError(f"state {r} is not a valid state of this problem")
        out[r] = compiled.vtable.cost(compiled.vtable.data, state, <char *>&aux[r, 0])
    return np.asarray(out)


def fast_exp_scalar(double x):
    """The engine's exp (csrc/attnsearch_exp.h), for the Python reference."""
    return fast_exp(x)
