"""KVCache and incremental decoding with MultiHeadAttention (equal to the full
forward over the whole sequence)."""

import numpy as np
import pytest

from attnsearch.attention import KVCache, MultiHeadAttention, alibi_slopes

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

#: Incremental decoding against the full forward: the bounds the README promises.
EQUAL = {
    np.dtype(np.float32): {"rtol": 1e-6, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-12},
}


def test_cache_append_views_and_reset(rng):
    cache = KVCache(2, 3, 10, 4, d_v=5, dtype=np.float64)
    assert cache.length == 0 and cache.keys.shape == (2, 3, 0, 4) and len(cache) == 0
    k1, v1 = rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(2, 3, 4, 5))
    cache.append(k1, v1)
    k2, v2 = rng.normal(size=(2, 3, 1, 4)), rng.normal(size=(2, 3, 1, 5))
    cache.append(k2, v2)
    assert cache.length == 5 and cache.position == 5
    np.testing.assert_array_equal(cache.keys, np.concatenate([k1, k2], axis=2))
    np.testing.assert_array_equal(cache.values, np.concatenate([v1, v2], axis=2))
    # Views of the preallocated buffers: no copy, and not writable by accident.
    assert np.shares_memory(cache.keys, cache._k)
    with pytest.raises(ValueError, match="read-only"):
        cache.keys[0, 0, 0, 0] = 1.0
    # A head-split view (any strides) can be appended.
    cache.append(
        np.swapaxes(rng.normal(size=(2, 2, 3, 4)), 1, 2), np.zeros((2, 3, 2, 5))
    )
    assert cache.length == 7
    cache.reset()
    assert cache.length == 0 and cache.position == 0
    assert cache.nbytes == 2 * 3 * 10 * (4 + 5) * 8
    assert "capacity=10" in repr(cache)


def test_cache_errors_leave_it_unchanged(rng):
    cache = KVCache(1, 2, 6, 4)
    k = rng.normal(size=(1, 2, 5, 4)).astype(np.float32)
    cache.append(k, k)
    before = cache.keys.copy()
    with pytest.raises(ValueError, match="overflow: it holds 5 of 6"):
        cache.append(k[:, :, :2], k[:, :, :2])
    with pytest.raises(TypeError, match="dtype float64 but the cache holds float32"):
        cache.append(k[:, :, :1].astype(np.float64), k[:, :, :1])
    with pytest.raises(ValueError, match="must have shape"):
        cache.append(k[:, :1, :1], k[:, :1, :1])
    with pytest.raises(ValueError, match="must have shape"):
        cache.append(k[:, :, :1, :3], k[:, :, :1, :3])
    with pytest.raises(ValueError, match="new positions"):
        cache.append(k[:, :, :1], k[:, :, :0])
    bad = k[:, :, :1].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cache.append(bad, k[:, :, :1])
    assert cache.length == 5
    np.testing.assert_array_equal(cache.keys, before)
    for args, error in [
        ((0, 1, 1, 1), ValueError),
        ((1, 1, 1.5, 1), ValueError),
        ((1, True, 1, 1), ValueError),
    ]:
        with pytest.raises(error):
            KVCache(*args)
    with pytest.raises(TypeError, match="dtype"):
        KVCache(1, 1, 1, 1, dtype=np.int32)
    with pytest.raises(TypeError, match="ring must be a bool"):
        KVCache(1, 1, 1, 1, ring="yes")


def test_ring_cache_keeps_the_last_positions_in_order(rng):
    cache = KVCache(1, 1, 4, 2, dtype=np.float64, ring=True)
    seen = []
    for n in (3, 2, 1, 6, 1):
        k = rng.normal(size=(1, 1, n, 2))
        cache.append(k, -k)
        seen.append(k)
        everything = np.concatenate(seen, axis=2)
        np.testing.assert_array_equal(cache.keys, everything[:, :, -4:])
        np.testing.assert_array_equal(cache.values, -everything[:, :, -4:])
        assert cache.length == min(4, everything.shape[2])
        assert cache.position == everything.shape[2]
        assert np.shares_memory(cache.keys, cache._k)


LAYERS = [
    dict(n_kv_heads=2),  # grouped-query
    dict(n_kv_heads=8),  # multi-head
    dict(n_kv_heads=1, alibi_slopes=alibi_slopes(8)),  # multi-query with ALiBi
    dict(n_kv_heads=2, window=5),  # sliding window (last 5 positions)
    dict(n_kv_heads=4, window=(3, None), alibi_slopes=alibi_slopes(8)),
]


