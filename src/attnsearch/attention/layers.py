"""Attention layers on top of the fused kernel: one head and multi-head attention.

Both layers compute the projections with NumPy's BLAS and hand strided views
of them to the kernel, so the head split and merge cost no copies: the
projection ``x @ W`` of shape ``(B, n, H * d_head)`` *is* the ``(B, n, H, d_head)``
layout, the kernel reads its ``(B, H, n, d_head)`` transposed view in place and
writes its output straight into the ``(B, n, H, d_head)`` layout that the output
projection reads as ``(B, n, d_model)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._threading import blas_limited_to_one_thread, effective_n_threads
from ._backward import linear_grad_input, linear_grad_weight
from ._kernels import linear_forward
from .attention import _sdpa, scaled_dot_product_attention, split_heads
from .backward import _sdpa_backward
from .torch_weights import arrays_of, multihead_parameters

__all__ = ["AttentionHead", "MultiHeadAttention"]


def _check_dim(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_layer_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _xavier_uniform(rng, fan_in, fan_out, dtype):
    """Xavier-uniform init as torch.nn.init.xavier_uniform_, shape (fan_in, fan_out)."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(dtype)


def _linear(x, w, b, n_threads):
    """``x @ w + b`` over the last axis, one SciPy-BLAS call per OpenMP thread.

    The caller holds ``blas_limited_to_one_thread()``: NumPy's own threaded
    matmul would leave its BLAS workers spinning for ~0.1 s, which halves the
    speed of the attention kernel that runs right after it on the same cores.
    """
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    w = np.ascontiguousarray(w)  # no copy: layer weights are stored C-contiguous
    out = np.empty((rows.shape[0], w.shape[1]), dtype=w.dtype)
    linear_forward(rows, w, b, out, n_threads)
    return out.reshape(x.shape[:-1] + (w.shape[1],))


def _check_input(x, name, d_features, dtype):
    """``x`` as an array of the layer dtype with last axis ``d_features``."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., n, {d_features}), got {arr.shape}"
        )
    if arr.shape[-1] != d_features:
        raise ValueError(
            f"{name} has {arr.shape[-1]} features on its last axis, expected "
            f"{d_features}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr.astype(dtype, copy=False)


class _Parameters:
    """Named, shape-checked weight arrays shared by both layers."""

    def _init_parameters(self, shapes, dtype):
        self._shapes = dict(shapes)
        self._dtype = dtype
        self._params = {}

    def _set(self, name, value):
        shape = self._shapes[name]
        arr = np.array(value, dtype=self._dtype, copy=True, order="C")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinity")
        self._params[name] = arr
        self._on_parameters_changed()

    def _on_parameters_changed(self):
        pass

    def parameters(self):
        """Return a dict of copies of every weight and bias array, by name."""
        return {name: arr.copy() for name, arr in self._params.items()}

    # -- gradients (filled by backward) --------------------------------------

    @property
    def grads(self):
        """Accumulated gradients of the loss, keyed like :meth:`parameters`.

        Each :meth:`backward` call *adds* to them (so several batches can be
        accumulated before one optimiser step); :meth:`zero_grad` clears them.
        The arrays are the layer's own (not copies) and start at zero.
        """
        if not hasattr(self, "_grads"):
            self.zero_grad()
        return self._grads

    def zero_grad(self):
        """Set every gradient in :attr:`grads` to zero (in place when allocated)."""
        existing = getattr(self, "_grads", None)
        if existing is not None and existing.keys() == self._params.keys():
            for arr in existing.values():
                arr[...] = 0
        else:
            self._grads = {
                name: np.zeros_like(arr) for name, arr in self._params.items()
            }

    def _take_saved(self, grad_out, n_threads):
        """The forward's saved state and ``grad_out`` checked against it."""
        saved = getattr(self, "_saved", None)
        if saved is None:
            raise RuntimeError(
                "backward() needs a forward pass with keep_for_backward=True first "
                "(each forward's state serves one backward call)"
            )
        self._saved = None
        grad = np.asarray(grad_out)
        if grad.dtype.kind != "f":
            raise TypeError(
                f"grad_out must be a floating-point array, got dtype {grad.dtype}"
            )
        if grad.shape != saved["out_shape"]:
            raise ValueError(
                f"grad_out must have the shape of the forward's output "
                f"{saved['out_shape']}, got {grad.shape}"
            )
        if not np.isfinite(grad).all():
            raise ValueError("grad_out contains NaN or infinity")
        return saved, np.ascontiguousarray(grad, dtype=self._dtype)

    def _add_linear_grads(self, x, dy, w_name, b_name, n_threads):
        """grads[w_name] += x^T dy, grads[b_name] += sum of dy (rows = all but the
        last axis)."""
        grads = self.grads
        rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        dy_rows = dy.reshape(-1, dy.shape[-1])
        linear_grad_weight(rows, dy_rows, grads[w_name], True, n_threads)
        if b_name in grads:
            grads[b_name] += dy_rows.sum(axis=0)

    @property
    def dtype(self):
        """Compute dtype of the layer (float32 or float64)."""
        return self._dtype


