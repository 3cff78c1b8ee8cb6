"""Neighbour comparison and high-usage alerts: ``neighbour_comparison_monthly`` (household x month), by ``month``.

    python -m spark_jobs.neighbours [--from-date D --to-date D] [--segmentation-version V]

Peers are the homes of the same Acorn group AND segment (the latest segmentation unless one is named). For each
household-month: its percentile among peers on mean daily kWh (complete days only, so a missing week does not
look like saving), the mean of its per-day percentiles, the peers' median and 20th percentile ("efficient
neighbours") scaled to the month, and a high-usage alert when the month is BOTH above the household's own
history and high among its peers: ``relative_to_peers`` (its mean daily kWh over the peers' median) has risen by
``--alert-ratio`` against the mean of its previous ``--history-months`` months, and its percentile is at least
``--alert-percentile``. Comparing the ratio to peers rather than raw kWh cancels the season, which every peer
shares. Rows of households without a segment or with fewer than ``--min-days`` complete days carry a status and
no comparison. Daily consumption comes from ``household_daily`` when it exists, else from the readings.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.analytics.io import (
    add_interval_args,
    add_months,
    conform,
    dataset_exists,
    job_session,
    month_end,
    month_start,
    read_dataset,
    read_readings,
)
from spark_jobs.analytics.schemas import NEIGHBOUR_COMPARISON_MONTHLY, SEGMENTS
from spark_jobs.common.partitions import replace_partitions
from spark_jobs.common.schemas import HOUSEHOLD_DAILY
from spark_jobs.common.settings import get_settings
from spark_jobs.segments import latest_version


@dataclass(frozen=True)
class NeighbourParams:
    min_days: int = 20  # complete days in the month
    min_peers: int = 5
    complete_share: float = 0.9  # a day is complete at >= 90 % of its half hours
    history_months: int = 6
    min_history_months: int = 3
    alert_ratio: float = 1.25
    alert_percentile: float = 0.75
    efficient_quantile: float = 0.2


DEFAULT = NeighbourParams()


def daily_from_readings(readings: DataFrame) -> DataFrame:
    """``household_id, local_date, energy_kwh, completeness`` when household_daily is not there."""
    return readings.groupBy("household_id", "local_date").agg(
        F.sum("energy_kwh").alias("energy_kwh"), (F.count("energy_kwh") / 48.0).alias("completeness")
    )


def compare(daily: DataFrame, segments: DataFrame, params: NeighbourParams = DEFAULT) -> DataFrame:
    """Monthly comparison for every household-month in ``daily`` (pure transform)."""
    p = params
    seg = segments.select(
        "household_id",
        F.col("status").alias("seg_status"),
        "segment_id",
        "acorn_group",
        "segmentation_version",
    )
    d = (
        daily.select("household_id", "local_date", "energy_kwh", "completeness")
        .join(seg, "household_id", "left")
        .withColumn("month", F.trunc("local_date", "month"))
        .withColumn("complete", F.col("completeness") >= p.complete_share)
        .withColumn("peer_group", F.concat_ws("|", "acorn_group", F.col("segment_id").cast("string")))
    )
    segmented = (F.col("seg_status") == "segmented") & F.col("segment_id").isNotNull()
    day_pct = F.percent_rank().over(Window.partitionBy("peer_group", "local_date").orderBy("energy_kwh"))
    # Per-day percentiles among the eligible rows only (segmented homes on complete days).
    eligible_days = d.where(segmented & F.col("complete")).withColumn("daily_pct", day_pct)
    d = d.join(eligible_days.select("household_id", "local_date", "daily_pct"), ["household_id", "local_date"], "left")
    m = d.groupBy("household_id", "month").agg(
        F.first("acorn_group", ignorenulls=True).alias("acorn_group"),
        F.first("segment_id", ignorenulls=True).alias("segment_id"),
        F.first("seg_status", ignorenulls=True).alias("seg_status"),
        F.first("segmentation_version", ignorenulls=True).alias("segmentation_version"),
        F.first("peer_group", ignorenulls=True).alias("peer_group"),
        F.sum(F.col("complete").cast("int")).cast("int").alias("complete_days"),
        F.sum("energy_kwh").alias("energy_kwh"),
        F.avg(F.when(F.col("complete"), F.col("energy_kwh"))).alias("mean_daily_kwh"),
        F.avg("daily_pct").alias("daily_percentile_mean"),
    )
    status = (
        F.when(~((F.col("seg_status") == "segmented") & F.col("segment_id").isNotNull()), "no_segment")
        .when(F.col("complete_days") < p.min_days, "not_enough_data")
        .otherwise("candidate")
    )
    m = m.withColumn("status", F.coalesce(status, F.lit("no_segment")))
    cand = m.where(F.col("status") == "candidate")
    g = Window.partitionBy("peer_group", "month")
    peers = cand.groupBy("peer_group", "month").agg(
        F.count("*").cast("int").alias("peer_count"),
        F.percentile_approx("mean_daily_kwh", p.efficient_quantile, 10000).alias("p20_daily"),
        F.percentile_approx("mean_daily_kwh", 0.5, 10000).alias("p50_daily"),
    )
    ranked = cand.withColumn("percentile", F.percent_rank().over(g.orderBy("mean_daily_kwh"))).select(
        "household_id", "month", "percentile"
    )
    out = m.join(peers, ["peer_group", "month"], "left").join(ranked, ["household_id", "month"], "left")
    ok = (F.col("status") == "candidate") & (F.col("peer_count") >= p.min_peers)
    out = out.withColumn(
        "status", F.when(F.col("status") != "candidate", F.col("status")).when(ok, "ok").otherwise("too_few_peers")
    )
    days = F.dayofmonth(F.last_day("month"))
    is_ok = F.col("status") == "ok"
    out = (
        out.withColumn("percentile", F.when(is_ok, F.col("percentile")))
        .withColumn("daily_percentile_mean", F.when(is_ok, F.col("daily_percentile_mean")))
        .withColumn("month_kwh_normalised", F.when(F.col("complete_days") > 0, F.col("mean_daily_kwh") * days))
        .withColumn("peer_median_kwh", F.when(is_ok, F.col("p50_daily") * days))
        .withColumn("efficient_neighbour_kwh", F.when(is_ok, F.col("p20_daily") * days))
        .withColumn("relative_to_peers", F.when(is_ok, F.col("mean_daily_kwh") / F.col("p50_daily")))
        .withColumn("month_index", F.year("month") * 12 + F.month("month"))
    )
    hist = Window.partitionBy("household_id").orderBy("month_index").rangeBetween(-p.history_months, -1)
    out = (
        out.withColumn("hist_n", F.count("relative_to_peers").over(hist))
        .withColumn(
            "history_relative_to_peers",
            F.when(F.col("hist_n") >= p.min_history_months, F.avg("relative_to_peers").over(hist)),
        )
        .withColumn("trend_ratio", F.col("relative_to_peers") / F.col("history_relative_to_peers"))
        .withColumn(
            "high_usage_alert",
            F.coalesce(
                is_ok & (F.col("trend_ratio") >= p.alert_ratio) & (F.col("percentile") >= p.alert_percentile),
                F.lit(False),
            ),
        )
        .withColumn("acorn_group", F.coalesce("acorn_group", F.lit("unknown")))
        .withColumn("peer_group", F.when(F.col("segment_id").isNotNull(), F.col("peer_group")))
    )
    return conform(out, NEIGHBOUR_COMPARISON_MONTHLY)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    s = get_settings()
    p = argparse.ArgumentParser(prog="python -m spark_jobs.neighbours", description=__doc__.splitlines()[0])
    add_interval_args(p)
    p.add_argument("--segmentation-version", default=None, help="default: the latest trained window")
    p.add_argument("--min-days", type=int, default=DEFAULT.min_days)
    p.add_argument("--min-peers", type=int, default=DEFAULT.min_peers)
    p.add_argument("--history-months", type=int, default=DEFAULT.history_months)
    p.add_argument("--alert-ratio", type=float, default=DEFAULT.alert_ratio)
    p.add_argument("--alert-percentile", type=float, default=DEFAULT.alert_percentile)
    p.add_argument("--lake", type=Path, default=s.lake_dir)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = job_session("neighbours")
    lake: Path = args.lake
    params = NeighbourParams(
        min_days=args.min_days,
        min_peers=args.min_peers,
        history_months=args.history_months,
        alert_ratio=args.alert_ratio,
        alert_percentile=args.alert_percentile,
    )
    first = month_start(args.from_date) if args.from_date else None
    last = month_end(args.to_date) if args.to_date else None
    read_from = add_months(first, -params.history_months) if first else None
    if dataset_exists(lake / "household_daily"):
        daily = read_dataset(spark, lake / "household_daily", HOUSEHOLD_DAILY)
        if read_from:
            daily = daily.where(F.col("local_date") >= F.lit(read_from))
        if last:
            daily = daily.where(F.col("local_date") <= F.lit(last))
    else:
        daily = daily_from_readings(read_readings(spark, lake / "readings_halfhourly", read_from, last))
    # compare() uses the days in several branches (day percentiles, month sums, peers): read the files once.
    daily = daily.select("household_id", "local_date", "energy_kwh", "completeness").cache()
    if dataset_exists(lake / "segments"):
        version = args.segmentation_version or latest_version(spark, lake / "segments")
        segments = read_dataset(spark, lake / "segments", SEGMENTS).where(F.col("segmentation_version") == version)
    else:  # before the first segmentation every household is "no_segment", and is still counted
        version = None
        segments = spark.createDataFrame([], SEGMENTS)
    out = compare(daily, segments, params)
    if first:
        out = out.where(F.col("month") >= F.lit(first))
    out = out.cache()
    replace = None
    if first and last:
        replace, m = [], first
        while m <= last:
            replace.append(m.isoformat())
            m = add_months(m, 1)
    replace_partitions(out, lake / "neighbour_comparison_monthly", "month", replace)
    facts = out.groupBy("status").agg(
        F.count("*").alias("n"), F.sum(F.col("high_usage_alert").cast("int")).alias("alerts")
    )
    print(
        json.dumps(
            {
                "segmentation_version": version,
                "by_status": {r["status"]: [r["n"], r["alerts"]] for r in facts.collect()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
