"""Error of the bfloat16 attention backward against torch's, on the same inputs.

    python bench/bench_precision_errors.py

For a few shapes, q, k, v and grad_out are drawn in bfloat16 and both backward
passes (ours: on the vdpbf16ps tiles where the CPU has AVX512-BF16; torch's
bfloat16 scaled_dot_product_attention with autograd) are compared with the
float64 reference computed on the same bfloat16 values. Prints the max and rms
error of dq, dk, dv relative to the reference's max |.| and rms: the bounds of
tests/attention/test_bf16_backward.py come from this table.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

from attnsearch import _dispatch
from attnsearch.attention import (
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

BF16 = np.dtype(ml_dtypes.bfloat16)
# (batch, heads, n_q, n_k, d, causal); causal shapes are square (torch aligns
# causal masks top-left, we bottom-right: the same for n_q == n_k).
SHAPES = [
    (1, 4, 200, 300, 64, False),
    (2, 4, 256, 256, 64, True),
    (1, 2, 1024, 1024, 128, True),
    (1, 2, 77, 130, 32, False),
]


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    diff = got.astype(np.float64) - want
    return (
        float(np.abs(diff).max() / np.abs(want).max()),
        float(np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(want**2))),
    )


def main() -> None:
    print(f"backward kernel: {_dispatch.selected_target('backward')}")
    print(
        f"{'shape':<32}{'grad':>5}{'max ours':>11}{'torch':>9}"
        f"{'rms ours':>11}{'torch':>9}"
    )
    for seed, (b, h, n_q, n_k, d, causal) in enumerate(SHAPES):
        rng = np.random.default_rng(seed)
        shapes = [(b, h, n_q, d), (b, h, n_k, d), (b, h, n_k, d), (b, h, n_q, d)]
        q, k, v, grad = (rng.standard_normal(s).astype(BF16) for s in shapes)
        wide = [a.astype(np.float64) for a in (q, k, v, grad)]
        out, lse = scaled_dot_product_attention(q, k, v, causal=causal, return_lse=True)
        ours = scaled_dot_product_attention_backward(
            grad, q, k, v, out, lse, causal=causal
        )
        out64, lse64 = _reference.scaled_dot_product_attention(
            *wide[:3], causal=causal, return_lse=True
        )
        want = _reference.scaled_dot_product_attention_backward(
            wide[3], *wide[:3], out64, lse64, causal=causal
        )
        tensors = [
            torch.from_numpy(a.astype(np.float32)).bfloat16().requires_grad_()
            for a in wide[:3]
        ]
        t_out = F.scaled_dot_product_attention(*tensors, is_causal=causal)
        theirs = torch.autograd.grad(
            t_out, tensors, torch.from_numpy(wide[3].astype(np.float32)).bfloat16()
        )
        label = f"{(b, h, n_q, n_k, d)}{' causal' if causal else ''}"
        for name, got, their, ref in zip("qkv", ours, theirs, want, strict=True):
            our_max, our_rms = _errors(got, ref)
            their_max, their_rms = _errors(their.double().numpy(), ref)
            print(
                f"{label:<32}{'d' + name:>5}{our_max:11.2e}{their_max:9.2e}"
                f"{our_rms:11.2e}{their_rms:9.2e}"
            )


if __name__ == "__main__":
    main()
