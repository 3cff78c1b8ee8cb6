"""Reliability benchmark of the forecast driver's last step: write a day of forecasts with Arrow, then exit.

    .venv/bin/python bench/bench_forecast_exit.py [--runs 60] [--parallel 2] [--rows 300000] [--write-dataset]

Each run is a fresh Python process that writes ``--rows`` forecast rows of one day with
``spark_jobs.forecast.write_forecasts`` (the predict job's last call) and exits at once. The process exit codes
are counted. ``--write-dataset`` writes the same rows with ``pyarrow.dataset.write_dataset`` instead, as the job
did before: its threads could still be busy when the interpreter shut down. That aborted the process
("terminate called without an active exception", exit 134) after the files were complete, so Airflow saw a failed
task. ``--parallel`` processes run side by side, as the daily DAG runs the forecast beside the analyses. Figures
are printed and merged into bench/results/forecast_exit.json under the writer's name.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN = r"""
import sys, uuid
from pathlib import Path
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.dataset as pa_ds
sys.path.insert(0, sys.argv[1])
from spark_jobs import forecast
out, n, writer = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
pdf = pd.DataFrame({
    "task": "household_halfhourly",
    "series_id": [f"MAC{i % 5566:06d}" for i in range(n)],
    "model": "hgb_quantile",
    "model_version": "train_2013-02-28",
    "target_time_utc": pd.to_datetime(np.full(n, np.datetime64("2013-03-04T00:00:00"))).tz_localize("UTC"),
    "p10_kwh": rng.random(n), "p50_kwh": rng.random(n), "p90_kwh": rng.random(n), "actual_kwh": np.nan,
    "local_date": np.full(n, np.datetime64("2013-03-04")),
})
if writer == "write_dataset":
    schema = forecast.FORECASTS_ARROW
    table = pa.Table.from_pandas(pdf[schema.names], schema=schema, preserve_index=False)
    pa_ds.write_dataset(
        table, str(out), format="parquet",
        partitioning=pa_ds.partitioning(pa.schema([schema.field("local_date")]), flavor="hive"),
        existing_data_behavior="delete_matching", basename_template=f"part-{uuid.uuid4().hex}-{{i}}.parquet",
    )
else:
    forecast.write_forecasts(pdf, out)
"""


def one_run(folder: Path, rows: int, writer: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(REPO), str(folder), str(rows), writer], capture_output=True, text=True
    )
    return proc.returncode, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--write-dataset", action="store_true", help="the previous writer, for comparison")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "forecast_exit.json")
    args = p.parse_args(argv)
    writer = "write_dataset" if args.write_dataset else "write_forecasts"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.parallel) as pool:
        # One output folder per lane, so parallel runs do not replace each other's files.
        results = list(
            pool.map(lambda i: one_run(Path(tmp) / f"lane{i % args.parallel}", args.rows, writer), range(args.runs))
        )
    codes = collections.Counter(code for code, _ in results)
    messages = collections.Counter(msg for code, msg in results if code != 0)
    figures = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs,
        "parallel": args.parallel,
        "rows_per_run": args.rows,
        "exit_codes": {str(k): v for k, v in sorted(codes.items())},
        "failed": sum(v for k, v in codes.items() if k != 0),
        "failure_messages": dict(messages),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"{writer}: {figures['failed']} of {args.runs} runs exited abnormally; exit codes {figures['exit_codes']}")
    for msg, n in messages.items():
        print(f"  {n} x {msg}")
    results_all = json.loads(args.out.read_text()) if args.out.exists() else {}
    results_all[writer] = figures
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results_all, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
