"""NumPy reference of the fused attention kernel, written for clarity, not speed.

It materialises the full (..., n_q, n_k) score matrix, so it needs O(n_q * n_k)
memory per batch item. It is the ``backend="reference"`` path of
:func:`attnsearch.attention.scaled_dot_product_attention` and the oracle of the
tests. Conventions are those of the kernel: rows are queries; boolean masks say
True = may attend; a query that sees no key gets zeros, never NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "alibi_bias",
    "causal_mask",
    "expand_kv_heads",
    "scaled_dot_product_attention",
    "window_mask",
]


def expand_kv_heads(q, kv):
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


def causal_mask(n_q, n_k):
    """Boolean (n_q, n_k) matrix: query i may see key j when j <= i + (n_k - n_q)."""
    return np.arange(n_k)[None, :] <= np.arange(n_q)[:, None] + (n_k - n_q)


def window_mask(n_q, n_k, window):
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
    if left is not None:
        band &= key >= position - left
    if right is not None:
        band &= key <= position + right
    return band


def alibi_bias(slopes, n_q, n_k):
    """ALiBi bias ``-slope * |j - (i + n_k - n_q)|`` in float64, shape
    ``slopes.shape + (n_q, n_k)``."""
    distance = np.abs(np.arange(n_k)[None, :] - (np.arange(n_q)[:, None] + (n_k - n_q)))
    return -np.asarray(slopes, np.float64)[..., None, None] * distance


def scaled_dot_product_attention(
    q,
    k,
    v,
    *,
    mask=None,
    causal=False,
    scale=None,
    return_weights=False,
    window=None,
    alibi_slopes=None,
):
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

    Returns
    -------
    out : ndarray
        ``(..., n_q, d_v)``.
    weights : ndarray
        ``(..., n_q, n_k)``, only when ``return_weights`` is true.
    """
    q = np.asarray(q)
    k = expand_kv_heads(q, np.asarray(k))
    v = expand_kv_heads(q, np.asarray(v))
    dtype = np.result_type(q, k, v)
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * dtype.type(scale)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == np.bool_:
            scores = np.where(mask, scores, dtype.type(-np.inf))
        else:
            scores = scores + mask.astype(dtype, copy=False)
    n_q, n_k = q.shape[-2], k.shape[-2]
    if alibi_slopes is not None:
        scores = scores + alibi_bias(alibi_slopes, n_q, n_k).astype(dtype)
    if window is not None:
        scores = np.where(window_mask(n_q, n_k, window), scores, dtype.type(-np.inf))
    if causal:
        scores = np.where(
            causal_mask(q.shape[-2], k.shape[-2]), scores, dtype.type(-np.inf)
        )
    row_max = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
    # Rows that see nothing have max -inf: shift by 0 so that exp gives exact zeros.
    row_max = np.where(row_max == -np.inf, dtype.type(0), row_max)
    probabilities = np.exp(scores - row_max)
    row_sum = probabilities.sum(axis=-1, keepdims=True, dtype=np.float64)
    safe_sum = np.where(row_sum == 0.0, 1.0, row_sum)
    weights = (probabilities / safe_sum).astype(dtype, copy=False)
    out = np.matmul(weights, v)
    if return_weights:
        return out, weights
    return out
