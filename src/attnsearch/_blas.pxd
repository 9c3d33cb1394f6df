# Row-major GEMM over scipy.linalg.cython_blas (SciPy's own BLAS, callable without
# the GIL). Callers inside OpenMP regions must limit BLAS to one thread first
# (attnsearch._threading.blas_limited_to_one_thread).

ctypedef fused floating:
    float
    double

cdef void gemm_rowmajor(bint transpose_b, int m, int n, int k, floating alpha,
                        const floating *a, int lda, const floating *b, int ldb,
                        floating beta, floating *c, int ldc) noexcept nogil

cdef void gemm_rowmajor_ex(bint transpose_a, bint transpose_b, int m, int n, int k,
                           floating alpha, const floating *a, int lda,
                           const floating *b, int ldb, floating beta, floating *c,
                           int ldc) noexcept nogil
