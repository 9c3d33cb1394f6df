"""Decode kernel (short query blocks, keys split across threads), sliding windows
and ALiBi on both kernels, against the NumPy reference."""

import types

import numpy as np
import pytest
from conftest import tolerance
from threadpoolctl import threadpool_limits

from attnsearch._dispatch import kernels
from attnsearch.attention import _decode_path, _reference
from attnsearch.attention import scaled_dot_product_attention as sdpa
from attnsearch.attention.attention import _sdpa

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

_decode = kernels("decode")
_scans = kernels("scans")

PATHS = ["decode", "prefill"]


def reference(q, k, v, **kwargs):
    """The NumPy reference in float64 (k/v heads repeated for GQA), cast back."""
    dtype = np.result_type(q, k, v)
    q64, k64, v64 = (np.asarray(x, np.float64) for x in (q, k, v))
    k64 = _reference.expand_kv_heads(q64, k64)
    v64 = _reference.expand_kv_heads(q64, v64)
    out = _reference.scaled_dot_product_attention(q64, k64, v64, **kwargs)
    return out.astype(dtype)


def random_qkv(rng, batch, h_q, h_kv, n_q, n_k, d_k, d_v, dtype):
    q = rng.standard_normal(batch + (h_q, n_q, d_k)).astype(dtype)
    k = rng.standard_normal(batch + (h_kv, n_k, d_k)).astype(dtype)
    v = rng.standard_normal(batch + (h_kv, n_k, d_v)).astype(dtype)
    return q, k, v


# -- micro-kernels -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 16, 17, 64, 100, 128, 130])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 9])
def test_score_micro_kernel(rng, dtype, d, rows):
    q = rng.standard_normal((rows, d)).astype(dtype)
    base = rng.standard_normal((37, d + 5)).astype(dtype)
    k = base[:, :d]  # row stride d + 5: read in place
    s = np.full((rows, 40), np.nan, dtype)
    _decode._dec_qk_memview(q, k, s)
    np.testing.assert_allclose(s[:, :37], q @ k.T, **tolerance(dtype))
    assert np.all(np.isnan(s[:, 37:]))  # nothing written past the keys


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 7, 16, 64, 80, 128, 131])
@pytest.mark.parametrize("rows", [1, 2, 4, 6])
def test_pv_micro_kernel(rng, dtype, d, rows):
    p = rng.random((rows, 29)).astype(dtype)
    v = rng.standard_normal((29, d + 3)).astype(dtype)[:, :d]
    o = rng.standard_normal((rows, d)).astype(dtype)
    corr = rng.random(rows).astype(dtype)
    want = o * corr[:, None] + p @ v
    _decode._dec_pv_memview(p, v, o, corr)
    np.testing.assert_allclose(o, want, **tolerance(dtype))


def test_scan_helpers(rng):
    x = rng.standard_normal(300_001).astype(np.float32)
    assert _scans.stream_read_sum([x, x[:5].copy()], 2) == pytest.approx(
        float(x.sum(dtype=np.float64) + x[:5].sum(dtype=np.float64)), rel=1e-4
    )
    assert _scans.all_finite(x, 2)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[123_457] = bad
        assert not _scans.all_finite(y, 2) and not _scans.all_finite(
            y.astype(np.float64), 1
        )
    assert _scans.all_finite(np.full(10, 3e38, np.float32), 1)
    assert _decode.decode_constants()["micro_rows"] >= 1


# -- the decode path against the reference ------------------------------------

