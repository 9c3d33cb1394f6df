"""int8 KV caches scored by integer dot products (AVX512-VNNI, ``quantize_query``):
the kernel against a NumPy reference that quantises q the same way (integer
dots exact), the documented bound against float32 queries, and the float path
kept by ``quantize_query=False`` and wherever the kernel does not run."""

import numpy as np
import pytest

from attnsearch import _dispatch
from attnsearch.attention import KVCache, PagedKVCache, _reference
from attnsearch.attention._kv_formats import quantize_int8

pytestmark = pytest.mark.usefixtures("cpu_target")

_decode = _dispatch.kernels("decode")


def _has_int8_dots():
    return bool(_decode.decode_constants()["int8_dot_products"])


def _int8_scores_reference(q, k_i8, k_scales, group):
    """float64 scores of q quantised per group of 32 (as the kernel does)
    against int8 keys: sum over groups of q_scale * k_scale * the exact
    integer dot product."""
    q_i8, q_scales = quantize_int8(q, 32)
    scores = np.zeros(q.shape[:-1] + (k_i8.shape[-2],))
    for g in range(q.shape[-1] // 32):
        cols = slice(32 * g, 32 * g + 32)
        dots = np.einsum(
            "...qd,...kd->...qk",
            q_i8[..., cols].astype(np.int64),
            k_i8[..., cols].astype(np.int64),
        )
        k_scale = k_scales[..., (32 * g) // group].astype(np.float64)
        scores += q_scales[..., g, None] * k_scale[..., None, :] * dots
    return scores


def _filled(rng, h_kv, n, d, quant_block=32):
    cache = KVCache(1, h_kv, n, d, dtype=np.int8, quant_block=quant_block)
    k = rng.standard_normal((1, h_kv, n, d)).astype(np.float32)
    v = rng.standard_normal((1, h_kv, n, d)).astype(np.float32)
    cache.append(k, v)
    return cache, k, v


@pytest.mark.parametrize("d", [64, 128, 192, 256])
@pytest.mark.parametrize("group", [32, 64, None])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 7, 8, 70])
def test_score_kernel_matches_the_integer_reference(rng, d, group, rows):
    if not _has_int8_dots():
        with pytest.raises(RuntimeError, match="no int8 dot-product kernel"):
            _decode._dec_qk_i8_memview(
                np.zeros((1, 64), np.float32),
                np.zeros((1, 64), np.int8),
                np.ones((1, 2), np.float32),
                32,
                np.zeros((1, 1), np.float32),
            )
        return
    # Tails of 1, 5 and 13 keys after the 16-, 8- and 4-key trees (1-2 rows)
    # and the 16-key tiles (3 or more rows).
    n_keys = 45
    width = d if group is None else group
    q = (rng.standard_normal((rows, d)) * 3).astype(np.float32)
    q[0, :32] = 0  # an all-zero group of the query
    k_i8, k_scales = quantize_int8(rng.standard_normal((n_keys, d)), width)
    s = np.full((rows, n_keys + 3), np.nan, np.float32)
    _decode._dec_qk_i8_memview(q, k_i8, k_scales, width, s)
    ref = _int8_scores_reference(q, k_i8, k_scales, width)
    # Integer dots are exact: only the float32 scaling and lane sums round.
    scale = np.abs(ref).max()
    np.testing.assert_allclose(s[:, :n_keys], ref, rtol=1e-5, atol=1e-6 * scale)
    assert np.isnan(s[:, n_keys:]).all()  # nothing written past the keys
    # Against float32 queries: within the documented bound per score.
    k_deq = k_i8.astype(np.float64) * np.repeat(k_scales, width, axis=-1)[:, :d]
    exact = q.astype(np.float64) @ k_deq.T
    q_groups = np.abs(q.astype(np.float64)).reshape(rows, d // 32, 32).max(-1)
    k_groups = np.abs(k_deq).reshape(n_keys, d // 32, 32).sum(-1)
    bound = q_groups @ k_groups.T / 254
    assert (np.abs(s[:, :n_keys] - exact) <= bound * (1 + 1e-4) + 1e-5 * scale).all()


@pytest.mark.parametrize("h_q", [2, 4, 6, 8, 16, 20])
def test_attend_matches_the_reference_with_q_quantised(rng, h_q):
    # 2 kv heads: 1, 2, 3, 4, 8 or 10 query rows per kv head (the 1-2 row
    # trees and, from 3 rows, the keys-in-lanes tiles and the int16 P V of the
    # integer-dot kernels where the variant has them).
    h_kv, n, d = 2, 700, 128
    cache, _, _ = _filled(rng, h_kv, n, d)
    q = rng.standard_normal((1, h_q, 1, d)).astype(np.float32)
    out = cache.attend(q)
    k, v = cache.dequantized(np.float64)
    k64 = _reference.expand_kv_heads(q, k)
    v64 = _reference.expand_kv_heads(q, v)
    scale = 1 / np.sqrt(d)
    if _has_int8_dots():
        # The kernel quantises q times the softmax scale.
        q_scaled = (q * np.float32(scale)).astype(np.float32)
        k_i8, k_scales = cache.keys, cache.key_scales
        k_i8 = _reference.expand_kv_heads(q, k_i8)
        k_scales = _reference.expand_kv_heads(q, k_scales)
        s = _int8_scores_reference(q_scaled, k_i8, k_scales, 32)
    else:
        s = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), k64) * scale
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = (p / p.sum(-1, keepdims=True)) @ v64
    # P V then rounds p times the value scales to int16 per block of 128 keys
    # (test_int8_pv): ~2e-5 here, about a tenth of the values' own rounding.
    np.testing.assert_allclose(
        out, ref, rtol=1e-4, atol=4e-5 if _has_int8_dots() else 2e-6
    )
    exact = cache.attend(q, quantize_query=False)
    if not _has_int8_dots():
        np.testing.assert_array_equal(out, exact)
    else:
        assert not np.array_equal(out, exact)  # q really was quantised


