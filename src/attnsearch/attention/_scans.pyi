from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_COMPILED_TARGET: str

def stream_read_sum(
    arrays: Sequence[npt.NDArray[np.floating]], num_threads: int
) -> float: ...
def all_finite(arr: npt.NDArray[np.floating], num_threads: int) -> bool: ...
def max_abs(arr: npt.NDArray[np.floating], num_threads: int) -> float: ...
