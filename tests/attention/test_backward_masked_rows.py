"""Backward of rows masked by a large *finite* additive value.

The Hugging Face idiom ``(1 - mask) * finfo(dtype).min`` (or ``-1e9``) masks a
padded query's every key with the same huge bias: the forward shifts by the row
max and attends uniformly, as torch's math backend does. Such a row's
log-sum-exp is so large that ``log(row sum)`` rounds away in it, so the
backward must not recompute ``P = exp(s - lse)`` from it (every visible key
would get ``P = 1``): it recomputes those rows' max and sum.
"""

import numpy as np
import pytest

from attnsearch.attention import (
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

_BIASES = {
    np.float32: [np.finfo(np.float32).min, -1e9, -1e6],
    np.float64: [np.finfo(np.float64).min, -1e18, -1e9],
}
_CASES = [(dtype, bias) for dtype, biases in _BIASES.items() for bias in biases]


def _padded_causal_mask(dtype, bias, batch=2, n=40, pad=(11, 0)):
    """Left-padded causal mask in the Hugging Face form: 0 where allowed, ``bias``
    elsewhere, shape (batch, 1, n, n); the first rows of a padded item see
    only pad keys."""
    keep = np.ones((batch, n), dtype=bool)
    for item, count in enumerate(pad):
        keep[item, :count] = False
    allowed = keep[:, None, None, :] & np.tril(np.ones((n, n), dtype=bool))
    return np.where(allowed, 0.0, bias).astype(dtype)


def _qkv(rng, dtype, shape):
    return [rng.standard_normal(shape).astype(dtype) for _ in range(3)]


def _tolerance(dtype):
    return (
        {"rtol": 2e-4, "atol": 2e-5}
        if dtype == np.float32
        else {"rtol": 1e-10, "atol": 1e-12}
    )


@pytest.mark.parametrize(("dtype", "bias"), _CASES)
@pytest.mark.parametrize("block_q", [None, 8])
def test_rows_masked_by_a_finite_bias_get_the_forwards_gradients(
    rng, dtype, bias, block_q
):
    q, k, v = _qkv(rng, dtype, (2, 3, 40, 16))
    mask = _padded_causal_mask(dtype, bias)
    out, lse = scaled_dot_product_attention(q, k, v, mask=mask, return_lse=True)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grads = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, mask=mask, block_q=block_q, block_k=16
    )
    expected = _reference.scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, mask=mask
    )
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, **_tolerance(dtype))


@pytest.mark.parametrize(("dtype", "bias"), _CASES)
def test_every_row_of_p_still_sums_to_one(rng, dtype, bias):
    # grad_out = 1: dV = Pᵀ·1, so sum(dV) = n_q · d_v when every row of P sums
    # to 1; P recomputed from the rounded lse would sum to n_k in masked rows.
    q, k, v = _qkv(rng, dtype, (1, 2, 32, 8))
    mask = np.full((32, 32), bias, dtype=dtype)
    mask[20:, :] = 0.0  # rows 0..19 fully masked (uniform), 20.. see everything
    out, lse = scaled_dot_product_attention(q, k, v, mask=mask, return_lse=True)
    _, _, dv = scaled_dot_product_attention_backward(
        np.ones_like(out), q, k, v, out, lse, mask=mask
    )
    np.testing.assert_allclose(dv.sum(axis=(-2, -1)), 32 * 8, rtol=1e-5)


@pytest.mark.parametrize(("dtype", "bias"), _CASES)
def test_hugging_face_idiom_matches_torch_math_backend(rng, dtype, bias):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = _qkv(rng, dtype, (2, 2, 40, 16))
    mask = _padded_causal_mask(dtype, bias, pad=(11, 3))
    out, lse = scaled_dot_product_attention(q, k, v, mask=mask, return_lse=True)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grads = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, mask=mask
    )

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    with sdpa_kernel(SDPBackend.MATH):
        t_out = torch.nn.functional.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=torch.tensor(mask)
        )
    t_out.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **_tolerance(dtype))
    for got, tensor in zip(grads, (tq, tk, tv), strict=True):
        np.testing.assert_allclose(got, tensor.grad.numpy(), **_tolerance(dtype))


def test_rows_dominated_by_alibi_and_window_take_the_same_path(rng):
    # Every visible key of the first rows is pushed down by -1e9; the rest of
    # the score rules (window, ALiBi, grouped-query heads) still apply.
    q = rng.standard_normal((2, 4, 24, 8))
    k, v = (rng.standard_normal((2, 2, 24, 8)) for _ in range(2))
    mask = np.zeros((24, 24))
    mask[:7] = -1e18
    kwargs = dict(
        mask=mask, causal=True, window=(5, None), alibi_slopes=[0.5, 0.25, 0.1, 0.05]
    )
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape)
    grads = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse, **kwargs)
    expected = _reference.scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, **kwargs
    )
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_huge_logits_without_a_mask_are_split_too(rng):
    # |lse| beyond the split bound from the scores themselves (no mask).
    q, k, v = _qkv(rng, np.float64, (1, 6, 16))
    q *= 60.0
    k *= 60.0
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    assert np.abs(lse).max() > 512
    grad_out = rng.standard_normal(out.shape)
    grads = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse)
    expected = _reference.scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse
    )
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multihead_layer_with_a_padding_mask_matches_torch(rng, dtype):
    # The layers' backward runs the same kernel (through head-split views).
    torch = pytest.importorskip("torch")
    d, h, n = 16, 2, 12
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, h, batch_first=True)
    module = module.double() if dtype == np.float64 else module.float()
    layer = MultiHeadAttention.from_torch_state_dict(module.state_dict(), h)
    mask = _padded_causal_mask(dtype, np.finfo(dtype).min, batch=2, n=n, pad=(5, 0))
    x = rng.standard_normal((2, n, d)).astype(dtype)
    out = layer(x, mask=mask, keep_for_backward=True)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(grad_out)

    tx = torch.tensor(x, requires_grad=True)
    t_mask = torch.tensor(np.repeat(mask, h, axis=1).reshape(2 * h, n, n))
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(
        SDPBackend.MATH
    ):  # torch's fused CPU kernel has the rounded-lse defect
        t_out = module(tx, tx, tx, need_weights=False, attn_mask=t_mask)[0]
    t_out.backward(torch.tensor(grad_out))
    tol = _tolerance(dtype)
    np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    w = module.in_proj_weight.grad.numpy()
    for name, want in (
        ("W_Q", w[:d].T),
        ("W_K", w[d : 2 * d].T),
        ("W_V", w[2 * d :].T),
    ):
        np.testing.assert_allclose(layer.grads[name], want, **tol)
    np.testing.assert_allclose(
        layer.grads["W_O"], module.out_proj.weight.grad.numpy().T, **tol
    )
