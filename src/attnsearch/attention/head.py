"""One attention head with learned projections: ``softmax(Q Kᵀ / √d_k) V``.

The projections run the ``linear`` kernels (``_projections.project``), the
attention the fused forward and backward kernels; the weights live in a
:class:`~attnsearch.attention._parameters.ParameterContainer`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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
from ._projections import check_input, finite_output, project
from ._typing import Array, Seed
from .attention import _check_scores_fit, scaled_dot_product_attention
from .backward import _sdpa_backward

if TYPE_CHECKING:
    from . import _linear as _linear_kernels
else:
    _linear_kernels = kernels("linear")

__all__ = ["AttentionHead"]


class AttentionHead(ParameterContainer):
    """One attention head: ``H = softmax(Q Kᵀ / √d_k) V`` with learned projections.

    ``Q = X W_Q``, ``K = C W_K``, ``V = C W_V`` where ``X`` is the input and
    ``C`` the context (``X`` itself for self-attention). Rows of ``A`` are
    queries (some texts write ``softmax(K Qᵀ)``, the transpose).

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
    dtype : {np.float32, np.float64, ml_dtypes.bfloat16, np.float16}
        The layer's dtype; inputs are converted to it. A 16-bit layer is a
        mixed-precision one (see :class:`ParameterContainer`): float32
        parameters, gradients and projections, attention on 16-bit q, k, v,
        16-bit outputs.
    seed : None, int or np.random.SeedSequence
        Seeds the Xavier-uniform initialisation (biases start at zero).

    Attributes
    ----------
    W_Q, W_K : ndarray, shape (d_model, d_k)
    W_V : ndarray, shape (d_model, d_v)
    b_Q, b_K, b_V : ndarray or None
        Read-only views; assign to the attribute to change one (assignments
        are shape-checked and copied).

    Examples
    --------
    >>> import numpy as np
    >>> head = AttentionHead(16, d_k=8, d_v=4, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((3, 10, 16))
    >>> head(x).shape, head.attention_weights(x).shape
    ((3, 10, 4), (3, 10, 10))
    """

    W_Q = parameter("W_Q", "Query projection, (d_model, d_k).")
    W_K = parameter("W_K", "Key projection, (d_model, d_k).")
    W_V = parameter("W_V", "Value projection, (d_model, d_v).")
    b_Q = optional_parameter("b_Q", "Query bias, (d_k,), or None.")
    b_K = optional_parameter("b_K", "Key bias, (d_k,), or None.")
    b_V = optional_parameter("b_V", "Value bias, (d_v,), or None.")

    def __init__(
        self,
        d_model: int,
        d_k: int | None = None,
        d_v: int | None = None,
        *,
        bias: bool = False,
        dtype: npt.DTypeLike = np.float32,
        seed: Seed = None,
    ) -> None:
        self.d_model = check_dim(d_model, "d_model")
        self.d_k = check_dim(d_k, "d_k", allow_none=True) or self.d_model
        self.d_v = check_dim(d_v, "d_v", allow_none=True) or self.d_k
        self.bias = check_bool(bias, "bias")
        shapes: dict[str, tuple[int, ...]] = {
            "W_Q": (self.d_model, self.d_k),
            "W_K": (self.d_model, self.d_k),
            "W_V": (self.d_model, self.d_v),
        }
        if self.bias:
            shapes.update(b_Q=(self.d_k,), b_K=(self.d_k,), b_V=(self.d_v,))
        self._init_parameters(shapes, check_layer_dtype(dtype))
        rng = np.random.default_rng(seed)
        for name, shape in shapes.items():
            if name.startswith("W"):
                fan_in, fan_out = shape
                self._params[name] = xavier_uniform(rng, fan_in, fan_out, self._dtype)
            else:
                self._params[name] = np.zeros(shape, self._dtype)
        self._parameters_changed()

    def __repr__(self) -> str:
        return (
            f"AttentionHead(d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}, "
            f"bias={self.bias}, dtype={self.dtype.name})"
        )

    def _project(
        self, x: npt.ArrayLike, context: npt.ArrayLike | None, n_threads: int
    ) -> tuple[Array, Array, Array]:
        x = check_input(x, "x", self.d_model, self._dtype, self._storage)
        context = (
            x
            if context is None
            else check_input(
                context, "context", self.d_model, self._dtype, self._storage
            )
        )
        p = self._params
        if self._storage is not None:
            return (
                self._project_reduced(x, "W_Q", p["W_Q"], p.get("b_Q"), n_threads),
                self._project_reduced(
                    context, "W_K", p["W_K"], p.get("b_K"), n_threads
                ),
                self._project_reduced(
                    context, "W_V", p["W_V"], p.get("b_V"), n_threads
                ),
            )
        return (
            project(x, p["W_Q"], p.get("b_Q"), n_threads),
            project(context, p["W_K"], p.get("b_K"), n_threads),
            project(context, p["W_V"], p.get("b_V"), n_threads),
        )

    def __call__(
        self,
        x: npt.ArrayLike,
        context: npt.ArrayLike | None = None,
        *,
        mask: npt.ArrayLike | None = None,
        causal: bool = False,
        num_threads: int | None = None,
        keep_for_backward: bool = False,
    ) -> Array:
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
        causal = check_bool(causal, "causal")
        if check_bool(keep_for_backward, "keep_for_backward"):
            out, saved = self._forward_keep(x, context, mask, causal, n_threads)
            finite_output(out, "AttentionHead")
            self._keep_forward(saved)
            return out
        with blas_limited_to_one_thread():
            q, k, v = self._project(x, context, n_threads)
            _check_scores_fit(q, k, 1.0 / math.sqrt(q.shape[-1]), q.dtype, n_threads)
            out = scaled_dot_product_attention(
                self._narrow(q),
                self._narrow(k),
                self._narrow(v),
                mask=mask,
                causal=causal,
                check_finite=False,
                num_threads=n_threads,
            )
        return finite_output(out, "AttentionHead")

    # -- backward ----------------------------------------------------------

    def _forward_keep(
        self,
        x: npt.ArrayLike,
        context: npt.ArrayLike | None,
        mask: npt.ArrayLike | None,
        causal: bool,
        n_threads: int,
    ) -> tuple[Array, dict[str, Any]]:
        """Forward pass and the state :meth:`backward` needs (private copies of
        the inputs and mask: the caller may reuse its buffers in between)."""
        storage = self._storage
        x = snapshot(check_input(x, "x", self.d_model, self._dtype, storage))
        c = (
            None
            if context is None
            else snapshot(
                check_input(context, "context", self.d_model, self._dtype, storage)
            )
        )
        mask = None if mask is None else snapshot(np.asarray(mask))
        with blas_limited_to_one_thread():
            q, k, v = (self._narrow(a) for a in self._project(x, c, n_threads))
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
        # The backward differentiates what ran: the 16-bit q, k, v and output
        # (exact in float32), in float32, or on the bfloat16 tiles as they are.
        tiles = self._bf16_gradient_tiles(self.d_k, self.d_v)
        keep = (lambda a: a) if tiles else self._widen
        saved = dict(
            x=x,
            context=c,
            q=keep(q),
            k=keep(k),
            v=keep(v),
            out=keep(out),
            lse=lse,
            mask=mask,
            causal=causal,
            out_shape=out.shape,
            tiles=tiles,
        )
        return out, saved

    def backward(
        self, grad_out: npt.ArrayLike, *, num_threads: int | None = None
    ) -> Array | tuple[Array, Array]:
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
        saved, grad = self._saved_forward(grad_out)
        p = self._params
        pending: dict[str, Array] = {}
        x, c = saved["x"], saved["context"]
        if saved["tiles"]:
            return self._backward_tiles(saved, grad, pending, n_threads)
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
            self._linear_grads(pending, x, dq, "W_Q", "b_Q", n_threads)
            self._linear_grads(pending, source, dk, "W_K", "b_K", n_threads)
            self._linear_grads(pending, source, dv, "W_V", "b_V", n_threads)
            dx = np.empty(x.shape, dtype=self._dtype)
            dx_rows = dx.reshape(-1, self.d_model)
            _linear_kernels.linear_grad_input(
                dq.reshape(-1, self.d_k), p["W_Q"], dx_rows, False, n_threads
            )
            if c is None:
                dc_rows = dx_rows
            else:
                dc = np.empty(c.shape, dtype=self._dtype)
                dc_rows = dc.reshape(-1, self.d_model)
            _linear_kernels.linear_grad_input(
                dk.reshape(-1, self.d_k), p["W_K"], dc_rows, c is None, n_threads
            )
            _linear_kernels.linear_grad_input(
                dv.reshape(-1, self.d_v), p["W_V"], dc_rows, True, n_threads
            )
        self._finish_backward(pending, (dx,) if c is None else (dx, dc))
        return self._narrow(dx) if c is None else (self._narrow(dx), self._narrow(dc))

    def _backward_tiles(
        self,
        saved: dict[str, Any],
        grad: Array,
        pending: dict[str, Array],
        n_threads: int,
    ) -> Array | tuple[Array, Array]:
        """backward() of a bfloat16 head on the bfloat16 tiles: the attention's
        products and the projections' gradients (dW = x^T dy, dx = dy W^T) on
        bfloat16 operands with float32 accumulation (no float32 GEMM); weight
        and bias gradients float32, input gradients rounded once to bfloat16."""
        p = self._params
        x, c = saved["x"], saved["context"]
        dq, dk, dv = _sdpa_backward(
            self._to_bf16(grad),
            saved["q"],
            saved["k"],
            saved["v"],
            saved["out"],
            saved["lse"],
            mask=saved["mask"],
            causal=saved["causal"],
            check_finite=False,
            num_threads=n_threads,
        )  # bfloat16, rounded once from the kernel's float32
        x16 = self._to_bf16(x)
        source16 = x16 if c is None else self._to_bf16(c)
        for rows, dy, name in (
            (x16, dq, "Q"),
            (source16, dk, "K"),
            (source16, dv, "V"),
        ):
            width = dy.shape[-1]
            self._bf16_grad_weight(
                pending, rows, dy, ((f"W_{name}", width),), n_threads
            )
            if f"b_{name}" in p:
                with np.errstate(over="ignore"):  # _finish_backward refuses non-finite
                    pending[f"b_{name}"] = np.sum(
                        dy.reshape(-1, width), axis=0, dtype=np.float32
                    )
        dx = np.empty(x.shape, dtype=np.float32)
        dc = dx if c is None else np.empty(c.shape, dtype=np.float32)
        self._bf16_grad_input(dq, "W_Q", p["W_Q"], dx, False, n_threads)
        self._bf16_grad_input(dk, "W_K", p["W_K"], dc, c is None, n_threads)
        self._bf16_grad_input(dv, "W_V", p["W_V"], dc, True, n_threads)
        self._finish_backward(pending, (dx,) if c is None else (dx, dc))
        return self._narrow(dx) if c is None else (self._narrow(dx), self._narrow(dc))

    def attention_weights(
        self,
        x: npt.ArrayLike,
        context: npt.ArrayLike | None = None,
        *,
        mask: npt.ArrayLike | None = None,
        causal: bool = False,
        num_threads: int | None = None,
    ) -> Array:
        """Return the attention matrix ``A`` of shape (..., n, m); rows sum to 1
        (or are all zero for a query that sees no key)."""
        n_threads = effective_n_threads(num_threads)
        causal = check_bool(causal, "causal")
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
