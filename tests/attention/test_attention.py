"""Fused attention kernel against the NumPy reference, invariances and bad input."""

import numpy as np
import pytest
from conftest import tolerance
from threadpoolctl import threadpool_limits

from attnsearch._dispatch import kernels
from attnsearch.attention import _reference
from attnsearch.attention import scaled_dot_product_attention as sdpa

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

BACKENDS = ["cython", "reference"]


def reference(q, k, v, **kwargs):
    """The NumPy reference evaluated in float64, cast to the result dtype."""
    dtype = np.result_type(q, k, v)
    cast = {name: np.asarray(x, np.float64) for name, x in zip("qkv", (q, k, v))}
    result = _reference.scaled_dot_product_attention(
        cast["q"], cast["k"], cast["v"], **kwargs
    )
    if isinstance(result, tuple):
        return tuple(r.astype(dtype) for r in result)
    return result.astype(dtype)


def random_qkv(rng, batch, n_q, n_k, d_k, d_v, dtype, k_batch=None):
    k_batch = batch if k_batch is None else k_batch
    q = rng.standard_normal(batch + (n_q, d_k)).astype(dtype)
    k = rng.standard_normal(k_batch + (n_k, d_k)).astype(dtype)
    v = rng.standard_normal(k_batch + (n_k, d_v)).astype(dtype)
    return q, k, v


