"""Aggregation job: half-hourly readings -> ``household_daily``, ``household_daily_halfhours``, ``group_halfhourly``.

All outputs are partitioned by ``local_date`` and written with dynamic partition overwrite, so the daily DAG can
recompute a few days (``--from-date/--to-date``) without touching the rest of the lake.

Rules worth knowing downstream:
- Duplicate readings (same household and ``interval_start_utc``) are collapsed to one (max) before summing, so a
  duplicated row never doubles a day's energy.
- ``readings_expected`` is the number of half hours in the Europe/London day (46 / 48 / 50), and
  ``completeness = readings_present / readings_expected``. Forecast scoring only uses days with completeness 1.0.
- ``household_daily_halfhours`` holds the same days as one row per household-day with the 48 local half hours
  as columns (``daily_matrix``): the forecast, anomaly, tariff and segment stages read it instead of the readings.
- ``household_daily`` is dense between a household's first and last reading day inside the processed range: a
  day without any reading gets a row with ``readings_present = 0`` and ``energy_kwh = null`` instead of vanishing,
  so gaps are visible to anomaly detection and to the forecast's bad-input report.

Usage: ``python -m spark_jobs.aggregate [--lake DIR] [--from-date 2013-01-01 --to-date 2013-01-31]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from spark_jobs.analytics.io import conform, daily_matrix
from spark_jobs.common.partitions import overwrite_partitions
from spark_jobs.common.schemas import GROUP_HALFHOURLY, HOUSEHOLD_DAILY, HOUSEHOLD_DAILY_HALFHOURS, READINGS_HALFHOURLY
from spark_jobs.common.settings import get_settings
from spark_jobs.common.spark import get_spark

log = logging.getLogger(__name__)

HOUSEHOLD_INFO_SCHEMA = StructType(
    [
        StructField("LCLid", StringType(), True),
        StructField("stdorToU", StringType(), True),
        StructField("Acorn", StringType(), True),
        StructField("Acorn_grouped", StringType(), True),
        StructField("file", StringType(), True),
    ]
)
KNOWN_ACORN_GROUPS = ("Affluent", "Comfortable", "Adversity", "ACORN-U")


def read_household_info(spark: SparkSession, path: Path | str) -> DataFrame:
    """household_id -> (tariff_group_info, acorn_group); unknown or empty Acorn groups become ``unknown``."""
    raw = spark.read.csv(str(path), header=True, schema=HOUSEHOLD_INFO_SCHEMA)
    return household_attributes(raw)


def household_attributes(raw: DataFrame) -> DataFrame:
    acorn = F.trim(F.col("Acorn_grouped"))
    return (
        raw.select(
            F.trim("LCLid").alias("household_id"),
            F.trim("stdorToU").alias("tariff_group_info"),
            F.when(acorn.isin(*KNOWN_ACORN_GROUPS), acorn).otherwise(F.lit("unknown")).alias("acorn_group"),
        )
        .where(F.col("household_id").isNotNull())
        .dropDuplicates(["household_id"])
    )


def expected_halfhours(local_date_col: str, tz: str) -> F.Column:
    """Half hours in a local day: 48, or 46/50 on the clock-change days (from the UTC length of the day)."""
    start = F.to_utc_timestamp(F.col(local_date_col).cast("timestamp"), tz)
    end = F.to_utc_timestamp(F.date_add(F.col(local_date_col), 1).cast("timestamp"), tz)
    return ((F.unix_timestamp(end) - F.unix_timestamp(start)) / 1800).cast("int")


def dedupe_readings(readings: DataFrame) -> DataFrame:
    """One reading per household and half hour (max of duplicates), clustered by household for the daily sums."""
    return (
        readings.repartition("household_id")
        .groupBy("household_id", "interval_start_utc", "local_date", "halfhour_local")
        .agg(F.max("energy_kwh").alias("energy_kwh"), F.first("tariff_group", ignorenulls=True).alias("tariff_group"))
    )


def build_household_daily(readings: DataFrame, attributes: DataFrame, tz: str = "Europe/London") -> DataFrame:
    """Daily energy per household, dense between first and last reading day (missing days: present = 0)."""
    daily = readings.groupBy("household_id", "local_date").agg(
        F.sum("energy_kwh").alias("energy_kwh"),
        F.count("energy_kwh").cast("int").alias("readings_present"),
        F.first("tariff_group", ignorenulls=True).alias("tariff_group_readings"),
    )
    spine = (
        daily.groupBy("household_id")
        .agg(F.min("local_date").alias("first_date"), F.max("local_date").alias("last_date"))
        .select("household_id", F.explode(F.sequence("first_date", "last_date")).alias("local_date"))
    )
    tariff_by_household = daily.groupBy("household_id").agg(
        F.first("tariff_group_readings", ignorenulls=True).alias("tariff_group_any")
    )
    out = (
        spine.join(daily, ["household_id", "local_date"], "left")
        .join(tariff_by_household, "household_id", "left")
        .join(attributes, "household_id", "left")
        .withColumn("readings_present", F.coalesce("readings_present", F.lit(0)).cast("int"))
        .withColumn("readings_expected", expected_halfhours("local_date", tz))
        .withColumn(
            "completeness",
            F.least(F.lit(1.0), F.col("readings_present") / F.col("readings_expected")).cast("double"),
        )
        .withColumn(
            "tariff_group",
            F.coalesce("tariff_group_readings", "tariff_group_any", "tariff_group_info"),
        )
        .withColumn("acorn_group", F.coalesce("acorn_group", F.lit("unknown")))
    )
    return out.select(*[f.name for f in HOUSEHOLD_DAILY.fields])


def build_household_daily_halfhours(readings: DataFrame) -> DataFrame:
    """The 48 local half hours of each household-day in one row (days with readings only)."""
    return conform(daily_matrix(readings), HOUSEHOLD_DAILY_HALFHOURS)


def build_group_halfhourly(readings: DataFrame, attributes: DataFrame) -> DataFrame:
    """Mean / total kWh and households reporting per half hour for tariff groups, Acorn groups and everyone.

    Aggregates once at (tariff, acorn) x half hour, then rolls up: the rollup input is tiny compared to readings.
    """
    enriched = (
        readings.join(F.broadcast(attributes), "household_id", "left")
        .withColumn("tariff_group", F.coalesce("tariff_group", "tariff_group_info", F.lit("unknown")))
        .withColumn("acorn_group", F.coalesce("acorn_group", F.lit("unknown")))
    )
    keys = ["interval_start_utc", "halfhour_local", "local_date"]
    cells = enriched.groupBy("tariff_group", "acorn_group", *keys).agg(
        F.sum("energy_kwh").alias("total_energy_kwh"),
        F.count("energy_kwh").alias("households_reporting"),
    )
    cells = cells.cache()
    parts = []
    for kind, name_col in (("tariff", F.col("tariff_group")), ("acorn", F.col("acorn_group")), ("all", F.lit("all"))):
        parts.append(
            cells.groupBy(name_col.alias("group_name"), *keys)
            .agg(
                F.sum("total_energy_kwh").alias("total_energy_kwh"),
                F.sum("households_reporting").cast("int").alias("households_reporting"),
            )
            .withColumn("group_kind", F.lit(kind))
        )
    out = parts[0].unionByName(parts[1]).unionByName(parts[2])
    out = out.withColumn("mean_energy_kwh", F.col("total_energy_kwh") / F.col("households_reporting"))
    return out.select(*[f.name for f in GROUP_HALFHOURLY.fields])


def read_readings(
    spark: SparkSession, lake: Path, from_date: dt.date | None = None, to_date: dt.date | None = None
) -> DataFrame:
    df = spark.read.schema(READINGS_HALFHOURLY).parquet(str(lake / "readings_halfhourly"))
    if from_date is not None:
        df = df.where(F.col("local_date") >= F.lit(from_date))
    if to_date is not None:
        df = df.where(F.col("local_date") <= F.lit(to_date))
    return df


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="spark_jobs.aggregate", description=__doc__.split("\n")[0])
    p.add_argument("--lake", type=Path, default=None, help="lake folder (default: settings.lake_dir)")
    p.add_argument("--household-info", type=Path, default=None, help="household_information.csv")
    p.add_argument("--from-date", type=dt.date.fromisoformat, default=None)
    p.add_argument("--to-date", type=dt.date.fromisoformat, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = get_settings()
    lake = args.lake or settings.lake_dir
    spark = get_spark("aggregate")
    readings = dedupe_readings(read_readings(spark, lake, args.from_date, args.to_date)).cache()
    attributes = read_household_info(spark, args.household_info or settings.household_information_csv).cache()
    overwrite_partitions(build_household_daily(readings, attributes, settings.local_timezone), lake / "household_daily")
    overwrite_partitions(build_household_daily_halfhours(readings), lake / "household_daily_halfhours")
    overwrite_partitions(build_group_halfhourly(readings, attributes), lake / "group_halfhourly")
    log.info(
        "aggregate: wrote household_daily(_halfhours) and group_halfhourly under %s (%s..%s)",
        lake,
        args.from_date,
        args.to_date,
    )
    readings.unpersist()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
