"""OpenMP helpers: whether the build has OpenMP, and how many threads to use."""


def openmp_enabled():
    """Return True when the compiled kernels were built with OpenMP.

    Returns
    -------
    bool
        False means a serial build: every ``num_threads`` is treated as 1.
    """
    return bool(OPENMP_ENABLED)


def _openmp_max_threads():
    """``omp_get_max_threads()``: honours OMP_NUM_THREADS and threadpoolctl limits."""
    return omp_get_max_threads()
