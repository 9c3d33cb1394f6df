import numpy as np
import numpy.typing as npt

from ._geometry import AttentionShape, Operand

_COMPILED_TARGET: str

def attention_forward(
    q: Operand,
    k: Operand,
    v: Operand,
    out: Operand,
    weights: Operand | None,
    lse: npt.NDArray[np.floating] | None,
    mask: Operand | None,
    shape: AttentionShape,
    block_q: int,
    block_k: int,
    num_threads: int,
) -> None: ...
def kernel_constants() -> dict[str, int]: ...

BF16_TILES: bool
AMX_TILES: str

def amx_emulation_counters() -> dict[str, int]: ...
def _amx_fault_probe() -> int: ...
def bf16_pack_weight(weight: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint32]: ...
def bf16_linear(
    x: npt.NDArray[np.uint16],
    w_packed: npt.NDArray[np.uint32],
    n_out: int,
    bias: npt.NDArray[np.float32] | None,
    out: npt.NDArray[np.uint16],
    num_threads: int,
) -> None: ...
