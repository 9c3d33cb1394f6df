"""Layer backward passes: finite differences, torch's nn.MultiheadAttention,
gradient accumulation, zero_grad and errors."""

import numpy as np
import pytest

from attnsearch.attention import AttentionHead, MultiHeadAttention

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def _numeric_grad(f, arr, step=1e-6):
    """Central differences of f() over the entries of arr, perturbed in place (a
    layer's weights: inside ``layer.editing_parameters()``)."""
    grad = np.zeros_like(arr)
    for index in np.ndindex(arr.shape):
        old = arr[index]
        arr[index] = old + step
        plus = f()
        arr[index] = old - step
        minus = f()
        arr[index] = old
        grad[index] = (plus - minus) / (2 * step)
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
        with head.editing_parameters() as params:
            numeric = _numeric_grad(loss, params[name])
        np.testing.assert_allclose(head.grads[name], numeric, rtol=1e-6, atol=1e-8)


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
        with layer.editing_parameters() as params:
            numeric = _numeric_grad(loss, params[name])
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


# -- grouped-query layers, windows, ALiBi (the decode branch's layer options) --


def _layer_loss(layer, inputs, grad_out, **kwargs):
    # One thread: hundreds of tiny calls, each of which would otherwise wait for
    # a second OpenMP thread on a busy machine.
    def loss():
        layer._on_parameters_changed()  # the stacked [W_Q | W_K | W_V]
        return float(np.sum(layer(*inputs, num_threads=1, **kwargs) * grad_out))

    return loss


@pytest.mark.parametrize(
    "mode, options",
    [
        ("self", {"causal": True}),
        ("self", {"window": 3, "causal": True}),
        ("self", {"window": (2, 1), "alibi": True, "mask": True}),
        ("self", {"alibi": True, "causal": True, "padding": True}),
        ("cross", {"window": (None, 2), "alibi": True}),
        ("key-is-value", {"mask": True}),
    ],
)
def test_grouped_query_layer_gradients_match_finite_differences(rng, mode, options):
    options = dict(options)
    layer_kwargs = {"window": options.pop("window", None)}
    if options.pop("alibi", False):
        layer_kwargs["alibi_slopes"] = np.array([0.5, 0.25, 0.125, 0.0625])
    layer = MultiHeadAttention(
        8,
        4,
        n_kv_heads=2,
        d_kv=None if mode == "self" else 6,
        dtype=np.float64,
        seed=5,
        **layer_kwargs,
    )
    n_q, n_k = 5, 5 if mode == "self" else 7
    x = rng.standard_normal((2, n_q, 8))
    inputs = (x,)
    if mode == "cross":
        inputs = (x, rng.standard_normal((2, n_k, 6)), rng.standard_normal((2, n_k, 6)))
    elif mode == "key-is-value":
        inputs = (x, rng.standard_normal((2, n_k, 6)))
    kwargs = {"causal": options.pop("causal", False)}
    if options.pop("mask", False):
        mask = rng.random((2, 1, n_q, n_k)) > 0.3
        mask[..., 0] = True
        kwargs["mask"] = mask
    if options.pop("padding", False):
        padding = np.zeros((2, n_k), dtype=bool)
        padding[1, :2] = True
        kwargs["key_padding_mask"] = padding
    assert not options
    out = layer(*inputs, keep_for_backward=True, **kwargs)
    grad_out = rng.standard_normal(out.shape)
    result = layer.backward(grad_out)
    result = result if isinstance(result, tuple) else (result,)
    assert len(result) == len(inputs)
    loss = _layer_loss(layer, inputs, grad_out, **kwargs)
    for got, arr in zip(result, inputs):
        np.testing.assert_allclose(got, _numeric_grad(loss, arr), rtol=1e-6, atol=1e-8)
    for name in layer.parameters():
        with layer.editing_parameters() as params:
            numeric = _numeric_grad(loss, params[name])
        np.testing.assert_allclose(layer.grads[name], numeric, rtol=1e-6, atol=1e-8)


def test_grouped_query_gradients_are_the_sums_over_the_expanded_layer(rng):
    # A GQA layer equals an MHA layer whose K/V projections repeat each kv head's
    # columns for the query heads of its group: its dW_K, dW_V are the sums of
    # the expanded layer's over each group's copies; everything else is equal.
    d, h, kv = 16, 4, 2
    d_head, g = d // h, h // kv
    gqa = MultiHeadAttention(d, h, n_kv_heads=kv, dtype=np.float64, seed=2, window=4)
    full = MultiHeadAttention(d, h, dtype=np.float64, seed=0, window=4)
    params = gqa.parameters()
    for name in ("W_K", "W_V", "b_K", "b_V"):
        heads = np.split(params[name], kv, axis=-1)
        params[name] = np.concatenate([p for p in heads for _ in range(g)], axis=-1)
    for name, value in params.items():
        setattr(full, name, value)
    x = rng.standard_normal((3, 9, d))
    grad_out = rng.standard_normal((3, 9, d))
    gqa(x, causal=True, keep_for_backward=True)
    full(x, causal=True, keep_for_backward=True)
    dx, dx_full = gqa.backward(grad_out), full.backward(grad_out)
    np.testing.assert_allclose(dx, dx_full, rtol=1e-12, atol=1e-12)
    for name, value in gqa.grads.items():
        want = full.grads[name]
        if name in ("W_K", "W_V", "b_K", "b_V"):
            copies = want.reshape(want.shape[:-1] + (kv, g, d_head))
            want = copies.sum(axis=-2).reshape(value.shape)
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-12, err_msg=name)


