"""Thread-count policy shared by every kernel (the ``num_threads`` argument)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from ._threads import _openmp_max_threads, openmp_enabled

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

__all__ = [
    "MAX_THREADS_PER_CPU",
    "blas_limited_to_one_thread",
    "effective_n_threads",
    "max_threads",
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
    cores: set[str] = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list"
        try:
            with open(path) as fh:
                cores.add(fh.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


#: No call starts more OpenMP threads than this many per logical CPU: asking for
#: more only adds start-up cost (5000 threads took 1.4 s for 1 ms of work) and,
#: from ~32k threads, aborts or crashes the OpenMP runtime.
MAX_THREADS_PER_CPU = 4


@lru_cache(maxsize=1)
def max_threads() -> int:
    """The most OpenMP threads any call uses: ``MAX_THREADS_PER_CPU`` per CPU.

    Cached: ``os.cpu_count()`` reads ``/sys`` on Linux (a system call per
    kernel call, tens of µs on a loaded machine for a decode step of ~100 µs).
    """
    return MAX_THREADS_PER_CPU * (os.cpu_count() or 1)


def effective_n_threads(
    num_threads: int | None = None, n_tasks: int | None = None
) -> int:
    """Resolve a user's ``num_threads`` into the number of OpenMP threads to use.

    Parameters
    ----------
    num_threads : int or None
        ``None``: the smaller of the OpenMP maximum and the number of physical
        cores, unless ``OMP_NUM_THREADS`` is set (then the OpenMP maximum).
        A positive int: that many threads, capped at :func:`max_threads`
        (4 per logical CPU). A negative int counts back from the maximum:
        ``-1`` is all cores, ``-2`` all but one (never below 1). ``0`` is an
        error.
    n_tasks : int, optional
        The independent work items of the call (chains, batch × heads, ...):
        more threads than items would only wait, so the result is capped at
        ``max(1, n_tasks)``.

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
    if type(num_threads) is int and num_threads > 0 and n_tasks is None:
        # The usual explicit count (a decode step asks twice a call): the
        # general path below gives the same, after its type checks.
        return min(num_threads, max_threads()) if openmp_enabled() else 1
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
    openmp_max = _openmp_max_threads()
    if num_threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            threads = max(1, openmp_max)
        else:
            threads = max(1, min(openmp_max, physical_core_count()))
    elif num_threads < 0:
        threads = max(1, openmp_max + int(max(num_threads, -openmp_max)) + 1)
    else:
        threads = int(min(num_threads, max_threads()))
    threads = min(threads, max_threads())
    if n_tasks is not None:
        threads = min(threads, max(1, int(n_tasks)))
    return threads


@lru_cache(maxsize=1)
def _threadpool_controller() -> ThreadpoolController:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def blas_limited_to_one_thread() -> Iterator[None]:
    """Limit every loaded BLAS to one thread for the duration of the block.

    Used around OpenMP regions whose threads call BLAS themselves (each call
    must then run on its own thread only). The controller is built once, after
    SciPy's BLAS (used through ``scipy.linalg.cython_blas``) has been loaded.
    """
    with _threadpool_controller().limit(limits=1, user_api="blas"):
        yield
