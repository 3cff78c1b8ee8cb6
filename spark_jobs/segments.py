"""Household segmentation job: ``segments`` (household), ``segment_profiles`` (segment x local half hour) and
``segment_summary`` (segment), all partitioned by ``segmentation_version``.

    python -m spark_jobs.segments --train-from 2012-06-01 --train-to 2013-05-31 [--k 4] [--seed 42] [--version V]
    python -m spark_jobs.segments --to-date 2013-05-31      (window: the 365 days ending there)

Spark reduces the training window to one row per household (mean kWh per local half hour over complete days,
complete days, mean daily kWh); scikit-learn clusters those rows on the driver (spark_jobs/analytics/segmentation.py).
Households with fewer than ``--min-days`` complete days get no segment (status ``not_enough_data``) and are counted.
A run replaces only its own version, so dashboards can keep showing the previous one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.analytics import segmentation
from spark_jobs.analytics.io import (
    MIN_SLOTS_COMPLETE,
    SLOT_COLS,
    conform,
    household_info,
    job_session,
    parse_date,
    read_daily_halfhours,
)
from spark_jobs.analytics.schemas import SEGMENT_PROFILES, SEGMENT_SUMMARY, SEGMENTS
from spark_jobs.common.partitions import replace_partitions
from spark_jobs.common.settings import get_settings

PROFILE_COLS = [f"s{s:02d}" for s in range(48)]


def household_profiles(days: DataFrame, info: DataFrame | None) -> DataFrame:
    """One row per household: complete days, mean daily kWh and mean kWh per local half hour on complete days,
    from household-days with their 48 half hours (``household_daily_halfhours`` / ``daily_matrix``)."""
    complete = F.col("readings_present") >= MIN_SLOTS_COMPLETE
    day_kwh = sum(F.coalesce(F.col(c), F.lit(0.0)) for c in SLOT_COLS)
    agg = days.groupBy("household_id").agg(
        F.first("tariff_group", ignorenulls=True).alias("tariff_group"),
        F.sum(complete.cast("int")).cast("int").alias("complete_days"),
        F.avg(F.when(complete, day_kwh)).alias("mean_daily_kwh"),
        *[F.avg(F.when(complete, F.col(c))).alias(p) for c, p in zip(SLOT_COLS, PROFILE_COLS, strict=True)],
    )
    if info is None:
        return agg.withColumn("acorn_group", F.lit("unknown"))
    joined = agg.join(info, "household_id", "left")
    return joined.select(
        *[c for c in agg.columns if c != "tariff_group"],
        F.coalesce("tariff_group", "info_tariff_group").alias("tariff_group"),
        F.coalesce("acorn_group", F.lit("unknown")).alias("acorn_group"),
    )


def run(
    spark: SparkSession,
    days: DataFrame,
    info: DataFrame | None,
    train_from,
    train_to,
    version: str,
    seed: int,
    min_days: int,
    k: int | None,
    k_range: tuple[int, int],
) -> tuple[DataFrame, DataFrame, DataFrame, dict]:
    """The three outputs as Spark frames with their declared schemas, and the run facts."""
    pdf = household_profiles(days, info).toPandas()
    assign, profiles, facts = segmentation.segment(pdf, seed=seed, min_days=min_days, k=k, k_range=k_range)
    summary = segmentation.summarise(assign, facts)
    assign = assign.assign(train_from=train_from, train_to=train_to, seed=seed, segmentation_version=version)
    seg_cols = [f.name for f in SEGMENTS.fields]
    assign = assign[seg_cols].astype({"segment_id": "Int32", "peak_halfhour_local": "Int32"})
    assign = assign.astype(object).where(assign.notna(), None)
    segments = conform(spark.createDataFrame(assign, SEGMENTS), SEGMENTS)
    profiles = profiles.assign(segmentation_version=version)
    prof_df = conform(
        spark.createDataFrame(profiles[[f.name for f in SEGMENT_PROFILES.fields]], SEGMENT_PROFILES), SEGMENT_PROFILES
    )
    summary = summary.assign(segmentation_version=version)
    summary = summary[[f.name for f in SEGMENT_SUMMARY.fields]]
    sum_df = conform(
        spark.createDataFrame(summary.astype(object).where(summary.notna(), None), SEGMENT_SUMMARY), SEGMENT_SUMMARY
    )
    facts = {
        **facts,
        "segmentation_version": version,
        "summary": summary.drop(columns=["segmentation_version"]).round(3).to_dict("records"),
    }
    return segments, prof_df, sum_df, facts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    s = get_settings()
    p = argparse.ArgumentParser(prog="python -m spark_jobs.segments", description=__doc__.splitlines()[0])
    p.add_argument(
        "--train-to", "--to-date", dest="train_to", type=parse_date, required=True, help="last day trained on"
    )
    p.add_argument(
        "--train-from", "--from-date", dest="train_from", type=parse_date, default=None, help="default: a year before"
    )
    p.add_argument("--version", default=None, help="default seg_<train-from>_<train-to>")
    p.add_argument("--k", type=int, default=None, help="fix k instead of choosing by silhouette")
    p.add_argument("--k-min", type=int, default=3)
    p.add_argument("--k-max", type=int, default=8)
    p.add_argument("--min-days", type=int, default=s.analytics_min_complete_days)
    p.add_argument("--seed", type=int, default=s.analytics_seed)
    p.add_argument("--lake", type=Path, default=s.lake_dir)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.train_from is None:
        args.train_from = args.train_to - dt.timedelta(days=364)
    settings = get_settings()
    spark = job_session("segments")
    version = args.version or f"seg_{args.train_from}_{args.train_to}"
    days = read_daily_halfhours(spark, args.lake, args.train_from, args.train_to)
    info = (
        household_info(spark, settings.household_information_csv)
        if settings.household_information_csv.exists()
        else None
    )
    segments, profiles, summary, facts = run(
        spark,
        days,
        info,
        args.train_from,
        args.train_to,
        version,
        args.seed,
        args.min_days,
        args.k,
        (args.k_min, args.k_max),
    )
    replace_partitions(segments, args.lake / "segments", "segmentation_version", [version])
    replace_partitions(profiles, args.lake / "segment_profiles", "segmentation_version", [version])
    replace_partitions(summary, args.lake / "segment_summary", "segmentation_version", [version])
    print(json.dumps(facts, default=str))
    return 0


def latest_version(spark: SparkSession, path: Path) -> str:
    """The segmentation trained on the latest window (ties: the greatest version name). Read with pyarrow on the
    driver: two columns of a few thousand rows per version do not need a Spark job (~5 s on the cluster)."""
    import pyarrow.dataset as pads

    if not path.is_dir():
        raise FileNotFoundError(f"no segmentation in {path}")
    data = pads.dataset(str(path), format="parquet", partitioning="hive", exclude_invalid_files=True)
    table = data.to_table(columns=["segmentation_version", "train_to"]).to_pandas()
    if table.empty:
        raise FileNotFoundError(f"no segmentation in {path}")
    latest = table.groupby("segmentation_version")["train_to"].max().reset_index()
    return str(latest.sort_values(["train_to", "segmentation_version"]).iloc[-1]["segmentation_version"])


if __name__ == "__main__":
    sys.exit(main())
