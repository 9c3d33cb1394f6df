"""Attention over more than 2^24 keys in float32: the sums over keys (the
forward's output accumulator, the backward's dQ) run in float64 across key
blocks, so a float32 accumulator no longer stalls once its value reaches 2^24
times one term (diffuse attention over 16.7M keys returned [3.37, 0.94]
instead of [3, 1])."""

import numpy as np
import pytest

from attnsearch.attention import (
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")

N_KEYS = 2**24 + 2**20


@pytest.fixture(scope="module")
def diffuse():
    """q = 0: every key gets weight 1 / N_KEYS. Keys and values alternate in sign
    on feature 0, so the exact results are simple: out = [0, 1] (the mean of v)
    and, for grad_out = e0, dq = scale * e0."""
    signs = np.where(np.arange(N_KEYS) % 2 == 0, 1.0, -1.0).astype(np.float32)
    k = np.zeros((1, 1, N_KEYS, 2), np.float32)
    k[0, 0, :, 0] = signs
    v = np.zeros((1, 1, N_KEYS, 2), np.float32)
    v[0, 0, :, 0] = signs
    v[0, 0, :, 1] = 1.0
    q = np.zeros((1, 1, 17, 2), np.float32)  # 17 rows: the tiled kernel
    return q, k, v


def test_tiled_forward_over_more_than_2_24_keys(diffuse):
    q, k, v = diffuse
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    np.testing.assert_allclose(out[0, 0], np.tile([0.0, 1.0], (17, 1)), atol=1e-5)
    np.testing.assert_allclose(lse, np.log(N_KEYS), rtol=1e-6)
    decode = scaled_dot_product_attention(q[..., :1, :], k, v)
    np.testing.assert_allclose(decode[0, 0, 0], [0.0, 1.0], atol=1e-5)


def test_backward_over_more_than_2_24_keys(diffuse):
    q, k, v = diffuse
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True)
    grad_out = np.zeros_like(out)
    grad_out[..., 0] = 1.0
    dq, _, _ = scaled_dot_product_attention_backward(grad_out, q, k, v, out, lse)
    np.testing.assert_allclose(dq[0, 0, :, 0], 1 / np.sqrt(2), rtol=2e-5)
    np.testing.assert_allclose(dq[0, 0, :, 1], 0.0, atol=1e-6)