CASES = [(options, False) for options in LAYERS] + [
    (options, True) for options in LAYERS if "window" in options
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options, ring",
    CASES,
    ids=["gqa", "mha", "mqa-alibi", "window", "window-alibi", "ring", "ring-alibi"],
)
def test_incremental_decoding_equals_the_full_forward(rng, dtype, options, ring):
    layer = MultiHeadAttention(64, 8, dtype=dtype, seed=0, **options)
    layer.b_Q = rng.normal(size=64)
    layer.b_K = rng.normal(size=layer.kv_width)
    x = rng.standard_normal((2, 40, 64)).astype(dtype)
    full = layer(x, causal=True)
    cache = layer.new_cache(2, 12 if ring else 40, ring=ring)
    pieces, start = [], 0
    for n in (7, 1, 1, 16, 1, 3, 11):  # a prompt, single tokens, chunks
        pieces.append(layer(x[:, start : start + n], cache=cache))
        start += n
    assert cache.position == 40
    np.testing.assert_allclose(
        np.concatenate(pieces, axis=1), full, **EQUAL[np.dtype(dtype)]
    )
    # Unbatched input with a batch-1 cache.
    cache1 = layer.new_cache(1, 40)
    first = layer(x[0, :39], cache=cache1)
    last = layer(x[0, 39:], cache=cache1)
    np.testing.assert_allclose(
        np.concatenate([first, last]), full[0], **EQUAL[np.dtype(dtype)]
    )


def test_cached_decoding_with_masks_and_weights(rng):
    layer = MultiHeadAttention(32, 4, n_kv_heads=2, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 9, 32))
    padding = np.zeros((2, 9), bool)
    padding[1, :2] = True  # left padding of the second sequence
    full, full_w = layer(x, causal=True, key_padding_mask=padding, need_weights=True)
    cache = layer.new_cache(2, 9)
    layer(x[:, :8], cache=cache, key_padding_mask=padding[:, :8])
    out, weights = layer(
        x[:, 8:], cache=cache, key_padding_mask=padding, need_weights=True
    )
    np.testing.assert_allclose(out, full[:, 8:], **EQUAL[np.dtype(np.float64)])
    np.testing.assert_allclose(weights, full_w[:, 8:], **EQUAL[np.dtype(np.float64)])


def test_cache_call_errors(rng):
    layer = MultiHeadAttention(16, 4, n_kv_heads=2, seed=0)
    x = rng.standard_normal((2, 3, 16)).astype(np.float32)
    cache = layer.new_cache(2, 4)
    with pytest.raises(ValueError, match="causal"):
        layer(x, cache=cache, causal=False)
    with pytest.raises(ValueError, match="self-attention"):
        layer(x, x, cache=cache)
    with pytest.raises(ValueError, match="progress"):
        layer(x, cache=cache, progress=True)
    with pytest.raises(TypeError, match="KVCache"):
        layer(x, cache={"k": 1})
    with pytest.raises(ValueError, match="does not fit"):
        layer(x, cache=KVCache(2, 4, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        layer(x[:1], cache=cache)
    with pytest.raises(TypeError, match="holds float64"):
        layer(x, cache=KVCache(2, 2, 4, 4, dtype=np.float64))
    layer(x, cache=cache)
    with pytest.raises(ValueError, match="overflow"):
        layer(x, cache=cache)
    assert cache.position == 3  # the failed call appended nothing
    ring = layer.new_cache(2, 4, ring=True)
    with pytest.raises(ValueError, match="window"):
        layer(np.concatenate([x, x], axis=1), cache=ring)  # no window: drops keys
    windowed = MultiHeadAttention(16, 4, window=6, seed=0)
    with pytest.raises(ValueError, match="capacity of at least 6"):
        windowed(x, cache=windowed.new_cache(2, 4, ring=True))
    small_ring = windowed.new_cache(2, 7, ring=True)  # pieces of 2 positions
    with pytest.raises(ValueError, match="pieces of 2"):
        windowed(x, cache=small_ring, need_weights=True)
    cross = MultiHeadAttention(16, 4, d_kv=8, seed=0)
    with pytest.raises(ValueError, match="d_kv must equal d_model"):
        cross(x, cache=cross.new_cache(2, 4))


def test_cached_decoding_is_bitwise_identical_for_any_thread_count(rng):
    layer = MultiHeadAttention(64, 8, n_kv_heads=2, window=(20, 0), seed=3)
    x = rng.standard_normal((2, 30, 64)).astype(np.float32)
    runs = []
    for threads in (1, 2, 3):
        cache = layer.new_cache(2, 30)
        steps = [layer(x[:, :9], cache=cache, num_threads=threads)]
        steps += [
            layer(x[:, i : i + 1], cache=cache, num_threads=threads)
            for i in range(9, 30)
        ]
        runs.append(np.concatenate(steps, axis=1))
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
