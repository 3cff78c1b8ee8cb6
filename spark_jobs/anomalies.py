"""Anomaly detection job: ``anomalies`` (household x event) and ``anomaly_alerts_daily`` (household x day).

    python -m spark_jobs.anomalies [--from-date D --to-date D] [--detectors robust,kmeans] [--forecast-model M]

Reads ``household_daily_halfhours`` (one row per household-day with the 48 local half hours, written by the
aggregate job) for the interval plus ``--context-days`` before it (the trailing reference needs history), and runs
- ``robust_v1`` (spark_jobs/analytics/robust.py, per household with applyInPandas): kinds and severity;
- ``kmeans_baseline`` (spark_jobs/analytics/baseline.py, Spark ML): the earlier 3-sigma-from-centroid method.
Events whose start day lies in the interval are written; the interval's ``local_date`` partitions are replaced
(including ones that now have no events). With ``--forecast-model`` the day band is that model's
``household_daily`` P10/P50/P90 from ``forecasts`` where it exists, else the household's own trailing band.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from spark_jobs.analytics import robust
from spark_jobs.analytics.baseline import kmeans_baseline
from spark_jobs.analytics.io import (
    SLOT_COLS,
    add_interval_args,
    conform,
    daily_matrix,
    dataset_exists,
    date_range,
    job_session,
    read_daily_halfhours,
    read_dataset,
)
from spark_jobs.analytics.schemas import ANOMALIES, ANOMALY_ALERTS_DAILY, DETECTOR_KMEANS, DETECTOR_ROBUST
from spark_jobs.common.partitions import replace_partitions
from spark_jobs.common.schemas import FORECASTS
from spark_jobs.common.settings import get_settings

DETECTORS = {"robust": DETECTOR_ROBUST, "kmeans": DETECTOR_KMEANS}
_EVENT_FIELDS = [f for f in ANOMALIES.fields if f.name not in ("event_id", "severity_level")]
ROBUST_OUTPUT = StructType([StructField(f.name, f.dataType, True) for f in _EVENT_FIELDS])


def forecast_band(forecasts: DataFrame, model: str) -> DataFrame:
    """Latest ``household_daily`` P10/P50/P90 of one model per household-day."""
    f = forecasts.where((F.col("task") == "household_daily") & (F.col("model") == model))
    latest = f.groupBy("series_id", "local_date").agg(F.max("model_version").alias("model_version"))
    return f.join(latest, ["series_id", "local_date", "model_version"]).select(
        F.col("series_id").alias("household_id"), "local_date", "p10_kwh", "p50_kwh", "p90_kwh"
    )


HOUSEHOLD_BUCKETS = 64  # pandas groups per run: ~90 households each at 5,566


def robust_events(
    daily: DataFrame,
    hdd: pd.Series | None = None,
    band: DataFrame | None = None,
    params: robust.RobustParams = robust.DEFAULT_PARAMS,
    buckets: int = HOUSEHOLD_BUCKETS,
) -> DataFrame:
    """Robust detector over every household. Households are grouped into ``buckets`` hash buckets and each
    pandas group is split by household in Python: one Arrow batch and pandas frame per household cost about as
    much as the detector itself."""
    cols = ["household_id", "local_date", *SLOT_COLS]
    frame = daily.select(*cols)
    if band is not None:
        frame = frame.join(band, ["household_id", "local_date"], "left")
    frame = frame.withColumn("_bucket", F.pmod(F.xxhash64("household_id"), F.lit(buckets)))

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.drop(columns="_bucket")
        parts = [robust.detect_frame(one, params, hdd) for _, one in pdf.groupby("household_id", sort=False)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROBUST_OUTPUT.fieldNames())

    return frame.groupBy("_bucket").applyInPandas(run, ROBUST_OUTPUT)


def finalize(events: DataFrame) -> DataFrame:
    """Stable event ids and a coarse severity level for dashboards."""
    level = (
        F.when(F.col("detector") == DETECTOR_KMEANS, F.when(F.col("severity") >= 6, "high").otherwise("medium"))
        .when(F.col("severity") >= 20, "high")
        .when(F.col("severity") >= 10, "medium")
        .otherwise("low")
    )
    eid = F.sha1(F.concat_ws("|", "detector", "household_id", "kind", F.date_format("start_utc", "yyyy-MM-dd HH:mm")))
    return conform(events.withColumn("event_id", eid).withColumn("severity_level", level), ANOMALIES)


def alerts_daily(events: DataFrame, timezone: str) -> DataFrame:
    """One alert row per household and local day an event covers, ranked by severity within the day."""
    last_day = F.to_date(F.from_utc_timestamp(F.col("end_utc") - F.expr("INTERVAL 1 SECOND"), timezone))
    days = events.where(F.col("detector") == DETECTOR_ROBUST).select(
        "household_id",
        "event_id",
        "kind",
        "severity",
        "severity_level",
        F.col("start_utc").alias("event_start_utc"),
        F.col("end_utc").alias("event_end_utc"),
        F.explode(F.sequence(F.col("local_date"), last_day)).alias("local_date"),
    )
    rank = F.row_number().over(Window.partitionBy("local_date").orderBy(F.desc("severity"), "household_id", "event_id"))
    return conform(days.withColumn("day_rank", rank), ANOMALY_ALERTS_DAILY)


def detect(
    spark: SparkSession,
    readings: DataFrame,
    detectors: list[str],
    hdd: pd.Series | None,
    band: DataFrame | None = None,
    seed: int = 42,
    timezone: str = "Europe/London",
    params: robust.RobustParams = robust.DEFAULT_PARAMS,
    kmeans_k: int = 5,
) -> tuple[DataFrame, dict]:
    """All requested detectors' events (finalised) and run facts, from half-hourly readings."""
    return detect_days(daily_matrix(readings), detectors, hdd, band, seed, timezone, params, kmeans_k)


