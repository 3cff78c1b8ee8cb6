"""End-to-end fixtures: the running embedded stack (Spark master, FerretDB, Airflow), driven through the
``airflow`` CLI like a user would. ``make test`` starts the stack first; these tests fail (not skip) when it
is not running."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pymongo
import pytest

from spark_jobs.common.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


def run(cmd: list[str], timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with the stack's environment; on failure show the tail of its output."""
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc


@pytest.fixture(scope="session")
def stack():
    """The settings of the running stack; fails with the fix when a service is down."""
    settings = get_settings()
    if "AIRFLOW_HOME" not in os.environ:
        pytest.fail("run the end-to-end tests through `make test` (it sources scripts/env.sh and starts the stack)")
    status = subprocess.run(["bash", "scripts/stack.sh", "status"], cwd=REPO, capture_output=True, text=True)
    for service in ("spark-master", "spark-worker", "airflow-scheduler", "airflow-api-server"):
        assert f"{service}" in status.stdout and "running" in status.stdout.split(service)[1].splitlines()[0], (
            f"{service} is not running; start the stack with `make start`\n{status.stdout}"
        )
    client = pymongo.MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000)
    client.admin.command("ping")
    yield settings
    client.close()


@pytest.fixture(scope="session")
def mongo(stack):
    client = pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000)
    yield client[stack.mongo_db]
    client.close()


def dag_runs(dag_id: str) -> list[dict]:
    """The DAG's runs as the CLI reports them (its JSON line; Airflow's warnings are printed to stdout too)."""
    out = run(["airflow", "dags", "list-runs", dag_id, "-o", "json"]).stdout
    for line in out.splitlines():
        if line.startswith("[{") or line.strip() == "[]":
            return json.loads(line)
    raise AssertionError(f"no JSON list in `airflow dags list-runs {dag_id}` output:\n{out[-2000:]}")


def wait_for_runs(dag_id: str, run_ids: set[str], timeout_s: int) -> dict[str, str]:
    """Poll until every run is final; return their states."""
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {r["run_id"]: r["state"] for r in dag_runs(dag_id) if r["run_id"] in run_ids}
        if len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values()):
            return states
        time.sleep(10)
    raise AssertionError(f"{dag_id} runs not final after {timeout_s}s: {states}")
