import numpy as np
import numpy.typing as npt

from ._geometry import AttentionShape, Operand

_COMPILED_TARGET: str

def attention_backward(
    q: Operand,
    k: Operand,
    v: Operand,
    out: Operand,
    grad_out: Operand,
    lse: npt.NDArray[np.floating],
    log_sum: npt.NDArray[np.floating] | None,
    mask: Operand | None,
    dq: Operand,
    dk: Operand,
    dv: Operand,
    groups: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    shape: AttentionShape,
    block_q: int,
    block_k: int,
    num_threads: int,
) -> None: ...

BF16_TILES: bool

def bf16_pack_pairs(x: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint32]: ...
def bf16_pack_pairs_t(x: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint32]: ...
def bf16_gemm(
    a: npt.NDArray[np.uint32],
    b: npt.NDArray[np.uint32],
    out: npt.NDArray[np.float32] | npt.NDArray[np.uint16],
    accumulate: bool,
    num_threads: int,
) -> None: ...
def bf16_round(x: npt.NDArray[np.float32], out: npt.NDArray[np.uint16]) -> None: ...