def detect_days(
    days: DataFrame,
    detectors: list[str],
    hdd: pd.Series | None,
    band: DataFrame | None = None,
    seed: int = 42,
    timezone: str = "Europe/London",
    params: robust.RobustParams = robust.DEFAULT_PARAMS,
    kmeans_k: int = 5,
) -> tuple[DataFrame, dict]:
    """:func:`detect` from household-days with their 48 half hours (``daily_matrix`` / household_daily_halfhours);
    facts are e.g. the baseline's flagged-day share."""
    daily = days.cache()
    parts, facts = [], {}
    if "robust" in detectors:
        parts.append(robust_events(daily, hdd, band, params))
    if "kmeans" in detectors:
        ev, dist = kmeans_baseline(daily, k=kmeans_k, seed=seed, sigma=3.0, timezone=timezone)
        # A few flagged days per household: kept, so the facts below and the job's write do not both rerun the
        # flagging of every day (the per-cluster 3-sigma rule, the islands).
        ev = ev.cache()
        total = dist.count()
        flagged = ev.agg(F.sum(F.col("duration_halfhours") / 48)).first()[0] or 0
        facts["kmeans_days_scored"] = int(total)
        facts["kmeans_days_flagged_share_pct"] = round(100.0 * float(flagged) / max(total, 1), 4)
        parts.append(ev)
    if not parts:
        raise ValueError(f"no detector selected from {sorted(DETECTORS)}")
    events = parts[0]
    for p in parts[1:]:
        events = events.unionByName(p)
    return finalize(events), facts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    settings = get_settings()
    p = argparse.ArgumentParser(prog="python -m spark_jobs.anomalies", description=__doc__.splitlines()[0])
    add_interval_args(p)
    p.add_argument("--lake", type=Path, default=settings.lake_dir)
    p.add_argument("--context-days", type=int, default=56, help="history read before --from-date")
    p.add_argument("--detectors", default="robust,kmeans", help="comma list of robust, kmeans")
    p.add_argument("--forecast-model", default=None, help="use this model's household_daily band from forecasts")
    p.add_argument("--seed", type=int, default=settings.analytics_seed)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    spark = job_session("anomalies")
    lake: Path = args.lake
    start = args.from_date - dt.timedelta(days=args.context_days) if args.from_date else None
    days = read_daily_halfhours(spark, lake, start, args.to_date)
    band = None
    if args.forecast_model and dataset_exists(lake / "forecasts"):
        band = forecast_band(read_dataset(spark, lake / "forecasts", FORECASTS), args.forecast_model)
    hdd = robust.daily_hdd(settings.weather_csv, settings.local_timezone) if settings.weather_csv.exists() else None
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    events, facts = detect_days(days, detectors, hdd, band, args.seed, settings.local_timezone)
    if args.from_date:
        events = events.where(F.col("local_date") >= F.lit(args.from_date))
    if args.to_date:
        events = events.where(F.col("local_date") <= F.lit(args.to_date))
    events = events.cache()
    replace = None
    if args.from_date and args.to_date:
        replace = [d.isoformat() for d in date_range(args.from_date, args.to_date)]
    replace_partitions(events, lake / "anomalies", "local_date", replace)
    alerts = alerts_daily(events, settings.local_timezone)
    if args.to_date:
        alerts = alerts.where(F.col("local_date") <= F.lit(args.to_date))
    replace_partitions(alerts, lake / "anomaly_alerts_daily", "local_date", replace)
    counts = {f"{r['detector']}:{r['kind']}": r["count"] for r in events.groupBy("detector", "kind").count().collect()}
    print(json.dumps({"events": counts, **facts}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
