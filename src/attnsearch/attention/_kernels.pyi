from typing import Any

import numpy as np
import numpy.typing as npt

def release_scratch() -> None: ...
def attention_forward(
    q: npt.NDArray[np.floating],
    k: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating] | None,
    mask: npt.NDArray[Any] | None,
    mask_kind: int,
    q_offsets: npt.NDArray[np.intp],
    k_offsets: npt.NDArray[np.intp],
    v_offsets: npt.NDArray[np.intp],
    o_offsets: npt.NDArray[np.intp],
    w_offsets: npt.NDArray[np.intp],
    m_offsets: npt.NDArray[np.intp],
    n_q: int,
    n_k: int,
    d_k: int,
    d_v: int,
    ld_q: int,
    ld_k: int,
    ld_v: int,
    ld_o: int,
    ld_w: int,
    mask_ld_row: int,
    mask_ld_col: int,
    scale: float,
    causal: bool,
    block_q: int,
    block_k: int,
    num_threads: int,
    lse: npt.NDArray[np.floating] | None = None,
    hi_offset: int | None = None,
    has_lo: bool = False,
    lo_offset: int = 0,
    slopes: npt.NDArray[np.float64] | None = None,
    alibi_offset: int = 0,
) -> None: ...

LINEAR_TILE_WORK: tuple[int, int, int]
LINEAR_GEMV_MAX_ROWS: int
LINEAR_GEMV_MIN_K_BLOCK: int
LINEAR_GEMV_K_BLOCKS: int
LINEAR_GEMV_COL_BLOCK: int

def linear_tiles(m: int, n: int, k: int = 1) -> tuple[int, int]: ...
def linear_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None,
    out: npt.NDArray[np.floating],
    num_threads: int,
) -> None: ...
def kernel_constants() -> dict[str, int]: ...
