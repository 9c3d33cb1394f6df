"""The bfloat16 backward on the vdpbf16ps tiles: the attention's five products
and the layers' gradient GEMMs with bfloat16 operands and float32 accumulation.

The reference is the float64 computation on the same bfloat16 values (inputs,
outputs and grad_out rounded to bfloat16, then widened). The kernel rounds P
(before dV = P^T dO) and dS (before dK, dQ) to bfloat16, as FlashAttention-2's
bfloat16 backward does, and the gradients once to bfloat16 at the end; the last
rounding dominates. Bounds (relative to max |reference|), from
bench/bench_precision_errors.py on the same inputs, ours vs torch 2.13's bfloat16
scaled_dot_product_attention backward (CPU): max error ours 2.3e-3 to 4.1e-3,
torch 3.5e-3 to 6.1e-3; rms error ours 2.3e-3 to 2.5e-3, torch 2.4e-3 to 3.5e-3.
So: max <= 2^-7 (7.8e-3) and rms <= 3.2e-3 here, and, where torch is installed,
no worse than torch on the same inputs. Every test runs under every CPU target
(tests/conftest.py): the tiles on AVX512-BF16, the float32 kernel elsewhere.
"""

import numpy as np
import pytest

from attnsearch._dispatch import kernels
from attnsearch.attention import (
    AttentionHead,
    MultiHeadAttention,
    _reference,
    alibi_slopes,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
MAX_ERROR = 2**-7
RMS_ERROR = 3.2e-3

pytestmark = pytest.mark.usefixtures("cpu_target")


def _bf16(rng, *shape):
    return rng.standard_normal(shape).astype(BF16)


def _wide(*arrays):
    return [np.asarray(a).astype(np.float64) for a in arrays]


def _errors(got, want):
    diff = np.asarray(got).astype(np.float64) - want
    scale = max(np.abs(want).max(), 1e-30)
    rms_scale = max(np.sqrt(np.mean(want**2)), 1e-30)
    return np.abs(diff).max() / scale, np.sqrt(np.mean(diff**2)) / rms_scale


def _forward_backward(rng, shape_q, shape_k, options, mask=None):
    q, k, v = _bf16(rng, *shape_q), _bf16(rng, *shape_k), _bf16(rng, *shape_k)
    out, lse = scaled_dot_product_attention(
        q, k, v, mask=mask, return_lse=True, **options
    )
    grad_out = _bf16(rng, *out.shape)
    return (q, k, v, out, lse, grad_out)


CASES = {
    "plain": ((2, 3, 70, 64), (2, 3, 90, 64), {}),
    "causal": ((1, 2, 150, 32), (1, 2, 150, 32), {"causal": True}),
    "gqa": ((2, 4, 33, 48), (2, 2, 65, 48), {"causal": True}),
    "window": ((1, 2, 130, 16), (1, 2, 200, 16), {"window": (40, 5)}),
    "alibi": ((1, 4, 50, 64), (1, 4, 80, 64), {"alibi_slopes": [0.5, 0.25, 0.1, 0.05]}),
    "odd_d": ((1, 2, 41, 63), (1, 2, 77, 63), {"causal": True}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_backward_matches_float64_reference(rng, case):
    shape_q, shape_k, options = CASES[case]
    q, k, v, out, lse, grad_out = _forward_backward(rng, shape_q, shape_k, options)
    grads = [
        scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, num_threads=threads, **options
        )
        for threads in (1, 2, 3)
    ]
    for other in grads[1:]:  # the same bits for every thread count
        for a, b in zip(grads[0], other, strict=True):
            assert np.array_equal(a.view(np.uint16), b.view(np.uint16))
    q64, k64, v64, g64 = _wide(q, k, v, grad_out)
    out64, lse64 = _reference.scaled_dot_product_attention(
        q64, k64, v64, return_lse=True, **options
    )
    want = _reference.scaled_dot_product_attention_backward(
        g64, q64, k64, v64, out64, lse64, **options
    )
    for got, ref in zip(grads[0], want, strict=True):
        assert got.dtype == BF16
        max_error, rms_error = _errors(got, ref)
        assert max_error <= MAX_ERROR and rms_error <= RMS_ERROR


@pytest.mark.parametrize("kind", ["bool", "additive"])
def test_masks_and_fully_masked_rows(rng, kind):
    n_q, n_k = 45, 60
    allowed = rng.random((2, 1, n_q, n_k)) < 0.7
    allowed[:, :, 3] = False  # query 3 sees no key
    mask = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf)
    if kind == "additive":
        mask = (mask + rng.standard_normal(mask.shape)).astype(np.float32)
    q, k, v, out, lse, grad_out = _forward_backward(
        rng, (2, 2, n_q, 32), (2, 2, n_k, 32), {}, mask=mask
    )
    dq, dk, dv = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, mask=mask
    )
    assert np.all(dq[:, :, 3].astype(np.float32) == 0)
    q64, k64, v64, g64 = _wide(q, k, v, grad_out)
    mask64 = mask if kind == "bool" else mask.astype(np.float64)
    out64, lse64 = _reference.scaled_dot_product_attention(
        q64, k64, v64, mask=mask64, return_lse=True
    )
    want = _reference.scaled_dot_product_attention_backward(
        g64, q64, k64, v64, out64, lse64, mask=mask64
    )
    for got, ref in zip((dq, dk, dv), want, strict=True):
        assert np.isfinite(got.astype(np.float32)).all()
        max_error, rms_error = _errors(got, ref)
        assert max_error <= MAX_ERROR and rms_error <= RMS_ERROR


