"""Shared fixtures: one local SparkSession for the whole test session, and paths to the real reference data."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from spark_jobs.common.settings import get_settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# py4j logs "Closing down clientserver connection" from __del__ at interpreter exit, after pytest closed the
# captured streams ("--- Logging error --- ... I/O operation on closed file"): noise, not a failure.
logging.getLogger("py4j").setLevel(logging.WARNING)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def pytest_sessionstart(session):
    """Stop at once, naming the paths, when the real reference data is not beside the checkout (a clone must sit
    next to ``shared/``, or SMARTMETER_REFERENCE_DIR must point at its ``data`` folder): otherwise dozens of tests
    fail one by one deep inside pandas and Spark with the same missing file."""
    problem = get_settings().reference_data_problem()
    if problem:
        pytest.exit(problem, returncode=4)


@pytest.fixture(scope="session")
def spark():
    """A small local session: transforms are tested on tiny DataFrames, so two cores and few partitions."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("smartmeter-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return get_settings().reference_dir  # checked with every reference file at session start
