"""Hypothesis profiles of the fuzz targets and their watchdog (imported by each
target file: a conftest.py here would shadow the suite's own ``conftest``)."""

import faulthandler
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("ATTNSEARCH_FUZZ_PROFILE", "ci"))

#: Seconds one target (all its examples) may take before the watchdog calls it a hang.
TARGET_TIMEOUT = float(os.environ.get("ATTNSEARCH_FUZZ_TARGET_TIMEOUT", "120"))


@pytest.fixture(autouse=True)
def watchdog():
    """Dump every thread's stack and exit if a test hangs (the parent test then
    fails with the dump in its output)."""
    faulthandler.dump_traceback_later(TARGET_TIMEOUT, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
