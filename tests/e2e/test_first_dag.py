"""The first DAG end to end on the real sample household: `airflow dags test` submits the ingest job to the
Spark standalone master, runs the GX checkpoint on its output and loads MongoDB (FerretDB)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pymongo
import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e


def test_history_dag_ingests_the_real_sample_into_mongodb(stack, tmp_path):
    db_name = f"smartmeter_e2e_{uuid.uuid4().hex[:8]}"
    env = os.environ | {
        "SMARTMETER_MONGO_DB": db_name,
        "SMARTMETER_LAKE_DIR": str(tmp_path / "lake"),
        "SMARTMETER_MODELS_DIR": str(tmp_path / "models"),
    }
    conf = {"stages": ["ingest", "load"], "from_date": "2012-10-12", "to_date": "2014-02-28"}
    proc = subprocess.run(
        ["airflow", "dags", "test", "smartmeter_history", "--conf", json.dumps(conf)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    db = pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000)[db_name]
    try:
        gate = db["dq_results"].find_one({"suite": "readings_halfhourly"})
        assert gate["success"] is True and gate["rows_validated"] == 24_140  # 24,158 lines - 17 duplicates - 1 Null
        accounting = db["ingest_accounting"].find_one({"source_file": "MAC000002.csv"})
        assert accounting["rows_read"] == 24_158 and accounting["rows_clean"] == 24_140
        assert db["households"].count_documents({}) == 5_566
        reasons = {d["reason"]: d["rejected_lines"] for d in db["readings_rejected_summary"].find()}
        assert reasons == {"off_grid_time": 1}
        run = db["pipeline_runs"].find_one({"dag_id": "smartmeter_history"})
        assert run["status"] == "success"
        assert run["tasks"]["ingest"]["state"] == "success" and run["tasks"]["ingest"]["duration_s"] > 0
        assert run["rows_validated"]["readings_halfhourly"] == 24_140
    finally:
        db.client.drop_database(db_name)