def _parameter(name, doc):
    def getter(self):
        return self._params.get(name)

    def setter(self, value):
        if name not in self._shapes:
            raise AttributeError(f"this layer has no {name} (bias=False?)")
        self._set(name, value)

    return property(getter, setter, doc=doc)


class AttentionHead(_Parameters):
    """One attention head: ``H = softmax(Q Kᵀ / √d_k) V`` with learned projections.

    ``Q = X W_Q``, ``K = C W_K``, ``V = C W_V`` where ``X`` is the input and
    ``C`` the context (``X`` itself for self-attention). Rows of ``A`` are
    queries (the source notes' ``softmax(K Qᵀ)`` is the transpose).

    Parameters
    ----------
    d_model : int
        Features of the input (and context).
    d_k : int, optional
        Width of queries and keys; defaults to ``d_model``.
    d_v : int, optional
        Width of values and of the output; defaults to ``d_k``.
    bias : bool, default False
        Add biases ``b_Q``, ``b_K``, ``b_V`` to the projections.
    dtype : {np.float32, np.float64}
        Compute dtype; inputs are converted to it.
    seed : None, int or np.random.SeedSequence
        Seeds the Xavier-uniform initialisation (biases start at zero).

    Attributes
    ----------
    W_Q, W_K : ndarray, shape (d_model, d_k)
    W_V : ndarray, shape (d_model, d_v)
    b_Q, b_K, b_V : ndarray or None
        Settable; assignments are shape-checked and copied.

    Examples
    --------
    >>> import numpy as np
    >>> head = AttentionHead(16, d_k=8, d_v=4, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((3, 10, 16))
    >>> head(x).shape, head.attention_weights(x).shape
    ((3, 10, 4), (3, 10, 10))
    """

    W_Q = _parameter("W_Q", "Query projection, (d_model, d_k).")
    W_K = _parameter("W_K", "Key projection, (d_model, d_k).")
    W_V = _parameter("W_V", "Value projection, (d_model, d_v).")
    b_Q = _parameter("b_Q", "Query bias, (d_k,), or None.")
    b_K = _parameter("b_K", "Key bias, (d_k,), or None.")
    b_V = _parameter("b_V", "Value bias, (d_v,), or None.")

    def __init__(
        self, d_model, d_k=None, d_v=None, *, bias=False, dtype=np.float32, seed=None
    ):
        self.d_model = _check_dim(d_model, "d_model")
        self.d_k = _check_dim(d_k, "d_k", allow_none=True) or self.d_model
        self.d_v = _check_dim(d_v, "d_v", allow_none=True) or self.d_k
        self.bias = bool(bias)
        shapes = {
            "W_Q": (self.d_model, self.d_k),
            "W_K": (self.d_model, self.d_k),
            "W_V": (self.d_model, self.d_v),
        }
        if self.bias:
            shapes.update(b_Q=(self.d_k,), b_K=(self.d_k,), b_V=(self.d_v,))
        self._init_parameters(shapes, _check_layer_dtype(dtype))
        rng = np.random.default_rng(seed)
        for name, shape in shapes.items():
            if name.startswith("W"):
                self._params[name] = _xavier_uniform(rng, *shape, self._dtype)
            else:
                self._params[name] = np.zeros(shape, self._dtype)

    def __repr__(self):
        return (
            f"AttentionHead(d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}, "
            f"bias={self.bias}, dtype={self._dtype.name})"
        )

    def _project(self, x, context, n_threads):
        x = _check_input(x, "x", self.d_model, self._dtype)
        context = (
            x
            if context is None
            else _check_input(context, "context", self.d_model, self._dtype)
        )
        p = self._params
        return (
            _linear(x, p["W_Q"], p.get("b_Q"), n_threads),
            _linear(context, p["W_K"], p.get("b_K"), n_threads),
            _linear(context, p["W_V"], p.get("b_V"), n_threads),
        )

    def __call__(
        self,
        x,
        context=None,
        *,
        mask=None,
        causal=False,
        num_threads=None,
        keep_for_backward=False,
    ):
        """Return ``H = softmax(Q Kᵀ / √d_k + mask) V``.

        Parameters
        ----------
        x : array_like, shape (..., n, d_model)
            Input sequence(s); gives the queries.
        context : array_like, shape (..., m, d_model), optional
            Gives keys and values (cross-attention); defaults to ``x``.
        mask : array_like, optional
            Boolean (True = may attend) or additive, broadcastable to (..., n, m).
        causal : bool
            Bottom-right aligned causal mask (see ``scaled_dot_product_attention``).
        num_threads : int, optional
        keep_for_backward : bool, default False
            Keep what :meth:`backward` needs (the inputs, projections, output
            and row log-sum-exp: O(n) memory per row, never n × m).

        Returns
        -------
        ndarray, shape (..., n, d_v)
        """
        n_threads = effective_n_threads(num_threads)
        if keep_for_backward:
            return self._forward_keep(x, context, mask, causal, n_threads)
        with blas_limited_to_one_thread():
            q, k, v = self._project(x, context, n_threads)
            return scaled_dot_product_attention(
                q,
                k,
                v,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
            )

    # -- backward ----------------------------------------------------------

    def _forward_keep(self, x, context, mask, causal, n_threads):
        """Forward pass that saves its state for :meth:`backward`."""
        x = _check_input(x, "x", self.d_model, self._dtype)
        c = (
            None
            if context is None
            else _check_input(context, "context", self.d_model, self._dtype)
        )
        with blas_limited_to_one_thread():
            q, k, v = self._project(x, c, n_threads)
            out, lse = scaled_dot_product_attention(
                q,
                k,
                v,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
                return_lse=True,
            )
        self._saved = dict(
            x=x,
            context=c,
            q=q,
            k=k,
            v=v,
            out=out,
            lse=lse,
            mask=mask,
            causal=causal,
            out_shape=out.shape,
        )
        return out

    def backward(self, grad_out, *, num_threads=None):
        """Back-propagate ``grad_out = ∂L/∂H`` through the last forward pass.

        The forward must have been called with ``keep_for_backward=True``; its
        saved state serves one backward call. The weight and bias gradients are
        **added** to :attr:`grads` (call :meth:`zero_grad` between steps).

        Parameters
        ----------
        grad_out : array_like, shape of the forward's output (..., n, d_v)
        num_threads : int, optional

        Returns
        -------
        dx : ndarray, shape of ``x``
            Gradient with respect to the input (for self-attention it includes
            the key and value paths).
        dcontext : ndarray, shape of ``context``
            Only when the forward had a ``context``: ``(dx, dcontext)``.

        Raises
        ------
        RuntimeError
            No saved forward pass.
        ValueError, TypeError
            ``grad_out`` of the wrong shape, not floating, or not finite.
        """
        n_threads = effective_n_threads(num_threads)
        saved, grad = self._take_saved(grad_out, n_threads)
        p = self._params
        x, c = saved["x"], saved["context"]
        with blas_limited_to_one_thread():
            dq, dk, dv = _sdpa_backward(
                grad,
                saved["q"],
                saved["k"],
                saved["v"],
                saved["out"],
                saved["lse"],
                mask=saved["mask"],
                causal=saved["causal"],
                check_finite=False,
                num_threads=n_threads,
            )
            source = x if c is None else c
            self._add_linear_grads(x, dq, "W_Q", "b_Q", n_threads)
            self._add_linear_grads(source, dk, "W_K", "b_K", n_threads)
            self._add_linear_grads(source, dv, "W_V", "b_V", n_threads)
            dx = np.empty(x.shape, dtype=self._dtype)
            dx_rows = dx.reshape(-1, self.d_model)
            linear_grad_input(
                dq.reshape(-1, self.d_k), p["W_Q"], dx_rows, False, n_threads
            )
            if c is None:
                dc_rows = dx_rows
            else:
                dc = np.empty(c.shape, dtype=self._dtype)
                dc_rows = dc.reshape(-1, self.d_model)
            linear_grad_input(
                dk.reshape(-1, self.d_k), p["W_K"], dc_rows, c is None, n_threads
            )
            linear_grad_input(
                dv.reshape(-1, self.d_v), p["W_V"], dc_rows, True, n_threads
            )
        return dx if c is None else (dx, dc)

    def attention_weights(
        self, x, context=None, *, mask=None, causal=False, num_threads=None
    ):
        """Return the attention matrix ``A`` of shape (..., n, m); rows sum to 1
        (or are all zero for a query that sees no key)."""
        n_threads = effective_n_threads(num_threads)
        with blas_limited_to_one_thread():
            q, k, v = self._project(x, context, n_threads)
            return scaled_dot_product_attention(
                q,
                k,
                v,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
                return_weights=True,
            )[1]


