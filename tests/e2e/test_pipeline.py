"""The whole pipeline on generated data, through Airflow, the Spark standalone master and FerretDB.

One history run prepares four months of features and a trained model; then the scheduler runs the daily DAG for a new day, reruns it (same documents), backfills three more days, and stops
a day of broken data at its GX gate with the result kept in MongoDB.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time

import pendulum
import pytest

from tests.e2e.conftest import REPO, dag_runs, run, wait_for_runs

pytestmark = pytest.mark.e2e_full

HOUSEHOLDS = 24
HISTORY = ("2012-12-01", "2013-03-31")
DAY = "2013-04-01"
BACKFILL = ("2013-04-02", "2013-04-04")
VOLATILE = {"_id", "_loaded_at", "_load_id"}


def checksum(docs: list[dict]) -> str:
    rows = sorted(
        json.dumps({k: v for k, v in d.items() if k not in VOLATILE}, sort_keys=True, default=str) for d in docs
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def london_midnight(day: str) -> str:
    """The start of a Europe/London day as an ISO instant: the logical date of the daily DAG's scheduled run
    for that day (its data interval runs from one London midnight to the next)."""
    return pendulum.parse(day, tz="Europe/London").isoformat()


def backfill_daily(first: str, last: str, conf: dict | None = None, timeout_s: int = 1500) -> dict[str, str]:
    """Backfill the daily DAG over London days ``first``..``last`` through the scheduler; wait for the runs and
    return their final states by run id. A day that already ran is cleared and rerun (reprocess "completed").

    The scheduler, not `airflow dags test`, runs the daily DAG here: Airflow 3.3.2's in-process `dags test`
    crashes after the last task of a DAG that has a ``deadline`` (``'dict' object has no attribute 'hex'`` in
    DagRun.update_state, apache/airflow#73428) and leaves the run "running" forever, while the scheduler's
    serialized DAG handles the deadline correctly. Backfills also have their own ``max_active_runs``, so the
    latest scheduled run, waiting for today's files, blocks none of them."""
    dates = pendulum.interval(pendulum.parse(first), pendulum.parse(last)).range("days")
    days = {pendulum.parse(london_midnight(d.to_date_string())) for d in dates}
    cmd = ["airflow", "backfill", "create", "--dag-id", "smartmeter_daily", "--from-date", london_midnight(first)]
    cmd += ["--to-date", london_midnight(last), "--reprocess-behavior", "completed"]
    if conf:
        cmd += ["--dag-run-conf", json.dumps(conf)]
    create_backfill(cmd)
    runs = {
        r["run_id"]
        for r in dag_runs("smartmeter_daily")
        if r["logical_date"] and pendulum.parse(r["logical_date"]) in days
    }
    assert len(runs) == len(days), f"expected one run per day of {first}..{last}, got {runs}"
    return wait_for_runs("smartmeter_daily", runs, timeout_s=timeout_s)


def create_backfill(cmd: list[str], timeout_s: int = 300) -> None:
    """Create the backfill; while the previous one is still marked running (the scheduler completes a backfill a
    little after its last run), Airflow refuses another for the DAG: wait for it, no longer than ``timeout_s``.
    A "database is locked" from SQLite (a writer held the lock past the 60 s busy timeout) is retried too."""
    deadline = time.monotonic() + timeout_s
    while True:
        proc = run(cmd, check=False)
        output = proc.stdout + proc.stderr
        busy = "AlreadyRunningBackfill" in output or "database is locked" in output
        if proc.returncode == 0 or not busy or time.monotonic() > deadline:
            break
        time.sleep(10)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")


def generate_live_day(settings, day: str) -> None:
    run(
        [
            "python",
            "-m",
            "spark_jobs.generate",
            "--out",
            str(settings.landing_dir),
            "--households",
            str(HOUSEHOLDS),
            "--live-day",
            day,
            "--seed",
            "7",
            "--no-enrolment",
            "--truth",
            str(settings.state_dir / "truth" / "e2e_truth.csv"),
        ]
    )


@pytest.fixture(scope="module")
def history(stack, mongo):
    """Generate the history and run the history DAG through the scheduler (its independent stages side by side,
    as in production; `airflow dags test` would run its tasks one after another)."""
    folder = stack.state_dir / "e2e" / "history"
    shutil.rmtree(folder, ignore_errors=True)
    (stack.state_dir / "truth").mkdir(parents=True, exist_ok=True)
    run(
        [
            "python",
            "-m",
            "spark_jobs.generate",
            "--out",
            str(folder),
            "--households",
            str(HOUSEHOLDS),
            "--start",
            HISTORY[0],
            "--end",
            HISTORY[1],
            "--seed",
            "7",
            "--no-enrolment",
            "--truth",
            str(stack.state_dir / "truth" / "e2e_truth_history.csv"),
            "--overwrite",
        ]
    )
    conf = {"input": str(folder), "from_date": HISTORY[0], "to_date": HISTORY[1], "backtest_train_end": "2013-03-03"}
    run_id = f"e2e_history_{time.strftime('%Y%m%dT%H%M%S')}"
    run(["airflow", "dags", "unpause", "smartmeter_history"])
    try:
        run(["airflow", "dags", "trigger", "smartmeter_history", "--run-id", run_id, "--conf", json.dumps(conf)])
        states = wait_for_runs("smartmeter_history", {run_id}, timeout_s=2400)
    finally:
        run(["airflow", "dags", "pause", "smartmeter_history"], check=False)
    assert states == {run_id: "success"}, states
    return run_id


def test_history_run_loads_every_collection(history, mongo):
    days = mongo["household_daily"].count_documents({"local_date": {"$gte": HISTORY[0], "$lte": HISTORY[1]}})
    assert days == HOUSEHOLDS * 121, days
    doc = mongo["household_daily"].find_one({"local_date": "2013-02-01"})
    assert doc["energy_kwh"] > 0 and doc["readings_expected"] == 48
    for name in (
        "group_halfhourly",
        "forecasts_backtest",
        "forecast_metrics",
        "anomalies",
        "segments",
        "segment_profiles",
        "tariff_comparison_monthly",
        "neighbour_comparison_monthly",
        "households",
    ):
        assert mongo[name].count_documents({}) > 0, f"{name} is empty"
    backtest = mongo["forecasts_backtest"].find_one({"task": "household_daily", "actual_kwh": {"$ne": None}})
    assert backtest and backtest["local_date"] > "2013-03-03", "backtest targets start after the first training window"
    gates = list(mongo["dq_results"].find({"run_id": history}))
    assert {g["suite"] for g in gates} >= {
        "readings_halfhourly",
        "household_daily",
        "household_daily_features",
        "forecasts_backtest",
        "anomalies",
        "segments",
        "tariff_comparison_monthly",
    }
    assert all(g["success"] for g in gates), [g for g in gates if not g["success"]]
    run_doc = mongo["pipeline_runs"].find_one({"dag_id": "smartmeter_history", "run_id": history})
    assert run_doc and run_doc["tasks"]["ingest"]["state"] == "success"
    assert run_doc["tasks"]["ingest"]["duration_s"] > 0


@pytest.fixture(scope="module")
def daily(history, stack, mongo):
    """The daily DAG's run for DAY. The DAG is unpaused for the module: the scheduler starts no queued run of a
    paused DAG, backfills included."""
    generate_live_day(stack, DAY)
    run(["airflow", "dags", "unpause", "smartmeter_daily"])
    try:
        assert set(backfill_daily(DAY, DAY).values()) == {"success"}
        yield snapshot(mongo)
    finally:
        run(["airflow", "dags", "pause", "smartmeter_daily"], check=False)


def snapshot(mongo) -> dict[str, tuple[int, str]]:
    queries = {
        "household_daily": {"local_date": DAY},
        "group_halfhourly": {"local_date": DAY},
        "forecasts": {"local_date": "2013-04-02"},
        "anomalies": {"local_date": DAY},
    }
    return {name: (mongo[name].count_documents(q), checksum(list(mongo[name].find(q)))) for name, q in queries.items()}


def test_daily_run_processes_the_new_day(daily):
    assert daily["household_daily"][0] == HOUSEHOLDS
    assert daily["group_halfhourly"][0] > 0
    assert daily["forecasts"][0] > 0, "day-ahead forecasts for the day after the interval"


def test_daily_rerun_gives_the_same_documents(daily, mongo):
    """Rerun the day's ingest and aggregation: the day's readings-derived documents come out identical."""
    assert set(backfill_daily(DAY, DAY, {"stages": ["ingest", "aggregate", "load"]}).values()) == {"success"}
    again = snapshot(mongo)
    assert again["household_daily"] == daily["household_daily"]
    assert again["group_halfhourly"] == daily["group_halfhourly"]
    assert again["forecasts"] == daily["forecasts"], "forecasts were not rerun and must be untouched"


def test_backfill_three_days_through_the_scheduler(daily, stack, mongo):
    first, last = BACKFILL
    for day in ("2013-04-02", "2013-04-03", "2013-04-04"):
        generate_live_day(stack, day)
    states = backfill_daily(first, last, {"stages": ["ingest", "aggregate", "load"]})
    assert len(states) == 3 and set(states.values()) == {"success"}, states
    for day in ("2013-04-02", "2013-04-03", "2013-04-04"):
        assert mongo["household_daily"].count_documents({"local_date": day}) == HOUSEHOLDS, day


def test_failed_gate_stops_the_run_and_keeps_its_result(daily, stack, mongo):
    """A day whose households report a few readings each fails the readings gate; nothing after it runs."""
    day = "2013-04-10"
    folder = stack.landing_dir / day
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = ["LCLid,stdorToU,DateTime,KWH/hh (per half hour) "]
    for i in range(HOUSEHOLDS):
        for slot in range(6):  # 6 of 48 half hours: far below any completeness bound
            lines.append(f"MAC{i + 2:06d},Std,{day} {slot // 2:02d}:{30 * (slot % 2):02d}:00.0000000, 0.{slot + 1}00 ")
    (folder / "partial.csv").write_text("\r\n".join(lines) + "\r\n")
    states = backfill_daily(day, day, timeout_s=1200)
    assert list(states.values()) == ["failed"], states
    run_id = next(iter(states))
    gate = mongo["dq_results"].find_one({"run_id": run_id, "suite": "readings_halfhourly"})
    assert gate is not None and gate["success"] is False and gate["expectations_failed"] >= 1
    run_doc = mongo["pipeline_runs"].find_one({"dag_id": "smartmeter_daily", "run_id": run_id})
    assert run_doc["status"] == "failed" and run_doc["failed_task"] == "gate_readings_halfhourly"
    assert "aggregate" not in run_doc.get("tasks", {}), "no stage after a failed gate may run"
    assert mongo["household_daily"].count_documents({"local_date": day}) == 0
    assert REPO.joinpath("expectations", "readings_halfhourly.py").exists()
