"""Generator speed benchmark: rows/s and peak RSS at ~10M and ~50M rows, extrapolated to the full 167M.

Each scale runs ``python -m spark_jobs.generate`` in a child process (so RSS is the generator's alone), polled
with psutil; output goes to a scratch folder that is deleted afterwards. Prints a table and writes
bench/results/generate.json.

    .venv/bin/python bench/bench_generate.py               # 10M and 50M rows
    .venv/bin/python bench/bench_generate.py --full        # also the real 167M-row run (~9 GB of CSV)
    .venv/bin/python bench/bench_generate.py --quick       # 10M only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
FULL_ROWS = 167_000_000
HOUSEHOLDS = 5_566

# (label, first day, last day, enrolment). 5,566 households x 38 days ~ 10M rows; x 190 days ~ 50M rows;
# the trial window with realistic enrolment gives the real data set's ~167M rows.
SCALES = {
    "10M": (date(2013, 1, 1), date(2013, 1, 1) + timedelta(days=37), False),
    "50M": (date(2013, 1, 1), date(2013, 1, 1) + timedelta(days=189), False),
    "167M": (date(2011, 11, 23), date(2014, 2, 28), True),
}


def run_scale(label: str, scratch: Path) -> dict:
    start, end, enrolment = SCALES[label]
    out = scratch / f"landing_{label}"
    cmd = [sys.executable, "-m", "spark_jobs.generate", "--out", str(out), "--truth", str(scratch / f"{label}.csv")]
    cmd += ["--households", str(HOUSEHOLDS), "--start", start.isoformat(), "--end", end.isoformat(), "--seed", "1"]
    cmd += ["--enrolment" if enrolment else "--no-enrolment"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"generator failed at {label}: {stderr[-2000:]}")
    files = sorted(out.glob("LCL-June2015v2_*.csv"))
    size = sum(f.stat().st_size for f in files)
    rows = int(stdout.split("wrote ", 1)[1].split(" rows", 1)[0].replace(",", ""))
    shutil.rmtree(out, ignore_errors=True)
    return {
        "scale": label,
        "households": HOUSEHOLDS,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "enrolment": enrolment,
        "rows": rows,
        "files": len(files),
        "bytes": size,
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall),
        "mb_per_s": round(size / wall / 1e6, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "generator_stdout": stdout.strip(),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10M rows only")
    p.add_argument("--full", action="store_true", help="also run the full 167M rows")
    p.add_argument("--scratch", type=Path, default=None, help="scratch folder (default: a temp dir)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "generate.json")
    args = p.parse_args(argv)
    labels = ["10M"] if args.quick else ["10M", "50M"]
    if args.full:
        labels.append("167M")
    scratch = Path(tempfile.mkdtemp(prefix="bench_generate_", dir=args.scratch))
    try:
        results = [run_scale(label, scratch) for label in labels]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    largest = results[-1]
    extrapolated = FULL_ROWS / largest["rows_per_s"]
    report = {
        "benchmark": "spark_jobs.generate (vectorised NumPy, single process)",
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "results": results,
        "extrapolated_167M_s": round(extrapolated, 1),
        "target_167M_s": 900,
        "meets_target": (largest["wall_s"] if largest["scale"] == "167M" else extrapolated) < 900,
    }
    print(
        f"{'scale':>6} {'rows':>12} {'files':>6} {'GB':>6} {'wall s':>8} {'rows/s':>10} {'MB/s':>6} {'peak RSS MB':>12}"
    )
    for r in results:
        print(
            f"{r['scale']:>6} {r['rows']:>12,} {r['files']:>6} {r['bytes'] / 1e9:>6.2f} {r['wall_s']:>8.1f} "
            f"{r['rows_per_s']:>10,} {r['mb_per_s']:>6} {r['peak_rss_mb']:>12}"
        )
    print(f"167M rows extrapolated from {largest['scale']}: {extrapolated / 60:.1f} min (target < 15 min)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