class MultiHeadAttention(_Parameters):
    """Multi-head attention: ``concat(head_1 … head_h) W_O`` with fused heads.

    Head ``i`` uses columns ``i·d_head … (i+1)·d_head − 1`` of ``W_Q``, ``W_K``,
    ``W_V`` (``d_head = d_model / n_heads``), i.e. the k triples of width
    ``d/k`` of the source notes stored side by side; the concatenated head
    outputs are projected by the trainable ``W_O`` (d_model × d_model).

    Parameters
    ----------
    d_model : int
        Model width (queries and output).
    n_heads : int
        Number of heads; must divide ``d_model``.
    d_kv : int, optional
        Features of the key/value inputs (PyTorch's ``kdim``/``vdim``);
        defaults to ``d_model``.
    bias : bool, default True
        Biases on all four projections.
    dtype : {np.float32, np.float64}
    seed : None, int or np.random.SeedSequence
        Xavier-uniform weights, zero biases, reproducible from the seed.

    Attributes
    ----------
    W_Q : (d_model, d_model); W_K, W_V : (d_kv, d_model); W_O : (d_model, d_model)
    b_Q, b_K, b_V, b_O : (d_model,) or None
        Settable (shape-checked copies). The layer computes ``x @ W + b``;
        PyTorch stores the transposes (see :meth:`from_torch_state_dict`).

    Notes
    -----
    Masks follow PyTorch's ``scaled_dot_product_attention``: a boolean ``mask``
    is True where a query **may** attend. ``key_padding_mask`` follows
    ``nn.MultiheadAttention``: True marks a **padding** key to ignore.
    (``nn.MultiheadAttention``'s own boolean ``attn_mask`` is the opposite.)

    Examples
    --------
    >>> import numpy as np
    >>> mha = MultiHeadAttention(64, 8, seed=0)
    >>> x = np.random.default_rng(1).standard_normal((2, 50, 64)).astype(np.float32)
    >>> mha(x, causal=True).shape
    (2, 50, 64)
    """

    W_Q = _parameter("W_Q", "Query projection, (d_model, d_model).")
    W_K = _parameter("W_K", "Key projection, (d_kv, d_model).")
    W_V = _parameter("W_V", "Value projection, (d_kv, d_model).")
    W_O = _parameter("W_O", "Output projection, (d_model, d_model).")
    b_Q = _parameter("b_Q", "Query bias or None.")
    b_K = _parameter("b_K", "Key bias or None.")
    b_V = _parameter("b_V", "Value bias or None.")
    b_O = _parameter("b_O", "Output bias or None.")

    def __init__(
        self, d_model, n_heads, *, d_kv=None, bias=True, dtype=np.float32, seed=None
    ):
        self.d_model = _check_dim(d_model, "d_model")
        self.n_heads = _check_dim(n_heads, "n_heads")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} must divide d_model={self.d_model}"
            )
        self.d_head = self.d_model // self.n_heads
        self.d_kv = _check_dim(d_kv, "d_kv", allow_none=True) or self.d_model
        self.bias = bool(bias)
        d, e = self.d_model, self.d_kv
        shapes = {"W_Q": (d, d), "W_K": (e, d), "W_V": (e, d), "W_O": (d, d)}
        if self.bias:
            shapes.update(b_Q=(d,), b_K=(d,), b_V=(d,), b_O=(d,))
        self._init_parameters(shapes, _check_layer_dtype(dtype))
        rng = np.random.default_rng(seed)
        if self.d_kv == self.d_model:
            # As torch: one Xavier draw over the stacked (3d, d) in-projection.
            stacked = _xavier_uniform(rng, d, 3 * d, self._dtype)
            self._params.update(
                W_Q=stacked[:, :d].copy(),
                W_K=stacked[:, d : 2 * d].copy(),
                W_V=stacked[:, 2 * d :].copy(),
            )
        else:
            self._params.update(
                W_Q=_xavier_uniform(rng, d, d, self._dtype),
                W_K=_xavier_uniform(rng, e, d, self._dtype),
                W_V=_xavier_uniform(rng, e, d, self._dtype),
            )
        self._params["W_O"] = _xavier_uniform(rng, d, d, self._dtype)
        for name in ("b_Q", "b_K", "b_V", "b_O"):
            if name in shapes:
                self._params[name] = np.zeros(shapes[name], self._dtype)
        self._on_parameters_changed()

    def __repr__(self):
        return (
            f"MultiHeadAttention(d_model={self.d_model}, n_heads={self.n_heads}, "
            f"d_kv={self.d_kv}, bias={self.bias}, dtype={self._dtype.name})"
        )

    def _on_parameters_changed(self):
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

    # -- PyTorch interop ---------------------------------------------------

    @classmethod
    def from_torch_state_dict(cls, state_dict, n_heads, *, dtype=None):
        """Build a layer that computes what a ``torch.nn.MultiheadAttention`` computes.

        Parameters
        ----------
        state_dict : mapping
            ``module.state_dict()`` of an ``nn.MultiheadAttention`` (tensors or
            arrays; torch itself is not imported): ``in_proj_weight`` (or
            ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` when
            ``kdim``/``vdim`` differ), optional ``in_proj_bias``,
            ``out_proj.weight`` and optional ``out_proj.bias``.
        n_heads : int
            The module's ``num_heads``.
        dtype : optional
            Defaults to the dtype of the weights (float32 or float64).

        Returns
        -------
        MultiHeadAttention

        Notes
        -----
        The module must use ``batch_first=True`` semantics when comparing
        outputs (this layer always takes ``(batch, seq, feature)``) and must
        not use ``add_bias_kv`` or ``add_zero_attn``.
        """
        weights = arrays_of(state_dict)
        d_model = weights["out_proj.weight"].shape[0]
        if "in_proj_weight" in weights:
            d_kv = d_model
        else:
            d_kv = weights["k_proj_weight"].shape[1]
        if dtype is None:
            dtype = weights["out_proj.weight"].dtype
            if dtype not in (np.float32, np.float64):
                dtype = np.float32
        layer = cls(
            d_model, n_heads, d_kv=d_kv, bias="in_proj_bias" in weights, dtype=dtype
        )
        layer.load_torch_state_dict(state_dict)
        return layer

    def load_torch_state_dict(self, state_dict):
        """Load the weights of a ``torch.nn.MultiheadAttention`` state dict (in place).

        See :meth:`from_torch_state_dict` for the keys. Raises ``KeyError``
        for missing keys and ``ValueError`` for shapes that do not fit.
        """
        new = multihead_parameters(state_dict, self._shapes, self._dtype)
        # Every entry is valid: only now does the layer change.
        self._params.update(new)
        self._on_parameters_changed()
        return self

    # -- forward -----------------------------------------------------------

    def _forward(
        self,
        query,
        key,
        value,
        self_attention,
        mask,
        causal,
        need_weights,
        n_threads,
        saved=None,
    ):
        p = self._params
        h, d = self.n_heads, self.d_model
        n_batch, n_q, _ = query.shape
        if self_attention and self._w_qkv is not None:
            qkv = _linear(query, self._w_qkv, self._b_qkv, n_threads)
            q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        else:
            q = _linear(query, p["W_Q"], p.get("b_Q"), n_threads)
            k = _linear(key, p["W_K"], p.get("b_K"), n_threads)
            v = _linear(value, p["W_V"], p.get("b_V"), n_threads)
        q_heads, k_heads, v_heads = (split_heads(t, h) for t in (q, k, v))
        weights = lse = None
        if saved is not None:  # keep_for_backward: the row log-sum-exp as well
            merged = np.empty((n_batch, n_q, d), dtype=self._dtype)
            out_heads, *rest = _sdpa(
                q_heads,
                k_heads,
                v_heads,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
                return_weights=need_weights,
                return_lse=True,
                out=split_heads(merged, h),
            )
            weights, lse = rest if need_weights else (None, rest[0])
            saved.update(q=q, k=k, v=v, merged=merged, lse=lse)
        elif need_weights:
            out_heads, weights = _sdpa(
                q_heads,
                k_heads,
                v_heads,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
                return_weights=True,
            )
            merged = np.swapaxes(out_heads, 1, 2).reshape(n_batch, n_q, d)
        else:
            # The kernel writes each head straight into the (B, n_q, H, d_head) layout.
            merged = np.empty((n_batch, n_q, d), dtype=self._dtype)
            _sdpa(
                q_heads,
                k_heads,
                v_heads,
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
                out=split_heads(merged, h),
            )
        return _linear(merged, p["W_O"], p.get("b_O"), n_threads), weights

    def _forward_in_slices(
        self, query, key, value, self_attention, mask, causal, need_weights, n_threads
    ):
        """_forward over slices of the batch, with a progress bar."""
        from .._progress import ProgressBar

        n_batch = query.shape[0]
        size = max(1, -(-n_batch // 20))
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim == 4 and mask.shape[0] == 1:
                mask = np.broadcast_to(mask, (n_batch,) + mask.shape[1:])
        bar = ProgressBar(n_batch, "MultiHeadAttention", unit="seq")
        outs, weights = [], []
        try:
            for start in range(0, n_batch, size):
                part = slice(start, start + size)
                part_mask = mask[part] if mask is not None and mask.ndim == 4 else mask
                out, weight = self._forward(
                    query[part],
                    key[part],
                    value[part],
                    self_attention,
                    part_mask,
                    causal,
                    need_weights,
                    n_threads,
                )
                outs.append(out)
                weights.append(weight)
                bar.update(min(n_batch, start + size))
        finally:
            bar.close()
        return (np.concatenate(outs), np.concatenate(weights) if need_weights else None)

    def _combined_mask(self, mask, key_padding_mask, batched, n_batch, n_k):
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

    def __call__(
        self,
        query,
        key=None,
        value=None,
        *,
        mask=None,
        key_padding_mask=None,
        causal=False,
        need_weights=False,
        average_weights=True,
        num_threads=None,
        progress=False,
        keep_for_backward=False,
    ):
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
        causal : bool
            Bottom-right aligned causal mask.
        need_weights : bool, default False
            Also return the attention weights (allocates ``n_q × n_k`` per head).
        average_weights : bool, default True
            Average the weights over heads: ``(B, n_q, n_k)``; else
            ``(B, n_heads, n_q, n_k)``.
        num_threads : int, optional
        progress : bool, default False
            Process the batch in about 20 slices and show a progress bar (tqdm
            when installed); for long batches of sequences. The outputs equal
            the unsliced ones to rounding.
        keep_for_backward : bool, default False
            Keep what :meth:`backward` needs: the inputs, the q/k/v
            projections, the heads' output and their row log-sum-exp
            (O(n) per row, never n_q × n_k). ``progress`` is then ignored.

        Returns
        -------
        out : ndarray, shape (B, n_q, d_model) (or (n_q, d_model) unbatched)
        weights : ndarray
            Only when ``need_weights`` is true.
        """
        batched = np.ndim(query) == 3
        if np.ndim(query) not in (2, 3):
            raise ValueError(
                f"query must have shape (B, n_q, {self.d_model}) or (n_q, "
                f"{self.d_model}), got {np.shape(query)}"
            )
        self_attention = key is None and value is None
        value_is_key = value is None or value is key
        query = _check_input(query, "query", self.d_model, self._dtype)
        if key is None:
            key = query
        elif not self_attention:
            key = _check_input(key, "key", self.d_kv, self._dtype)
        value = (
            key
            if value_is_key
            else _check_input(value, "value", self.d_kv, self._dtype)
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

        n_threads = effective_n_threads(num_threads)
        mask = self._combined_mask(mask, key_padding_mask, batched, n_batch, n_k)
        saved = None
        if keep_for_backward:
            saved = dict(
                query=query,
                key=key,
                value=value,
                self_attention=self_attention,
                value_is_key=value_is_key,
                batched=batched,
                mask=mask,
                causal=causal,
            )
            progress = False
        with blas_limited_to_one_thread():
            forward = (
                self._forward_in_slices if progress and n_batch > 1 else self._forward
            )
            out, weights = forward(
                query,
                key,
                value,
                self_attention,
                mask,
                causal,
                need_weights,
                n_threads,
                **({} if saved is None else {"saved": saved}),
            )
        if saved is not None:
            saved["out_shape"] = out.shape if batched else out.shape[1:]
            self._saved = saved
        if not batched:
            out = out[0]
        if need_weights:
            if average_weights:
                weights = weights.mean(axis=1)
            if not batched:
                weights = weights[0]
            return out, weights
        return out

    # -- backward ----------------------------------------------------------

    def backward(self, grad_out, *, num_threads=None):
        """Back-propagate ``grad_out = ∂L/∂out`` through the last forward pass.

        The forward must have been called with ``keep_for_backward=True``; its
        saved state serves one backward call. Gradients of ``W_Q, W_K, W_V,
        W_O`` and the biases are **added** to :attr:`grads` (keyed like
        :meth:`parameters`; call :meth:`zero_grad` between optimiser steps).

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
        (fused, bitwise thread-invariant); the projections' gradients are
        GEMMs split over the threads by output columns (weights) or rows
        (inputs), one single-threaded BLAS call per thread.
        """
        n_threads = effective_n_threads(num_threads)
        saved, grad = self._take_saved(grad_out, n_threads)
        if not saved["batched"]:
            grad = grad[None]
        p = self._params
        h, d = self.n_heads, self.d_model
        query, key, value = saved["query"], saved["key"], saved["value"]
        n_batch, n_q, _ = query.shape
        n_k = key.shape[1]
        with blas_limited_to_one_thread():
            # out = merged @ W_O + b_O
            self._add_linear_grads(saved["merged"], grad, "W_O", "b_O", n_threads)
            d_merged = np.empty((n_batch, n_q, d), dtype=self._dtype)
            linear_grad_input(
                grad.reshape(-1, d), p["W_O"], d_merged.reshape(-1, d), False, n_threads
            )
            # The heads: dq, dk, dv written straight into the projection layout.
            if saved["self_attention"]:
                d_qkv = np.empty((n_batch, n_q, 3 * d), dtype=self._dtype)
                dq, dk, dv = (d_qkv[..., i * d : (i + 1) * d] for i in range(3))
            else:
                d_qkv = None
                dq = np.empty((n_batch, n_q, d), dtype=self._dtype)
                dk = np.empty((n_batch, n_k, d), dtype=self._dtype)
                dv = np.empty((n_batch, n_k, d), dtype=self._dtype)
            _sdpa_backward(
                split_heads(d_merged, h),
                *(split_heads(saved[name], h) for name in ("q", "k", "v")),
                split_heads(saved["merged"], h),
                saved["lse"],
                mask=saved["mask"],
                causal=saved["causal"],
                check_finite=False,
                num_threads=n_threads,
                grads_out=tuple(split_heads(t, h) for t in (dq, dk, dv)),
            )
            # q, k, v = x @ W + b
            self._add_linear_grads(query, dq, "W_Q", "b_Q", n_threads)
            self._add_linear_grads(key, dk, "W_K", "b_K", n_threads)
            self._add_linear_grads(value, dv, "W_V", "b_V", n_threads)
            d_query = np.empty(query.shape, dtype=self._dtype)
            if d_qkv is not None:
                w_qkv = self._w_qkv
                if w_qkv is None:
                    w_qkv = np.concatenate([p["W_Q"], p["W_K"], p["W_V"]], axis=1)
                linear_grad_input(
                    d_qkv.reshape(-1, 3 * d),
                    w_qkv,
                    d_query.reshape(-1, d),
                    False,
                    n_threads,
                )
                result = (d_query,)
            else:
                linear_grad_input(
                    dq.reshape(-1, d),
                    p["W_Q"],
                    d_query.reshape(-1, d),
                    False,
                    n_threads,
                )
                e = self.d_kv
                d_key = np.empty(key.shape, dtype=self._dtype)
                linear_grad_input(
                    dk.reshape(-1, d), p["W_K"], d_key.reshape(-1, e), False, n_threads
                )
                if saved["value_is_key"]:
                    linear_grad_input(
                        dv.reshape(-1, d),
                        p["W_V"],
                        d_key.reshape(-1, e),
                        True,
                        n_threads,
                    )
                    result = (d_query, d_key)
                else:
                    d_value = np.empty(value.shape, dtype=self._dtype)
                    linear_grad_input(
                        dv.reshape(-1, d),
                        p["W_V"],
                        d_value.reshape(-1, e),
                        False,
                        n_threads,
                    )
                    result = (d_query, d_key, d_value)
        if not saved["batched"]:
            result = tuple(r[0] for r in result)
        return result[0] if len(result) == 1 else result
