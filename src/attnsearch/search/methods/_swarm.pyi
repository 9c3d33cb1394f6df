from typing import Any

from attnsearch.search.problems.continuous._core import ContinuousCore

TOPOLOGIES: dict[str, int]
BOUNDARIES: dict[str, int]

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
