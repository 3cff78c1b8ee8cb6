"""Score both anomaly detectors against an injected ground truth (generated data) and print JSON.

    python -m spark_jobs.evaluate_anomalies --input <LCL folder> --truth <truth.csv> [--output result.json]
    python -m spark_jobs.evaluate_anomalies --lake <lake folder> --truth <truth.csv>

``--input`` ingests the CSV files with spark_jobs.ingest into a temporary lake first (so the detectors see
exactly what the pipeline would); ``--lake`` uses an already-ingested ``readings_halfhourly``. Matching rule and
metrics: spark_jobs/analytics/matching.py (same household, intervals overlap after widening the detection by
+-1 day; per kind both sides of that kind; baseline kind-agnostic).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from pyspark.sql import functions as F

from spark_jobs.analytics import robust
from spark_jobs.analytics.io import add_interval_args, job_session, read_readings
from spark_jobs.analytics.matching import evaluate
from spark_jobs.analytics.schemas import ANOMALY_KINDS, DETECTOR_KMEANS, DETECTOR_ROBUST
from spark_jobs.anomalies import detect
from spark_jobs.common.settings import get_settings


def score(events: pd.DataFrame, truth: pd.DataFrame, tolerance_days: float = 1.0) -> dict:
    """Both detectors' figures from collected events."""
    out = {}
    rob = events[events["detector"] == DETECTOR_ROBUST]
    out[DETECTOR_ROBUST] = evaluate(rob, truth, ANOMALY_KINDS, tolerance_days)
    base = events[events["detector"] == DETECTOR_KMEANS]
    res = evaluate(base, truth, ANOMALY_KINDS, tolerance_days)
    out[DETECTOR_KMEANS] = {  # it names no kinds (``day_outlier``): only kind-agnostic figures mean anything
        "overall_kind_agnostic": res["overall_kind_agnostic"],
        "recall_by_truth_kind_kind_agnostic": res["recall_by_truth_kind_kind_agnostic"],
    }
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m spark_jobs.evaluate_anomalies", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="folder of LCL-layout CSV files (ingested to a temporary lake)")
    src.add_argument("--lake", type=Path, help="lake folder with readings_halfhourly")
    p.add_argument("--truth", type=Path, required=True, help="ground truth CSV: household_id,start_utc,end_utc,kind")
    add_interval_args(p)
    p.add_argument("--tolerance-days", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=get_settings().analytics_seed)
    p.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    t0 = time.perf_counter()
    tmp = None
    lake = args.lake
    # The session first: its Python workers (the detector's applyInPandas) must be this venv's interpreter, which
    # job_session sets before the JVM starts; the ingest below reuses the session.
    spark = job_session("evaluate_anomalies")
    if args.input is not None:
        from spark_jobs import ingest

        tmp = tempfile.TemporaryDirectory(prefix="eval_lake_")
        lake = Path(tmp.name)
        ingest.main(["--input", str(args.input), "--lake", str(lake)])
    readings = read_readings(spark, lake / "readings_halfhourly", args.from_date, args.to_date)
    hdd = robust.daily_hdd(settings.weather_csv, settings.local_timezone)
    events, facts = detect(spark, readings, ["robust", "kmeans"], hdd, None, args.seed, settings.local_timezone)
    ev = events.select("household_id", "detector", "kind", "start_utc", "end_utc").toPandas()
    truth = pd.read_csv(args.truth)
    households = {r[0] for r in readings.select("household_id").distinct().collect()}
    truth = truth[truth["household_id"].isin(households)]
    if args.from_date or args.to_date:
        lo = pd.Timestamp(args.from_date or "1900-01-01")
        hi = pd.Timestamp(args.to_date or "2999-01-01") + pd.Timedelta(days=1)
        st = pd.to_datetime(truth["start_utc"])
        truth = truth[(st >= lo) & (st < hi)]
    result = {
        "matching_rule": "same household; detected [start-1d, end+1d) overlaps truth [start, end); per kind: same kind",
        "households": len(households),
        "truth_events": len(truth),
        "readings": readings.agg(F.count("*")).first()[0],
        **facts,
        "detectors": score(ev, truth, args.tolerance_days),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(result, indent=2, sort_keys=False)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
