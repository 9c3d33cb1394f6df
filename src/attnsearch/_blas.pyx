"""Row-major GEMM wrappers over ``scipy.linalg.cython_blas`` (no Python, no GIL)."""

from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef void gemm_rowmajor(bint transpose_b, int m, int n, int k, floating alpha,
                        const floating *a, int lda, const floating *b, int ldb,
                        floating beta, floating *c, int ldc) noexcept nogil:
    """C (m x n) = alpha * A (m x k) @ op(B) + beta * C, all row-major.

    op(B) is B (k x n, row stride ldb) or, with transpose_b, B^T for B stored
    n x k. Row-major C = A op(B) is column-major C^T = op(B)^T A^T, so the
    operands are swapped; BLAS takes non-const pointers, hence the casts.
    """
    cdef char no = b"N"
    cdef char tb = b"T" if transpose_b else b"N"
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&tb, &no, &n, &m, &k, &alpha, <float *>b, &ldb, <float *>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &no, &n, &m, &k, &alpha, <double *>b, &ldb, <double *>a, &lda,
              &beta, c, &ldc)


cdef void gemm_rowmajor_ex(bint transpose_a, bint transpose_b, int m, int n, int k,
                           floating alpha, const floating *a, int lda,
                           const floating *b, int ldb, floating beta, floating *c,
                           int ldc) noexcept nogil:
    """C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major.

    op(A) is A (m x k) or, with transpose_a, A^T for A stored k x m; op(B) as
    in gemm_rowmajor. The backward passes need A^T B (weight gradients).
    """
    cdef char ta = b"T" if transpose_a else b"N"
    cdef char tb = b"T" if transpose_b else b"N"
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *>b, &ldb, <float *>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *>b, &ldb, <double *>a, &lda,
              &beta, c, &ldc)


def _gemm_memview(floating[:, ::1] a, floating[:, ::1] b, floating[:, ::1] c,
                  bint transpose_b=False, double alpha=1.0, double beta=0.0):
    """Test wrapper: c = alpha * a @ op(b) + beta * c on C-contiguous arrays."""
    cdef int m = a.shape[0], k = a.shape[1]
    cdef int n = b.shape[0] if transpose_b else b.shape[1]
    cdef int kb = b.shape[1] if transpose_b else b.shape[0]
    if kb != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError("shapes do not match")
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[i, j] = c[i, j] * beta
        return
    with nogil:
        gemm_rowmajor(transpose_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1],
                      &b[0, 0], b.shape[1], <floating>beta, &c[0, 0], c.shape[1])
