"""The vectorisable exp of csrc/attnsearch_exp.h against np.exp.

Documented bounds: relative error < 2**-23 for float32 on [-87.33, 88.37] and
< 2**-52 for float64 on [-708.39, 709.08]; below the range results flush to +0,
above they are +inf, NaN stays NaN. The float32 sweep walks every 3rd bit
pattern of the whole range (ATTNSEARCH_FULL_EXP_SWEEP=1: every one).
"""

import os

import numpy as np
import pytest

from attnsearch._dispatch import kernels

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

_fastexp = kernels("exp")

F32_LO, F32_HI = np.float32(-87.33654), np.float32(88.37626)
F64_LO, F64_HI = -708.3964185322641, 709.0895657128241


def exp32(x, vector=True):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _fastexp._exp_memview(x, out, vector)
    return out


def exp64(x, vector=True):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _fastexp._exp64_memview(x, out, vector)
    return out


def test_float32_whole_range_sweep():
    step = 1 if os.environ.get("ATTNSEARCH_FULL_EXP_SWEEP") else 3
    worst = 0.0
    chunk = 1 << 22
    checked = 0
    # Bit patterns of negative floats (sign bit set) and positive floats.
    for start in range(0, 1 << 32, chunk):
        first = start + (-start) % step
        bits = np.arange(first, start + chunk, step, dtype=np.uint32)
        x = bits.view(np.float32)
        x = x[(x >= F32_LO) & (x <= F32_HI)]
        if x.size == 0:
            continue
        got = exp32(x).astype(np.float64)
        want = np.exp(x.astype(np.float64))
        worst = max(worst, float(np.max(np.abs(got - want) / want)))
        checked += x.size
    assert checked > 6e8 // step
    assert worst < 2.0**-23, worst


def test_float64_random_points(rng):
    x = np.concatenate(
        [
            rng.uniform(F64_LO, F64_HI, 5_000_000),
            rng.uniform(-1.0, 1.0, 1_000_000),
            rng.uniform(-50.0, 0.0, 1_000_000),
            -np.logspace(-300, 2.8, 1_000_000),
        ]
    )
    got = exp64(x)
    want = np.exp(x.astype(np.longdouble))
    rel = np.abs((got - want) / want).astype(np.float64)
    assert rel.max() < 2.0**-52, rel.max()


@pytest.mark.parametrize("exp, dtype", [(exp32, np.float32), (exp64, np.float64)])
def test_special_values_and_out_of_range(exp, dtype):
    lo, hi = (F32_LO, F32_HI) if dtype == np.float32 else (F64_LO, F64_HI)
    x = np.array(
        [-np.inf, np.inf, np.nan, 0.0, -0.0, lo * 1.01, hi * 1.01, -1e30, 1e30, 1.0],
        dtype=dtype,
    )
    x = np.tile(x, 5)  # exercise both the vector body and the scalar tail
    y = exp(x)
    expected = np.tile(
        np.array([0, np.inf, np.nan, 1, 1, 0, np.inf, 0, np.inf, np.e], dtype=dtype), 5
    )
    np.testing.assert_allclose(y, expected, rtol=2e-7, equal_nan=True)
    assert np.all(y[np.tile(np.arange(10) == 5, 5)] == 0.0)  # flushed, not subnormal


@pytest.mark.parametrize("exp, dtype", [(exp32, np.float32), (exp64, np.float64)])
def test_vector_and_scalar_forms_agree_bitwise(exp, dtype, rng):
    x = rng.uniform(-120, 100, 100_003).astype(dtype)
    a = exp(x, vector=True)
    b = exp(x, vector=False)
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        _fastexp._exp_memview(np.zeros(3, np.float32), np.zeros(2, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 64, 511, 512, 513, 2000])
def test_softmax_exp_sum_kernel(rng, dtype, n):

    x = rng.normal(scale=30, size=n).astype(dtype)
    if n > 3:
        x[:3] = [-np.inf, -1e30, x.max() if n else 0]
    m = float(x.max()) if n else 0.0
    y = x.copy()
    total = _fastexp._exp_sum_memview(y, m)
    # The kernel rounds x - m to the dtype first (as any softmax does); exp of that
    # rounded argument is then within 1 ulp, and below-range values flush to zero.
    want = np.exp((x - dtype(m)).astype(np.float64))
    np.testing.assert_allclose(
        y,
        want.astype(dtype),
        rtol=2.0**-22 if dtype == np.float32 else 2.0**-51,
        atol=1.2e-38 if dtype == np.float32 else 0,
    )
    np.testing.assert_allclose(
        total, want.sum(), rtol=1e-6 if dtype == np.float32 else 1e-14
    )
    if n:
        z = x.copy()
        z[n // 2] = np.nan
        assert np.isnan(_fastexp._exp_sum_memview(z, m)) and np.isnan(z[n // 2])
