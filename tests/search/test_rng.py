"""xoshiro256++ streams: the C generator against a pure-Python one, and seeding."""

import numpy as np
import pytest

from attnsearch.search import ChainRNG
from attnsearch.search._seeding import calibration_states, chain_rng_states

MASK = (1 << 64) - 1


class PyXoshiro:
    """Reference xoshiro256++ (Blackman & Vigna) and the helpers of attnsearch_rng.h."""

    def __init__(self, state):
        self.s = [int(x) for x in state]

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next(self):
        s = self.s
        result = (self.rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def random(self):
        return (self.next() >> 11) * 2.0**-53

    def jump(self):
        # Blackman & Vigna's jump(): 2^128 draws ahead.
        jump = (
            0x180EC6D33CFD0ABA,
            0xD5A61266F0C9392C,
            0xA9582618E03FC9AA,
            0x39ABDC4529B1661C,
        )
        acc = [0, 0, 0, 0]
        for word in jump:
            for b in range(64):
                if word >> b & 1:
                    acc = [a ^ s for a, s in zip(acc, self.s)]
                self.next()
        self.s = acc

    def below(self, n):
        # Lemire's multiply-and-reject.
        x = self.next()
        m = x * n
        low = m & MASK
        if low < n:
            threshold = ((1 << 64) - n) % n
            while low < threshold:
                x = self.next()
                m = x * n
                low = m & MASK
        return m >> 64


def test_known_answer():
    # First outputs of xoshiro256++ from state (1, 2, 3, 4), from the reference C code.
    rng = ChainRNG([1, 2, 3, 4])
    assert [rng.next_u64() for _ in range(3)] == [41943041, 58720359, 3588806011781223]


@pytest.mark.parametrize("bound", [1, 2, 3, 7, 1000, 2**31 + 11, 2**63 + 5])
def test_c_generator_matches_python(global_random_seed, bound):
    state = chain_rng_states(global_random_seed, 1)[0]
    c_rng = ChainRNG(state)
    py_rng = PyXoshiro(state)
    for _ in range(500):
        assert c_rng.below(bound) == py_rng.below(bound)
        assert c_rng.random() == py_rng.random()
        assert c_rng.next_u64() == py_rng.next()
    assert [int(x) for x in c_rng.get_state()] == py_rng.s


def test_jump_matches_python(global_random_seed):
    state = chain_rng_states(global_random_seed, 1)[0]
    c_rng, py_rng = ChainRNG(state), PyXoshiro(state)
    for _ in range(3):
        c_rng.jump()
        py_rng.jump()
        assert [int(x) for x in c_rng.get_state()] == py_rng.s
    # A jump is a power of the transition: it commutes with a step.
    stepped_first = PyXoshiro(state)
    stepped_first.next()
    stepped_first.jump()
    jumped_first = PyXoshiro(state)
    jumped_first.jump()
    jumped_first.next()
    assert stepped_first.s == jumped_first.s != PyXoshiro(state).s


def test_below_is_unbiased():
    rng = ChainRNG(chain_rng_states(7, 1)[0])
    counts = np.bincount([rng.below(6) for _ in range(60_000)], minlength=6)
    # 5-sigma band of a binomial(60000, 1/6).
    assert np.all(np.abs(counts - 10_000) < 5 * np.sqrt(60_000 * (1 / 6) * (5 / 6)))


def test_normal_moments():
    rng = ChainRNG(chain_rng_states(3, 1)[0])
    draws = np.array([rng.normal() for _ in range(40_000)])
    assert abs(draws.mean()) < 5 / np.sqrt(40_000)
    assert abs(draws.var() - 1) < 0.05


def test_chain_streams_do_not_depend_on_chain_count():
    few = chain_rng_states(123, 3)
    many = chain_rng_states(123, 10)
    assert np.array_equal(few, many[:3])
    assert len({tuple(row) for row in many}) == 10
    assert not np.array_equal(chain_rng_states(124, 3), few)
    seq = np.random.SeedSequence(123)
    assert np.array_equal(chain_rng_states(seq, 3), few)
    # Child c is SeedSequence(seed).spawn(...)[c], as NumPy documents.
    children = np.random.SeedSequence(123).spawn(3)
    assert np.array_equal(few[2], children[2].generate_state(4, np.uint64))
    calibration = calibration_states(123).tolist()
    assert not any(row in chain_rng_states(123, 1000).tolist() for row in calibration)


@pytest.mark.parametrize(
    "bad, error",
    [(-1, ValueError), (1.5, TypeError), ("7", TypeError), (True, TypeError)],
)
def test_bad_seeds(bad, error):
    with pytest.raises(error, match="seed"):
        chain_rng_states(bad, 2)


def test_python_helpers():
    rng = ChainRNG([5, 6, 7, 8])
    assert 3 <= rng.integers(3, 9) < 9
    assert sorted(rng.permutation(10)) == list(range(10))
    assert 2.0 <= rng.uniform(2.0, 3.0) < 3.0
    with pytest.raises(ValueError):
        rng.below(0)
    with pytest.raises(ValueError):
        rng.integers(5, 5)
