"""Validate, then mutate: a refused call leaves every object as it was.

One test walks every public entry of the attention half that mutates state
(caches, layers' saved forward, parameters, gradients, optimiser state) with an
input it must refuse, and compares the objects before and after. The other
tests cover the rest of the "nothing wrong in silence" promises: gradients of
the forward that ran (or a clear error), concurrent cache appends, read-only
cache views, flags that must be bools, window sides near 2**63, and messages
that name the real problem.
"""

import copy
import threading

import numpy as np
import pytest

from attnsearch.attention import (
    SGD,
    Adam,
    AdamW,
    AttentionHead,
    KVCache,
    MultiHeadAttention,
    _reference,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)


def _state(*objects):
    """A deep, comparable picture of layers, caches and optimisers."""
    picture = []
    for obj in objects:
        if isinstance(obj, KVCache):
            picture.append(("cache", obj.position, obj._k.copy(), obj._v.copy()))
        elif hasattr(obj, "named_parameters"):
            saved = getattr(obj, "_saved", None)
            picture.append(
                (
                    "layer",
                    {k: v.copy() for k, v in obj.named_parameters().items()},
                    {k: v.copy() for k, v in obj.grads.items()},
                    None if saved is None else id(saved),
                    obj._parameter_version,
                )
            )
        else:  # an optimiser
            picture.append(("optimiser", copy.deepcopy(obj.state)))
    return picture


def _assert_same(before, after):
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert old[0] == new[0]
        for a, b in zip(old[1:], new[1:], strict=True):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            elif isinstance(a, dict):
                assert a.keys() == b.keys()
                for key in a:
                    if isinstance(a[key], dict):
                        _assert_same([("s", a[key])], [("s", b[key])])
                    else:
                        np.testing.assert_array_equal(a[key], b[key])
            elif isinstance(a, list):
                for sa, sb in zip(a, b, strict=True):
                    _assert_same([("s", sa)], [("s", sb)])
            else:
                assert a == b


def _trained(layer, x):
    """A layer with non-zero grads (its saved forward comes later)."""
    out = layer(x, keep_for_backward=True)
    layer.backward(np.ones_like(out))
    return layer


