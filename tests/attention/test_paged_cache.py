"""PagedKVCache: one pool of blocks, a block table per sequence; one decode step
of sequences of different lengths equals each decoded alone through a
contiguous KVCache; free/reuse of blocks; refused calls change nothing."""

import numpy as np
import pytest

from attnsearch.attention import KVCache, PagedKVCache

pytestmark = pytest.mark.usefixtures("cpu_target")

ml_dtypes = pytest.importorskip("ml_dtypes")

TOL = {"rtol": 1e-5, "atol": 2e-6}


def _dtype(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _fill(rng, dtype, lengths, h_kv=2, d=32, block_size=16, n_blocks=None):
    n_blocks = n_blocks or sum(-(-n // block_size) for n in lengths) + 4
    cache = PagedKVCache(n_blocks, block_size, h_kv, d, dtype=_dtype(dtype))
    rows = []
    ids = [cache.add_sequence() for _ in lengths]
    src = np.float64 if dtype == "float64" else np.float32
    for sid, n in zip(ids, lengths):
        k = rng.standard_normal((h_kv, n, d)).astype(src)
        v = rng.standard_normal((h_kv, n, d)).astype(src)
        # in two appends: a prompt, then the rest
        cache.append(sid, k[:, : n // 2], v[:, : n // 2])
        cache.append(sid, k[:, n // 2 :], v[:, n // 2 :])
        rows.append((k, v))
    return cache, ids, rows


def _contiguous(dtype, k, v):
    cache = KVCache(1, k.shape[0], max(1, k.shape[1]), k.shape[2], dtype=_dtype(dtype))
    cache.append(k[None], v[None])
    return cache


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "int8"])
@pytest.mark.parametrize(
    "options",
    [{}, {"window": (50, 0)}, {"alibi_slopes": np.linspace(0.02, 0.3, 8)}],
    ids=["causal", "window", "alibi"],
)
def test_paged_equals_each_sequence_alone(rng, dtype, options):
    lengths = [1, 700, 37, 0, 1200, 16]
    cache, ids, rows = _fill(rng, dtype, lengths)
    n_q = 2
    q_dtype = np.float32 if dtype == "int8" else _dtype(dtype)
    q = rng.standard_normal((len(ids), 8, n_q, 32)).astype(q_dtype)
    out = cache.attend(q, ids, **options)
    assert out.shape == (6, 8, n_q, 32) and out.dtype == q.dtype
    for s, (k, v) in enumerate(rows):
        if lengths[s] == 0:
            assert np.all(out[s] == 0)
            continue
        alone = _contiguous(dtype, k, v).attend(q[s : s + 1], **options)
        tol = TOL if dtype != "bfloat16" else {"rtol": 1e-2, "atol": 1e-2}
        if dtype == "float64":
            tol = {"rtol": 1e-12, "atol": 1e-12}
        np.testing.assert_allclose(
            out[s : s + 1].astype(np.float64), alone.astype(np.float64), **tol
        )
    ref = cache.attend(q, ids, backend="reference", **options)
    np.testing.assert_allclose(
        out.astype(np.float64),
        ref.astype(np.float64),
        **(TOL if dtype in ("float32", "int8") else {"rtol": 1e-2, "atol": 1e-2}),
    )


def test_paged_bitwise_identical_for_any_thread_count(rng):
    cache, ids, _ = _fill(rng, "int8", [3000, 40, 1800, 700])
    q = rng.standard_normal((4, 8, 1, 32)).astype(np.float32)
    one = cache.attend(q, ids, num_threads=1)
    for n in (2, 3):
        np.testing.assert_array_equal(cache.attend(q, ids, num_threads=n), one)
    # the order of the sequences in the call does not matter
    perm = [2, 0, 3, 1]
    np.testing.assert_array_equal(
        cache.attend(q[perm], [ids[i] for i in perm]), one[perm]
    )


def test_blocks_are_freed_and_reused(rng):
    cache, ids, rows = _fill(rng, "float32", [40, 20], block_size=16, n_blocks=5)
    assert cache.free_blocks == 0 and cache.block_table(ids[0]) == (0, 1, 2)
    cache.free_sequence(ids[0])
    assert cache.free_blocks == 3 and cache.sequences == [ids[1]]
    new = cache.add_sequence()
    k = rng.standard_normal((2, 33, 32)).astype(np.float32)
    cache.append(new, k, k)
    assert sorted(cache.block_table(new)) == [0, 1, 2] and cache.free_blocks == 0
    q = rng.standard_normal((2, 4, 1, 32)).astype(np.float32)
    out = cache.attend(q, [ids[1], new])
    np.testing.assert_allclose(
        out[1:], _contiguous("float32", k, k).attend(q[1:]), **TOL
    )
    np.testing.assert_allclose(
        out[:1], _contiguous("float32", *rows[1]).attend(q[:1]), **TOL
    )


def test_refused_calls_change_nothing(rng):
    cache, ids, _ = _fill(rng, "int8", [20, 10], block_size=16, n_blocks=4)
    state = (cache.free_blocks, cache.lengths(ids), [cache.block_table(i) for i in ids])
    one = rng.standard_normal((2, 2, 1, 32)).astype(np.float32)
    big = rng.standard_normal((2, 2, 40, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="pool exhausted.*needs 5 new blocks.*1 of 4"):
        cache.append(ids, big, big)
    with pytest.raises(KeyError, match="unknown sequence id 7"):
        cache.append([ids[0], 7], one, one)
    with pytest.raises(ValueError, match="names a sequence twice"):
        cache.append([ids[0], ids[0]], one, one)
    with pytest.raises(ValueError, match="must have shape"):
        cache.append(ids, one[:, :1], one[:, :1])
    bad = one.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="v contains NaN"):
        cache.append(ids, one, bad)
    with pytest.raises(TypeError, match="seq_ids"):
        cache.append(None, one, one)
    assert state == (
        cache.free_blocks,
        cache.lengths(ids),
        [cache.block_table(i) for i in ids],
    )
    cache.append(ids, one, one)  # still usable
    assert cache.lengths(ids) == [21, 11]
    q = rng.standard_normal((2, 4, 1, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="2 sequences but seq_ids names 1"):
        cache.attend(q, ids[:1])
    with pytest.raises(KeyError, match="unknown sequence"):
        cache.attend(q, [ids[0], 99])
    cache.free_sequence(ids[0])
    with pytest.raises(KeyError, match="after free_sequence"):
        cache.length(ids[0])
    with pytest.raises(ValueError, match="n_blocks must be a positive int"):
        PagedKVCache(0, 16, 1, 8)


# -- MultiHeadAttention(cache=PagedKVCache, sequences=...) -------------------------


@pytest.mark.parametrize("cache_dtype", [np.float32, np.float16, np.int8])
def test_layer_decodes_a_batch_of_sequences_of_different_lengths(cache_dtype):
    from attnsearch.attention import MultiHeadAttention

    rng = np.random.default_rng(3)
    layer = MultiHeadAttention(64, 8, n_kv_heads=2, window=24, seed=0)
    cache = PagedKVCache(32, 16, 2, 8, dtype=cache_dtype)
    texts = [rng.standard_normal((n, 64)) for n in (5, 40, 17)]
    ids = [cache.add_sequence() for _ in texts]
    for seq, text in zip(ids, texts):
        layer(text[:-3], cache=cache, sequences=seq)  # prompts, one at a time
    for t in (3, 2, 1):  # three batched decode steps
        step = layer(
            np.stack([text[-t : len(text) - t + 1] for text in texts]),
            cache=cache,
            sequences=ids,
        )
    assert cache.lengths(ids) == [len(text) for text in texts]
    tol = 1e-5 if cache_dtype == np.float32 else 3e-2
    for row, text in zip(step, texts):
        full = layer(text, causal=True)[-1]
        np.testing.assert_allclose(row[0], full, atol=tol)


def test_a_refused_layer_call_leaves_the_paged_cache_as_it_was():
    from attnsearch.attention import MultiHeadAttention

    layer = MultiHeadAttention(16, 2, seed=0)
    cache = PagedKVCache(4, 4, 2, 8)
    ids = [cache.add_sequence(), cache.add_sequence()]
    layer(np.ones((2, 3, 16)), cache=cache, sequences=ids)
    before = (
        cache.lengths(ids),
        cache.free_blocks,
        [cache.block_table(s) for s in ids],
    )
    overflow = np.ones((2, 1, 16))
    overflow[0, 0, 0] = 1e30
    refused = [
        (dict(query=overflow), ValueError, "overflow"),
        (dict(query=np.ones((3, 1, 16))), ValueError, "shape"),
        (dict(query=np.ones((2, 9, 16))), ValueError, "exhausted"),
        (
            dict(query=np.ones((2, 1, 16)), need_weights=True),
            ValueError,
            "need_weights",
        ),
        (
            dict(query=np.ones((2, 1, 16)), mask=np.ones((1, 4), bool)),
            ValueError,
            "mask",
        ),
    ]
    for kwargs, error, match in refused:
        with pytest.raises(error, match=match):
            layer(cache=cache, sequences=ids, **kwargs)
        after = (
            cache.lengths(ids),
            cache.free_blocks,
            [cache.block_table(s) for s in ids],
        )
        assert after == before
    with pytest.raises(ValueError, match="sequences"):
        layer(np.ones((2, 1, 16)), cache=cache)
    with pytest.raises(ValueError, match="PagedKVCache"):
        layer(np.ones((2, 1, 16)), sequences=ids)
    with pytest.raises(ValueError, match="does not fit"):
        MultiHeadAttention(32, 2)(np.ones((2, 1, 32)), cache=cache, sequences=ids)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "int8"])
@pytest.mark.parametrize("quant_block", [32, 64, None])
def test_paged_bitwise_equals_contiguous_on_the_same_blocks(rng, dtype, quant_block):
    # One chunk, pages of 256 keys (a multiple of the kernel's inner block
    # of 128 or 256 keys): the paged walk
    # reads the same rows and scales in the same blocks as the contiguous
    # one, so the outputs are bitwise equal (d 128: the int8 groups of 32/64
    # and a scale per row are read in registers).
    n, h_kv, d = 500, 2, 128
    paged = PagedKVCache(4, 256, h_kv, d, dtype=_dtype(dtype), quant_block=quant_block)
    sid = paged.add_sequence()
    k = rng.standard_normal((h_kv, n, d)).astype(np.float32)
    v = rng.standard_normal((h_kv, n, d)).astype(np.float32)
    paged.append(sid, k, v)
    alone = KVCache(1, h_kv, n, d, dtype=_dtype(dtype), quant_block=quant_block)
    alone.append(k[None], v[None])
    q = rng.standard_normal((1, 8, 1, d)).astype(np.float32)
    np.testing.assert_array_equal(paged.attend(q, [sid]), alone.attend(q))
