import numpy as np
import numpy.typing as npt

_COMPILED_TARGET: str
LINEAR_GEMV_MAX_ROWS: int
LINEAR_GEMV_MIN_K_BLOCK: int
LINEAR_GEMV_K_BLOCKS: int
LINEAR_GEMV_COL_BLOCK: int
LINEAR_TILE_WORK: tuple[int, ...]

def linear_tiles(m: int, n: int, k: int = ...) -> tuple[int, int]: ...
def linear_forward(
    x: npt.NDArray[np.floating],
    w: npt.NDArray[np.floating],
    bias: npt.NDArray[np.floating] | None,
    out: npt.NDArray[np.floating],
    num_threads: int,
) -> None: ...
def grad_chunks(m: int, k: int, n: int) -> tuple[int, int]: ...
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