def _refusals(rng):
    """(name, objects whose state must not change, call that must raise)."""
    d = 16
    x = rng.standard_normal((2, 6, d)).astype(np.float32)
    huge = np.full((2, 6, d), 3e38, np.float32)  # finite, but the layer overflows

    mha = _trained(MultiHeadAttention(d, 2, seed=0), x)
    head = _trained(AttentionHead(d, d_k=4, d_v=4, seed=0), x)
    ring_layer = MultiHeadAttention(d, 2, window=(3, 0), seed=0)
    plain_cache, ring_cache = mha.new_cache(2, 8), ring_layer.new_cache(2, 5, ring=True)
    for _ in range(7):  # the ring has wrapped: a refused append must restore slots
        mha(x[:, :1], cache=plain_cache)
        ring_layer(x[:, :1], cache=ring_cache)
    sgd, adam = SGD(mha, lr=0.1, momentum=0.9), Adam(head, lr=0.1)
    sgd.step()
    adam.step()
    mha(x, keep_for_backward=True)  # the saved forward a refused call must keep
    head(x, keep_for_backward=True)
    big_sgd = SGD(mha, lr=1e38)
    zero_eps = AdamW(head, eps=0.0)

    params = {"w": np.ones(3), "b": np.zeros(2)}
    grads = {"w": np.ones(3), "b": np.ones(2)}
    pair_opt = SGD((params, grads), lr=0.1)

    def with_read_only_param():
        params["b"] = np.zeros(2)
        params["b"].flags.writeable = False
        try:
            pair_opt.step()
        finally:
            params["b"] = np.zeros(2)

    def with_list_grad():
        grads["b"] = [1.0, 1.0]
        try:
            pair_opt.step()
        finally:
            grads["b"] = np.ones(2)

    def with_complex_grad():
        grads["b"] = np.ones(2, complex)
        try:
            pair_opt.step()
        finally:
            grads["b"] = np.ones(2)

    bad_mask = np.ones((3, 3), bool)
    return [
        (
            "cache.append NaN",
            [plain_cache],
            lambda: plain_cache.append(
                np.full((2, 2, 1, 8), np.nan, np.float32),
                np.zeros((2, 2, 1, 8), np.float32),
            ),
        ),
        (
            "cache.append overflow",
            [plain_cache],
            lambda: plain_cache.append(*(np.zeros((2, 2, 5, 8), np.float32),) * 2),
        ),
        (
            "cached call, bad mask",
            [mha, plain_cache],
            lambda: mha(x[:, :1], cache=plain_cache, mask=bad_mask),
        ),
        (
            "cached call, overflow",
            [mha, plain_cache],
            lambda: mha(huge[:, :1], cache=plain_cache),
        ),
        (
            "ring cached call, bad mask",
            [ring_layer, ring_cache],
            lambda: ring_layer(x[:, :2], cache=ring_cache, mask=bad_mask),
        ),
        (
            "ring cached call, overflow",
            [ring_layer, ring_cache],
            lambda: ring_layer(huge[:, :3], cache=ring_cache),
        ),
        (
            "MHA keep_for_backward, overflow",
            [mha],
            lambda: mha(huge, keep_for_backward=True),
        ),
        (
            "MHA keep_for_backward, bad mask",
            [mha],
            lambda: mha(x, keep_for_backward=True, mask=bad_mask),
        ),
        (
            "head keep_for_backward, overflow",
            [head],
            lambda: head(huge, keep_for_backward=True),
        ),
        ("MHA backward, wrong shape", [mha], lambda: mha.backward(np.ones((2, 5, d)))),
        ("MHA backward, NaN", [mha], lambda: mha.backward(np.full((2, 6, d), np.nan))),
        (
            "MHA backward, overflowing grad",
            [mha],
            lambda: mha.backward(np.full((2, 6, d), 3e38, np.float32)),
        ),
        (
            "head backward, wrong shape",
            [head],
            lambda: head.backward(np.ones((2, 6, 5))),
        ),
        (
            "head backward, complex",
            [head],
            lambda: head.backward(np.ones((2, 6, 4), complex)),
        ),
        (
            "weight assignment, NaN",
            [mha],
            lambda: setattr(mha, "W_Q", np.full((d, d), np.nan)),
        ),
        (
            "weight assignment, out of range",
            [mha],
            lambda: setattr(mha, "W_Q", np.full((d, d), 1e300)),
        ),
        (
            "weight assignment, shape",
            [head],
            lambda: setattr(head, "W_K", np.ones((3, 3))),
        ),
        (
            "state dict, out of range",
            [mha],
            lambda: mha.load_torch_state_dict(
                {
                    "in_proj_weight": np.full((3 * d, d), 1e300),
                    "in_proj_bias": np.zeros(3 * d),
                    "out_proj.weight": np.eye(d),
                    "out_proj.bias": np.zeros(d),
                }
            ),
        ),
        ("SGD step overflows", [mha, sgd, big_sgd], big_sgd.step),
        (
            "AdamW eps=0, zero gradient",
            [head, adam, zero_eps],
            lambda: (head.zero_grad(), zero_eps.step()),
        ),
        ("step with a read-only parameter", [pair_opt], with_read_only_param),
        ("step with a list gradient", [pair_opt], with_list_grad),
        ("step with a complex gradient", [pair_opt], with_complex_grad),
    ]


def test_every_refused_mutating_call_leaves_every_object_as_it_was(rng):
    for name, objects, call in _refusals(rng):
        if name == "AdamW eps=0, zero gradient":
            objects[0].zero_grad()  # the refused step's precondition, not its effect
        before = _state(*objects)
        with pytest.raises((ValueError, TypeError)):
            call()
        try:
            _assert_same(before, _state(*objects))
        except AssertionError as error:
            raise AssertionError(f"{name}: the refused call changed state") from error


