from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from attnsearch.search.cython_api import CompiledProblem

METRICS: dict[str, int]
MOVE_KINDS: dict[str, int]

@disjoint_base
class TSPCore(CompiledProblem):
    def __init__(
        self,
        n: int,
        metric: str,
        matrix: Any,
        x: Any,
        y: Any,
        kinds: Any,
        weights: Any,
        exact_costs: bool = ...,
    ) -> None: ...
    def tour_lengths(self, tours: Any) -> npt.NDArray[np.float64]: ...
    def distance(self, a: int, b: int) -> float: ...
