"""The linters the project follows (STYLE.md section 10) run with the tests, so CI
enforces them: ruff (check and format) on Python, cython-lint on Cython."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_PATHS = ["setup.py", "src", "tests", "bench", "examples", "docs", ".ci"]


def _run(command):
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _require(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (it comes with the test extra)")


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="no source tree")
def test_ruff_check():
    _require("ruff")
    completed = _run(["ruff", "check", *PYTHON_PATHS])
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="no source tree")
def test_ruff_format():
    _require("ruff")
    completed = _run(["ruff", "format", "--check", *PYTHON_PATHS])
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="no source tree")
def test_cython_lint():
    _require("cython-lint")
    sources = sorted(
        str(p.relative_to(ROOT))
        for pattern in ("*.pyx", "*.pxd")
        for folder in ("src", "examples")
        for p in (ROOT / folder).rglob(pattern)
    )
    completed = _run(["cython-lint", *sources])
    assert completed.returncode == 0, completed.stdout + completed.stderr
