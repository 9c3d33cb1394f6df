"""Property-based tests: random shapes, masks and options against the reference."""

import numpy as np
import pytest
from conftest import tolerance
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsearch.attention import scaled_dot_product_attention as sdpa
from attnsearch.attention._reference import scaled_dot_product_attention as ref_sdpa

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


@st.composite
def attention_problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_batch_axes = draw(st.integers(0, 2))
    batch = tuple(draw(st.integers(1, 3)) for _ in range(n_batch_axes))
    n_q = draw(st.integers(0, 70))
    n_k = draw(st.integers(0, 70))
    d_k = draw(st.integers(1, 40))
    d_v = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Broadcast: drop leading batch axes of k/v or set them to 1.
    kv_batch = tuple(1 if draw(st.booleans()) else b for b in batch)
    kv_batch = kv_batch[draw(st.integers(0, len(kv_batch))) :]
    q = rng.standard_normal(batch + (n_q, d_k)).astype(dtype)
    k = rng.standard_normal(kv_batch + (n_k, d_k)).astype(dtype)
    v = rng.standard_normal(kv_batch + (n_k, d_v)).astype(dtype)
    mask_kind = draw(st.sampled_from([None, "bool", "additive"]))
    mask = None
    if mask_kind is not None:
        rows = draw(st.sampled_from([1, n_q]))
        cols = draw(st.sampled_from([1, n_k]))
        shape = (rows, cols)
        if mask_kind == "bool":
            mask = rng.random(shape) < draw(st.floats(0.0, 1.0))
        else:
            mask = rng.normal(scale=3, size=shape)
            mask[rng.random(shape) < 0.3] = -np.inf
    causal = draw(st.booleans())
    side = st.one_of(st.none(), st.integers(0, 30))
    window = draw(st.one_of(st.none(), st.integers(1, 30), st.tuples(side, side)))
    alibi = draw(st.one_of(st.none(), st.floats(0.0, 1.0)))
    scale = draw(st.one_of(st.none(), st.floats(-2.0, 2.0, allow_nan=False)))
    block_q = draw(st.one_of(st.none(), st.integers(1, 80)))
    block_k = draw(st.one_of(st.none(), st.integers(1, 80)))
    threads = draw(st.integers(1, 3))
    return dict(
        q=q,
        k=k,
        v=v,
        mask=mask,
        causal=causal,
        window=window,
        alibi_slopes=alibi,
        scale=scale,
        block_q=block_q,
        block_k=block_k,
        num_threads=threads,
    )


@settings(max_examples=150, deadline=None)
@given(attention_problems())
def test_random_problems_match_reference(problem):
    q, k, v = problem["q"], problem["k"], problem["v"]
    dtype = q.dtype
    out, weights = sdpa(
        q,
        k,
        v,
        mask=problem["mask"],
        causal=problem["causal"],
        window=problem["window"],
        alibi_slopes=problem["alibi_slopes"],
        scale=problem["scale"],
        block_q=problem["block_q"],
        block_k=problem["block_k"],
        num_threads=problem["num_threads"],
        return_weights=True,
    )
    want_out, want_w = ref_sdpa(
        q.astype(np.float64),
        k.astype(np.float64),
        v.astype(np.float64),
        mask=problem["mask"],
        causal=problem["causal"],
        window=problem["window"],
        alibi_slopes=(
            None
            if problem["alibi_slopes"] is None
            else np.full(q.shape[:-2], problem["alibi_slopes"])
        ),
        scale=problem["scale"],
        return_weights=True,
    )
    assert out.shape == want_out.shape and weights.shape == want_w.shape
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    np.testing.assert_allclose(out, want_out, **tolerance(dtype))
    np.testing.assert_allclose(weights, want_w, **tolerance(dtype))
    plain = sdpa(
        q,
        k,
        v,
        mask=problem["mask"],
        causal=problem["causal"],
        window=problem["window"],
        alibi_slopes=problem["alibi_slopes"],
        scale=problem["scale"],
        num_threads=problem["num_threads"],
    )
    np.testing.assert_allclose(plain, want_out, **tolerance(dtype))