def test_a_retried_cached_step_equals_the_full_forward(rng):
    layer = MultiHeadAttention(16, 2, dtype=np.float64, seed=0)
    x = rng.standard_normal((1, 12, 16))
    full = layer(x, causal=True)
    cache = layer.new_cache(1, 12)
    steps = []
    for t in range(12):
        if t == 5:
            with pytest.raises(ValueError, match="mask"):
                layer(x[:, t : t + 1], cache=cache, mask=np.ones((3, 3), bool))
            assert cache.position == 5
        steps.append(layer(x[:, t : t + 1], cache=cache))
    np.testing.assert_allclose(
        np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("layer_kind", ["head", "multihead"])
@pytest.mark.parametrize("change", ["optimiser step", "weight assignment"])
def test_backward_after_the_weights_changed_raises(rng, layer_kind, change):
    x = rng.standard_normal((2, 5, 8))
    layer = (
        AttentionHead(8, d_k=4, dtype=np.float64, seed=0)
        if layer_kind == "head"
        else MultiHeadAttention(8, 2, dtype=np.float64, seed=0)
    )
    out = layer(x, keep_for_backward=True)
    layer.backward(np.ones_like(out))
    out = layer(x, keep_for_backward=True)
    if change == "optimiser step":
        SGD(layer, lr=0.1).step()
    else:
        layer.W_Q = layer.W_Q * 2
    with pytest.raises(RuntimeError, match="parameters changed after the forward"):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("layer_kind", ["head", "multihead"])
def test_reusing_the_input_buffer_does_not_change_the_gradients(rng, layer_kind):
    def make():
        if layer_kind == "head":
            return AttentionHead(8, d_k=4, dtype=np.float64, seed=0)
        return MultiHeadAttention(8, 2, dtype=np.float64, seed=0)

    x = rng.standard_normal((2, 5, 8))
    mask = rng.random((5, 5)) > 0.3
    mask[:, 0] = True
    grad_out = rng.standard_normal((2, 5, 4 if layer_kind == "head" else 8))
    reference = make()
    reference(x.copy(), mask=mask.copy(), keep_for_backward=True)
    expected = reference.backward(grad_out)

    layer = make()
    buffer, mask_buffer = x.copy(), mask.copy()
    layer(buffer, mask=mask_buffer, keep_for_backward=True)
    buffer[...] = 0.0  # the caller reuses its buffers before backward
    mask_buffer[...] = False
    np.testing.assert_array_equal(layer.backward(grad_out), expected)
    for name, grad in reference.grads.items():
        np.testing.assert_array_equal(layer.grads[name], grad)


def test_a_refused_backward_can_be_retried(rng):
    layer = MultiHeadAttention(8, 2, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 8))
    out = layer(x, keep_for_backward=True)
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.ones((2, 4, 8)))
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and np.isfinite(dx).all()
    with pytest.raises(RuntimeError, match="keep_for_backward"):
        layer.backward(np.ones_like(out))  # each forward serves one backward


def test_a_refused_forward_keeps_no_state(rng):
    layer = AttentionHead(8, d_k=4, seed=0)
    with pytest.raises(ValueError, match="overflows"):
        layer(np.full((1, 4, 8), 3e38, np.float32), keep_for_backward=True)
    with pytest.raises(RuntimeError, match="keep_for_backward"):
        layer.backward(np.ones((1, 4, 4), np.float32))


def test_optimisers_refuse_non_finite_updates_and_bad_gradients(rng):
    layer = MultiHeadAttention(8, 2, seed=0)
    out = layer(
        rng.standard_normal((1, 4, 8)).astype(np.float32), keep_for_backward=True
    )
    layer.backward(np.ones_like(out))
    with pytest.raises(ValueError, match="not finite"):
        SGD(layer, lr=1e38).step()
    layer.zero_grad()
    with pytest.raises(ValueError, match="eps is 0"):
        Adam(layer, eps=0.0).step()
    params, grads = {"w": np.ones(2)}, {"w": [1.0, 2.0]}
    with pytest.raises(
        TypeError, match="'w' must be a real floating-point ndarray, got list"
    ):
        SGD((params, grads)).step()
    grads["w"] = np.ones(2, complex)
    with pytest.raises(TypeError, match="complex"):
        SGD((params, grads)).step()


def test_concurrent_appends_are_never_lost():
    cache = KVCache(1, 1, 4 * 500, 2, dtype=np.float64)
    block = np.ones((1, 1, 1, 2))

    def worker():
        for _ in range(500):
            cache.append(block, block)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.position == 2000
    assert (cache.keys == 1).all()


