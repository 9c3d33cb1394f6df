"""attnsearch.attention.torch: our kernels in torch autograd (skipped without torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from attnsearch.attention.torch import scaled_dot_product_attention  # noqa: E402

F = torch.nn.functional


def _tensors(rng, shapes, dtype=torch.float64):
    return [
        torch.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True)
        for s in shapes
    ]


@pytest.mark.parametrize(
    "shapes, options",
    [
        (((2, 3, 20, 8), (2, 3, 30, 8), (2, 3, 30, 6)), {}),
        (((2, 3, 25, 8), (2, 3, 25, 8), (2, 3, 25, 8)), {"is_causal": True}),
        (((1, 2, 10, 8), (1, 2, 25, 8), (1, 2, 25, 8)), {"is_causal": True}),
        (((1, 2, 25, 8), (1, 2, 10, 8), (1, 2, 10, 8)), {"is_causal": True}),
        (((1, 6, 16, 8), (1, 2, 16, 8), (1, 2, 16, 4)), {"enable_gqa": True}),
        (((2, 2, 12, 8), (2, 2, 14, 8), (2, 2, 14, 8)), {"mask": "bool"}),
        (
            ((2, 2, 12, 8), (2, 2, 14, 8), (2, 2, 14, 8)),
            {"mask": "float", "scale": 0.3},
        ),
    ],
)
def test_matches_torch_sdpa_forward_and_backward(rng, shapes, options):
    options = dict(options)
    kind = options.pop("mask", None)
    if kind == "bool":
        options["attn_mask"] = torch.from_numpy(rng.random((12, 14)) > 0.3)
    elif kind == "float":
        options["attn_mask"] = torch.from_numpy(rng.standard_normal((12, 14)))
    ours = _tensors(rng, shapes)
    theirs = [t.detach().clone().requires_grad_() for t in ours]
    out = scaled_dot_product_attention(*ours, **options)
    want = F.scaled_dot_product_attention(*theirs, **options)
    np.testing.assert_allclose(
        out.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12
    )
    grad = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    out.backward(grad)
    want.backward(grad)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(
            a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12
        )


def test_gradcheck(rng):
    q, k, v = _tensors(rng, [(1, 2, 5, 3), (1, 2, 6, 3), (1, 2, 6, 4)])
    assert torch.autograd.gradcheck(
        lambda a, b, c: scaled_dot_product_attention(a, b, c, is_causal=True), (q, k, v)
    )


def test_float32_inside_a_module_trains(rng):
    torch.manual_seed(0)
    proj = torch.nn.Linear(16, 48)
    x = torch.randn(4, 10, 16)
    target = torch.randn(4, 2, 10, 8)
    opt = torch.optim.SGD(proj.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        q, k, v = proj(x).view(4, 10, 2, 24).transpose(1, 2).split(8, dim=-1)
        loss = F.mse_loss(scaled_dot_product_attention(q, k, v, is_causal=True), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_errors(rng):
    q, k, v = _tensors(rng, [(1, 4, 5, 3), (1, 2, 5, 3), (1, 2, 5, 3)])
    with pytest.raises(ValueError, match="enable_gqa"):
        scaled_dot_product_attention(q, k, v)
    with pytest.raises(NotImplementedError, match="dropout"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.1, enable_gqa=True)
    with pytest.raises(TypeError, match="mixed dtypes"):
        scaled_dot_product_attention(q.to(torch.bfloat16), k, v, enable_gqa=True)
    with pytest.raises(TypeError, match="float32, float64, bfloat16 or float16"):
        scaled_dot_product_attention(q.to(torch.int32), k, v, enable_gqa=True)
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=torch.ones(5, 5, dtype=torch.bool),
            is_causal=True,
            enable_gqa=True,
        )
