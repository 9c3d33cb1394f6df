"""The fused attention backward against the NumPy reference, finite differences,
torch autograd (when installed), and its invariances."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from attnsearch.attention import (
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    split_heads,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

# Error allowed against the reference, relative to max(1, largest entry).
GRAD_RTOL = {np.float64: 1e-11, np.float32: 2e-5}


def _inputs(rng, q_shape, k_shape, v_shape, dtype):
    q = rng.standard_normal(q_shape).astype(dtype)
    k = rng.standard_normal(k_shape).astype(dtype)
    v = rng.standard_normal(v_shape).astype(dtype)
    return q, k, v


def _forward_backward(q, k, v, rng, **kwargs):
    backward_kwargs = {
        key: kwargs.pop(key) for key in ("block_q", "block_k") if key in kwargs
    }
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape).astype(out.dtype)
    grads = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, **kwargs, **backward_kwargs
    )
    want = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, backend="reference", **kwargs
    )
    return grads, want, (out, lse, grad_out)


def _assert_close(got, want, rtol):
    for name, g, w in zip("qkv", got, want):
        assert g.shape == w.shape, name
        assert g.dtype == w.dtype, name
        assert np.isfinite(g).all(), name
        scale = max(np.abs(w).max(), 1.0)  # gradients here are O(1); some are 0
        err = np.abs(g - w).max() / scale
        assert err <= rtol, f"d{name}: relative error {err:.2e}"


CASES = [
    # q shape, k shape, v shape, kwargs
    ((1, 2, 50, 16), (1, 2, 50, 16), (1, 2, 50, 16), {}),
    ((2, 3, 70, 32), (2, 3, 150, 32), (2, 3, 150, 24), {"causal": True}),
    ((2, 3, 150, 32), (2, 3, 70, 32), (2, 3, 70, 40), {"causal": True}),
    ((2, 8, 65, 16), (2, 2, 65, 16), (2, 2, 65, 8), {}),  # grouped-query
    ((1, 6, 90, 24), (1, 3, 90, 24), (1, 3, 90, 24), {"causal": True}),
    ((2, 2, 40, 8), (1, 2, 60, 8), (2, 1, 60, 8), {}),  # broadcast k, v differ
    ((1, 2, 40, 8), (3, 2, 60, 8), (3, 2, 60, 8), {}),  # broadcast q
    ((33, 5), (47, 5), (47, 3), {"block_q": 16, "block_k": 7}),
    ((2, 70, 12), (2, 90, 12), (2, 90, 20), {"causal": True, "block_k": 13}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("q_shape, k_shape, v_shape, kwargs", CASES)
def test_kernel_matches_reference(rng, dtype, q_shape, k_shape, v_shape, kwargs):
    q, k, v = _inputs(rng, q_shape, k_shape, v_shape, dtype)
    got, want, _ = _forward_backward(q, k, v, rng, **dict(kwargs))
    _assert_close(got, want, GRAD_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["bool", "additive", "padding"])
@pytest.mark.parametrize("causal", [False, True])
def test_masks_and_fully_masked_rows(rng, dtype, kind, causal):
    n_q, n_k = 45, 70
    q, k, v = _inputs(rng, (2, 3, n_q, 16), (2, 3, n_k, 16), (2, 3, n_k, 12), dtype)
    if kind == "bool":
        mask = rng.random((n_q, n_k)) > 0.4
        mask[[3, 30]] = False  # two queries see nothing
    elif kind == "additive":
        mask = rng.standard_normal((2, 1, n_q, n_k))
        mask[:, :, [3, 30]] = -np.inf
        mask[0, 0, 5, ::2] = -np.inf
    else:
        mask = np.ones((2, 1, 1, n_k), dtype=bool)
        mask[1, ..., 40:] = False
    got, want, (out, lse, _) = _forward_backward(
        q, k, v, rng, mask=mask, causal=causal, block_k=32
    )
    _assert_close(got, want, GRAD_RTOL[dtype])
    if kind != "padding":
        assert np.all(lse[..., [3, 30]] == -np.inf)
        assert np.all(got[0][..., [3, 30], :] == 0)


def test_causal_queries_before_every_key_get_zero_gradients(rng):
    # n_q > n_k, bottom-right causal: the first n_q - n_k queries see no key.
    q, k, v = _inputs(rng, (1, 2, 80, 8), (1, 2, 30, 8), (1, 2, 30, 8), np.float64)
    (dq, dk, dv), want, (_, lse, _) = _forward_backward(q, k, v, rng, causal=True)
    assert np.all(lse[..., :50] == -np.inf)
    assert np.all(dq[..., :50, :] == 0)
    _assert_close((dq, dk, dv), want, GRAD_RTOL[np.float64])


def test_forward_lse_matches_reference(rng):
    q, k, v = _inputs(rng, (2, 3, 40, 8), (2, 3, 50, 8), (2, 3, 50, 8), np.float64)
    mask = rng.random((40, 50)) > 0.3
    mask[7] = False
    out, lse = scaled_dot_product_attention(q, k, v, mask=mask, return_lse=True)
    ref_out, ref_lse = _reference.scaled_dot_product_attention(
        q, k, v, mask=mask, return_lse=True
    )
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(ref_lse))
    finite = np.isfinite(ref_lse)
    np.testing.assert_allclose(lse[finite], ref_lse[finite], rtol=1e-13)
    out_w, weights, lse_w = scaled_dot_product_attention(
        q, k, v, mask=mask, return_lse=True, return_weights=True
    )
    np.testing.assert_array_equal(lse_w, lse)
    got = scaled_dot_product_attention(
        q, k, v, mask=mask, return_lse=True, backend="reference"
    )
    np.testing.assert_array_equal(got[1], ref_lse)


def _loss(q, k, v, grad_out, **kwargs):
    out = _reference.scaled_dot_product_attention(q, k, v, **kwargs)
    return float(np.sum(out * grad_out))


@pytest.mark.parametrize(
    "q_shape, k_shape, v_shape, kwargs",
    [
        ((2, 4, 5, 3), (2, 2, 6, 3), (2, 2, 6, 2), {}),
        ((1, 2, 6, 3), (1, 2, 4, 3), (1, 2, 4, 5), {"causal": True}),
        ((7, 3), (5, 3), (5, 4), {"mask": "bool"}),
    ],
)
def test_central_finite_differences(rng, q_shape, k_shape, v_shape, kwargs):
    q, k, v = _inputs(rng, q_shape, k_shape, v_shape, np.float64)
    kwargs = dict(kwargs)
    if kwargs.get("mask") == "bool":
        mask = rng.random((q_shape[-2], k_shape[-2])) > 0.3
        mask[2] = False
        kwargs["mask"] = mask
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape)
    grads = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse, **kwargs)
    step = 1e-6
    arrays = [q, k, v]
    for which, (arr, grad) in enumerate(zip(arrays, grads)):
        numeric = np.zeros_like(arr)
        for index in np.ndindex(arr.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[which][index] += step
            minus[which][index] -= step
            numeric[index] = (
                _loss(*plus, grad_out, **kwargs) - _loss(*minus, grad_out, **kwargs)
            ) / (2 * step)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_against_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    cases = [
        ((2, 4, 37, 16), (2, 4, 53, 16), (2, 4, 53, 24), {}),
        ((2, 4, 64, 16), (2, 4, 64, 16), (2, 4, 64, 16), {"causal": True}),
        ((1, 8, 40, 16), (1, 2, 40, 16), (1, 2, 40, 8), {"gqa": True}),
        ((1, 2, 30, 8), (1, 2, 45, 8), (1, 2, 45, 8), {"mask": True}),
    ]
    for q_shape, k_shape, v_shape, options in cases:
        q, k, v = _inputs(rng, q_shape, k_shape, v_shape, np.float64)
        mask = None
        if options.get("mask"):
            mask = rng.random((q_shape[-2], k_shape[-2])) > 0.3
        causal = options.get("causal", False)
        out, lse = scaled_dot_product_attention(
            q, k, v, mask=mask, causal=causal, return_lse=True
        )
        grad_out = rng.standard_normal(out.shape)
        got = scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, mask=mask, causal=causal
        )
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        t_out = torch.nn.functional.scaled_dot_product_attention(
            tq,
            tk,
            tv,
            attn_mask=None if mask is None else torch.from_numpy(mask),
            is_causal=causal,
            enable_gqa=bool(options.get("gqa")),
        )
        t_out.backward(torch.from_numpy(grad_out))
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=0)
        for g, t in zip(got, (tq, tk, tv)):
            want = t.grad.numpy()
            err = np.abs(g - want).max() / np.abs(want).max()
            assert err <= 1e-10, (q_shape, options, err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(rng, dtype):
    q, k, v = _inputs(rng, (1, 6, 200, 32), (1, 3, 230, 32), (1, 3, 230, 16), dtype)
    out, lse = scaled_dot_product_attention(q, k, v, causal=True, return_lse=True)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    results = [
        scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, causal=True, num_threads=n, block_k=64
        )
        for n in (1, 2, 3)
    ]
    with threadpool_limits(limits=1, user_api="openmp"):
        results.append(
            scaled_dot_product_attention_backward(
                grad_out, q, k, v, out, lse, causal=True, block_k=64
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_block_sizes_agree_to_rounding(rng):
    q, k, v = _inputs(
        rng, (1, 2, 100, 16), (1, 2, 130, 16), (1, 2, 130, 16), np.float64
    )
    out, lse = scaled_dot_product_attention(q, k, v, causal=True, return_lse=True)
    grad_out = rng.standard_normal(out.shape)
    base = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, causal=True
    )
    for block_q, block_k in [(1, 1), (16, 5), (48, 64), (1000, 1000)]:
        got = scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, causal=True, block_q=block_q, block_k=block_k
        )
        _assert_close(got, base, 1e-13)


def test_strided_views_are_read_in_place(rng):
    # Head-split views of a fused projection, as the layers pass them.
    qkv = rng.standard_normal((2, 50, 3 * 32))
    q, k, v = (split_heads(qkv[..., i * 32 : (i + 1) * 32], 4) for i in range(3))
    got, want, _ = _forward_backward(q, k, v, rng)
    _assert_close(got, want, GRAD_RTOL[np.float64])


def test_degenerate_sizes(rng):
    q, k, v = _inputs(rng, (2, 0, 8), (2, 5, 8), (2, 5, 4), np.float64)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    dq, dk, dv = scaled_dot_product_attention_backward(out, q, k, v, out, lse)
    assert dq.shape == q.shape and np.all(dk == 0) and np.all(dv == 0)
    q, k, v = _inputs(rng, (2, 3, 8), (2, 0, 8), (2, 0, 4), np.float64)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    assert np.all(lse == -np.inf)
    dq, dk, dv = scaled_dot_product_attention_backward(out + 1, q, k, v, out, lse)
    assert np.all(dq == 0) and dk.shape == k.shape and dv.shape == v.shape


def test_float16_computes_in_float32_and_returns_float16(rng):
    q, k, v = _inputs(rng, (1, 10, 8), (1, 12, 8), (1, 12, 8), np.float16)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    assert out.dtype == np.float16 and lse.dtype == np.float32
    grads = scaled_dot_product_attention_backward(out, q, k, v, out, lse)
    assert all(g.dtype == np.float16 for g in grads)
    wide = [a.astype(np.float32) for a in (q, k, v)]
    out32, lse32 = scaled_dot_product_attention(*wide, return_lse=True)
    expected = scaled_dot_product_attention_backward(
        out.astype(np.float32), *wide, out32, lse32
    )
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-3, atol=2e-3)


class TestErrors:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.q, self.k, self.v = _inputs(
            rng, (2, 10, 8), (2, 12, 8), (2, 12, 4), np.float64
        )
        self.out, self.lse = scaled_dot_product_attention(
            self.q, self.k, self.v, return_lse=True
        )

    def call(self, **changes):
        args = dict(
            grad_out=self.out, q=self.q, k=self.k, v=self.v, out=self.out, lse=self.lse
        )
        args.update(changes)
        return scaled_dot_product_attention_backward(
            args.pop("grad_out"),
            args.pop("q"),
            args.pop("k"),
            args.pop("v"),
            args.pop("out"),
            args.pop("lse"),
            **args,
        )

    def test_missing_lse(self):
        with pytest.raises(TypeError, match="lse is required"):
            self.call(lse=None)

    def test_wrong_shapes(self):
        with pytest.raises(ValueError, match="out has shape"):
            self.call(out=self.out[:, :5])
        with pytest.raises(ValueError, match="grad_out must have the shape of out"):
            self.call(grad_out=self.out[..., :3])
        with pytest.raises(ValueError, match="lse must have shape"):
            self.call(lse=self.lse[:, :4])
        with pytest.raises(ValueError, match="share the last axis"):
            self.call(k=self.k[..., :3])

    def test_bad_dtypes(self):
        with pytest.raises(TypeError, match="grad_out must be a floating-point"):
            self.call(grad_out=self.out.astype(int))
        with pytest.raises(TypeError, match="lse must be a floating-point"):
            self.call(lse=self.lse.astype(int))

    def test_non_finite(self):
        bad = self.out.copy()
        bad[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="grad_out contains NaN"):
            self.call(grad_out=bad)
        with pytest.raises(ValueError, match="out contains NaN"):
            self.call(out=bad)
        lse = self.lse.copy()
        lse[0, 1] = np.inf
        with pytest.raises(ValueError, match="lse contains NaN"):
            self.call(lse=lse)


@settings(max_examples=25, deadline=None)
@given(
    n_q=st.integers(1, 40),
    n_k=st.integers(1, 40),
    d_k=st.integers(1, 20),
    d_v=st.integers(1, 20),
    group=st.sampled_from([1, 2, 3]),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_matches_reference_and_shift_invariance(
    n_q, n_k, d_k, d_v, group, causal, seed
):
    rng = np.random.default_rng(seed)
    q, k, v = _inputs(
        rng, (group * 2, n_q, d_k), (2, n_k, d_k), (2, n_k, d_v), np.float64
    )
    q, k, v = q.reshape(1, group * 2, n_q, d_k), k[None], v[None]
    (dq, dk, dv), want, (_, lse, grad_out) = _forward_backward(
        q, k, v, rng, causal=causal
    )
    _assert_close((dq, dk, dv), want, 1e-10)
    # Softmax ignores a shift of every key by the same vector: the key gradients
    # of each head sum to zero. Every query that sees a key passes on all of dO
    # to the values: sum_j dV_j = sum_i dO_i over those queries.
    np.testing.assert_allclose(dk.sum(axis=-2), 0, atol=1e-10 * (1 + np.abs(dk).max()))
    sees = np.isfinite(lse)[..., None]
    per_kv = np.where(sees, grad_out, 0).reshape(1, 2, group, n_q, d_v).sum(axis=(2, 3))
    np.testing.assert_allclose(dv.sum(axis=-2), per_kv, atol=1e-10)
