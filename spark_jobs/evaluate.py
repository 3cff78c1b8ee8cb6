"""Evaluate the forecasting on any folder of LCL-layout CSV files and print one JSON report.

    python -m spark_jobs.evaluate --input <folder> --train-end 2013-09-30 --test-end 2013-12-31 \\
        [--master spark://127.0.0.1:7077 | local[2]] [--folds 3] [--work-dir DIR]

It runs the same jobs as the daily DAG, in order: ingest -> aggregate -> features -> forecast backtest, into a
fresh lake under ``--work-dir`` (default: a new folder under ``<state_dir>/evaluate``). With ``--master`` every
job is a ``spark-submit`` on that master (PYTHONPATH = repo root); without it, the jobs share one local[2]
session in this process. Job logs go to stderr; stdout carries only the JSON report: per task and per model
(baselines included) MAE, RMSE, R^2, MASE, MAPE (group series), P10-P90 coverage, per fold and overall, the bad
input found (short histories, incomplete days), timings, and whether the acceptance bar is met.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from spark_jobs.common.settings import REPO_ROOT, get_settings

COVERAGE_BAR = (0.78, 0.82)


def job_argv(
    work: Path, input_dir: Path, train_end: dt.date, test_end: dt.date, folds: int
) -> list[tuple[str, list[str]]]:
    lake, models = work / "lake", work / "models"
    return [
        ("ingest", ["--input", str(input_dir), "--lake", str(lake)]),
        ("aggregate", ["--lake", str(lake)]),
        ("features", ["--lake", str(lake)]),
        (
            "forecast",
            [
                "backtest",
                "--lake",
                str(lake),
                "--models-dir",
                str(models),
                "--train-end",
                str(train_end),
                "--test-end",
                str(test_end),
                "--folds",
                str(folds),
                "--report",
                str(work / "backtest_report.json"),
            ],
        ),
    ]


def spark_submit_command(master: str, job: str, args: list[str], driver_memory: str) -> list[str]:
    """spark-submit of ``spark_jobs/<job>.py``; executors get the repo on PYTHONPATH and this interpreter."""
    submit = Path(sys.executable).parent / "spark-submit"
    return [
        str(submit),
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        "--conf",
        f"spark.executorEnv.PYTHONPATH={REPO_ROOT}",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        str(REPO_ROOT / "spark_jobs" / f"{job}.py"),
        *args,
    ]


def run_jobs(jobs: list[tuple[str, list[str]]], master: str | None, driver_memory: str) -> dict:
    timings = {}
    if master is None:
        from pyspark.sql import SparkSession

        (
            SparkSession.builder.master("local[2]")
            .appName("evaluate")
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    for job, args in jobs:
        t0 = time.time()
        if master is None:
            with contextlib.redirect_stdout(sys.stderr):
                rc = importlib.import_module(f"spark_jobs.{job}").main(args)
        else:
            rc = subprocess.run(
                spark_submit_command(master, job, args, driver_memory), env=env, stdout=sys.stderr, check=False
            ).returncode
        timings[job] = round(time.time() - t0, 1)
        if rc not in (0, None):
            raise SystemExit(f"evaluate: job {job} failed with exit code {rc}")
    return timings


def bar_check(report: dict) -> dict:
    """The acceptance bar: the model beats every baseline on overall MASE and P10-P90 coverage is 78-82 %."""
    out = {}
    for task, t in report.get("tasks", {}).items():
        models = t["models"]
        model = models["hgb_quantile"]["overall"]
        baselines = {m: v["overall"].get("mase") for m, v in models.items() if m.startswith("baseline")}
        beats = all(model.get("mase") is not None and b is not None and model["mase"] < b for b in baselines.values())
        cov = model.get("coverage_p10_p90")
        out[task] = {
            "model_mase": model.get("mase"),
            "best_baseline_mase": min((b for b in baselines.values() if b is not None), default=None),
            "beats_every_baseline_on_mase": beats,
            "coverage_p10_p90": cov,
            "coverage_in_78_82": cov is not None and COVERAGE_BAR[0] <= cov <= COVERAGE_BAR[1],
        }
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spark_jobs.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--input", type=Path, required=True, help="folder of LCL-layout CSV files")
    p.add_argument("--train-end", type=dt.date.fromisoformat, required=True)
    p.add_argument("--test-end", type=dt.date.fromisoformat, required=True)
    p.add_argument("--master", default=None, help="spark://host:7077 or local[2]; default: in-process local[2]")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--work-dir", type=Path, default=None, help="lake + models of this run (kept)")
    p.add_argument("--driver-memory", default="4g")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.input.exists():
        raise SystemExit(f"evaluate: input folder not found: {args.input}")
    if args.test_end <= args.train_end:
        raise SystemExit("evaluate: --test-end must be after --train-end")
    work = args.work_dir or (get_settings().state_dir / "evaluate" / time.strftime("%Y%m%dT%H%M%S"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    timings = run_jobs(
        job_argv(work, args.input, args.train_end, args.test_end, args.folds), args.master, args.driver_memory
    )
    backtest = json.loads((work / "backtest_report.json").read_text())
    report = {
        "command": "python -m spark_jobs.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]),
        "input": str(args.input.resolve()),
        "master": args.master or "in-process local[2]",
        "train_end": str(args.train_end),
        "test_end": str(args.test_end),
        "work_dir": str(work),
        "bar": bar_check(backtest),
        "seconds": timings | {"total": round(time.time() - t0, 1)},
        **{k: v for k, v in backtest.items() if k not in ("seconds", "train_end", "test_end")},
    }
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
