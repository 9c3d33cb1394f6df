from typing import Any

import numpy as np
import numpy.typing as npt

def attention_backward(
    q: npt.NDArray[np.floating],
    k: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    grad_out: npt.NDArray[np.floating],
    lse: npt.NDArray[np.floating],
    mask: npt.NDArray[Any] | None,
    mask_kind: int,
    dq: npt.NDArray[np.floating],
    dk: npt.NDArray[np.floating],
    dv: npt.NDArray[np.floating],
    items: npt.NDArray[np.intp],
    group_start: npt.NDArray[np.intp],
    q_offsets: npt.NDArray[np.intp],
    k_offsets: npt.NDArray[np.intp],
    v_offsets: npt.NDArray[np.intp],
    o_offsets: npt.NDArray[np.intp],
    do_offsets: npt.NDArray[np.intp],
    m_offsets: npt.NDArray[np.intp],
    dq_offsets: npt.NDArray[np.intp],
    dk_offsets: npt.NDArray[np.intp],
    dv_offsets: npt.NDArray[np.intp],
    n_q: int,
    n_k: int,
    d_k: int,
    d_v: int,
    ld_q: int,
    ld_k: int,
    ld_v: int,
    ld_o: int,
    ld_do: int,
    ld_dq: int,
    ld_dk: int,
    ld_dv: int,
    mask_ld_row: int,
    mask_ld_col: int,
    scale: float,
    causal: bool,
    block_q: int,
    block_k: int,
    num_threads: int,
    hi_offset: int | None = None,
    has_lo: bool = False,
    lo_offset: int = 0,
    slopes: npt.NDArray[np.float64] | None = None,
    alibi_offset: int = 0,
) -> None: ...

GRAD_COL_CHUNKS: int
GRAD_MIN_COLS: int
GRAD_ROW_BLOCK: int

def grad_chunks(m: int, n: int) -> tuple[int, int]: ...
def linear_grad_weight(
    x: npt.NDArray[np.floating],
    dy: npt.NDArray[np.floating],
    dw: npt.NDArray[np.floating],
    accumulate: bool,
    num_threads: int,
) -> None: ...
def linear_grad_input(
    dy: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    dx: npt.NDArray[np.floating],
    accumulate: bool,
    num_threads: int,
) -> None: ...
