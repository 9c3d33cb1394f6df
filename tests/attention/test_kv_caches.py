"""Compressed KV caches (bfloat16, float16, int8) and KVCache.attend: the decode
kernel reading the stored rows against the float64 reference on the
dequantised rows (exact path) and on the unquantised ones (documented bound)."""

import numpy as np
import pytest

from attnsearch.attention import KVCache, _reference
from attnsearch.attention._kv_formats import dequantize, quantize_int8

ml_dtypes = pytest.importorskip("ml_dtypes")

pytestmark = pytest.mark.usefixtures("cpu_target")

CACHE_DTYPES = ["float32", "float64", "bfloat16", "float16", "int8"]
QUERY_DTYPES = ["float32", "float64", "bfloat16", "float16"]

#: Output against the float64 reference on the dequantised rows: the compute
#: dtype's rounding, then one rounding to the query's dtype.
EXACT = {
    "float32": {"rtol": 1e-5, "atol": 2e-6},
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "bfloat16": {"rtol": 8e-3, "atol": 8e-3},
    "float16": {"rtol": 1e-3, "atol": 1e-3},
}
#: Largest |output - float64 output on the unquantised rows| for N(0, 1) keys,
#: values and queries (d 64, 600 keys), float32 queries: about 4x the worst of
#: 20 seeds (bf16 1.0e-3, f16 1.4e-4, int8 block 32 3.5e-3).
QUANTISATION_BOUND = {"bfloat16": 4e-3, "float16": 6e-4, "int8": 1.5e-2}


