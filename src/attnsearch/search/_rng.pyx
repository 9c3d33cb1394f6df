"""A chain's xoshiro256++ stream usable from Python (the same C code as the kernels).

Seeding (SeedSequence -> one state per chain) lives in ``_seeding.py``.
"""

from libc.stdint cimport uint64_t

from attnsearch.search.cython_api cimport (
    attnsearch_rng,
    rng_below,
    rng_next,
    rng_normal,
    rng_uniform,
)

import numpy as np

cdef extern from "attnsearch_rng.h" nogil:
    void rng_jump "attnsearch_rng_jump"(attnsearch_rng *rng)


cdef class ChainRNG:
    """One chain's xoshiro256++ stream, usable from Python.

    The Python reference methods and user-written problems draw from this
    object; the compiled kernels run the same C code on the same state, so
    both see identical streams.

    Parameters
    ----------
    state : array_like of 4 uint64
    """

    cdef attnsearch_rng rng

    def __init__(self, state):
        state = np.asarray(state, dtype=np.uint64).reshape(4)
        for i in range(4):
            self.rng.s[i] = state[i]

    def get_state(self):
        """The 4 x uint64 state (a copy)."""
        return np.array([self.rng.s[0], self.rng.s[1], self.rng.s[2], self.rng.s[3]],
                        dtype=np.uint64)

    def next_u64(self):
        """Next raw 64-bit output."""
        return rng_next(&self.rng)

    def jump(self):
        """Advance the stream by 2^128 draws (xoshiro256's jump)."""
        rng_jump(&self.rng)

    def random(self):
        """Uniform float in [0, 1) (53-bit resolution)."""
        return rng_uniform(&self.rng)

    def below(self, n):
        """Uniform int in [0, n), unbiased; n >= 1."""
        if n < 1:
            raise ValueError(f"below(n) needs n >= 1, got {n}")
        return rng_below(&self.rng, <uint64_t>n)

    def integers(self, low, high=None):
        """Uniform int in [low, high) (numpy.random.Generator.integers style)."""
        if high is None:
            low, high = 0, low
        if high <= low:
            raise ValueError(f"integers: empty range [{low}, {high})")
        return low + rng_below(&self.rng, <uint64_t>(high - low))

    def uniform(self, low=0.0, high=1.0):
        """Uniform float in [low, high)."""
        return low + (high - low) * rng_uniform(&self.rng)

    def normal(self, loc=0.0, scale=1.0):
        """Normal draw (Marsaglia polar method)."""
        return loc + scale * rng_normal(&self.rng)

    def permutation(self, n):
        """Random permutation of range(n) as an int64 array (Fisher-Yates)."""
        perm = np.arange(n, dtype=np.int64)
        for i in range(n - 1, 0, -1):
            j = rng_below(&self.rng, <uint64_t>(i + 1))
            perm[i], perm[j] = perm[j], perm[i]
        return perm
