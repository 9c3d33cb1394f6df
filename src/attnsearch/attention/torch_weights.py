"""PyTorch weight import for the attention layers (torch itself is never imported).

``nn.MultiheadAttention`` stores ``in_proj_weight`` (3d × d, or separate
``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ), ``in_proj_bias`` and
``out_proj``; Llama-style blocks (which torch's module cannot express when the
key/value heads are fewer than the query heads) store separate ``q_proj``,
``k_proj``, ``v_proj`` and ``o_proj`` linear layers. Our layers compute
``x @ W + b`` and keep the transposes. These
functions read a state dict (tensors or arrays), check every entry and return
the layer's named arrays; the layer assigns them only once all are valid, so a
bad state dict never leaves a half-loaded layer behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from .._validation import finite_as
from ._parameters import check_dim

if TYPE_CHECKING:
    from .multihead import MultiHeadAttention

__all__ = ["arrays_of", "layer_from_state_dict", "multihead_parameters"]


#: Separate-projection names (Llama, Mistral, Qwen2, BART ...): ours -> theirs.
_SEPARATE = {"W_Q": "q_proj", "W_K": "k_proj", "W_V": "v_proj"}
_OUTPUT = ("o_proj", "out_proj")

_LayerT = TypeVar("_LayerT", bound="MultiHeadAttention")


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor (torch is optional here)
        value = value.detach().cpu()
        try:
            value = value.numpy()
        except TypeError:
            if not value.is_floating_point():
                raise
            # bfloat16 and the float8s have no NumPy dtype; float32 holds them exactly.
            value = value.float().numpy()
    return np.asarray(value)


def arrays_of(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The weights of an attention state dict, as our layer's arrays.

    Two layouts are recognised: ``torch.nn.MultiheadAttention``
    (``in_proj_weight`` or ``q/k/v_proj_weight``, ``in_proj_bias``,
    ``out_proj.weight``, ``out_proj.bias``) and separate ``nn.Linear``
    projections (``q_proj.weight``, ``k_proj.weight``, ``v_proj.weight``,
    ``o_proj.weight`` or ``out_proj.weight``, each with an optional
    ``.bias``), as in Llama-style grouped-query attention.

    Returns
    -------
    dict
        ``W_Q``, ``W_K``, ``W_V``, ``W_O`` in our orientation (``x @ W``:
        PyTorch's weights transposed) and the biases present (``b_Q`` ...);
        not yet checked for shape or finiteness.

    Raises
    ------
    TypeError
        ``state_dict`` is not a mapping.
    KeyError
        A needed weight is missing (names the keys present).
    ValueError
        The module used ``add_bias_kv`` (not supported), or an
        ``in_proj_weight`` whose rows are not a multiple of 3.
    """
    if not hasattr(state_dict, "keys"):
        raise TypeError("state_dict must be a mapping (module.state_dict())")
    keys = set(state_dict.keys())
    unsupported = {"bias_k", "bias_v"} & keys
    if unsupported:
        raise ValueError(f"add_bias_kv is not supported (found {sorted(unsupported)})")
    if "q_proj.weight" in keys:
        output = next(
            (name for name in _OUTPUT if f"{name}.weight" in keys), _OUTPUT[0]
        )
        needed = [f"{name}.weight" for name in _SEPARATE.values()]
        needed.append(f"{output}.weight")
        missing = [name for name in needed if name not in keys]
        if missing:
            raise KeyError(f"state dict lacks {missing}; keys present: {sorted(keys)}")
        out: dict[str, np.ndarray] = {}
        for ours, theirs in list(_SEPARATE.items()) + [("W_O", output)]:
            out[ours] = _numpy(state_dict[f"{theirs}.weight"]).T
            bias = state_dict.get(f"{theirs}.bias")
            if bias is not None:
                out["b" + ours[1:]] = _numpy(bias)
        return out
    if state_dict.get("in_proj_weight") is not None:
        needed = ["in_proj_weight"]
    else:
        needed = ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    needed.append("out_proj.weight")
    missing = [name for name in needed if name not in keys]
    if missing:
        raise KeyError(f"state dict lacks {missing}; keys present: {sorted(keys)}")
    if "in_proj_weight" in needed:
        in_proj = _numpy(state_dict["in_proj_weight"])
        if in_proj.ndim != 2 or in_proj.shape[0] % 3:
            raise ValueError(
                f"in_proj_weight has shape {in_proj.shape}, expected (3 * d, d)"
            )
        wq, wk, wv = np.split(in_proj, 3)
    else:
        wq, wk, wv = (_numpy(state_dict[name]) for name in needed[:3])
    out = {"W_Q": wq.T, "W_K": wk.T, "W_V": wv.T}
    out["W_O"] = _numpy(state_dict["out_proj.weight"]).T
    if state_dict.get("in_proj_bias") is not None:
        b = _numpy(state_dict["in_proj_bias"])
        if b.ndim != 1 or b.shape[0] % 3:
            raise ValueError(f"in_proj_bias has shape {b.shape}, expected (3 * d,)")
        out["b_Q"], out["b_K"], out["b_V"] = np.split(b, 3)
    if state_dict.get("out_proj.bias") is not None:
        out["b_O"] = _numpy(state_dict["out_proj.bias"])
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
        See :func:`arrays_of` for the two accepted layouts.
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
        Missing keys, wrong shapes, biases present in the state dict but not
        in the layer (or none at all for a layer with biases), or a
        NaN/infinity, each naming the entry.
    """
    new = arrays_of(state_dict)
    in_proj = state_dict.get("in_proj_weight") if "W_Q" in shapes else None
    if in_proj is not None:
        d = shapes["W_Q"][0]
        expected = (2 * shapes["W_K"][1] + d, shapes["W_K"][0])
        if tuple(in_proj.shape) != expected:
            raise ValueError(
                f"in_proj_weight has shape {tuple(in_proj.shape)}, expected {expected}"
            )
    layer_has_bias = "b_Q" in shapes
    biases = [name for name in ("b_Q", "b_K", "b_V", "b_O") if name in new]
    if bool(biases) != layer_has_bias:
        raise ValueError(
            f"state dict {'has' if biases else 'lacks'} biases but this layer "
            f"has bias={layer_has_bias}"
        )
    if layer_has_bias:
        for name in ("b_Q", "b_K", "b_V", "b_O"):
            if name not in new:  # e.g. Qwen2: no bias on the output projection
                new[name] = np.zeros(shapes[name])
    out: dict[str, np.ndarray] = {}
    for name, value in new.items():
        given = np.asarray(value)
        if given.shape != tuple(shapes[name]):
            raise ValueError(
                f"{name} from the state dict has shape {given.shape}, expected "
                f"{tuple(shapes[name])}"
            )
        out[name] = np.array(
            finite_as(given, dtype, f"{name} from the state dict"), order="C"
        )
    return out


def layer_from_state_dict(
    cls: type[_LayerT],
    state_dict: Mapping[str, Any],
    n_heads: int,
    *,
    n_kv_heads: int | None = None,
    dtype: npt.DTypeLike | None = None,
    **kwargs: Any,
) -> _LayerT:
    """A ``cls`` (:class:`~attnsearch.attention.MultiHeadAttention`) that computes
    what a PyTorch attention module computes.

    Parameters
    ----------
    cls : type
        The layer class to build.
    state_dict : mapping
        Tensors or arrays (torch itself is not imported), either of
        ``torch.nn.MultiheadAttention``: ``in_proj_weight`` (or
        ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` when
        ``kdim``/``vdim`` differ), optional ``in_proj_bias``,
        ``out_proj.weight`` and optional ``out_proj.bias``; or of separate
        ``nn.Linear`` projections as in Llama, Mistral or Qwen2 attention
        (``module.self_attn.state_dict()`` of a Hugging Face model):
        ``q_proj.weight``, ``k_proj.weight``, ``v_proj.weight``,
        ``o_proj.weight`` (or ``out_proj.weight``) and optional
        ``*.bias``. This second form also loads grouped-query layers: the
        key/value projections then have ``n_kv_heads · d_head`` rows.
    n_heads : int
        Query heads (``num_heads`` / ``num_attention_heads``).
    n_kv_heads : int, optional
        Key/value heads; inferred from the key projection's rows.
    dtype : optional
        Defaults to the dtype of the weights (float32 or float64).
    **kwargs
        ``window``, ``alibi_slopes``: passed to the constructor.

    Returns
    -------
    MultiHeadAttention

    Notes
    -----
    The module must use ``batch_first=True`` semantics when comparing
    outputs (this layer always takes ``(batch, seq, feature)``) and must
    not use ``add_bias_kv`` or ``add_zero_attn``. Rotary position
    embeddings (RoPE) are not part of this layer: a Llama attention block
    rotates q and k before attention, which this layer does not do.
    A separate-projection state dict with a bias on some projections only
    (Qwen2: q, k, v) loads into a ``bias=True`` layer with zeros for the
    missing ones.
    """
    weights = arrays_of(state_dict)
    n_heads = check_dim(n_heads, "n_heads")
    d_model = weights["W_O"].shape[1]
    d_kv, kv_width = weights["W_K"].shape
    if n_kv_heads is None and d_model % n_heads == 0:
        d_head = d_model // n_heads
        if kv_width % d_head == 0 and kv_width // d_head >= 1:
            n_kv_heads = kv_width // d_head
    if dtype is None:
        dtype = weights["W_O"].dtype
        if dtype not in (np.float32, np.float64):
            dtype = np.float32
    has_bias = any(name.startswith("b_") for name in weights)
    layer = cls(
        d_model,
        n_heads,
        n_kv_heads=n_kv_heads,
        d_kv=d_kv,
        bias=has_bias,
        dtype=dtype,
        **kwargs,
    )
    layer.load_torch_state_dict(state_dict)
    return layer
