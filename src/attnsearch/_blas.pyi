import numpy as np
import numpy.typing as npt

def _gemm_memview(
    a: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating],
    c: npt.NDArray[np.floating],
    transpose_b: bool = ...,
    alpha: float = ...,
    beta: float = ...,
) -> None: ...
