"""Runs the hypothesis fuzz targets of tests/fuzz/ (see its README) in fresh
interpreters: a crash or a hang fails the target's test here, not the run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
TARGET_FILES = sorted(p.name for p in FUZZ.glob("fuzz_*.py"))


@pytest.mark.parametrize("name", TARGET_FILES)
def test_fuzz_targets(name):
    pytest.importorskip("hypothesis")
    long = os.environ.get("ATTNSEARCH_FUZZ_PROFILE") == "long"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(FUZZ / name),
        ],
        capture_output=True,
        text=True,
        timeout=3600 if long else 600,
        cwd=FUZZ.parent,
    )
    assert completed.returncode == 0, (
        f"return code {completed.returncode} (negative: killed by a signal)\n"
        + completed.stdout[-4000:]
        + completed.stderr[-4000:]
    )
