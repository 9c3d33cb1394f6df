"""Fuzz targets of the attention half: the kernel function, its backward, the
layers and the KV cache, over shapes, dtypes, magnitudes (near and past the
dtype's range), masks (large finite "minus infinity" included), causal,
windows, ALiBi, grouped-query heads and thread counts. Every example ends in a
result equal to the reference (and finite), or in a documented exception --
never a crash, a hang or a silent inf/NaN. Sequences of calls with refused
inputs mixed in (cached decoding, optimiser steps, backward after the weights
or the input buffer changed) leave the objects as they were and the results
equal to a run without the refused calls."""

import numpy as np
from _fuzz_settings import watchdog  # noqa: F401  (autouse fixture)
from hypothesis import given
from hypothesis import strategies as st

from attnsearch.attention import (
    SGD,
    Adam,
    AttentionHead,
    KVCache,
    MultiHeadAttention,
    PagedKVCache,
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
    kind = draw(st.sampled_from(["none", "bool", "additive", "finite"]))
    if kind == "bool":
        options["mask"] = rng.random((n_q, n_k)) < 0.7
    elif kind == "additive":
        options["mask"] = np.where(rng.random((n_q, n_k)) < 0.7, 0.0, -np.inf)
    elif kind == "finite":  # Hugging Face's (1 - mask) * finfo.min, or -1e9
        bias = draw(st.sampled_from([float(np.finfo(dtype).min), -1e9, -1e4]))
        keep = rng.random((n_q, n_k)) < draw(st.sampled_from([0.0, 0.3, 0.8]))
        options["mask"] = np.where(keep, 0.0, bias).astype(dtype)
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
    # A large finite mask rounds q·k away in float32 (as in torch): the float32
    # result is the float32 reference's, not the float64 one's.
    mask = options.get("mask")
    finite_bias = (
        mask is not None
        and mask.dtype.kind == "f"
        and np.abs(mask[np.isfinite(mask)]).max(initial=0.0) > 1e3
    )
    exact = q.dtype if finite_bias else np.float64
    with np.errstate(all="ignore"):
        reference = scaled_dot_product_attention(
            q.astype(exact),
            k.astype(exact),
            v.astype(exact),
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


@given(
    dtype=st.sampled_from([np.float32, np.float16, np.int8, np.float64]),
    block_size=st.integers(1, 9),
    n_blocks=st.integers(1, 12),
    h_kv=st.integers(1, 2),
    group=st.integers(1, 3),
    d=st.integers(1, 9),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "append", "free", "attend", "bad"]),
            st.integers(0, 5),  # which sequence / how many positions
            st.floats(-1e6, 1e6, allow_nan=False),
        ),
        max_size=12,
    ),
    seed=st.integers(0, 2**16),
)
def test_paged_cache_equals_contiguous_or_raises(
    dtype, block_size, n_blocks, h_kv, group, d, ops, seed
):
    rng = np.random.default_rng(seed)
    cache = PagedKVCache(n_blocks, block_size, h_kv, d, dtype=dtype)
    src = np.float64 if dtype == np.float64 else np.float32
    rows = {}  # the stored rows of each live sequence, as a contiguous cache
    for op, n, magnitude in ops:
        live = cache.sequences
        if op == "add":
            rows[cache.add_sequence()] = []
        elif op == "free" and live:
            seq = live[n % len(live)]
            cache.free_sequence(seq)
            del rows[seq]
        elif op in ("append", "bad") and live:
            k = (rng.standard_normal((len(live), h_kv, n, d)) * magnitude).astype(src)
            if op == "bad" and k.size:
                k.flat[0] = np.nan
            state = cache.free_blocks, cache.lengths(live)
            try:
                cache.append(live, k, k)
            except DOCUMENTED:
                assert (cache.free_blocks, cache.lengths(live)) == state
                continue
            for i, seq in enumerate(live):
                rows[seq].append(k[i])
        elif op == "attend" and live:
            q = rng.standard_normal((len(live), h_kv * group, 1 + n % 2, d)).astype(src)
            try:
                out = cache.attend(q, live, num_threads=1 + n % 3)
            except DOCUMENTED:
                continue
            ref = cache.attend(q, live, backend="reference")
            scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
            assert np.max(np.abs(out - ref), initial=0.0) <= 1e-4 * scale
            for i, seq in enumerate(live):
                assert cache.length(seq) == sum(r.shape[1] for r in rows[seq])


