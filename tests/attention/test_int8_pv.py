"""int8 values times probabilities quantised to int16 (AVX512-VNNI ``vpdpwssd``,
``quantize_query``): the kernel against a NumPy reference that quantises p the
same way (integer sums exact), the documented bound against float64, and the
float kernel kept wherever the integer one does not run. Whole decode steps:
test_int8_scores."""

import numpy as np
import pytest

from attnsearch import _dispatch
from attnsearch.attention._kv_formats import quantize_int8

pytestmark = pytest.mark.usefixtures("cpu_target")

_decode = _dispatch.kernels("decode")

BLOCK = 128  # keys per quantisation block (ATTNSEARCH_DEC_PV_KB)


def _has_int8_dots():
    return bool(_decode.decode_constants()["int8_dot_products"])


def _groups(d, group):
    """Column slices of each value scale."""
    return [slice(g * group, min(d, (g + 1) * group)) for g in range(-(-d // group))]


def _int16_probs(p_block, v_scales_block):
    """As the kernel: per row and value group, top = max|p| * max scale,
    q = rint(p * scale * (32767 / top)) in int16 (float32 products), and the
    dequantisation scale top / 32767."""
    f32 = np.float32
    pmax = np.abs(p_block).max(axis=1)
    vmax = v_scales_block.max(axis=0)
    top = (pmax[:, None] * vmax[None, :]).astype(f32)
    with np.errstate(divide="ignore"):
        inv = np.where(top > 0, f32(32767) / top, f32(0)).astype(f32)
    pv = (p_block[:, None, :] * v_scales_block.T[None, :, :]).astype(f32)
    x = pv * inv[:, :, None]
    q = np.clip(np.rint(x.astype(f32)), -32768, 32767).astype(np.int64)
    return q, (top / f32(32767)).astype(f32)


def _int16_pv_reference(p, v_i8, v_scales, group, o, corr):
    """float64 o * corr + p v, with p times the value scales quantised to int16
    per block of BLOCK keys exactly as the kernel does (the integer sums are
    exact; only the float32 conversion and scaling round)."""
    p = p.astype(np.float32)
    out = (o * corr[:, None]).astype(np.float64)
    cols = _groups(v_i8.shape[1], group)
    for j0 in range(0, p.shape[1], BLOCK):
        q, scale = _int16_probs(p[:, j0 : j0 + BLOCK], v_scales[j0 : j0 + BLOCK])
        vb = v_i8[j0 : j0 + BLOCK].astype(np.int64)
        for g, c in enumerate(cols):
            acc = q[:, g, :] @ vb[:, c]
            out[:, c] += acc.astype(np.float32).astype(np.float64) * scale[:, g, None]
    return out


def _int16_bound(p, v_i8, v_scales, group):
    """Per output element: the sum over blocks of top / 65534 * sum |v as
    stored| (half a step of q per key) plus the float32 products' rounding."""
    bound = np.zeros((p.shape[0], v_i8.shape[1]))
    cols = _groups(v_i8.shape[1], group)
    for j0 in range(0, p.shape[1], BLOCK):
        _, scale = _int16_probs(p[:, j0 : j0 + BLOCK], v_scales[j0 : j0 + BLOCK])
        vb = np.abs(v_i8[j0 : j0 + BLOCK].astype(np.float64))
        for g, c in enumerate(cols):
            half_step = scale[:, g, None] * 32767 / 65534
            bound[:, c] += half_step * vb[:, c].sum(0)[None, :]
    return bound


@pytest.mark.parametrize("d", [64, 128, 192, 256])
@pytest.mark.parametrize("group", [32, 64, None])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8])
def test_pv_kernel_matches_the_int16_reference(rng, d, group, rows):
    width = d if group is None else group
    n_keys = 301  # blocks of 128, 128 and 45 keys: an odd last key
    v_i8, v_scales = quantize_int8(rng.standard_normal((n_keys, d)), width)
    p = rng.random((rows, n_keys)).astype(np.float32) ** 4
    p[0, 128:256] = 0  # a block without weight
    o0 = rng.standard_normal((rows, d)).astype(np.float32)
    corr = rng.random(rows).astype(np.float32)
    v_deq = v_i8.astype(np.float64) * np.repeat(v_scales, width, axis=-1)[:, :d]
    exact = o0 * corr[:, None].astype(np.float64) + p.astype(np.float64) @ v_deq
    scale = np.abs(exact).max()

    o = o0.copy()
    _decode._dec_pv_i8_memview(p, v_i8, v_scales, width, o, corr, False)
    np.testing.assert_allclose(o, exact, rtol=1e-5, atol=1e-5 * scale)
    if not _has_int8_dots():
        with pytest.raises(RuntimeError, match="no int8 dot-product kernel"):
            _decode._dec_pv_i8_memview(p, v_i8, v_scales, width, o, corr, True)
        return
    o = o0.copy()
    _decode._dec_pv_i8_memview(p, v_i8, v_scales, width, o, corr, True)
    ref = _int16_pv_reference(p, v_i8, v_scales, width, o0, corr)
    # One q off by a step moves an element by ~3e-5 of its size: the
    # tolerance sees any difference in the quantisation.
    np.testing.assert_allclose(o, ref, rtol=1e-6, atol=1e-6 * scale)
    assert not np.array_equal(o, exact.astype(np.float32))  # p really was rounded
    # Against float64 on the same values: within the documented bound.
    bound = _int16_bound(p, v_i8, v_scales, width)
    assert (np.abs(o - exact) <= bound + 1e-6 * scale).all()


def test_nan_probabilities_give_nan_rows(rng):
    if not _has_int8_dots():
        pytest.skip("no int8 dot-product kernel in this variant")
    v_i8, v_scales = quantize_int8(rng.standard_normal((40, 128)), 32)
    p = rng.random((3, 40)).astype(np.float32)
    p[1, 17] = np.nan
    o = np.zeros((3, 128), np.float32)
    _decode._dec_pv_i8_memview(p, v_i8, v_scales, 32, o, np.ones(3, np.float32), True)
    assert np.isnan(o[1]).all()
    assert np.isfinite(o[[0, 2]]).all()
