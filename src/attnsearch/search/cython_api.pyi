import numpy as np
from typing_extensions import disjoint_base

@disjoint_base
class CompiledProblem:
    state_size: int
    state_dtype: np.dtype
    aux_nbytes: int
    n_tabu_keys: int
    exact_costs: bool
    @property
    def has_neighbourhood(self) -> bool: ...
    def provides(self, name: str) -> bool: ...
    def _check_vtable(self) -> None: ...