def test_no_worse_than_torch_bfloat16(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    options = {"causal": True}
    q, k, v, out, lse, grad_out = _forward_backward(
        rng, (1, 4, 256, 64), (1, 4, 256, 64), options
    )
    ours = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, causal=True
    )
    q64, k64, v64, g64 = _wide(q, k, v, grad_out)
    out64, lse64 = _reference.scaled_dot_product_attention(
        q64, k64, v64, return_lse=True, causal=True
    )
    want = _reference.scaled_dot_product_attention_backward(
        g64, q64, k64, v64, out64, lse64, causal=True
    )
    tq, tk, tv = (
        torch.from_numpy(a.astype(np.float32)).bfloat16().requires_grad_()
        for a in (q, k, v)
    )
    t_out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    theirs = torch.autograd.grad(
        t_out, (tq, tk, tv), torch.from_numpy(g64.astype(np.float32)).bfloat16()
    )
    for got, their, ref in zip(ours, theirs, want, strict=True):
        our_max, our_rms = _errors(got, ref)
        their_max, their_rms = _errors(their.double().numpy(), ref)
        assert our_max <= 1.25 * their_max and our_rms <= 1.05 * their_rms


def _backward_kernels():
    module = kernels("backward")
    if not module.BF16_TILES:
        pytest.skip("this target has no bfloat16 tiles")
    return module


@pytest.mark.parametrize(
    "m, k, n",
    # (601, 40, 700): sums over more pairs than one chunk (GEMM_PAIRS = 256)
    [(1, 2, 1), (7, 6, 130), (97, 64, 40), (300, 512, 384), (601, 40, 700)],
)
def test_gradient_gemm_matches_reference(rng, m, k, n):
    module = _backward_kernels()
    x, dy = _bf16(rng, m, k), _bf16(rng, m, n)
    w = rng.standard_normal((k, n)).astype(np.float32)
    a = module.bf16_pack_pairs_t(x.view(np.uint16))  # x^T, pairs of rows
    b = module.bf16_pack_pairs(dy.view(np.uint16))
    dw = [np.empty((k, n), np.float32) for _ in range(3)]
    for threads, out in zip((1, 2, 3), dw, strict=True):
        module.bf16_gemm(a, b, out, False, threads)
    assert all(np.array_equal(dw[0], other) for other in dw[1:])
    want = _reference.gemm_16(x.T, dy, BF16)
    bound = 1e-5 * (np.abs(x.astype(np.float64)).T @ np.abs(dy.astype(np.float64)))
    assert np.all(np.abs(dw[0] - want) <= bound + 1e-30)
    # dx = dy w^T: a bfloat16 row is its pairs; w^T packed as pairs of rows.
    w_t = np.ascontiguousarray(w.T.astype(BF16))
    packed = module.bf16_pack_pairs(w_t.view(np.uint16))
    if n % 2 == 0:
        dx = np.empty((m, k), np.float32)
        module.bf16_gemm(dy.view(np.uint32), packed, dx, False, 2)
        want = _reference.gemm_16(dy, w.T, BF16)
        bound = 1e-5 * (np.abs(dy.astype(np.float64)) @ np.abs(w_t.astype(np.float64)))
        assert np.all(np.abs(dx - want) <= bound + 1e-30)
        again = dx.copy()
        module.bf16_gemm(dy.view(np.uint32), packed, again, True, 2)
        np.testing.assert_array_equal(again, dx + dx)
        narrow = np.empty((m, k), BF16)
        module.bf16_gemm(dy.view(np.uint32), packed, narrow.view(np.uint16), False, 2)
        np.testing.assert_array_equal(narrow, dx.astype(BF16))


