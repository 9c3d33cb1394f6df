"""PyTorch weight import for the attention layers (torch itself is never imported).

``nn.MultiheadAttention`` stores ``in_proj_weight`` (3d × d, or separate
``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ), ``in_proj_bias`` and
``out_proj``; our layers compute ``x @ W + b`` and keep the transposes. These
functions read a state dict (tensors or arrays), check every entry and return
the layer's named arrays; the layer assigns them only once all are valid, so a
bad state dict never leaves a half-loaded layer behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["arrays_of", "multihead_parameters"]


def arrays_of(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The entries of ``nn.MultiheadAttention.state_dict()`` we use, as arrays.

    Raises
    ------
    TypeError
        ``state_dict`` is not a mapping.
    KeyError
        A needed weight is missing (names the keys present).
    ValueError
        The module used ``add_bias_kv`` (not supported).
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError("state_dict must be a mapping (module.state_dict())")
    unsupported = {"bias_k", "bias_v"} & set(state_dict.keys())
    if unsupported:
        raise ValueError(f"add_bias_kv is not supported (found {sorted(unsupported)})")
    if "in_proj_weight" in state_dict and state_dict["in_proj_weight"] is not None:
        needed = ["in_proj_weight"]
    else:
        needed = ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    needed.append("out_proj.weight")
    missing = [name for name in needed if name not in state_dict]
    if missing:
        raise KeyError(
            f"state dict lacks {missing}; keys present: {sorted(state_dict)}"
        )
    out = {}
    for name in needed + ["in_proj_bias", "out_proj.bias"]:
        value = state_dict.get(name)
        if value is None:
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out[name] = np.asarray(value)
    return out


def multihead_parameters(
    state_dict: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    dtype: np.dtype,
) -> dict[str, np.ndarray]:
    """``MultiHeadAttention`` parameters (``W_Q`` … ``b_O``) from a torch state dict.

    Parameters
    ----------
    state_dict : mapping
        ``nn.MultiheadAttention.state_dict()``.
    shapes : mapping
        The layer's parameter shapes by name (biases present iff the layer has
        them).
    dtype : numpy dtype
        The layer's dtype.

    Returns
    -------
    dict
        Finite, C-contiguous arrays of ``dtype`` with exactly ``shapes``.

    Raises
    ------
    KeyError, ValueError
        Missing keys, wrong shapes, biases present on one side only, or a
        NaN/infinity, each naming the entry.
    """
    w = arrays_of(state_dict)
    d = shapes["W_Q"][0]
    if "in_proj_weight" in w:
        in_proj = w["in_proj_weight"]
        if in_proj.shape != (3 * d, d):
            raise ValueError(
                f"in_proj_weight has shape {in_proj.shape}, expected {(3 * d, d)}"
            )
        wq, wk, wv = in_proj[:d], in_proj[d : 2 * d], in_proj[2 * d :]
    else:
        wq, wk, wv = w["q_proj_weight"], w["k_proj_weight"], w["v_proj_weight"]
    new = {"W_Q": wq.T, "W_K": wk.T, "W_V": wv.T, "W_O": w["out_proj.weight"].T}
    layer_has_bias = "b_Q" in shapes
    has_bias = "in_proj_bias" in w
    if has_bias != layer_has_bias:
        raise ValueError(
            f"state dict {'has' if has_bias else 'lacks'} biases but this layer "
            f"has bias={layer_has_bias}"
        )
    if has_bias:
        b = w["in_proj_bias"]
        if b.shape != (3 * d,):
            raise ValueError(f"in_proj_bias has shape {b.shape}, expected {(3 * d,)}")
        new.update(
            b_Q=b[:d],
            b_K=b[d : 2 * d],
            b_V=b[2 * d :],
            b_O=w.get("out_proj.bias", np.zeros(d)),
        )
    out = {}
    for name, value in new.items():
        arr = np.array(value, dtype=dtype, order="C")
        if arr.shape != tuple(shapes[name]):
            raise ValueError(
                f"{name} from the state dict has shape {arr.shape}, expected "
                f"{tuple(shapes[name])}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} from the state dict contains NaN or infinity")
        out[name] = arr
    return out
