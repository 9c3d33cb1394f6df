"""Seeds to streams: one xoshiro256++ stream per chain, and calibration streams.

Chain ``c`` of a run seeded with ``seed`` draws from child ``c`` of
``SeedSequence(seed)`` (``generate_state(4, uint64)``): the same stream whatever
``num_chains``, whichever block of chains it runs in, on whatever machine.
Everything a method derives from the seed (automatic temperatures, the
improvement tolerance of non-exact problems) is measured on *calibration*
streams, children of spawn key ``2**63 - 1``, which no chain ever uses; so a
block of chains run elsewhere with ``ChainBlock(root, first_chain)`` draws
exactly what those chains draw in the whole run (``attnsearch.search.dask``).

Seeding costs ~20 µs a stream: with a ``deadline`` (a time-limited run of a
million chains or replicas), the clock is read every ``_CLOCK_ROWS`` streams
and, once it has passed, the rows left repeat the last one. The chains they
seed start from copies and never search (the run is over), so only runs that
the deadline stopped, which are not reproducible anyway, see the difference.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
import numpy.typing as npt

from ._validation import check_int

__all__ = [
    "CALIBRATION_CHAINS",
    "ChainBlock",
    "calibration_states",
    "chain_rng_states",
    "replica_rng_states",
    "seed_sequence",
]

#: Chains of the calibration runs (temperatures, tolerances).
CALIBRATION_CHAINS = 4
_CALIBRATION_KEY = 2**63 - 1  # spawn key of the calibration streams (never a chain's)
_CLOCK_ROWS = 1024  # streams seeded between clock reads (~20 ms)


def seed_sequence(seed: object) -> np.random.SeedSequence:
    """``seed`` (None, an int >= 0 or a SeedSequence) as a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, a non-negative int or a numpy.random.SeedSequence, "
            f"got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.SeedSequence(int(seed))


def _nonzero(state: np.ndarray) -> np.ndarray:
    # The all-zero state is xoshiro's only fixed point.
    if not state.any():
        state[0] = 0x9E3779B97F4A7C15
    return state


def _past(deadline: float, row: int) -> bool:
    """Whether seeding should stop before ``row`` (see the module's notes)."""
    return row % _CLOCK_ROWS == 0 and row > 0 and time.monotonic() > deadline


def chain_rng_states(
    seed: object, n_chains: int, first_chain: int = 0, deadline: float = math.inf
) -> npt.NDArray[np.uint64]:
    """xoshiro256++ states ``(n_chains, 4)`` of chains ``first_chain ...``: row
    ``c`` comes from child ``first_chain + c`` of ``SeedSequence(seed)`` (until
    ``deadline``, see the module's notes)."""
    first_chain = check_int(first_chain, "first_chain", minimum=0)
    root = seed_sequence(seed)
    states = np.empty((n_chains, 4), dtype=np.uint64)
    for c in range(n_chains):
        if _past(deadline, c):
            states[c:] = states[c - 1]
            break
        child = np.random.SeedSequence(
            root.entropy,
            spawn_key=root.spawn_key + (first_chain + c,),
            pool_size=root.pool_size,
        )
        states[c] = _nonzero(child.generate_state(4, np.uint64))
    return states


def replica_rng_states(
    seed: object,
    n_chains: int,
    n_replicas: int,
    first_chain: int = 0,
    deadline: float = math.inf,
) -> npt.NDArray[np.uint64]:
    """xoshiro256++ states ``(n_chains * n_replicas, 4)`` of the replicas of
    chains ``first_chain ...`` (parallel tempering): row ``c * n_replicas + r``
    comes from grandchild ``(first_chain + c, r)`` of ``SeedSequence(seed)``, so
    a chain's replicas, like the chain's own stream, depend on nothing else
    (until ``deadline``, see the module's notes)."""
    first_chain = check_int(first_chain, "first_chain", minimum=0)
    root = seed_sequence(seed)
    states = np.empty((n_chains * n_replicas, 4), dtype=np.uint64)
    for c in range(n_chains):
        for r in range(n_replicas):
            row = c * n_replicas + r
            if _past(deadline, row):
                states[row:] = states[row - 1]
                return states
            child = np.random.SeedSequence(
                root.entropy,
                spawn_key=root.spawn_key + (first_chain + c, r),
                pool_size=root.pool_size,
            )
            states[c * n_replicas + r] = _nonzero(child.generate_state(4, np.uint64))
    return states


def calibration_states(seed: object) -> npt.NDArray[np.uint64]:
    """States of the ``CALIBRATION_CHAINS`` calibration streams of ``seed``."""
    root = seed_sequence(seed)
    calibration = np.random.SeedSequence(
        root.entropy,
        spawn_key=root.spawn_key + (_CALIBRATION_KEY,),
        pool_size=root.pool_size,
    )
    return chain_rng_states(calibration, CALIBRATION_CHAINS)


class ChainBlock:
    """Seed of chains ``first_chain .. first_chain + num_chains - 1`` of a run
    seeded with ``root``: a block of chains run as one task elsewhere (see
    :mod:`attnsearch.search.dask`) draws exactly the streams, calibration
    included, that those chains draw in the whole run."""

    __slots__ = ("root", "first_chain")

    def __init__(self, root: np.random.SeedSequence, first_chain: int) -> None:
        if not isinstance(root, np.random.SeedSequence):
            raise TypeError("ChainBlock needs a numpy.random.SeedSequence root")
        self.root = root
        self.first_chain = check_int(first_chain, "first_chain", minimum=0)

    def __repr__(self) -> str:
        return f"ChainBlock(first_chain={self.first_chain}, root={self.root!r})"
