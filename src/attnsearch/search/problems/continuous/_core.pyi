from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from attnsearch.search.cython_api import CompiledProblem

FUNCTION_IDS: dict[str, int]
STEP_MODES: dict[str, int]
ADAPTATION: dict[str, float]

@disjoint_base
class ContinuousCore(CompiledProblem):
    def __init__(
        self, function: str, lower: Any, upper: Any, step: str = ...
    ) -> None: ...
    def values(self, points: Any) -> npt.NDArray[np.float64]: ...
