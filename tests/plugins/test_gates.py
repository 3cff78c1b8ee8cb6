"""The GX gate reads exactly the run's partitions, keeps the full result as JSON and in MongoDB, and stops
the run with the failed expectation and sample values."""

from __future__ import annotations

import json
import sys
import types
import uuid

import great_expectations as gx
import pandas as pd
import pymongo
import pytest

from expectations.runner import GateFailed
from plugins.gates import read_partitions, run_gate
from spark_jobs.common.settings import get_settings


@pytest.fixture()
def suite(monkeypatch):
    module = types.ModuleType("expectations.gate_demo")

    def build_suite():
        s = gx.ExpectationSuite(name="gate_demo")
        s.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column="energy_kwh", min_value=0, max_value=10))
        return s

    module.build_suite = build_suite
    monkeypatch.setitem(sys.modules, "expectations.gate_demo", module)


@pytest.fixture()
def env(tmp_path, monkeypatch):
    db_name = f"smartmeter_test_gates_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SMARTMETER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTMETER_MONGO_DB", db_name)
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    pymongo.MongoClient(settings.mongo_uri).drop_database(db_name)
    get_settings.cache_clear()


def write_days(lake, rows):
    df = pd.DataFrame(rows)
    df.to_parquet(lake / "gate_demo", partition_cols=["local_date"])


def test_reads_only_the_requested_days_and_months(tmp_path):
    lake = tmp_path / "lake"
    (lake / "gate_demo").mkdir(parents=True)
    write_days(lake, [{"local_date": d, "energy_kwh": 1.0} for d in ("2013-01-01", "2013-01-02", "2013-02-01")])
    assert len(read_partitions("gate_demo", ["2013-01-02"], lake)) == 1
    assert len(read_partitions("gate_demo", None, lake)) == 3
    monthly = lake / "monthly_demo"
    pd.DataFrame({"month": ["2013-01-01", "2013-02-01"], "x": [1, 2]}).to_parquet(monthly, partition_cols=["month"])
    assert read_partitions("monthly_demo", ["2013-02-14"], lake)["x"].tolist() == [2]


def test_failed_gate_names_the_expectation_and_keeps_the_result(tmp_path, suite, env):
    lake = tmp_path / "lake"
    (lake / "gate_demo").mkdir(parents=True)
    write_days(
        lake, [{"local_date": "2013-01-01", "energy_kwh": 0.5}, {"local_date": "2013-01-02", "energy_kwh": 9999.0}]
    )
    ok = run_gate("gate_demo", run_id="r1", dag_id="d", local_dates=["2013-01-01"], lake_dir=lake)
    assert ok["success"] and ok["rows_validated"] == 1
    with pytest.raises(GateFailed, match="expect_column_values_to_be_between.*9999.0"):
        run_gate("gate_demo", run_id="r2", dag_id="d", local_dates=["2013-01-02"], lake_dir=lake)
    kept = json.loads((env.state_dir / "dq" / "r2" / "gate_demo.json").read_text())
    assert kept["summary"]["success"] is False and kept["results"]
    doc = pymongo.MongoClient(env.mongo_uri)[env.mongo_db]["dq_results"].find_one({"run_id": "r2"})
    assert doc["success"] is False and doc["expectations_failed"] == 1


def test_whole_history_is_validated_a_month_at_a_time(tmp_path, suite, env):
    lake = tmp_path / "lake"
    (lake / "gate_demo").mkdir(parents=True)
    days = ["2013-01-01", "2013-01-31", "2013-02-01", "2013-03-15"]
    write_days(lake, [{"local_date": d, "energy_kwh": 1.0} for d in days])
    summary = run_gate("gate_demo", run_id="r3", dag_id="d", local_dates=None, lake_dir=lake)
    assert summary["batches"] == 3 and summary["rows_validated"] == 4
