"""Threaded scans of whole arrays: finiteness, the largest magnitude, a sum.

The input checks of attention read each operand once with these (in fixed
blocks of 64 Ki elements spread over the OpenMP threads, no temporary array),
and the decode benchmark's streaming-read ceiling is ``stream_read_sum``.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

import numpy as np

cnp.import_array()

include "attnsearch/_compiled_target.pxi"

cdef extern from "attnsearch_decode.h" nogil:
    double stream_sum_f32 "attnsearch_stream_sum_f32"(const float *x, Py_ssize_t n)
    double stream_sum_f64 "attnsearch_stream_sum_f64"(const double *x, Py_ssize_t n)
    int all_finite_f32 "attnsearch_all_finite_f32"(const float *x, Py_ssize_t n)
    int all_finite_f64 "attnsearch_all_finite_f64"(const double *x, Py_ssize_t n)


cdef double _sum_block(const char *base, Py_ssize_t start, Py_ssize_t n, bint is_float) noexcept nogil:
    """Sum of n elements from element `start` (float32 or float64)."""
    if is_float:
        return stream_sum_f32(<const float *>base + start, n)
    return stream_sum_f64(<const double *>base + start, n)


def stream_read_sum(arrays, int num_threads):
    """Sum every element of ``arrays`` with ``num_threads`` OpenMP threads.

    The streaming-read ceiling of the decode benchmark: the same bytes the
    decode kernel reads (K and V), read once, in fixed blocks of 64 Ki
    elements spread over the threads. Arrays must be C-contiguous float32 or
    float64.
    """
    cdef Py_ssize_t block = 1 << 16, n, n_blocks, b
    cdef double total = 0.0
    cdef const char *ptr
    cdef bint is_float
    cdef double[::1] partial
    for array in arrays:
        arr = np.asarray(array)
        if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
            raise ValueError("stream_read_sum: C-contiguous float32/float64 arrays only")
        n = arr.size
        if n == 0:
            continue
        is_float = arr.dtype == np.float32
        ptr = <const char *>cnp.PyArray_DATA(arr)
        n_blocks = (n + block - 1) // block
        partial = np.zeros(n_blocks)
        with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
            for b in prange(n_blocks, schedule="static"):
                partial[b] = _sum_block(ptr, b * block, min(block, n - b * block), is_float)
        for b in range(n_blocks):
            total += partial[b]
    return total


cdef int _finite_block(const char *base, Py_ssize_t start, Py_ssize_t n, bint is_float) noexcept nogil:
    """1 if the n elements from element `start` are all finite."""
    if is_float:
        return all_finite_f32(<const float *>base + start, n)
    return all_finite_f64(<const double *>base + start, n)


cdef double _max_abs_block(const char *base, Py_ssize_t start, Py_ssize_t n,
                           bint is_float) noexcept nogil:
    """max |x| of n elements from element `start`, +inf if one is inf or NaN.

    |x| of an IEEE float is its bit pattern without the sign bit, and those
    patterns order like the magnitudes, with inf and every NaN above all finite
    values: one unsigned-integer max (a reduction compilers vectorise) answers
    both questions."""
    cdef const uint32_t *bits32
    cdef const uint64_t *bits64
    cdef uint32_t top32 = 0, b32
    cdef uint64_t top64 = 0, b64
    cdef float value32
    cdef double value64
    cdef Py_ssize_t i
    if is_float:
        bits32 = <const uint32_t *>base + start
        for i in range(n):
            b32 = bits32[i] & 0x7FFFFFFFu
            top32 = b32 if b32 > top32 else top32
        if top32 >= 0x7F800000u:
            return INFINITY
        memcpy(&value32, &top32, sizeof(float))
        return value32
    bits64 = <const uint64_t *>base + start
    for i in range(n):
        b64 = bits64[i] & 0x7FFFFFFFFFFFFFFFu
        top64 = b64 if b64 > top64 else top64
    if top64 >= 0x7FF0000000000000u:
        return INFINITY
    memcpy(&value64, &top64, sizeof(double))
    return value64


def max_abs(arr, int num_threads):
    """max |x| over a C-contiguous float32/float64 array (0 when empty), or inf
    when an element is inf or NaN: finiteness and magnitude in one threaded read
    without a temporary (the range checks of attention need both)."""
    if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
        raise ValueError("max_abs: C-contiguous float32/float64 arrays only")
    cdef Py_ssize_t block = 1 << 16, n = arr.size, n_blocks, b
    if n == 0:
        return 0.0
    cdef bint is_float = arr.dtype == np.float32
    cdef const char *ptr = <const char *>cnp.PyArray_DATA(arr)
    n_blocks = (n + block - 1) // block
    cdef double top
    if n_blocks == 1 or num_threads <= 1:  # small (a decode step's q): no region
        with nogil:
            top = 0.0
            for b in range(n_blocks):
                top = max(top, _max_abs_block(ptr, b * block, min(block, n - b * block),
                                              is_float))
        return top
    cdef double[::1] tops = np.zeros(n_blocks)
    with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
        for b in prange(n_blocks, schedule="static"):
            tops[b] = _max_abs_block(ptr, b * block, min(block, n - b * block), is_float)
    return float(np.max(tops))


def all_finite(arr, int num_threads):
    """True if every element of a C-contiguous float32/float64 array is finite.

    One read of the array, spread over ``num_threads`` OpenMP threads in fixed
    blocks, no temporary array (``np.isfinite(x).all()`` writes a boolean
    array as large as x and reads it back, single-threaded).
    """
    if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
        raise ValueError("all_finite: C-contiguous float32/float64 arrays only")
    cdef Py_ssize_t block = 1 << 16, n = arr.size, n_blocks, b
    if n == 0:
        return True
    cdef bint is_float = arr.dtype == np.float32
    cdef const char *ptr = <const char *>cnp.PyArray_DATA(arr)
    n_blocks = (n + block - 1) // block
    cdef bint all_ok = True
    if n_blocks == 1 or num_threads <= 1:  # small (a decode step's output): no region
        with nogil:
            for b in range(n_blocks):
                if not _finite_block(ptr, b * block, min(block, n - b * block), is_float):
                    all_ok = False
                    break
        return all_ok
    cdef int[::1] ok = np.ones(n_blocks, dtype=np.intc)
    with nogil, parallel(num_threads=max(1, min(num_threads, n_blocks))):
        for b in prange(n_blocks, schedule="static"):
            ok[b] = _finite_block(ptr, b * block, min(block, n - b * block), is_float)
    for b in range(n_blocks):
        if not ok[b]:
            return False
    return True
