"""Row-major GEMM over scipy.linalg.cython_blas and the parallel linear layer."""

import numpy as np
import pytest
from conftest import tolerance

from attnsearch._blas import _gemm_memview
from attnsearch._dispatch import kernels
from attnsearch._threading import blas_limited_to_one_thread

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

_linear = kernels("linear")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (3, 5, 7), (64, 33, 17), (0, 3, 2)])
def test_gemm_rowmajor_matches_numpy(rng, dtype, transpose_b, m, n, k):
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    want = 2.0 * a @ (b.T if transpose_b else b) + 0.5 * c
    _gemm_memview(a, b, c, transpose_b, 2.0, 0.5)
    np.testing.assert_allclose(c, want, **tolerance(dtype))


def test_gemm_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes"):
        _gemm_memview(np.ones((2, 3)), np.ones((4, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 63, 64, 65, 1000])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_linear_forward(rng, dtype, m, bias, threads):
    x = rng.standard_normal((m, 24)).astype(dtype)
    w = rng.standard_normal((24, 40)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype) if bias else None
    out = np.empty((m, 40), dtype)
    with blas_limited_to_one_thread():
        _linear.linear_forward(x, w, b, out, threads)
    np.testing.assert_allclose(out, x @ w + (0 if b is None else b), **tolerance(dtype))


def test_linear_forward_strided_rows_and_layout_checks(rng):
    big = rng.standard_normal((10, 30))
    x = big[:, 3:15]  # row stride 30
    w = rng.standard_normal((12, 5))
    out_big = np.zeros((10, 9))
    out = out_big[:, 2:7]
    _linear.linear_forward(x, w, None, out, 2)
    np.testing.assert_allclose(out, x @ w, **tolerance(np.float64))
    assert np.all(out_big[:, :2] == 0) and np.all(out_big[:, 7:] == 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _linear.linear_forward(x, np.asfortranarray(w), None, out, 1)