@given(
    ring=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    steps=st.lists(
        st.tuples(
            st.integers(1, 3),  # positions per call
            st.sampled_from(["ok", "bad mask", "huge", "nan", "weights"]),
        ),
        min_size=1,
        max_size=8,
    ),
    seed=st.integers(0, 2**16),
)
def test_refused_cached_calls_leave_the_cache_as_it_was(ring, dtype, steps, seed):
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(
        8, 2, dtype=dtype, seed=seed, window=(3, 0) if ring else None
    )
    total = sum(n for n, kind in steps if kind == "ok")
    cache = layer.new_cache(1, 4 if ring else max(1, total), ring=ring)
    x = rng.standard_normal((1, max(1, total), 8)).astype(dtype)
    outs, position = [], 0
    for n, kind in steps:
        before = (cache.position, cache._k.copy(), cache._v.copy())
        piece = x[:, position : position + n]
        if kind == "ok":
            if piece.shape[1] == 0:
                continue
            try:
                outs.append(layer(piece, cache=cache))
            except DOCUMENTED:  # a ring piece longer than the ring allows
                assert cache.position == before[0]
                continue
            position += piece.shape[1]
            continue
        value = {"huge": np.finfo(dtype).max / 4, "nan": np.nan}.get(kind, 1.0)
        bad = np.full((1, n, 8), value, dtype)
        mask = np.ones((5, 7), bool) if kind == "bad mask" else None
        try:
            layer(bad, cache=cache, mask=mask, need_weights=kind == "weights" and n > 9)
        except DOCUMENTED:
            assert cache.position == before[0]
            np.testing.assert_array_equal(cache._k, before[1])
            np.testing.assert_array_equal(cache._v, before[2])
        else:  # accepted (finite, representable): it is a real step
            assert kind == "weights"
            cache.reset()
            return
    if outs and not ring:
        full = layer(x[:, :position], causal=True)
        tolerance = 1e-4 if dtype == np.float32 else 1e-9
        assert np.max(np.abs(np.concatenate(outs, axis=1) - full)) <= tolerance * max(
            1.0, float(np.max(np.abs(full)))
        )


@given(
    optimiser=st.sampled_from(["sgd", "momentum", "adam", "amsgrad"]),
    lr=st.sampled_from([1e-3, 0.1, 1e10, 1e38, 1e300]),
    eps=st.sampled_from([1e-8, 0.0]),
    grad_exponent=st.integers(-45, 40),
    poison=st.sampled_from(["none", "nan", "inf", "list", "complex", "read-only"]),
    seed=st.integers(0, 2**16),
)
def test_optimiser_steps_are_all_or_nothing(
    optimiser, lr, eps, grad_exponent, poison, seed
):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    params = {name: rng.standard_normal(3).astype(dtype) for name in "abc"}
    grads = {name: rng.standard_normal(3).astype(dtype) for name in "abc"}
    with np.errstate(over="ignore", under="ignore"):
        grads["b"] = (grads["b"] * 10.0**grad_exponent).astype(dtype)
    if optimiser in ("sgd", "momentum"):
        opt = SGD(
            (params, grads), lr=lr, momentum=0.9 if optimiser == "momentum" else 0
        )
    else:
        opt = Adam((params, grads), lr=lr, eps=eps, amsgrad=optimiser == "amsgrad")
    try:
        opt.step()  # a first, clean step (it may itself be refused)
    except DOCUMENTED:
        pass
    if poison == "nan":
        grads["c"] = np.full(3, np.nan, dtype)
    elif poison == "inf":
        grads["c"] = np.full(3, np.inf, dtype)
    elif poison == "list":
        grads["c"] = [1.0, 2.0, 3.0]
    elif poison == "complex":
        grads["c"] = np.ones(3, complex)
    elif poison == "read-only":
        params["c"].flags.writeable = False
    before = {name: arr.copy() for name, arr in params.items()}
    state = [{key: np.copy(value) for key, value in slot.items()} for slot in opt.state]
    try:
        opt.step()
    except DOCUMENTED:
        for name, arr in params.items():
            np.testing.assert_array_equal(arr, before[name])
        for old, new in zip(state, opt.state, strict=True):
            assert old.keys() == new.keys()
            for key in old:
                np.testing.assert_array_equal(old[key], new[key])
        return
    assert poison == "none"
    for arr in params.values():
        assert np.isfinite(arr).all(), "an accepted step wrote a non-finite weight"


@given(
    layer_kind=st.sampled_from(["head", "multihead"]),
    change=st.sampled_from(["none", "buffer", "mask", "step", "assign", "refused"]),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_layer_backward_after_mutation_is_right_or_raises(
    layer_kind, change, causal, seed
):
    rng = np.random.default_rng(seed)

    def make():
        if layer_kind == "head":
            return AttentionHead(8, d_k=4, dtype=np.float64, seed=seed)
        return MultiHeadAttention(8, 2, dtype=np.float64, seed=seed)

    x = rng.standard_normal((2, 5, 8))
    mask = rng.random((5, 5)) < 0.7
    mask[:, -1] = True
    grad_out = rng.standard_normal((2, 5, 4 if layer_kind == "head" else 8))
    reference = make()
    reference(x.copy(), mask=mask.copy(), causal=causal, keep_for_backward=True)
    expected = reference.backward(grad_out)

    layer = make()
    buffer, mask_buffer = x.copy(), mask.copy()
    layer(buffer, mask=mask_buffer, causal=causal, keep_for_backward=True)
    if change == "buffer":
        buffer[...] = rng.standard_normal(buffer.shape)
    elif change == "mask":
        mask_buffer[...] = ~mask_buffer
    elif change == "step":
        layer.backward(grad_out)  # grads to step with; then a fresh forward
        layer(buffer, mask=mask_buffer, causal=causal, keep_for_backward=True)
        SGD(layer, lr=0.1).step()
    elif change == "assign":
        layer.W_V = layer.W_V + 1.0
    elif change == "refused":
        try:
            layer.backward(np.ones((1, 2, 3)))
        except DOCUMENTED:
            pass
    try:
        got = layer.backward(grad_out)
    except RuntimeError:
        assert change in ("step", "assign"), "a backward refused without a reason"
        return
    assert change not in ("step", "assign"), "gradients of changed weights"
    np.testing.assert_array_equal(got, expected)
    for name, grad in reference.grads.items():
        np.testing.assert_array_equal(layer.grads[name], grad)