def test_cache_views_cannot_be_made_writeable():
    cache = KVCache(1, 1, 4, 2, dtype=np.float64)
    cache.append(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    for view in (cache.keys, cache.values, cache.keys.base):
        with pytest.raises(ValueError, match="WRITEABLE"):
            view.flags.writeable = True
        with pytest.raises(ValueError, match="read-only"):
            view[...] = np.nan


@pytest.mark.parametrize(
    "make",
    [
        lambda: AttentionHead(8, bias="no"),
        lambda: MultiHeadAttention(8, 2, bias=1),
        lambda: KVCache(1, 1, 4, 2, ring="no"),
        lambda: SGD(MultiHeadAttention(8, 2), momentum=0.9, nesterov="yes"),
        lambda: Adam(MultiHeadAttention(8, 2), amsgrad="no"),
        lambda: scaled_dot_product_attention(*np.ones((3, 2, 4)), causal="no"),
        lambda: scaled_dot_product_attention(*np.ones((3, 2, 4)), check_finite=0),
        lambda: scaled_dot_product_attention(*np.ones((3, 2, 4)), return_lse="yes"),
        lambda: MultiHeadAttention(8, 2)(np.ones((1, 2, 8)), average_weights="no"),
        lambda: MultiHeadAttention(8, 2)(np.ones((1, 2, 8)), progress=1),
    ],
)
def test_flags_must_be_bools(make):
    with pytest.raises(TypeError, match="must be a bool"):
        make()


def test_torch_flags_must_be_bools():
    torch = pytest.importorskip("torch")
    from attnsearch.attention.torch import scaled_dot_product_attention as sdpa_torch

    q = torch.ones(1, 2, 4)
    with pytest.raises(TypeError, match="is_causal must be a bool"):
        sdpa_torch(q, q, q, is_causal="no")


@pytest.mark.parametrize(
    "window", [(None, 2**63 - 40), (None, 2**63 - 1), (2**63 - 1, 0), 2**63 - 1, 10**30]
)
def test_window_sides_near_two_to_the_63_mean_unbounded(rng, window):
    q, k, v = (rng.standard_normal((2, 20, 8)) for _ in range(3))
    left, right = (window, window) if isinstance(window, int) else window
    bounded = (
        None if left is None or left > 2**62 else left,
        None if right is None or right > 2**62 else right,
    )
    expected = _reference.scaled_dot_product_attention(
        q, k, v, window=None if bounded == (None, None) else bounded
    )
    out, lse = scaled_dot_product_attention(q, k, v, window=window, return_lse=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)
    grads = scaled_dot_product_attention_backward(
        np.ones_like(out), q, k, v, out, lse, window=window
    )
    assert all(np.isfinite(g).all() for g in grads)
    np.testing.assert_allclose(
        scaled_dot_product_attention(q[:, :1], k, v, window=window),
        _reference.scaled_dot_product_attention(
            q[:, :1], k, v, window=None if bounded == (None, None) else bounded
        ),
        rtol=1e-12,
    )


def test_messages_name_the_real_problem(rng):
    q, k, v = (rng.standard_normal((1, 2, 16, 8)).astype(np.float32) for _ in range(3))
    with pytest.raises(ValueError, match="ALiBi bias"):
        scaled_dot_product_attention(
            q, k[:, :, :8], v[:, :, :8], alibi_slopes=[1e38, 1.0]
        )
    with pytest.raises(ValueError, match="out of the range of float32"):
        MultiHeadAttention(8, 2)(np.full((1, 2, 8), 1e300))
    with pytest.raises(ValueError, match="out of the range of float32"):
        MultiHeadAttention(8, 2).W_O = np.full((8, 8), 1e300)


def test_torch_bf16_state_dicts_and_masks_and_no_second_order_grads():
    torch = pytest.importorskip("torch")
    from attnsearch.attention.torch import scaled_dot_product_attention as sdpa_torch

    module = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    reference = MultiHeadAttention.from_torch_state_dict(module.state_dict(), 2)
    layer = MultiHeadAttention.from_torch_state_dict(module.bfloat16().state_dict(), 2)
    for name, weight in layer.named_parameters().items():  # bf16 → float32 exactly
        np.testing.assert_allclose(
            weight, reference.named_parameters()[name], rtol=1e-2
        )

    q, k, v = (
        torch.randn(1, 2, 6, 4, dtype=torch.float64, requires_grad=True)
        for _ in range(3)
    )
    mask = torch.zeros(6, 6, dtype=torch.bfloat16)
    mask[:, 0] = -1e4
    out = sdpa_torch(q, k, v, attn_mask=mask)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask.double()
    )
    np.testing.assert_allclose(
        out.detach().numpy(), expected.detach().numpy(), rtol=1e-12
    )
    with pytest.raises(RuntimeError, match="no second-order gradients"):
        torch.autograd.grad(sdpa_torch(q, k, v).sum(), q, create_graph=True)
