"""Fused attention over dask arrays chunked along their batch axes.

:func:`scaled_dot_product_attention` takes ``dask.array`` inputs chunked along
the batch axes (batch, heads) and returns a dask array whose blocks are each
computed by one call of the fused kernel, which releases the GIL, so threaded
workers run blocks in parallel. Grouped-query heads map a block of query heads
to its key/value heads (q's head chunks are rounded to whole groups). Shapes and
dtypes are checked first by calling the NumPy function on zero-stride stand-ins
with one query and one key: the same errors, no data touched.

Needs the ``dask`` extra: ``pip install "attnsearch[dask]"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from ._typing import Array

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["scaled_dot_product_attention"]


def _block_attention(
    q: Array,
    k: Array,
    v: Array,
    mask: npt.NDArray[Any] | None,
    causal: bool,
    scale: float | None,
    check_finite: bool,
    num_threads: int,
) -> Array:
    from .attention import scaled_dot_product_attention as sdpa

    return sdpa(
        q,
        k,
        v,
        mask=mask,
        causal=causal,
        scale=scale,
        check_finite=check_finite,
        num_threads=num_threads,
    )


def _as_dask(x: da.Array | npt.ArrayLike, name: str) -> da.Array:
    import dask.array as da

    if isinstance(x, da.Array):
        return x
    array = np.asarray(x)
    return da.from_array(array, chunks=array.shape, name=False)


def _check_core_axes_whole(x: da.Array, name: str, core_ndim: int) -> None:
    for axis in range(x.ndim - core_ndim, x.ndim):
        if len(x.chunks[axis]) > 1:
            raise ValueError(
                f"{name} is chunked along axis {axis - x.ndim} (a sequence or "
                f"feature axis): chunk only the batch axes, e.g. "
                f"{name}.rechunk({{{axis}: -1}})"
            )


def scaled_dot_product_attention(
    q: da.Array | npt.ArrayLike,
    k: da.Array | npt.ArrayLike,
    v: da.Array | npt.ArrayLike,
    *,
    mask: da.Array | npt.ArrayLike | None = None,
    causal: bool = False,
    scale: float | None = None,
    check_finite: bool = True,
    num_threads: int = 1,
) -> da.Array:
    """Fused attention on dask arrays chunked along batch axes.

    Parameters
    ----------
    q, k, v : dask.array.Array or array_like
        As in :func:`attnsearch.attention.scaled_dot_product_attention`: shapes
        ``(..., n_q, d_k)``, ``(..., n_k, d_k)``, ``(..., n_k, d_v)`` with
        broadcasting batch axes and grouped-query heads. Only the batch axes
        may be chunked; a chunked sequence or feature axis is a ValueError.
    mask : dask.array.Array or array_like, optional
        Boolean (True = may attend) or additive, broadcastable to
        ``(..., n_q, n_k)``; its last two axes must not be chunked.
    causal, scale, check_finite
        As in the NumPy function (finiteness is checked block by block, when
        the blocks are computed).
    num_threads : int, default 1
        Threads of the fused kernel in each block: the Dask workers' threads
        already run blocks in parallel.

    Returns
    -------
    dask.array.Array
        Shape ``(..., n_q, d_v)``, chunked along the batch axes like ``q``
        (or like the input that spans a broadcast axis).
    """
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError(
            'attnsearch.attention.dask needs dask: pip install "attnsearch[dask]"'
        ) from None
    from .._validation import check_bool
    from .attention import scaled_dot_product_attention as sdpa

    causal = check_bool(causal, "causal")  # before any block is built
    check_finite = check_bool(check_finite, "check_finite")
    q, k, v = _as_dask(q, "q"), _as_dask(k, "k"), _as_dask(v, "v")
    for x, name in ((q, "q"), (k, "k"), (v, "v")):
        if x.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions, got {x.ndim}")
        _check_core_axes_whole(x, name, 2)
    if mask is not None:
        mask = _as_dask(mask, "mask")
        _check_core_axes_whole(mask, "mask", min(2, mask.ndim))

    # Shapes, dtypes and grouped heads are validated by the NumPy function on
    # zero-stride stand-ins with one query and one key (no memory, no data).
    def stand_in(x: da.Array, core: tuple[int, ...]) -> npt.NDArray[Any]:
        shape = x.shape[: x.ndim - len(core)] + core
        return np.broadcast_to(np.zeros((), x.dtype), shape)

    mask_probe = None if mask is None else stand_in(mask, (1,) * min(2, mask.ndim))
    probe = sdpa(
        stand_in(q, (1, q.shape[-1])),
        stand_in(k, (1, k.shape[-1])),
        stand_in(v, (1, v.shape[-1])),
        mask=mask_probe,
        causal=False,
        scale=1.0 if scale is None else scale,
        check_finite=False,
        num_threads=1,
    )
    batch_shape = probe.shape[:-2]
    out_dtype = probe.dtype
    n_batch = len(batch_shape)
    n_q, d_v = q.shape[-2], v.shape[-1]

    # Batch axes of each input, aligned to the right of the output's.
    inputs = [("q", q, 2), ("k", k, 2), ("v", v, 2)]
    if mask is not None:
        inputs.append(("mask", mask, min(2, mask.ndim)))

    def batch_axes(x: da.Array, core: int) -> tuple[int, int]:
        offset = n_batch - (x.ndim - core)
        return offset, x.ndim - core

    # Output chunks per batch axis: from the first input that spans the axis.
    out_chunks: list[tuple[int, ...]] = []
    for axis in range(n_batch):
        size = batch_shape[axis]
        chunks = (size,)
        for _, x, core in inputs:
            offset, nb = batch_axes(x, core)
            local = axis - offset
            if 0 <= local < nb and x.shape[local] == size and size > 1:
                chunks = x.chunks[local]
                break
        out_chunks.append(tuple(chunks))

    # Grouped heads (axis -3 of k/v smaller than q's): a block of query heads
    # must start on a group boundary, so rechunk q's head axis if needed.
    def group_of(x: da.Array, core: int) -> int:
        offset, nb = batch_axes(x, core)
        local = n_batch - 1 - offset
        if n_batch == 0 or not 0 <= local < nb:
            return 1
        kv_heads = x.shape[local]
        if kv_heads in (1, batch_shape[-1]):
            return 1
        return batch_shape[-1] // kv_heads

    group = max(group_of(k, 2), group_of(v, 2))
    if group > 1:
        heads = out_chunks[-1]
        if any(c % group for c in heads):
            step = max(group, (max(heads) // group) * group)
            out_chunks[-1] = tuple(
                min(step, batch_shape[-1] - lo)
                for lo in range(0, batch_shape[-1], step)
            )

    starts = [np.concatenate([[0], np.cumsum(c)]) for c in out_chunks]

    def block_of(
        x: da.Array, core: int, index: tuple[int, ...], is_kv: bool
    ) -> da.Array:
        offset, nb = batch_axes(x, core)
        slices: list[slice] = []
        for local in range(nb):
            axis = local + offset
            if x.shape[local] == 1 and batch_shape[axis] != 1:
                slices.append(slice(None))
                continue
            lo, hi = starts[axis][index[axis]], starts[axis][index[axis] + 1]
            if is_kv and axis == n_batch - 1 and x.shape[local] != batch_shape[axis]:
                lo, hi = lo // group, -(-hi // group)
            slices.append(slice(int(lo), int(hi)))
        return x[tuple(slices) + (slice(None),) * core]

    grid = tuple(len(c) for c in out_chunks)
    blocks = np.empty(grid, dtype=object)
    for index in np.ndindex(*grid):
        shape = tuple(int(out_chunks[a][index[a]]) for a in range(n_batch))
        parts = [
            block_of(x, core, index, name in ("k", "v")) for name, x, core in inputs
        ]
        q_block, k_block, v_block = parts[:3]
        mask_block = parts[3] if mask is not None else None
        task = dask.delayed(_block_attention, pure=True)(
            q_block,
            k_block,
            v_block,
            mask_block,
            causal,
            scale,
            check_finite,
            num_threads,
        )
        blocks[index] = da.from_delayed(task, shape=shape + (n_q, d_v), dtype=out_dtype)

    def nest(prefix: tuple[int, ...]) -> list[Any]:
        depth = len(prefix)
        if depth == n_batch:
            block = blocks[prefix] if n_batch else blocks[()]
            return [[block]]
        return [nest(prefix + (i,)) for i in range(grid[depth])]

    if n_batch == 0:
        return cast("da.Array", blocks[()])  # the one block, held in an object array
    return da.block(nest(()))