def test_gradient_gemm_refuses_what_does_not_fit():
    module = _backward_kernels()
    a = np.zeros((4, 3), np.uint32)
    b = module.bf16_pack_pairs(np.zeros((6, 5), np.uint16))
    with pytest.raises(ValueError, match="do not fit"):
        module.bf16_gemm(a, b, np.empty((4, 17), np.float32), False, 1)
    with pytest.raises(ValueError, match="float32 or uint16"):
        module.bf16_gemm(a, b, np.empty((4, 5), np.float64), False, 1)
    with pytest.raises(ValueError, match="cannot accumulate"):
        module.bf16_gemm(a, b, np.empty((4, 5), np.uint16), True, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        module.bf16_gemm(a, b, np.empty((4, 10), np.float32)[:, ::2], False, 1)


@pytest.mark.parametrize(
    "call", ["self", "self_gqa", "cross", "cross_value_is_key", "window_alibi"]
)
def test_layer_training_step_matches_float64_reference(rng, call):
    """A bfloat16 MultiHeadAttention's gradients against the float64 layer's on
    the same bfloat16 values (inputs, weights): on the tiles every GEMM rounds
    its dy to bfloat16, so they agree to a few bfloat16 roundings; the same bits
    for any thread count."""
    kv_heads = 2 if call in ("self_gqa", "cross") else None
    extra = {}
    if call == "window_alibi":
        extra = {"window": 7, "alibi_slopes": alibi_slopes(4)}
    layer = MultiHeadAttention(64, 4, n_kv_heads=kv_heads, dtype=BF16, seed=1, **extra)
    wide = MultiHeadAttention(
        64, 4, n_kv_heads=kv_heads, dtype=np.float64, seed=1, **extra
    )
    x, y = _bf16(rng, 2, 37, 64), _bf16(rng, 2, 41, 64)
    args = {
        "self": (x,),
        "self_gqa": (x,),
        "window_alibi": (x,),
        "cross": (x, y, y + 1),
        "cross_value_is_key": (x, y),
    }[call]
    causal = {"causal": True} if len(args) == 1 else {}
    grad = _bf16(rng, 2, 37, 64)
    results = []
    for threads in (1, 2):
        layer.zero_grad()
        layer(*args, keep_for_backward=True, num_threads=threads, **causal)
        d_inputs = layer.backward(grad, num_threads=threads)
        d_inputs = d_inputs if isinstance(d_inputs, tuple) else (d_inputs,)
        results.append((d_inputs, {k: v.copy() for k, v in layer.grads.items()}))
    (d1, g1), (d2, g2) = results
    assert all(
        np.array_equal(a.view(np.uint16), b.view(np.uint16)) for a, b in zip(d1, d2)
    )
    assert all(np.array_equal(g1[name], g2[name]) for name in g1)
    for name, value in layer.parameters().items():
        setattr(wide, name, value.astype(BF16).astype(np.float64))
    wide(*(a.astype(np.float64) for a in args), keep_for_backward=True, **causal)
    want = wide.backward(grad.astype(np.float64))
    want = want if isinstance(want, tuple) else (want,)
    for got, ref in zip(d1, want, strict=True):
        assert got.dtype == BF16
        # a few bfloat16 roundings (projections, attention, dy of each GEMM)
        assert _errors(got, ref)[1] <= 4 * RMS_ERROR
    for name, ref in wide.grads.items():
        assert g1[name].dtype == np.float32
        if (
            name == "b_K"
        ):  # softmax ignores a bias shared by every key: 0 up to rounding
            assert np.abs(g1[name]).max() <= 1e-2 * np.abs(wide.grads["b_Q"]).max()
            continue
        assert _errors(g1[name], ref)[1] <= 4 * RMS_ERROR


@pytest.mark.parametrize("cross", [False, True])
def test_attention_head_training_step_matches_float64_reference(rng, cross):
    head = AttentionHead(32, 16, d_v=24, bias=True, dtype=BF16, seed=3)
    wide = AttentionHead(32, 16, d_v=24, bias=True, dtype=np.float64, seed=3)
    for name, value in head.parameters().items():
        setattr(wide, name, value.astype(BF16).astype(np.float64))
    x, c = _bf16(rng, 3, 21, 32), _bf16(rng, 3, 30, 32)
    args = (x, c) if cross else (x,)
    grad = _bf16(rng, 3, 21, 24)
    results = []
    for threads in (1, 2):
        head.zero_grad()
        head(*args, keep_for_backward=True, num_threads=threads)
        d_inputs = head.backward(grad, num_threads=threads)
        d_inputs = d_inputs if isinstance(d_inputs, tuple) else (d_inputs,)
        results.append((d_inputs, {k: v.copy() for k, v in head.grads.items()}))
    (d1, g1), (d2, g2) = results
    assert all(
        np.array_equal(a.view(np.uint16), b.view(np.uint16)) for a, b in zip(d1, d2)
    )
    assert all(np.array_equal(g1[name], g2[name]) for name in g1)
    wide(*(a.astype(np.float64) for a in args), keep_for_backward=True)
    want = wide.backward(grad.astype(np.float64))
    want = want if isinstance(want, tuple) else (want,)
    for got, ref in zip(d1, want, strict=True):
        assert got.dtype == BF16
        assert _errors(got, ref)[1] <= 4 * RMS_ERROR
    for name, ref in wide.grads.items():
        assert g1[name].dtype == np.float32
        if name == "b_K":  # softmax ignores a bias shared by every key
            continue
        assert _errors(g1[name], ref)[1] <= 4 * RMS_ERROR
