import os

import pytest

import attnsearch
from attnsearch import effective_n_threads, openmp_enabled


@pytest.mark.skipif(
    bool(os.environ.get("ATTNSEARCH_SKIP_OPENMP_TEST")),
    reason="ATTNSEARCH_SKIP_OPENMP_TEST is set",
)
def test_openmp_enabled():
    # A serial build is allowed but must be deliberate (see README).
    assert openmp_enabled(), (
        "attnsearch was built without OpenMP: install libgomp/libomp and rebuild, "
        "or set ATTNSEARCH_SKIP_OPENMP_TEST=1"
    )


def test_effective_n_threads_rules(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    default = effective_n_threads(None)
    assert 1 <= default <= (os.cpu_count() or 1)
    assert effective_n_threads(3) == (3 if openmp_enabled() else 1)
    assert effective_n_threads(-1) >= 1
    assert effective_n_threads(-1000) == 1
    with pytest.raises(ValueError, match="num_threads=0"):
        effective_n_threads(0)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="num_threads"):
            effective_n_threads(bad)


def test_threadpoolctl_limit_is_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not openmp_enabled():
        pytest.skip("serial build")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert effective_n_threads(-1) == 1


def test_version():
    assert isinstance(attnsearch.__version__, str)


def test_the_version_is_written_once():
    # pyproject reads attnsearch.__version__: the installed metadata agrees, and
    # so does the command line.
    import subprocess
    import sys
    from importlib.metadata import version

    assert version("attnsearch") == attnsearch.__version__
    done = subprocess.run(
        [sys.executable, "-m", "attnsearch", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == f"attnsearch {attnsearch.__version__}"
