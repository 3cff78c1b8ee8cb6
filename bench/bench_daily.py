"""Speed benchmark of one daily run (not a test): the daily DAG for N households, through the running stack.

    SMARTMETER_STATE_DIR=$PWD/.state/bench_stack make start      # a stack of its own (stop the dev one first)
    SMARTMETER_STATE_DIR=$PWD/.state/bench_stack bash -c 'source scripts/env.sh && \
        python bench/bench_daily.py --households 5566'

1. Generates ``--history-days`` of readings for N households, runs the history DAG over them with
   `airflow dags test` (ingest, aggregate, features, segments) and trains the forecasting models on the cluster:
   the state a daily run starts from. ``--reuse-history`` skips this when it already ran in this state folder.
2. Writes the live day into the landing folder and backfills the daily DAG for that day through the scheduler
   (the DAG is unpaused for the run and paused again).
3. Reports the run's wall time and, per task, its time in the queue and running; per Spark stage, the time
   from the task's start to the application registering with the master (submit), to its first executor
   (from the task log's "Granted executor" line), and the application's own duration (from the master's
   JSON); for the load, documents written per second.
Prints the figures and writes bench/results/daily.json. Target (issue): <= 3 min wall for 5,566 households.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pendulum
import pymongo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spark_jobs.common.settings import get_settings  # noqa: E402

TARGET_WALL_S = 180


def sh(cmd: list[str], timeout: int = 7200) -> str:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout


def cli_json(cmd: list[str]) -> list[dict]:
    """The JSON line of an `airflow ... -o json` command (Airflow prints its warnings on stdout too)."""
    out = sh(cmd)
    for line in out.splitlines():
        if line.startswith("[{") or line.strip() == "[]":
            return json.loads(line)
    raise SystemExit(f"no JSON in the output of {' '.join(cmd)}:\n{out[-2000:]}")


def seconds(a: str | None, b: str | None) -> float | None:
    return round((pendulum.parse(b) - pendulum.parse(a)).total_seconds(), 1) if a and b else None


def generate(settings, households: int, out: Path, extra: list[str]) -> float:
    t0 = time.monotonic()
    sh(
        [sys.executable, "-m", "spark_jobs.generate", "--out", str(out), "--households", str(households)]
        + ["--seed", "11", "--no-enrolment", *extra]
    )
    return round(time.monotonic() - t0, 1)


def prepare_history(settings, households: int, first: str, last: str) -> dict:
    folder = settings.state_dir / "bench_daily" / "history"
    truth = settings.state_dir / "bench_daily" / "truth_history.csv"
    gen_s = generate(
        settings, households, folder, ["--start", first, "--end", last, "--overwrite", "--truth", str(truth)]
    )
    # No backtest and no load of the history: the daily run needs the lake, the segments and a trained model;
    # loading weeks of half-hourly backtests into FerretDB would take longer than everything else together.
    conf = {"input": str(folder), "from_date": first, "to_date": last}
    conf["stages"] = ["ingest", "aggregate", "features", "segments"]
    t0 = time.monotonic()
    sh(["airflow", "dags", "test", "smartmeter_history", "--conf", json.dumps(conf)])
    history_s = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    sh(
        ["spark-submit", "--master", settings.spark_master_url, "--driver-memory", settings.spark_driver_memory]
        + ["--executor-memory", settings.spark_executor_memory, "--conf", f"spark.executorEnv.PYTHONPATH={REPO}"]
        + [str(REPO / "spark_jobs" / "forecast.py"), "train", "--train-end", last]
    )
    return {"generate_s": gen_s, "history_dag_s": history_s, "train_s": round(time.monotonic() - t0, 1), "conf": conf}


def dag_run_state(logical: pendulum.DateTime) -> dict | None:
    """The daily run of ``logical`` (run id and state) read from Airflow's metadata database.

    Read directly rather than with `airflow dags list-runs`: each CLI call imports Airflow and costs ~4 CPU-s, so
    polling every 5 s took ~130 of a run's ~620 CPU-seconds on this 2-core machine, slowing the run it measured.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT run_id, state, logical_date, start_date, end_date FROM dag_run"
                    " WHERE dag_id = 'smartmeter_daily'"
                )
            ).all()
    finally:
        engine.dispose()

    def stamp(value) -> pendulum.DateTime | None:  # SQLite gives naive UTC text, PostgreSQL aware datetimes
        if value is None:
            return None
        return pendulum.instance(value, tz="UTC") if hasattr(value, "year") else pendulum.parse(str(value), tz="UTC")

    for run_id, state, logical_date, start, end in rows:
        if stamp(logical_date) == logical:
            iso = {
                k: (stamp(v).isoformat() if v is not None else None)
                for k, v in (("start_date", start), ("end_date", end))
            }
            return {"run_id": run_id, "state": state, **iso}
    return None


