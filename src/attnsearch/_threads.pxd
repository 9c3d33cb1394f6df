# OpenMP shims: cimport these instead of `openmp`, so that a build without
# OpenMP still compiles (prange becomes a plain loop and these return 0/1).
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define ATTNSEARCH_OPENMP_ENABLED 1
    #else
    #define ATTNSEARCH_OPENMP_ENABLED 0
    static inline int omp_get_thread_num(void) { return 0; }
    static inline int omp_get_max_threads(void) { return 1; }
    #endif
    """
    bint OPENMP_ENABLED "ATTNSEARCH_OPENMP_ENABLED"
    int omp_get_thread_num() noexcept nogil
    int omp_get_max_threads() noexcept nogil
