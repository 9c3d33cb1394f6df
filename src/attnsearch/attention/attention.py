"""Public scaled dot-product attention: validation, broadcasting, backend choice.

Data flow: the arrays are checked and converted here (dtype, finiteness, mask
kind), the broadcast batch shape is resolved into one element offset per batch
item and array, and the compiled kernel reads every operand in place through
those offsets and the row strides. Nothing of size n_q x n_k is allocated unless
the caller asks for the attention weights.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import numpy as np
import numpy.typing as npt

from .._backends import BackendName, check_backend
from .._dispatch import kernels
from .._threading import effective_n_threads
from .._validation import check_bool
from . import _decode_path, _precision, _reference
from ._geometry import DEFAULT_BLOCK_K, AttentionShape, Operand, Visibility
from ._typing import Array, PreparedMask, Window, WindowSides

if TYPE_CHECKING:
    from . import _kernels, _scans
else:
    _kernels = kernels("attention")
    _scans = kernels("scans")

__all__ = ["scaled_dot_product_attention", "split_heads", "merge_heads"]

#: Query rows per task, largest first: a task packs each key block once for all its
#: rows, so larger tasks pack less; smaller ones are used when there would be too
#: few tasks to keep every thread busy. Multiples of every ISA's row alignment.
_BLOCK_Q_CHOICES = (384, 192, 96)
#: Aim for at least this many tasks per thread (dynamic scheduling evens them out).
_TASKS_PER_THREAD = 4
#: Packed keys of one block stay under this many bytes (L2-sized) for large d_k.
_KPACK_BUDGET_BYTES = 256 * 1024

_ScalarT = TypeVar("_ScalarT", bound=np.generic)

#: The dtypes computed as stored (the others are 16-bit, widened to float32).
_WIDE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float_array(x: npt.ArrayLike | None, name: str) -> Array:
    """Return ``x`` as an ndarray of a floating dtype, or raise naming ``name``."""
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = np.asarray(x)
    if not _precision.is_floating(arr.dtype):
        raise TypeError(
            f"{name} must be a floating-point array (float32, float64, bfloat16 or "
            f"float16), got dtype {arr.dtype}"
        )
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (..., n, d), got shape {arr.shape}"
        )
    return arr


def _kernel_ready(arr: Array, dtype: np.dtype, unit_last_axis: bool = True) -> Array:
    """``arr`` in ``dtype``, native byte order, aligned, strides in whole elements
    and (with ``unit_last_axis``) a unit last-axis stride.

    Other strides (broadcast, transposed head layouts, negative) are kept, so
    views are read in place; only arrays that violate one of these get copied.
    """
    flags = arr.flags
    if arr.dtype == dtype and flags.c_contiguous and flags.aligned and dtype.isnative:
        return arr  # the usual operand: no stride to look at one by one
    arr = arr.astype(dtype, copy=False)
    itemsize = arr.dtype.itemsize
    if (
        not arr.dtype.isnative
        or not arr.flags.aligned
        or any(s % itemsize for s in arr.strides)
        or (unit_last_axis and arr.shape[-1] > 1 and arr.strides[-1] != itemsize)
    ):
        arr = np.ascontiguousarray(arr, dtype=dtype)
    return arr


def _gqa_group(q_batch: tuple[int, ...], kv_batch: tuple[int, ...], name: str) -> int:
    """How many query heads share one head of ``kv`` (1 when not grouped-query)."""
    if len(q_batch) == 0 or len(kv_batch) == 0:
        return 1
    h_q, h_kv = q_batch[-1], kv_batch[-1]
    if h_kv in (1, h_q) or h_q == 1:
        return 1  # ordinary broadcasting
    if h_kv == 0 or h_q % h_kv:
        raise ValueError(
            f"{name} has {h_kv} heads on axis -3 and q has {h_q}: the batch axes do "
            f"not "
            f"broadcast, and {h_kv} does not divide {h_q} for grouped-query attention"
        )
    return h_q // h_kv


def _all_finite(arr: Array, n_threads: int = 1) -> bool:
    if _precision.is_reduced(arr.dtype):
        return _precision.max_abs_reduced(arr) < math.inf
    if arr.dtype in _WIDE_FLOATS and arr.flags.c_contiguous:
        return _scans.all_finite(arr, n_threads)  # one threaded read, no temporary
    return bool(np.isfinite(arr).all())


def _max_abs(arr: Array, n_threads: int = 1) -> float:
    """max |x| (0 for an empty array), inf when an element is inf or NaN."""
    if _precision.is_reduced(arr.dtype):
        return _precision.max_abs_reduced(arr)
    if arr.dtype in _WIDE_FLOATS and arr.flags.c_contiguous:
        return _scans.max_abs(arr, n_threads)  # one threaded read, no temporary
    if arr.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        top = float(np.max(np.abs(arr)))
    return top if math.isfinite(top) else math.inf


def _check_scores_fit(
    q: Array,
    k: Array,
    scale: float,
    dtype: np.dtype,
    n_threads: int = 1,
    q_max: float | None = None,
    k_max: float | None = None,
) -> None:
    """Raise when the scores ``scale · q · kᵀ`` can pass the largest ``dtype``:
    beyond it a score rounds to ±inf, which the kernels cannot tell from a
    masked key (a single overflowing key gave zeros instead of its value). The
    bound ``|scale| · d · max|q| · max|k|`` costs nothing once the maxima are
    known; only when it fails are the (tighter) row norms computed."""
    limit = float(np.finfo(dtype).max)
    q_max = _max_abs(q, n_threads) if q_max is None else q_max
    k_max = _max_abs(k, n_threads) if k_max is None else k_max
    if not abs(scale) * q.shape[-1] * q_max * k_max > limit:
        return
    if abs(scale) * _largest_row_norm(q) * _largest_row_norm(k) > limit:
        raise ValueError(_overflow_message(q, k, dtype, scale))


def _largest_row_norm(arr: npt.ArrayLike) -> float:
    """The largest Euclidean norm of a row (last axis), in float64 (inf beyond).
    Rows are scaled by the largest magnitude first: squares of 1e-200 underflow
    to zero and of 1e200 overflow."""
    arr = np.asarray(arr, dtype=np.float64)
    top = float(np.max(np.abs(arr), initial=0.0))
    if top == 0.0 or not math.isfinite(top):
        return top
    norms = np.linalg.norm(arr / top, axis=-1)
    with np.errstate(over="ignore"):
        return float(np.max(norms, initial=0.0)) * top


def _check_qkv_shapes(
    q: Array, k: Array, v: Array
) -> tuple[np.dtype, int, int, int, int]:
    """The compute dtype and (n_q, n_k, d_k, d_v) of float arrays q, k, v, after
    checking that they agree (16-bit operands: one dtype, computed in float32)."""
    storage = _operand_storage(q, k, v)
    if storage is not None:
        dtype = np.dtype(np.float32)
    elif q.dtype in _WIDE_FLOATS and k.dtype == q.dtype and v.dtype == q.dtype:
        dtype = q.dtype  # one float32/float64 dtype: nothing to promote
    else:
        dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    n_q, d_k = q.shape[-2:]
    n_k, d_k2 = k.shape[-2:]
    n_k2, d_v = v.shape[-2:]
    if d_k2 != d_k:
        raise ValueError(f"q and k must share the last axis d_k, got {d_k} and {d_k2}")
    if n_k2 != n_k:
        raise ValueError(f"k and v must share axis -2 (n_k), got {n_k} and {n_k2}")
    if d_k == 0:
        raise ValueError("d_k must be at least 1 (q and k have an empty last axis)")
    return dtype, n_q, n_k, d_k, d_v


def _operand_storage(q: Array, k: Array, v: Array) -> np.dtype | None:
    """``_precision.reduced_storage`` of the dtypes of q, k, v (raising on a
    16-bit dtype mixed with another), answered at once for the usual call: one
    float32 or float64 dtype."""
    if q.dtype in _WIDE_FLOATS and k.dtype == q.dtype and v.dtype == q.dtype:
        return None
    return _precision.reduced_storage(q.dtype, k.dtype, v.dtype, names=("q", "k", "v"))


def _broadcast_batch(
    q_batch: tuple[int, ...],
    k_batch: tuple[int, ...],
    v_batch: tuple[int, ...],
    mask_batch: tuple[int, ...],
) -> tuple[int, int, tuple[int, ...]]:
    """The grouped-query groups of k and v and the broadcast batch shape of all
    operands (k/v heads on axis -3 shared by groups of query heads)."""
    if k_batch == q_batch and v_batch == q_batch and mask_batch in ((), q_batch):
        return 1, 1, q_batch  # one shape (a decode step's usual call)
    k_group = _gqa_group(q_batch, k_batch, "k")
    v_group = _gqa_group(q_batch, v_batch, "v")
    k_like = k_batch[:-1] + (q_batch[-1],) if k_group > 1 else k_batch
    v_like = v_batch[:-1] + (q_batch[-1],) if v_group > 1 else v_batch
    try:
        batch_shape = np.broadcast_shapes(q_batch, k_like, v_like, mask_batch)
    except ValueError:
        raise ValueError(
            f"batch axes do not broadcast: q {q_batch}, k {k_batch}, v {v_batch}, "
            f"mask {mask_batch}"
        ) from None
    return k_group, v_group, batch_shape


def _check_finite(arr: Array, name: str, n_threads: int = 1) -> None:
    if not _all_finite(arr, n_threads):
        raise ValueError(
            f"{name} contains NaN or infinity; pass check_finite=False to let them "
            "propagate"
        )


def _prepare_mask(
    mask: npt.ArrayLike | None, n_q: int, n_k: int, dtype: np.dtype, check_finite: bool
) -> tuple[PreparedMask | None, tuple[int, ...]]:
    """Validate ``mask``; return (array or None, its batch shape). A boolean mask
    comes back as uint8 (1 = may attend), an additive one in ``dtype``: the
    kernels tell the two apart by that dtype."""
    if mask is None:
        return None, ()
    mask = np.asarray(mask)
    if mask.ndim == 0:
        raise ValueError("mask must have at least 1 dimension (..., n_k)")
    if mask.ndim == 1:
        mask = mask[None, :]
    if mask.dtype.kind == "f":
        if check_finite and (np.isnan(mask).any() or np.isposinf(mask).any()):
            raise ValueError(
                "additive mask contains NaN or +inf (use -inf to forbid a key, or a "
                "boolean mask)"
            )
    elif mask.dtype != np.bool_:
        raise TypeError(
            f"mask must be boolean (True = may attend) or floating (added to the "
            f"scores), got dtype {mask.dtype}"
        )
    rows, cols = mask.shape[-2:]
    if rows not in (1, n_q) or cols not in (1, n_k):
        raise ValueError(
            f"mask of shape {mask.shape} does not broadcast to (..., {n_q}, {n_k})"
        )
    # The kernel reads masks through both strides: no copy for broadcast views.
    if mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    else:
        mask = _kernel_ready(mask, dtype, unit_last_axis=False)
    return mask, mask.shape[:-2]


def _reference_mask(
    mask: PreparedMask | None,
) -> PreparedMask | npt.NDArray[np.bool_] | None:
    """The prepared mask as the NumPy reference takes it (boolean again)."""
    if mask is None or mask.dtype != np.uint8:
        return mask
    return mask.view(np.bool_)


def _check_scale(scale: object, d_k: int) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d_k)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(
            f"scale must be a real number or None, got {type(scale).__name__}"
        )
    scale = float(scale)
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    return scale


#: A window side this long reaches past any sequence: it is unbounded (None).
#: Kept far below 2**63 so that positions minus sides never overflow int64.
_UNBOUNDED_SIDE = 2**62


def check_window(window: object) -> WindowSides | None:
    """Normalise ``window`` to None or ``(left, right)`` (None = unbounded side).

    Sides of ``2**62`` keys or more reach past any sequence and become None, so
    that no huge side overflows the kernels' 64-bit position arithmetic.
    """
    if window is None:
        return None
    if isinstance(window, numbers.Integral) and not isinstance(window, bool):
        if window < 1:
            raise ValueError(f"window must be at least 1 (keys), got {window}")
        width = int(window)
        return None if width > _UNBOUNDED_SIDE else (width - 1, width - 1)
    if isinstance(window, (tuple, list)) and len(window) == 2:
        sides: list[int | None] = []
        for name, side in zip(("left", "right"), window):
            if side is None:
                sides.append(None)
                continue
            if isinstance(side, bool) or not isinstance(side, numbers.Integral):
                raise TypeError(
                    f"window {name} side must be an int >= 0 or None, got "
                    f"{type(side).__name__}"
                )
            if side < 0:
                raise ValueError(f"window {name} side must be >= 0, got {side}")
            length = int(side)
            sides.append(None if length >= _UNBOUNDED_SIDE else length)
        left, right = sides
        if left is None and right is None:
            return None
        return (left, right)
    raise TypeError(
        "window must be None, an int W >= 1 or a pair (left, right) of ints >= 0 "
        f"or None, got {window!r}"
    )


@overload
def check_alibi_slopes(alibi_slopes: None, batch_shape: tuple[int, ...]) -> None: ...
@overload
def check_alibi_slopes(
    alibi_slopes: npt.ArrayLike, batch_shape: tuple[int, ...]
) -> npt.NDArray[np.float64]: ...
@overload
def check_alibi_slopes(
    alibi_slopes: npt.ArrayLike | None, batch_shape: tuple[int, ...]
) -> npt.NDArray[np.float64] | None: ...
def check_alibi_slopes(
    alibi_slopes: npt.ArrayLike | None, batch_shape: tuple[int, ...]
) -> npt.NDArray[np.float64] | None:
    """ALiBi slopes broadcast to ``batch_shape``, flattened, as float64 (or None)."""
    if alibi_slopes is None:
        return None
    slopes = np.asarray(alibi_slopes)
    if slopes.dtype.kind not in "fiu" or slopes.dtype == np.bool_:
        raise TypeError(f"alibi_slopes must be real numbers, got dtype {slopes.dtype}")
    slopes = slopes.astype(np.float64)
    if not np.isfinite(slopes).all():
        raise ValueError("alibi_slopes contains NaN or infinity")
    try:
        full = np.broadcast_shapes(slopes.shape, batch_shape)
    except ValueError:
        full = None
    if full != tuple(batch_shape):
        raise ValueError(
            f"alibi_slopes of shape {slopes.shape} does not broadcast to the batch "
            f"axes {tuple(batch_shape)} of the call (one slope per query head: shape "
            "(heads,), or (batch, heads))"
        )
    return np.ascontiguousarray(np.broadcast_to(slopes, batch_shape).reshape(-1))


def check_alibi_range(
    slopes: npt.NDArray[np.float64] | None, n_q: int, n_k: int, dtype: np.dtype
) -> None:
    """Raise when an ALiBi bias ``-slope · distance`` can pass ``dtype``'s range:
    rounded to -inf it would hide a key (a query far from every key would see
    none), to +inf (a negative slope) it would give NaN."""
    if slopes is None or slopes.size == 0:
        return
    slope = float(np.max(np.abs(slopes)))
    distance = max(n_q, n_k)  # no query-key pair is farther apart
    limit = float(np.finfo(dtype).max) / 4
    if slope * distance > limit:
        raise ValueError(
            f"the ALiBi bias -slope * distance reaches {slope * distance:.3g} "
            f"(largest |alibi_slopes| = {slope:.3g}, distances up to {distance}), "
            f"beyond the range of {np.dtype(dtype).name} (keep it under "
            f"{limit:.3g}): such a bias would round to infinity and hide keys; use "
            "smaller slopes"
        )


@overload
def _check_block(value: object, name: str, default: int, minimum: int) -> int: ...
@overload
def _check_block(
    value: object, name: str, default: None, minimum: int
) -> int | None: ...
def _check_block(
    value: object, name: str, default: int | None, minimum: int
) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int or None")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


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
    check_finite: bool = ...,
    num_threads: int | None = ...,
    backend: BackendName = ...,
    block_q: int | None = ...,
    block_k: int | None = ...,
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
    check_finite: bool = ...,
    num_threads: int | None = ...,
    backend: BackendName = ...,
    block_q: int | None = ...,
    block_k: int | None = ...,
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
    check_finite: bool = ...,
    num_threads: int | None = ...,
    backend: BackendName = ...,
    block_q: int | None = ...,
    block_k: int | None = ...,
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
    check_finite: bool = ...,
    num_threads: int | None = ...,
    backend: BackendName = ...,
    block_q: int | None = ...,
    block_k: int | None = ...,
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
    check_finite: bool = ...,
    num_threads: int | None = ...,
    backend: BackendName = ...,
    block_q: int | None = ...,
    block_k: int | None = ...,
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
    check_finite: bool = True,
    num_threads: int | None = None,
    backend: BackendName = "auto",
    block_q: int | None = None,
    block_k: int | None = None,
    return_lse: bool = False,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
) -> Array | tuple[Array, ...]:
    """Fused attention ``softmax(q kᵀ · scale + mask) · v`` on NumPy arrays.

    Rows are queries: ``A = softmax(Q Kᵀ / √d_k)`` is normalised along each row
    and the output is ``A V``. (Some texts write ``softmax(K Qᵀ / √d)``, with
    keys as rows: that is the transpose of this convention; the two give the
    same output up to that transposition.) The fused kernel never stores the
    ``n_q × n_k`` matrix: its extra memory is a few hundred KiB per thread,
    whatever the sequence length.

    Parameters
    ----------
    q : array_like, shape (..., n_q, d_k)
        Queries.
    k : array_like, shape (..., n_k, d_k)
        Keys.
    v : array_like, shape (..., n_k, d_v)
        Values; ``d_v`` may differ from ``d_k`` and ``n_q`` from ``n_k``.
        Leading batch axes of ``q``, ``k``, ``v`` and ``mask`` broadcast as in
        NumPy. **Grouped-query attention**: when axis -3 (the head axis) of
        ``k``/``v`` has ``H_kv`` entries that divide ``q``'s ``H_q``, key/value
        head ``h`` serves the ``H_q / H_kv`` query heads ``h·g … h·g + g − 1``,
        read in place (no copy, no repeat).
    mask : array_like, optional
        Boolean (True = the query may attend to the key, as in PyTorch's SDPA)
        or floating (added to the scaled scores; ``-inf`` forbids a key),
        broadcastable to ``(..., n_q, n_k)``. A 1-d mask is a per-key mask.
    causal : bool, default False
        Query ``i`` sees keys ``j <= i + (n_k - n_q)``: the mask is aligned to
        the bottom-right corner, as in FlashAttention 2 (for ``n_q == n_k`` this
        is the usual lower triangle; for ``n_q < n_k`` the queries are the last
        ``n_q`` positions). Key blocks that no query of a block can see are
        skipped. Combines with ``mask``. Only ``bool`` / ``numpy.bool_`` are
        accepted (a string such as ``"no"`` raises ``TypeError``).
    scale : float, optional
        Multiplier of ``q kᵀ``; defaults to ``1 / sqrt(d_k)``.
    return_weights : bool, default False
        Also return the attention matrix ``A`` of shape ``(..., n_q, n_k)``.
        This is the only case that allocates ``n_q × n_k`` memory.
    check_finite : bool, default True
        Raise ``ValueError`` if ``q``, ``k`` or ``v`` hold NaN or infinity (as
        SciPy does). With False, a NaN propagates to the rows it touches.
    num_threads : int, optional
        OpenMP threads; see :func:`attnsearch.effective_n_threads`.
    backend : {"auto", "cython", "reference"}, default "auto"
        ``"cython"`` runs the fused kernel, ``"reference"`` the NumPy reference
        (``attnsearch.attention._reference``), which materialises the scores
        (``"numpy"``, its old name, is still accepted with a FutureWarning).
        ``"auto"`` picks the kernel, which handles every input this function
        accepts.
    block_q, block_k : int, optional
        Query rows per parallel task (default: 384, 192 or 96, the largest
        that still gives every thread about 4 tasks) and keys per inner block
        (default 512, lowered for large ``d_k`` so a packed block fits in L2).
        Results agree to rounding for any block sizes, and are bitwise equal
        for any ``num_threads`` at fixed block sizes. Passing either selects
        the tiled kernel (see Notes).
    return_lse : bool, default False
        Also return the row log-sum-exp ``lse = log Σ_j exp(s_ij)`` of the
        scaled, masked scores (window and ALiBi bias included), shape
        ``(..., n_q)`` (``-inf`` for a query that sees no key). It is what
        :func:`~attnsearch.attention.scaled_dot_product_attention_backward`
        needs to recompute the attention matrix tile by tile; it costs no
        extra pass. Selects the tiled kernel (see Notes).
    window : int or (int or None, int or None), optional
        Sliding-window (local) attention, aligned like ``causal``: query ``i``
        sits at key position ``p_i = i + (n_k - n_q)``. ``(left, right)``: it
        sees the keys ``p_i - left <= j <= p_i + right`` (``None`` for an
        unbounded side; both >= 0). ``window=W`` is ``(W - 1, W - 1)``: the
        keys within distance ``W - 1``; with ``causal=True`` that is the last
        ``W`` keys up to and including the query's own position, Mistral's
        ``sliding_window=W`` (and FlashAttention's ``window_size=(W - 1, 0)``).
        No mask is built: key blocks outside every row's window are skipped,
        so the cost is proportional to ``n_q * W``. Combines with ``mask``,
        ``causal`` and ``alibi_slopes``.
    alibi_slopes : array_like, optional
        ALiBi (Press et al. 2022) slopes, one per query head: shape
        ``(heads,)``, or any shape that broadcasts to the batch axes of the
        call, e.g. ``(batch, heads)``. The scaled score of query ``i`` and key
        ``j`` gets ``-slope * |j - p_i|`` (FlashAttention's convention; with
        ``causal=True`` this is ALiBi's ``slope * (j - i)``), computed inside
        the kernel: no ``n_q x n_k`` bias array. Added after ``mask``.

    Returns
    -------
    out : ndarray, shape (..., n_q, d_v)
        float32 when all inputs are float32 (or float16), else float64.
    weights : ndarray, shape (..., n_q, n_k)
        Only with ``return_weights=True``. Rows of queries that see no key
        are zeros, as are their outputs (never NaN).
    lse : ndarray, shape (..., n_q)
        Only with ``return_lse=True``; returned last.

    Raises
    ------
    TypeError
        Non-floating inputs (integer, complex, object), a mask that is neither
        boolean nor floating, a bad ``scale``/``num_threads``/``window`` type,
        a ``causal`` that is not a bool, non-real ``alibi_slopes``.
    ValueError
        Fewer than 2 dimensions, mismatched ``d_k`` or ``n_k``, batch axes that
        do not broadcast, NaN/inf with ``check_finite=True``, ``d_k == 0``,
        unknown backend, ``window < 1`` or a negative side, ``alibi_slopes``
        that are not finite or do not broadcast to the batch axes.

    Notes
    -----
    Empty inputs: ``n_q == 0`` gives an empty output, ``n_k == 0`` gives zeros.
    Non-contiguous, read-only and memory-mapped arrays are read in place.

    **Two kernels.** Up to 16 query rows per batch item (generation: one new
    token, or a few speculative ones) run the *decode* kernel: the query heads
    that share a key/value head are processed together, so each key and value
    row is read from memory once per group, and the key axis is split into
    chunks across the threads, whose partial results are merged by their
    log-sum-exp in a fixed order. Longer query blocks, explicit
    ``block_q``/``block_k`` and ``return_weights=True`` run the tiled
    (prefill) kernel. Both are bitwise identical for every ``num_threads``;
    they agree with each other to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.attention import scaled_dot_product_attention
    >>> rng = np.random.default_rng(0)
    >>> q = rng.standard_normal((2, 8, 128, 64), dtype=np.float32)
    >>> k = rng.standard_normal((2, 2, 128, 64), dtype=np.float32)  # 2 KV heads
    >>> v = rng.standard_normal((2, 2, 128, 32), dtype=np.float32)
    >>> scaled_dot_product_attention(q, k, v, causal=True).shape
    (2, 8, 128, 32)
    """
    return _sdpa(
        q,
        k,
        v,
        mask=mask,
        causal=causal,
        scale=scale,
        return_weights=return_weights,
        check_finite=check_finite,
        num_threads=num_threads,
        backend=backend,
        block_q=block_q,
        block_k=block_k,
        return_lse=return_lse,
        window=window,
        alibi_slopes=alibi_slopes,
    )


def _sdpa(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    check_finite: bool = True,
    **options: Any,
) -> Array | tuple[Array, ...]:
    """Body of :func:`scaled_dot_product_attention` (see :func:`_sdpa_unchecked`)
    and its numeric-range promise: with ``check_finite``, finite inputs give a
    finite result or a ValueError naming the overflow -- never a silent inf/NaN.

    The output is a convex combination of the rows of ``v``, so it is always
    representable; only the kernel's unnormalised accumulator (up to ``n_k``
    times ``max |v|``) can overflow on its way there. That case is recomputed
    exactly, with ``v`` scaled by a power of two. Scores ``scale · q · kᵀ``
    beyond the dtype's range cannot be represented: that raises.
    """
    result = _sdpa_unchecked(q, k, v, check_finite=check_finite, **options)
    if not check_finite or _result_finite(result, options):
        return result
    v = np.asarray(v)
    dtype = np.result_type(q, k, v)
    n_k = v.shape[-2]
    v_max = float(np.max(np.abs(v), initial=0.0))
    limit = float(np.finfo(dtype).max) / 4
    if n_k and v_max * n_k > limit:
        exponent = math.ceil(math.log2(v_max) + math.log2(n_k) - math.log2(limit))
        scaled = np.multiply(v, 2.0**-exponent, dtype=dtype)  # exact: a power of 2
        result = _sdpa_unchecked(q, k, scaled, check_finite=False, **options)
        out = result[0] if isinstance(result, tuple) else result
        np.multiply(out, 2.0**exponent, out=out)
        if _result_finite(result, options):
            return result
    raise ValueError(
        _overflow_message(
            q,
            k,
            dtype,
            options.get("scale"),
            alibi_slopes=options.get("alibi_slopes"),
            mask=options.get("mask"),
        )
    )


def _result_finite(result: Array | tuple[Array, ...], options: dict[str, Any]) -> bool:
    """Whether the output (and weights) are finite and the log-sum-exp has no
    NaN or +inf (-inf is a query that sees no key)."""
    n_threads = effective_n_threads(options.get("num_threads"))
    if not isinstance(result, tuple):  # the output alone (the usual call)
        return _all_finite(result, n_threads)
    parts = list(result)
    lse = parts.pop() if options.get("return_lse") else None
    if not all(_all_finite(part, n_threads) for part in parts):
        return False
    return lse is None or not (np.isnan(lse).any() or np.isposinf(lse).any())


def _overflow_message(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    dtype: npt.DTypeLike,
    scale: object,
    *,
    alibi_slopes: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
) -> str:
    """What overflowed, with the magnitudes the user can act on: the scores
    ``scale · q · k``, or what is added to them (ALiBi bias, additive mask)."""
    name = np.dtype(dtype).name
    limit = float(np.finfo(dtype).max)
    scale = _check_scale(scale, np.shape(q)[-1])
    q_norm, k_norm = _largest_row_norm(q), _largest_row_norm(k)
    bound = abs(scale) * q_norm * k_norm
    advice = "" if name == "float64" else ", or compute in float64"
    added = []
    if alibi_slopes is not None:
        slope = float(
            np.max(np.abs(np.asarray(alibi_slopes, dtype=np.float64)), initial=0.0)
        )
        distance = max(np.shape(q)[-2], np.shape(k)[-2])
        added.append(
            (
                "the ALiBi bias -slope * distance",
                slope * distance,
                f"largest |slope| = {slope:.3g} over distances up to {distance}",
            )
        )
    if mask is not None and np.asarray(mask).dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            finite = np.abs(np.asarray(mask, dtype=np.float64))
            top = float(np.max(finite[np.isfinite(finite)], initial=0.0))
        added.append(("the additive mask", top, f"largest finite |mask| = {top:.3g}"))
    for what, size, detail in added:
        if bound <= limit / 2 and size > limit / 2:
            return (
                f"attention overflows {name} on finite inputs: {what} reaches "
                f"{size:.3g} ({detail}), and added to the scores (up to {bound:.3g}) "
                f"it passes the {limit:.3g} that {name} holds; use smaller values"
                + advice
            )
    return (
        f"attention overflows {name} on finite inputs: the scores "
        f"scale * q . k reach up to {bound:.3g} (|scale| = {abs(scale):.3g}, "
        f"largest row norms |q| = {q_norm:.3g}, |k| = {k_norm:.3g}), beyond the "
        f"{limit:.3g} that {name} holds; rescale q or k (or scale)" + advice
    )


def _sdpa_unchecked(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    mask: npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    return_weights: bool = False,
    check_finite: bool = True,
    num_threads: int | None = None,
    backend: BackendName = "auto",
    block_q: int | None = None,
    block_k: int | None = None,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
    out: Array | None = None,
    return_lse: bool = False,
    path: Literal["decode", "prefill"] | None = None,
) -> Array | tuple[Array, ...]:
    """Body of :func:`scaled_dot_product_attention`; ``out`` (private) receives the
    result in place (any strides with a unit last axis), as the layers use it;
    ``path`` (private: None, "decode" or "prefill") forces a kernel."""
    backend = check_backend(backend)
    q = _as_float_array(q, "q")
    k = _as_float_array(k, "k")
    v = _as_float_array(v, "v")
    dtype, n_q, n_k, d_k, d_v = _check_qkv_shapes(q, k, v)
    scale = _check_scale(scale, d_k)
    n_threads = effective_n_threads(num_threads)
    block_q = _check_block(block_q, "block_q", None, 1)
    block_k = _check_block(block_k, "block_k", None, 1)
    causal = check_bool(causal, "causal")
    return_weights = check_bool(return_weights, "return_weights")
    return_lse = check_bool(return_lse, "return_lse")
    check_finite = check_bool(check_finite, "check_finite")
    window = check_window(window)

    mask, mask_batch = _prepare_mask(mask, n_q, n_k, dtype, check_finite)
    q_batch, k_batch, v_batch = q.shape[:-2], k.shape[:-2], v.shape[:-2]
    k_group, v_group, batch_shape = _broadcast_batch(
        q_batch, k_batch, v_batch, mask_batch
    )

    slopes = check_alibi_slopes(alibi_slopes, batch_shape)
    check_alibi_range(slopes, n_q, n_k, dtype)

    # The decode kernel checks k and v while it reads them (no second read).
    check_in_kernel = (
        check_finite
        and backend != "reference"
        and (
            path == "decode"
            if path is not None
            else _decode_path.use_decode(
                n_q, return_weights or return_lse, block_q, block_k
            )
        )
    )
    if check_finite:
        # Finiteness and magnitude in one read of each operand.
        maxima = {}
        for arr, name in ((q, "q"), (k, "k"), (v, "v")):
            if check_in_kernel and name != "q":
                continue
            maxima[name] = _max_abs(arr, n_threads)
            if maxima[name] == math.inf:
                _check_finite(arr, name, n_threads)  # raises, naming it
        if not check_in_kernel:
            _check_scores_fit(
                q, k, scale, dtype, n_threads, q_max=maxima["q"], k_max=maxima["k"]
            )

    storage = _operand_storage(q, k, v)
    out_dtype = dtype if storage is None else storage
    if backend == "reference":
        # 16-bit operands: the reference computes in float64 (then rounds once).
        exact = dtype if storage is None else np.dtype(np.float64)
        result = _reference.scaled_dot_product_attention(
            q.astype(exact, copy=False),
            k.astype(exact, copy=False),
            v.astype(exact, copy=False),
            mask=_reference_mask(mask),
            causal=causal,
            scale=scale,
            return_weights=return_weights,
            return_lse=return_lse,
            window=window,
            alibi_slopes=None if slopes is None else slopes.reshape(batch_shape),
        )
        if storage is None:
            return result
        parts = list(result) if isinstance(result, tuple) else [result]
        parts[0] = parts[0].astype(storage)
        if return_weights:
            parts[1] = parts[1].astype(storage)
        if return_lse:
            parts[-1] = parts[-1].astype(dtype)
        return parts[0] if len(parts) == 1 else tuple(parts)

    if out is None:
        out = np.empty(batch_shape + (n_q, d_v), dtype=out_dtype)
    elif out.shape != batch_shape + (n_q, d_v) or out.dtype != out_dtype:
        raise ValueError(
            f"internal: out must be {out_dtype} of shape {batch_shape + (n_q, d_v)}"
        )
    weights = (
        np.zeros(batch_shape + (n_q, n_k), dtype=dtype) if return_weights else None
    )
    lse = np.empty(batch_shape + (n_q,), dtype=dtype) if return_lse else None
    try:
        _attention_into(
            q,
            k,
            v,
            out,
            weights=weights,
            lse=lse,
            mask=mask,
            batch_shape=batch_shape,
            k_group=k_group,
            v_group=v_group,
            causal=causal,
            scale=scale,
            n_threads=n_threads,
            block_q=block_q,
            block_k=block_k,
            window=window,
            slopes=slopes,
            path=path,
            check_kv=check_in_kernel,
        )
    except _decode_path.NonFiniteKV:
        # The kernel saw a NaN/inf score or output: the full checks name the
        # operand or the overflow (the output is written: an accumulator that
        # overflowed on finite scores is recomputed by _sdpa).
        for arr, name in ((k, "k"), (v, "v")):
            _check_finite(arr, name, n_threads)
        _check_scores_fit(q, k, scale, dtype, n_threads)
    results = [out]
    if weights is not None:  # return_weights, in the operands' dtype
        results.append(weights if storage is None else weights.astype(storage))
    if lse is not None:  # return_lse, in the compute dtype (float32 for 16-bit)
        results.append(lse)
    return results[0] if len(results) == 1 else tuple(results)


def _attention_into(
    q: Array,
    k: Array,
    v: Array,
    out: Array,
    *,
    weights: Array | None = None,
    lse: Array | None = None,
    mask: PreparedMask | None = None,
    batch_shape: tuple[int, ...],
    k_group: int = 1,
    v_group: int = 1,
    causal: bool = False,
    scale: float,
    n_threads: int,
    block_q: int | None = None,
    block_k: int | None = None,
    window: WindowSides | None = None,
    slopes: npt.NDArray[np.float64] | None = None,
    path: Literal["decode", "prefill"] | None = None,
    check_kv: bool = False,
) -> Array:
    """Run the kernel on checked arrays, writing into ``out`` (any strides, unit last).

    ``out`` has shape ``batch_shape + (n_q, d_v)``; ``q``/``k``/``v``/``mask``
    broadcast to ``batch_shape`` (``k``/``v`` possibly grouped-query);
    ``window`` is normalised (``check_window``), ``slopes`` one float64 ALiBi
    slope per batch item or None; ``path`` forces "decode" or "prefill".
    ``lse`` (optional, C-contiguous ``batch_shape + (n_q,)``) receives the row
    log-sum-exp; it is written by the tiled kernel only, so it selects that
    kernel (as ``weights`` does). 16-bit operands (``out`` of their dtype; weights
    and lse of the compute dtype, float32) run in float32.
    """
    storage = out.dtype
    dtype = _precision.compute_dtype(storage)
    n_q, d_k = q.shape[-2:]
    n_k = k.shape[-2]
    d_v = v.shape[-1]
    if n_k == 0 and lse is not None:
        lse[...] = -np.inf
    if out.size == 0 and (lse is None or lse.size == 0):
        return out
    if n_k == 0:
        out[...] = 0
        return out
    q = _kernel_ready(q, storage)
    k = _kernel_ready(k, storage)
    v = _kernel_ready(v, storage)
    if out.strides[-1] != storage.itemsize and d_v > 1:
        raise ValueError("internal: out must have a unit last-axis stride")
    shape = AttentionShape(
        n_batch=math.prod(batch_shape),
        n_q=n_q,
        n_k=n_k,
        d_k=d_k,
        d_v=d_v,
        scale=scale,
        visibility=Visibility.of(n_q, n_k, causal, window),
        slopes=slopes,
        alibi_offset=n_k - n_q,
    )
    mask_op = Operand.of(mask, batch_shape) if mask is not None else None
    if path is None:
        decode = _decode_path.use_decode(
            n_q, weights is not None or lse is not None, block_q, block_k
        )
    else:
        decode = path == "decode"
        if decode and (weights is not None or lse is not None):
            raise ValueError(
                "internal: the decode kernel returns neither weights nor lse"
            )
    if decode:
        # 16-bit k and v are read as stored; check_kv: checked while read.
        return _decode_path.decode_arrays(
            q, k, v, out, mask_op, shape, batch_shape, k_group, v_group, n_threads,
            check=check_kv,
        )  # fmt: skip
    if block_k is None:
        panel = _kernels.kernel_constants()[
            "panel_float32" if dtype == np.float32 else "panel_float64"
        ]
        fit = _KPACK_BUDGET_BYTES // (d_k * dtype.itemsize)
        block_k = max(panel, min(DEFAULT_BLOCK_K, (fit // panel) * panel))
    if block_q is None:
        # The largest that gives every thread enough tasks, else the smallest.
        block_q = next(
            (
                choice
                for choice in _BLOCK_Q_CHOICES
                if shape.n_batch * -(-n_q // choice) >= _TASKS_PER_THREAD * n_threads
            ),
            _BLOCK_Q_CHOICES[-1],
        )
    _kernels.attention_forward(
        Operand.of(_precision.kernel_view(q), batch_shape),
        Operand.of(_precision.kernel_view(k), batch_shape, k_group),
        Operand.of(_precision.kernel_view(v), batch_shape, v_group),
        Operand.of(_precision.kernel_view(out), batch_shape),
        Operand.of(weights, batch_shape) if weights is not None else None,
        lse,
        mask_op,
        shape,
        min(block_q, n_q),
        min(block_k, n_k),
        n_threads,
    )
    return out


def split_heads(x: npt.NDArray[_ScalarT], n_heads: int) -> npt.NDArray[_ScalarT]:
    """View ``(..., n, n_heads * d_head)`` as ``(..., n_heads, n, d_head)`` (no copy).

    Parameters
    ----------
    x : ndarray, shape (..., n, d_model)
        ``d_model`` must be divisible by ``n_heads``.
    n_heads : int

    Returns
    -------
    ndarray, shape (..., n_heads, n, d_model // n_heads)
        A strided view of ``x`` (writes go through to ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> split_heads(np.zeros((2, 5, 12)), 3).shape
    (2, 3, 5, 4)
    """
    x = np.asarray(x)
    if (
        isinstance(n_heads, bool)
        or not isinstance(n_heads, numbers.Integral)
        or n_heads < 1
    ):
        raise ValueError(f"n_heads must be a positive int, got {n_heads!r}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d_model), got {x.shape}")
    d_model = x.shape[-1]
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    split = x.reshape(x.shape[:-1] + (n_heads, d_model // n_heads))
    return np.swapaxes(split, -3, -2)


def merge_heads(x: npt.NDArray[_ScalarT]) -> npt.NDArray[_ScalarT]:
    """Inverse of :func:`split_heads`: ``(..., H, n, d)`` -> ``(..., n, H * d)``.

    Returns a view when ``x`` came from :func:`split_heads` (or is laid out
    ``(..., n, H, d_head)`` in memory), else a copy.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(24.0).reshape(1, 2, 12)
    >>> np.array_equal(merge_heads(split_heads(x, 3)), x)
    True
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"x must have shape (..., n_heads, n, d_head), got {x.shape}")
    n_heads, n, d_head = x.shape[-3:]
    return np.swapaxes(x, -3, -2).reshape(x.shape[:-3] + (n, n_heads * d_head))
