"""Shared fixtures: per-dtype tolerances, the random seed of the tests and the CPU
targets the kernel-versus-reference comparisons run under."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from attnsearch import _dispatch
from attnsearch._cpu_targets import FAMILIES

# Modules marked `pytestmark = pytest.mark.usefixtures("cpu_target")` run every
# test once per CPU target that this machine executes and the build has
# (baseline, avx2, avx512 on an AVX-512 machine): each target's kernels are
# compared with the reference, not only the one the dispatch picks.
# ATTNSEARCH_CPU_TARGET=avx2 limits them to baseline and avx2.
CPU_TARGETS = [
    target
    for target in _dispatch.allowed_targets()
    if any(target in _dispatch.built_targets(family) for family in FAMILIES)
]

# The cpu_target fixture is function-scoped but only selects the kernels, so the
# examples of one property test may share it.
settings.register_profile(
    "attnsearch", suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("attnsearch")

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
    if "cpu_target" in metafunc.fixturenames:
        # A -march=native build has no variants to switch between.
        metafunc.parametrize("cpu_target", CPU_TARGETS or [None], indirect=True)


@pytest.fixture
def cpu_target(request):
    """Run the test on one CPU target's kernels (see CPU_TARGETS)."""
    if request.param is None:
        yield None
        return
    with _dispatch.use_target(request.param):
        yield request.param


@pytest.fixture
def rng(global_random_seed):
    return np.random.default_rng(global_random_seed)
