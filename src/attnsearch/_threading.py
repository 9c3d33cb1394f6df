"""Thread-count policy shared by every kernel (the ``num_threads`` argument)."""

from __future__ import annotations

import numbers
import os
from contextlib import contextmanager
from functools import lru_cache

from ._threads import _openmp_max_threads, openmp_enabled

__all__ = [
    "blas_limited_to_one_thread",
    "effective_n_threads",
    "openmp_enabled",
    "physical_core_count",
]


@lru_cache(maxsize=1)
def physical_core_count() -> int:
    """Number of physical cores this process may run on (hyper-threads counted once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list"
        try:
            with open(path) as fh:
                cores.add(fh.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def effective_n_threads(num_threads: int | None = None) -> int:
    """Resolve a user's ``num_threads`` into the number of OpenMP threads to use.

    Parameters
    ----------
    num_threads : int or None
        ``None``: the smaller of the OpenMP maximum and the number of physical
        cores, unless ``OMP_NUM_THREADS`` is set (then the OpenMP maximum).
        A positive int: that many threads. A negative int counts back from the
        maximum: ``-1`` is all cores, ``-2`` all but one (never below 1).
        ``0`` is an error.

    Returns
    -------
    int
        Always 1 in a build without OpenMP.

    Raises
    ------
    TypeError
        If ``num_threads`` is not None or an integer.
    ValueError
        If ``num_threads`` is 0.
    """
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral)
    ):
        raise TypeError(
            f"num_threads must be None or an int, got {type(num_threads).__name__}"
        )
    if num_threads == 0:
        raise ValueError("num_threads=0 is not allowed: use None, a positive or -1")
    if not openmp_enabled():
        return 1
    max_threads = _openmp_max_threads()
    if num_threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return max(1, max_threads)
        return max(1, min(max_threads, physical_core_count()))
    num_threads = int(num_threads)
    if num_threads < 0:
        return max(1, max_threads + num_threads + 1)
    return num_threads


@lru_cache(maxsize=1)
def _threadpool_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def blas_limited_to_one_thread():
    """Limit every loaded BLAS to one thread for the duration of the block.

    Used around OpenMP regions whose threads call BLAS themselves (each call
    must then run on its own thread only). The controller is built once, after
    SciPy's BLAS (used through ``scipy.linalg.cython_blas``) has been loaded.
    """
    with _threadpool_controller().limit(limits=1, user_api="blas"):
        yield
