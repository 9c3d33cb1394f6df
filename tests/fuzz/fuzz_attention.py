"""Fuzz targets of the attention half: the kernel function, its backward, the
layers and the KV cache, over shapes, dtypes, magnitudes (near and past the
dtype's range), masks, causal, windows, ALiBi, grouped-query heads and thread
counts. Every example ends in a result equal to the reference (and finite), or
in a documented exception -- never a crash, a hang or a silent inf/NaN."""

import numpy as np
from _fuzz_settings import watchdog  # noqa: F401  (autouse fixture)
from hypothesis import given
from hypothesis import strategies as st

from attnsearch.attention import (
    KVCache,
    MultiHeadAttention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from attnsearch.attention.attention import _largest_row_norm

DOCUMENTED = (ValueError, TypeError, MemoryError)


@st.composite
def attention_inputs(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    big = 40 if dtype == np.float32 else 310
    n_kv_heads = draw(st.integers(1, 2))
    group = draw(st.integers(1, 3))
    n_q = draw(st.integers(0, 20))
    n_k = draw(st.integers(0, 24))
    d = draw(st.integers(1, 9))
    d_v = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)

    def magnitude():  # usually ordinary numbers, sometimes near or past the range
        exponent = draw(st.one_of(st.just(0), st.integers(-big, big)))
        return 10.0 ** min(exponent, 307)

    q = rng.standard_normal((n_kv_heads * group, n_q, d)) * magnitude()
    k = rng.standard_normal((n_kv_heads, n_k, d)) * magnitude()
    v = rng.standard_normal((n_kv_heads, n_k, d_v)) * magnitude()
    with np.errstate(over="ignore"):
        q, k, v = q.astype(dtype), k.astype(dtype), v.astype(dtype)
    options = {
        "causal": draw(st.booleans()),
        "num_threads": draw(st.integers(1, 3)),
    }
    kind = draw(st.sampled_from(["none", "bool", "additive"]))
    if kind == "bool":
        options["mask"] = rng.random((n_q, n_k)) < 0.7
    elif kind == "additive":
        options["mask"] = np.where(rng.random((n_q, n_k)) < 0.7, 0.0, -np.inf)
    if draw(st.booleans()):
        options["window"] = draw(
            st.one_of(
                st.integers(1, 8), st.tuples(st.integers(0, 6), st.integers(0, 6))
            )
        )
    if draw(st.booleans()):
        options["alibi_slopes"] = rng.uniform(0.0, 1.0, n_kv_heads * group)
    if draw(st.booleans()):
        options["scale"] = draw(
            st.sampled_from([0.5, 1.0, 1e-3, 1e30, 1e300, -1.0, 0.0])
        )
    return q, k, v, options


def _close(ours, reference, magnitude):
    scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)), magnitude)
    tolerance = 1e-4 if ours.dtype == np.float32 else 1e-9
    return np.max(np.abs(ours - reference), initial=0.0) <= tolerance * scale


@given(attention_inputs())
def test_attention_matches_reference_or_raises(inputs):
    q, k, v, options = inputs
    try:
        out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **options)
    except DOCUMENTED:
        return
    assert np.isfinite(out).all(), "finite inputs gave a non-finite output"
    assert not np.isnan(lse).any() and not np.isposinf(lse).any()
    with np.errstate(all="ignore"):
        reference = scaled_dot_product_attention(
            q.astype(np.float64),
            k.astype(np.float64),
            v.astype(np.float64),
            backend="reference",
            check_finite=False,
            **options,
        )
    if np.isfinite(reference).all():
        assert _close(out, reference, 0.0)


