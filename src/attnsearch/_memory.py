"""Memory estimates before large allocations: refuse clearly instead of crashing.

Every size a user controls (chains, spins, cities, dimensions, tabu memories)
goes through :func:`check_allocation` before the arrays are made: a request
that cannot fit raises ``MemoryError`` saying what it needs and what is
available, instead of a bare ``MemoryError`` from NumPy, an out-of-memory kill
or minutes of swapping.
"""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_allocation", "format_bytes"]


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 or v1), when there is one."""
    for path in (
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ):
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate (``MemAvailable``, capped by a cgroup
    limit), or None when the platform does not say."""
    available = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    limit = _cgroup_limit()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def format_bytes(nbytes: float) -> str:
    """``1.5 GiB``-style text."""
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def check_allocation(nbytes: float, what: str) -> None:
    """Raise ``MemoryError`` naming ``what`` when ``nbytes`` exceed the memory
    available now (estimates need not be exact: they catch the orders of
    magnitude a typo or a hostile file produces)."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(
            f"{what} needs about {format_bytes(nbytes)}, but only "
            f"{format_bytes(available)} of memory is available"
        )
