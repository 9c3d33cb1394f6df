"""Public backward pass of scaled dot-product attention: validation, groups, backend.

The forward pass (``scaled_dot_product_attention(..., return_lse=True)``) keeps
the row log-sum-exp; this module checks the saved arrays against the inputs,
works out which batch items share a key/value head (grouped-query attention and
broadcast k/v: their dK/dV are summed), and runs the fused kernel of
``_backward.pyx``. Like the forward, operands are read in place through
per-item element offsets and row strides; nothing of size n_q x n_k is
allocated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from .._backends import BackendName, check_backend
from .._dispatch import kernels
from .._threading import effective_n_threads
from .._validation import check_bool
from . import _precision, _reference
from ._geometry import (
    DEFAULT_BLOCK_K,
    AttentionShape,
    Operand,
    Visibility,
    batch_offsets,
)
from ._typing import Array, PreparedMask, Window, WindowSides
from .attention import (
    _all_finite,
    _as_float_array,
    _broadcast_batch,
    _check_block,
    _check_finite,
    _check_qkv_shapes,
    _check_scale,
    _kernel_ready,
    _largest_row_norm,
    _prepare_mask,
    _reference_mask,
    check_alibi_range,
    check_alibi_slopes,
    check_window,
)

if TYPE_CHECKING:
    from . import _backward
else:
    _backward = kernels("backward")

#: dq, dk, dv.
Gradients: TypeAlias = tuple[Array, Array, Array]

__all__ = ["scaled_dot_product_attention_backward"]

#: Default queries per backward tile (a multiple of every panel width).
DEFAULT_BLOCK_Q = 128


def _flat_index(
    batch_shape: tuple[int, ...], own_batch: tuple[int, ...], group: int = 1
) -> npt.NDArray[np.intp]:
    """Index of each batch item's matrix in an array of batch shape ``own_batch``
    (flattened, C order), with the broadcast and grouped-query rules."""
    dummy = np.empty(tuple(own_batch) + (1, 1), dtype=np.uint8)
    return batch_offsets(batch_shape, dummy, len(own_batch), group)


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
    check_finite: bool = True,
    num_threads: int | None = None,
    backend: BackendName = "auto",
    block_q: int | None = None,
    block_k: int | None = None,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
) -> Gradients:
    """Gradients of scaled dot-product attention: ``(dq, dk, dv)`` from ``grad_out``.

    Given ``out, lse = scaled_dot_product_attention(q, k, v, ...,
    return_lse=True)`` and the gradient ``grad_out = ∂L/∂out`` of a scalar loss,
    returns ``∂L/∂q``, ``∂L/∂k``, ``∂L/∂v``. Fused in the FlashAttention-2
    manner: the attention matrix is recomputed tile by tile from the saved
    log-sum-exp, ``P = exp(S − lse)``, with ``D = rowsum(dO ∘ O)``,
    ``dS = P ∘ (dP − D)``; no ``n_q × n_k`` array is ever stored.

    Parameters
    ----------
    grad_out : array_like, shape (..., n_q, d_v)
        Gradient of the loss with respect to ``out``; same shape as ``out``.
    q, k, v : array_like
        The forward pass's inputs (same broadcasting and grouped-query rules).
    out : array_like, shape (..., n_q, d_v)
        The forward pass's output.
    lse : array_like, shape (..., n_q)
        The forward pass's row log-sum-exp (``return_lse=True``).
    mask, causal, scale, window, alibi_slopes :
        Exactly as given to the forward pass (sliding window and ALiBi slopes
        included: they change the attention matrix that is differentiated).
    check_finite : bool, default True
        Raise ``ValueError`` for NaN/inf in ``grad_out``, ``q``, ``k``, ``v``,
        ``out`` and for NaN/+inf in ``lse`` (``-inf`` marks a query that sees
        no key and is allowed).
    num_threads : int, optional
        OpenMP threads. The gradients are bitwise identical for every value.
    backend : {"auto", "cython", "reference"}, default "auto"
        ``"reference"`` runs the NumPy reference, which materialises ``P``.
    block_q, block_k : int, optional
        Queries and keys per tile (defaults 128 and 512; ``block_q`` is rounded
        up to the kernel's panel width). Results agree to rounding for any
        block sizes.

    Returns
    -------
    dq : ndarray, shape of ``q``
    dk : ndarray, shape of ``k``
    dv : ndarray, shape of ``v``
        In the compute dtype (float32 when every input is float32/float16,
        else float64). A key/value head shared by several query heads
        (grouped-query) or broadcast over batch axes gets the sum of their
        gradients, as does a broadcast ``q``. Queries that see no key get
        zero gradients (never NaN).

    Raises
    ------
    TypeError
        Non-floating arrays, ``lse`` missing (None), bad ``scale`` or
        ``window`` type, a ``causal`` that is not a bool, non-real
        ``alibi_slopes``.
    ValueError
        Shapes that do not match the forward pass (``out``/``grad_out`` not
        ``(..., n_q, d_v)`` of the broadcast batch, ``lse`` not
        ``(..., n_q)``), NaN/inf with ``check_finite=True``, ``window < 1``
        or a negative side, ``alibi_slopes`` that are not finite or do not
        broadcast to the batch axes.

    Notes
    -----
    **Determinism.** One parallel task owns each key/value head (with all the
    batch items and query heads that read it) and sums, in a fixed order,
    over its items, key blocks and query blocks; no sum is split between
    threads. So the result does not depend on ``num_threads``, bit for bit.

    **Rows masked by a large finite value.** A query whose every visible key
    carries a huge additive mask (Hugging Face's ``(1 - mask) *
    finfo(dtype).min``, ``-1e9``) attends uniformly in the forward, as in
    torch's math backend; its ``lse`` is then too large to hold
    ``log(row sum)``, so such rows (``|lse| > 512``) get their row maximum and
    sum recomputed (in NumPy, a chunk of rows at a time) and the kernel uses
    ``P = exp((S − max) − log(sum))``: the gradients of the forward that ran.

    **Windows.** Key blocks and query blocks that no window connects are
    skipped, and each tile computes only the keys some of its queries see, so
    a window of ``W`` keys costs ``~n_q · (W + block_q)`` per head: the
    backward of windowed attention is proportional to ``n · W``, like its
    forward.

    Examples
    --------
    >>> import numpy as np
    >>> from attnsearch.attention import (
    ...     scaled_dot_product_attention, scaled_dot_product_attention_backward)
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 4, 32, 16)) for _ in range(3))
    >>> out, lse = scaled_dot_product_attention(q, k, v, causal=True, return_lse=True)
    >>> dq, dk, dv = scaled_dot_product_attention_backward(
    ...     np.ones_like(out), q, k, v, out, lse, causal=True)
    >>> dq.shape, dk.shape, dv.shape
    ((2, 4, 32, 16), (2, 4, 32, 16), (2, 4, 32, 16))
    """
    grads = _sdpa_backward(
        grad_out,
        q,
        k,
        v,
        out,
        lse,
        mask=mask,
        causal=causal,
        scale=scale,
        check_finite=check_finite,
        num_threads=num_threads,
        backend=backend,
        block_q=block_q,
        block_k=block_k,
        window=window,
        alibi_slopes=alibi_slopes,
    )
    if check_finite:
        for grad, name in zip(grads, ("dq", "dk", "dv"), strict=True):
            if not _all_finite(grad):
                raise ValueError(
                    f"the backward overflows {grad.dtype.name} on finite inputs: "
                    f"{name} is not finite (gradients reach beyond "
                    f"{np.finfo(grad.dtype).max:.3g}); rescale q, k, v or grad_out, "
                    "or compute in float64"
                )
    return grads


#: The backward recomputes P = exp(s - lse) from the forward's log-sum-exp: a
#: score rounded by |s| * eps moves P by that much, relatively. Beyond this
#: relative error the gradients are not trustworthy, so the backward refuses.
_MAX_SCORE_ROUNDING = 0.05


def _check_score_range(q: Array, k: Array, scale: float, dtype: np.dtype) -> None:
    """Raise when the scores are so large that their rounding makes the
    recomputed softmax, hence the gradients, unreliable in ``dtype``."""
    eps = float(np.finfo(dtype).eps)
    q_max = float(np.max(np.abs(q), initial=0.0))
    k_max = float(np.max(np.abs(k), initial=0.0))
    loose = abs(scale) * q.shape[-1] * q_max * k_max  # >= every |score|
    if not loose * eps > _MAX_SCORE_ROUNDING:
        return
    bound = abs(scale) * _largest_row_norm(q) * _largest_row_norm(k)
    if bound * eps > _MAX_SCORE_ROUNDING:
        raise ValueError(
            f"scores up to {bound:.3g} (|scale| * largest |q| * largest |k|) are too "
            f"large for a reliable backward in {np.dtype(dtype).name}: their rounding "
            f"({bound * eps:.2g} in the exponent) changes the recomputed softmax by "
            f"more than {_MAX_SCORE_ROUNDING:.0%}; rescale q or k (or scale)"
            + ("" if dtype == np.float64 else ", or compute in float64")
        )


#: The kernel recomputes P = exp(s - lse), whose rounding moves P by |lse| * eps
#: relatively (6e-5 in float32, 1e-13 in float64 at this bound). Rows beyond it
#: (masked by a large finite value, or with huge logits) take the split form.
_SPLIT_LSE = 512.0

#: Bytes of scores the split form materialises at a time.
_SPLIT_CHUNK_BYTES = 1 << 26


def _split_log_sum_exp(
    q: Array,
    k: Array,
    lse: Array,
    mask: PreparedMask | None,
    causal: bool,
    scale: float,
    window: WindowSides | None,
    slopes: Array | None,
    batch_shape: tuple[int, ...],
) -> tuple[Array, Array | None]:
    """``(shift, log_sum)`` with ``P = exp((S - shift) - log_sum)`` in every row.

    A row whose visible scores are all dominated by a large finite additive
    mask (the Hugging Face ``(1 - mask) * finfo.min`` idiom, ``-1e9``) has
    ``|lse|`` so large that ``lse = m + log(l)`` rounds ``log(l)`` away: the
    forward is right (it shifts by the row max ``m``), but ``exp(s - lse)``
    would give every visible key ``P ≈ 1``. Those rows are recomputed here, in
    NumPy, as the forward saw them (row max and row sum of the same masked
    scores), so the kernel differentiates the forward that ran. Other rows keep
    ``shift = lse``, ``log_sum = 0`` (None when no row needs it): bit for bit
    the plain ``exp(s - lse)``.
    """
    dtype = lse.dtype
    n_q, n_k = q.shape[-2], k.shape[-2]
    with np.errstate(invalid="ignore"):
        split = np.isfinite(lse) & (np.abs(lse) > _SPLIT_LSE)
    if not split.any():
        return lse, None
    q, k = q.astype(dtype, copy=False), k.astype(dtype, copy=False)
    shift = lse.copy()
    log_sum = np.zeros_like(lse)
    rows = np.flatnonzero(split.reshape(-1, n_q).any(axis=0))
    k_heads = _reference.expand_kv_heads(q, k)
    per_row = max(1, math.prod(batch_shape) * n_k * dtype.itemsize)
    chunk = max(1, _SPLIT_CHUNK_BYTES // per_row)
    for start in range(0, rows.size, chunk):
        picked = rows[start : start + chunk]
        scores = _reference.masked_scores(
            q,
            k_heads,
            mask=_reference_mask(mask),
            causal=causal,
            scale=scale,
            window=window,
            alibi_slopes=None if slopes is None else slopes.reshape(batch_shape),
            rows=picked,
        )
        scores = np.broadcast_to(scores, batch_shape + (picked.size, n_k))
        row_max = np.max(scores, axis=-1, initial=-np.inf)
        finite_max = np.where(np.isfinite(row_max), row_max, dtype.type(0))
        row_sum = np.exp(scores - finite_max[..., None]).sum(axis=-1, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_row_sum = np.log(row_sum).astype(dtype)
        here = split[..., picked]
        shift[..., picked] = np.where(here, finite_max, shift[..., picked])
        log_sum[..., picked] = np.where(here, log_row_sum, dtype.type(0))
    return shift, log_sum


def _sdpa_backward(
    grad_out: npt.ArrayLike,
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    out: npt.ArrayLike,
    lse: npt.ArrayLike | None,
    *,
    mask: npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    check_finite: bool = True,
    num_threads: int | None = None,
    backend: BackendName = "auto",
    block_q: int | None = None,
    block_k: int | None = None,
    window: Window = None,
    alibi_slopes: npt.ArrayLike | None = None,
    grads_out: Gradients | None = None,
) -> Gradients:
    """Body of :func:`scaled_dot_product_attention_backward`. ``grads_out``
    (private, used by the layers) is a tuple of three arrays of the shapes of
    q, k, v with unit last-axis strides (e.g. head-split views of one fused
    buffer) that receive dq, dk, dv in place; q, k and v must then have one
    batch shape (no broadcasting)."""
    backend = check_backend(backend)
    if lse is None:
        raise TypeError(
            "lse is required: get it from scaled_dot_product_attention(..., "
            "return_lse=True)"
        )
    q = _as_float_array(q, "q")
    k = _as_float_array(k, "k")
    v = _as_float_array(v, "v")
    grad_out = _as_float_array(grad_out, "grad_out")
    out = _as_float_array(out, "out")
    lse = np.asarray(lse)
    if lse.dtype.kind != "f":
        raise TypeError(f"lse must be a floating-point array, got dtype {lse.dtype}")
    dtype, n_q, n_k, d_k, d_v = _check_qkv_shapes(q, k, v)
    # 16-bit q, k, v: computed in float32 (grad_out and out widened too), the
    # gradients rounded once to the inputs' dtype, as torch returns them. On the
    # bfloat16 tiles the products take the bfloat16 operands themselves
    # (_bf16_tiles); grads_out (the layers) then receives float32 gradients.
    storage = _precision.reduced_storage(q.dtype, k.dtype, v.dtype)
    if storage is not None and grads_out is not None and not _bf16_tiles(storage):
        raise TypeError("internal: grads_out takes float32/float64 operands")
    scale = _check_scale(scale, d_k)
    n_threads = effective_n_threads(num_threads)
    block_q = _check_block(block_q, "block_q", DEFAULT_BLOCK_Q, 1)
    block_k = _check_block(block_k, "block_k", DEFAULT_BLOCK_K, 1)
    causal = check_bool(causal, "causal")
    check_finite = check_bool(check_finite, "check_finite")
    window = check_window(window)

    mask, mask_batch = _prepare_mask(mask, n_q, n_k, dtype, check_finite)
    q_batch, k_batch, v_batch = q.shape[:-2], k.shape[:-2], v.shape[:-2]
    k_group, v_group, batch_shape = _broadcast_batch(
        q_batch, k_batch, v_batch, mask_batch
    )
    out_shape = batch_shape + (n_q, d_v)
    if out.shape != out_shape:
        raise ValueError(
            f"out has shape {out.shape}, but the forward pass of these q, k, v "
            f"returns {out_shape}"
        )
    if grad_out.shape != out_shape:
        raise ValueError(
            f"grad_out must have the shape of out, {out_shape}, got {grad_out.shape}"
        )
    if lse.shape != batch_shape + (n_q,):
        raise ValueError(
            f"lse must have shape {batch_shape + (n_q,)} (the batch axes and n_q of "
            f"out), got {lse.shape}"
        )
    slopes = check_alibi_slopes(alibi_slopes, batch_shape)
    check_alibi_range(slopes, n_q, n_k, dtype)
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
    if check_finite:
        for arr, name in ((grad_out, "grad_out"), (q, "q"), (k, "k"), (v, "v")):
            _check_finite(arr, name)
        _check_finite(out, "out")
        if np.isnan(lse).any() or np.isposinf(lse).any():
            raise ValueError(
                "lse contains NaN or +inf (only -inf, for a query that sees no key, "
                "is allowed)"
            )
        _check_score_range(q, k, scale, dtype)

    grads = _computed_grads(
        grad_out,
        q,
        k,
        v,
        out,
        lse,
        mask,
        (causal, scale, window, slopes),
        (batch_shape, k_group, v_group),
        shape,
        (backend, block_q, block_k, n_threads),
        grads_out,
    )
    if storage is None or grads_out is not None:  # grads_out: float32, as given
        return grads
    return tuple(g.astype(storage) for g in grads)  # type: ignore[return-value]


def _computed_grads(
    grad_out: Array,
    q: Array,
    k: Array,
    v: Array,
    out: Array,
    lse: Array,
    mask: PreparedMask | None,
    options: tuple[bool, float, WindowSides | None, Array | None],
    batching: tuple[tuple[int, ...], int, int],
    shape: AttentionShape,
    tuning: tuple[str, int, int, int],
    grads_out: Gradients | None,
) -> Gradients:
    """dq, dk, dv of checked operands, in the compute dtype."""
    causal, scale, window, slopes = options
    batch_shape, k_group, v_group = batching
    backend, block_q, block_k, n_threads = tuning
    dtype = _precision.compute_dtype(q.dtype)
    n_q, n_k, d_k, d_v = shape.n_q, shape.n_k, shape.d_k, shape.d_v
    k_batch, v_batch = k.shape[:-2], v.shape[:-2]
    if backend == "reference":
        return _reference.scaled_dot_product_attention_backward(
            grad_out.astype(dtype, copy=False),
            q.astype(dtype, copy=False),
            k.astype(dtype, copy=False),
            v.astype(dtype, copy=False),
            out.astype(dtype, copy=False),
            lse,
            mask=_reference_mask(mask),
            causal=causal,
            scale=scale,
            window=window,
            alibi_slopes=None if slopes is None else slopes.reshape(batch_shape),
        )

    lse = np.ascontiguousarray(lse, dtype=dtype)
    shift, log_sum = _split_log_sum_exp(
        q,
        k,
        lse,
        mask,
        causal,
        scale,
        window,
        slopes,
        batch_shape,
    )
    if grads_out is not None:
        return _backward_into(
            grads_out,
            grad_out,
            q,
            k,
            v,
            out,
            (shift, log_sum),
            mask,
            batch_shape,
            (k_group, v_group),
            shape,
            block_q,
            block_k,
            n_threads,
        )
    dq_full = np.empty(batch_shape + (n_q, d_k), dtype=dtype)
    if n_q == 0 or n_k == 0 or d_v == 0 or math.prod(batch_shape) == 0:
        dq_full[...] = 0
        return (
            _reference.sum_to_shape(dq_full, q.shape).astype(dtype, copy=False),
            np.zeros(k.shape, dtype=dtype),
            np.zeros(v.shape, dtype=dtype),
        )

    q, k, v, out, grad_out = _kernel_operands((q, k, v, out, grad_out), dtype)

    # Which batch items share a dK/dV destination. Usually k and v have one batch
    # shape: a destination is one of k's matrices. Otherwise each item gets its
    # own and the sums over shared heads are done afterwards.
    same_kv = k_batch == v_batch and k_group == v_group
    if same_kv:
        kv_shape = k_batch
        group_of_item = _flat_index(batch_shape, k_batch, k_group)
        k_run, v_run = k, v
    else:
        kv_shape = batch_shape
        group_of_item = np.arange(math.prod(batch_shape), dtype=np.intp)
        k_run = np.repeat(k, k_group, axis=-3) if k_group > 1 else k
        v_run = np.repeat(v, v_group, axis=-3) if v_group > 1 else v
        k_run = np.broadcast_to(k_run, batch_shape + k.shape[-2:])
        v_run = np.broadcast_to(v_run, batch_shape + v.shape[-2:])
    dk_full = np.zeros(kv_shape + (n_k, d_k), dtype=dtype)
    dv_full = np.zeros(kv_shape + (n_k, d_v), dtype=dtype)
    _run_kernel(
        (q, k_run, v_run, out, grad_out),
        (shift, log_sum),
        mask,
        (dq_full, dk_full, dv_full),
        batch_shape,
        kv_shape,
        group_of_item,
        (k_group, v_group) if same_kv else (1, 1),
        shape,
        (block_q, block_k, n_threads),
    )
    dq = dq_full
    if dq.shape != q.shape:  # q was broadcast over batch axes: sum its gradients
        dq = _reference.sum_to_shape(dq, q.shape)
    if same_kv:
        dk, dv = dk_full, dv_full
    else:
        dk = _reference.reduce_kv_heads(dk_full, len(batch_shape) + 2, k.shape)
        dv = _reference.reduce_kv_heads(dv_full, len(batch_shape) + 2, v.shape)
    return dq, dk.reshape(k.shape), dv.reshape(v.shape)


def _backward_into(
    grads_out: Gradients,
    grad_out: Array,
    q: Array,
    k: Array,
    v: Array,
    out: Array,
    softmax_rows: tuple[Array, Array | None],
    mask: PreparedMask | None,
    batch_shape: tuple[int, ...],
    groups: tuple[int, int],
    shape: AttentionShape,
    block_q: int,
    block_k: int,
    n_threads: int,
) -> Gradients:
    """Run the kernel writing dq, dk, dv into the caller's (strided) arrays.
    ``softmax_rows`` is ``(shift, log_sum)`` of :func:`_split_log_sum_exp`."""
    dq, dk, dv = grads_out
    dtype = dq.dtype
    k_batch = k.shape[:-2]
    if (
        q.shape[:-2] != batch_shape
        or k_batch != v.shape[:-2]
        or groups[0] != groups[1]
        or (dq.shape, dk.shape, dv.shape) != (q.shape, k.shape, v.shape)
        or any(g.dtype != dtype or g.strides[-1] != dtype.itemsize for g in grads_out)
    ):
        raise ValueError("internal: grads_out does not fit q, k, v")
    if shape.n_q == 0 or shape.n_k == 0 or shape.d_v == 0 or shape.n_batch == 0:
        for g in grads_out:
            g[...] = 0
        return grads_out
    q, k, v, out, grad_out = _kernel_operands((q, k, v, out, grad_out), dtype)
    shift, log_sum = softmax_rows
    group_of_item = _flat_index(batch_shape, k_batch, groups[0])
    if np.bincount(group_of_item, minlength=math.prod(k_batch)).min(initial=1) == 0:
        dk[...] = 0  # a key/value head that no query reads
        dv[...] = 0
    _run_kernel(
        (q, k, v, out, grad_out),
        softmax_rows,
        mask,
        grads_out,
        batch_shape,
        k_batch,
        group_of_item,
        groups,
        shape,
        (block_q, block_k, n_threads),
    )
    return grads_out


def _bf16_tiles(storage: np.dtype | None) -> bool:
    """Whether operands of ``storage`` run on the bfloat16 tiles of the backward
    variant this CPU loaded (bfloat16 on AVX512-BF16)."""
    return (
        storage is not None
        and storage.name == "bfloat16"
        and bool(getattr(_backward, "BF16_TILES", False))
    )


def _kernel_operands(arrays: tuple[Array, ...], dtype: np.dtype) -> tuple[Array, ...]:
    """q, k, v, out, grad_out as the kernel reads them: bfloat16 ones as their bit
    patterns on the bfloat16 tiles, others widened to the compute ``dtype``."""
    storage = arrays[0].dtype
    if _bf16_tiles(storage) and all(a.dtype == storage for a in arrays):
        return tuple(_precision.kernel_view(_kernel_ready(a, storage)) for a in arrays)
    return tuple(_kernel_ready(a, dtype) for a in arrays)


def _run_kernel(
    inputs: tuple[Array, Array, Array, Array, Array],
    softmax_rows: tuple[Array, Array | None],
    mask: PreparedMask | None,
    grads: Gradients,
    batch_shape: tuple[int, ...],
    kv_shape: tuple[int, ...],
    group_of_item: npt.NDArray[np.intp],
    kv_groups: tuple[int, int],
    shape: AttentionShape,
    blocking: tuple[int, int, int],
) -> None:
    """The fused kernel over ``inputs = (q, k, v, out, grad_out)``, writing
    ``grads = (dq, dk, dv)``; dk/dv have batch shape ``kv_shape`` and item ``b``
    adds into destination ``group_of_item[b]`` (the kernel's task unit)."""
    q, k, v, out, grad_out = inputs
    dq, dk, dv = grads
    n_groups = math.prod(kv_shape)
    items = np.argsort(group_of_item, kind="stable").astype(np.intp)
    group_start = np.zeros(n_groups + 1, dtype=np.intp)
    np.cumsum(np.bincount(group_of_item, minlength=n_groups), out=group_start[1:])
    block_q, block_k, n_threads = blocking
    _backward.attention_backward(
        Operand.of(q, batch_shape),
        Operand.of(k, batch_shape, kv_groups[0]),
        Operand.of(v, batch_shape, kv_groups[1]),
        Operand.of(out, batch_shape),
        Operand.of(grad_out, batch_shape),
        softmax_rows[0],
        softmax_rows[1],
        Operand.of(mask, batch_shape) if mask is not None else None,
        Operand.of(dq, batch_shape),
        Operand.of(dk, kv_shape),
        Operand.of(dv, kv_shape),
        (items, group_start),
        shape,
        block_q,
        block_k,
        n_threads,
    )