def _dtype(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _filled(rng, dtype, batch=2, h_kv=2, n=300, d=64, d_v=None, **kw):
    d_v = d if d_v is None else d_v
    cache = KVCache(batch, h_kv, n + 8, d, d_v=d_v, dtype=_dtype(dtype), **kw)
    src = np.float64 if dtype == "float64" else np.float32
    k = rng.standard_normal((batch, h_kv, n, d)).astype(src)
    v = rng.standard_normal((batch, h_kv, n, d_v)).astype(src)
    cache.append(k, v)
    return cache, k, v


def _reference_attend(cache, q, **kwargs):
    k, v = cache.dequantized(np.float64)
    q64 = q.astype(np.float64)
    return _reference.scaled_dot_product_attention(
        q64,
        _reference.expand_kv_heads(q64, k),
        _reference.expand_kv_heads(q64, v),
        **kwargs,
    )


@pytest.mark.parametrize("cache_dtype", CACHE_DTYPES)
@pytest.mark.parametrize("q_dtype", QUERY_DTYPES)
def test_attend_matches_reference_on_dequantised_rows(rng, cache_dtype, q_dtype):
    cache, _, _ = _filled(rng, cache_dtype)
    q = rng.standard_normal((2, 8, 3, 64)).astype(_dtype(q_dtype))
    # The float kernels (the default's int8 P V on AVX512-VNNI rounds p to
    # int16 besides: test_int8_pv).
    out = cache.attend(q, quantize_query=False)
    assert out.dtype == q.dtype and out.shape == (2, 8, 3, 64)
    want = _reference_attend(cache, q, causal=True)
    tol = EXACT[q_dtype]  # the output is rounded to the query dtype
    np.testing.assert_allclose(out.astype(np.float64), want, **tol)
    np.testing.assert_array_equal(
        cache.attend(q, backend="reference"), want.astype(q.dtype)
    )


@pytest.mark.parametrize("cache_dtype", ["bfloat16", "float16", "int8"])
def test_quantisation_error_is_within_the_documented_bound(rng, cache_dtype):
    cache, k, v = _filled(rng, cache_dtype, batch=1, n=600)
    q = rng.standard_normal((1, 8, 2, 64))
    out = cache.attend(q.astype(np.float32)).astype(np.float64)
    exact = _reference.scaled_dot_product_attention(
        q,
        np.repeat(k.astype(np.float64), 4, axis=1),
        np.repeat(v.astype(np.float64), 4, axis=1),
        causal=True,
    )
    assert np.abs(out - exact).max() < QUANTISATION_BOUND[cache_dtype]


@pytest.mark.parametrize("cache_dtype", ["float32", "bfloat16", "int8"])
@pytest.mark.parametrize(
    "options",
    [
        {"causal": False},
        {"window": (40, 0)},
        {"alibi_slopes": np.linspace(0.01, 0.2, 8)},
        {"mask": "bool"},
        {"mask": "additive"},
    ],
    ids=["noncausal", "window", "alibi", "bool-mask", "additive-mask"],
)
def test_attend_options_match_reference(rng, cache_dtype, options):
    cache, _, _ = _filled(rng, cache_dtype, n=700, d=32, d_v=24)
    q = rng.standard_normal((2, 8, 2, 32)).astype(np.float32)
    options = dict(options)
    if options.get("mask") == "bool":
        options["mask"] = rng.random((2, 1, 2, 700)) < 0.7
    elif options.get("mask") == "additive":
        options["mask"] = rng.standard_normal((700,)).astype(np.float32)
    out = cache.attend(q, **options)
    want = _reference_attend(cache, q, **{"causal": True, **options})
    np.testing.assert_allclose(out, want, **EXACT["float32"])


def test_ring_cache_int8_and_odd_widths(rng):
    cache = KVCache(1, 1, 50, 40, d_v=7, dtype=np.int8, ring=True)
    for _ in range(3):
        k = rng.standard_normal((1, 1, 30, 40)).astype(np.float32)
        v = rng.standard_normal((1, 1, 30, 7)).astype(np.float32)
        cache.append(k, v)
    assert cache.length == 50 and cache.key_scales.shape == (1, 1, 50, 2)
    q = rng.standard_normal((1, 3, 1, 40)).astype(np.float32)
    out = cache.attend(q, window=(49, 0))
    np.testing.assert_allclose(
        out,
        _reference_attend(cache, q, window=(49, 0), causal=True),
        **EXACT["float32"],
    )


@pytest.mark.parametrize("cache_dtype", ["bfloat16", "int8"])
def test_attend_bitwise_identical_for_any_thread_count(rng, cache_dtype):
    cache, _, _ = _filled(rng, cache_dtype, n=3000, d=32)
    q = rng.standard_normal((2, 8, 1, 32)).astype(np.float32)
    one = cache.attend(q, num_threads=1)
    for n in (2, 3):
        np.testing.assert_array_equal(cache.attend(q, num_threads=n), one)


@pytest.mark.parametrize("group", [32, 16, None])
def test_int8_quantisation_error_per_element(rng, group):
    x = rng.standard_normal((5, 3, 64)).astype(np.float32) * rng.uniform(
        0.01, 100, (5, 3, 1)
    ).astype(np.float32)
    x[0, 0] = 0.0  # an all-zero row: scale 0, exact
    q, scales = quantize_int8(x, group or 64)
    back = dequantize(q, scales, group or 64, np.float64)
    g = group or 64
    block_max = np.repeat(np.abs(x).reshape(5, 3, -1, g).max(-1), g, axis=-1)
    assert np.all(np.abs(back - x) <= block_max / 254 * (1 + 1e-6) + 1e-30)
    assert np.all(back[0, 0] == 0) and q.dtype == np.int8


def test_cache_stores_compressed_rows(rng):
    k = rng.standard_normal((1, 2, 4, 64)).astype(np.float32)
    bf = KVCache(1, 2, 8, 64, dtype="bfloat16")
    bf.append(k, k)
    assert bf.keys.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(bf.keys, k.astype(ml_dtypes.bfloat16))
    assert bf.nbytes == 2 * 2 * 8 * 64 * 2
    i8 = KVCache(1, 2, 8, 64, dtype=np.int8)
    i8.append(k, k)
    assert i8.keys.dtype == np.int8 and i8.key_scales.shape == (1, 2, 4, 2)
    assert i8.nbytes == 2 * 2 * 8 * (64 + 2 * 4)
    with pytest.raises(ValueError, match="read-only"):
        i8.key_scales[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        bf.keys[0, 0, 0, 0] = 1.0
    # Any float dtype goes into a compressed cache (rounded once).
    i8.append(k.astype(np.float64)[:, :, :1], k.astype(ml_dtypes.bfloat16)[:, :, :1])
    assert i8.length == 5


def test_refused_appends_leave_the_cache_unchanged(rng):
    cache = KVCache(1, 1, 8, 4, dtype=np.float16)
    k = rng.standard_normal((1, 1, 3, 4)).astype(np.float32)
    cache.append(k, k)
    before = cache.keys.copy(), cache.values.copy(), cache.position
    bad = k.copy()
    bad[0, 0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="k contains NaN"):
        cache.append(bad, k)
    with pytest.raises(ValueError, match="past the range of the float16 cache"):
        cache.append(k * 1e6, k)
    with pytest.raises(TypeError, match="float16/bfloat16/float32/float64"):
        cache.append(k.astype(np.int32), k)
    with pytest.raises(ValueError, match="new positions"):
        cache.append(k, k[:, :, :2])
    np.testing.assert_array_equal(cache.keys, before[0])
    np.testing.assert_array_equal(cache.values, before[1])
    assert cache.position == before[2]
    with pytest.raises(TypeError, match="cache dtype must be"):
        KVCache(1, 1, 8, 4, dtype=np.int16)
    with pytest.raises(ValueError, match="quant_block"):
        KVCache(1, 1, 8, 4, dtype=np.int8, quant_block=0)
    # float32 caches still take their own dtype only (the layers rely on it).
    with pytest.raises(TypeError, match="convert it"):
        KVCache(1, 1, 8, 4).append(k.astype(np.float64), k.astype(np.float64))


def test_attend_refuses_bad_queries_and_names_overflow(rng):
    cache, _, _ = _filled(rng, "int8", batch=1, h_kv=2, n=20, d=8)
    q = rng.standard_normal((1, 4, 1, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="multiple of the cache's 2"):
        cache.attend(q[:, :3])
    with pytest.raises(ValueError, match="q must have shape"):
        cache.attend(q[..., :4])
    with pytest.raises(ValueError, match="batch 2"):
        cache.attend(np.concatenate([q, q]))
    with pytest.raises(TypeError, match="q must be"):
        cache.attend(q.astype(np.int32))
    bad = q.copy()
    bad[0, 1, 0, 3] = np.inf
    with pytest.raises(ValueError, match="q contains NaN"):
        cache.attend(bad)
    with pytest.raises(ValueError, match="overflows float32.*scores"):
        cache.attend(q * 1e38, scale=1e30)
    with pytest.raises(ValueError, match="backend"):
        cache.attend(q, backend="cython")
    empty = KVCache(1, 2, 4, 8, dtype=np.int8)
    assert np.all(empty.attend(q) == 0)


@pytest.mark.parametrize("cache_dtype", ["bfloat16", "float16", "int8"])
@pytest.mark.parametrize(
    "h_q, n_q, d, d_v",
    [(2, 1, 40, 7), (32, 3, 24, 24), (4, 2, 130, 17)],
    ids=["odd-widths", "tiled-rows", "wide"],
)
def test_widened_rows_any_width_and_row_count(rng, cache_dtype, h_q, n_q, d, d_v):
    # bfloat16 is widened in the micro-kernels' loads (vector part and scalar
    # tail), the others in a tile; row blocks over 32 rows take the tiles.
    cache, _, _ = _filled(rng, cache_dtype, batch=1, h_kv=2, n=530, d=d, d_v=d_v)
    q = rng.standard_normal((1, h_q, n_q, d)).astype(np.float32)
    np.testing.assert_allclose(
        cache.attend(q), _reference_attend(cache, q, causal=True), **EXACT["float32"]
    )


@pytest.mark.parametrize("quant_block", [16, 32, 64, None])
@pytest.mark.parametrize("d, h_q, n_q", [(128, 8, 1), (64, 16, 3), (96, 4, 2)])
def test_int8_groups_in_registers_and_in_tiles(rng, quant_block, d, h_q, n_q):
    # Groups of 32 and 64 and one scale per row are read by the int8 kernels
    # (the scale applied in registers), other groups widened in a tile: both
    # equal the reference on the dequantised rows, for 1-16 rows per kv head
    # (the float kernels; the default's int8 P V on AVX512-VNNI rounds p to
    # int16 besides: test_int8_pv).
    cache, _, _ = _filled(
        rng, "int8", batch=1, h_kv=2, n=700, d=d, quant_block=quant_block
    )
    q = rng.standard_normal((1, h_q, n_q, d)).astype(np.float32)
    np.testing.assert_allclose(
        cache.attend(q, quantize_query=False),
        _reference_attend(cache, q, causal=True),
        **EXACT["float32"],
    )
    for q_dtype in ("bfloat16", "float16"):
        q16 = q.astype(_dtype(q_dtype))
        np.testing.assert_allclose(
            cache.attend(q16, quantize_query=False).astype(np.float64),
            _reference_attend(cache, q16, causal=True),
            **EXACT[q_dtype],
        )
