"""SGD, Adam and AdamW against torch.optim, and on layers."""

import numpy as np
import pytest

from attnsearch.attention import SGD, Adam, AdamW, MultiHeadAttention

CONFIGS = [
    (SGD, "SGD", {"lr": 0.1}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (Adam, "Adam", {"lr": 1e-2}),
    (Adam, "Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 1e-2, "amsgrad": True}),
    (AdamW, "AdamW", {"lr": 1e-2}),
    (AdamW, "AdamW", {"lr": 1e-2, "weight_decay": 0.1, "eps": 1e-6}),
]


@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS)
def test_steps_match_torch_optim(rng, cls, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    params = {
        "w": rng.standard_normal((20, 12)).astype(np.float32),
        "b": rng.standard_normal(12).astype(np.float32),
    }
    grads = {name: np.zeros_like(arr) for name, arr in params.items()}
    t_params = [torch.tensor(params[n].copy(), requires_grad=True) for n in params]
    opt = cls((params, grads), **kwargs)
    t_opt = getattr(torch.optim, torch_name)(t_params, **kwargs)
    for _ in range(25):
        for (name, arr), t in zip(params.items(), t_params):
            g = rng.standard_normal(arr.shape).astype(np.float32)
            grads[name][...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        t_opt.step()
        for (name, arr), t in zip(params.items(), t_params):
            want = t.detach().numpy()
            err = np.abs(arr - want).max() / max(1.0, np.abs(want).max())
            assert err <= 1e-6, (name, err)


def _sgd_by_hand(p, grads, lr, momentum, weight_decay, buffers):
    out = {}
    for name, value in p.items():
        g = grads[name] + weight_decay * value
        buffers[name] = g if name not in buffers else momentum * buffers[name] + g
        out[name] = value - lr * buffers[name]
    return out


def test_sgd_on_a_layer_without_torch(rng):
    layer = MultiHeadAttention(8, 2, dtype=np.float64, seed=0)
    opt = SGD(layer, lr=0.1, momentum=0.9, weight_decay=0.01)
    x = rng.standard_normal((2, 5, 8))
    want, buffers = layer.parameters(), {}
    for _ in range(3):
        opt.zero_grad()
        out = layer(x, keep_for_backward=True)
        layer.backward(2 * out)
        grads = {k: v.copy() for k, v in layer.grads.items()}
        want = _sgd_by_hand(want, grads, 0.1, 0.9, 0.01, buffers)
        opt.step()
        for name, value in layer.parameters().items():
            np.testing.assert_allclose(value, want[name], rtol=1e-12, atol=1e-14)
    # The fused [W_Q | W_K | W_V] used by self-attention follows the update.
    fresh = MultiHeadAttention(8, 2, dtype=np.float64, seed=1)
    for name, value in layer.parameters().items():
        setattr(fresh, name, value)
    np.testing.assert_allclose(layer(x), fresh(x), rtol=1e-12)


def test_adam_reduces_a_loss_over_layers_and_arrays(rng):
    layer = MultiHeadAttention(8, 2, seed=0)
    head = {"w": rng.standard_normal((8, 1)).astype(np.float32)}
    head_grads = {"w": np.zeros_like(head["w"])}
    opt = Adam([layer, (head, head_grads)], lr=1e-2)
    x = rng.standard_normal((4, 6, 8)).astype(np.float32)
    target = rng.standard_normal((4, 6, 1)).astype(np.float32)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        hidden = layer(x, keep_for_backward=True)
        pred = hidden @ head["w"]
        diff = pred - target
        losses.append(float(np.mean(diff**2)))
        d_pred = 2 * diff / diff.size
        head_grads["w"][...] = hidden.reshape(-1, 8).T @ d_pred.reshape(-1, 1)
        layer.backward(d_pred @ head["w"].T)
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    assert np.all(head_grads["w"] != 0)


def test_optimiser_errors(rng):
    layer = MultiHeadAttention(8, 2, seed=0)
    with pytest.raises(ValueError, match="lr"):
        SGD(layer, lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam(layer, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(layer, nesterov=True)
    with pytest.raises(TypeError, match="params must be"):
        SGD([object()])
    with pytest.raises(ValueError, match="no parameters"):
        SGD([])
    params = {"w": np.zeros(3)}
    opt = SGD((params, {"w": np.zeros(4)}))
    with pytest.raises(ValueError, match="has shape"):
        opt.step()
    opt = SGD((params, {}))
    opt.step()  # no gradient: left alone, as torch skips grad None
    np.testing.assert_array_equal(params["w"], 0)
