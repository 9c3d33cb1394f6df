"""pytest-benchmark cases for the attention backward (not part of `pytest tests/`).

    pytest bench/bench_backward.py --benchmark-only
    pytest bench/bench_backward.py --benchmark-only -k "4096 and float32"

The fused backward over size, dtype, causality and num_threads, over sliding
window sizes (one thread, n = 8192), its NumPy
reference (n <= 1024), torch's forward + backward and one MultiHeadAttention
training step. The comparison table with torch is
`python bench/compare.py training`.
"""

import numpy as np
import pytest

from attnsearch.attention import (
    Adam,
    MultiHeadAttention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from attnsearch.attention._reference import (
    scaled_dot_product_attention_backward as reference_backward,
)

SIZES = [256, 1024, 4096]


def _case(n, dtype, causal):
    rng = np.random.default_rng(0)
    q, k, v, grad_out = (
        rng.standard_normal((1, 8, n, 64)).astype(dtype) for _ in range(4)
    )
    out, lse = scaled_dot_product_attention(q, k, v, causal=causal, return_lse=True)
    return grad_out, q, k, v, out, lse


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
def test_backward_kernel(benchmark, n, dtype, causal, num_threads):
    args = _case(n, dtype, causal)
    benchmark.extra_info["gflop"] = (
        2.5 * 4 * 8 * n * n * 64 / (2 if causal else 1) / 1e9
    )
    benchmark(
        scaled_dot_product_attention_backward,
        *args,
        causal=causal,
        num_threads=num_threads,
    )


@pytest.mark.parametrize("window", [None, 4096, 2048, 1024, 512, 256])
def test_backward_sliding_window(benchmark, window):
    """Causal backward at n = 8192 over window sizes, one thread: the time is
    proportional to n * W (plus ~n * block_q), not n^2."""
    rng = np.random.default_rng(0)
    q, k, v, grad_out = (
        rng.standard_normal((1, 1, 8192, 64)).astype(np.float32) for _ in range(4)
    )
    options = dict(causal=True, window=window, num_threads=1)
    out, lse = scaled_dot_product_attention(q, k, v, return_lse=True, **options)
    benchmark(
        scaled_dot_product_attention_backward,
        grad_out,
        q,
        k,
        v,
        out,
        lse,
        check_finite=False,
        **options,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [256, 1024])
def test_backward_reference(benchmark, n, dtype):
    benchmark(reference_backward, *_case(n, dtype, False))


@pytest.mark.parametrize("n", [1024, 4096])
def test_torch_forward_backward(benchmark, n):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    q, k, v = (
        torch.randn(
            1, 8, n, 64, requires_grad=True, generator=torch.Generator().manual_seed(i)
        )
        for i in range(3)
    )
    grad = torch.ones(1, 8, n, 64)

    def step():
        torch.nn.functional.scaled_dot_product_attention(q, k, v).backward(grad)

    benchmark(step)


def test_multihead_training_step(benchmark):
    layer = MultiHeadAttention(512, 8, seed=0)
    optimiser = Adam(layer, lr=1e-4)
    x = np.random.default_rng(1).standard_normal((8, 512, 512)).astype(np.float32)

    def step():
        optimiser.zero_grad()
        out = layer(x, keep_for_backward=True)
        layer.backward(out / out.size)
        optimiser.step()

    benchmark(step)
