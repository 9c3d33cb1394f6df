"""Test access to the vectorisable exp of csrc/attnsearch_exp.h (see its accuracy notes)."""

include "attnsearch/_compiled_target.pxi"

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


cdef extern from "attnsearch_tiles.h" nogil:
    double exp_sum_f32 "attnsearch_exp_sum_f32"(float *x, int n, float m)
    double exp_sum_f64 "attnsearch_exp_sum_f64"(double *x, int n, double m)


def _exp_sum_memview(x, double m):
    """In place x[j] = exp(x[j] - m) with the softmax kernel's routine; returns the sum."""
    cdef float[::1] x32
    cdef double[::1] x64
    cdef double total
    if x.dtype == "float32":
        x32 = x
        if x32.shape[0] == 0:
            return 0.0
        with nogil:
            total = exp_sum_f32(&x32[0], <int>x32.shape[0], <float>m)
    else:
        x64 = x
        if x64.shape[0] == 0:
            return 0.0
        with nogil:
            total = exp_sum_f64(&x64[0], <int>x64.shape[0], m)
    return total
