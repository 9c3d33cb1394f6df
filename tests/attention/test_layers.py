"""AttentionHead and MultiHeadAttention against per-head NumPy loops (and torch)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import tolerance

from attnsearch._dispatch import kernels
from attnsearch.attention import (
    AttentionHead,
    MultiHeadAttention,
    merge_heads,
    split_heads,
)
from attnsearch.attention._reference import scaled_dot_product_attention as ref_sdpa

# Compared with the reference under every CPU target (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_target")


def softmax_rows(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def head_reference(head, x, context=None, mask=None):
    """One head written out in float64: A = softmax(Q K^T / sqrt(d)), H = A V."""
    x = np.asarray(x, np.float64)
    c = x if context is None else np.asarray(context, np.float64)
    p = {k: np.asarray(v, np.float64) for k, v in head.parameters().items()}
    q = x @ p["W_Q"] + p.get("b_Q", 0)
    k = c @ p["W_K"] + p.get("b_K", 0)
    v = c @ p["W_V"] + p.get("b_V", 0)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(head.d_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    a = softmax_rows(scores)
    return a @ v, a


def mha_reference(mha, query, key=None, value=None, mask=None, causal=False):
    """Per-head loop over the NumPy reference, then concatenation and W_O."""
    key = query if key is None else key
    value = key if value is None else value
    p = {k: np.asarray(v, np.float64) for k, v in mha.parameters().items()}
    query, key, value = (np.asarray(t, np.float64) for t in (query, key, value))
    q = query @ p["W_Q"] + p.get("b_Q", 0)
    k = key @ p["W_K"] + p.get("b_K", 0)
    v = value @ p["W_V"] + p.get("b_V", 0)
    d = mha.d_head
    group = mha.n_heads // getattr(mha, "n_kv_heads", mha.n_heads)
    heads = []
    for h in range(mha.n_heads):
        cols = slice(h * d, (h + 1) * d)
        kv_cols = slice((h // group) * d, (h // group + 1) * d)  # grouped-query
        m = (
            None
            if mask is None
            else (mask if np.ndim(mask) < 3 else mask[..., h, :, :])
        )
        heads.append(
            ref_sdpa(
                q[..., cols], k[..., kv_cols], v[..., kv_cols], mask=m, causal=causal
            )
        )
    return np.concatenate(heads, axis=-1) @ p["W_O"] + p.get("b_O", 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [False, True])
def test_attention_head_matches_the_one_head_formula(rng, dtype, bias):
    head = AttentionHead(12, d_k=8, d_v=5, bias=bias, dtype=dtype, seed=1)
    if bias:
        head.b_Q = rng.normal(size=8)
        head.b_K = rng.normal(size=8)
        head.b_V = rng.normal(size=5)
    x = rng.standard_normal((3, 17, 12))
    ctx = rng.standard_normal((3, 11, 12))
    mask = rng.random((17, 11)) < 0.8
    mask[:, 0] = True
    want_h, want_a = head_reference(head, x, ctx, mask=mask)
    got_h = head(x, ctx, mask=mask)
    got_a = head.attention_weights(x, ctx, mask=mask)
    assert got_h.dtype == dtype and got_h.shape == (3, 17, 5)
    np.testing.assert_allclose(got_h, want_h, **tolerance(dtype))
    np.testing.assert_allclose(got_a, want_a, **tolerance(dtype))
    self_h, _ = head_reference(head, x)
    np.testing.assert_allclose(head(x), self_h, **tolerance(dtype))


def test_attention_head_defaults_and_reproducible_init():
    a = AttentionHead(6, seed=3)
    b = AttentionHead(6, seed=3)
    assert a.d_k == 6 and a.d_v == 6 and a.b_Q is None
    for name, value in a.parameters().items():
        np.testing.assert_array_equal(value, b.parameters()[name])
    bound = np.sqrt(6 / (6 + 6))
    assert np.all(np.abs(a.W_Q) <= bound)
    assert not np.array_equal(a.W_Q, AttentionHead(6, seed=4).W_Q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_matches_per_head_loop(rng, dtype, causal):
    mha = MultiHeadAttention(24, 4, dtype=dtype, seed=0)
    mha.b_Q = rng.normal(size=24)
    mha.b_O = rng.normal(size=24)
    x = rng.standard_normal((2, 19, 24))
    got = mha(x, causal=causal)
    np.testing.assert_allclose(
        got, mha_reference(mha, x, causal=causal), **tolerance(dtype)
    )


def test_multi_head_cross_attention_with_d_kv_and_masks(rng):
    mha = MultiHeadAttention(16, 2, d_kv=10, dtype=np.float64, seed=5)
    q = rng.standard_normal((3, 7, 16))
    kv = rng.standard_normal((3, 9, 10))
    mask = rng.random((3, 2, 7, 9)) < 0.7
    mask[..., 0] = True
    np.testing.assert_allclose(
        mha(q, kv, mask=mask),
        mha_reference(mha, q, kv, mask=mask),
        **tolerance(np.float64),
    )
    kpm = np.zeros((3, 9), bool)
    kpm[1, 4:] = True
    allowed = ~kpm[:, None, None, :] & mask
    np.testing.assert_allclose(
        mha(q, kv, mask=mask, key_padding_mask=kpm),
        mha_reference(mha, q, kv, mask=np.broadcast_to(allowed, (3, 2, 7, 9))),
        **tolerance(np.float64),
    )
    only_kpm = np.broadcast_to(~kpm[:, None, None, :], (3, 2, 7, 9))
    np.testing.assert_allclose(
        mha(q, kv, key_padding_mask=kpm),
        mha_reference(mha, q, kv, mask=only_kpm),
        **tolerance(np.float64),
    )


def test_multi_head_unbatched_and_weights(rng):
    mha = MultiHeadAttention(8, 2, seed=0, dtype=np.float64)
    x = rng.standard_normal((5, 8))
    out, weights = mha(x, need_weights=True)
    assert out.shape == (5, 8) and weights.shape == (5, 5)
    np.testing.assert_allclose(out, mha(x[None])[0], **tolerance(np.float64))
    out, per_head = mha(x[None], need_weights=True, average_weights=False)
    assert per_head.shape == (1, 2, 5, 5)
    np.testing.assert_allclose(
        per_head.mean(axis=1)[0], weights, **tolerance(np.float64)
    )
    np.testing.assert_allclose(per_head.sum(-1), 1.0)


def test_split_and_merge_heads_are_views(rng):
    x = rng.standard_normal((2, 5, 12))
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4) and np.shares_memory(heads, x)
    np.testing.assert_array_equal(heads[:, 1], x[..., 4:8])
    merged = merge_heads(heads)
    assert np.shares_memory(merged, x)
    np.testing.assert_array_equal(merged, x)
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(x, 5)
    with pytest.raises(ValueError, match="n_heads"):
        split_heads(x, 0)
    with pytest.raises(ValueError, match="n_heads, n, d_head"):
        merge_heads(x[0])


def test_parameter_setters_validate_and_copy(rng):
    mha = MultiHeadAttention(8, 2, seed=0)
    w = rng.normal(size=(8, 8))
    mha.W_O = w
    w[0, 0] = 1e9
    assert mha.W_O[0, 0] != 1e9 and mha.W_O.dtype == np.float32
    with pytest.raises(ValueError, match="W_O must have shape"):
        mha.W_O = np.ones((8, 7))
    with pytest.raises(ValueError, match="NaN"):
        mha.W_Q = np.full((8, 8), np.nan)
    head = AttentionHead(4)
    with pytest.raises(AttributeError, match="bias=False"):
        head.b_Q = np.zeros(4)


def test_layer_bad_input():
    with pytest.raises(ValueError, match="must divide"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="d_model"):
        MultiHeadAttention(0, 1)
    with pytest.raises(TypeError, match="dtype"):
        MultiHeadAttention(8, 2, dtype=np.int32)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="features"):
        mha(np.ones((2, 3, 7)))
    with pytest.raises(TypeError, match="floating"):
        mha(np.ones((2, 3, 8), dtype=int))
    with pytest.raises(ValueError, match="NaN"):
        mha(np.full((2, 3, 8), np.nan))
    with pytest.raises(ValueError, match="shape"):
        mha(np.ones(8))
    with pytest.raises(ValueError, match="batch sizes differ"):
        mha(np.ones((2, 3, 8)), np.ones((3, 3, 8)))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        mha(np.ones((2, 3, 8)), key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(TypeError, match="key_padding_mask must be boolean"):
        mha(np.ones((2, 3, 8)), key_padding_mask=np.zeros((2, 3)))
    head = AttentionHead(4)
    with pytest.raises(ValueError, match="features"):
        head(np.ones((3, 5)))


def test_state_dict_loading_without_torch(rng):
    d = 8
    state = {
        "in_proj_weight": rng.normal(size=(3 * d, d)),
        "in_proj_bias": rng.normal(size=3 * d),
        "out_proj.weight": rng.normal(size=(d, d)),
        "out_proj.bias": rng.normal(size=d),
    }
    mha = MultiHeadAttention.from_torch_state_dict(state, 2)
    assert mha.dtype == np.float64
    np.testing.assert_allclose(mha.W_Q, state["in_proj_weight"][:d].T)
    np.testing.assert_allclose(mha.b_V, state["in_proj_bias"][2 * d :])
    np.testing.assert_allclose(mha.W_O, state["out_proj.weight"].T)
    with pytest.raises(KeyError, match="out_proj.weight"):
        MultiHeadAttention.from_torch_state_dict(
            {"in_proj_weight": state["in_proj_weight"]}, 2
        )
    bad = dict(state, in_proj_weight=np.ones((3 * d, d + 1)))
    with pytest.raises(ValueError, match="in_proj_weight has shape"):
        mha.load_torch_state_dict(bad)
    with pytest.raises(ValueError, match="add_bias_kv"):
        mha.load_torch_state_dict(dict(state, bias_k=np.zeros((1, 1, d))))


@pytest.mark.parametrize(
    "bad_key", ["in_proj_weight", "out_proj.weight", "out_proj.bias"]
)
def test_bad_state_dict_leaves_the_layer_unchanged(rng, bad_key):
    # Regression: a NaN in out_proj.weight used to change W_Q, W_K, W_V and
    # W_O (W_O holding NaN) and leave the stacked QKV weights stale.
    d = 8
    state = {
        "in_proj_weight": rng.normal(size=(3 * d, d)),
        "in_proj_bias": rng.normal(size=3 * d),
        "out_proj.weight": rng.normal(size=(d, d)),
        "out_proj.bias": rng.normal(size=d),
    }
    mha = MultiHeadAttention(d, 2, dtype=np.float64, seed=0)
    before = mha.parameters()
    x = rng.normal(size=(2, 5, d))
    out_before = mha(x)
    bad = dict(state)
    bad[bad_key] = bad[bad_key].copy()
    bad[bad_key].flat[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        mha.load_torch_state_dict(bad)
    for name, value in mha.parameters().items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(mha(x), out_before)
    np.testing.assert_array_equal(mha(x), mha(x, x.copy(), x.copy()))


@pytest.mark.parametrize("kdim", [None, 6])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch_multihead_attention(rng, kdim, causal):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(16, 4, kdim=kdim, vdim=kdim, batch_first=True)
    module.eval()
    layer = MultiHeadAttention.from_torch_state_dict(module.state_dict(), 4)
    x = rng.standard_normal((2, 9, 16)).astype(np.float32)
    kv = x if kdim is None else rng.standard_normal((2, 9, kdim)).astype(np.float32)
    kpm = np.zeros((2, 9), bool)
    kpm[0, 6:] = True
    tx, tkv = torch.from_numpy(x), torch.from_numpy(kv)
    attn_mask = (
        torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1) if causal else None
    )
    with torch.no_grad():
        want, want_w = module(
            tx,
            tkv,
            tkv,
            key_padding_mask=torch.from_numpy(kpm),
            attn_mask=attn_mask,
            need_weights=True,
        )
    got, got_w = layer(
        x,
        None if kdim is None else kv,
        key_padding_mask=kpm,
        causal=causal,
        need_weights=True,
    )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_w, want_w.numpy(), rtol=1e-4, atol=1e-6)
    # The same weights loaded from tensors directly.
    again = MultiHeadAttention(16, 4, d_kv=kdim).load_torch_state_dict(
        module.state_dict()
    )
    np.testing.assert_allclose(
        again(x, None if kdim is None else kv),
        layer(x, None if kdim is None else kv),
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("mask_batch", [1, 25, None])
def test_multi_head_progress_slices_equal_the_whole_batch(rng, mask_batch, capsys):
    mha = MultiHeadAttention(16, 2, dtype=np.float64, seed=3)
    x = rng.standard_normal((25, 6, 16))
    mask = None
    if mask_batch is not None:
        mask = rng.random((mask_batch, 2, 6, 6)) < 0.7
        mask[..., 0] = True
    kpm = np.zeros((25, 6), bool)
    kpm[::3, 5] = True
    whole, whole_w = mha(
        x, mask=mask, key_padding_mask=kpm, need_weights=True, average_weights=False
    )
    sliced, sliced_w = mha(
        x,
        mask=mask,
        key_padding_mask=kpm,
        need_weights=True,
        average_weights=False,
        progress=True,
    )
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sliced_w, whole_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        sliced,
        mha_reference(
            mha,
            x,
            mask=np.broadcast_to(
                (mask if mask is not None else True) & ~kpm[:, None, None, :],
                (25, 2, 6, 6),
            ),
        ),
        **tolerance(np.float64),
    )
    assert "MultiHeadAttention" in capsys.readouterr().err


# -- grouped-query layers ------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_grouped_query_layer_matches_per_head_loop(rng, dtype, n_kv_heads, causal):
    mha = MultiHeadAttention(32, 4, n_kv_heads=n_kv_heads, dtype=dtype, seed=0)
    assert mha.W_K.shape == (32, 8 * n_kv_heads) and mha.b_V.shape == (8 * n_kv_heads,)
    mha.b_K = rng.normal(size=8 * n_kv_heads)
    x = rng.standard_normal((2, 13, 32))
    np.testing.assert_allclose(
        mha(x, causal=causal), mha_reference(mha, x, causal=causal), **tolerance(dtype)
    )
    ctx = rng.standard_normal((2, 5, 32))
    np.testing.assert_allclose(
        mha(x, ctx), mha_reference(mha, x, ctx), **tolerance(dtype)
    )
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide"):
        MultiHeadAttention(32, 4, n_kv_heads=3)


def llama_state(rng, d_model, n_heads, n_kv_heads, bias=("q", "k", "v")):
    """A Llama/Qwen2-style state dict: separate projections, torch orientation."""
    d_head = d_model // n_heads
    rows = {"q": d_model, "k": n_kv_heads * d_head, "v": n_kv_heads * d_head}
    state = {f"{n}_proj.weight": rng.normal(size=(r, d_model)) for n, r in rows.items()}
    state["o_proj.weight"] = rng.normal(size=(d_model, d_model))
    for n in bias:
        state[f"{n}_proj.bias"] = rng.normal(size=rows[n])
    return state


def test_separate_projection_state_dicts_load_grouped_query_layers(rng):
    state = llama_state(rng, 16, 4, 2, bias=())
    layer = MultiHeadAttention.from_torch_state_dict(state, 4)
    assert layer.n_kv_heads == 2 and not layer.bias and layer.dtype == np.float64
    np.testing.assert_array_equal(layer.W_K, state["k_proj.weight"].T)
    np.testing.assert_array_equal(layer.W_O, state["o_proj.weight"].T)
    # Qwen2: biases on q, k, v but none on the output projection.
    qwen = llama_state(rng, 16, 4, 1)
    layer = MultiHeadAttention.from_torch_state_dict(qwen, 4, window=8)
    assert layer.bias and layer.n_kv_heads == 1 and layer.window == (7, 7)
    np.testing.assert_array_equal(layer.b_K, qwen["k_proj.bias"])
    np.testing.assert_array_equal(layer.b_O, np.zeros(16))
    # out_proj.* (BART-style) is accepted for the output projection too.
    bart = {k.replace("o_proj", "out_proj"): v for k, v in qwen.items()}
    again = MultiHeadAttention.from_torch_state_dict(bart, 4)
    np.testing.assert_array_equal(again.W_O, layer.W_O)
    with pytest.raises(KeyError, match="v_proj.weight"):
        MultiHeadAttention.from_torch_state_dict(
            {k: v for k, v in state.items() if not k.startswith("v_proj")}, 4
        )
    gqa = MultiHeadAttention(16, 4, n_kv_heads=2, bias=False, dtype=np.float64)
    with pytest.raises(ValueError, match="W_K from the state dict has shape"):
        gqa.load_torch_state_dict(llama_state(rng, 16, 4, 1, bias=()))
    with pytest.raises(ValueError, match="has biases"):
        gqa.load_torch_state_dict(llama_state(rng, 16, 4, 2))


@pytest.mark.parametrize("n_kv_heads", [1, 2])
def test_matches_a_torch_grouped_query_block(rng, n_kv_heads):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.manual_seed(0)
    d_model, n_heads = 32, 4
    d_head = d_model // n_heads
    block = torch.nn.ModuleDict(
        {
            "q_proj": torch.nn.Linear(d_model, d_model, bias=True),
            "k_proj": torch.nn.Linear(d_model, n_kv_heads * d_head, bias=True),
            "v_proj": torch.nn.Linear(d_model, n_kv_heads * d_head, bias=True),
            "o_proj": torch.nn.Linear(d_model, d_model, bias=False),
        }
    ).eval()
    x = rng.standard_normal((2, 11, d_model)).astype(np.float32)
    tx = torch.from_numpy(x)
    with torch.no_grad():
        q, k, v = (
            block[name](tx).view(2, 11, -1, d_head).transpose(1, 2)
            for name in ("q_proj", "k_proj", "v_proj")
        )
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        want = block["o_proj"](o.transpose(1, 2).reshape(2, 11, d_model)).numpy()
    layer = MultiHeadAttention.from_torch_state_dict(block.state_dict(), n_heads)
    assert layer.n_kv_heads == n_kv_heads
    np.testing.assert_allclose(layer(x, causal=True), want, rtol=1e-4, atol=1e-5)
    cache = layer.new_cache(2, 11)
    steps = [layer(x[:, :6], cache=cache)] + [
        layer(x[:, i : i + 1], cache=cache) for i in range(6, 11)
    ]
    np.testing.assert_allclose(np.concatenate(steps, 1), want, rtol=1e-4, atol=1e-5)


# -- regressions: unchecked key width, writable weights, thread-dependent
#    projections, truthy non-bool `causal` -------------------------------------


def test_key_defaulting_to_query_is_width_checked_in_a_subprocess():
    # Unchecked key width: the key defaulted to the query, its width was never
    # checked and the projection read past W_K (SIGSEGV). A crash must fail this
    # test only.
    script = textwrap.dedent(
        """
        import numpy as np
        from attnsearch.attention import MultiHeadAttention
        m = MultiHeadAttention(4096, 1, d_kv=1)
        try:
            x = np.zeros((1, 64, 4096), np.float32)
            m(x, value=np.zeros((1, 64, 1), np.float32))
        except ValueError as error:
            print("ValueError:", error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "key defaults to query" in result.stdout


def test_every_input_width_is_checked(rng):
    m = MultiHeadAttention(8, 2, d_kv=3, seed=0)
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    kv = rng.standard_normal((1, 4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="key defaults to query"):
        m(x, value=kv)
    with pytest.raises(ValueError, match="key has 8 features"):
        m(x, x)
    with pytest.raises(ValueError, match="value has 8 features"):
        m(x, kv, x)
    assert m(x, kv).shape == (1, 4, 8)
    linear_forward = kernels("linear").linear_forward

    w = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="shapes do not match"):
        linear_forward(
            np.zeros((2, 4), np.float32), w, None, np.zeros((2, 5), np.float32), 1
        )
    with pytest.raises(ValueError, match="dtype"):
        linear_forward(np.zeros((2, 3)), w, None, np.zeros((2, 5), np.float32), 1)
    with pytest.raises(ValueError, match="bias"):
        linear_forward(
            np.zeros((2, 3), np.float32),
            w,
            np.zeros(4, np.float32),
            np.zeros((2, 5), np.float32),
            1,
        )


def test_weight_getters_are_read_only(rng):
    # Writable weights: `m.W_K[:] = 0` bypassed validation and was seen by
    # cross-attention but not by self-attention (stale stacked weights).
    m = MultiHeadAttention(8, 2, seed=0, dtype=np.float64)
    x = rng.standard_normal((2, 5, 8))
    for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(m, name)[...] = 0
        with pytest.raises(ValueError):
            getattr(m, name).flags.writeable = True
    np.testing.assert_allclose(m(x), m(x, x.copy()), rtol=1e-12, atol=1e-12)
    m.W_K = np.zeros((8, 8))  # assignment is the way to change a weight
    np.testing.assert_allclose(m(x), m(x, x.copy()), rtol=1e-12, atol=1e-12)
    assert np.all(m.W_K == 0)
    params = m.parameters()
    params["W_Q"][...] = 1.0  # copies: writable, and the layer does not see it
    assert not np.all(m.W_Q == 1.0)
    head = AttentionHead(6, seed=0)
    with pytest.raises(ValueError, match="read-only"):
        head.W_V[0, 0] = 1.0


@pytest.mark.parametrize("n", [1, 3, 700])
def test_layer_output_bitwise_identical_for_any_thread_count(rng, n):
    # Thread-dependent projections: the row split per thread changed the float32
    # output.
    m = MultiHeadAttention(64, 4, n_kv_heads=2, seed=0)
    x = rng.standard_normal((2, n, 64)).astype(np.float32)
    one = m(x, causal=True, num_threads=1)
    for threads in (2, 3, 4):
        assert np.array_equal(one, m(x, causal=True, num_threads=threads))
    head = AttentionHead(64, 16, seed=0)
    h1 = head(x, num_threads=1)
    assert np.array_equal(h1, head(x, num_threads=3))


def test_causal_accepts_bools_only(rng):
    # Truthy non-bool `causal`: "no" is truthy and used to run causal attention.
    m = MultiHeadAttention(8, 2, seed=0)
    head = AttentionHead(8, seed=0)
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    for bad in ("no", "False", 0, 1, [True]):
        with pytest.raises(TypeError, match="causal must be a bool"):
            m(x, causal=bad)
        with pytest.raises(TypeError, match="causal must be a bool"):
            head(x, causal=bad)
        with pytest.raises(TypeError, match="causal must be a bool"):
            head.attention_weights(x, causal=bad)
    np.testing.assert_array_equal(m(x, causal=np.bool_(True)), m(x, causal=True))
    with pytest.raises(TypeError, match="need_weights must be a bool"):
        m(x, need_weights="yes")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 5, 16, 17, 600])
@pytest.mark.parametrize("k, n", [(1, 3), (7, 33), (130, 2100), (1029, 64)])
def test_linear_forward_matches_numpy(rng, dtype, m, k, n):
    from attnsearch._threading import blas_limited_to_one_thread

    linear_forward = kernels("linear").linear_forward

    x = rng.standard_normal((m, k + 3)).astype(dtype)[:, :k]  # strided rows
    w = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    want = x.astype(np.float64) @ w.astype(np.float64)
    with blas_limited_to_one_thread():
        for b in (None, bias):
            out = np.empty((m, n), dtype)
            linear_forward(x, w, b, out, 2)
            expected = want + (0 if b is None else b)
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))
            others = []
            for threads in (1, 3):
                other = np.empty((m, n), dtype)
                linear_forward(x, w, b, other, threads)
                others.append(other)
            assert all(np.array_equal(out, other) for other in others)
