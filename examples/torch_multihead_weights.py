"""Load the weights of a torch.nn.MultiheadAttention into attnsearch
=================================================================

With PyTorch installed, the module's state_dict is loaded directly and the two
outputs are compared. Without it, a state dict in PyTorch's layout is built from
NumPy arrays (in_proj_weight (3d, d), out_proj.weight (d, d), their biases):
the loader only needs arrays of that shape, never torch itself.

    python examples/torch_multihead_weights.py
"""

import numpy as np
from _common import SMALL

from attnsearch.attention import MultiHeadAttention

d_model, n_heads, n = (64, 4, 50) if SMALL else (512, 8, 1024)
rng = np.random.default_rng(0)
x = rng.standard_normal((2, n, d_model)).astype(np.float32)

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True).eval()
    layer = MultiHeadAttention.from_torch_state_dict(module.state_dict(), n_heads)
    with torch.no_grad():
        tx = torch.from_numpy(x)
        want = module(tx, tx, tx, need_weights=False)[0].numpy()
    got = layer(x)
    error = float(np.abs(got - want).max())
    print(
        f"attnsearch vs torch.nn.MultiheadAttention({d_model}, {n_heads}): "
        f"max |difference| = {error:.2e}"
    )
    assert error < 1e-4
else:
    state = {
        "in_proj_weight": rng.normal(scale=0.05, size=(3 * d_model, d_model)),
        "in_proj_bias": np.zeros(3 * d_model),
        "out_proj.weight": rng.normal(scale=0.05, size=(d_model, d_model)),
        "out_proj.bias": np.zeros(d_model),
    }
    layer = MultiHeadAttention.from_torch_state_dict(state, n_heads, dtype=np.float32)
    # PyTorch computes x @ W^T: the layer stores W^T, so these agree.
    np.testing.assert_allclose(
        layer.W_Q, state["in_proj_weight"][:d_model].T, rtol=1e-6
    )
    out = layer(x)
    print(
        f"torch is not installed: loaded a state dict in its layout; output "
        f"{out.shape}, finite: {bool(np.isfinite(out).all())}"
    )
