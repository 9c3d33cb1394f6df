"""What the running CPU can execute (csrc/attnsearch_cpu.h), for the runtime dispatch.

Always compiled for the x86-64 baseline, whatever targets the kernels have.
"""

from libc.stdint cimport uint8_t

cdef extern from "attnsearch_cpu.h" nogil:
    int N_FEATURES "ATTNSEARCH_CPU_N_FEATURES"
    const char *const *FEATURE_NAMES "attnsearch_cpu_feature_names"
    void cpu_detect "attnsearch_cpu_detect"(uint8_t *has)
    void cpu_brand "attnsearch_cpu_brand"(char *buf)
    int cpu_request_amx "attnsearch_cpu_request_amx"()


def cpu_features():
    """The instruction-set features this CPU and OS can execute.

    Returns
    -------
    dict of str to bool
        One entry per feature the dispatch knows (``"avx2"``, ``"avx512f"``,
        ``"amx_bf16"``, ...). AVX-class features are True only when the
        operating system also saves their registers (XCR0). Every entry is
        False on a CPU that is not x86.
    """
    cdef uint8_t has[64]
    cdef int i
    cpu_detect(has)
    return {FEATURE_NAMES[i].decode(): bool(has[i]) for i in range(N_FEATURES)}


def cpu_brand_string():
    """The CPU's name as cpuid reports it (an empty string where it has none)."""
    cdef char buf[49]
    cpu_brand(buf)
    return buf.decode("ascii", "replace").strip()


def request_amx_permission():
    """Ask Linux for permission to use the AMX tile registers (process-wide).

    Returns
    -------
    bool
        True when this process may execute AMX instructions. Always False off
        Linux/x86-64.
    """
    return bool(cpu_request_amx())