@given(attention_inputs(), st.integers(0, 2**16))
def test_backward_matches_reference_or_raises(inputs, seed):
    q, k, v, options = inputs
    try:
        out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **options)
        grad_out = np.random.default_rng(seed).standard_normal(out.shape)
        grad_out = grad_out.astype(out.dtype)
        grads = scaled_dot_product_attention_backward(
            grad_out, q, k, v, out, lse, **options
        )
    except DOCUMENTED:
        return
    for grad, arr in zip(grads, (q, k, v), strict=True):
        assert grad.shape == arr.shape and grad.dtype == arr.dtype
        assert np.isfinite(grad).all(), "finite inputs gave a non-finite gradient"
    if q.dtype != np.float64:
        return  # float32 gradients of extreme inputs: rounding dominates
    with np.errstate(all="ignore"):
        reference = scaled_dot_product_attention_backward(
            grad_out,
            q,
            k,
            v,
            out,
            lse,
            backend="reference",
            check_finite=False,  # its raw values: compared only where finite
            **options,
        )
    # dq and dk come from dS = P (dP - D): their rounding scales with the
    # products of the inputs' magnitudes, not with the (possibly cancelling)
    # gradients themselves.
    biggest = [float(np.max(np.abs(a), initial=0.0)) for a in (q, k, v, grad_out)]
    scale = abs(options.get("scale", 1.0 / np.sqrt(q.shape[-1])))
    with np.errstate(over="ignore"):
        terms = scale * biggest[3] * biggest[2] * (biggest[0] + biggest[1])
        terms *= max(1, v.shape[-1]) * max(1, q.shape[-2], k.shape[-2])
    # Rounding of large scores moves the recomputed softmax (the backward
    # refuses beyond 5 %, see _MAX_SCORE_ROUNDING).
    with np.errstate(over="ignore", invalid="ignore"):
        norms = _largest_row_norm(q) * _largest_row_norm(k)  # no underflow
        relative = max(1e-9, 4 * scale * norms * np.finfo(np.float64).eps)
    for ours, theirs, magnitude in zip(
        grads, reference, (terms, terms, biggest[3] * q.shape[-2]), strict=True
    ):
        if np.isfinite(theirs).all() and np.isfinite(magnitude):
            assert np.max(np.abs(ours - theirs), initial=0.0) <= relative * max(
                1.0, magnitude
            )


@given(
    d_head=st.integers(1, 6),
    n_heads=st.sampled_from([1, 2, 4]),
    kv_divisor=st.sampled_from([1, 2, 4]),
    n=st.integers(1, 12),
    exponent=st.one_of(st.just(0), st.integers(-30, 30)),
    dtype=st.sampled_from([np.float32, np.float64]),
    split=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_layer_forward_and_cache_agree_or_raise(
    d_head, n_heads, kv_divisor, n, exponent, dtype, split, seed
):
    n_kv_heads = max(1, n_heads // kv_divisor)
    try:
        layer = MultiHeadAttention(
            d_head * n_heads, n_heads, n_kv_heads=n_kv_heads, seed=seed, dtype=dtype
        )
    except DOCUMENTED:
        return
    x = np.random.default_rng(seed).standard_normal((2, n, d_head * n_heads))
    with np.errstate(over="ignore"):
        x = (x * 10.0**exponent).astype(dtype)
    try:
        full = layer(x, causal=True)
    except DOCUMENTED:
        return
    assert np.isfinite(full).all()
    cache = layer.new_cache(2, n)
    split = min(split, n)
    first = layer(x[:, :split], cache=cache) if split else None
    rest = layer(x[:, split:], cache=cache) if split < n else None
    pieces = [p for p in (first, rest) if p is not None]
    incremental = np.concatenate(pieces, axis=1)
    tolerance = 1e-4 if dtype == np.float32 else 1e-9
    scale = max(1.0, float(np.max(np.abs(full))))
    assert np.max(np.abs(incremental - full)) <= tolerance * scale


@given(
    batch=st.integers(0, 3),
    heads=st.integers(0, 3),
    capacity=st.integers(0, 8),
    d=st.integers(0, 5),
    ring=st.booleans(),
    appends=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 10),
            st.integers(0, 6),
            st.sampled_from([np.float32, np.float64, np.int64]),
        ),
        max_size=5,
    ),
)
def test_kv_cache_appends_or_raises(batch, heads, capacity, d, ring, appends):
    try:
        cache = KVCache(batch, heads, capacity, d, ring=ring)
    except DOCUMENTED:
        return
    stored = 0
    for b, n_new, width, dtype in appends:
        k = np.ones((b, heads, n_new, width), dtype=dtype)
        try:
            cache.append(k, k)
        except DOCUMENTED:
            continue
        stored += n_new
        assert cache.position == stored
        assert cache.length == (min(stored, capacity) if ring else stored)
        assert cache.length <= capacity
