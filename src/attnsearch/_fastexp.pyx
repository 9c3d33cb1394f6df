"""Test access to the vectorisable exp of csrc/attnsearch_exp.h (see its accuracy notes)."""

cdef extern from "attnsearch_tiles.h" nogil:
    void exp_array_f32 "attnsearch_exp_array_f32"(const float *x, float *y, Py_ssize_t n)
    void exp_array_f64 "attnsearch_exp_array_f64"(const double *x, double *y, Py_ssize_t n)
    float expf_scalar "attnsearch_expf"(float x)
    double exp_scalar "attnsearch_exp"(double x)


def _exp_memview(const float[::1] x, float[::1] out, bint vector=True):
    """out = exp(x) for float32, with the vector form (scalar tail) or the scalar form."""
    cdef Py_ssize_t i, n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("x and out must have the same length")
    if n == 0:
        return
    with nogil:
        if vector:
            exp_array_f32(&x[0], &out[0], n)
        else:
            for i in range(n):
                out[i] = expf_scalar(x[i])


def _exp64_memview(const double[::1] x, double[::1] out, bint vector=True):
    """out = exp(x) for float64, with the vector form (scalar tail) or the scalar form."""
    cdef Py_ssize_t i, n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError("x and out must have the same length")
    if n == 0:
        return
    with nogil:
        if vector:
            exp_array_f64(&x[0], &out[0], n)
        else:
            for i in range(n):
                out[i] = exp_scalar(x[i])
