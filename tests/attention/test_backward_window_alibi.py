"""Sliding windows and ALiBi in the fused backward: against the NumPy reference,
central finite differences, torch autograd with an explicit band bias (when torch
is installed), thread-count invariance, block sizes, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from attnsearch.attention import (
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

# Error allowed against the reference, relative to max(1, largest entry).
GRAD_RTOL = {np.float64: 1e-11, np.float32: 2e-5}

WINDOWS = [5, (3, 0), (0, 2), (None, 4), (7, None), (40, 3)]


def _inputs(rng, q_shape, k_shape, v_shape, dtype):
    return tuple(
        rng.standard_normal(shape).astype(dtype)
        for shape in (q_shape, k_shape, v_shape)
    )


def _grads(q, k, v, grad_out=None, rng=None, blocks=None, **kwargs):
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    if grad_out is None:
        grad_out = rng.standard_normal(out.shape).astype(out.dtype)
    got = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, **kwargs, **(blocks or {})
    )
    want = scaled_dot_product_attention_backward(
        grad_out, q, k, v, out, lse, backend="reference", **kwargs
    )
    return got, want, grad_out


def _assert_close(got, want, rtol):
    for name, g, w in zip("qkv", got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, name
        assert np.isfinite(g).all(), name
        err = np.abs(g - w).max() / max(np.abs(w).max(), 1.0)
        assert err <= rtol, f"d{name}: relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("alibi", [False, True])
def test_kernel_matches_reference(rng, dtype, window, causal, alibi):
    # Grouped-query heads, n_q != n_k, small blocks: many key and query blocks,
    # some skipped, some straddling a window's edge.
    for n_q, n_k in [(70, 90), (90, 40)]:
        q, k, v = _inputs(rng, (2, 4, n_q, 8), (2, 2, n_k, 8), (2, 2, n_k, 6), dtype)
        slopes = rng.uniform(0.05, 0.6, 4) if alibi else None
        kwargs = dict(causal=causal, window=window, alibi_slopes=slopes)
        for blocks in (None, {"block_q": 16, "block_k": 16}, {"block_k": 48}):
            got, want, _ = _grads(q, k, v, rng=rng, blocks=blocks, **kwargs)
            _assert_close(got, want, GRAD_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["bool", "additive", "padding"])
def test_with_masks(rng, dtype, kind):
    n_q, n_k = 45, 70
    q, k, v = _inputs(rng, (2, 3, n_q, 16), (2, 3, n_k, 16), (2, 3, n_k, 12), dtype)
    if kind == "bool":
        mask = rng.random((2, 1, n_q, n_k)) > 0.3
        mask[0, 0, 5] = False  # a fully masked row
    elif kind == "additive":
        mask = rng.standard_normal((n_q, n_k)).astype(dtype)
        mask[:, ::7] = -np.inf
    else:
        mask = np.ones((2, 1, 1, n_k), dtype=bool)
        mask[1, ..., 50:] = False
    slopes = np.array([[0.1, 0.2, 0.3], [0.5, 0.05, 0.25]])  # (batch, heads)
    for causal in (False, True):
        got, want, _ = _grads(
            q,
            k,
            v,
            rng=rng,
            blocks={"block_q": 16, "block_k": 16},
            mask=mask,
            causal=causal,
            window=(12, 4),
            alibi_slopes=slopes,
        )
        _assert_close(got, want, GRAD_RTOL[dtype])


def test_queries_whose_window_sees_no_key_get_zero_gradients(rng):
    # n_q > n_k: the first queries sit before key 0; with a window unbounded on
    # the left but closed on the right they see nothing (lse = -inf).
    q, k, v = _inputs(rng, (1, 2, 60, 8), (1, 2, 20, 8), (1, 2, 20, 8), np.float64)
    (dq, dk, dv), want, _ = _grads(q, k, v, rng=rng, window=(None, 3))
    _, lse = scaled_dot_product_attention(q, k, v, window=(None, 3), return_lse=True)
    blind = np.isneginf(lse[0, 0])
    assert blind[:30].all() and not blind[-20:].any()
    assert np.all(dq[0, :, :30] == 0)
    _assert_close((dq, dk, dv), want, GRAD_RTOL[np.float64])


def _loss(q, k, v, grad_out, **kwargs):
    out = _reference.scaled_dot_product_attention(q, k, v, **kwargs)
    return float(np.sum(out * grad_out))


@pytest.mark.parametrize(
    "q_shape, k_shape, v_shape, kwargs",
    [
        ((1, 2, 7, 3), (1, 2, 7, 3), (1, 2, 7, 2), {"window": 3}),
        ((1, 2, 6, 3), (1, 2, 8, 3), (1, 2, 8, 2), {"window": (2, 1), "alibi": 1}),
        ((2, 4, 6, 3), (2, 2, 6, 3), (2, 2, 6, 4), {"window": 2, "causal": True}),
        ((1, 4, 5, 3), (1, 2, 7, 3), (1, 2, 7, 2), {"alibi": 1, "causal": True}),
        ((1, 2, 8, 3), (1, 1, 6, 3), (1, 1, 6, 2), {"window": (3, 0), "mask": 1}),
    ],
)
def test_central_finite_differences(rng, q_shape, k_shape, v_shape, kwargs):
    q, k, v = _inputs(rng, q_shape, k_shape, v_shape, np.float64)
    kwargs = dict(kwargs)
    if kwargs.pop("alibi", None):
        kwargs["alibi_slopes"] = rng.uniform(0.1, 0.8, q_shape[-3])
    if kwargs.pop("mask", None):
        kwargs["mask"] = rng.standard_normal((q_shape[-2], k_shape[-2]))
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


def _band_bias(n_q, n_k, causal, window, slopes):
    """The window, causal rule and ALiBi as one explicit additive bias (H, n_q, n_k)."""
    visible = _reference.window_mask(n_q, n_k, window)
    if causal:
        visible &= _reference.causal_mask(n_q, n_k)
    bias = _reference.alibi_bias(slopes, n_q, n_k)
    return np.where(visible, bias, -np.inf)


@pytest.mark.parametrize(
    "causal, window, gqa",
    [(True, 16, False), (False, (9, 3), True), (True, (None, 0), True)],
)
def test_against_torch_autograd_with_an_explicit_band_bias(rng, causal, window, gqa):
    torch = pytest.importorskip("torch")
    n_q, n_k = 50, 70
    k_heads = 2 if gqa else 4
    q, k, v = _inputs(
        rng, (2, 4, n_q, 16), (2, k_heads, n_k, 16), (2, k_heads, n_k, 8), np.float64
    )
    slopes = np.array([0.5, 0.25, 0.125, 0.0625])
    kwargs = dict(causal=causal, window=window, alibi_slopes=slopes)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape)
    got = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse, **kwargs)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    bias = torch.from_numpy(_band_bias(n_q, n_k, causal, window, slopes))
    t_out = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=bias, enable_gqa=gqa
    )
    t_out.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, g, t in zip("qkv", got, (tq, tk, tv)):
        want = t.grad.numpy()
        err = np.abs(g - want).max() / np.abs(want).max()
        assert err <= 1e-10, (name, err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(rng, dtype):
    q, k, v = _inputs(rng, (1, 6, 200, 32), (1, 3, 230, 32), (1, 3, 230, 16), dtype)
    kwargs = dict(causal=True, window=37, alibi_slopes=np.linspace(0.05, 0.5, 6))
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    results = [
        scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, num_threads=n, block_k=64, **kwargs
        )
        for n in (1, 2, 3)
    ]
    with threadpool_limits(limits=1, user_api="openmp"):
        results.append(
            scaled_dot_product_attention_backward(
                grad_out, q, k, v, out, lse, block_k=64, **kwargs
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_block_sizes_agree_to_rounding(rng):
    q, k, v = _inputs(
        rng, (1, 2, 100, 16), (1, 2, 130, 16), (1, 2, 130, 16), np.float64
    )
    kwargs = dict(window=(20, 6), alibi_slopes=np.array([0.3, 0.7]))
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    grad_out = rng.standard_normal(out.shape)
    base = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse, **kwargs)
    for block_q, block_k in [(1, 1), (16, 5), (48, 64), (1000, 1000)]:
        got = scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, block_q=block_q, block_k=block_k, **kwargs
        )
        _assert_close(got, base, 1e-13)


def test_forward_lse_includes_window_and_alibi(rng):
    q, k, v = _inputs(rng, (2, 3, 40, 8), (2, 3, 50, 8), (2, 3, 50, 8), np.float64)
    kwargs = dict(causal=True, window=6, alibi_slopes=np.array([0.2, 0.4, 0.8]))
    _, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    _, ref_lse = _reference.scaled_dot_product_attention(
        q, k, v, return_lse=True, **kwargs
    )
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-13)


def test_return_lse_takes_the_tiled_kernel_for_short_query_blocks(rng, monkeypatch):
    # The decode path (n_q <= 16) writes no log-sum-exp: return_lse must route
    # the call to the tiled kernel, whose lse the backward can use.
    import types

    from attnsearch.attention import _decode_path

    def refuse(*args, **kwargs):
        raise AssertionError("the decode kernel ran")

    monkeypatch.setattr(
        _decode_path, "_decode", types.SimpleNamespace(decode_forward=refuse)
    )
    q, k, v = _inputs(rng, (1, 4, 3, 8), (1, 2, 40, 8), (1, 2, 40, 8), np.float64)
    kwargs = dict(causal=True, window=9, alibi_slopes=np.array([0.1, 0.2, 0.3, 0.4]))
    got, want, _ = _grads(q, k, v, rng=rng, **kwargs)
    _assert_close(got, want, GRAD_RTOL[np.float64])


side = st.one_of(st.none(), st.integers(0, 45))


@settings(max_examples=30, deadline=None)
@given(
    n_q=st.integers(1, 45),
    n_k=st.integers(1, 45),
    group=st.sampled_from([1, 2]),
    window=st.one_of(st.integers(1, 45), st.tuples(side, side)),
    causal=st.booleans(),
    alibi=st.booleans(),
    block_q=st.sampled_from([None, 1, 16]),
    block_k=st.sampled_from([None, 3, 16]),
    seed=st.integers(0, 2**16),
)
def test_property_matches_reference_and_shift_invariance(
    n_q, n_k, group, window, causal, alibi, block_q, block_k, seed
):
    rng = np.random.default_rng(seed)
    q, k, v = _inputs(
        rng, (1, 2 * group, n_q, 5), (1, 2, n_k, 5), (1, 2, n_k, 3), np.float64
    )
    slopes = rng.uniform(0.0, 1.0, 2 * group) if alibi else None
    kwargs = dict(causal=causal, window=window, alibi_slopes=slopes)
    blocks = {"block_q": block_q, "block_k": block_k}
    (dq, dk, dv), want, grad_out = _grads(q, k, v, rng=rng, blocks=blocks, **kwargs)
    _assert_close((dq, dk, dv), want, 1e-10)
    # Shifting every key by one vector changes no probability (ALiBi and the
    # window do not depend on k): each head's key gradients sum to zero.
    np.testing.assert_allclose(dk.sum(axis=-2), 0, atol=1e-10 * (1 + np.abs(dk).max()))
    # Queries that see a key pass all of dO on to the values.
    _, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **kwargs)
    sees = np.isfinite(lse)[..., None]
    per_kv = np.where(sees, grad_out, 0).reshape(1, 2, group, n_q, 3).sum(axis=(2, 3))
    np.testing.assert_allclose(dv.sum(axis=-2), per_kv, atol=1e-10)


class TestErrors:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.q, self.k, self.v = _inputs(
            rng, (1, 2, 6, 4), (1, 2, 6, 4), (1, 2, 6, 4), np.float64
        )
        self.out, self.lse = scaled_dot_product_attention(
            self.q, self.k, self.v, return_lse=True
        )

    def _backward(self, **kwargs):
        return scaled_dot_product_attention_backward(
            np.ones_like(self.out), self.q, self.k, self.v, self.out, self.lse, **kwargs
        )

    def test_window(self):
        for bad in (1.5, "3", (1, 2, 3), (1.0, 2), True):
            with pytest.raises(TypeError, match="window"):
                self._backward(window=bad)
        for bad in (0, -2, (-1, 3), (2, -1)):
            with pytest.raises(ValueError, match="window"):
                self._backward(window=bad)

    def test_alibi_slopes(self):
        with pytest.raises(ValueError, match="does not broadcast to the batch"):
            self._backward(alibi_slopes=np.ones(3))
        with pytest.raises(ValueError, match="NaN or infinity"):
            self._backward(alibi_slopes=np.array([np.inf, 1.0]))
        with pytest.raises(TypeError, match="alibi_slopes must be real"):
            self._backward(alibi_slopes=np.array(["a", "b"]))

    def test_causal_must_be_a_bool(self):
        for bad in ("no", 1, None):
            with pytest.raises(TypeError, match="causal must be a bool"):
                self._backward(causal=bad)
