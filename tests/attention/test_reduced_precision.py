"""bfloat16 and float16 attention: the functions, the layers and the torch bridge.

The reference is the float64 computation on the same (16-bit) values. A 16-bit
result differs from it by the rounding of the output (and, on the bfloat16
tiles, of the probabilities P before P·V, as FlashAttention rounds them), so
the tolerances are a few units of the dtype's epsilon relative to max |v|.
Every test runs under every CPU target of this machine (tests/conftest.py):
the AVX512-BF16 tiles, and the conversion to float32 elsewhere.
"""

import numpy as np
import pytest

from attnsearch.attention import (
    AttentionHead,
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
# (dtype, tolerance relative to max |v|): a few epsilons of the dtype (bfloat16
# 2^-8 = 3.9e-3, float16 2^-11 = 4.9e-4).
DTYPES = [
    pytest.param(BF16, 1.6e-2, id="bfloat16"),
    pytest.param(F16, 2e-3, id="float16"),
]

pytestmark = pytest.mark.usefixtures("cpu_target")


def _qkv(rng, dtype, shape_q, shape_k, d_v=None):
    q = rng.standard_normal(shape_q).astype(dtype)
    k = rng.standard_normal(shape_k).astype(dtype)
    v_shape = shape_k[:-1] + ((d_v or shape_k[-1]),)
    v = rng.standard_normal(v_shape).astype(dtype)
    return q, k, v


def _wide(*arrays):
    return [a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize(
    "n_q, n_k, d", [(1, 7, 8), (5, 33, 16), (40, 70, 64), (130, 257, 32)]
)
@pytest.mark.parametrize("causal", [False, True])
def test_forward_matches_float64_reference(rng, dtype, tol, n_q, n_k, d, causal):
    q, k, v = _qkv(rng, dtype, (2, 3, n_q, d), (2, 3, n_k, d))
    out, lse = scaled_dot_product_attention(q, k, v, causal=causal, return_lse=True)
    assert out.dtype == dtype and lse.dtype == np.float32
    want, want_lse = _reference.scaled_dot_product_attention(
        *_wide(q, k, v), causal=causal, return_lse=True
    )
    err = np.abs(out.astype(np.float64) - want).max()
    assert err <= tol * np.abs(want).max()
    np.testing.assert_allclose(lse, want_lse, rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_masks_windows_alibi_gqa_and_fully_masked_rows(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (2, 4, 24, 16), (2, 2, 40, 16), d_v=8)
    mask = rng.random((24, 40)) > 0.3
    mask[3] = False  # a row that sees no key: zeros, lse -inf
    slopes = np.array([0.5, 0.25, 0.125, 0.0625])
    kwargs = dict(mask=mask, window=(9, 4), alibi_slopes=slopes)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    k64, v64 = (np.repeat(a, 2, axis=1) for a in _wide(k, v))
    want, want_lse = _reference.scaled_dot_product_attention(
        q.astype(np.float64),
        k64,
        v64,
        mask=mask,
        window=(9, 4),
        alibi_slopes=np.broadcast_to(slopes, (2, 4)),
        return_lse=True,
    )
    assert np.all(out[:, :, 3] == 0) and np.all(np.isneginf(lse[:, :, 3]))
    assert np.abs(out.astype(np.float64) - want).max() <= tol * np.abs(want).max()
    finite = np.isfinite(want_lse)
    np.testing.assert_allclose(lse[finite], want_lse[finite], rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_additive_float32_mask_and_weights(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (1, 17, 8), (1, 21, 8))
    mask = rng.standard_normal((17, 21)).astype(np.float32)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert weights.dtype == dtype
    want, want_w = _reference.scaled_dot_product_attention(
        *_wide(q, k, v), mask=mask.astype(np.float64), return_weights=True
    )
    assert np.abs(out.astype(np.float64) - want).max() <= tol * np.abs(want).max()
    assert np.abs(weights.astype(np.float64) - want_w).max() <= tol


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_same_bits_for_every_thread_count(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (3, 2, 70, 32), (3, 2, 90, 32))
    one = scaled_dot_product_attention(q, k, v, causal=True, num_threads=1)
    for n in (2, 3):
        many = scaled_dot_product_attention(q, k, v, causal=True, num_threads=n)
        assert np.array_equal(one.view(np.uint16), many.view(np.uint16))


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_decode_path_single_query(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (2, 4, 1, 32), (2, 4, 300, 32))
    out = scaled_dot_product_attention(q, k, v)
    want = _reference.scaled_dot_product_attention(*_wide(q, k, v))
    assert out.dtype == dtype
    assert np.abs(out.astype(np.float64) - want).max() <= tol * np.abs(want).max()


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_backward_matches_float64_reference(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (2, 2, 30, 16), (2, 2, 45, 16))
    out, lse = scaled_dot_product_attention(q, k, v, causal=True, return_lse=True)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grads = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, causal=True
    )
    q64, k64, v64 = _wide(q, k, v)
    out64, lse64 = _reference.scaled_dot_product_attention(
        q64, k64, v64, causal=True, return_lse=True
    )
    want = _reference.scaled_dot_product_attention_backward(
        grad_out.astype(np.float64), q64, k64, v64, out64, lse64, causal=True
    )
    for got, ref in zip(grads, want):
        assert got.dtype == dtype
        # The saved 16-bit output enters D = rowsum(dO * O): a few epsilons more.
        assert np.abs(got.astype(np.float64) - ref).max() <= 4 * tol * np.abs(ref).max()


def test_mixed_16_bit_dtypes_are_refused(rng):
    q, k, v = _qkv(rng, BF16, (1, 4, 8), (1, 5, 8))
    with pytest.raises(TypeError, match="mixed dtypes"):
        scaled_dot_product_attention(q, k.astype(np.float32), v)
    with pytest.raises(TypeError, match="mixed dtypes"):
        scaled_dot_product_attention(q, k, v.astype(np.float16))


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_non_finite_16_bit_inputs_are_refused(rng, dtype, tol):
    q, k, v = _qkv(rng, dtype, (1, 4, 8), (1, 5, 8))
    for bad in (np.inf, -np.inf, np.nan):
        k2 = k.copy()
        k2[0, 2, 1] = bad
        with pytest.raises(ValueError, match="k contains NaN or infinity"):
            scaled_dot_product_attention(q, k2, v)


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_multihead_layer_is_the_float32_layer_on_16_bit_values(rng, dtype, tol):
    layer = MultiHeadAttention(32, 4, dtype=dtype, seed=0)
    wide = MultiHeadAttention(32, 4, dtype=np.float32, seed=0)
    assert layer.dtype == dtype and layer.W_O.dtype == np.float32
    x = rng.standard_normal((2, 20, 32)).astype(dtype)
    out = layer(x, causal=True, keep_for_backward=True)
    want = wide(x.astype(np.float32), causal=True, keep_for_backward=True)
    assert out.dtype == dtype
    assert np.abs(out.astype(np.float32) - want).max() <= 2 * tol * np.abs(want).max()
    grad = rng.standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(grad.astype(dtype))
    dx_want = wide.backward(grad.astype(dtype).astype(np.float32))
    assert dx.dtype == dtype
    assert (
        np.abs(dx.astype(np.float32) - dx_want).max() <= 4 * tol * np.abs(dx_want).max()
    )
    for name in ("W_Q", "W_V", "W_O"):
        assert layer.grads[name].dtype == np.float32
        ref = wide.grads[name]
        assert np.abs(layer.grads[name] - ref).max() <= 4 * tol * np.abs(ref).max()


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_attention_head_and_cached_decode(rng, dtype, tol):
    head = AttentionHead(16, 8, dtype=dtype, seed=1)
    x = rng.standard_normal((3, 12, 16))
    assert head(x).dtype == dtype
    layer = MultiHeadAttention(32, 4, dtype=dtype, seed=2)
    x = rng.standard_normal((1, 9, 32)).astype(dtype)
    cache = layer.new_cache(1, 16)
    layer(x[:, :8], cache=cache)
    step = layer(x[:, 8:], cache=cache)
    full = layer(x, causal=True)
    assert step.dtype == dtype
    # The cache holds float32 keys and values; the full forward rounds them.
    np.testing.assert_allclose(
        step.astype(np.float32), full[:, 8:].astype(np.float32), atol=4 * tol
    )


def test_layer_dtype_names_and_refusals():
    assert MultiHeadAttention(8, 2, dtype="bfloat16").dtype == BF16
    assert "dtype=float16" in repr(AttentionHead(8, dtype=np.float16))
    with pytest.raises(TypeError, match="bfloat16"):
        MultiHeadAttention(8, 2, dtype=np.int16)
    layer = MultiHeadAttention(8, 2, dtype=np.float16)
    with pytest.raises(ValueError, match="out of the range of float16"):
        layer(np.full((1, 3, 8), 1e6))


def test_optimiser_updates_float32_master_weights(rng):
    from attnsearch.optim import SGD

    layer = MultiHeadAttention(16, 2, dtype=BF16, seed=0)
    x = rng.standard_normal((2, 6, 16))
    out = layer(x, keep_for_backward=True)
    layer.backward(np.ones(out.shape, np.float32))
    before = layer.W_Q.copy()
    SGD(layer, lr=1e-6).step()  # below bfloat16's resolution of W_Q
    changed = layer.W_Q != before
    assert changed.any() and layer.W_Q.dtype == np.float32


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_torch_bridge_takes_16_bit_tensors(name):
    torch = pytest.importorskip("torch")
    from attnsearch.attention.torch import scaled_dot_product_attention as ours

    dtype = getattr(torch, name)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, 19, 16, generator=gen, dtype=dtype).requires_grad_()
        for _ in range(3)
    )
    out = ours(q, k, v, is_causal=True)
    assert out.dtype == dtype
    out.float().sum().backward()
    ref = [t.detach().double().requires_grad_() for t in (q, k, v)]
    want = torch.nn.functional.scaled_dot_product_attention(*ref, is_causal=True)
    want.sum().backward()
    tol = 1.6e-2 if name == "bfloat16" else 2e-3
    assert (out.double() - want).abs().max() <= tol * want.abs().max()
    for got, r in zip((q, k, v), ref):
        assert got.grad.dtype == dtype
        assert (got.grad.double() - r.grad).abs().max() <= 4 * tol * r.grad.abs().max()


@pytest.mark.parametrize(
    "n, n_in, n_out", [(1, 2, 1), (5, 6, 130), (97, 64, 40), (200, 512, 384)]
)
def test_bfloat16_projection_gemm_matches_reference(rng, n, n_in, n_out):
    from attnsearch._dispatch import kernels

    attention_kernels = kernels("attention")
    if not attention_kernels.BF16_TILES:
        pytest.skip("this target has no bfloat16 tiles")
    x = rng.standard_normal((n, n_in)).astype(BF16)
    w = rng.standard_normal((n_in, n_out)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    packed = attention_kernels.bf16_pack_weight(w.astype(BF16).view(np.uint16))
    outs = []
    for threads in (1, 2, 3):
        out = np.empty((n, n_out), BF16)
        attention_kernels.bf16_linear(
            x.view(np.uint16), packed, n_out, b, out.view(np.uint16), threads
        )
        outs.append(out.view(np.uint16))
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    want = _reference.linear_16(x, w, b, BF16).astype(np.float64)
    got = outs[0].view(BF16).astype(np.float64)
    # float32 accumulation, then one rounding: at most one bfloat16 ulp apart.
    assert np.all(
        np.abs(got - want) <= 2**-7 * np.abs(want) + 1e-6 * np.abs(want).max()
    )


def test_bfloat16_gemm_refuses_what_does_not_fit(rng):
    from attnsearch._dispatch import kernels

    attention_kernels = kernels("attention")
    if not attention_kernels.BF16_TILES:
        pytest.skip("this target has no bfloat16 tiles")
    with pytest.raises(ValueError, match="even"):
        attention_kernels.bf16_pack_weight(np.zeros((3, 4), np.uint16))
    packed = attention_kernels.bf16_pack_weight(np.zeros((4, 4), np.uint16))
    out = np.empty((2, 4), np.uint16)
    with pytest.raises(ValueError, match="do not fit"):
        attention_kernels.bf16_linear(
            np.zeros((2, 6), np.uint16), packed, 4, None, out, 1
        )
    with pytest.raises(ValueError, match="bias"):
        attention_kernels.bf16_linear(
            np.zeros((2, 4), np.uint16), packed, 4, np.zeros(3, np.float32), out, 1
        )


# bound on |cached step - full forward| for each cache dtype (N(0, 1) inputs):
# the rounding/quantisation of the cached keys and values.
CACHE_TOLERANCE = {"float32": 1e-5, "bfloat16": 2e-2, "float16": 3e-3, "int8": 4e-2}


@pytest.mark.parametrize("layer_dtype", [np.float32, BF16, F16], ids=str)
@pytest.mark.parametrize("cache_dtype", list(CACHE_TOLERANCE))
def test_layers_decode_through_compressed_caches(rng, layer_dtype, cache_dtype):
    layer = MultiHeadAttention(
        64, 8, n_kv_heads=2, window=12, dtype=layer_dtype, seed=0
    )
    x = rng.standard_normal((2, 20, 64)).astype(np.float32)
    cache = layer.new_cache(2, 32, dtype=cache_dtype)
    assert cache.dtype.name == cache_dtype
    layer(x[:, :15], cache=cache)
    step = layer(x[:, 15:16], cache=cache)
    full = layer(x[:, :16], causal=True)
    assert step.dtype == layer.dtype and cache.position == 16
    tol = max(CACHE_TOLERANCE[cache_dtype], 2e-2 if layer_dtype == BF16 else 3e-3)
    err = np.abs(step.astype(np.float32) - full[:, 15:16].astype(np.float32)).max()
    assert err <= tol


def test_a_16_bit_layer_gets_a_16_bit_cache_and_weights_need_an_exact_one(rng):
    assert MultiHeadAttention(16, 2, dtype=BF16).new_cache(1, 4).dtype == BF16
    layer = MultiHeadAttention(16, 2, seed=0)
    cache = layer.new_cache(1, 8, dtype="int8")
    with pytest.raises(ValueError, match="need_weights"):
        layer(rng.standard_normal((1, 2, 16)), cache=cache, need_weights=True)
    assert cache.position == 0
