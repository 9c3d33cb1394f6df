import numpy as np
import numpy.typing as npt

from ._decode_path import DecodePlan, KVSpec
from ._geometry import AttentionShape, Operand

_COMPILED_TARGET: str

def decode_forward(
    q: Operand,
    k: KVSpec,
    v: KVSpec,
    out: Operand,
    mask: Operand | None,
    shape: AttentionShape,
    plan: DecodePlan,
    num_threads: int,
    check: bool = False,
    int8_scores: bool = False,
) -> bool: ...
def decode_constants() -> dict[str, int]: ...
def _dec_qk_memview(
    q: npt.NDArray[np.floating],
    k: npt.NDArray[np.floating],
    s: npt.NDArray[np.floating],
) -> None: ...
def _dec_pv_memview(
    p: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    o: npt.NDArray[np.floating],
    corr: npt.NDArray[np.floating],
) -> None: ...
def _dec_qk_i8_memview(
    q: npt.NDArray[np.float32],
    k: npt.NDArray[np.int8],
    scales: npt.NDArray[np.float32],
    group: int,
    s: npt.NDArray[np.float32],
) -> None: ...