DECODE_SHAPES = [
    # h_q, h_kv, n_q, n_k, d_k, d_v
    (1, 1, 1, 1, 1, 1),
    (4, 2, 1, 700, 64, 64),
    (8, 2, 3, 1300, 128, 128),
    (6, 3, 5, 999, 17, 33),
    (8, 1, 2, 600, 64, 40),  # multi-query: one group of 16 rows
    (16, 1, 3, 700, 64, 64),  # 48 rows in one group: the tiled path
    (2, 2, 16, 300, 64, 80),
    (3, 3, 1, 3000, 130, 7),  # several key chunks, general d
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", DECODE_SHAPES)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"causal": True},
        {"window": (50, 3)},
        {"window": 40, "causal": True},
        {"window": (None, 0)},
        {"alibi": True},
        {"alibi": True, "causal": True, "window": (100, None), "mask": "bool"},
        {"mask": "additive", "causal": True},
    ],
    ids=lambda o: "-".join(o) or "plain",
)
def test_decode_matches_reference(rng, dtype, shape, options):
    h_q, h_kv, n_q, n_k, d_k, d_v = shape
    q, k, v = random_qkv(rng, (2,), h_q, h_kv, n_q, n_k, d_k, d_v, dtype)
    kwargs = {key: options[key] for key in ("causal", "window") if key in options}
    if options.get("alibi"):
        kwargs["alibi_slopes"] = rng.random(h_q) * 0.3
    if options.get("mask") == "bool":
        kwargs["mask"] = rng.random((n_q, n_k)) < 0.7
    elif options.get("mask") == "additive":
        kwargs["mask"] = rng.normal(size=(2, 1, n_q, n_k))
    out = sdpa(q, k, v, **kwargs)
    assert out.shape == (2, h_q, n_q, d_v) and out.dtype == dtype
    ref_kwargs = dict(kwargs)
    if "alibi_slopes" in ref_kwargs:
        ref_kwargs["alibi_slopes"] = np.broadcast_to(kwargs["alibi_slopes"], (2, h_q))
    want = reference(q, k, v, **ref_kwargs)
    np.testing.assert_allclose(out, want, **tolerance(dtype))
    # The tiled kernel agrees (to rounding) on the same problem.
    prefill = _sdpa(q, k, v, path="prefill", **kwargs)
    np.testing.assert_allclose(out, prefill, **tolerance(dtype))


