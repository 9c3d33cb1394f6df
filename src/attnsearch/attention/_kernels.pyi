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
