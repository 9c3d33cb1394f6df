"""Every script in examples/ runs (small sizes), so the examples cannot rot."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import attnsearch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKAGE_PARENT = str(Path(attnsearch.__file__).resolve().parent.parent)
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def example_env(*extra_paths):
    env = dict(os.environ)
    paths = [PACKAGE_PARENT, *map(str, extra_paths), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["ATTNSEARCH_EXAMPLES_SMALL"] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


def test_examples_are_found():
    assert len(SCRIPTS) >= 6, SCRIPTS


# Examples of optional extras run when the extra is installed (CI installs them).
NEEDS = {"dask_solve.py": ["dask", "distributed"], "dimod_sampler.py": ["dimod"]}


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script, tmp_path):
    for module in NEEDS.get(script, []):
        pytest.importorskip(module)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,  # pictures land here, not in the checkout
        env=example_env(EXAMPLES),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip(), "an example should say what it did"


def test_cython_example_builds_and_runs(tmp_path):
    for name in ("number_partitioning.pyx", "setup.py", "run.py"):
        shutil.copy(EXAMPLES / "cython_problem" / name, tmp_path / name)
    env = example_env()
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    done = subprocess.run(
        [sys.executable, "run.py"],
        cwd=tmp_path,
        env=example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "annealing: difference" in done.stdout
