"""Finite inputs never overflow silently. The output of
attention is a convex combination of the values, so it is always representable:
an overflowing accumulator is recomputed exactly; scores beyond the dtype's
range, and layers whose projections overflow, raise a ValueError naming it."""

import numpy as np
import pytest

from attnsearch.attention import (
    AttentionHead,
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def _qkv(rng, dtype, shape=(2, 3, 16, 8)):
    return [rng.standard_normal(shape).astype(dtype) for _ in range(3)]


def test_float32_scores_beyond_range_raise(rng):
    q, k, v = _qkv(rng, np.float32)
    with pytest.raises(ValueError, match="overflows float32.*scores"):
        scaled_dot_product_attention(q * 1e30, k * 1e30, v)


def test_huge_scale_raises_in_float64(rng):
    q, k, v = _qkv(rng, np.float64)
    with pytest.raises(ValueError, match="overflows float64"):
        scaled_dot_product_attention(q, k, v, scale=1e308)


def test_scores_just_inside_the_range_are_computed(rng):
    q, k, v = _qkv(rng, np.float32)
    q = q * 1e17  # scores up to ~1e35: representable in float32
    out = scaled_dot_product_attention(q, k * 1e17, v)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("decode", [False, True])
def test_values_near_the_top_of_float64_give_the_reference(rng, decode):
    n_q = 1 if decode else 24
    q = rng.standard_normal((2, n_q, 4))
    k = np.zeros((2, 30, 4))  # equal scores: the output is the mean of v
    v = rng.uniform(1.0e308, 1.6e308, (2, 30, 3))
    out = scaled_dot_product_attention(q, k, v)
    expected = _reference.scaled_dot_product_attention(q, k, v)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_values_near_the_top_of_float32_with_lse(rng):
    q = rng.standard_normal((1, 5, 4)).astype(np.float32)
    k = rng.standard_normal((1, 64, 4)).astype(np.float32) * 1e-3
    v = np.full((1, 64, 2), 3e38, dtype=np.float32)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    assert np.isfinite(out).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(out, 3e38, rtol=1e-5)


def test_unchecked_inputs_are_the_callers_business(rng):
    q, k, v = _qkv(rng, np.float32)
    with np.errstate(all="ignore"):
        out = scaled_dot_product_attention(q * 1e30, k * 1e30, v, check_finite=False)
    assert out.shape == v.shape  # no check, no exception: documented


def test_backward_refuses_scores_it_cannot_differentiate(rng):
    # Scores ~1e149: the recomputed softmax rounds to nonsense (it returned
    # all-zero value gradients instead of the one-hot rows).
    q = rng.standard_normal((1, 1, 1))
    k = rng.standard_normal((1, 6, 1)) * 1e153
    v = rng.standard_normal((1, 6, 1))
    out, lse = scaled_dot_product_attention(q, k, v, scale=1e-3, return_lse=True)
    with pytest.raises(ValueError, match="too large for a reliable backward"):
        scaled_dot_product_attention_backward(
            np.ones_like(out), q, k, v, out, lse, scale=1e-3
        )


def test_backward_overflowing_gradients_raise(rng):
    q, k, v = _qkv(rng, np.float32, (1, 1, 8, 4))
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    grad_out = np.full_like(out, 3e38)
    with pytest.raises(ValueError, match="backward overflows float32"):
        scaled_dot_product_attention_backward(grad_out, q, k, v * 1e6, out, lse)


@pytest.mark.parametrize("layer_kind", ["mha", "head"])
def test_layers_with_overflowing_projections_raise(rng, layer_kind):
    x = rng.standard_normal((1, 8, 64)).astype(np.float32)
    if layer_kind == "mha":
        layer = MultiHeadAttention(64, 4, seed=0)
    else:
        layer = AttentionHead(64, 16, seed=0)
    assert np.isfinite(layer(x)).all()
    with pytest.raises(ValueError, match="overflows float32"):
        layer(x * 1e20)


def test_layer_in_float64_takes_the_same_inputs(rng):
    x = rng.standard_normal((1, 8, 64)) * 1e20
    layer = MultiHeadAttention(64, 4, seed=0, dtype=np.float64)
    assert np.isfinite(layer(x)).all()


def test_one_overflowing_key_is_not_mistaken_for_a_masked_one():
    # Found by the long fuzz profile: the score -1.7e39 rounded to -inf in
    # float32, the kernels saw a fully masked row and returned 0, not v.
    q = np.array([[[0.12573022]]], np.float32)
    k = np.array([[[-1.3210487e10]]], np.float32)
    v = np.array([[[0.64042264]]], np.float32)
    with pytest.raises(ValueError, match="overflows float32"):
        scaled_dot_product_attention(q, k, v, scale=1e30)
    expected = _reference.scaled_dot_product_attention(
        q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), scale=1e30
    )
    np.testing.assert_allclose(expected, v)  # what float32 could not represent


def test_layer_scores_beyond_the_range_raise():
    # One token whose score rounds to -inf in float32: the layer saw a fully
    # masked row and returned its output bias (zeros), silently.
    layer = MultiHeadAttention(8, 1, seed=0)
    layer.W_K = layer.W_K * 1e37  # finite projections, a score of -4.5e38
    x = np.random.default_rng(5).standard_normal((1, 1, 8)).astype(np.float32) * 10
    with pytest.raises(ValueError, match="overflows float32"):
        layer(x)
    assert np.isfinite(MultiHeadAttention(8, 1, seed=0)(x)).all()


def test_backward_refuses_huge_scores_built_from_tiny_keys():
    # Found by the long fuzz profile: scale 1e300 times keys of 1e-267 gives
    # scores of -1.7e32, but the norm of the keys underflowed to 0, the range
    # check passed and the backward returned all-zero gradients.
    q = np.array([[[0.12573022]]])
    k = np.array([[[-1.32104863e-267]]])
    v = np.array([[[0.64042265]]])
    out, lse = scaled_dot_product_attention(q, k, v, scale=1e300, return_lse=True)
    with pytest.raises(ValueError, match="too large for a reliable backward"):
        scaled_dot_product_attention_backward(
            np.ones_like(out), q, k, v, out, lse, scale=1e300
        )
