"""Layer backward passes: finite differences, torch's nn.MultiheadAttention,
gradient accumulation, zero_grad and errors."""

import numpy as np
import pytest

from attnsearch.attention import AttentionHead, MultiHeadAttention


def _numeric_grad(f, arr, step=1e-6):
    """Central differences of f() over the entries of arr, perturbed in place (a
    layer's stored weights are read-only: they are opened for the duration)."""
    locked = not arr.flags.writeable
    arr.flags.writeable = True
    grad = np.zeros_like(arr)
    try:
        for index in np.ndindex(arr.shape):
            old = arr[index]
            arr[index] = old + step
            plus = f()
            arr[index] = old - step
            minus = f()
            arr[index] = old
            grad[index] = (plus - minus) / (2 * step)
    finally:
        arr.flags.writeable = not locked
    return grad


@pytest.mark.parametrize("cross", [False, True])
def test_head_gradients_match_finite_differences(rng, cross):
    head = AttentionHead(6, d_k=4, d_v=3, bias=True, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 5, 6))
    context = rng.standard_normal((2, 7, 6)) if cross else None
    mask = rng.random((5, 7 if cross else 5)) > 0.3
    out = head(x, context, mask=mask, keep_for_backward=True)
    grad_out = rng.standard_normal(out.shape)
    result = head.backward(grad_out)
    dx, dc = result if cross else (result, None)

    def loss():
        return float(np.sum(head(x, context, mask=mask) * grad_out))

    np.testing.assert_allclose(dx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    if cross:
        np.testing.assert_allclose(
            dc, _numeric_grad(loss, context), rtol=1e-6, atol=1e-8
        )
    for name in head.parameters():
        param = head._params[name]
        np.testing.assert_allclose(
            head.grads[name], _numeric_grad(loss, param), rtol=1e-6, atol=1e-8
        )


def _torch_grads(module, d):
    w = module.in_proj_weight.grad.numpy()
    b = module.in_proj_bias.grad.numpy()
    return {
        "W_Q": w[:d].T,
        "W_K": w[d : 2 * d].T,
        "W_V": w[2 * d :].T,
        "W_O": module.out_proj.weight.grad.numpy().T,
        "b_Q": b[:d],
        "b_K": b[d : 2 * d],
        "b_V": b[2 * d :],
        "b_O": module.out_proj.bias.grad.numpy(),
    }


@pytest.mark.parametrize("mode", ["self", "self-causal", "cross", "key-is-value"])
def test_multihead_gradients_match_torch(rng, mode):
    torch = pytest.importorskip("torch")
    d, h = 24, 4
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, h, batch_first=True).double()
    layer = MultiHeadAttention.from_torch_state_dict(module.state_dict(), h)
    x = rng.standard_normal((2, 9, d))
    y = rng.standard_normal((2, 6, d))
    z = rng.standard_normal((2, 6, d))
    causal = mode == "self-causal"
    if mode.startswith("self"):
        inputs, t_inputs = (x,), [torch.tensor(x, requires_grad=True)] * 3
        t_mask = torch.triu(torch.ones(9, 9, dtype=torch.bool), 1) if causal else None
        grads_of = t_inputs[:1]
    elif mode == "cross":
        inputs = (x, y, z)
        t_inputs = [torch.tensor(a, requires_grad=True) for a in inputs]
        t_mask, grads_of = None, t_inputs
    else:
        inputs = (x, y)
        ty = torch.tensor(y, requires_grad=True)
        t_inputs = [torch.tensor(x, requires_grad=True), ty, ty]
        t_mask, grads_of = None, t_inputs[:2]
    out = layer(*inputs, causal=causal, keep_for_backward=True)
    grad_out = rng.standard_normal(out.shape)
    result = layer.backward(grad_out)
    result = result if isinstance(result, tuple) else (result,)
    t_out = module(*t_inputs, need_weights=False, attn_mask=t_mask)[0]
    t_out.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for got, want in zip(result, grads_of):
        np.testing.assert_allclose(got, want.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, want in _torch_grads(module, d).items():
        np.testing.assert_allclose(layer.grads[name], want, rtol=1e-10, atol=1e-12)


def test_multihead_gradients_match_finite_differences_without_torch(rng):
    layer = MultiHeadAttention(8, 2, dtype=np.float64, seed=3)
    x = rng.standard_normal((2, 4, 8))
    mask = np.ones((2, 1, 1, 4), dtype=bool)
    mask[1, ..., 3] = False
    out = layer(x, mask=mask, keep_for_backward=True)
    grad_out = rng.standard_normal(out.shape)
    dx = layer.backward(grad_out)

    def loss():
        layer._on_parameters_changed()
        return float(np.sum(layer(x, mask=mask) * grad_out))

    np.testing.assert_allclose(dx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for name in ("W_Q", "W_V", "W_O", "b_K", "b_O"):
        numeric = _numeric_grad(loss, layer._params[name])
        np.testing.assert_allclose(layer.grads[name], numeric, rtol=1e-6, atol=1e-8)


def test_unbatched_input_and_float32(rng):
    layer = MultiHeadAttention(16, 4, seed=0)
    x = rng.standard_normal((5, 16)).astype(np.float32)
    out = layer(x, keep_for_backward=True)
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == np.float32
    batched = MultiHeadAttention(16, 4, seed=0)
    out_b = batched(x[None], keep_for_backward=True)
    np.testing.assert_array_equal(out_b[0], out)
    np.testing.assert_allclose(batched.backward(np.ones_like(out_b))[0], dx, rtol=1e-6)


def test_gradients_accumulate_and_zero_grad_clears(rng):
    layer = MultiHeadAttention(8, 2, dtype=np.float64, seed=0)
    x = rng.standard_normal((3, 5, 8))
    assert all(np.all(g == 0) for g in layer.grads.values())
    assert layer.grads.keys() == layer.parameters().keys()
    grad_out = rng.standard_normal((3, 5, 8))
    layer(x, keep_for_backward=True)
    layer.backward(grad_out)
    once = {k: v.copy() for k, v in layer.grads.items()}
    layer(x, keep_for_backward=True)
    layer.backward(grad_out)
    for name, value in layer.grads.items():
        np.testing.assert_allclose(value, 2 * once[name], rtol=1e-12)
    # Two halves of a batch accumulate to the whole batch's gradient.
    layer.zero_grad()
    for part in (slice(0, 1), slice(1, 3)):
        layer(x[part], keep_for_backward=True)
        layer.backward(grad_out[part])
    for name, value in layer.grads.items():
        np.testing.assert_allclose(value, once[name], rtol=1e-10, atol=1e-12)
    layer.zero_grad()
    assert all(np.all(g == 0) for g in layer.grads.values())


def test_backward_errors(rng):
    layer = MultiHeadAttention(8, 2, seed=0)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    with pytest.raises(RuntimeError, match="keep_for_backward=True"):
        layer.backward(np.ones((2, 5, 8)))
    layer(x)  # not kept
    with pytest.raises(RuntimeError, match="keep_for_backward=True"):
        layer.backward(np.ones((2, 5, 8)))
    layer(x, keep_for_backward=True)
    with pytest.raises(ValueError, match="shape of the forward's output"):
        layer.backward(np.ones((2, 4, 8)))
    layer(x, keep_for_backward=True)
    with pytest.raises(TypeError, match="floating-point"):
        layer.backward(np.ones((2, 5, 8), dtype=int))
    layer(x, keep_for_backward=True)
    bad = np.ones((2, 5, 8))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        layer.backward(bad)
    layer(x, keep_for_backward=True)
    layer.backward(np.ones((2, 5, 8)))
    with pytest.raises(RuntimeError, match="one backward call"):
        layer.backward(np.ones((2, 5, 8)))
