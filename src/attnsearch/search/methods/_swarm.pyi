from typing import Any

import numpy as np
import numpy.typing as npt

from attnsearch.search.problems.continuous._core import ContinuousCore

TOPOLOGIES: dict[str, int]
BOUNDARIES: dict[str, int]
LANES: int

def lane_states(rng_states: npt.ArrayLike) -> npt.NDArray[np.uint64]: ...
def swarm_run(
    core: ContinuousCore,
    arrays: Any,
    n_iters: int,
    w: float,
    c1: float,
    c2: float,
    vmax: Any,
    topology: str,
    boundary: str,
    grid_cols: int,
    target: float,
    deadline: float,
    num_threads: int,
    initialise: bool = ...,
    random_start: Any = ...,
    vinit: Any = ...,
) -> None: ...
