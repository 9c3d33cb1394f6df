"""The .pyi stubs of the compiled modules describe what Python sees (mypy.stubtest)."""

import subprocess
import sys
from pathlib import Path

import pytest

MODULES = [
    "attnsearch._threads",
    "attnsearch._cpuinfo",
    "attnsearch._fastexp",
    "attnsearch._blas",
    "attnsearch.attention._kernels",
    "attnsearch.attention._backward",
    "attnsearch.attention._decode",
    "attnsearch.attention._linear",
    "attnsearch.attention._scans",
    "attnsearch.search.cython_api",
    "attnsearch.search._rng",
    "attnsearch.search._engine",
    "attnsearch.search.problems.ising._core",
    "attnsearch.search.problems.tsp._core",
    "attnsearch.search.problems.continuous._core",
    "attnsearch.search.problems.continuous._functions",
    "attnsearch.search.methods._swarm",
]


def test_stubs_match_compiled_modules():
    pytest.importorskip("mypy")
    allowlist = Path(__file__).with_name("stubtest_allowlist.txt")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            *MODULES,
            "--allowlist",
            str(allowlist),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
