"""The benchmark harness: timing, peak memory, tables and the machine line that
every table of ``bench/compare.py`` starts with."""

from __future__ import annotations

import gc
import re
import time

# Pause between implementations: BLAS and OpenMP worker threads keep spinning
# for up to ~0.2 s after a call and would slow down whatever runs next.
SETTLE_SECONDS = 0.3


def _release_free_heap():
    """Hand freed heap pages back to the OS (glibc), so that the next allocation
    faults in fresh pages and shows in the high-water mark instead of silently
    reusing resident ones."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def median_time(fn, repeats=5, warmup=1, clock=None):
    """Median time of ``fn()`` in seconds over ``repeats`` runs: wall time, or
    ``clock`` (e.g. ``time.thread_time`` for single-threaded CPU time, which
    other processes on the machine do not inflate)."""
    clock = clock or time.perf_counter
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    times.sort()
    return times[len(times) // 2]


def settle():
    gc.collect()
    time.sleep(SETTLE_SECONDS)


def _status_kib(field):
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.M)
    return int(match.group(1)) if match else None


def peak_extra_mib(fn):
    """Peak resident memory above the current level while ``fn()`` runs, in MiB.

    Uses Linux's resettable high-water mark (/proc/self/clear_refs). Returns
    None where that is unavailable. The result of ``fn`` is dropped afterwards,
    but it counts: an output array is memory the call needs.
    """
    try:
        gc.collect()
        _release_free_heap()
        before = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        result = fn()
        peak = _status_kib("VmHWM")
        del result
    except OSError:
        return None
    if before is None or peak is None:
        return None
    return max(0.0, (peak - before) / 1024.0)


def gemm_ceiling_gflops(dtype, n=2048, repeats=5):
    """GFLOP/s of NumPy's n x n matmul: the machine's practical GEMM ceiling."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    seconds = median_time(lambda: a @ a, repeats=repeats)
    return 2.0 * n**3 / seconds / 1e9


def format_table(headers, rows):
    """Plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_line():
    """The CPU, the OpenMP threads and the kernel variant each family runs."""
    import os
    import platform

    from attnsearch import _dispatch, effective_n_threads

    info = _dispatch.config()
    chosen = ", ".join(sorted({e["selected"] for e in info["families"].values()}))
    runs = ", ".join(info["supported_targets"])
    return (
        f"attnsearch {info['version']} on {info['cpu']} ({platform.machine()}, "
        f"{os.cpu_count()} CPUs, {effective_n_threads(None)} threads by default); "
        f"kernels: {chosen} (CPU runs: {runs})"
    )
