from typing import Any

import numpy as np
import numpy.typing as npt

STATUS: dict[str, int]
ACCEPT_THRESHOLD: float
CLOCK_EVERY: int
TIE_CAPACITY: int

def init_chains(
    core: Any,
    arrays: Any,
    random_start: Any,
    *,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def anneal(
    core: Any,
    arrays: Any,
    *,
    temperatures: Any,
    sweep_len: int,
    target: float,
    deadline: float,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def climb(
    core: Any,
    arrays: Any,
    *,
    max_steps: int,
    best_improvement: bool,
    tolerance: float,
    target: float,
    deadline: float,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def stochastic_climb(
    core: Any,
    arrays: Any,
    *,
    max_steps: int,
    temperature: float,
    sample_size: int,
    target: float,
    deadline: float,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def tabu(
    core: Any,
    arrays: Any,
    *,
    max_steps: int,
    tenure: int,
    aspiration: bool,
    candidate_size: int,
    tolerance: float,
    target: float,
    deadline: float,
    num_threads: int,
    tenure_spread: int = ...,
    perturb_after: int = ...,
    strength_low: int = ...,
    strength_high: int = ...,
    use_vtable: bool = ...,
) -> None: ...
def descend(
    core: Any,
    arrays: Any,
    *,
    max_moves: int,
    tolerance: float,
    target: float,
    deadline: float,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def iterated_local_search(
    core: Any,
    arrays: Any,
    *,
    until: int,
    strength: int,
    tolerance: float,
    target: float,
    deadline: float,
    pause_at: float,
    num_threads: int,
    use_vtable: bool = ...,
) -> None: ...
def sample_deltas(
    core: Any,
    arrays: Any,
    *,
    n_samples: int,
    deadline: float = ...,
    num_threads: int,
    apply: bool = ...,
    use_vtable: bool = ...,
) -> npt.NDArray[np.float64]: ...
def check_deltas(
    core: Any, state: Any, n_samples: int, rng_state: Any
) -> tuple[float, int, Any, Any, Any]: ...
def costs_of(core: Any, states: Any) -> npt.NDArray[np.float64]: ...
def fast_exp_scalar(x: float) -> float: ...
def temper(
    core: Any,
    arrays: Any,
    *,
    replicas: Any,
    betas: npt.NDArray[np.float64],
    replica_at: npt.NDArray[np.int64],
    swap_attempts: npt.NDArray[np.int64],
    swap_accepts: npt.NDArray[np.int64],
    n_rounds: int,
    sweep_len: int,
    target: float,
    deadline: float,
    num_threads: int,
    cluster_rungs: int = ...,
    use_vtable: bool = ...,
) -> None: ...
