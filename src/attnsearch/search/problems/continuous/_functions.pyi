from typing import Any

import numpy as np
import numpy.typing as npt

_COMPILED_TARGET: str
VTABLE_CAPSULE_NAME: bytes

def vtable_capsule() -> Any: ...
def values(function: int, points: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
def _values_block_memview(
    function: int, points: npt.NDArray[np.float64], out: npt.NDArray[np.float64]
) -> None: ...
def _cos_memview(x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None: ...
