/* Monotonic seconds, callable without the GIL: the search kernels compare it with
 * a deadline computed from Python's time.monotonic(), which reads the same clock
 * (CLOCK_MONOTONIC on POSIX, QueryPerformanceCounter on Windows). */
#ifndef ATTNSEARCH_CLOCK_H
#define ATTNSEARCH_CLOCK_H

#if defined(_WIN32)
#include <windows.h>
static inline double attnsearch_monotonic(void)
{
    LARGE_INTEGER count, frequency;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&frequency);
    return (double)count.QuadPart / (double)frequency.QuadPart;
}
#else
#include <time.h>
static inline double attnsearch_monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
#endif

#endif
