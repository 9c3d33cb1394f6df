"""NumPy reference of the fused attention kernel, written for clarity, not speed.

It materialises the full (..., n_q, n_k) score matrix, so it needs O(n_q * n_k)
memory per batch item. It is the ``backend="reference"`` path of
:func:`attnsearch.attention.scaled_dot_product_attention` and the oracle of the
tests. Conventions are those of the kernel: rows are queries; boolean masks say
True = may attend; a query that sees no key gets zeros, never NaN.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from ._typing import Array, Window, WindowSides

__all__ = [
    "alibi_bias",
    "causal_mask",
    "expand_kv_heads",
    "linear_16",
    "masked_scores",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "window_mask",
]


def expand_kv_heads(q: Array, kv: Array) -> Array:
    """Repeat the head axis (-3) of ``kv`` so that it matches ``q``'s (grouped-query).

    When ``kv`` has ``H_kv`` heads and ``q`` has ``H_q = g * H_kv``, key/value
    head ``h`` serves query heads ``h * g ... h * g + g - 1``.
    """
    if q.ndim < 3 or kv.ndim < 3:
        return kv
    h_q, h_kv = q.shape[-3], kv.shape[-3]
    if h_kv in (1, h_q) or h_q % h_kv:
        return kv
    return np.repeat(kv, h_q // h_kv, axis=-3)


def causal_mask(n_q: int, n_k: int) -> npt.NDArray[np.bool_]:
    """Boolean (n_q, n_k) matrix: query i may see key j when j <= i + (n_k - n_q)."""
    return np.arange(n_k)[None, :] <= np.arange(n_q)[:, None] + (n_k - n_q)


def window_mask(n_q: int, n_k: int, window: int | WindowSides) -> npt.NDArray[np.bool_]:
    """Boolean (n_q, n_k) band: query i (at key position p = i + n_k - n_q) may see
    key j when ``p - left <= j <= p + right``.

    ``window`` is an int W (meaning ``(W - 1, W - 1)``) or a pair ``(left,
    right)`` whose entries may be None (unbounded).
    """
    if isinstance(window, tuple | list):
        left, right = window
    else:
        left = right = int(window) - 1
    position = np.arange(n_q)[:, None] + (n_k - n_q)
    key = np.arange(n_k)[None, :]
    band = np.ones((n_q, n_k), dtype=bool)
    # Sides longer than both sequences hide nothing (and would overflow int64).
    left = None if left is not None and left >= n_q + n_k else left
    right = None if right is not None and right >= n_q + n_k else right
    if left is not None:
        band &= key >= position - left
    if right is not None:
        band &= key <= position + right
    return band


def alibi_bias(slopes: npt.ArrayLike, n_q: int, n_k: int) -> npt.NDArray[np.float64]:
    """ALiBi bias ``-slope * |j - (i + n_k - n_q)|`` in float64, shape
    ``slopes.shape + (n_q, n_k)``."""
    distance = np.abs(np.arange(n_k)[None, :] - (np.arange(n_q)[:, None] + (n_k - n_q)))
    return -np.asarray(slopes, np.float64)[..., None, None] * distance


def masked_scores(
    q: Array,
    k: Array,
    *,
    mask: npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
    rows: npt.NDArray[np.intp] | None = None,
) -> Array:
    """The scaled scores ``q kᵀ · scale + mask + ALiBi``, ``-inf`` where the mask,
    the window or causality hides a key, in the dtype of ``q`` and ``k`` (one
    dtype, heads already expanded).

    ``rows`` (indices into the query axis) restricts the result to those
    queries, each keeping its position among all ``q.shape[-2]`` (causality,
    window and ALiBi depend on it).
    """
    dtype = q.dtype
    n_q, n_k = q.shape[-2], k.shape[-2]
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    every_row = rows is None
    picked = slice(None) if rows is None else rows
    scores = np.matmul(q[..., picked, :], np.swapaxes(k, -1, -2)) * dtype.type(scale)
    if mask is not None:
        mask = np.asarray(mask)
        if not every_row and mask.ndim >= 2 and mask.shape[-2] == n_q:
            mask = mask[..., picked, :]
        if mask.dtype == np.bool_:
            scores = np.where(mask, scores, dtype.type(-np.inf))
        else:
            scores = scores + mask.astype(dtype, copy=False)
    if alibi_slopes is not None:
        scores = scores + alibi_bias(alibi_slopes, n_q, n_k)[..., picked, :].astype(
            dtype
        )
    if window is not None:
        scores = np.where(
            window_mask(n_q, n_k, window)[picked], scores, dtype.type(-np.inf)
        )
    if causal:
        scores = np.where(causal_mask(n_q, n_k)[picked], scores, dtype.type(-np.inf))
    return scores


@overload
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = ...,
    causal: bool = ...,
    scale: float | None = ...,
    return_weights: Literal[False] = ...,
    return_lse: Literal[False] = ...,
    window: Window = ...,
    alibi_slopes: npt.ArrayLike | None = ...,
) -> Array: ...
@overload
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = ...,
    causal: bool = ...,
    scale: float | None = ...,
    return_weights: Literal[True],
    return_lse: Literal[False] = ...,
    window: Window = ...,
    alibi_slopes: npt.ArrayLike | None = ...,
) -> tuple[Array, Array]: ...
@overload
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = ...,
    causal: bool = ...,
    scale: float | None = ...,
    return_weights: Literal[False] = ...,
    return_lse: Literal[True],
    window: Window = ...,
    alibi_slopes: npt.ArrayLike | None = ...,
) -> tuple[Array, Array]: ...
@overload
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = ...,
    causal: bool = ...,
    scale: float | None = ...,
    return_weights: Literal[True],
    return_lse: Literal[True],
    window: Window = ...,
    alibi_slopes: npt.ArrayLike | None = ...,
) -> tuple[Array, Array, Array]: ...
@overload
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = ...,
    causal: bool = ...,
    scale: float | None = ...,
    return_weights: bool = ...,
    return_lse: bool = ...,
    window: Window = ...,
    alibi_slopes: npt.ArrayLike | None = ...,
) -> Array | tuple[Array, ...]: ...
def scaled_dot_product_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    return_weights: bool = False,
    return_lse: bool = False,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
) -> Array | tuple[Array, ...]:
    """softmax(q k^T * scale + mask) v over the last two axes, batch axes broadcast.

    Parameters
    ----------
    q, k, v : ndarray
        ``(..., n_q, d_k)``, ``(..., n_k, d_k)``, ``(..., n_k, d_v)``, one float
        dtype.
    mask : ndarray, optional
        Boolean (True = may attend) or additive, broadcastable to (..., n_q, n_k).
    causal : bool
        Bottom-right aligned causal mask.
    window : int or (int or None, int or None), optional
        Sliding window (see :func:`window_mask`), aligned like ``causal``.
    alibi_slopes : array_like, optional
        One ALiBi slope per query head, broadcast against the batch axes
        (see :func:`alibi_bias`); the bias is added after ``mask``.
    scale : float, optional
        Defaults to ``1 / sqrt(d_k)``.
    return_weights : bool
        Also return the attention matrix.
    return_lse : bool
        Also return the row log-sum-exp of the masked, scaled scores
        (``-inf`` for a query that sees no key).

    Returns
    -------
    out : ndarray
        ``(..., n_q, d_v)``.
    weights : ndarray
        ``(..., n_q, n_k)``, only when ``return_weights`` is true.
    lse : ndarray
        ``(..., n_q)``, only when ``return_lse`` is true.
    """
    q = np.asarray(q)
    k = expand_kv_heads(q, np.asarray(k))
    v = expand_kv_heads(q, np.asarray(v))
    dtype = np.result_type(q, k, v)
    scores = masked_scores(
        q.astype(dtype, copy=False),
        k.astype(dtype, copy=False),
        mask=mask,
        causal=causal,
        scale=scale,
        window=window,
        alibi_slopes=alibi_slopes,
    )
    row_max = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
    # Rows that see nothing have max -inf: shift by 0 so that exp gives exact zeros.
    row_max = np.where(row_max == -np.inf, dtype.type(0), row_max)
    probabilities = np.exp(scores - row_max)
    row_sum = probabilities.sum(axis=-1, keepdims=True, dtype=np.float64)
    safe_sum = np.where(row_sum == 0.0, 1.0, row_sum)
    weights = (probabilities / safe_sum).astype(dtype, copy=False)
    out = np.matmul(weights, v)
    results = [out]
    if return_weights:
        results.append(weights)
    if return_lse:
        with np.errstate(divide="ignore"):
            lse = row_max[..., 0] + np.log(row_sum[..., 0])
        results.append(np.where(row_sum[..., 0] == 0.0, -np.inf, lse).astype(dtype))
    return results[0] if len(results) == 1 else tuple(results)


def linear_16(x: Array, w: Array, b: Array | None, dtype: np.dtype) -> Array:
    """A 16-bit layer's projection: x and w rounded to ``dtype``, the product in
    float64, plus b, rounded once to ``dtype`` (the bfloat16 GEMM's reference)."""
    x64 = x.astype(dtype).astype(np.float64)
    w64 = w.astype(dtype).astype(np.float64)
    out = x64 @ w64 + (0.0 if b is None else np.asarray(b, np.float64))
    return out.astype(dtype)


def gemm_16(a: Array, b: Array, dtype: np.dtype) -> Array:
    """``a @ b`` of a 16-bit layer's gradient GEMMs (dW = x^T dy, dx = dy W^T):
    both operands rounded to ``dtype``, the product in float64 (the reference
    of the backward family's ``bf16_gemm``)."""
    a64 = np.asarray(a).astype(dtype).astype(np.float64)
    b64 = np.asarray(b).astype(dtype).astype(np.float64)
    return a64 @ b64


def sum_to_shape(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that were broadcast from ``shape`` (NumPy rules)."""
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead))) if lead else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def reduce_kv_heads(grad: Array, q_ndim: int, kv_shape: tuple[int, ...]) -> Array:
    """Gradient of :func:`expand_kv_heads` followed by broadcasting: sum the query
    heads of each group of axis -3, then the broadcast axes, down to ``kv_shape``."""
    if q_ndim >= 3 and len(kv_shape) >= 3:
        h_full, h_kv = grad.shape[-3], kv_shape[-3]
        if h_kv not in (1, h_full) and h_full % h_kv == 0:
            g = h_full // h_kv
            grad = grad.reshape(grad.shape[:-3] + (h_kv, g) + grad.shape[-2:])
            grad = grad.sum(axis=-3)
    return sum_to_shape(grad, kv_shape)


def scaled_dot_product_attention_backward(
    grad_out: npt.ArrayLike,
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    out: npt.ArrayLike,
    lse: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
) -> tuple[Array, Array, Array]:
    """Gradients (dq, dk, dv) of ``sum(grad_out * attention(q, k, v))``.

    Written for clarity: the attention matrix ``P`` is recomputed in full, then

        dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP − rowsum(P ∘ dP)),
        dQ = scale · dS K,  dK = scale · dSᵀ Q,

    summed over the query heads of a grouped-query group and over broadcast
    batch axes. ``out`` and ``lse`` are accepted for the kernel's signature and
    not used: the reference recomputes what it needs, so it is an independent
    check of the kernel's use of them. A query that sees no key has P = 0 and
    gets zero gradients. ``window`` and ``alibi_slopes`` are the forward's (the
    ALiBi bias is a constant: it changes P, not the formulas).
    """
    del out, lse
    q = np.asarray(q)
    k_in, v_in = np.asarray(k), np.asarray(v)
    k = expand_kv_heads(q, k_in)
    v = expand_kv_heads(q, v_in)
    dtype = np.result_type(q, k, v)
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    _, p = scaled_dot_product_attention(
        q,
        k,
        v,
        mask=mask,
        causal=causal,
        scale=scale,
        return_weights=True,
        window=window,
        alibi_slopes=alibi_slopes,
    )
    grad_out = np.asarray(grad_out, dtype=dtype)
    dv = np.matmul(np.swapaxes(p, -1, -2), grad_out)
    dp = np.matmul(grad_out, np.swapaxes(v, -1, -2))
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))
    dq = np.matmul(ds, k) * dtype.type(scale)
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * dtype.type(scale)
    dq = sum_to_shape(dq, q.shape)
    dk = reduce_kv_heads(dk, q.ndim, k_in.shape)
    dv = reduce_kv_heads(dv, q.ndim, v_in.shape)
    return dq.astype(dtype), dk.astype(dtype), dv.astype(dtype)
