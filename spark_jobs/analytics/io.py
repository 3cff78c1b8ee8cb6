"""Reading and writing shared by the analytics jobs, so every job slices, joins and overwrites the lake the same way."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_jobs.common.schemas import HOUSEHOLD_DAILY_HALFHOURS, READINGS_HALFHOURLY, SLOT_COLUMNS, SLOTS_PER_DAY

SLOTS = SLOTS_PER_DAY
SLOT_COLS = SLOT_COLUMNS
MIN_SLOTS_COMPLETE = 44  # a day counts as complete with >= 44 of 48 half hours (46 exist on spring-forward day)
ACORN_GROUPS = ("Affluent", "Comfortable", "Adversity")


def job_session(app_name: str) -> SparkSession:
    """The shared session; Python workers default to this interpreter (the venv with pandas and scikit-learn)
    when the job is started as ``python -m`` rather than by spark-submit with a configured cluster Python."""
    from spark_jobs.common.spark import get_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return get_spark(app_name)


def parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def add_interval_args(parser: argparse.ArgumentParser) -> None:
    """``--from-date/--to-date``: the data interval a DAG run owns (inclusive local dates)."""
    parser.add_argument("--from-date", type=parse_date, default=None, help="first local date (inclusive)")
    parser.add_argument("--to-date", type=parse_date, default=None, help="last local date (inclusive)")


def between(col: str, start: dt.date | None, end: dt.date | None) -> Column:
    cond = F.lit(True)
    if start is not None:
        cond = cond & (F.col(col) >= F.lit(start))
    if end is not None:
        cond = cond & (F.col(col) <= F.lit(end))
    return cond


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def month_end(d: dt.date) -> dt.date:
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


def dataset_exists(path: Path) -> bool:
    return path.is_dir() and any(p.name.endswith(".parquet") or "=" in p.name for p in path.iterdir())


def read_dataset(spark: SparkSession, path: Path, schema: StructType | None = None) -> DataFrame:
    reader = spark.read
    if schema is not None:
        reader = reader.schema(schema)
    return reader.parquet(str(path))


def read_readings(
    spark: SparkSession, path: Path, start: dt.date | None = None, end: dt.date | None = None
) -> DataFrame:
    """Half-hourly readings of a local-date slice (partition pruning on ``local_date``)."""
    return read_dataset(spark, path, READINGS_HALFHOURLY).where(between("local_date", start, end))


def read_daily_halfhours(
    spark: SparkSession, lake: Path, start: dt.date | None = None, end: dt.date | None = None
) -> DataFrame:
    """``household_daily_halfhours`` of a local-date slice: the aggregate job's :func:`daily_matrix` of the
    readings, one row per household-day (1/48 of the rows to read, and no shuffle)."""
    path = lake / "household_daily_halfhours"
    if not dataset_exists(path):
        raise FileNotFoundError(
            f"{path} not found: it is written by the aggregate job (python -m spark_jobs.aggregate --lake {lake}, "
            "or the history DAG) over the days this stage reads"
        )
    return read_dataset(spark, path, HOUSEHOLD_DAILY_HALFHOURS).where(between("local_date", start, end))


def household_info(spark: SparkSession, csv_path: Path) -> DataFrame:
    """``household_id, info_tariff_group, acorn_group`` from household_information.csv; blank groups become
    ``unknown`` (the CSV has CRLF endings and two rows with the empty group ``ACORN-``)."""
    import pandas as pd

    pdf = pd.read_csv(csv_path, dtype=str, usecols=["LCLid", "stdorToU", "Acorn_grouped"])
    pdf = pdf.apply(lambda c: c.str.strip())
    group = pdf["Acorn_grouped"].fillna("")
    pdf["acorn_group"] = group.where(~group.isin(["", "ACORN-"]), "unknown")
    pdf = pdf.rename(columns={"LCLid": "household_id", "stdorToU": "info_tariff_group"})
    return spark.createDataFrame(
        pdf[["household_id", "info_tariff_group", "acorn_group"]],
        "household_id string, info_tariff_group string, acorn_group string",
    )


def daily_matrix(readings: DataFrame) -> DataFrame:
    """One row per household and local day with the 48 local half hours as columns ``e00..e47`` (kWh, null when
    missing; the repeated hour of the fall-back day is summed into its slots).

    Conditional sums instead of ``pivot`` so Spark aggregates partially before the shuffle: the readings of one
    household-day sit in one partition file, so 48 rows collapse to one before anything moves.
    """
    aggs = [F.sum(F.when(F.col("halfhour_local") == s, F.col("energy_kwh"))).alias(c) for s, c in enumerate(SLOT_COLS)]
    return readings.groupBy("household_id", "local_date").agg(
        F.first("tariff_group", ignorenulls=True).alias("tariff_group"),
        F.count("energy_kwh").cast("int").alias("readings_present"),
        *aggs,
    )


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select and cast to the declared schema (column order as declared, partition column last)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
