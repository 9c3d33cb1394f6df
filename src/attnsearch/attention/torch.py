"""PyTorch bridge: attnsearch's fused attention as a ``torch.autograd.Function``.

``attnsearch.attention.torch.scaled_dot_product_attention`` takes the
arguments of ``torch.nn.functional.scaled_dot_product_attention`` (CPU float32
or float64 tensors, no dropout) and runs attnsearch's forward kernel, keeping
the row log-sum-exp; autograd then calls attnsearch's fused backward. A PyTorch
model trains with our kernels by swapping the one call. Tensors are shared
with NumPy without copies (``Tensor.numpy()`` / ``torch.from_numpy``).

Needs torch (``pip install "attnsearch[bench]"`` pins the tested version); it
is imported only when this module is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from .._validation import check_bool
from .attention import scaled_dot_product_attention as _sdpa_numpy
from .backward import scaled_dot_product_attention_backward as _sdpa_backward_numpy

__all__ = ["AttentionFunction", "scaled_dot_product_attention"]


def _as_numpy(tensor: object, name: str) -> np.ndarray:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU, got device {tensor.device}")
    if tensor.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {tensor.dtype}")
    return tensor.detach().numpy()


def _mask_as_numpy(attn_mask: object, dtype: torch.dtype) -> np.ndarray:
    """``attn_mask`` for the NumPy kernels: boolean stays boolean, a floating
    mask takes the query's dtype (as torch requires; bfloat16 has no NumPy
    dtype)."""
    if not isinstance(attn_mask, torch.Tensor):
        return np.asarray(attn_mask)
    mask = attn_mask.detach().cpu()
    if mask.is_floating_point():
        mask = mask.to(dtype)
    elif mask.dtype != torch.bool:
        raise TypeError(
            "attn_mask must be boolean (True = may attend) or floating, got "
            f"{mask.dtype}"
        )
    return mask.numpy()


class AttentionFunction(torch.autograd.Function):
    """Autograd function: forward and backward by attnsearch's fused kernels.

    ``apply(q, k, v, mask, causal, scale, num_threads)``; ``mask`` is a NumPy
    array or None (it gets no gradient), ``causal`` is bottom-right aligned.
    """

    @staticmethod
    def forward(
        ctx: Any,  # torch's FunctionCtx, which keeps our ``options`` too
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: npt.NDArray[Any] | None,
        causal: bool,
        scale: float | None,
        num_threads: int | None,
    ) -> torch.Tensor:
        out, lse = _sdpa_numpy(
            _as_numpy(q, "query"),
            _as_numpy(k, "key"),
            _as_numpy(v, "value"),
            mask=mask,
            causal=causal,
            scale=scale,
            check_finite=False,
            num_threads=num_threads,
            return_lse=True,
        )
        out_t = torch.from_numpy(out)
        ctx.save_for_backward(q, k, v, out_t, torch.from_numpy(lse))
        ctx.options = (mask, causal, scale, num_threads)
        return out_t

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():
            # create_graph=True: the gradients would have to be differentiable
            # themselves. Ours are not; returning them would silently drop their
            # dependence on q, k, v from a gradient penalty or Hessian product.
            raise RuntimeError(
                "attnsearch's attention has no second-order gradients: its backward "
                "cannot run under create_graph=True (gradient penalties, "
                "Hessian-vector products); use torch's own "
                "scaled_dot_product_attention for those"
            )
        q, k, v, out, lse = ctx.saved_tensors
        mask, causal, scale, num_threads = ctx.options
        grad = grad_out.detach().contiguous().to(out.dtype).numpy()
        dq, dk, dv = _sdpa_backward_numpy(
            grad,
            q.detach().numpy(),
            k.detach().numpy(),
            v.detach().numpy(),
            out.numpy(),
            lse.numpy(),
            mask=mask,
            causal=causal,
            scale=scale,
            check_finite=False,
            num_threads=num_threads,
        )
        grads = [torch.from_numpy(g) for g in (dq, dk, dv)]
        needs = ctx.needs_input_grad[:3]
        return (
            *(
                g.to(t.dtype) if need else None
                for g, t, need in zip(grads, (q, k, v), needs)
            ),
            None,
            None,
            None,
            None,
        )


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | npt.ArrayLike | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    num_threads: int | None = None,
) -> torch.Tensor:
    """Drop-in for ``torch.nn.functional.scaled_dot_product_attention`` on CPU.

    Parameters
    ----------
    query, key, value : torch.Tensor
        CPU float32/float64 tensors ``(..., n_q, d_k)``, ``(..., n_k, d_k)``,
        ``(..., n_k, d_v)``.
    attn_mask : torch.Tensor or array_like, optional
        Boolean (True = may attend) or additive float, as in torch.
    dropout_p : float
        Must be 0 (attention dropout is not implemented).
    is_causal : bool
        torch's convention: the causal mask is aligned to the **top-left**
        corner (query i sees keys j <= i). For ``n_q == n_k`` that is
        attnsearch's bottom-right mask; otherwise an explicit mask is built.
    scale : float, optional
        Defaults to ``1 / sqrt(d_k)``.
    enable_gqa : bool
        As in torch: required when key/value have fewer heads than query.
    num_threads : int, optional
        attnsearch's OpenMP threads (default: physical cores).

    Returns
    -------
    torch.Tensor
        ``(..., n_q, d_v)``, differentiable with respect to query, key, value.
    """
    if dropout_p:
        raise NotImplementedError(
            "dropout_p must be 0: attention dropout is not implemented"
        )
    if query.ndim >= 3 and key.ndim >= 3:
        if (
            key.shape[-3] != query.shape[-3] or value.shape[-3] != query.shape[-3]
        ) and (not enable_gqa):
            raise ValueError(
                "key/value have a different number of heads than query: pass "
                "enable_gqa=True for grouped-query attention (as torch requires)"
            )
    is_causal = check_bool(is_causal, "is_causal")
    enable_gqa = check_bool(enable_gqa, "enable_gqa")
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ValueError("pass either attn_mask or is_causal, not both (as torch)")
        mask = _mask_as_numpy(attn_mask, query.dtype)
    causal = is_causal
    n_q, n_k = query.shape[-2], key.shape[-2]
    if causal and n_q != n_k:
        mask = np.tril(np.ones((n_q, n_k), dtype=bool))  # torch's top-left alignment
        causal = False
    return AttentionFunction.apply(query, key, value, mask, causal, scale, num_threads)
