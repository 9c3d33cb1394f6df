from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

def release_scratch() -> None: ...
def decode_forward(
    q: npt.NDArray[np.floating],
    k: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    out: npt.NDArray[np.floating],
    mask: npt.NDArray[Any] | None,
    mask_kind: int,
    slopes: npt.NDArray[np.float64] | None,
    order: npt.NDArray[np.intp],
    block_start: npt.NDArray[np.intp],
    q_offsets: npt.NDArray[np.intp],
    k_offsets: npt.NDArray[np.intp],
    v_offsets: npt.NDArray[np.intp],
    o_offsets: npt.NDArray[np.intp],
    m_offsets: npt.NDArray[np.intp],
    n_q: int,
    n_k: int,
    d_k: int,
    d_v: int,
    ld_q: int,
    ld_k: int,
    ld_v: int,
    ld_o: int,
    mask_ld_row: int,
    mask_ld_col: int,
    scale: float,
    has_lo: bool,
    lo_offset: int,
    has_hi: bool,
    hi_offset: int,
    alibi_offset: int,
    kv_lo: int,
    kv_hi: int,
    chunk: int,
    block_k: int,
    small_rows: int,
    num_threads: int,
) -> None: ...
def decode_constants() -> dict[str, int]: ...
def stream_read_sum(
    arrays: Sequence[npt.NDArray[np.floating]], num_threads: int
) -> float: ...
def all_finite(arr: npt.NDArray[np.floating], num_threads: int) -> bool: ...
def max_abs(arr: npt.NDArray[np.floating], num_threads: int) -> float: ...
