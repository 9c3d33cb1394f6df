#!/usr/bin/env bash
# The installed wheel on CPUs this machine is not: the smoke subset under
# qemu-x86_64 -cpu Haswell (AVX2 + FMA, no AVX-512: the avx2 kernels must be
# chosen) and -cpu Nehalem (SSE4.2: the baseline kernels). A build that used an
# instruction of the build machine dies there with "Illegal instruction".
#
#     .ci/emulated_cpus.sh PYTHON     # PYTHON: an interpreter with the wheel installed
#
# OPENBLAS_CORETYPE names the emulated core for NumPy's OpenBLAS: its own
# detection picks AVX kernels on qemu's Nehalem model and NumPy then dies at
# import, before attnsearch is reached.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1

if [ "$(uname -m)" != x86_64 ]; then
    echo "emulated CPUs: not an x86-64 machine, nothing to emulate"
    exit 0
fi
if ! command -v qemu-x86_64 >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq qemu-user >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq qemu-user >/dev/null 2>&1; } \
            || true
    fi
fi
if ! command -v qemu-x86_64 >/dev/null; then
    echo "emulated CPUs: SKIPPED, qemu-user is not installed and cannot be (apt-get install qemu-user)"
    exit 0
fi

for pair in Haswell:avx2 Nehalem:baseline; do
    cpu=${pair%%:*}
    expected=${pair##*:}
    echo "== qemu-x86_64 -cpu $cpu: expecting the $expected kernels"
    run() { OPENBLAS_CORETYPE=$cpu qemu-x86_64 -cpu "$cpu" "$python" "$@" 2> >(grep -v "TCG doesn't support" >&2); }
    info=$(run -m attnsearch info)
    echo "$info" | sed -n '/^CPU:/p;/^targets/p'
    if echo "$info" | grep -E '^  [a-z]+ ' | grep -vq " $expected "; then
        echo "$info"
        echo "emulated CPUs: $cpu did not choose the $expected kernels for every family" >&2
        exit 1
    fi
    run -m pytest tests/test_smoke.py --noconftest -p no:cacheprovider -q
done