def test_keep_for_backward_refuses_a_cache(rng):
    layer = MultiHeadAttention(16, 4, n_kv_heads=2, seed=0)
    cache = layer.new_cache(batch=1, capacity=8)
    x = rng.standard_normal((1, 3, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="keep_for_backward=True cannot be combined"):
        layer(x, cache=cache, keep_for_backward=True)
    assert cache.length == 0  # refused before anything was appended
    with pytest.raises(TypeError, match="keep_for_backward must be a bool"):
        layer(x, keep_for_backward="yes")
    # The cached forward itself still works, and keeps nothing for backward.
    layer(x, cache=cache)
    with pytest.raises(RuntimeError, match="keep_for_backward=True"):
        layer.backward(np.ones((1, 3, 16), np.float32))


def test_short_sequences_train_through_the_tiled_kernel(rng):
    # n <= 16 rows per head would take the decode kernel, which writes no
    # log-sum-exp: a kept forward must still give the gradient of the plain one.
    layer = MultiHeadAttention(16, 4, n_kv_heads=1, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 3, 16))
    out = layer(x, causal=True, keep_for_backward=True)
    np.testing.assert_allclose(out, layer(x, causal=True), rtol=1e-13, atol=1e-13)
    grad_out = rng.standard_normal(out.shape)
    dx = layer.backward(grad_out)
    loss = _layer_loss(layer, (x,), grad_out, causal=True)
    np.testing.assert_allclose(dx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-8)


def test_layer_backward_is_bitwise_identical_for_any_thread_count(rng):
    x = rng.standard_normal((2, 150, 64)).astype(np.float32)
    grad_out = rng.standard_normal((2, 150, 64)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        layer = MultiHeadAttention(
            64, 8, n_kv_heads=2, seed=0, window=40, alibi_slopes=np.ones(8) / 8
        )
        out = layer(x, causal=True, keep_for_backward=True, num_threads=threads)
        dx = layer.backward(grad_out, num_threads=threads)
        results.append((out, dx, layer.grads))
    for out, dx, grads in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(dx, results[0][1])
        for name, value in grads.items():
            np.testing.assert_array_equal(value, results[0][2][name], err_msg=name)


def test_optimiser_steps_keep_the_weights_read_only(rng):
    from attnsearch.attention import Adam

    layer = MultiHeadAttention(16, 4, n_kv_heads=2, seed=0)
    x = rng.standard_normal((2, 6, 16)).astype(np.float32)
    before = layer.parameters()
    opt = Adam(layer, lr=1e-2)
    out = layer(x, keep_for_backward=True)
    layer.backward(np.ones_like(out))
    opt.step()
    assert not np.array_equal(layer.W_K, before["W_K"])
    with pytest.raises(ValueError, match="read-only"):
        layer.W_K[:] = 0
    # The stacked self-attention weights follow the update.
    np.testing.assert_allclose(layer(x), layer(x, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_gemms_match_numpy_and_ignore_the_thread_count(rng, dtype):
    from attnsearch._dispatch import kernels

    linear = kernels("linear")
    grad_chunks = linear.grad_chunks
    linear_grad_input = linear.linear_grad_input
    linear_grad_weight = linear.linear_grad_weight

    m, k, n = 600, 40, 300  # enough work for two row and two column chunks
    assert grad_chunks(m, k, n)[0] < m and grad_chunks(m, k, n)[1] < n
    x = rng.standard_normal((m, k)).astype(dtype)
    dy = rng.standard_normal((m, n)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-12}
    weights, inputs = [], []
    for threads in (1, 2, 3, 4):
        dw = np.ones((k, n), dtype)
        linear_grad_weight(x, dy, dw, True, threads)
        dx = np.empty((m, k), dtype)
        linear_grad_input(dy, w, dx, False, threads)
        weights.append(dw)
        inputs.append(dx)
    np.testing.assert_allclose(weights[0], 1 + x.T @ dy, **tol)
    np.testing.assert_allclose(inputs[0], dy @ w.T, **tol)
    for dw, dx in zip(weights[1:], inputs[1:]):
        np.testing.assert_array_equal(dw, weights[0])
        np.testing.assert_array_equal(dx, inputs[0])