SHAPES = [
    # n_q, n_k, d_k, d_v
    (1, 1, 1, 1),
    (5, 7, 3, 4),
    (7, 5, 8, 8),
    (33, 33, 64, 64),
    (100, 513, 64, 80),  # n_k not a multiple of the key block
    (517, 300, 17, 33),  # odd everything, n_q > n_k
    (130, 1100, 128, 64),
]
BATCHES = [(), (3,), (2, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("causal", [False, True])
def test_kernel_matches_reference(rng, dtype, shape, batch, causal):
    n_q, n_k, d_k, d_v = shape
    if n_q * n_k * max(1, np.prod(batch)) > 400_000 and batch:
        batch = batch[-1:]
    q, k, v = random_qkv(rng, batch, n_q, n_k, d_k, d_v, dtype)
    out = sdpa(q, k, v, causal=causal)
    assert out.dtype == dtype and out.shape == batch + (n_q, d_v)
    np.testing.assert_allclose(
        out, reference(q, k, v, causal=causal), **tolerance(dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_weights_match_reference(rng, dtype, backend, causal):
    q, k, v = random_qkv(rng, (2,), 70, 90, 16, 12, dtype)
    out, weights = sdpa(
        q, k, v, causal=causal, return_weights=True, backend=backend, block_k=32
    )
    ref_out, ref_w = reference(q, k, v, causal=causal, return_weights=True)
    np.testing.assert_allclose(out, ref_out, **tolerance(dtype))
    np.testing.assert_allclose(weights, ref_w, **tolerance(dtype))
    np.testing.assert_allclose(weights.sum(-1), 1, rtol=1e-5)
    # Outputs with and without weights agree to rounding.
    np.testing.assert_allclose(
        sdpa(q, k, v, causal=causal, backend=backend), out, **tolerance(dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", ["bool", "additive"])
@pytest.mark.parametrize(
    "mask_shape",
    [(40, 50), (1, 50), (40, 1), (50,), (2, 1, 40, 50), (2, 3, 1, 50), (3, 40, 50)],
)
@pytest.mark.parametrize("causal", [False, True])
def test_masks_broadcast(rng, dtype, mask_kind, mask_shape, causal):
    q, k, v = random_qkv(rng, (2, 3), 40, 50, 8, 6, dtype)
    if mask_kind == "bool":
        mask = rng.random(mask_shape) < 0.7
    else:
        mask = rng.normal(size=mask_shape)
        mask[rng.random(mask_shape) < 0.2] = -np.inf
    out = sdpa(q, k, v, mask=mask, causal=causal)
    np.testing.assert_allclose(
        out, reference(q, k, v, mask=mask, causal=causal), **tolerance(dtype)
    )


def test_mask_extends_batch_shape(rng):
    q, k, v = random_qkv(rng, (), 6, 9, 4, 5, np.float64)
    mask = rng.random((3, 6, 9)) < 0.5
    out = sdpa(q, k, v, mask=mask)
    assert out.shape == (3, 6, 5)
    np.testing.assert_allclose(
        out, reference(q, k, v, mask=mask), **tolerance(np.float64)
    )


def test_non_contiguous_mask_strides(rng):
    q, k, v = random_qkv(rng, (2,), 30, 40, 8, 8, np.float32)
    base = rng.random((2, 40, 30 * 2)) < 0.6
    mask = np.swapaxes(base[:, :, ::2], -1, -2)  # (2, 30, 40) with odd strides
    np.testing.assert_allclose(
        sdpa(q, k, v, mask=mask), reference(q, k, v, mask=mask), **tolerance(np.float32)
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zeros(rng, backend, dtype):
    q, k, v = random_qkv(rng, (2,), 6, 8, 4, 3, dtype)
    mask = rng.random((2, 6, 8)) < 0.5
    mask[0, 2, :] = False
    mask[1, 5, :] = False
    out, weights = sdpa(q, k, v, mask=mask, return_weights=True, backend=backend)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    assert np.all(out[0, 2] == 0) and np.all(weights[0, 2] == 0)
    assert np.all(out[1, 5] == 0) and np.all(weights[1, 5] == 0)
    additive = np.where(mask, 0.0, -np.inf)
    out2 = sdpa(q, k, v, mask=additive, backend=backend)
    np.testing.assert_allclose(out2, out, **tolerance(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_with_more_queries_than_keys_zeros_the_first_rows(rng, backend):
    q, k, v = random_qkv(rng, (), 9, 4, 3, 2, np.float64)
    out, weights = sdpa(q, k, v, causal=True, return_weights=True, backend=backend)
    # Bottom-right alignment: query i sees keys j <= i - 5, so rows 0..4 see nothing.
    assert np.all(out[:5] == 0) and np.all(weights[:5] == 0)
    np.testing.assert_allclose(weights[5:], np.tril(np.ones((4, 4))) * weights[5:])
    np.testing.assert_allclose(
        out, reference(q, k, v, causal=True), **tolerance(np.float64)
    )


def test_causal_fewer_queries_than_keys_sees_the_prefix(rng):
    q, k, v = random_qkv(rng, (), 3, 10, 4, 4, np.float64)
    _, weights = sdpa(q, k, v, causal=True, return_weights=True)
    for i in range(3):
        assert np.all(weights[i, 8 + i :] == 0) and np.all(weights[i, : 8 + i] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_grouped_query_attention(rng, dtype, backend):
    q = rng.standard_normal((2, 8, 20, 16)).astype(dtype)
    k = rng.standard_normal((2, 2, 30, 16)).astype(dtype)
    v = rng.standard_normal((2, 2, 30, 8)).astype(dtype)
    out = sdpa(q, k, v, causal=True, backend=backend)
    expected = reference(
        q, np.repeat(k, 4, axis=1), np.repeat(v, 4, axis=1), causal=True
    )
    np.testing.assert_allclose(out, expected, **tolerance(dtype))


def test_gqa_with_broadcast_batch_and_single_kv_head(rng):
    q = rng.standard_normal((3, 6, 10, 8))
    k = rng.standard_normal((1, 1, 12, 8))
    v = rng.standard_normal((1, 12, 5))
    np.testing.assert_allclose(
        sdpa(q, k, v), reference(q, k, v), **tolerance(np.float64)
    )
    k3 = rng.standard_normal((3, 3, 12, 8))
    v3 = rng.standard_normal((3, 3, 12, 5))
    np.testing.assert_allclose(
        sdpa(q, k3, v3),
        reference(q, np.repeat(k3, 2, axis=1), np.repeat(v3, 2, axis=1)),
        **tolerance(np.float64),
    )


def test_broadcast_batch_axes(rng):
    q = rng.standard_normal((4, 1, 7, 8))
    k = rng.standard_normal((1, 3, 9, 8))
    v = rng.standard_normal((3, 9, 2))
    out = sdpa(q, k, v)
    assert out.shape == (4, 3, 7, 2)
    np.testing.assert_allclose(out, reference(q, k, v), **tolerance(np.float64))


@pytest.mark.parametrize("scale", [0.01, 1.0, 3.5, -0.7])
def test_custom_scale(rng, scale):
    q, k, v = random_qkv(rng, (2,), 11, 13, 6, 6, np.float64)
    np.testing.assert_allclose(
        sdpa(q, k, v, scale=scale),
        reference(q, k, v, scale=scale),
        **tolerance(np.float64),
    )


def test_float32_float64_promote_and_float16_keeps_its_dtype(rng):
    q, k, v = random_qkv(rng, (), 5, 6, 4, 4, np.float32)
    assert sdpa(q, k.astype(np.float64), v).dtype == np.float64
    half = [a.astype(np.float16) for a in (q, k, v)]
    out16 = sdpa(*half)
    assert out16.dtype == np.float16
    with pytest.raises(TypeError, match="float16"):
        sdpa(half[0], k, v)


def test_non_contiguous_read_only_and_memmap_inputs(rng, tmp_path):
    base = rng.standard_normal((2, 40, 3, 16)).astype(np.float32)
    q = np.swapaxes(base, 1, 2)  # (2, 3, 40, 16), head-split view
    k = np.ascontiguousarray(q[..., ::-1, :])  # reversed keys
    v = q[..., ::2]  # last-axis stride 2: copied
    q.flags.writeable = False
    path = tmp_path / "k.npy"
    np.save(path, k)
    k_map = np.load(path, mmap_mode="r")
    out = sdpa(q, k_map, v)
    np.testing.assert_allclose(out, reference(q, k, v), **tolerance(np.float32))
    neg = q[:, :, ::-1, :]  # negative row stride
    np.testing.assert_allclose(
        sdpa(neg, k, v), reference(neg, k, v), **tolerance(np.float32)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_sizes(rng, backend):
    q, k, v = random_qkv(rng, (2,), 0, 5, 4, 3, np.float32)
    out = sdpa(q, k, v, backend=backend)
    assert out.shape == (2, 0, 3)
    q, k, v = random_qkv(rng, (2,), 4, 0, 4, 3, np.float32)
    out, weights = sdpa(q, k, v, return_weights=True, backend=backend)
    assert out.shape == (2, 4, 3) and np.all(out == 0)
    assert weights.shape == (2, 4, 0)
    q, k, v = random_qkv(rng, (0, 3), 4, 5, 4, 3, np.float64)
    assert sdpa(q, k, v, backend=backend).shape == (0, 3, 4, 3)
    q, k, v = random_qkv(rng, (), 4, 5, 4, 0, np.float64)
    assert sdpa(q, k, v, backend=backend).shape == (4, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_scores_do_not_overflow(rng, dtype):
    q, k, v = random_qkv(rng, (2,), 20, 30, 4, 4, dtype)
    q *= 100.0  # scores of order +-1e4
    k *= 100.0
    out = sdpa(q, k, v, causal=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, reference(q, k, v, causal=True), **tolerance(dtype))


def test_num_threads_bitwise_invariance(rng):
    q, k, v = random_qkv(rng, (2, 3), 300, 700, 64, 64, np.float32)
    mask = rng.random((300, 700)) < 0.8
    kwargs = dict(mask=mask, causal=True, block_q=96, block_k=256)
    one = sdpa(q, k, v, num_threads=1, **kwargs)
    two = sdpa(q, k, v, num_threads=2, **kwargs)
    four = sdpa(q, k, v, num_threads=4, **kwargs)
    assert np.array_equal(one, two) and np.array_equal(one, four)
    with threadpool_limits(1, user_api="openmp"):
        limited = sdpa(q, k, v, **kwargs)
    assert np.array_equal(one, limited)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_size_invariance(rng, dtype):
    q, k, v = random_qkv(rng, (2,), 250, 333, 32, 24, dtype)
    baseline = sdpa(q, k, v, causal=True, block_q=96, block_k=512)
    for block_q, block_k in [(1, 1), (7, 13), (12, 32), (250, 333), (384, 64)]:
        out = sdpa(q, k, v, causal=True, block_q=block_q, block_k=block_k)
        np.testing.assert_allclose(out, baseline, **tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree(rng, dtype):
    q, k, v = random_qkv(rng, (2, 2), 30, 45, 8, 8, dtype)
    mask = rng.normal(size=(30, 45))
    a = sdpa(q, k, v, mask=mask, causal=True, backend="cython")
    b = sdpa(q, k, v, mask=mask, causal=True, backend="reference")
    c = sdpa(q, k, v, mask=mask, causal=True, backend="auto")
    np.testing.assert_allclose(a, b, **tolerance(dtype))
    assert np.array_equal(a, c)


def test_nan_propagates_without_check_finite(rng):
    q, k, v = random_qkv(rng, (), 6, 8, 4, 4, np.float64)
    q[2, 1] = np.nan
    out = sdpa(q, k, v, check_finite=False)
    assert np.all(np.isnan(out[2]))
    assert np.all(np.isfinite(np.delete(out, 2, axis=0)))
    v2 = v.copy()
    v2[3, 0] = np.nan
    out = sdpa(q[[0, 1, 3]], k, v2, check_finite=False)
    assert np.all(np.isnan(out[:, 0])) and np.all(np.isfinite(out[:, 1:]))


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, name",
    [
        (np.ones((3, 4), dtype=np.int64), "q"),
        (np.ones((3, 4), dtype=np.complex128), "q"),
        (np.array([[object()]]), "q"),
        (np.ones((3, 4), dtype=bool), "q"),
    ],
)
def test_non_float_inputs_raise_type_error(bad, name):
    k = np.ones((5, bad.shape[-1]))
    with pytest.raises(TypeError, match=name):
        sdpa(bad, k, k)
    with pytest.raises(TypeError, match="k must"):
        sdpa(k, bad if bad.shape[-1] == k.shape[-1] else bad, k)


def test_too_few_dimensions_raise():
    with pytest.raises(ValueError, match="q must have at least 2 dimensions"):
        sdpa(np.float64(1.0), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="v must have at least 2"):
        sdpa(np.ones((2, 2)), np.ones((2, 2)), np.ones(2))


def test_shape_mismatches_raise():
    with pytest.raises(ValueError, match="d_k"):
        sdpa(np.ones((3, 4)), np.ones((5, 6)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="n_k"):
        sdpa(np.ones((3, 4)), np.ones((5, 4)), np.ones((6, 2)))
    with pytest.raises(ValueError, match="do not broadcast"):
        sdpa(np.ones((2, 3, 4)), np.ones((3, 5, 4)), np.ones((3, 5, 2)))
    with pytest.raises(ValueError, match="grouped-query"):
        sdpa(np.ones((1, 6, 3, 4)), np.ones((1, 4, 5, 4)), np.ones((1, 4, 5, 2)))
    with pytest.raises(ValueError, match="d_k must be at least 1"):
        sdpa(np.ones((3, 0)), np.ones((5, 0)), np.ones((5, 2)))


def test_mask_errors():
    q = np.ones((3, 4))
    kv = np.ones((5, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, kv, kv, mask=np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="mask must be boolean"):
        sdpa(q, kv, kv, mask=np.ones((3, 5), np.int32))
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        sdpa(q, kv, kv, mask=np.full((3, 5), np.nan))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        sdpa(q, kv, kv, mask=np.bool_(True))


def test_non_finite_inputs_raise_with_check_finite():
    q = np.ones((3, 4))
    kv = np.ones((5, 4))
    for name, args in {
        "q": (q * np.nan, kv, kv),
        "k": (q, kv * np.inf, kv),
        "v": (q, kv, kv * np.nan),
    }.items():
        with pytest.raises(ValueError, match=f"{name} contains NaN"):
            sdpa(*args)


def test_bad_parameters_raise():
    q = np.ones((3, 4))
    with pytest.raises(ValueError, match="backend"):
        sdpa(q, q, q, backend="torch")
    with pytest.raises(TypeError, match="scale"):
        sdpa(q, q, q, scale="big")
    with pytest.raises(ValueError, match="scale must be finite"):
        sdpa(q, q, q, scale=np.inf)
    with pytest.raises(ValueError, match="num_threads=0"):
        sdpa(q, q, q, num_threads=0)
    with pytest.raises(ValueError, match="block_q"):
        sdpa(q, q, q, block_q=0)
    with pytest.raises(TypeError, match="block_k"):
        sdpa(q, q, q, block_k=2.5)
    with pytest.raises(TypeError, match="q must be an array"):
        sdpa(None, q, q)


def test_kernel_constants_are_consistent():
    c = kernels("attention").kernel_constants()
    assert c["panel_float32"] == 2 * c["lanes_float32"]
    assert c["panel_float64"] == 2 * c["lanes_float64"]
    assert 96 % c["row_align"] == 0


def test_backend_old_name_still_works_with_a_warning():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, 8))
    with pytest.warns(FutureWarning, match='backend="reference"'):
        old = sdpa(q, q, q, backend="numpy")
    np.testing.assert_array_equal(old, sdpa(q, q, q, backend="reference"))
    with pytest.raises(ValueError, match="backend must be one of"):
        sdpa(q, q, q, backend="torch")