def test_short_query_blocks_take_the_decode_path(rng, monkeypatch):
    q, k, v = random_qkv(rng, (1,), 4, 2, 16, 900, 32, 32, np.float32)
    calls = []
    original = _decode_path._decode.decode_forward

    def spy(*args):
        calls.append(args[0].array.shape)
        return original(*args)

    monkeypatch.setattr(
        _decode_path, "_decode", types.SimpleNamespace(decode_forward=spy)
    )
    sdpa(q, k, v)
    assert len(calls) == 1
    sdpa(q[..., :1, :], k, v, causal=True, window=7)
    assert len(calls) == 2
    long_q = np.concatenate([q, q[..., :1, :]], axis=-2)  # 17 rows: tiled kernel
    sdpa(long_q, k, v)
    sdpa(q, k, v, return_weights=True)  # weights: tiled kernel
    sdpa(q, k, v, block_q=8)  # explicit blocks: tiled kernel
    assert len(calls) == 2
    assert _decode_path.DECODE_MAX_QUERIES == 16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "heads", [(8, 2), (32, 2), (3, 3)], ids=["small-rows", "tiled", "mha"]
)
def test_decode_bitwise_identical_for_any_thread_count(rng, dtype, heads):
    h_q, h_kv = heads
    n_q = 3  # blocks of 12, 48 (> SMALL_ROWS: tiled) and 3 rows
    assert (h_q // h_kv) * n_q > _decode_path.SMALL_ROWS or h_q != 32
    q, k, v = random_qkv(rng, (2,), h_q, h_kv, n_q, 2100, 64, 48, dtype)
    kwargs = dict(
        causal=True, alibi_slopes=rng.random(h_q), mask=rng.random(2100) < 0.9
    )
    one = sdpa(q, k, v, num_threads=1, **kwargs)
    for threads in (2, 3, 4, 7):
        assert np.array_equal(one, sdpa(q, k, v, num_threads=threads, **kwargs))
    with threadpool_limits(1, user_api="openmp"):
        assert np.array_equal(one, sdpa(q, k, v, **kwargs))
    np.testing.assert_allclose(
        one,
        reference(
            q,
            k,
            v,
            **dict(
                kwargs, alibi_slopes=np.broadcast_to(kwargs["alibi_slopes"], (2, h_q))
            ),
        ),
        **tolerance(dtype),
    )


def test_decode_plan_depends_on_shapes_only():
    k_off = np.repeat(np.arange(8, dtype=np.intp) * 1000, 4)  # 32 heads, 8 groups
    order, block_start, chunk = _decode_path.plan(k_off, k_off.copy(), 1, 32768)
    assert np.array_equal(order, np.arange(32))
    assert np.array_equal(block_start, np.arange(0, 33, 4))  # one block per group
    assert chunk * -(-32768 // chunk) >= 32768
    assert -(-32768 // chunk) == _decode_path.TARGET_TASKS // 8
    # Multi-query with many rows: blocks split evenly, never across groups.
    order, block_start, chunk = _decode_path.plan(
        np.zeros(40, np.intp), np.zeros(40, np.intp), 5, 100
    )
    sizes = np.diff(block_start)
    assert sizes.sum() == 200 and sizes.max() <= _decode_path.ROWS_MAX
    assert sizes.max() - sizes.min() <= 1 and chunk == 100


@pytest.mark.parametrize("path", PATHS)
def test_decode_special_rows(rng, path):
    q, k, v = random_qkv(rng, (), 2, 2, 6, 4, 8, 8, np.float64)
    # Causal with more queries than keys: the first two rows see nothing -> zeros.
    out = _sdpa(q, k, v, causal=True, path=path)
    assert np.all(out[:, :2] == 0)
    np.testing.assert_allclose(
        out, reference(q, k, v, causal=True), **tolerance(np.float64)
    )
    mask = np.ones((6, 4), bool)
    mask[3] = False  # a fully masked row
    out = _sdpa(q, k, v, mask=mask, path=path)
    assert np.all(out[:, 3] == 0) and np.all(np.isfinite(out))
    # A window that leaves no key visible to any query.
    out = _sdpa(q, k, v, window=(None, 0), causal=True, path=path)
    np.testing.assert_allclose(
        out, reference(q, k, v, causal=True), **tolerance(np.float64)
    )
    q1 = q[:, :1]
    out = _sdpa(q1, k[:, :0], v[:, :0], path=path)
    assert out.shape == (2, 1, 8) and np.all(out == 0)


@pytest.mark.parametrize("path", PATHS)
def test_nan_propagates_without_check_finite(rng, path):
    q, k, v = random_qkv(rng, (), 2, 1, 3, 900, 16, 16, np.float64)
    k[0, 500, 3] = np.nan
    out = _sdpa(q, k, v, check_finite=False, path=path)
    assert np.all(np.isnan(out))
    # Keys outside every query's window are never read.
    out = _sdpa(q, k, v, check_finite=False, window=(100, 0), causal=True, path=path)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(
        out,
        reference(q, np.nan_to_num(k), v, window=(100, 0), causal=True),
        **tolerance(np.float64),
    )


# -- the default call's check, made by the decode kernel while it reads k and v ---


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("where", ["k", "v"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_decode_check_names_the_operand(rng, dtype, where, bad):
    if dtype == "bfloat16":
        dtype = pytest.importorskip("ml_dtypes").bfloat16
    q, k, v = random_qkv(rng, (), 8, 2, 1, 1500, 16, 16, np.float32)
    arrays = {"k": k, "v": v}
    arrays[where][1, 1234, 5] = bad
    q, k, v = (x.astype(dtype) for x in (q, k, v))
    with pytest.raises(ValueError, match=f"{where} contains NaN or infinity"):
        sdpa(q, k, v)
    # ... also where every probability of that key is 0 (a masked key, a row
    # that sees no key of its chunk), and in a key no query reads.
    mask = np.ones(1500, bool)
    mask[1000:] = False
    with pytest.raises(ValueError, match=f"{where} contains NaN"):
        sdpa(q, k, v, mask=mask)
    with pytest.raises(ValueError, match=f"{where} contains NaN"):
        sdpa(q, k, v, window=(100, 0), causal=True)
    assert np.isfinite(
        sdpa(q, k, v, window=(100, 0), causal=True, check_finite=False).astype(
            np.float32
        )
    ).all()


def test_default_decode_call_reads_k_and_v_once(rng, monkeypatch):
    from attnsearch.attention import attention

    q, k, v = random_qkv(rng, (), 8, 2, 1, 700, 16, 16, np.float32)
    scanned = []
    original = attention._max_abs

    def spy(arr, n_threads=1):
        scanned.append(arr.shape)
        return original(arr, n_threads)

    monkeypatch.setattr(attention, "_max_abs", spy)
    out = sdpa(q, k, v)
    assert scanned == [q.shape]  # k and v: checked by the kernel as it reads them
    np.testing.assert_array_equal(out, sdpa(q, k, v, check_finite=False))
    sdpa(q.repeat(20, axis=-2), k, v)  # 20 rows: the tiled kernel, scanned before
    assert scanned[1:] == [(8, 20, 16), k.shape, v.shape]


# -- windows and ALiBi on the tiled kernel ---------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "window", [1, 5, (0, 0), (7, 2), (None, 3), (20, None), 10_000]
)
@pytest.mark.parametrize("causal", [False, True])
def test_window_prefill_matches_reference(rng, dtype, window, causal):
    q, k, v = random_qkv(rng, (2,), 3, 3, 70, 90, 16, 12, dtype)
    want = reference(q, k, v, window=window, causal=causal)
    for block_q, block_k in [(None, None), (7, 13), (96, 32)]:
        out = sdpa(
            q, k, v, window=window, causal=causal, block_q=block_q, block_k=block_k
        )
        np.testing.assert_allclose(out, want, **tolerance(dtype))
    out, weights = sdpa(
        q, k, v, window=window, causal=causal, return_weights=True, block_k=16
    )
    _, want_w = _reference.scaled_dot_product_attention(
        q, k, v, window=window, causal=causal, return_weights=True
    )
    np.testing.assert_allclose(out, want, **tolerance(dtype))
    np.testing.assert_allclose(weights, want_w, **tolerance(dtype))


def test_window_one_with_causal_returns_the_own_value(rng):
    q, k, v = random_qkv(rng, (), 2, 2, 9, 9, 4, 3, np.float64)
    for path in PATHS:
        out = _sdpa(q, k, v, window=1, causal=True, path=path)
        np.testing.assert_allclose(out, v, rtol=1e-12)


def test_window_skips_blocks_outside(rng):
    # NaN keys that no query's window reaches leave the tiled kernel's output
    # finite: those blocks are never read.
    q, k, v = random_qkv(rng, (), 1, 1, 600, 600, 16, 16, np.float32)
    k[0, :100] = np.nan  # keys 0..99: rows >= 164 never see them with window 64
    out = sdpa(
        q[:, 300:], k, v, window=(64, 0), check_finite=False, block_q=96, block_k=32
    )
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("causal", [False, True])
def test_alibi_matches_reference(rng, dtype, path, causal):
    q, k, v = random_qkv(rng, (2,), 4, 2, 12, 50, 8, 8, dtype)
    slopes = np.array([0.5, 0.25, 0.125, 0.0625])
    mask = rng.normal(size=(12, 50))
    out = _sdpa(q, k, v, alibi_slopes=slopes, mask=mask, causal=causal, path=path)
    want = reference(
        q, k, v, alibi_slopes=np.broadcast_to(slopes, (2, 4)), mask=mask, causal=causal
    )
    np.testing.assert_allclose(out, want, **tolerance(dtype))
    # Per-batch slopes, and a scalar slope for every head.
    per_batch = rng.random((2, 4))
    np.testing.assert_allclose(
        _sdpa(q, k, v, alibi_slopes=per_batch, path=path),
        reference(q, k, v, alibi_slopes=per_batch),
        **tolerance(dtype),
    )
    np.testing.assert_allclose(
        _sdpa(q, k, v, alibi_slopes=0.3, path=path),
        reference(q, k, v, alibi_slopes=np.full((2, 4), 0.3)),
        **tolerance(dtype),
    )


def test_alibi_causal_is_the_papers_linear_bias(rng):
    # With causal=True the bias -slope*|j - i| equals slope*(j - i) (Press et al.).
    q, k, v = random_qkv(rng, (), 2, 2, 6, 6, 4, 4, np.float64)
    slopes = np.array([0.5, 0.25])
    scores = q @ np.swapaxes(k, -1, -2) / 2.0
    j_minus_i = np.arange(6)[None, :] - np.arange(6)[:, None]
    scores = scores + slopes[:, None, None] * j_minus_i
    scores = np.where(j_minus_i <= 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    want = (weights / weights.sum(-1, keepdims=True)) @ v
    for path in PATHS:
        out = _sdpa(q, k, v, alibi_slopes=slopes, causal=True, path=path)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


# -- bad input -------------------------------------------------------------------


def test_bad_window_alibi_and_flags_raise():
    q = np.ones((2, 3, 4))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="window must be at least 1"):
            sdpa(q, q, q, window=bad)
    with pytest.raises(ValueError, match="right side must be >= 0"):
        sdpa(q, q, q, window=(1, -1))
    for bad in ("wide", 2.5, (1, 2, 3), (1.5, 2), True):
        with pytest.raises(TypeError, match="window"):
            sdpa(q, q, q, window=bad)
    with pytest.raises(ValueError, match="does not broadcast to the batch"):
        sdpa(q, q, q, alibi_slopes=np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        sdpa(q, q, q, alibi_slopes=np.array([np.nan, 1.0]))
    with pytest.raises(TypeError, match="alibi_slopes must be real"):
        sdpa(q, q, q, alibi_slopes=np.array(["a", "b"]))
    # Regression: a truthy string used to run causal attention.
    for bad in ("no", 1, None, np.array([True])):
        with pytest.raises(TypeError, match="causal must be a bool"):
            sdpa(q, q, q, causal=bad)
    with pytest.raises(TypeError, match="return_weights must be a bool"):
        sdpa(q, q, q, return_weights="yes")
    np.testing.assert_array_equal(
        sdpa(q, q, q, causal=np.bool_(True)), sdpa(q, q, q, causal=True)
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("n_q", [1, 5, 40])
def test_matches_torch_sdpa(rng, path, n_q):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = random_qkv(rng, (2,), 8, 2, n_q, 300, 64, 64, np.float32)
    slopes = np.linspace(0.05, 0.4, 8)
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    # torch's is_causal is top-left aligned and it has no window or ALiBi
    # argument: the same rules as an explicit float bias (bottom-right).
    position = np.arange(n_q)[:, None] + (300 - n_q)
    key = np.arange(300)[None, :]
    visible = (key <= position) & (key >= position - 63)  # causal, window 64
    bias = -slopes[:, None, None] * np.abs(key - position)
    bias = np.where(visible, bias, -np.inf).astype(np.float32)
    with torch.no_grad():
        want = F.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=torch.from_numpy(bias), enable_gqa=True
        ).numpy()
        plain = F.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True).numpy()
    got = _sdpa(q, k, v, causal=True, window=64, alibi_slopes=slopes, path=path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_sdpa(q, k, v, path=path), plain, rtol=1e-4, atol=1e-5)
