from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from attnsearch.search.cython_api import CompiledProblem

METRICS: dict[str, int]
MOVE_KINDS: dict[str, int]
LK_DEPTH: int
LK_BREADTH: tuple[int, ...]
LK_MAX_FLIP: int
LK_ALTERNATE: bool
LOG_ENTRIES_PER_CITY: int
LOG_ENTRIES_EXTRA: int

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
        neighbours: Any = ...,
        start_tour: Any = ...,
        kick_length: int = ...,
        log_capacity: int | None = ...,
        lk_depth: int = ...,
        lk_breadth: Any = ...,
        lk_max_flip: int = ...,
        lk_alternate: bool = ...,
    ) -> None: ...
    def _install_neighbours(self, neighbours: Any) -> None: ...
    def set_neighbours(self, neighbours: Any) -> None: ...
    def _set_lk(
        self, depth: int, breadth: Any, max_flip: int, alternate: bool
    ) -> None: ...
    def set_lk(
        self,
        depth: int,
        breadth: Any = ...,
        max_flip: int = ...,
        alternate: bool = ...,
    ) -> None: ...
    def set_kick_length(self, kick_length: int) -> None: ...
    def set_start_tour(self, start_tour: Any) -> None: ...
    def aux_positions(self, aux: Any) -> npt.NDArray[np.int32]: ...
    @property
    def n_neighbours(self) -> int: ...
    def tour_lengths(self, tours: Any) -> npt.NDArray[np.float64]: ...
    def distance(self, a: int, b: int) -> float: ...
    def pair_distances(self, a: Any, b: Any) -> npt.NDArray[np.float64]: ...

def greedy_matching(n: int, edges_a: Any, edges_b: Any) -> npt.NDArray[np.int32]: ...
def improve_segments(
    core: TSPCore,
    tours: Any,
    xs: Any,
    ys: Any,
    neighbours: Any,
    starts: Any,
    rng_states: Any,
    kicks: Any,
    tolerance: float,
    deadline: float,
    num_threads: int,
    queued: Any = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
