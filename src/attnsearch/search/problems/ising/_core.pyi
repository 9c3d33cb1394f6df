from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from attnsearch.search.cython_api import CompiledProblem

@disjoint_base
class IsingCore(CompiledProblem):
    def __init__(
        self,
        h: Any,
        indptr: Any,
        indices: Any,
        weights: Any,
        exact_costs: bool = ...,
        random_order: bool = ...,
    ) -> None: ...
    def energies(self, spins: Any) -> npt.NDArray[np.float64]: ...