def run_daily(day: str, timeout_s: int) -> dict:
    logical = pendulum.parse(day, tz="Europe/London")
    sh(["airflow", "dags", "unpause", "smartmeter_daily"])
    try:
        create = ["airflow", "backfill", "create", "--dag-id", "smartmeter_daily", "--from-date", logical.isoformat()]
        create += ["--to-date", logical.isoformat(), "--reprocess-behavior", "completed"]
        for attempt in range(4):
            proc = subprocess.run(create, cwd=REPO, capture_output=True, text=True, timeout=600)
            # the metadata database is one SQLite file written by the scheduler, the dag-processor and the CLI;
            # a "database is locked" rolled the CLI's transaction back (nothing created), so try again
            if proc.returncode == 0 or "database is locked" not in proc.stdout + proc.stderr or attempt == 3:
                break
            time.sleep(10)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(create)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = dag_run_state(logical)
            if run and run["state"] in ("success", "failed"):
                return run
            time.sleep(5)
        raise SystemExit(f"the daily run for {day} did not finish in {timeout_s} s")
    finally:
        sh(["airflow", "dags", "pause", "smartmeter_daily"])


def spark_apps(settings) -> dict[str, dict]:
    """Completed applications on the standalone master, by name (the last one of each name)."""
    url = f"http://127.0.0.1:{settings.spark_master_ui_port}/json/"
    with urllib.request.urlopen(url, timeout=10) as resp:
        master = json.load(resp)
    apps = sorted(master.get("completedapps", []), key=lambda a: a["starttime"])
    return {a["name"]: a for a in apps}


def first_executor_at(settings, run_id: str, task_id: str) -> str | None:
    """When the driver was granted its first executor, from the task's log (Airflow 3 writes JSON lines)."""
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs" / "dag_id=smartmeter_daily" / f"run_id={run_id}"
    for path in sorted(logs.glob(f"task_id={task_id}/attempt=*.log"))[-1:]:
        for line in path.read_text(errors="replace").splitlines():
            if "Granted executor ID" in line or "Registered executor" in line:
                try:
                    return json.loads(line).get("timestamp")
                except json.JSONDecodeError:
                    return None
    return None


def report(settings, dag_run: dict, households: int) -> dict:
    run_id = dag_run["run_id"]
    tasks = cli_json(["airflow", "tasks", "states-for-dag-run", "smartmeter_daily", run_id, "-o", "json"])
    apps = spark_apps(settings)
    per_task = {}
    for t in sorted(tasks, key=lambda t: t.get("start_date") or "~"):
        if t["state"] != "success" or not t.get("start_date"):
            continue
        row = {"run_s": seconds(t["start_date"], t["end_date"])}
        app = apps.get(f"smartmeter-{t['task_id']}")
        if app:
            start_ms = pendulum.parse(t["start_date"]).timestamp() * 1000
            row["submit_to_registered_s"] = round((app["starttime"] - start_ms) / 1000, 1)
            row["app_s"] = round(app["duration"] / 1000, 1)
            granted = first_executor_at(settings, run_id, t["task_id"])
            if granted:
                row["submit_to_executor_s"] = seconds(t["start_date"], granted)
        per_task[t["task_id"]] = row
    db = pymongo.MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000)[settings.mongo_db]
    run_doc = db["pipeline_runs"].find_one({"dag_id": "smartmeter_daily", "run_id": run_id}) or {}
    loaded = run_doc.get("documents_loaded") or {}
    docs = sum(v for v in loaded.values() if isinstance(v, int))
    rows_loaded = run_doc.get("rows_loaded") or {}
    rows = sum(v for v in rows_loaded.values() if isinstance(v, int))
    load_s = per_task.get("load_serving", {}).get("run_s")
    wall = seconds(dag_run["start_date"], dag_run["end_date"])
    spark_tasks = [r for r in per_task.values() if "app_s" in r]
    return {
        "run_id": run_id,
        "state": dag_run["state"],
        "households": households,
        "wall_s": wall,
        "meets_target": bool(wall is not None and wall <= TARGET_WALL_S and dag_run["state"] == "success"),
        "spark_stages": len(spark_tasks),
        "spark_run_s_sum": round(sum(r["run_s"] for r in spark_tasks), 1),
        "spark_app_s_sum": round(sum(r["app_s"] for r in spark_tasks), 1),
        "documents_loaded": loaded,
        "load_docs_per_s": round(docs / load_s) if docs and load_s else None,
        "rows_loaded": rows_loaded,  # dataset rows behind the documents (forecasts: 48 half-hours per document)
        "load_rows_per_s": round(rows / load_s) if rows and load_s else None,
        "tasks": per_task,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=5566)
    parser.add_argument("--day", default="2013-03-01", help="the live day the daily run processes")
    parser.add_argument(
        "--history-days", type=int, default=63, help="28 days of feature warm-up + training + 28 of calibration"
    )
    parser.add_argument("--reuse-history", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "daily.json")
    args = parser.parse_args(argv)
    if "AIRFLOW_HOME" not in os.environ:
        raise SystemExit("source scripts/env.sh first and start the stack (`make start`), see the docstring")
    settings = get_settings()
    load_before = os.getloadavg()
    last = (date.fromisoformat(args.day) - timedelta(days=1)).isoformat()
    first = (date.fromisoformat(args.day) - timedelta(days=args.history_days)).isoformat()
    history = {"reused": True}
    if not args.reuse_history:
        history = prepare_history(settings, args.households, first, last)
    live_s = generate(settings, args.households, settings.landing_dir, ["--live-day", args.day])
    result = report(settings, run_daily(args.day, args.timeout), args.households)
    result |= {
        "day": args.day,
        "history": {"first": first, "last": last, **history},
        "generate_live_day_s": live_s,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        },
        "target_wall_s": TARGET_WALL_S,
    }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
