"""The linear layer of the attention layers: y = x @ w (+ b) and its gradients.

All three products run on a grid of chunks that depends on the shapes only
(never on num_threads), so every output element comes from the same BLAS call
whatever the thread count and the layers' results and gradients are bitwise
identical for any num_threads. BLAS is SciPy's (``_blas.pxd``), called
single-threaded from our OpenMP threads: the caller holds
``blas_limited_to_one_thread()``, so BLAS's own spinning workers never compete
with the attention kernels' threads. Up to ``LINEAR_GEMV_MAX_ROWS`` rows (a
decode step), ``linear_forward`` streams w with its own split-k kernel
(csrc/attnsearch_decode.h), since a gemm over a few rows is bound by reading w.
"""

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.string cimport memset

from .._blas cimport gemm_rowmajor, gemm_rowmajor_ex
from ._common cimport floating, round_up

import numpy as np

cnp.import_array()

include "attnsearch/_compiled_target.pxi"

cdef extern from "attnsearch_decode.h" nogil:
    void gemv_block_f32 "attnsearch_gemv_block_f32"(const float *x, Py_ssize_t ldx, int m, const float *w, Py_ssize_t ldw, int n, int i0, int i1, float *acc, Py_ssize_t ldacc)
    void gemv_block_f64 "attnsearch_gemv_block_f64"(const double *x, Py_ssize_t ldx, int m, const double *w, Py_ssize_t ldw, int n, int i0, int i1, double *acc, Py_ssize_t ldacc)


