"""Shared fixtures: per-dtype tolerances and the random seed of the tests."""

import os

import numpy as np
import pytest

#: Tolerances of kernel-versus-reference comparisons, defined once per dtype.
#: float32 atol is 1e-5 rather than scikit-learn's 1e-7: attention outputs are
#: weighted sums of O(1) values whose weights are exp(score) with scores of
#: order 10-100, and rounding a float32 score of size s moves its weight by
#: s * 6e-8 relative (1e-6 at s = 20) before any accumulation error.
TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-7, "atol": 1e-9},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-5},
}


def tolerance(dtype):
    return TOLERANCES[np.dtype(dtype)]


def pytest_generate_tests(metafunc):
    # ATTNSEARCH_TESTS_GLOBAL_RANDOM_SEED="all" sweeps 0..99, "a-b" a range, N one seed.
    if "global_random_seed" in metafunc.fixturenames:
        spec = os.environ.get("ATTNSEARCH_TESTS_GLOBAL_RANDOM_SEED", "42")
        if spec == "all":
            seeds = list(range(100))
        elif "-" in spec:
            lo, hi = (int(x) for x in spec.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(spec)]
        metafunc.parametrize("global_random_seed", seeds)


@pytest.fixture
def rng(global_random_seed):
    return np.random.default_rng(global_random_seed)
