"""Run code in a fresh interpreter, so that a crash fails one test, not the run."""

import subprocess
import sys
import textwrap


def run_python(code, timeout=120, **kwargs):
    """Run ``code`` with this interpreter; return the CompletedProcess.

    A segfault shows as a negative ``returncode`` (the signal), a hang as
    ``subprocess.TimeoutExpired``: both fail the calling test only.
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def assert_clean_exit(completed, expected_returncode=0):
    """The process ended by itself (no signal) with the expected code."""
    assert completed.returncode >= 0, (
        f"crashed with signal {-completed.returncode}:\n{completed.stderr[-2000:]}"
    )
    assert completed.returncode == expected_returncode, completed.stderr[-2000:]