cdef void _linear_tiles(const floating *x, Py_ssize_t ld_x, const floating *w,
                        const floating *bias, floating *out, Py_ssize_t ld_out,
                        Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, Py_ssize_t row_block,
                        Py_ssize_t col_block, int n_threads) noexcept nogil:
    """out = x @ w (+ bias): one single-threaded gemm per tile of a fixed grid.

    The grid (row_block x col_block tiles) depends on the shapes only, so every
    output element comes from the same gemm call whatever the thread count.
    """
    cdef Py_ssize_t n_rb = (m + row_block - 1) // row_block
    cdef Py_ssize_t n_cb = (n + col_block - 1) // col_block
    cdef Py_ssize_t tile, r0, r1, c0, c1, r, c
    cdef floating beta
    with parallel(num_threads=n_threads):
        for tile in prange(n_rb * n_cb, schedule="dynamic"):
            r0 = (tile // n_cb) * row_block
            r1 = min(m, r0 + row_block)
            c0 = (tile % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            beta = 0
            if bias != NULL:
                beta = 1
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        out[r * ld_out + c] = bias[c]
            gemm_rowmajor(False, <int>(r1 - r0), <int>(c1 - c0), <int>k, <floating>1,
                          x + r0 * ld_x, <int>ld_x, w + c0, <int>n, beta,
                          out + r0 * ld_out + c0, <int>ld_out)


cdef void _linear_split_k(const floating *x, Py_ssize_t ld_x, const floating *w,
                          const floating *bias, floating *out, Py_ssize_t ld_out,
                          Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, Py_ssize_t k_block,
                          Py_ssize_t col_block, floating *partial, int n_threads) noexcept nogil:
    """out = x @ w (+ bias) for a few rows: w streamed in fixed blocks of k_block
    rows (x col_block columns), one partial sum per block, added in block order."""
    cdef Py_ssize_t n_kb = (k + k_block - 1) // k_block
    cdef Py_ssize_t n_cb = (n + col_block - 1) // col_block
    cdef Py_ssize_t task, kb, r, c, c0, c1, i0, i1
    cdef floating *acc
    cdef floating *dst
    cdef const floating *src
    with parallel(num_threads=n_threads):
        for task in prange(n_kb * n_cb, schedule="dynamic"):
            kb = task // n_cb
            c0 = (task % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            i0 = kb * k_block
            i1 = min(k, i0 + k_block)
            acc = partial + kb * m * n + c0
            for r in range(m):
                memset(acc + r * n, 0, (c1 - c0) * sizeof(floating))
            if floating is float:
                gemv_block_f32(x, ld_x, <int>m, w + c0, n, <int>(c1 - c0), <int>i0, <int>i1, acc, n)
            else:
                gemv_block_f64(x, ld_x, <int>m, w + c0, n, <int>(c1 - c0), <int>i0, <int>i1, acc, n)
        for task in prange(m * n_cb, schedule="static"):
            r = task // n_cb
            c0 = (task % n_cb) * col_block
            c1 = min(n, c0 + col_block)
            dst = out + r * ld_out
            for c in range(c0, c1):
                dst[c] = bias[c] if bias != NULL else 0
            for kb in range(n_kb):
                src = partial + (kb * m + r) * n
                for c in range(c0, c1):
                    dst[c] = dst[c] + src[c]


# Rows up to which linear_forward streams w itself (split-k, see _linear_split_k):
# a gemm over a few rows is bound by reading w, which OpenBLAS's small-m path
# does at a fraction of the memory bandwidth.
LINEAR_GEMV_MAX_ROWS = 16
# Rows of w per split-k block (at least), and the number of blocks to aim for.
LINEAR_GEMV_MIN_K_BLOCK = 64
LINEAR_GEMV_K_BLOCKS = 16
# Columns per split-k task (8 KiB of float32 per row of w).
LINEAR_GEMV_COL_BLOCK = 2048

# Tile grid of linear_forward (more than LINEAR_GEMV_MAX_ROWS rows). Each gemm
# call packs both of its operands, so a grid of n_rb x n_cb tiles copies
# (n_cb - 1) * m * k + (n_rb - 1) * k * n elements more than one call. The grid
# splits only the larger of the two output dimensions, into more tiles as the
# work grows (multiply-adds m * n * k at least LINEAR_TILE_WORK[t] for 2, 4, 8
# tiles), so the copies stay a few percent at most: on one thread,
# MultiHeadAttention(512, 8) at n = 1024 (805 M multiply-adds per projection)
# took 49.5-51 ms with 1 tile, 51-52 with 2, 51.5-53.4 with 4, and 24 narrow
# 512 x 128 tiles had cost 8 %.
LINEAR_TILE_WORK = (1 << 22, 1 << 30, 1 << 33)


def linear_tiles(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k=1):
    """(row_block, col_block) of linear_forward's tile grid for x (m, k) @ w (k, n)."""
    cdef Py_ssize_t work = m * n * max(1, k), tiles = 1
    for threshold in LINEAR_TILE_WORK:
        if work >= threshold:
            tiles *= 2
    if m >= n:
        return max(1, (m + tiles - 1) // tiles), max(1, n)
    cdef Py_ssize_t col_block = ((n + tiles - 1) // tiles + 15) // 16 * 16
    return max(1, m), max(1, col_block)


def linear_forward(cnp.ndarray x, cnp.ndarray w, bias, cnp.ndarray out, int num_threads):
    """out = x @ w (+ bias) with single-threaded SciPy-BLAS calls on a tile grid.

    Parameters
    ----------
    x : ndarray, (m, k), unit column stride, any row stride
    w : ndarray, (k, n), C-contiguous
    bias : ndarray (n,) or None
    out : ndarray, (m, n), unit column stride, any row stride
    num_threads : int
        The caller limits BLAS to one thread (blas_limited_to_one_thread), so
        numpy's and SciPy's BLAS thread pools are not woken: their spinning
        workers would otherwise compete with the attention kernel's threads.

    Notes
    -----
    Up to ``LINEAR_GEMV_MAX_ROWS`` rows (decoding), w is streamed by our own
    kernel in fixed blocks of rows whose partial sums are added in block
    order; more rows run single-threaded BLAS gemms on a grid of tiles
    (:func:`linear_tiles`). Both depend on the shapes only: the result is
    bitwise identical for every ``num_threads``.
    """
    if x.ndim != 2 or w.ndim != 2 or out.ndim != 2:
        raise ValueError("linear_forward: x, w and out must be 2-d")
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = w.shape[1]
    if w.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError(
            f"linear_forward: shapes do not match: x {(<object>x).shape}, "
            f"w {(<object>w).shape}, out {(<object>out).shape}"
        )
    if x.dtype != w.dtype or out.dtype != w.dtype or w.dtype not in (np.float32, np.float64):
        raise ValueError("linear_forward: x, w and out must share a float dtype")
    if bias is not None and (bias.dtype != w.dtype or bias.shape != (n,)
                             or not bias.flags.c_contiguous):
        raise ValueError("linear_forward: bias must be a contiguous (n,) array of w's dtype")
    if not w.flags.c_contiguous or (k > 1 and x.strides[1] != x.itemsize) or (n > 1 and out.strides[1] != out.itemsize):
        raise ValueError("linear_forward: w must be C-contiguous, x and out unit-stride rows")
    if not out.flags.writeable:
        raise ValueError("linear_forward: out must be writeable")
    if m == 0 or n == 0:
        return
    if k == 0:
        out[...] = 0 if bias is None else bias
        return
    cdef Py_ssize_t ld_x = x.strides[0] // x.itemsize if m > 1 else k
    cdef Py_ssize_t ld_out = out.strides[0] // out.itemsize if m > 1 else n
    cdef Py_ssize_t k_block, n_kb, n_tiles, gemv_cols
    cdef int n_threads
    cdef cnp.ndarray partial
    cdef void *x_ptr = cnp.PyArray_DATA(x)
    cdef void *w_ptr = cnp.PyArray_DATA(w)
    cdef void *o_ptr = cnp.PyArray_DATA(out)
    cdef void *b_ptr = NULL
    if bias is not None:
        b_ptr = cnp.PyArray_DATA(bias)
    if m <= LINEAR_GEMV_MAX_ROWS:
        k_block = max(LINEAR_GEMV_MIN_K_BLOCK, (k + LINEAR_GEMV_K_BLOCKS - 1) // LINEAR_GEMV_K_BLOCKS)
        k_block = ((k_block + 3) // 4) * 4
        n_kb = (k + k_block - 1) // k_block
        partial = np.empty(n_kb * m * n, dtype=w.dtype)
        gemv_cols = LINEAR_GEMV_COL_BLOCK
        n_tiles = n_kb * ((n + gemv_cols - 1) // gemv_cols)
        n_threads = <int>max(1, min(num_threads, n_tiles))
        if x.dtype == np.float32:
            with nogil:
                _linear_split_k(<const float *>x_ptr, ld_x, <const float *>w_ptr,
                                <const float *>b_ptr, <float *>o_ptr, ld_out, m, k, n,
                                k_block, gemv_cols,
                                <float *>cnp.PyArray_DATA(partial), n_threads)
        else:
            with nogil:
                _linear_split_k(<const double *>x_ptr, ld_x, <const double *>w_ptr,
                                <const double *>b_ptr, <double *>o_ptr, ld_out, m, k, n,
                                k_block, gemv_cols,
                                <double *>cnp.PyArray_DATA(partial), n_threads)
        return
    row_block, col_block = linear_tiles(m, n, k)
    cdef Py_ssize_t rb = row_block, cb = col_block
    n_tiles = ((m + rb - 1) // rb) * ((n + cb - 1) // cb)
    n_threads = <int>max(1, min(num_threads, n_tiles))
    if x.dtype == np.float32:
        with nogil:
            _linear_tiles(<const float *>x_ptr, ld_x, <const float *>w_ptr,
                          <const float *>b_ptr, <float *>o_ptr, ld_out, m, k, n, rb, cb,
                          n_threads)
    else:
        with nogil:
            _linear_tiles(<const double *>x_ptr, ld_x, <const double *>w_ptr,
                          <const double *>b_ptr, <double *>o_ptr, ld_out, m, k, n, rb, cb,
                          n_threads)


# The gradient GEMMs run on a grid of chunks that depends on the shapes only
# (never on num_threads): every output element comes from the same gemm call
# whatever the thread count, so the layers' gradients are bitwise identical for
# any num_threads. Each extra chunk repacks an operand (x for a column chunk of
# dW = x^T dy, w for a row chunk of dx = dy w^T), so, as linear_forward's grid
# (_kernels.linear_tiles), the number of chunks grows with the work: 1, 2, 4 or
# 8 chunks at LINEAR_TILE_WORK multiply-adds.


cdef Py_ssize_t _n_chunks(Py_ssize_t work):
    """Chunks of a gemm of `work` multiply-adds (1, 2, 4 or 8)."""
    cdef Py_ssize_t chunks = 1
    for threshold in LINEAR_TILE_WORK:
        if work >= threshold:
            chunks *= 2
    return chunks


def grad_chunks(Py_ssize_t m, Py_ssize_t k, Py_ssize_t n):
    """(rows per chunk of linear_grad_input's dx (m, k), columns per chunk of
    linear_grad_weight's dw (k, n)) for x (m, k) and dy (m, n): shapes only."""
    cdef Py_ssize_t chunks = _n_chunks(m * k * n)
    cdef Py_ssize_t cols = round_up((n + chunks - 1) // chunks, 16)
    return max(1, (m + chunks - 1) // chunks), max(1, cols)


cdef void _grad_weight_cols(const floating *x, Py_ssize_t ld_x, const floating *dy,
                            Py_ssize_t ld_dy, floating *dw, Py_ssize_t ld_dw,
                            Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, floating beta,
                            Py_ssize_t cols_per_chunk, int n_threads) noexcept nogil:
    """dw = x^T dy + beta * dw over chunks of `cols_per_chunk` columns."""
    cdef Py_ssize_t chunk, c0, c1, n_chunks = (n + cols_per_chunk - 1) // cols_per_chunk
    with parallel(num_threads=n_threads):
        for chunk in prange(n_chunks, schedule="dynamic"):
            c0 = chunk * cols_per_chunk
            c1 = min(n, c0 + cols_per_chunk)
            if c1 > c0:
                gemm_rowmajor_ex(True, False, <int>k, <int>(c1 - c0), <int>m, <floating>1,
                                 x, <int>ld_x, dy + c0, <int>ld_dy, beta, dw + c0,
                                 <int>ld_dw)


cdef void _grad_input_rows(const floating *dy, Py_ssize_t ld_dy, const floating *w,
                           Py_ssize_t ld_w, floating *dx, Py_ssize_t ld_dx,
                           Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, floating beta,
                           Py_ssize_t rows_per_chunk, int n_threads) noexcept nogil:
    """dx = dy w^T + beta * dx over chunks of `rows_per_chunk` rows."""
    cdef Py_ssize_t chunk, r0, r1, n_chunks = (m + rows_per_chunk - 1) // rows_per_chunk
    with parallel(num_threads=n_threads):
        for chunk in prange(n_chunks, schedule="dynamic"):
            r0 = chunk * rows_per_chunk
            r1 = min(m, r0 + rows_per_chunk)
            if r1 > r0:
                gemm_rowmajor_ex(False, True, <int>(r1 - r0), <int>k, <int>n, <floating>1,
                                 dy + r0 * ld_dy, <int>ld_dy, w, <int>ld_w, beta,
                                 dx + r0 * ld_dx, <int>ld_dx)


cdef Py_ssize_t _check_rows(cnp.ndarray a, str name) except -1:
    """Row stride (elements) of a 2-d array with unit-stride rows, else raise."""
    if a.ndim != 2 or (a.shape[1] > 1 and a.strides[1] != a.itemsize) or a.strides[0] % a.itemsize:
        raise ValueError(f"{name} must be 2-d with unit-stride rows")
    return a.strides[0] // a.itemsize if a.shape[0] > 1 else max(1, a.shape[1])


def linear_grad_weight(cnp.ndarray x, cnp.ndarray dy, cnp.ndarray dw, bint accumulate,
                       int num_threads):
    """dw (+)= x^T dy: the weight gradient of ``y = x @ w``, column chunks over threads.

    The chunks (:func:`grad_chunks`) depend on the shapes only, so the result
    is bitwise identical for every ``num_threads``.

    Parameters
    ----------
    x : ndarray, (m, k); dy : ndarray, (m, n); dw : ndarray, (k, n)
        One float dtype, unit-stride rows (any row stride). The caller limits
        BLAS to one thread (blas_limited_to_one_thread).
    accumulate : bool
        Add to dw instead of overwriting it.
    num_threads : int
    """
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = dy.shape[1]
    cdef Py_ssize_t ld_x = _check_rows(x, "x"), ld_dy = _check_rows(dy, "dy")
    cdef Py_ssize_t ld_dw = _check_rows(dw, "dw")
    cdef Py_ssize_t cols_per_chunk = grad_chunks(m, k, n)[1]
    cdef int n_threads = <int>max(1, min(num_threads, (n + cols_per_chunk - 1) // cols_per_chunk))
    if dy.shape[0] != m or dw.shape[0] != k or dw.shape[1] != n:
        raise ValueError("linear_grad_weight: shapes do not match")
    if x.dtype != dy.dtype or x.dtype != dw.dtype or x.dtype not in (np.float32, np.float64):
        raise ValueError("linear_grad_weight: x, dy, dw must share a float dtype")
    if k == 0 or n == 0:
        return
    if m == 0:
        if not accumulate:
            dw[...] = 0
        return
    cdef void *x_ptr = cnp.PyArray_DATA(x)
    cdef void *dy_ptr = cnp.PyArray_DATA(dy)
    cdef void *dw_ptr = cnp.PyArray_DATA(dw)
    if x.dtype == np.float32:
        with nogil:
            _grad_weight_cols(<const float *>x_ptr, ld_x, <const float *>dy_ptr, ld_dy,
                              <float *>dw_ptr, ld_dw, m, k, n, 1 if accumulate else 0,
                              cols_per_chunk, n_threads)
    else:
        with nogil:
            _grad_weight_cols(<const double *>x_ptr, ld_x, <const double *>dy_ptr, ld_dy,
                              <double *>dw_ptr, ld_dw, m, k, n, 1 if accumulate else 0,
                              cols_per_chunk, n_threads)


def linear_grad_input(cnp.ndarray dy, cnp.ndarray w, cnp.ndarray dx, bint accumulate,
                      int num_threads):
    """dx (+)= dy w^T: the input gradient of ``y = x @ w``, row chunks over threads.

    The chunks (:func:`grad_chunks`) depend on the shapes only, so the result
    is bitwise identical for every ``num_threads``.

    Parameters
    ----------
    dy : ndarray, (m, n); w : ndarray, (k, n); dx : ndarray, (m, k)
        One float dtype, unit-stride rows (any row stride).
    accumulate : bool
        Add to dx instead of overwriting it.
    num_threads : int
    """
    cdef Py_ssize_t m = dy.shape[0], n = dy.shape[1], k = w.shape[0]
    cdef Py_ssize_t ld_dy = _check_rows(dy, "dy"), ld_w = _check_rows(w, "w")
    cdef Py_ssize_t ld_dx = _check_rows(dx, "dx")
    cdef Py_ssize_t rows_per_chunk = grad_chunks(m, k, n)[0]
    cdef int n_threads = <int>max(1, min(num_threads, (m + rows_per_chunk - 1) // rows_per_chunk))
    if w.shape[1] != n or dx.shape[0] != m or dx.shape[1] != k:
        raise ValueError("linear_grad_input: shapes do not match")
    if dy.dtype != w.dtype or dy.dtype != dx.dtype or dy.dtype not in (np.float32, np.float64):
        raise ValueError("linear_grad_input: dy, w, dx must share a float dtype")
    if m == 0 or k == 0:
        return
    if n == 0:
        if not accumulate:
            dx[...] = 0
        return
    cdef void *dy_ptr = cnp.PyArray_DATA(dy)
    cdef void *w_ptr = cnp.PyArray_DATA(w)
    cdef void *dx_ptr = cnp.PyArray_DATA(dx)
    if dy.dtype == np.float32:
        with nogil:
            _grad_input_rows(<const float *>dy_ptr, ld_dy, <const float *>w_ptr, ld_w,
                             <float *>dx_ptr, ld_dx, m, k, n, 1 if accumulate else 0,
                             rows_per_chunk, n_threads)
    else:
        with nogil:
            _grad_input_rows(<const double *>dy_ptr, ld_dy, <const double *>w_ptr, ld_w,
                             <double *>dx_ptr, ld_dx, m, k, n, 1 if accumulate else 0,
                             rows_per_chunk, n_threads)
