"""Forecasting benchmark: feature + training + backtest time and peak RSS on generated data.

    .venv/bin/python bench/bench_forecast.py [--households 1000] [--start 2012-01-01 --end 2013-12-31]
        [--train-end 2013-09-30] [--test-end 2013-12-31] [--work-dir DIR] [--reuse]

Generates LCL-layout CSVs with ``spark_jobs.generate`` and runs ingest + aggregate untimed (they have their own
benchmarks), then times the stages this benchmark is about, in one local[2] session: the features job and the
forecast backtest (3 folds, all three tasks: fitting, calibration, prediction, metrics and writing the
forecasts). Peak RSS is the sampled maximum of this process plus its children (the Spark JVM). Target: <= 5 min.
Prints the result and writes bench/results/forecast.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


class PeakRSS:
    """Samples RSS of this process and all its descendants every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--households", type=int, default=1000)
    p.add_argument("--start", default="2012-01-01")
    p.add_argument("--end", default="2013-12-31")
    p.add_argument("--train-end", default="2013-09-30")
    p.add_argument("--test-end", default="2013-12-31")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/bench_forecast"))
    p.add_argument("--reuse", action="store_true", help="reuse generated + ingested data in --work-dir")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "forecast.json")
    args = p.parse_args()
    work, landing, lake = args.work_dir, args.work_dir / "landing", args.work_dir / "lake"
    py = sys.executable
    prep = {}
    # Prep jobs run as plain ``python -m`` (JVM default heap 1 GiB): ingest of 35M rows needs more.
    env = dict(os.environ, PYSPARK_SUBMIT_ARGS="--driver-memory 6g pyspark-shell")
    if not (args.reuse and (lake / "household_daily").exists()):
        t0 = time.time()
        if not (args.reuse and any(landing.glob("*.csv"))):
            generate = [py, "-m", "spark_jobs.generate", "--out", str(landing), "--households", str(args.households),
                        "--start", args.start, "--end", args.end, "--seed", "11", "--no-enrolment", "--overwrite",
                        "--truth", str(work / "truth.csv")]  # fmt: skip
            subprocess.run(generate, cwd=REPO, check=True)
            prep["generate_s"] = round(time.time() - t0, 1)
        for job, extra in (("ingest", ["--input", str(landing)]), ("aggregate", [])):
            t0 = time.time()
            cmd = [py, "-m", f"spark_jobs.{job}", "--lake", str(lake), *extra]
            subprocess.run(cmd, cwd=REPO, check=True, env=env)
            prep[f"{job}_s"] = round(time.time() - t0, 1)

    # The jobs' own session (spark_jobs.common.spark.get_spark: zstd, driver-side partition listing, shuffle
    # partitions from the settings), on local[2] with the driver memory a 2-year backtest needs.
    os.environ["PYSPARK_SUBMIT_ARGS"] = "--master local[2] --driver-memory 6g pyspark-shell"
    from spark_jobs.common.spark import get_spark

    get_spark("bench-forecast")
    from spark_jobs import features, forecast

    stages = {}
    report_path = work / "backtest_report.json"
    with PeakRSS() as rss:
        t_all = time.time()
        t0 = time.time()
        features.main(["--lake", str(lake)])
        stages["features_s"] = round(time.time() - t0, 1)
        t0 = time.time()
        forecast.main(
            ["backtest", "--lake", str(lake), "--models-dir", str(work / "models"), "--train-end", args.train_end,
             "--test-end", args.test_end, "--folds", str(args.folds), "--report", str(report_path)]
        )  # fmt: skip
        stages["forecast_backtest_s"] = round(time.time() - t0, 1)
        total = time.time() - t_all
    report = json.loads(report_path.read_text())
    result = {
        "benchmark": "features job + forecast backtest (train, calibrate, predict, score, write), local[2]",
        "command": "python bench/bench_forecast.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "data": {
            "households": args.households,
            "start": args.start,
            "end": args.end,
            "train_end": args.train_end,
            "test_end": args.test_end,
            "folds": args.folds,
        },  # fmt: skip
        "untimed_preparation_s": prep,
        "stages_s": stages,
        "forecast_internal_s": report.get("seconds"),
        "per_task_s": {t: v["seconds"] for t, v in report["tasks"].items()},
        "total_s": round(total, 1),
        "target_s": 300,
        "meets_target": total <= 300,
        "peak_rss_mb": round(rss.peak / 2**20, 1),
        "overall_metrics": {
            t: {m: v["overall"] for m, v in task["models"].items()} for t, task in report["tasks"].items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
