"""Multi-head attention (grouped-query, windows, ALiBi, a KV cache) and ALiBi slopes.

The projection ``x @ W`` of shape ``(B, n, H * d_head)`` *is* the ``(B, n, H,
d_head)`` layout: the kernels read its ``(B, H, n, d_head)`` transposed view in
place and write the heads' output straight into the ``(B, n, H, d_head)``
layout that the output projection reads as ``(B, n, d_model)``, so the head
split and merge cost no copies. A call takes one of three paths: whole
sequences (``_forward``, or ``_forward_in_slices`` with a progress bar), whole
sequences kept for ``backward`` (``_forward_kept``), or new positions against a
:class:`~attnsearch.attention.KVCache` (``_forward_cached``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from .._dispatch import kernels
from .._threading import blas_limited_to_one_thread, effective_n_threads
from .._validation import check_bool
from ._parameters import (
    ParameterContainer,
    check_dim,
    check_layer_dtype,
    optional_parameter,
    parameter,
    snapshot,
    xavier_uniform,
)
from ._projections import blas_limit, check_input, finite_output, project
from ._typing import Array, Seed, Window
from .attention import (
    _check_scores_fit,
    _sdpa,
    check_alibi_slopes,
    check_window,
    split_heads,
)
from .backward import _sdpa_backward
from .cache import KVCache, check_cache_fits, positions_per_append
from .paged_cache import PagedKVCache
from .torch_weights import layer_from_state_dict, multihead_parameters

if TYPE_CHECKING:
    from typing_extensions import Self

    from . import _linear as _linear_kernels
else:
    _linear_kernels = kernels("linear")

__all__ = ["MultiHeadAttention", "alibi_slopes"]


class _Call(NamedTuple):
    """One validated call of :class:`MultiHeadAttention` (inputs batched)."""

    query: Array
    key: Array
    value: Array
    self_attention: bool
    value_is_key: bool
    batched: bool
    n_batch: int
    n_q: int
    n_k: int
    causal: bool
    need_weights: bool
    keep_for_backward: bool


def alibi_slopes(n_heads: int) -> npt.NDArray[np.float64]:
    """The ALiBi slopes of Press et al. (2022) for ``n_heads`` heads, float64.

    A geometric sequence starting at ``2**(-8 / n)`` with that ratio for a
    power of two ``n``; otherwise the slopes of the closest smaller power of
    two followed by every other slope of the next one (the authors' code).
    Pass them as ``alibi_slopes=`` to :class:`MultiHeadAttention` or to
    :func:`scaled_dot_product_attention`.

    Examples
    --------
    >>> alibi_slopes(8)[:3]
    array([0.5  , 0.25 , 0.125])
    """
    n = check_dim(n_heads, "n_heads")

    def power_of_two(m: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(m) - 3)))
        return [start * start**i for i in range(m)]

    if math.log2(n).is_integer():
        return np.array(power_of_two(n))
    closest = 2 ** math.floor(math.log2(n))
    extra = alibi_slopes(2 * closest)[0::2][: n - closest]
    return np.concatenate([power_of_two(closest), extra])


class MultiHeadAttention(ParameterContainer):
    """Multi-head attention: ``concat(head_1 … head_h) W_O`` with fused heads.

    Head ``i`` uses columns ``i·d_head … (i+1)·d_head − 1`` of ``W_Q``, ``W_K``,
    ``W_V`` (``d_head = d_model / n_heads``), i.e. the ``n_heads`` triples
    (``W_Q``, ``W_K``, ``W_V``) of width ``d_model / n_heads`` stored side by
    side; the concatenated head outputs are projected by the trainable ``W_O``
    (d_model × d_model).

    Parameters
    ----------
    d_model : int
        Model width (queries and output).
    n_heads : int
        Number of (query) heads; must divide ``d_model``.
    n_kv_heads : int, optional
        Key/value heads for grouped-query attention (Llama-style): ``W_K`` and
        ``W_V`` have ``n_kv_heads · d_head`` columns and key/value head ``h``
        serves query heads ``h·g … h·g + g − 1`` (``g = n_heads / n_kv_heads``).
        Defaults to ``n_heads``; 1 is multi-query attention.
    d_kv : int, optional
        Features of the key/value inputs (PyTorch's ``kdim``/``vdim``);
        defaults to ``d_model``.
    bias : bool, default True
        Biases on all four projections.
    dtype : {np.float32, np.float64, ml_dtypes.bfloat16, np.float16}
        A 16-bit layer is a mixed-precision one: float32 parameters, gradients,
        projections and KV cache; attention on 16-bit q, k, v (the bfloat16
        tile kernels where the CPU has them); 16-bit outputs and input
        gradients.
    seed : None, int or np.random.SeedSequence
        Xavier-uniform weights, zero biases, reproducible from the seed.
    window : int or (int or None, int or None), optional
        Sliding-window attention on every call (see
        :func:`scaled_dot_product_attention`); with ``causal`` (and always with
        a cache) ``window=W`` sees the last ``W`` positions, as Mistral.
    alibi_slopes : array_like of shape (n_heads,), optional
        ALiBi slopes applied on every call (e.g. :func:`alibi_slopes`).

    Attributes
    ----------
    W_Q : (d_model, d_model); W_K, W_V : (d_kv, n_kv_heads · d_head);
    W_O : (d_model, d_model)
    b_Q, b_O : (d_model,) or None; b_K, b_V : (n_kv_heads · d_head,) or None
        Read-only views; assign to the attribute to change a weight
        (assignments are shape-checked copies). The layer computes
        ``x @ W + b``; PyTorch stores the transposes (see
        :meth:`from_torch_state_dict`).

    Notes
    -----
    Masks follow PyTorch's ``scaled_dot_product_attention``: a boolean ``mask``
    is True where a query **may** attend. ``key_padding_mask`` follows
    ``nn.MultiheadAttention``: True marks a **padding** key to ignore.
    (``nn.MultiheadAttention``'s own boolean ``attn_mask`` is the opposite.)

    Outputs are bitwise identical for every ``num_threads``: the projections
    run single-threaded BLAS calls on a grid of tiles fixed by the shapes, and
    both attention kernels are thread-count invariant.

    Examples
    --------
    >>> import numpy as np
    >>> mha = MultiHeadAttention(64, 8, seed=0)
    >>> x = np.random.default_rng(1).standard_normal((2, 50, 64)).astype(np.float32)
    >>> mha(x, causal=True).shape
    (2, 50, 64)

    Grouped-query attention and token-by-token generation with a cache:

    >>> gqa = MultiHeadAttention(64, 8, n_kv_heads=2, seed=0)
    >>> cache = gqa.new_cache(batch=2, capacity=64)
    >>> prompt = gqa(x[:, :10], cache=cache)           # prefill: 10 positions
    >>> step = gqa(x[:, 10:11], cache=cache)           # one new token
    >>> np.allclose(step, gqa(x[:, :11], causal=True)[:, 10:], atol=1e-5)
    True
    """

    W_Q = parameter("W_Q", "Query projection, (d_model, d_model).")
    W_K = parameter("W_K", "Key projection, (d_kv, n_kv_heads * d_head).")
    W_V = parameter("W_V", "Value projection, (d_kv, n_kv_heads * d_head).")
    W_O = parameter("W_O", "Output projection, (d_model, d_model).")
    b_Q = optional_parameter("b_Q", "Query bias or None.")
    b_K = optional_parameter("b_K", "Key bias or None.")
    b_V = optional_parameter("b_V", "Value bias or None.")
    b_O = optional_parameter("b_O", "Output bias or None.")

    # The stacked [W_Q | W_K | W_V] and its bias (None: cross-attention widths).
    _w_qkv: Array | None
    _b_qkv: Array | None

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        *,
        n_kv_heads: int | None = None,
        d_kv: int | None = None,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        seed: Seed = None,
        window: Window = None,
        alibi_slopes: npt.ArrayLike | None = None,
    ) -> None:
        self.d_model = check_dim(d_model, "d_model")
        self.n_heads = check_dim(n_heads, "n_heads")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} must divide d_model={self.d_model}"
            )
        self.d_head = self.d_model // self.n_heads
        self.n_kv_heads = (
            check_dim(n_kv_heads, "n_kv_heads", allow_none=True) or self.n_heads
        )
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_kv_heads={self.n_kv_heads} must divide n_heads={self.n_heads}"
            )
        self.d_kv = check_dim(d_kv, "d_kv", allow_none=True) or self.d_model
        self.bias = check_bool(bias, "bias")
        self.window = check_window(window)
        self._alibi: npt.NDArray[np.float64] | None = None
        if alibi_slopes is not None:
            self._alibi = check_alibi_slopes(alibi_slopes, (self.n_heads,))
            self._alibi.flags.writeable = False
        d, e, w = self.d_model, self.d_kv, self.kv_width
        shapes: dict[str, tuple[int, ...]] = {
            "W_Q": (d, d),
            "W_K": (e, w),
            "W_V": (e, w),
            "W_O": (d, d),
        }
        if self.bias:
            shapes.update(b_Q=(d,), b_K=(w,), b_V=(w,), b_O=(d,))
        self._init_parameters(shapes, check_layer_dtype(dtype))
        rng = np.random.default_rng(seed)
        if e == d and w == d:
            # As torch: one Xavier draw over the stacked (3d, d) in-projection.
            stacked = xavier_uniform(rng, d, 3 * d, self._dtype)
            self._params.update(
                W_Q=stacked[:, :d].copy(),
                W_K=stacked[:, d : 2 * d].copy(),
                W_V=stacked[:, 2 * d :].copy(),
            )
        else:
            self._params.update(
                W_Q=xavier_uniform(rng, d, d, self._dtype),
                W_K=xavier_uniform(rng, e, w, self._dtype),
                W_V=xavier_uniform(rng, e, w, self._dtype),
            )
        self._params["W_O"] = xavier_uniform(rng, d, d, self._dtype)
        for name in ("b_Q", "b_K", "b_V", "b_O"):
            if name in shapes:
                self._params[name] = np.zeros(shapes[name], self._dtype)
        self._parameters_changed()

    @property
    def kv_width(self) -> int:
        """Columns of ``W_K``/``W_V``: ``n_kv_heads * d_head``."""
        return self.n_kv_heads * self.d_head

    @property
    def alibi_slopes(self) -> npt.NDArray[np.float64] | None:
        """The ALiBi slopes (read-only, float64) or None."""
        return self._alibi

    def __repr__(self) -> str:
        extra = ""
        if self.n_kv_heads != self.n_heads:
            extra += f", n_kv_heads={self.n_kv_heads}"
        if self.window is not None:
            extra += f", window={self.window}"
        if self._alibi is not None:
            extra += ", alibi_slopes=..."
        return (
            f"MultiHeadAttention(d_model={self.d_model}, n_heads={self.n_heads}"
            f"{extra}, d_kv={self.d_kv}, bias={self.bias}, dtype={self.dtype.name})"
        )

    def _on_parameters_changed(self) -> None:
        # Self-attention projects q, k and v with one GEMM over the stacked weights.
        p = self._params
        if self.d_kv == self.d_model and "W_Q" in p and "W_K" in p and "W_V" in p:
            self._w_qkv = np.concatenate([p["W_Q"], p["W_K"], p["W_V"]], axis=1)
            self._b_qkv = (
                np.concatenate([p["b_Q"], p["b_K"], p["b_V"]])
                if self.bias and "b_V" in p
                else None
            )
        else:
            self._w_qkv = self._b_qkv = None

    def new_cache(
        self,
        batch: int,
        capacity: int,
        *,
        ring: bool = False,
        dtype: npt.DTypeLike | None = None,
    ) -> KVCache:
        """A :class:`KVCache` that fits this layer (heads, widths, dtype).

        Parameters
        ----------
        batch : int
        capacity : int
            Positions to hold. With ``ring=True`` (needs a ``window``) the cache
            keeps only the last ``capacity`` positions; it must exceed the
            window's left side, and calls append at most
            ``capacity - left`` positions at a time (longer inputs are split).
        ring : bool, default False
        dtype : None, float32, float64, bfloat16, float16 or "int8"
            What the cache stores; default the layer's dtype (a bfloat16 layer
            gets a bfloat16 cache). A compressed cache (16-bit or int8 rows) is
            read as stored by the decode kernel (see :class:`KVCache`); such a
            layer call cannot return ``need_weights``.
        """
        return KVCache(
            batch,
            self.n_kv_heads,
            capacity,
            self.d_head,
            dtype=self.dtype if dtype is None else dtype,
            ring=ring,
        )

    # -- PyTorch interop ---------------------------------------------------

    @classmethod
    def from_torch_state_dict(
        cls,
        state_dict: Mapping[str, Any],
        n_heads: int,
        *,
        n_kv_heads: int | None = None,
        dtype: npt.DTypeLike | None = None,
        **kwargs: Any,
    ) -> Self:
        """Build a layer that computes what a PyTorch attention module computes.

        See :func:`attnsearch.attention.torch_weights.layer_from_state_dict`
        for the accepted state dicts, ``n_heads``, ``n_kv_heads``, ``dtype``
        and ``kwargs``.

        Returns
        -------
        MultiHeadAttention
        """
        return layer_from_state_dict(
            cls, state_dict, n_heads, n_kv_heads=n_kv_heads, dtype=dtype, **kwargs
        )

    def load_torch_state_dict(self, state_dict: Mapping[str, Any]) -> Self:
        """Load the weights of a PyTorch state dict (in place).

        See :meth:`from_torch_state_dict` for the accepted keys. Raises
        ``KeyError`` for missing keys and ``ValueError`` for shapes that do not
        fit or non-finite values; nothing changes unless every entry is valid.
        """
        new = multihead_parameters(state_dict, self._shapes, self._dtype)
        # Every entry is valid: only now does the layer change.
        self._params.update(new)
        self._parameters_changed()
        return self

    # -- forward -----------------------------------------------------------

    def _project_qkv(
        self,
        query: Array,
        key: Array,
        value: Array,
        self_attention: bool,
        n_threads: int,
    ) -> tuple[Array, Array, Array]:
        p = self._params
        d, w = self.d_model, self.kv_width
        if self_attention and self._w_qkv is not None:
            qkv = self._projection(query, "qkv", self._w_qkv, self._b_qkv, n_threads)
            return qkv[..., :d], qkv[..., d : d + w], qkv[..., d + w :]
        return (
            self._projection(query, "W_Q", p["W_Q"], p.get("b_Q"), n_threads),
            self._projection(key, "W_K", p["W_K"], p.get("b_K"), n_threads),
            self._projection(value, "W_V", p["W_V"], p.get("b_V"), n_threads),
        )

    def _projection(
        self, x: Array, key: str, w: Array, b: Array | None, n_threads: int
    ) -> Array:
        """``x @ w + b``; a 16-bit layer's in its dtype (its bfloat16 GEMM)."""
        if self._storage is None:
            return project(x, w, b, n_threads)
        return self._project_reduced(x, key, w, b, n_threads)

    def _attend(
        self,
        q: Array,
        k_heads: Array,
        v_heads: Array,
        mask: npt.ArrayLike | None,
        causal: bool,
        need_weights: bool,
        n_threads: int,
        need_lse: bool = False,
    ) -> tuple[Array, Array | None, Array | None]:
        """Attention of projected queries ``q`` (B, n_q, d_model) on head-split
        keys and values; returns the merged heads (B, n_q, d_model), the weights
        (or None) and the heads' row log-sum-exp (B, n_heads, n_q) (or None;
        ``need_lse`` selects the tiled kernel, which writes it)."""
        h, d = self.n_heads, self.d_model
        n_batch, n_q, _ = q.shape
        # The kernel writes each head straight into the (B, n_q, H, d_head) layout.
        merged = np.empty((n_batch, n_q, d), dtype=q.dtype)
        results = _sdpa(
            split_heads(q, h),
            k_heads,
            v_heads,
            out=split_heads(merged, h),
            mask=mask,
            causal=causal,
            check_finite=False,
            num_threads=n_threads,
            window=self.window,
            alibi_slopes=self._alibi,
            return_weights=need_weights,
            return_lse=need_lse,
        )
        if not (need_weights or need_lse):
            return merged, None, None
        rest = list(results[1:])
        weights = rest.pop(0) if need_weights else None
        lse = rest.pop(0) if need_lse else None
        return merged, weights, lse

    def _forward(
        self,
        call: _Call,
        mask: npt.ArrayLike | None,
        n_threads: int,
        saved: dict[str, Any] | None = None,
    ) -> tuple[Array, Array | None]:
        """Projections, attention and output projection of whole sequences;
        with ``saved`` (a dict: keep_for_backward) it also stores the
        projections, the merged heads and their row log-sum-exp in it."""
        p = self._params
        q, k, v = self._project_qkv(
            call.query, call.key, call.value, call.self_attention, n_threads
        )
        kv = self.n_kv_heads
        _check_scores_fit(
            split_heads(q, self.n_heads),
            split_heads(k, kv),
            1.0 / math.sqrt(self.d_head),
            self._dtype,
            n_threads,
        )
        # A 16-bit layer attends on 16-bit q, k, v (the tile kernels); the
        # backward differentiates those values, exact in float32.
        q, k, v = self._narrow(q), self._narrow(k), self._narrow(v)
        merged, weights, lse = self._attend(
            q,
            split_heads(k, kv),
            split_heads(v, kv),
            mask,
            call.causal,
            call.need_weights,
            n_threads,
            need_lse=saved is not None,
        )
        if saved is not None and self._bf16_gradient_tiles(self.d_model, self.kv_width):
            # The backward multiplies these bfloat16 values on the tiles.
            saved.update(q=q, k=k, v=v, merged=merged, lse=lse, tiles=True)
        elif saved is not None:
            q, k, v = self._widen(q), self._widen(k), self._widen(v)
            saved.update(q=q, k=k, v=v, merged=self._widen(merged), lse=lse)
        out = self._projection(merged, "W_O", p["W_O"], p.get("b_O"), n_threads)
        return out, weights

    def _forward_in_slices(
        self, call: _Call, mask: npt.ArrayLike | None, n_threads: int
    ) -> tuple[Array, Array | None]:
        """_forward over slices of the batch, with a progress bar."""
        from .._progress import ProgressBar

        n_batch = call.n_batch
        size = max(1, -(-n_batch // 20))
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim == 4 and mask.shape[0] == 1:
                mask = np.broadcast_to(mask, (n_batch,) + mask.shape[1:])
        bar = ProgressBar(n_batch, "MultiHeadAttention", unit="seq")
        outs: list[Array] = []
        weights: list[Array] = []
        try:
            for start in range(0, n_batch, size):
                part = slice(start, start + size)
                part_mask = mask[part] if mask is not None and mask.ndim == 4 else mask
                part_call = call._replace(
                    query=call.query[part], key=call.key[part], value=call.value[part]
                )
                out, weight = self._forward(part_call, part_mask, n_threads)
                outs.append(out)
                if weight is not None:  # need_weights
                    weights.append(weight)
                bar.update(min(n_batch, start + size))
        finally:
            bar.close()
        return (
            np.concatenate(outs),
            np.concatenate(weights) if call.need_weights else None,
        )

    def _forward_cached(
        self,
        query: Array,
        cache: KVCache,
        mask: npt.ArrayLike | None,
        need_weights: bool,
        n_threads: int,
    ) -> tuple[Array, Array | None]:
        """Project the new tokens, append their keys/values, attend causally."""
        p = self._params
        n_new = query.shape[1]
        if self._w_qkv is None:
            raise ValueError(
                "a cache needs self-attention weights: d_kv must equal d_model"
            )
        piece = positions_per_append(
            cache, n_new, None if self.window is None else self.window[0]
        )
        if piece < n_new and (mask is not None or need_weights):
            raise ValueError(
                f"this call appends {n_new} positions to a ring cache in pieces of "
                f"{piece}; mask/key_padding_mask/need_weights need one piece: pass "
                "fewer positions per call"
            )
        # A compressed cache (16-bit or int8 rows) is read as stored by its own
        # decode call, which flags overflowing scores while it reads.
        compressed = cache.dtype != self._dtype
        if compressed and need_weights:
            raise ValueError(
                f"need_weights=True is not available with a {cache.dtype.name} "
                "cache (its rows are read as stored, no weights are formed); use "
                "a cache of the layer's compute dtype (new_cache(..., dtype="
                f"{self._dtype.name!r}))"
            )
        q, k, v = self._project_qkv(query, query, query, True, n_threads)
        # 16-bit projections are exact in float32: the cache rounds or
        # quantises them once, when it appends.
        q, k, v = self._widen(q), self._widen(k), self._widen(v)
        kv = self.n_kv_heads
        k_heads, v_heads = split_heads(k, kv), split_heads(v, kv)
        merged = np.empty(query.shape[:2] + (self.d_model,), dtype=self._dtype)
        weights = None
        for start in range(0, n_new, piece):
            part = slice(start, start + piece)
            cache.append(k_heads[:, :, part], v_heads[:, :, part])
            if compressed:
                split_heads(merged[:, part], self.n_heads)[...] = cache.attend(
                    split_heads(q[:, part], self.n_heads),
                    mask=mask,
                    causal=True,
                    window=self.window,
                    alibi_slopes=self._alibi,
                    num_threads=n_threads,
                )
                continue
            _check_scores_fit(  # as the uncached forward does: never a silent inf
                split_heads(q[:, part], self.n_heads),
                cache.keys,
                1.0 / math.sqrt(self.d_head),
                self._dtype,
                n_threads,
                k_max=cache._key_bound,
            )
            merged[:, part], weights, _ = self._attend(
                q[:, part],
                cache.keys,
                cache.values,
                mask,
                True,
                need_weights,
                n_threads,
            )
        out = self._projection(merged, "W_O", p["W_O"], p.get("b_O"), n_threads)
        return out, weights

    def _combined_mask(
        self,
        mask: npt.ArrayLike | None,
        key_padding_mask: npt.ArrayLike | None,
        batched: bool,
        n_batch: int,
        n_k: int,
    ) -> npt.ArrayLike | None:
        if key_padding_mask is None:
            return mask
        kpm = np.asarray(key_padding_mask)
        if kpm.dtype != np.bool_:
            raise TypeError(
                f"key_padding_mask must be boolean (True = padding), got {kpm.dtype}"
            )
        expected = (n_batch, n_k) if batched else (n_k,)
        if kpm.shape != expected:
            raise ValueError(
                f"key_padding_mask must have shape {expected}, got {kpm.shape}"
            )
        # (B, 1, 1, n_k): broadcast over heads and queries, no copy.
        allowed = ~kpm.reshape((n_batch, 1, 1, n_k))
        if mask is None:
            return allowed
        mask = np.asarray(mask)
        if mask.dtype == np.bool_:
            return np.logical_and(mask, allowed)
        if mask.dtype.kind == "f":
            return np.where(allowed, mask, -np.inf).astype(self._dtype)
        raise TypeError(f"mask must be boolean or floating, got dtype {mask.dtype}")

    @overload
    def __call__(
        self,
        query: npt.ArrayLike,
        key: npt.ArrayLike | None = ...,
        value: npt.ArrayLike | None = ...,
        *,
        mask: npt.ArrayLike | None = ...,
        key_padding_mask: npt.ArrayLike | None = ...,
        causal: bool | None = ...,
        need_weights: Literal[False] = ...,
        average_weights: bool = ...,
        num_threads: int | None = ...,
        progress: bool = ...,
        cache: KVCache | PagedKVCache | None = ...,
        keep_for_backward: bool = ...,
        sequences: int | Sequence[int] | None = ...,
    ) -> Array: ...
    @overload
    def __call__(
        self,
        query: npt.ArrayLike,
        key: npt.ArrayLike | None = ...,
        value: npt.ArrayLike | None = ...,
        *,
        mask: npt.ArrayLike | None = ...,
        key_padding_mask: npt.ArrayLike | None = ...,
        causal: bool | None = ...,
        need_weights: Literal[True],
        average_weights: bool = ...,
        num_threads: int | None = ...,
        progress: bool = ...,
        cache: KVCache | PagedKVCache | None = ...,
        keep_for_backward: bool = ...,
        sequences: int | Sequence[int] | None = ...,
    ) -> tuple[Array, Array]: ...
    @overload
    def __call__(
        self,
        query: npt.ArrayLike,
        key: npt.ArrayLike | None = ...,
        value: npt.ArrayLike | None = ...,
        *,
        mask: npt.ArrayLike | None = ...,
        key_padding_mask: npt.ArrayLike | None = ...,
        causal: bool | None = ...,
        need_weights: bool = ...,
        average_weights: bool = ...,
        num_threads: int | None = ...,
        progress: bool = ...,
        cache: KVCache | PagedKVCache | None = ...,
        keep_for_backward: bool = ...,
        sequences: int | Sequence[int] | None = ...,
    ) -> Array | tuple[Array, Array]: ...
    def __call__(
        self,
        query: npt.ArrayLike,
        key: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
        *,
        mask: npt.ArrayLike | None = None,
        key_padding_mask: npt.ArrayLike | None = None,
        causal: bool | None = None,
        need_weights: bool = False,
        average_weights: bool = True,
        num_threads: int | None = None,
        progress: bool = False,
        cache: KVCache | PagedKVCache | None = None,
        keep_for_backward: bool = False,
        sequences: int | Sequence[int] | None = None,
    ) -> Array | tuple[Array, Array]:
        """Multi-head attention forward pass.

        Parameters
        ----------
        query : array_like, shape (B, n_q, d_model) or (n_q, d_model)
        key : array_like, shape (B, n_k, d_kv), optional
            Defaults to ``query`` (self-attention).
        value : array_like, shape (B, n_k, d_kv), optional
            Defaults to ``key``.
        mask : array_like, optional
            Boolean (True = may attend) or additive, broadcastable to
            ``(B, n_heads, n_q, n_k)``.
        key_padding_mask : array_like of bool, shape (B, n_k) or (n_k,), optional
            True marks padding keys, which no query attends to. Combined with a
            ``mask``, the two are broadcast together (``O(B·n_q·n_k)`` memory);
            alone it costs O(n).
        causal : bool, optional
            Bottom-right aligned causal mask. Default: False, or True with a
            ``cache`` (which only supports causal attention).
        need_weights : bool, default False
            Also return the attention weights (allocates ``n_q × n_k`` per head).
        average_weights : bool, default True
            Average the weights over heads: ``(B, n_q, n_k)``; else
            ``(B, n_heads, n_q, n_k)``.
        num_threads : int, optional
        progress : bool, default False
            Process the batch in about 20 slices and show a progress bar (tqdm
            when installed); for long batches of sequences. The outputs equal
            the unsliced ones to rounding. Not with a ``cache``.
        cache : KVCache, optional
            Incremental decoding (self-attention only): ``query`` holds the
            *new* positions; their keys and values are projected and appended
            to the cache, and the new queries attend causally (bottom-right) to
            every cached position, the new ones included. Feeding a sequence
            in pieces (a prompt, then one token at a time) gives the rows of
            ``self(sequence, causal=True)`` up to rounding. ``mask`` and
            ``key_padding_mask`` then refer to the ``cache.length`` cached
            positions after the append. Create it with :meth:`new_cache`.
            A :class:`PagedKVCache` serves a batch of sequences of different
            lengths: pass their ids as ``sequences`` (one per row of
            ``query``); each row's new positions are appended to its own
            sequence and attend to its own cached positions (no ``mask``,
            ``key_padding_mask`` or ``need_weights`` then).
        keep_for_backward : bool, default False
            Keep what :meth:`backward` needs: the inputs, the q/k/v
            projections, the heads' output and their row log-sum-exp
            (O(n) per row, never n_q × n_k). ``progress`` is then ignored.
            Not with a ``cache``: training runs whole sequences (``causal=True``
            gives the same attention as feeding them through a cache), and a
            cached call's keys and values live in a cache that later calls
            overwrite or drop.

        Returns
        -------
        out : ndarray, shape (B, n_q, d_model) (or (n_q, d_model) unbatched)
        weights : ndarray
            Only when ``need_weights`` is true.

        Raises
        ------
        TypeError
            Non-floating input, a ``causal``/``need_weights`` that is not a
            bool, a ``cache`` that is not a KVCache or holds another dtype.
        ValueError
            Inputs whose last axis does not match its projection (``query``:
            d_model; ``key``/``value``: d_kv; a missing ``key`` defaults to
            ``query``), NaN/inf, mismatched batch or lengths, a cache of
            another geometry or without room, ``causal=False`` with a cache,
            ``keep_for_backward=True`` with a cache.
        """
        if isinstance(cache, PagedKVCache):
            return self._call_paged(
                query,
                cache,
                sequences,
                rejected=dict(
                    key=key,
                    value=value,
                    mask=mask,
                    key_padding_mask=key_padding_mask,
                    need_weights=need_weights or None,
                    keep_for_backward=keep_for_backward or None,
                    progress=progress or None,
                    causal=None if causal in (None, True) else causal,
                ),
                num_threads=num_threads,
            )
        if sequences is not None:
            raise ValueError("sequences= goes with a PagedKVCache (cache=)")
        call = self._prepare_call(
            query,
            key,
            value,
            causal=causal,
            need_weights=need_weights,
            keep_for_backward=keep_for_backward,
            progress=progress,
            cache=cache,
        )
        average_weights = check_bool(average_weights, "average_weights")
        progress = check_bool(progress, "progress")
        mask = self._combined_mask(
            mask, key_padding_mask, call.batched, call.n_batch, call.n_k
        )
        n_threads = effective_n_threads(num_threads)
        if cache is not None:
            # All or nothing: a refused call (a mask of the wrong shape, an
            # overflow, Ctrl-C) leaves the cache's position and slots as they were.
            with cache._all_or_nothing(call.n_q), blas_limit(call.n_batch * call.n_q):
                out, weights = self._forward_cached(
                    call.query, cache, mask, call.need_weights, n_threads
                )
                finite_output(out, "MultiHeadAttention")
        elif call.keep_for_backward:
            out, weights, saved = self._forward_kept(call, mask, n_threads)
            finite_output(out, "MultiHeadAttention")
            self._keep_forward(saved)
        else:
            forward = (
                self._forward_in_slices
                if progress and call.n_batch > 1
                else self._forward
            )
            with blas_limit(call.n_batch * call.n_q, call.n_batch * call.n_k):
                out, weights = forward(call, mask, n_threads)
        out = self._narrow(finite_output(out, "MultiHeadAttention"))
        if not call.batched:
            out = out[0]
        if not call.need_weights:
            return out
        assert weights is not None  # need_weights
        if average_weights:
            weights = weights.mean(axis=1)
        return out, weights if call.batched else weights[0]

    def _call_paged(
        self,
        query: npt.ArrayLike,
        cache: PagedKVCache,
        sequences: int | Sequence[int] | None,
        rejected: dict[str, object],
        num_threads: int | None,
    ) -> Array:
        """A decode/prefill step of a batch of sequences in a paged cache."""
        given = [name for name, value in rejected.items() if value is not None]
        if given:
            raise ValueError(
                f"with a PagedKVCache, {', '.join(given)} cannot be given (each "
                "sequence attends causally to its own cached positions)"
            )
        if sequences is None:
            raise ValueError("a PagedKVCache needs sequences= (one id per query row)")
        if (cache.n_kv_heads, cache.d_head, cache.d_v) != (
            self.n_kv_heads,
            self.d_head,
            self.d_head,
        ):
            raise ValueError(
                "cache does not fit this layer: (n_kv_heads, d_head, d_v) = "
                f"{(cache.n_kv_heads, cache.d_head, cache.d_v)}, expected "
                f"{(self.n_kv_heads, self.d_head, self.d_head)}"
            )
        if self._w_qkv is None:
            raise ValueError(
                "a cache needs self-attention weights: d_kv must equal d_model"
            )
        batched = isinstance(sequences, Iterable)
        x = check_input(query, "query", self.d_model, self._dtype, self._storage)
        if not batched:
            x = x[None]
        n_threads = effective_n_threads(num_threads)
        with cache._all_or_nothing(sequences) as ids:
            if x.ndim != 3 or x.shape[0] != len(ids):
                raise ValueError(
                    f"query must have shape ({len(ids)}, n_new, {self.d_model}) for "
                    f"{len(ids)} sequences, got {np.shape(query)}"
                )
            with blas_limit(x.shape[0] * x.shape[1]):
                q, k, v = self._project_qkv(x, x, x, True, n_threads)
                q, k, v = self._widen(q), self._widen(k), self._widen(v)
                kv = self.n_kv_heads
                cache.append(ids, split_heads(k, kv), split_heads(v, kv))
                merged = np.empty(x.shape[:2] + (self.d_model,), dtype=self._dtype)
                split_heads(merged, self.n_heads)[...] = cache.attend(
                    split_heads(q, self.n_heads),
                    ids,
                    causal=True,
                    window=self.window,
                    alibi_slopes=self._alibi,
                    num_threads=n_threads,
                )
                p = self._params
                out = self._projection(merged, "W_O", p["W_O"], p.get("b_O"), n_threads)
            out = self._narrow(finite_output(out, "MultiHeadAttention"))
        return out if batched else out[0]

    def _prepare_call(
        self,
        query: npt.ArrayLike,
        key: npt.ArrayLike | None,
        value: npt.ArrayLike | None,
        *,
        causal: bool | None,
        need_weights: bool,
        keep_for_backward: bool,
        progress: bool,
        cache: KVCache | None,
    ) -> _Call:
        """Validate a call's inputs and flags: the inputs as batched arrays of the
        layer dtype, and what the call asks for (a :class:`_Call`)."""
        batched = np.ndim(query) == 3
        if np.ndim(query) not in (2, 3):
            raise ValueError(
                f"query must have shape (B, n_q, {self.d_model}) or (n_q, "
                f"{self.d_model}), got {np.shape(query)}"
            )
        need_weights = check_bool(need_weights, "need_weights")
        progress = check_bool(progress, "progress")
        keep_for_backward = check_bool(keep_for_backward, "keep_for_backward")
        if keep_for_backward and cache is not None:
            raise ValueError(
                "keep_for_backward=True cannot be combined with cache=: a KVCache is "
                "for generation, and backward() needs the whole sequence's keys and "
                "values; train on whole sequences (causal=True gives the same "
                "attention as feeding them through a cache) without a cache"
            )
        if causal is None:
            causal = cache is not None
        causal = check_bool(causal, "causal")
        self_attention = key is None and value is None
        value_is_key = value is None or value is key
        query = check_input(query, "query", self.d_model, self._dtype, self._storage)
        if key is None:
            if value is not None and self.d_kv != self.d_model:
                raise ValueError(
                    f"key defaults to query, whose {self.d_model} features do not "
                    f"fit the key projection W_K ({self.d_kv} inputs, d_kv): pass "
                    "key= as well as value="
                )
            key = query
        else:  # key given: not self-attention
            key = check_input(key, "key", self.d_kv, self._dtype, self._storage)
        value = (
            key
            if value_is_key
            else check_input(value, "value", self.d_kv, self._dtype, self._storage)
        )
        if not batched:
            query, key, value = query[None], key[None], value[None]
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            raise ValueError(
                "query, key and value must all be batched (3-d) or all 2-d"
            )
        n_batch, n_q, _ = query.shape
        if key.shape[0] != n_batch or value.shape[0] != n_batch:
            raise ValueError(
                f"batch sizes differ: query {n_batch}, key {key.shape[0]}, "
                f"value {value.shape[0]}"
            )
        n_k = key.shape[1]
        if value.shape[1] != n_k:
            raise ValueError(f"key has {n_k} positions but value has {value.shape[1]}")
        if cache is not None:
            if not self_attention:
                raise ValueError("a cache is for self-attention: pass no key/value")
            if not causal:
                raise ValueError(
                    "attention with a cache is causal (the new positions follow "
                    "the cached ones): do not pass causal=False"
                )
            if progress:
                raise ValueError("progress=True is not supported with a cache")
            check_cache_fits(
                cache,
                n_batch=n_batch,
                n_kv_heads=self.n_kv_heads,
                d_head=self.d_head,
                dtype=self._dtype,
            )
            n_k = min(cache.position + n_q, cache.capacity)
        return _Call(
            query,
            key,
            value,
            self_attention,
            value_is_key,
            batched,
            n_batch,
            n_q,
            n_k,
            causal,
            need_weights,
            keep_for_backward,
        )

    def _forward_kept(
        self, call: _Call, mask: npt.ArrayLike | None, n_threads: int
    ) -> tuple[Array, Array | None, dict[str, Any]]:
        """The forward of whole sequences and what backward() needs (private
        copies of the inputs and mask: the caller may reuse its buffers)."""
        query = snapshot(call.query)
        key = query if call.key is call.query else snapshot(call.key)
        value = key if call.value_is_key else snapshot(call.value)
        call = call._replace(query=query, key=key, value=value)
        mask = None if mask is None else snapshot(np.asarray(mask))
        saved = dict(
            query=call.query,
            key=call.key,
            value=call.value,
            self_attention=call.self_attention,
            value_is_key=call.value_is_key,
            batched=call.batched,
            mask=mask,
            causal=call.causal,
            window=self.window,
            alibi=self._alibi,
        )
        with blas_limit(call.n_batch * call.n_q, call.n_batch * call.n_k):
            out, weights = self._forward(call, mask, n_threads, saved=saved)
        saved["out_shape"] = out.shape if call.batched else out.shape[1:]
        return out, weights, saved

    # -- backward ----------------------------------------------------------

    def backward(
        self, grad_out: npt.ArrayLike, *, num_threads: int | None = None
    ) -> Array | tuple[Array, ...]:
        """Back-propagate ``grad_out = ∂L/∂out`` through the last forward pass.

        The forward must have been called with ``keep_for_backward=True`` (and
        without a cache); its saved state serves one backward call. Gradients
        of ``W_Q, W_K, W_V, W_O`` and the biases are **added** to :attr:`grads`
        (keyed like :meth:`parameters`; call :meth:`zero_grad` between
        optimiser steps). Masks, ``key_padding_mask``, ``causal``, the layer's
        ``window`` and ALiBi slopes are those of the forward pass.

        Parameters
        ----------
        grad_out : array_like, shape of the forward's output
        num_threads : int, optional

        Returns
        -------
        ndarray or tuple
            Self-attention (``key`` and ``value`` not given): ``d_query``.
            ``value`` not given or the same array as ``key``: ``(d_query,
            d_key)`` with both paths in ``d_key``. Otherwise ``(d_query, d_key,
            d_value)``. Each has the shape of the corresponding input.

        Raises
        ------
        RuntimeError
            No saved forward pass.
        ValueError, TypeError
            ``grad_out`` of the wrong shape, not floating, or not finite.

        Notes
        -----
        The attention part is :func:`scaled_dot_product_attention_backward`
        (fused, bitwise thread-invariant). With grouped-query heads
        (``n_kv_heads < n_heads``) the gradient of each key/value head is the
        sum over the query heads of its group, formed inside the kernel (one
        task owns a key/value head). The projections' gradients are GEMMs
        split over the threads by output columns (weights) or rows (inputs),
        one single-threaded BLAS call per thread.
        """
        n_threads = effective_n_threads(num_threads)
        saved, grad = self._saved_forward(grad_out)
        pending: dict[str, Array] = {}
        if not saved["batched"]:
            grad = grad[None]
        p = self._params
        d, w, e = self.d_model, self.kv_width, self.d_kv
        query, key, value = saved["query"], saved["key"], saved["value"]
        n_batch, n_q, _ = query.shape
        n_k = key.shape[1]
        result: tuple[Array, ...]
        if saved.get("tiles"):
            result = self._backward_tiles(saved, grad, pending, n_threads)
            self._finish_backward(pending, result)
            if not saved["batched"]:
                result = tuple(r[0] for r in result)
            result = tuple(self._narrow(r) for r in result)
            return result[0] if len(result) == 1 else result
        with blas_limited_to_one_thread():
            # out = merged @ W_O + b_O
            self._linear_grads(pending, saved["merged"], grad, "W_O", "b_O", n_threads)
            d_merged = np.empty((n_batch, n_q, d), dtype=self._dtype)
            _linear_kernels.linear_grad_input(
                grad.reshape(-1, d), p["W_O"], d_merged.reshape(-1, d), False, n_threads
            )
            # The heads: dq, dk, dv written straight into the projection layout
            # (k and v have n_kv_heads heads: the kernel sums each group).
            d_qkv, dq, dk, dv = self._attention_grads(
                saved, d_merged, n_k, self._dtype, n_threads
            )
            # q, k, v = x @ W + b
            self._linear_grads(pending, query, dq, "W_Q", "b_Q", n_threads)
            self._linear_grads(pending, key, dk, "W_K", "b_K", n_threads)
            self._linear_grads(pending, value, dv, "W_V", "b_V", n_threads)
            d_query = np.empty(query.shape, dtype=self._dtype)
            if d_qkv is not None:
                w_qkv = self._w_qkv
                if w_qkv is None:
                    w_qkv = np.concatenate([p["W_Q"], p["W_K"], p["W_V"]], axis=1)
                _linear_kernels.linear_grad_input(
                    d_qkv.reshape(-1, d + 2 * w),
                    w_qkv,
                    d_query.reshape(-1, d),
                    False,
                    n_threads,
                )
                result = (d_query,)
            else:
                _linear_kernels.linear_grad_input(
                    dq.reshape(-1, d),
                    p["W_Q"],
                    d_query.reshape(-1, d),
                    False,
                    n_threads,
                )
                d_key = np.empty(key.shape, dtype=self._dtype)
                _linear_kernels.linear_grad_input(
                    dk.reshape(-1, w), p["W_K"], d_key.reshape(-1, e), False, n_threads
                )
                if saved["value_is_key"]:
                    _linear_kernels.linear_grad_input(
                        dv.reshape(-1, w),
                        p["W_V"],
                        d_key.reshape(-1, e),
                        True,
                        n_threads,
                    )
                    result = (d_query, d_key)
                else:
                    d_value = np.empty(value.shape, dtype=self._dtype)
                    _linear_kernels.linear_grad_input(
                        dv.reshape(-1, w),
                        p["W_V"],
                        d_value.reshape(-1, e),
                        False,
                        n_threads,
                    )
                    result = (d_query, d_key, d_value)
        self._finish_backward(pending, result)
        if not saved["batched"]:
            result = tuple(r[0] for r in result)
        result = tuple(self._narrow(r) for r in result)
        return result[0] if len(result) == 1 else result

    def _attention_grads(
        self,
        saved: dict[str, Any],
        d_merged: Array,
        n_k: int,
        dtype: Any,
        n_threads: int,
    ) -> tuple[Array | None, Array, Array, Array]:
        """dq, dk, dv of the attention from the merged heads' gradient, in
        ``dtype``. When the layer projected q, k, v together they are views of
        one (batch, n_q, d + 2w) array, returned first (its gradient GEMM is one
        fused call); otherwise the first item is None. k and v have
        ``n_kv_heads`` heads: the kernel sums each group."""
        h, kv = self.n_heads, self.n_kv_heads
        d, w = self.d_model, self.kv_width
        n_batch, n_q, _ = d_merged.shape
        d_qkv: Array | None = None
        if saved["self_attention"]:
            d_qkv = np.empty((n_batch, n_q, d + 2 * w), dtype=dtype)
            dq, dk, dv = d_qkv[..., :d], d_qkv[..., d : d + w], d_qkv[..., d + w :]
        else:
            dq = np.empty((n_batch, n_q, d), dtype=dtype)
            dk = np.empty((n_batch, n_k, w), dtype=dtype)
            dv = np.empty((n_batch, n_k, w), dtype=dtype)
        _sdpa_backward(
            split_heads(d_merged, h),
            split_heads(saved["q"], h),
            split_heads(saved["k"], kv),
            split_heads(saved["v"], kv),
            split_heads(saved["merged"], h),
            saved["lse"],
            mask=saved["mask"],
            causal=saved["causal"],
            window=saved["window"],
            alibi_slopes=saved["alibi"],
            check_finite=False,
            num_threads=n_threads,
            grads_out=(split_heads(dq, h), split_heads(dk, kv), split_heads(dv, kv)),
        )
        return d_qkv, dq, dk, dv

    def _backward_tiles(
        self,
        saved: dict[str, Any],
        grad: Array,
        pending: dict[str, Array],
        n_threads: int,
    ) -> tuple[Array, ...]:
        """backward() of a bfloat16 layer on the bfloat16 tiles: the projections'
        gradients (dW = x^T dy, dx = dy W^T) and the attention's five products
        multiply bfloat16 operands with float32 accumulation, no float32 GEMM.
        dy of each projection is rounded to bfloat16 where it enters a GEMM (as
        torch's autocast has it in bfloat16); weight and bias gradients are
        float32 (the masters'), input gradients are rounded once to bfloat16."""
        storage = self._storage
        assert storage is not None
        p = self._params
        d, w = self.d_model, self.kv_width
        query, key, value = saved["query"], saved["key"], saved["value"]
        n_batch, n_q, _ = query.shape
        n_k = key.shape[1]
        grad16 = self._to_bf16(grad)
        # out = merged @ W_O + b_O
        self._bf16_grad_weight(
            pending, saved["merged"], grad16, (("W_O", d),), n_threads
        )
        biases = [("b_O", grad, d)]
        d_merged = np.empty((n_batch, n_q, d), dtype=storage)
        self._bf16_grad_input(grad16, "W_O", p["W_O"], d_merged, False, n_threads)
        # The heads: float32 dq, dk, dv from the kernel (bfloat16 operands).
        d_qkv, dq, dk, dv = self._attention_grads(
            saved, d_merged, n_k, np.dtype(np.float32), n_threads
        )
        biases += [("b_Q", dq, d), ("b_K", dk, w), ("b_V", dv, w)]
        # q, k, v = x @ W + b
        result: tuple[Array, ...]
        d_query = np.empty(query.shape, dtype=storage)
        if d_qkv is not None:
            d_qkv16 = self._to_bf16(d_qkv)
            names = (("W_Q", d), ("W_K", w), ("W_V", w))
            self._bf16_grad_weight(
                pending, self._to_bf16(query), d_qkv16, names, n_threads
            )
            w_qkv = self._w_qkv
            if w_qkv is None:
                w_qkv = np.concatenate([p["W_Q"], p["W_K"], p["W_V"]], axis=1)
            self._bf16_grad_input(d_qkv16, "qkv", w_qkv, d_query, False, n_threads)
            result = (d_query,)
        else:
            dq16, dk16, dv16 = (self._to_bf16(a) for a in (dq, dk, dv))
            for x, dy, name in (
                (query, dq16, "W_Q"),
                (key, dk16, "W_K"),
                (value, dv16, "W_V"),
            ):
                self._bf16_grad_weight(
                    pending,
                    self._to_bf16(x),
                    dy,
                    ((name, dy.shape[-1]),),
                    n_threads,
                )
            self._bf16_grad_input(dq16, "W_Q", p["W_Q"], d_query, False, n_threads)
            d_key = np.empty(key.shape, dtype=np.float32)
            self._bf16_grad_input(dk16, "W_K", p["W_K"], d_key, False, n_threads)
            if saved["value_is_key"]:
                self._bf16_grad_input(dv16, "W_V", p["W_V"], d_key, True, n_threads)
                result = (d_query, d_key)
            else:
                d_value = np.empty(value.shape, dtype=np.float32)
                self._bf16_grad_input(dv16, "W_V", p["W_V"], d_value, False, n_threads)
                result = (d_query, d_key, d_value)
        for name, dy, width in biases:
            if name in p:
                with np.errstate(over="ignore"):  # _finish_backward refuses non-finite
                    pending[name] = dy.reshape(-1, width).sum(axis=0)
        return result
