"""pytest-benchmark cases for the attention kernel (not part of `pytest tests/`).

    pytest bench/bench_attention.py --benchmark-only
    pytest bench/bench_attention.py --benchmark-only -k "4096 and float32"

Each case is parametrised over size, dtype, causality and num_threads and has
a NumPy-reference twin (up to n=1024, where it fits comfortably in memory), so
the saved runs compare kernel and reference on the same machine.
"""

import numpy as np
import pytest

from attnsearch.attention import MultiHeadAttention, scaled_dot_product_attention
from attnsearch.attention._reference import (
    scaled_dot_product_attention as reference_sdpa,
)

SIZES = [256, 1024, 4096]


def _qkv(n, dtype):
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal((1, 8, n, 64)).astype(dtype) for _ in range(3))


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
def test_sdpa_kernel(benchmark, n, dtype, causal, num_threads):
    q, k, v = _qkv(n, dtype)
    benchmark.extra_info["gflop"] = 4 * 8 * n * n * 64 / (2 if causal else 1) / 1e9
    benchmark(
        scaled_dot_product_attention, q, k, v, causal=causal, num_threads=num_threads
    )


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [256, 1024])
def test_sdpa_reference(benchmark, n, dtype, causal):
    q, k, v = _qkv(n, dtype)
    benchmark(reference_sdpa, q, k, v, causal=causal)


@pytest.mark.parametrize("n", [1024, 4096])
def test_multihead_attention(benchmark, n):
    layer = MultiHeadAttention(512, 8, seed=0)
    x = np.random.default_rng(1).standard_normal((1, n, 512)).astype(np.float32)
    benchmark(layer, x)


@pytest.mark.parametrize("n", [1024, 4096])
def test_torch_sdpa(benchmark, n):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    q, k, v = (torch.from_numpy(x) for x in _qkv(n, np.float32))
    with torch.inference_mode():
        benchmark(torch.nn.functional.scaled_dot_product_attention, q, k, v)
