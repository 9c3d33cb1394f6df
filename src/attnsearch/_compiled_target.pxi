# Included by every kernel family module (see _cpu_targets.FAMILIES): the CPU
# target its C code was compiled for, which setup.py defines per variant; the
# dispatch checks it when it loads the variant.
cdef extern from *:
    """
    #ifndef ATTNSEARCH_TARGET_NAME
    #define ATTNSEARCH_TARGET_NAME "baseline"
    #endif
    """
    const char *_TARGET_NAME "ATTNSEARCH_TARGET_NAME"

_COMPILED_TARGET = _TARGET_NAME.decode()
