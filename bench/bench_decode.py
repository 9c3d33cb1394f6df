"""pytest-benchmark cases for the decode path (not part of `pytest tests/`).

    pytest bench/bench_decode.py --benchmark-only
    pytest bench/bench_decode.py --benchmark-only -k "32768 and gqa"

Decode attention (one query row per head against a long key/value cache),
parametrised over cache length, head layout and num_threads, with the NumPy
reference and torch SDPA as same-machine baselines, and one decode step of a
grouped-query layer with a KVCache.
"""

import numpy as np
import pytest

from attnsearch.attention import MultiHeadAttention, scaled_dot_product_attention
from attnsearch.attention._reference import (
    scaled_dot_product_attention as reference_sdpa,
)

LAYOUTS = {"gqa": (32, 8, 128), "mha": (8, 8, 64)}


def _qkv(layout, n_kv, n_q=1):
    h_q, h_kv, d = LAYOUTS[layout]
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, h_q, n_q, d), dtype=np.float32)
    k = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32)
    v = rng.standard_normal((1, h_kv, n_kv, d), dtype=np.float32)
    return q, k, v


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("n_kv", [4096, 32768])
def test_decode_kernel(benchmark, n_kv, layout, num_threads):
    q, k, v = _qkv(layout, n_kv)
    benchmark.extra_info["gigabytes"] = (k.nbytes + v.nbytes) / 1e9
    benchmark(
        scaled_dot_product_attention,
        q,
        k,
        v,
        check_finite=False,
        num_threads=num_threads,
    )


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_decode_reference(benchmark, layout):
    q, k, v = _qkv(layout, 4096)
    g = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    benchmark(reference_sdpa, q, k, v)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("n_kv", [4096, 32768])
def test_torch_decode(benchmark, n_kv, layout):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    q, k, v = (torch.from_numpy(x) for x in _qkv(layout, n_kv))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    with torch.inference_mode():
        benchmark(sdpa, q, k, v, enable_gqa=q.shape[1] != k.shape[1])


def test_gqa_layer_decode_step(benchmark):
    layer = MultiHeadAttention(4096, 32, n_kv_heads=8, bias=False, seed=0)
    cache = layer.new_cache(1, 4096 + 2000)
    rng = np.random.default_rng(1)
    k = rng.standard_normal((1, 8, 4096, 128), dtype=np.float32)
    cache.append(k, k)
    x = rng.standard_normal((1, 1, 4096), dtype=np.float32)
    benchmark.pedantic(layer, args=(x,), kwargs={"cache": cache}, rounds=200)
