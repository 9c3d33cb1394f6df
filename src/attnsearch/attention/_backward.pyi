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