@pytest.mark.parametrize("group", [1, 8])
def test_quantised_query_within_the_documented_bound(rng, group):
    # As test_kv_caches' bound (4x the worst of 20 seeds for int8 block 32):
    # the query's rounding adds about as much as the keys' own (p's int16
    # rounding in P V far less).
    h_kv, n, d = 4, 600, 128
    cache, k, v = _filled(rng, h_kv, n, d)
    q = rng.standard_normal((1, h_kv * group, 1, d)).astype(np.float32)
    ref = _reference.scaled_dot_product_attention(
        q.astype(np.float64),
        np.repeat(k.astype(np.float64), group, axis=1),
        np.repeat(v.astype(np.float64), group, axis=1),
        causal=True,
    )
    for quantize_query in (True, False):
        out = cache.attend(q, quantize_query=quantize_query)
        assert np.abs(out - ref).max() < 1.5e-2


@pytest.mark.parametrize("quant_block", [32, 64, None])
@pytest.mark.parametrize("h_q", [2, 4, 8, 16])
def test_paged_bitwise_equals_contiguous(rng, quant_block, h_q):
    # As test_paged_cache's bitwise test, on blocks of 1, 2, 4 and 8 rows.
    n, h_kv, d = 500, 2, 128
    paged = PagedKVCache(4, 256, h_kv, d, dtype=np.int8, quant_block=quant_block)
    sid = paged.add_sequence()
    k = rng.standard_normal((h_kv, n, d)).astype(np.float32)
    v = rng.standard_normal((h_kv, n, d)).astype(np.float32)
    paged.append(sid, k, v)
    alone = KVCache(1, h_kv, n, d, dtype=np.int8, quant_block=quant_block)
    alone.append(k[None], v[None])
    q = rng.standard_normal((1, h_q, 1, d)).astype(np.float32)
    np.testing.assert_array_equal(paged.attend(q, [sid]), alone.attend(q))


@pytest.mark.parametrize("h_q", [4, 16])
def test_bitwise_identical_for_any_thread_count(rng, h_q):
    cache, _, _ = _filled(rng, 2, 5000, 128)
    q = rng.standard_normal((1, h_q, 1, 128)).astype(np.float32)
    first = cache.attend(q, num_threads=1)
    for threads in (2, 3, 7):
        np.testing.assert_array_equal(cache.attend(q, num_threads=threads), first)


def test_quantize_query_must_be_a_bool(rng):
    cache, _, _ = _filled(rng, 2, 10, 64)
    q = np.zeros((1, 2, 1, 64), np.float32)
    with pytest.raises(TypeError, match="quantize_query"):
        cache.attend(q, quantize_query="yes")
